/* jobstore_cancel: kvmove cancel (recorded at intake, carried out at a step boundary, or kept
 * pending until the job's own request arrives) and the rollback jobs that put a guest back on
 * its source. */
#include "jobstore.h"
#include "jobstore_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "event.h"
#include "migrate.h"
#include "util.h"

int jobstore_chain_states(jobstore *js, const char *job_id, step_state state[STEP__COUNT],
                          char *errstr, size_t errstr_size)
{
    const char *p[1] = {job_id};
    PGresult *res;
    int i, s, rc;

    for (s = 0; s < STEP__COUNT; s++)
        state[s] = STEP_PENDING;
    /* The job and the attempts it resumes (replay_of, up the chain); a step's state is the one
     * of the newest attempt that had it. */
    rc = jobstore_run(js, "read the steps of a job's attempts",
                      "WITH RECURSIVE chain (id, replay_of, attempt) AS (SELECT id, replay_of, "
                      "attempt FROM jobs WHERE id = $1::uuid UNION ALL SELECT j.id, j.replay_of, "
                      "j.attempt FROM jobs j JOIN chain c ON j.id = c.replay_of) SELECT DISTINCT "
                      "ON (s.step) s.step, s.status FROM chain c JOIN job_steps s ON s.job_id = "
                      "c.id ORDER BY s.step, c.attempt DESC",
                      1, p, PGRES_TUPLES_OK, &res, errstr, errstr_size);
    if (rc < 0)
        return rc;
    for (i = 0; i < PQntuples(res); i++) {
        step_id id;
        if (step_from_string(PQgetvalue(res, i, 0), &id) == 0 && !step_is_rollback(id))
            step_state_from_string(PQgetvalue(res, i, 1), &state[id]);
    }
    PQclear(res);
    return 0;
}

static json_t *steps_json(const step_id *order, size_t n)
{
    json_t *a = json_array();
    size_t i;

    for (i = 0; i < n; i++)
        json_array_append_new(a, json_string(step_to_string(order[i])));
    return a;
}

