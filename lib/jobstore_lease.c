/* jobstore_lease: which worker may write a running job: the lease check, renewal of the jobs a
 * worker really works on, hand-back. */
#include "jobstore.h"
#include "jobstore_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* Inside a transaction: locks the job row and checks OWNER holds its lease. */
static int lease_check(jobstore *js, const job *j, const char *owner, char *errstr,
                       size_t errstr_size)
{
    const char *p[2] = {j->id, owner};
    long held = 0;
    int rc = jobstore_value(js, "check lease",
                            "SELECT count(*) FROM (SELECT 1 FROM jobs WHERE id = $1::uuid AND "
                            "lease_owner = $2 AND status = 'running' FOR UPDATE) h",
                            2, p, &held, errstr, errstr_size);

    if (rc == 0 && !held) {
        util_errf(errstr, errstr_size, "job %s: lease lost by %s (another worker took it over)",
                  j->id, owner);
        rc = -JOBSTORE_ELEASE;
    }
    return rc;
}

int jobstore_lease_begin(jobstore *js, const job *j, const char *owner, char *errstr,
                         size_t errstr_size)
{
    int rc = jobstore_begin(js, errstr, errstr_size);

    if (rc == 0 && (rc = lease_check(js, j, owner, errstr, errstr_size)) < 0)
        jobstore_rollback(js);
    return rc;
}

static const char *list_id(const void *ids, size_t i)
{
    const char *id = ((const char *const *)ids)[i];
    return id ? id : "";
}

int jobstore_lease_renew(jobstore *js, const char *owner, const char *const *job_ids, size_t n,
                         int lease_s, int *renewed, char *errstr, size_t errstr_size)
{
    char ls[16], *ids = NULL;
    int rc = jobstore_id_array(n, list_id, job_ids, &ids, errstr, errstr_size);
    const char *p[3] = {owner, ls, ids};

    if (renewed)
        *renewed = 0;
    snprintf(ls, sizeof(ls), "%d", lease_s);
    if (rc == 0)
        rc = jobstore_cmd(js, "renew leases",
                          "UPDATE jobs SET lease_expires = now() + make_interval(secs => "
                          "$2::integer) WHERE lease_owner = $1 AND status = 'running' AND id = "
                          "ANY($3::uuid[])",
                          3, p, renewed, errstr, errstr_size);
    free(ids);
    return rc;
}

int jobstore_lease_release(jobstore *js, const char *owner, const char *job_id, char *errstr,
                           size_t errstr_size)
{
    const char *p[2] = {owner, job_id};
    PGresult *res = NULL;
    int rc = jobstore_begin(js, errstr, errstr_size), i;

    if (rc < 0)
        return rc;
    rc = jobstore_run(js, "find leases",
                      "SELECT id FROM jobs WHERE lease_owner = $1 AND status = 'running' AND "
                      "($2::uuid IS NULL OR id = $2::uuid) FOR UPDATE",
                      2, p, PGRES_TUPLES_OK, &res, errstr, errstr_size);
    for (i = 0; rc == 0 && i < PQntuples(res); i++) {
        job_change c = {PQgetvalue(res, i, 0), JOB_RUNNING, JOB_QUEUED, NULL, 0, NULL};
        rc = jobstore_job_change(js, &c, errstr, errstr_size);
    }
    PQclear(res);
    return jobstore_end(js, rc, errstr, errstr_size);
}
