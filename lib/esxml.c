/* esxml: loads, checks, edits and writes the es.xml subset (libxml2; no network, no entities). */
#include "esxml.h"
#include "util.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/parserInternals.h>
#include <libxml/tree.h>
#include <libxml/xmlerror.h>
#include <libxml/xmlschemas.h>
#include <libxml/xmlschemastypes.h>

/* A document larger than this is not an es.xml (the spec's rack is a few hundred KiB). */
#define ESXML_MAX_SIZE (64L * 1024 * 1024)
#define ESXML_SUBCOMMAND_MAX 4096
#define NONE SIZE_MAX

/* A name -> position index: open addressing over a power-of-two table that is built once per
 * view build (so that loading and every lookup are linear in the document, not quadratic).
 * Ids compare exactly; hostnames by esxml_name_equal's rule (ASCII case ignored). */
typedef struct {
    const char **keys; /* per slot; NULL = empty (keys point into the pool) */
    size_t *vals;
    size_t mask;
    int nocase;
} name_index;

/* Everything the read-only views point to. Edits build a new set and retire the old one to the
 * OLDER chain (freed by esxml_free), so pointers a caller still holds never dangle. */
typedef struct esxml_views {
    struct esxml_views *older;
    void **pool; /* every allocation below, freed together */
    size_t n_pool, cap_pool;

    const char *name;
    int cloud;
    const char *xs_cluster, *xs_vault;

    esxml_host *hosts;
    xmlNodePtr *host_nodes;
    size_t n_hosts;

    esxml_guest *guests;
    xmlNodePtr *guest_nodes;
    size_t *guest_host; /* index into hosts, or NONE */
    size_t n_guests;

    esxml_action *actions;
    xmlNodePtr *action_nodes;
    size_t n_actions;
    xmlNodePtr actions_node; /* <actions>, or NULL */

    const char **servers;
    size_t n_servers;

    /* Machines by id (exact) and by hostname (any case); value: MACHINE_HOST(i) or
     * MACHINE_GUEST(i). */
    name_index machine_ids, machine_names;
} esxml_views;

#define MACHINE_HOST(i) ((i)*2 + 1)
#define MACHINE_GUEST(i) ((i)*2)
#define MACHINE_IS_HOST(val) ((val) % 2 == 1)
#define MACHINE_POS(val) ((val) / 2)

struct esxml {
    xmlDocPtr doc;     /* owned */
    char *source;      /* file name used in messages; owned */
    esxml_views *view; /* current views; owned, with the retired ones behind it */
};

/* The checking context of one view build. */
typedef struct {
    const char *src;
    esxml_views *v;
    char *errstr;
    size_t errstr_size;
} ctx;

/* ---- small helpers ---------------------------------------------------------------------- */

static void views_free(esxml_views *v)
{
    while (v != NULL) {
        esxml_views *older = v->older;
        size_t i;

        for (i = 0; i < v->n_pool; i++)
            free(v->pool[i]);
        free(v->pool);
        free(v);
        v = older;
    }
}

/* Records P in the pool (so it is freed with the views). Frees P and returns NULL on failure. */
static void *pool_add(esxml_views *v, void *p)
{
    if (p == NULL)
        return NULL;
    if (v->n_pool == v->cap_pool) {
        size_t cap = v->cap_pool ? v->cap_pool * 2 : 64;
        void **np = realloc(v->pool, cap * sizeof(*np));
        if (np == NULL) {
            free(p);
            return NULL;
        }
        v->pool = np;
        v->cap_pool = cap;
    }
    v->pool[v->n_pool++] = p;
    return p;
}

static void *pool_calloc(esxml_views *v, size_t n, size_t size)
{
    return pool_add(v, calloc(n ? n : 1, size));
}

static char *pool_strndup(esxml_views *v, const char *s, size_t n)
{
    return pool_add(v, strndup(s, n));
}

/* ASCII case folding only: hostnames are ASCII (name_ok), and the rule must not change with the
 * locale. */
static int fold(unsigned char ch)
{
    return ch >= 'A' && ch <= 'Z' ? ch + ('a' - 'A') : ch;
}

static int name_casecmp(const char *a, const char *b)
{
    while (*a != '\0' && fold((unsigned char)*a) == fold((unsigned char)*b)) {
        a++;
        b++;
    }
    return fold((unsigned char)*a) - fold((unsigned char)*b);
}

/* FNV-1a, folded when the index ignores case. */
static size_t name_hash(const char *s, int nocase)
{
    uint64_t h = 1469598103934665603ULL;

    for (; *s != '\0'; s++) {
        h ^= (uint64_t)(nocase ? fold((unsigned char)*s) : (unsigned char)*s);
        h *= 1099511628211ULL;
    }
    return (size_t)(h ^ (h >> 29));
}

/* Room for N keys (the table never fills: at least twice as many slots). -1 out of memory. */
static int index_init(esxml_views *v, name_index *x, size_t n, int nocase)
{
    size_t cap = 16;

    while (cap < n * 2)
        cap *= 2;
    x->keys = pool_calloc(v, cap, sizeof(*x->keys));
    x->vals = pool_calloc(v, cap, sizeof(*x->vals));
    x->mask = cap - 1;
    x->nocase = nocase;
    return x->keys != NULL && x->vals != NULL ? 0 : -1;
}

/* The slot holding KEY, or the empty slot where it would go. */
static size_t index_slot(const name_index *x, const char *key)
{
    size_t i = name_hash(key, x->nocase) & x->mask;

    while (x->keys[i] != NULL &&
           (x->nocase ? name_casecmp(x->keys[i], key) : strcmp(x->keys[i], key)) != 0)
        i = (i + 1) & x->mask;
    return i;
}

/* The value of KEY, or NONE. */
static size_t index_get(const name_index *x, const char *key)
{
    size_t i;

    if (x->keys == NULL || key == NULL)
        return NONE;
    i = index_slot(x, key);
    return x->keys[i] != NULL ? x->vals[i] : NONE;
}

/* Adds KEY (which must outlive the index) -> VAL. Returns NONE when added, or the value KEY
 * already has (the index is then unchanged). */
static size_t index_put(name_index *x, const char *key, size_t val)
{
    size_t i = index_slot(x, key);

    if (x->keys[i] != NULL)
        return x->vals[i];
    x->keys[i] = key;
    x->vals[i] = val;
    return NONE;
}

/* Copies VALUE into OUT for an error message: at most 64 characters, non-printable bytes as
 * \xNN, so that a hostile value cannot garble a terminal or a log line. */
static const char *escape(const char *value, char *out, size_t out_size)
{
    size_t o = 0, i;

    if (value == NULL)
        value = "";
    for (i = 0; value[i] != '\0' && i < 64 && o + 5 < out_size; i++) {
        unsigned char ch = (unsigned char)value[i];
        if (ch < 0x20 || ch >= 0x7f || ch == '\\' || ch == '\'')
            o += (size_t)snprintf(out + o, out_size - o, "\\x%02x", ch);
        else
            out[o++] = (char)ch;
    }
    if (value[i] != '\0' && o + 4 < out_size) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o] = '\0';
    return out;
}

/* Fails the build with "SRC line N: message". Always returns -1. */
static int fail(ctx *c, xmlNodePtr n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(ctx *c, xmlNodePtr n, const char *fmt, ...)
{
    char msg[768];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (n != NULL)
        util_errf(c->errstr, c->errstr_size, "%s line %ld: %s", c->src, xmlGetLineNo(n), msg);
    else
        util_errf(c->errstr, c->errstr_size, "%s: %s", c->src, msg);
    return -1;
}

static int fail_oom(ctx *c)
{
    return fail(c, NULL, "out of memory");
}

static int is_elem(xmlNodePtr n, const char *name)
{
    return n != NULL && n->type == XML_ELEMENT_NODE && n->ns == NULL &&
           strcmp((const char *)n->name, name) == 0;
}

static const char *node_name(xmlNodePtr n)
{
    return (const char *)n->name;
}

/* ---- name checks --------------------------------------------------------------------------
 * Values from es.xml end up in shell commands on the KVM hosts, so every name is held to a
 * strict pattern here, the same patterns as lib/names.h (kept local so that this module stands
 * alone; names.c checks them again right before a command is built). */

typedef enum {
    CHK_HOST,  /* DNS name: labels of [A-Za-z0-9-], no leading '-', dots between, <= 253 */
    CHK_ID,    /* ids, volume and device names: [A-Za-z0-9_][A-Za-z0-9_.-]{0,127} */
    CHK_IFACE, /* bridges and interfaces: [A-Za-z0-9_][A-Za-z0-9_.-]{0,14} */
    CHK_LABEL, /* models, versions, system name: [A-Za-z0-9_][A-Za-z0-9_.-]{0,63} */
} check_kind;

static const char *check_rule(check_kind kind)
{
    switch (kind) {
    case CHK_HOST:
        return "a hostname: letters, digits, '-' and '.', labels not starting with '-', at "
               "most 253 characters";
    case CHK_ID:
        return "letters, digits, '_', '.' and '-', not starting with '.' or '-', at most 128 "
               "characters";
    case CHK_IFACE:
        return "an interface name: letters, digits, '_', '.' and '-', not starting with '.' or "
               "'-', at most 15 characters";
    case CHK_LABEL:
        return "letters, digits, '_', '.' and '-', not starting with '.' or '-', at most 64 "
               "characters";
    }
    return "";
}

static int name_ok(check_kind kind, const char *s)
{
    size_t len = strlen(s), i, label = 0;

    if (len == 0)
        return 0;
    if (kind == CHK_HOST) {
        if (len > 253)
            return 0;
        for (i = 0; i < len; i++) {
            char ch = s[i];
            if (ch == '.') {
                if (label == 0)
                    return 0;
                label = 0;
            } else if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                       (ch >= '0' && ch <= '9') || ch == '-') {
                if (label == 0 && ch == '-')
                    return 0;
                if (++label > 63)
                    return 0;
            } else {
                return 0;
            }
        }
        return label > 0;
    }
    if (len > (kind == CHK_IFACE ? 15u : kind == CHK_LABEL ? 64u : 128u))
        return 0;
    for (i = 0; i < len; i++) {
        char ch = s[i];
        int alnum = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                    (ch >= '0' && ch <= '9') || ch == '_';
        if (!alnum && (i == 0 || (ch != '.' && ch != '-')))
            return 0;
    }
    return 1;
}

