/* kvmove: the operator's CLI: submit migrations, follow them, inspect jobs and es.xml versions. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "bus.h"
#include "esxml.h"
#include "event.h"
#include "jobstore.h"
#include "request.h"
#include "settings.h"
#include "util.h"

/* Documented exit codes. */
#define EXIT_DONE 0
#define EXIT_FAILED 1 /* the job or the validation failed */
#define EXIT_USAGE 2
#define EXIT_UNREACHABLE 3 /* broker or database unreachable */

static volatile sig_atomic_t running = 1;

static void on_signal(int sig)
{
    (void)sig;
    running = 0;
}

typedef struct cli {
    settings s;
    int json; /* --json: machine-readable output */
} cli;

static int usage_error(const char *verb, const char *fmt, const char *arg)
{
    fprintf(stderr, "kvmove%s%s: ", verb ? " " : "", verb ? verb : "");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\nTry 'kvmove %s%s--help' for more information.\n", verb ? verb : "",
            verb ? " " : "");
    return EXIT_USAGE;
}

static int open_store(cli *c, jobstore **js)
{
    char err[1024];

    if (jobstore_connect(c->s.db, js, err, sizeof(err)) != 0) {
        fprintf(stderr, "kvmove: %s\n(check --db / KVMOVE_DB / PG* variables)\n", err);
        return EXIT_UNREACHABLE;
    }
    return 0;
}

static bus_props props_of(cli *c)
{
    bus_props p = {(const char *const *)c->s.kafka_props, c->s.n_kafka_props};
    return p;
}

static void print_json(const json_t *v)
{
    char *s = json_dumps(v, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    if (s) {
        puts(s);
        free(s);
    }
}

static const char *jstr(const json_t *o, const char *k)
{
    const char *v = json_string_value(json_object_get(o, k));
    return v ? v : "";
}

/* ---- following a job's events ---- */

/* Prints the progress of JOB_ID from the events topic until the job ends. Returns EXIT_DONE
 * when it succeeded, EXIT_FAILED when it failed or was rejected. */
static int follow_job(cli *c, bus_consumer *cons, const char *job_id, int timeout_s)
{
    int64_t t0 = util_now_ms();
    char err[1024], src[REQUEST_NAME_MAX] = "", tgt[REQUEST_NAME_MAX] = "";

    while (running && (timeout_s <= 0 || util_now_ms() - t0 < (int64_t)timeout_s * 1000)) {
        bus_message m;
        json_t *ev, *data;
        const char *type;
        json_error_t jerr;
        int got = bus_consumer_poll(cons, 200, &m, err, sizeof(err));

        if (got < 0) {
            fprintf(stderr, "kvmove: events: %s\n", err);
            return EXIT_UNREACHABLE;
        }
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
            printf("Job %s accepted: %s from %s to %s, MODE=%s\n", job_id, jstr(data, "guest"),
                   jstr(data, "src_host"), jstr(data, "tgt_host"), jstr(data, "mode"));
        } else if (strcmp(type, EVENT_PREFLIGHT_FAILED) == 0) {
            size_t i;
            json_t *f;
            json_array_foreach(json_object_get(data, "failed_checks"), i, f)
                printf("Preflight check %s failed: %s\n", jstr(f, "check"), jstr(f, "message"));
        } else if (strcmp(type, EVENT_PREFLIGHT_PASSED) == 0) {
            printf("Preflight checks passed\n");
        } else if (strcmp(type, EVENT_STEP_COMPLETED) == 0 ||
                   strcmp(type, EVENT_STEP_SKIPPED) == 0 || strcmp(type, EVENT_STEP_FAILED) == 0) {
            size_t i;
            json_t *l;
            json_array_foreach(json_object_get(data, "lines"), i, l)
                printf("%s\n", json_string_value(l));
            if (strcmp(type, EVENT_STEP_FAILED) != 0)
                printf("Migrate guest %s from %s to %s. Step %s completed successfully... "
                       "[%.1f s]\n",
                       jstr(ev, "subject"), src, tgt, jstr(data, "step"),
                       (double)json_integer_value(json_object_get(data, "elapsed_ms")) / 1000.0);
        } else if (strcmp(type, EVENT_JOB_SUCCEEDED) == 0) {
            json_int_t ms = json_integer_value(json_object_get(data, "elapsed_ms"));
            char when[64];
            time_t now = time(NULL);
            strftime(when, sizeof(when), "%a %b %e %H:%M:%S %Z %Y", localtime(&now));
            printf("Done...\nDone [Elapsed = %lld mS [%.1f minutes] %s]\n", (long long)ms,
                   (double)ms / 60000.0, when);
        } else if (strcmp(type, EVENT_JOB_FAILED) == 0 || strcmp(type, EVENT_JOB_REJECTED) == 0) {
            printf("Job %s %s: %s\n", job_id,
                   strcmp(type, EVENT_JOB_FAILED) == 0 ? "failed" : "rejected",
                   jstr(data, "message"));
        }
        fflush(stdout);
        if (strcmp(type, EVENT_JOB_SUCCEEDED) == 0) {
            json_decref(ev);
            return EXIT_DONE;
        }
        if (strcmp(type, EVENT_JOB_FAILED) == 0 || strcmp(type, EVENT_JOB_REJECTED) == 0) {
            json_decref(ev);
            return EXIT_FAILED;
        }
        json_decref(ev);
    }
    fprintf(stderr, "kvmove: stopped following job %s before it ended (see 'kvmove status %s')\n",
            job_id, job_id);
    return EXIT_FAILED;
}

