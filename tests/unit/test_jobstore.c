/* test_jobstore: jobstore against a fresh PostgreSQL database (tests/unit/unit_pg.sh). */
#include "jobstore.h"
#include "jobstore_internal.h"
#include "unit_intake.h"
#include "unit_pg.h"

#include <check.h>
#include <libpq-fe.h>

#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"
#include "unit_request.h"
#include "unit_run.h"

#define N_OF(a) ((int)(sizeof(a) / sizeof((a)[0])))

static char srcdir[PATH_MAX];
static char dbname[64];
static char conninfo[1024];
static int migrations_applied = -1; /* by the first jobstore_migrate (unchecked setup) */
static int migration_files;

static jobstore *js; /* per test (checked fixture) */
static PGconn *pg;   /* the test's own look at the rows */

static void find_srcdir(void)
{
    const char *env = getenv("KVMOVE_SOURCE_DIR");
    const char *slash;

    if (env != NULL && *env) {
        util_strlcpy(srcdir, env, sizeof(srcdir));
        return;
    }
#ifdef KVMOVE_SOURCE_DIR
    util_strlcpy(srcdir, KVMOVE_SOURCE_DIR, sizeof(srcdir));
    (void)slash;
#else
    slash = strstr(__FILE__, "/tests/unit/");
    snprintf(srcdir, sizeof(srcdir), "%.*s", slash ? (int)(slash - __FILE__) : 1,
             slash ? __FILE__ : ".");
#endif
}

static int count_migration_files(const char *dir)
{
    char cmd[PATH_MAX + 64];
    FILE *f;
    int n = -1;

    snprintf(cmd, sizeof(cmd), "ls '%s' | grep -c '^[0-9][0-9]*_.*\\.sql$'", dir);
    f = popen(cmd, "r");
    if (f == NULL || fscanf(f, "%d", &n) != 1)
        n = -1;
    if (f)
        pclose(f);
    return n;
}

/* Once per run (in the runner): a fresh database with every migration applied. */
static void db_setup(void)
{
    char dir[PATH_MAX + 16], errstr[512];
    jobstore *j = NULL;

    find_srcdir();
    setenv("PGOPTIONS", "-c client_min_messages=warning", 1); /* no NOTICE noise */
    snprintf(dbname, sizeof(dbname), "unit_jobstore_%d", (int)getpid());
    if (unit_pg_run(srcdir, "create", dbname, conninfo, sizeof(conninfo)) != 0 ||
        conninfo[0] == '\0') {
        fprintf(stderr, "test_jobstore: cannot create database %s\n", dbname);
        exit(EXIT_FAILURE);
    }
    snprintf(dir, sizeof(dir), "%s/migrations", srcdir);
    migration_files = count_migration_files(dir);
    if (jobstore_connect(conninfo, &j, errstr, sizeof(errstr)) != 0 ||
        jobstore_migrate(j, dir, &migrations_applied, errstr, sizeof(errstr)) != 0) {
        fprintf(stderr, "test_jobstore: %s\n", errstr);
        migrations_applied = -1;
    }
    jobstore_close(j);
}

static void db_teardown(void)
{
    if (unit_pg_run(srcdir, "drop", dbname, NULL, 0) != 0)
        fprintf(stderr, "test_jobstore: could not drop database %s\n", dbname);
}

/* Per test: empty tables, a jobstore and a plain libpq connection. */
static void conn_setup(void)
{
    char errstr[512];

    ck_assert_msg(migrations_applied >= 0, "the database could not be migrated");
    ck_assert_msg(jobstore_connect(conninfo, &js, errstr, sizeof(errstr)) == 0, "%s", errstr);
    pg = PQconnectdb(conninfo);
    ck_assert_int_eq(PQstatus(pg), CONNECTION_OK);
    unit_pg_exec(pg, "SET client_min_messages = warning; TRUNCATE " UNIT_PG_TABLES
                     ", systems RESTART IDENTITY CASCADE");
}

static void conn_teardown(void)
{
    jobstore_close(js);
    js = NULL;
    PQfinish(pg);
    pg = NULL;
}

UNIT_TCASE("db", .setup_once = db_setup, .teardown_once = db_teardown, .setup = conn_setup,
           .teardown = conn_teardown, .timeout = 30);

/* ---- helpers ---------------------------------------------------------------------------- */

/* The single value of a test-made query on the suite's connection ("" for no row, "(null)" for
 * NULL), malloc'd; ck_sql_eq asserts it. */
#define q1(...) unit_pg_value(pg, "(null)", __VA_ARGS__)
#define ck_sql_eq(expected, ...) unit_ck_value(q1(__VA_ARGS__), (expected), #__VA_ARGS__)

/* The outbox event types (short) in id order, comma-separated, malloc'd. */
static char *outbox_types(void)
{
    return q1("SELECT coalesce(string_agg(substr(payload->>'type', 11), ',' ORDER BY id), '') "
              "FROM outbox");
}

static void migrate_req(request *r, const char *guest, const char *src, const char *tgt)
{
    unit_move_request(r, guest, src, tgt, MODE_OFFLINE);
}

/* A replay of job JOB_ID. */
static void replay_req(request *r, const char *job_id)
{
    request_init(r);
    r->action = ACTION_REPLAY;
    util_strlcpy(r->job_id, job_id, sizeof(r->job_id));
}

static jobstore_intake create_ok(const request *r, long mem, int vcpus, char *errstr,
                                 size_t errstr_size)
{
    jobstore_intake res = (jobstore_intake)-1;
    int rc = jobstore_intake_request(js, r, mem, vcpus, "test", &res, errstr, errstr_size);

    ck_assert_msg(rc == 0, "intake_request: %d %s", rc, errstr);
    return res;
}

/* Creates a migrate_guest job for GUEST and returns its id (= request id) in ID. */
static void new_job(const char *guest, const char *src, const char *tgt, char id[37])
{
    request r;
    char errstr[512];

    migrate_req(&r, guest, src, tgt);
    ck_assert_int_eq(create_ok(&r, 0, 0, errstr, sizeof(errstr)), JOBSTORE_CREATED);
    util_strlcpy(id, r.request_id, 37);
}

static void claim_ok(const char *owner, job *j)
{
    char errstr[512];
    int rc = jobstore_job_claim(js, owner, 60, 0, j, errstr, sizeof(errstr));

    ck_assert_msg(rc == 1, "claim by %s: %d %s", owner, rc, errstr);
}

static void step_run(job *j, step_id s, step_state st, const char *owner)
{
    char errstr[512];

    ck_assert_int_eq(
        jobstore_step_begin(js, j, s, j->src_host, owner, "test", errstr, sizeof(errstr)), 0);
    ck_assert_int_eq(jobstore_step_end(js, j, s, j->src_host, st, "msg", "", 1, owner, "test",
                                       errstr, sizeof(errstr)),
                     0);
}

/* Included steps as "S1,S2,..." in the spec's order. */
static void included_str(const int inc[STEP__COUNT], char *buf, size_t size)
{
    int s;

    buf[0] = '\0';
    for (s = 0; s < STEP__COUNT; s++)
        if (inc[s])
            snprintf(buf + strlen(buf), size - strlen(buf), "%s%s", buf[0] ? "," : "",
                     step_to_string((step_id)s));
}

/* ---- migrations ------------------------------------------------------------------------- */

UNIT_TEST(test_migrate_idempotent)
{
    char dir[PATH_MAX + 16], errstr[512], n[16];
    int applied = -1;

    ck_assert_int_gt(migration_files, 0);
    ck_assert_int_eq(migrations_applied, migration_files);
    snprintf(dir, sizeof(dir), "%s/migrations", srcdir);
    ck_assert_int_eq(jobstore_migrate(js, dir, &applied, errstr, sizeof(errstr)), 0);
    ck_assert_int_eq(applied, 0);
    snprintf(n, sizeof(n), "%d", migration_files);
    ck_sql_eq(n, "SELECT count(*) FROM schema_migrations");
    /* a missing directory is an error, not "nothing to do" */
    ck_assert_int_eq(
        jobstore_migrate(js, "/nonexistent/migrations", &applied, errstr, sizeof(errstr)),
        -JOBSTORE_EINVALID);
    ck_assert_ptr_nonnull(strstr(errstr, "/nonexistent/migrations"));
}
END_TEST

/* ---- intake ----------------------------------------------------------------------------- */

UNIT_TEST(test_create_idempotent)
{
    request r;
    char errstr[512];
    char *types;

    migrate_req(&r, "g1.example.com", "h1", "h2");
    ck_assert_int_eq(create_ok(&r, 2048, 4, errstr, sizeof(errstr)), JOBSTORE_CREATED);
    ck_assert_int_eq(create_ok(&r, 2048, 4, errstr, sizeof(errstr)), JOBSTORE_DUPLICATE);
    ck_sql_eq("1", "SELECT count(*) FROM jobs WHERE request_id = '%s'", r.request_id);
    ck_sql_eq("queued", "SELECT status FROM jobs WHERE id = '%s'", r.request_id);
    ck_sql_eq("11", "SELECT count(*) FROM job_steps WHERE job_id = '%s' AND status = 'pending'",
              r.request_id);
    ck_sql_eq("2048|4|1|OFFLINE", "SELECT memory_mb || '|' || vcpus || '|' || attempt || '|' || "
                                  "mode FROM jobs");
    types = outbox_types();
    ck_assert_str_eq(types, "job.accepted");
    free(types);
    ck_sql_eq(r.request_id, "SELECT payload->'data'->>'job_id' FROM outbox");
    ck_sql_eq("g1.example.com", "SELECT payload->>'subject' FROM outbox");
    ck_sql_eq("11", "SELECT json_array_length((payload->'data'->'steps')::json) FROM outbox");
}
END_TEST

UNIT_TEST(test_create_single_step)
{
    request r;
    char errstr[512];

    migrate_req(&r, "g1", "h1", "h2");
    r.has_step = 1;
    r.step = STEP_STARTUP_GUEST;
    ck_assert_int_eq(create_ok(&r, 0, 0, errstr, sizeof(errstr)), JOBSTORE_CREATED);
    ck_sql_eq("STARTUP_GUEST", "SELECT string_agg(step, ',') FROM job_steps");
    ck_sql_eq("STARTUP_GUEST", "SELECT only_step FROM jobs");
}
END_TEST

