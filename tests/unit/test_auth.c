/* test_auth: the verdict on a request message's signature, key and claims (lib/auth.c), table
 * driven: unauthenticated, forged, tampered, expired, and the proven ones. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "unit_run.h"

/* The enrolled keys: alice's (enabled), bob's (disabled); carol's key is never enrolled. */
static sign_key *alice, *bob, *carol;
static int lookups_fail;

static int lookup(void *ctx, const char *key_id, auth_key *out, char *errstr, size_t errstr_size)
{
    sign_key *const enrolled[] = {alice, bob};
    const char *const who[] = {"alice", "bob"};
    size_t i;

    (void)ctx;
    if (lookups_fail) {
        snprintf(errstr, errstr_size, "database unreachable");
        return -1;
    }
    for (i = 0; i < 2; i++) {
        if (strcmp(key_id, sign_key_id(enrolled[i])) != 0)
            continue;
        snprintf(out->key_id, sizeof(out->key_id), "%s", sign_key_id(enrolled[i]));
        snprintf(out->identity, sizeof(out->identity), "%s", who[i]);
        snprintf(out->public_key, sizeof(out->public_key), "%s", sign_key_public(enrolled[i]));
        out->enabled = i == 0;
        return 1;
    }
    return 0;
}

static void setup(void)
{
    char err[256];
    ck_assert_int_eq(sign_key_generate(&alice, err, sizeof(err)), 0);
    ck_assert_int_eq(sign_key_generate(&bob, err, sizeof(err)), 0);
    ck_assert_int_eq(sign_key_generate(&carol, err, sizeof(err)), 0);
    lookups_fail = 0;
}

static void teardown(void)
{
    sign_key_free(alice);
    sign_key_free(bob);
    sign_key_free(carol);
}

UNIT_TCASE("core", .setup = setup, .teardown = teardown);

#define MSG "{\"request_id\":\"5f0c6c1e-3b7a-4a43-9d3e-5b0f0c9a1d2e\",\"mode\":\"OFFLINEFORCE\"}"

enum { K_ALICE, K_BOB, K_CAROL, K_NONE, K_GARBAGE, K_UPPER };

static const struct {
    const char *what;
    int id_of;        /* whose key id the header names */
    int signed_by;    /* whose key signed (K_NONE: no signature header) */
    const char *sent; /* the bytes delivered (NULL: the signed MSG) */
    auth_verdict verdict;
    const char *says; /* in the reason */
} sig_cases[] = {
    {"alice signed it", K_ALICE, K_ALICE, NULL, AUTH_OK, NULL},
    {"no headers at all", K_NONE, K_NONE, NULL, AUTH_UNAUTHENTICATED, "kvmove-key-id"},
    {"a key id but no signature", K_ALICE, K_NONE, NULL, AUTH_UNAUTHENTICATED, "kvmove-signature"},
    {"a key id that is not one", K_GARBAGE, K_ALICE, NULL, AUTH_UNAUTHENTICATED, "not a key id"},
    {"a key id in upper case", K_UPPER, K_ALICE, NULL, AUTH_UNAUTHENTICATED, "not a key id"},
    {"carol's key, never enrolled", K_CAROL, K_CAROL, NULL, AUTH_FORGED, "not enrolled"},
    {"bob's key, disabled", K_BOB, K_BOB, NULL, AUTH_FORGED, "disabled"},
    {"alice's key id, carol's signature", K_ALICE, K_CAROL, NULL, AUTH_TAMPERED, "alice"},
    {"the mode changed after signing", K_ALICE, K_ALICE,
     "{\"request_id\":\"5f0c6c1e-3b7a-4a43-9d3e-5b0f0c9a1d2e\",\"mode\":\"OFFLINE\"}",
     AUTH_TAMPERED, "changed after it was signed"},
    {"a trailing newline added", K_ALICE, K_ALICE, MSG "\n", AUTH_TAMPERED, "tampered"},
};

UNIT_LOOP(test_signature_table, sig_cases)
{
    sign_key *keys[] = {alice, bob, carol};
    char sig[SIGN_SIGNATURE_LEN], why[1024], upper[SIGN_KEY_ID_LEN];
    const char *id = NULL, *sent = sig_cases[_i].sent ? sig_cases[_i].sent : MSG;
    auth_key signer;
    auth_verdict v = AUTH__COUNT;
    size_t k;

    if (sig_cases[_i].signed_by != K_NONE)
        sign_message(keys[sig_cases[_i].signed_by], MSG, strlen(MSG), sig);
    if (sig_cases[_i].id_of <= K_CAROL)
        id = sign_key_id(keys[sig_cases[_i].id_of]);
    else if (sig_cases[_i].id_of == K_GARBAGE)
        id = "alice; DROP TABLE jobs";
    else if (sig_cases[_i].id_of == K_UPPER) {
        for (k = 0; k < sizeof(upper); k++)
            upper[k] = (char)(sign_key_id(alice)[k] >= 'a' ? sign_key_id(alice)[k] - 32
                                                           : sign_key_id(alice)[k]);
        id = upper;
    }
    ck_assert_int_eq(auth_signature(id, sig_cases[_i].signed_by == K_NONE ? NULL : sig, sent,
                                    strlen(sent), lookup, NULL, &signer, &v, why, sizeof(why)),
                     0);
    ck_assert_msg(v == sig_cases[_i].verdict, "%s: got %s (%s)", sig_cases[_i].what,
                  auth_verdict_name(v), why);
    if (v == AUTH_OK)
        ck_assert_str_eq(signer.identity, "alice");
    else
        ck_assert_msg(strncmp(why, auth_verdict_name(v), strlen(auth_verdict_name(v))) == 0 &&
                          strstr(why, sig_cases[_i].says) != NULL,
                      "%s: %s", sig_cases[_i].what, why);
}
END_TEST

