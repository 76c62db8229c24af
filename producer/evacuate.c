/* evacuate: `kvmove evacuate` moves every guest off a KVM host, each to a target where the
 * migration passes preflight. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli.h"
#include "esxml.h"
#include "evacplan.h"
#include "sysconfig.h"
#include "event.h"
#include "util.h"

#define EVAC_MAX 256 /* --max-parallel */
/* How long the CLI waits for a worker's plan. */
#define PLAN_TIMEOUT_S 300

typedef struct move {
    const esxml_guest *guest;
    const esxml_host *to; /* NULL: not moved */
    request req;
    int state; /* 0 waiting, 1 published, 2 succeeded, 3 failed */
    char outcome[600];
    char why[4096]; /* no valid target: each candidate's failing checks */
} move;

/* Asks a worker for the placement (a signed plan request: lib/evacplan.c runs there, where the
 * hosts' SSH key is) and reads it into M (room for SRC's guests, in DOC's terms): *N moves,
 * largest guest first, *VERSION the es.xml version planned against. Returns an exit code. */
static int plan_moves(cli *c, const esxml *doc, const esxml_host *src, const char *targets, move *m,
                      size_t *n, long *version)
{
    probe_request p;
    json_t *row = NULL, *res, *v;
    size_t i;
    int rc;

    *n = 0;
    probe_init(&p, PROBE_PLAN);
    util_strlcpy(p.host, src->hostname, sizeof(p.host));
    util_strlcpy(p.targets, targets ? targets : "", sizeof(p.targets));
    if ((rc = cli_probe(c, &p, PLAN_TIMEOUT_S, &row)) != EXIT_DONE)
        return rc;
    if (strcmp(jstr(row, "status"), "succeeded") != 0) {
        fprintf(stderr, "kvmove: %s\n", jshown(row, "error"));
        json_decref(row);
        return EXIT_FAILED;
    }
    res = json_object_get(row, "result");
    *version = (long)json_integer_value(json_object_get(res, "version"));
    json_array_foreach(json_object_get(res, "moves"), i, v)
    {
        move *x = &m[*n];
        if (*n >= src->n_guests || (x->guest = esxml_guest_find(doc, jstr(v, "guest"))) == NULL ||
            (jstr(v, "to")[0] && (x->to = esxml_host_find(doc, jstr(v, "to"))) == NULL)) {
            fprintf(stderr,
                    "kvmove: the plan names %s, which the newest es.xml does not have as this "
                    "plan says (changed meanwhile?); run kvmove evacuate again\n",
                    jshown(v, jstr(v, "to")[0] && x->guest ? "to" : "guest"));
            json_decref(row);
            return EXIT_FAILED;
        }
        util_strlcpy(x->outcome, jstr(v, "outcome"), sizeof(x->outcome));
        util_strlcpy(x->why, jstr(v, "why"), sizeof(x->why));
        if (x->to == NULL)
            x->state = 3;
        (*n)++;
    }
    json_decref(row);
    return EXIT_DONE;
}

static int publish_move(cli *c, bus_producer *p, move *m, const esxml *doc, const esxml_host *src,
                        int sequential, const char *reason, long evacuation)
{
    char err[1024], *payload;
    cli_signature sig;
    int rc;

    /* request_init was done when the evacuation was recorded (the move's job id is in it) */
    util_strlcpy(m->req.guest, m->guest->hostname, sizeof(m->req.guest));
    util_strlcpy(m->req.src_host, src->hostname, sizeof(m->req.src_host));
    util_strlcpy(m->req.tgt_host, m->to->hostname, sizeof(m->req.tgt_host));
    util_strlcpy(m->req.system, esxml_system_name(doc), sizeof(m->req.system));
    m->req.mode = MODE_OFFLINE;
    m->req.sequential = sequential;
    cli_identify(c, &m->req);
    if (reason)
        util_strlcpy(m->req.reason, reason, sizeof(m->req.reason));
    m->req.evacuation = evacuation;
    payload = request_to_json(&m->req);
    if (payload == NULL)
        return EXIT_FAILED;
    if (cli_request_check(c, payload, err, sizeof(err)) != 0) {
        fprintf(stderr, "kvmove: request for %s: %s\n", m->guest->hostname, err);
        free(payload);
        return EXIT_FAILED;
    }
    if ((rc = cli_sign(c, payload, &sig)) != 0) {
        free(payload);
        return rc;
    }
    rc = bus_produce_sync(p, BUS_TOPIC_REQUESTS, m->req.guest, payload, strlen(payload),
                          sig.headers, 2, 15000, err, sizeof(err));
    free(payload);
    if (rc != 0)
        return cli_broker_error(c, "publish the request", err);
    m->state = 1;
    printf("%-32s -> %-32s published (job %s)\n", m->guest->hostname, m->to->hostname,
           m->req.request_id);
    fflush(stdout);
    return 0;
}