UNIT_TEST(test_second_active_job_rejected)
{
    request r1, r2;
    char errstr[512];
    char *types;

    migrate_req(&r1, "g1", "h1", "h2");
    migrate_req(&r2, "g1", "h1", "h3");
    ck_assert_int_eq(create_ok(&r1, 0, 0, errstr, sizeof(errstr)), JOBSTORE_CREATED);
    ck_assert_int_eq(create_ok(&r2, 0, 0, errstr, sizeof(errstr)), JOBSTORE_REJECTED);
    ck_assert_msg(strstr(errstr, r1.request_id) != NULL, "reason does not name the holder: %s",
                  errstr);
    ck_sql_eq("rejected", "SELECT status FROM jobs WHERE id = '%s'", r2.request_id);
    ck_sql_eq("0", "SELECT count(*) FROM job_steps WHERE job_id = '%s'", r2.request_id);
    types = outbox_types();
    ck_assert_str_eq(types, "job.accepted,job.rejected");
    free(types);
    ck_sql_eq(r1.request_id, "SELECT payload->'data'->>'holder_job_id' FROM outbox ORDER BY id "
                             "DESC LIMIT 1");
    /* the rejected request id stays a duplicate: a redelivery writes nothing */
    ck_assert_int_eq(create_ok(&r2, 0, 0, errstr, sizeof(errstr)), JOBSTORE_DUPLICATE);
    ck_sql_eq("2", "SELECT count(*) FROM outbox");
    /* another guest is not held */
    migrate_req(&r2, "g2", "h1", "h2");
    ck_assert_int_eq(create_ok(&r2, 0, 0, errstr, sizeof(errstr)), JOBSTORE_CREATED);
}
END_TEST

/* Guest identity ignores case (issue 13): a request for EXA01VM01.example.com while
 * exa01vm01.example.com's job runs is rejected naming the holder, and lookups by guest or host
 * find the job in any spelling. */
UNIT_TEST(test_case_variant_rejected)
{
    request r1, r2;
    char errstr[512];
    json_t *list = NULL;
    job j;
    jobstore_cleanup cl;

    migrate_req(&r1, "exa01vm01.example.com", "exa01adm02.example.com", "exa01adm06.example.com");
    migrate_req(&r2, "EXA01VM01.example.com", "exa01adm02.example.com", "exa01adm05.example.com");
    ck_assert_int_eq(create_ok(&r1, 0, 0, errstr, sizeof(errstr)), JOBSTORE_CREATED);
    ck_assert_int_eq(create_ok(&r2, 0, 0, errstr, sizeof(errstr)), JOBSTORE_REJECTED);
    ck_assert_msg(strstr(errstr, r1.request_id) != NULL, "reason does not name the holder: %s",
                  errstr);
    ck_sql_eq("1", "SELECT count(*) FROM jobs WHERE status IN ('queued', 'running')");
    ck_sql_eq(r1.request_id, "SELECT payload->'data'->>'holder_job_id' FROM outbox ORDER BY id "
                             "DESC LIMIT 1");
    ck_assert_int_eq(jobstore_jobs_list_json(js, NULL, "Exa01VM01.EXAMPLE.com", NULL, 10, &list,
                                             errstr, sizeof(errstr)),
                     0);
    ck_assert_int_eq(json_array_size(list), 2);
    json_decref(list);
    claim_ok("w1", &j);
    ck_assert_int_eq(jobstore_cleanup_add(js, &j, "exa01adm02.example.com", "127.0.1.2", "down",
                                          "w1", "test", errstr, sizeof(errstr)),
                     0);
    ck_assert_int_eq(jobstore_cleanup_pending(js, "EXA01ADM02.example.com", "exa01VM01.example.com",
                                              &cl, errstr, sizeof(errstr)),
                     1);
}
END_TEST

/* The index race: another intake's job for the guest (spelled otherwise) is not committed yet
 * when this intake looks for a holder, so only the unique index on lower(guest) can refuse it
 * (SQLSTATE 23505); the intake then looks again and rejects the request naming the holder. */
UNIT_TEST(test_case_variant_index_race)
{
    const char *holder = "5b7a1c2d-0e3f-4a5b-8c6d-7e8f9a0b1c2d";
    unit_intake call;
    request r;
    PGresult *res;

    migrate_req(&r, "EXA01VM01.example.com", "exa01adm02.example.com", "exa01adm06.example.com");
    unit_pg_exec(pg, "BEGIN; INSERT INTO jobs (id, request_id, action, guest, mode, src_host, "
                     "tgt_host, status, request) VALUES ('5b7a1c2d-0e3f-4a5b-8c6d-7e8f9a0b1c2d', "
                     "'5b7a1c2d-0e3f-4a5b-8c6d-7e8f9a0b1c2d', 'migrate_guest', "
                     "'exa01vm01.example.com', 'OFFLINE', 'exa01adm02.example.com', "
                     "'exa01adm05.example.com', 'queued', '{}')");
    unit_intake_start(&call, conninfo, &r);
    /* The intake found no holder and waits on the index entry of the uncommitted row. */
    unit_pg_wait_lock_wait(conninfo);
    res = PQexec(pg, "COMMIT");
    PQclear(res);
    unit_intake_join(&call);
    ck_assert_msg(call.rc == 0, "intake: %d %s", call.rc, call.err);
    ck_assert_int_eq(call.result, JOBSTORE_REJECTED);
    ck_assert_msg(strstr(call.err, holder) != NULL, "reason does not name the holder: %s",
                  call.err);
    ck_sql_eq("1", "SELECT count(*) FROM jobs WHERE status IN ('queued', 'running')");
    ck_sql_eq("rejected", "SELECT status FROM jobs WHERE id = '%s'", r.request_id);
}
END_TEST

/* The earlier attempt, run in the downtime-aware order: CREATE_BRIDGES (before the stop),
 * STOP_GUEST, DETACH_INTERFACES succeeded, REMOVE_NAT_BRIDGE_SRC skipped, DETACH_VOLUMES
 * failed; the rest never ran. Each case replays it. */
#define ALL_BUT_DONE                                                                               \
    "DETACH_VOLUMES,ATTACH_VOLUMES,MIGRATE_GUEST,REMOVE_BRIDGES,CREATE_NAT_BRIDGE_TGT,"            \
    "ATTACH_INTERFACES,STARTUP_GUEST"

static const struct {
    const char *name;
    int has_step;
    step_id step;
    int has_from_step;
    step_id from_step;
    const char *steps; /* expected steps of the replay, or NULL when rejected */
} replay_cases[] = {
    {"default: every unfinished step", 0, 0, 0, 0, ALL_BUT_DONE},
    {"--from-step in the spec's order", 0, 0, 1, STEP_CREATE_BRIDGES,
     "CREATE_BRIDGES,MIGRATE_GUEST,REMOVE_BRIDGES,REMOVE_NAT_BRIDGE_SRC,CREATE_NAT_BRIDGE_TGT,"
     "ATTACH_INTERFACES,STARTUP_GUEST"},
    {"--from-step the first step", 0, 0, 1, STEP_STOP_GUEST,
     "STOP_GUEST,DETACH_INTERFACES,DETACH_VOLUMES,ATTACH_VOLUMES,CREATE_BRIDGES,MIGRATE_GUEST,"
     "REMOVE_BRIDGES,REMOVE_NAT_BRIDGE_SRC,CREATE_NAT_BRIDGE_TGT,ATTACH_INTERFACES,"
     "STARTUP_GUEST"},
    {"--from-step the last step", 0, 0, 1, STEP_STARTUP_GUEST, "STARTUP_GUEST"},
    {"--step alone", 1, STEP_ATTACH_VOLUMES, 0, 0, "ATTACH_VOLUMES"},
    {"--step of a succeeded step", 1, STEP_STOP_GUEST, 0, 0, "STOP_GUEST"},
};

UNIT_LOOP(test_replay_plans, replay_cases)
{
    request r;
    job j, rj;
    char orig[37], errstr[512], got[512];
    int s;

    new_job("g1", "h1", "h2", orig);
    claim_ok("w1", &j);
    step_run(&j, STEP_CREATE_BRIDGES, STEP_SUCCEEDED, "w1");
    step_run(&j, STEP_STOP_GUEST, STEP_SUCCEEDED, "w1");
    step_run(&j, STEP_DETACH_INTERFACES, STEP_SUCCEEDED, "w1");
    step_run(&j, STEP_REMOVE_NAT_BRIDGE_SRC, STEP_SKIPPED, "w1");
    step_run(&j, STEP_DETACH_VOLUMES, STEP_FAILED, "w1");
    ck_assert_int_eq(jobstore_job_finish(js, &j, JOB_FAILED, "boom", 5, NULL, "w1", "test", errstr,
                                         sizeof(errstr)),
                     0);

    replay_req(&r, orig);
    r.has_step = replay_cases[_i].has_step;
    r.step = replay_cases[_i].step;
    r.has_from_step = replay_cases[_i].has_from_step;
    r.from_step = replay_cases[_i].from_step;
    ck_assert_int_eq(create_ok(&r, 0, 0, errstr, sizeof(errstr)), JOBSTORE_CREATED);
    /* the replay copies the guest and hosts and links to the earlier job */
    ck_sql_eq("g1|h1|h2|2|replay",
              "SELECT guest || '|' || src_host || '|' || tgt_host || '|' || "
              "attempt || '|' || action FROM jobs WHERE id = '%s'",
              r.request_id);
    ck_sql_eq(orig, "SELECT replay_of FROM jobs WHERE id = '%s'", r.request_id);
    /* its steps, as recorded and as a claim hands them out */
    ck_sql_eq(replay_cases[_i].steps,
              "SELECT string_agg(step, ',' ORDER BY seq) FROM job_steps WHERE job_id = '%s'",
              r.request_id);
    claim_ok("w2", &rj);
    ck_assert_str_eq(rj.id, r.request_id);
    ck_assert_str_eq(rj.replay_of, orig);
    ck_assert_int_eq(rj.attempt, 2);
    included_str(rj.included, got, sizeof(got));
    ck_assert_str_eq(got, replay_cases[_i].steps);
    for (s = 0; s < STEP__COUNT; s++)
        if (rj.included[s])
            ck_assert_int_eq(rj.state[s], STEP_PENDING);
}
END_TEST