int jobstore_rollback_add(jobstore *js, const char *undone, const char *id, const char *reason,
                          const char *requested_by, const char *source, const char *reqjson,
                          char *out_id, char *why, size_t why_size, char *errstr,
                          size_t errstr_size)
{
    const char *p[1] = {undone};
    step_state st[STEP__COUNT];
    step_id order[STEP__ALL];
    char new_id[REQUEST_UUID_LEN], orig[REQUEST_UUID_LEN];
    PGresult *res = NULL;
    size_t n, i;
    int rc;

    out_id[0] = why[0] = '\0';
    /* A rollback of a rollback undoes the same job again. */
    rc = jobstore_row(js, "find the job to roll back",
                      "SELECT CASE WHEN action = 'rollback' THEN replay_of ELSE id END FROM jobs "
                      "WHERE id = $1::uuid",
                      1, p, &res, errstr, errstr_size);
    if (rc == 0)
        util_errf(why, why_size, "job %s does not exist (see 'kvmove jobs')", undone);
    if (rc <= 0)
        return rc;
    util_strlcpy(orig, PQgetvalue(res, 0, 0), sizeof(orig));
    PQclear(res);
    if ((rc = jobstore_chain_states(js, orig, st, errstr, errstr_size)) < 0)
        return rc;
    if (migrate_committed(st)) {
        util_errf(why, why_size,
                  "job %s is past its commit point (MIGRATE_GUEST succeeded): the guest belongs "
                  "to its target; move it back with a new migration",
                  orig);
        return 0;
    }
    n = migrate_rollback_plan(st, order);
    if (n == 0) {
        util_errf(why, why_size, "job %s changed no host; there is nothing to roll back", orig);
        return 0;
    }
    if (id == NULL) {
        util_uuid(new_id);
        id = new_id;
    }
    {
        const char *q[5] = {id, orig, reason && reason[0] ? reason : NULL, requested_by,
                            reqjson ? reqjson : "{}"};
        rc = jobstore_cmd(
            js, "insert rollback job",
            "INSERT INTO jobs (id, request_id, replay_of, attempt, action, guest, mode, src_host, "
            "tgt_host, config_version, memory_mb, vcpus, status, submitted_by, request, "
            "sequential, system_name, reason) SELECT $1::uuid, $1::uuid, o.id, (SELECT "
            "max(attempt) FROM jobs WHERE id = o.id OR replay_of = o.id) + 1, 'rollback', "
            "o.guest, o.mode, o.src_host, o.tgt_host, o.config_version, 0, 0, 'queued', $4, "
            "$5::jsonb, o.sequential, o.system_name, $3 FROM jobs o WHERE o.id = $2::uuid",
            5, q, NULL, errstr, errstr_size);
    }
    for (i = 0; i < n && rc == 0; i++) {
        char seq[8];
        const char *q[3] = {id, step_to_string(order[i]), seq};
        snprintf(seq, sizeof(seq), "%d", (int)(STEP__COUNT + i + 1));
        rc = jobstore_cmd(js, "insert rollback step",
                          "INSERT INTO job_steps (job_id, step, seq, status) VALUES ($1::uuid, "
                          "$2, $3::integer, 'pending')",
                          3, q, NULL, errstr, errstr_size);
    }
    if (rc == 0) {
        const char *q[1] = {id};
        rc = jobstore_row(js, "read rollback job",
                          "SELECT guest, mode, src_host, tgt_host, attempt FROM jobs WHERE id = "
                          "$1::uuid",
                          1, q, &res, errstr, errstr_size);
        if (rc == 0) {
            util_errf(errstr, errstr_size, "rollback job %s vanished", id);
            rc = -JOBSTORE_EDATA;
        }
        if (rc > 0) {
            json_t *data = json_pack(
                "{s:s,s:s,s:s,s:s,s:s,s:s,s:o,s:i,s:s}", "action", "rollback", "replay_of", orig,
                "guest", PQgetvalue(res, 0, 0), "mode", PQgetvalue(res, 0, 1), "src_host",
                PQgetvalue(res, 0, 2), "tgt_host", PQgetvalue(res, 0, 3), "steps",
                steps_json(order, n), "attempt", atoi(PQgetvalue(res, 0, 4)), "message",
                "rollback accepted: the guest goes back to its source");
            char guest[REQUEST_NAME_MAX];
            util_strlcpy(guest, PQgetvalue(res, 0, 0), sizeof(guest));
            PQclear(res);
            if (reason && reason[0])
                json_object_set_new(data, "reason", json_string(reason));
            rc = jobstore_outbox_add(js, id, guest, EVENT_JOB_ACCEPTED, source, data, errstr,
                                     errstr_size);
        }
    }
    if (rc == 0)
        rc = jobstore_cmd(js, "notify", "NOTIFY kvmove_jobs", 0, NULL, NULL, errstr, errstr_size);
    if (rc == 0)
        util_strlcpy(out_id, id, REQUEST_UUID_LEN);
    return rc;
}

/* The cancel of a job that exists, locked: what it means for the job. Fills OUTCOME
 * ("cancelled", "requested", "rejected") and MSG; writes the job's events. */
