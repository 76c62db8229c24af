/* jobstore_config: es.xml versions stored in PostgreSQL, per system, and the names each system
 * claims. */
#include "jobstore.h"
#include "jobstore_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* Inside the caller's transaction: locks SYSTEM's row until the transaction ends (creating it
 * first when CREATE and no spelling of it is stored), so that changes to one system's versions
 * are serialised and never to another's; its stored spelling into STORED (JOBSTORE_SYSTEM_MAX
 * bytes). -JOBSTORE_ENOTFOUND when it does not exist and CREATE is 0. */
static int system_lock(jobstore *js, const char *system, int create, char *stored, char *errstr,
                       size_t errstr_size)
{
    const char *p[1] = {system};
    PGresult *res;
    int rc = 0;

    if (create)
        rc = jobstore_cmd(js, "create system",
                          "INSERT INTO systems (name) SELECT $1 WHERE NOT EXISTS (SELECT 1 FROM "
                          "systems WHERE lower(name) = lower($1)) ON CONFLICT DO NOTHING",
                          1, p, NULL, errstr, errstr_size);
    if (rc == 0)
        rc = jobstore_row(
            js, "lock system",
            "SELECT name FROM systems WHERE name = " JOBSTORE_SQL_SYSTEM("$1") " FOR UPDATE", 1, p,
            &res, errstr, errstr_size);
    if (rc == 1) {
        util_strlcpy(stored, PQgetvalue(res, 0, 0), JOBSTORE_SYSTEM_MAX);
        PQclear(res);
        return 0;
    }
    if (rc == 0) {
        util_errf(errstr, errstr_size,
                  "es.xml system %s is not stored (see 'kvmove config list'; load its es.xml "
                  "with 'kvmove config load FILE')",
                  system);
        rc = -JOBSTORE_ENOTFOUND;
    }
    return rc;
}

/* Inside the caller's transaction: inserts a version of SYSTEM. */
static int insert_version(jobstore *js, const char *system, const char *state, const char *document,
                          const char *note, long *version, char *errstr, size_t errstr_size)
{
    const char *p[4] = {system, state, document, note ? note : ""};
    long v = 0;
    int rc = jobstore_value(js, "store config",
                            "INSERT INTO configs (system_name, state, document, note) "
                            "VALUES ($1, $2, $3, $4) RETURNING version",
                            4, p, &v, errstr, errstr_size);

    if (rc == 0 && version)
        *version = v;
    return rc;
}

int jobstore_config_store(jobstore *js, const char *system_name, const char *state,
                          const char *document, const char *note, long *version, char *errstr,
                          size_t errstr_size)
{
    char stored[JOBSTORE_SYSTEM_MAX];
    int rc = jobstore_begin(js, errstr, errstr_size);

    if (rc < 0)
        return rc;
    rc = system_lock(js, system_name, 1, stored, errstr, errstr_size);
    if (rc == 0)
        rc = insert_version(js, stored, state, document, note, version, errstr, errstr_size);
    return jobstore_end(js, rc, errstr, errstr_size);
}

/* The N MACHINES as one JSON parameter (json_to_recordset), malloc'd; NULL when out of memory. */
static char *machines_json(const jobstore_machine *machines, size_t n)
{
    json_t *a = json_array();
    char *s;
    size_t i;

    for (i = 0; a && i < n; i++) {
        const jobstore_machine *m = &machines[i];
        if (json_array_append_new(a, json_pack("{s:s,s:s,s:I,s:i}", "hostname", m->hostname, "kind",
                                               m->is_guest ? "guest" : "kvm_host", "memory_mb",
                                               (json_int_t)m->memory_mb, "cores", m->cores)) != 0) {
            json_decref(a);
            return NULL;
        }
    }
    s = a ? json_dumps(a, JSON_COMPACT) : NULL;
    json_decref(a);
    return s;
}

/* Inside the caller's transaction, SYSTEM locked: refuses names other systems claim (naming
 * them), then makes the N MACHINES the names SYSTEM claims. */
