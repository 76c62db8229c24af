/* executor: runs jobs claimed from PostgreSQL: preflight, then the steps over SSH. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "esxml.h"
#include "fence.h"
#include "sysconfig.h"
#include "metrics.h"
#include "migrate.h"
#include "request.h"
#include "preflight.h"
#include "util.h"
#include "worker.h"

static int pool_connect(void *ctx, const esxml_host *host, hostconn **out, char *errstr,
                        size_t errstr_size)
{
    executor *ex = ctx;
    const settings *s = &ex->w->s;
    const char *address = host->admin_ip ? host->admin_ip : host->hostname;
    hostconn_opts opts = {0};
    hostconn *c = NULL;
    size_t i;
    int rc;

    for (i = 0; i < ex->n_pool; i++) {
        if (strcmp(ex->pool[i].address, address) == 0) {
            *out = ex->pool[i].c;
            return 0;
        }
    }
    opts.user = s->ssh_user;
    opts.port = s->ssh_port;
    opts.identity = s->ssh_identity[0] ? s->ssh_identity : NULL;
    opts.known_hosts = s->ssh_known_hosts[0] ? s->ssh_known_hosts : NULL;
    opts.connect_timeout_ms = s->ssh_connect_timeout_ms;
    rc = hostconn_open(address, &opts, &c, errstr, errstr_size);
    if (rc < 0)
        return rc;
    if (ex->n_pool == POOL_MAX) { /* drop the oldest session */
        hostconn_close(ex->pool[0].c);
        memmove(&ex->pool[0], &ex->pool[1], sizeof(ex->pool[0]) * (POOL_MAX - 1));
        ex->n_pool--;
    }
    util_strlcpy(ex->pool[ex->n_pool].address, address, sizeof(ex->pool[0].address));
    ex->pool[ex->n_pool++].c = c;
    *out = c;
    return 0;
}

static void pool_close(executor *ex)
{
    size_t i;

    for (i = 0; i < ex->n_pool; i++)
        hostconn_close(ex->pool[i].c);
    ex->n_pool = 0;
}

static void job_log(void *ctx, const char *line)
{
    executor *ex = ctx;
    worker_log("[%s] %s", ex->tag, line);
}

/* Retries a job-store call while the database is unreachable (it keeps all state, so waiting
 * for it loses nothing). Gives up when the worker stops. */
#define STORE(ex, call)                                                                            \
    ({                                                                                             \
        int rc_, backoff_ = 200;                                                                   \
        while ((rc_ = (call)) == -JOBSTORE_EDB && worker_running) {                                \
            worker_log("[%s] database unavailable, retrying in %d ms: %s", (ex)->tag, backoff_,    \
                       err);                                                                       \
            worker_sleep_ms(backoff_);                                                             \
            backoff_ = backoff_ < 5000 ? backoff_ * 2 : 5000;                                      \
            jobstore_ensure((ex)->js, err, sizeof(err));                                           \
        }                                                                                          \
        rc_;                                                                                       \
    })

/* The full preflight (lib/preflight.c: es.xml and the live hosts over SSH), every result
 * recorded. Returns 1 passed, 0 failed, negative on store error. A replay, a takeover or a
 * single-step job skips the checks the migration itself changes. */