static int cancel_job(jobstore *js, const request *req, PGresult *row, const char *source,
                      char *reason, const char **outcome, char *msg, size_t msg_size, char *errstr,
                      size_t errstr_size)
{
    const char *status = PQgetvalue(row, 0, 0), *guest = PQgetvalue(row, 0, 1),
               *action = PQgetvalue(row, 0, 2);
    int started = PQgetvalue(row, 0, 3)[0] == 't';
    const char *p[3] = {req->job_id, reason, req->submitted_by};
    step_state st[STEP__COUNT];
    job_status js_status = JOB_QUEUED;
    json_t *data;
    int rc, committed;

    job_status_from_string(status, &js_status);
    if (job_status_is_final(js_status)) {
        *outcome = "rejected";
        util_errf(msg, msg_size, "job %s has ended (%s); there is nothing to cancel", req->job_id,
                  status);
        return 0;
    }
    if (strcmp(action, "rollback") == 0) {
        *outcome = "rejected";
        util_errf(msg, msg_size,
                  "job %s is a rollback (it puts the guest back on its source); it is not "
                  "cancelled",
                  req->job_id);
        return 0;
    }
    if ((rc = jobstore_chain_states(js, req->job_id, st, errstr, errstr_size)) < 0)
        return rc;
    committed = migrate_committed(st);
    rc = jobstore_cmd(js, "record cancel",
                      "UPDATE jobs SET cancel_requested_at = coalesce(cancel_requested_at, now()), "
                      "cancel_reason = coalesce(cancel_reason, $2), cancel_requested_by = "
                      "coalesce(cancel_requested_by, $3) WHERE id = $1::uuid",
                      3, p, NULL, errstr, errstr_size);
    if (rc < 0)
        return rc;
    if (js_status == JOB_QUEUED && !started) {
        /* Never claimed: no step ran, so nothing needs undoing. */
        job_change c = {req->job_id, JOB_QUEUED, JOB_CANCELLED, NULL, 0, NULL};
        *outcome = "cancelled";
        util_errf(msg, msg_size, "job %s was cancelled before it started; no host was changed",
                  req->job_id);
        rc = jobstore_job_change(js, &c, errstr, errstr_size);
    } else {
        *outcome = "requested";
        util_errf(msg, msg_size,
                  committed ? "job %s is past its commit point (MIGRATE_GUEST): it completes "
                              "forward"
                            : "job %s stops at its next step boundary and the guest is put back "
                              "on its source (unless the job reaches its commit point first)",
                  req->job_id);
    }
    if (rc < 0)
        return rc;
    data = json_pack("{s:s,s:b,s:s}", "request_id", req->request_id, "committed", committed,
                     "message", msg);
    if (reason)
        json_object_set_new(data, "reason", json_string(reason));
    rc = jobstore_outbox_add(js, req->job_id, guest, EVENT_JOB_CANCEL_REQUESTED, source, data,
                             errstr, errstr_size);
    if (rc == 0 && strcmp(*outcome, "cancelled") == 0) {
        data = json_pack("{s:s}", "message", msg);
        if (reason)
            json_object_set_new(data, "reason", json_string(reason));
        rc = jobstore_outbox_add(js, req->job_id, guest, EVENT_JOB_CANCELLED, source, data, errstr,
                                 errstr_size);
    }
    return rc;
}

/* The job.rejected event of cancel request REQUEST_ID (its subject: there is no job to name),
 * saying MSG. */
static int cancel_rejected(jobstore *js, const char *request_id, const char *msg,
                           const char *source, char *errstr, size_t errstr_size)
{
    return jobstore_outbox_add(js, request_id, "", EVENT_JOB_REJECTED, source,
                               json_pack("{s:s}", "message", msg), errstr, errstr_size);
}

void jobstore_set_request_max_age(jobstore *js, int seconds)
{
    js->request_max_age_s = seconds;
}

int jobstore_lock_job_id(jobstore *js, const char *job_id, char *errstr, size_t errstr_size)
{
    char k[16];
    const char *p[2] = {k, job_id};

    snprintf(k, sizeof(k), "%d", LOCK_JOB_ID);
    return jobstore_run(js, "lock job id",
                        "SELECT pg_advisory_xact_lock($1::integer, hashtext($2))", 2, p,
                        PGRES_TUPLES_OK, NULL, errstr, errstr_size);
}

/* Records cancel request REQ of a job that is not recorded (yet) as pending until the intake's
 * maximum request age from now: the job's request, if it is still in Kafka, arrives before
 * that or not at all. Its message (in MSG) says until when. */
