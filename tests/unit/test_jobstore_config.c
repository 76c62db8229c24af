/* test_jobstore_config: es.xml versions per system in PostgreSQL: the names a system claims,
 * changes serialised by the system's lock and applied to its newest version, pruning. */
#include "authz.h"
#include "jobstore.h"
#include "unit_pg.h"
#include "unit_run.h"

#include <check.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

static unit_db db; /* per test */

static void setup(void)
{
    unit_db_open(&db, unit_source_dir(), "jobstore_config");
}

static void teardown(void)
{
    unit_db_close(&db);
}

UNIT_TCASE("versions per system", .setup = setup, .teardown = teardown, .timeout = 60);

/* Runs SQL on the test's connection; the first value of its first row (malloc'd, "" if none). */
static char *q(const char *sql)
{
    PGresult *r = PQexec(db.pg, sql);
    char *v;

    ck_assert_msg(PQresultStatus(r) == PGRES_TUPLES_OK || PQresultStatus(r) == PGRES_COMMAND_OK,
                  "%s: %s", sql, PQerrorMessage(db.pg));
    v = strdup(PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0 ? PQgetvalue(r, 0, 0) : "");
    PQclear(r);
    return v;
}

#define ck_q(expected, sql)                                                                        \
    do {                                                                                           \
        char *got_ = q(sql);                                                                       \
        ck_assert_msg(strcmp(got_, (expected)) == 0, "%s: got '%s', expected '%s'", sql, got_,     \
                      (expected));                                                                 \
        free(got_);                                                                                \
    } while (0)

static jobstore_machine machine(const char *name, int guest)
{
    jobstore_machine m;

    memset(&m, 0, sizeof(m));
    util_strlcpy(m.hostname, name, sizeof(m.hostname));
    m.is_guest = guest;
    m.memory_mb = guest ? 16384 : 0;
    m.cores = guest ? 4 : 0;
    return m;
}

/* A system claims the names of its newest load; another system's load naming one of them, in
 * any case, is refused naming both systems, and changes nothing. */
UNIT_TEST(test_load_claims_names)
{
    char err[1024];
    jobstore_machine a[2] = {machine("exa01adm01.example.com", 0),
                             machine("Exa01VM01.example.com", 1)};
    jobstore_machine a2[2] = {machine("exa01adm01.example.com", 0),
                              machine("exa01vm02.example.com", 1)};
    jobstore_machine b[2] = {machine("cld02kvm01.example.net", 0),
                             machine("EXA01VM02.EXAMPLE.COM", 1)};
    jobstore_machine found;
    long v = 0;

    ck_assert_int_eq(jobstore_config_load(db.js, "exa01", "<a1/>", "f", a, 2, &v, err, sizeof(err)),
                     0);
    ck_assert_int_eq(
        jobstore_config_machine(db.js, "EXA01vm01.example.COM", &found, err, sizeof(err)), 1);
    ck_assert_str_eq(found.system, "exa01");
    ck_assert_str_eq(found.hostname, "Exa01VM01.example.com");
    ck_assert_int_eq(found.is_guest, 1);
    ck_assert_int_eq(found.memory_mb, 16384);
    /* a new version of the system replaces its names */
    ck_assert_int_eq(
        jobstore_config_load(db.js, "exa01", "<a2/>", "f", a2, 2, &v, err, sizeof(err)), 0);
    ck_assert_int_eq(
        jobstore_config_machine(db.js, "exa01vm01.example.com", &found, err, sizeof(err)), 0);
    ck_assert_int_eq(jobstore_config_load(db.js, "cld02", "<b1/>", "f", b, 2, &v, err, sizeof(err)),
                     -JOBSTORE_EINVALID);
    ck_assert_msg(strstr(err, "cld02") && strstr(err, "exa01vm02.example.com (system exa01)"), "%s",
                  err);
    ck_q("0", "SELECT count(*) FROM configs WHERE system_name = 'cld02'");
    ck_q("2", "SELECT count(*) FROM configs WHERE system_name = 'exa01'");
    ck_q("exa01", "SELECT system FROM system_machines WHERE name = 'exa01vm02.example.com'");
}
END_TEST

typedef struct load_call {
    jobstore *js;
    const char *system;
    const jobstore_machine *m;
    size_t n;
    int rc;
    char err[1024];
} load_call;

static void *load_thread(void *arg)
{
    load_call *c = arg;
    c->rc = jobstore_config_load(c->js, c->system, "<x/>", "race", c->m, c->n, NULL, c->err,
                                 sizeof(c->err));
    return NULL;
}

/* Two loads claiming one name at the same time: the second finds no other claim when it looks,
 * and is refused by the unique name (SQLSTATE 23505) once the first commits. */
