/* auth: whether a request message is proven: its signature, the key that made it, the identity
 * it claims and its age; and the one list of reasons a request is refused for (the dead-letter
 * header kvmove.error.class, the metric kvmove_requests_refused_total{reason}). */
#ifndef KVMOVE_AUTH_H
#define KVMOVE_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "sign.h"

typedef enum {
    AUTH_OK,
    AUTH_UNAUTHENTICATED, /* no signature or key id header, or a malformed one */
    AUTH_FORGED,          /* an unknown or disabled key, or an identity the key does not have */
    AUTH_TAMPERED,        /* a known key, but the signature is not of these bytes */
    AUTH_EXPIRED,         /* submitted_at outside the freshness window */
    AUTH_REPLAYED,        /* its request id was recorded from another message */
    AUTH_UNAUTHORIZED,    /* the identity has not been granted the right the request needs */
    AUTH_INVALID,         /* not a usable request (JSON, schema, the request rules) */
    AUTH__COUNT
} auth_verdict;

/* The verdict's name: "ok", "unauthenticated", "forged", "tampered", "expired", "replayed",
 * "unauthorized", "invalid" (static; NULL when out of range). */
const char *auth_verdict_name(auth_verdict v);

#define AUTH_IDENTITY_MAX 64 /* as request.submitted_by */

/* An operator's enrolled public key (table operator_keys). */
typedef struct auth_key {
    char key_id[SIGN_KEY_ID_LEN];
    char identity[AUTH_IDENTITY_MAX];
    char public_key[SIGN_PUBLIC_LEN];
    int enabled;
} auth_key;

/* Looks KEY_ID up: 1 with *OUT, 0 when it is not enrolled, or a negative code (errstr) when it
 * could not be looked up (worth a retry). */
typedef int (*auth_key_lookup_fn)(void *ctx, const char *key_id, auth_key *out, char *errstr,
                                  size_t errstr_size);

/* The verdict on a message value (LEN bytes at VALUE) with the header values KEY_ID and
 * SIGNATURE (either NULL when absent): AUTH_OK with *SIGNER filled when an enrolled, enabled key
 * signed exactly these bytes; else AUTH_UNAUTHENTICATED, AUTH_FORGED or AUTH_TAMPERED with the
 * reason in WHY. Returns 0 with *VERDICT, or LOOKUP's negative code (errstr in WHY). */
int auth_signature(const char *key_id, const char *signature, const void *value, size_t len,
                   auth_key_lookup_fn lookup, void *ctx, auth_key *signer, auth_verdict *verdict,
                   char *why, size_t why_size);

/* auth.max_age_s unless set: the oldest request (by its submitted_at) the intake takes. */
#define AUTH_MAX_AGE_S_DEFAULT 900

/* The verdict on what a signed request says of itself: SUBMITTED_BY must be SIGNER's identity
 * (AUTH_FORGED otherwise), SUBMITTED_AT (RFC 3339) no older than MAX_AGE_S and no further in the
 * future than MAX_SKEW_S at NOW_MS (wall clock, ms since the epoch; AUTH_EXPIRED otherwise).
 * The reason goes to WHY. */
auth_verdict auth_claims(const auth_key *signer, const char *submitted_by, const char *submitted_at,
                         int64_t now_ms, int max_age_s, int max_skew_s, char *why, size_t why_size);

/* Parses an RFC 3339 timestamp (request.schema.json's pattern) into ms since the epoch.
 * Returns 0, or -1 when TEXT is not one. */
int auth_time_parse(const char *text, int64_t *ms);

#endif
