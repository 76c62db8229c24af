/* submit: kvmove submit (flags or the spec's MIGRATE GUEST command), its dry run and MERGE ACTIONS.
 */
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
#include "sysconfig.h"
#include "event.h"
#include "jobstore.h"
#include "migrate.h"
#include "preflight.h"
#include "request.h"
#include "settings.h"
#include "util.h"

#include "cli.h"

/* How long submit --dry-run waits for a worker's answer when --timeout does not say. */
#define DRY_RUN_TIMEOUT_S 300

int cli_resolve(cli *c, jobstore *js, request *req)
{
    char err[1024];
    int rc = sysconfig_resolve(js, req, NULL, err, sizeof(err));

    (void)c;
    if (rc == 0 || rc == -JOBSTORE_ENOTFOUND)
        return 0; /* unknown names: the es.xml checks say what is missing */
    fprintf(stderr, "kvmove: %s\n", err);
    return rc == -JOBSTORE_EDB ? EXIT_UNREACHABLE : EXIT_FAILED;
}

/* The spec's command for REQ, as it is recorded in es.xml's actions. */
static void command_of(const request *req, char *buf, size_t size)
{
    snprintf(buf, size, "MIGRATE GUEST HOSTNAME=%s MODE=%s SRCHOST=%s TGTHOST=%s%s%s", req->guest,
             mode_to_string(req->mode), req->src_host, req->tgt_host,
             req->has_step ? " WHERE STEPNAME=" : "",
             req->has_step ? step_to_string(req->step) : "");
}

/* What merge_action adds to the newest version. */
typedef struct merge_ctx {
    const char *command;
    int id; /* the action's id, once added */
} merge_ctx;

/* sysconfig_edit_fn: records the merged (not deployed) action in DOC. */
static int add_action(void *ctx, esxml *doc, char *errstr, size_t errstr_size)
{
    merge_ctx *m = ctx;
    return esxml_action_add(doc, m->command, &m->id, errstr, errstr_size) == 0 ? 0 : -1;
}

/* The spec's MERGE ACTIONS: runs the es.xml-only preflight checks (lib/preflight) against the
 * newest es.xml of the request's system and records the merged (not deployed) action in a new
 * version, built from the newest at commit time (a merge or a deployment that committed
 * meanwhile is kept). Returns 0 when it validated. */
static int merge_action(cli *c, request *req)
{
    char err[1024], command[1200];
    jobstore *js = NULL;
    esxml *doc = NULL;
    preflight_input in;
    preflight_report *rep = NULL;
    sysconfig_change change;
    merge_ctx m = {command, 0};
    long version = 0, newv;
    int rc, i;

    if ((rc = open_store(c, &js)) != 0)
        return rc;
    if ((rc = cli_resolve(c, js, req)) != 0)
        goto out;
    command_of(req, command, sizeof(command));
    if (sysconfig_load(js, req->system[0] ? req->system : NULL, req->config_version,
                       c->s.schema_dir, &doc, &version, err, sizeof(err)) != 0) {
        fprintf(stderr, "kvmove: %s\n", err);
        rc = EXIT_FAILED;
        goto out;
    }
    preflight_input_for(&in, req, doc, version, c->s.vcpu_overcommit);
    rep = calloc(1, sizeof(*rep));
    if (rep == NULL || preflight_run(&in, rep, err, sizeof(err)) != 0) {
        fprintf(stderr, "kvmove: %s\n", rep ? err : "out of memory");
        rc = EXIT_FAILED;
        goto out;
    }
    for (i = 0; i < PREFLIGHT__COUNT; i++) {
        const preflight_result *r = &rep->results[i];
        if (r->status == PREFLIGHT_FAILED || r->status == PREFLIGHT_WARNING)
            printf("Check %s %s: %s\n", preflight_name(r->check),
                   r->status == PREFLIGHT_FAILED ? "failed" : "warning", shown(r->message));
    }
    if (!preflight_passed(rep)) {
        printf("Action validation failed: %d check%s failed; nothing was published\n",
               rep->n_failed, rep->n_failed == 1 ? "" : "s");
        rc = EXIT_FAILED;
        goto out;
    }
    sysconfig_change_init(&change, esxml_system_name(doc), "migration-merged", command,
                          c->s.schema_dir, add_action, &m);
    change.held = doc; /* no second parse when nothing was stored meanwhile */
    change.held_version = version;
    if ((rc = sysconfig_update(js, &change, &newv, err, sizeof(err))) != 0) {
        fprintf(stderr, "kvmove: %s\n", err);
        rc = rc == -JOBSTORE_EINVALID ? EXIT_FAILED : EXIT_UNREACHABLE;
        goto out;
    }
    printf("Merging MIGRATE GUEST\nAction Validated and Merged OK (action %d, es.xml version "
           "%ld of system %s)\n",
           m.id, newv, esxml_system_name(doc));
    rc = 0;
out:
    free(rep);
    esxml_free(doc);
    jobstore_close(js);
    return rc;
}