UNIT_TEST(test_replay_rejected)
{
    request r;
    job j;
    char active[37], done[37], unknown[37], errstr[512];

    /* an active (queued) job */
    new_job("g1", "h1", "h2", active);
    replay_req(&r, active);
    ck_assert_int_eq(create_ok(&r, 0, 0, errstr, sizeof(errstr)), JOBSTORE_REJECTED);
    ck_assert_msg(strstr(errstr, "still queued") != NULL, "%s", errstr);
    /* ... and running */
    claim_ok("w1", &j);
    replay_req(&r, active);
    ck_assert_int_eq(create_ok(&r, 0, 0, errstr, sizeof(errstr)), JOBSTORE_REJECTED);
    ck_assert_msg(strstr(errstr, "still running") != NULL, "%s", errstr);
    /* an unknown job */
    util_uuid(unknown);
    replay_req(&r, unknown);
    ck_assert_int_eq(create_ok(&r, 0, 0, errstr, sizeof(errstr)), JOBSTORE_REJECTED);
    ck_assert_msg(strstr(errstr, unknown) != NULL && strstr(errstr, "does not exist") != NULL, "%s",
                  errstr);
    /* a job with nothing left to resume, unless a step is named */
    ck_assert_int_eq(jobstore_job_finish(js, &j, JOB_SUCCEEDED, NULL, 1, NULL, "w1", "test", errstr,
                                         sizeof(errstr)),
                     0);
    util_strlcpy(done, active, sizeof(done));
    ck_assert_int_eq(
        jobstore_step_begin(js, &j, STEP_STOP_GUEST, "h1", "w1", "test", errstr, sizeof(errstr)),
        -JOBSTORE_ELEASE); /* finished: the lease is gone */
    {
        PGresult *res = PQexec(pg, "UPDATE job_steps SET status = 'succeeded'");
        ck_assert_int_eq(PQresultStatus(res), PGRES_COMMAND_OK);
        PQclear(res);
    }
    replay_req(&r, done);
    ck_assert_int_eq(create_ok(&r, 0, 0, errstr, sizeof(errstr)), JOBSTORE_REJECTED);
    ck_assert_msg(strstr(errstr, "--step") != NULL, "%s", errstr);
    replay_req(&r, done);
    r.has_step = 1;
    r.step = STEP_STARTUP_GUEST;
    ck_assert_int_eq(create_ok(&r, 0, 0, errstr, sizeof(errstr)), JOBSTORE_CREATED);
    /* every rejection is a row and a job.rejected event */
    ck_sql_eq("4", "SELECT count(*) FROM jobs WHERE status = 'rejected'");
    ck_sql_eq("4", "SELECT count(*) FROM outbox WHERE payload->>'type' = 'io.kvmove.job.rejected'");
}
END_TEST

UNIT_TEST(test_intake_reject_once)
{
    char id[37], errstr[512];

    util_uuid(id);
    ck_assert_int_eq(jobstore_intake_reject(js, id, "bad json", "test", errstr, sizeof(errstr)), 0);
    ck_assert_int_eq(jobstore_intake_reject(js, id, "bad json", "test", errstr, sizeof(errstr)), 0);
    ck_sql_eq("1", "SELECT count(*) FROM outbox");
    ck_sql_eq("io.kvmove.job.rejected", "SELECT payload->>'type' FROM outbox");
    ck_sql_eq("bad json", "SELECT payload->'data'->>'message' FROM outbox");
    ck_sql_eq("1", "SELECT count(*) FROM rejected_requests WHERE request_id = '%s'", id);
    /* unreadable ids write nothing */
    ck_assert_int_eq(jobstore_intake_reject(js, "", "x", "test", errstr, sizeof(errstr)), 0);
    ck_assert_int_eq(jobstore_intake_reject(js, "not-a-uuid", "x", "test", errstr, sizeof(errstr)),
                     0);
    ck_sql_eq("1", "SELECT count(*) FROM outbox");
}
END_TEST

/* ---- claim and lease -------------------------------------------------------------------- */

UNIT_TEST(test_claim_lease)
{
    job a, b;
    char id[37], errstr[512];
    const char *held[1] = {NULL};
    int renewed = -1, s;

    new_job("g1", "h1", "h2", id);
    ck_assert_int_eq(jobstore_job_claim(js, "w1", 60, 0, &a, errstr, sizeof(errstr)), 1);
    ck_assert_str_eq(a.id, id);
    held[0] = a.id;
    ck_assert_str_eq(a.guest, "g1");
    ck_assert_str_eq(a.src_host, "h1");
    ck_assert_str_eq(a.tgt_host, "h2");
    ck_assert_int_eq(a.takeover, 0);
    ck_assert_int_eq(a.attempt, 1);
    for (s = 0; s < STEP__COUNT; s++) {
        ck_assert_int_eq(a.included[s], 1);
        ck_assert_int_eq(a.state[s], STEP_PENDING);
    }
    ck_sql_eq("running|w1", "SELECT status || '|' || lease_owner FROM jobs");
    /* valid lease: nobody else gets it, not even its owner twice */
    ck_assert_int_eq(jobstore_job_claim(js, "w2", 60, 0, &b, errstr, sizeof(errstr)), 0);
    ck_assert_int_eq(jobstore_job_claim(js, "w1", 60, 0, &b, errstr, sizeof(errstr)), 0);
    ck_assert_int_eq(jobstore_lease_renew(js, "w1", held, 1, 60, &renewed, errstr, sizeof(errstr)),
                     0);
    ck_assert_int_eq(renewed, 1);
    ck_assert_int_eq(jobstore_lease_renew(js, "w2", held, 1, 60, &renewed, errstr, sizeof(errstr)),
                     0);
    ck_assert_int_eq(renewed, 0);
    /* a step recorded before the takeover stays recorded */
    step_run(&a, STEP_STOP_GUEST, STEP_SUCCEEDED, "w1");
    /* the lease expires (released on shutdown): w2 takes over */
    ck_assert_int_eq(jobstore_lease_release(js, "w1", NULL, errstr, sizeof(errstr)), 0);
    ck_sql_eq("queued|(null)|(null)", "SELECT status || '|' || coalesce(lease_owner, '(null)') || "
                                      "'|' || coalesce(lease_expires::text, '(null)') FROM jobs");
    ck_assert_int_eq(jobstore_job_claim(js, "w2", 60, 0, &b, errstr, sizeof(errstr)), 1);
    ck_assert_str_eq(b.id, id);
    ck_assert_int_eq(b.takeover, 1);
    ck_assert_int_eq(b.state[STEP_STOP_GUEST], STEP_SUCCEEDED);
    ck_assert_int_eq(b.state[STEP_DETACH_INTERFACES], STEP_PENDING);
    ck_sql_eq("w2", "SELECT lease_owner FROM jobs");
    /* the former owner is fenced off every write */
    ck_assert_int_eq(jobstore_step_begin(js, &a, STEP_DETACH_INTERFACES, "h1", "w1", "test", errstr,
                                         sizeof(errstr)),
                     -JOBSTORE_ELEASE);
    ck_assert_int_eq(jobstore_step_end(js, &a, STEP_STOP_GUEST, "h1", STEP_FAILED, "x", "", 1, "w1",
                                       "test", errstr, sizeof(errstr)),
                     -JOBSTORE_ELEASE);
    ck_assert_int_eq(
        jobstore_job_finish(js, &a, JOB_FAILED, "x", 1, NULL, "w1", "test", errstr, sizeof(errstr)),
        -JOBSTORE_ELEASE);
    ck_assert_int_eq(
        jobstore_preflight_record(js, &a, "w1", 1, "c", "passed", "ok", errstr, sizeof(errstr)),
        -JOBSTORE_ELEASE);
    ck_sql_eq("0", "SELECT count(*) FROM job_steps WHERE status = 'running'");
    ck_sql_eq("succeeded", "SELECT status FROM job_steps WHERE step = 'STOP_GUEST'");
    ck_assert_int_eq(jobstore_step_begin(js, &b, STEP_DETACH_INTERFACES, "h1", "w2", "test", errstr,
                                         sizeof(errstr)),
                     0);
}
END_TEST

/* A claim is one transaction: when reading the job's steps fails after the job row was taken
 * (here a lock timeout: transient), nothing is taken. Before, the job stayed running under the
 * claimer's lease, renewed by its lease thread, with nobody working on it. */
UNIT_TEST(test_claim_atomic)
{
    jobstore *slow = NULL;
    job a;
    char id[37], ci[1200], errstr[512];
    int rc, renewed = -1;
    PGresult *r;

    new_job("g1", "h1", "h2", id);
    snprintf(ci, sizeof(ci), "%s options='-c lock_timeout=200'", conninfo);
    ck_assert_msg(jobstore_connect(ci, &slow, errstr, sizeof(errstr)) == 0, "%s", errstr);
    r = PQexec(pg, "BEGIN; LOCK TABLE job_steps IN ACCESS EXCLUSIVE MODE");
    ck_assert_int_eq(PQresultStatus(r), PGRES_COMMAND_OK);
    PQclear(r);
    rc = jobstore_job_claim(slow, "w1", 60, 0, &a, errstr, sizeof(errstr));
    r = PQexec(pg, "ROLLBACK");
    PQclear(r);
    ck_assert_msg(rc == -JOBSTORE_EDB, "claim: %d %s", rc, errstr);
    ck_sql_eq("queued|(null)", "SELECT status || '|' || coalesce(lease_owner, '(null)') FROM jobs");
    {
        const char *held[1] = {id};
        ck_assert_int_eq(
            jobstore_lease_renew(js, "w1", held, 1, 60, &renewed, errstr, sizeof(errstr)), 0);
        ck_assert_int_eq(renewed, 0);
    }
    /* once the database answers again, the job is there to claim, and not as a takeover */
    ck_assert_int_eq(jobstore_job_claim(slow, "w1", 60, 0, &a, errstr, sizeof(errstr)), 1);
    ck_assert_str_eq(a.id, id);
    ck_assert_int_eq(a.takeover, 0);
    ck_assert_int_eq(a.included[STEP_STOP_GUEST], 1);
    jobstore_close(slow);
}
END_TEST

/* Only the jobs a worker really works on keep their lease: one it dropped runs out and is taken
 * over; one it hands back is queued at once. Nothing else changes a job's status. */