static int claim_names(jobstore *js, const char *system, const jobstore_machine *machines, size_t n,
                       char *errstr, size_t errstr_size)
{
    char *names = machines_json(machines, n);
    const char *p[2] = {system, names};
    PGresult *res = NULL;
    int rc;

    if (names == NULL) {
        util_errf(errstr, errstr_size, "es.xml system %s: out of memory", system);
        return -JOBSTORE_EDB;
    }
    rc = jobstore_row(js, "find names other systems claim",
                      "SELECT string_agg(o.hostname || ' (system ' || o.system || ')', ', ' ORDER "
                      "BY o.name), count(*) FROM json_to_recordset($2::json) AS m(hostname text) "
                      "JOIN system_machines o ON o.name = lower(m.hostname) AND o.system <> $1 "
                      "HAVING count(*) > 0",
                      2, p, &res, errstr, errstr_size);
    if (rc == 1) {
        util_errf(errstr, errstr_size,
                  "es.xml system %s names %s machine%s that another system claims: %s; a guest "
                  "or KVM host belongs to one system (names compare without regard to case)",
                  system, PQgetvalue(res, 0, 1), atol(PQgetvalue(res, 0, 1)) == 1 ? "" : "s",
                  PQgetvalue(res, 0, 0));
        PQclear(res);
        rc = -JOBSTORE_EINVALID;
    }
    if (rc == 0)
        rc = jobstore_cmd(js, "forget names", "DELETE FROM system_machines WHERE system = $1", 1, p,
                          NULL, errstr, errstr_size);
    if (rc == 0)
        rc = jobstore_cmd(js, "claim names",
                          "INSERT INTO system_machines (name, system, hostname, kind, memory_mb, "
                          "cores) SELECT lower(m.hostname), $1, m.hostname, m.kind, m.memory_mb, "
                          "m.cores FROM json_to_recordset($2::json) AS m(hostname text, kind "
                          "text, memory_mb bigint, cores integer)",
                          2, p, NULL, errstr, errstr_size);
    free(names);
    return rc;
}

int jobstore_config_load(jobstore *js, const char *system, const char *document, const char *note,
                         const jobstore_machine *machines, size_t n, long *version, char *errstr,
                         size_t errstr_size)
{
    char stored[JOBSTORE_SYSTEM_MAX];
    int rc = jobstore_begin(js, errstr, errstr_size);

    if (rc < 0)
        return rc;
    if ((rc = system_lock(js, system, 1, stored, errstr, errstr_size)) == 0 &&
        (rc = claim_names(js, stored, machines, n, errstr, errstr_size)) == 0)
        rc = insert_version(js, stored, "loaded", document, note, version, errstr, errstr_size);
    rc = jobstore_end(js, rc, errstr, errstr_size);
    if (rc == -JOBSTORE_EDATA && strcmp(js->sqlstate, "23505") == 0) {
        /* Another system's load claimed one of the names meanwhile (the unique name). */
        util_errf(errstr, errstr_size,
                  "es.xml system %s names a machine that another system's load claimed at the "
                  "same time; see 'kvmove config list' and load it again",
                  system);
        rc = -JOBSTORE_EINVALID;
    }
    return rc;
}

/* Inside a statement: the only system stored into SYSTEM (JOBSTORE_SYSTEM_MAX bytes), or why
 * there is none to pick. */
static int only_system(jobstore *js, char *system, char *errstr, size_t errstr_size)
{
    PGresult *res;
    long n;
    int rc = jobstore_row(js, "find systems",
                          "SELECT count(*), min(name), string_agg(name, ', ' ORDER BY name) FROM "
                          "systems s WHERE EXISTS (SELECT 1 FROM configs c WHERE c.system_name = "
                          "s.name)",
                          0, NULL, &res, errstr, errstr_size);

    if (rc < 0)
        return rc;
    n = atol(PQgetvalue(res, 0, 0));
    if (n == 1)
        util_strlcpy(system, PQgetvalue(res, 0, 1), JOBSTORE_SYSTEM_MAX);
    else if (n == 0)
        util_errf(errstr, errstr_size,
                  "no es.xml is stored (load one with 'kvmove config load FILE')");
    else
        util_errf(errstr, errstr_size,
                  "%ld es.xml systems are stored (%s): name one (--system NAME, or a guest or "
                  "host of it)",
                  n, PQgetvalue(res, 0, 2));
    PQclear(res);
    return n == 1 ? 0 : n == 0 ? -JOBSTORE_ENOTFOUND : -JOBSTORE_EINVALID;
}

