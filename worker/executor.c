/* executor: runs jobs claimed from PostgreSQL: preflight, then the steps over SSH. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "esxml.h"
#include "fence.h"
#include "sysconfig.h"
#include "metrics.h"
#include "migrate.h"
#include "request.h"
#include "preflight.h"
#include "util.h"
#include "worker.h"

/* migrate_env.connect / preflight_input.connect: EX's pool, pinned until pool_release. */
static int pool_connect(void *ctx, const esxml_host *host, hostconn **out, char *errstr,
                        size_t errstr_size)
{
    executor *ex = ctx;

    if (ex->hosts == NULL && hostsession_new(&ex->w->s, POOL_MAX, 0, &ex->hosts) != 0) {
        util_errf(errstr, errstr_size, "out of memory for the SSH session pool");
        return -HOSTCONN_EUNREACHABLE;
    }
    return hostsession_connect(ex->hosts, host, out, errstr, errstr_size);
}

static void pool_release(void *ctx, hostconn *c, int rc)
{
    executor *ex = ctx;

    hostsession_release(ex->hosts, c, rc);
}

/* Closes every session of EX (none is held between steps). */
static void pool_close(executor *ex)
{
    hostsession_free(ex->hosts);
    ex->hosts = NULL;
}

static void job_log(void *ctx, const char *line)
{
    executor *ex = ctx;
    worker_log("[%s] %s", ex->tag, line);
}

/* Retries a job-store call while the database is unreachable (it keeps all state, so waiting
 * for it loses nothing). A permanent failure (-JOBSTORE_EDATA: the same call would fail the same
 * way) is not retried. Gives up when the worker stops. ERR is the caller's error buffer. */
#define STORE(ex, err, call)                                                                       \
    ({                                                                                             \
        int rc_, backoff_ = 200;                                                                   \
        while ((rc_ = (call)) == -JOBSTORE_EDB && worker_running) {                                \
            worker_log("[%s] database unavailable, retrying in %d ms: %s", (ex)->tag, backoff_,    \
                       (err));                                                                     \
            worker_sleep_ms(backoff_);                                                             \
            backoff_ = backoff_ < 5000 ? backoff_ * 2 : 5000;                                      \
            jobstore_ensure((ex)->js, (err), sizeof(err));                                         \
        }                                                                                          \
        rc_;                                                                                       \
    })

/* How one run of a job ends (run_end does what each means). */
typedef enum {
    RUN_SUCCEEDED, /* finish the job: succeeded */
    RUN_FAILED,    /* finish the job: failed, with run.failure */
    RUN_STOPPED,   /* the worker is stopping: hand the job back for another worker to resume */
    RUN_LOST,      /* the lease is gone (run.err says why): another worker has the job */
    RUN_CANCELLED, /* kvmove cancel: the job ended cancelled at a step boundary (recorded) */
} run_outcome;

/* One run of a job: what it holds (freed by executor_run_job) and why it ended. */
typedef struct run {
    executor *ex;
    job *j;
    esxml *doc;
    long version;
    migrate_env env;
    int deploy;         /* 1: the job's end records the deployment in es.xml */
    int committed;      /* 1: a cancel found the job past its commit point: it goes on */
    char failure[2048]; /* why the job failed */
    char err[1024];     /* the last job-store error */
} run;

/* What a failed job-store call RC (its reason in R->err) means for the job: the lease is gone;
 * the worker is stopping (STORE retries a transient failure until then); or the failure is
 * permanent and the job fails with it (keeping a failure already found). */
static run_outcome store_failed(run *r, int rc)
{
    if (rc == -JOBSTORE_ELEASE)
        return RUN_LOST;
    if (rc == -JOBSTORE_EDB)
        return RUN_STOPPED;
    if (r->failure[0] == '\0')
        snprintf(r->failure, sizeof(r->failure), "the job's progress could not be recorded: %s",
                 r->err);
    return RUN_FAILED;
}

