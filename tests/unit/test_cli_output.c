/* test_cli_output: kvmove's output (producer/): the progress lines submit --wait, replay and the
 * shell print from kvmove.events (the spec's log), watch's plain and JSON lines, status and jobs
 * as text, and host text shown escaped (termtext), never obeyed; exit codes that go with them.
 * Events are made as the worker makes them (event_build) on a mock cluster; jobs are recorded in
 * PostgreSQL through the job store, as the worker records them. */
#include <check.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <regex.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "event.h"
#include "jobstore.h"
#include "unit_cli.h"
#include "unit_pg.h"
#include "unit_request.h"
#include "unit_run.h"

#define G "exa01vm01.example.com"
#define S "exa01adm02.example.com"
#define T "exa01adm06.example.com"
#define JOB "6f1c2a52-3d0e-4b8e-9a51-0c7e4f2b9d10"
#define OTHER "7a2d3b63-4e1f-4c9f-8b62-1d8f5a3c0e21"
#define SPEC_STEP(s) "Migrate guest " G " from " S " to " T ". Step " s " completed successfully..."

static const char *brokers;
static cli c;

static void mock_setup(void)
{
    brokers = mock_start();
    cli_for(&c, NULL, brokers);
}

static void mock_teardown(void)
{
    mock_stop();
}

/* 1 if TEXT matches the extended regular expression RE (whole text). */
static int matches(const char *re, const char *text)
{
    regex_t r;
    int ok;

    ck_assert_int_eq(regcomp(&r, re, REG_EXTENDED | REG_NOSUB), 0);
    ok = regexec(&r, text, 0, NULL, 0) == 0;
    regfree(&r);
    return ok;
}

/* Publishes an event of TYPE for job JOB_ID as the worker builds it; DATA is stolen. Returns
 * the event's time (malloc'd). */
static char *emit(const char *type, const char *job_id, json_t *data)
{
    json_t *ev = event_build(type, "unit-w1", job_id, G, data);
    char *s, *when;

    ck_assert_ptr_nonnull(ev);
    when = strdup(json_string_value(json_object_get(ev, "time")));
    s = event_dump(ev);
    mock_produce(brokers, BUS_TOPIC_EVENTS, job_id, s);
    free(s);
    json_decref(ev);
    return when;
}

static void emit_(const char *type, const char *job_id, json_t *data)
{
    free(emit(type, job_id, data));
}

/* A step event's data: STEP, the host, its lines (NULL-terminated), ELAPSED_MS, MESSAGE. */
static json_t *step_data(const char *step, const char *host, const char *const *lines, long ms,
                         const char *message)
{
    json_t *a = json_array();

    while (lines && *lines)
        json_array_append_new(a, json_string(*lines++));
    return json_pack("{s:s,s:s,s:o,s:I,s:s}", "step", step, "host", host, "lines", a, "elapsed_ms",
                     (json_int_t)ms, "message", message);
}

static json_t *accepted_data(void)
{
    return json_pack("{s:s,s:s,s:s,s:s}", "guest", G, "mode", "OFFLINE", "src_host", S, "tgt_host",
                     T);
}

/* follow_job on the events so far (from the start of the topic), output captured. */
static int follow_rc;
static int follow_fn(cli *cl, int argc, char **argv)
{
    bus_consumer *cons = NULL;
    char err[512];

    (void)argc;
    ck_assert_msg(
        bus_consumer_new_from_start(brokers, NULL, BUS_TOPIC_EVENTS, &cons, err, sizeof(err)) == 0,
        "%s", err);
    follow_rc = follow_job(cl, cons, argv[1], atoi(argv[2]));
    bus_consumer_close(cons);
    return follow_rc;
}

/* ---- the progress lines (submit --wait, replay --wait, DEPLOY ACTIONS) ------------------ */

/* A whole job: the spec's lines exactly, each step's completion with its duration; skipped steps
 * complete too (the spec: "Skipping NAT bridge creation ... Step CREATE_NAT_BRIDGE_TGT completed
 * successfully..."); another job's events are not shown. */
