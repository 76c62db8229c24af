/* test_fencer: the worker's fencer thread (worker/fencer.c) against PostgreSQL and the simulator.
 */
#include <check.h>
#include <libpq-fe.h>
#include <pthread.h>

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "jobstore.h"
#include "unit_hostsim.h"
#include "unit_pg.h"
#include "unit_request.h"
#include "unit_run.h"
#include "worker.h"

#define GUEST "exa01vm01.example.com"
#define SRC "exa01adm02.example.com" /* where the stale copy is */
#define TGT "exa01adm06.example.com" /* where the guest runs now */
#define CFGDEV "exa01vm01_cfg_82abd35b3cb04643848b556c31e8903f"

static char dbname[64], conninfo[1024];
static int db_ready;
static worker w;
static jobstore *js; /* the test's own store (the fencer has its own connection) */
static PGconn *pg;
static pthread_t fencer;
static int fencer_started;
static char job_id[REQUEST_UUID_LEN];

/* ---- fixtures ------------------------------------------------------------------------------ */

static void once_setup(void)
{
    sim_init(1000); /* 27000-27499: test_migrate, test_hostsession and test_fence use 26xxx */
    db_ready =
        unit_pg_make(sim.srcdir, "fencer", dbname, sizeof(dbname), conninfo, sizeof(conninfo));
}

static void once_teardown(void)
{
    sim_fini();
    unit_pg_run(sim.srcdir, "drop", dbname, NULL, 0);
}

/* Per test: empty tables, fresh simulated hosts, a worker whose settings reach both. */
static void setup(void)
{
    char err[512];

    ck_assert_msg(db_ready, "the database could not be made");
    pg = PQconnectdb(conninfo);
    ck_assert_int_eq(PQstatus(pg), CONNECTION_OK);
    unit_pg_exec(pg, "SET client_min_messages = warning; TRUNCATE " UNIT_PG_TABLES
                     " RESTART IDENTITY CASCADE");
    ck_assert_msg(jobstore_connect(conninfo, &js, err, sizeof(err)) == 0, "%s", err);
    sim_fresh("fencer");
    memset(&w, 0, sizeof(w));
    sim_settings(&w.s);
    snprintf(w.s.schema_dir, sizeof(w.s.schema_dir), "%.1000s/schema", sim.srcdir);
    util_strlcpy(w.s.db, conninfo, sizeof(w.s.db));
    w.s.command_timeout_ms = 20000;
    util_strlcpy(w.owner, "unit-fencer", sizeof(w.owner));
    util_strlcpy(w.source, "unit-fencer", sizeof(w.source));
    fencer_started = 0;
}

/* Stops the fencer if a test left it running. */
static void teardown(void)
{
    if (fencer_started) {
        fencer_run = 0;
        pthread_join(fencer, NULL);
    }
    jobstore_close(js);
    js = NULL;
    PQfinish(pg);
    pg = NULL;
    sim_stop_all();
}

UNIT_TCASE("fencer", .setup_once = once_setup, .teardown_once = once_teardown, .setup = setup,
           .teardown = teardown, .timeout = 120);

/* The single value of a test-made query on the suite's connection ("" for no row, "" for
 * NULL), malloc'd; ck_sql_eq asserts it. */
#define q1(...) unit_pg_value(pg, "", __VA_ARGS__)
#define ck_sql_eq(expected, ...) unit_ck_value(q1(__VA_ARGS__), (expected), #__VA_ARGS__)

/* 1 when the query's value becomes WANT within SECONDS (polled every 0.2 s). */
static int sql_becomes(const char *want, int seconds, const char *sql)
{
    int i;

    for (i = 0; i <= seconds * 5; i++) {
        char *v = q1("%s", sql);
        int ok = strcmp(v, want) == 0;
        free(v);
        if (ok)
            return 1;
        usleep(200000);
    }
    return 0;
}

