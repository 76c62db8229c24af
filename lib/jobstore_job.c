/* jobstore_job: a job's status after intake: the one function that changes it, the claim that
 * hands a job to a worker, the finish that ends it. */
#include "jobstore.h"
#include "jobstore_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "event.h"
#include "util.h"

int jobstore_job_change(jobstore *js, const job_change *c, char *errstr, size_t errstr_size)
{
    char ls[16];
    const char *p[6] = {
        c->job_id, job_status_to_string(c->from), job_status_to_string(c->to), c->owner, ls,
        c->error};
    int rows = 0, rc;

    if (!job_status_can_follow(c->from, c->to)) {
        util_errf(errstr, errstr_size, "job %s: status %s may not follow %s", c->job_id,
                  job_status_to_string(c->to) ? job_status_to_string(c->to) : "?",
                  job_status_to_string(c->from) ? job_status_to_string(c->from) : "?");
        return -JOBSTORE_EINVALID;
    }
    snprintf(ls, sizeof(ls), "%d", c->lease_s);
    /* A running job has a lease, any other has none; started_at is the first claim,
     * finished_at the end. */
    rc = jobstore_cmd(js, "change job status",
                      "UPDATE jobs SET status = $3, lease_owner = CASE WHEN $3 = 'running' THEN "
                      "$4 END, lease_expires = CASE WHEN $3 = 'running' THEN now() + "
                      "make_interval(secs => $5::integer) END, started_at = CASE WHEN $3 = "
                      "'running' THEN coalesce(started_at, now()) ELSE started_at END, "
                      "finished_at = CASE WHEN $3 IN " JOBSTORE_SQL_ENDED " THEN now() END, "
                      "error = CASE WHEN $3 = 'failed' THEN $6 ELSE error END WHERE id = $1::uuid "
                      "AND status = $2",
                      6, p, &rows, errstr, errstr_size);
    if (rc == 0 && rows != 1) {
        util_errf(errstr, errstr_size, "job %s is not %s: it cannot become %s", c->job_id, p[1],
                  p[2]);
        rc = -JOBSTORE_EINVALID;
    }
    return rc;
}

/* Reads job ID and its steps into *OUT. */
static int job_read(jobstore *js, const char *id, job *out, char *errstr, size_t errstr_size)
{
    const char *p[1] = {id};
    PGresult *res;
    int i, rc;

    rc = jobstore_row(js, "read job",
                      "SELECT id, coalesce(replay_of::text, ''), attempt, guest, src_host, "
                      "tgt_host, mode, coalesce(config_version, 0), sequential, "
                      "coalesce(system_name, ''), action, target_state = 'stopped', on_failure = "
                      "'rollback', coalesce(reason, ''), allow_colocation FROM jobs WHERE id = "
                      "$1::uuid",
                      1, p, &res, errstr, errstr_size);
    if (rc == 0) {
        util_errf(errstr, errstr_size, "job %s does not exist", id);
        rc = -JOBSTORE_ENOTFOUND;
    }
    if (rc < 0)
        return rc;
    memset(out, 0, sizeof(*out));
    util_strlcpy(out->id, PQgetvalue(res, 0, 0), sizeof(out->id));
    util_strlcpy(out->replay_of, PQgetvalue(res, 0, 1), sizeof(out->replay_of));
    out->attempt = atoi(PQgetvalue(res, 0, 2));
    util_strlcpy(out->guest, PQgetvalue(res, 0, 3), sizeof(out->guest));
    util_strlcpy(out->src_host, PQgetvalue(res, 0, 4), sizeof(out->src_host));
    util_strlcpy(out->tgt_host, PQgetvalue(res, 0, 5), sizeof(out->tgt_host));
    mode_from_string(PQgetvalue(res, 0, 6), &out->mode);
    out->config_version = atol(PQgetvalue(res, 0, 7));
    out->sequential = PQgetvalue(res, 0, 8)[0] == 't';
    util_strlcpy(out->system, PQgetvalue(res, 0, 9), sizeof(out->system));
    for (i = 0; i < ACTION__COUNT; i++)
        if (strcmp(PQgetvalue(res, 0, 10), request_action_to_string((request_action)i)) == 0)
            out->action = (request_action)i;
    out->target_stopped = PQgetvalue(res, 0, 11)[0] == 't';
    out->on_failure_rollback = PQgetvalue(res, 0, 12)[0] == 't';
    util_strlcpy(out->reason, PQgetvalue(res, 0, 13), sizeof(out->reason));
    out->allow_colocation = PQgetvalue(res, 0, 14)[0] == 't';
    PQclear(res);
    rc =
        jobstore_run(js, "read steps", "SELECT step, status FROM job_steps WHERE job_id = $1::uuid",
                     1, p, PGRES_TUPLES_OK, &res, errstr, errstr_size);
    if (rc < 0)
        return rc;
    for (i = 0; i < PQntuples(res); i++) {
        step_id s;
        if (step_from_string(PQgetvalue(res, i, 0), &s) == 0) {
            out->included[s] = 1;
            step_state_from_string(PQgetvalue(res, i, 1), &out->state[s]);
        }
    }
    PQclear(res);
    return 0;
}

/* Inside the claim's transaction: takes the oldest claimable job for OWNER. Returns 1 with *OUT,
 * 0 when there is none, or negative. */
