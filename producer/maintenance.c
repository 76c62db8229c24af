/* maintenance: the round trip after kvmove evacuate: `kvmove return` moves the guests back,
 * `kvmove evacuations` lists what each evacuation moved. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "esxml.h"
#include "sysconfig.h"
#include "util.h"

#define RETURN_MAX 512

static int view_evacuations(jobstore *js, const void *host, json_t **out, char *errstr,
                            size_t errstr_size)
{
    return jobstore_evacuations_json(js, host, out, errstr, errstr_size);
}

int cmd_evacuations(cli *c, int argc, char **argv)
{
    const char *host = NULL;
    const cli_opt opts[] = {CLI_TEXT("host", &host), CLI_FLAG("json", &c->json)};
    json_t *list = NULL, *e, *mv;
    size_t i, k;
    int rc;

    if ((rc = cli_parse(
             "evacuations", opts, CLI_NOPTS(opts),
             "Usage: kvmove evacuations [--host H] [--json]\n"
             "The evacuations (kvmove evacuate), newest first: host, reason, when, whether\n"
             "its guests were returned, and each guest's move (target, job, status) and\n"
             "move back (kvmove return).\n",
             0, argc, argv)) != CLI_GO_ON ||
        (rc = cli_view(c, view_evacuations, host, &list)) != CLI_GO_ON)
        return rc;
    json_array_foreach(list, i, e)
    {
        printf("Evacuation %lld of %s at %s by %s%s%s%s%s\n",
               (long long)json_integer_value(json_object_get(e, "id")), jshown(e, "host"),
               jshown(e, "created_at"), jshown(e, "requested_by"), jstr(e, "reason")[0] ? ": " : "",
               jshown(e, "reason"), jstr(e, "returned_at")[0] ? ", returned at " : "",
               jshown(e, "returned_at"));
        json_array_foreach(json_object_get(e, "moves"), k, mv)
            printf("  %-32s -> %-32s %-10s %s%s%s\n", jshown(mv, "guest"),
                   jstr(mv, "to_host")[0] ? jshown(mv, "to_host") : "(not moved)",
                   jstr(mv, "status")[0] ? jshown(mv, "status") : "-",
                   jstr(mv, "message")[0] ? jshown(mv, "message") : "",
                   jstr(mv, "return_status")[0] ? "  back: " : "", jshown(mv, "return_status"));
    }
    json_decref(list);
    return EXIT_DONE;
}

/* One guest to move back: its request, and how it ended. */
typedef struct back {
    request req;
    char status[16]; /* "" while running */
} back;

/* Waits for the jobs of the N moves back B (PostgreSQL, up to TIMEOUT_S seconds). Returns the
 * number that did not succeed. */
static size_t wait_backs(cli *c, jobstore *js, back *b, size_t n, int timeout_s)
{
    int64_t t0 = util_now_ms();
    size_t i, left = n, failed = 0;
    char err[512];

    while (left > 0 && cli_running && util_now_ms() - t0 < (int64_t)timeout_s * 1000) {
        for (i = 0; i < n; i++) {
            json_t *j = NULL;
            job_status st;
            if (b[i].status[0] ||
                jobstore_job_get_json(js, b[i].req.request_id, &j, err, sizeof(err)) != 0)
                continue;
            if (job_status_from_string(jstr(j, "status"), &st) == 0 && job_status_is_final(st)) {
                util_strlcpy(b[i].status, jstr(j, "status"), sizeof(b[i].status));
                left--;
                if (st != JOB_SUCCEEDED)
                    failed++;
                if (!c->json)
                    printf("%-32s -> %-32s %s%s%s\n", b[i].req.guest, b[i].req.tgt_host,
                           b[i].status, jstr(j, "error")[0] ? ": " : "", jshown(j, "error"));
                fflush(stdout);
            }
            json_decref(j);
        }
        if (left > 0)
            usleep(200 * 1000);
    }
    return failed + left;
}