/* ---- reading values ------------------------------------------------------------------- */

/* The trimmed text of element N (text and CDATA only; comments ignored), copied into the pool. */
static int text_get(ctx *c, xmlNodePtr n, const char *what, const char **out)
{
    size_t len = 0, b, e;
    xmlNodePtr k;
    char *s;

    for (k = n->children; k != NULL; k = k->next) {
        if (k->type == XML_TEXT_NODE || k->type == XML_CDATA_SECTION_NODE)
            len += k->content ? strlen((const char *)k->content) : 0;
        else if (k->type != XML_COMMENT_NODE && k->type != XML_PI_NODE)
            return fail(c, k, "<%s> of %s must contain text only", node_name(n), what);
    }
    s = malloc(len + 1);
    if (s == NULL)
        return fail_oom(c);
    len = 0;
    for (k = n->children; k != NULL; k = k->next) {
        if ((k->type == XML_TEXT_NODE || k->type == XML_CDATA_SECTION_NODE) && k->content) {
            size_t l = strlen((const char *)k->content);
            memcpy(s + len, k->content, l);
            len += l;
        }
    }
    s[len] = '\0';
    for (b = 0; s[b] == ' ' || s[b] == '\t' || s[b] == '\n' || s[b] == '\r'; b++)
        ;
    for (e = len;
         e > b && (s[e - 1] == ' ' || s[e - 1] == '\t' || s[e - 1] == '\n' || s[e - 1] == '\r');
         e--)
        ;
    *out = pool_strndup(c->v, s + b, e - b);
    free(s);
    if (*out == NULL)
        return fail_oom(c);
    return 0;
}

static int name_check_at(ctx *c, xmlNodePtr n, check_kind kind, const char *label, const char *what,
                         const char *value)
{
    char esc[400];

    if (name_ok(kind, value))
        return 0;
    return fail(c, n, "%s '%s' of %s is not valid: it must be %s", label,
                escape(value, esc, sizeof(esc)), what, check_rule(kind));
}

/* Text of element N that must match the pattern KIND. */
static int name_get(ctx *c, xmlNodePtr n, check_kind kind, const char *what, const char **out)
{
    if (text_get(c, n, what, out) < 0)
        return -1;
    return name_check_at(c, n, kind, node_name(n), what, *out);
}

/* An attribute of N (copied into the pool) that must match KIND; required. */
static int attr_get(ctx *c, xmlNodePtr n, const char *attr, check_kind kind, const char *what,
                    const char **out)
{
    xmlChar *a = xmlGetNoNsProp(n, (const xmlChar *)attr);

    if (a == NULL)
        return fail(c, n, "<%s> of %s has no %s attribute", node_name(n), what, attr);
    *out = pool_add(c->v, strdup((const char *)a));
    xmlFree(a);
    if (*out == NULL)
        return fail_oom(c);
    return name_check_at(c, n, kind, attr, what, *out);
}

/* Rejects attributes of N other than those in ALLOWED (NULL-terminated). */
static int attrs_only(ctx *c, xmlNodePtr n, const char *const *allowed, const char *what)
{
    xmlAttrPtr a;

    for (a = n->properties; a != NULL; a = a->next) {
        size_t i;
        for (i = 0; allowed[i] != NULL; i++)
            if (a->ns == NULL && strcmp((const char *)a->name, allowed[i]) == 0)
                break;
        if (allowed[i] == NULL)
            return fail(c, n, "<%s> of %s has an unknown attribute '%s'", node_name(n), what,
                        (const char *)a->name);
    }
    return 0;
}

/* Parses a decimal number in [MIN, MAX]. 0, -1 if not a number, -2 if out of range. */
static int parse_long(const char *s, long min, long max, long *out)
{
    size_t i;
    long val = 0;

    if (s[0] == '\0')
        return -1;
    for (i = 0; s[i] != '\0'; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        if (val > (LONG_MAX - 9) / 10)
            return -2;
        val = val * 10 + (s[i] - '0');
    }
    if (val < min || val > max)
        return -2;
    *out = val;
    return 0;
}

static int check_number(ctx *c, xmlNodePtr n, const char *label, const char *what, const char *s,
                        long min, long max, long *out)
{
    char esc[400];
    int rc = parse_long(s, min, max, out);

    if (rc == -1)
        return fail(c, n, "%s '%s' of %s is not a number", label, escape(s, esc, sizeof(esc)),
                    what);
    if (rc == -2)
        return fail(c, n, "%s %s of %s is out of range (%ld..%ld)", label,
                    escape(s, esc, sizeof(esc)), what, min, max);
    return 0;
}

static int number_get(ctx *c, xmlNodePtr n, const char *what, long min, long max, long *out)
{
    const char *s;

    if (text_get(c, n, what, &s) < 0)
        return -1;
    return check_number(c, n, node_name(n), what, s, min, max, out);
}

/* xs:boolean: true, false, 1, 0. */
static int check_bool(ctx *c, xmlNodePtr n, const char *label, const char *what, const char *s,
                      int *out)
{
    char esc[400];

    if (strcmp(s, "true") == 0 || strcmp(s, "1") == 0)
        *out = 1;
    else if (strcmp(s, "false") == 0 || strcmp(s, "0") == 0)
        *out = 0;
    else
        return fail(c, n, "%s '%s' of %s is not a boolean (true or false)", label,
                    escape(s, esc, sizeof(esc)), what);
    return 0;
}

static int bool_get(ctx *c, xmlNodePtr n, const char *what, int *out)
{
    const char *s;

    if (text_get(c, n, what, &s) < 0)
        return -1;
    return check_bool(c, n, node_name(n), what, s, out);
}

static int bool_attr_get(ctx *c, xmlNodePtr n, const char *attr, const char *what, int *out)
{
    xmlChar *a = xmlGetNoNsProp(n, (const xmlChar *)attr);
    int rc;

    if (a == NULL)
        return fail(c, n, "<%s> of %s has no %s attribute", node_name(n), what, attr);
    rc = check_bool(c, n, attr, what, (const char *)a, out);
    xmlFree(a);
    return rc;
}

/* Sorts the element children of PARENT into OUT[i] by NAMES[i] (each at most once). Children
 * named REPEAT (may be NULL) are left to the caller. Anything else is an error, as is text. */
static int children_collect(ctx *c, xmlNodePtr parent, const char *const *names, size_t n,
                            xmlNodePtr *out, const char *repeat, const char *what)
{
    xmlNodePtr k;
    size_t i;

    for (i = 0; i < n; i++)
        out[i] = NULL;
    for (k = parent->children; k != NULL; k = k->next) {
        if (k->type == XML_TEXT_NODE || k->type == XML_CDATA_SECTION_NODE) {
            const char *t = (const char *)k->content;
            if (t != NULL && t[strspn(t, " \t\r\n")] != '\0')
                return fail(c, k, "unexpected text in <%s> of %s", node_name(parent), what);
            continue;
        }
        if (k->type == XML_COMMENT_NODE || k->type == XML_PI_NODE)
            continue;
        if (k->type != XML_ELEMENT_NODE)
            return fail(c, k, "unexpected node in <%s> of %s", node_name(parent), what);
        if (repeat != NULL && is_elem(k, repeat))
            continue;
        for (i = 0; i < n; i++)
            if (is_elem(k, names[i]))
                break;
        if (i == n)
            return fail(c, k, "unexpected element <%s> in <%s> of %s", node_name(k),
                        node_name(parent), what);
        if (out[i] != NULL)
            return fail(c, k, "<%s> appears twice in <%s> of %s (first at line %ld)", node_name(k),
                        node_name(parent), what, xmlGetLineNo(out[i]));
        out[i] = k;
    }
    return 0;
}

/* Counts the NAME children of a list element PARENT that must hold nothing else. */
static int list_count(ctx *c, xmlNodePtr parent, const char *name, const char *what, size_t *count)
{
    xmlNodePtr k;

    *count = 0;
    if (children_collect(c, parent, NULL, 0, NULL, name, what) < 0)
        return -1;
    for (k = parent->children; k != NULL; k = k->next)
        if (is_elem(k, name))
            (*count)++;
    return 0;
}

/* ---- building the views ----------------------------------------------------------------- */

