/* migrate: the eleven offline-migration steps and the rollback steps that undo them, each
 * observing the host before it acts. */
#include "migrate.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "failure.h"
#include "hostops.h"
#include "util.h"

/* Observations made before STOP_GUEST and used once inside the downtime. Within one job nothing
 * else changes these hosts' view of the guest (one active job per guest); a step that uses an
 * entry clears it, so a retry or a takeover observes afresh. */
struct migrate_cache {
    int vf_src, vf_tgt; /* VF pools in use: -1 unknown */
    int src_valid;      /* source: cfg mounted, in fstab, attached volumes */
    int src_mounted, src_fstab;
    char *src_attached;
    int tgt_valid; /* target: the same, and the domain */
    int tgt_mounted, tgt_fstab;
    char *tgt_attached;
    int tgt_domain; /* -1 unknown, 0 not defined, 1 defined */
    int tgt_autostart;
    int tgt_defined_off; /* MIGRATE_GUEST just defined it: defined and shut off */
};

/* Most sessions one step holds (the source and the target). */
#define HELD_MAX 4

/* One step's run: where output lines go, the sessions it holds, and how it ends. */
typedef struct run {
    migrate_env *env;
    step_id step;
    migrate_result *res;
    util_lines out; /* becomes res->output */
    char err[1024];
    struct {
        hostconn *c;
        int rc;       /* 0, or the code of a command that failed on it */
    } held[HELD_MAX]; /* released to env->release when the step ends */
    int n_held;
} run;

