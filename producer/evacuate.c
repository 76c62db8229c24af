/* evacuate: `kvmove evacuate` moves every guest off a KVM host, placing each by capacity. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli.h"
#include "esxml.h"
#include "sysconfig.h"
#include "event.h"
#include "util.h"

#define EVAC_MAX 256

typedef struct target {
    const esxml_host *host;
    long free_mb;     /* memory - guests placed there - memory reserved by active jobs */
    double free_cpus; /* cores x over-commit ratio - cores placed there - reserved */
} target;

typedef struct move {
    const esxml_guest *guest;
    const target *to;
    request req;
    int state; /* 0 waiting, 1 published, 2 succeeded, 3 failed */
    char outcome[600];
} move;

static long placed_memory(const esxml *doc, const esxml_host *h, int *cores)
{
    long mb = 0;
    size_t i;

    *cores = 0;
    for (i = 0; i < h->n_guests; i++) {
        const esxml_guest *g = esxml_guest_find_id(doc, h->guest_ids[i]);
        if (g) {
            mb += g->memory_mb;
            *cores += g->cores;
        }
    }
    return mb;
}

/* Fills T with the targets: the named ones (comma-separated) or every other KVM host. */
static int load_targets(cli *c, jobstore *js, const esxml *doc, const esxml_host *src,
                        const char *names, target *t, size_t *n)
{
    char err[512];
    size_t i;

    *n = 0;
    for (i = 0; i < esxml_host_count(doc) && *n < EVAC_MAX; i++) {
        const esxml_host *h = esxml_host_at(doc, i);
        long resv_mb = 0;
        int resv_cpus = 0, cores;
        if (h == src)
            continue;
        if (names && *names) {
            char list[2048], *tok, *save = NULL;
            int named = 0;
            util_strlcpy(list, names, sizeof(list));
            for (tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
                if (strcasecmp(tok, h->hostname) == 0)
                    named = 1;
            if (!named)
                continue;
        }
        if (jobstore_reserved_on(js, h->hostname, NULL, &resv_mb, &resv_cpus, err, sizeof(err)) !=
            0) {
            fprintf(stderr, "kvmove: %s\n", err);
            return EXIT_UNREACHABLE;
        }
        t[*n].host = h;
        t[*n].free_mb = h->memory_mb - placed_memory(doc, h, &cores) - resv_mb;
        t[*n].free_cpus = h->cores * c->s.vcpu_overcommit - cores - resv_cpus;
        (*n)++;
    }
    if (names && *names) { /* every named target must exist */
        char list[2048], *tok, *save = NULL;
        util_strlcpy(list, names, sizeof(list));
        for (tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
            const esxml_host *h = esxml_host_find(doc, tok);
            if (h == NULL || h == src)
                return usage_error("evacuate",
                                   h ? "target %s is the host being evacuated"
                                     : "target %s is not a KVM host in the stored es.xml",
                                   tok);
        }
    }
    return 0;
}

static int by_memory_desc(const void *a, const void *b)
{
    const move *x = a, *y = b;
    return (y->guest->memory_mb > x->guest->memory_mb) -
           (y->guest->memory_mb < x->guest->memory_mb);
}

/* Greedy placement: largest guests first, each on the target with the most free memory that
 * fits it (memory is never over-committed; vCPUs up to the configured ratio). */
static void place(move *m, size_t n, target *t, size_t nt)
{
    size_t i, k;

    qsort(m, n, sizeof(*m), by_memory_desc);
    for (i = 0; i < n; i++) {
        target *best = NULL;
        for (k = 0; k < nt; k++) {
            if (t[k].free_mb < m[i].guest->memory_mb || t[k].free_cpus < m[i].guest->cores)
                continue;
            if (best == NULL || t[k].free_mb > best->free_mb)
                best = &t[k];
        }
        if (best == NULL) {
            snprintf(m[i].outcome, sizeof(m[i].outcome),
                     "not moved: no target has %ld MiB and %d vCPUs free", m[i].guest->memory_mb,
                     m[i].guest->cores);
            m[i].state = 3;
            continue;
        }
        best->free_mb -= m[i].guest->memory_mb;
        best->free_cpus -= m[i].guest->cores;
        m[i].to = best;
    }
}

static int publish_move(cli *c, bus_producer *p, move *m, const esxml_host *src, int sequential)
{
    char err[1024], *payload;
    int rc;

    request_init(&m->req);
    util_strlcpy(m->req.guest, m->guest->hostname, sizeof(m->req.guest));
    util_strlcpy(m->req.src_host, src->hostname, sizeof(m->req.src_host));
    util_strlcpy(m->req.tgt_host, m->to->host->hostname, sizeof(m->req.tgt_host));
    m->req.mode = MODE_OFFLINE;
    m->req.sequential = sequential;
    payload = request_to_json(&m->req);
    if (payload == NULL)
        return EXIT_FAILED;
    if (cli_request_check(c, payload, err, sizeof(err)) != 0) {
        fprintf(stderr, "kvmove: request for %s: %s\n", m->guest->hostname, err);
        free(payload);
        return EXIT_FAILED;
    }
    rc = bus_produce_sync(p, BUS_TOPIC_REQUESTS, m->req.guest, payload, strlen(payload), NULL, 0,
                          15000, err, sizeof(err));
    free(payload);
    if (rc != 0)
        return cli_broker_error(c, "publish the request", err);
    m->state = 1;
    printf("%-32s -> %-32s published (job %s)\n", m->guest->hostname, m->to->host->hostname,
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
        printf("%-32s -> %-32s %s (%.1f s)\n", m[i].guest->hostname, m[i].to->host->hostname,
               m[i].outcome,
               (double)json_integer_value(json_object_get(data, "elapsed_ms")) / 1000.0);
        fflush(stdout);
        (*in_flight)--;
        break;
    }
    json_decref(ev);
    return 0;
}

int cmd_evacuate(cli *c, int argc, char **argv)
{
    static const struct option opts[] = {{"host", required_argument, NULL, 'H'},
                                         {"targets", required_argument, NULL, 't'},
                                         {"max-parallel", required_argument, NULL, 'p'},
                                         {"sequential", no_argument, NULL, 's'},
                                         {"dry-run", no_argument, NULL, 'n'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *host = NULL, *targets = NULL;
    int ch, max_parallel = 4, dry = 0, sequential = 0, rc = EXIT_DONE, failed = 0;
    char err[1024];
    jobstore *js = NULL;
    esxml *doc = NULL;
    const esxml_host *src;
    target *t = NULL;
    move *m = NULL;
    size_t nt = 0, n = 0, i, next = 0, in_flight = 0;
    bus_producer *p = NULL;
    bus_consumer *cons = NULL;
    bus_props props = props_of(c);

    optind = 0;
    while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (ch) {
        case 'H':
            host = optarg;
            break;
        case 't':
            targets = optarg;
            break;
        case 'p':
            if (cli_int_option("evacuate", "--max-parallel", optarg, 1, EVAC_MAX, &max_parallel))
                return EXIT_USAGE;
            break;
        case 's':
            sequential = 1;
            break;
        case 'n':
            dry = 1;
            break;
        case 'h':
            printf(
                "Usage: kvmove evacuate --host H [--targets T1,T2,..] [--max-parallel N]\n"
                "                       [--dry-run] [--sequential]\n"
                "Move every guest off KVM host H (e.g. for maintenance), OFFLINE. Each guest\n"
                "goes to the target with the most free memory that fits it (memory is never\n"
                "over-committed; vCPUs up to preflight.vcpu_overcommit), counting memory\n"
                "reserved by jobs in flight; at most N migrations run at once (default 4),\n"
                "and workers also cap running jobs per host (worker.max_jobs_per_host).\n"
                "Prints each guest's outcome; exits 0 when every guest moved, 1 otherwise.\n"
                "  --dry-run      print the placement only\n"
                "  --sequential   each migration in the spec's order, one operation at a time\n");
            return EXIT_DONE;
        default:
            return usage_error("evacuate", "%s", "invalid option");
        }
    }
    if (host == NULL || optind != argc)
        return usage_error("evacuate", "%s", "name the host to evacuate with --host H");
    if ((rc = open_store(c, &js)) != 0)
        return rc;
    if (sysconfig_load(js, 0, c->s.schema_dir, &doc, NULL, err, sizeof(err)) != 0) {
        fprintf(stderr, "kvmove: %s\n", err);
        rc = EXIT_FAILED;
        goto out;
    }
    src = esxml_host_find(doc, host);
    if (src == NULL) {
        rc = usage_error("evacuate", "%s is not a KVM host in the stored es.xml", host);
        goto out;
    }
    t = calloc(EVAC_MAX, sizeof(*t));
    m = calloc(EVAC_MAX, sizeof(*m));
    if (t == NULL || m == NULL) {
        rc = EXIT_FAILED;
        goto out;
    }
    if ((rc = load_targets(c, js, doc, src, targets, t, &nt)) != 0)
        goto out;
    for (i = 0; i < src->n_guests && n < EVAC_MAX; i++) {
        const esxml_guest *g = esxml_guest_find_id(doc, src->guest_ids[i]);
        if (g)
            m[n++].guest = g;
    }
    if (n == 0) {
        printf("%s has no guests; nothing to evacuate\n", src->hostname);
        goto out;
    }
    place(m, n, t, nt);
    printf("Evacuating %zu guest%s from %s (at most %d at once):\n", n, n == 1 ? "" : "s",
           src->hostname, max_parallel);
    for (i = 0; i < n; i++)
        printf("  %-32s %6ld MiB %3d vCPUs -> %s\n", m[i].guest->hostname, m[i].guest->memory_mb,
               m[i].guest->cores, m[i].to ? m[i].to->host->hostname : m[i].outcome);
    fflush(stdout);
    if (dry)
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
                if ((rc = publish_move(c, p, &m[next], src, sequential)) != 0)
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
    free(t);
    free(m);
    esxml_free(doc);
    jobstore_close(js);
    return rc;
}
