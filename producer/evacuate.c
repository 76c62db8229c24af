/* evacuate: `kvmove evacuate` moves every guest off a KVM host, each to a target where the
 * migration passes preflight. */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli.h"
#include "esxml.h"
#include "hostsession.h"
#include "preflight.h"
#include "sysconfig.h"
#include "event.h"
#include "util.h"

#define EVAC_MAX 256 /* --max-parallel */

typedef struct target {
    const esxml_host *host;
    int asked;                   /* FACTS holds what the host said (asked once per plan) */
    preflight_facts facts;       /* from the first preflight against it */
    preflight_reservation *resv; /* in-flight reservations, then this plan's moves to it */
    size_t n_resv;
} target;

typedef struct move {
    const esxml_guest *guest;
    const target *to;
    request req;
    int state; /* 0 waiting, 1 published, 2 succeeded, 3 failed */
    char outcome[600];
    char *why; /* no valid target: each candidate's failing checks (malloc'd) */
} move;

/* The one planner's view of a target: the rules are preflight's (lib/preflight.c), with the
 * live answers of the hosts, the reservations of jobs in flight and this plan's earlier moves;
 * what is compared between valid targets is free memory (the host's answer when it gave one). */
typedef struct plan {
    cli *c;
    const esxml *doc;
    long version;
    const esxml_host *src;
    preflight_facts src_facts;
    int src_asked;
    hostsession *ssh;
} plan;

/* Fills T (room for every host) with the targets: the named ones (comma-separated) or every
 * other KVM host of the system, each with the memory jobs in flight reserve on it and room for
 * the plan's moves of SRC's guests. */