UNIT_TEST(test_follow_spec_lines)
{
    static const char *const stop[] = {"Stopping Guest " G " on KVM host " S,
                                       "Waiting for node : " G " to be stopped", G " is down",
                                       G " is Down", NULL};
    static const char *const nat[] = {
        "Skipping NAT bridge creation since this is not a cloud deployment...", NULL};
    static const char *const expected =
        "Job " JOB " accepted: " G " from " S " to " T ", MODE=OFFLINE\n"
        "Preflight checks passed\n"
        "Stopping Guest " G " on KVM host " S "\n"
        "Waiting for node : " G " to be stopped\n" G " is down\n" G " is Down\n" SPEC_STEP(
            "STOP_GUEST") " [23.8 s]\n"
                          "Skipping NAT bridge creation since this is not a cloud "
                          "deployment...\n" SPEC_STEP("CREATE_NAT_BRIDGE_TGT") " [0.0 s]\n"
                                                                               "Done...\n";
    cli_run r;

    emit_(EVENT_JOB_ACCEPTED, JOB, accepted_data());
    emit_(EVENT_JOB_ACCEPTED, OTHER, accepted_data());
    emit_(EVENT_PREFLIGHT_PASSED, JOB, NULL);
    emit_(EVENT_STEP_STARTED, JOB, json_pack("{s:s,s:s}", "step", "STOP_GUEST", "host", S));
    emit_(EVENT_STEP_COMPLETED, JOB, step_data("STOP_GUEST", S, stop, 23817, "stopped"));
    emit_(EVENT_STEP_COMPLETED, OTHER, step_data("STOP_GUEST", S, stop, 1, "other job"));
    emit_(EVENT_STEP_SKIPPED, JOB, step_data("CREATE_NAT_BRIDGE_TGT", T, nat, 3, "not cloud"));
    emit_(EVENT_JOB_SUCCEEDED, JOB, json_pack("{s:I}", "elapsed_ms", (json_int_t)193346));
    r = cli_call(follow_fn, &c, "follow", JOB, "20", NULL);
    ck_assert_int_eq(r.rc, EXIT_DONE);
    ck_assert_msg(strncmp(r.out, expected, strlen(expected)) == 0, "got:\n%s\nexpected:\n%s", r.out,
                  expected);
    /* the spec's closing line: this run's date, one closing bracket (README) */
    ck_assert_msg(matches("\nDone \\[Elapsed = 193346 mS \\[3\\.2 minutes\\] [A-Z][a-z]{2} "
                          "[A-Z][a-z]{2} [ 0-9][0-9] [0-9]{2}:[0-9]{2}:[0-9]{2} [A-Z]+ "
                          "[0-9]{4}\\]\n$",
                          r.out),
                  "%s", r.out);
    ck_assert_str_eq(r.err, "");
    cli_run_free(&r);
}
END_TEST

/* How a job that does not succeed ends: the line and exit 1. */
static const struct {
    const char *type;
    const char *message;
    const char *line;
} endings[] = {
    {EVENT_JOB_FAILED, "step STARTUP_GUEST failed: injected failure",
     "Job " JOB " failed: step STARTUP_GUEST failed: injected failure\n"},
    {EVENT_JOB_REJECTED, "guest " G " already has an active job " OTHER,
     "Job " JOB " rejected: guest " G " already has an active job " OTHER "\n"},
    {EVENT_JOB_FAILED, "line one\nline two", "Job " JOB " failed: line one\nline two\n"},
};

UNIT_LOOP(test_follow_failure_endings, endings)
{
    cli_run r;

    emit_(endings[_i].type, JOB, json_pack("{s:s}", "message", endings[_i].message));
    r = cli_call(follow_fn, &c, "follow", JOB, "20", NULL);
    ck_assert_int_eq(r.rc, EXIT_FAILED);
    ck_assert_str_eq(r.out, endings[_i].line);
    cli_run_free(&r);
}
END_TEST

/* A failed preflight names each failed check; a failed step shows its lines, no completion. */
UNIT_TEST(test_follow_preflight_and_step_failed)
{
    static const char *const lines[] = {"Starting Guest " G " on KVM host " T, NULL};
    cli_run r;

    emit_(EVENT_PREFLIGHT_FAILED, JOB,
          json_pack("{s:[{s:s,s:s},{s:s,s:s}]}", "failed_checks", "check", "target_memory",
                    "message", "8192 MiB free", "check", "ssh_target", "message", "unreachable"));
    emit_(EVENT_STEP_FAILED, JOB, step_data("STARTUP_GUEST", T, lines, 10, "injected failure"));
    emit_(EVENT_JOB_FAILED, JOB, json_pack("{s:s}", "message", "preflight failed"));
    r = cli_call(follow_fn, &c, "follow", JOB, "20", NULL);
    ck_assert_int_eq(r.rc, EXIT_FAILED);
    ck_assert_str_eq(r.out, "Preflight check target_memory failed: 8192 MiB free\n"
                            "Preflight check ssh_target failed: unreachable\n"
                            "Starting Guest " G " on KVM host " T "\n"
                            "Job " JOB " failed: preflight failed\n");
    cli_run_free(&r);
}
END_TEST