enum {
    M_OSTYPE,
    M_HOSTNAME,
    M_ADMINIP,
    M_MODEL,
    M_SOCKETS,
    M_FABRIC,
    M_SWVERSION,
    M_CORES,
    M_MEMORY,
    M_VFPOOLS,
    M_GCORES,
    M_GMEMORY,
    M_LIVEUPDATE,
    M_VOLUMES,
    M_NETWORKS,
    M_COUNT
};
static const char *const machine_fields[M_COUNT] = {"osType",
                                                    "hostName",
                                                    "adminIp",
                                                    "hardwareModel",
                                                    "sockets",
                                                    "fabric",
                                                    "softwareVersion",
                                                    "cores",
                                                    "memoryMB",
                                                    "vfPools",
                                                    "guestCores",
                                                    "guestMemory",
                                                    "liveUpdatePending",
                                                    "edvVolumes",
                                                    "networks"};
static const int host_only[] = {M_ADMINIP,   M_MODEL, M_SOCKETS, M_FABRIC,
                                M_SWVERSION, M_CORES, M_MEMORY,  M_VFPOOLS};
static const int guest_only[] = {M_GCORES, M_GMEMORY, M_VOLUMES, M_NETWORKS};

/* A volume or network definition, by id, as read from <storage> or <networks>. */
typedef struct {
    const char *id;
    xmlNodePtr node;
    esxml_volume vol;
    esxml_network net;
    size_t used_by; /* guest index (volumes), or NONE */
} def;

typedef struct {
    def *vols;
    size_t n_vols;
    name_index vol_ids; /* id -> index into vols */
    def *nets;
    size_t n_nets;
    name_index net_ids; /* id -> index into nets */
} defs;

/* The definition of ID in D (N of them, indexed by IDS), or NULL. */
static def *def_find(def *d, const name_index *ids, const char *id)
{
    size_t i = index_get(ids, id);

    return i == NONE ? NULL : &d[i];
}

static int read_networks(ctx *c, xmlNodePtr networks, int cloud, defs *d)
{
    static const char *const fields[] = {"networkType", "bridge", "vlanId", "interfaceName",
                                         "natBridge"};
    static const char *const attrs[] = {"id", NULL};
    xmlNodePtr k, f[5];
    size_t n;

    if (networks == NULL)
        return 0;
    if (list_count(c, networks, "network", "the system", &n) < 0)
        return -1;
    d->nets = pool_calloc(c->v, n, sizeof(*d->nets));
    if (d->nets == NULL || index_init(c->v, &d->net_ids, n, 0) < 0)
        return fail_oom(c);
    for (k = networks->children; k != NULL; k = k->next) {
        def *x = &d->nets[d->n_nets];
        esxml_network *net = &x->net;
        const def *prev;
        char what[200];
        long vlan = 0;

        if (!is_elem(k, "network"))
            continue;
        if (attrs_only(c, k, attrs, "<networks>") < 0 ||
            attr_get(c, k, "id", CHK_ID, "a network", &x->id) < 0)
            return -1;
        snprintf(what, sizeof(what), "network %s", x->id);
        prev = def_find(d->nets, &d->net_ids, x->id);
        if (prev != NULL)
            return fail(c, k, "network id %s is defined twice (first at line %ld)", x->id,
                        xmlGetLineNo(prev->node));
        index_put(&d->net_ids, x->id, d->n_nets);
        x->node = k;
        net->name = x->id;
        if (children_collect(c, k, fields, 5, f, NULL, what) < 0)
            return -1;
        if (f[0] == NULL)
            return fail(c, k, "%s has no <networkType>", what);
        if (f[3] == NULL)
            return fail(c, k, "%s has no <interfaceName>", what);
        if (text_get(c, f[0], what, &net->type) < 0)
            return -1;
        if (strcmp(net->type, "client") != 0 && strcmp(net->type, "backup") != 0 &&
            strcmp(net->type, "private") != 0) {
            char esc[400];
            return fail(c, f[0], "networkType '%s' of %s is not client, backup or private",
                        escape(net->type, esc, sizeof(esc)), what);
        }
        if (f[1] != NULL && name_get(c, f[1], CHK_IFACE, what, &net->bridge) < 0)
            return -1;
        if (strcmp(net->type, "private") == 0 && net->bridge != NULL)
            return fail(c, f[1], "%s is a private (RoCE) network and cannot have a <bridge>", what);
        if (strcmp(net->type, "private") != 0 && net->bridge == NULL)
            return fail(c, k, "%s is a %s network and has no <bridge>", what, net->type);
        if (f[2] != NULL && number_get(c, f[2], what, 1, 4094, &vlan) < 0)
            return -1;
        net->vlan = (int)vlan;
        if (name_get(c, f[3], CHK_IFACE, what, &net->iface) < 0)
            return -1;
        if (f[4] != NULL) {
            if (!cloud)
                return fail(c, f[4],
                            "%s has a <natBridge>, but NAT bridges exist only in cloud "
                            "deployments (deploymentType=\"cloud\")",
                            what);
            if (name_get(c, f[4], CHK_IFACE, what, &net->nat_bridge) < 0)
                return -1;
        }
        d->n_nets++;
    }
    return 0;
}

static int read_storage(ctx *c, xmlNodePtr storage, defs *d)
{
    static const char *const sections[] = {"storageServers", "edvVolumes"};
    static const char *const fields[] = {"name", "device", "role"};
    static const char *const roles[] = {"system", "config", "gridhome", "dbhome",
                                        "u01",    "u02",    "data"};
    static const char *const attrs[] = {"id", NULL};
    xmlNodePtr s[2], k, f[3];
    name_index server_ids;
    size_t n, i;

    if (storage == NULL)
        return 0;
    if (children_collect(c, storage, sections, 2, s, NULL, "<storage>") < 0)
        return -1;
    if (s[0] != NULL) {
        if (list_count(c, s[0], "storageServer", "<storage>", &n) < 0)
            return -1;
        c->v->servers = pool_calloc(c->v, n, sizeof(*c->v->servers));
        if (c->v->servers == NULL || index_init(c->v, &server_ids, n, 0) < 0)
            return fail_oom(c);
        for (k = s[0]->children; k != NULL; k = k->next) {
            const char *id;
            char what[200];

            if (!is_elem(k, "storageServer"))
                continue;
            if (attrs_only(c, k, attrs, "<storageServers>") < 0 ||
                attr_get(c, k, "id", CHK_ID, "a storage server", &id) < 0)
                return -1;
            if (index_put(&server_ids, id, c->v->n_servers) != NONE)
                return fail(c, k, "storage server id %s is defined twice", id);
            snprintf(what, sizeof(what), "storage server %s", id);
            if (name_get(c, k, CHK_HOST, what, &c->v->servers[c->v->n_servers]) < 0)
                return -1;
            c->v->n_servers++;
        }
    }
    if (s[1] == NULL)
        return 0;
    if (list_count(c, s[1], "edvVolume", "<storage>", &n) < 0)
        return -1;
    d->vols = pool_calloc(c->v, n, sizeof(*d->vols));
    if (d->vols == NULL || index_init(c->v, &d->vol_ids, n, 0) < 0)
        return fail_oom(c);
    for (k = s[1]->children; k != NULL; k = k->next) {
        def *x = &d->vols[d->n_vols];
        const char *role;
        const def *prev;
        char what[200], esc[400];

        if (!is_elem(k, "edvVolume"))
            continue;
        if (attrs_only(c, k, attrs, "<storage>") < 0 ||
            attr_get(c, k, "id", CHK_ID, "an EDV volume", &x->id) < 0)
            return -1;
        snprintf(what, sizeof(what), "EDV volume %s", x->id);
        prev = def_find(d->vols, &d->vol_ids, x->id);
        if (prev != NULL)
            return fail(c, k, "EDV volume id %s is defined twice (first at line %ld)", x->id,
                        xmlGetLineNo(prev->node));
        index_put(&d->vol_ids, x->id, d->n_vols);
        x->node = k;
        x->used_by = NONE;
        if (children_collect(c, k, fields, 3, f, NULL, what) < 0)
            return -1;
        for (i = 0; i < 3; i++)
            if (f[i] == NULL)
                return fail(c, k, "%s has no <%s>", what, fields[i]);
        if (name_get(c, f[0], CHK_ID, what, &x->vol.name) < 0 ||
            name_get(c, f[1], CHK_ID, what, &x->vol.device) < 0 ||
            text_get(c, f[2], what, &role) < 0)
            return -1;
        for (i = 0; i < sizeof(roles) / sizeof(roles[0]); i++)
            if (strcmp(role, roles[i]) == 0)
                break;
        if (i == sizeof(roles) / sizeof(roles[0]))
            return fail(c, f[2],
                        "role '%s' of %s is not one of system, config, gridhome, dbhome, u01, "
                        "u02, data",
                        escape(role, esc, sizeof(esc)), what);
        x->vol.is_config = strcmp(role, "config") == 0;
        d->n_vols++;
    }
    return 0;
}

static int read_exascale(ctx *c, xmlNodePtr exascale)
{
    static const char *const sections[] = {"cluster"};
    static const char *const fields[] = {"vault"};
    static const char *const attrs[] = {"name", NULL};
    static const char *const none[] = {NULL};
    xmlNodePtr cl, f;

    if (exascale == NULL)
        return 0;
    if (attrs_only(c, exascale, none, "the system") < 0 ||
        children_collect(c, exascale, sections, 1, &cl, NULL, "the system") < 0)
        return -1;
    if (cl == NULL)
        return 0;
    if (attrs_only(c, cl, attrs, "<exascale>") < 0 ||
        attr_get(c, cl, "name", CHK_LABEL, "the Exascale cluster", &c->v->xs_cluster) < 0 ||
        children_collect(c, cl, fields, 1, &f, NULL, "the Exascale cluster") < 0)
        return -1;
    if (f == NULL)
        return fail(c, cl, "Exascale cluster %s has no <vault>", c->v->xs_cluster);
    return name_get(c, f, CHK_LABEL, "the Exascale cluster", &c->v->xs_vault);
}