UNIT_TEST(test_lease_held_jobs_only)
{
    job a, b, c;
    char ia[37], ib[37], ic[37], errstr[512];
    const char *held[2];
    int renewed = -1;

    new_job("g1", "h1", "h2", ia);
    new_job("g2", "h3", "h4", ib);
    new_job("g3", "h5", "h6", ic);
    ck_assert_int_eq(jobstore_job_claim(js, "w1", 60, 0, &a, errstr, sizeof(errstr)), 1);
    ck_assert_int_eq(jobstore_job_claim(js, "w1", 60, 0, &b, errstr, sizeof(errstr)), 1);
    ck_assert_int_eq(jobstore_job_claim(js, "w1", 60, 0, &c, errstr, sizeof(errstr)), 1);
    /* a minute passes */
    ck_sql_eq("3", "WITH u AS (UPDATE jobs SET lease_expires = lease_expires - interval '61 s' "
                   "RETURNING 1) SELECT count(*) FROM u");
    held[0] = a.id;
    held[1] = "not-a-uuid"; /* ignored */
    ck_assert_int_eq(jobstore_lease_renew(js, "w1", held, 2, 60, &renewed, errstr, sizeof(errstr)),
                     0);
    ck_assert_int_eq(renewed, 1);
    ck_sql_eq("t", "SELECT lease_expires > now() FROM jobs WHERE id = '%s'", ia);
    ck_sql_eq("f", "SELECT lease_expires > now() FROM jobs WHERE id = '%s'", ib);
    /* no jobs held: nothing renewed */
    ck_assert_int_eq(jobstore_lease_renew(js, "w1", held, 0, 60, &renewed, errstr, sizeof(errstr)),
                     0);
    ck_assert_int_eq(renewed, 0);
    /* c is handed back alone; b, not renewed, is taken over by w2 */
    ck_assert_int_eq(jobstore_lease_release(js, "w1", c.id, errstr, sizeof(errstr)), 0);
    ck_sql_eq("running|running|queued", "SELECT string_agg(status, '|' ORDER BY guest) FROM jobs");
    ck_assert_int_eq(jobstore_job_claim(js, "w2", 60, 0, &b, errstr, sizeof(errstr)), 1);
    ck_assert_str_eq(b.id, ib);
    ck_assert_int_eq(b.takeover, 1);
    ck_assert_int_eq(jobstore_job_claim(js, "w2", 60, 0, &c, errstr, sizeof(errstr)), 1);
    ck_assert_str_eq(c.id, ic);
    ck_assert_int_eq(c.takeover, 1);
    ck_sql_eq("w1|w2|w2", "SELECT string_agg(lease_owner, '|' ORDER BY guest) FROM jobs");
    /* a finish is to succeeded or failed only: the job stays as it was */
    ck_assert_int_eq(jobstore_job_finish(js, &a, JOB_REJECTED, "x", 1, NULL, "w1", "test", errstr,
                                         sizeof(errstr)),
                     -JOBSTORE_EINVALID);
    ck_assert_int_eq(jobstore_job_finish(js, &a, JOB_QUEUED, NULL, 1, NULL, "w1", "test", errstr,
                                         sizeof(errstr)),
                     -JOBSTORE_EINVALID);
    ck_sql_eq("running|w1", "SELECT status || '|' || lease_owner FROM jobs WHERE id = '%s'", ia);
    /* a finished job is handed back no more */
    ck_assert_int_eq(jobstore_job_finish(js, &a, JOB_FAILED, "boom", 1, NULL, "w1", "test", errstr,
                                         sizeof(errstr)),
                     0);
    ck_assert_int_eq(jobstore_lease_release(js, "w1", NULL, errstr, sizeof(errstr)), 0);
    ck_sql_eq("failed|boom|true",
              "SELECT status || '|' || error || '|' || (finished_at IS NOT NULL) "
              "FROM jobs WHERE id = '%s'",
              ia);
}
END_TEST

UNIT_TEST(test_claim_after_natural_expiry)
{
    job a, b;
    char id[37], errstr[512];

    new_job("g1", "h1", "h2", id);
    /* a lease of 0 s has expired by the next transaction */
    ck_assert_int_eq(jobstore_job_claim(js, "w1", 0, 0, &a, errstr, sizeof(errstr)), 1);
    ck_assert_int_eq(a.takeover, 0);
    ck_assert_int_eq(jobstore_job_claim(js, "w2", 60, 0, &b, errstr, sizeof(errstr)), 1);
    ck_assert_str_eq(b.id, id);
    ck_assert_int_eq(b.takeover, 1);
    ck_assert_int_eq(jobstore_job_claim(js, "w3", 60, 0, &b, errstr, sizeof(errstr)), 0);
}
END_TEST

UNIT_TEST(test_claim_order_and_per_host_limit)
{
    job a, b, c;
    char ja[37], jb[37], jc[37], errstr[512];

    new_job("g1", "h1", "h2", ja);
    new_job("g2", "h2", "h3", jb); /* touches h2 like the first */
    new_job("g3", "h4", "h5", jc);
    ck_assert_int_eq(jobstore_job_claim(js, "w1", 60, 1, &a, errstr, sizeof(errstr)), 1);
    ck_assert_str_eq(a.id, ja); /* oldest first */
    ck_assert_int_eq(jobstore_job_claim(js, "w2", 60, 1, &b, errstr, sizeof(errstr)), 1);
    ck_assert_str_eq(b.id, jc); /* the h2 job waits */
    ck_assert_int_eq(jobstore_job_claim(js, "w3", 60, 1, &c, errstr, sizeof(errstr)), 0);
    ck_sql_eq("queued", "SELECT status FROM jobs WHERE id = '%s'", jb);
    /* with a higher limit it would have gone */
    ck_assert_int_eq(jobstore_job_finish(js, &a, JOB_SUCCEEDED, NULL, 1, NULL, "w1", "test", errstr,
                                         sizeof(errstr)),
                     0);
    ck_assert_int_eq(jobstore_job_claim(js, "w3", 60, 1, &c, errstr, sizeof(errstr)), 1);
    ck_assert_str_eq(c.id, jb);
}
END_TEST

/* A claim in another executor or worker, on its own connection. */
typedef struct {
    jobstore *js;
    const char *owner;
    job j;
    int rc, done;
    char err[512];
} claim_call;

