/* prober: a worker thread that runs the cleanup and dry_run requests (lib/probe.h) the intake
 * recorded, under a lease, and stores their results for the CLI (table probes). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evacplan.h"
#include "fence.h"
#include "hostsession.h"
#include "migrate.h"
#include "preflight.h"
#include "probe.h"
#include "sysconfig.h"
#include "util.h"
#include "worker.h"

volatile sig_atomic_t prober_run = 1;

/* A probe whose runners died this many times (it may be what kills them) ends failed. */
#define PROBE_MAX_ATTEMPTS 3
/* An idle prober waits for a probe to be recorded (kvmove_probes); it looks anyway this often,
 * for a probe whose prober died (its lease ran out) and after a missed notification. */
#define PROBE_LOOK_MS 2000
/* The longest an idle prober waits without looking at prober_run. */
#define WAIT_SLICE_MS 200

/* What a running probe shares with its callbacks. */
typedef struct run {
    worker *w;
    jobstore *js;
    const char *id;
    json_t *lines; /* cleanup: the fence's progress lines */
    int lost;      /* the lease went to another prober */
} run;

/* Keeps the lease while the probe makes progress (each fence line, each host session). */
static void keep_lease(run *r)
{
    char err[512];

    if (!r->lost && jobstore_probe_renew(r->js, r->id, r->w->owner, r->w->s.lease_s, err,
                                         sizeof(err)) == -JOBSTORE_ELEASE)
        r->lost = 1;
}

static void fence_line(void *ctx, const char *line)
{
    run *r = ctx;

    worker_log("[probe] %s", line);
    json_array_append_new(r->lines, json_string(line));
    keep_lease(r);
}

/* kvmove cleanup: the reason recorded on the cleanups it covers, then the fence sweep. */
static int run_cleanup(run *r, const probe_request *p, json_t **result, char *errstr,
                       size_t errstr_size)
{
    const char *host = p->host[0] ? p->host : NULL, *guest = p->guest[0] ? p->guest : NULL;
    int done = 0, again = 0, left = 0, pending;

    if (p->reason[0] &&
        jobstore_cleanup_reason(r->js, host, guest, p->reason, errstr, errstr_size) != 0)
        return -1;
    r->lines = json_array();
    /* A sweep skips the cleanups the fencer (this worker's or another's) holds meanwhile: once
     * the others let go, what is pending beyond the ones it tried is swept again. */
    if (fence_sweep(r->js, &r->w->s, host, guest, r->w->source, fence_line, r, &done, &left, errstr,
                    errstr_size) != 0 ||
        jobstore_probe_cleanups_settle(r->js, host, guest, &pending, errstr, errstr_size) != 0)
        return -1;
    if (pending > left && fence_sweep(r->js, &r->w->s, host, guest, r->w->source, fence_line, r,
                                      &again, &left, errstr, errstr_size) != 0)
        return -1;
    done += again;
    *result = json_pack("{s:i,s:i,s:O}", "done", done, "left", left, "lines", r->lines);
    return 0;
}

static int probe_connect(void *ctx, const esxml_host *host, hostconn **out, char *errstr,
                         size_t errstr_size)
{
    run *r = ((void **)ctx)[0];

    keep_lease(r);
    return hostsession_connect(((void **)ctx)[1], host, out, errstr, errstr_size);
}

static void probe_release(void *ctx, hostconn *c, int rc)
{
    hostsession_release(((void **)ctx)[1], c, rc);
}

/* kvmove submit --dry-run: the full preflight, live checks included, and the plan of steps
 * (nothing changed): system, version, checks [{status, check, message}], failed, passed, plan
 * [{step, host, applies}]. */