/* Stores the es.xml an OFFLINEFORCE deployment leaves: the fixture with GUEST placed on TGT. */
static void store_deployed_esxml(void)
{
    esxml *doc = sim_load_esxml();
    char err[512], path[] = "/tmp/kvmove-unit-fencer.XXXXXX", *buf = NULL;
    size_t len = 0;
    long version = 0;
    FILE *f;
    int fd;
    cli c;

    ck_assert_int_eq(esxml_guest_move(doc, GUEST, TGT, err, sizeof(err)), 0);
    ck_assert_int_eq(esxml_dump(doc, &buf, &len, err, sizeof(err)), 0);
    fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    f = fdopen(fd, "w");
    ck_assert_int_eq(fwrite(buf, 1, len, f), len);
    fclose(f);
    memset(&c, 0, sizeof(c));
    c.s = w.s;
    ck_assert_int_eq(cli_config_load(&c, path, &version), 0);
    unlink(path);
    free(buf);
    esxml_free(doc);
}

/* Records the job of that migration and its pending cleanup of SRC, as the executor does. */
static void record_pending_cleanup(void)
{
    request req;
    job j;
    jobstore_intake res;
    char err[512];

    unit_move_request(&req, GUEST, SRC, TGT, MODE_OFFLINEFORCE);
    ck_assert_msg(jobstore_intake_request(js, &req, 16384, 4, "unit", &res, err, sizeof(err)) == 0,
                  "%s", err);
    ck_assert_int_eq(res, JOBSTORE_CREATED);
    ck_assert_int_eq(jobstore_job_claim(js, "unit-executor", 60, 0, &j, err, sizeof(err)), 1);
    ck_assert_msg(jobstore_cleanup_add(js, &j, SRC, "127.0.1.2",
                                       "source KVM host " SRC " was unreachable", "unit-executor",
                                       "unit", err, sizeof(err)) == 0,
                  "%s", err);
    util_strlcpy(job_id, j.id, sizeof(job_id));
}

static void fencer_start(void)
{
    fencer_run = 1;
    ck_assert_int_eq(pthread_create(&fencer, NULL, fencer_main, &w), 0);
    fencer_started = 1;
}

/* Clears fencer_run; asserts the thread ends within 10 s (it sleeps in 100 ms slices). */
static void fencer_stop(void)
{
    struct timespec deadline;

    fencer_run = 0;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += 10;
    ck_assert_msg(pthread_timedjoin_np(fencer, NULL, &deadline) == 0,
                  "the fencer did not stop within 10 s of being told");
    fencer_started = 0;
}

#define CLEANUP_STATUS "SELECT status FROM host_cleanups"

/* The guest has no autostart on the target (not yet: WHY says when it must not be set). */
static void assert_no_autostart(const char *why)
{
    char *t = sim_state(TGT);

    ck_assert_msg(!sim_has_line(t, "autostart " GUEST), "autostart %s:\n%s", why, t);
    free(t);
}

/* Nothing of GUEST left on the source, the other guest and the shared bridge kept; the guest
 * runs on the target with autostart. */
static void assert_fenced(void)
{
    char *s = sim_state(SRC), *t = sim_state(TGT);

    sim_assert_guest_left(s, GUEST);
    ck_assert_msg(sim_has_line(t, "domain " GUEST " running"), "target:\n%s", t);
    ck_assert_msg(sim_has_line(t, "autostart " GUEST), "no autostart on the target:\n%s", t);
    free(s);
    free(t);
}

/* The cleanup ends done within 30 s (else the test fails saying WHAT), the fencer stops, and
 * the source is fenced (assert_fenced). */
static void assert_cleaned(const char *what)
{
    ck_assert_msg(sql_becomes("done", 30, CLEANUP_STATUS), "%s", what);
    fencer_stop();
    assert_fenced();
}

/* ---- happy paths --------------------------------------------------------------------------- */

/* The source is back: the fencer removes the stale copy by itself, enables autostart on the
 * target, records the cleanup done with cleanup.completed, and stops when told. */
