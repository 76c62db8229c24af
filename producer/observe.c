/* observe: reading what happened: kvmove status, jobs and events. */
#include <ctype.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "jschema.h"
#include "number.h"
#include "step.h"
#include "timeline.h"
#include "util.h"

/* The lines above a job's details: its id, attempt, status, hosts, and error. */
static void status_header(const json_t *j)
{
    printf("Job %s (attempt %lld%s%s): %s, created %s\n", jshown(j, "id"),
           (long long)json_integer_value(json_object_get(j, "attempt")),
           json_is_string(json_object_get(j, "replay_of")) ? ", replay of " : "",
           jshown(j, "replay_of"), jshown(j, "status"), jshown(j, "created_at"));
    printf("  %s from %s to %s, MODE=%s%s%s\n", jshown(j, "guest"), jshown(j, "src_host"),
           jshown(j, "tgt_host"), jshown(j, "mode"),
           json_is_string(json_object_get(j, "only_step")) ? ", WHERE STEPNAME=" : "",
           jshown(j, "only_step"));
    if (*jstr(j, "error"))
        printf("  error: %s\n", shown_lines(jstr(j, "error")));
}

/* --timeline: the steps on a time axis (producer/timeline.c), as wide as the terminal, in
 * colour on one (unless $NO_COLOR), plain text otherwise. */