/* VM cluster anti-affinity, serialised: a target that passed vm_cluster_anti_affinity is
 * confirmed under the system's lock against the other jobs confirmed to bring a member of the
 * guest's VM cluster there (jobstore_job_place); of two concurrent moves the second fails the
 * check, naming the first. Returns 0, or a negative job-store code with R->err. */
static int place(run *r, preflight_report *rep)
{
    executor *ex = r->ex;
    job *j = r->j;
    preflight_result *pr = &rep->results[PREFLIGHT_VM_CLUSTER];
    const esxml_guest *g = esxml_guest_find(r->doc, j->guest);
    const char *peers[256];
    char holder[REQUEST_UUID_LEN], peer[REQUEST_NAME_MAX];
    size_t i, n = 0;
    int rc;

    if (g == NULL || g->vm_cluster == NULL || j->allow_colocation ||
        pr->status != PREFLIGHT_PASSED || rep->n_failed > 0)
        return 0;
    for (i = 0; i < esxml_guest_count(r->doc) && n < 256; i++) {
        const esxml_guest *o = esxml_guest_at(r->doc, i);
        if (esxml_vm_cluster_peers(g, o))
            peers[n++] = o->hostname;
    }
    rc = STORE(ex, r->err,
               jobstore_job_place(ex->js, j, ex->w->owner, peers, n, holder, peer, r->err,
                                  sizeof(r->err)));
    if (rc != 0)
        return rc < 0 ? rc : 0;
    pr->status = PREFLIGHT_FAILED;
    snprintf(pr->message, sizeof(pr->message),
             "target KVM host %s receives %s of VM cluster %s (job %s was placed there first); "
             "required: the members of a VM cluster on different KVM hosts (choose another "
             "target, or override with --allow-colocation --reason TEXT)",
             j->tgt_host, peer, g->vm_cluster, holder);
    rep->n_failed++;
    return 0;
}

/* The full preflight (lib/preflight.c: es.xml and the live hosts over SSH), every result
 * recorded. Returns 1 passed, 0 failed, or a negative job-store code with R->err. A replay, a
 * takeover or a single-step job skips the checks the migration itself changes. */
static int preflight(run *r)
{
    executor *ex = r->ex;
    worker *w = ex->w;
    job *j = r->j;
    preflight_input in;
    preflight_report *rep = calloc(1, sizeof(*rep));
    preflight_reservation *resv = NULL;
    size_t n_resv = 0;
    const char *names[PREFLIGHT__COUNT], *statuses[PREFLIGHT__COUNT], *messages[PREFLIGHT__COUNT];
    int i, n_steps = 0, passed, rc;

    if (rep == NULL) {
        snprintf(r->failure, sizeof(r->failure), "preflight could not run: out of memory");
        return 0;
    }
    for (i = 0; i < STEP__COUNT; i++)
        n_steps += j->included[i] != 0;
    rc = STORE(ex, r->err,
               jobstore_reservations_on(ex->js, j->tgt_host, j->id, &resv, &n_resv, r->err,
                                        sizeof(r->err)));
    if (rc < 0)
        goto out;
    memset(&in, 0, sizeof(in));
    in.doc = r->doc;
    in.config_version = r->version;
    in.guest = j->guest;
    in.src_host = j->src_host;
    in.tgt_host = j->tgt_host;
    in.mode = j->mode;
    in.resume = j->attempt > 1 || j->takeover || n_steps == 1;
    in.live = 1;
    in.vcpu_overcommit = w->s.vcpu_overcommit;
    in.connect = pool_connect;
    in.release = pool_release;
    in.connect_ctx = ex;
    in.command_timeout_ms = w->s.command_timeout_ms < 60000 ? w->s.command_timeout_ms : 60000;
    in.reservations = resv;
    in.n_reservations = n_resv;
    in.allow_colocation = j->allow_colocation;
    in.colocation_reason = j->reason;
    if (preflight_run(&in, rep, r->err, sizeof(r->err)) != 0) {
        worker_log("[%s] preflight could not run: %s", ex->tag, r->err);
        rep->n_failed = 1; /* fail safe: nothing runs */
    } else if ((rc = place(r, rep)) < 0) {
        goto out;
    }
    for (i = 0; i < PREFLIGHT__COUNT; i++) {
        const preflight_result *pr = &rep->results[i];
        if (pr->status == PREFLIGHT_FAILED) {
            worker_log("[%s] Preflight check %s failed: %s", ex->tag, preflight_name(pr->check),
                       pr->message);
            metrics_preflight_failed(preflight_name(pr->check));
        } else if (pr->status == PREFLIGHT_WARNING)
            worker_log("[%s] Preflight check %s: warning: %s", ex->tag, preflight_name(pr->check),
                       pr->message);
        names[i] = preflight_name(pr->check);
        statuses[i] = preflight_status_to_string(pr->status);
        messages[i] = pr->message;
    }
    passed = preflight_passed(rep);
    /* Every result and the verdict in one write; the data's ownership passes to the store. */
    rc = STORE(ex, r->err,
               jobstore_preflight_record_all(
                   ex->js, j, w->owner, w->source, names, statuses, messages, PREFLIGHT__COUNT,
                   passed, json_pack("{s:o}", "failed_checks", preflight_failed_json(rep)), r->err,
                   sizeof(r->err)));
    if (rc == 0)
        rc = passed;
out:
    free(resv);
    free(rep);
    return rc;
}

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
            esxml_name_equal(r.guest, j->guest) && esxml_name_equal(r.src_host, j->src_host) &&
            esxml_name_equal(r.tgt_host, j->tgt_host))
            id = a->id;
    }
    return id;
}

