/* jobstore_lease: which worker may write a running job: the lease check, renewal of the jobs a
 * worker really works on, hand-back. */
#include "jobstore.h"
#include "jobstore_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

static int lease_lost(const job *j, const char *owner, char *errstr, size_t errstr_size)
{
    util_errf(errstr, errstr_size, "job %s: lease lost by %s (another worker took it over)", j->id,
              owner);
    return -JOBSTORE_ELEASE;
}

/* Inside a transaction: locks the job row and checks OWNER holds its lease. */
static int lease_check(jobstore *js, const job *j, const char *owner, char *errstr,
                       size_t errstr_size)
{
    const char *p[2] = {j->id, owner};
    long held = 0;
    int rc =
        jobstore_value(js, "check lease", "WITH " JOBSTORE_LEASE_CTE " SELECT count(*) FROM lease",
                       2, p, &held, errstr, errstr_size);

    if (rc == 0 && !held)
        rc = lease_lost(j, owner, errstr, errstr_size);
    return rc;
}

int jobstore_lease_exec(jobstore *js, const job *j, const char *owner, const char *what,
                        const char *sql, int n, const char *const *params, char *errstr,
                        size_t errstr_size)
{
    const char *p[16];
    long held = 0;
    int i, rc;

    if (n > 14) {
        util_errf(errstr, errstr_size, "database: %s: too many parameters", what);
        return -JOBSTORE_EDATA;
    }
    p[0] = j->id;
    p[1] = owner;
    for (i = 0; i < n; i++)
        p[i + 2] = params[i];
    rc = jobstore_value(js, what, sql, n + 2, p, &held, errstr, errstr_size);
    if (rc == 0 && !held)
        rc = lease_lost(j, owner, errstr, errstr_size);
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
