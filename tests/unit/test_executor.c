/* test_executor: the executor runs claimed jobs against a real PostgreSQL (unit_pg.sh) and the
 * host simulator; how each run ends, asserted on the job's rows, events and the hosts. */
#include "worker.h"

#include <check.h>
#include <libpq-fe.h>
#include <pthread.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "unit_hostsim.h"
#include "unit_pg.h"
#include "unit_request.h"
#include "unit_run.h"

#define N_OF(a) ((int)(sizeof(a) / sizeof((a)[0])))

#define GUEST "exa01vm01.example.com"
#define SRC "exa01adm02.example.com"
#define TGT "exa01adm03.example.com" /* same software version as SRC: moves back */
#define OWNER "unit-executor"
/* The command CREATE_BRIDGES sends to the target for the guest's second bridge. */
#define ADD_BRIDGE "vm_maker --add-bridge vmbondeth1.102"

static char conninfo[1024], dbname[64];
static int db_ready;

static worker w;
static executor ex;
static char held[1][REQUEST_UUID_LEN];
static PGconn *pg; /* the test's own look at the rows */
static char job_id[REQUEST_UUID_LEN];

/* ---- fixtures ------------------------------------------------------------------------------ */

/* Once per run (unchecked): a simulator base, a fresh database with every migration applied and
 * the function the refusing triggers call. */
