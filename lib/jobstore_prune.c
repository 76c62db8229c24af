/* jobstore_prune: the history of finished jobs, deleted once it is older than an age. */
#include "jobstore.h"
#include "jobstore_internal.h"

#include <stdio.h>

#include "util.h"

int jobstore_jobs_prune(jobstore *js, int older_than_s, int limit, long *pruned, char *errstr,
                        size_t errstr_size)
{
    char age[16], lim[16];
    const char *p[2] = {age, lim};
    int rows = 0, rejected = 0, rc;

    if (pruned)
        *pruned = 0;
    snprintf(age, sizeof(age), "%d", older_than_s);
    snprintf(lim, sizeof(lim), "%d", limit > 0 ? limit : 1000);
    /* Ended jobs (succeeded, failed, rejected, cancelled: never an active one) with their steps,
     * preflight results and cleanups (ON DELETE CASCADE), newest first among the old ones: a
     * replay finishes after the job it replays, so it goes first, and a job still named by a
     * replay (replay_of) stays until that replay is pruned too (the next batch). A job with a
     * pending cleanup stays: its fencing is not done. */
    rc = jobstore_cmd(js, "prune jobs",
                      "DELETE FROM jobs WHERE id IN (SELECT j.id FROM jobs j WHERE j.status "
                      "IN " JOBSTORE_SQL_ENDED " AND j.finished_at < now() - "
                      "make_interval(secs => $1::integer) AND NOT EXISTS (SELECT 1 FROM jobs r "
                      "WHERE r.replay_of = j.id) AND NOT EXISTS (SELECT 1 FROM host_cleanups c "
                      "WHERE c.job_id = j.id AND c.status = 'pending') ORDER BY j.finished_at "
                      "DESC LIMIT $2::integer FOR UPDATE SKIP LOCKED)",
                      2, p, &rows, errstr, errstr_size);
    /* Requests that never became a job are remembered as long as jobs are. */
    if (rc == 0)
        rc = jobstore_cmd(js, "prune rejected requests",
                          "DELETE FROM rejected_requests WHERE request_id IN (SELECT request_id "
                          "FROM rejected_requests WHERE rejected_at < now() - make_interval(secs "
                          "=> $1::integer) LIMIT $2::integer)",
                          2, p, &rejected, errstr, errstr_size);
    /* Cancel requests (rows of their own, the job may never have existed) and the probes that
     * ended (cleanup, dry run, evacuation plan: the CLI has read their result), as old. */
    if (rc == 0)
        rc = jobstore_cmd(js, "prune cancel requests",
                          "DELETE FROM cancel_requests WHERE request_id IN (SELECT request_id "
                          "FROM cancel_requests WHERE created_at < now() - make_interval(secs => "
                          "$1::integer) LIMIT $2::integer)",
                          2, p, NULL, errstr, errstr_size);
    if (rc == 0)
        rc = jobstore_cmd(js, "prune probes",
                          "DELETE FROM probes WHERE request_id IN (SELECT request_id FROM probes "
                          "WHERE finished_at < now() - make_interval(secs => $1::integer) AND "
                          "status IN ('succeeded', 'failed', 'rejected') LIMIT $2::integer)",
                          2, p, NULL, errstr, errstr_size);
    if (rc == 0 && pruned)
        *pruned = rows;
    return rc;
}