static int claim_one(jobstore *js, const char *owner, int lease_s, int max_per_host, job *out,
                     char *errstr, size_t errstr_size)
{
    char mp[16], id[REQUEST_UUID_LEN];
    const char *p[1] = {mp};
    job_change c = {id, JOB_QUEUED, JOB_RUNNING, owner, lease_s, NULL};
    PGresult *res;
    int rc, worked_on, more;

    snprintf(mp, sizeof(mp), "%d", max_per_host > 0 ? max_per_host : 1000000);
    /* Queued, or running under a lease that ran out; neither host at its limit of running
     * jobs (with live leases) already. A second row says whether another executor should look
     * too (it stays locked until this claim commits, then any executor may take it). */
    rc = jobstore_row(
        js, "find claimable job",
        "SELECT j.id, j.status, j.started_at IS NOT NULL FROM jobs j WHERE (j.status = 'queued' "
        "OR (j.status = 'running' AND j.lease_expires < now())) AND (SELECT count(*) FROM jobs r "
        "WHERE r.status = 'running' AND r.lease_expires >= now() AND r.id <> j.id AND "
        "j.src_host IN (r.src_host, r.tgt_host)) < $1::integer AND (SELECT count(*) FROM jobs r "
        "WHERE r.status = 'running' AND r.lease_expires >= now() AND r.id <> j.id AND "
        "j.tgt_host IN (r.src_host, r.tgt_host)) < $1::integer ORDER BY j.created_at LIMIT 2 "
        "FOR UPDATE OF j SKIP LOCKED",
        1, p, &res, errstr, errstr_size);
    if (rc <= 0)
        return rc;
    util_strlcpy(id, PQgetvalue(res, 0, 0), sizeof(id));
    job_status_from_string(PQgetvalue(res, 0, 1), &c.from);
    worked_on = PQgetvalue(res, 0, 2)[0] == 't';
    more = PQntuples(res) > 1;
    PQclear(res);
    if ((rc = jobstore_job_change(js, &c, errstr, errstr_size)) < 0 ||
        (rc = job_read(js, id, out, errstr, errstr_size)) < 0)
        return rc;
    /* A job claimed before (its worker died or handed it back) resumes: a takeover. */
    out->takeover = worked_on;
    out->more = more;
    return 1;
}

int jobstore_job_claim(jobstore *js, const char *owner, int lease_s, int max_per_host, job *out,
                       char *errstr, size_t errstr_size)
{
    int rc = jobstore_begin(js, errstr, errstr_size), got = 0;

    if (rc < 0)
        return rc;
    /* One claim at a time, so that the per-host limit cannot be overshot by a race. */
    if ((rc = jobstore_lock(js, LOCK_CLAIM, errstr, errstr_size)) == 0)
        got = rc = claim_one(js, owner, lease_s, max_per_host, out, errstr, errstr_size);
    /* The job and its steps are read in the claim's transaction: a claim that fails half-way
     * takes nothing. */
    rc = jobstore_end(js, rc < 0 ? rc : 0, errstr, errstr_size);
    return rc < 0 ? rc : got;
}

int jobstore_job_finish(jobstore *js, const job *j, job_status status, const char *error,
                        long elapsed_ms, const jobstore_config_change *deploy, const char *owner,
                        const char *source, char *errstr, size_t errstr_size)
{
    char *reason = NULL;
    int rc = 0;

    if (!job_status_is_final(status)) {
        util_errf(errstr, errstr_size, "job %s: a job ends succeeded or failed, not %s", j->id,
                  job_status_to_string(status) ? job_status_to_string(status) : "?");
        return -JOBSTORE_EINVALID;
    }
    if ((!error || (rc = jobstore_text(error, &reason, errstr, errstr_size)) == 0) &&
        (rc = jobstore_lease_begin(js, j, owner, errstr, errstr_size)) == 0) {
        job_change c = {j->id, JOB_RUNNING, status, NULL, 0, reason};
        char rollback_id[REQUEST_UUID_LEN] = "", why[600];
        rc = jobstore_job_change(js, &c, errstr, errstr_size);
        /* --on-failure=rollback: the rollback is queued with the failure, so that no crash can
         * leave the guest down with nobody putting it back. */
        if (rc == 0 && status == JOB_FAILED && j->on_failure_rollback &&
            j->action != ACTION_ROLLBACK)
            rc = jobstore_rollback_add(js, j->id, NULL, j->reason, "on-failure", source, NULL,
                                       rollback_id, why, sizeof(why), errstr, errstr_size);
        /* Rebased on the newest version of the system at commit time, under its lock: two
         * migrations that overlapped both stay in es.xml. */
        if (rc == 0 && deploy)
            rc = jobstore_config_apply(js, deploy, NULL, errstr, errstr_size);
        if (rc == 0) {
            json_t *data = json_pack("{s:s,s:s,s:s,s:s,s:I,s:i}", "guest", j->guest, "src_host",
                                     j->src_host, "tgt_host", j->tgt_host, "message",
                                     status != JOB_SUCCEEDED ? (reason ? reason : "failed")
                                     : j->action == ACTION_ROLLBACK
                                         ? "rollback completed: the guest runs on its source"
                                         : "migration completed",
                                     "elapsed_ms", (json_int_t)elapsed_ms, "attempt", j->attempt);
            if (j->action == ACTION_ROLLBACK)
                json_object_set_new(data, "action", json_string("rollback"));
            if (j->reason[0])
                json_object_set_new(data, "reason", json_string(j->reason));
            if (rollback_id[0])
                json_object_set_new(data, "rollback_job_id", json_string(rollback_id));
            rc = jobstore_outbox_add(js, j->id, j->guest,
                                     status == JOB_SUCCEEDED ? EVENT_JOB_SUCCEEDED
                                                             : EVENT_JOB_FAILED,
                                     source, data, errstr, errstr_size);
        }
        rc = jobstore_end(js, rc, errstr, errstr_size);
    }
    free(reason);
    return rc;
}