static void *claim_thread(void *arg)
{
    claim_call *c = arg;

    c->rc = jobstore_job_claim(c->js, c->owner, 60, 1, &c->j, c->err, sizeof(c->err));
    __atomic_store_n(&c->done, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

/* Sessions of the test database waiting on a lock (the trigger's or the claim lock). */
static long lock_waiters(void)
{
    char *n = q1("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                 "AND wait_event_type = 'Lock'");
    long v = atol(n);

    free(n);
    return v;
}

/* worker.max_jobs_per_host across workers: two claims at the same moment (limit 1, three jobs
 * on h1). The first claim's transaction is held open after it took its job (a trigger waits on
 * a lock the test holds), so the second claim cannot see that job running yet; only the claims
 * being serialised keeps it from taking another h1 job too. (Three: the first claim also locks
 * the next job it looks at, which the second then skips.) */
UNIT_TEST(test_claim_race_per_host_limit)
{
    char ja[37], jb[37], jc[37], errstr[512];
    claim_call a, b;
    pthread_t ta, tb;
    PGresult *res;
    int i;

    new_job("g1", "h1", "h2", ja);
    new_job("g2", "h1", "h3", jb);
    new_job("g3", "h1", "h4", jc);
    res = PQexec(pg, "CREATE FUNCTION hold_claim() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                     "PERFORM pg_advisory_lock(4242); PERFORM pg_advisory_unlock(4242); RETURN "
                     "NEW; END $$; CREATE TRIGGER hold_claim BEFORE UPDATE ON jobs FOR EACH ROW "
                     "WHEN (NEW.lease_owner = 'race-a') EXECUTE FUNCTION hold_claim(); "
                     "SELECT pg_advisory_lock(4242)");
    ck_assert_msg(PQresultStatus(res) == PGRES_TUPLES_OK, "%s", PQerrorMessage(pg));
    PQclear(res);
    memset(&a, 0, sizeof(a));
    memset(&b, 0, sizeof(b));
    a.owner = "race-a";
    b.owner = "race-b";
    ck_assert_msg(jobstore_connect(conninfo, &a.js, errstr, sizeof(errstr)) == 0, "%s", errstr);
    ck_assert_msg(jobstore_connect(conninfo, &b.js, errstr, sizeof(errstr)) == 0, "%s", errstr);
    ck_assert_int_eq(pthread_create(&ta, NULL, claim_thread, &a), 0);
    for (i = 0; i < 200 && lock_waiters() < 1; i++) /* the first claim holds its job */
        usleep(50 * 1000);
    ck_assert_int_eq(lock_waiters(), 1);
    ck_assert_int_eq(pthread_create(&tb, NULL, claim_thread, &b), 0);
    /* The second claim waits for the first (the claim lock), or, unserialised, ends. */
    for (i = 0; i < 200 && lock_waiters() < 2 && !__atomic_load_n(&b.done, __ATOMIC_SEQ_CST); i++)
        usleep(50 * 1000);
    res = PQexec(pg, "SELECT pg_advisory_unlock(4242)");
    PQclear(res);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    jobstore_close(a.js);
    jobstore_close(b.js);
    res = PQexec(pg, "DROP TRIGGER hold_claim ON jobs; DROP FUNCTION hold_claim()");
    PQclear(res);
    ck_assert_msg(a.rc == 1, "first claim: %d %s", a.rc, a.err);
    ck_assert_str_eq(a.j.id, ja);
    ck_assert_msg(b.rc == 0, "second claim took %s (%d %s) while h1 runs %s",
                  b.rc == 1 ? b.j.id : "-", b.rc, b.err, ja);
    ck_sql_eq("queued queued",
              "SELECT string_agg(status::text, ' ') FROM jobs WHERE id IN ('%s', '%s')", jb, jc);
    ck_sql_eq("1", "SELECT count(*) FROM jobs WHERE status = 'running'");
}
END_TEST

/* max_jobs_per_host 2: a job waits while either of its hosts runs two jobs, and goes when
 * both are below two. */
UNIT_TEST(test_claim_limit_two)
{
    job a, b, c, d;
    char i1[37], i2[37], i3[37], i4[37], errstr[512];

    new_job("g1", "h1", "h2", i1);
    new_job("g2", "h2", "h3", i2);
    new_job("g3", "h3", "h1", i3);
    new_job("g4", "h1", "h3", i4); /* h1: g1, g3; h3: g2, g3 once the first three run */
    ck_assert_int_eq(jobstore_job_claim(js, "w1", 60, 2, &a, errstr, sizeof(errstr)), 1);
    ck_assert_int_eq(jobstore_job_claim(js, "w1", 60, 2, &b, errstr, sizeof(errstr)), 1);
    /* g3 (h3 -> h1): h3 runs g2, h1 runs g1: one each, below two */
    ck_assert_int_eq(jobstore_job_claim(js, "w1", 60, 2, &c, errstr, sizeof(errstr)), 1);
    ck_assert_str_eq(c.guest, "g3");
    /* g4 (h1 -> h3): both hosts at the limit */
    ck_assert_int_eq(jobstore_job_claim(js, "w2", 60, 2, &d, errstr, sizeof(errstr)), 0);
    ck_sql_eq("queued", "SELECT status FROM jobs WHERE id = '%s'", i4);
    /* g1 ends: h1 is below two, h3 still at it */
    ck_assert_int_eq(jobstore_job_finish(js, &a, JOB_SUCCEEDED, NULL, 1, NULL, "w1", "test", errstr,
                                         sizeof(errstr)),
                     0);
    ck_assert_int_eq(jobstore_job_claim(js, "w2", 60, 2, &d, errstr, sizeof(errstr)), 0);
    /* g2 ends: both below two */
    ck_assert_int_eq(jobstore_job_finish(js, &b, JOB_SUCCEEDED, NULL, 1, NULL, "w1", "test", errstr,
                                         sizeof(errstr)),
                     0);
    ck_assert_int_eq(jobstore_job_claim(js, "w2", 60, 2, &d, errstr, sizeof(errstr)), 1);
    ck_assert_str_eq(d.id, i4);
}
END_TEST

/* ---- steps, preflight, finish: rows and events -------------------------------------------- */

UNIT_TEST(test_steps_rows_and_events)
{
    job j;
    char id[37], errstr[512], *types;

    new_job("g1", "h1", "h2", id);
    claim_ok("w1", &j);
    ck_assert_int_eq(jobstore_preflight_record(js, &j, "w1", 1, "target_memory", "passed", "enough",
                                               errstr, sizeof(errstr)),
                     0);
    ck_assert_int_eq(jobstore_preflight_record(js, &j, "w1", 1, "target_memory", "warning", "tight",
                                               errstr, sizeof(errstr)),
                     0); /* re-recorded after a takeover: one row */
    ck_sql_eq("1|warning|tight", "SELECT count(*) || '|' || max(status) || '|' || max(message) "
                                 "FROM preflight_results");
    ck_assert_int_eq(jobstore_preflight_done(js, &j, "w1", "test", 1, NULL, errstr, sizeof(errstr)),
                     0);

    ck_assert_int_eq(
        jobstore_step_begin(js, &j, STEP_STOP_GUEST, "h1", "w1", "test", errstr, sizeof(errstr)),
        0);
    ck_sql_eq("running|h1|1|(null)", "SELECT status || '|' || host || '|' || attempts || '|' || "
                                     "coalesce(finished_at::text, '(null)') FROM job_steps WHERE "
                                     "step = 'STOP_GUEST'");
    ck_assert_int_eq(jobstore_step_end(js, &j, STEP_STOP_GUEST, "h1", STEP_SUCCEEDED, "stopped",
                                       "line one\nline two\n", 42, "w1", "test", errstr,
                                       sizeof(errstr)),
                     0);
    ck_assert_int_eq(j.state[STEP_STOP_GUEST], STEP_SUCCEEDED);
    ck_sql_eq("succeeded|stopped|42|line one\nline two\n",
              "SELECT status || '|' || message || '|' || elapsed_ms || '|' || output FROM "
              "job_steps WHERE step = 'STOP_GUEST' AND finished_at IS NOT NULL");
    ck_sql_eq("[\"line one\", \"line two\"]|42|h1|STOP_GUEST",
              "SELECT (payload->'data'->'lines')::text || '|' || (payload->'data'->>'elapsed_ms') "
              "|| '|' || (payload->'data'->>'host') || '|' || (payload->'data'->>'step') FROM "
              "outbox ORDER BY id DESC LIMIT 1");

    step_run(&j, STEP_REMOVE_NAT_BRIDGE_SRC, STEP_SKIPPED, "w1");
    ck_assert_int_eq(j.state[STEP_REMOVE_NAT_BRIDGE_SRC], STEP_SKIPPED);
    step_run(&j, STEP_DETACH_INTERFACES, STEP_FAILED, "w1");
    step_run(&j, STEP_DETACH_INTERFACES, STEP_FAILED, "w1"); /* retried */
    ck_sql_eq("failed|2", "SELECT status || '|' || attempts FROM job_steps WHERE step = "
                          "'DETACH_INTERFACES'");
    ck_assert_int_eq(jobstore_job_finish(js, &j, JOB_FAILED, "DETACH_INTERFACES failed", 99, NULL,
                                         "w1", "test", errstr, sizeof(errstr)),
                     0);
    ck_sql_eq("failed|DETACH_INTERFACES failed|(null)|(null)|true",
              "SELECT status || '|' || error || '|' || coalesce(lease_owner, '(null)') || '|' || "
              "coalesce(lease_expires::text, '(null)') || '|' || (finished_at IS NOT NULL) FROM "
              "jobs");
    types = outbox_types();
    ck_assert_str_eq(types, "job.accepted,preflight.passed,step.started,step.completed,"
                            "step.started,step.skipped,step.started,step.failed,step.started,"
                            "step.failed,job.failed");
    free(types);
    ck_sql_eq("DETACH_INTERFACES failed|1",
              "SELECT (payload->'data'->>'message') || '|' || (payload->'data'->>'attempt') FROM "
              "outbox ORDER BY id DESC LIMIT 1");
    /* every event is keyed by the job and names the guest */
    ck_sql_eq("0", "SELECT count(*) FROM outbox WHERE key <> '%s' OR payload->>'subject' <> 'g1'",
              id);
}
END_TEST

/* Host output is not ours: invalid UTF-8 must not make the step's record fail (it would fail
 * the same way on every retry). It is stored with U+FFFD in place of the bad bytes, and the
 * step's event is written too. */
UNIT_TEST(test_step_end_invalid_utf8)
{
    job j;
    char id[37], errstr[512];
    int rc;

    new_job("g1", "h1", "h2", id);
    claim_ok("w1", &j);
    ck_assert_int_eq(
        jobstore_step_begin(js, &j, STEP_STOP_GUEST, "h1", "w1", "test", errstr, sizeof(errstr)),
        0);
    rc = jobstore_step_end(js, &j, STEP_STOP_GUEST, "h1", STEP_FAILED, "bad \xff\xfe reply",
                           "out \xff\xfe\n\xc3\n", 5, "w1", "test", errstr, sizeof(errstr));
    ck_assert_msg(rc == 0, "step_end: %d %s", rc, errstr);
    ck_sql_eq(
        "failed|bad \xef\xbf\xbd\xef\xbf\xbd reply|out \xef\xbf\xbd\xef\xbf\xbd\n\xef\xbf\xbd\n",
        "SELECT status || '|' || message || '|' || output FROM job_steps WHERE step = "
        "'STOP_GUEST'");
    ck_sql_eq("io.kvmove.step.failed|bad \xef\xbf\xbd\xef\xbf\xbd reply",
              "SELECT (payload->>'type') || '|' || (payload->'data'->>'message') FROM outbox "
              "ORDER BY id DESC LIMIT 1");
}
END_TEST

/* Huge host output is stored capped, with its event. */
UNIT_TEST(test_step_end_huge_output)
{
    job j;
    char id[37], errstr[512], *out = malloc(4 * JOBSTORE_TEXT_MAX + 1);
    int rc;

    ck_assert_ptr_nonnull(out);
    memset(out, 'x', 4 * JOBSTORE_TEXT_MAX);
    out[4 * JOBSTORE_TEXT_MAX] = '\0';
    new_job("g1", "h1", "h2", id);
    claim_ok("w1", &j);
    ck_assert_int_eq(
        jobstore_step_begin(js, &j, STEP_STOP_GUEST, "h1", "w1", "test", errstr, sizeof(errstr)),
        0);
    rc = jobstore_step_end(js, &j, STEP_STOP_GUEST, "h1", STEP_SUCCEEDED, out, out, 5, "w1", "test",
                           errstr, sizeof(errstr));
    ck_assert_msg(rc == 0, "step_end: %d %s", rc, errstr);
    ck_sql_eq("true|true",
              "SELECT (octet_length(output) < %d AND output LIKE '%%more bytes not stored]') "
              "|| '|' || (octet_length(message) < %d) FROM job_steps WHERE step = "
              "'STOP_GUEST'",
              JOBSTORE_TEXT_MAX + 100, JOBSTORE_TEXT_MAX + 100);
    ck_sql_eq("io.kvmove.step.completed", "SELECT payload->>'type' FROM outbox ORDER BY id DESC "
                                          "LIMIT 1");
    free(out);
}
END_TEST

/* Every database failure is classified: a refused statement is permanent (-JOBSTORE_EDATA), a
 * connection the server dropped transient (-JOBSTORE_EDB, and jobstore_ensure reconnects). */
UNIT_TEST(test_failure_codes)
{
    char errstr[512];
    long backlog = -1;

    ck_assert_int_eq(
        jobstore_config_store(js, "exa01", "bogus", "<c/>", NULL, NULL, errstr, sizeof(errstr)),
        -JOBSTORE_EDATA);
    ck_assert_msg(strstr(errstr, "configs_state_check") != NULL, "%s", errstr);
    ck_sql_eq("1", "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE "
                   "application_name = 'kvmove' AND datname = current_database()");
    ck_assert_int_eq(jobstore_outbox_backlog(js, &backlog, errstr, sizeof(errstr)), -JOBSTORE_EDB);
    ck_assert_int_eq(jobstore_ensure(js, errstr, sizeof(errstr)), 0);
    ck_assert_int_eq(jobstore_outbox_backlog(js, &backlog, errstr, sizeof(errstr)), 0);
    ck_assert_int_eq(backlog, 0);
}
END_TEST

/* Library code does not print: what the server says beside a result (a WARNING here, the FATAL
 * of a terminated backend in a worker) never reaches stderr through libpq's default notice
 * processor, where it broke the worker's JSON log lines. */
UNIT_TEST(test_notices_not_printed)
{
    char errstr[512], path[] = "/tmp/kvmove-unit-notice.XXXXXX", buf[4096];
    FILE *f;
    size_t n;
    int fd = mkstemp(path), saved = dup(STDERR_FILENO);

    ck_assert_int_ge(fd, 0);
    unit_pg_exec(pg, "CREATE FUNCTION unit_warn() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                     "RAISE WARNING 'kvmove-unit-notice'; RETURN NEW; END $$; CREATE TRIGGER "
                     "unit_warn BEFORE INSERT ON configs FOR EACH ROW EXECUTE FUNCTION "
                     "unit_warn()");
    fflush(stderr);
    dup2(fd, STDERR_FILENO);
    ck_assert_int_eq(jobstore_config_store(js, "exa01", "loaded", "<engineeredSystem/>", NULL, NULL,
                                           errstr, sizeof(errstr)),
                     0);
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    f = fdopen(fd, "r");
    rewind(f);
    n = fread(buf, 1, sizeof(buf) - 1, f);
    buf[n] = '\0';
    fclose(f);
    unlink(path);
    close(saved);
    PQclear(PQexec(pg, "DROP TRIGGER unit_warn ON configs; DROP FUNCTION unit_warn()"));
    ck_assert_msg(strstr(buf, "kvmove-unit-notice") == NULL, "printed on stderr: %s", buf);
    ck_sql_eq("1", "SELECT count(*) FROM configs");
}
END_TEST

/* The deployment is applied to the newest version of the system when the job ends, in the
 * finish's transaction: a version stored after the job started is kept. */
/* A server that refuses the client (unknown database or role) is -JOBSTORE_EDATA, which no retry
 * fixes; a server that is not there is -JOBSTORE_EDB, worth a retry. */
UNIT_TEST(test_connect_refused_is_permanent)
{
    char ci[sizeof(conninfo) + 64], errstr[512];
    jobstore *other = NULL;

    snprintf(ci, sizeof(ci), "%s dbname=kvmove_unit_no_such_db", conninfo);
    ck_assert_int_eq(jobstore_connect(ci, &other, errstr, sizeof(errstr)), -JOBSTORE_EDATA);
    ck_assert_msg(strstr(errstr, "does not exist") != NULL, "%s", errstr);
    snprintf(ci, sizeof(ci), "%s user=kvmove_unit_no_such_role", conninfo);
    ck_assert_int_eq(jobstore_connect(ci, &other, errstr, sizeof(errstr)), -JOBSTORE_EDATA);
    ck_assert_int_eq(
        jobstore_connect("host=/nonexistent/kvmove-unit port=5999", &other, errstr, sizeof(errstr)),
        -JOBSTORE_EDB);
    ck_assert_ptr_null(other);
}
END_TEST

UNIT_TEST(test_finish_succeeded_stores_deployed_config)
{
    job j;
    char id[37], errstr[512], *doc = NULL;
    jobstore_config_change deploy = {"exa01", "migration-deployed", "deployed by job",
                                     unit_append_edit, "+deployed"};
    jobstore_config_info info;

    ck_assert_int_eq(jobstore_config_store(js, "exa01", "loaded", "<engineeredSystem/>", NULL, NULL,
                                           errstr, sizeof(errstr)),
                     0);
    new_job("g1", "h1", "h2", id);
    claim_ok("w1", &j);
    /* another job's deployment, after this one started */
    ck_assert_int_eq(jobstore_config_store(js, "exa01", "migration-deployed", "<other/>", NULL,
                                           NULL, errstr, sizeof(errstr)),
                     0);
    ck_assert_int_eq(jobstore_preflight_done(js, &j, "w1", "test", 0,
                                             json_pack("{s:s}", "failed", "target_memory"), errstr,
                                             sizeof(errstr)),
                     0);
    ck_assert_int_eq(jobstore_job_finish(js, &j, JOB_SUCCEEDED, NULL, 7, &deploy, "w1", "test",
                                         errstr, sizeof(errstr)),
                     0);
    ck_sql_eq("succeeded", "SELECT status FROM jobs");
    ck_assert_int_eq(jobstore_config_get(js, "exa01", 0, &doc, &info, errstr, sizeof(errstr)), 0);
    ck_assert_str_eq(doc, "<other/>+deployed");
    ck_assert_str_eq(info.state, "migration-deployed");
    free(doc);
    ck_sql_eq("preflight.failed,job.succeeded",
              "SELECT string_agg(substr(payload->>'type', 11), ',' ORDER BY id) FROM outbox "
              "WHERE id > 1");
    ck_sql_eq("target_memory", "SELECT payload->'data'->>'failed' FROM outbox WHERE "
                               "payload->>'type' = 'io.kvmove.preflight.failed'");
    ck_sql_eq("migration completed", "SELECT payload->'data'->>'message' FROM outbox ORDER BY id "
                                     "DESC LIMIT 1");
}
END_TEST

/* ---- outbox ----------------------------------------------------------------------------- */

typedef struct sent_log {
    int calls;
    int deliver_mask; /* bit i: deliver the i-th event of a call (bits past 30: all) */
    int fail;         /* return -1 without trying */
    char payloads[16][2048];
    int n;
} sent_log;

static int send_some(void *ctx, jobstore_event *ev, size_t n)
{
    sent_log *l = ctx;
    size_t i;

    l->calls++;
    if (l->fail)
        return -1;
    l->n = 0;
    for (i = 0; i < n; i++) {
        ck_assert_str_eq(ev[i].topic, "kvmove.events");
        if (i < 16)
            util_strlcpy(l->payloads[l->n++], ev[i].payload, sizeof(l->payloads[0]));
        ev[i].delivered = i < 30 ? (l->deliver_mask >> i) & 1 : 1;
    }
    return 0;
}

UNIT_TEST(test_outbox_publish_prefix)
{
    sent_log l;
    char id[37], errstr[512];
    int published = -1, i;
    long backlog = -1;
    char *payload[4];

    for (i = 0; i < 4; i++) {
        char g[8];
        snprintf(g, sizeof(g), "g%d", i);
        new_job(g, "h1", "h2", id);
    }
    for (i = 0; i < 4; i++) {
        char n[8];
        snprintf(n, sizeof(n), "%d", i + 1);
        payload[i] = q1("SELECT payload::text FROM outbox WHERE id = %s", n);
    }
    ck_assert_int_eq(jobstore_outbox_backlog(js, &backlog, errstr, sizeof(errstr)), 0);
    ck_assert_int_eq(backlog, 4);

    /* the sender cannot try at all: nothing is marked */
    memset(&l, 0, sizeof(l));
    l.fail = 1;
    ck_assert_int_eq(
        jobstore_outbox_publish(js, send_some, &l, 10, &published, errstr, sizeof(errstr)), 0);
    ck_assert_int_eq(published, 0);

    /* events 0, 1 and 3 delivered, 2 not: only the prefix 0-1 is marked */
    memset(&l, 0, sizeof(l));
    l.deliver_mask = 0x1 | 0x2 | 0x8;
    ck_assert_int_eq(
        jobstore_outbox_publish(js, send_some, &l, 10, &published, errstr, sizeof(errstr)), 0);
    ck_assert_int_eq(l.calls, 1);
    ck_assert_int_eq(l.n, 4);
    for (i = 0; i < 4; i++)
        ck_assert_str_eq(l.payloads[i], payload[i]);
    ck_assert_int_eq(published, 2);
    ck_sql_eq("1,2", "SELECT string_agg(id::text, ',' ORDER BY id) FROM outbox WHERE "
                     "published_at IS NOT NULL");
    ck_assert_int_eq(jobstore_outbox_backlog(js, &backlog, errstr, sizeof(errstr)), 0);
    ck_assert_int_eq(backlog, 2);

    /* the next call sends the rest, in order (3 again: at least once) */
    memset(&l, 0, sizeof(l));
    l.deliver_mask = -1;
    ck_assert_int_eq(
        jobstore_outbox_publish(js, send_some, &l, 10, &published, errstr, sizeof(errstr)), 0);
    ck_assert_int_eq(l.n, 2);
    ck_assert_str_eq(l.payloads[0], payload[2]);
    ck_assert_str_eq(l.payloads[1], payload[3]);
    ck_assert_int_eq(published, 2);
    ck_assert_int_eq(jobstore_outbox_backlog(js, &backlog, errstr, sizeof(errstr)), 0);
    ck_assert_int_eq(backlog, 0);

    /* nothing left: nothing sent */
    memset(&l, 0, sizeof(l));
    ck_assert_int_eq(
        jobstore_outbox_publish(js, send_some, &l, 10, &published, errstr, sizeof(errstr)), 0);
    ck_assert_int_eq(published, 0);
    ck_assert_int_eq(l.n, 0);
    for (i = 0; i < 4; i++)
        free(payload[i]);
}
END_TEST

UNIT_TEST(test_outbox_publish_limit)
{
    sent_log l;
    char id[37], errstr[512];
    int published = -1;

    new_job("g1", "h1", "h2", id);
    new_job("g2", "h1", "h2", id);
    new_job("g3", "h1", "h2", id);
    memset(&l, 0, sizeof(l));
    l.deliver_mask = -1;
    ck_assert_int_eq(
        jobstore_outbox_publish(js, send_some, &l, 2, &published, errstr, sizeof(errstr)), 0);
    ck_assert_int_eq(l.n, 2);
    ck_assert_int_eq(published, 2);
    ck_assert_int_eq(
        jobstore_outbox_publish(js, send_some, &l, 2, &published, errstr, sizeof(errstr)), 0);
    ck_assert_int_eq(l.n, 1);
    ck_assert_int_eq(published, 1);
}
END_TEST

/* ---- cleanups --------------------------------------------------------------------------- */

UNIT_TEST(test_cleanups)
{
    job j;
    jobstore_cleanup cl, cl2;
    char id[37], errstr[512], *types;
    json_t *arr = NULL, *e;

    new_job("g1", "h1", "h2", id);
    claim_ok("w1", &j);
    ck_assert_int_eq(jobstore_cleanup_add(js, &j, "h1", "127.0.1.2", "h1 unreachable", "w1", "test",
                                          errstr, sizeof(errstr)),
                     0);
    ck_assert_int_eq(jobstore_cleanup_add(js, &j, "h1", "127.0.1.2", "h1 unreachable", "w1", "test",
                                          errstr, sizeof(errstr)),
                     0); /* once per (host, guest, job) */
    ck_assert_int_eq(
        jobstore_cleanup_add(js, &j, "h1", "127.0.1.2", "x", "w9", "test", errstr, sizeof(errstr)),
        -JOBSTORE_ELEASE);
    ck_sql_eq("1", "SELECT count(*) FROM host_cleanups");
    ck_sql_eq("1", "SELECT count(*) FROM outbox WHERE payload->>'type' = "
                   "'io.kvmove.cleanup.pending'");
    ck_assert_int_eq(jobstore_job_finish(js, &j, JOB_SUCCEEDED, NULL, 1, NULL, "w1", "test", errstr,
                                         sizeof(errstr)),
                     0);

    /* filters */
    ck_assert_int_eq(jobstore_cleanup_next(js, "h2", NULL, 0, &cl, errstr, sizeof(errstr)), 0);
    ck_assert_int_eq(jobstore_cleanup_next(js, NULL, "g2", 0, &cl, errstr, sizeof(errstr)), 0);

    /* a failed attempt: counted, stays pending */
    ck_assert_int_eq(jobstore_cleanup_next(js, "h1", "g1", 0, &cl, errstr, sizeof(errstr)), 1);
    ck_assert_str_eq(cl.job_id, id);
    ck_assert_str_eq(cl.host, "h1");
    ck_assert_str_eq(cl.address, "127.0.1.2");
    ck_assert_str_eq(cl.guest, "g1");
    ck_assert_str_eq(cl.tgt_host, "h2");
    ck_assert_int_eq(cl.config_version, 0);
    ck_assert_int_eq(
        jobstore_cleanup_finish(js, &cl, 0, NULL, "still down", "test", errstr, sizeof(errstr)), 0);
    ck_assert_int_eq(jobstore_cleanup_next(js, "h1", NULL, cl.id, &cl2, errstr, sizeof(errstr)),
                     0); /* none after it */
    ck_assert_int_eq(jobstore_cleanups_json(js, "h1", NULL, &arr, errstr, sizeof(errstr)), 0);
    ck_assert_int_eq(json_array_size(arr), 1);
    e = json_array_get(arr, 0);
    ck_assert_str_eq(json_string_value(json_object_get(e, "status")), "pending");
    ck_assert_int_eq(json_integer_value(json_object_get(e, "attempts")), 1);
    ck_assert_str_eq(json_string_value(json_object_get(e, "last_error")), "still down");
    ck_assert_str_eq(json_string_value(json_object_get(e, "reason")), "h1 unreachable");
    json_decref(arr);
    ck_assert_int_eq(jobstore_cleanups_json(js, "h2", NULL, &arr, errstr, sizeof(errstr)), 0);
    ck_assert_int_eq(json_array_size(arr), 0);
    json_decref(arr);

    /* done: marked with its output and a cleanup.completed event; nothing is next */
    ck_assert_int_eq(jobstore_cleanup_next(js, NULL, NULL, 0, &cl, errstr, sizeof(errstr)), 1);
    ck_assert_int_eq(
        jobstore_cleanup_finish(js, &cl, 1, "undefined g1\n", NULL, "test", errstr, sizeof(errstr)),
        0);
    ck_sql_eq("done|2|undefined g1\n|", "SELECT status || '|' || attempts || '|' || output || "
                                        "'|' || last_error FROM host_cleanups");
    ck_assert_int_eq(jobstore_cleanup_next(js, NULL, NULL, 0, &cl, errstr, sizeof(errstr)), 0);
    types = outbox_types();
    ck_assert_str_eq(types, "job.accepted,cleanup.pending,job.succeeded,cleanup.completed");
    free(types);
    ck_assert_int_eq(jobstore_cleanups_json(js, NULL, "g1", &arr, errstr, sizeof(errstr)), 0);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(arr, 0), "status")), "done");
    json_decref(arr);
}
END_TEST