/* kvmove submit --dry-run: a worker runs the full preflight, live checks over SSH included, and
 * plans the steps (a signed dry_run request: the CLI holds no SSH key); this prints them.
 * Changes nothing on the hosts, starts no job. */
static int submit_dry_run(cli *c, request *req, int timeout_s)
{
    jobstore *js = NULL;
    probe_request p;
    json_t *row = NULL, *result, *v;
    size_t i;
    int rc, n = 0;

    if ((rc = open_store(c, &js)) != 0)
        return rc;
    rc = cli_resolve(c, js, req); /* the names as the worker will show them */
    jobstore_close(js);
    if (rc != 0)
        return rc;
    probe_init(&p, PROBE_DRY_RUN);
    p.migration = *req;
    if ((rc = cli_probe(c, &p, timeout_s, &row)) != EXIT_DONE)
        return rc;
    if (strcmp(jstr(row, "status"), "succeeded") != 0) {
        fprintf(stderr, "kvmove: %s\n", jshown(row, "error"));
        json_decref(row);
        return EXIT_FAILED;
    }
    result = json_object_get(row, "result");
    printf("Preflight of MIGRATE GUEST HOSTNAME=%s MODE=%s SRCHOST=%s TGTHOST=%s (es.xml version "
           "%lld of system %s):\n",
           req->guest, mode_to_string(req->mode), req->src_host, req->tgt_host,
           (long long)json_integer_value(json_object_get(result, "version")),
           jshown(result, "system"));
    json_array_foreach(json_object_get(result, "checks"), i, v)
        printf("  %-8s %-19s %s\n", jshown(v, "status"), jshown(v, "check"), jshown(v, "message"));
    if (!json_is_true(json_object_get(result, "passed"))) {
        int failed = (int)json_integer_value(json_object_get(result, "failed"));
        printf("Preflight failed: %d check%s failed. Dry run: nothing was changed or published.\n",
               failed, failed == 1 ? "" : "s");
        json_decref(row);
        return EXIT_FAILED;
    }
    /* The order the worker runs them in (migrate_plan). */
    printf("Plan:\n");
    json_array_foreach(json_object_get(result, "plan"), i, v) printf(
        "  %2d. %-22s on %s%s\n", ++n, jshown(v, "step"), jshown(v, "host"),
        json_is_true(json_object_get(v, "applies")) ? "" : " (skipped: not a cloud deployment)");
    printf("Dry run: nothing was changed or published.\n");
    json_decref(row);
    return EXIT_DONE;
}

/* The shell's MERGE ACTIONS validates exactly as submit does. */
int cli_merge_action(cli *c, request *req)
{
    return merge_action(c, req);
}

/* The step names for a help text (step.c's table), wrapped like the lines around them. */
static void print_steps(void)
{
    int i, col = printf("Steps:");

    for (i = 0; i < STEP__COUNT; i++) {
        const char *name = step_to_string((step_id)i);
        if (col + 1 + (int)strlen(name) > 78)
            col = printf("\n      ");
        col += printf(" %s", name);
    }
    printf("\n");
}

