/* sysconfig: the systems' es.xml as stored in PostgreSQL: fetched and loaded in one call, which
 * system a request is for, and changes applied to a system's newest version at commit time. */
#include "sysconfig.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* Loads the stored document TEXT, validated against SCHEMA_DIR/es.xsd. */
static int load_text(const char *text, const char *schema_dir, esxml **doc, char *errstr,
                     size_t errstr_size)
{
    char xsd[1100];

    snprintf(xsd, sizeof(xsd), "%s/es.xsd", schema_dir);
    return esxml_load_buffer(text, strlen(text), xsd, doc, errstr, errstr_size) == 0
               ? 0
               : -JOBSTORE_EINVALID;
}

int sysconfig_load(jobstore *js, const char *system, long version, const char *schema_dir,
                   esxml **doc, long *version_out, char *errstr, size_t errstr_size)
{
    jobstore_config_info info;
    char *buf = NULL;
    int rc;

    *doc = NULL;
    rc = jobstore_config_get(js, system, version, &buf, &info, errstr, errstr_size);
    if (rc < 0)
        return rc;
    rc = load_text(buf, schema_dir, doc, errstr, errstr_size);
    if (rc == 0 && version_out)
        *version_out = info.version;
    free(buf);
    return rc;
}

int sysconfig_store(jobstore *js, const esxml *doc, const char *text, const char *note,
                    long *version, char *errstr, size_t errstr_size)
{
    size_t hosts = esxml_host_count(doc), guests = esxml_guest_count(doc), i, n = 0;
    jobstore_machine *m = calloc(hosts + guests + 1, sizeof(*m));
    int rc;

    if (m == NULL) {
        util_errf(errstr, errstr_size, "es.xml system %s: out of memory", esxml_system_name(doc));
        return -JOBSTORE_EDB;
    }
    for (i = 0; i < hosts; i++)
        util_strlcpy(m[n++].hostname, esxml_host_at(doc, i)->hostname, sizeof(m->hostname));
    for (i = 0; i < guests; i++) {
        const esxml_guest *g = esxml_guest_at(doc, i);
        jobstore_machine *x = &m[n++];
        util_strlcpy(x->hostname, g->hostname, sizeof(x->hostname));
        x->is_guest = 1;
        x->memory_mb = g->memory_mb;
        x->cores = g->cores;
    }
    rc = jobstore_config_load(js, esxml_system_name(doc), text, note, m, n, version, errstr,
                              errstr_size);
    free(m);
    return rc;
}

/* REQ's system when it names one (or a version): checked to be stored. Returns 1 with SYSTEM
 * filled, 0 when REQ names neither, or negative. */
static int named_system(jobstore *js, const request *req, char *system, char *errstr,
                        size_t errstr_size)
{
    jobstore_config_info info;
    int rc;

    if (req->system[0] == '\0' && req->config_version <= 0)
        return 0;
    rc = jobstore_config_get(js, req->system[0] ? req->system : NULL,
                             req->system[0] ? 0 : req->config_version, NULL, &info, errstr,
                             errstr_size);
    if (rc == -JOBSTORE_ENOTFOUND)
        return -JOBSTORE_EINVALID; /* the request names what is not there: errstr says which */
    if (rc < 0)
        return rc;
    util_strlcpy(system, info.system, JOBSTORE_SYSTEM_MAX);
    return 1;
}

int sysconfig_resolve(jobstore *js, request *req, jobstore_machine *guest, char *errstr,
                      size_t errstr_size)
{
    char system[JOBSTORE_SYSTEM_MAX] = "";
    char *names[3] = {req->guest, req->src_host, req->tgt_host};
    jobstore_machine m[3];
    int found[3] = {0, 0, 0}, i, rc;

    if (guest)
        memset(guest, 0, sizeof(*guest));
    if (req->action == ACTION_REPLAY)
        return 0;
    for (i = 0; i < 3; i++)
        if (names[i][0] &&
            (found[i] = jobstore_config_machine(js, names[i], &m[i], errstr, errstr_size)) < 0)
            return found[i];
    if ((rc = named_system(js, req, system, errstr, errstr_size)) < 0)
        return rc;
    /* The guest's system, else its hosts': the first name a system claims. */
    for (i = 0; rc == 0 && i < 3; i++)
        if (found[i] == 1) {
            util_strlcpy(system, m[i].system, sizeof(system));
            rc = 1;
        }
    if (rc == 0) {
        util_errf(errstr, errstr_size,
                  "no stored es.xml system names guest %s or KVM hosts %s, %s (see 'kvmove "
                  "config list')",
                  req->guest, req->src_host, req->tgt_host);
        return -JOBSTORE_ENOTFOUND;
    }
    util_strlcpy(req->system, system, sizeof(req->system));
    /* es.xml's spelling, for what this system names as the right kind of machine. */
    for (i = 0; i < 3; i++)
        if (found[i] == 1 && strcmp(m[i].system, system) == 0 && m[i].is_guest == (i == 0))
            util_strlcpy(names[i], m[i].hostname, REQUEST_NAME_MAX);
    if (guest && found[0] == 1 && m[0].is_guest && strcmp(m[0].system, system) == 0)
        *guest = m[0];
    return 0;
}

