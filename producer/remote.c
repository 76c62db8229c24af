/* remote: the work the CLI asks a worker to do on the hosts (kvmove cleanup, submit --dry-run):
 * a signed probe request on kvmove.requests, then its row in table probes, read until it ends. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "util.h"

/* How often the probe's row is read while a worker runs it. */
#define POLL_MS 200

int cli_probe(cli *c, probe_request *p, int timeout_s, json_t **row)
{
    char err[1024], *payload = NULL;
    bus_producer *prod = NULL;
    bus_props props = props_of(c);
    cli_signature sig;
    jobstore *js = NULL;
    json_t *r = NULL;
    int64_t t0;
    int rc;

    *row = NULL;
    if (c->s.identity[0] != '\0') /* signed as this operator (cli_identify) */
        util_strlcpy(p->submitted_by, c->s.identity, sizeof(p->submitted_by));
    if ((payload = probe_to_json(p)) == NULL) {
        fprintf(stderr, "kvmove: the request cannot be written (out of memory)\n");
        return EXIT_FAILED;
    }
    if (cli_request_check(c, payload, err, sizeof(err)) != 0) {
        fprintf(stderr, "kvmove: %s\n", err);
        rc = EXIT_FAILED;
        goto out;
    }
    if ((rc = open_store(c, &js)) != 0 || (rc = cli_sign(c, payload, &sig)) != 0)
        goto out;
    if (bus_producer_new(c->s.brokers, &props, &prod, err, sizeof(err)) != 0 ||
        bus_produce_sync(prod, BUS_TOPIC_REQUESTS, p->request_id, payload, strlen(payload),
                         sig.headers, 2, 15000, err, sizeof(err)) != 0) {
        rc = cli_broker_error(c, "cannot publish the request to kvmove.requests", err);
        goto out;
    }
    t0 = util_now_ms();
    for (;;) {
        rc = jobstore_probe_json(js, p->request_id, &r, err, sizeof(err));
        if (rc != 0) {
            fprintf(stderr, "kvmove: %s\n", err);
            rc = EXIT_UNREACHABLE;
            goto out;
        }
        if (json_is_object(r) && strcmp(jstr(r, "status"), "queued") != 0 &&
            strcmp(jstr(r, "status"), "running") != 0)
            break;
        if (!cli_running || (timeout_s > 0 && util_now_ms() - t0 >= (int64_t)timeout_s * 1000)) {
            fprintf(stderr,
                    "kvmove: %s request %s: %s within %d s (is a kvmove-worker running? 'SELECT "
                    "* FROM probes' shows it once one takes it)\n",
                    probe_kind_to_string(p->kind), p->request_id,
                    json_is_object(r) ? "no worker finished it" : "no worker took it",
                    (int)((util_now_ms() - t0) / 1000));
            rc = EXIT_UNREACHABLE;
            goto out;
        }
        json_decref(r);
        r = NULL;
        usleep(POLL_MS * 1000);
    }
    if (strcmp(jstr(r, "status"), "rejected") == 0) {
        fprintf(stderr, "kvmove: %s request %s rejected: %s\n", probe_kind_to_string(p->kind),
                p->request_id, jshown(r, "error"));
        rc = EXIT_FAILED;
        goto out;
    }
    *row = r;
    r = NULL;
    rc = EXIT_DONE;
out:
    json_decref(r);
    bus_producer_close(prod);
    jobstore_close(js);
    free(payload);
    return rc;
}
