/* util: small helpers every module uses: UUIDs, clocks, bounded string copies. */
#ifndef KVMOVE_UTIL_H
#define KVMOVE_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* Writes a random (version 4) UUID, 36 chars + NUL, into OUT (at least 37 bytes). */
void util_uuid(char out[37]);
/* Returns 1 if S is a UUID in canonical 8-4-4-4-12 hex form, else 0. */
int util_is_uuid(const char *s);
/* Monotonic milliseconds. */
int64_t util_now_ms(void);
/* Wall clock as RFC 3339 UTC with milliseconds into OUT (at least 32 bytes). */
void util_rfc3339_now(char *out, size_t out_size);
/* Copies SRC into DST (size DST_SIZE), always NUL-terminated. Returns -1 if truncated. */
int util_strlcpy(char *dst, const char *src, size_t dst_size);
/* snprintf into errstr that never fails; for the errstr/errstr_size convention. */
void util_errf(char *errstr, size_t errstr_size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