/* sysconfig_edit_fn: records the deployed migration J (CTX) in DOC, the newest es.xml of its
 * system at the job's end: the guest's reference moves to the target, and the action MERGE
 * ACTIONS recorded (merged, not deployed) becomes deployed; a request that skipped the merge
 * gets its action added. */
static int deploy_edit(void *ctx, esxml *doc, char *errstr, size_t errstr_size)
{
    const job *j = ctx;
    char sub[1200];
    int id;

    snprintf(sub, sizeof(sub), "MIGRATE GUEST HOSTNAME=%s MODE=%s SRCHOST=%s TGTHOST=%s", j->guest,
             mode_to_string(j->mode), j->src_host, j->tgt_host);
    id = merged_action(doc, j);
    if (esxml_guest_move(doc, j->guest, j->tgt_host, errstr, errstr_size) != 0 ||
        (id < 0 && esxml_action_add(doc, sub, &id, errstr, errstr_size) != 0) ||
        esxml_action_set_deployed(doc, id, errstr, errstr_size) != 0)
        return -1;
    return 0;
}

static void fence_log(void *ctx, const char *line)
{
    executor *ex = ctx;
    worker_log("[%s] %s", ex->tag, line);
}

/* A guest with a stale copy somewhere (OFFLINEFORCE left it on a host it could not reach, with
 * its autostart) waits for the fence: moving back onto that host, or on to another that would
 * give it autostart a second time. The fence is tried now; if the copy still cannot be removed,
 * the job fails with the reason (the OFFLINEFORCE job's own stale copy, and its replays', do not
 * count). Returns 1 when the job must fail (R->failure filled), 0 when it may go on, or a
 * negative job-store code. */
static int stale_copy_pending(run *r)
{
    executor *ex = r->ex;
    const job *j = r->j;
    jobstore_cleanup cl;
    char err[1024];
    int rc;

    fence_sweep(ex->js, &ex->w->s, NULL, j->guest, ex->w->source, fence_log, ex, NULL, NULL, err,
                sizeof(err));
    rc = STORE(ex, r->err, jobstore_cleanup_blocking(ex->js, j, &cl, r->err, sizeof(r->err)));
    if (rc == 1)
        snprintf(r->failure, sizeof(r->failure),
                 "KVM host %s still has the stale copy of %s that OFFLINEFORCE left there "
                 "(cleanup pending: %s); bring the host back or run 'kvmove cleanup --host "
                 "%s' first",
                 cl.host, j->guest, cl.last_error, cl.host);
    return rc;
}

