/* preflight: the spec's requirements for an offline migration as a table of named checks. */
#include "preflight.h"

#include <ctype.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "failure.h"
#include "hostops.h"
#include "utf8.h"
#include "util.h"

#define MIN_SOFTWARE "25.1.0"

static const preflight_def defs[PREFLIGHT__COUNT] = {
    {PREFLIGHT_ESXML_CURRENT, "esxml_current",
     "an OEDA es.xml that reflects the system defines the guest", "es.xml", 0},
    {PREFLIGHT_SAME_SYSTEM, "same_system",
     "source and target KVM hosts are in the same Exadata system configuration", "es.xml", 0},
    {PREFLIGHT_DISTINCT_HOSTS, "distinct_hosts", "source and target are different hosts", "request",
     0},
    {PREFLIGHT_SSH_SOURCE, "ssh_source",
     "SSH equivalency: root on the source KVM host with key authentication", "SSH", 1},
    {PREFLIGHT_SSH_TARGET, "ssh_target",
     "SSH equivalency: root on the target KVM host with key authentication", "SSH", 1},
    {PREFLIGHT_HARDWARE_SOURCE, "hardware_source",
     "source is a 2-socket X8M-2 or later KVM host with RoCE Network Fabric",
     "es.xml; source vm_maker --host-info", 1},
    {PREFLIGHT_HARDWARE_TARGET, "hardware_target",
     "target is a 2-socket X8M-2 or later KVM host with RoCE Network Fabric",
     "es.xml; target vm_maker --host-info", 1},
    {PREFLIGHT_SOFTWARE_SOURCE, "software_source",
     "source runs Exadata System Software " MIN_SOFTWARE " or later",
     "es.xml; source imageinfo -ver", 1},
    {PREFLIGHT_SOFTWARE_TARGET, "software_target",
     "target runs Exadata System Software " MIN_SOFTWARE " or later",
     "es.xml; target imageinfo -ver", 1},
    {PREFLIGHT_TARGET_VERSION, "target_version",
     "target Exadata software is the same version as or newer than the source's",
     "es.xml; imageinfo -ver on both hosts", 1},
    {PREFLIGHT_EXASCALE_STORAGE, "exascale_storage",
     "guest image files are on Exascale storage (EDV volumes)", "es.xml", 0},
    {PREFLIGHT_STORAGE_SERVERS, "storage_servers",
     "source and target have access to the same Exadata storage servers",
     "es.xml; vm_maker --host-info StorageServers on both hosts", 1},
    {PREFLIGHT_NETWORK_VISIBILITY, "network_visibility",
     "same network visibility: the guest's bridges/VLANs work on the target and its RoCE "
     "interfaces reach it (from VF pools or attached, per host)",
     "es.xml; vm_maker --list-bridges, --list-vf-pools on both hosts", 1},
    {PREFLIGHT_LIVEUPDATE_SOURCE, "liveupdate_source",
     "no outstanding Exadata Live Update work on the source KVM host",
     "es.xml; source vm_maker --host-info", 1},
    {PREFLIGHT_LIVEUPDATE_TARGET, "liveupdate_target",
     "no outstanding Exadata Live Update work on the target KVM host",
     "es.xml; target vm_maker --host-info", 1},
    {PREFLIGHT_LIVEUPDATE_GUEST, "liveupdate_guest",
     "no outstanding Exadata Live Update work on the guest", "es.xml", 0},
    {PREFLIGHT_GUEST_ON_SOURCE, "guest_on_source", "the guest resides on the source KVM host",
     "es.xml; source virsh list", 1},
    {PREFLIGHT_GUEST_NAME_FREE, "guest_name_free",
     "the guest name is not already in use on the target KVM host", "es.xml; target virsh list", 1},
    {PREFLIGHT_TARGET_MEMORY, "target_memory",
     "target has free memory for the guest (memory cannot be over-committed)",
     "es.xml; target vm_maker --host-info; jobs in flight", 1},
    {PREFLIGHT_TARGET_VCPUS, "target_vcpus",
     "target has vCPUs for the guest within the configured over-commit ratio",
     "es.xml; target vm_maker --host-info; jobs in flight; preflight.vcpu_overcommit", 1},
    {PREFLIGHT_VM_CLUSTER, "vm_cluster_anti_affinity",
     "the target does not host, and no job in flight is bringing to it, another member of the "
     "guest's VM cluster (the nodes of a RAC cluster run one per KVM host)",
     "es.xml clusters and placement; target virsh list; jobs in flight", 1},
};

static const char *const status_names[] = {"passed", "failed", "skipped", "warning"};

const preflight_def *preflight_def_of(preflight_check check)
{
    return (unsigned)check < PREFLIGHT__COUNT ? &defs[check] : NULL;
}

const char *preflight_name(preflight_check check)
{
    return (unsigned)check < PREFLIGHT__COUNT ? defs[check].name : NULL;
}

int preflight_from_name(const char *name, preflight_check *out)
{
    int i;

    for (i = 0; name && i < PREFLIGHT__COUNT; i++) {
        if (strcmp(name, defs[i].name) == 0) {
            *out = (preflight_check)i;
            return 0;
        }
    }
    return -1;
}

const char *preflight_status_to_string(preflight_status status)
{
    return (unsigned)status <= PREFLIGHT_WARNING ? status_names[status] : NULL;
}

int preflight_version_cmp(const char *a, const char *b)
{
    while ((a && *a) || (b && *b)) {
        unsigned long x = 0, y = 0;
        char *end;
        if (a && *a) {
            x = isdigit((unsigned char)*a) ? strtoul(a, &end, 10) : 0;
            a = strchr(a, '.');
            a = a ? a + 1 : NULL;
        }
        if (b && *b) {
            y = isdigit((unsigned char)*b) ? strtoul(b, &end, 10) : 0;
            b = strchr(b, '.');
            b = b ? b + 1 : NULL;
        }
        if (x != y)
            return x < y ? -1 : 1;
    }
    return 0;
}

/* ---- host facts ---- */

void preflight_facts_init(preflight_facts *f, preflight_facts_state state)
{
    memset(f, 0, sizeof(*f));
    f->state = state;
    f->sockets = -1;
    f->cores = -1;
    f->memory_mb = -1;
    f->free_memory_mb = -1;
    f->used_vcpus = -1;
    f->liveupdate = -1;
    f->vf_pools = -1;
}

