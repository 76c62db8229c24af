/* sysconfig: the systems' es.xml as stored in PostgreSQL: fetched and loaded in one call, which
 * system a request is for, and changes applied to a system's newest version at commit time. */
#ifndef KVMOVE_SYSCONFIG_H
#define KVMOVE_SYSCONFIG_H

#include <stddef.h>

#include "esxml.h"
#include "jobstore.h"
#include "request.h"

/* Fetches es.xml version VERSION, or with VERSION 0 the newest version of SYSTEM (NULL: of the
 * only system stored; see jobstore_config_get), and loads it, validated against
 * SCHEMA_DIR/es.xsd. Returns 0 with a new document in *DOC (free with esxml_free) and its
 * version in *VERSION_OUT (may be NULL); -JOBSTORE_EDB when the database failed (worth a
 * retry), -JOBSTORE_EDATA when it refused the query, -JOBSTORE_ENOTFOUND when no such version is
 * stored, -JOBSTORE_EINVALID when the stored document does not load (or no system was named and
 * several are stored); errstr says why. */
int sysconfig_load(jobstore *js, const char *system, long version, const char *schema_dir,
                   esxml **doc, long *version_out, char *errstr, size_t errstr_size);

/* Stores DOC (loaded from TEXT, validated) as the newest version of its system in state
 * "loaded", with the names it claims: every KVM host and guest, as es.xml spells them, with the
 * guests' sizes (jobstore_config_load: a name another system claims refuses it with
 * -JOBSTORE_EINVALID naming both). NOTE says where it came from. *VERSION (may be NULL) gets the
 * new version. */
int sysconfig_store(jobstore *js, const esxml *doc, const char *text, const char *note,
                    long *version, char *errstr, size_t errstr_size);

/* The one rule for which system a request is for, and how its names are spelt: REQ->system when
 * set (it must be stored), else the system of REQ->config_version when set, else the system
 * that claims the guest's name, else the source host's, else the target's (names in any case).
 * REQ->system is set to it, and the guest and hosts that system names are rewritten as its
 * es.xml spells them (the canonical names every record and event carries). *GUEST (may be
 * NULL) gets the guest as that system names it (memory_mb 0 when it does not). A replay
 * (no guest) is left alone: it runs in its job's system. Returns 0; -JOBSTORE_ENOTFOUND when no
 * stored system names the guest or the hosts (REQ unchanged, errstr says so: with one system
 * stored it is still the one, see jobstore_config_get); -JOBSTORE_EINVALID when REQ names a
 * system or version that is not stored; or a database code. */
int sysconfig_resolve(jobstore *js, request *req, jobstore_machine *guest, char *errstr,
                      size_t errstr_size);

/* Edits DOC (a loaded es.xml, the newest of its system at commit time). Returns 0 when edited,
 * 1 when there is nothing to change, -1 with errstr when it cannot. */
typedef int (*sysconfig_edit_fn)(void *ctx, esxml *doc, char *errstr, size_t errstr_size);

/* A change to one system's es.xml in terms of a loaded document (sysconfig_change_init). */
typedef struct sysconfig_change {
    jobstore_config_change base; /* hand &base to jobstore_config_update / jobstore_job_finish */
    const char *schema_dir;
    sysconfig_edit_fn fn;
    void *ctx; /* FN's */
    /* A loaded version the caller has (may be NULL; not owned): used instead of loading the
     * newest again when it is the newest (FN edits it then; it is used once). */
    esxml *held;
    long held_version;
    /* 1: when the newest version does not load or FN fails, nothing is stored and the commit
     * goes on, the reason in ERROR (a deployed migration still ends); 0: the change fails with
     * -JOBSTORE_EINVALID. */
    int best_effort;
    char error[512];
} sysconfig_change;

/* Prepares C: FN(CTX, newest document) makes the next version of SYSTEM in STATE with NOTE
 * (borrowed strings, kept until C is used). */
void sysconfig_change_init(sysconfig_change *c, const char *system, const char *state,
                           const char *note, const char *schema_dir, sysconfig_edit_fn fn,
                           void *ctx);
/* Applies C now, in a transaction of its own (jobstore_config_update). *VERSION (may be NULL)
 * gets the new version (0 when nothing was stored). */
int sysconfig_update(jobstore *js, sysconfig_change *c, long *version, char *errstr,
                     size_t errstr_size);

/* A few loaded documents, the newest of each system, loaded again only when a newer version is
 * stored: a loop over many records of a few systems (the fence's sweep) loads each once. */
typedef struct sysconfig_cache sysconfig_cache;

/* A cache of SLOTS documents (the least recently used goes first). Returns NULL when out of
 * memory. Free with sysconfig_cache_free (accepts NULL). */
sysconfig_cache *sysconfig_cache_new(size_t slots);
void sysconfig_cache_free(sysconfig_cache *c);
/* As sysconfig_load of the newest version of SYSTEM (NULL: the only one), through C: *DOC is
 * borrowed from C, valid until the next call on C or its free. */
int sysconfig_cache_newest(sysconfig_cache *c, jobstore *js, const char *system,
                           const char *schema_dir, const esxml **doc, long *version_out,
                           char *errstr, size_t errstr_size);

#endif
