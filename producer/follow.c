/* follow: publishing requests and following their jobs on kvmove.events (submit --wait, replay,
 * watch, the shell's DEPLOY ACTIONS). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "board.h"
#include "cli.h"
#include "event.h"
#include "jschema.h"
#include "step.h"
#include "util.h"

/* Prints the progress of JOB_ID from the events topic until the job ends. Returns EXIT_DONE
 * when it succeeded, EXIT_FAILED when it failed or was rejected. */
int follow_job(cli *c, bus_consumer *cons, const char *job_id, int timeout_s)
{
    int64_t t0 = util_now_ms();
    char err[1024], src[REQUEST_NAME_MAX] = "", tgt[REQUEST_NAME_MAX] = "";

    while (cli_running && (timeout_s <= 0 || util_now_ms() - t0 < (int64_t)timeout_s * 1000)) {
        bus_message m;
        json_t *ev, *data;
        const char *type;
        json_error_t jerr;
        int got = bus_consumer_poll(cons, 200, &m, err, sizeof(err));

        if (got < 0)
            return cli_broker_error(c, "cannot read kvmove.events", err);
        if (got == 0 || m.value == NULL)
            continue;
        ev = json_loadb(m.value, m.len, 0, &jerr);
        if (ev == NULL)
            continue;
        data = json_object_get(ev, "data");
        type = event_short_type(jstr(ev, "type"));
        if (type == NULL || strcmp(jstr(data, "job_id"), job_id) != 0) {
            json_decref(ev);
            continue;
        }
        if (c->json) {
            char *s = json_dumps(ev, JSON_COMPACT);
            puts(s);
            free(s);
        } else if (strcmp(type, EVENT_JOB_ACCEPTED) == 0) {
            util_strlcpy(src, jstr(data, "src_host"), sizeof(src));
            util_strlcpy(tgt, jstr(data, "tgt_host"), sizeof(tgt));
            printf("Job %s accepted: %s from %s to %s, MODE=%s\n", job_id, jshown(data, "guest"),
                   jshown(data, "src_host"), jshown(data, "tgt_host"), jshown(data, "mode"));
        } else if (strcmp(type, EVENT_PREFLIGHT_FAILED) == 0) {
            size_t i;
            json_t *f;
            json_array_foreach(json_object_get(data, "failed_checks"), i, f)
                printf("Preflight check %s failed: %s\n", jshown(f, "check"), jshown(f, "message"));
        } else if (strcmp(type, EVENT_PREFLIGHT_PASSED) == 0) {
            printf("Preflight checks passed\n");
        } else if (strcmp(type, EVENT_STEP_COMPLETED) == 0 ||
                   strcmp(type, EVENT_STEP_SKIPPED) == 0 || strcmp(type, EVENT_STEP_FAILED) == 0) {
            size_t i;
            json_t *l;
            /* a rollback step goes the other way (migrate_summary_line's words) */
            int back = strncmp(jstr(data, "step"), "ROLLBACK_", 9) == 0;
            json_array_foreach(json_object_get(data, "lines"), i, l)
                printf("%s\n", shown_lines(json_string_value(l)));
            if (strcmp(type, EVENT_STEP_FAILED) != 0)
                printf("%s guest %s from %s to %s. Step %s completed successfully... "
                       "[%.1f s]\n",
                       back ? "Roll back" : "Migrate", jshown(ev, "subject"),
                       shown(back ? tgt : src), shown(back ? src : tgt), jshown(data, "step"),
                       (double)json_integer_value(json_object_get(data, "elapsed_ms")) / 1000.0);
        } else if (strcmp(type, EVENT_JOB_SUCCEEDED) == 0) {
            json_int_t ms = json_integer_value(json_object_get(data, "elapsed_ms"));
            char when[64];
            time_t now = time(NULL);
            strftime(when, sizeof(when), "%a %b %e %H:%M:%S %Z %Y", localtime(&now));
            printf("Done...\nDone [Elapsed = %lld mS [%.1f minutes] %s]\n", (long long)ms,
                   (double)ms / 60000.0, when);
        } else if (strcmp(type, EVENT_JOB_FAILED) == 0 || strcmp(type, EVENT_JOB_REJECTED) == 0 ||
                   strcmp(type, EVENT_JOB_CANCELLED) == 0) {
            printf("Job %s %s: %s\n", job_id,
                   strcmp(type, EVENT_JOB_FAILED) == 0      ? "failed"
                   : strcmp(type, EVENT_JOB_CANCELLED) == 0 ? "cancelled"
                                                            : "rejected",
                   shown_lines(jstr(data, "message")));
            if (jstr(data, "rollback_job_id")[0])
                printf("Rollback job %s puts the guest back on its source\n",
                       jshown(data, "rollback_job_id"));
        } else if (strcmp(type, EVENT_JOB_CANCEL_REQUESTED) == 0) {
            printf("Cancel requested: %s\n", shown_lines(jstr(data, "message")));
        }
        fflush(stdout);
        if (strcmp(type, EVENT_JOB_SUCCEEDED) == 0) {
            json_decref(ev);
            return EXIT_DONE;
        }
        if (strcmp(type, EVENT_JOB_FAILED) == 0 || strcmp(type, EVENT_JOB_REJECTED) == 0 ||
            strcmp(type, EVENT_JOB_CANCELLED) == 0) {
            json_decref(ev);
            return EXIT_FAILED;
        }
        json_decref(ev);
    }
    fprintf(stderr, "kvmove: stopped following job %s before it ended (see 'kvmove status %s')\n",
            job_id, job_id);
    return EXIT_FAILED;
}