UNIT_TEST(test_cleans_a_host_that_is_back)
{
    store_deployed_esxml();
    sim_make_stale_copy(GUEST, CFGDEV, SRC, TGT);
    record_pending_cleanup();
    ck_assert_int_eq(sim_cmd("power-on '%s' %s", sim.root, SRC), 0);
    fencer_start();
    assert_cleaned("the cleanup was not done in 30 s");
    ck_sql_eq("1",
              "SELECT count(*) FROM outbox WHERE job_id = '%s' AND payload->>'type' = "
              "'io.kvmove.cleanup.completed'",
              job_id);
    ck_sql_eq(SRC, "SELECT payload->'data'->>'host' FROM outbox WHERE payload->>'type' = "
                   "'io.kvmove.cleanup.completed'");
    ck_assert_int_eq(sim_violations(), 0);
}
END_TEST

/* The target rebooted before the guest's autostart moved there (it was off until the stale copy
 * was gone), so the guest stopped and did not come back: once the copy is removed, the fencer
 * enables autostart and starts it, as the job left it (target_state running). Failed on the
 * code before: the guest stayed shut off with autostart on. */
/* The target of the job's move power-cycled: the guest it had started is shut off there. */
static void target_rebooted(void)
{
    char *t;

    ck_assert_int_eq(sim_cmd("power-off '%s' %s", sim.root, TGT), 0);
    ck_assert_int_eq(sim_cmd("power-on '%s' %s", sim.root, TGT), 0);
    t = sim_state(TGT);
    ck_assert_msg(!sim_has_line(t, "domain " GUEST " running"), "still running:\n%s", t);
    free(t);
}

UNIT_TEST(test_target_rebooted_meanwhile_guest_started)
{
    store_deployed_esxml();
    sim_make_stale_copy(GUEST, CFGDEV, SRC, TGT);
    record_pending_cleanup();
    unit_pg_exec(pg, "UPDATE jobs SET status = 'succeeded', finished_at = now() WHERE id = '%s'",
                 job_id);
    target_rebooted();
    ck_assert_int_eq(sim_cmd("power-on '%s' %s", sim.root, SRC), 0);
    fencer_start();
    assert_cleaned("the cleanup was not done in 30 s");
    ck_assert_int_eq(sim_violations(), 0);
}
END_TEST

/* The same while the job still runs (its STARTUP_GUEST to come, or a later job of the guest):
 * the cleanup moves the autostart but leaves starting the guest to the job, which would
 * otherwise start it a second time (the soak saw it: 'vm_maker --start-domain' twice in one
 * job's time). */
UNIT_TEST(test_target_rebooted_job_running_not_started)
{
    char *t;

    store_deployed_esxml();
    sim_make_stale_copy(GUEST, CFGDEV, SRC, TGT);
    record_pending_cleanup();
    target_rebooted();
    ck_assert_int_eq(sim_cmd("power-on '%s' %s", sim.root, SRC), 0);
    fencer_start();
    ck_assert_msg(sql_becomes("done", 30, CLEANUP_STATUS), "the cleanup was not done in 30 s");
    fencer_stop();
    t = sim_state(TGT);
    ck_assert_msg(sim_has_line(t, "autostart " GUEST), "no autostart on the target:\n%s", t);
    ck_assert_msg(!sim_has_line(t, "domain " GUEST " running"), "started under its job:\n%s", t);
    free(t);
}
END_TEST

/* Nothing pending: rounds pass without a host command, and the thread stops when told. */
UNIT_TEST(test_idle_and_stops)
{
    long before = sim_log_count(SRC) + sim_log_count(TGT);

    store_deployed_esxml();
    fencer_start();
    sleep(3); /* at least one sweep (every 2 s) */
    fencer_stop();
    ck_assert_int_eq(sim_log_count(SRC) + sim_log_count(TGT), before);
    ck_sql_eq("0", "SELECT count(*) FROM outbox");
}
END_TEST

/* ---- error paths --------------------------------------------------------------------------- */

/* The source still down: the cleanup stays pending, each round counts an attempt with the
 * reason, the target keeps no autostart; once the host is back the next round cleans it. */