/* Text from a host reaches the terminal shown, never obeyed: escape sequences, carriage
 * returns, C1 controls and bidirectional overrides in a step's lines and the job's message. */
UNIT_TEST(test_follow_host_text_escaped)
{
    static const char *const lines[] = {"stopped\x1b[2J\rgone",
                                        "\xc2\x9b"
                                        "31mred",
                                        NULL};
    cli_run r;

    emit_(EVENT_STEP_COMPLETED, JOB, step_data("STOP_GUEST", S, lines, 100, "m"));
    emit_(EVENT_JOB_FAILED, JOB,
          json_pack("{s:s}", "message", "bad \x1b]0;title\x07 \xe2\x80\xae"));
    r = cli_call(follow_fn, &c, "follow", JOB, "20", NULL);
    ck_assert_int_eq(r.rc, EXIT_FAILED);
    ck_assert_msg(strstr(r.out, "stopped\\x1b[2J\\rgone\n") != NULL, "%s", r.out);
    ck_assert_msg(strstr(r.out, "\x1b") == NULL && strchr(r.out, '\r') == NULL &&
                      strstr(r.out, "\xc2\x9b") == NULL && strstr(r.out, "\xe2\x80\xae") == NULL &&
                      strchr(r.out, '\x07') == NULL,
                  "a control reached the terminal: %s", r.out);
    cli_run_free(&r);
}
END_TEST

/* No end within the time given: exit 1, saying where to look. */
UNIT_TEST(test_follow_timeout)
{
    cli_run r;

    emit_(EVENT_JOB_ACCEPTED, JOB, accepted_data());
    r = cli_call(follow_fn, &c, "follow", JOB, "1", NULL);
    ck_assert_int_eq(r.rc, EXIT_FAILED);
    ck_assert_str_eq(r.err, "kvmove: stopped following job " JOB " before it ended (see 'kvmove "
                            "status " JOB "')\n");
    cli_run_free(&r);
}
END_TEST

/* ---- kvmove watch ------------------------------------------------------------------------- */

/* Plain lines for pipes: TIME TYPE JOB [STEP] [host=H] [elapsed=S] [MESSAGE], one per event of
 * the job, ending with its end (exit 0); a message on the topic that is no kvmove event is
 * skipped, said on stderr. */
UNIT_TEST(test_watch_plain_lines)
{
    char *t1, *t2, *t3, want[2048];
    cli_run r;

    t1 = emit(EVENT_JOB_ACCEPTED, JOB, accepted_data());
    mock_produce(brokers, BUS_TOPIC_EVENTS, JOB, "{\"not\": \"an event\"}");
    t2 = emit(EVENT_STEP_COMPLETED, JOB, step_data("STOP_GUEST", S, NULL, 1234, "stopped"));
    emit_(EVENT_STEP_COMPLETED, OTHER, step_data("STOP_GUEST", S, NULL, 1, "other"));
    t3 = emit(EVENT_JOB_SUCCEEDED, JOB, json_pack("{s:I}", "elapsed_ms", (json_int_t)5000));
    r = cli_call(cmd_watch, &c, "watch", JOB, "--timeout", "20", NULL);
    ck_assert_int_eq(r.rc, EXIT_DONE);
    snprintf(want, sizeof(want),
             "%s job.accepted " JOB "\n"
             "%s step.completed " JOB " STOP_GUEST host=" S " elapsed=1.234s stopped\n"
             "%s job.succeeded " JOB " elapsed=5.000s\n",
             t1, t2, t3);
    ck_assert_str_eq(r.out, want);
    ck_assert_msg(strstr(r.err, "skipping a message on kvmove.events that is not a kvmove event"),
                  "%s", r.err);
    free(t1);
    free(t2);
    free(t3);
    cli_run_free(&r);
}
END_TEST

/* --json: the job's events themselves, one compact object a line, in order; a failed job
 * exits 1. */