static void status_timeline(const json_t *j)
{
    util_lines lines = {NULL, 0, 0};
    struct timespec now;
    const char *term = getenv("TERM");
    int tty = isatty(STDOUT_FILENO);
    int color = tty && getenv("NO_COLOR") == NULL && !(term && strcmp(term, "dumb") == 0);

    clock_gettime(CLOCK_REALTIME, &now);
    if (timeline_from_job(j, (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000,
                          timeline_width(STDOUT_FILENO), color, &lines) == 0 &&
        lines.buf)
        fputs(lines.buf, stdout);
    free(lines.buf);
}

int cmd_status(cli *c, int argc, char **argv)
{
    char err[1024];
    jobstore *js = NULL;
    json_t *j, *v;
    size_t i;
    int rc;

    const char *id = NULL;
    int a, timeline = 0;

    for (a = 1; a < argc; a++) {
        if (strcmp(argv[a], "--help") == 0 || strcmp(argv[a], "-h") == 0) {
            printf("Usage: kvmove status JOB [--json | --timeline]\n"
                   "Show a job, its preflight results and each step with state, host, start,\n"
                   "duration and message.\n"
                   "  --json       the job as one JSON object\n"
                   "  --timeline   the steps drawn on a time axis, a row per host (the source's,\n"
                   "               the target's), the guest's downtime (STOP_GUEST begins to\n"
                   "               STARTUP_GUEST ends) marked, and a legend; as wide as the\n"
                   "               terminal ($COLUMNS or 80 when not one)\n\n"
                   "Exit status: 0 job queued, running or succeeded, 1 job failed or rejected\n"
                   "(or no such job), 2 usage, 3 database unreachable.\n");
            return EXIT_DONE;
        }
        if (strcmp(argv[a], "--json") == 0)
            c->json = 1;
        else if (strcmp(argv[a], "--timeline") == 0)
            timeline = 1;
        else if (argv[a][0] == '-')
            return usage_error("status", "unknown option '%s'", argv[a]);
        else if (id != NULL)
            return usage_error("status", "%s", "name one job id (see 'kvmove jobs')");
        else
            id = argv[a];
    }
    if (id == NULL)
        return usage_error("status", "%s", "name one job id (see 'kvmove jobs')");
    if (timeline && c->json)
        return usage_error("status", "%s", "--timeline draws, --json prints data: choose one");
    if ((rc = open_store(c, &js)) != 0)
        return rc;
    rc = jobstore_job_get_json(js, id, &j, err, sizeof(err));
    jobstore_close(js);
    if (rc != 0) {
        fprintf(stderr, "kvmove: %s\n", err);
        return rc == -JOBSTORE_ENOTFOUND ? EXIT_FAILED : EXIT_UNREACHABLE;
    }
    if (c->json) {
        print_json(j);
    } else if (timeline) {
        status_header(j);
        status_timeline(j);
    } else {
        status_header(j);
        printf("Preflight:\n");
        json_array_foreach(json_object_get(j, "preflight"), i, v) printf(
            "  %-28s %-8s %s\n", jshown(v, "check"), jshown(v, "status"), jshown(v, "message"));
        printf("Steps:\n");
        json_array_foreach(json_object_get(j, "steps"), i, v)
        {
            json_t *el = json_object_get(v, "elapsed_ms");
            const char *started = strchr(jstr(v, "started_at"), 'T');
            char dur[32] = "";
            if (json_is_integer(el))
                snprintf(dur, sizeof(dur), "%.1fs", (double)json_integer_value(el) / 1000.0);
            /* The time of day is enough beside the job's creation date; ms show the order. */
            printf("  %-24s %-10s %-26s %-12.12s %7s  %s\n", jshown(v, "step"), jshown(v, "status"),
                   jshown(v, "host"), started ? started + 1 : "-", dur, jshown(v, "message"));
        }
        if (json_array_size(json_object_get(j, "cleanups")) > 0) {
            printf("Source-side cleanups (OFFLINEFORCE):\n");
            json_array_foreach(json_object_get(j, "cleanups"), i, v)
                printf("  %-26s %-8s attempts %lld%s%s\n", jshown(v, "host"), jshown(v, "status"),
                       (long long)json_integer_value(json_object_get(v, "attempts")),
                       *jstr(v, "last_error") ? "  last error: " : "", jshown(v, "last_error"));
        }
    }
    rc = strcmp(jstr(j, "status"), "failed") == 0 || strcmp(jstr(j, "status"), "rejected") == 0
             ? EXIT_FAILED
             : EXIT_DONE;
    json_decref(j);
    return rc;
}

/* An age such as 90s, 30m, 2h or 7d (at most ten years) in seconds, or -1. Strict: the digits
 * as lib/number.c takes them, then one unit letter. */
static long age_parse(const char *arg)
{
    size_t len = strlen(arg);
    char num[32], unit;
    long n, mult;

    if (len < 2 || len > sizeof(num) || !isdigit((unsigned char)arg[0]) ||
        !strchr("smhd", arg[len - 1]))
        return -1;
    unit = arg[len - 1];
    mult = unit == 's' ? 1 : unit == 'm' ? 60 : unit == 'h' ? 3600 : 86400;
    util_strlcpy(num, arg, len); /* without the unit */
    /* at most ten years, so that the product cannot overflow */
    if (number_parse_long("age", num, 0, 3650L * 86400 / mult, &n, NULL, 0) != 0)
        return -1;
    return n * mult;
}

/* --since: an RFC 3339 date or time (checked here so that PostgreSQL never sees a typo), or an
 * age such as 30m, turned into the UTC time that long ago. */
static int since_parse(const char *arg, char *out, size_t out_size)
{
    char *end;
    long n;
    struct tm tm;

    if ((n = age_parse(arg)) >= 0) {
        time_t t = time(NULL) - n;
        strftime(out, out_size, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm));
        return 0;
    }
    memset(&tm, 0, sizeof(tm));
    end = strptime(arg, "%Y-%m-%d", &tm);
    if (end == NULL || (*end && *end != 'T' && *end != ' '))
        return -1;
    if (*end) {
        char *rest = strptime(end + 1, "%H:%M", &tm);
        if (rest == NULL)
            return -1;
        if (*rest == ':')
            rest = strptime(rest + 1, "%S", &tm);
        if (rest == NULL || (*rest && strcmp(rest, "Z") != 0 && *rest != '+' && *rest != '-'))
            return -1;
    }
    return util_strlcpy(out, arg, out_size);
}