UNIT_TEST(test_host_down_stays_pending_then_cleaned)
{
    store_deployed_esxml();
    sim_make_stale_copy(GUEST, CFGDEV, SRC, TGT);
    record_pending_cleanup();
    fencer_start();
    ck_assert_msg(sql_becomes("t", 30, "SELECT attempts >= 2 FROM host_cleanups"),
                  "fewer than two attempts in 30 s");
    ck_sql_eq("pending", CLEANUP_STATUS);
    ck_sql_eq("t", "SELECT last_error LIKE '%%127.0.1.2%%' FROM host_cleanups");
    assert_no_autostart("set with the source down");
    ck_assert_int_eq(sim_cmd("power-on '%s' %s", sim.root, SRC), 0);
    assert_cleaned("not done in 30 s after power-on");
}
END_TEST

/* The target's libvirt does not answer: "could not ask" is not "no longer defined": the stale
 * copy goes, the cleanup stays pending naming the target's failure, no autostart; then done. */
UNIT_TEST(test_target_unanswering_stays_pending)
{
    store_deployed_esxml();
    sim_make_stale_copy(GUEST, CFGDEV, SRC, TGT);
    record_pending_cleanup();
    ck_assert_int_eq(sim_cmd("power-on '%s' %s", sim.root, SRC), 0);
    ck_assert_int_eq(sim_cmd("fault '%s' %s fail-always 'virsh '", sim.root, TGT), 0);
    fencer_start();
    ck_assert_msg(sql_becomes("t", 30, "SELECT last_error LIKE '%%dominfo%%' FROM host_cleanups"),
                  "no attempt naming the target's dominfo in 30 s");
    ck_sql_eq("pending", CLEANUP_STATUS);
    assert_no_autostart("without asking");
    ck_assert_int_eq(sim_cmd("fault '%s' %s clear", sim.root, TGT), 0);
    assert_cleaned("not done in 30 s after the fault");
}
END_TEST

/* No es.xml stored: nothing to go by, so nothing is touched; pending with the reason. */
UNIT_TEST(test_no_esxml_stays_pending)
{
    long before;

    sim_make_stale_copy(GUEST, CFGDEV, SRC, TGT);
    record_pending_cleanup();
    ck_assert_int_eq(sim_cmd("power-on '%s' %s", sim.root, SRC), 0);
    before = sim_log_count(SRC);
    fencer_start();
    ck_assert_msg(sql_becomes("t", 30, "SELECT attempts >= 1 FROM host_cleanups"),
                  "no attempt in 30 s");
    fencer_stop();
    ck_sql_eq("pending", CLEANUP_STATUS);
    ck_sql_eq("t", "SELECT last_error <> '' FROM host_cleanups");
    ck_assert_int_eq(sim_log_count(SRC), before);
}
END_TEST

/* The database unreachable: the fencer keeps trying without touching a host, and stops when
 * told. */
UNIT_TEST(test_database_unreachable)
{
    long before = sim_log_count(SRC) + sim_log_count(TGT);

    util_strlcpy(w.s.db, "host=127.0.0.1 port=1 connect_timeout=1", sizeof(w.s.db));
    fencer_start();
    sleep(3);
    fencer_stop();
    ck_assert_int_eq(sim_log_count(SRC) + sim_log_count(TGT), before);
}
END_TEST

/* Its connection is terminated (PostgreSQL restarted): the next rounds reconnect, and a cleanup
 * recorded after that is done. */
UNIT_TEST(test_database_connection_lost)
{
    store_deployed_esxml();
    fencer_start();
    ck_assert_msg(sql_becomes("1", 10,
                              "SELECT count(*) FROM pg_stat_activity WHERE datname = "
                              "current_database() AND application_name = 'kvmove' AND pid <> "
                              "pg_backend_pid() AND backend_start < now() - interval '0.5 s'"),
                  "the fencer has no connection");
    sim_make_stale_copy(GUEST, CFGDEV, SRC, TGT);
    ck_sql_eq("2", "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = "
                   "current_database() AND application_name = 'kvmove'"); /* ours too */
    jobstore_close(js);
    ck_assert_int_eq(jobstore_connect(conninfo, &js, (char[512]){0}, 512), 0);
    record_pending_cleanup();
    ck_assert_int_eq(sim_cmd("power-on '%s' %s", sim.root, SRC), 0);
    assert_cleaned("not done in 30 s");
}
END_TEST

int main(void)
{
    return unit_main("fencer");
}