/* Runs step S (with its retries) and records it. RUN_SUCCEEDED: go on with the next step. */
static run_outcome run_step(run *r, step_id s)
{
    executor *ex = r->ex;
    worker *w = ex->w;
    job *j = r->j;
    migrate_env *env = &r->env;
    migrate_result res;
    const esxml_host *h = migrate_step_host(env, s);
    int64_t ts;
    int tries, rc;

    worker_log_context(j->id, j->guest, step_to_string(s));
    rc = STORE(ex, r->err,
               jobstore_step_begin(ex->js, j, s, h->hostname, w->owner, w->source, r->err,
                                   sizeof(r->err)));
    if (rc < 0)
        return store_failed(r, rc);
    ts = util_now_ms();
    for (tries = 0;; tries++) {
        migrate_step(env, s, &res);
        if (res.state != STEP_FAILED || !res.transient || tries >= w->s.step_retries ||
            !worker_running)
            break;
        worker_log("[%s] Step %s hit a transient failure (%s); retrying (%d of %d)", ex->tag,
                   step_to_string(s), res.message, tries + 1, w->s.step_retries);
        migrate_result_free(&res); /* a broken session was dropped when the step released it */
        worker_sleep_ms(500 << (tries < 4 ? tries : 4));
    }
    if (res.state == STEP_FAILED && res.transient && !worker_running) {
        migrate_result_free(&res); /* stopping: hand the step back rather than fail it */
        return RUN_STOPPED;
    }
    metrics_step_done(s, res.state, (long)(util_now_ms() - ts));
    if (res.state == STEP_FAILED)
        snprintf(r->failure, sizeof(r->failure), "step %s failed: %s", step_to_string(s),
                 res.message);
    rc = STORE(ex, r->err,
               jobstore_step_end(ex->js, j, s, h->hostname, res.state, res.message, res.output,
                                 (long)(util_now_ms() - ts), w->owner, w->source, r->err,
                                 sizeof(r->err)));
    if (rc == 0 && res.cleanup_pending)
        rc = STORE(ex, r->err,
                   jobstore_cleanup_add(
                       ex->js, j, env->src->hostname,
                       env->src->admin_ip ? env->src->admin_ip : env->src->hostname,
                       "OFFLINEFORCE could not reach the source: its stale copy (definition, "
                       "autostart, mount, fstab entry, bridges) is removed when it is back",
                       w->owner, w->source, r->err, sizeof(r->err)));
    if (rc == 0 && res.state != STEP_FAILED) {
        char line[1200];
        migrate_summary_line(env, s, line, sizeof(line));
        worker_log("[%s] %s", ex->tag, line);
    }
    migrate_result_free(&res);
    if (rc < 0)
        return store_failed(r, rc);
    return r->failure[0] ? RUN_FAILED : RUN_SUCCEEDED;
}

/* A step boundary (AT: "before STEP", "after preflight"): when a cancel of the job was
 * requested, the job ends cancelled there - its rollback queued - unless it is past its commit
 * point, when it goes on (and is not asked again). A rollback is never cancelled. Returns
 * RUN_SUCCEEDED to go on, RUN_CANCELLED, or a store failure's outcome. */