/* ---- config ----------------------------------------------------------------------------- */

UNIT_TEST(test_config_store_get_list)
{
    char errstr[512];
    char *doc = NULL;
    long v1 = 0, v2 = 0;
    jobstore_config_info info;
    json_t *list = NULL, *e;

    ck_assert_int_eq(jobstore_config_get(js, NULL, 0, &doc, &info, errstr, sizeof(errstr)),
                     -JOBSTORE_ENOTFOUND);
    ck_assert_ptr_nonnull(strstr(errstr, "config load"));
    ck_assert_int_eq(
        jobstore_config_store(js, "exa01", "loaded", "<a/>", "first", &v1, errstr, sizeof(errstr)),
        0);
    ck_assert_int_eq(jobstore_config_store(js, "exa01", "migration-merged", "<b/>", NULL, &v2,
                                           errstr, sizeof(errstr)),
                     0);
    ck_assert_int_gt(v2, v1);
    ck_assert_int_eq(
        jobstore_config_store(js, "exa01", "bogus", "<c/>", NULL, NULL, errstr, sizeof(errstr)),
        -JOBSTORE_EDATA);
    ck_assert_int_eq(jobstore_config_get(js, NULL, 0, &doc, &info, errstr, sizeof(errstr)), 0);
    ck_assert_str_eq(doc, "<b/>");
    ck_assert_int_eq(info.version, v2);
    ck_assert_str_eq(info.state, "migration-merged");
    ck_assert_str_eq(info.system, "exa01");
    free(doc);
    ck_assert_int_eq(jobstore_config_get(js, NULL, v1, &doc, &info, errstr, sizeof(errstr)), 0);
    ck_assert_str_eq(doc, "<a/>");
    ck_assert_int_eq(info.version, v1);
    ck_assert_str_eq(info.state, "loaded");
    free(doc);
    ck_assert_int_eq(jobstore_config_get(js, NULL, v2 + 100, &doc, NULL, errstr, sizeof(errstr)),
                     -JOBSTORE_ENOTFOUND);
    ck_assert_int_eq(jobstore_config_list(js, NULL, &list, errstr, sizeof(errstr)), 0);
    ck_assert_int_eq(json_array_size(list), 2);
    e = json_array_get(list, 0);
    ck_assert_int_eq(json_integer_value(json_object_get(e, "version")), v1);
    ck_assert_str_eq(json_string_value(json_object_get(e, "system")), "exa01");
    ck_assert_str_eq(json_string_value(json_object_get(e, "state")), "loaded");
    ck_assert_str_eq(json_string_value(json_object_get(e, "note")), "first");
    ck_assert_int_eq(json_integer_value(json_object_get(e, "bytes")), 4);
    e = json_array_get(list, 1);
    ck_assert_int_eq(json_integer_value(json_object_get(e, "version")), v2);
    ck_assert_str_eq(json_string_value(json_object_get(e, "note")), "");
    json_decref(list);
}
END_TEST