/* <clusters>: each <cluster id=...> has a <clusterName> and the <machines> (guests) that form it;
 * a guest belongs to at most one VM cluster. Read after the machines (the references are to
 * guests). */
static int read_clusters(ctx *c, xmlNodePtr clusters)
{
    static const char *const fields[] = {"clusterName", "machines"};
    static const char *const attrs[] = {"id", NULL};
    static const char *const none[] = {NULL};
    esxml_views *v = c->v;
    name_index ids, names;
    xmlNodePtr k, f[2], r;
    size_t n;

    if (clusters == NULL)
        return 0;
    if (attrs_only(c, clusters, none, "the system") < 0 ||
        list_count(c, clusters, "cluster", "the system", &n) < 0)
        return -1;
    if (index_init(v, &ids, n, 0) < 0 || index_init(v, &names, n, 0) < 0)
        return fail_oom(c);
    for (k = clusters->children; k != NULL; k = k->next) {
        const char *id, *name;
        char what[200];
        size_t members = 0;

        if (!is_elem(k, "cluster"))
            continue;
        if (attrs_only(c, k, attrs, "<clusters>") < 0 ||
            attr_get(c, k, "id", CHK_ID, "a VM cluster", &id) < 0)
            return -1;
        snprintf(what, sizeof(what), "VM cluster %s", id);
        if (index_put(&ids, id, 0) != NONE)
            return fail(c, k, "VM cluster id %s is defined twice", id);
        if (children_collect(c, k, fields, 2, f, NULL, what) < 0)
            return -1;
        if (f[0] == NULL)
            return fail(c, k, "%s has no <clusterName>", what);
        if (f[1] == NULL)
            return fail(c, k, "%s has no <machines>", what);
        if (name_get(c, f[0], CHK_LABEL, what, &name) < 0)
            return -1;
        if (index_put(&names, name, 0) != NONE)
            return fail(c, f[0], "VM cluster name %s is used twice", name);
        if (children_collect(c, f[1], NULL, 0, NULL, "machine", what) < 0)
            return -1;
        for (r = f[1]->children; r != NULL; r = r->next) {
            const char *ref;
            size_t m;
            esxml_guest *g;

            if (!is_elem(r, "machine"))
                continue;
            if (attrs_only(c, r, attrs, what) < 0 || attr_get(c, r, "id", CHK_ID, what, &ref) < 0 ||
                children_collect(c, r, NULL, 0, NULL, NULL, what) < 0)
                return -1;
            m = index_get(&v->machine_ids, ref);
            if (m == NONE)
                return fail(c, r,
                            "%s names machine %s, which is not defined in es.xml (<machines>)",
                            what, ref);
            if (MACHINE_IS_HOST(m))
                return fail(c, r, "%s names machine %s, which is a KVM host, not a guest", what,
                            ref);
            g = &v->guests[MACHINE_POS(m)];
            if (g->vm_cluster != NULL)
                return fail(c, r, "guest %s is in two VM clusters, %s and %s", g->hostname,
                            g->vm_cluster, name);
            g->vm_cluster = name;
            members++;
        }
        if (members == 0)
            return fail(c, f[1], "<machines> of %s is empty", what);
    }
    return 0;
}

static int read_actions(ctx *c, xmlNodePtr actions)
{
    static const char *const fields[] = {"subCommand"};
    static const char *const attrs[] = {"id", "merged", "deployed", NULL};
    esxml_views *v = c->v;
    name_index ids;
    xmlNodePtr k, f;
    size_t n, i;

    v->actions_node = actions;
    if (actions == NULL)
        return 0;
    if (list_count(c, actions, "action", "the system", &n) < 0)
        return -1;
    v->actions = pool_calloc(v, n, sizeof(*v->actions));
    v->action_nodes = pool_calloc(v, n, sizeof(*v->action_nodes));
    if (v->actions == NULL || v->action_nodes == NULL || index_init(v, &ids, n, 0) < 0)
        return fail_oom(c);
    for (k = actions->children; k != NULL; k = k->next) {
        esxml_action *a = &v->actions[v->n_actions];
        xmlChar *id;
        char canon[16];
        const char *key;
        long num = 0;
        int rc;

        if (!is_elem(k, "action"))
            continue;
        if (attrs_only(c, k, attrs, "<actions>") < 0)
            return -1;
        id = xmlGetNoNsProp(k, (const xmlChar *)"id");
        if (id == NULL)
            return fail(c, k, "<action> has no id attribute");
        rc = check_number(c, k, "id", "an action", (const char *)id, 1, 999999999, &num);
        xmlFree(id);
        if (rc < 0)
            return -1;
        a->id = (int)num;
        /* Keyed by the number, so that "027" and "27" are the same id. */
        snprintf(canon, sizeof(canon), "%d", a->id);
        key = pool_strndup(v, canon, strlen(canon));
        if (key == NULL)
            return fail_oom(c);
        i = index_put(&ids, key, v->n_actions);
        if (i != NONE)
            return fail(c, k, "action id %d is defined twice (first at line %ld)", a->id,
                        xmlGetLineNo(v->action_nodes[i]));
        if (bool_attr_get(c, k, "merged", "an action", &a->merged) < 0 ||
            bool_attr_get(c, k, "deployed", "an action", &a->deployed) < 0 ||
            children_collect(c, k, fields, 1, &f, NULL, "an action") < 0)
            return -1;
        if (f == NULL)
            return fail(c, k, "action %d has no <subCommand>", a->id);
        if (text_get(c, f, "an action", &a->subcommand) < 0)
            return -1;
        if (a->subcommand[0] == '\0')
            return fail(c, f, "action %d has an empty <subCommand>", a->id);
        v->action_nodes[v->n_actions++] = k;
    }
    return 0;
}

/* Reads one guest's references to volumes and networks (F are its collected children). */
static int read_guest_refs(ctx *c, xmlNodePtr *f, size_t gi, defs *d)
{
    esxml_guest *g = &c->v->guests[gi];
    esxml_volume *vols = NULL;
    esxml_network *nets = NULL;
    size_t n, j, configs = 0;
    xmlNodePtr k;

    if (f[M_VOLUMES] != NULL) {
        if (list_count(c, f[M_VOLUMES], "edvVolume", g->hostname, &n) < 0)
            return -1;
        if (n == 0)
            return fail(c, f[M_VOLUMES], "<edvVolumes> of guest %s is empty", g->hostname);
        vols = pool_calloc(c->v, n, sizeof(*vols));
        if (vols == NULL)
            return fail_oom(c);
        for (k = f[M_VOLUMES]->children; k != NULL; k = k->next) {
            static const char *const attrs[] = {"id", NULL};
            const char *id;
            def *x;

            if (!is_elem(k, "edvVolume"))
                continue;
            if (attrs_only(c, k, attrs, g->hostname) < 0 ||
                attr_get(c, k, "id", CHK_ID, g->hostname, &id) < 0)
                return -1;
            x = def_find(d->vols, &d->vol_ids, id);
            if (x == NULL)
                return fail(c, k,
                            "guest %s uses EDV volume %s, which is not defined in es.xml "
                            "(<storage><edvVolumes>)",
                            g->hostname, id);
            if (x->used_by == gi)
                return fail(c, k, "guest %s lists EDV volume %s twice", g->hostname, id);
            if (x->used_by != NONE)
                return fail(c, k, "EDV volume %s is used by two guests, %s and %s", id,
                            c->v->guests[x->used_by].hostname, g->hostname);
            x->used_by = gi;
            configs += x->vol.is_config;
            if (configs > 1)
                return fail(c, k, "guest %s has more than one configuration volume (role config)",
                            g->hostname);
            vols[g->n_volumes++] = x->vol;
        }
    }
    if (f[M_NETWORKS] != NULL) {
        if (list_count(c, f[M_NETWORKS], "network", g->hostname, &n) < 0)
            return -1;
        if (n == 0)
            return fail(c, f[M_NETWORKS], "<networks> of guest %s is empty", g->hostname);
        nets = pool_calloc(c->v, n, sizeof(*nets));
        if (nets == NULL)
            return fail_oom(c);
        for (k = f[M_NETWORKS]->children; k != NULL; k = k->next) {
            static const char *const attrs[] = {"id", NULL};
            const char *id;
            const def *x;

            if (!is_elem(k, "network"))
                continue;
            if (attrs_only(c, k, attrs, g->hostname) < 0 ||
                attr_get(c, k, "id", CHK_ID, g->hostname, &id) < 0)
                return -1;
            x = def_find(d->nets, &d->net_ids, id);
            if (x == NULL)
                return fail(c, k,
                            "guest %s uses network %s, which is not defined in es.xml "
                            "(<networks>)",
                            g->hostname, id);
            for (j = 0; j < g->n_networks; j++) {
                if (strcmp(nets[j].name, id) == 0)
                    return fail(c, k, "guest %s lists network %s twice", g->hostname, id);
                if (strcmp(nets[j].iface, x->net.iface) == 0)
                    return fail(c, k, "guest %s has two networks on interface %s", g->hostname,
                                x->net.iface);
            }
            nets[g->n_networks++] = x->net;
        }
    }
    g->volumes = vols;
    g->networks = nets;
    return 0;
}

