/* jobstore_reservation: capacity that active jobs reserve on their target hosts. */
#include "jobstore.h"
#include "jobstore_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

int jobstore_reservations_on(jobstore *js, const char *host, const char *job_id,
                             jobstore_reservation **out, size_t *n, char *errstr,
                             size_t errstr_size)
{
    const char *p[2] = {host, job_id};
    jobstore_reservation *list = NULL;
    PGresult *res;
    int i, count, rc;

    *out = NULL;
    *n = 0;
    rc = jobstore_run(js, "reservations",
                      "SELECT r.id, r.guest, r.memory_mb, r.vcpus FROM jobs r WHERE "
                      "lower(r.tgt_host) = lower($1) AND r.status IN ('queued', 'running') AND "
                      "(r.memory_mb > 0 OR r.vcpus > 0) AND NOT EXISTS (SELECT 1 FROM jobs m "
                      "WHERE m.id = $2::uuid AND (m.created_at, m.id) <= (r.created_at, r.id)) "
                      "ORDER BY r.created_at, r.id",
                      2, p, PGRES_TUPLES_OK, &res, errstr, errstr_size);
    if (rc < 0)
        return rc;
    count = PQntuples(res);
    if (count > 0 && (list = calloc((size_t)count, sizeof(*list))) == NULL) {
        util_errf(errstr, errstr_size, "reservations on %s: out of memory", host);
        rc = -JOBSTORE_EDB;
        count = 0;
    }
    for (i = 0; i < count; i++) {
        util_strlcpy(list[i].job_id, PQgetvalue(res, i, 0), sizeof(list[i].job_id));
        util_strlcpy(list[i].guest, PQgetvalue(res, i, 1), sizeof(list[i].guest));
        list[i].memory_mb = atol(PQgetvalue(res, i, 2));
        list[i].vcpus = atoi(PQgetvalue(res, i, 3));
    }
    PQclear(res);
    *out = list;
    *n = (size_t)count;
    return rc;
}

int jobstore_reserved_on(jobstore *js, const char *host, const char *except_job, long *memory_mb,
                         int *vcpus, char *errstr, size_t errstr_size)
{
    jobstore_reservation *rv = NULL;
    size_t n = 0, i;
    int rc = jobstore_reservations_on(js, host, NULL, &rv, &n, errstr, errstr_size);

    *memory_mb = 0;
    *vcpus = 0;
    for (i = 0; i < n; i++) {
        if (except_job && strcmp(rv[i].job_id, except_job) == 0)
            continue;
        *memory_mb += rv[i].memory_mb;
        *vcpus += rv[i].vcpus;
    }
    free(rv);
    return rc;
}