/* ---- reserved capacity ------------------------------------------------------------------ */

UNIT_TEST(test_reserved_on)
{
    request r;
    job j;
    char a[37], errstr[512];
    long mem = -1;
    int vcpus = -1;

    migrate_req(&r, "g1", "h1", "h2");
    ck_assert_int_eq(create_ok(&r, 1000, 4, errstr, sizeof(errstr)), JOBSTORE_CREATED);
    util_strlcpy(a, r.request_id, sizeof(a));
    migrate_req(&r, "g2", "h3", "h2");
    ck_assert_int_eq(create_ok(&r, 500, 2, errstr, sizeof(errstr)), JOBSTORE_CREATED);
    migrate_req(&r, "g3", "h2", "h3");
    ck_assert_int_eq(create_ok(&r, 300, 1, errstr, sizeof(errstr)), JOBSTORE_CREATED);
    migrate_req(&r, "g1", "h1", "h2"); /* rejected (g1 busy): reserves nothing */
    ck_assert_int_eq(create_ok(&r, 7000, 9, errstr, sizeof(errstr)), JOBSTORE_REJECTED);

    ck_assert_int_eq(jobstore_reserved_on(js, "h2", NULL, &mem, &vcpus, errstr, sizeof(errstr)), 0);
    ck_assert_int_eq(mem, 1500);
    ck_assert_int_eq(vcpus, 6);
    ck_assert_int_eq(jobstore_reserved_on(js, "h2", a, &mem, &vcpus, errstr, sizeof(errstr)), 0);
    ck_assert_int_eq(mem, 500);
    ck_assert_int_eq(vcpus, 2);
    ck_assert_int_eq(jobstore_reserved_on(js, "h9", NULL, &mem, &vcpus, errstr, sizeof(errstr)), 0);
    ck_assert_int_eq(mem, 0);
    ck_assert_int_eq(vcpus, 0);
    /* running counts; ended does not */
    claim_ok("w1", &j);
    ck_assert_str_eq(j.id, a);
    ck_assert_int_eq(jobstore_reserved_on(js, "h2", NULL, &mem, &vcpus, errstr, sizeof(errstr)), 0);
    ck_assert_int_eq(mem, 1500);
    ck_assert_int_eq(
        jobstore_job_finish(js, &j, JOB_FAILED, "x", 1, NULL, "w1", "test", errstr, sizeof(errstr)),
        0);
    ck_assert_int_eq(jobstore_reserved_on(js, "h2", NULL, &mem, &vcpus, errstr, sizeof(errstr)), 0);
    ck_assert_int_eq(mem, 500);
    ck_assert_int_eq(vcpus, 2);
}
END_TEST

/* The reservations a job's preflight counts: active jobs on its target created before it,
 * each with what intake recorded for it, oldest first. */
UNIT_TEST(test_reservations_on)
{
    request r;
    job j;
    char a[37], b[37], errstr[512];
    jobstore_reservation *rv = NULL;
    size_t n = 99;

    migrate_req(&r, "g1", "h1", "h2");
    ck_assert_int_eq(create_ok(&r, 1000, 4, errstr, sizeof(errstr)), JOBSTORE_CREATED);
    util_strlcpy(a, r.request_id, sizeof(a));
    migrate_req(&r, "g2", "h3", "h2");
    ck_assert_int_eq(create_ok(&r, 500, 2, errstr, sizeof(errstr)), JOBSTORE_CREATED);
    util_strlcpy(b, r.request_id, sizeof(b));
    migrate_req(&r, "g3", "h2", "h3"); /* leaves h2: reserves on h3 */
    ck_assert_int_eq(create_ok(&r, 300, 1, errstr, sizeof(errstr)), JOBSTORE_CREATED);
    migrate_req(&r, "g4", "h1", "h2"); /* size unknown at intake: reserves nothing */
    ck_assert_int_eq(create_ok(&r, 0, 0, errstr, sizeof(errstr)), JOBSTORE_CREATED);

    ck_assert_int_eq(jobstore_reservations_on(js, "h2", NULL, &rv, &n, errstr, sizeof(errstr)), 0);
    ck_assert_uint_eq(n, 2);
    ck_assert_str_eq(rv[0].job_id, a);
    ck_assert_str_eq(rv[0].guest, "g1");
    ck_assert_int_eq(rv[0].memory_mb, 1000);
    ck_assert_int_eq(rv[0].vcpus, 4);
    ck_assert_str_eq(rv[1].job_id, b);
    ck_assert_int_eq(rv[1].memory_mb, 500);
    free(rv);
    /* the younger job counts the older one, not the other way round */
    ck_assert_int_eq(jobstore_reservations_on(js, "H2", b, &rv, &n, errstr, sizeof(errstr)), 0);
    ck_assert_uint_eq(n, 1);
    ck_assert_str_eq(rv[0].job_id, a);
    free(rv);
    ck_assert_int_eq(jobstore_reservations_on(js, "h2", a, &rv, &n, errstr, sizeof(errstr)), 0);
    ck_assert_uint_eq(n, 0);
    ck_assert_ptr_null(rv);
    /* an ended job reserves nothing */
    claim_ok("w1", &j);
    ck_assert_str_eq(j.id, a);
    ck_assert_int_eq(jobstore_job_finish(js, &j, JOB_SUCCEEDED, NULL, 1, NULL, "w1", "test", errstr,
                                         sizeof(errstr)),
                     0);
    ck_assert_int_eq(jobstore_reservations_on(js, "h2", NULL, &rv, &n, errstr, sizeof(errstr)), 0);
    ck_assert_uint_eq(n, 1);
    ck_assert_str_eq(rv[0].job_id, b);
    free(rv);
}
END_TEST