static int cancel_pending(jobstore *js, const request *req, const char *reason, char *msg,
                          size_t msg_size, char *errstr, size_t errstr_size)
{
    char secs[16];
    const char *p[5] = {req->request_id, req->job_id, reason, req->submitted_by, secs};
    PGresult *res = NULL;
    int rc;

    snprintf(secs, sizeof(secs), "%d",
             js->request_max_age_s > 0 ? js->request_max_age_s : AUTH_MAX_AGE_S_DEFAULT);
    rc = jobstore_row(js, "record pending cancel",
                      "INSERT INTO cancel_requests (request_id, job_id, outcome, message, reason, "
                      "requested_by, expires_at) SELECT $1::uuid, $2::uuid, 'pending', "
                      "format('cancel recorded; job %s is not recorded yet and will be cancelled "
                      "when its request arrives (until %s)', $2, to_char(e AT TIME ZONE 'UTC', "
                      "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')), $3, $4, e FROM (SELECT now() + "
                      "make_interval(secs => $5::integer) AS e) x RETURNING message",
                      5, p, &res, errstr, errstr_size);
    if (rc > 0) {
        util_strlcpy(msg, PQgetvalue(res, 0, 0), msg_size);
        PQclear(res);
        rc = 0;
    }
    return rc;
}

int jobstore_cancel_intake(jobstore *js, const request *req, const char *source,
                           jobstore_intake *result, char *errstr, size_t errstr_size)
{
    const char *idp[1] = {req->request_id}, *jp[1] = {req->job_id};
    const char *outcome = "rejected";
    char msg[600], *reason = NULL;
    PGresult *row = NULL;
    long dup = 0;
    int rc;

    rc = jobstore_value(js, "find cancel request",
                        "SELECT count(*) FROM cancel_requests WHERE request_id = $1::uuid", 1, idp,
                        &dup, errstr, errstr_size);
    if (rc < 0 || dup) {
        *result = JOBSTORE_DUPLICATE;
        return rc;
    }
    if (req->reason[0] && (rc = jobstore_text(req->reason, &reason, errstr, errstr_size)) < 0)
        return rc;
    /* The job's intake, at the same time, either recorded the job before this looks, or sees
     * the pending cancel this records. */
    if ((rc = jobstore_lock_job_id(js, req->job_id, errstr, errstr_size)) < 0)
        goto out;
    /* Locked: a claim (FOR UPDATE SKIP LOCKED) cannot take the job while its cancel is decided. */
    rc = jobstore_row(js, "lock the cancelled job",
                      "SELECT status, guest, action, started_at IS NOT NULL FROM jobs WHERE id = "
                      "$1::uuid FOR UPDATE",
                      1, jp, &row, errstr, errstr_size);
    if (rc == 0) {
        outcome = "pending";
        rc = cancel_pending(js, req, reason, msg, sizeof(msg), errstr, errstr_size);
    } else if (rc > 0)
        rc = cancel_job(js, req, row, source, reason, &outcome, msg, sizeof(msg), errstr,
                        errstr_size);
    PQclear(row);
    if (rc == 0 && strcmp(outcome, "pending") != 0) {
        const char *p[6] = {req->request_id, req->job_id, outcome, msg, reason, req->submitted_by};
        rc = jobstore_cmd(js, "record cancel request",
                          "INSERT INTO cancel_requests (request_id, job_id, outcome, message, "
                          "reason, requested_by) VALUES ($1::uuid, $2::uuid, $3, $4, $5, $6)",
                          6, p, NULL, errstr, errstr_size);
    }
    if (rc == 0 && strcmp(outcome, "rejected") == 0) {
        rc = cancel_rejected(js, req->request_id, msg, source, errstr, errstr_size);
        if (rc == 0)
            util_strlcpy(errstr, msg, errstr_size);
        *result = JOBSTORE_REJECTED;
    } else if (rc == 0) {
        util_strlcpy(errstr, msg, errstr_size);
        *result = JOBSTORE_CREATED;
    }
out:
    free(reason);
    return rc;
}

/* Pending cancel REQUEST_ID (locked) of job JOB_ID, which waited SECS s for it, rejected: the job
 * did not arrive in time. */
static int cancel_expired(jobstore *js, const char *request_id, const char *job_id,
                          const char *secs, const char *source, char *errstr, size_t errstr_size)
{
    char msg[300];
    const char *p[2] = {request_id, msg};
    int rc;

    util_errf(msg, sizeof(msg),
              "no job %s arrived within %s s of the cancel (the oldest request the intake takes); "
              "the cancel is rejected",
              job_id, secs);
    rc = jobstore_cmd(js, "reject expired cancel",
                      "UPDATE cancel_requests SET outcome = 'rejected', message = $2 WHERE "
                      "request_id = $1::uuid",
                      2, p, NULL, errstr, errstr_size);
    return rc < 0 ? rc : cancel_rejected(js, request_id, msg, source, errstr, errstr_size);
}

