/* fence: removes the stale copy of a guest that OFFLINEFORCE left on an unreachable source. */
#include "fence.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hostops.h"
#include "hostsession.h"
#include "sysconfig.h"
#include "util.h"

/* Sessions one sweep keeps (a host often has several guests' cleanups). */
#define FENCE_SESSIONS 8
/* es.xml documents one sweep keeps loaded (the newest of each system its cleanups are of). */
#define FENCE_DOCS 4

typedef struct out {
    util_lines lines;
    fence_log_fn log;
    void *ctx;
} out;

static void line(out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void line(out *o, const char *fmt, ...)
{
    char l[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(l, sizeof(l), fmt, ap);
    va_end(ap);
    util_lines_add(&o->lines, l);
    if (o->log)
        o->log(o->ctx, l);
}

/* Runs OP; returns its exit status or a negative hostconn code (errstr set). */
static int run(hostconn *c, hostop op, const hostops_var *v, size_t n, int timeout_ms,
               char **output, char *errstr, size_t errstr_size)
{
    int status = -1;
    int rc = hostops_run(c, op, v, n, timeout_ms, &status, output, errstr, errstr_size);
    return rc < 0 ? rc : status;
}

static int fence_with(hostconn *c, const esxml *doc, const char *hostname, const char *guest,
                      int timeout_ms, out *o, char *errstr, size_t errstr_size)
{
    const esxml_guest *g = esxml_guest_find(doc, guest);
    const esxml_host *h = esxml_host_find(doc, hostname);
    hostops_var gv[] = {{"guest", guest}};
    hostops_domain d;
    char *info = NULL, *attached = NULL, *bridges = NULL;
    size_t i;
    int rc;

    if (g == NULL) {
        util_errf(errstr, errstr_size, "guest %s is not in the newest es.xml", guest);
        return -1;
    }
    line(o, "Fencing the stale copy of %s on KVM host %s", guest, hostname);
    rc = run(c, HOP_DOMAIN_INFO, gv, 1, timeout_ms, &info, errstr, errstr_size);
    if (rc < 0)
        goto out;
    hostops_domain_parse(rc, info, errstr, &d);
    if (d.defined < 0)
        goto out; /* could not ask (libvirtd down): nothing is done until the host can say */
    if (d.defined) {
        if (d.running) {
            line(o, "Stale copy of %s is running on %s: destroying it", guest, hostname);
            if ((rc = run(c, HOP_DOMAIN_DESTROY, gv, 1, timeout_ms, NULL, errstr, errstr_size)) !=
                0)
                goto out;
        }
        line(o, "Undefining stale guest %s on kvm host %s (removes its autostart)", guest,
             hostname);
        if ((rc = run(c, HOP_DOMAIN_UNDEFINE, gv, 1, timeout_ms, NULL, errstr, errstr_size)) != 0)
            goto out;
    } else {
        line(o, "%s is not defined on %s", guest, hostname);
    }
    if (run(c, HOP_CFG_MOUNTED, gv, 1, timeout_ms, NULL, errstr, errstr_size) == 0) {
        line(o, "Unmounting Guest Configuration Files of %s on kvmhost %s.", guest, hostname);
        if ((rc = run(c, HOP_CFG_UMOUNT, gv, 1, timeout_ms, NULL, errstr, errstr_size)) != 0)
            goto out;
    }
    if (run(c, HOP_FSTAB_HAS, gv, 1, timeout_ms, NULL, errstr, errstr_size) == 0) {
        line(o, "Removing Guest Configuration Volume entry for guest %s from fstab on kvmhost %s.",
             guest, hostname);
        if ((rc = run(c, HOP_FSTAB_REMOVE, gv, 1, timeout_ms, NULL, errstr, errstr_size)) != 0)
            goto out;
    }
    if ((rc = run(c, HOP_CFG_RMDIR, gv, 1, timeout_ms, NULL, errstr, errstr_size)) != 0)
        goto out;
    if ((rc = run(c, HOP_VOLUME_LIST, NULL, 0, timeout_ms, &attached, errstr, errstr_size)) != 0)
        goto out;
    for (i = 0; i < g->n_volumes; i++) {
        hostops_var vv[] = {{"volume", g->volumes[i].name}};
        if (!util_has_line(attached, g->volumes[i].name))
            continue;
        line(o, "Detaching EDV Volume %s from KVM host %s", g->volumes[i].name, hostname);
        if ((rc = run(c, HOP_VOLUME_DETACH, vv, 1, timeout_ms, NULL, errstr, errstr_size)) != 0)
            goto out;
    }
    if ((rc = run(c, HOP_BRIDGE_LIST, NULL, 0, timeout_ms, &bridges, errstr, errstr_size)) != 0)
        goto out;
    /* Bridges and (cloud) NAT bridges no other guest on the host uses. */
    for (i = 0; i < 2 * g->n_networks; i++) {
        const esxml_network *n = &g->networks[i / 2];
        int nat = i % 2;
        const char *b = nat ? n->nat_bridge : n->bridge;
        hostops_var bv[] = {{"bridge", b}};
        if (b == NULL || !util_has_line(bridges, b) || esxml_bridge_in_use(doc, h, g, b))
            continue;
        line(o, "Removing %sbridge %s from KVM host %s", nat ? "NAT " : "", b, hostname);
        if (run(c, nat ? HOP_NAT_BRIDGE_REMOVE : HOP_BRIDGE_REMOVE, bv, 1, timeout_ms, NULL, errstr,
                errstr_size) != 0)
            line(o, "Keeping bridge %s on %s: %s", b, hostname, errstr);
    }
    line(o, "Stale copy of %s removed from %s", guest, hostname);
    rc = 0;
out:
    if (rc > 0) { /* a command said no: errstr has the host's words */
        line(o, "Cleanup of %s on %s stopped: %s", guest, hostname, errstr);
        rc = -1;
    }
    free(info);
    free(attached);
    free(bridges);
    return rc;
}

int fence_guest(hostconn *c, const esxml *doc, const char *host, const char *guest, int timeout_ms,
                char **output, char *errstr, size_t errstr_size)
{
    out o = {0};
    int rc = fence_with(c, doc, host, guest, timeout_ms, &o, errstr, errstr_size);

    *output = o.lines.buf;
    return rc;
}

/* The job that left the stale copy deferred the guest's autostart on its target: now that the
 * copy is gone, autostart moves there (if the guest is still defined there), and a guest the job
 * left running that is not (the target rebooted meanwhile) is started. */
static int autostart_target(const esxml *doc, hostsession *hosts, const jobstore_cleanup *cl,
                            int timeout_ms, out *o, char *errstr, size_t errstr_size)
{
    const esxml_host *t = esxml_host_find(doc, cl->tgt_host);
    hostops_var gv[] = {{"guest", cl->guest}};
    hostops_domain d;
    hostconn *c = NULL;
    char *info = NULL;
    int rc;

    if (t == NULL)
        return 0;
    rc = hostsession_get(hosts, hostsession_address(t), &c, errstr, errstr_size);
    if (rc < 0)
        return rc;
    rc = run(c, HOP_DOMAIN_INFO, gv, 1, timeout_ms, &info, errstr, errstr_size);
    if (rc >= 0)
        hostops_domain_parse(rc, info, errstr, &d);
    if (rc > 0 && d.defined < 0) {
        /* Could not ask (libvirtd down): the cleanup stays pending, its autostart still to
         * move, rather than leaving the guest without autostart for good. */
        line(o, "Cannot tell whether %s is defined on %s: %s", cl->guest, cl->tgt_host, errstr);
    } else if (rc > 0) {
        line(o, "%s is no longer defined on %s; its autostart is not touched", cl->guest,
             cl->tgt_host);
        rc = 0;
    } else if (rc == 0) {
        if (!d.autostart) {
            line(o, "Enabling autostart for guest %s on kvm host %s", cl->guest, cl->tgt_host);
            rc = run(c, HOP_AUTOSTART_ON, gv, 1, timeout_ms, NULL, errstr, errstr_size);
        }
        if (rc == 0 && !d.running && cl->target_running) {
            /* The target went down before the autostart moved there, so the guest did not
             * come back with it: start it as the job left it (and as autostart would have). */
            line(o, "Starting guest %s on kvm host %s: it stopped before its autostart was set",
                 cl->guest, cl->tgt_host);
            rc = run(c, HOP_DOMAIN_START, gv, 1, timeout_ms, NULL, errstr, errstr_size);
        }
    }
    free(info);
    hostsession_put(hosts, c, rc);
    return rc < 0 ? rc : (rc > 0 ? -1 : 0);
}

int fence_sweep(jobstore *js, const settings *s, const char *host, const char *guest,
                const char *source, fence_log_fn log, void *log_ctx, int *done, int *left,
                char *errstr, size_t errstr_size)
{
    jobstore_cleanup cl;
    hostsession *hosts = NULL;
    sysconfig_cache *docs = sysconfig_cache_new(FENCE_DOCS);
    long after = 0;
    int n_done = 0, n_left = 0, rc = 0, got;

    /* Unreachable hosts are what pending cleanups usually wait for: do not wait the full
     * connect timeout for each of them. */
    if (docs == NULL || hostsession_new(s, FENCE_SESSIONS, 3000, &hosts) != 0) {
        util_errf(errstr, errstr_size, "out of memory for the fence's SSH sessions");
        sysconfig_cache_free(docs);
        return -1;
    }
    while ((got = jobstore_cleanup_next(js, host, guest, after, &cl, errstr, errstr_size)) == 1) {
        hostconn *c = NULL;
        const esxml *doc = NULL;
        char err[1024] = "";
        out o = {0};
        int ok = 0;

        after = cl.id;
        o.log = log;
        o.ctx = log_ctx;
        if (cl.system[0] == '\0') { /* a job recorded before its system was known */
            request q;
            memset(&q, 0, sizeof(q));
            util_strlcpy(q.guest, cl.guest, sizeof(q.guest));
            util_strlcpy(q.src_host, cl.host, sizeof(q.src_host));
            util_strlcpy(q.tgt_host, cl.tgt_host, sizeof(q.tgt_host));
            if (sysconfig_resolve(js, &q, NULL, err, sizeof(err)) == 0)
                util_strlcpy(cl.system, q.system, sizeof(cl.system));
            err[0] = '\0';
        }
        /* The newest es.xml of the guest's system (loaded once per sweep while it stays the
         * newest): the guest's volumes and bridges, and who else is on the host. */
        if (sysconfig_cache_newest(docs, js, cl.system[0] ? cl.system : NULL, s->schema_dir, &doc,
                                   NULL, err, sizeof(err)) == 0 &&
            hostsession_get(hosts, cl.address, &c, err, sizeof(err)) == 0) {
            int frc =
                fence_with(c, doc, cl.host, cl.guest, s->command_timeout_ms, &o, err, sizeof(err));
            hostsession_put(hosts, c, frc);
            ok = frc == 0;
        }
        if (ok)
            ok =
                autostart_target(doc, hosts, &cl, s->command_timeout_ms, &o, err, sizeof(err)) == 0;
        rc = jobstore_cleanup_finish(js, &cl, ok, o.lines.buf, ok ? NULL : err, source, errstr,
                                     errstr_size);
        free(o.lines.buf);
        if (rc < 0)
            break;
        if (ok)
            n_done++;
        else
            n_left++;
    }
    hostsession_free(hosts);
    sysconfig_cache_free(docs);
    if (got < 0)
        rc = got;
    if (done)
        *done = n_done;
    if (left)
        *left = n_left;
    return rc;
}
