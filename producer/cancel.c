/* cancel: kvmove cancel (stop a job) and kvmove rollback (put a guest back on its source). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "util.h"

/* Polls the outcome of cancel request REQ (and, with FOLLOW, the job's end) in PostgreSQL for
 * up to TIMEOUT_S seconds (0: 60). Prints it; returns an exit code. */
static int cancel_wait(cli *c, const request *req, int follow, int timeout_s)
{
    int64_t t0 = util_now_ms(), limit = (int64_t)(timeout_s > 0 ? timeout_s : 60) * 1000;
    jobstore *js = NULL;
    json_t *o = NULL;
    char err[1024];
    int rc, got;

    if ((rc = open_store(c, &js)) != 0)
        return rc;
    for (;;) {
        json_decref(o);
        o = NULL;
        got = jobstore_cancel_get_json(js, req->request_id, &o, err, sizeof(err));
        if (got < 0) {
            fprintf(stderr, "kvmove: %s\n", err);
            rc = EXIT_UNREACHABLE;
            goto out;
        }
        /* --follow waits for a pending cancel's job to arrive (or the cancel to expire) too. */
        if (got > 0 && (!follow || (strcmp(jstr(o, "outcome"), "pending") != 0 &&
                                    (strcmp(jstr(o, "outcome"), "requested") != 0 ||
                                     (strcmp(jstr(o, "job_status"), "queued") != 0 &&
                                      strcmp(jstr(o, "job_status"), "running") != 0)))))
            break;
        if (!cli_running || util_now_ms() - t0 >= limit) {
            fprintf(stderr, "kvmove: %s (see 'kvmove status %s')\n",
                    got > 0 ? "stopped waiting before the job ended"
                            : "the cancel request was not recorded in time (is a worker running?)",
                    req->job_id);
            rc = EXIT_FAILED;
            goto out;
        }
        usleep(200 * 1000);
    }
    if (c->json)
        print_json(o);
    else if (strcmp(jstr(o, "outcome"), "pending") == 0)
        printf("%s\n", jshown(o, "message"));
    else {
        printf("Cancel of job %s: %s: %s\n", req->job_id, jshown(o, "outcome"),
               jshown(o, "message"));
        if (follow)
            printf("Job %s is %s\n", req->job_id, jshown(o, "job_status"));
        if (jstr(o, "rollback_job_id")[0])
            printf("Rollback job %s puts the guest back on its source\n",
                   jshown(o, "rollback_job_id"));
    }
    rc = strcmp(jstr(o, "outcome"), "rejected") == 0 ? EXIT_FAILED : EXIT_DONE;
out:
    json_decref(o);
    jobstore_close(js);
    return rc;
}

static const struct option cancel_opts[] = {
    CLI_JOB_VERB_OPTIONS,
    {"follow", no_argument, NULL, 'f'},
    CLI_OPTIONS_END,
};
static const job_verb cancel_verb = {
    "cancel",
    ACTION_CANCEL,
    cancel_opts,
    "r:wh",
    "Usage: kvmove cancel JOB [--reason TEXT] [--wait | --follow] [--timeout SEC]\n"
    "Cancel a job. A queued job never starts. A running job stops at its next\n"
    "step boundary: before its commit point (MIGRATE_GUEST done) it ends\n"
    "cancelled and a rollback job puts the guest back and starts it on its\n"
    "source; past it, the job completes forward (the guest is the target's).\n"
    "A job not recorded yet (its request still in Kafka) is cancelled when its\n"
    "request arrives, before anything runs; the cancel waits for it as long as\n"
    "the workers take a request (auth.max_age_s), then is rejected.\n"
    "--wait prints the outcome (cancelled, requested, pending, rejected) once a\n"
    "worker recorded it; --follow also waits for the job to arrive and end.\n\n"
    "Exit status: 0 published (or cancelled/requested/pending), 1 rejected or\n"
    "not seen in time, 2 usage, 3 broker or database unreachable.\n",
    NULL};

int cmd_cancel(cli *c, int argc, char **argv)
{
    request req;
    job_verb_args a;
    int rc = cli_job_verb(&cancel_verb, argc, argv, &req, &a);

    if (rc != CLI_GO_ON)
        return rc;
    if (!a.wait)
        return publish(c, &req, 0, 0);
    /* The request is published quietly: its outcome is what the operator wants to see. */
    rc = publish_quiet(c, &req);
    if (rc != EXIT_DONE)
        return rc;
    return cancel_wait(c, &req, a.follow, a.timeout_s);
}

static const struct option rollback_opts[] = {CLI_JOB_VERB_OPTIONS, CLI_OPTIONS_END};
static const job_verb rollback_verb = {
    "rollback",
    ACTION_ROLLBACK,
    rollback_opts,
    "r:wh",
    "Usage: kvmove rollback JOB [--reason TEXT] [--wait] [--timeout SEC]\n"
    "Undo a failed or cancelled job that has not reached its commit point\n"
    "(MIGRATE_GUEST): a new attempt linked to JOB, with its own steps, undoes\n"
    "the steps that ran in reverse (volumes, configuration mount and fstab entry\n"
    "and interfaces back on the source, the bridges it created on the target\n"
    "removed when no other guest uses them) and starts the guest on its source.\n"
    "Its steps observe the hosts first: run it again after any failure.\n\n"
    "Exit status: 0 done (or published), 1 rollback failed or rejected, 2 usage,\n"
    "3 broker or database unreachable.\n",
    NULL};

int cmd_rollback(cli *c, int argc, char **argv)
{
    return cli_job_verb_publish(c, &rollback_verb, argc, argv);
}