/* kvmove jobs prune --older-than AGE: deletes finished jobs' history (jobstore_jobs_prune). */
static int cmd_jobs_prune(cli *c, int argc, char **argv)
{
    static const struct option opts[] = {
        {"older-than", required_argument, NULL, 'o'},
        {"json", no_argument, NULL, 'j'},
        CLI_OPTIONS_END,
    };
    char err[1024];
    jobstore *js = NULL;
    const char *age_text = NULL;
    long age = -1, pruned = 0, total = 0;
    int ch, rc;

    optind = 0;
    while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (ch) {
        case 'o':
            if ((age = age_parse(optarg)) < 0 || age > 2000000000)
                return usage_error("jobs prune",
                                   "--older-than takes an age (90s, 30m, 2h, 30d), not '%s'",
                                   optarg);
            age_text = optarg;
            break;
        case 'j':
            c->json = 1;
            break;
        case 'h':
            printf("Usage: kvmove jobs prune --older-than AGE [--json]\n"
                   "Delete the history of jobs that ended more than AGE ago (90s, 30m, 2h, 30d):\n"
                   "the jobs with their steps, preflight results and done cleanups, and the\n"
                   "rejected requests, cancel requests and ended probes as old. Active jobs are\n"
                   "never touched, nor a job with a pending cleanup, nor one a newer replay\n"
                   "still refers to.\n"
                   "Workers do the same on their own with jobs.retention_s.\n");
            return EXIT_DONE;
        default:
            return usage_error("jobs prune", "%s", "invalid option");
        }
    }
    if (optind < argc)
        return usage_error("jobs prune", "unexpected argument '%s'", argv[optind]);
    if (age < 0)
        return usage_error("jobs prune", "%s", "say how old with --older-than AGE (e.g. 90d)");
    if ((rc = open_store(c, &js)) != 0)
        return rc;
    do {
        rc = jobstore_jobs_prune(js, (int)age, 1000, &pruned, err, sizeof(err));
        total += pruned;
    } while (rc == 0 && pruned > 0 && cli_running);
    jobstore_close(js);
    if (rc != 0) {
        fprintf(stderr, "kvmove: %s (%ld jobs pruned before that)\n", err, total);
        return EXIT_UNREACHABLE;
    }
    if (c->json)
        printf("{\"pruned\": %ld}\n", total);
    else
        printf("%ld finished job%s older than %s pruned\n", total, total == 1 ? "" : "s", age_text);
    return EXIT_DONE;
}

/* What kvmove jobs asks the store for. */
typedef struct jobs_query {
    const char *status, *guest, *since;
    int limit;
} jobs_query;

static int view_jobs(jobstore *js, const void *arg, json_t **out, char *errstr, size_t errstr_size)
{
    const jobs_query *q = arg;

    return jobstore_jobs_list_json(js, q->status, q->guest, q->since, q->limit, out, errstr,
                                   errstr_size);
}

int cmd_jobs(cli *c, int argc, char **argv)
{
    const char *status = NULL, *guest = NULL, *since_text = NULL, *since = NULL;
    int limit = 100, rc;
    const cli_opt opts[] = {
        CLI_TEXT("status", &status),    CLI_TEXT("guest", &guest),
        CLI_TEXT("since", &since_text), CLI_INT("limit", &limit, 1, 100000),
        CLI_FLAG("json", &c->json),
    };
    char since_buf[64];
    json_t *list, *v;
    size_t i;
    job_status st;
    jobs_query q;

    if (argc > 1 && strcmp(argv[1], "prune") == 0)
        return cmd_jobs_prune(c, argc - 1, argv + 1);
    if ((rc = cli_parse(
             "jobs", opts, CLI_NOPTS(opts),
             "Usage: kvmove jobs [--status S] [--guest G] [--since TIME] [--limit N] "
             "[--json]\n"
             "       kvmove jobs prune --older-than AGE (see 'kvmove jobs prune --help')\n"
             "List jobs, newest first.\n"
             "  --status S    queued, running, succeeded, failed or rejected\n"
             "  --guest G     jobs of guest G only\n"
             "  --since TIME  created at or after TIME: 2025-07-30, 2025-07-30T16:00:00Z,\n"
             "                or an age: 90s, 30m, 2h, 7d\n"
             "  --limit N     at most N jobs (100)\n"
             "  --json        a JSON array of job objects\n",
             0, argc, argv)) != CLI_GO_ON)
        return rc;
    if (status && job_status_from_string(status, &st) != 0)
        return usage_error(
            "jobs", "unknown status '%s' (queued, running, succeeded, failed, rejected)", status);
    if (since_text) {
        if (since_parse(since_text, since_buf, sizeof(since_buf)) != 0)
            return usage_error("jobs",
                               "--since takes a time (2025-07-30 or 2025-07-30T16:00:00Z) or an "
                               "age (90s, 30m, 2h, 7d), not '%s'",
                               since_text);
        since = since_buf;
    }
    q = (jobs_query){status, guest, since, limit};
    if ((rc = cli_view(c, view_jobs, &q, &list)) != CLI_GO_ON)
        return rc;
    printf("%-36s %-24s %-10s %-24s %-24s %-7s %s\n", "JOB", "GUEST", "STATUS", "FROM", "TO",
           "ATTEMPT", "STEP");
    json_array_foreach(list, i, v)
    {
        printf("%-36s %-24s %-10s %-24s %-24s %-7lld %s\n", jshown(v, "id"), jshown(v, "guest"),
               jshown(v, "status"), jshown(v, "src_host"), jshown(v, "tgt_host"),
               (long long)json_integer_value(json_object_get(v, "attempt")),
               jshown(v, "current_step"));
    }
    json_decref(list);
    return EXIT_DONE;
}