static void suite_setup(void)
{
    char dir[sizeof(sim.srcdir) + 16], err[512];
    jobstore *js = NULL;
    PGconn *c;
    PGresult *r;
    int applied = 0;

    sim_init(750); /* 26750-27249: test_migrate, test_hostsession, test_fence start lower */
    setenv("PGOPTIONS", "-c client_min_messages=warning", 1);
    snprintf(dbname, sizeof(dbname), "unit_executor_%d", (int)getpid());
    if (unit_pg_run(sim.srcdir, "create", dbname, conninfo, sizeof(conninfo)) != 0 ||
        conninfo[0] == '\0') {
        fprintf(stderr, "test_executor: cannot create database %s\n", dbname);
        return;
    }
    snprintf(dir, sizeof(dir), "%s/migrations", sim.srcdir);
    if (jobstore_connect(conninfo, &js, err, sizeof(err)) != 0 ||
        jobstore_migrate(js, dir, &applied, err, sizeof(err)) != 0) {
        fprintf(stderr, "test_executor: %s\n", err);
        jobstore_close(js);
        return;
    }
    jobstore_close(js);
    c = PQconnectdb(conninfo);
    r = PQexec(c, "CREATE FUNCTION unit_refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                  "RAISE EXCEPTION 'injected refusal of %', TG_TABLE_NAME; END $$");
    db_ready = PQresultStatus(r) == PGRES_COMMAND_OK;
    if (!db_ready)
        fprintf(stderr, "test_executor: %s\n", PQerrorMessage(c));
    PQclear(r);
    PQfinish(c);
}

static void suite_teardown(void)
{
    sim_fini();
    unit_pg_run(sim.srcdir, "drop", dbname, NULL, 0);
}

/* Runs SQL (test-made, printf-formatted) that returns no rows. */
#define exec_sql(...) unit_pg_exec(pg, __VA_ARGS__)

/* The single value of a test-made query on the suite's connection ("" for no row, "(null)" for
 * NULL), malloc'd; ck_sql_eq asserts it. */
#define q1(...) unit_pg_value(pg, "(null)", __VA_ARGS__)
#define ck_sql_eq(expected, ...) unit_ck_value(q1(__VA_ARGS__), (expected), #__VA_ARGS__)

/* Per test (checked): empty tables, no refusing trigger left, the es.xml stored. */
static void test_setup(void)
{
    char path[sizeof(sim.srcdir) + 64], err[512];
    jobstore *js = NULL;
    FILE *f;
    char *doc;
    long n, version;

    ck_assert_msg(db_ready, "the database could not be prepared");
    pg = PQconnectdb(conninfo);
    ck_assert_int_eq(PQstatus(pg), CONNECTION_OK);
    exec_sql("SET client_min_messages = warning; DROP TRIGGER IF EXISTS unit_refuse_preflight ON "
             "preflight_results; DROP TRIGGER IF EXISTS unit_refuse_end ON jobs; TRUNCATE jobs, "
             "job_steps, preflight_results, outbox, configs, host_cleanups, rejected_requests "
             "RESTART IDENTITY CASCADE");
    snprintf(path, sizeof(path), "%s/tests/fixtures/exa01.xml", sim.srcdir);
    f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    doc = calloc(1, (size_t)n + 1);
    ck_assert_int_eq(fread(doc, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    ck_assert_msg(jobstore_connect(conninfo, &js, err, sizeof(err)) == 0, "%s", err);
    ck_assert_msg(
        jobstore_config_store(js, "exa01", "loaded", doc, "unit", &version, err, sizeof(err)) == 0,
        "%s", err);
    jobstore_close(js);
    free(doc);
    worker_running = 1;
}

static void test_teardown(void)
{
    jobstore_close(ex.js);
    ex.js = NULL;
    hostsession_free(ex.hosts);
    ex.hosts = NULL;
    PQfinish(pg);
    pg = NULL;
    sim_stop_all();
}

UNIT_TCASE("jobs", .setup_once = suite_setup, .teardown_once = suite_teardown, .setup = test_setup,
           .teardown = test_teardown, .timeout = 180);

/* Fresh hosts, and a worker of one executor on them: STEP_RETRIES transient retries, host
 * commands cut off after COMMAND_TIMEOUT_MS. */
static void worker_fresh(int step_retries, int command_timeout_ms)
{
    char err[512];

    sim_fresh("hosts");
    memset(&w, 0, sizeof(w));
    sim_settings(&w.s);
    util_strlcpy(w.s.db, conninfo, sizeof(w.s.db));
    w.s.step_retries = step_retries;
    w.s.command_timeout_ms = command_timeout_ms;
    w.s.lease_s = 30;
    util_strlcpy(w.owner, OWNER, sizeof(w.owner));
    util_strlcpy(w.source, "unit/executor", sizeof(w.source));
    pthread_mutex_init(&w.held_lock, NULL);
    held[0][0] = '\0';
    w.held = held;
    w.n_held = 1;
    memset(&ex, 0, sizeof(ex));
    ex.w = &w;
    ck_assert_msg(jobstore_connect(conninfo, &ex.js, err, sizeof(err)) == 0, "%s", err);
}

/* Records a migration of GUEST as a job (its id in job_id). */
static void submit(const char *guest, const char *src, const char *tgt, migrate_mode mode,
                   int sequential)
{
    request r;
    jobstore_intake res;
    char err[512];

    unit_move_request(&r, guest, src, tgt, mode);
    r.sequential = sequential;
    ck_assert_msg(
        jobstore_intake_request(ex.js, &r, 16384, 2, "unit/executor", &res, err, sizeof(err)) == 0,
        "%s", err);
    ck_assert_int_eq(res, JOBSTORE_CREATED);
    util_strlcpy(job_id, r.request_id, sizeof(job_id));
}

/* Claims job_id as the worker's loop would and runs it. Returns its takeover flag. */
static int run_claimed(void)
{
    job j;
    char err[512];
    int rc = jobstore_job_claim(ex.js, w.owner, w.s.lease_s, w.s.max_jobs_per_host, &j, err,
                                sizeof(err));

    ck_assert_msg(rc == 1, "claim: %d %s", rc, err);
    ck_assert_str_eq(j.id, job_id);
    executor_run_job(&ex, &j);
    /* whatever the end, the executor no longer holds the job: nothing renews its lease */
    ck_assert_msg(held[0][0] == '\0', "job %s is still held after its run", held[0]);
    return j.takeover;
}

/* The job's status and lease: "STATUS OWNER" ("-" for none); the lease expiry is asserted to
 * be there exactly when an owner is. */
static void assert_job(const char *status, const char *owner)
{
    char want[256];

    snprintf(want, sizeof(want), "%s %s", status, owner);
    ck_sql_eq(want, "SELECT status || ' ' || coalesce(lease_owner, '-') FROM jobs WHERE id = '%s'",
              job_id);
    ck_sql_eq("t",
              "SELECT (lease_expires IS NULL) = (lease_owner IS NULL) FROM jobs WHERE id = '%s'",
              job_id);
}

/* The job's error contains PART. */
static void assert_error_has(const char *part)
{
    char *e = q1("SELECT coalesce(error, '') FROM jobs WHERE id = '%s'", job_id);

    ck_assert_msg(strstr(e, part) != NULL, "error '%s' lacks '%s'", e, part);
    free(e);
}

/* How many of the job's events have type io.kvmove.SHORT. */
static long events_of(const char *short_type)
{
    char *v = q1("SELECT count(*) FROM outbox WHERE job_id = '%s' AND payload->>'type' = "
                 "'io.kvmove.%s'",
                 job_id, short_type);
    long n = atol(v);

    free(v);
    return n;
}

/* The job's STEP is "STATUS:ATTEMPTS". */
static void assert_step(const char *step, const char *expected)
{
    ck_sql_eq(expected,
              "SELECT status || ':' || attempts FROM job_steps WHERE job_id = '%s' AND step = '%s'",
              job_id, step);
}

/* Steps not yet succeeded or skipped. */
static long steps_unfinished(void)
{
    char *v = q1("SELECT count(*) FROM job_steps WHERE job_id = '%s' AND status NOT IN "
                 "('succeeded', 'skipped')",
                 job_id);
    long n = atol(v);

    free(v);
    return n;
}

/* GUEST runs with autostart on HOST, and is not defined on OTHER. */
static void assert_guest_on(const char *host, const char *other, int autostart)
{
    char *h = sim_state(host), *o = sim_state(other);

    ck_assert_msg(sim_has_line(h, "domain " GUEST " running"), "%s:\n%s", host, h);
    ck_assert_msg(sim_has_line(h, "autostart " GUEST) == autostart, "%s:\n%s", host, h);
    ck_assert_msg(strstr(o, "domain " GUEST) == NULL, "%s:\n%s", other, o);
    ck_assert_int_eq(sim_violations(), 0);
    free(h);
    free(o);
}

/* ---- something done while a host command waits ------------------------------------------- */

/* A watcher thread: once a command matching the fault waits on HOST (a `pause` fault), or once
 * HUNG commands hang there (a `hang` fault), runs ACT, then clears HOST's faults and lets the
 * paused command go on. */
static struct {
    char host[128];
    char pattern[256];
    int hung; /* 0: wait for a paused command; N: for N hanging commands */
    void (*act)(void);
    pthread_t thread;
    int fired;
} watch;

/* Commands of PATTERN hanging on HOST (their dispatchers, found by their SSH command). */
static long hanging(const char *host, const char *pattern)
{
    char *s = sim_out("for p in $(pgrep -f -- '/hostsim-exec %s/hosts/%s$'); do tr '\\0' '\\n' "
                      "2>/dev/null </proc/$p/environ | grep -a '^SSH_ORIGINAL_COMMAND='; done | "
                      "grep -cF -- '%s'",
                      sim.root, host, pattern);
    long n = atol(s);

    free(s);
    return n;
}

static void *watch_main(void *arg)
{
    int i;

    (void)arg;
    if (watch.hung == 0) {
        if (sim_cmd("wait-paused '%s' %s 60", sim.root, watch.host) != 0)
            return NULL;
    } else {
        for (i = 0; i < 6000 && hanging(watch.host, watch.pattern) < watch.hung; i++)
            usleep(10000);
        if (i == 6000)
            return NULL;
    }
    watch.act();
    sim_cmd("fault '%s' %s clear", sim.root, watch.host);
    sim_cmd("resume '%s' %s", sim.root, watch.host);
    watch.fired = 1;
    return NULL;
}

/* Arms a MODE ("pause" or "hang") fault for PATTERN on HOST and the watcher that runs ACT. */
static void when(const char *host, const char *mode, const char *pattern, int hung,
                 void (*act)(void))
{
    ck_assert_int_eq(sim_cmd("fault '%s' %s %s '%s'", sim.root, host, mode, pattern), 0);
    util_strlcpy(watch.host, host, sizeof(watch.host));
    util_strlcpy(watch.pattern, pattern, sizeof(watch.pattern));
    watch.hung = hung;
    watch.act = act;
    watch.fired = 0;
    ck_assert_int_eq(pthread_create(&watch.thread, NULL, watch_main, NULL), 0);
}

static void when_done(void)
{
    pthread_join(watch.thread, NULL);
    ck_assert_msg(watch.fired, "nothing waited on %s for '%s'", watch.host, watch.pattern);
}

static void act_stop(void)
{
    worker_running = 0;
}

/* The test thread is inside executor_run_job meanwhile and does not use pg. */
static void act_steal(void)
{
    exec_sql("UPDATE jobs SET lease_owner = 'thief' WHERE id = '%s'", job_id);
}

static void act_power_off_src(void)
{
    sim_cmd("power-off '%s' %s", sim.root, SRC);
}

static void act_power_on_src(void)
{
    sim_cmd("power-on '%s' %s", sim.root, SRC);
}

static void act_nothing(void)
{
}

/* ---- a job runs to its end ----------------------------------------------------------------- */

static const struct {
    migrate_mode mode;
    int sequential;
} run_cases[] = {{MODE_OFFLINE, 0}, {MODE_OFFLINE, 1}, {MODE_OFFLINEFORCE, 0}};

UNIT_LOOP(test_run_succeeds, run_cases)
{
    worker_fresh(3, 20000);
    submit(GUEST, SRC, TGT, run_cases[_i].mode, run_cases[_i].sequential);
    ck_assert_int_eq(run_claimed(), 0);
    assert_job("succeeded", "-");
    ck_sql_eq("(null)", "SELECT error FROM jobs WHERE id = '%s'", job_id);
    /* every step recorded once, none left */
    ck_sql_eq("11", "SELECT count(*) FROM job_steps WHERE job_id = '%s' AND attempts = 1", job_id);
    ck_assert_int_eq(steps_unfinished(), 0);
    ck_assert_int_eq(events_of("step.started"), 11);
    ck_assert_int_eq(events_of("step.completed") + events_of("step.skipped"), 11);
    ck_assert_int_eq(events_of("preflight.passed"), 1);
    ck_assert_int_eq(events_of("job.succeeded"), 1);
    ck_sql_eq("io.kvmove.job.succeeded",
              "SELECT payload->>'type' FROM outbox WHERE job_id = '%s' ORDER BY id DESC LIMIT 1",
              job_id);
    /* the deployment recorded in es.xml */
    ck_sql_eq("migration-deployed", "SELECT state FROM configs ORDER BY version DESC LIMIT 1");
    assert_guest_on(TGT, SRC, 1);
}
END_TEST

/* ---- handed back, then resumed at the first unfinished step -------------------------------- */

/* How the first run ends before the second one takes over. */
static const struct {
    const char *name;
    int crashed; /* 0: the worker stops and hands the job back; 1: it died (its lease ran out) */
} resume_cases[] = {{"handed back", 0}, {"lease expired", 1}};

UNIT_LOOP(test_takeover_resumes, resume_cases)
{
    long before;
    char *log;

    worker_fresh(3, 20000);
    submit(GUEST, SRC, TGT, MODE_OFFLINE, 0);
    /* The worker is told to stop while STOP_GUEST's shutdown runs: the step ends, no other
     * step begins and the job is handed back. */
    when(SRC, "pause", "vm_maker --stop-domain", 0, act_stop);
    run_claimed();
    when_done();
    assert_job("queued", "-");
    ck_sql_eq("CREATE_BRIDGES:succeeded:1 CREATE_NAT_BRIDGE_TGT:skipped:1 STOP_GUEST:succeeded:1",
              "SELECT string_agg(step || ':' || status || ':' || attempts, ' ' ORDER BY "
              "started_at) FROM job_steps WHERE job_id = '%s' AND attempts > 0",
              job_id);
    ck_assert_int_eq(events_of("job.succeeded") + events_of("job.failed"), 0);
    if (resume_cases[_i].crashed)
        exec_sql("UPDATE jobs SET status = 'running', lease_owner = 'dead-worker', lease_expires "
                 "= now() - interval '1 second' WHERE id = '%s'",
                 job_id);
    before = sim_log_count(SRC);
    worker_running = 1;
    ck_assert_int_eq(run_claimed(), 1);
    assert_job("succeeded", "-");
    /* resumed where it stopped: no step begun twice, the guest not stopped again */
    ck_sql_eq("11", "SELECT count(*) FROM job_steps WHERE job_id = '%s' AND attempts = 1", job_id);
    log = sim_log_since(SRC, before);
    ck_assert_msg(strstr(log, "--stop-domain") == NULL, "stopped again:\n%s", log);
    free(log);
    assert_guest_on(TGT, SRC, 1);
}
END_TEST

/* ---- every way a run ends, and the rows it leaves ------------------------------------------ */

static void refuse_preflight(void)
{
    exec_sql("CREATE TRIGGER unit_refuse_preflight BEFORE INSERT ON preflight_results FOR EACH "
             "ROW EXECUTE FUNCTION unit_refuse()");
}

static void refuse_end(void)
{
    exec_sql("CREATE TRIGGER unit_refuse_end BEFORE UPDATE ON jobs FOR EACH ROW WHEN (NEW.status "
             "IN ('failed', 'succeeded')) EXECUTE FUNCTION unit_refuse()");
}

static void host_refuses_stop(void)
{
    ck_assert_int_eq(sim_cmd("fault '%s' %s fail-always 'vm_maker --stop-domain'", sim.root, SRC),
                     0);
}

static void lease_stolen(void)
{
    when(SRC, "pause", "vm_maker --stop-domain", 0, act_steal);
}

static const struct {
    const char *name;
    void (*arrange)(void);
    const char *src; /* the job's source (the guest is on SRC) */
    const char *status, *owner, *error;
    int steps_ran; /* 1 if a step began */
} end_cases[] = {
    /* a permanent database failure fails the job with its reason, at once */
    {"database refuses", refuse_preflight, SRC, "failed", "-",
     "injected refusal of preflight_results", 0},
    {"host refuses", host_refuses_stop, SRC, "failed", "-", "step STOP_GUEST failed", 1},
    {"preflight fails", NULL, "exa01adm04.example.com", "failed", "-", "preflight failed", 0},
    /* lost: left to the new owner as it is */
    {"lease lost", lease_stolen, SRC, "running", "thief", "", 1},
    /* its end refused: let go, the lease runs out (nobody renews it) */
    {"end refused", refuse_end, SRC, "running", OWNER, "", 1},
};

UNIT_LOOP(test_run_ends, end_cases)
{
    worker_fresh(3, 20000);
    submit(GUEST, end_cases[_i].src, TGT, MODE_OFFLINE, 0);
    if (end_cases[_i].arrange)
        end_cases[_i].arrange();
    run_claimed();
    if (end_cases[_i].arrange == lease_stolen)
        when_done();
    assert_job(end_cases[_i].status, end_cases[_i].owner);
    assert_error_has(end_cases[_i].error);
    ck_sql_eq(end_cases[_i].steps_ran ? "t" : "f",
              "SELECT count(*) > 0 FROM job_steps WHERE job_id = '%s' AND attempts > 0", job_id);
    ck_assert_int_eq(events_of("job.failed"), strcmp(end_cases[_i].status, "failed") == 0);
    ck_assert_int_eq(events_of("job.succeeded"), 0);
    ck_assert_int_eq(sim_violations(), 0);
    if (end_cases[_i].arrange == refuse_end) {
        /* once the database takes the end again, a takeover ends the job */
        exec_sql("DROP TRIGGER unit_refuse_end ON jobs; UPDATE jobs SET lease_expires = now() - "
                 "interval '1 second' WHERE id = '%s'",
                 job_id);
        ck_assert_int_eq(run_claimed(), 1);
        assert_job("succeeded", "-");
        assert_guest_on(TGT, SRC, 1);
    }
}
END_TEST

/* ---- transient step failures --------------------------------------------------------------- */

static const int retry_cases[] = {0, 2};

/* A command that never ends (a `hang` fault) times out every time: a transient failure, retried
 * step_retries times, then the job fails. */
UNIT_LOOP(test_transient_retried, retry_cases)
{
    int retries = retry_cases[_i];

    worker_fresh(retries, 3000);
    submit(GUEST, SRC, TGT, MODE_OFFLINE, 0);
    ck_assert_int_eq(sim_cmd("fault '%s' %s hang '%s'", sim.root, TGT, ADD_BRIDGE), 0);
    run_claimed();
    assert_job("failed", "-");
    assert_error_has("step CREATE_BRIDGES failed");
    assert_error_has("did not finish within 3000 ms");
    ck_assert_int_eq(hanging(TGT, ADD_BRIDGE), retries + 1);
    assert_step("CREATE_BRIDGES", "failed:1");
    /* nothing else began, nothing changed on the source */
    ck_sql_eq("1", "SELECT count(*) FROM job_steps WHERE job_id = '%s' AND attempts > 0", job_id);
    assert_guest_on(SRC, TGT, 1);
}
END_TEST

/* The failure goes away after the first try: the retry succeeds and the job goes on. */
UNIT_TEST(test_transient_recovers)
{
    worker_fresh(2, 3000);
    submit(GUEST, SRC, TGT, MODE_OFFLINE, 0);
    when(TGT, "hang", ADD_BRIDGE, 1, act_nothing);
    run_claimed();
    when_done();
    assert_job("succeeded", "-");
    ck_assert_int_eq(hanging(TGT, ADD_BRIDGE), 1);
    assert_step("CREATE_BRIDGES", "succeeded:1");
    assert_guest_on(TGT, SRC, 1);
}
END_TEST

/* Stopping while a step fails transiently hands the step back rather than failing it. */
UNIT_TEST(test_stop_during_transient)
{
    worker_fresh(3, 3000);
    submit(GUEST, SRC, TGT, MODE_OFFLINE, 0);
    when(TGT, "hang", ADD_BRIDGE, 1, act_stop);
    run_claimed();
    when_done();
    assert_job("queued", "-");
    assert_step("CREATE_BRIDGES", "running:1");
    ck_assert_int_eq(events_of("step.failed") + events_of("job.failed"), 0);
    worker_running = 1;
    ck_assert_int_eq(run_claimed(), 1);
    assert_job("succeeded", "-");
    assert_step("CREATE_BRIDGES", "succeeded:2");
    assert_guest_on(TGT, SRC, 1);
}
END_TEST

/* ---- OFFLINEFORCE and the stale copy ------------------------------------------------------- */

/* The guest moves back onto a host that still has its stale copy: while that host is down the
 * job fails before any step; once it is back, the stale copy is removed first and the job runs. */
UNIT_TEST(test_stale_copy)
{
    char first[REQUEST_UUID_LEN], *s, *t;

    worker_fresh(3, 20000);
    ck_assert_int_eq(sim_cmd("power-off '%s' %s", sim.root, SRC), 0);
    submit(GUEST, SRC, TGT, MODE_OFFLINEFORCE, 0);
    util_strlcpy(first, job_id, sizeof(first));
    run_claimed();
    assert_job("succeeded", "-");
    ck_sql_eq("pending", "SELECT status FROM host_cleanups WHERE job_id = '%s'", first);
    t = sim_state(TGT);
    s = sim_state(SRC);
    /* the guest runs on the target, its autostart waiting for the fence; the stale copy */
    ck_assert_msg(sim_has_line(t, "domain " GUEST " running"), "%s:\n%s", TGT, t);
    ck_assert_msg(!sim_has_line(t, "autostart " GUEST), "%s:\n%s", TGT, t);
    ck_assert_msg(sim_has_line(s, "domain " GUEST " shut off"), "%s:\n%s", SRC, s);
    free(t);
    free(s);

    submit(GUEST, TGT, SRC, MODE_OFFLINE, 0);
    run_claimed();
    assert_job("failed", "-");
    assert_error_has("still has the stale copy");
    ck_sql_eq("0", "SELECT count(*) FROM job_steps WHERE job_id = '%s' AND attempts > 0", job_id);

    ck_assert_int_eq(sim_cmd("power-on '%s' %s", sim.root, SRC), 0);
    submit(GUEST, TGT, SRC, MODE_OFFLINE, 0);
    run_claimed();
    assert_job("succeeded", "-");
    ck_sql_eq("done", "SELECT status FROM host_cleanups WHERE job_id = '%s'", first);
    assert_guest_on(SRC, TGT, 1);
}
END_TEST

/* OFFLINEFORCE resurrects the guest on TGT while SRC is down; before SRC is clean, the guest is
 * to move on to a third host. The stale copy on SRC still has autostart, so the guest must not
 * get autostart anywhere else until that copy is gone: the move waits (fails, no step run)
 * while SRC is down, and runs once it is back and clean. Before, only a move back onto SRC
 * waited; this one set autostart on the third host, and SRC's boot made two. */
UNIT_TEST(test_stale_copy_elsewhere)
{
    const char *third = "exa01adm04.example.com";

    worker_fresh(3, 20000);
    ck_assert_int_eq(sim_cmd("power-off '%s' %s", sim.root, SRC), 0);
    submit(GUEST, SRC, TGT, MODE_OFFLINEFORCE, 0);
    run_claimed();
    assert_job("succeeded", "-");
    submit(GUEST, TGT, third, MODE_OFFLINE, 0);
    run_claimed();
    ck_assert_int_eq(sim_cmd("power-on '%s' %s", sim.root, SRC), 0);
    ck_assert_int_eq(sim_violations(), 0);
    assert_job("failed", "-");
    assert_error_has("still has the stale copy");
    ck_sql_eq("0", "SELECT count(*) FROM job_steps WHERE job_id = '%s' AND attempts > 0", job_id);

    submit(GUEST, TGT, third, MODE_OFFLINE, 0);
    run_claimed();
    assert_job("succeeded", "-");
    ck_sql_eq("0", "SELECT count(*) FROM host_cleanups WHERE status = 'pending'");
    assert_guest_on(third, SRC, 1);
    assert_guest_on(third, TGT, 1);
}
END_TEST

/* As stale_copy_elsewhere, with the stale copy recorded in another spelling of the guest's name
 * (a cleanup recorded before names were canonical: es.xml names compare case-insensitively). */
UNIT_TEST(test_stale_copy_other_case)
{
    const char *third = "exa01adm04.example.com";

    worker_fresh(3, 20000);
    ck_assert_int_eq(sim_cmd("power-off '%s' %s", sim.root, SRC), 0);
    submit(GUEST, SRC, TGT, MODE_OFFLINEFORCE, 0);
    run_claimed();
    assert_job("succeeded", "-");
    exec_sql("UPDATE host_cleanups SET guest = upper(guest)");
    submit(GUEST, TGT, third, MODE_OFFLINE, 0);
    run_claimed();
    assert_job("failed", "-");
    assert_error_has("still has the stale copy");
    ck_sql_eq("0", "SELECT count(*) FROM job_steps WHERE job_id = '%s' AND attempts > 0", job_id);
    ck_assert_int_eq(sim_cmd("power-on '%s' %s", sim.root, SRC), 0);
    ck_assert_int_eq(sim_violations(), 0);
}
END_TEST

/* The source dies after preflight talked to it: OFFLINEFORCE skips the source-side steps at
 * once, even though the pool still has the session preflight used (with no retries left, a
 * dead pooled session reported as a transient failure would fail the job). */
UNIT_TEST(test_force_source_dies_after_preflight)
{
    worker_fresh(0, 20000);
    submit(GUEST, SRC, TGT, MODE_OFFLINEFORCE, 0);
    when(TGT, "pause", ADD_BRIDGE, 0, act_power_off_src);
    run_claimed();
    when_done();
    assert_job("succeeded", "-");
    assert_step("STOP_GUEST", "skipped:1");
    ck_sql_eq("pending", "SELECT status FROM host_cleanups WHERE job_id = '%s'", job_id);
    ck_assert_int_eq(sim_cmd("power-on '%s' %s", sim.root, SRC), 0);
    ck_assert_int_eq(sim_violations(), 0);
}
END_TEST

/* OFFLINEFORCE with the source down; it comes back while the guest starts on the target, before
 * the source-side cleanup steps run. Its stale copy (still defined there) uses the guest's
 * bridges, so REMOVE_BRIDGES leaves them to the pending cleanup: the job whose guest has moved
 * succeeds. Before, it failed ('Bridge ... is in use by domain', seen in the soak). */
UNIT_TEST(test_force_source_back_before_cleanup)
{
    worker_fresh(0, 20000);
    ck_assert_int_eq(sim_cmd("power-off '%s' %s", sim.root, SRC), 0);
    submit(GUEST, SRC, TGT, MODE_OFFLINEFORCE, 0);
    when(TGT, "pause", "vm_maker --start-domain", 0, act_power_on_src);
    run_claimed();
    when_done();
    ck_sql_eq("", "SELECT coalesce(error, '') FROM jobs WHERE id = '%s'", job_id);
    assert_job("succeeded", "-");
    assert_step("STOP_GUEST", "skipped:1");
    assert_step("REMOVE_BRIDGES", "skipped:1");
    ck_sql_eq("pending", "SELECT status FROM host_cleanups WHERE job_id = '%s'", job_id);
    ck_assert_int_eq(sim_violations(), 0);
}
END_TEST

/* ---- the es.xml after a replay ------------------------------------------------------------ */

/* Records a replay of job_id (the job it makes becomes job_id): of its unfinished steps, or with
 * FROM >= 0 of step FROM and every step after it in the spec's order. */
static void submit_replay(int from)
{
    request r;
    jobstore_intake res;
    char err[512];

    request_init(&r);
    r.action = ACTION_REPLAY;
    util_strlcpy(r.job_id, job_id, sizeof(r.job_id));
    r.has_from_step = from >= 0;
    r.from_step = from >= 0 ? (step_id)from : STEP_STOP_GUEST;
    ck_assert_msg(
        jobstore_intake_request(ex.js, &r, 0, 0, "unit/executor", &res, err, sizeof(err)) == 0,
        "%s", err);
    ck_assert_int_eq(res, JOBSTORE_CREATED);
    util_strlcpy(job_id, r.request_id, sizeof(job_id));
}

/* The host the newest stored es.xml places GUEST on, malloc'd. */
static char *esxml_placement(void)
{
    return q1("SELECT (xpath('//machine[machine/@id=''exa01vm01_id'']/hostName/text()', "
              "document::xml))[1]::text FROM configs ORDER BY version DESC LIMIT 1");
}

/* A job fails after its commit point (MIGRATE_GUEST done, the source's bridges cannot be
 * removed); its replay runs only the steps left, none of them MIGRATE_GUEST or STARTUP_GUEST,
 * and succeeds: the guest has moved, and the newest es.xml must say so. Before, only a job that
 * ran MIGRATE_GUEST or STARTUP_GUEST itself recorded the deployment, so es.xml kept the guest on
 * its old host for good. A replay of a failure before the commit point records it as usual. */
static const struct {
    const char *fault; /* on SRC, fail-always until the replay */
    const char *failed_step;
} replay_cases[] = {{"vm_maker --remove-bridge", "REMOVE_BRIDGES"},
                    {"vm_maker --stop-domain", "STOP_GUEST"}};

UNIT_LOOP(test_replay_records_deployment, replay_cases)
{
    char *at;

    worker_fresh(3, 20000);
    submit(GUEST, SRC, TGT, MODE_OFFLINE, 0);
    ck_assert_int_eq(
        sim_cmd("fault '%s' %s fail-always '%s'", sim.root, SRC, replay_cases[_i].fault), 0);
    run_claimed();
    assert_job("failed", "-");
    assert_error_has(replay_cases[_i].failed_step);
    at = esxml_placement();
    ck_assert_str_eq(at, SRC);
    free(at);
    ck_assert_int_eq(sim_cmd("fault '%s' %s clear", sim.root, SRC), 0);
    submit_replay(-1);
    run_claimed();
    assert_job("succeeded", "-");
    ck_sql_eq("migration-deployed", "SELECT state FROM configs ORDER BY version DESC LIMIT 1");
    at = esxml_placement();
    ck_assert_str_eq(at, TGT);
    free(at);
    assert_guest_on(TGT, SRC, 1);
}
END_TEST

/* The whole migration again (replay --from-step STOP_GUEST) after it went past its commit point:
 * every step observes that its effect is there, on hosts without VF pools too (the interface
 * steps have work there). Before, DETACH_INTERFACES failed on the source, which no longer has
 * the guest ('Domain not found' from the interface list). */
UNIT_TEST(test_replay_from_start_after_commit)
{
    char *at;

    worker_fresh(3, 20000);
    ck_assert_int_eq(
        sim_sh("rm -f '%s/hosts/%s/vfpools' '%s/hosts/%s/vfpools'", sim.root, SRC, sim.root, TGT),
        0);
    submit(GUEST, SRC, TGT, MODE_OFFLINE, 0);
    ck_assert_int_eq(sim_cmd("fault '%s' %s fail-always 'vm_maker --remove-bridge'", sim.root, SRC),
                     0);
    run_claimed();
    assert_job("failed", "-");
    assert_error_has("REMOVE_BRIDGES");
    ck_assert_int_eq(sim_cmd("fault '%s' %s clear", sim.root, SRC), 0);
    submit_replay(STEP_STOP_GUEST);
    run_claimed();
    assert_job("succeeded", "-");
    ck_sql_eq("11", "SELECT count(*) FROM job_steps WHERE job_id = '%s' AND attempts = 1", job_id);
    at = esxml_placement();
    ck_assert_str_eq(at, TGT);
    free(at);
    assert_guest_on(TGT, SRC, 1);
}
END_TEST

/* ---- the lease thread ---------------------------------------------------------------------- */

/* Lets new connections to the test's database in (ON = 1) or not, from another database (a
 * database cannot lock out its own sessions). */
static void allow_connections(int on)
{
    char ci[sizeof(conninfo) + 32], sql[256];
    PGconn *c;
    PGresult *r;

    snprintf(ci, sizeof(ci), "%s dbname=postgres", conninfo); /* the last dbname counts */
    snprintf(sql, sizeof(sql), "ALTER DATABASE %s ALLOW_CONNECTIONS %s", dbname,
             on ? "true" : "false");
    c = PQconnectdb(ci);
    r = PQexec(c, sql);
    ck_assert_msg(PQresultStatus(r) == PGRES_COMMAND_OK, "%s: %s", sql, PQerrorMessage(c));
    PQclear(r);
    PQfinish(c);
}

/* Just after a renewal, the lease thread's connection is cut and the database refuses new ones
 * for 6.5 s, less than the lease (9 s, renewed every 3 s): the lease must not run out meanwhile
 * (another worker would take over a job still worked on here). Before, a failed renewal was
 * tried again only a third of the lease later: at 3 s (refused), 6 s (refused), 9 s (on the
 * connection that broke), 12 s, so the lease ran out at 9 s. */
UNIT_TEST(test_lease_survives_database_blink)
{
    char err[512], *first, *v;
    job j;
    pthread_t t;
    int64_t t0;
    int i, renewed = 0, back = 0, expired = 0;

    worker_fresh(3, 20000);
    w.s.lease_s = 9;
    submit(GUEST, SRC, TGT, MODE_OFFLINE, 0);
    ck_assert_int_eq(jobstore_job_claim(ex.js, w.owner, w.s.lease_s, 0, &j, err, sizeof(err)), 1);
    ck_assert_int_eq(worker_hold(&w, 0, j.id), 0);
    worker_renewing = 1;
    ck_assert_int_eq(pthread_create(&t, NULL, worker_renew_main, &w), 0);
    first = q1("SELECT lease_expires FROM jobs WHERE id = '%s'", job_id);
    for (i = 0; i < 200 && !renewed; i++) { /* until the thread has renewed the lease once */
        v = q1("SELECT lease_expires FROM jobs WHERE id = '%s'", job_id);
        renewed = strcmp(v, first) != 0;
        free(v);
        usleep(25000);
    }
    ck_assert_msg(renewed, "the lease was never renewed");
    t0 = util_now_ms();
    allow_connections(0);
    free(q1("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = "
            "current_database() AND pid <> pg_backend_pid()"));
    while (util_now_ms() - t0 < 13000) {
        if (!back && util_now_ms() - t0 >= 6500) {
            allow_connections(1);
            back = 1;
        }
        v = q1("SELECT lease_expires > now() FROM jobs WHERE id = '%s'", job_id);
        expired += strcmp(v, "t") != 0;
        free(v);
        usleep(100000);
    }
    worker_renewing = 0;
    pthread_join(t, NULL);
    worker_hold(&w, 0, NULL);
    free(first);
    ck_assert_msg(expired == 0, "the lease ran out (seen %d times, 100 ms apart)", expired);
    assert_job("running", OWNER);
}
END_TEST

int main(void)
{
    return unit_main("executor");
}