/* A pending cleanup is found (with why its last attempt failed) without taking it. */
UNIT_TEST(test_cleanup_pending)
{
    job j;
    jobstore_cleanup cl, c2;
    char id[37], errstr[512];

    new_job("g1", "h1", "h2", id);
    claim_ok("w1", &j);
    ck_assert_int_eq(jobstore_cleanup_pending(js, "h1", "g1", &cl, errstr, sizeof(errstr)), 0);
    ck_assert_int_eq(jobstore_cleanup_add(js, &j, "h1", "127.0.1.2", "h1 unreachable", "w1", "test",
                                          errstr, sizeof(errstr)),
                     0);
    ck_assert_int_eq(jobstore_cleanup_next(js, "h1", "g1", 0, &c2, errstr, sizeof(errstr)), 1);
    ck_assert_int_eq(jobstore_cleanup_finish(js, &c2, 0, NULL, "still \xff down", "test", errstr,
                                             sizeof(errstr)),
                     0);
    ck_assert_int_eq(jobstore_cleanup_pending(js, "h1", "g1", &cl, errstr, sizeof(errstr)), 1);
    ck_assert_str_eq(cl.guest, "g1");
    ck_assert_str_eq(cl.last_error, "still \xef\xbf\xbd down");
    ck_assert_int_eq(jobstore_cleanup_pending(js, "h1", "g2", &cl, errstr, sizeof(errstr)), 0);
    /* not taken: the fence can still take it */
    ck_assert_int_eq(jobstore_cleanup_next(js, NULL, NULL, 0, &c2, errstr, sizeof(errstr)), 1);
    ck_assert_int_eq(
        jobstore_cleanup_finish(js, &c2, 1, "done", NULL, "test", errstr, sizeof(errstr)), 0);
    ck_assert_int_eq(jobstore_cleanup_pending(js, "h1", "g1", &cl, errstr, sizeof(errstr)), 0);
}
END_TEST

/* Reads what STEP recorded as created, as seen from job J: "-" when nothing was recorded. */
static char *created_of(const job *j, step_id step)
{
    char errstr[512], *names = NULL;

    ck_assert_msg(jobstore_step_bridges_created(js, j, step, &names, errstr, sizeof(errstr)) == 0,
                  "%s", errstr);
    return names ? names : strdup("-");
}

#define CK_CREATED(j, step, expected)                                                              \
    do {                                                                                           \
        char *got_ = created_of(j, step);                                                          \
        ck_assert_str_eq(got_, expected);                                                          \
        free(got_);                                                                                \
    } while (0)

/* The bridges a job's CREATE steps record (migrations/0009): nothing until a step records; a
 * record with no bridge is a record; a retry or takeover adds to it (never forgets); only the
 * lease holder writes; a replay's record adds to its chain's, and the job it replays does not
 * see the replay's. */
UNIT_TEST(test_created_bridges)
{
    job j, j2;
    request r;
    char id[37], errstr[512];

    new_job("g1", "h1", "h2", id);
    claim_ok("w1", &j);
    CK_CREATED(&j, STEP_CREATE_BRIDGES, "-");
    ck_assert_int_eq(jobstore_step_bridges_add(js, &j, STEP_CREATE_BRIDGES, "w1", "b2\nb1\n",
                                               errstr, sizeof(errstr)),
                     0);
    ck_assert_int_eq(
        jobstore_step_bridges_add(js, &j, STEP_CREATE_BRIDGES, "w2", "x\n", errstr, sizeof(errstr)),
        -JOBSTORE_ELEASE);
    CK_CREATED(&j, STEP_CREATE_BRIDGES, "b1\nb2");
    /* a retry finds them there: the record keeps them */
    ck_assert_int_eq(
        jobstore_step_bridges_add(js, &j, STEP_CREATE_BRIDGES, "w1", "", errstr, sizeof(errstr)),
        0);
    ck_assert_int_eq(jobstore_step_bridges_add(js, &j, STEP_CREATE_BRIDGES, "w1", "b3\nb1\n",
                                               errstr, sizeof(errstr)),
                     0);
    CK_CREATED(&j, STEP_CREATE_BRIDGES, "b1\nb2\nb3");
    CK_CREATED(&j, STEP_CREATE_NAT_BRIDGE_TGT, "-");
    ck_assert_int_eq(jobstore_step_bridges_add(js, &j, STEP_CREATE_NAT_BRIDGE_TGT, "w1", "", errstr,
                                               sizeof(errstr)),
                     0);
    CK_CREATED(&j, STEP_CREATE_NAT_BRIDGE_TGT, "");
    ck_assert_int_eq(jobstore_job_finish(js, &j, JOB_FAILED, "boom", 1, NULL, "w1", "test", errstr,
                                         sizeof(errstr)),
                     0);
    replay_req(&r, id);
    ck_assert_int_eq(create_ok(&r, 0, 0, errstr, sizeof(errstr)), JOBSTORE_CREATED);
    claim_ok("w1", &j2);
    ck_assert_str_eq(j2.replay_of, id);
    CK_CREATED(&j2, STEP_CREATE_BRIDGES, "b1\nb2\nb3");
    ck_assert_int_eq(jobstore_step_bridges_add(js, &j2, STEP_CREATE_BRIDGES, "w1", "b4\n", errstr,
                                               sizeof(errstr)),
                     0);
    CK_CREATED(&j2, STEP_CREATE_BRIDGES, "b1\nb2\nb3\nb4");
    CK_CREATED(&j, STEP_CREATE_BRIDGES, "b1\nb2\nb3");
    ck_sql_eq("3", "SELECT count(*) FROM job_created_bridges");
}
END_TEST

UNIT_TEST(test_job_get_json)
{
    char id[37], errstr[512];
    json_t *o = NULL;

    new_job("g1", "h1", "h2", id);
    ck_assert_int_eq(jobstore_job_get_json(js, id, &o, errstr, sizeof(errstr)), 0);
    ck_assert_str_eq(json_string_value(json_object_get(o, "status")), "queued");
    ck_assert_int_eq(json_array_size(json_object_get(o, "steps")), 11);
    ck_assert_str_eq(
        json_string_value(json_object_get(json_array_get(json_object_get(o, "steps"), 0), "step")),
        "STOP_GUEST");
    json_decref(o);
    ck_assert_int_eq(jobstore_job_get_json(js, "nope", &o, errstr, sizeof(errstr)),
                     -JOBSTORE_ENOTFOUND);
    util_uuid(id);
    ck_assert_int_eq(jobstore_job_get_json(js, id, &o, errstr, sizeof(errstr)),
                     -JOBSTORE_ENOTFOUND);
}
END_TEST

/* ---- ended jobs ------------------------------------------------------------------------- */

/* The SQL list of final statuses is job_status_is_final's. */
UNIT_RANGE(test_ended_sql_is_final, 0, JOB__COUNT)
{
    char quoted[64];

    snprintf(quoted, sizeof(quoted), "'%s'", job_status_to_string((job_status)_i));
    ck_assert_msg((strstr(JOBSTORE_SQL_ENDED, quoted) != NULL) ==
                      (job_status_is_final((job_status)_i) != 0),
                  "%s: in JOBSTORE_SQL_ENDED %s, final %d", quoted, JOBSTORE_SQL_ENDED,
                  job_status_is_final((job_status)_i));
}
END_TEST

/* A job of each final status that ended ten days ago is pruned; an active one is not. */
UNIT_TEST(test_prune_every_ended_status)
{
    static const char *const ended[] = {"succeeded", "failed", "rejected", "cancelled"};
    char id[4][37], active[37], errstr[512];
    long pruned = -1;
    size_t i;

    for (i = 0; i < 4; i++) {
        new_job(ended[i], "h1", "h2", id[i]);
        unit_pg_exec(pg,
                     "UPDATE jobs SET status = '%s', finished_at = now() - interval '10 days' "
                     "WHERE id = '%s'",
                     ended[i], id[i]);
    }
    new_job("g-active", "h1", "h2", active);
    ck_assert_int_eq(jobstore_jobs_prune(js, 86400, 100, &pruned, errstr, sizeof(errstr)), 0);
    ck_assert_int_eq(pruned, 4);
    ck_sql_eq("1", "SELECT count(*) FROM jobs");
    ck_sql_eq(active, "SELECT id FROM jobs");
}
END_TEST

/* Settled cancel requests and ended probes go when they are as old; younger ones, a pending
 * cancel and a probe that still runs stay. */
UNIT_TEST(test_prune_cancels_and_probes)
{
    char errstr[512];
    long pruned = -1;

    unit_pg_exec(pg, "INSERT INTO cancel_requests (request_id, job_id, outcome, message, "
                     "created_at) VALUES (gen_random_uuid(), gen_random_uuid(), 'rejected', "
                     "'old', now() - interval '10 days'), (gen_random_uuid(), gen_random_uuid(), "
                     "'rejected', 'new', now())");
    /* a pending cancel waits for its job (or its expiry), however old */
    unit_pg_exec(pg, "INSERT INTO cancel_requests (request_id, job_id, outcome, message, "
                     "created_at, expires_at) VALUES (gen_random_uuid(), gen_random_uuid(), "
                     "'pending', 'pending', now() - interval '10 days', now() + interval '1 "
                     "hour')");
    unit_pg_exec(pg, "INSERT INTO probes (request_id, kind, submitted_by, status, created_at, "
                     "finished_at) VALUES (gen_random_uuid(), 'cleanup', 'old', 'succeeded', "
                     "now() - interval '10 days', now() - interval '10 days'), "
                     "(gen_random_uuid(), 'dry_run', 'oldrejected', 'rejected', now() - "
                     "interval '10 days', now() - interval '10 days'), (gen_random_uuid(), "
                     "'plan', 'running', 'running', now() - interval '10 days', NULL), "
                     "(gen_random_uuid(), 'cleanup', 'new', 'failed', now(), now())");
    ck_assert_int_eq(jobstore_jobs_prune(js, 86400, 100, &pruned, errstr, sizeof(errstr)), 0);
    ck_sql_eq("new,pending",
              "SELECT string_agg(message, ',' ORDER BY message) FROM cancel_requests");
    ck_sql_eq("new,running",
              "SELECT string_agg(submitted_by, ',' ORDER BY submitted_by) FROM probes");
}
END_TEST

/* A running job that ends cancelled frees its hosts' slots: the workers are woken
 * (kvmove_jobs) as when it succeeds or fails. */
UNIT_TEST(test_cancelled_running_job_wakes_workers)
{
    char run[37], waiting[37];
    PGnotify *n;
    PGresult *r;
    int got = 0;

    new_job("g-run", "h1", "h2", run);
    new_job("g-wait", "h1", "h2", waiting);
    unit_pg_exec(pg, "UPDATE jobs SET status = 'running' WHERE id = '%s'", run);
    r = PQexec(pg, "LISTEN kvmove_jobs");
    ck_assert_int_eq(PQresultStatus(r), PGRES_COMMAND_OK);
    PQclear(r);
    while ((n = PQnotifies(pg)) != NULL) /* what came before */
        PQfreemem(n);
    unit_pg_exec(pg, "UPDATE jobs SET status = 'cancelled', finished_at = now() WHERE id = '%s'",
                 run);
    ck_assert_int_eq(PQconsumeInput(pg), 1);
    while ((n = PQnotifies(pg)) != NULL) {
        got += strcmp(n->relname, "kvmove_jobs") == 0;
        PQfreemem(n);
    }
    ck_assert_msg(got > 0, "no kvmove_jobs notification when a running job ended cancelled");
}
END_TEST

int main(void)
{
    return unit_main("jobstore");
}
