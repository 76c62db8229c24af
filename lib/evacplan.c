/* evacplan: the placement of an evacuation's guests (moved here from producer/evacuate.c so
 * that a worker runs it). */
#include "evacplan.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

typedef struct target {
    const esxml_host *host;
    int asked;                   /* FACTS holds what the host said (asked once per plan) */
    preflight_facts facts;       /* from the first preflight against it */
    preflight_reservation *resv; /* in-flight reservations, then this plan's moves to it */
    size_t n_resv;
} target;

/* The one planner's view of a target: the rules are preflight's (lib/preflight.c), with the
 * live answers of the hosts, the reservations of jobs in flight and this plan's earlier moves;
 * what is compared between valid targets is free memory (the host's answer when it gave one). */
typedef struct plan {
    const evacplan_input *in;
    preflight_facts src_facts;
    int src_asked;
} plan;

/* Whether host H is one of the comma-separated NAMES. */
static int named(const char *names, const esxml_host *h)
{
    char list[2048], *tok, *save = NULL;

    util_strlcpy(list, names, sizeof(list));
    for (tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
        if (esxml_name_equal(tok, h->hostname))
            return 1;
    return 0;
}

int evacplan_check_targets(const evacplan_input *in, char *errstr, size_t errstr_size)
{
    char list[2048], *tok, *save = NULL;

    if (in->targets == NULL || in->targets[0] == '\0')
        return 0;
    util_strlcpy(list, in->targets, sizeof(list));
    for (tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        const esxml_host *h = esxml_host_find(in->doc, tok);
        if (h == NULL || h == in->src) {
            util_errf(errstr, errstr_size,
                      h ? "target %s is the host being evacuated"
                        : "target %s is not a KVM host of the evacuated host's es.xml system",
                      tok);
            return -1;
        }
    }
    return 0;
}

/* Fills T (room for every host) with the targets: the named ones or every other KVM host of
 * the system, each with the memory jobs in flight reserve on it and room for the plan's moves
 * of the source's guests. */
static int load_targets(jobstore *js, const evacplan_input *in, target *t, size_t *n, char *errstr,
                        size_t errstr_size)
{
    size_t i;
    int rc;

    *n = 0;
    for (i = 0; i < esxml_host_count(in->doc); i++) {
        const esxml_host *h = esxml_host_at(in->doc, i);
        jobstore_reservation *r = NULL;
        size_t nr = 0;
        if (h == in->src || (in->targets && in->targets[0] && !named(in->targets, h)))
            continue;
        if ((rc = jobstore_reservations_on(js, h->hostname, NULL, &r, &nr, errstr, errstr_size)) !=
            0)
            return rc;
        /* Room for this plan's moves after the jobs in flight. */
        t[*n].resv = calloc(nr + in->src->n_guests + 1, sizeof(*t[*n].resv));
        if (t[*n].resv == NULL) {
            free(r);
            util_errf(errstr, errstr_size, "out of memory");
            return -JOBSTORE_EDB;
        }
        if (nr)
            memcpy(t[*n].resv, r, nr * sizeof(*r));
        free(r);
        t[*n].n_resv = nr;
        t[*n].host = h;
        (*n)++;
    }
    return 0;
}

static int by_memory_desc(const void *a, const void *b)
{
    const evacplan_move *x = a, *y = b;
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
            const esxml_guest *g = esxml_guest_find_id(p->in->doc, t->host->guest_ids[i]);
            mb -= g ? g->memory_mb : 0;
        }
    }
    for (i = 0; i < t->n_resv; i++)
        mb -= t->resv[i].memory_mb;
    return mb;
}

/* Appends FMT to M->why (malloc'd, growing). */
static void why_add(evacplan_move *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void why_add(evacplan_move *m, const char *fmt, ...)
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
static int try_target(plan *p, evacplan_move *m, target *t, preflight_report *rep)
{
    char err[1024];
    preflight_input in;
    int i;

    memset(&in, 0, sizeof(in));
    in.doc = p->in->doc;
    in.config_version = p->in->version;
    in.guest = m->guest->hostname;
    in.src_host = p->in->src->hostname;
    in.tgt_host = t->host->hostname;
    in.mode = MODE_OFFLINE;
    in.live = 1;
    in.vcpu_overcommit = p->in->vcpu_overcommit;
    /* Each host is asked once per plan: later runs reuse its answers. */
    in.src_facts = p->src_asked ? &p->src_facts : NULL;
    in.tgt_facts = t->asked ? &t->facts : NULL;
    in.connect = p->in->connect;
    in.release = p->in->release;
    in.connect_ctx = p->in->connect_ctx;
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
                    preflight_name(rep->results[i].check), rep->results[i].message);
    return 0;
}

/* Placement: largest guests first, each on the valid target (every preflight check passes,
 * counting jobs in flight and this plan's earlier moves as reservations) with the most free
 * memory. A guest with no valid target is not moved, and its outcome says why for each
 * candidate. */
static void place(plan *p, evacplan_move *m, size_t n, target *t, size_t nt, preflight_report *rep)
{
    size_t i, k;

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
        m[i].to = best->host;
        free(m[i].why); /* the targets that failed do not matter once one passed */
        m[i].why = NULL;
    }
}

int evacplan_run(jobstore *js, const evacplan_input *in, evacplan_move **moves, size_t *n,
                 char *errstr, size_t errstr_size)
{
    target *t = calloc(esxml_host_count(in->doc) + 1, sizeof(*t));
    evacplan_move *m = calloc(in->src->n_guests + 1, sizeof(*m));
    preflight_report *rep = calloc(1, sizeof(*rep));
    plan p = {in, {0}, 0};
    size_t nt = 0, i, count = 0;
    int rc = -JOBSTORE_EDB;

    *moves = NULL;
    *n = 0;
    if (t == NULL || m == NULL || rep == NULL) {
        util_errf(errstr, errstr_size, "out of memory");
        goto out;
    }
    if ((rc = evacplan_check_targets(in, errstr, errstr_size)) != 0) {
        rc = -JOBSTORE_EINVALID;
        goto out;
    }
    if ((rc = load_targets(js, in, t, &nt, errstr, errstr_size)) != 0)
        goto out;
    for (i = 0; i < in->src->n_guests; i++) {
        const esxml_guest *g = esxml_guest_find_id(in->doc, in->src->guest_ids[i]);
        if (g)
            m[count++].guest = g;
    }
    place(&p, m, count, t, nt, rep);
    *moves = m;
    *n = count;
    m = NULL;
    rc = 0;
out:
    for (i = 0; t && i < nt; i++)
        free(t[i].resv);
    free(t);
    free(rep);
    free(m);
    return rc;
}

void evacplan_free(evacplan_move *moves, size_t n)
{
    size_t i;

    for (i = 0; moves && i < n; i++)
        free(moves[i].why);
    free(moves);
}
