/* jobstore_auth: operators' enrolled keys and granted rights, and where each request came from
 * (tables operator_keys, grants, request_origins: migrations/0006_auth.sql). */
#include "jobstore.h"
#include "jobstore_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

int jobstore_auth_key(void *ctx, const char *key_id, auth_key *out, char *errstr,
                      size_t errstr_size)
{
    jobstore *js = ctx;
    const char *p[1] = {key_id};
    PGresult *res = NULL;
    int rc;

    memset(out, 0, sizeof(*out));
    rc = jobstore_row(js, "read operator key",
                      "SELECT key_id, identity, public_key, enabled FROM operator_keys WHERE "
                      "key_id = $1",
                      1, p, &res, errstr, errstr_size);
    if (rc == 1) {
        util_strlcpy(out->key_id, PQgetvalue(res, 0, 0), sizeof(out->key_id));
        util_strlcpy(out->identity, PQgetvalue(res, 0, 1), sizeof(out->identity));
        util_strlcpy(out->public_key, PQgetvalue(res, 0, 2), sizeof(out->public_key));
        out->enabled = strcmp(PQgetvalue(res, 0, 3), "t") == 0;
    }
    PQclear(res);
    return rc;
}

int jobstore_auth_rights(jobstore *js, const char *identity, const char *system, authz_rights *out,
                         char *errstr, size_t errstr_size)
{
    const char *p[2] = {identity, system ? system : ""};
    PGresult *res = NULL;
    authz_right r;
    int rc, i;

    *out = 0;
    rc = jobstore_run(js, "read grants",
                      "SELECT \"right\" FROM grants WHERE identity = $1 AND (system = '*' OR "
                      "(lower(system) = lower($2) AND $2 <> ''))",
                      2, p, PGRES_TUPLES_OK, &res, errstr, errstr_size);
    if (rc != 0)
        return rc;
    for (i = 0; i < PQntuples(res); i++)
        if (authz_right_from_name(PQgetvalue(res, i, 0), &r) == 0)
            *out |= 1u << r;
    PQclear(res);
    return 0;
}

int jobstore_auth_origin(jobstore *js, const char *request_id, const char *topic, int partition,
                         long long offset, const char *key_id, int *replayed, char *first,
                         size_t first_size, char *errstr, size_t errstr_size)
{
    char part[16], off[24];
    const char *p[5] = {request_id, topic, part, off, key_id};
    PGresult *res = NULL;
    int rc;

    *replayed = 0;
    first[0] = '\0';
    snprintf(part, sizeof(part), "%d", partition);
    snprintf(off, sizeof(off), "%lld", offset);
    /* The first message to name an id records it; any later one reads what that recorded. */
    rc = jobstore_cmd(js, "record request origin",
                      "INSERT INTO request_origins (request_id, topic, \"partition\", \"offset\", "
                      "key_id) VALUES ($1::uuid, $2, $3::int, $4::bigint, $5) ON CONFLICT "
                      "(request_id) DO NOTHING",
                      5, p, NULL, errstr, errstr_size);
    if (rc != 0)
        return rc;
    rc = jobstore_row(js, "read request origin",
                      "SELECT topic, \"partition\", \"offset\" FROM request_origins WHERE "
                      "request_id = $1::uuid",
                      1, p, &res, errstr, errstr_size);
    if (rc < 0)
        return rc;
    if (rc == 1) {
        snprintf(first, first_size, "%s/%s/%s", PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1),
                 PQgetvalue(res, 0, 2));
        *replayed = strcmp(PQgetvalue(res, 0, 0), topic) != 0 ||
                    strcmp(PQgetvalue(res, 0, 1), part) != 0 ||
                    strcmp(PQgetvalue(res, 0, 2), off) != 0;
    }
    PQclear(res);
    return 0;
}

int jobstore_operator_add(jobstore *js, const char *identity, const char *key_id,
                          const char *public_key, char *errstr, size_t errstr_size)
{
    const char *p[3] = {key_id, identity, public_key};
    PGresult *res = NULL;
    int rc, added = 0;

    rc =
        jobstore_cmd(js, "enrol operator key",
                     "INSERT INTO operator_keys (key_id, identity, public_key) VALUES ($1, $2, $3) "
                     "ON CONFLICT DO NOTHING",
                     3, p, &added, errstr, errstr_size);
    if (rc != 0 || added)
        return rc;
    rc = jobstore_row(js, "read operator key",
                      "SELECT identity FROM operator_keys WHERE key_id = $1", 1, p, &res, errstr,
                      errstr_size);
    if (rc >= 0) {
        util_errf(errstr, errstr_size, "key %s is enrolled already%s%s", key_id,
                  rc == 1 ? ", as " : "", rc == 1 ? PQgetvalue(res, 0, 0) : "");
        rc = -JOBSTORE_EDATA;
    }
    PQclear(res);
    return rc;
}

int jobstore_operator_enable(jobstore *js, const char *identity, const char *key_id, int enabled,
                             int *changed, char *errstr, size_t errstr_size)
{
    const char *p[3] = {identity, key_id ? key_id : "", enabled ? "t" : "f"};

    return jobstore_cmd(js, "enable operator keys",
                        "UPDATE operator_keys SET enabled = $3::boolean WHERE identity = $1 AND "
                        "($2 = '' OR key_id = $2) AND enabled <> $3::boolean",
                        3, p, changed, errstr, errstr_size);
}

int jobstore_operator_grant(jobstore *js, const char *identity, const char *system,
                            const char *right, int grant, int *changed, char *errstr,
                            size_t errstr_size)
{
    const char *p[3] = {identity, system, right};

    if (grant)
        return jobstore_cmd(
            js, "grant right",
            "INSERT INTO grants (identity, system, \"right\") SELECT $1, "
            "CASE WHEN $2 = '*' THEN '*' ELSE " JOBSTORE_SQL_SYSTEM(
                "$2") " END, "
                      "$3 WHERE NOT EXISTS (SELECT 1 FROM grants WHERE identity = $1 AND "
                      "lower(system) = lower($2) AND \"right\" = $3) ON CONFLICT DO NOTHING",
            3, p, changed, errstr, errstr_size);
    return jobstore_cmd(js, "revoke right",
                        "DELETE FROM grants WHERE identity = $1 AND lower(system) = lower($2) AND "
                        "\"right\" = $3",
                        3, p, changed, errstr, errstr_size);
}

int jobstore_operators_json(jobstore *js, json_t **out, char *errstr, size_t errstr_size)
{
    return jobstore_json_query(
        js, "list operators",
        "SELECT coalesce(json_agg(json_build_object('identity', i.identity, 'keys', (SELECT "
        "coalesce(json_agg(json_build_object('key_id', k.key_id, 'public_key', k.public_key, "
        "'enabled', k.enabled, 'enrolled_at', k.enrolled_at) ORDER BY k.enrolled_at), '[]') "
        "FROM operator_keys k WHERE k.identity = i.identity), 'grants', (SELECT "
        "coalesce(json_agg(json_build_object('system', g.system, 'right', g.\"right\") ORDER BY "
        "g.system, g.\"right\"), '[]') FROM grants g WHERE g.identity = i.identity)) ORDER BY "
        "i.identity), '[]') FROM (SELECT identity FROM operator_keys UNION SELECT identity FROM "
        "grants) i",
        0, NULL, out, errstr, errstr_size);
}