UNIT_TEST(test_lookup_failure_is_retried)
{
    char sig[SIGN_SIGNATURE_LEN], why[512];
    auth_key signer;
    auth_verdict v;

    sign_message(alice, MSG, strlen(MSG), sig);
    lookups_fail = 1;
    ck_assert_int_eq(auth_signature(sign_key_id(alice), sig, MSG, strlen(MSG), lookup, NULL,
                                    &signer, &v, why, sizeof(why)),
                     -1);
    ck_assert_str_eq(why, "database unreachable");
}
END_TEST

/* now: 2026-12-01T12:00:00Z */
#define NOW_MS 1796126400000LL

static const struct {
    const char *submitted_by, *submitted_at;
    auth_verdict verdict;
    const char *says;
} claim_cases[] = {
    {"alice", "2026-12-01T12:00:00Z", AUTH_OK, NULL},
    {"alice", "2026-12-01T11:45:00.000Z", AUTH_OK, NULL}, /* exactly the window */
    {"alice", "2026-12-01T11:44:59.999Z", AUTH_EXPIRED, "older than 900 s"},
    {"alice", "2026-12-01T13:44:00+02:00", AUTH_EXPIRED, "960 s old"}, /* 11:44Z */
    {"alice", "2026-12-01T12:01:00Z", AUTH_OK, NULL},                  /* skew within 60 s */
    {"alice", "2026-12-01T12:01:00.001Z", AUTH_EXPIRED, "in the future"},
    {"alice", "2025-07-30T16:11:46.123Z", AUTH_EXPIRED, "s old"},
    {"alice", "2026-12-01T07:00:00-05:00", AUTH_OK, NULL}, /* 12:00 UTC */
    {"admin", "2026-12-01T12:00:00Z", AUTH_FORGED, "belongs to alice"},
    {"Alice", "2026-12-01T12:00:00Z", AUTH_FORGED, "submitted_by \"Alice\""},
    {NULL, "2026-12-01T12:00:00Z", AUTH_FORGED, "belongs to alice"},
    {"alice", "yesterday", AUTH_EXPIRED, "not an RFC 3339"},
};

UNIT_LOOP(test_claims_table, claim_cases)
{
    auth_key signer = {
        .identity = "alice", .key_id = "0123456789abcdef0123456789abcdef", .enabled = 1};
    char why[512] = "";
    auth_verdict v = auth_claims(&signer, claim_cases[_i].submitted_by,
                                 claim_cases[_i].submitted_at, NOW_MS, 900, 60, why, sizeof(why));
    auth_verdict want = claim_cases[_i].verdict;

    ck_assert_msg(v == want, "case %d (%s): got %s: %s", _i, claim_cases[_i].submitted_at,
                  auth_verdict_name(v), why);
    if (v != AUTH_OK)
        ck_assert_msg(strstr(why, claim_cases[_i].says) != NULL, "case %d: %s", _i, why);
}
END_TEST

static const struct {
    const char *text;
    long long ms; /* -1: refused */
} time_cases[] = {
    {"1970-01-01T00:00:00Z", 0},
    {"1970-01-01T00:00:01.5Z", 1500},
    {"1970-01-01T01:00:00+01:00", 0},
    {"1969-12-31T23:59:59Z", -1000},
    {"2026-12-01T12:00:00Z", NOW_MS},
    {"2026-12-01T12:00:00.123456789Z", NOW_MS + 123},
    {"2016-12-31T23:59:60Z", 1483228800000LL}, /* a leap second: the next minute's first */
    {"2026-12-01 12:00:00Z", -2},
    {"2026-12-01T12:00:00", -2},
    {"2026-12-01T12:00:00.Z", -2},
    {"2026-12-01T12:00:00+0100", -2},
    {"", -2},
};

UNIT_LOOP(test_time_table, time_cases)
{
    int64_t ms = 0;
    int rc = auth_time_parse(time_cases[_i].text, &ms);

    if (time_cases[_i].ms == -2) {
        ck_assert_msg(rc == -1, "%s accepted", time_cases[_i].text);
        return;
    }
    ck_assert_msg(rc == 0, "%s refused", time_cases[_i].text);
    ck_assert_int_eq(ms, time_cases[_i].ms);
}
END_TEST

UNIT_TEST(test_verdict_names)
{
    ck_assert_str_eq(auth_verdict_name(AUTH_UNAUTHENTICATED), "unauthenticated");
    ck_assert_str_eq(auth_verdict_name(AUTH_REPLAYED), "replayed");
    ck_assert_ptr_null(auth_verdict_name(AUTH__COUNT));
    for (int i = 0; i < AUTH__COUNT; i++)
        ck_assert_ptr_nonnull(auth_verdict_name((auth_verdict)i));
}
END_TEST

int main(void)
{
    return unit_main("auth");
}