UNIT_TEST(test_watch_json_lines)
{
    cli_run r;
    json_t *ev;
    json_error_t jerr;
    char *line, *save = NULL;
    int n = 0;

    emit_(EVENT_JOB_ACCEPTED, JOB, accepted_data());
    emit_(EVENT_STEP_FAILED, JOB, step_data("STOP_GUEST", S, NULL, 10, "no"));
    emit_(EVENT_JOB_FAILED, JOB, json_pack("{s:s}", "message", "step STOP_GUEST failed"));
    r = cli_call(cmd_watch, &c, "watch", JOB, "--json", "--timeout", "20", NULL);
    ck_assert_int_eq(r.rc, EXIT_FAILED);
    for (line = strtok_r(r.out, "\n", &save); line; line = strtok_r(NULL, "\n", &save), n++) {
        static const char *const types[] = {"io.kvmove.job.accepted", "io.kvmove.step.failed",
                                            "io.kvmove.job.failed"};
        ev = json_loads(line, 0, &jerr);
        ck_assert_msg(ev != NULL, "line %d is not JSON: %s", n, line);
        ck_assert_int_lt(n, 3);
        ck_assert_str_eq(json_string_value(json_object_get(ev, "type")), types[n]);
        json_decref(ev);
    }
    ck_assert_int_eq(n, 3);
    cli_run_free(&r);
}
END_TEST

/* ---- kvmove status and jobs, from PostgreSQL ------------------------------------------------ */

static char srcdir[PATH_MAX], dbname[64], conninfo[1024];
static int db_ready;
static jobstore *js;

static void db_once(void)
{
    util_strlcpy(srcdir, cli_srcdir(), sizeof(srcdir));
    db_ready =
        unit_pg_make(srcdir, "cli_output", dbname, sizeof(dbname), conninfo, sizeof(conninfo));
}

static void db_once_teardown(void)
{
    unit_pg_run(srcdir, "drop", dbname, NULL, 0);
}

static void db_setup(void)
{
    char err[512];
    PGconn *pg;

    ck_assert_msg(db_ready, "the database could not be made");
    pg = PQconnectdb(conninfo);
    unit_pg_exec(pg, "SET client_min_messages = warning; TRUNCATE " UNIT_PG_TABLES
                     " RESTART IDENTITY CASCADE");
    PQfinish(pg);
    ck_assert_msg(jobstore_connect(conninfo, &js, err, sizeof(err)) == 0, "%s", err);
    cli_for(&c, conninfo, NULL);
}

static void db_teardown(void)
{
    jobstore_close(js);
    js = NULL;
}

UNIT_TCASE("events", .setup = mock_setup, .teardown = mock_teardown, .timeout = 60);
UNIT_TCASE("store", .setup_once = db_once, .teardown_once = db_once_teardown, .setup = db_setup,
           .teardown = db_teardown, .timeout = 60);

/* Records, as a worker would, job JOB of G (S -> T): a passed and a warned preflight check,
 * STOP_GUEST succeeded in 1.2 s with MESSAGE, the NAT step skipped, then the job ended as
 * FINAL (JOB_SUCCEEDED, JOB_FAILED with ERROR) or left running (JOB_RUNNING). */
static void record_job(const char *id, const char *message, job_status final, const char *error)
{
    request req;
    jobstore_intake res;
    job j;
    char err[512];

    unit_move_request(&req, G, S, T, MODE_OFFLINE);
    util_strlcpy(req.request_id, id, sizeof(req.request_id));
    ck_assert_msg(jobstore_intake_request(js, &req, 16384, 4, "unit", &res, err, sizeof(err)) == 0,
                  "%s", err);
    ck_assert_int_eq(jobstore_job_claim(js, "w1", 60, 0, &j, err, sizeof(err)), 1);
    ck_assert_int_eq(jobstore_preflight_record(js, &j, "w1", 1, "ssh_source", "passed",
                                               "root on " S " over SSH", err, sizeof(err)),
                     0);
    ck_assert_int_eq(jobstore_preflight_record(js, &j, "w1", 2, "target_memory", "warning",
                                               "es.xml and the host disagree", err, sizeof(err)),
                     0);
    ck_assert_int_eq(jobstore_preflight_done(js, &j, "w1", "unit", 1, NULL, err, sizeof(err)), 0);
    ck_assert_int_eq(
        jobstore_step_begin(js, &j, STEP_STOP_GUEST, S, "w1", "unit", err, sizeof(err)), 0);
    ck_assert_int_eq(jobstore_step_end(js, &j, STEP_STOP_GUEST, S, STEP_SUCCEEDED, message,
                                       "output\n", 1234, "w1", "unit", err, sizeof(err)),
                     0);
    ck_assert_int_eq(
        jobstore_step_begin(js, &j, STEP_REMOVE_NAT_BRIDGE_SRC, S, "w1", "unit", err, sizeof(err)),
        0);
    ck_assert_int_eq(jobstore_step_end(js, &j, STEP_REMOVE_NAT_BRIDGE_SRC, S, STEP_SKIPPED,
                                       "not a cloud deployment", "", 0, "w1", "unit", err,
                                       sizeof(err)),
                     0);
    if (final != JOB_RUNNING)
        ck_assert_msg(jobstore_job_finish(js, &j, final, error, 2000, NULL, "w1", "unit", err,
                                          sizeof(err)) == 0,
                      "%s", err);
}

