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

/* A growing text of lines (step and fence output). */
typedef struct util_lines {
    char *buf; /* malloc'd, NUL-terminated; NULL while empty; the owner frees it */
    size_t len, cap;
} util_lines;

/* Appends LINE and a newline to L. Returns 0, or -1 when out of memory (L unchanged). */
int util_lines_add(util_lines *l, const char *line);

/* Returns 1 if a line of TEXT starts with WORD followed by a blank or its end, else 0. */
int util_has_line(const char *text, const char *word);

#endif