static int run_dry_run(run *r, const probe_request *p, json_t **result, char *errstr,
                       size_t errstr_size)
{
    const request *req = &p->migration;
    esxml *doc = NULL;
    preflight_input in;
    preflight_report *rep = NULL;
    preflight_reservation *resv = NULL;
    hostsession *ssh = NULL;
    migrate_env env;
    step_id order[STEP__COUNT];
    void *ctx[2];
    json_t *checks, *plan;
    size_t n_resv = 0;
    long version = 0;
    int rc = -1, i;

    if (sysconfig_load(r->js, req->system[0] ? req->system : NULL, req->config_version,
                       r->w->s.schema_dir, &doc, &version, errstr, errstr_size) != 0 ||
        jobstore_reservations_on(r->js, req->tgt_host, NULL, &resv, &n_resv, errstr, errstr_size) !=
            0)
        goto out;
    if (hostsession_new(&r->w->s, 4, 0, &ssh) != 0 || (rep = calloc(1, sizeof(*rep))) == NULL) {
        util_errf(errstr, errstr_size, "out of memory");
        goto out;
    }
    ctx[0] = r;
    ctx[1] = ssh;
    preflight_input_for(&in, req, doc, version, r->w->s.vcpu_overcommit);
    in.live = 1;
    in.connect = probe_connect;
    in.release = probe_release;
    in.connect_ctx = ctx;
    in.command_timeout_ms = 60000;
    in.reservations = resv;
    in.n_reservations = n_resv;
    if (preflight_run(&in, rep, errstr, errstr_size) != 0)
        goto out;
    checks = json_array();
    for (i = 0; i < PREFLIGHT__COUNT; i++)
        json_array_append_new(checks, json_pack("{s:s,s:s,s:s}", "status",
                                                preflight_status_to_string(rep->results[i].status),
                                                "check", preflight_name(rep->results[i].check),
                                                "message", rep->results[i].message));
    memset(&env, 0, sizeof(env));
    env.doc = doc;
    env.guest = esxml_guest_find(doc, req->guest);
    env.src = esxml_host_find(doc, req->src_host);
    env.tgt = esxml_host_find(doc, req->tgt_host);
    env.mode = req->mode;
    migrate_plan(req->sequential, order); /* the order the executor runs them in */
    plan = json_array();
    for (i = 0; i < STEP__COUNT && preflight_passed(rep); i++) {
        const esxml_host *h;
        if (req->has_step && req->step != order[i])
            continue;
        h = migrate_step_host(&env, order[i]);
        json_array_append_new(plan, json_pack("{s:s,s:s,s:b}", "step", step_to_string(order[i]),
                                              "host", h ? h->hostname : "?", "applies",
                                              migrate_step_applies(&env, order[i])));
    }
    *result = json_pack("{s:s,s:I,s:o,s:i,s:b,s:o}", "system", esxml_system_name(doc), "version",
                        (json_int_t)version, "checks", checks, "failed", rep->n_failed, "passed",
                        preflight_passed(rep), "plan", plan);
    rc = *result ? 0 : -1;
    if (rc != 0)
        util_errf(errstr, errstr_size, "out of memory");
out:
    hostsession_free(ssh);
    free(resv);
    free(rep);
    esxml_free(doc);
    return rc;
}

/* kvmove evacuate's placement: system, version, moves [{guest, memory_mb, cores, to ("" = not
 * moved), outcome, why}] in the order planned (largest first). */
static int run_plan(run *r, const probe_request *p, json_t **result, char *errstr,
                    size_t errstr_size)
{
    jobstore_machine hm;
    esxml *doc = NULL;
    hostsession *ssh = NULL;
    evacplan_input in;
    evacplan_move *m = NULL;
    json_t *moves;
    void *ctx[2];
    size_t n = 0, i;
    long version = 0;
    int rc = -1;

    memset(&in, 0, sizeof(in));
    rc = jobstore_config_machine(r->js, p->host, &hm, errstr, errstr_size);
    if (rc == 0 || (rc > 0 && hm.is_guest)) {
        util_errf(errstr, errstr_size, "%s is not a KVM host of any stored es.xml system", p->host);
        return -1;
    }
    if (rc < 0 || sysconfig_load(r->js, hm.system, 0, r->w->s.schema_dir, &doc, &version, errstr,
                                 errstr_size) != 0)
        return -1;
    rc = -1;
    if ((in.src = esxml_host_find(doc, p->host)) == NULL) {
        util_errf(errstr, errstr_size, "%s is not a KVM host in the stored es.xml", p->host);
        goto out;
    }
    if (hostsession_new(&r->w->s, 8, 0, &ssh) != 0) {
        util_errf(errstr, errstr_size, "out of memory");
        goto out;
    }
    ctx[0] = r;
    ctx[1] = ssh;
    in.doc = doc;
    in.version = version;
    in.targets = p->targets;
    in.vcpu_overcommit = r->w->s.vcpu_overcommit;
    in.connect = probe_connect;
    in.release = probe_release;
    in.connect_ctx = ctx;
    if (evacplan_run(r->js, &in, &m, &n, errstr, errstr_size) != 0)
        goto out;
    moves = json_array();
    for (i = 0; i < n; i++)
        json_array_append_new(moves,
                              json_pack("{s:s,s:I,s:i,s:s,s:s,s:s}", "guest", m[i].guest->hostname,
                                        "memory_mb", (json_int_t)m[i].guest->memory_mb, "cores",
                                        m[i].guest->cores, "to", m[i].to ? m[i].to->hostname : "",
                                        "outcome", m[i].outcome, "why", m[i].why ? m[i].why : ""));
    *result = json_pack("{s:s,s:I,s:o}", "system", esxml_system_name(doc), "version",
                        (json_int_t)version, "moves", moves);
    rc = *result ? 0 : -1;
    if (rc != 0)
        util_errf(errstr, errstr_size, "out of memory");
out:
    evacplan_free(m, n);
    hostsession_free(ssh);
    esxml_free(doc);
    return rc;
}

