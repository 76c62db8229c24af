/* jobstore_reservation: capacity that active jobs reserve on their target hosts. */
#include "jobstore.h"
#include "jobstore_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

int jobstore_reserved_on(jobstore *js, const char *host, const char *except_job, long *memory_mb,
                         int *vcpus, char *errstr, size_t errstr_size)
{
    const char *p[2] = {host, except_job};
    PGresult *res;
    int rc = jobstore_run(js, "reserved capacity",
                          "SELECT coalesce(sum(memory_mb), 0), coalesce(sum(vcpus), 0) FROM jobs "
                          "WHERE tgt_host = $1 AND status IN ('queued', 'running') AND ($2::uuid "
                          "IS NULL OR id <> $2::uuid)",
                          2, p, PGRES_TUPLES_OK, &res, errstr, errstr_size);

    if (rc < 0)
        return rc;
    *memory_mb = atol(PQgetvalue(res, 0, 0));
    *vcpus = atoi(PQgetvalue(res, 0, 1));
    PQclear(res);
    return 0;
}