/* Prints one message of kvmove.events as its line: as it came when a terminal would show it as
 * it is (what jansson writes, unless a host's words carried C1 controls into a string); else a
 * JSON message is written again with everything beyond ASCII escaped (\u009b), and anything
 * else (not an event at all) is shown escaped. */
static void print_event(const bus_message *m)
{
    char *text = strndup(m->value, m->len), *dumped = NULL;
    json_t *ev;

    if (text == NULL)
        return;
    if (strlen(text) == m->len && strcmp(shown(text), text) == 0) {
        puts(text);
    } else if ((ev = json_loadb(m->value, m->len, 0, NULL)) != NULL &&
               (dumped = json_dumps(ev, JSON_COMPACT | JSON_ENSURE_ASCII | JSON_PRESERVE_ORDER))) {
        puts(dumped);
        json_decref(ev);
    } else {
        puts(shown(text));
        json_decref(ev);
    }
    free(dumped);
    free(text);
}

int cmd_events(cli *c, int argc, char **argv)
{
    static const struct option opts[] = {
        {"follow", no_argument, NULL, 'f'},
        {"json", no_argument, NULL, 'j'},
        {"validate", no_argument, NULL, 'v'},
        CLI_OPTIONS_END,
    };
    bus_consumer *cons = NULL;
    bus_props props = props_of(c);
    jschema *schema = NULL;
    char err[1024], path[1100];
    int ch, follow = 0, validate = 0, idle = 0, invalid = 0, rc = EXIT_DONE;

    optind = 0;
    while ((ch = getopt_long(argc, argv, "fh", opts, NULL)) != -1) {
        switch (ch) {
        case 'f':
            follow = 1;
            break;
        case 'j': /* the output is JSON already */
            break;
        case 'v':
            validate = 1;
            break;
        case 'h':
            printf("Usage: kvmove events [--follow] [--validate] [--json]\n"
                   "Print every CloudEvent on kvmove.events from the beginning, one JSON object\n"
                   "per line, for piping into other tools (jq, scripts).\n"
                   "  -f, --follow   keep waiting for new events until interrupted\n"
                   "      --validate check each event against schema/event.schema.json; report\n"
                   "                 the ones that do not match on stderr and exit 1\n"
                   "      --json     accepted for symmetry: the output is always JSON\n");
            return EXIT_DONE;
        default:
            return usage_error("events", "%s", "invalid option");
        }
    }
    if (optind < argc)
        return usage_error("events", "unexpected argument '%s'", argv[optind]);
    snprintf(path, sizeof(path), "%s/event.schema.json", c->s.schema_dir);
    if (validate && jschema_load_file(path, &schema, err, sizeof(err)) != 0) {
        fprintf(stderr, "kvmove: cannot check events: %s (set schema_dir)\n", err);
        return EXIT_FAILED;
    }
    if (bus_consumer_new_from_start(c->s.brokers, &props, BUS_TOPIC_EVENTS, &cons, err,
                                    sizeof(err)) != 0) {
        rc = cli_broker_error(c, "cannot read kvmove.events", err);
        goto out;
    }
    while (cli_running) {
        bus_message m;
        int got = bus_consumer_poll(cons, 200, &m, err, sizeof(err));
        if (got < 0) {
            rc = cli_broker_error(c, "cannot read kvmove.events", err);
            goto out;
        }
        if (got == 0) {
            /* Without --follow, a second without news means the topic has been read. */
            if (!follow && ++idle >= 5)
                break;
            continue;
        }
        idle = 0;
        if (m.value == NULL)
            continue;
        if (schema) {
            json_error_t jerr;
            json_t *ev = json_loadb(m.value, m.len, 0, &jerr);
            if (ev == NULL || jschema_validate(schema, ev, err, sizeof(err)) != 0) {
                fprintf(stderr, "kvmove: event at offset %lld does not match %s: %s\n",
                        (long long)m.offset, path, ev ? err : jerr.text);
                invalid++;
            }
            json_decref(ev);
        }
        print_event(&m);
        fflush(stdout);
    }
    if (invalid)
        rc = EXIT_FAILED;
out:
    bus_consumer_close(cons);
    jschema_free(schema);
    return rc;
}