/* Follows the events of the published moves; returns when none is left in flight. */
static int follow_moves(cli *c, bus_consumer *cons, move *m, size_t n, size_t *in_flight)
{
    char err[1024];
    bus_message msg;
    json_error_t jerr;
    int got = bus_consumer_poll(cons, 200, &msg, err, sizeof(err));
    json_t *ev, *data;
    const char *type, *job;
    size_t i;

    if (got < 0)
        return cli_broker_error(c, "follow the events", err);
    if (got == 0 || msg.value == NULL)
        return 0;
    ev = json_loadb(msg.value, msg.len, 0, &jerr);
    if (ev == NULL)
        return 0;
    data = json_object_get(ev, "data");
    type = event_short_type(jstr(ev, "type"));
    job = jstr(data, "job_id");
    for (i = 0; type && i < n; i++) {
        int ok;
        if (m[i].state != 1 || strcmp(m[i].req.request_id, job) != 0)
            continue;
        ok = strcmp(type, EVENT_JOB_SUCCEEDED) == 0;
        if (!ok && strcmp(type, EVENT_JOB_FAILED) != 0 && strcmp(type, EVENT_JOB_REJECTED) != 0)
            break;
        m[i].state = ok ? 2 : 3;
        /* kept as it is shown: the job's message may carry a host's words */
        snprintf(m[i].outcome, sizeof(m[i].outcome), "%s: %s", ok ? "moved" : "failed",
                 jshown(data, "message"));
        printf("%-32s -> %-32s %s (%.1f s)\n", m[i].guest->hostname, m[i].to->hostname,
               m[i].outcome,
               (double)json_integer_value(json_object_get(data, "elapsed_ms")) / 1000.0);
        fflush(stdout);
        (*in_flight)--;
        break;
    }
    json_decref(ev);
    return 0;
}

/* Records the evacuation of SRC with the plan's N moves M (kvmove return moves them back): each
 * move gets its request (and job) id now. *ID gets the evacuation's id. Returns an exit code. */
static int record(cli *c, jobstore *js, const esxml *doc, const esxml_host *src, move *m, size_t n,
                  const char *reason, long *id)
{
    jobstore_evacuation_move *rec = calloc(n ? n : 1, sizeof(*rec));
    char err[1024];
    size_t i;
    int rc;

    (void)c;
    if (rec == NULL)
        return EXIT_FAILED;
    for (i = 0; i < n; i++) {
        request_init(&m[i].req);
        util_strlcpy(rec[i].guest, m[i].guest->hostname, sizeof(rec[i].guest));
        util_strlcpy(rec[i].from_host, src->hostname, sizeof(rec[i].from_host));
        if (m[i].to) {
            util_strlcpy(rec[i].to_host, m[i].to->hostname, sizeof(rec[i].to_host));
            util_strlcpy(rec[i].job_id, m[i].req.request_id, sizeof(rec[i].job_id));
        } else {
            util_strlcpy(rec[i].message, m[i].outcome, sizeof(rec[i].message));
        }
    }
    rc = jobstore_evacuation_add(js, src->hostname, esxml_system_name(doc), reason,
                                 m[0].req.submitted_by, rec, n, id, err, sizeof(err));
    free(rec);
    if (rc != 0) {
        fprintf(stderr, "kvmove: cannot record the evacuation: %s\n", err);
        return EXIT_UNREACHABLE;
    }
    printf("Evacuation %ld recorded ('kvmove return --host %s' moves its guests back)\n", *id,
           src->hostname);
    return EXIT_DONE;
}