/* jobstore_config_edit_fn of a sysconfig_change: CTX's FN on the newest version, loaded (or
 * the held one, when it is the newest). */
static int edit_newest(void *ctx, const char *newest, long newest_version, char **out, char *errstr,
                       size_t errstr_size)
{
    sysconfig_change *c = ctx;
    esxml *loaded = NULL, *doc = NULL;
    char err[512] = "";
    size_t len;
    int rc;

    *out = NULL;
    if (c->held && c->held_version == newest_version) {
        doc = c->held;
        c->held = NULL; /* FN edits it: a second try (after a failed commit) loads again */
    } else if (load_text(newest, c->schema_dir, &loaded, err, sizeof(err)) == 0) {
        doc = loaded;
    }
    if (doc == NULL)
        rc = -1;
    else if ((rc = c->fn(c->ctx, doc, err, sizeof(err))) == 0 &&
             esxml_dump(doc, out, &len, err, sizeof(err)) != 0)
        rc = -1;
    esxml_free(loaded);
    if (rc >= 0)
        return rc;
    snprintf(c->error, sizeof(c->error), "es.xml version %ld of system %s: %s", newest_version,
             c->base.system, err);
    if (c->best_effort)
        return 1;
    util_errf(errstr, errstr_size, "%s", c->error);
    return -JOBSTORE_EINVALID;
}

void sysconfig_change_init(sysconfig_change *c, const char *system, const char *state,
                           const char *note, const char *schema_dir, sysconfig_edit_fn fn,
                           void *ctx)
{
    memset(c, 0, sizeof(*c));
    c->base.system = system;
    c->base.state = state;
    c->base.note = note;
    c->base.edit = edit_newest;
    c->base.ctx = c;
    c->schema_dir = schema_dir;
    c->fn = fn;
    c->ctx = ctx;
}

int sysconfig_update(jobstore *js, sysconfig_change *c, long *version, char *errstr,
                     size_t errstr_size)
{
    return jobstore_config_update(js, &c->base, version, errstr, errstr_size);
}

typedef struct cache_slot {
    char system[JOBSTORE_SYSTEM_MAX];
    long version;
    esxml *doc;
    unsigned long used; /* when it was last handed out */
} cache_slot;

struct sysconfig_cache {
    cache_slot *slots;
    size_t n;
    unsigned long clock;
};

sysconfig_cache *sysconfig_cache_new(size_t slots)
{
    sysconfig_cache *c = calloc(1, sizeof(*c));

    if (c && (c->slots = calloc(slots ? slots : 1, sizeof(*c->slots))) == NULL) {
        free(c);
        return NULL;
    }
    if (c)
        c->n = slots ? slots : 1;
    return c;
}

void sysconfig_cache_free(sysconfig_cache *c)
{
    size_t i;

    if (c == NULL)
        return;
    for (i = 0; i < c->n; i++)
        esxml_free(c->slots[i].doc);
    free(c->slots);
    free(c);
}

int sysconfig_cache_newest(sysconfig_cache *c, jobstore *js, const char *system,
                           const char *schema_dir, const esxml **doc, long *version_out,
                           char *errstr, size_t errstr_size)
{
    jobstore_config_info info;
    cache_slot *s = NULL;
    size_t i;
    int rc;

    *doc = NULL;
    /* Which version is the newest: a small read (the document is not fetched). */
    if ((rc = jobstore_config_get(js, system, 0, NULL, &info, errstr, errstr_size)) < 0)
        return rc;
    for (i = 0; i < c->n && s == NULL; i++)
        if (c->slots[i].doc && c->slots[i].version == info.version)
            s = &c->slots[i];
    if (s == NULL) {
        esxml *loaded = NULL;
        if ((rc = sysconfig_load(js, info.system, info.version, schema_dir, &loaded, NULL, errstr,
                                 errstr_size)) < 0)
            return rc;
        s = &c->slots[0];
        for (i = 1; i < c->n; i++)
            if (c->slots[i].doc == NULL || c->slots[i].used < s->used)
                s = &c->slots[i];
        esxml_free(s->doc);
        s->doc = loaded;
        s->version = info.version;
        util_strlcpy(s->system, info.system, sizeof(s->system));
    }
    s->used = ++c->clock;
    *doc = s->doc;
    if (version_out)
        *version_out = s->version;
    return 0;
}