/* Reads every <machine>, then resolves the host → guest placement references. */
static int read_machines(ctx *c, xmlNodePtr machines, defs *d)
{
    static const char *const attrs[] = {"id", NULL};
    esxml_views *v = c->v;
    xmlNodePtr k, *f_all;
    const char **ids;
    size_t n, i, j, hi = 0, gi = 0;

    if (list_count(c, machines, "machine", "the system", &n) < 0)
        return -1;
    /* Pass 1: kinds, ids, hostnames, so that references can be resolved in pass 2. */
    f_all = pool_calloc(v, n * M_COUNT, sizeof(*f_all));
    ids = pool_calloc(v, n, sizeof(*ids));
    v->hosts = pool_calloc(v, n, sizeof(*v->hosts));
    v->host_nodes = pool_calloc(v, n, sizeof(*v->host_nodes));
    v->guests = pool_calloc(v, n, sizeof(*v->guests));
    v->guest_nodes = pool_calloc(v, n, sizeof(*v->guest_nodes));
    v->guest_host = pool_calloc(v, n, sizeof(*v->guest_host));
    if (f_all == NULL || ids == NULL || v->hosts == NULL || v->host_nodes == NULL ||
        v->guests == NULL || v->guest_nodes == NULL || v->guest_host == NULL ||
        index_init(v, &v->machine_ids, n, 0) < 0 || index_init(v, &v->machine_names, n, 1) < 0)
        return fail_oom(c);
    i = 0;
    for (k = machines->children; k != NULL; k = k->next) {
        xmlNodePtr *f = &f_all[i * M_COUNT];
        const char *os, *hostname;
        char what[200], esc[400];
        size_t other;

        if (!is_elem(k, "machine"))
            continue;
        if (attrs_only(c, k, attrs, "<machines>") < 0 ||
            attr_get(c, k, "id", CHK_ID, "a machine", &ids[i]) < 0)
            return -1;
        snprintf(what, sizeof(what), "machine %s", ids[i]);
        if (index_get(&v->machine_ids, ids[i]) != NONE)
            return fail(c, k, "machine id %s is defined twice", ids[i]);
        if (children_collect(c, k, machine_fields, M_COUNT, f, "machine", what) < 0)
            return -1;
        if (f[M_OSTYPE] == NULL)
            return fail(c, k, "%s has no <osType>", what);
        if (f[M_HOSTNAME] == NULL)
            return fail(c, k, "%s has no <hostName>", what);
        if (text_get(c, f[M_OSTYPE], what, &os) < 0 ||
            name_get(c, f[M_HOSTNAME], CHK_HOST, what, &hostname) < 0)
            return -1;
        other = index_get(&v->machine_names, hostname);
        if (other != NONE)
            return fail(c, k, "hostname %s is used by two machines, %s and %s", hostname,
                        MACHINE_IS_HOST(other) ? v->hosts[MACHINE_POS(other)].id
                                               : v->guests[MACHINE_POS(other)].id,
                        ids[i]);
        if (strcmp(os, "LinuxKVM") == 0) {
            for (j = 0; j < sizeof(guest_only) / sizeof(guest_only[0]); j++)
                if (f[guest_only[j]] != NULL)
                    return fail(c, f[guest_only[j]],
                                "KVM host %s has <%s>, which only guests (LinuxKVMGuest) have",
                                hostname, machine_fields[guest_only[j]]);
            v->hosts[hi].id = ids[i];
            v->hosts[hi].hostname = hostname;
            index_put(&v->machine_ids, ids[i], MACHINE_HOST(hi));
            index_put(&v->machine_names, hostname, MACHINE_HOST(hi));
            v->host_nodes[hi++] = k;
        } else if (strcmp(os, "LinuxKVMGuest") == 0) {
            for (j = 0; j < sizeof(host_only) / sizeof(host_only[0]); j++)
                if (f[host_only[j]] != NULL)
                    return fail(c, f[host_only[j]],
                                "guest %s has <%s>, which only KVM hosts (LinuxKVM) have", hostname,
                                machine_fields[host_only[j]]);
            for (xmlNodePtr r = k->children; r != NULL; r = r->next)
                if (is_elem(r, "machine"))
                    return fail(c, r, "guest %s places machines, which only KVM hosts do",
                                hostname);
            v->guests[gi].id = ids[i];
            v->guests[gi].hostname = hostname;
            v->guest_host[gi] = NONE;
            index_put(&v->machine_ids, ids[i], MACHINE_GUEST(gi));
            index_put(&v->machine_names, hostname, MACHINE_GUEST(gi));
            v->guest_nodes[gi++] = k;
        } else {
            return fail(c, f[M_OSTYPE], "osType '%s' of %s is not LinuxKVM or LinuxKVMGuest",
                        escape(os, esc, sizeof(esc)), what);
        }
        i++;
    }
    v->n_hosts = hi;
    v->n_guests = gi;

    /* Pass 2: values and references, in document order. */
    hi = gi = 0;
    for (i = 0; i < n; i++) {
        xmlNodePtr *f = &f_all[i * M_COUNT];
        long num;

        if (hi < v->n_hosts && v->hosts[hi].id == ids[i]) {
            esxml_host *h = &v->hosts[hi];
            char what[300];
            const char **gids;
            size_t ng = 0;

            snprintf(what, sizeof(what), "KVM host %s", h->hostname);
            if (f[M_ADMINIP] && name_get(c, f[M_ADMINIP], CHK_HOST, what, &h->admin_ip) < 0)
                return -1;
            if (f[M_MODEL] && name_get(c, f[M_MODEL], CHK_LABEL, what, &h->model) < 0)
                return -1;
            if (f[M_SOCKETS]) {
                if (number_get(c, f[M_SOCKETS], what, 1, 64, &num) < 0)
                    return -1;
                h->sockets = (int)num;
            }
            if (f[M_FABRIC]) {
                char esc[400];
                if (text_get(c, f[M_FABRIC], what, &h->fabric) < 0)
                    return -1;
                if (strcmp(h->fabric, "RoCE") != 0 && strcmp(h->fabric, "InfiniBand") != 0)
                    return fail(c, f[M_FABRIC], "fabric '%s' of %s is not RoCE or InfiniBand",
                                escape(h->fabric, esc, sizeof(esc)), what);
            }
            if (f[M_SWVERSION] &&
                name_get(c, f[M_SWVERSION], CHK_LABEL, what, &h->software_version) < 0)
                return -1;
            if (f[M_CORES]) {
                if (number_get(c, f[M_CORES], what, 1, 65536, &num) < 0)
                    return -1;
                h->cores = (int)num;
            }
            if (f[M_MEMORY] && number_get(c, f[M_MEMORY], what, 1, 1073741824L, &h->memory_mb) < 0)
                return -1;
            if (f[M_VFPOOLS] && bool_get(c, f[M_VFPOOLS], what, &h->vf_pools) < 0)
                return -1;
            if (f[M_LIVEUPDATE] && bool_get(c, f[M_LIVEUPDATE], what, &h->liveupdate_pending) < 0)
                return -1;
            /* Placement: <machine id="guest"/> children. */
            for (xmlNodePtr r = v->host_nodes[hi]->children; r != NULL; r = r->next)
                ng += is_elem(r, "machine");
            gids = pool_calloc(v, ng, sizeof(*gids));
            if (gids == NULL)
                return fail_oom(c);
            h->guest_ids = gids;
            for (xmlNodePtr r = v->host_nodes[hi]->children; r != NULL; r = r->next) {
                const char *ref;
                size_t g, m;

                if (!is_elem(r, "machine"))
                    continue;
                if (attrs_only(c, r, attrs, what) < 0 ||
                    attr_get(c, r, "id", CHK_ID, what, &ref) < 0 ||
                    children_collect(c, r, NULL, 0, NULL, NULL, what) < 0)
                    return -1;
                m = index_get(&v->machine_ids, ref);
                if (m == NONE)
                    return fail(c, r,
                                "%s places machine %s, which is not defined in es.xml "
                                "(<machines>)",
                                what, ref);
                if (MACHINE_IS_HOST(m))
                    return fail(c, r, "%s places machine %s, which is a KVM host, not a guest",
                                what, ref);
                g = MACHINE_POS(m);
                if (v->guest_host[g] == hi)
                    return fail(c, r, "%s places guest %s twice", what, v->guests[g].hostname);
                if (v->guest_host[g] != NONE)
                    return fail(c, r, "guest %s is placed on two KVM hosts, %s and %s",
                                v->guests[g].hostname, v->hosts[v->guest_host[g]].hostname,
                                h->hostname);
                v->guest_host[g] = hi;
                gids[h->n_guests++] = v->guests[g].id;
            }
            hi++;
        } else {
            esxml_guest *g = &v->guests[gi];
            char what[300];

            snprintf(what, sizeof(what), "guest %s", g->hostname);
            if (f[M_GCORES] == NULL)
                return fail(c, v->guest_nodes[gi], "%s has no <guestCores>", what);
            if (f[M_GMEMORY] == NULL)
                return fail(c, v->guest_nodes[gi], "%s has no <guestMemory>", what);
            if (number_get(c, f[M_GCORES], what, 1, 65536, &num) < 0)
                return -1;
            g->cores = (int)num;
            if (number_get(c, f[M_GMEMORY], what, 1, 1073741824L, &g->memory_mb) < 0)
                return -1;
            if (f[M_LIVEUPDATE] && bool_get(c, f[M_LIVEUPDATE], what, &g->liveupdate_pending) < 0)
                return -1;
            if (read_guest_refs(c, f, gi, d) < 0)
                return -1;
            gi++;
        }
    }
    return 0;
}

