/* auth: whether a request message is proven (signature, key, identity, age), and why not. */
#include "auth.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "names.h"
#include "util.h"

static const char *const verdict_names[AUTH__COUNT] = {
    [AUTH_OK] = "ok",
    [AUTH_UNAUTHENTICATED] = "unauthenticated",
    [AUTH_FORGED] = "forged",
    [AUTH_TAMPERED] = "tampered",
    [AUTH_EXPIRED] = "expired",
    [AUTH_REPLAYED] = "replayed",
    [AUTH_UNAUTHORIZED] = "unauthorized",
    [AUTH_INVALID] = "invalid",
};

const char *auth_verdict_name(auth_verdict v)
{
    return (int)v >= 0 && v < AUTH__COUNT ? verdict_names[v] : NULL;
}

static int is_key_id(const char *s)
{
    size_t i;

    for (i = 0; s[i]; i++)
        if (!isdigit((unsigned char)s[i]) && !(s[i] >= 'a' && s[i] <= 'f'))
            return 0;
    return i == SIGN_KEY_ID_LEN - 1;
}

int auth_signature(const char *key_id, const char *signature, const void *value, size_t len,
                   auth_key_lookup_fn lookup, void *ctx, auth_key *signer, auth_verdict *verdict,
                   char *why, size_t why_size)
{
    char shown[300];
    int rc;

    memset(signer, 0, sizeof(*signer));
    *verdict = AUTH_UNAUTHENTICATED;
    if (key_id == NULL || signature == NULL) {
        util_errf(why, why_size,
                  "unauthenticated: the message has no %s header (requests are signed with the "
                  "operator's Ed25519 key: headers " SIGN_HEADER_KEY_ID
                  " and " SIGN_HEADER_SIGNATURE ", see kvmove(1), AUTHENTICATION)",
                  key_id == NULL ? SIGN_HEADER_KEY_ID : SIGN_HEADER_SIGNATURE);
        return 0;
    }
    if (!is_key_id(key_id)) {
        name_escape(key_id, shown, sizeof(shown));
        util_errf(why, why_size,
                  "unauthenticated: header " SIGN_HEADER_KEY_ID " \"%s\" is not a key id (32 "
                  "lower-case hex digits, as 'kvmove key show' prints)",
                  shown);
        return 0;
    }
    rc = lookup(ctx, key_id, signer, why, why_size);
    if (rc < 0)
        return rc;
    *verdict = AUTH_FORGED;
    if (rc == 0) {
        util_errf(why, why_size,
                  "forged: key %s is not enrolled (an administrator enrols an operator's key with "
                  "'kvmove operator add NAME --public-key FILE')",
                  key_id);
        return 0;
    }
    if (!signer->enabled) {
        util_errf(why, why_size, "forged: key %s of %s is disabled", key_id, signer->identity);
        return 0;
    }
    if (!sign_verify(signer->public_key, value, len, signature)) {
        *verdict = AUTH_TAMPERED;
        util_errf(why, why_size,
                  "tampered: the signature is not key %s's (of %s) over these bytes: the message "
                  "was changed after it was signed, or signed with another key",
                  key_id, signer->identity);
        return 0;
    }
    *verdict = AUTH_OK;
    return 0;
}

int auth_time_parse(const char *text, int64_t *ms)
{
    struct tm tm;
    int y, mo, d, h, mi, s, n = 0, oh = 0, om = 0;
    long frac_ms = 0;
    const char *p;
    time_t t;

    if (text == NULL ||
        sscanf(text, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &s, &n) != 6)
        return -1;
    p = text + n;
    if (*p == '.') {
        int digits = 0;
        for (p++; isdigit((unsigned char)*p); p++, digits++)
            if (digits < 3)
                frac_ms = frac_ms * 10 + (*p - '0');
        if (digits == 0)
            return -1;
        for (; digits < 3; digits++)
            frac_ms *= 10;
    }
    if (*p == 'Z' && p[1] == '\0') {
        ;
    } else if ((*p == '+' || *p == '-') && sscanf(p + 1, "%2d:%2d%n", &oh, &om, &n) == 2 &&
               p[1 + n] == '\0') {
        if (*p == '-') {
            oh = -oh;
            om = -om;
        }
    } else {
        return -1;
    }
    memset(&tm, 0, sizeof(tm));
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = s; /* 60 (a leap second) is the next minute's first */
    t = timegm(&tm);
    if (t == (time_t)-1 && !(y == 1969 && mo == 12 && d == 31))
        return -1;
    *ms = ((int64_t)t - (int64_t)oh * 3600 - (int64_t)om * 60) * 1000 + frac_ms;
    return 0;
}

auth_verdict auth_claims(const auth_key *signer, const char *submitted_by, const char *submitted_at,
                         int64_t now_ms, int max_age_s, int max_skew_s, char *why, size_t why_size)
{
    char shown[300];
    int64_t at;

    if (submitted_by == NULL || strcmp(submitted_by, signer->identity) != 0) {
        name_escape(submitted_by ? submitted_by : "", shown, sizeof(shown));
        util_errf(why, why_size,
                  "forged: the request says submitted_by \"%s\" but key %s belongs to %s", shown,
                  signer->key_id, signer->identity);
        return AUTH_FORGED;
    }
    if (auth_time_parse(submitted_at, &at) != 0) {
        name_escape(submitted_at ? submitted_at : "", shown, sizeof(shown));
        util_errf(why, why_size, "expired: submitted_at \"%s\" is not an RFC 3339 timestamp",
                  shown);
        return AUTH_EXPIRED;
    }
    if (now_ms - at > (int64_t)max_age_s * 1000) {
        util_errf(why, why_size,
                  "expired: submitted_at %s is %lld s old; a request older than %d s is refused "
                  "(a replay of an old request, one that waited too long for a worker, or a "
                  "clock that is off: check NTP, or set auth.max_age_s)",
                  submitted_at, (long long)((now_ms - at) / 1000), max_age_s);
        return AUTH_EXPIRED;
    }
    if (at - now_ms > (int64_t)max_skew_s * 1000) {
        util_errf(why, why_size,
                  "expired: submitted_at %s is %lld s in the future; at most %d s of clock skew "
                  "is allowed (check the producer's clock: NTP)",
                  submitted_at, (long long)((at - now_ms) / 1000), max_skew_s);
        return AUTH_EXPIRED;
    }
    return AUTH_OK;
}