static void say(run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void say(run *r, const char *fmt, ...)
{
    char line[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    util_lines_add(&r->out, line);
    r->res->output = r->out.buf;
    if (r->env->log)
        r->env->log(r->env->ctx, line);
}

static int fail(run *r, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Ends the step as failed. RC says what went wrong: a negative hostconn code, whose class
 * (failure_of_hostconn, the one rule) says whether a retry may help; or 0 when a host or kvmove
 * itself said no, which a retry would only hear again. Returns -1. */
static int fail(run *r, int rc, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(r->res->message, sizeof(r->res->message), fmt, ap);
    va_end(ap);
    r->res->state = STEP_FAILED;
    r->res->transient = rc < 0 && failure_of_hostconn(rc) == FAILURE_TRANSIENT;
    return -1;
}

static int done(run *r, step_state state, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int done(run *r, step_state state, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(r->res->message, sizeof(r->res->message), fmt, ap);
    va_end(ap);
    r->res->state = state;
    return 0;
}

static const char *G(const run *r)
{
    return r->env->guest->hostname;
}
static const char *S(const run *r)
{
    return r->env->src->hostname;
}
static const char *T(const run *r)
{
    return r->env->tgt->hostname;
}

/* Opens (or reuses) the session to HOST, held until the step ends. Returns 0, or the negative
 * hostconn code with r->err. */
static int conn(run *r, const esxml_host *host, hostconn **c)
{
    int rc;

    if (r->n_held == HELD_MAX) {
        util_errf(r->err, sizeof(r->err), "step holds too many SSH sessions");
        return -HOSTCONN_EIO;
    }
    rc = r->env->connect(r->env->ctx, host, c, r->err, sizeof(r->err));
    if (rc == 0) {
        r->held[r->n_held].c = *c;
        r->held[r->n_held++].rc = 0;
    }
    return rc;
}

/* Notes that a command on C failed with RC, for the release of C. */
static void conn_failed(run *r, hostconn *c, int rc)
{
    int i;

    for (i = 0; i < r->n_held && rc < 0; i++)
        if (r->held[i].c == c && r->held[i].rc == 0)
            r->held[i].rc = rc;
}

/* Gives every session of the step back to the caller's pool. */
static void conn_release_all(run *r)
{
    int i;

    for (i = 0; i < r->n_held; i++)
        if (r->env->release)
            r->env->release(r->env->ctx, r->held[i].c, r->held[i].rc);
    r->n_held = 0;
}

/* The target's session; the step fails when there is none. Returns 0 or -1. */
static int target(run *r, hostconn **c)
{
    int rc = conn(r, r->env->tgt, c);

    return rc < 0 ? fail(r, rc, "%s", r->err) : 0;
}

/* 1 if OFFLINEFORCE goes on without the source: only when it cannot be reached at all. A source
 * that answers but refuses us (host key, authentication) is not down: an operator must look. */
static int source_down(const run *r, int rc)
{
    return r->env->mode == MODE_OFFLINEFORCE && rc == -HOSTCONN_EUNREACHABLE;
}

/* Fails the step for a source that could not be connected to (RC, r->err). An unreachable one
 * is retried (a host that blinks: sshd restart) before the job fails with what to do if it is
 * really down. Returns -1. */
static int source_failed(run *r, int rc)
{
    if (rc == -HOSTCONN_EUNREACHABLE && r->env->reversed)
        return fail(r, rc,
                    "KVM host %s is unreachable (%s); a rollback needs both hosts: run it again "
                    "('kvmove rollback JOB') once the host is back",
                    S(r), r->err);
    if (rc == -HOSTCONN_EUNREACHABLE)
        return fail(r, rc,
                    "source KVM host %s is unreachable (%s); if the host is really down, use "
                    "MODE=OFFLINEFORCE",
                    S(r), r->err);
    return fail(r, rc, "%s", r->err);
}

/* Runs OP; returns the exit status (>= 0), or a negative code with r->err set. */
static int op(run *r, hostconn *c, hostop o, const hostops_var *v, size_t n, char **out)
{
    int status = -1;
    int rc =
        hostops_run(c, o, v, n, r->env->command_timeout_ms, &status, out, r->err, sizeof(r->err));

    conn_failed(r, c, rc);
    return rc < 0 ? rc : status;
}

/* Runs OP and fails the step unless it exits 0. */
static int must(run *r, hostconn *c, hostop o, const hostops_var *v, size_t n, char **out)
{
    int rc = op(r, c, o, v, n, out);

    if (rc == 0)
        return 0;
    return fail(r, rc < 0 ? rc : 0, "%s", r->err);
}

static int in_downtime(step_id s);
static step_id steps_undone(step_id s);

/* How a step sends several commands: one by one in the spec's sequential plan; inside the
 * downtime, commands that do not depend on each other (AT_ONCE) all at once on channels of their
 * own, so that the slowest counts, not their sum (a volume attach on Exascale takes seconds);
 * otherwise in one exec, in order (one round trip). */
enum { IN_ORDER, AT_ONCE };

static hostops_mode send_mode(const run *r, int independent)
{
    if (r->env->sequential)
        return HOSTOPS_EACH;
    return independent == AT_ONCE && in_downtime(r->step) ? HOSTOPS_AT_ONCE : HOSTOPS_ONE_EXEC;
}

/* Runs CALLS on C (HOW: IN_ORDER, or AT_ONCE when they do not depend on each other; see
 * send_mode). Fails the step when a command could not run to its end; exit statuses are the
 * caller's to read. */
static int batch(run *r, hostconn *c, int how, const hostops_call *calls, size_t n,
                 hostconn_result *res)
{
    int rc = hostops_run_many(c, calls, n, send_mode(r, how), r->env->command_timeout_ms, res,
                              r->err, sizeof(r->err));

    if (rc == 0)
        return 0;
    conn_failed(r, c, rc);
    hostconn_result_free(res, n);
    return fail(r, rc, "%s", r->err);
}

/* Fails the step unless the batch's command I exited 0; frees the whole batch on failure. */
static int batch_ok(run *r, hostconn *c, const hostops_call *calls, size_t n, hostconn_result *res,
                    size_t i)
{
    char *command;
    size_t len;

    if (res[i].exit_status == 0)
        return 0;
    command = hostops_render(calls[i].op, calls[i].vars, calls[i].n_vars, r->err, sizeof(r->err));
    /* The words hostops_run's message has for a command alone: the host's, without the
     * trailing newlines. */
    len = res[i].err ? strlen(res[i].err) : 0;
    while (len > 0 && res[i].err[len - 1] == '\n')
        res[i].err[--len] = '\0';
    fail(r, 0, "'%s' on %s exited %d%s%s", command ? command : hostops_name(calls[i].op),
         hostconn_address(c), res[i].exit_status, len ? ": " : "", len ? res[i].err : "");
    free(command);
    hostconn_result_free(res, n);
    return -1;
}

/* Runs CALLS like batch() and fails the step unless every command exited 0; the results are
 * freed either way. */
static int batch_all_ok(run *r, hostconn *c, int how, const hostops_call *calls, size_t n,
                        hostconn_result *res)
{
    size_t i;

    if (batch(r, c, how, calls, n, res) < 0)
        return -1;
    for (i = 0; i < n; i++)
        if (batch_ok(r, c, calls, n, res, i) < 0)
            return -1;
    hostconn_result_free(res, n);
    return 0;
}

static int nonblank(const char *s)
{
    return s && strspn(s, " \t\n") != strlen(s);
}

/* Takes the output of RES (the caller frees it). */
static char *take_out(hostconn_result *res)
{
    char *o = res->out;
    res->out = NULL;
    return o;
}

static const esxml_volume *config_volume(const esxml_guest *g)
{
    size_t i;

    for (i = 0; i < g->n_volumes; i++)
        if (g->volumes[i].is_config)
            return &g->volumes[i];
    return NULL;
}

/* Asks C's host about the guest with O (HOP_DOMAIN_STATE or HOP_DOMAIN_INFO) into *D. Returns
 * 0, or a negative hostconn code with r->err: -HOSTCONN_EIO when the host could not say (libvirtd
 * not answering is as worth a retry as a broken session, and is never "not defined"). */
static int domain(run *r, hostconn *c, hostop o, hostops_domain *d)
{
    hostops_var v[] = {{"guest", G(r)}};
    char *out = NULL;
    int rc = op(r, c, o, v, 1, &out);

    if (rc >= 0)
        hostops_domain_parse(rc, out, r->err, d);
    free(out);
    if (rc < 0)
        return rc;
    return d->defined < 0 ? -HOSTCONN_EIO : 0;
}

/* Source host for a step that may be skipped when OFFLINEFORCE finds it unreachable.
 * Returns 0 with *C, 1 when the step was ended as skipped, -1 when it failed. */
static int source_or_skip(run *r, hostconn **c)
{
    int rc = conn(r, r->env->src, c);

    if (rc == 0)
        return 0;
    if (source_down(r, rc)) {
        say(r, "KVM host %s is unreachable; skipping (MODE=OFFLINEFORCE): %s", S(r), r->err);
        r->res->cleanup_pending = 1;
        done(r, STEP_SKIPPED,
             "source host %s unreachable, skipped in OFFLINEFORCE mode; "
             "source-side cleanup is pending",
             S(r));
        return 1;
    }
    return source_failed(r, rc);
}

static int step_stop_guest(run *r)
{
    struct migrate_cache *k = r->env->cache;
    hostconn *c;
    hostops_var v[] = {{"guest", G(r)}};
    /* Everything the source-side steps inside the downtime need to know is asked now, while
     * the guest still runs, in one round trip. */
    hostops_call obs[] = {{HOP_DOMAIN_STATE, v, 1},
                          {HOP_VFPOOL_LIST, NULL, 0},
                          {HOP_CFG_MOUNTED, v, 1},
                          {HOP_FSTAB_HAS, v, 1},
                          {HOP_VOLUME_LIST, NULL, 0}};
    hostconn_result res[5];
    hostops_domain d;
    int rc, force = r->env->mode == MODE_OFFLINEFORCE;

    if ((rc = source_or_skip(r, &c)) != 0)
        return rc < 0 ? -1 : 0;
    say(r, "Stopping Guest %s on KVM host %s", G(r), S(r));
    if (batch(r, c, AT_ONCE, obs, 5, res) < 0)
        return -1;
    if (res[1].exit_status == 0)
        k->vf_src = nonblank(res[1].out);
    if (res[4].exit_status == 0) {
        k->src_valid = 1;
        k->src_mounted = res[2].exit_status == 0;
        k->src_fstab = res[3].exit_status == 0;
        free(k->src_attached);
        k->src_attached = take_out(&res[4]);
    }
    hostops_domain_parse(res[0].exit_status, res[0].out, res[0].err, &d);
    if (d.defined < 0) {
        /* libvirtd not answering is as worth a retry as a broken session */
        fail(r, -HOSTCONN_EIO, "cannot tell the state of %s on %s: %s", G(r), S(r),
             res[0].err ? res[0].err : "");
        hostconn_result_free(res, 5);
        return -1;
    }
    hostconn_result_free(res, 5);
    if (!d.defined) {
        say(r, "%s is not defined on %s", G(r), S(r));
        return done(r, STEP_SUCCEEDED, "%s is not defined on %s (already moved)", G(r), S(r));
    }
    if (d.running) {
        say(r, "Waiting for node : %s to be stopped", G(r));
        /* The stop tool returns once the domain is off; MIGRATE_GUEST refuses a running guest,
         * so a stop that lied cannot lead to two copies. */
        if (must(r, c, force ? HOP_DOMAIN_DESTROY : HOP_DOMAIN_SHUTDOWN, v, 1, NULL) < 0)
            return -1;
        if (r->env->sequential) {
            if ((rc = domain(r, c, HOP_DOMAIN_STATE, &d)) < 0)
                return fail(r, rc, "%s", r->err);
            if (d.defined && d.running)
                return fail(r, 0, "%s is still running on %s after %s", G(r), S(r),
                            force ? "a forced stop"
                                  : "a graceful shutdown (try MODE=OFFLINEFORCE)");
        }
    }
    say(r, "%s is down", G(r));
    say(r, "%s is Down", G(r));
    return done(r, STEP_SUCCEEDED, "%s is down on %s", G(r), S(r));
}

/* The guest's re* interfaces (private networks) from es.xml. */
static int is_re_iface(const esxml_network *n)
{
    return n->iface && strncmp(n->iface, "re", 2) == 0;
}

/* VF pools on the step's host, from the job's cache when an earlier step asked already. */
static int vf_pools_in_use(run *r, hostconn *c, int *cache)
{
    char *out = NULL;
    int rc, inuse;

    if (*cache >= 0)
        return *cache;
    rc = op(r, c, HOP_VFPOOL_LIST, NULL, 0, &out);
    inuse = rc == 0 && out && strspn(out, " \t\n") != strlen(out);
    free(out);
    if (rc == 0)
        *cache = inuse;
    return rc < 0 ? rc : inuse;
}

static int interfaces(run *r, const esxml_host *h, hostconn *c, int attach)
{
    hostops_var v[2] = {{"guest", G(r)}, {"iface", NULL}};
    hostops_var iv[64][2];
    hostops_call acts[64];
    hostconn_result ares[64];
    char *out = NULL;
    int vf, rc;
    size_t i, n_acts = 0;

    say(r, "%s Network Interfaces for Guest : %s on KVM host %s",
        attach ? "Attaching" : "Detaching", G(r), h->hostname);
    vf = vf_pools_in_use(r, c, attach ? &r->env->cache->vf_tgt : &r->env->cache->vf_src);
    if (vf < 0)
        return fail(r, vf, "%s", r->err);
    if (vf) {
        if (attach)
            say(r,
                "VF POOLS in use in kvmHost %s. No need to attach re* interfaces. Proceeding "
                "with other post-mgration tasks.",
                h->hostname);
        else
            say(r, "VF POOLS in use in kvmHost %s. No need to detach re* interfaces", h->hostname);
        return done(r, STEP_SUCCEEDED, "VF pools in use on %s; re* interfaces left alone",
                    h->hostname);
    }
    if ((rc = op(r, c, HOP_IFACE_LIST, v, 1, &out)) != 0) {
        char why[sizeof(r->err)];
        hostops_domain d;
        free(out);
        util_strlcpy(why, r->err, sizeof(why));
        /* A source the guest has left already (a re-run after MIGRATE_GUEST) has no interfaces
         * of it to detach: the host cannot list them, as it does not know the guest. */
        if (!attach && rc > 0 && domain(r, c, HOP_DOMAIN_STATE, &d) == 0 && !d.defined) {
            say(r, "%s is not defined on %s", G(r), h->hostname);
            return done(r, STEP_SUCCEEDED, "%s is not defined on %s (already moved)", G(r),
                        h->hostname);
        }
        return fail(r, rc < 0 ? rc : 0, "%s", why);
    }
    /* Every interface that is left to do, in one exec. */
    for (i = 0; i < r->env->guest->n_networks && n_acts < 64; i++) {
        const esxml_network *n = &r->env->guest->networks[i];
        int present;
        if (!is_re_iface(n))
            continue;
        present = util_has_line(out, n->iface);
        if (present == attach)
            continue;
        iv[n_acts][0] = v[0];
        iv[n_acts][1] = (hostops_var){"iface", n->iface};
        say(r, "%s interface %s %s guest %s on KVM host %s", attach ? "Attaching" : "Detaching",
            n->iface, attach ? "to" : "from", G(r), h->hostname);
        acts[n_acts] = (hostops_call){attach ? HOP_IFACE_ATTACH : HOP_IFACE_DETACH, iv[n_acts], 2};
        n_acts++;
    }
    free(out);
    if (batch_all_ok(r, c, IN_ORDER, acts, n_acts, ares) < 0)
        return -1;
    return done(r, STEP_SUCCEEDED, "re* interfaces %s on %s", attach ? "attached" : "detached",
                h->hostname);
}

static int step_detach_interfaces(run *r)
{
    hostconn *c;
    int rc = source_or_skip(r, &c);

    if (rc != 0)
        return rc < 0 ? -1 : 0;
    return interfaces(r, r->env->src, c, 0);
}

static int step_attach_interfaces(run *r)
{
    hostconn *c;

    if (target(r, &c) < 0)
        return -1;
    return interfaces(r, r->env->tgt, c, 1);
}

static int step_detach_volumes(run *r)
{
    const esxml_guest *g = r->env->guest;
    const esxml_volume *cfg = config_volume(g);
    hostconn *c;
    char *attached = NULL;
    size_t i;
    int rc = conn(r, r->env->src, &c);

    if (source_down(r, rc)) {
        /* The storage can drop a dead host's attachments: do it from the target. */
        hostconn *t;
        say(r,
            "KVM host %s is unreachable; detaching Exascale volumes of %s storage-side "
            "(MODE=OFFLINEFORCE)",
            S(r), G(r));
        if (target(r, &t) < 0)
            return -1;
        for (i = 0; i < g->n_volumes; i++) {
            hostops_var v[] = {{"volume", g->volumes[i].name}, {"host", S(r)}};
            rc = op(r, t, HOP_VOLUME_DETACH_REMOTE, v, 2, NULL);
            if (rc < 0)
                return fail(r, rc, "%s", r->err);
            say(r, "Detaching EDV Volume %s from KVM host %s%s", g->volumes[i].name, S(r),
                rc == 0 ? "" : " (was not attached there)");
        }
        r->res->cleanup_pending = 1;
        return done(r, STEP_SUCCEEDED,
                    "volumes detached from %s storage-side; mount and fstab cleanup on %s is "
                    "pending",
                    S(r), S(r));
    }
    if (rc < 0)
        return source_failed(r, rc);
    say(r, "Detaching Exascale Volumes for Guest : %s on KVM host %s", G(r), S(r));
    {
        hostops_var gv[] = {{"guest", G(r)}};
        hostops_call obs[] = {
            {HOP_CFG_MOUNTED, gv, 1}, {HOP_FSTAB_HAS, gv, 1}, {HOP_VOLUME_LIST, NULL, 0}};
        hostops_call acts[2 + 64];
        hostops_var vv[64][1];
        hostconn_result res[3], ares[2 + 64];
        size_t n = 0;
        int mounted, in_fstab;

        if (r->env->cache->src_valid) {
            mounted = r->env->cache->src_mounted;
            in_fstab = r->env->cache->src_fstab;
            attached = r->env->cache->src_attached;
            r->env->cache->src_attached = NULL;
            r->env->cache->src_valid = 0;
        } else {
            if (batch(r, c, AT_ONCE, obs, 3, res) < 0 || batch_ok(r, c, obs, 3, res, 2) < 0)
                return -1;
            mounted = res[0].exit_status == 0;
            in_fstab = res[1].exit_status == 0;
            attached = take_out(&res[2]);
            hostconn_result_free(res, 3);
        }
        if (mounted && cfg) {
            say(r,
                "Unmounting Guest Configuration Files volume /dev/exc/%s for guest %s on "
                "kvmhost %s.",
                cfg->device, G(r), S(r));
            if (must(r, c, HOP_CFG_UMOUNT, gv, 1, NULL) < 0) {
                free(attached);
                return -1;
            }
        }
        if (in_fstab && cfg) {
            say(r,
                "Removing Guest Configuration Volume entry /dev/exc/%s for guest %s from fstab "
                "on kvmhost %s.",
                cfg->device, G(r), S(r));
            acts[n++] = (hostops_call){HOP_FSTAB_REMOVE, gv, 1};
        }
        say(r,
            "Removing Guest Configuration Files directory /EXAVMIMAGES/GuestImages/%s for "
            "guest %s on kvmhost %s.",
            G(r), G(r), S(r));
        acts[n++] = (hostops_call){HOP_CFG_RMDIR, gv, 1};
        for (i = 0; i < g->n_volumes && i < 64; i++) {
            if (!util_has_line(attached, g->volumes[i].name))
                continue;
            say(r, "Detaching EDV Volume %s from KVM host %s", g->volumes[i].name, S(r));
            vv[i][0] = (hostops_var){"volume", g->volumes[i].name};
            acts[n++] = (hostops_call){HOP_VOLUME_DETACH, vv[i], 1};
        }
        free(attached);
        if (batch_all_ok(r, c, AT_ONCE, acts, n, ares) < 0)
            return -1;
    }
    return done(r, STEP_SUCCEEDED, "%zu volumes detached from %s", g->n_volumes, S(r));
}

static int step_attach_volumes(run *r)
{
    const esxml_guest *g = r->env->guest;
    const esxml_volume *cfg = config_volume(g);
    hostops_var gv[] = {{"guest", G(r)}, {"device", cfg ? cfg->device : ""}};
    hostops_call obs[] = {
        {HOP_VOLUME_LIST, NULL, 0}, {HOP_CFG_MOUNTED, gv, 1}, {HOP_FSTAB_HAS, gv, 1}};
    hostops_call acts[1 + 64];
    hostops_var vv[64][2];
    hostconn_result res[3], ares[1 + 64];
    hostconn *c;
    char *attached;
    size_t i, n = 0;
    int mounted, in_fstab;

    if (target(r, &c) < 0)
        return -1;
    say(r, "Attaching Exascale volumes for Guest : %s on KVM host %s", G(r), T(r));
    if (r->env->cache->tgt_valid) {
        attached = r->env->cache->tgt_attached;
        r->env->cache->tgt_attached = NULL;
        mounted = r->env->cache->tgt_mounted;
        in_fstab = r->env->cache->tgt_fstab;
        r->env->cache->tgt_valid = 0;
    } else {
        if (batch(r, c, AT_ONCE, obs, 3, res) < 0 || batch_ok(r, c, obs, 3, res, 0) < 0)
            return -1;
        attached = take_out(&res[0]);
        mounted = res[1].exit_status == 0;
        in_fstab = res[2].exit_status == 0;
        hostconn_result_free(res, 3);
    }
    for (i = 0; i < g->n_volumes && i < 64; i++) {
        if (util_has_line(attached, g->volumes[i].name))
            continue;
        say(r, "Attaching EDV Volume %s using device %s to host %s", g->volumes[i].name,
            g->volumes[i].device, T(r));
        vv[i][0] = (hostops_var){"volume", g->volumes[i].name};
        vv[i][1] = (hostops_var){"device", g->volumes[i].device};
        acts[n++] = (hostops_call){HOP_VOLUME_ATTACH, vv[i], 2};
    }
    free(attached);
    if (cfg)
        acts[n++] = (hostops_call){HOP_CFG_MKDIR, gv, 1};
    if (batch_all_ok(r, c, AT_ONCE, acts, n, ares) < 0)
        return -1;
    if (cfg) {
        n = 0;
        if (!mounted) {
            say(r,
                "Mounting Guest Configuration Files volume /dev/exc/%s for guest %s on "
                "kvmhost %s.",
                cfg->device, G(r), T(r));
            acts[n++] = (hostops_call){HOP_CFG_MOUNT, gv, 2};
        }
        if (!in_fstab) {
            say(r,
                "Adding Guest Configuration Volume entry /dev/exc/%s for guest %s to fstab on "
                "kvmhost %s.",
                cfg->device, G(r), T(r));
            acts[n++] = (hostops_call){HOP_FSTAB_ADD, gv, 2};
        }
        if (batch_all_ok(r, c, AT_ONCE, acts, n, ares) < 0)
            return -1;
    }
    return done(r, STEP_SUCCEEDED, "%zu volumes attached to %s", g->n_volumes, T(r));
}

migrate_bridge_fate migrate_bridge_fate_of(const char *bridge, int in_use, const char *created)
{
    if (in_use)
        return MIGRATE_BRIDGE_IN_USE;
    if (created != NULL && !util_has_line(created, bridge))
        return MIGRATE_BRIDGE_PREEXISTING;
    return MIGRATE_BRIDGE_REMOVE;
}

/* A CREATE step of a migration (not of a rollback, which nothing undoes) records the bridges
 * it is about to create, NAMES (one a line; NULL for none; COMPLETE 0 when one could not be
 * added to it), before it sends the first: a crash after that leaves a record that may name a
 * bridge not created yet, never a created one missing. Returns 0, or -1 with the step failed
 * as transient (nothing sent). */
static int record_created(run *r, const char *names, int complete)
{
    if (r->env->reversed || r->env->bridges_record == NULL)
        return 0;
    if (!complete)
        return fail(r, -HOSTCONN_EIO, "out of memory for the bridges %s is about to create",
                    step_to_string(r->step));
    if (r->env->bridges_record(r->env->bridges_ctx, r->step, names ? names : "", r->err,
                               sizeof(r->err)) == 0)
        return 0;
    return fail(r, -HOSTCONN_EIO, "cannot record the bridges %s is about to create on %s: %s",
                step_to_string(r->step), T(r), r->err);
}

/* For a rollback's removal: *CREATED = what the migration step it undoes recorded as created
 * (NULL: no record, every unused bridge goes, as for a job from before the record; and always
 * for the forward removal from the source). Returns 0, or -1 with the step failed as
 * transient (nothing sent). */
static int created_by_undone(run *r, char **created)
{
    *created = NULL;
    if (!r->env->reversed || r->env->bridges_created == NULL)
        return 0;
    if (r->env->bridges_created(r->env->bridges_ctx, steps_undone(r->step), created, r->err,
                                sizeof(r->err)) == 0)
        return 0;
    return fail(r, -HOSTCONN_EIO, "cannot read the bridges the migration created on %s: %s", S(r),
                r->err);
}

static int step_create_bridges(run *r)
{
    const esxml_guest *g = r->env->guest;
    hostops_var gv[] = {{"guest", G(r)}};
    /* Before the guest stops: also everything the target-side steps inside the downtime need
     * to know, in the same round trip. */
    hostops_call obs[] = {{HOP_BRIDGE_LIST, NULL, 0}, {HOP_VFPOOL_LIST, NULL, 0},
                          {HOP_VOLUME_LIST, NULL, 0}, {HOP_CFG_MOUNTED, gv, 1},
                          {HOP_FSTAB_HAS, gv, 1},     {HOP_DOMAIN_INFO, gv, 1}};
    hostconn_result res[6], ares[64];
    hostops_call acts[64];
    hostops_var bv[64][2];
    char vlan[64][16];
    hostops_domain d;
    struct migrate_cache *k = r->env->cache;
    hostconn *c;
    char *have;
    util_lines names = {0};
    size_t i;
    int added = 0, named = 1, rc;

    if (target(r, &c) < 0)
        return -1;
    say(r, "Creating Network Bridge for Guest : %s on KVM host %s", G(r), T(r));
    if (batch(r, c, AT_ONCE, obs, 6, res) < 0 || batch_ok(r, c, obs, 6, res, 0) < 0)
        return -1;
    if (res[1].exit_status == 0)
        k->vf_tgt = nonblank(res[1].out);
    if (res[2].exit_status == 0) {
        k->tgt_valid = 1;
        free(k->tgt_attached);
        k->tgt_attached = take_out(&res[2]);
        k->tgt_mounted = res[3].exit_status == 0;
        k->tgt_fstab = res[4].exit_status == 0;
        /* Unknown (left for MIGRATE_GUEST to ask) unless the answer was clear. */
        hostops_domain_parse(res[5].exit_status, res[5].out, res[5].err, &d);
        k->tgt_domain = d.defined;
        k->tgt_autostart = d.autostart;
    }
    have = take_out(&res[0]);
    hostconn_result_free(res, 6);
    /* Every bridge that is missing, in one exec. */
    for (i = 0; i < g->n_networks && added < 64; i++) {
        const esxml_network *n = &g->networks[i];
        if (n->bridge == NULL || util_has_line(have, n->bridge))
            continue;
        snprintf(vlan[added], sizeof(vlan[added]), "%d", n->vlan);
        bv[added][0] = (hostops_var){"bridge", n->bridge};
        bv[added][1] = (hostops_var){"vlan", vlan[added]};
        if (n->vlan > 0)
            say(r, "Creating bridge %s (VLAN %d) on KVM host %s", n->bridge, n->vlan, T(r));
        else
            say(r, "Creating bridge %s (untagged) on KVM host %s", n->bridge, T(r));
        /* es.xml's untagged bridge (no vlanId) stays untagged on the target too. */
        acts[added] = (hostops_call){n->vlan > 0 ? HOP_BRIDGE_ADD : HOP_BRIDGE_ADD_UNTAGGED,
                                     bv[added], n->vlan > 0 ? 2 : 1};
        named &= util_lines_add(&names, n->bridge) == 0;
        added++;
    }
    free(have);
    rc = record_created(r, names.buf, named);
    free(names.buf);
    if (rc < 0 || batch_all_ok(r, c, IN_ORDER, acts, (size_t)added, ares) < 0)
        return -1;
    return done(r, STEP_SUCCEEDED, "%d bridges created on %s", added, T(r));
}

static int step_remove_bridges(run *r)
{
    const esxml_guest *g = r->env->guest;
    hostconn *c;
    char *have = NULL, *created = NULL;
    size_t i;
    hostops_domain d;
    hostops_call acts[64];
    hostops_var bv[64][1];
    hostconn_result ares[64];
    int removed = 0, rc = source_or_skip(r, &c);

    if (rc != 0)
        return rc < 0 ? -1 : 0;
    if (r->env->mode == MODE_OFFLINEFORCE) {
        /* A source that was down earlier in this job and is back still has the guest's stale
         * copy, which uses its bridges: they go with that copy, in its pending cleanup. */
        if ((rc = domain(r, c, HOP_DOMAIN_STATE, &d)) < 0)
            return fail(r, rc, "%s", r->err);
        if (d.defined) {
            say(r,
                "Keeping the bridges of %s on KVM host %s: its stale copy is still defined "
                "there; the pending cleanup removes them with it",
                G(r), S(r));
            r->res->cleanup_pending = 1;
            return done(r, STEP_SKIPPED,
                        "the stale copy of %s on %s still uses its bridges; "
                        "source-side cleanup is pending",
                        G(r), S(r));
        }
    }
    say(r, "Removing Network Bridges for Guest : %s on KVM host %s", G(r), S(r));
    if (must(r, c, HOP_BRIDGE_LIST, NULL, 0, &have) < 0 || created_by_undone(r, &created) < 0) {
        free(have);
        return -1;
    }
    for (i = 0; i < g->n_networks && removed < 64; i++) {
        const esxml_network *n = &g->networks[i];
        if (n->bridge == NULL || !util_has_line(have, n->bridge))
            continue;
        switch (migrate_bridge_fate_of(
            n->bridge, esxml_bridge_in_use(r->env->doc, r->env->src, r->env->guest, n->bridge),
            created)) {
        case MIGRATE_BRIDGE_IN_USE:
            say(r, "Keeping bridge %s on KVM host %s: other guests use it", n->bridge, S(r));
            continue;
        case MIGRATE_BRIDGE_PREEXISTING:
            say(r, "Keeping bridge %s on KVM host %s: it was there before the migration", n->bridge,
                S(r));
            continue;
        case MIGRATE_BRIDGE_REMOVE:
            break;
        }
        say(r, "Removing bridge %s from KVM host %s", n->bridge, S(r));
        bv[removed][0] = (hostops_var){"bridge", n->bridge};
        acts[removed] = (hostops_call){HOP_BRIDGE_REMOVE, bv[removed], 1};
        removed++;
    }
    free(have);
    free(created);
    /* Every bridge that goes, in one exec. */
    if (batch_all_ok(r, c, IN_ORDER, acts, (size_t)removed, ares) < 0)
        return -1;
    return done(r, STEP_SUCCEEDED, "%d bridges removed from %s", removed, S(r));
}

static int nat_bridges(run *r, int create)
{
    const esxml_guest *g = r->env->guest;
    const esxml_host *h = create ? r->env->tgt : r->env->src;
    hostconn *c;
    char *have = NULL, *created = NULL;
    util_lines names = {0};
    hostops_call acts[64];
    hostops_var bv[64][1];
    hostconn_result ares[64];
    size_t i, n = 0;
    int named = 1, rc;

    if (!migrate_step_applies(r->env, r->step)) {
        say(r, "Skipping NAT bridge %s since this is not a cloud deployment...",
            create ? "creation" : "removal");
        return done(r, STEP_SKIPPED, "not a cloud deployment");
    }
    if (create) {
        if (target(r, &c) < 0)
            return -1;
    } else if ((rc = source_or_skip(r, &c)) != 0) {
        return rc < 0 ? -1 : 0;
    }
    say(r, "%s NAT bridge for Guest : %s on KVM host %s", create ? "Creating" : "Removing", G(r),
        h->hostname);
    if (must(r, c, HOP_BRIDGE_LIST, NULL, 0, &have) < 0 ||
        (!create && created_by_undone(r, &created) < 0)) {
        free(have);
        return -1;
    }
    for (i = 0; i < g->n_networks && n < 64; i++) {
        const char *nb = g->networks[i].nat_bridge;
        if (nb == NULL || util_has_line(have, nb) == create)
            continue;
        switch (create ? MIGRATE_BRIDGE_REMOVE
                       : migrate_bridge_fate_of(
                             nb, esxml_bridge_in_use(r->env->doc, h, r->env->guest, nb), created)) {
        case MIGRATE_BRIDGE_IN_USE:
            say(r, "Keeping NAT bridge %s on KVM host %s: other guests use it", nb, h->hostname);
            continue;
        case MIGRATE_BRIDGE_PREEXISTING:
            say(r, "Keeping NAT bridge %s on KVM host %s: it was there before the migration", nb,
                h->hostname);
            continue;
        case MIGRATE_BRIDGE_REMOVE:
            break;
        }
        bv[n][0] = (hostops_var){"bridge", nb};
        acts[n] = (hostops_call){create ? HOP_NAT_BRIDGE_ADD : HOP_NAT_BRIDGE_REMOVE, bv[n], 1};
        if (create)
            named &= util_lines_add(&names, nb) == 0;
        n++;
    }
    free(have);
    free(created);
    rc = create ? record_created(r, names.buf, named) : 0;
    free(names.buf);
    /* Every NAT bridge left to do, in one exec. */
    if (rc < 0 || batch_all_ok(r, c, IN_ORDER, acts, n, ares) < 0)
        return -1;
    return done(r, STEP_SUCCEEDED, "NAT bridges %s on %s", create ? "created" : "removed",
                h->hostname);
}

static int step_remove_nat_bridge_src(run *r)
{
    return nat_bridges(r, 0);
}

static int step_create_nat_bridge_tgt(run *r)
{
    return nat_bridges(r, 1);
}

static int step_migrate_guest(run *r)
{
    hostops_var v[] = {{"guest", G(r)}};
    hostconn *s = NULL, *t;
    hostops_domain d;
    int rc, st;

    say(r, "Migrating Guest %s from KVM host %s to  KVM host %s", G(r), S(r), T(r));
    rc = conn(r, r->env->src, &s);
    if (rc < 0 && !source_down(r, rc))
        return source_failed(r, rc);
    if (target(r, &t) < 0)
        return -1;
    /* Source first: the guest must never be defined with autostart on two hosts. */
    if (rc == 0) {
        if ((st = domain(r, s, HOP_DOMAIN_INFO, &d)) < 0)
            return fail(r, st, "%s", r->err);
        if (d.defined && d.running)
            return fail(r, 0, "%s is running on %s; refusing to move it (run STOP_GUEST first)",
                        G(r), S(r));
        if (d.defined) {
            /* Undefining a persistent domain removes its autostart link with it; disabling
             * first only costs a round trip inside the downtime, so only the baseline does. */
            if (d.autostart && r->env->sequential) {
                say(r, "Disabling autostart for guest %s on kvm host %s", G(r), S(r));
                if (must(r, s, HOP_AUTOSTART_OFF, v, 1, NULL) < 0)
                    return -1;
            }
            say(r, "Undefining guest %s on kvm host %s%s", G(r), S(r),
                d.autostart && !r->env->sequential ? " (its autostart goes with it)" : "");
            if (must(r, s, HOP_DOMAIN_UNDEFINE, v, 1, NULL) < 0)
                return -1;
        }
    } else {
        r->res->cleanup_pending = 1;
        say(r,
            "KVM host %s is unreachable; its definition of %s will be removed by the pending "
            "cleanup",
            S(r), G(r));
    }
    if (r->env->cache->tgt_domain >= 0) { /* observed before the guest stopped */
        d.defined = r->env->cache->tgt_domain;
        d.autostart = r->env->cache->tgt_autostart;
        r->env->cache->tgt_domain = -1;
    } else if ((st = domain(r, t, HOP_DOMAIN_INFO, &d)) < 0) {
        return fail(r, st, "%s", r->err);
    }
    if (!d.defined && rc == 0) {
        /* Define and autostart in one exec (autostart fails too if the define did). */
        hostops_call acts[] = {{HOP_DOMAIN_DEFINE, v, 1}, {HOP_AUTOSTART_ON, v, 1}};
        hostconn_result ares[2];
        say(r, "Defining guest %s on kvm host %s", G(r), T(r));
        say(r, "Enabling autostart for guest %s on kvm host %s", G(r), T(r));
        if (batch_all_ok(r, t, IN_ORDER, acts, 2, ares) < 0)
            return -1;
        r->env->cache->tgt_defined_off = 1;
        return done(r, STEP_SUCCEEDED, "%s defined on %s with autostart", G(r), T(r));
    }
    if (!d.defined) {
        say(r, "Defining guest %s on kvm host %s", G(r), T(r));
        if (must(r, t, HOP_DOMAIN_DEFINE, v, 1, NULL) < 0)
            return -1;
        d.autostart = 0;
    }
    if (rc != 0) {
        /* The dead source still has the guest with autostart: enabling it here too would set
         * it on two hosts at once. The fence enables it once that copy is removed. */
        say(r,
            "Autostart for guest %s on kvm host %s is deferred until the stale copy on %s is "
            "removed (pending cleanup)",
            G(r), T(r), S(r));
        r->env->cache->tgt_defined_off = !d.defined;
        return done(r, STEP_SUCCEEDED, "%s defined on %s; autostart deferred until %s is cleaned",
                    G(r), T(r), S(r));
    }
    say(r, "Enabling autostart for guest %s on kvm host %s", G(r), T(r));
    if (!d.autostart && must(r, t, HOP_AUTOSTART_ON, v, 1, NULL) < 0)
        return -1;
    r->env->cache->tgt_defined_off = !d.defined;
    return done(r, STEP_SUCCEEDED, "%s defined on %s with autostart", G(r), T(r));
}

static int step_startup_guest(run *r)
{
    hostops_var v[] = {{"guest", G(r)}};
    hostops_domain d = {1, 0, 0};
    hostconn *c;
    int rc = 0;

    if (r->env->target_stopped && !r->env->reversed) {
        /* The guest is the target's already (MIGRATE_GUEST moved its definition and autostart,
         * as the spec says): it is left shut off, and starts when the target boots. */
        say(r, "Leaving guest %s defined but shut off on KVM host %s (target state stopped%s%s)",
            G(r), T(r), r->env->reason ? ": " : "", r->env->reason ? r->env->reason : "");
        return done(r, STEP_SKIPPED,
                    "target state stopped: %s stays defined but shut off on %s (autostart is "
                    "set there, so it starts when the host boots)",
                    G(r), T(r));
    }
    if (target(r, &c) < 0)
        return -1;
    say(r, "Starting Guest %s on KVM host %s", G(r), T(r));
    /* Defined (shut off) by MIGRATE_GUEST a moment ago in this run: no need to ask. */
    if (!r->env->cache->tgt_defined_off)
        rc = domain(r, c, HOP_DOMAIN_STATE, &d);
    r->env->cache->tgt_defined_off = 0;
    if (rc < 0)
        return fail(r, rc, "%s", r->err);
    if (!d.defined)
        return fail(r, 0, "%s is not defined on %s (run MIGRATE_GUEST first)", G(r), T(r));
    if (!d.running) {
        /* The start and the look at its outcome in one exec. */
        hostops_call acts[] = {{HOP_DOMAIN_START, v, 1}, {HOP_DOMAIN_STATE, v, 1}};
        hostconn_result ares[2];
        if (batch(r, c, IN_ORDER, acts, 2, ares) < 0 || batch_ok(r, c, acts, 2, ares, 0) < 0)
            return -1;
        say(r, "Waiting for node : %s to be ready", G(r));
        hostops_domain_parse(ares[1].exit_status, ares[1].out, ares[1].err, &d);
        if (d.defined < 0) {
            fail(r, -HOSTCONN_EIO, "cannot tell the state of %s on %s: %s", G(r), T(r),
                 ares[1].err ? ares[1].err : "");
            hostconn_result_free(ares, 2);
            return -1;
        }
        hostconn_result_free(ares, 2);
    } else {
        say(r, "Waiting for node : %s to be ready", G(r));
        if ((rc = domain(r, c, HOP_DOMAIN_STATE, &d)) < 0)
            return fail(r, rc, "%s", r->err);
    }
    if (!d.defined || !d.running)
        return fail(r, 0, "%s did not reach running on %s", G(r), T(r));
    /* Profiles whose start does not wait for the guest (libvirt) have a readiness probe. */
    if (hostops_has(HOP_DOMAIN_WAIT_READY) && must(r, c, HOP_DOMAIN_WAIT_READY, v, 1, NULL) < 0)
        return -1;
    return done(r, STEP_SUCCEEDED, "%s is running on %s", G(r), T(r));
}

int migrate_env_init(migrate_env *env)
{
    env->cache = calloc(1, sizeof(*env->cache));
    if (env->cache == NULL)
        return -1;
    env->cache->vf_src = env->cache->vf_tgt = -1;
    env->cache->tgt_domain = -1;
    return 0;
}

void migrate_env_free(migrate_env *env)
{
    if (env->cache) {
        free(env->cache->src_attached);
        free(env->cache->tgt_attached);
        free(env->cache);
        env->cache = NULL;
    }
}

/* Forgets what the job observed: a rollback step asks the hosts afresh (it runs after a failure,
 * a cancel or a crash, when nothing observed before can be trusted). */
static void cache_forget(struct migrate_cache *k)
{
    free(k->src_attached);
    free(k->tgt_attached);
    memset(k, 0, sizeof(*k));
    k->vf_src = k->vf_tgt = -1;
    k->tgt_domain = -1;
}

/* Which host a step acts on. */
typedef enum { SIDE_SRC, SIDE_TGT } step_side;

/* The steps (names: step.c's table, the database values): the host each acts on, whether it
 * needs the guest stopped (inside the downtime), whether only cloud deployments have it, and
 * the function that runs it. A rollback step also names the migration step it undoes; its
 * function is the migration step with the opposite effect, run with source and target swapped
 * (REVERSED). The plans, the host of a step and dispatch all come from here. */
static const struct step_def {
    step_side side;
    int downtime;
    int cloud_only;
    int (*run)(run *r);
    int reversed;
    step_id undoes;
} steps[STEP__ALL] = {
    [STEP_STOP_GUEST] = {SIDE_SRC, 1, 0, step_stop_guest},
    [STEP_DETACH_INTERFACES] = {SIDE_SRC, 1, 0, step_detach_interfaces},
    [STEP_DETACH_VOLUMES] = {SIDE_SRC, 1, 0, step_detach_volumes},
    [STEP_ATTACH_VOLUMES] = {SIDE_TGT, 1, 0, step_attach_volumes},
    [STEP_CREATE_BRIDGES] = {SIDE_TGT, 0, 0, step_create_bridges},
    [STEP_MIGRATE_GUEST] = {SIDE_TGT, 1, 0, step_migrate_guest},
    [STEP_REMOVE_BRIDGES] = {SIDE_SRC, 0, 0, step_remove_bridges},
    [STEP_REMOVE_NAT_BRIDGE_SRC] = {SIDE_SRC, 0, 1, step_remove_nat_bridge_src},
    [STEP_CREATE_NAT_BRIDGE_TGT] = {SIDE_TGT, 0, 1, step_create_nat_bridge_tgt},
    [STEP_ATTACH_INTERFACES] = {SIDE_TGT, 1, 0, step_attach_interfaces},
    [STEP_STARTUP_GUEST] = {SIDE_TGT, 1, 0, step_startup_guest},
    /* The rollback, in the order it runs: the volumes leave the target before the source takes
     * them back; the guest is defined and started on the source; the target's bridges go last,
     * outside the downtime. */
    [STEP_ROLLBACK_DETACH_VOLUMES_TGT] = {SIDE_TGT, 1, 0, step_detach_volumes, 1,
                                          STEP_ATTACH_VOLUMES},
    [STEP_ROLLBACK_CREATE_BRIDGES_SRC] = {SIDE_SRC, 1, 0, step_create_bridges, 1,
                                          STEP_REMOVE_BRIDGES},
    [STEP_ROLLBACK_CREATE_NAT_BRIDGE_SRC] = {SIDE_SRC, 1, 1, step_create_nat_bridge_tgt, 1,
                                             STEP_REMOVE_NAT_BRIDGE_SRC},
    [STEP_ROLLBACK_ATTACH_VOLUMES_SRC] = {SIDE_SRC, 1, 0, step_attach_volumes, 1,
                                          STEP_DETACH_VOLUMES},
    [STEP_ROLLBACK_MIGRATE_GUEST] = {SIDE_SRC, 1, 0, step_migrate_guest, 1, STEP_MIGRATE_GUEST},
    [STEP_ROLLBACK_ATTACH_INTERFACES_SRC] = {SIDE_SRC, 1, 0, step_attach_interfaces, 1,
                                             STEP_DETACH_INTERFACES},
    [STEP_ROLLBACK_STARTUP_GUEST_SRC] = {SIDE_SRC, 1, 0, step_startup_guest, 1, STEP_STOP_GUEST},
    [STEP_ROLLBACK_REMOVE_BRIDGES_TGT] = {SIDE_TGT, 0, 0, step_remove_bridges, 1,
                                          STEP_CREATE_BRIDGES},
    [STEP_ROLLBACK_REMOVE_NAT_BRIDGE_TGT] = {SIDE_TGT, 0, 1, step_remove_nat_bridge_src, 1,
                                             STEP_CREATE_NAT_BRIDGE_TGT},
};

static int in_downtime(step_id s)
{
    return s >= 0 && s < STEP__ALL && steps[s].downtime;
}

/* The migration step rollback step S undoes (S itself for a migration step). */
static step_id steps_undone(step_id s)
{
    return steps[s].reversed ? steps[s].undoes : s;
}

/* Where a step goes in the downtime-aware plan: what does not need the guest stopped runs
 * outside the downtime, on the target before STOP_GUEST (preparation), on the source after
 * STARTUP_GUEST (cleanup). */
enum plan_part { PLAN_BEFORE, PLAN_DOWNTIME, PLAN_AFTER };

static enum plan_part plan_part_of(step_id s)
{
    if (steps[s].downtime)
        return PLAN_DOWNTIME;
    return steps[s].side == SIDE_TGT ? PLAN_BEFORE : PLAN_AFTER;
}

void migrate_plan(int sequential, step_id order[STEP__COUNT])
{
    int part, s, n = 0;

    /* Each part keeps the spec's order; the sequential plan is that order throughout. Same
     * steps, same meaning; only when they run. */
    for (part = PLAN_BEFORE; part <= PLAN_AFTER; part++)
        for (s = 0; s < STEP__COUNT; s++)
            if ((sequential ? PLAN_DOWNTIME : plan_part_of((step_id)s)) == (enum plan_part)part)
                order[n++] = (step_id)s;
}

step_id migrate_undo_step(step_id step)
{
    int s;

    for (s = STEP__COUNT; step >= 0 && step < STEP__COUNT && s < STEP__ALL; s++)
        if (steps[s].undoes == step)
            return (step_id)s;
    return STEP__ALL;
}

int migrate_committed(const step_state state[STEP__COUNT])
{
    return state[STEP_MIGRATE_GUEST] == STEP_SUCCEEDED;
}

/* 1 when migration step S may have changed a host: it ran, to its end or part of the way (a
 * failed or interrupted step). A skipped step did nothing. */
static int touched(step_state st)
{
    return st == STEP_SUCCEEDED || st == STEP_FAILED || st == STEP_RUNNING;
}

size_t migrate_rollback_plan(const step_state state[STEP__COUNT], step_id order[STEP__ALL])
{
    size_t n = 0;
    int s, any = 0;

    for (s = 0; s < STEP__COUNT; s++)
        any |= touched(state[s]);
    if (!any)
        return 0;
    /* The guest is started on its source whatever ran (STOP_GUEST's undo observes first). */
    for (s = STEP__COUNT; s < STEP__ALL; s++)
        if (touched(state[steps[s].undoes]) || steps[s].undoes == STEP_STOP_GUEST)
            order[n++] = (step_id)s;
    return n;
}

const esxml_host *migrate_step_host(const migrate_env *env, step_id step)
{
    if (step < 0 || step >= STEP__ALL)
        return NULL;
    return steps[step].side == SIDE_SRC ? env->src : env->tgt;
}

int migrate_step_applies(const migrate_env *env, step_id step)
{
    return step >= 0 && step < STEP__ALL && (!steps[step].cloud_only || esxml_is_cloud(env->doc));
}

int migrate_step(migrate_env *env, step_id step, migrate_result *res)
{
    migrate_env rev;
    run r;

    if (step < 0 || step >= STEP__ALL)
        return -1;
    memset(res, 0, sizeof(*res));
    memset(&r, 0, sizeof(r));
    r.env = env;
    r.step = step;
    r.res = res;
    if (steps[step].reversed) {
        /* The migration step with the opposite effect, from the target back to the source.
         * OFFLINE: a rollback needs both hosts (nothing is skipped for a host that is down). */
        rev = *env;
        rev.src = env->tgt;
        rev.tgt = env->src;
        rev.mode = MODE_OFFLINE;
        rev.reversed = 1;
        if (rev.cache)
            cache_forget(rev.cache);
        r.env = &rev;
    }
    steps[step].run(&r);
    conn_release_all(&r);
    if (res->state == STEP_FAILED)
        say(&r, "Step %s failed: %s", step_to_string(step), res->message);
    return 0;
}

void migrate_result_free(migrate_result *res)
{
    if (res == NULL)
        return;
    free(res->output);
    res->output = NULL;
}

void migrate_summary_line(const migrate_env *env, step_id step, char *buf, size_t size)
{
    if (step_is_rollback(step)) {
        snprintf(buf, size, "Roll back guest %s from %s to %s. Step %s completed successfully...",
                 env->guest->hostname, env->tgt->hostname, env->src->hostname,
                 step_to_string(step));
        return;
    }
    snprintf(buf, size, "Migrate guest %s from %s to %s. Step %s completed successfully...",
             env->guest->hostname, env->src->hostname, env->tgt->hostname, step_to_string(step));
}