static void trim(char *s)
{
    size_t n = strlen(s);
    char *p = s;

    while (n > 0 && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
    while (*p && isspace((unsigned char)*p))
        p++;
    memmove(s, p, strlen(p) + 1);
}

static long parse_long(const char *v)
{
    char *end;
    long x;

    if (!isdigit((unsigned char)*v))
        return -1;
    x = strtol(v, &end, 10);
    return *end == '\0' ? x : -1;
}

int preflight_facts_parse_info(preflight_facts *f, const char *text)
{
    const char *p = text;
    int n = 0;

    while (p && *p) {
        const char *eol = strchr(p, '\n');
        size_t len = eol ? (size_t)(eol - p) : strlen(p);
        char line[1200], *colon;
        if (len >= sizeof(line))
            len = sizeof(line) - 1;
        memcpy(line, p, len);
        line[len] = '\0';
        p = eol ? eol + 1 : NULL;
        colon = strchr(line, ':');
        if (colon == NULL)
            continue;
        *colon = '\0';
        trim(line);
        trim(colon + 1);
        const char *k = line, *v = colon + 1;
        if (*v == '\0')
            continue; /* stated as unknown */
        n++;
        if (strcasecmp(k, "Model") == 0)
            util_strlcpy(f->model, v, sizeof(f->model));
        else if (strcasecmp(k, "Sockets") == 0)
            f->sockets = (int)parse_long(v);
        else if (strcasecmp(k, "Fabric") == 0)
            util_strlcpy(f->fabric, v, sizeof(f->fabric));
        else if (strcasecmp(k, "Version") == 0 && f->version[0] == '\0')
            util_strlcpy(f->version, v, sizeof(f->version));
        else if (strcasecmp(k, "Cores") == 0)
            f->cores = (int)parse_long(v);
        else if (strcasecmp(k, "MemoryMB") == 0)
            f->memory_mb = parse_long(v);
        else if (strcasecmp(k, "FreeMemoryMB") == 0)
            f->free_memory_mb = parse_long(v);
        else if (strcasecmp(k, "UsedVcpus") == 0)
            f->used_vcpus = (int)parse_long(v);
        else if (strcasecmp(k, "LiveUpdatePending") == 0)
            f->liveupdate = strcasecmp(v, "yes") == 0 || strcasecmp(v, "true") == 0   ? 1
                            : strcasecmp(v, "no") == 0 || strcasecmp(v, "false") == 0 ? 0
                                                                                      : -1;
        else if (strcasecmp(k, "NodeType") == 0)
            util_strlcpy(f->node_type, v, sizeof(f->node_type));
        else if (strcasecmp(k, "StorageServers") == 0)
            util_strlcpy(f->storage_servers, v, sizeof(f->storage_servers));
        else
            n--;
    }
    return n;
}

/* A host that could not be asked: what a retry cannot fix (host key, authentication) is a
 * refusal, the rest (down, timed out, broken session) unreachable. */
static preflight_facts_state state_of(int rc)
{
    return failure_of_hostconn(rc) == FAILURE_PERMANENT ? PREFLIGHT_FACTS_REFUSED
                                                        : PREFLIGHT_FACTS_UNREACHABLE;
}

int preflight_facts_probe(hostconn *c, int timeout_ms, preflight_facts *f, char *errstr,
                          size_t errstr_size)
{
    static const hostop ops[] = {HOP_HOST_INFO, HOP_IMAGE_VERSION, HOP_DOMAIN_LIST, HOP_BRIDGE_LIST,
                                 HOP_VFPOOL_LIST};
    enum { N = sizeof(ops) / sizeof(ops[0]) };
    char *cmds[N] = {NULL}, *run[N];
    hostconn_result res[N], got[N];
    size_t i, n = 0, at[N];
    int rc = 0;

    preflight_facts_init(f, PREFLIGHT_FACTS_OK);
    memset(res, 0, sizeof(res));
    memset(got, 0, sizeof(got));
    /* An operation the host profile has no command for stays unknown (es.xml answers). */
    for (i = 0; i < N; i++) {
        res[i].exit_status = -1;
        cmds[i] = hostops_render(ops[i], NULL, 0, errstr, errstr_size);
        if (cmds[i] != NULL && cmds[i][0] != '\0') {
            at[n] = i;
            run[n++] = cmds[i];
        }
    }
    /* One exec for all of them (one round trip), each answer as if asked alone. */
    rc = n ? hostconn_exec_batch(c, (const char *const *)run, n, timeout_ms, got, errstr,
                                 errstr_size)
           : 0;
    for (i = 0; i < n; i++)
        res[at[i]] = got[i]; /* the strings move to res */
    if (rc < 0) {
        f->state = state_of(rc);
        util_strlcpy(f->error, errstr, sizeof(f->error));
        goto out;
    }
    /* A query that failed leaves its facts unknown: the es.xml answers for them. */
    if (res[1].exit_status == 0 && res[1].out) {
        util_strlcpy(f->version, res[1].out, sizeof(f->version));
        trim(f->version);
    }
    if (res[0].exit_status == 0 && res[0].out)
        preflight_facts_parse_info(f, res[0].out);
    /* A list longer than its field stays unknown (es.xml answers) rather than cut short: a
     * name past the cut would look absent (guest_name_free passing for a guest defined
     * there). */
    if (res[2].exit_status == 0 && res[2].out && strlen(res[2].out) < sizeof(f->domains)) {
        f->have_domains = 1;
        util_strlcpy(f->domains, res[2].out, sizeof(f->domains));
    }
    if (res[3].exit_status == 0 && res[3].out && strlen(res[3].out) < sizeof(f->bridges)) {
        f->have_bridges = 1;
        util_strlcpy(f->bridges, res[3].out, sizeof(f->bridges));
    }
    if (res[4].exit_status == 0 && res[4].out) {
        const char *p = res[4].out;
        f->vf_pools = 0;
        while (*p) {
            const char *eol = strchr(p, '\n');
            size_t len = eol ? (size_t)(eol - p) : strlen(p);
            size_t k;
            for (k = 0; k < len; k++)
                if (!isspace((unsigned char)p[k])) {
                    f->vf_pools++;
                    break;
                }
            p = eol ? eol + 1 : p + len;
        }
    }
out:
    hostconn_result_free(res, N);
    for (i = 0; i < N; i++)
        free(cmds[i]);
    return rc;
}

/* 1 if NAME is a line of LIST (case-insensitive). */
static int line_has(const char *list, const char *name)
{
    size_t n = strlen(name);
    const char *p = list;

    while (p && *p) {
        const char *eol = strchr(p, '\n');
        size_t len = eol ? (size_t)(eol - p) : strlen(p);
        while (len > 0 && isspace((unsigned char)p[len - 1]))
            len--;
        if (len == n && strncasecmp(p, name, n) == 0)
            return 1;
        p = eol ? eol + 1 : NULL;
    }
    return 0;
}

/* ---- the checks ---- */

typedef struct ctx {
    const preflight_input *in;
    preflight_report *r;
    const esxml_guest *g;
    const esxml_host *src, *tgt;
    const preflight_facts *sf, *tf;
    const char *system;
} ctx;

static void set(ctx *c, preflight_check id, preflight_status st, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void set(ctx *c, preflight_check id, preflight_status st, const char *fmt, ...)
{
    preflight_result *res = &c->r->results[id];
    va_list ap;

    res->check = id;
    res->status = st;
    va_start(ap, fmt);
    vsnprintf(res->message, sizeof(res->message), fmt, ap);
    va_end(ap);
    /* Host output in it may be any bytes, and the bound may cut a character: the message goes
     * into events and JSON, which take UTF-8 only. */
    utf8_repair(res->message);
}

/* Appends to a bounded buffer. */
static void cat(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void cat(char *buf, size_t size, const char *fmt, ...)
{
    size_t len = strlen(buf);
    va_list ap;

    if (len + 1 >= size)
        return;
    va_start(ap, fmt);
    vsnprintf(buf + len, size - len, fmt, ap);
    va_end(ap);
}

/* Ends a check that found nothing wrong: passed, or warning when NOTE (disagreements between
 * es.xml and the host) is not empty. */
static void pass(ctx *c, preflight_check id, const char *msg, const char *note)
{
    if (note && note[0])
        set(c, id, PREFLIGHT_WARNING, "%s; %s", msg, note);
    else
        set(c, id, PREFLIGHT_PASSED, "%s", msg);
}

static int live(const ctx *c)
{
    return c->in->live;
}

/* 1 if the host's facts can be used. */
static int facts_ok(const preflight_facts *f)
{
    return f->state == PREFLIGHT_FACTS_OK;
}

/* Skips ID when a live run cannot ask the host of SIDE; returns 1 if it did. */
static int skip_unasked(ctx *c, preflight_check id, int source)
{
    const preflight_facts *f = source ? c->sf : c->tf;
    const char *h = source ? c->in->src_host : c->in->tgt_host;

    if (!live(c) || facts_ok(f))
        return 0;
    if (source && c->in->mode == MODE_OFFLINEFORCE && f->state == PREFLIGHT_FACTS_UNREACHABLE)
        set(c, id, PREFLIGHT_SKIPPED,
            "source KVM host %s is unreachable and MODE=OFFLINEFORCE: not checked", h);
    else
        set(c, id, PREFLIGHT_SKIPPED, "%s KVM host %s could not be asked (see %s)",
            source ? "source" : "target", h, source ? "ssh_source" : "ssh_target");
    return 1;
}

/* Picks the live string when there is one, noting a disagreement with the es.xml's. */
static const char *pick_str(const char *live_v, const char *xml_v, const char *what,
                            const char *host, char *note, size_t note_size)
{
    if (live_v && live_v[0]) {
        if (xml_v && xml_v[0] && strcasecmp(live_v, xml_v) != 0)
            cat(note, note_size,
                "%ses.xml says %s %s for %s but the host reports %s (the host's answer is used)",
                note[0] ? "; " : "", what, xml_v, host, live_v);
        return live_v;
    }
    return xml_v && xml_v[0] ? xml_v : NULL;
}

static long pick_long(long live_v, long xml_v, const char *what, const char *host, char *note,
                      size_t note_size)
{
    if (live_v >= 0) {
        if (xml_v > 0 && xml_v != live_v)
            cat(note, note_size,
                "%ses.xml says %s %ld for %s but the host reports %ld (the host's answer is used)",
                note[0] ? "; " : "", what, xml_v, host, live_v);
        return live_v;
    }
    return xml_v > 0 ? xml_v : -1;
}

/* Accepts X8M-2 and later 2-socket models: "X<gen>[M][-<sockets>]" with gen > 8, or gen 8 with
 * the M (RoCE) suffix; a "-N" suffix must be -2. */
static int model_ok(const char *m)
{
    int gen = 0, has_m = 0;
    const char *p = m;

    if (*p != 'X' && *p != 'x')
        return 0;
    p++;
    if (!isdigit((unsigned char)*p))
        return 0;
    while (isdigit((unsigned char)*p))
        gen = gen * 10 + (*p++ - '0');
    while (isalpha((unsigned char)*p)) {
        if (*p == 'M' || *p == 'm')
            has_m = 1;
        p++;
    }
    if (*p == '-' && strcmp(p, "-2") != 0)
        return 0;
    if (*p != '\0' && *p != '-')
        return 0;
    return gen > 8 || (gen == 8 && has_m);
}

static void check_hardware(ctx *c, int source)
{
    preflight_check id = source ? PREFLIGHT_HARDWARE_SOURCE : PREFLIGHT_HARDWARE_TARGET;
    const esxml_host *h = source ? c->src : c->tgt;
    const preflight_facts *f = source ? c->sf : c->tf;
    const char *side = source ? "source" : "target";
    char note[512] = "", bad[512] = "", unknown[128] = "", msg[800];
    const char *model, *fabric;
    long sockets;

    if (h == NULL) {
        set(c, id, PREFLIGHT_SKIPPED, "%s KVM host is not in es.xml (see same_system)", side);
        return;
    }
    if (skip_unasked(c, id, source))
        return;
    model =
        pick_str(facts_ok(f) ? f->model : NULL, h->model, "model", h->hostname, note, sizeof(note));
    sockets = pick_long(facts_ok(f) ? f->sockets : -1, h->sockets, "sockets", h->hostname, note,
                        sizeof(note));
    fabric = pick_str(facts_ok(f) ? f->fabric : NULL, h->fabric, "fabric", h->hostname, note,
                      sizeof(note));
    if (model == NULL)
        cat(unknown, sizeof(unknown), "%shardware model", unknown[0] ? ", " : "");
    else if (!model_ok(model))
        cat(bad, sizeof(bad), "%smodel %s", bad[0] ? ", " : "", model);
    if (sockets < 0)
        cat(unknown, sizeof(unknown), "%snumber of sockets", unknown[0] ? ", " : "");
    else if (sockets != 2)
        cat(bad, sizeof(bad), "%s%ld sockets", bad[0] ? ", " : "", sockets);
    if (fabric == NULL)
        cat(unknown, sizeof(unknown), "%snetwork fabric", unknown[0] ? ", " : "");
    else if (strcasecmp(fabric, "RoCE") != 0)
        cat(bad, sizeof(bad), "%s%s fabric", bad[0] ? ", " : "", fabric);
    if (facts_ok(f) && f->node_type[0] && strcasecmp(f->node_type, "KVMHOST") != 0)
        cat(bad, sizeof(bad), "%snode type %s (not KVMHOST)", bad[0] ? ", " : "", f->node_type);
    if (unknown[0] && !bad[0] && !live(c)) {
        /* es.xml alone does not say: the job's live preflight decides. */
        set(c, id, PREFLIGHT_WARNING,
            "es.xml version %ld does not state the %s of %s KVM host %s; the live preflight at "
            "job start decides",
            c->in->config_version, unknown, side, h->hostname);
        return;
    }
    if (unknown[0])
        cat(bad, sizeof(bad), "%sunknown %s", bad[0] ? ", " : "", unknown);
    if (bad[0]) {
        set(c, id, PREFLIGHT_FAILED,
            "%s KVM host %s has %s; required: a 2-socket Exadata X8M-2 or later KVM host with "
            "RoCE Network Fabric%s%s",
            side, h->hostname, bad, note[0] ? "; " : "", note);
        return;
    }
    snprintf(msg, sizeof(msg), "%s KVM host %s is a %s with %ld sockets and %s fabric", side,
             h->hostname, model, sockets, fabric);
    pass(c, id, msg, note);
}

/* The software version of a side (live wins), or NULL; notes disagreements. */
static const char *version_of(ctx *c, int source, char *note, size_t note_size)
{
    const esxml_host *h = source ? c->src : c->tgt;
    const preflight_facts *f = source ? c->sf : c->tf;

    return pick_str(facts_ok(f) ? f->version : NULL, h->software_version,
                    "Exadata software version", h->hostname, note, note_size);
}

static void check_software(ctx *c, int source)
{
    preflight_check id = source ? PREFLIGHT_SOFTWARE_SOURCE : PREFLIGHT_SOFTWARE_TARGET;
    const esxml_host *h = source ? c->src : c->tgt;
    const char *side = source ? "source" : "target";
    char note[512] = "", msg[800];
    const char *v;

    if (h == NULL) {
        set(c, id, PREFLIGHT_SKIPPED, "%s KVM host is not in es.xml (see same_system)", side);
        return;
    }
    if (skip_unasked(c, id, source))
        return;
    v = version_of(c, source, note, sizeof(note));
    if (v == NULL) {
        set(c, id, live(c) ? PREFLIGHT_FAILED : PREFLIGHT_WARNING,
            "the Exadata System Software version of %s KVM host %s is unknown%s; required: %s "
            "or later",
            side, h->hostname, live(c) ? "" : " in es.xml (checked at job start)", MIN_SOFTWARE);
        return;
    }
    if (preflight_version_cmp(v, MIN_SOFTWARE) < 0) {
        set(c, id, PREFLIGHT_FAILED,
            "%s KVM host %s runs Exadata System Software %s; required: %s or later%s%s", side,
            h->hostname, v, MIN_SOFTWARE, note[0] ? "; " : "", note);
        return;
    }
    snprintf(msg, sizeof(msg), "%s KVM host %s runs Exadata System Software %s (>= %s)", side,
             h->hostname, v, MIN_SOFTWARE);
    pass(c, id, msg, note);
}

static void check_target_version(ctx *c)
{
    preflight_check id = PREFLIGHT_TARGET_VERSION;
    char note[512] = "", msg[800];
    const char *sv, *tv;

    if (c->src == NULL || c->tgt == NULL) {
        set(c, id, PREFLIGHT_SKIPPED, "a host is not in es.xml (see same_system)");
        return;
    }
    if (skip_unasked(c, id, 1) || skip_unasked(c, id, 0))
        return;
    if (c->r->results[PREFLIGHT_SOFTWARE_SOURCE].status == PREFLIGHT_FAILED ||
        c->r->results[PREFLIGHT_SOFTWARE_TARGET].status == PREFLIGHT_FAILED) {
        set(c, id, PREFLIGHT_SKIPPED,
            "not compared: a host's software is below the minimum (see software_source, "
            "software_target)");
        return;
    }
    /* The notes were already given by the software checks. */
    sv = version_of(c, 1, note, sizeof(note));
    tv = version_of(c, 0, note, sizeof(note));
    if (sv == NULL || tv == NULL) {
        set(c, id, PREFLIGHT_SKIPPED, "a host's software version is unknown (see software_%s)",
            sv == NULL ? "source" : "target");
        return;
    }
    if (preflight_version_cmp(tv, sv) < 0) {
        set(c, id, PREFLIGHT_FAILED,
            "target KVM host %s runs Exadata System Software %s, older than %s on source KVM "
            "host %s; required: the same version or newer on the target",
            c->tgt->hostname, tv, sv, c->src->hostname);
        return;
    }
    snprintf(msg, sizeof(msg), "target %s runs %s, source %s runs %s", c->tgt->hostname, tv,
             c->src->hostname, sv);
    pass(c, id, msg, NULL);
}

static void check_exascale(ctx *c)
{
    preflight_check id = PREFLIGHT_EXASCALE_STORAGE;
    const char *cluster = esxml_exascale_cluster(c->in->doc);
    const char *vault = esxml_exascale_vault(c->in->doc);
    size_t i;

    if (!esxml_uses_exascale(c->in->doc) || cluster == NULL || vault == NULL) {
        set(c, id, PREFLIGHT_FAILED,
            "es.xml version %ld (system %s) has no Exascale cluster with a vault for guest "
            "images; required: guest image files on Exascale storage",
            c->in->config_version, c->system);
        return;
    }
    if (c->g == NULL) {
        set(c, id, PREFLIGHT_SKIPPED, "guest is not in es.xml (see esxml_current)");
        return;
    }
    if (c->g->n_volumes == 0) {
        set(c, id, PREFLIGHT_FAILED,
            "guest %s has no EDV volumes in es.xml version %ld; required: its image files on "
            "Exascale storage (vault %s)",
            c->g->hostname, c->in->config_version, vault);
        return;
    }
    for (i = 0; i < c->g->n_volumes; i++) {
        if (c->g->volumes[i].device == NULL || c->g->volumes[i].device[0] == '\0') {
            set(c, id, PREFLIGHT_FAILED,
                "EDV volume %s of guest %s has no device in es.xml version %ld",
                c->g->volumes[i].name, c->g->hostname, c->in->config_version);
            return;
        }
    }
    set(c, id, PREFLIGHT_PASSED, "guest %s has %zu EDV volumes on Exascale cluster %s (vault %s)",
        c->g->hostname, c->g->n_volumes, cluster, vault);
}

static int cmp_str(const void *a, const void *b)
{
    return strcasecmp(*(const char *const *)a, *(const char *const *)b);
}

/* Canonical form of a storage server list: sorted, comma-separated. */
static void canon_servers(const char *in, char *out, size_t size)
{
    char buf[1024], *save = NULL, *tok, *items[64];
    size_t n = 0, i;

    util_strlcpy(buf, in, sizeof(buf));
    for (tok = strtok_r(buf, ", \t\n", &save); tok && n < 64; tok = strtok_r(NULL, ", \t\n", &save))
        items[n++] = tok;
    qsort(items, n, sizeof(items[0]), cmp_str);
    out[0] = '\0';
    for (i = 0; i < n; i++)
        if (i == 0 || strcasecmp(items[i], items[i - 1]) != 0)
            cat(out, size, "%s%s", out[0] ? "," : "", items[i]);
}

static void check_storage_servers(ctx *c)
{
    preflight_check id = PREFLIGHT_STORAGE_SERVERS;
    char xml[1024] = "", raw[1024] = "", src[1024], tgt[1024], note[1024] = "", msg[1200];
    size_t i, n = esxml_storage_server_count(c->in->doc);

    for (i = 0; i < n; i++)
        cat(raw, sizeof(raw), "%s%s", raw[0] ? "," : "", esxml_storage_server(c->in->doc, i));
    canon_servers(raw, xml, sizeof(xml));
    if (xml[0] == '\0') {
        set(c, id, PREFLIGHT_FAILED,
            "es.xml version %ld (system %s) lists no storage servers; required: source and "
            "target with access to the same Exadata storage servers",
            c->in->config_version, c->system);
        return;
    }
    if (c->src == NULL || c->tgt == NULL) {
        set(c, id, PREFLIGHT_SKIPPED, "a host is not in es.xml (see same_system)");
        return;
    }
    if (skip_unasked(c, id, 0))
        return;
    /* es.xml lists one set per system; a host that reports its own set is believed. */
    util_strlcpy(src, xml, sizeof(src));
    util_strlcpy(tgt, xml, sizeof(tgt));
    if (facts_ok(c->sf) && c->sf->storage_servers[0])
        canon_servers(c->sf->storage_servers, src, sizeof(src));
    if (facts_ok(c->tf) && c->tf->storage_servers[0])
        canon_servers(c->tf->storage_servers, tgt, sizeof(tgt));
    if (strcasecmp(src, xml) != 0)
        cat(note, sizeof(note), "es.xml lists %s but source %s reports %s", xml, c->src->hostname,
            src);
    if (strcasecmp(tgt, xml) != 0)
        cat(note, sizeof(note), "%ses.xml lists %s but target %s reports %s", note[0] ? "; " : "",
            xml, c->tgt->hostname, tgt);
    if (strcasecmp(src, tgt) != 0) {
        set(c, id, PREFLIGHT_FAILED,
            "source KVM host %s has access to storage servers %s but target KVM host %s to %s; "
            "required: the same Exadata storage servers",
            c->src->hostname, src, c->tgt->hostname, tgt);
        return;
    }
    snprintf(msg, sizeof(msg), "source %s and target %s have access to storage servers %s%s",
             c->src->hostname, c->tgt->hostname, src,
             live(c) && !facts_ok(c->sf) ? " (source not asked: es.xml used for it)" : "");
    pass(c, id, msg, note);
}

/* How the interface steps carry the guest's RoCE interfaces PRIV from a source with or without
 * VF pools (SRC_VF) to a target with or without them (TGT_VF), in words, into OUT. */
static void roce_plan(const ctx *c, const char *priv, int src_vf, int tgt_vf, char *out,
                      size_t size)
{
    if (src_vf && tgt_vf)
        snprintf(out, size, "RoCE interfaces %s use VF pools on both hosts", priv);
    else if (src_vf)
        snprintf(out, size,
                 "RoCE interfaces %s come from VF pools on source %s (nothing to detach) and are "
                 "attached on target %s (no VF pools there)",
                 priv, c->src->hostname, c->tgt->hostname);
    else if (tgt_vf)
        snprintf(out, size,
                 "RoCE interfaces %s are detached on source %s (no VF pools there) and come from "
                 "VF pools on target %s",
                 priv, c->src->hostname, c->tgt->hostname);
    else
        snprintf(out, size,
                 "RoCE interfaces %s are detached on source %s and attached on target %s (no VF "
                 "pools on either)",
                 priv, c->src->hostname, c->tgt->hostname);
}

static void check_network(ctx *c)
{
    preflight_check id = PREFLIGHT_NETWORK_VISIBILITY;
    char note[512] = "", msg[1024], priv[128] = "", roce[512] = "";
    size_t i, k, m;
    int src_vf, tgt_vf, bridged = 0;

    if (c->g == NULL || c->src == NULL || c->tgt == NULL) {
        set(c, id, PREFLIGHT_SKIPPED, "guest or a host is not in es.xml");
        return;
    }
    if (skip_unasked(c, id, 0))
        return;
    /* Bridges: a bridge of the same name on the target must carry the same VLAN (es.xml knows
     * the VLANs of the guests placed there). */
    for (i = 0; i < c->g->n_networks; i++) {
        const esxml_network *n = &c->g->networks[i];
        if (n->bridge == NULL) {
            cat(priv, sizeof(priv), "%s%s", priv[0] ? ", " : "", n->iface ? n->iface : n->name);
            continue;
        }
        bridged++;
        if (n->vlan < 0 || n->vlan > 4094) {
            set(c, id, PREFLIGHT_FAILED,
                "network %s of guest %s has VLAN %d; required: 0 (untagged) to 4094", n->name,
                c->g->hostname, n->vlan);
            return;
        }
        for (k = 0; k < c->tgt->n_guests; k++) {
            const esxml_guest *o = esxml_guest_find_id(c->in->doc, c->tgt->guest_ids[k]);
            if (o == NULL || o == c->g)
                continue;
            for (m = 0; m < o->n_networks; m++) {
                const esxml_network *on = &o->networks[m];
                if (on->bridge && strcmp(on->bridge, n->bridge) == 0 && on->vlan != n->vlan) {
                    set(c, id, PREFLIGHT_FAILED,
                        "bridge %s on target KVM host %s carries VLAN %d for guest %s; guest %s "
                        "needs it with VLAN %d (network %s): the bridge cannot be created on "
                        "the target",
                        n->bridge, c->tgt->hostname, on->vlan, o->hostname, c->g->hostname, n->vlan,
                        n->name);
                    return;
                }
            }
        }
    }
    /* RoCE (private) interfaces: VF pools are a host's own way of giving a guest its re*
     * interfaces, not a difference in what the hosts can reach (the RoCE fabric is checked by
     * hardware_source/target). The interface steps decide per host, as the spec's do:
     * DETACH_INTERFACES detaches re* interfaces only on a source without VF pools, and
     * ATTACH_INTERFACES attaches them only on a target without VF pools (with VF pools they
     * come with the definition). Every combination therefore ends with the interfaces on the
     * target, and VF pools on one host only is a move the steps can do, not a failure. */
    src_vf = facts_ok(c->sf) && c->sf->vf_pools >= 0 ? c->sf->vf_pools > 0 : c->src->vf_pools;
    tgt_vf = facts_ok(c->tf) && c->tf->vf_pools >= 0 ? c->tf->vf_pools > 0 : c->tgt->vf_pools;
    if (facts_ok(c->sf) && c->sf->vf_pools >= 0 && (c->sf->vf_pools > 0) != (c->src->vf_pools != 0))
        cat(note, sizeof(note), "es.xml says VF pools %s on %s but the host reports %s",
            c->src->vf_pools ? "in use" : "not in use", c->src->hostname,
            src_vf ? "in use" : "none");
    if (facts_ok(c->tf) && c->tf->vf_pools >= 0 && (c->tf->vf_pools > 0) != (c->tgt->vf_pools != 0))
        cat(note, sizeof(note), "%ses.xml says VF pools %s on %s but the host reports %s",
            note[0] ? "; " : "", c->tgt->vf_pools ? "in use" : "not in use", c->tgt->hostname,
            tgt_vf ? "in use" : "none");
    if (priv[0])
        roce_plan(c, priv, src_vf, tgt_vf, roce, sizeof(roce));
    snprintf(msg, sizeof(msg), "guest %s: %d bridged network(s) can be created on target %s%s%s",
             c->g->hostname, bridged, c->tgt->hostname, roce[0] ? "; " : "", roce);
    pass(c, id, msg, note);
}

static void check_liveupdate_host(ctx *c, int source)
{
    preflight_check id = source ? PREFLIGHT_LIVEUPDATE_SOURCE : PREFLIGHT_LIVEUPDATE_TARGET;
    const esxml_host *h = source ? c->src : c->tgt;
    const preflight_facts *f = source ? c->sf : c->tf;
    const char *side = source ? "source" : "target";
    char note[512] = "";
    int pending;

    if (h == NULL) {
        set(c, id, PREFLIGHT_SKIPPED, "%s KVM host is not in es.xml (see same_system)", side);
        return;
    }
    if (skip_unasked(c, id, source))
        return;
    pending = h->liveupdate_pending != 0;
    if (facts_ok(f) && f->liveupdate >= 0) {
        if (f->liveupdate != pending)
            snprintf(note, sizeof(note),
                     "es.xml says %s for %s but the host reports LiveUpdatePending: %s (the "
                     "host's answer is used)",
                     pending ? "Live Update work pending" : "no Live Update work", h->hostname,
                     f->liveupdate ? "yes" : "no");
        pending = f->liveupdate;
    }
    if (pending) {
        set(c, id, PREFLIGHT_FAILED,
            "%s KVM host %s has outstanding Exadata Live Update work (found: pending; required: "
            "none); complete or clear it (patchmgr) before migrating%s%s",
            side, h->hostname, note[0] ? "; " : "", note);
        return;
    }
    {
        char msg[512];
        snprintf(msg, sizeof(msg), "%s KVM host %s has no outstanding Live Update work", side,
                 h->hostname);
        pass(c, id, msg, note);
    }
}

static void check_liveupdate_guest(ctx *c)
{
    preflight_check id = PREFLIGHT_LIVEUPDATE_GUEST;

    if (c->g == NULL) {
        set(c, id, PREFLIGHT_SKIPPED, "guest is not in es.xml (see esxml_current)");
        return;
    }
    if (c->g->liveupdate_pending)
        set(c, id, PREFLIGHT_FAILED,
            "guest %s has outstanding Exadata Live Update work (es.xml version %ld: pending; "
            "required: none) that would be applied when it restarts during the migration; clear "
            "it or reconfigure the guest first",
            c->g->hostname, c->in->config_version);
    else
        set(c, id, PREFLIGHT_PASSED, "guest %s has no outstanding Live Update work (es.xml)",
            c->g->hostname);
}

static void check_guest_on_source(ctx *c)
{
    preflight_check id = PREFLIGHT_GUEST_ON_SOURCE;
    const esxml_host *placed;
    char note[512] = "", msg[600];

    if (c->g == NULL || c->src == NULL) {
        set(c, id, PREFLIGHT_SKIPPED, "guest or source is not in es.xml");
        return;
    }
    if (c->in->resume) {
        set(c, id, PREFLIGHT_SKIPPED,
            "the job resumes an earlier attempt (replay, takeover or single step): guest %s may "
            "already have moved",
            c->g->hostname);
        return;
    }
    placed = esxml_guest_host(c->in->doc, c->g);
    if (live(c) && facts_ok(c->sf) && c->sf->have_domains) {
        int defined = line_has(c->sf->domains, c->g->hostname);
        if (!defined) {
            set(c, id, PREFLIGHT_FAILED,
                "guest %s is not defined on source KVM host %s (virsh list; es.xml version %ld "
                "places it on %s); required: the guest on the source",
                c->g->hostname, c->src->hostname, c->in->config_version,
                placed ? placed->hostname : "no host");
            return;
        }
        if (placed != c->src)
            snprintf(note, sizeof(note),
                     "es.xml version %ld places it on %s but source %s defines it (the host's "
                     "answer is used)",
                     c->in->config_version, placed ? placed->hostname : "no host",
                     c->src->hostname);
        snprintf(msg, sizeof(msg), "guest %s is defined on source KVM host %s", c->g->hostname,
                 c->src->hostname);
        pass(c, id, msg, note);
        return;
    }
    if (placed != c->src) {
        set(c, id, PREFLIGHT_FAILED,
            "guest %s is placed on %s in es.xml version %ld, not on source KVM host %s",
            c->g->hostname, placed ? placed->hostname : "no host", c->in->config_version,
            c->src->hostname);
        return;
    }
    snprintf(msg, sizeof(msg), "guest %s is placed on source KVM host %s in es.xml version %ld",
             c->g->hostname, c->src->hostname, c->in->config_version);
    pass(c, id, msg,
         live(c) ? "the source could not be asked (see ssh_source): es.xml placement used" : NULL);
}

/* 1 if the guest is already defined on the target according to the target. */
static int on_target_live(const ctx *c)
{
    return facts_ok(c->tf) && c->tf->have_domains && line_has(c->tf->domains, c->in->guest);
}

static void check_name_free(ctx *c)
{
    preflight_check id = PREFLIGHT_GUEST_NAME_FREE;
    size_t k;

    if (c->tgt == NULL) {
        set(c, id, PREFLIGHT_SKIPPED, "target is not in es.xml (see same_system)");
        return;
    }
    if (c->in->resume) {
        set(c, id, PREFLIGHT_SKIPPED,
            "the job resumes an earlier attempt (replay, takeover or single step): guest %s may "
            "already be defined on target %s by it",
            c->in->guest, c->tgt->hostname);
        return;
    }
    if (skip_unasked(c, id, 0))
        return;
    for (k = 0; k < c->tgt->n_guests; k++) {
        const esxml_guest *o = esxml_guest_find_id(c->in->doc, c->tgt->guest_ids[k]);
        if (o && strcasecmp(o->hostname, c->in->guest) == 0) {
            set(c, id, PREFLIGHT_FAILED,
                "guest name %s is already in use on target KVM host %s (es.xml version %ld "
                "places it there); required: a name not in use on the target",
                c->in->guest, c->tgt->hostname, c->in->config_version);
            return;
        }
    }
    if (on_target_live(c)) {
        set(c, id, PREFLIGHT_FAILED,
            "guest name %s is already in use on target KVM host %s (virsh list shows a domain of "
            "that name); required: a name not in use on the target",
            c->in->guest, c->tgt->hostname);
        return;
    }
    set(c, id, PREFLIGHT_PASSED, "no domain named %s on target KVM host %s%s", c->in->guest,
        c->tgt->hostname, live(c) ? "" : " (es.xml)");
}

/* Sum of the memory and cores es.xml places on host H, except guest SKIP. */
static void placed_on(const ctx *c, const esxml_host *h, const esxml_guest *skip, long *mem,
                      int *cores)
{
    size_t k;

    *mem = 0;
    *cores = 0;
    for (k = 0; k < h->n_guests; k++) {
        const esxml_guest *o = esxml_guest_find_id(c->in->doc, h->guest_ids[k]);
        if (o == NULL || o == skip)
            continue;
        *mem += o->memory_mb > 0 ? o->memory_mb : 0;
        *cores += o->cores > 0 ? o->cores : 0;
    }
}

/* Sums the reservations that still count (a reserving job whose guest the target already
 * defines is counted by the host itself) and lists them in WHO. */
static void reserved(const ctx *c, long *mem, int *vcpus, char *who, size_t who_size)
{
    size_t i;

    *mem = 0;
    *vcpus = 0;
    who[0] = '\0';
    for (i = 0; i < c->in->n_reservations; i++) {
        const preflight_reservation *rv = &c->in->reservations[i];
        if (rv->memory_mb <= 0 && rv->vcpus <= 0)
            continue;
        if (rv->guest[0] && facts_ok(c->tf) && c->tf->have_domains &&
            line_has(c->tf->domains, rv->guest))
            continue;
        *mem += rv->memory_mb;
        *vcpus += rv->vcpus;
        if (rv->job_id[0])
            cat(who, who_size, "%s%s%s", who[0] ? ", " : "job ", rv->job_id,
                rv->guest[0] ? "" : "");
        else if (rv->guest[0]) /* a move planned ahead of this one (kvmove evacuate) */
            cat(who, who_size, "%sthe planned move of %s", who[0] ? ", " : "", rv->guest);
        else
            cat(who, who_size, "%sother jobs", who[0] ? ", " : "");
    }
}

static int skip_capacity(ctx *c, preflight_check id)
{
    if (c->g == NULL || c->tgt == NULL) {
        set(c, id, PREFLIGHT_SKIPPED, "guest or target is not in es.xml");
        return 1;
    }
    if (skip_unasked(c, id, 0))
        return 1;
    if (c->in->resume && on_target_live(c)) {
        set(c, id, PREFLIGHT_SKIPPED,
            "the job resumes an earlier attempt and guest %s is already defined on target %s: "
            "its resources are already counted there",
            c->g->hostname, c->tgt->hostname);
        return 1;
    }
    return 0;
}

static void check_memory(ctx *c)
{
    preflight_check id = PREFLIGHT_TARGET_MEMORY;
    char note[512] = "", who[512], msg[1024];
    long total, placed, xml_placed, res, free_mb, need;
    int xml_cores, rv;

    if (skip_capacity(c, id))
        return;
    need = c->g->memory_mb;
    placed_on(c, c->tgt, c->g, &xml_placed, &xml_cores);
    total = pick_long(facts_ok(c->tf) ? c->tf->memory_mb : -1, c->tgt->memory_mb, "memory (MiB)",
                      c->tgt->hostname, note, sizeof(note));
    placed = xml_placed;
    if (facts_ok(c->tf) && c->tf->free_memory_mb >= 0 && total >= 0) {
        placed = total - c->tf->free_memory_mb;
        if (placed != xml_placed)
            cat(note, sizeof(note),
                "%ses.xml places guests with %ld MiB on %s but the host reports %ld MiB in use "
                "(the host's answer is used)",
                note[0] ? "; " : "", xml_placed, c->tgt->hostname, placed);
    }
    if (total < 0 || need <= 0) {
        set(c, id, live(c) ? PREFLIGHT_FAILED : PREFLIGHT_WARNING,
            "cannot tell whether guest %s fits on target KVM host %s: %s memory unknown%s",
            c->g->hostname, c->tgt->hostname, total < 0 ? "the host's" : "the guest's",
            live(c) ? "" : " in es.xml (checked at job start)");
        return;
    }
    reserved(c, &res, &rv, who, sizeof(who));
    free_mb = total - placed - res;
    snprintf(msg, sizeof(msg),
             "target KVM host %s has %ld MiB free (%ld total - %ld placed - %ld reserved%s%s), "
             "guest %s needs %ld MiB",
             c->tgt->hostname, free_mb, total, placed, res, who[0] ? " by " : "", who,
             c->g->hostname, need);
    if (free_mb < need) {
        set(c, id, PREFLIGHT_FAILED, "%s; memory cannot be over-committed%s%s", msg,
            note[0] ? "; " : "", note);
        return;
    }
    pass(c, id, msg, note);
}

static void check_vcpus(ctx *c)
{
    preflight_check id = PREFLIGHT_TARGET_VCPUS;
    char note[512] = "", who[512], msg[1024];
    double ratio = c->in->vcpu_overcommit > 0 ? c->in->vcpu_overcommit : 1.0;
    long cores, used, allowed;
    long xml_mem, res_mem;
    int xml_used, res;

    if (skip_capacity(c, id))
        return;
    placed_on(c, c->tgt, c->g, &xml_mem, &xml_used);
    cores = pick_long(facts_ok(c->tf) ? c->tf->cores : -1, c->tgt->cores, "cores", c->tgt->hostname,
                      note, sizeof(note));
    used = xml_used;
    if (facts_ok(c->tf) && c->tf->used_vcpus >= 0) {
        if (c->tf->used_vcpus != xml_used)
            cat(note, sizeof(note),
                "%ses.xml places guests with %d vCPUs on %s but the host reports %d (the host's "
                "answer is used)",
                note[0] ? "; " : "", xml_used, c->tgt->hostname, c->tf->used_vcpus);
        used = c->tf->used_vcpus;
    }
    if (cores < 0 || c->g->cores <= 0) {
        set(c, id, live(c) ? PREFLIGHT_FAILED : PREFLIGHT_WARNING,
            "cannot tell whether guest %s fits on target KVM host %s: %s cores unknown",
            c->g->hostname, c->tgt->hostname, cores < 0 ? "the host's" : "the guest's");
        return;
    }
    reserved(c, &res_mem, &res, who, sizeof(who));
    allowed = (long)(cores * ratio + 1e-9);
    snprintf(msg, sizeof(msg),
             "target KVM host %s: %ld vCPUs in use + %d reserved%s%s + %d for guest %s = %ld; "
             "%ld allowed (%ld cores x vCPU over-commit ratio %.2f, preflight.vcpu_overcommit%s)",
             c->tgt->hostname, used, res, who[0] ? " by " : "", who, c->g->cores, c->g->hostname,
             used + res + c->g->cores, allowed, cores, ratio,
             ratio <= 1.0 ? "; 1.0 = no over-commit" : "");
    if (used + res + c->g->cores > allowed) {
        set(c, id, PREFLIGHT_FAILED, "%s: not enough vCPUs%s%s", msg, note[0] ? "; " : "", note);
        return;
    }
    pass(c, id, msg, note);
}

/* The other members of the guest's VM cluster that are on the target or coming to it, listed in
 * WHO (empty when none). The target's live domain list, when it gave one, says who is there (the
 * live answer wins over es.xml's placement); each job in flight to it that brings a member, and
 * each planned move (kvmove evacuate), counts too. */
static void cluster_peers_on_target(const ctx *c, char *who, size_t who_size)
{
    size_t i;

    who[0] = '\0';
    if (facts_ok(c->tf) && c->tf->have_domains) {
        for (i = 0; i < esxml_guest_count(c->in->doc); i++) {
            const esxml_guest *o = esxml_guest_at(c->in->doc, i);
            if (esxml_vm_cluster_peers(c->g, o) && line_has(c->tf->domains, o->hostname))
                cat(who, who_size, "%s%s (defined there)", who[0] ? ", " : "", o->hostname);
        }
    } else {
        for (i = 0; i < c->tgt->n_guests; i++) {
            const esxml_guest *o = esxml_guest_find_id(c->in->doc, c->tgt->guest_ids[i]);
            if (esxml_vm_cluster_peers(c->g, o))
                cat(who, who_size, "%s%s (placed there in es.xml version %ld)", who[0] ? ", " : "",
                    o->hostname, c->in->config_version);
        }
    }
    for (i = 0; i < c->in->n_reservations; i++) {
        const preflight_reservation *rv = &c->in->reservations[i];
        const esxml_guest *o = esxml_guest_find(c->in->doc, rv->guest);
        if (!esxml_vm_cluster_peers(c->g, o))
            continue;
        if (rv->job_id[0])
            cat(who, who_size, "%s%s (job %s brings it)", who[0] ? ", " : "", o->hostname,
                rv->job_id);
        else
            cat(who, who_size, "%s%s (the planned move of it)", who[0] ? ", " : "", o->hostname);
    }
}

static void check_vm_cluster(ctx *c)
{
    preflight_check id = PREFLIGHT_VM_CLUSTER;
    char who[800];

    if (c->g == NULL || c->tgt == NULL) {
        set(c, id, PREFLIGHT_SKIPPED, "guest or target is not in es.xml");
        return;
    }
    if (c->g->vm_cluster == NULL) {
        set(c, id, PREFLIGHT_PASSED, "guest %s is in no VM cluster", c->g->hostname);
        return;
    }
    cluster_peers_on_target(c, who, sizeof(who));
    if (who[0] == '\0') {
        set(c, id, PREFLIGHT_PASSED,
            "no other member of VM cluster %s is on target KVM host %s or moving to it%s",
            c->g->vm_cluster, c->tgt->hostname,
            live(c) && !(facts_ok(c->tf) && c->tf->have_domains) ? " (es.xml placement)" : "");
        return;
    }
    if (c->in->allow_colocation) {
        set(c, id, PREFLIGHT_WARNING,
            "target KVM host %s shares VM cluster %s of guest %s with %s; allowed by "
            "--allow-colocation: %s",
            c->tgt->hostname, c->g->vm_cluster, c->g->hostname, who,
            c->in->colocation_reason && c->in->colocation_reason[0] ? c->in->colocation_reason
                                                                    : "(no reason given)");
        return;
    }
    set(c, id, PREFLIGHT_FAILED,
        "target KVM host %s already hosts or receives %s of VM cluster %s; required: the "
        "members of a VM cluster on different KVM hosts (choose another target, or override "
        "with --allow-colocation --reason TEXT)",
        c->tgt->hostname, who, c->g->vm_cluster);
}

static void check_ssh(ctx *c, int source)
{
    preflight_check id = source ? PREFLIGHT_SSH_SOURCE : PREFLIGHT_SSH_TARGET;
    const esxml_host *h = source ? c->src : c->tgt;
    const preflight_facts *f = source ? c->sf : c->tf;
    const char *side = source ? "source" : "target";
    const char *name = source ? c->in->src_host : c->in->tgt_host;

    if (!live(c)) {
        set(c, id, PREFLIGHT_SKIPPED, "es.xml-only validation: SSH is checked when the job starts");
        return;
    }
    if (h == NULL) {
        set(c, id, PREFLIGHT_SKIPPED, "%s KVM host %s is not in es.xml (see same_system)", side,
            name);
        return;
    }
    switch (f->state) {
    case PREFLIGHT_FACTS_OK:
        set(c, id, PREFLIGHT_PASSED, "root@%s (%s) accepts key authentication", h->hostname,
            h->admin_ip ? h->admin_ip : h->hostname);
        break;
    case PREFLIGHT_FACTS_UNREACHABLE:
        if (source && c->in->mode == MODE_OFFLINEFORCE)
            set(c, id, PREFLIGHT_SKIPPED,
                "source KVM host %s is unreachable (%s); MODE=OFFLINEFORCE proceeds without it: "
                "checks that need the source are skipped",
                h->hostname, f->error);
        else
            set(c, id, PREFLIGHT_FAILED, "%s KVM host %s is unreachable over SSH as root (%s)%s",
                side, h->hostname, f->error,
                source ? "; if the host is really down, use MODE=OFFLINEFORCE" : "");
        break;
    default:
        set(c, id, PREFLIGHT_FAILED,
            "%s KVM host %s refused root with key authentication (%s); required: SSH "
            "equivalency (authorized key for root, host key in known_hosts)",
            side, h->hostname, f->error);
        break;
    }
}

/* One host being asked: its session, what it answered, and why it could not be asked. */
typedef struct probe_job {
    const preflight_input *in;
    hostconn *conn; /* NULL when it could not be connected to (or there is no host) */
    preflight_facts *f;
    int rc;
    char err[512];
} probe_job;

/* Connects to H for J (in the caller's thread: the connect function's pool is not shared). */
static void probe_connect(probe_job *j, const preflight_input *in, const esxml_host *h,
                          preflight_facts *f)
{
    memset(j, 0, sizeof(*j));
    j->in = in;
    j->f = f;
    preflight_facts_init(f, PREFLIGHT_FACTS_NONE);
    if (h != NULL)
        j->rc = in->connect(in->connect_ctx, h, &j->conn, j->err, sizeof(j->err));
}

static void *probe_main(void *arg)
{
    probe_job *j = arg;

    j->rc = preflight_facts_probe(j->conn, j->in->command_timeout_ms, j->f, j->err, sizeof(j->err));
    return NULL;
}

/* Releases J's session and records why its host could not be asked. */
static void probe_finish(probe_job *j)
{
    if (j->conn && j->in->release)
        j->in->release(j->in->connect_ctx, j->conn, j->rc);
    if (j->rc < 0) {
        j->f->state = state_of(j->rc);
        util_strlcpy(j->f->error, j->err, sizeof(j->f->error));
    }
}

/* Asks host A (and B when not NULL) at once, each on its own session in a thread of its own, so
 * that the preflight waits for the slower host rather than for one after the other. */
static void probe(const preflight_input *in, const esxml_host *a, preflight_facts *fa,
                  const esxml_host *b, preflight_facts *fb)
{
    probe_job ja, jb;
    pthread_t t;
    int threaded = 0;

    probe_connect(&ja, in, a, fa);
    if (fb)
        probe_connect(&jb, in, b, fb);
    if (fb && jb.conn && ja.conn && pthread_create(&t, NULL, probe_main, &jb) == 0)
        threaded = 1;
    if (ja.conn)
        probe_main(&ja);
    if (fb && jb.conn && !threaded)
        probe_main(&jb);
    if (threaded)
        pthread_join(t, NULL);
    probe_finish(&ja);
    if (fb)
        probe_finish(&jb);
}

void preflight_input_for(preflight_input *in, const request *req, const esxml *doc, long version,
                         double vcpu_overcommit)
{
    memset(in, 0, sizeof(*in));
    in->doc = doc;
    in->config_version = version;
    in->guest = req->guest;
    in->src_host = req->src_host;
    in->tgt_host = req->tgt_host;
    in->mode = req->mode;
    in->resume = req->has_step; /* a single step may follow a partly done migration */
    in->vcpu_overcommit = vcpu_overcommit;
    in->allow_colocation = req->allow_colocation;
    in->colocation_reason = req->reason;
}

int preflight_run(const preflight_input *in, preflight_report *out, char *errstr,
                  size_t errstr_size)
{
    ctx c;
    int i;

    if (in == NULL || out == NULL || in->doc == NULL || in->guest == NULL || in->src_host == NULL ||
        in->tgt_host == NULL) {
        util_errf(errstr, errstr_size, "preflight: es.xml, guest and hosts are required");
        return -1;
    }
    if (in->live && in->connect == NULL && (in->src_facts == NULL || in->tgt_facts == NULL)) {
        util_errf(errstr, errstr_size,
                  "preflight: a live run needs host facts or a connect function");
        return -1;
    }
    memset(out, 0, sizeof(*out));
    memset(&c, 0, sizeof(c));
    c.in = in;
    c.r = out;
    c.g = esxml_guest_find(in->doc, in->guest);
    c.src = esxml_host_find(in->doc, in->src_host);
    c.tgt = esxml_host_find(in->doc, in->tgt_host);
    c.system = esxml_system_name(in->doc) ? esxml_system_name(in->doc) : "?";
    if (!in->live) {
        preflight_facts_init(&out->src_facts, PREFLIGHT_FACTS_NONE);
        preflight_facts_init(&out->tgt_facts, PREFLIGHT_FACTS_NONE);
    } else {
        int same = c.tgt && c.src && strcasecmp(c.tgt->hostname, c.src->hostname) == 0;
        if (in->src_facts)
            out->src_facts = *in->src_facts;
        if (in->tgt_facts)
            out->tgt_facts = *in->tgt_facts;
        if (!in->src_facts && !in->tgt_facts && !same)
            probe(in, c.src, &out->src_facts, c.tgt, &out->tgt_facts);
        else if (!in->src_facts)
            probe(in, c.src, &out->src_facts, NULL, NULL);
        if (!in->tgt_facts && same)
            out->tgt_facts = out->src_facts;
        else if (!in->tgt_facts && (in->src_facts || same))
            probe(in, c.tgt, &out->tgt_facts, NULL, NULL);
    }
    c.sf = &out->src_facts;
    c.tf = &out->tgt_facts;

    if (c.g)
        set(&c, PREFLIGHT_ESXML_CURRENT, PREFLIGHT_PASSED,
            "guest %s is defined in es.xml version %ld (system %s)", c.g->hostname,
            in->config_version, c.system);
    else
        set(&c, PREFLIGHT_ESXML_CURRENT, PREFLIGHT_FAILED,
            "guest %s is not defined in es.xml version %ld (system %s); load the current es.xml "
            "with 'kvmove config load'",
            in->guest, in->config_version, c.system);
    if (c.src && c.tgt)
        set(&c, PREFLIGHT_SAME_SYSTEM, PREFLIGHT_PASSED,
            "source %s and target %s are KVM hosts of es.xml system %s", c.src->hostname,
            c.tgt->hostname, c.system);
    else
        set(&c, PREFLIGHT_SAME_SYSTEM, PREFLIGHT_FAILED,
            "%s%s%s%s%s not a KVM host of es.xml version %ld (system %s); required: source and "
            "target in the same Exadata system configuration",
            c.src ? "" : "source ", c.src ? "" : in->src_host, !c.src && !c.tgt ? " and " : "",
            c.tgt ? "" : "target ", c.tgt ? "" : in->tgt_host, in->config_version, c.system);
    if (strcasecmp(in->src_host, in->tgt_host) == 0)
        set(&c, PREFLIGHT_DISTINCT_HOSTS, PREFLIGHT_FAILED,
            "source and target are both %s; required: a different target KVM host", in->src_host);
    else
        set(&c, PREFLIGHT_DISTINCT_HOSTS, PREFLIGHT_PASSED, "source %s, target %s", in->src_host,
            in->tgt_host);
    check_ssh(&c, 1);
    check_ssh(&c, 0);
    check_hardware(&c, 1);
    check_hardware(&c, 0);
    check_software(&c, 1);
    check_software(&c, 0);
    check_target_version(&c);
    check_exascale(&c);
    check_storage_servers(&c);
    check_network(&c);
    check_liveupdate_host(&c, 1);
    check_liveupdate_host(&c, 0);
    check_liveupdate_guest(&c);
    check_guest_on_source(&c);
    check_name_free(&c);
    check_memory(&c);
    check_vcpus(&c);
    check_vm_cluster(&c);
    for (i = 0; i < PREFLIGHT__COUNT; i++) {
        out->results[i].check = (preflight_check)i;
        out->n_failed += out->results[i].status == PREFLIGHT_FAILED;
        out->n_warnings += out->results[i].status == PREFLIGHT_WARNING;
        out->n_skipped += out->results[i].status == PREFLIGHT_SKIPPED;
    }
    return 0;
}

int preflight_passed(const preflight_report *r)
{
    return r->n_failed == 0;
}

json_t *preflight_failed_json(const preflight_report *r)
{
    json_t *a = json_array();
    int i;

    for (i = 0; a && i < PREFLIGHT__COUNT; i++)
        if (r->results[i].status == PREFLIGHT_FAILED)
            json_array_append_new(
                a, json_pack("{s:s,s:s}", "check", defs[i].name, "message", r->results[i].message));
    return a;
}