int jobstore_config_get(jobstore *js, const char *system, long version, char **doc,
                        jobstore_config_info *info, char *errstr, size_t errstr_size)
{
    char v[32], only[JOBSTORE_SYSTEM_MAX];
    const char *p[2] = {v, system};
    PGresult *res;
    int rc;

    if (doc)
        *doc = NULL;
    snprintf(v, sizeof(v), "%ld", version);
    if (version == 0 && system == NULL) {
        if ((rc = only_system(js, only, errstr, errstr_size)) < 0)
            return rc;
        p[1] = system = only;
    }
    /* The document is read only when asked for (it is the large part). */
    if (version == 0)
        rc = jobstore_row(js, "read config",
                          doc ? "SELECT version, system_name, state, document FROM configs WHERE "
                                "system_name = " JOBSTORE_SQL_SYSTEM("$1") " ORDER BY version "
                                                                           "DESC LIMIT 1"
                              : "SELECT version, system_name, state FROM configs WHERE "
                                "system_name = " JOBSTORE_SQL_SYSTEM("$1") " ORDER BY version "
                                                                           "DESC LIMIT 1",
                          1, p + 1, &res, errstr, errstr_size);
    else
        rc = jobstore_row(js, "read config",
                          doc ? "SELECT version, system_name, state, document FROM configs WHERE "
                                "version = $1::bigint AND ($2::text IS NULL OR system_name "
                                "= " JOBSTORE_SQL_SYSTEM("$2") ")"
                              : "SELECT version, system_name, state FROM configs WHERE "
                                "version = $1::bigint AND ($2::text IS NULL OR system_name "
                                "= " JOBSTORE_SQL_SYSTEM("$2") ")",
                          2, p, &res, errstr, errstr_size);
    if (rc < 0)
        return rc;
    if (rc == 0) {
        if (version == 0)
            util_errf(errstr, errstr_size,
                      "no es.xml of system %s is stored (load one with 'kvmove config load "
                      "FILE')",
                      system);
        else if (system)
            util_errf(errstr, errstr_size,
                      "es.xml version %ld of system %s is not stored (see 'kvmove config list "
                      "--system %s')",
                      version, system, system);
        else
            util_errf(errstr, errstr_size,
                      "es.xml version %ld is not stored (see 'kvmove config list')", version);
        return -JOBSTORE_ENOTFOUND;
    }
    if (info) {
        info->version = atol(PQgetvalue(res, 0, 0));
        util_strlcpy(info->system, PQgetvalue(res, 0, 1), sizeof(info->system));
        util_strlcpy(info->state, PQgetvalue(res, 0, 2), sizeof(info->state));
    }
    rc = 0;
    if (doc && (*doc = strdup(PQgetvalue(res, 0, 3))) == NULL) {
        util_errf(errstr, errstr_size, "es.xml version %s: out of memory", PQgetvalue(res, 0, 0));
        rc = -JOBSTORE_EDB;
    }
    PQclear(res);
    return rc;
}

int jobstore_config_list(jobstore *js, const char *system, json_t **out, char *errstr,
                         size_t errstr_size)
{
    const char *p[1] = {system};

    return jobstore_json_query(
        js, "list configs",
        "SELECT coalesce(json_agg(json_build_object('version', version, 'system', system_name, "
        "'state', state, 'note', note, 'bytes', octet_length(document), 'created_at', "
        "created_at) ORDER BY version), '[]') FROM configs WHERE $1::text IS NULL OR "
        "system_name = " JOBSTORE_SQL_SYSTEM("$1"),
        1, p, out, errstr, errstr_size);
}

int jobstore_config_machine(jobstore *js, const char *name, jobstore_machine *out, char *errstr,
                            size_t errstr_size)
{
    const char *p[1] = {name};
    PGresult *res;
    int rc = jobstore_row(js, "find machine",
                          "SELECT system, hostname, kind = 'guest', memory_mb, cores FROM "
                          "system_machines WHERE name = lower($1)",
                          1, p, &res, errstr, errstr_size);

    memset(out, 0, sizeof(*out));
    if (rc == 1) {
        util_strlcpy(out->system, PQgetvalue(res, 0, 0), sizeof(out->system));
        util_strlcpy(out->hostname, PQgetvalue(res, 0, 1), sizeof(out->hostname));
        out->is_guest = PQgetvalue(res, 0, 2)[0] == 't';
        out->memory_mb = atol(PQgetvalue(res, 0, 3));
        out->cores = atoi(PQgetvalue(res, 0, 4));
        PQclear(res);
    }
    return rc;
}