/* Publishes ASKED (signed as this operator); with WAIT follows its job until it ends; QUIET
 * prints nothing on success. */
static int publish_as(cli *c, const request *asked, int wait, int timeout_s, int quiet)
{
    request r = *asked, *req = &r;
    char err[1024], *payload;
    bus_producer *p = NULL;
    bus_consumer *cons = NULL;
    bus_props props = props_of(c);
    cli_signature sig;
    int rc = EXIT_UNREACHABLE;

    cli_identify(c, req); /* the request is signed as this operator */
    if ((payload = request_to_json(req)) == NULL)
        return EXIT_FAILED;
    /* The worker validates too; refusing here tells the operator before anything is sent. */
    if (cli_request_check(c, payload, err, sizeof(err)) != 0) {
        fprintf(stderr, "kvmove: %s\n", err);
        free(payload);
        return EXIT_FAILED;
    }
    /* Subscribe before publishing so that no event of the job is missed. */
    if (wait && bus_consumer_new_tail(c->s.brokers, &props, BUS_TOPIC_EVENTS, &cons, err,
                                      sizeof(err)) != 0) {
        cli_broker_error(c, "cannot follow kvmove.events", err);
        goto out;
    }
    if ((rc = cli_sign(c, payload, &sig)) != 0)
        goto out;
    rc = EXIT_UNREACHABLE;
    /* Keyed by the job a request acts on, so that it follows the job's own request. */
    if (bus_producer_new(c->s.brokers, &props, &p, err, sizeof(err)) != 0 ||
        bus_produce_sync(p, BUS_TOPIC_REQUESTS,
                         request_action_names_job(req->action) ? req->job_id : req->guest, payload,
                         strlen(payload), sig.headers, 2, 15000, err, sizeof(err)) != 0) {
        cli_broker_error(c, "cannot publish the request to kvmove.requests", err);
        goto out;
    }
    if (quiet)
        ;
    else if (req->action == ACTION_CANCEL && c->json)
        printf("{\"request_id\": \"%s\", \"job_id\": \"%s\"}\n", req->request_id, req->job_id);
    else if (req->action == ACTION_CANCEL)
        printf("Cancel request %s for job %s published\n", req->request_id, req->job_id);
    else if (c->json && !wait)
        printf("{\"request_id\": \"%s\", \"job_id\": \"%s\"}\n", req->request_id, req->request_id);
    else if (!c->json)
        printf("Request %s published (job id %s)\n", req->request_id, req->request_id);
    fflush(stdout);
    rc = wait ? follow_job(c, cons, req->request_id, timeout_s) : EXIT_DONE;
out:
    bus_consumer_close(cons);
    bus_producer_close(p);
    free(payload);
    return rc;
}