/* Builds a complete set of views of DOC into *OUT; nothing is changed on failure. */
static int views_build(xmlDocPtr doc, const char *src, esxml_views **out, char *errstr,
                       size_t errstr_size)
{
    static const char *const sections[] = {"machines", "networks", "storage",
                                           "exascale", "clusters", "actions"};
    static const char *const attrs[] = {"name", "deploymentType", NULL};
    ctx c = {src, NULL, errstr, errstr_size};
    xmlNodePtr root = xmlDocGetRootElement(doc), s[6];
    const char *kind;
    defs d;
    char esc[400];

    memset(&d, 0, sizeof(d));
    *out = NULL;
    c.v = calloc(1, sizeof(*c.v));
    if (c.v == NULL)
        return fail_oom(&c);
    if (root == NULL) {
        fail(&c, NULL, "the document has no root element");
        goto fail;
    }
    if (!is_elem(root, "engineeredSystem")) {
        fail(&c, root, "the root element is <%s>, not <engineeredSystem>: not an es.xml",
             node_name(root));
        goto fail;
    }
    if (attrs_only(&c, root, attrs, "the system") < 0 ||
        attr_get(&c, root, "name", CHK_LABEL, "the system", &c.v->name) < 0 ||
        attr_get(&c, root, "deploymentType", CHK_LABEL, "the system", &kind) < 0)
        goto fail;
    if (strcmp(kind, "cloud") == 0) {
        c.v->cloud = 1;
    } else if (strcmp(kind, "onpremise") != 0) {
        fail(&c, root, "deploymentType '%s' is not onpremise or cloud",
             escape(kind, esc, sizeof(esc)));
        goto fail;
    }
    if (children_collect(&c, root, sections, 6, s, NULL, "the system") < 0)
        goto fail;
    if (s[0] == NULL) {
        fail(&c, root, "<engineeredSystem> has no <machines>");
        goto fail;
    }
    if (read_networks(&c, s[1], c.v->cloud, &d) < 0 || read_storage(&c, s[2], &d) < 0 ||
        read_exascale(&c, s[3]) < 0 || read_machines(&c, s[0], &d) < 0 ||
        read_clusters(&c, s[4]) < 0 || read_actions(&c, s[5]) < 0)
        goto fail;
    *out = c.v;
    return 0;
fail:
    views_free(c.v);
    return -1;
}

/* Replaces the views of DOC with a fresh build; the old ones stay readable until esxml_free. */
static int views_refresh(esxml *doc, char *errstr, size_t errstr_size)
{
    esxml_views *nv;

    if (views_build(doc->doc, doc->source, &nv, errstr, errstr_size) < 0)
        return -1;
    nv->older = doc->view;
    doc->view = nv;
    return 0;
}

/* ---- parsing ---------------------------------------------------------------------------- */

typedef struct {
    char msg[512]; /* first error libxml2 reported */
    long line;
    int have;
    long doctype_line; /* > 0 if a DOCTYPE stopped the parser */
} parse_state;

static void remember_error(parse_state *st, const xmlError *err)
{
    size_t l;

    if (st->have || err == NULL || err->level < XML_ERR_ERROR)
        return;
    st->have = 1;
    st->line = err->line;
    if (err->line <= 0 && err->node != NULL)
        st->line = xmlGetLineNo((xmlNodePtr)err->node);
    util_strlcpy(st->msg, err->message ? err->message : "unknown error", sizeof(st->msg));
    l = strlen(st->msg);
    while (l > 0 && (st->msg[l - 1] == '\n' || st->msg[l - 1] == ' '))
        st->msg[--l] = '\0';
}

static void on_parse_error(void *user, xmlErrorPtr err)
{
    xmlParserCtxtPtr p = user;

    remember_error(p->_private, err);
}

static void on_schema_error(void *user, xmlErrorPtr err)
{
    remember_error(user, err);
}

/* A DOCTYPE is the only way to declare entities (billion laughs, external entities); es.xml
 * has no use for one, so the parser is stopped the moment it sees one, before any
 * declaration in it is read. */
static void on_doctype(void *user, const xmlChar *name, const xmlChar *external_id,
                       const xmlChar *system_id)
{
    xmlParserCtxtPtr p = user;
    parse_state *st = p->_private;

    (void)name;
    (void)external_id;
    (void)system_id;
    if (st->doctype_line == 0)
        st->doctype_line = p->input != NULL && p->input->line > 0 ? p->input->line : 1;
    xmlStopParser(p);
}

/* Belt and braces: should an entity declaration ever get through, stop there too. */
static void on_entity_decl(void *user, const xmlChar *name, int type, const xmlChar *public_id,
                           const xmlChar *system_id, xmlChar *content)
{
    (void)name;
    (void)type;
    (void)public_id;
    (void)system_id;
    (void)content;
    on_doctype(user, NULL, NULL, NULL);
}

static pthread_once_t init_once = PTHREAD_ONCE_INIT;

static void init_libxml(void)
{
    xmlInitParser();
    /* xmlSchemaParse initialises the built-in types lazily and without a lock; do it once. */
    xmlSchemaInitTypes();
}

static int parse(const char *buf, size_t len, const char *src, xmlDocPtr *out, char *errstr,
                 size_t errstr_size)
{
    /* No XML_PARSE_NOENT (entities are not substituted), no DTDLOAD/DTDATTR/DTDVALID, no
     * XInclude processing, no network. Blank text nodes are dropped so that esxml_dump can
     * indent edited documents consistently. */
    const int options = XML_PARSE_NONET | XML_PARSE_NOBLANKS | XML_PARSE_NOERROR |
                        XML_PARSE_NOWARNING | XML_PARSE_NOCDATA | XML_PARSE_BIG_LINES;
    xmlParserCtxtPtr p = NULL;
    parse_state st;
    int rc = -1;

    *out = NULL;
    memset(&st, 0, sizeof(st));
    if (buf == NULL || len == 0) {
        util_errf(errstr, errstr_size, "%s is empty", src);
        goto out;
    }
    if (len > (size_t)ESXML_MAX_SIZE) {
        util_errf(errstr, errstr_size, "%s: %zu bytes is too large for an es.xml (limit %ld)", src,
                  len, ESXML_MAX_SIZE);
        goto out;
    }
    pthread_once(&init_once, init_libxml);
    p = xmlCreateMemoryParserCtxt(buf, (int)len);
    if (p == NULL) {
        util_errf(errstr, errstr_size, "%s: cannot create an XML parser (out of memory?)", src);
        goto out;
    }
    xmlCtxtUseOptions(p, options);
    p->_private = &st;
    p->sax->internalSubset = on_doctype;
    p->sax->entityDecl = on_entity_decl;
    p->sax->serror = on_parse_error;
    p->sax->initialized = XML_SAX2_MAGIC;

    xmlParseDocument(p);
    if (st.doctype_line > 0) {
        util_errf(errstr, errstr_size,
                  "%s line %ld: a DOCTYPE is not allowed in es.xml (entity declarations and "
                  "DTDs are refused; remove the <!DOCTYPE ...> declaration)",
                  src, st.doctype_line);
        goto out;
    }
    if (!p->wellFormed || p->myDoc == NULL) {
        if (st.have)
            util_errf(errstr, errstr_size, "%s line %ld: not well-formed XML: %s", src, st.line,
                      st.msg);
        else
            util_errf(errstr, errstr_size, "%s: not well-formed XML", src);
        goto out;
    }
    if (p->myDoc->intSubset != NULL || p->myDoc->extSubset != NULL) {
        util_errf(errstr, errstr_size, "%s: a DOCTYPE is not allowed in es.xml", src);
        goto out;
    }
    *out = p->myDoc;
    p->myDoc = NULL; /* now owned by the caller */
    rc = 0;
out:
    if (p != NULL) {
        if (p->myDoc != NULL)
            xmlFreeDoc(p->myDoc);
        p->myDoc = NULL;
        p->_private = NULL;
        xmlFreeParserCtxt(p);
    }
    return rc;
}

/* ---- schema -----------------------------------------------------------------------------
 * es.xsd is compiled once per process and kept, one compiled copy per validation running at the
 * same time (libxml2 promises thread safety for work on different documents, not for two
 * validations sharing one compiled schema). The compiled copy leaves out the schema's identity
 * constraints (xs:key, xs:keyref, xs:unique): views_build checks every one of them first, in
 * linear time and naming the machines concerned, while libxml2 2.9's identity-constraint checks
 * grow faster than the document (one system, 16 KVM hosts: 15 ms at 768 guests, 730 ms at
 * 12,288). The schema file is read once per process (per path). */

typedef struct schema_copy {
    struct schema_copy *next;
    char *path;          /* owned */
    xmlDocPtr xsd;       /* the schema document without identity constraints; owned */
    xmlSchemaPtr schema; /* compiled from XSD; owned */
} schema_copy;

static pthread_mutex_t schema_lock = PTHREAD_MUTEX_INITIALIZER;
static schema_copy *schema_idle; /* compiled copies no validation uses now */

static void schema_copy_free(schema_copy *s)
{
    if (s == NULL)
        return;
    xmlSchemaFree(s->schema);
    if (s->xsd != NULL)
        xmlFreeDoc(s->xsd);
    free(s->path);
    free(s);
}