static int load_targets(jobstore *js, const esxml *doc, const esxml_host *src, const char *names,
                        target *t, size_t *n)
{
    char err[512];
    size_t i;

    *n = 0;
    for (i = 0; i < esxml_host_count(doc); i++) {
        const esxml_host *h = esxml_host_at(doc, i);
        jobstore_reservation *r = NULL;
        size_t nr = 0;
        if (h == src)
            continue;
        if (names && *names) {
            char list[2048], *tok, *save = NULL;
            int named = 0;
            util_strlcpy(list, names, sizeof(list));
            for (tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
                if (esxml_name_equal(tok, h->hostname))
                    named = 1;
            if (!named)
                continue;
        }
        if (jobstore_reservations_on(js, h->hostname, NULL, &r, &nr, err, sizeof(err)) != 0) {
            fprintf(stderr, "kvmove: %s\n", err);
            return EXIT_UNREACHABLE;
        }
        /* Room for this plan's moves after the jobs in flight. */
        t[*n].resv = calloc(nr + src->n_guests + 1, sizeof(*t[*n].resv));
        if (t[*n].resv == NULL) {
            free(r);
            return EXIT_FAILED;
        }
        if (nr)
            memcpy(t[*n].resv, r, nr * sizeof(*r));
        free(r);
        t[*n].n_resv = nr;
        t[*n].host = h;
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
                                     : "target %s is not a KVM host of the evacuated host's "
                                       "es.xml system",
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

/* Free memory on T for ordering the valid targets: what the host reports free (es.xml's
 * placement when it did not say) less every reservation on it. */
static long target_free(const plan *p, const target *t)
{
    long mb = t->host->memory_mb;
    size_t i;

    if (t->asked && t->facts.state == PREFLIGHT_FACTS_OK && t->facts.free_memory_mb >= 0) {
        mb = t->facts.free_memory_mb;
    } else {
        for (i = 0; i < t->host->n_guests; i++) {
            const esxml_guest *g = esxml_guest_find_id(p->doc, t->host->guest_ids[i]);
            mb -= g ? g->memory_mb : 0;
        }
    }
    for (i = 0; i < t->n_resv; i++)
        mb -= t->resv[i].memory_mb;
    return mb;
}

/* Appends FMT to M->why (malloc'd, growing). */
static void why_add(move *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void why_add(move *m, const char *fmt, ...)
{
    size_t old = m->why ? strlen(m->why) : 0;
    char line[1400], *grown;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if ((grown = realloc(m->why, old + strlen(line) + 1)) == NULL)
        return;
    memcpy(grown + old, line, strlen(line) + 1);
    m->why = grown;
}

/* Runs the full preflight of moving M's guest to T (live, reservations counted). Returns 1 when
 * it passes, 0 when it fails (each failed check added to M->why), -1 when it cannot run. */
static int try_target(plan *p, move *m, target *t, preflight_report *rep)
{
    char err[1024];
    preflight_input in;
    int i;

    memset(&in, 0, sizeof(in));
    in.doc = p->doc;
    in.config_version = p->version;
    in.guest = m->guest->hostname;
    in.src_host = p->src->hostname;
    in.tgt_host = t->host->hostname;
    in.mode = MODE_OFFLINE;
    in.live = 1;
    in.vcpu_overcommit = p->c->s.vcpu_overcommit;
    /* Each host is asked once per plan: later runs reuse its answers. */
    in.src_facts = p->src_asked ? &p->src_facts : NULL;
    in.tgt_facts = t->asked ? &t->facts : NULL;
    in.connect = hostsession_connect;
    in.release = hostsession_release;
    in.connect_ctx = p->ssh;
    in.command_timeout_ms = 60000;
    in.reservations = t->resv;
    in.n_reservations = t->n_resv;
    if (preflight_run(&in, rep, err, sizeof(err)) != 0) {
        why_add(m, "\n      %s: preflight could not run: %s", t->host->hostname, err);
        return -1;
    }
    if (!p->src_asked) {
        p->src_facts = rep->src_facts;
        p->src_asked = 1;
    }
    if (!t->asked) {
        t->facts = rep->tgt_facts;
        t->asked = 1;
    }
    if (preflight_passed(rep))
        return 1;
    for (i = 0; i < PREFLIGHT__COUNT; i++)
        if (rep->results[i].status == PREFLIGHT_FAILED)
            why_add(m, "\n      %s: %s failed: %s", t->host->hostname,
                    preflight_name(rep->results[i].check), shown(rep->results[i].message));
    return 0;
}

/* Placement: largest guests first, each on the valid target (every preflight check passes,
 * counting jobs in flight and this plan's earlier moves as reservations) with the most free
 * memory. A guest with no valid target is not moved, and its outcome says why for each
 * candidate. */
static int place(plan *p, move *m, size_t n, target *t, size_t nt)
{
    preflight_report *rep = calloc(1, sizeof(*rep));
    size_t i, k;

    if (rep == NULL)
        return EXIT_FAILED;
    qsort(m, n, sizeof(*m), by_memory_desc);
    for (i = 0; i < n; i++) {
        target *best = NULL;
        for (k = 0; k < nt; k++) {
            if (try_target(p, &m[i], &t[k], rep) == 1 &&
                (best == NULL || target_free(p, &t[k]) > target_free(p, best)))
                best = &t[k];
        }
        if (best == NULL) {
            snprintf(m[i].outcome, sizeof(m[i].outcome),
                     "not moved: no target passes preflight (%zu tried)", nt);
            m[i].state = 3;
            continue;
        }
        /* Later guests see this move as a reservation on its target. */
        {
            preflight_reservation *r = &best->resv[best->n_resv++];
            memset(r, 0, sizeof(*r));
            util_strlcpy(r->guest, m[i].guest->hostname, sizeof(r->guest));
            r->memory_mb = m[i].guest->memory_mb;
            r->vcpus = m[i].guest->cores;
        }
        m[i].to = best;
        free(m[i].why); /* the targets that failed do not matter once one passed */
        m[i].why = NULL;
    }
    free(rep);
    return 0;
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
    util_strlcpy(m->req.tgt_host, m->to->host->hostname, sizeof(m->req.tgt_host));
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
            util_strlcpy(rec[i].to_host, m[i].to->host->hostname, sizeof(rec[i].to_host));
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
    static const struct option opts[] = {{"host", required_argument, NULL, 'H'},
                                         {"targets", required_argument, NULL, 't'},
                                         {"max-parallel", required_argument, NULL, 'p'},
                                         {"sequential", no_argument, NULL, 's'},
                                         {"dry-run", no_argument, NULL, 'n'},
                                         {"reason", required_argument, NULL, 'r'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *host = NULL, *targets = NULL, *reason = NULL;
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
    jobstore_machine hm;
    long evacuation = 0;
    plan pl;

    memset(&pl, 0, sizeof(pl));
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
        case 'r':
            reason = optarg;
            break;
        case 'n':
            dry = 1;
            break;
        case 'h':
            printf(
                "Usage: kvmove evacuate --host H [--targets T1,T2,..] [--max-parallel N]\n"
                "                       [--dry-run] [--sequential] [--reason TEXT]\n"
                "Move every guest off KVM host H (e.g. for maintenance), OFFLINE. Largest guests\n"
                "first, each goes to the target (of H's es.xml system) with the most free memory\n"
                "among those where the migration passes every preflight check, the hosts asked\n"
                "over SSH, memory reserved by jobs in flight and by the plan's earlier moves\n"
                "counted. A guest no target passes is not moved; the plan says which check\n"
                "failed on each. At most N migrations run at once (default 4), and workers also\n"
                "cap running jobs per host (worker.max_jobs_per_host).\n"
                "Prints each guest's outcome; exits 0 when every guest moved, 1 otherwise.\n"
                "  --dry-run      print the placement only\n"
                "  --sequential   each migration in the spec's order, one operation at a time\n"
                "  --reason TEXT  stored with each move's job and carried in its events\n");
            return EXIT_DONE;
        default:
            return usage_error("evacuate", "%s", "invalid option");
        }
    }
    if (host == NULL || optind != argc)
        return usage_error("evacuate", "%s", "name the host to evacuate with --host H");
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
    if (sysconfig_load(js, hm.system, 0, c->s.schema_dir, &doc, &pl.version, err, sizeof(err)) !=
        0) {
        fprintf(stderr, "kvmove: %s\n", err);
        rc = EXIT_FAILED;
        goto out;
    }
    src = esxml_host_find(doc, host);
    if (src == NULL) {
        rc = usage_error("evacuate", "%s is not a KVM host in the stored es.xml", host);
        goto out;
    }
    t = calloc(esxml_host_count(doc) + 1, sizeof(*t));
    m = calloc(src->n_guests + 1, sizeof(*m));
    if (t == NULL || m == NULL || hostsession_new(&c->s, 8, 0, &pl.ssh) != 0) {
        rc = EXIT_FAILED;
        goto out;
    }
    if ((rc = load_targets(js, doc, src, targets, t, &nt)) != 0)
        goto out;
    for (i = 0; i < src->n_guests; i++) {
        const esxml_guest *g = esxml_guest_find_id(doc, src->guest_ids[i]);
        if (g)
            m[n++].guest = g;
    }
    if (n == 0) {
        printf("%s has no guests; nothing to evacuate\n", src->hostname);
        goto out;
    }
    pl.c = c;
    pl.doc = doc;
    pl.src = src;
    if ((rc = place(&pl, m, n, t, nt)) != 0)
        goto out;
    printf("Evacuating %zu guest%s from %s (system %s, es.xml version %ld; at most %d at once):\n",
           n, n == 1 ? "" : "s", src->hostname, esxml_system_name(doc), pl.version, max_parallel);
    for (i = 0; i < n; i++)
        printf("  %-32s %6ld MiB %3d vCPUs -> %s%s\n", m[i].guest->hostname, m[i].guest->memory_mb,
               m[i].guest->cores, m[i].to ? m[i].to->host->hostname : m[i].outcome,
               m[i].why ? m[i].why : "");
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
    hostsession_free(pl.ssh);
    for (i = 0; t && i < nt; i++)
        free(t[i].resv);
    for (i = 0; m && i < n; i++)
        free(m[i].why);
    free(t);
    free(m);
    esxml_free(doc);
    jobstore_close(js);
    return rc;
}