UNIT_TEST(test_load_race)
{
    jobstore_machine m[1] = {machine("shared.example.com", 1)};
    load_call c = {NULL, "sys_b", m, 1, 0, ""};
    pthread_t t;
    char *x;

    ck_assert_msg(jobstore_connect(db.conninfo, &c.js, c.err, sizeof(c.err)) == 0, "%s", c.err);
    free(q("BEGIN"));
    free(q("INSERT INTO systems (name) VALUES ('sys_a')"));
    free(q("INSERT INTO system_machines (name, system, hostname, kind) VALUES "
           "('shared.example.com', 'sys_a', 'SHARED.example.com', 'guest')"));
    ck_assert_int_eq(pthread_create(&t, NULL, load_thread, &c), 0);
    unit_pg_wait_lock_wait(db.conninfo);
    free(q("COMMIT"));
    pthread_join(t, NULL);
    jobstore_close(c.js);
    ck_assert_int_eq(c.rc, -JOBSTORE_EINVALID);
    ck_assert_msg(strstr(c.err, "sys_b") && strstr(c.err, "at the same time"), "%s", c.err);
    ck_q("0", "SELECT count(*) FROM configs WHERE system_name = 'sys_b'");
    x = q("SELECT system FROM system_machines WHERE name = 'shared.example.com'");
    ck_assert_str_eq(x, "sys_a");
    free(x);
}
END_TEST

typedef struct update_call {
    jobstore *js;
    jobstore_config_change change;
    long version;
    int rc;
    char err[1024];
} update_call;

static void *update_thread(void *arg)
{
    update_call *c = arg;
    c->rc = jobstore_config_update(c->js, &c->change, &c->version, c->err, sizeof(c->err));
    return NULL;
}

/* A change waits for the system's lock and then reads the newest version: a version another
 * transaction stored while holding the lock is the base, not the version before it. Other
 * systems are neither locked nor changed. */
UNIT_TEST(test_update_serialised)
{
    char err[1024], *doc = NULL;
    update_call c = {
        NULL, {"exa01", "migration-merged", "merge b", unit_append_edit, "+b"}, 0, 0, ""};
    jobstore_config_info info;
    pthread_t t;
    long v = 0, other = 0;

    ck_assert_int_eq(
        jobstore_config_store(db.js, "exa01", "loaded", "<v1/>", NULL, &v, err, sizeof(err)), 0);
    ck_assert_int_eq(
        jobstore_config_store(db.js, "cld02", "loaded", "<c1/>", NULL, &other, err, sizeof(err)),
        0);
    ck_assert_msg(jobstore_connect(db.conninfo, &c.js, c.err, sizeof(c.err)) == 0, "%s", c.err);
    free(q("BEGIN"));
    free(q("SELECT name FROM systems WHERE name = 'exa01' FOR UPDATE"));
    ck_assert_int_eq(pthread_create(&t, NULL, update_thread, &c), 0);
    unit_pg_wait_lock_wait(db.conninfo);
    /* another system is not held up by exa01's lock */
    ck_assert_int_eq(
        jobstore_config_store(db.js, "cld02", "loaded", "<c2/>", NULL, &other, err, sizeof(err)),
        0);
    free(q("INSERT INTO configs (system_name, state, document) VALUES ('exa01', "
           "'migration-deployed', '<v2/>')"));
    free(q("COMMIT"));
    pthread_join(t, NULL);
    jobstore_close(c.js);
    ck_assert_msg(c.rc == 0, "%s", c.err);
    ck_assert_int_eq(jobstore_config_get(db.js, "exa01", 0, &doc, &info, err, sizeof(err)), 0);
    ck_assert_str_eq(doc, "<v2/>+b");
    ck_assert_int_eq(info.version, c.version);
    ck_assert_str_eq(info.state, "migration-merged");
    free(doc);
    ck_assert_int_eq(jobstore_config_get(db.js, "cld02", 0, &doc, &info, err, sizeof(err)), 0);
    ck_assert_str_eq(doc, "<c2/>");
    free(doc);
    /* a change to a system with no version is refused */
    c.change.system = "nosuch";
    ck_assert_int_eq(jobstore_config_update(db.js, &c.change, &v, err, sizeof(err)),
                     -JOBSTORE_ENOTFOUND);
}
END_TEST

/* Pruning keeps the newest of each system, the KEEP newest, the young ones and every version a
 * job names. */