int cmd_evacuate(cli *c, int argc, char **argv)
{
    const char *host = NULL, *targets = NULL, *reason = NULL;
    int max_parallel = 4, dry = 0, sequential = 0, rc = EXIT_DONE, failed = 0;
    const cli_opt opts[] = {
        CLI_NEEDED("host", &host, "name the host to evacuate with --host H"),
        CLI_TEXT("targets", &targets),
        CLI_INT("max-parallel", &max_parallel, 1, EVAC_MAX),
        CLI_FLAG("sequential", &sequential),
        CLI_FLAG("dry-run", &dry),
        CLI_TEXT("reason", &reason),
    };
    char err[1024];
    jobstore *js = NULL;
    esxml *doc = NULL;
    const esxml_host *src;
    move *m = NULL;
    evacplan_input check;
    size_t n = 0, i, next = 0, in_flight = 0;
    bus_producer *p = NULL;
    bus_consumer *cons = NULL;
    bus_props props = props_of(c);
    jobstore_machine hm;
    long evacuation = 0, version = 0;

    if ((rc = cli_parse(
             "evacuate", opts, CLI_NOPTS(opts),
             "Usage: kvmove evacuate --host H [--targets T1,T2,..] [--max-parallel N]\n"
             "                       [--dry-run] [--sequential] [--reason TEXT]\n"
             "Move every guest off KVM host H (e.g. for maintenance), OFFLINE. Largest guests\n"
             "first, each goes to the target (of H's es.xml system) with the most free memory\n"
             "among those where the migration passes every preflight check, the hosts asked\n"
             "over SSH, memory reserved by jobs in flight and by the plan's earlier moves\n"
             "counted. A worker plans it (a signed plan request: the right 'evacuate'; the\n"
             "CLI needs no SSH key). A guest no target passes is not moved; the plan says\n"
             "which check failed on each. At most N migrations run at once (default 4), and\n"
             "workers also cap running jobs per host (worker.max_jobs_per_host).\n"
             "Prints each guest's outcome; exits 0 when every guest moved, 1 otherwise.\n"
             "  --dry-run      print the placement only\n"
             "  --sequential   each migration in the spec's order, one operation at a time\n"
             "  --reason TEXT  stored with each move's job and carried in its events\n",
             0, argc, argv)) != CLI_GO_ON)
        return rc;
    if ((rc = open_store(c, &js)) != 0)
        return rc;
    /* The host's system: its newest es.xml is the plan's. */
    if ((rc = jobstore_config_machine(js, host, &hm, err, sizeof(err))) < 0) {
        fprintf(stderr, "kvmove: %s\n", err);
        rc = EXIT_UNREACHABLE;
        goto out;
    }
    if (rc == 0 || hm.is_guest) {
        rc = usage_error("evacuate", "%s is not a KVM host of any stored es.xml system", host);
        goto out;
    }
    if (sysconfig_load(js, hm.system, 0, c->s.schema_dir, &doc, &version, err, sizeof(err)) != 0) {
        fprintf(stderr, "kvmove: %s\n", err);
        rc = EXIT_FAILED;
        goto out;
    }
    src = esxml_host_find(doc, host);
    if (src == NULL) {
        rc = usage_error("evacuate", "%s is not a KVM host in the stored es.xml", host);
        goto out;
    }
    memset(&check, 0, sizeof(check));
    check.doc = doc;
    check.src = src;
    check.targets = targets;
    if (evacplan_check_targets(&check, err, sizeof(err)) != 0) {
        rc = usage_error("evacuate", "%s", err);
        goto out;
    }
    if (src->n_guests == 0) {
        printf("%s has no guests; nothing to evacuate\n", src->hostname);
        goto out;
    }
    if ((m = calloc(src->n_guests + 1, sizeof(*m))) == NULL) {
        rc = EXIT_FAILED;
        goto out;
    }
    if ((rc = plan_moves(c, doc, src, targets, m, &n, &version)) != 0)
        goto out;
    if (n == 0) {
        printf("%s has no guests; nothing to evacuate\n", src->hostname);
        goto out;
    }
    printf("Evacuating %zu guest%s from %s (system %s, es.xml version %ld; at most %d at once):\n",
           n, n == 1 ? "" : "s", src->hostname, esxml_system_name(doc), version, max_parallel);
    for (i = 0; i < n; i++)
        printf("  %-32s %6ld MiB %3d vCPUs -> %s%s\n", m[i].guest->hostname, m[i].guest->memory_mb,
               m[i].guest->cores, m[i].to ? m[i].to->hostname : m[i].outcome,
               shown_lines(m[i].why));
    fflush(stdout);
    if (dry)
        goto out;
    if ((rc = record(c, js, doc, src, m, n, reason, &evacuation)) != 0)
        goto out;
    if (bus_consumer_new_tail(c->s.brokers, &props, BUS_TOPIC_EVENTS, &cons, err, sizeof(err)) !=
            0 ||
        bus_producer_new(c->s.brokers, &props, &p, err, sizeof(err)) != 0) {
        rc = cli_broker_error(c, "reach the broker", err);
        goto out;
    }
    while (cli_running) {
        while (in_flight < (size_t)max_parallel && next < n) {
            if (m[next].to != NULL && m[next].state == 0) {
                if ((rc = publish_move(c, p, &m[next], doc, src, sequential, reason, evacuation)) !=
                    0)
                    goto out;
                in_flight++;
            }
            next++;
        }
        if (in_flight == 0 && next >= n)
            break;
        if ((rc = follow_moves(c, cons, m, n, &in_flight)) != 0)
            goto out;
    }
    printf("Evacuation of %s:\n", src->hostname);
    for (i = 0; i < n; i++) {
        if (m[i].state != 2)
            failed++;
        printf("  %-32s %s\n", m[i].guest->hostname,
               m[i].state == 1 ? "still running (see 'kvmove jobs')" : m[i].outcome);
    }
    rc = failed ? EXIT_FAILED : EXIT_DONE;
out:
    bus_consumer_close(cons);
    bus_producer_close(p);
    free(m);
    esxml_free(doc);
    jobstore_close(js);
    return rc;
}