/* Pending cancel ROW (request_id, reason, requested_by, expired, seconds waited; locked) of job
 * JOB_ID, which has just been recorded and is locked in JOBROW: decided as a cancel of a recorded
 * job is (cancel_job), or rejected when it expired before the job came. */
static int cancel_decide_pending(jobstore *js, const char *job_id, PGresult *row, int i,
                                 PGresult *jobrow, const char *source, char *errstr,
                                 size_t errstr_size)
{
    const char *outcome = "rejected";
    char msg[600];
    request creq;
    int rc;

    if (PQgetvalue(row, i, 3)[0] == 't')
        return cancel_expired(js, PQgetvalue(row, i, 0), job_id, PQgetvalue(row, i, 4), source,
                              errstr, errstr_size);
    memset(&creq, 0, sizeof(creq));
    creq.action = ACTION_CANCEL;
    util_strlcpy(creq.request_id, PQgetvalue(row, i, 0), sizeof(creq.request_id));
    util_strlcpy(creq.job_id, job_id, sizeof(creq.job_id));
    util_strlcpy(creq.submitted_by, PQgetvalue(row, i, 2), sizeof(creq.submitted_by));
    rc =
        cancel_job(js, &creq, jobrow, source, PQgetisnull(row, i, 1) ? NULL : PQgetvalue(row, i, 1),
                   &outcome, msg, sizeof(msg), errstr, errstr_size);
    if (rc == 0) {
        const char *p[3] = {creq.request_id, outcome, msg};
        rc =
            jobstore_cmd(js, "record the pending cancel's outcome",
                         "UPDATE cancel_requests SET outcome = $2, message = $3 WHERE request_id = "
                         "$1::uuid",
                         3, p, NULL, errstr, errstr_size);
    }
    if (rc == 0 && strcmp(outcome, "rejected") == 0)
        rc = cancel_rejected(js, creq.request_id, msg, source, errstr, errstr_size);
    return rc;
}

int jobstore_cancel_arrived(jobstore *js, const char *job_id, const char *source, char *errstr,
                            size_t errstr_size)
{
    const char *p[1] = {job_id};
    PGresult *pend = NULL, *jobrow = NULL;
    int i, rc;

    rc = jobstore_run(js, "find pending cancels",
                      "SELECT request_id, reason, requested_by, expires_at <= now(), "
                      "round(extract(epoch FROM expires_at - created_at))::bigint FROM "
                      "cancel_requests WHERE job_id = $1::uuid AND outcome = 'pending' ORDER BY "
                      "created_at, request_id FOR UPDATE",
                      1, p, PGRES_TUPLES_OK, &pend, errstr, errstr_size);
    if (rc < 0)
        return rc;
    /* Each in turn, as if it arrived now: the first cancels the job, a second finds it ended. */
    for (i = 0; i < PQntuples(pend) && rc == 0; i++) {
        rc = jobstore_row(js, "lock the cancelled job",
                          "SELECT status, guest, action, started_at IS NOT NULL FROM jobs WHERE id "
                          "= $1::uuid FOR UPDATE",
                          1, p, &jobrow, errstr, errstr_size);
        if (rc == 0) { /* the caller has just recorded it */
            util_errf(errstr, errstr_size, "job %s vanished", job_id);
            rc = -JOBSTORE_EDATA;
        }
        if (rc > 0)
            rc = cancel_decide_pending(js, job_id, pend, i, jobrow, source, errstr, errstr_size);
        PQclear(jobrow);
        jobrow = NULL;
    }
    PQclear(pend);
    return rc;
}