static int preflight(executor *ex, job *j, const esxml *doc, long config_version)
{
    worker *w = ex->w;
    char err[1024];
    preflight_input in;
    preflight_report *rep = calloc(1, sizeof(*rep));
    preflight_reservation *resv = NULL;
    size_t n_resv = 0;
    int i, n_steps = 0, seq = 0, passed, rc;

    if (rep == NULL)
        return -JOBSTORE_EDB;
    for (i = 0; i < STEP__COUNT; i++)
        n_steps += j->included[i] != 0;
    rc = STORE(ex, preflight_reservations_load(ex->js, j->id, j->tgt_host, doc, &resv, &n_resv, err,
                                               sizeof(err)));
    if (rc < 0)
        goto out;
    memset(&in, 0, sizeof(in));
    in.doc = doc;
    in.config_version = config_version;
    in.guest = j->guest;
    in.src_host = j->src_host;
    in.tgt_host = j->tgt_host;
    in.mode = j->mode;
    in.resume = j->attempt > 1 || j->takeover || n_steps == 1;
    in.live = 1;
    in.vcpu_overcommit = w->s.vcpu_overcommit;
    in.connect = pool_connect;
    in.connect_ctx = ex;
    in.command_timeout_ms = w->s.command_timeout_ms < 60000 ? w->s.command_timeout_ms : 60000;
    in.reservations = resv;
    in.n_reservations = n_resv;
    if (preflight_run(&in, rep, err, sizeof(err)) != 0) {
        worker_log("[%s] preflight could not run: %s", ex->tag, err);
        rep->n_failed = 1; /* fail safe: nothing runs */
    }
    for (i = 0; i < PREFLIGHT__COUNT; i++) {
        const preflight_result *r = &rep->results[i];
        if (r->status == PREFLIGHT_FAILED) {
            worker_log("[%s] Preflight check %s failed: %s", ex->tag, preflight_name(r->check),
                       r->message);
            metrics_preflight_failed(preflight_name(r->check));
        } else if (r->status == PREFLIGHT_WARNING)
            worker_log("[%s] Preflight check %s: warning: %s", ex->tag, preflight_name(r->check),
                       r->message);
        rc = STORE(ex, jobstore_preflight_record(
                           ex->js, j, w->owner, ++seq, preflight_name(r->check),
                           preflight_status_to_string(r->status), r->message, err, sizeof(err)));
        if (rc < 0)
            goto out;
    }
    passed = preflight_passed(rep);
    /* Ownership of the array passes to jobstore_preflight_done. */
    rc = STORE(
        ex, jobstore_preflight_done(ex->js, j, w->owner, w->source, passed,
                                    json_pack("{s:o}", "failed_checks", preflight_failed_json(rep)),
                                    err, sizeof(err)));
    if (rc == 0)
        rc = passed;
out:
    free(resv);
    free(rep);
    return rc;
}

/* Builds the es.xml version that records the deployed migration. NULL if it cannot. */
/* The newest merged, not yet deployed MIGRATE GUEST action for J's guest and hosts, or -1. */
static int merged_action(const esxml *doc, const job *j)
{
    request r;
    char err[256];
    size_t i;
    int id = -1;

    for (i = 0; i < esxml_action_count(doc); i++) {
        const esxml_action *a = esxml_action_at(doc, i);
        if (!a->merged || a->deployed)
            continue;
        request_init(&r);
        if (request_parse_command(a->subcommand, &r, err, sizeof(err)) == 0 && !r.has_step &&
            strcasecmp(r.guest, j->guest) == 0 && strcasecmp(r.src_host, j->src_host) == 0 &&
            strcasecmp(r.tgt_host, j->tgt_host) == 0)
            id = a->id;
    }
    return id;
}

static char *deployed_document(executor *ex, esxml *doc, const job *j)
{
    char err[512], sub[1200], *buf = NULL;
    size_t len;
    int id;

    snprintf(sub, sizeof(sub), "MIGRATE GUEST HOSTNAME=%s MODE=%s SRCHOST=%s TGTHOST=%s", j->guest,
             mode_to_string(j->mode), j->src_host, j->tgt_host);
    /* The action MERGE ACTIONS recorded (merged, not deployed) becomes deployed; a request that
     * skipped the merge gets its action added. */
    id = merged_action(doc, j);
    if (esxml_guest_move(doc, j->guest, j->tgt_host, err, sizeof(err)) != 0 ||
        (id < 0 && esxml_action_add(doc, sub, &id, err, sizeof(err)) != 0) ||
        esxml_action_set_deployed(doc, id, err, sizeof(err)) != 0 ||
        esxml_dump(doc, &buf, &len, err, sizeof(err)) != 0) {
        worker_log("[%s] could not record the deployment in es.xml: %s", ex->tag, err);
        return NULL;
    }
    return buf;
}

static void fence_log(void *ctx, const char *line)
{
    executor *ex = ctx;
    worker_log("[%s] %s", ex->tag, line);
}

/* A guest moving back onto a host that still has its stale copy (OFFLINEFORCE left it there)
 * waits for the fence: it is tried now; if the host still cannot be cleaned, the job fails
 * with the reason. Returns 1 when the job must fail (FAILURE filled). */
