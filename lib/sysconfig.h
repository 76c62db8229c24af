/* sysconfig: the system's es.xml as stored in PostgreSQL, fetched and loaded in one call. */
#ifndef KVMOVE_SYSCONFIG_H
#define KVMOVE_SYSCONFIG_H

#include <stddef.h>

#include "esxml.h"
#include "jobstore.h"

/* Fetches es.xml version VERSION (0 = the newest) and loads it, validated against
 * SCHEMA_DIR/es.xsd. Returns 0 with a new document in *DOC (free with esxml_free) and its
 * version in *VERSION_OUT (may be NULL); -JOBSTORE_EDB when the database failed (worth a
 * retry), -JOBSTORE_EDATA when it refused the query, -JOBSTORE_ENOTFOUND when no such version is
 * stored, -JOBSTORE_EINVALID when the stored document does not load; errstr says why. */
int sysconfig_load(jobstore *js, long version, const char *schema_dir, esxml **doc,
                   long *version_out, char *errstr, size_t errstr_size);

#endif