static run_outcome cancel_point(run *r, const char *at)
{
    executor *ex = r->ex;
    char rollback_id[REQUEST_UUID_LEN];
    int rc;

    if (r->j->action == ACTION_ROLLBACK || r->committed)
        return RUN_SUCCEEDED;
    rc = STORE(ex, r->err, jobstore_job_cancel_pending(ex->js, r->j, r->err, sizeof(r->err)));
    if (rc <= 0)
        return rc < 0 ? store_failed(r, rc) : RUN_SUCCEEDED;
    rc = STORE(ex, r->err,
               jobstore_job_cancel(ex->js, r->j, ex->w->owner, ex->w->source, at, rollback_id,
                                   r->err, sizeof(r->err)));
    if (rc < 0)
        return store_failed(r, rc);
    if (rc == 0) {
        r->committed = 1;
        worker_log("[%s] Cancel requested %s, past the commit point (MIGRATE_GUEST): the job "
                   "completes forward",
                   ex->tag, at);
        return RUN_SUCCEEDED;
    }
    worker_log("[%s] Job %s cancelled %s%s%s", ex->tag, r->j->id, at,
               rollback_id[0] ? "; rollback job " : "", rollback_id);
    return RUN_CANCELLED;
}

/* migrate_env.bridges_record: the bridges a CREATE step is about to make, recorded under the
 * job's lease before it sends them. */
static int bridges_record(void *ctx, step_id step, const char *names, char *errstr,
                          size_t errstr_size)
{
    run *r = ctx;
    int rc = STORE(r->ex, r->err,
                   jobstore_step_bridges_add(r->ex->js, r->j, step, r->ex->w->owner, names, r->err,
                                             sizeof(r->err)));

    if (rc < 0)
        util_errf(errstr, errstr_size, "%s", r->err);
    return rc < 0 ? -1 : 0;
}

/* migrate_env.bridges_created: what the job a rollback undoes recorded. */
static int bridges_created(void *ctx, step_id step, char **names, char *errstr, size_t errstr_size)
{
    run *r = ctx;
    int rc =
        STORE(r->ex, r->err,
              jobstore_step_bridges_created(r->ex->js, r->j, step, names, r->err, sizeof(r->err)));

    if (rc < 0)
        util_errf(errstr, errstr_size, "%s", r->err);
    return rc < 0 ? -1 : 0;
}

/* Everything a run does before its end: the es.xml, the stale-copy wait, preflight, the steps
 * in the plan's order, the deployed es.xml. */