/* A line of TEXT starting with PREFIX (malloc'd copy, without its newline), or NULL. */
static char *line_of(const char *text, const char *prefix)
{
    const char *p = text;

    while (p && *p) {
        const char *nl = strchr(p, '\n');
        if (strncmp(p, prefix, strlen(prefix)) == 0)
            return strndup(p, nl ? (size_t)(nl - p) : strlen(p));
        p = nl ? nl + 1 : NULL;
    }
    return NULL;
}

/* The status of a succeeded job: the job line, its migration, preflight and steps as columns,
 * exit 0. */
UNIT_TEST_IN("store", test_status_text)
{
    cli_run r;
    char *l, want[512];

    record_job(JOB, "exa01vm01.example.com is down on " S, JOB_SUCCEEDED, NULL);
    r = cli_call(cmd_status, &c, "status", JOB, NULL);
    ck_assert_msg(r.rc == EXIT_DONE, "exit %d: %s", r.rc, r.err);
    ck_assert_msg(matches("^Job " JOB " \\(attempt 1\\): succeeded, created 20[0-9]{2}-[0-9]{2}-"
                          "[0-9]{2}T[0-9:.]+(Z|[+-][0-9:]+)\n",
                          r.out),
                  "%s", r.out);
    ck_assert_msg(cli_has_line(r.out, "  " G " from " S " to " T ", MODE=OFFLINE"), "%s", r.out);
    /* the documented columns: check 28 and status 8; step 24, status 10, host 26, time of day
     * 12, duration 7 */
    ck_assert_msg(cli_has_line(r.out, "Preflight:"), "%s", r.out);
    snprintf(want, sizeof(want), "  %-28s %-8s %s", "ssh_source", "passed",
             "root on " S " over SSH");
    ck_assert_msg(cli_has_line(r.out, want), "no line '%s':\n%s", want, r.out);
    snprintf(want, sizeof(want), "  %-28s %-8s %s", "target_memory", "warning",
             "es.xml and the host disagree");
    ck_assert_msg(cli_has_line(r.out, want), "no line '%s':\n%s", want, r.out);
    ck_assert_msg(cli_has_line(r.out, "Steps:"), "%s", r.out);
    l = line_of(r.out, "  STOP_GUEST ");
    snprintf(want, sizeof(want),
             "^  %-24s %-10s %-26s [0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3} %7s  %s$", "STOP_GUEST",
             "succeeded", S, "1.2s", G " is down on " S);
    ck_assert_msg(l && matches(want, l), "'%s' does not match %s", l ? l : "(none)", want);
    free(l);
    l = line_of(r.out, "  REMOVE_NAT_BRIDGE_SRC ");
    snprintf(want, sizeof(want), "^  %-24s %-10s %-26s [0-9:.]{12} %7s  %s$",
             "REMOVE_NAT_BRIDGE_SRC", "skipped", S, "0.0s", "not a cloud deployment");
    ck_assert_msg(l && matches(want, l), "'%s' does not match %s", l ? l : "(none)", want);
    free(l);
    l = line_of(r.out, "  STARTUP_GUEST ");
    snprintf(want, sizeof(want), "  %-24s %-10s %-26s %-12s %7s  ", "STARTUP_GUEST", "pending", "",
             "-", ""); /* not begun: no host, start or duration */
    ck_assert_msg(l && strcmp(l, want) == 0, "'%s', expected '%s'", l ? l : "(none)", want);
    free(l);
    ck_assert_ptr_null(strstr(r.out, "error:"));
    cli_run_free(&r);
}
END_TEST