int publish(cli *c, const request *req, int wait, int timeout_s)
{
    return publish_as(c, req, wait, timeout_s, 0);
}

int publish_quiet(cli *c, const request *req)
{
    return publish_as(c, req, 0, 0, 1);
}

/* replay's own options: --from-step STEP ('F') and --step STEP ('S'). */
static int replay_step(const char *verb, request *req, int ch, const char *arg)
{
    step_id *s = ch == 'F' ? &req->from_step : &req->step;

    if (step_from_string(arg, s) != 0)
        return usage_error(verb, "unknown step '%s'", arg);
    if (ch == 'F')
        req->has_from_step = 1;
    else
        req->has_step = 1;
    return 0;
}

static const struct option replay_opts[] = {
    {"from-step", required_argument, NULL, 'F'},
    {"step", required_argument, NULL, 'S'},
    CLI_JOB_VERB_OPTIONS,
    CLI_OPTIONS_END,
};
static const job_verb replay_verb = {
    "replay",
    ACTION_REPLAY,
    replay_opts,
    "wh",
    "Usage: kvmove replay JOB [--from-step STEP | --step STEP] [--wait]\n"
    "                         [--timeout SEC]\n"
    "                         [--reason TEXT]\n"
    "Resume a failed job as a new attempt linked to it: from its failed step\n"
    "(default), from STEP, or run STEP alone (the spec's WHERE STEPNAME=).\n"
    "  --wait         follow the new job until it ends (exit 0 succeeded, 1 not)\n"
    "  --timeout SEC  with --wait, stop following after SEC seconds (exit 1)\n",
    replay_step};

int cmd_replay(cli *c, int argc, char **argv)
{
    return cli_job_verb_publish(c, &replay_verb, argc, argv);
}

/* ---- kvmove watch ---- */

/* What a terminal shows: the step line still being rewritten with its running time. */
typedef struct watch_view {
    int tty;
    int open; /* a step line is on screen without its newline */
    char job[REQUEST_UUID_LEN];
    char step[32];
    char host[REQUEST_NAME_MAX];
    int64_t started_ms; /* local clock when the step.started event arrived */
} watch_view;

/* A step's number on a progress line, "[N/OF]": a migration step's place in the spec's order
 * out of its 11, a rollback step's in the rollback's order out of the rollback steps. */
static void step_place(const char *name, int *n, int *of)
{
    step_id s;

    *n = *of = 0;
    if (step_from_string(name, &s) != 0)
        return;
    if (step_is_rollback(s)) {
        *n = (int)s - STEP__COUNT + 1;
        *of = STEP__ALL - STEP__COUNT;
    } else {
        *n = (int)s + 1;
        *of = STEP__COUNT;
    }
}

static void watch_close_line(watch_view *v)
{
    if (v->open) {
        fputc('\n', stdout);
        v->open = 0;
    }
}

static void watch_tick(watch_view *v)
{
    int n, of;

    if (!v->tty || !v->open)
        return;
    step_place(v->step, &n, &of);
    printf("\r\033[K  [%2d/%d] %-22s %-24s running   %6.1fs", n, of, shown(v->step), shown(v->host),
           (double)(util_now_ms() - v->started_ms) / 1000.0);
    fflush(stdout);
}