static run_outcome execute(run *r)
{
    executor *ex = r->ex;
    worker *w = ex->w;
    job *j = r->j;
    step_id order[STEP__ALL];
    run_outcome o = RUN_SUCCEEDED;
    char at[64];
    int k, n, rc;

    /* A job recorded before its system was known (a request for a guest no stored system
     * named then) finds it now; the newest version of that system is the job's es.xml. */
    if (j->system[0] == '\0' && j->config_version == 0) {
        request q;
        memset(&q, 0, sizeof(q));
        util_strlcpy(q.guest, j->guest, sizeof(q.guest));
        util_strlcpy(q.src_host, j->src_host, sizeof(q.src_host));
        util_strlcpy(q.tgt_host, j->tgt_host, sizeof(q.tgt_host));
        rc = STORE(ex, r->err, sysconfig_resolve(ex->js, &q, NULL, r->err, sizeof(r->err)));
        if (rc == -JOBSTORE_EDB)
            return store_failed(r, rc);
        util_strlcpy(j->system, q.system, sizeof(j->system));
    }
    rc = STORE(ex, r->err,
               sysconfig_load(ex->js, j->system[0] ? j->system : NULL, j->config_version,
                              w->s.schema_dir, &r->doc, &r->version, r->err, sizeof(r->err)));
    if (rc == -JOBSTORE_EDB || rc == -JOBSTORE_ELEASE)
        return store_failed(r, rc);
    if (rc < 0) {
        snprintf(r->failure, sizeof(r->failure), "cannot use the es.xml: %s", r->err);
        return RUN_FAILED;
    }
    if ((o = cancel_point(r, "before preflight")) != RUN_SUCCEEDED)
        return o;
    /* A rollback puts the guest back where es.xml has it: it needs no placement checks, and its
     * steps fail, saying why, when a host is not there. */
    if (j->action != ACTION_ROLLBACK && (rc = stale_copy_pending(r)) != 0)
        return rc < 0 ? store_failed(r, rc) : RUN_FAILED;
    if (j->action != ACTION_ROLLBACK && (rc = preflight(r)) < 0)
        return store_failed(r, rc);
    if (j->action != ACTION_ROLLBACK && rc == 0) {
        if (r->failure[0] == '\0')
            snprintf(r->failure, sizeof(r->failure),
                     "preflight failed; no host was changed (see 'kvmove status %s')", j->id);
        return RUN_FAILED;
    }
    memset(&r->env, 0, sizeof(r->env));
    r->env.doc = r->doc;
    r->env.guest = esxml_guest_find(r->doc, j->guest);
    r->env.src = esxml_host_find(r->doc, j->src_host);
    r->env.tgt = esxml_host_find(r->doc, j->tgt_host);
    r->env.mode = j->mode;
    r->env.command_timeout_ms = w->s.command_timeout_ms;
    r->env.connect = pool_connect;
    r->env.release = pool_release;
    r->env.log = job_log;
    r->env.ctx = ex;
    r->env.bridges_record = bridges_record;
    r->env.bridges_created = bridges_created;
    r->env.bridges_ctx = r;
    r->env.sequential = j->sequential;
    r->env.target_stopped = j->target_stopped;
    r->env.reason = j->reason[0] ? j->reason : NULL;
    if (migrate_env_init(&r->env) != 0) {
        snprintf(r->failure, sizeof(r->failure), "out of memory");
        return RUN_FAILED;
    }
    if (j->action == ACTION_ROLLBACK) {
        /* The rollback steps run in their table's order (migrate_rollback_plan's). */
        for (n = 0, k = STEP__COUNT; k < STEP__ALL; k++)
            order[n++] = (step_id)k;
        if (!j->takeover)
            worker_log("[%s] Rolling back Guest Migration : %s goes back to %s", ex->tag, j->guest,
                       j->src_host);
    } else {
        migrate_plan(j->sequential, order);
        n = STEP__COUNT;
        if (!j->takeover && j->attempt == 1)
            worker_log("[%s] Starting Guest Migration : %s", ex->tag, j->guest);
    }
    for (k = 0; k < n && worker_running && o == RUN_SUCCEEDED; k++) {
        step_id s = order[k];
        if (!j->included[s] || j->state[s] == STEP_SUCCEEDED || j->state[s] == STEP_SKIPPED)
            continue;
        snprintf(at, sizeof(at), "before %s", step_to_string(s));
        if ((o = cancel_point(r, at)) == RUN_SUCCEEDED)
            o = run_step(r, s);
    }
    if (o != RUN_SUCCEEDED)
        return o;
    if (k < n)
        return RUN_STOPPED; /* stopping: the lease is handed back, another worker resumes */
    if (r->env.guest && esxml_guest_host(r->doc, r->env.guest) != r->env.tgt) {
        /* The guest has moved when this job ran the commit point or the start on the target,
         * or an earlier attempt it resumes ran the commit point (a replay runs only what that
         * attempt left: its source cleanup, say). */
        int moved = j->included[STEP_MIGRATE_GUEST] || j->included[STEP_STARTUP_GUEST];
        if (!moved && j->replay_of[0] &&
            (rc = STORE(ex, r->err,
                        jobstore_step_done_before(ex->js, j, STEP_MIGRATE_GUEST, &moved, r->err,
                                                  sizeof(r->err)))) < 0)
            return store_failed(r, rc);
        r->deploy = moved;
    }
    return RUN_SUCCEEDED;
}

/* Every run ends here, so that no job is left running with nobody working on it: the job is
 * finished (succeeded or failed), or handed back, or - its lease lost - left to its new owner.
 * When even the finish cannot be written (a permanent failure), the job is no longer held:
 * its lease runs out and another worker takes it over. */