/* Removes the identity constraints from the schema document below N. */
static void strip_identity_constraints(xmlNodePtr n)
{
    xmlNodePtr k, next;

    for (k = n->children; k != NULL; k = next) {
        next = k->next;
        if (k->type != XML_ELEMENT_NODE)
            continue;
        if (k->ns != NULL && k->ns->href != NULL &&
            strcmp((const char *)k->ns->href, "http://www.w3.org/2001/XMLSchema") == 0 &&
            (strcmp((const char *)k->name, "key") == 0 ||
             strcmp((const char *)k->name, "keyref") == 0 ||
             strcmp((const char *)k->name, "unique") == 0)) {
            xmlUnlinkNode(k);
            xmlFreeNode(k);
            continue;
        }
        strip_identity_constraints(k);
    }
}

/* A compiled copy of the schema at PATH for the caller alone: an idle one, or a new one. The
 * caller hands it back with schema_give(). NULL with the reason in errstr. */
static schema_copy *schema_take(const char *path, char *errstr, size_t errstr_size)
{
    schema_copy *s, **p;
    xmlSchemaParserCtxtPtr pc = NULL;
    parse_state st;

    pthread_mutex_lock(&schema_lock);
    for (p = &schema_idle; *p != NULL; p = &(*p)->next)
        if (strcmp((*p)->path, path) == 0)
            break;
    s = *p;
    if (s != NULL)
        *p = s->next;
    pthread_mutex_unlock(&schema_lock);
    if (s != NULL) {
        s->next = NULL;
        return s;
    }

    memset(&st, 0, sizeof(st));
    s = calloc(1, sizeof(*s));
    if (s == NULL || (s->path = strdup(path)) == NULL) {
        util_errf(errstr, errstr_size, "cannot load the es.xml schema %s: out of memory", path);
        goto fail;
    }
    s->xsd = xmlReadFile(path, NULL, XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    if (s->xsd == NULL || xmlDocGetRootElement(s->xsd) == NULL) {
        const xmlError *e = xmlGetLastError();
        if (e != NULL && e->message != NULL)
            util_errf(errstr, errstr_size, "cannot read the es.xml schema %s line %d: %.*s", path,
                      e->line, (int)strcspn(e->message, "\n"), e->message);
        else
            util_errf(errstr, errstr_size, "cannot read the es.xml schema %s", path);
        goto fail;
    }
    strip_identity_constraints(xmlDocGetRootElement(s->xsd));
    pc = xmlSchemaNewDocParserCtxt(s->xsd); /* S->XSD stays ours */
    if (pc == NULL) {
        util_errf(errstr, errstr_size, "cannot read the es.xml schema %s", path);
        goto fail;
    }
    xmlSchemaSetParserStructuredErrors(pc, on_schema_error, &st);
    s->schema = xmlSchemaParse(pc);
    if (s->schema == NULL) {
        util_errf(errstr, errstr_size, "cannot load the es.xml schema %s: %s", path,
                  st.have ? st.msg : "unknown error");
        goto fail;
    }
    xmlSchemaFreeParserCtxt(pc);
    return s;
fail:
    xmlSchemaFreeParserCtxt(pc);
    schema_copy_free(s);
    return NULL;
}

static void schema_give(schema_copy *s)
{
    pthread_mutex_lock(&schema_lock);
    s->next = schema_idle;
    schema_idle = s;
    pthread_mutex_unlock(&schema_lock);
}

static int validate(xmlDocPtr doc, const char *src, const char *xsd_path, char *errstr,
                    size_t errstr_size)
{
    schema_copy *s;
    xmlSchemaValidCtxtPtr vc = NULL;
    parse_state st;
    int rc = -1, vrc;

    memset(&st, 0, sizeof(st));
    s = schema_take(xsd_path, errstr, errstr_size);
    if (s == NULL)
        return -1;
    vc = xmlSchemaNewValidCtxt(s->schema);
    if (vc == NULL) {
        util_errf(errstr, errstr_size, "cannot create a schema validator (out of memory?)");
        goto out;
    }
    xmlSchemaSetValidStructuredErrors(vc, on_schema_error, &st);
    vrc = xmlSchemaValidateDoc(vc, doc);
    if (vrc != 0) {
        if (st.have)
            util_errf(errstr, errstr_size, "%s line %ld: does not match the schema %s: %s", src,
                      st.line, xsd_path, st.msg);
        else
            util_errf(errstr, errstr_size, "%s: does not match the schema %s (error %d)", src,
                      xsd_path, vrc);
        goto out;
    }
    rc = 0;
out:
    xmlSchemaFreeValidCtxt(vc);
    schema_give(s);
    return rc;
}

static int load(const char *buf, size_t len, const char *src, const char *xsd_path, esxml **out,
                char *errstr, size_t errstr_size)
{
    esxml *d = NULL;

    *out = NULL;
    d = calloc(1, sizeof(*d));
    if (d == NULL || (d->source = strdup(src)) == NULL) {
        util_errf(errstr, errstr_size, "%s: out of memory", src);
        goto fail;
    }
    if (parse(buf, len, src, &d->doc, errstr, errstr_size) < 0)
        goto fail;
    /* The loader's own checks first: their messages name the guest or host concerned, where
     * the schema's would only name a key. The schema then adds element order and the like. */
    if (views_build(d->doc, d->source, &d->view, errstr, errstr_size) < 0)
        goto fail;
    if (xsd_path != NULL && validate(d->doc, src, xsd_path, errstr, errstr_size) < 0)
        goto fail;
    *out = d;
    return 0;
fail:
    esxml_free(d);
    return -1;
}

/* ---- public API ------------------------------------------------------------------------ */

int esxml_load_buffer(const char *buf, size_t len, const char *xsd_path, esxml **out, char *errstr,
                      size_t errstr_size)
{
    return load(buf, len, "es.xml", xsd_path, out, errstr, errstr_size);
}

int esxml_load_file(const char *path, const char *xsd_path, esxml **out, char *errstr,
                    size_t errstr_size)
{
    FILE *f = NULL;
    char *buf = NULL;
    size_t len = 0, cap = 65536, n;
    int rc = -1;

    *out = NULL;
    f = fopen(path, "rb");
    if (f == NULL) {
        util_errf(errstr, errstr_size, "cannot open %s: %s", path, strerror(errno));
        goto out;
    }
    buf = malloc(cap);
    if (buf == NULL) {
        util_errf(errstr, errstr_size, "%s: out of memory", path);
        goto out;
    }
    while ((n = fread(buf + len, 1, cap - len, f)) > 0) {
        len += n;
        if (len == cap) {
            char *nb;
            if (cap > (size_t)ESXML_MAX_SIZE) {
                util_errf(errstr, errstr_size, "%s is too large for an es.xml (limit %ld bytes)",
                          path, ESXML_MAX_SIZE);
                goto out;
            }
            nb = realloc(buf, cap * 2);
            if (nb == NULL) {
                util_errf(errstr, errstr_size, "%s: out of memory", path);
                goto out;
            }
            buf = nb;
            cap *= 2;
        }
    }
    if (ferror(f)) {
        util_errf(errstr, errstr_size, "cannot read %s: %s", path, strerror(errno));
        goto out;
    }
    rc = load(buf, len, path, xsd_path, out, errstr, errstr_size);
out:
    if (f != NULL)
        fclose(f);
    free(buf);
    return rc;
}

void esxml_free(esxml *doc)
{
    if (doc == NULL)
        return;
    views_free(doc->view);
    if (doc->doc != NULL)
        xmlFreeDoc(doc->doc);
    free(doc->source);
    free(doc);
}

const char *esxml_system_name(const esxml *doc)
{
    return doc->view->name;
}

int esxml_is_cloud(const esxml *doc)
{
    return doc->view->cloud;
}

int esxml_uses_exascale(const esxml *doc)
{
    return doc->view->xs_cluster != NULL;
}

const char *esxml_exascale_cluster(const esxml *doc)
{
    return doc->view->xs_cluster;
}

const char *esxml_exascale_vault(const esxml *doc)
{
    return doc->view->xs_vault;
}

size_t esxml_storage_server_count(const esxml *doc)
{
    return doc->view->n_servers;
}

const char *esxml_storage_server(const esxml *doc, size_t i)
{
    return i < doc->view->n_servers ? doc->view->servers[i] : NULL;
}

size_t esxml_host_count(const esxml *doc)
{
    return doc->view->n_hosts;
}

const esxml_host *esxml_host_at(const esxml *doc, size_t i)
{
    return i < doc->view->n_hosts ? &doc->view->hosts[i] : NULL;
}

int esxml_name_equal(const char *a, const char *b)
{
    return a != NULL && b != NULL && name_casecmp(a, b) == 0;
}

const esxml_host *esxml_host_find(const esxml *doc, const char *hostname)
{
    size_t m = index_get(&doc->view->machine_names, hostname);

    return m != NONE && MACHINE_IS_HOST(m) ? &doc->view->hosts[MACHINE_POS(m)] : NULL;
}

const char *esxml_host_canonical_name(const esxml *doc, const char *hostname)
{
    const esxml_host *h = esxml_host_find(doc, hostname);

    return h != NULL ? h->hostname : NULL;
}

size_t esxml_guest_count(const esxml *doc)
{
    return doc->view->n_guests;
}

const esxml_guest *esxml_guest_at(const esxml *doc, size_t i)
{
    return i < doc->view->n_guests ? &doc->view->guests[i] : NULL;
}

const esxml_guest *esxml_guest_find(const esxml *doc, const char *hostname)
{
    size_t m = index_get(&doc->view->machine_names, hostname);

    return m != NONE && !MACHINE_IS_HOST(m) ? &doc->view->guests[MACHINE_POS(m)] : NULL;
}

const char *esxml_guest_canonical_name(const esxml *doc, const char *hostname)
{
    const esxml_guest *g = esxml_guest_find(doc, hostname);

    return g != NULL ? g->hostname : NULL;
}

const esxml_guest *esxml_guest_find_id(const esxml *doc, const char *id)
{
    size_t m = index_get(&doc->view->machine_ids, id);

    return m != NONE && !MACHINE_IS_HOST(m) ? &doc->view->guests[MACHINE_POS(m)] : NULL;
}

int esxml_bridge_in_use(const esxml *doc, const esxml_host *host, const esxml_guest *except,
                        const char *bridge)
{
    size_t i, k;

    for (i = 0; host && bridge && i < host->n_guests; i++) {
        const esxml_guest *o = esxml_guest_find_id(doc, host->guest_ids[i]);
        if (o == NULL || (except && strcmp(o->id, except->id) == 0))
            continue;
        for (k = 0; k < o->n_networks; k++) {
            const esxml_network *n = &o->networks[k];
            if ((n->bridge && strcmp(n->bridge, bridge) == 0) ||
                (n->nat_bridge && strcmp(n->nat_bridge, bridge) == 0))
                return 1;
        }
    }
    return 0;
}

int esxml_vm_cluster_peers(const esxml_guest *a, const esxml_guest *b)
{
    /* Cluster names are unique in a document (read_clusters); ids say "another guest". */
    return a != NULL && b != NULL && a->vm_cluster != NULL && b->vm_cluster != NULL &&
           strcmp(a->id, b->id) != 0 && strcmp(a->vm_cluster, b->vm_cluster) == 0;
}

const esxml_host *esxml_guest_host(const esxml *doc, const esxml_guest *guest)
{
    const esxml_views *v = doc->view;
    size_t m, gi;

    if (guest == NULL)
        return NULL;
    /* Look up by id rather than by pointer, so that a guest view from before an edit works. */
    m = index_get(&v->machine_ids, guest->id);
    if (m == NONE || MACHINE_IS_HOST(m))
        return NULL;
    gi = MACHINE_POS(m);
    return v->guest_host[gi] == NONE ? NULL : &v->hosts[v->guest_host[gi]];
}

size_t esxml_action_count(const esxml *doc)
{
    return doc->view->n_actions;
}

const esxml_action *esxml_action_at(const esxml *doc, size_t i)
{
    return i < doc->view->n_actions ? &doc->view->actions[i] : NULL;
}

int esxml_action_add(esxml *doc, const char *subcommand, int *id_out, char *errstr,
                     size_t errstr_size)
{
    const esxml_views *v = doc->view;
    xmlNodePtr actions = v->actions_node, created = NULL, action = NULL;
    char idbuf[16];
    size_t i, len;
    int next = 1;

    if (subcommand == NULL || subcommand[0] == '\0') {
        util_errf(errstr, errstr_size, "cannot add an action with an empty subcommand");
        return -1;
    }
    len = strlen(subcommand);
    if (len > ESXML_SUBCOMMAND_MAX || !xmlCheckUTF8((const xmlChar *)subcommand)) {
        util_errf(errstr, errstr_size,
                  "cannot add the action: the subcommand must be UTF-8 text of at most %d bytes",
                  ESXML_SUBCOMMAND_MAX);
        return -1;
    }
    for (i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)subcommand[i];
        if (ch < 0x20 || ch == 0x7f) {
            util_errf(errstr, errstr_size,
                      "cannot add the action: the subcommand contains a control character "
                      "(0x%02x at offset %zu)",
                      ch, i);
            return -1;
        }
    }
    for (i = 0; i < v->n_actions; i++)
        if (v->actions[i].id >= next)
            next = v->actions[i].id + 1;
    if (next > 999999999) {
        util_errf(errstr, errstr_size, "cannot add the action: action ids are exhausted");
        return -1;
    }
    snprintf(idbuf, sizeof(idbuf), "%d", next);
    if (actions == NULL) {
        /* <actions> is the last section of <engineeredSystem>. */
        created =
            xmlNewChild(xmlDocGetRootElement(doc->doc), NULL, (const xmlChar *)"actions", NULL);
        actions = created;
    }
    if (actions != NULL)
        action = xmlNewChild(actions, NULL, (const xmlChar *)"action", NULL);
    if (action == NULL ||
        xmlNewProp(action, (const xmlChar *)"id", (const xmlChar *)idbuf) == NULL ||
        xmlNewProp(action, (const xmlChar *)"merged", (const xmlChar *)"true") == NULL ||
        xmlNewProp(action, (const xmlChar *)"deployed", (const xmlChar *)"false") == NULL ||
        xmlNewTextChild(action, NULL, (const xmlChar *)"subCommand", (const xmlChar *)subcommand) ==
            NULL) {
        util_errf(errstr, errstr_size, "cannot add the action: out of memory");
        goto undo;
    }
    if (views_refresh(doc, errstr, errstr_size) < 0)
        goto undo;
    if (id_out != NULL)
        *id_out = next;
    return 0;
undo:
    if (action != NULL) {
        xmlUnlinkNode(action);
        xmlFreeNode(action);
    }
    if (created != NULL) {
        xmlUnlinkNode(created);
        xmlFreeNode(created);
    }
    return -1;
}