int cmd_return(cli *c, int argc, char **argv)
{
    const char *host = NULL, *reason = NULL;
    int rc, timeout_s = 600;
    const cli_opt opts[] = {
        CLI_NEEDED("host", &host, "name the evacuated KVM host with --host H"),
        CLI_TEXT("reason", &reason),
        CLI_INT("timeout", &timeout_s, 0, CLI_TIMEOUT_MAX),
    };
    jobstore *js = NULL;
    jobstore_machine hm;
    esxml *doc = NULL;
    json_t *moves = NULL, *mv, *out = NULL;
    back *b = NULL;
    char err[1024];
    long evac = 0, version = 0;
    size_t i, n = 0, bad = 0;

    if ((rc = cli_parse(
             "return", opts, CLI_NOPTS(opts),
             "Usage: kvmove return --host H [--reason TEXT] [--timeout SEC] [--json]\n"
             "Move back the guests the newest evacuation of KVM host H (kvmove evacuate)\n"
             "moved off it, those still where it put them, OFFLINE, each a migration with\n"
             "the usual preflight (placement checks included); waits for them (default\n"
             "600 s). The evacuation is marked returned once every guest is back.\n"
             "Exit status: 0 every guest moved back, 1 some did not, 2 usage, 3 broker or\n"
             "database unreachable.\n",
             0, argc, argv)) != CLI_GO_ON)
        return rc;
    if ((rc = open_store(c, &js)) != 0)
        return rc;
    if (jobstore_config_machine(js, host, &hm, err, sizeof(err)) <= 0 || hm.is_guest) {
        rc = usage_error("return", "%s is not a KVM host of any stored es.xml system", host);
        goto out;
    }
    if (sysconfig_load(js, hm.system, 0, c->s.schema_dir, &doc, &version, err, sizeof(err)) != 0 ||
        jobstore_evacuation_returnable(js, hm.hostname, &evac, &moves, err, sizeof(err)) != 0) {
        fprintf(stderr, "kvmove: %s\n", err);
        rc = EXIT_FAILED;
        goto out;
    }
    if (evac == 0) {
        fprintf(stderr,
                "kvmove: no evacuation of %s is waiting for its guests (see 'kvmove "
                "evacuations')\n",
                hm.hostname);
        rc = EXIT_FAILED;
        goto out;
    }
    b = calloc(RETURN_MAX, sizeof(*b));
    out = json_array();
    if (b == NULL || out == NULL) {
        rc = EXIT_FAILED;
        goto out;
    }
    json_array_foreach(moves, i, mv)
    {
        const esxml_guest *g = esxml_guest_find(doc, jstr(mv, "guest"));
        const esxml_host *now = g ? esxml_guest_host(doc, g) : NULL;
        if (now == NULL || !esxml_name_equal(now->hostname, jstr(mv, "to_host"))) {
            /* Moved again since (or gone): not the evacuation's to undo. */
            if (!c->json)
                printf("%-32s    left alone: now on %s, not where evacuation %ld put it (%s)\n",
                       jshown(mv, "guest"), now ? shown(now->hostname) : "no host", evac,
                       jshown(mv, "to_host"));
            continue;
        }
        if (n == RETURN_MAX)
            break;
        request_init(&b[n].req);
        b[n].req.action = ACTION_RETURN;
        b[n].req.has_mode = 1;
        b[n].req.mode = MODE_OFFLINE;
        util_strlcpy(b[n].req.guest, g->hostname, sizeof(b[n].req.guest));
        util_strlcpy(b[n].req.src_host, now->hostname, sizeof(b[n].req.src_host));
        util_strlcpy(b[n].req.tgt_host, jstr(mv, "from_host"), sizeof(b[n].req.tgt_host));
        util_strlcpy(b[n].req.system, hm.system, sizeof(b[n].req.system));
        if (reason)
            util_strlcpy(b[n].req.reason, reason, sizeof(b[n].req.reason));
        b[n].req.evacuation = evac;
        if (request_validate(&b[n].req, err, sizeof(err)) != 0) {
            rc = usage_error("return", "%s", err);
            goto out;
        }
        if ((rc = publish_quiet(c, &b[n].req)) != 0)
            goto out;
        if (jobstore_evacuation_returned(js, evac, g->hostname, b[n].req.request_id, err,
                                         sizeof(err)) != 0)
            fprintf(stderr, "kvmove: %s\n", err);
        if (!c->json)
            printf("%-32s -> %-32s published (job %s)\n", g->hostname, b[n].req.tgt_host,
                   b[n].req.request_id);
        n++;
    }
    fflush(stdout);
    bad = wait_backs(c, js, b, n, timeout_s);
    for (i = 0; i < n; i++)
        json_array_append_new(out,
                              json_pack("{s:s,s:s,s:s,s:s}", "guest", b[i].req.guest, "to_host",
                                        b[i].req.tgt_host, "job_id", b[i].req.request_id, "status",
                                        b[i].status[0] ? b[i].status : "running"));
    if (bad == 0 && jobstore_evacuation_returned(js, evac, NULL, NULL, err, sizeof(err)) != 0)
        fprintf(stderr, "kvmove: %s\n", err);
    if (c->json)
        print_json(out);
    else
        printf("Return from evacuation %ld of %s: %zu moved back, %zu not\n", evac, hm.hostname,
               n - bad, bad);
    rc = bad ? EXIT_FAILED : EXIT_DONE;
out:
    json_decref(moves);
    json_decref(out);
    free(b);
    esxml_free(doc);
    jobstore_close(js);
    return rc;
}