/* Terminal rendering: one progress line per step, rewritten until the step ends. */
static void watch_show_tty(watch_view *v, const char *type, const json_t *ev, const json_t *data)
{
    const char *job = jstr(data, "job_id"), *step = jstr(data, "step");
    json_t *el = json_object_get(data, "elapsed_ms");
    double secs = json_is_integer(el) ? (double)json_integer_value(el) / 1000.0 : 0.0;

    if (strcmp(type, EVENT_STEP_STARTED) == 0) {
        watch_close_line(v);
        util_strlcpy(v->job, job, sizeof(v->job));
        util_strlcpy(v->step, step, sizeof(v->step));
        util_strlcpy(v->host, jstr(data, "host"), sizeof(v->host));
        v->started_ms = util_now_ms();
        v->open = 1;
        watch_tick(v);
        return;
    }
    if (strncmp(type, "step.", 5) == 0) {
        const char *state = strcmp(type, EVENT_STEP_COMPLETED) == 0 ? "succeeded"
                            : strcmp(type, EVENT_STEP_SKIPPED) == 0 ? "skipped"
                                                                    : "FAILED";
        int n, of;

        if (!(v->open && strcmp(v->job, job) == 0 && strcmp(v->step, step) == 0))
            watch_close_line(v);
        step_place(step, &n, &of);
        printf("\r\033[K  [%2d/%d] %-22s %-24s %-9s %6.1fs  %s\n", n, of, shown(step),
               jshown(data, "host"), state, secs, jshown(data, "message"));
        v->open = 0;
        return;
    }
    watch_close_line(v);
    if (strcmp(type, EVENT_JOB_ACCEPTED) == 0)
        printf("Job %s: %s from %s to %s, MODE=%s\n", shown(job), jshown(ev, "subject"),
               jshown(data, "src_host"), jshown(data, "tgt_host"), jshown(data, "mode"));
    else if (strcmp(type, EVENT_PREFLIGHT_PASSED) == 0)
        printf("  preflight checks passed\n");
    else if (strcmp(type, EVENT_PREFLIGHT_FAILED) == 0) {
        size_t i;
        json_t *f;
        printf("  preflight checks failed:\n");
        json_array_foreach(json_object_get(data, "failed_checks"), i, f)
            printf("    %s: %s\n", jshown(f, "check"), jshown(f, "message"));
    } else if (strcmp(type, EVENT_JOB_SUCCEEDED) == 0)
        printf("Job %s succeeded [Elapsed = %.1f s]\n", shown(job), secs);
    else
        printf("Job %s %s: %s\n", shown(job),
               strcmp(type, EVENT_JOB_FAILED) == 0 ? "failed" : "rejected",
               shown_lines(jstr(data, "message")));
}

/* Plain rendering for pipes and logs: one line per event, fields separated by blanks:
 * TIME TYPE JOB [STEP] [host=H] [elapsed=S] [message]. */
static void watch_show_plain(const char *type, const json_t *ev, const json_t *data)
{
    json_t *el = json_object_get(data, "elapsed_ms");

    printf("%s %s %s", jshown(ev, "time"), type,
           *jstr(data, "job_id") ? jshown(data, "job_id") : "-");
    if (*jstr(data, "step"))
        printf(" %s", jshown(data, "step"));
    if (*jstr(data, "host"))
        printf(" host=%s", jshown(data, "host"));
    if (json_is_integer(el))
        printf(" elapsed=%.3fs", (double)json_integer_value(el) / 1000.0);
    if (*jstr(data, "message"))
        printf(" %s", jshown(data, "message"));
    fputc('\n', stdout);
}

/* How far before a job's creation (PostgreSQL's clock) its first event may be timestamped
 * (the publishing worker's clock): clocks that differ by up to this much are tolerated. */
#define WATCH_CLOCK_MARGIN_MS 60000

/* The partitions' ends, read by jobstore_event_positions when it has locked the job's outbox
 * rows (into AT, and into the context's ENDS: what the positions are compared with). */
typedef struct watch_ends {
    bus_consumer *cons;
    int64_t *ends;
} watch_ends;

static int watch_snapshot(void *ctx, int64_t *at, int n)
{
    watch_ends *we = ctx;
    char err[512];

    if (bus_consumer_ends(we->cons, at, err, sizeof(err)) != 0)
        return -JOBSTORE_EDB;
    memcpy(we->ends, at, (size_t)n * sizeof(*at));
    return 0;
}

/* A consumer of kvmove.events placed at JOB's first event, so that the time to the first line
 * does not depend on how many events the topic holds: where the outbox recorded the job's
 * events (exact, PostgreSQL), else its first event at or after the job's creation (Kafka's
 * lookup by time), else the topic's end (a job whose events are all still to come). Only
 * without PostgreSQL, or for an ended job neither can place (its events older than
 * outbox.retention_s on a broker without lookups by time), is the topic read from its start. */