int jobstore_cancel_expire(jobstore *js, const char *source, long *expired, char *errstr,
                           size_t errstr_size)
{
    char limit[16];
    const char *lp[1] = {limit};
    PGresult *res = NULL;
    int i, rc;

    if (expired)
        *expired = 0;
    snprintf(limit, sizeof(limit), "%d", JOBSTORE_CANCEL_EXPIRE_BATCH);
    if ((rc = jobstore_begin(js, errstr, errstr_size)) < 0)
        return rc;
    /* A pending cancel an intake is deciding (locked) is that intake's. */
    rc = jobstore_run(
        js, "find expired cancels",
        "SELECT request_id, job_id, round(extract(epoch FROM expires_at - "
        "created_at))::bigint FROM cancel_requests WHERE outcome = 'pending' AND "
        "expires_at <= now() ORDER BY expires_at LIMIT $1::integer FOR UPDATE SKIP LOCKED",
        1, lp, PGRES_TUPLES_OK, &res, errstr, errstr_size);
    for (i = 0; rc == 0 && i < PQntuples(res); i++)
        rc = cancel_expired(js, PQgetvalue(res, i, 0), PQgetvalue(res, i, 1), PQgetvalue(res, i, 2),
                            source, errstr, errstr_size);
    if (rc == 0 && expired)
        *expired = PQntuples(res);
    PQclear(res);
    return jobstore_end(js, rc, errstr, errstr_size);
}

int jobstore_job_cancel_pending(jobstore *js, const job *j, char *errstr, size_t errstr_size)
{
    const char *p[1] = {j->id};
    long pending = 0;
    int rc = jobstore_value(js, "is a cancel requested",
                            "SELECT count(*) FROM jobs WHERE id = $1::uuid AND cancel_requested_at "
                            "IS NOT NULL",
                            1, p, &pending, errstr, errstr_size);

    return rc < 0 ? rc : pending > 0;
}

int jobstore_job_cancel(jobstore *js, const job *j, const char *owner, const char *source,
                        const char *at, char *rollback_id, char *errstr, size_t errstr_size)
{
    const char *p[1] = {j->id};
    step_state st[STEP__COUNT];
    char why[600], msg[700], reason[REQUEST_REASON_MAX] = "", by[64] = "";
    PGresult *res = NULL;
    json_t *data;
    int rc, cancelled = 0;

    rollback_id[0] = '\0';
    if ((rc = jobstore_lease_begin(js, j, owner, errstr, errstr_size)) < 0)
        return rc;
    rc = jobstore_row(js, "read cancel",
                      "SELECT coalesce(cancel_reason, ''), coalesce(cancel_requested_by, '') FROM "
                      "jobs WHERE id = $1::uuid",
                      1, p, &res, errstr, errstr_size);
    if (rc == 0) { /* the lease check has just seen it */
        util_errf(errstr, errstr_size, "job %s vanished", j->id);
        rc = -JOBSTORE_EDATA;
    }
    if (rc > 0) {
        util_strlcpy(reason, PQgetvalue(res, 0, 0), sizeof(reason));
        util_strlcpy(by, PQgetvalue(res, 0, 1), sizeof(by));
        PQclear(res);
        rc = jobstore_chain_states(js, j->id, st, errstr, errstr_size);
    }
    if (rc == 0 && !migrate_committed(st)) {
        job_change c = {j->id, JOB_RUNNING, JOB_CANCELLED, NULL, 0, NULL};
        cancelled = 1;
        rc = jobstore_job_change(js, &c, errstr, errstr_size);
        if (rc == 0)
            rc = jobstore_rollback_add(js, j->id, NULL, reason, by, source, NULL, rollback_id, why,
                                       sizeof(why), errstr, errstr_size);
        if (rc == 0) {
            snprintf(msg, sizeof(msg), "cancelled %s; %s", at,
                     rollback_id[0] ? "a rollback job puts the guest back on its source"
                                    : "no host was changed");
            data = json_pack("{s:s}", "message", msg);
            if (reason[0])
                json_object_set_new(data, "reason", json_string(reason));
            if (rollback_id[0])
                json_object_set_new(data, "rollback_job_id", json_string(rollback_id));
            rc = jobstore_outbox_add(js, j->id, j->guest, EVENT_JOB_CANCELLED, source, data, errstr,
                                     errstr_size);
        }
    }
    rc = jobstore_end(js, rc, errstr, errstr_size);
    return rc < 0 ? rc : cancelled;
}

