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

    if (rc == 0 && (rc = jobstore_lease_check(js, j, owner, errstr, errstr_size)) < 0)
        jobstore_rollback(js);
    return rc;
}

int jobstore_lease_renew(jobstore *js, const char *owner, int lease_s, int *renewed, char *errstr,
                         size_t errstr_size)
{
    char ls[16];
    const char *p[2] = {owner, ls};

    snprintf(ls, sizeof(ls), "%d", lease_s);
    return jobstore_cmd(
        js, "renew leases",
        "UPDATE jobs SET lease_expires = now() + make_interval(secs => $2::integer) "
        "WHERE lease_owner = $1 AND status = 'running'",
        2, p, renewed, errstr, errstr_size);
}

int jobstore_lease_release(jobstore *js, const char *owner, char *errstr, size_t errstr_size)
{
    const char *p[1] = {owner};

    return jobstore_cmd(js, "release leases",
                        "UPDATE jobs SET lease_expires = now() - interval '1 second' "
                        "WHERE lease_owner = $1 AND status = 'running'",
                        1, p, NULL, errstr, errstr_size);
}