static int watch_consumer(cli *c, const char *job, bus_consumer **out, char *err, size_t err_size)
{
    bus_props props = props_of(c);
    bus_consumer *cons = NULL;
    jobstore *js = NULL;
    jobstore_event_place place;
    int64_t *at = NULL, *snap = NULL;
    int n, rc = -1;
    char dberr[1024];

    *out = NULL;
    if (bus_consumer_new_idle(c->s.brokers, &props, BUS_TOPIC_EVENTS, &cons, err, err_size) != 0)
        return -1;
    n = bus_consumer_partitions(cons);
    if ((at = calloc((size_t)n, sizeof(*at))) == NULL ||
        (snap = calloc((size_t)n, sizeof(*snap))) == NULL) {
        util_errf(err, err_size, "out of memory");
        goto out;
    }
    if (jobstore_connect(c->s.db, &js, dberr, sizeof(dberr)) != 0 ||
        jobstore_event_positions(js, job, watch_snapshot, &(watch_ends){cons, snap}, at, n, &place,
                                 dberr, sizeof(dberr)) != 0) {
        fprintf(stderr, "kvmove: watch: %s; reading kvmove.events from its start\n", dberr);
        rc = bus_consumer_start(cons, NULL, NULL, err, err_size);
        goto out;
    }
    if (place.known == 0 && place.created_ms >= 0 &&
        bus_consumer_offsets_for_time(cons, place.created_ms - WATCH_CLOCK_MARGIN_MS, at, err,
                                      err_size) != 0)
        goto out;
    if (place.known == 0 && place.ended && memcmp(snap, at, (size_t)n * sizeof(*at)) == 0)
        /* only the whole topic shows it */
        rc = bus_consumer_start(cons, NULL, NULL, err, err_size);
    else
        rc = bus_consumer_start(cons, at, snap, err, err_size);
out:
    free(at);
    free(snap);
    jobstore_close(js);
    if (rc == 0)
        *out = cons;
    else
        bus_consumer_close(cons);
    return rc;
}