UNIT_TEST(test_prune)
{
    char err[1024], sql[256];
    long v[8], pruned = -1, bytes = -1;
    int i;

    for (i = 1; i <= 5; i++)
        ck_assert_int_eq(jobstore_config_store(db.js, "exa01", "loaded", "<exa/>", NULL, &v[i], err,
                                               sizeof(err)),
                         0);
    for (i = 6; i <= 7; i++)
        ck_assert_int_eq(jobstore_config_store(db.js, "cld02", "loaded", "<cld02/>", NULL, &v[i],
                                               err, sizeof(err)),
                         0);
    snprintf(sql, sizeof(sql),
             "INSERT INTO jobs (id, request_id, action, guest, mode, src_host, tgt_host, status, "
             "request, config_version) VALUES (gen_random_uuid(), gen_random_uuid(), "
             "'migrate_guest', 'g', 'OFFLINE', 'a', 'b', 'succeeded', '{}', %ld)",
             v[2]);
    free(q(sql));
    ck_assert_int_eq(
        jobstore_config_prune(db.js, "exa01", 0, NULL, &pruned, &bytes, err, sizeof(err)),
        -JOBSTORE_EINVALID);
    ck_assert_int_eq(
        jobstore_config_prune(db.js, "exa01", 0, "soon", &pruned, &bytes, err, sizeof(err)),
        -JOBSTORE_EDATA);
    ck_assert_int_eq(
        jobstore_config_prune(db.js, NULL, 0, "1 hour", &pruned, &bytes, err, sizeof(err)), 0);
    ck_assert_int_eq(pruned, 0); /* all younger than an hour */
    ck_assert_int_eq(
        jobstore_config_prune(db.js, "exa01", 2, NULL, &pruned, &bytes, err, sizeof(err)), 0);
    ck_assert_int_eq(pruned, 2); /* v1 and v3: v2 is a job's, v4 and v5 the two newest */
    ck_assert_int_eq(bytes, 12);
    ck_q("2,4,5,6,7", "SELECT string_agg(version::text, ',' ORDER BY version) FROM configs");
    ck_assert_int_eq(
        jobstore_config_prune(db.js, NULL, 1, "0 seconds", &pruned, &bytes, err, sizeof(err)), 0);
    ck_assert_int_eq(pruned, 2); /* v4 and v6; each system's newest stays */
    ck_q("2,5,7", "SELECT string_agg(version::text, ',' ORDER BY version) FROM configs");
}
END_TEST

/* A system is one system whatever the case its name is written in (as guest and host names):
 * an es.xml whose system name differs only in case is a new version of the stored system, and
 * reading, listing, pruning and rights find it by any spelling. */
UNIT_TEST(test_system_names_in_any_case)
{
    jobstore_machine a[1] = {machine("exa01vm01.example.com", 1)};
    jobstore_config_info info;
    authz_rights r = 0;
    json_t *list = NULL;
    char err[1024] = "";
    long v1 = 0, v2 = 0, pruned = -1, bytes = -1;
    int changed = 0;

    ck_assert_int_eq(
        jobstore_config_load(db.js, "exa01", "<a1/>", "f", a, 1, &v1, err, sizeof(err)), 0);
    ck_assert_msg(jobstore_config_load(db.js, "EXA01", "<a2/>", "f", a, 1, &v2, err, sizeof(err)) ==
                      0,
                  "%s", err);
    ck_q("exa01", "SELECT string_agg(name, ',') FROM systems");
    ck_q("2", "SELECT count(*) FROM configs WHERE system_name = 'exa01'");
    ck_assert_msg(jobstore_config_get(db.js, "Exa01", 0, NULL, &info, err, sizeof(err)) == 0, "%s",
                  err);
    ck_assert_int_eq(info.version, v2);
    ck_assert_str_eq(info.system, "exa01");
    ck_assert_int_eq(jobstore_config_get(db.js, "EXA01", v1, NULL, &info, err, sizeof(err)), 0);
    ck_assert_int_eq(jobstore_config_list(db.js, "EXA01", &list, err, sizeof(err)), 0);
    ck_assert_int_eq(json_array_size(list), 2);
    json_decref(list);
    ck_assert_int_eq(
        jobstore_config_prune(db.js, "EXA01", 1, NULL, &pruned, &bytes, err, sizeof(err)), 0);
    ck_assert_int_eq(pruned, 1);
    /* a right granted on one spelling holds on the other */
    ck_assert_int_eq(
        jobstore_operator_grant(db.js, "alice", "EXA01", "migrate", 1, &changed, err, sizeof(err)),
        0);
    ck_assert_int_eq(jobstore_auth_rights(db.js, "alice", "exa01", &r, err, sizeof(err)), 0);
    ck_assert_uint_eq(r, 1u << AUTHZ_MIGRATE);
}
END_TEST

int main(void)
{
    return unit_main("jobstore_config");
}