/* A failed job: exit 1, its error shown line by line, host text escaped in every column. */
UNIT_TEST_IN("store", test_status_failed_escaped)
{
    cli_run r;

    record_job(JOB, "stopped\x1b[2J\rgone", JOB_FAILED, "step STARTUP_GUEST failed:\nhost said no");
    r = cli_call(cmd_status, &c, "status", JOB, NULL);
    ck_assert_int_eq(r.rc, EXIT_FAILED);
    ck_assert_msg(strstr(r.out, "): failed, created ") != NULL, "%s", r.out);
    ck_assert_msg(strstr(r.out, "\n  error: step STARTUP_GUEST failed:\nhost said no\n") != NULL,
                  "%s", r.out);
    ck_assert_msg(strstr(r.out, "  stopped\\x1b[2J\\rgone\n") != NULL, "%s", r.out);
    ck_assert_msg(strchr(r.out, '\x1b') == NULL && strchr(r.out, '\r') == NULL, "%s", r.out);
    cli_run_free(&r);
}
END_TEST

/* status --json: the job as stored (host text as it was, jansson escapes it). */
UNIT_TEST_IN("store", test_status_json)
{
    json_error_t jerr;
    json_t *o, *steps, *s0 = NULL, *v;
    cli_run r;
    size_t i;

    record_job(JOB, "stopped\x1b[2J", JOB_RUNNING, NULL);
    r = cli_call(cmd_status, &c, "status", JOB, "--json", NULL);
    ck_assert_int_eq(r.rc, EXIT_DONE);
    o = json_loads(r.out, 0, &jerr);
    ck_assert_msg(o != NULL, "%s: %s", jerr.text, r.out);
    ck_assert_str_eq(json_string_value(json_object_get(o, "status")), "running");
    ck_assert_str_eq(json_string_value(json_object_get(o, "guest")), G);
    steps = json_object_get(o, "steps");
    json_array_foreach(steps, i, v) if (strcmp(json_string_value(json_object_get(v, "step")),
                                               "STOP_GUEST") == 0) s0 = v;
    ck_assert_ptr_nonnull(s0);
    ck_assert_str_eq(json_string_value(json_object_get(s0, "message")), "stopped\x1b[2J");
    ck_assert_int_eq(json_integer_value(json_object_get(s0, "elapsed_ms")), 1234);
    ck_assert_int_eq(json_array_size(json_object_get(o, "preflight")), 2);
    json_decref(o);
    cli_run_free(&r);
}
END_TEST

/* An unknown job: exit 1, said on stderr. */
UNIT_TEST_IN("store", test_status_unknown)
{
    cli_run r = cli_call(cmd_status, &c, "status", OTHER, NULL);

    ck_assert_int_eq(r.rc, EXIT_FAILED);
    ck_assert_msg(strstr(r.err, "does not exist") != NULL, "%s", r.err);
    ck_assert_str_eq(r.out, "");
    cli_run_free(&r);
}
END_TEST

/* jobs: the header and one row per job, newest first, the columns as documented. */
UNIT_TEST_IN("store", test_jobs_text)
{
    static const char header[] =
        "JOB                                  GUEST                    STATUS     FROM       "
        "              TO                       ATTEMPT STEP";
    cli_run r;
    char *l, want[512];

    record_job(JOB, "m", JOB_SUCCEEDED, NULL);
    r = cli_call(cmd_jobs, &c, "jobs", NULL);
    ck_assert_int_eq(r.rc, EXIT_DONE);
    ck_assert_msg(strncmp(r.out, header, strlen(header)) == 0, "%s", r.out);
    l = line_of(r.out, JOB);
    snprintf(want, sizeof(want), "%-36s %-24s %-10s %-24s %-24s %-7d %s", JOB, G, "succeeded", S, T,
             1, "");
    ck_assert_msg(l && strcmp(l, want) == 0, "'%s', expected '%s'", l ? l : "(none)", want);
    free(l);
    cli_run_free(&r);
    r = cli_call(cmd_jobs, &c, "jobs", "--status", "failed", NULL);
    ck_assert_int_eq(r.rc, EXIT_DONE);
    ck_assert_msg(strchr(r.out, '\n') == strrchr(r.out, '\n'), "rows for no failed job:\n%s",
                  r.out); /* the header only */
    cli_run_free(&r);
}
END_TEST

int main(void)
{
    return unit_main("cli_output");
}