int cmd_watch(cli *c, int argc, char **argv)
{
    static const struct option opts[] = {
        {"timeout", required_argument, NULL, 'T'}, {"json", no_argument, NULL, 'j'},
        {"no-validate", no_argument, NULL, 'n'},   {"help", no_argument, NULL, 'h'},
        {"host", required_argument, NULL, 'H'},    {NULL, 0, NULL, 0}};
    char err[1024], path[1100];
    const char *job = NULL, *host = NULL;
    bus_consumer *cons = NULL;
    bus_props props = props_of(c);
    jschema *schema = NULL;
    watch_view view;
    int ch, timeout_s = 0, validate = 1, rc = EXIT_DONE;
    int64_t t0 = util_now_ms();

    optind = 0;
    while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (ch) {
        case 'T':
            if (cli_int_option("watch", "--timeout", optarg, 0, CLI_TIMEOUT_MAX, &timeout_s))
                return EXIT_USAGE;
            break;
        case 'j':
            c->json = 1;
            break;
        case 'n':
            validate = 0;
            break;
        case 'H':
            host = optarg;
            break;
        case 'h':
            printf(
                "Usage: kvmove watch [JOB] [--json] [--timeout SEC] [--no-validate]\n"
                "       kvmove watch [--host H] [--timeout SEC]\n"
                "Show live progress from kvmove.events. With JOB: that job's events from its\n"
                "start, ending when the job ends (exit 0 succeeded, 1 failed or rejected).\n"
                "Without JOB: every job's new events until interrupted.\n\n"
                "On a terminal each step has a progress line with its running time; otherwise\n"
                "one plain line per event: TIME TYPE JOB [STEP] [host=H] [elapsed=S] [MESSAGE].\n"
                "  --json         the events themselves, one JSON object per line\n"
                "  --timeout SEC  give up after SEC seconds (exit 1)\n"
                "  --no-validate  do not check events against schema/event.schema.json\n"
                "  --host H       the jobs from or to KVM host H (an evacuation of H): one\n"
                "                 progress line per job, a line per change when not a terminal\n\n"
                "Without JOB on a terminal (or with --host), every job queued or running (from\n"
                "the database) and every job that starts is one line, redrawn in place:\n"
                "  ID GUEST SRC -> TGT [DONE/STEPS] STEP running SECs | succeeded in SECs |\n"
                "  FAILED at STEP: MESSAGE\n");
            return EXIT_DONE;
        default:
            return usage_error("watch", "%s", "invalid option");
        }
    }
    if (optind + 1 < argc)
        return usage_error("watch", "%s", "name at most one job id");
    if (host && (optind < argc || c->json))
        return usage_error("watch", "%s", "--host shows every job of a host: no JOB, no --json");
    if (optind < argc) {
        job = argv[optind];
        if (!util_is_uuid(job))
            return usage_error("watch", "'%s' is not a job id (see 'kvmove jobs')", job);
    }
    memset(&view, 0, sizeof(view));
    view.tty = !c->json && isatty(STDOUT_FILENO);
    snprintf(path, sizeof(path), "%s/event.schema.json", c->s.schema_dir);
    if (validate && jschema_load_file(path, &schema, err, sizeof(err)) != 0) {
        fprintf(stderr, "kvmove: cannot check events: %s (set schema_dir or use --no-validate)\n",
                err);
        return EXIT_FAILED;
    }
    /* A named job is shown from its first event, even when it started before watch did. */
    if ((job ? watch_consumer(c, job, &cons, err, sizeof(err))
             : bus_consumer_new_tail(c->s.brokers, &props, BUS_TOPIC_EVENTS, &cons, err,
                                     sizeof(err))) != 0) {
        rc = cli_broker_error(c, "cannot read kvmove.events", err);
        goto out;
    }
    /* Every job at once: one line each (producer/board.c). */
    if (job == NULL && !c->json && (view.tty || host)) {
        rc = board_watch(c, cons, schema, host, timeout_s, view.tty);
        goto out;
    }
    while (cli_running) {
        bus_message m;
        json_t *ev, *data;
        const char *type;
        json_error_t jerr;
        int got;

        if (timeout_s > 0 && util_now_ms() - t0 >= (int64_t)timeout_s * 1000) {
            watch_close_line(&view);
            fprintf(stderr, "kvmove: watch: %d s passed%s\n", timeout_s,
                    job ? " before the job ended (see 'kvmove status JOB')" : "");
            rc = job ? EXIT_FAILED : EXIT_DONE;
            goto out;
        }
        got = bus_consumer_poll(cons, 200, &m, err, sizeof(err));
        if (got < 0) {
            watch_close_line(&view);
            rc = cli_broker_error(c, "cannot read kvmove.events", err);
            goto out;
        }
        if (got == 0 || m.value == NULL) {
            watch_tick(&view);
            continue;
        }
        ev = json_loadb(m.value, m.len, 0, &jerr);
        if (ev == NULL || (schema && jschema_validate(schema, ev, err, sizeof(err)) != 0)) {
            watch_close_line(&view);
            fprintf(stderr,
                    "kvmove: skipping a message on kvmove.events that is not a kvmove "
                    "event: %s\n",
                    ev ? err : jerr.text);
            json_decref(ev);
            continue;
        }
        data = json_object_get(ev, "data");
        type = event_short_type(jstr(ev, "type"));
        if (type == NULL || (job && strcmp(jstr(data, "job_id"), job) != 0)) {
            json_decref(ev);
            continue;
        }
        if (c->json) {
            char *s = json_dumps(ev, JSON_COMPACT);
            if (s)
                puts(s);
            free(s);
        } else if (view.tty) {
            watch_show_tty(&view, type, ev, data);
        } else {
            watch_show_plain(type, ev, data);
        }
        fflush(stdout);
        if (job && (strcmp(type, EVENT_JOB_SUCCEEDED) == 0 || strcmp(type, EVENT_JOB_FAILED) == 0 ||
                    strcmp(type, EVENT_JOB_REJECTED) == 0)) {
            rc = strcmp(type, EVENT_JOB_SUCCEEDED) == 0 ? EXIT_DONE : EXIT_FAILED;
            json_decref(ev);
            goto out;
        }
        json_decref(ev);
    }
out:
    watch_close_line(&view);
    bus_consumer_close(cons);
    jschema_free(schema);
    return rc;
}
