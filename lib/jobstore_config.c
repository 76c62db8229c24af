/* jobstore_config: es.xml versions stored in PostgreSQL. */
#include "jobstore.h"
#include "jobstore_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

int jobstore_config_store(jobstore *js, const char *system_name, const char *state,
                          const char *document, const char *note, long *version, char *errstr,
                          size_t errstr_size)
{
    const char *p[4] = {system_name, state, document, note ? note : ""};
    long v = 0;
    int rc = jobstore_value(js, "store config",
                            "INSERT INTO configs (system_name, state, document, note) "
                            "VALUES ($1, $2, $3, $4) RETURNING version",
                            4, p, &v, errstr, errstr_size);

    if (rc == 0 && version)
        *version = v;
    return rc;
}

int jobstore_config_get(jobstore *js, long version, char **doc, long *version_out, char *state,
                        char *errstr, size_t errstr_size)
{
    char v[32];
    const char *p[1] = {v};
    PGresult *res;
    int rc;

    snprintf(v, sizeof(v), "%ld", version);
    rc = jobstore_row(js, "read config",
                      "SELECT version, state, document FROM configs WHERE $1::bigint = 0 OR "
                      "version = $1::bigint ORDER BY version DESC LIMIT 1",
                      1, p, &res, errstr, errstr_size);
    if (rc < 0)
        return rc;
    if (rc == 0) {
        if (version == 0)
            util_errf(errstr, errstr_size,
                      "no es.xml is stored (load one with 'kvmove config load FILE')");
        else
            util_errf(errstr, errstr_size,
                      "es.xml version %ld is not stored (see 'kvmove config list')", version);
        return -JOBSTORE_ENOTFOUND;
    }
    if (version_out)
        *version_out = atol(PQgetvalue(res, 0, 0));
    if (state)
        util_strlcpy(state, PQgetvalue(res, 0, 1), 32);
    rc = 0;
    if (doc && (*doc = strdup(PQgetvalue(res, 0, 2))) == NULL) {
        util_errf(errstr, errstr_size, "es.xml version %ld: out of memory", version);
        rc = -JOBSTORE_EDB;
    }
    PQclear(res);
    return rc;
}

int jobstore_config_list(jobstore *js, json_t **out, char *errstr, size_t errstr_size)
{
    return jobstore_json_query(js, "list configs",
                               "SELECT coalesce(json_agg(json_build_object('version', version, "
                               "'system', system_name, 'state', state, 'note', note, 'created_at', "
                               "created_at) ORDER BY version), '[]') FROM configs",
                               0, NULL, out, errstr, errstr_size);
}