int jobstore_cancel_get_json(jobstore *js, const char *request_id, json_t **out, char *errstr,
                             size_t errstr_size)
{
    const char *p[1] = {request_id};
    int rc;

    *out = NULL;
    if (!util_is_uuid(request_id)) {
        util_errf(errstr, errstr_size, "'%s' is not a request id (a UUID)", request_id);
        return -JOBSTORE_EINVALID;
    }
    rc = jobstore_json_query(
        js, "read cancel request",
        "SELECT json_build_object('request_id', c.request_id, 'job_id', c.job_id, 'outcome', "
        "c.outcome, 'message', c.message, 'reason', c.reason, 'requested_by', c.requested_by, "
        "'created_at', c.created_at, 'expires_at', c.expires_at, 'job_status', j.status, "
        "'rollback_job_id', (SELECT r.id "
        "FROM jobs r WHERE r.action = 'rollback' AND r.replay_of = c.job_id ORDER BY "
        "r.created_at DESC LIMIT 1)) FROM cancel_requests c LEFT JOIN jobs j ON j.id = c.job_id "
        "WHERE c.request_id = $1::uuid",
        1, p, out, errstr, errstr_size);
    if (rc == 0 && json_is_null(*out)) {
        json_decref(*out);
        *out = NULL;
        return 0;
    }
    return rc < 0 ? rc : 1;
}

static const char *peer_at(const void *peers, size_t i)
{
    return ((const char *const *)peers)[i];
}

int jobstore_job_place(jobstore *js, const job *j, const char *owner, const char *const *peers,
                       size_t n, char *holder, char *peer, char *errstr, size_t errstr_size)
{
    const char *sp[1] = {j->system};
    json_t *names = json_array();
    char *list = NULL;
    PGresult *res = NULL;
    size_t i;
    int rc, placed = 0;

    holder[0] = peer[0] = '\0';
    for (i = 0; i < n; i++)
        json_array_append_new(names, json_string(peer_at(peers, i)));
    list = json_dumps(names, JSON_COMPACT);
    json_decref(names);
    if (list == NULL) {
        util_errf(errstr, errstr_size, "out of memory");
        return -JOBSTORE_EDB;
    }
    if ((rc = jobstore_lease_begin(js, j, owner, errstr, errstr_size)) < 0)
        goto out;
    /* One confirmation at a time per system: the second of two concurrent moves sees the first. */
    if (j->system[0])
        rc = jobstore_run(js, "lock system", "SELECT 1 FROM systems WHERE name = $1 FOR UPDATE", 1,
                          sp, PGRES_TUPLES_OK, NULL, errstr, errstr_size);
    else
        rc = jobstore_lock(js, LOCK_CLAIM, errstr, errstr_size);
    if (rc == 0) {
        const char *p[3] = {j->id, j->tgt_host, list};
        rc = jobstore_row(js, "find a placed peer",
                          "SELECT id, guest FROM jobs WHERE id <> $1::uuid AND status IN "
                          "('queued', 'running') AND placed_at IS NOT NULL AND lower(tgt_host) = "
                          "lower($2) AND lower(guest) IN (SELECT lower(value) FROM "
                          "json_array_elements_text($3::json)) ORDER BY placed_at LIMIT 1",
                          3, p, &res, errstr, errstr_size);
        if (rc > 0) {
            util_strlcpy(holder, PQgetvalue(res, 0, 0), REQUEST_UUID_LEN);
            util_strlcpy(peer, PQgetvalue(res, 0, 1), REQUEST_NAME_MAX);
            PQclear(res);
            rc = 0;
        } else if (rc == 0) {
            placed = 1;
            rc = jobstore_cmd(js, "place job",
                              "UPDATE jobs SET placed_at = coalesce(placed_at, now()) WHERE id = "
                              "$1::uuid",
                              1, p, NULL, errstr, errstr_size);
        }
    }
    rc = jobstore_end(js, rc, errstr, errstr_size);
out:
    free(list);
    return rc < 0 ? rc : placed;
}