static void run_end(run *r, run_outcome o, int64_t t0)
{
    executor *ex = r->ex;
    worker *w = ex->w;
    job *j = r->j;
    int failed = o == RUN_FAILED, rc;
    sysconfig_change deploy;
    char note[80];

    if (o == RUN_SUCCEEDED || o == RUN_FAILED) {
        /* The deployment is applied to the newest es.xml of the system when the job ends (not
         * to the version the job started from, which misses what other jobs did meanwhile). */
        snprintf(note, sizeof(note), "deployed by job %s", j->id);
        sysconfig_change_init(&deploy, r->doc ? esxml_system_name(r->doc) : j->system,
                              "migration-deployed", note, w->s.schema_dir, deploy_edit, j);
        deploy.held = r->doc;
        deploy.held_version = r->version;
        deploy.best_effort = 1; /* the guest has moved: the job ends even if es.xml cannot say so */
        rc = STORE(ex, r->err,
                   jobstore_job_finish(ex->js, j, failed ? JOB_FAILED : JOB_SUCCEEDED,
                                       failed ? r->failure : NULL, (long)(util_now_ms() - t0),
                                       r->deploy && !failed ? &deploy.base : NULL, w->owner,
                                       w->source, r->err, sizeof(r->err)));
        if (rc == 0 && deploy.error[0])
            worker_log_at(WORKER_LOG_ERROR, "[%s] could not record the deployment in es.xml: %s",
                          ex->tag, deploy.error);
        if (rc == 0) {
            metrics_job_finished(failed ? JOB_FAILED : JOB_SUCCEEDED);
            if (failed)
                worker_log_at(WORKER_LOG_ERROR, "[%s] Job %s failed: %s", ex->tag, j->id,
                              r->failure);
            else
                worker_log("[%s] Done [Elapsed = %lld mS]", ex->tag,
                           (long long)(util_now_ms() - t0));
            return;
        }
        o = rc == -JOBSTORE_ELEASE ? RUN_LOST : rc == -JOBSTORE_EDB ? RUN_STOPPED : o;
        if (o != RUN_LOST && o != RUN_STOPPED) {
            worker_log_at(WORKER_LOG_ERROR,
                          "[%s] Job %s could not be ended (%s): %s; it is no longer worked on "
                          "here, its lease runs out within %d s and another worker takes it over",
                          ex->tag, j->id, failed ? r->failure : "succeeded", r->err, w->s.lease_s);
            return;
        }
    }
    if (o == RUN_LOST) {
        worker_log("[%s] %s", ex->tag, r->err);
        return;
    }
    if (o == RUN_CANCELLED) { /* ended (and logged) by cancel_point */
        metrics_job_finished(JOB_CANCELLED);
        return;
    }
    /* RUN_STOPPED: hand it back now (if the database is down too, the lease runs out). */
    if (jobstore_lease_release(ex->js, w->owner, j->id, r->err, sizeof(r->err)) != 0)
        worker_log("[%s] handing job %s back: %s (its lease runs out within %d s)", ex->tag, j->id,
                   r->err, w->s.lease_s);
}

void executor_run_job(executor *ex, job *j)
{
    worker *w = ex->w;
    int64_t t0 = util_now_ms();
    run r;

    memset(&r, 0, sizeof(r));
    r.ex = ex;
    r.j = j;
    if (worker_hold(w, ex->index, j->id) != 0) {
        worker_log("[%s] job %s is being worked on by another executor here; left to it", ex->tag,
                   j->id);
        return;
    }
    snprintf(ex->tag, sizeof(ex->tag), "%.8s %s", j->id, j->guest);
    worker_log_context(j->id, j->guest, NULL);
    metrics_jobs_active(1);
    worker_log("[%s] %s job %s (attempt %d): %s from %s to %s, MODE=%s", ex->tag,
               j->takeover ? "Taking over" : "Starting", j->id, j->attempt, j->guest, j->src_host,
               j->tgt_host, mode_to_string(j->mode));
    run_end(&r, execute(&r), t0);
    migrate_env_free(&r.env);
    esxml_free(r.doc);
    metrics_jobs_active(-1);
    worker_log_context(NULL, NULL, NULL);
    worker_hold(w, ex->index, NULL);
}