/* Runs the probe C just claimed and stores its end. */
static void run_probe(worker *w, jobstore *js, const jobstore_probe *c)
{
    char err[1024] = "", ferr[1024];
    json_t *result = NULL;
    probe_request p;
    run r = {w, js, c->request_id, NULL, 0};
    int ok, rc;

    worker_log_context(c->request_id, NULL, NULL);
    worker_log("[probe] running %s request %s (attempt %d)", c->kind, c->request_id, c->attempts);
    if (probe_parse_json(c->request, strlen(c->request), &p, err, sizeof(err)) != 0)
        ok = 0;
    else if (p.kind == PROBE_CLEANUP)
        ok = run_cleanup(&r, &p, &result, err, sizeof(err)) == 0;
    else if (p.kind == PROBE_PLAN)
        ok = run_plan(&r, &p, &result, err, sizeof(err)) == 0;
    else
        ok = run_dry_run(&r, &p, &result, err, sizeof(err)) == 0;
    rc = jobstore_probe_finish(js, c->request_id, w->owner, ok, result, err, w->source, ferr,
                               sizeof(ferr));
    if (rc == -JOBSTORE_ELEASE)
        worker_log("[probe] %s: another worker took it over; its result is that one's",
                   c->request_id);
    else if (rc < 0) /* the lease runs out: another prober runs it again */
        worker_log("[probe] %s: result not stored: %s", c->request_id, ferr);
    else
        worker_log("[probe] %s request %s %s%s%s", c->kind, c->request_id,
                   ok ? "succeeded" : "failed", ok ? "" : ": ", ok ? "" : err);
    json_decref(result);
    json_decref(r.lines);
    worker_log_context(NULL, NULL, NULL);
}

void *prober_main(void *arg)
{
    worker *w = arg;
    jobstore *js = NULL;
    jobstore_probe c;
    char err[1024];
    int64_t last_look;
    int got;

    while (prober_run) {
        if (js == NULL && (jobstore_connect(w->s.db, &js, err, sizeof(err)) != 0 ||
                           jobstore_listen(js, JOBSTORE_CHANNEL_PROBES, err, sizeof(err)) != 0)) {
            worker_log("[probe] %s", err);
            jobstore_close(js);
            js = NULL;
            worker_sleep_ms(1000);
            continue;
        }
        last_look = util_now_ms();
        got = jobstore_probe_claim(js, w->owner, w->s.lease_s, PROBE_MAX_ATTEMPTS, w->source, &c,
                                   err, sizeof(err));
        if (got == 1) {
            run_probe(w, js, &c);
            free(c.request);
            continue;
        }
        if (got < 0) {
            worker_log("[probe] %s", err);
            jobstore_ensure(js, err, sizeof(err));
            worker_sleep_ms(200);
            continue;
        }
        /* Nothing to run: wait for a probe (in slices, so that a stop is seen soon). */
        while (prober_run &&
               !worker_wait_work(js, WAIT_SLICE_MS, last_look, PROBE_LOOK_MS, "probe"))
            ;
    }
    jobstore_close(js);
    return NULL;
}