int esxml_action_set_deployed(esxml *doc, int id, char *errstr, size_t errstr_size)
{
    const esxml_views *v = doc->view;
    xmlChar *old = NULL;
    xmlNodePtr node = NULL;
    size_t i;

    for (i = 0; i < v->n_actions; i++)
        if (v->actions[i].id == id)
            node = v->action_nodes[i];
    if (node == NULL) {
        util_errf(errstr, errstr_size, "action %d is not defined in es.xml", id);
        return -1;
    }
    old = xmlGetNoNsProp(node, (const xmlChar *)"deployed");
    if (xmlSetProp(node, (const xmlChar *)"deployed", (const xmlChar *)"true") == NULL) {
        util_errf(errstr, errstr_size, "cannot mark action %d deployed: out of memory", id);
        xmlFree(old);
        return -1;
    }
    if (views_refresh(doc, errstr, errstr_size) < 0) {
        xmlSetProp(node, (const xmlChar *)"deployed", old);
        xmlFree(old);
        return -1;
    }
    xmlFree(old);
    return 0;
}

int esxml_guest_move(esxml *doc, const char *guest_hostname, const char *tgt_hostname, char *errstr,
                     size_t errstr_size)
{
    const esxml_views *v = doc->view;
    const esxml_guest *g = esxml_guest_find(doc, guest_hostname);
    const esxml_host *t = esxml_host_find(doc, tgt_hostname);
    xmlNodePtr ref = NULL, src_node = NULL, tgt_node;
    size_t gi, ti;
    char esc[400];

    if (g == NULL) {
        util_errf(errstr, errstr_size, "guest %s is not defined in es.xml",
                  escape(guest_hostname, esc, sizeof(esc)));
        return -1;
    }
    if (t == NULL) {
        util_errf(errstr, errstr_size, "KVM host %s is not defined in es.xml",
                  escape(tgt_hostname, esc, sizeof(esc)));
        return -1;
    }
    gi = (size_t)(g - v->guests);
    ti = (size_t)(t - v->hosts);
    if (v->guest_host[gi] == ti)
        return 0; /* already there: moving is idempotent */
    tgt_node = v->host_nodes[ti];
    if (v->guest_host[gi] != NONE) {
        src_node = v->host_nodes[v->guest_host[gi]];
        for (ref = src_node->children; ref != NULL; ref = ref->next) {
            xmlChar *id;
            int match;

            if (!is_elem(ref, "machine"))
                continue;
            id = xmlGetNoNsProp(ref, (const xmlChar *)"id");
            match = id != NULL && strcmp((const char *)id, g->id) == 0;
            xmlFree(id);
            if (match)
                break;
        }
    }
    if (ref != NULL) {
        xmlUnlinkNode(ref);
    } else {
        ref = xmlNewDocNode(doc->doc, NULL, (const xmlChar *)"machine", NULL);
        if (ref == NULL || xmlNewProp(ref, (const xmlChar *)"id", (const xmlChar *)g->id) == NULL) {
            xmlFreeNode(ref);
            util_errf(errstr, errstr_size, "cannot move guest %s: out of memory", g->hostname);
            return -1;
        }
    }
    /* Hosts hold no sections after their placement references, so appending keeps the
     * schema's element order. */
    xmlAddChild(tgt_node, ref);
    if (views_refresh(doc, errstr, errstr_size) < 0) {
        xmlUnlinkNode(ref);
        if (src_node != NULL)
            xmlAddChild(src_node, ref);
        else
            xmlFreeNode(ref);
        return -1;
    }
    return 0;
}

int esxml_dump(const esxml *doc, char **buf, size_t *len, char *errstr, size_t errstr_size)
{
    xmlChar *mem = NULL;
    int size = 0;

    *buf = NULL;
    *len = 0;
    xmlDocDumpFormatMemoryEnc(doc->doc, &mem, &size, "UTF-8", 1);
    if (mem == NULL || size < 0) {
        util_errf(errstr, errstr_size, "cannot serialise es.xml: out of memory");
        xmlFree(mem);
        return -1;
    }
    *buf = malloc((size_t)size + 1);
    if (*buf == NULL) {
        util_errf(errstr, errstr_size, "cannot serialise es.xml: out of memory");
        xmlFree(mem);
        return -1;
    }
    memcpy(*buf, mem, (size_t)size);
    (*buf)[size] = '\0';
    *len = (size_t)size;
    xmlFree(mem);
    return 0;
}