/* An idle executor looks for work when PostgreSQL says there may be some (a kvmove_jobs
 * notification: a job queued, handed back, or a running one ended while others wait), and at
 * least every IDLE_POLL_MS, because a lease running out is announced by nothing. One idle
 * executor per worker listens (w->listener); the others wait on w->idle_cond for that role, so
 * that a new job costs this worker one claim, not one per idle executor. */
#define IDLE_POLL_MS 1000
/* The longest an idle executor waits without looking at worker_running. */
#define IDLE_SLICE_MS 200

/* Waits, idle, for a reason to look for work. Returns 1 to claim now, 0 to wait again. */
static int idle_wait(executor *ex, int64_t last_claim)
{
    worker *w = ex->w;
    int rc;

    pthread_mutex_lock(&w->idle_lock);
    if (w->listener == 0) {
        w->listener = ex->index + 1; /* the role was free: look once before listening */
        pthread_mutex_unlock(&w->idle_lock);
        return 1;
    }
    if (w->listener != ex->index + 1) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += IDLE_SLICE_MS * 1000000L;
        ts.tv_sec += ts.tv_nsec / 1000000000L;
        ts.tv_nsec %= 1000000000L;
        pthread_cond_timedwait(&w->idle_cond, &w->idle_lock, &ts);
        rc = w->listener == 0;
        if (rc)
            w->listener = ex->index + 1;
        pthread_mutex_unlock(&w->idle_lock);
        return rc;
    }
    pthread_mutex_unlock(&w->idle_lock);
    return worker_wait_work(ex->js, IDLE_SLICE_MS, last_claim, IDLE_POLL_MS, ex->tag);
}

/* Gives the listener role up (EX goes to work); with MORE another idle executor takes it and
 * looks for work at once. */
static void idle_leave(executor *ex, int more)
{
    worker *w = ex->w;

    pthread_mutex_lock(&w->idle_lock);
    if (w->listener == ex->index + 1)
        w->listener = 0;
    if (more || w->listener == 0)
        pthread_cond_signal(&w->idle_cond);
    pthread_mutex_unlock(&w->idle_lock);
}

void *executor_main(void *arg)
{
    executor *ex = arg;
    worker *w = ex->w;
    char err[1024];
    int64_t last_claim = 0;
    int look = 1;

    snprintf(ex->tag, sizeof(ex->tag), "executor %d", ex->index);
    while (worker_running) {
        job j;
        int rc;
        if (ex->js == NULL &&
            (jobstore_connect(w->s.db, &ex->js, err, sizeof(err)) != 0 ||
             jobstore_listen(ex->js, JOBSTORE_CHANNEL_JOBS, err, sizeof(err)) != 0)) {
            worker_log("[%s] %s", ex->tag, err);
            jobstore_close(ex->js);
            ex->js = NULL;
            worker_sleep_ms(1000);
            continue;
        }
        if (!look) {
            look = idle_wait(ex, last_claim);
            continue;
        }
        look = 0;
        last_claim = util_now_ms();
        rc = jobstore_job_claim(ex->js, w->owner, w->s.lease_s, w->s.max_jobs_per_host, &j, err,
                                sizeof(err));
        if (rc < 0) {
            worker_log("[%s] %s", ex->tag, err);
            jobstore_ensure(ex->js, err, sizeof(err));
            worker_sleep_ms(1000);
            look = 1;
            continue;
        }
        if (rc == 0)
            continue;
        idle_leave(ex, j.more);
        executor_run_job(ex, &j);
        snprintf(ex->tag, sizeof(ex->tag), "executor %d", ex->index);
        look = 1;
    }
    idle_leave(ex, 0);
    pool_close(ex);
    jobstore_close(ex->js);
    ex->js = NULL;
    return NULL;
}