/* Publishes REQ; with WAIT follows its job until it ends. */
static int publish(cli *c, const request *req, int wait, int timeout_s)
{
    char err[1024], *payload = request_to_json(req);
    bus_producer *p = NULL;
    bus_consumer *cons = NULL;
    bus_props props = props_of(c);
    int rc = EXIT_UNREACHABLE;

    if (payload == NULL)
        return EXIT_FAILED;
    /* Subscribe before publishing so that no event of the job is missed. */
    if (wait && bus_consumer_new_tail(c->s.brokers, &props, BUS_TOPIC_EVENTS, &cons, err,
                                      sizeof(err)) != 0) {
        fprintf(stderr, "kvmove: cannot follow events on %s: %s\n", c->s.brokers, err);
        goto out;
    }
    if (bus_producer_new(c->s.brokers, &props, &p, err, sizeof(err)) != 0 ||
        bus_produce_sync(p, BUS_TOPIC_REQUESTS,
                         req->action == ACTION_REPLAY ? req->job_id : req->guest, payload,
                         strlen(payload), NULL, 0, 15000, err, sizeof(err)) != 0) {
        fprintf(stderr, "kvmove: cannot publish the request to %s: %s\n", c->s.brokers, err);
        goto out;
    }
    if (c->json && !wait)
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

/* The spec's MERGE ACTIONS: checks the request against the stored es.xml and records the
 * merged (not deployed) action as a new version. Returns 0 when it validated. */
static int merge_action(cli *c, const request *req, char *command)
{
    char err[1024], xsd[1100], *buf = NULL, *out = NULL;
    jobstore *js = NULL;
    esxml *doc = NULL;
    const esxml_guest *g;
    const esxml_host *src, *tgt, *placed;
    long version = 0, newv;
    size_t len;
    int id, rc, bad = 0;

    if ((rc = open_store(c, &js)) != 0)
        return rc;
    snprintf(xsd, sizeof(xsd), "%s/es.xsd", c->s.schema_dir);
    if (jobstore_config_get(js, req->config_version, &buf, &version, NULL, err, sizeof(err)) != 0 ||
        esxml_load_buffer(buf, strlen(buf), xsd, &doc, err, sizeof(err)) != 0) {
        fprintf(stderr, "kvmove: %s\n", err);
        rc = EXIT_FAILED;
        goto out;
    }
    g = esxml_guest_find(doc, req->guest);
    src = esxml_host_find(doc, req->src_host);
    tgt = esxml_host_find(doc, req->tgt_host);
    placed = g ? esxml_guest_host(doc, g) : NULL;
    if (g == NULL && ++bad)
        printf("Check guest_defined failed: guest %s is not defined in es.xml version %ld (load "
               "the current es.xml with 'kvmove config load')\n",
               req->guest, version);
    if (src == NULL && ++bad)
        printf("Check source_host_defined failed: KVM host %s is not defined in es.xml version "
               "%ld\n",
               req->src_host, version);
    if (tgt == NULL && ++bad)
        printf("Check target_host_defined failed: KVM host %s is not defined in es.xml version "
               "%ld\n",
               req->tgt_host, version);
    if (!req->has_step && g && src && placed != src && ++bad)
        printf("Check guest_on_source failed: guest %s is placed on %s in es.xml version %ld, "
               "not on %s\n",
               req->guest, placed ? placed->hostname : "no host", version, req->src_host);
    if (bad) {
        printf("Action validation failed: %d check%s failed; nothing was published\n", bad,
               bad == 1 ? "" : "s");
        rc = EXIT_FAILED;
        goto out;
    }
    if (esxml_action_add(doc, command, &id, err, sizeof(err)) != 0 ||
        esxml_dump(doc, &out, &len, err, sizeof(err)) != 0 ||
        jobstore_config_store(js, esxml_system_name(doc), "migration-merged", out, command, &newv,
                              err, sizeof(err)) != 0) {
        fprintf(stderr, "kvmove: %s\n", err);
        rc = EXIT_UNREACHABLE;
        goto out;
    }
    printf("Merging MIGRATE GUEST\nAction Validated and Merged OK (action %d, es.xml version "
           "%ld)\n",
           id, newv);
    rc = 0;
out:
    esxml_free(doc);
    free(out);
    free(buf);
    jobstore_close(js);
    return rc;
}

static int cmd_submit(cli *c, int argc, char **argv)
{
    static const struct option opts[] = {
        {"guest", required_argument, NULL, 'g'},   {"mode", required_argument, NULL, 'm'},
        {"src", required_argument, NULL, 's'},     {"tgt", required_argument, NULL, 't'},
        {"step", required_argument, NULL, 'S'},    {"wait", no_argument, NULL, 'w'},
        {"timeout", required_argument, NULL, 'T'}, {"no-validate", no_argument, NULL, 'n'},
        {"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0}};
    request req;
    char err[1024], command[1200];
    int ch, wait = 0, timeout_s = 0, validate = 1, rc;

    request_init(&req);
    optind = 0;
    while ((ch = getopt_long(argc, argv, "g:m:s:t:S:wh", opts, NULL)) != -1) {
        switch (ch) {
        case 'g':
            util_strlcpy(req.guest, optarg, sizeof(req.guest));
            break;
        case 'm':
            if (mode_from_string(optarg, &req.mode) != 0)
                return usage_error("submit", "--mode must be offline or offlineforce, not '%s'",
                                   optarg);
            break;
        case 's':
            util_strlcpy(req.src_host, optarg, sizeof(req.src_host));
            break;
        case 't':
            util_strlcpy(req.tgt_host, optarg, sizeof(req.tgt_host));
            break;
        case 'S':
            if (step_from_string(optarg, &req.step) != 0)
                return usage_error("submit", "unknown step '%s' (see 'kvmove submit --help')",
                                   optarg);
            req.has_step = 1;
            break;
        case 'w':
            wait = 1;
            break;
        case 'T':
            timeout_s = atoi(optarg);
            break;
        case 'n':
            validate = 0;
            break;
        case 'h':
            printf("Usage: kvmove submit --guest G --mode offline|offlineforce --src S --tgt T\n"
                   "                     [--step STEP] [--wait] [--timeout SEC] [--no-validate]\n"
                   "   or: kvmove submit \"MIGRATE GUEST HOSTNAME=G MODE=OFFLINE SRCHOST=S "
                   "TGTHOST=T [WHERE STEPNAME=STEP]\"\n"
                   "Validate a migration against the stored es.xml (MERGE ACTIONS), publish it to\n"
                   "kvmove.requests and, with --wait, follow its progress until it ends.\n\n"
                   "Steps: STOP_GUEST DETACH_INTERFACES DETACH_VOLUMES ATTACH_VOLUMES\n"
                   "       CREATE_BRIDGES MIGRATE_GUEST REMOVE_BRIDGES REMOVE_NAT_BRIDGE_SRC\n"
                   "       CREATE_NAT_BRIDGE_TGT ATTACH_INTERFACES STARTUP_GUEST\n\n"
                   "Exit status: 0 done (or published), 1 job or validation failed, 2 usage,\n"
                   "3 broker or database unreachable.\n");
            return EXIT_DONE;
        default:
            return usage_error("submit", "%s", "invalid option");
        }
    }
    if (optind < argc) {
        if (optind + 1 != argc)
            return usage_error("submit", "%s",
                               "give the MIGRATE GUEST command as one quoted argument");
        if (request_parse_command(argv[optind], &req, err, sizeof(err)) != 0)
            return usage_error("submit", "%s", err);
    }
    if (request_validate(&req, err, sizeof(err)) != 0)
        return usage_error("submit", "%s", err);
    snprintf(command, sizeof(command),
             "MIGRATE GUEST HOSTNAME=%s MODE=%s SRCHOST=%s TGTHOST=%s%s%s", req.guest,
             mode_to_string(req.mode), req.src_host, req.tgt_host,
             req.has_step ? " WHERE STEPNAME=" : "", req.has_step ? step_to_string(req.step) : "");
    if (validate && (rc = merge_action(c, &req, command)) != 0)
        return rc;
    return publish(c, &req, wait, timeout_s);
}

static int cmd_replay(cli *c, int argc, char **argv)
{
    static const struct option opts[] = {{"from-step", required_argument, NULL, 'f'},
                                         {"step", required_argument, NULL, 'S'},
                                         {"wait", no_argument, NULL, 'w'},
                                         {"timeout", required_argument, NULL, 'T'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    request req;
    char err[1024];
    int ch, wait = 0, timeout_s = 0;

    request_init(&req);
    req.action = ACTION_REPLAY;
    optind = 0;
    while ((ch = getopt_long(argc, argv, "wh", opts, NULL)) != -1) {
        switch (ch) {
        case 'f':
            if (step_from_string(optarg, &req.from_step) != 0)
                return usage_error("replay", "unknown step '%s'", optarg);
            req.has_from_step = 1;
            break;
        case 'S':
            if (step_from_string(optarg, &req.step) != 0)
                return usage_error("replay", "unknown step '%s'", optarg);
            req.has_step = 1;
            break;
        case 'w':
            wait = 1;
            break;
        case 'T':
            timeout_s = atoi(optarg);
            break;
        case 'h':
            printf("Usage: kvmove replay JOB [--from-step STEP | --step STEP] [--wait]\n"
                   "Resume a failed job as a new attempt linked to it: from its failed step\n"
                   "(default), from STEP, or run STEP alone (the spec's WHERE STEPNAME=).\n");
            return EXIT_DONE;
        default:
            return usage_error("replay", "%s", "invalid option");
        }
    }
    if (optind + 1 != argc)
        return usage_error("replay", "%s", "name exactly one job id (see 'kvmove jobs')");
    util_strlcpy(req.job_id, argv[optind], sizeof(req.job_id));
    if (request_validate(&req, err, sizeof(err)) != 0)
        return usage_error("replay", "%s", err);
    return publish(c, &req, wait, timeout_s);
}

static int cmd_config(cli *c, int argc, char **argv)
{
    char err[1024], xsd[1100], *buf = NULL;
    jobstore *js = NULL;
    esxml *doc = NULL;
    long version = 0;
    int rc;

    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        printf("Usage: kvmove config load FILE | save FILE [--version N] | list [--json]\n"
               "Store es.xml versions (LOAD FILE), write one out (SAVE FILE), list them.\n");
        return argc < 2 ? EXIT_USAGE : EXIT_DONE;
    }
    snprintf(xsd, sizeof(xsd), "%s/es.xsd", c->s.schema_dir);
    if (strcmp(argv[1], "load") == 0) {
        if (argc != 3)
            return usage_error("config", "%s", "load takes one FILE");
        if (esxml_load_file(argv[2], xsd, &doc, err, sizeof(err)) != 0) {
            fprintf(stderr, "kvmove: %s\n", err);
            return EXIT_FAILED;
        }
        {
            char *text;
            size_t len;
            if (esxml_dump(doc, &text, &len, err, sizeof(err)) != 0) {
                fprintf(stderr, "kvmove: %s\n", err);
                esxml_free(doc);
                return EXIT_FAILED;
            }
            if ((rc = open_store(c, &js)) == 0) {
                if (jobstore_config_store(js, esxml_system_name(doc), "loaded", text, argv[2],
                                          &version, err, sizeof(err)) != 0) {
                    fprintf(stderr, "kvmove: %s\n", err);
                    rc = EXIT_UNREACHABLE;
                } else {
                    printf("File : %s loaded OK as es.xml version %ld (system %s, %zu KVM hosts, "
                           "%zu guests)\n",
                           argv[2], version, esxml_system_name(doc), esxml_host_count(doc),
                           esxml_guest_count(doc));
                }
            }
            free(text);
        }
        esxml_free(doc);
        jobstore_close(js);
        return rc;
    }
    if (strcmp(argv[1], "save") == 0) {
        FILE *f;
        if (argc != 3 && !(argc == 5 && strcmp(argv[3], "--version") == 0))
            return usage_error("config", "%s", "save takes FILE [--version N]");
        if (argc == 5)
            version = atol(argv[4]);
        if ((rc = open_store(c, &js)) != 0)
            return rc;
        rc = jobstore_config_get(js, version, &buf, &version, NULL, err, sizeof(err));
        jobstore_close(js);
        if (rc != 0) {
            fprintf(stderr, "kvmove: %s\n", err);
            return rc == -JOBSTORE_ENOTFOUND ? EXIT_FAILED : EXIT_UNREACHABLE;
        }
        f = fopen(argv[2], "w");
        if (f == NULL || fputs(buf, f) < 0 || fclose(f) != 0) {
            fprintf(stderr, "kvmove: cannot write %s: %s\n", argv[2], strerror(errno));
            free(buf);
            return EXIT_FAILED;
        }
        free(buf);
        printf("File : %s saved OK (es.xml version %ld)\n", argv[2], version);
        return EXIT_DONE;
    }
    if (strcmp(argv[1], "list") == 0) {
        json_t *list;
        size_t i;
        json_t *v;
        if ((rc = open_store(c, &js)) != 0)
            return rc;
        rc = jobstore_config_list(js, &list, err, sizeof(err));
        jobstore_close(js);
        if (rc != 0) {
            fprintf(stderr, "kvmove: %s\n", err);
            return EXIT_UNREACHABLE;
        }
        if (c->json || (argc > 2 && strcmp(argv[2], "--json") == 0)) {
            print_json(list);
        } else {
            printf("%-8s %-10s %-20s %-32s %s\n", "VERSION", "SYSTEM", "STATE", "CREATED", "NOTE");
            json_array_foreach(list, i, v)
                printf("%-8lld %-10s %-20s %-32s %s\n",
                       (long long)json_integer_value(json_object_get(v, "version")),
                       jstr(v, "system"), jstr(v, "state"), jstr(v, "created_at"), jstr(v, "note"));
        }
        json_decref(list);
        return EXIT_DONE;
    }
    return usage_error("config", "unknown config command '%s'", argv[1]);
}

static int cmd_status(cli *c, int argc, char **argv)
{
    char err[1024];
    jobstore *js = NULL;
    json_t *j, *v;
    size_t i;
    int rc;

    if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        printf("Usage: kvmove status JOB [--json]\nShow a job, its preflight results and each "
               "step with state, host, start, duration and message.\n");
        return EXIT_DONE;
    }
    if (argc == 3 && strcmp(argv[2], "--json") == 0)
        c->json = 1;
    else if (argc != 2)
        return usage_error("status", "%s", "name one job id (see 'kvmove jobs')");
    if ((rc = open_store(c, &js)) != 0)
        return rc;
    rc = jobstore_job_get_json(js, argv[1], &j, err, sizeof(err));
    jobstore_close(js);
    if (rc != 0) {
        fprintf(stderr, "kvmove: %s\n", err);
        return rc == -JOBSTORE_ENOTFOUND ? EXIT_FAILED : EXIT_UNREACHABLE;
    }
    if (c->json) {
        print_json(j);
    } else {
        printf("Job %s (attempt %lld%s%s): %s\n", jstr(j, "id"),
               (long long)json_integer_value(json_object_get(j, "attempt")),
               json_is_string(json_object_get(j, "replay_of")) ? ", replay of " : "",
               jstr(j, "replay_of"), jstr(j, "status"));
        printf("  %s from %s to %s, MODE=%s%s%s\n", jstr(j, "guest"), jstr(j, "src_host"),
               jstr(j, "tgt_host"), jstr(j, "mode"),
               json_is_string(json_object_get(j, "only_step")) ? ", WHERE STEPNAME=" : "",
               jstr(j, "only_step"));
        if (*jstr(j, "error"))
            printf("  error: %s\n", jstr(j, "error"));
        printf("Preflight:\n");
        json_array_foreach(json_object_get(j, "preflight"), i, v)
            printf("  %-28s %-8s %s\n", jstr(v, "check"), jstr(v, "status"), jstr(v, "message"));
        printf("Steps:\n");
        json_array_foreach(json_object_get(j, "steps"), i, v)
        {
            json_t *el = json_object_get(v, "elapsed_ms");
            char dur[32] = "";
            if (json_is_integer(el))
                snprintf(dur, sizeof(dur), "%.1fs", (double)json_integer_value(el) / 1000.0);
            printf("  %-24s %-10s %-26s %-26.26s %7s  %s\n", jstr(v, "step"), jstr(v, "status"),
                   jstr(v, "host"), jstr(v, "started_at"), dur, jstr(v, "message"));
        }
    }
    rc = strcmp(jstr(j, "status"), "failed") == 0 || strcmp(jstr(j, "status"), "rejected") == 0
             ? EXIT_FAILED
             : EXIT_DONE;
    json_decref(j);
    return rc;
}

static int cmd_jobs(cli *c, int argc, char **argv)
{
    static const struct option opts[] = {{"status", required_argument, NULL, 's'},
                                         {"guest", required_argument, NULL, 'g'},
                                         {"since", required_argument, NULL, 'S'},
                                         {"limit", required_argument, NULL, 'l'},
                                         {"json", no_argument, NULL, 'j'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *status = NULL, *guest = NULL, *since = NULL;
    int ch, limit = 100, rc;
    char err[1024];
    jobstore *js = NULL;
    json_t *list, *v;
    size_t i;
    job_status st;

    optind = 0;
    while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (ch) {
        case 's':
            if (job_status_from_string(optarg, &st) != 0)
                return usage_error("jobs",
                                   "unknown status '%s' (queued, running, succeeded, "
                                   "failed, rejected)",
                                   optarg);
            status = optarg;
            break;
        case 'g':
            guest = optarg;
            break;
        case 'S':
            since = optarg;
            break;
        case 'l':
            limit = atoi(optarg);
            break;
        case 'j':
            c->json = 1;
            break;
        case 'h':
            printf("Usage: kvmove jobs [--status S] [--guest G] [--since TIME] [--limit N] "
                   "[--json]\nList jobs, newest first.\n");
            return EXIT_DONE;
        default:
            return usage_error("jobs", "%s", "invalid option");
        }
    }
    if ((rc = open_store(c, &js)) != 0)
        return rc;
    rc = jobstore_jobs_list_json(js, status, guest, since, limit, &list, err, sizeof(err));
    jobstore_close(js);
    if (rc != 0) {
        fprintf(stderr, "kvmove: %s\n", err);
        return EXIT_UNREACHABLE;
    }
    if (c->json) {
        print_json(list);
    } else {
        printf("%-36s %-24s %-10s %-24s %-24s %-7s %s\n", "JOB", "GUEST", "STATUS", "FROM", "TO",
               "ATTEMPT", "STEP");
        json_array_foreach(list, i, v) printf(
            "%-36s %-24s %-10s %-24s %-24s %-7lld %s\n", jstr(v, "id"), jstr(v, "guest"),
            jstr(v, "status"), jstr(v, "src_host"), jstr(v, "tgt_host"),
            (long long)json_integer_value(json_object_get(v, "attempt")), jstr(v, "current_step"));
    }
    json_decref(list);
    return EXIT_DONE;
}

static int cmd_events(cli *c, int argc, char **argv)
{
    bus_consumer *cons = NULL;
    bus_props props = props_of(c);
    char err[1024];
    int follow = 0, i, idle = 0;

    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--follow") == 0 || strcmp(argv[i], "-f") == 0)
            follow = 1;
        else if (strcmp(argv[i], "--help") == 0) {
            printf("Usage: kvmove events [--follow]\nPrint every CloudEvent on kvmove.events, one "
                   "JSON object per line; --follow keeps waiting for new ones.\n");
            return EXIT_DONE;
        } else
            return usage_error("events", "unknown option '%s'", argv[i]);
    }
    if (bus_consumer_new_from_start(c->s.brokers, &props, BUS_TOPIC_EVENTS, &cons, err,
                                    sizeof(err)) != 0) {
        fprintf(stderr, "kvmove: %s\n", err);
        return EXIT_UNREACHABLE;
    }
    while (running) {
        bus_message m;
        int got = bus_consumer_poll(cons, 200, &m, err, sizeof(err));
        if (got < 0) {
            fprintf(stderr, "kvmove: %s\n", err);
            bus_consumer_close(cons);
            return EXIT_UNREACHABLE;
        }
        if (got == 0) {
            if (!follow && ++idle >= 5)
                break;
            continue;
        }
        idle = 0;
        if (m.value) {
            fwrite(m.value, 1, m.len, stdout);
            fputc('\n', stdout);
            fflush(stdout);
        }
    }
    bus_consumer_close(cons);
    return EXIT_DONE;
}

typedef struct verb {
    const char *name;
    int (*fn)(cli *c, int argc, char **argv);
    const char *help;
} verb;

static const verb verbs[] = {
    {"submit", cmd_submit, "validate and publish a migration request (--wait to follow it)"},
    {"replay", cmd_replay, "resume a failed job from its failed step, --from-step or --step"},
    {"status", cmd_status, "show a job with its preflight results and steps"},
    {"jobs", cmd_jobs, "list jobs (--status, --guest, --since)"},
    {"events", cmd_events, "print the CloudEvents on kvmove.events (--follow)"},
    {"config", cmd_config, "es.xml versions: load FILE, save FILE, list"},
};

static void usage(void)
{
    size_t i;

    printf("Usage: kvmove [OPTION]... COMMAND [ARG]...\n"
           "Move KVM guests between KVM hosts offline, through Kafka and kvmove workers.\n\n"
           "Commands:\n");
    for (i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
        printf("  %-10s %s\n", verbs[i].name, verbs[i].help);
    printf("\nOptions:\n"
           "  -c, --config=FILE   configuration file (default $KVMOVE_CONFIG or\n"
           "                      /etc/kvmove/kvmove.conf)\n"
           "  -b, --brokers=LIST  Kafka bootstrap servers (KVMOVE_BROKERS)\n"
           "  -X KEY=VALUE        librdkafka property (repeatable)\n"
           "      --db=CONNINFO   PostgreSQL conninfo (KVMOVE_DB; PG* variables honoured)\n"
           "  -o, --set=KEY=VALUE any configuration key\n"
           "      --json          machine-readable output\n"
           "  -h, --help          show this help and exit\n\n"
           "Exit status: 0 done, 1 job or validation failed, 2 usage error,\n"
           "3 broker or database unreachable.\n"
           "Run 'kvmove COMMAND --help' for a command's options.\n");
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
                                         {"brokers", required_argument, NULL, 'b'},
                                         {"db", required_argument, NULL, 'd'},
                                         {"set", required_argument, NULL, 'o'},
                                         {"json", no_argument, NULL, 'J'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    cli c;
    char *flags[128], err[1024];
    size_t n_flags = 0, i;
    const char *config = NULL;
    int ch, rc = EXIT_USAGE;
    struct sigaction sa;

    memset(&c, 0, sizeof(c));
    /* '+': stop at the command; its own options follow it. */
    while ((ch = getopt_long(argc, argv, "+c:b:X:o:h", opts, NULL)) != -1) {
        char *f = NULL;
        int n = 0;
        switch (ch) {
        case 'c':
            config = optarg;
            break;
        case 'b':
            n = asprintf(&f, "brokers=%s", optarg);
            break;
        case 'd':
            n = asprintf(&f, "db=%s", optarg);
            break;
        case 'X':
            n = asprintf(&f, "kafka.%s", optarg);
            break;
        case 'o':
            f = strdup(optarg);
            break;
        case 'J':
            c.json = 1;
            break;
        case 'h':
            usage();
            return EXIT_DONE;
        default:
            fprintf(stderr, "Try 'kvmove --help' for more information.\n");
            return EXIT_USAGE;
        }
        (void)n;
        if (f && n_flags < sizeof(flags) / sizeof(flags[0]))
            flags[n_flags++] = f;
    }
    if (optind >= argc) {
        fprintf(stderr, "kvmove: no command given\nTry 'kvmove --help' for more information.\n");
        goto out;
    }
    if (settings_resolve(&c.s, config, (const char *const *)flags, n_flags, err, sizeof(err)) !=
        0) {
        fprintf(stderr, "kvmove: %s\nTry 'kvmove --help' for more information.\n", err);
        goto out;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    for (i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++) {
        if (strcmp(argv[optind], verbs[i].name) == 0) {
            rc = verbs[i].fn(&c, argc - optind, argv + optind);
            goto out;
        }
    }
    fprintf(stderr, "kvmove: unknown command '%s'\nTry 'kvmove --help' for more information.\n",
            argv[optind]);
out:
    while (n_flags > 0)
        free(flags[--n_flags]);
    settings_clear(&c.s);
    return rc;
}
