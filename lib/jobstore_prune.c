/* jobstore_prune: the history of finished jobs, deleted once it is older than an age. */
#include "jobstore.h"
#include "jobstore_internal.h"

#include <stdio.h>

#include "util.h"

/* What goes with the jobs when it is as old ($1 seconds, at most $2 rows a call): requests that
 * never became a job (remembered as long as jobs are), cancel requests that are settled (rows of
 * their own: the job may never have existed; a pending one waits for its job or its expiry),
 * and the probes that ended (cleanup, dry run, evacuation plan: the CLI has read their result). */
static const struct {
    const char *what, *sql;
} aged[] = {
    {"prune rejected requests",
     "DELETE FROM rejected_requests WHERE request_id IN (SELECT request_id FROM rejected_requests "
     "WHERE rejected_at < now() - make_interval(secs => $1::integer) LIMIT $2::integer)"},
    {"prune cancel requests",
     "DELETE FROM cancel_requests WHERE request_id IN (SELECT request_id FROM cancel_requests "
     "WHERE created_at < now() - make_interval(secs => $1::integer) AND outcome <> 'pending' "
     "LIMIT $2::integer)"},
    {"prune probes",
     "DELETE FROM probes WHERE request_id IN (SELECT request_id FROM probes WHERE finished_at < "
     "now() - make_interval(secs => $1::integer) AND status IN ('succeeded', 'failed', "
     "'rejected') LIMIT $2::integer)"},
};

int jobstore_jobs_prune(jobstore *js, int older_than_s, int limit, long *pruned, char *errstr,
                        size_t errstr_size)
{
    char age[16], lim[16];
    const char *p[2] = {age, lim};
    int rows = 0, rc;
    size_t i;

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
    for (i = 0; rc == 0 && i < sizeof(aged) / sizeof(aged[0]); i++)
        rc = jobstore_cmd(js, aged[i].what, aged[i].sql, 2, p, NULL, errstr, errstr_size);
    if (rc == 0 && pruned)
        *pruned = rows;
    return rc;
}