int jobstore_config_apply(jobstore *js, const jobstore_config_change *c, long *version,
                          char *errstr, size_t errstr_size)
{
    char stored[JOBSTORE_SYSTEM_MAX];
    const char *p[1] = {stored};
    char *next = NULL;
    PGresult *res;
    int rc;

    if (version)
        *version = 0;
    if ((rc = system_lock(js, c->system, 0, stored, errstr, errstr_size)) < 0)
        return rc;
    /* Read under the lock: no other change to this system can commit before this one does. */
    rc = jobstore_row(js, "read newest config",
                      "SELECT version, document FROM configs WHERE system_name = $1 ORDER BY "
                      "version DESC LIMIT 1",
                      1, p, &res, errstr, errstr_size);
    if (rc == 0) {
        util_errf(errstr, errstr_size, "no es.xml of system %s is stored", c->system);
        return -JOBSTORE_ENOTFOUND;
    }
    if (rc < 0)
        return rc;
    rc = c->edit(c->ctx, PQgetvalue(res, 0, 1), atol(PQgetvalue(res, 0, 0)), &next, errstr,
                 errstr_size);
    PQclear(res);
    if (rc == 0)
        rc = insert_version(js, stored, c->state, next, c->note, version, errstr, errstr_size);
    else if (rc == 1)
        rc = 0; /* nothing to store */
    free(next);
    return rc;
}

int jobstore_config_update(jobstore *js, const jobstore_config_change *change, long *version,
                           char *errstr, size_t errstr_size)
{
    int rc = jobstore_begin(js, errstr, errstr_size);

    if (rc < 0)
        return rc;
    rc = jobstore_config_apply(js, change, version, errstr, errstr_size);
    return jobstore_end(js, rc, errstr, errstr_size);
}

int jobstore_config_prune(jobstore *js, const char *system, int keep, const char *older_than,
                          long *pruned, long *bytes, char *errstr, size_t errstr_size)
{
    char k[16];
    const char *p[3] = {system, keep > 0 ? k : NULL, older_than};
    PGresult *res;
    int rc;

    if (keep <= 0 && (older_than == NULL || *older_than == '\0')) {
        util_errf(errstr, errstr_size,
                  "name what to keep: the newest N versions of each system, or the versions "
                  "newer than an age");
        return -JOBSTORE_EINVALID;
    }
    snprintf(k, sizeof(k), "%d", keep);
    /* The newest of a system is rank 1, so it stays whatever KEEP is; a version a job names
     * stays too (the foreign key would refuse it anyway). */
    rc = jobstore_row(
        js, "prune configs",
        "WITH ranked AS (SELECT version, created_at, row_number() OVER (PARTITION BY system_name "
        "ORDER BY version DESC) AS rank FROM configs WHERE $1::text IS NULL OR system_name "
        "= " JOBSTORE_SQL_SYSTEM(
            "$1") "), "
                  "gone AS (DELETE FROM configs c USING ranked r WHERE c.version = r.version AND "
                  "r.rank > 1 "
                  "AND ($2::integer IS NULL OR r.rank > $2::integer) AND ($3::interval IS NULL OR "
                  "r.created_at < now() - $3::interval) AND NOT EXISTS (SELECT 1 FROM jobs j WHERE "
                  "j.config_version = c.version) RETURNING octet_length(c.document) AS n) SELECT "
                  "count(*), "
                  "coalesce(sum(n), 0) FROM gone",
        3, p, &res, errstr, errstr_size);
    if (rc < 0)
        return rc;
    if (pruned)
        *pruned = atol(PQgetvalue(res, 0, 0));
    if (bytes)
        *bytes = atol(PQgetvalue(res, 0, 1));
    PQclear(res);
    return 0;
}