static int stale_copy_pending(executor *ex, const job *j, char *failure, size_t size)
{
    char err[1024];
    json_t *list = NULL, *c;
    size_t i;
    int pending = 0;

    fence_sweep(ex->js, &ex->w->s, j->tgt_host, j->guest, ex->w->source, fence_log, ex, NULL, NULL,
                err, sizeof(err));
    if (jobstore_cleanups_json(ex->js, j->tgt_host, j->guest, &list, err, sizeof(err)) != 0)
        return 0;
    json_array_foreach(list, i, c)
    {
        const char *st = json_string_value(json_object_get(c, "status"));
        if (st && strcmp(st, "pending") == 0) {
            pending = 1;
            snprintf(failure, size,
                     "KVM host %s still has the stale copy of %s that OFFLINEFORCE left there "
                     "(cleanup pending: %s); bring the host back or run 'kvmove cleanup --host "
                     "%s' first",
                     j->tgt_host, j->guest,
                     json_string_value(json_object_get(c, "last_error"))
                         ? json_string_value(json_object_get(c, "last_error"))
                         : "",
                     j->tgt_host);
        }
    }
    json_decref(list);
    return pending;
}

static void run_job(executor *ex, job *j)
{
    worker *w = ex->w;
    char err[1024], *deployed = NULL;
    esxml *doc = NULL;
    long version = 0;
    int64_t t0 = util_now_ms();
    int s, k, rc, failed = 0;
    step_id order[STEP__COUNT];
    migrate_env env = {0};
    char failure[1200] = "";

    worker_hold(w, ex->index, j->id);
    snprintf(ex->tag, sizeof(ex->tag), "%.8s %s", j->id, j->guest);
    worker_log_context(j->id, j->guest, NULL);
    metrics_jobs_active(1);
    worker_log("[%s] %s job %s (attempt %d): %s from %s to %s, MODE=%s", ex->tag,
               j->takeover ? "Taking over" : "Starting", j->id, j->attempt, j->guest, j->src_host,
               j->tgt_host, mode_to_string(j->mode));
    rc = STORE(ex, sysconfig_load(ex->js, j->config_version, w->s.schema_dir, &doc, &version, err,
                                  sizeof(err)));
    if (rc < 0) {
        if (rc == -JOBSTORE_ELEASE || !worker_running)
            goto out;
        snprintf(failure, sizeof(failure), "cannot use the es.xml: %s", err);
        failed = 1;
        goto finish;
    }
    if (stale_copy_pending(ex, j, failure, sizeof(failure))) {
        failed = 1;
        goto finish;
    }
    rc = preflight(ex, j, doc, version);
    if (rc < 0)
        goto out;
    if (rc == 0) {
        snprintf(failure, sizeof(failure),
                 "preflight failed; no host was changed (see 'kvmove "
                 "status %s')",
                 j->id);
        failed = 1;
        goto finish;
    }
    memset(&env, 0, sizeof(env));
    env.doc = doc;
    env.guest = esxml_guest_find(doc, j->guest);
    env.src = esxml_host_find(doc, j->src_host);
    env.tgt = esxml_host_find(doc, j->tgt_host);
    env.mode = j->mode;
    env.command_timeout_ms = w->s.command_timeout_ms;
    env.connect = pool_connect;
    env.log = job_log;
    env.ctx = ex;
    env.sequential = j->sequential;
    if (migrate_env_init(&env) != 0) {
        snprintf(failure, sizeof(failure), "out of memory");
        failed = 1;
        goto finish;
    }
    migrate_plan(j->sequential, order);
    if (!j->takeover && j->attempt == 1)
        worker_log("[%s] Starting Guest Migration : %s", ex->tag, j->guest);
    for (k = 0; k < STEP__COUNT && worker_running; k++) {
        migrate_result res;
        const esxml_host *h;
        int64_t ts;
        int tries;
        s = order[k];
        if (!j->included[s] || j->state[s] == STEP_SUCCEEDED || j->state[s] == STEP_SKIPPED)
            continue;
        h = migrate_step_host(&env, (step_id)s);
        worker_log_context(j->id, j->guest, step_to_string((step_id)s));
        rc = STORE(ex, jobstore_step_begin(ex->js, j, (step_id)s, h->hostname, w->owner, w->source,
                                           err, sizeof(err)));
        if (rc < 0)
            goto out;
        ts = util_now_ms();
        for (tries = 0;; tries++) {
            migrate_step(&env, (step_id)s, &res);
            if (res.state != STEP_FAILED || !res.transient || tries >= w->s.step_retries ||
                !worker_running)
                break;
            worker_log("[%s] Step %s hit a transient failure (%s); retrying (%d of %d)", ex->tag,
                       step_to_string((step_id)s), res.message, tries + 1, w->s.step_retries);
            migrate_result_free(&res);
            pool_close(ex); /* a broken session is not reused */
            worker_sleep_ms(500 << (tries < 4 ? tries : 4));
        }
        if (res.state == STEP_FAILED && res.transient && !worker_running) {
            migrate_result_free(&res); /* stopping: hand the step back rather than fail it */
            goto out;
        }
        metrics_step_done((step_id)s, res.state, (long)(util_now_ms() - ts));
        rc = STORE(ex, jobstore_step_end(ex->js, j, (step_id)s, h->hostname, res.state, res.message,
                                         res.output, (long)(util_now_ms() - ts), w->owner,
                                         w->source, err, sizeof(err)));
        if (rc == 0 && res.cleanup_pending)
            rc = STORE(ex,
                       jobstore_cleanup_add(
                           ex->js, j, env.src->hostname,
                           env.src->admin_ip ? env.src->admin_ip : env.src->hostname,
                           "OFFLINEFORCE could not reach the source: its stale copy (definition, "
                           "autostart, mount, fstab entry, bridges) is removed when it is back",
                           w->owner, w->source, err, sizeof(err)));
        if (rc == 0 && res.state != STEP_FAILED) {
            char line[1200];
            migrate_summary_line(&env, (step_id)s, line, sizeof(line));
            worker_log("[%s] %s", ex->tag, line);
        }
        if (res.state == STEP_FAILED)
            snprintf(failure, sizeof(failure), "step %s failed: %s", step_to_string((step_id)s),
                     res.message);
        migrate_result_free(&res);
        if (rc < 0)
            goto out;
        if (failure[0]) {
            failed = 1;
            goto finish;
        }
    }
    if (!worker_running && k < STEP__COUNT)
        goto out; /* stopping: the lease is handed back, another worker resumes */
    if ((j->included[STEP_MIGRATE_GUEST] || j->included[STEP_STARTUP_GUEST]) && env.guest &&
        esxml_guest_host(doc, env.guest) != env.tgt)
        deployed = deployed_document(ex, doc, j);
finish:
    rc = STORE(ex, jobstore_job_finish(ex->js, j, failed ? JOB_FAILED : JOB_SUCCEEDED,
                                       failed ? failure : NULL, (long)(util_now_ms() - t0),
                                       deployed, doc ? esxml_system_name(doc) : "", w->owner,
                                       w->source, err, sizeof(err)));
    if (rc == 0)
        metrics_job_finished(failed ? JOB_FAILED : JOB_SUCCEEDED);
    if (rc == 0 && failed)
        worker_log_at(WORKER_LOG_ERROR, "[%s] Job %s failed: %s", ex->tag, j->id, failure);
    else if (rc == 0)
        worker_log("[%s] Done [Elapsed = %lld mS]", ex->tag, (long long)(util_now_ms() - t0));
out:
    if (rc == -JOBSTORE_ELEASE)
        worker_log("[%s] %s", ex->tag, err);
    migrate_env_free(&env);
    free(deployed);
    esxml_free(doc);
    metrics_jobs_active(-1);
    worker_log_context(NULL, NULL, NULL);
    worker_hold(w, ex->index, NULL);
}

void *executor_main(void *arg)
{
    executor *ex = arg;
    worker *w = ex->w;
    char err[1024];
    int idle_ms = 50;

    snprintf(ex->tag, sizeof(ex->tag), "executor %d", ex->index);
    while (worker_running) {
        job j;
        int rc;
        if (ex->js == NULL && jobstore_connect(w->s.db, &ex->js, err, sizeof(err)) != 0) {
            worker_log("[%s] %s", ex->tag, err);
            worker_sleep_ms(1000);
            continue;
        }
        rc = jobstore_job_claim(ex->js, w->owner, w->s.lease_s, w->s.max_jobs_per_host, &j, err,
                                sizeof(err));
        if (rc < 0) {
            worker_log("[%s] %s", ex->tag, err);
            jobstore_ensure(ex->js, err, sizeof(err));
            worker_sleep_ms(1000);
            continue;
        }
        if (rc == 0) {
            worker_sleep_ms(idle_ms);
            continue;
        }
        run_job(ex, &j);
        snprintf(ex->tag, sizeof(ex->tag), "executor %d", ex->index);
    }
    pool_close(ex);
    jobstore_close(ex->js);
    ex->js = NULL;
    return NULL;
}