int cmd_submit(cli *c, int argc, char **argv)
{
    static const struct option opts[] = {{"guest", required_argument, NULL, 'g'},
                                         {"mode", required_argument, NULL, 'm'},
                                         {"src", required_argument, NULL, 's'},
                                         {"tgt", required_argument, NULL, 't'},
                                         {"step", required_argument, NULL, 'S'},
                                         {"wait", no_argument, NULL, 'w'},
                                         {"timeout", required_argument, NULL, 'T'},
                                         {"no-validate", no_argument, NULL, 'n'},
                                         {"dry-run", no_argument, NULL, 'D'},
                                         {"help", no_argument, NULL, 'h'},
                                         {"sequential", no_argument, NULL, 'Q'},
                                         {"system", required_argument, NULL, 'Y'},
                                         {"reason", required_argument, NULL, 'r'},
                                         {"target-state", required_argument, NULL, 'X'},
                                         {"on-failure", required_argument, NULL, 'F'},
                                         {"allow-colocation", no_argument, NULL, 'A'},
                                         {NULL, 0, NULL, 0}};
    request req;
    char err[1024];
    int ch, wait = 0, timeout_s = 0, validate = 1, dry_run = 0, rc;

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
            if (cli_int_option("submit", "--timeout", optarg, 0, CLI_TIMEOUT_MAX, &timeout_s))
                return EXIT_USAGE;
            break;
        case 'Q':
            req.sequential = 1;
            break;
        case 'Y':
            util_strlcpy(req.system, optarg, sizeof(req.system));
            break;
        case 'r':
            util_strlcpy(req.reason, optarg, sizeof(req.reason));
            break;
        case 'X':
            if (strcmp(optarg, "running") != 0 && strcmp(optarg, "stopped") != 0)
                return usage_error("submit", "--target-state must be running or stopped, not '%s'",
                                   optarg);
            req.has_target_state = 1;
            req.target_stopped = strcmp(optarg, "stopped") == 0;
            break;
        case 'F':
            if (strcmp(optarg, "stop") != 0 && strcmp(optarg, "rollback") != 0)
                return usage_error("submit", "--on-failure must be stop or rollback, not '%s'",
                                   optarg);
            req.has_on_failure = 1;
            req.on_failure_rollback = strcmp(optarg, "rollback") == 0;
            break;
        case 'A':
            req.allow_colocation = 1;
            break;
        case 'n':
            validate = 0;
            break;
        case 'D':
            dry_run = 1;
            break;
        case 'h':
            printf("Usage: kvmove submit --guest G --mode offline|offlineforce --src S --tgt T\n"
                   "                     [--step STEP] [--wait] [--timeout SEC] [--no-validate]\n"
                   "                     [--dry-run] [--sequential] [--system S]\n"
                   "                     [--reason TEXT] [--target-state running|stopped]\n"
                   "                     [--on-failure stop|rollback] [--allow-colocation]\n"
                   "   or: kvmove submit \"MIGRATE GUEST HOSTNAME=G MODE=OFFLINE SRCHOST=S "
                   "TGTHOST=T [WHERE STEPNAME=STEP]\"\n"
                   "Validate a migration against the stored es.xml (MERGE ACTIONS), publish it to\n"
                   "kvmove.requests and, with --wait, follow its progress until it ends.\n"
                   "--dry-run has a worker run the full preflight (es.xml and the hosts over SSH,\n"
                   "read-only; the right 'dry_run', no SSH key here) and prints the plan of\n"
                   "steps; nothing is changed and no job starts (--timeout: how long to wait for\n"
                   "the worker, default 300 s).\n"
                   "The request is for the es.xml system that names the guest (--system S names\n"
                   "it); names are taken as that es.xml spells them.\n"
                   "--reason is stored with the job and carried in its events.\n"
                   "--target-state=stopped leaves the guest defined (with autostart) but shut\n"
                   "off on the target. --on-failure=rollback: a failure before the commit point\n"
                   "(MIGRATE_GUEST) queues a rollback that puts the guest back on its source\n"
                   "(default stop: the job stays failed for 'kvmove replay').\n"
                   "--allow-colocation (needs --reason) lets the guest share its target with\n"
                   "another member of its VM cluster; the check warns, naming the reason.\n\n");
            print_steps();
            printf("\nExit status: 0 done (or published), 1 job or validation failed, 2 usage,\n"
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
    if (dry_run)
        return submit_dry_run(c, &req, timeout_s ? timeout_s : DRY_RUN_TIMEOUT_S);
    if (validate && (rc = merge_action(c, &req)) != 0)
        return rc;
    return publish(c, &req, wait, timeout_s);
}
