/* jobstore_lease: which worker may write a running job: the lease check, renewal, hand-back. */
#include "jobstore.h"
#include "jobstore_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

int jobstore_lease_check(jobstore *js, const job *j, const char *owner, char *errstr,
                         size_t errstr_size)
{
    const char *p[2] = {j->id, owner};
    PGresult *res = jobstore_run(js, "check lease",
                                 "SELECT 1 FROM jobs WHERE id = $1::uuid AND lease_owner = $2 AND "
                                 "status = 'running' FOR UPDATE",
                                 2, p, PGRES_TUPLES_OK, NULL, errstr, errstr_size);
    int held;

    if (res == NULL)
        return -JOBSTORE_EDB;
    held = PQntuples(res) == 1;
    PQclear(res);
    if (!held) {
        util_errf(errstr, errstr_size, "job %s: lease lost by %s (another worker took it over)",
                  j->id, owner);
        return -JOBSTORE_ELEASE;
    }
    return 0;
}

int jobstore_lease_renew(jobstore *js, const char *owner, int lease_s, int *renewed, char *errstr,
                         size_t errstr_size)
{
    char ls[16];
    const char *p[2] = {owner, ls};
    PGresult *res;

    snprintf(ls, sizeof(ls), "%d", lease_s);
    res = jobstore_run(js, "renew leases",
                       "UPDATE jobs SET lease_expires = now() + make_interval(secs => $2::integer) "
                       "WHERE lease_owner = $1 AND status = 'running'",
                       2, p, PGRES_COMMAND_OK, NULL, errstr, errstr_size);
    if (res == NULL)
        return -JOBSTORE_EDB;
    if (renewed)
        *renewed = atoi(PQcmdTuples(res));
    PQclear(res);
    return 0;
}

int jobstore_lease_release(jobstore *js, const char *owner, char *errstr, size_t errstr_size)
{
    const char *p[1] = {owner};

    return jobstore_cmd(js, "release leases",
                        "UPDATE jobs SET lease_expires = now() - interval '1 second' "
                        "WHERE lease_owner = $1 AND status = 'running'",
                        1, p, errstr, errstr_size);
}
