/* jobstore_intake: requests recorded as jobs (or rejections), idempotently on the request id. */
#include "jobstore.h"
#include "jobstore_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "event.h"
#include "util.h"

static json_t *steps_json(const int included[STEP__COUNT])
{
    json_t *a = json_array();
    int s;

    for (s = 0; s < STEP__COUNT; s++)
        if (included[s])
            json_array_append_new(a, json_string(step_to_string((step_id)s)));
    return a;
}

/* What a new job is made of: the request's fields or, for a replay, the earlier job's. */
typedef struct intake_job {
    char guest[REQUEST_NAME_MAX], src[REQUEST_NAME_MAX], tgt[REQUEST_NAME_MAX];
    migrate_mode mode;
    char mem[32], cpus[16], attempt[16], cfg[32];
    char system[JOBSTORE_SYSTEM_MAX]; /* "" = not known */
    const char *sequential;
    const char *on_failure, *target_state; /* "stop"/"rollback", "running"/"stopped" */
    int included[STEP__COUNT];
    char reason[600];              /* why the request is rejected ("" = it is not) */
    char holder[REQUEST_UUID_LEN]; /* the active job holding the guest, if that is why */
} intake_job;

static void from_request(const request *req, long memory_mb, int vcpus, intake_job *ij)
{
    int s;

    memset(ij, 0, sizeof(*ij));
    util_strlcpy(ij->guest, req->guest, sizeof(ij->guest));
    util_strlcpy(ij->src, req->src_host, sizeof(ij->src));
    util_strlcpy(ij->tgt, req->tgt_host, sizeof(ij->tgt));
    ij->mode = req->mode;
    snprintf(ij->mem, sizeof(ij->mem), "%ld", memory_mb);
    snprintf(ij->cpus, sizeof(ij->cpus), "%d", vcpus);
    snprintf(ij->attempt, sizeof(ij->attempt), "1");
    snprintf(ij->cfg, sizeof(ij->cfg), "%ld", req->config_version);
    util_strlcpy(ij->system, req->system, sizeof(ij->system));
    ij->sequential = req->sequential ? "true" : "false";
    ij->on_failure = req->on_failure_rollback ? "rollback" : "stop";
    ij->target_state = req->target_stopped ? "stopped" : "running";
    for (s = 0; s < STEP__COUNT; s++)
        ij->included[s] = !req->has_step || req->step == (step_id)s;
}

/* Fills IJ->included for a replay of the job REQ names (its steps read inside the
 * transaction); sets IJ->reason when nothing is left to resume. */
static int replay_plan(jobstore *js, const request *req, const char *orig_status, intake_job *ij,
                       char *errstr, size_t errstr_size)
{
    const char *p[1] = {req->job_id};
    PGresult *res;
    int orig_inc[STEP__ALL] = {0}, start = -1, i, s, rc;
    step_state st[STEP__ALL];

    rc = jobstore_run(js, "read replayed steps",
                      "SELECT step, status FROM job_steps WHERE job_id = $1", 1, p, PGRES_TUPLES_OK,
                      &res, errstr, errstr_size);
    if (rc < 0)
        return rc;
    for (i = 0; i < PQntuples(res); i++) {
        step_id id;
        step_state ss;
        if (step_from_string(PQgetvalue(res, i, 0), &id) == 0 &&
            step_state_from_string(PQgetvalue(res, i, 1), &ss) == 0) {
            orig_inc[id] = 1;
            st[id] = ss;
        }
    }
    PQclear(res);
    memset(ij->included, 0, sizeof(ij->included));
    if (req->has_step) {
        ij->included[req->step] = 1;
        return 0;
    }
    if (req->has_from_step) {
        /* The spec's way: the named step and every step after it in the spec's order. */
        for (s = req->from_step; s < STEP__COUNT; s++)
            ij->included[s] = 1;
        return 0;
    }
    /* Resume: every step of the earlier attempt that did not succeed (the plan may have run
     * them in another order than the spec's, so "after the failed step" is not enough). */
    for (s = 0; s < STEP__COUNT; s++) {
        ij->included[s] = orig_inc[s] && st[s] != STEP_SUCCEEDED && st[s] != STEP_SKIPPED;
        if (ij->included[s])
            start = s;
    }
    if (start < 0)
        util_errf(ij->reason, sizeof(ij->reason),
                  "job %s (%s) has no failed or unfinished step to resume; name one with "
                  "--step or --from-step",
                  req->job_id, orig_status);
    return 0;
}

/* Runs SQL, a query of at most one row whose $1 is the job REQ names: 1 with the row in *RES
 * (caller clears it), 0 with the reason in IJ->reason when there is no such job, or a negative
 * code. */
static int named_job_row(jobstore *js, const char *what, const char *sql, const request *req,
                         intake_job *ij, PGresult **res, char *errstr, size_t errstr_size)
{
    const char *p[1] = {req->job_id};
    int rc = jobstore_row(js, what, sql, 1, p, res, errstr, errstr_size);

    if (rc == 0)
        util_errf(ij->reason, sizeof(ij->reason), "job %s does not exist (see 'kvmove jobs')",
                  req->job_id);
    return rc;
}

/* A replay copies the earlier job's guest, mode, hosts, reservation, system and es.xml
 * version. */
static int from_replayed(jobstore *js, const request *req, intake_job *ij, char *errstr,
                         size_t errstr_size)
{
    PGresult *res;
    const char *st;
    job_status status = JOB_QUEUED;
    int rc;

    rc = named_job_row(js, "find replayed job",
                       "SELECT guest, mode, src_host, tgt_host, attempt, status, memory_mb, vcpus, "
                       "coalesce(config_version, 0), sequential, coalesce(system_name, ''), "
                       "on_failure, target_state, action, (SELECT r.id FROM jobs r WHERE "
                       "r.action = 'rollback' AND r.replay_of = jobs.id AND r.status IN "
                       "('queued', 'running', 'succeeded') LIMIT 1) FROM jobs WHERE id = $1::uuid",
                       req, ij, &res, errstr, errstr_size);
    if (rc <= 0)
        return rc;
    rc = 0;
    st = PQgetvalue(res, 0, 5);
    util_strlcpy(ij->guest, PQgetvalue(res, 0, 0), sizeof(ij->guest));
    mode_from_string(PQgetvalue(res, 0, 1), &ij->mode);
    util_strlcpy(ij->src, PQgetvalue(res, 0, 2), sizeof(ij->src));
    util_strlcpy(ij->tgt, PQgetvalue(res, 0, 3), sizeof(ij->tgt));
    snprintf(ij->attempt, sizeof(ij->attempt), "%d", atoi(PQgetvalue(res, 0, 4)) + 1);
    snprintf(ij->mem, sizeof(ij->mem), "%s", PQgetvalue(res, 0, 6));
    snprintf(ij->cpus, sizeof(ij->cpus), "%s", PQgetvalue(res, 0, 7));
    if (req->config_version == 0)
        snprintf(ij->cfg, sizeof(ij->cfg), "%s", PQgetvalue(res, 0, 8));
    if (!req->sequential)
        ij->sequential = PQgetvalue(res, 0, 9)[0] == 't' ? "true" : "false";
    util_strlcpy(ij->system, PQgetvalue(res, 0, 10), sizeof(ij->system));
    if (!req->has_on_failure)
        ij->on_failure = strcmp(PQgetvalue(res, 0, 11), "rollback") == 0 ? "rollback" : "stop";
    if (!req->has_target_state)
        ij->target_state = strcmp(PQgetvalue(res, 0, 12), "stopped") == 0 ? "stopped" : "running";
    job_status_from_string(st, &status);
    if (strcmp(PQgetvalue(res, 0, 13), "rollback") == 0)
        util_errf(ij->reason, sizeof(ij->reason),
                  "job %s is a rollback; run it again with 'kvmove rollback %s'", req->job_id,
                  req->job_id);
    else if (!PQgetisnull(res, 0, 14) || status == JOB_CANCELLED)
        util_errf(ij->reason, sizeof(ij->reason),
                  "job %s was %s (its guest goes back to its source); submit a new request",
                  req->job_id, status == JOB_CANCELLED ? "cancelled" : "rolled back");
    else if (!job_status_is_final(status))
        util_errf(ij->reason, sizeof(ij->reason),
                  "job %s is still %s; wait for it to end before replaying it", req->job_id, st);
    else if (status == JOB_REJECTED)
        util_errf(ij->reason, sizeof(ij->reason),
                  "job %s was rejected and never ran; submit a new request", req->job_id);
    else
        rc = replay_plan(js, req, st, ij, errstr, errstr_size);
    PQclear(res);
    return rc;
}

/* At most one active job per guest, whatever the spelling (the index is on lower(guest)): names
 * the one that holds it in IJ->reason. */
static int find_holder(jobstore *js, intake_job *ij, char *errstr, size_t errstr_size)
{
    const char *p[1] = {ij->guest};
    PGresult *res;
    int rc =
        jobstore_run(js, "find active job",
                     "SELECT id FROM jobs WHERE lower(guest) = lower($1) AND status IN ('queued', "
                     "'running')",
                     1, p, PGRES_TUPLES_OK, &res, errstr, errstr_size);

    if (rc < 0)
        return rc;
    if (PQntuples(res) > 0) {
        util_strlcpy(ij->holder, PQgetvalue(res, 0, 0), sizeof(ij->holder));
        util_errf(ij->reason, sizeof(ij->reason),
                  "guest %s already has an active job %s; wait for it to end", ij->guest,
                  ij->holder);
    }
    PQclear(res);
    return 0;
}

/* Records a rejected request as a job row (so a redelivery stays a duplicate) plus its event. */
static int insert_rejected(jobstore *js, const request *req, const intake_job *ij,
                           const char *source, const char *reqjson, char *errstr,
                           size_t errstr_size)
{
    char *reason = NULL;
    json_t *data;
    int rc = jobstore_text(ij->reason, &reason, errstr, errstr_size);

    if (rc == 0) {
        const char *p[9] = {req->request_id, request_action_to_string(req->action),
                            ij->guest,       mode_to_string(ij->mode),
                            ij->src,         ij->tgt,
                            reason,          req->submitted_by,
                            reqjson};
        rc = jobstore_cmd(
            js, "record rejected job",
            "INSERT INTO jobs (id, request_id, action, guest, mode, src_host, tgt_host, status, "
            "error, submitted_by, request, finished_at) VALUES ($1::uuid, $1::uuid, $2, $3, $4, "
            "$5, $6, 'rejected', $7, $8, $9::jsonb, now())",
            9, p, NULL, errstr, errstr_size);
    }
    if (rc == 0) {
        data = json_pack("{s:s}", "message", reason);
        if (ij->holder[0])
            json_object_set_new(data, "holder_job_id", json_string(ij->holder));
        rc = jobstore_outbox_add(js, req->request_id, ij->guest, EVENT_JOB_REJECTED, source, data,
                                 errstr, errstr_size);
    }
    free(reason);
    return rc;
}

/* Inserts the queued job, its pending steps and its job.accepted event. */
static int insert_job(jobstore *js, const request *req, const intake_job *ij, const char *source,
                      const char *reqjson, char *errstr, size_t errstr_size)
{
    char evac[32];
    const char *p[22] = {req->request_id,
                         req->action == ACTION_REPLAY ? req->job_id : NULL,
                         ij->attempt,
                         request_action_to_string(req->action),
                         ij->guest,
                         mode_to_string(ij->mode),
                         ij->src,
                         ij->tgt,
                         req->has_step ? step_to_string(req->step) : NULL,
                         req->has_from_step ? step_to_string(req->from_step) : NULL,
                         strcmp(ij->cfg, "0") == 0 ? NULL : ij->cfg,
                         ij->mem,
                         ij->cpus,
                         req->submitted_by,
                         reqjson,
                         ij->sequential,
                         ij->system[0] ? ij->system : NULL,
                         req->reason[0] ? req->reason : NULL,
                         ij->on_failure,
                         ij->target_state,
                         req->allow_colocation ? "true" : "false",
                         req->evacuation > 0 ? evac : NULL};
    json_t *data;
    int s, rc;

    snprintf(evac, sizeof(evac), "%ld", req->evacuation);
    rc = jobstore_cmd(js, "insert job",
                      "INSERT INTO jobs (id, request_id, replay_of, attempt, action, guest, mode, "
                      "src_host, tgt_host, only_step, from_step, config_version, memory_mb, "
                      "vcpus, status, submitted_by, request, sequential, system_name, reason, "
                      "on_failure, target_state, allow_colocation, evacuation_id) VALUES "
                      "($1::uuid, $1::uuid, $2::uuid, $3::integer, $4, $5, $6, $7, $8, $9, $10, "
                      "$11::bigint, $12::bigint, $13::integer, 'queued', $14, $15::jsonb, "
                      "$16::boolean, " JOBSTORE_SQL_SYSTEM("$17") ", $18, $19, $20, $21::boolean, "
                                                                  "$22::bigint)",
                      22, p, NULL, errstr, errstr_size);
    for (s = 0; s < STEP__COUNT && rc == 0; s++) {
        char seq[8];
        const char *q[3] = {req->request_id, step_to_string((step_id)s), seq};
        if (!ij->included[s])
            continue;
        snprintf(seq, sizeof(seq), "%d", s + 1);
        rc = jobstore_cmd(js, "insert step",
                          "INSERT INTO job_steps (job_id, step, seq, status) VALUES ($1::uuid, "
                          "$2, $3::integer, 'pending')",
                          3, q, NULL, errstr, errstr_size);
    }
    if (rc < 0)
        return rc;
    data = json_pack("{s:s,s:s,s:s,s:s,s:o,s:i,s:s}", "guest", ij->guest, "mode",
                     mode_to_string(ij->mode), "src_host", ij->src, "tgt_host", ij->tgt, "steps",
                     steps_json(ij->included), "attempt", atoi(ij->attempt), "message",
                     "migration request accepted");
    if (req->action == ACTION_REPLAY)
        json_object_set_new(data, "replay_of", json_string(req->job_id));
    /* who asked: the signing key's identity once the worker verified it (auth.required) */
    json_object_set_new(data, "submitted_by", json_string(req->submitted_by));
    if (req->reason[0])
        json_object_set_new(data, "reason", json_string(req->reason));
    if (strcmp(ij->on_failure, "rollback") == 0)
        json_object_set_new(data, "on_failure", json_string(ij->on_failure));
    if (strcmp(ij->target_state, "stopped") == 0)
        json_object_set_new(data, "target_state", json_string(ij->target_state));
    if (req->allow_colocation)
        json_object_set_new(data, "allow_colocation", json_true());
    if (req->evacuation > 0)
        json_object_set_new(data, "evacuation", json_integer(req->evacuation));
    if (req->action == ACTION_RETURN)
        json_object_set_new(data, "action", json_string("return"));
    rc = jobstore_outbox_add(js, req->request_id, ij->guest, EVENT_JOB_ACCEPTED, source, data,
                             errstr, errstr_size);
    if (rc == 0)
        rc = jobstore_cmd(js, "notify", "NOTIFY kvmove_jobs", 0, NULL, NULL, errstr, errstr_size);
    return rc;
}

/* kvmove rollback JOB: a rollback job of JOB, or the reason it cannot have one in IJ->reason. */
static int rollback_once(jobstore *js, const request *req, const char *source, const char *reqjson,
                         intake_job *ij, char *errstr, size_t errstr_size)
{
    char id[REQUEST_UUID_LEN], made[REQUEST_UUID_LEN];
    PGresult *res;
    job_status status = JOB_QUEUED;
    int rc;

    /* A rollback of a rollback job undoes the job that one undid. */
    rc = named_job_row(js, "find the job to roll back",
                       "SELECT o.status, o.guest, o.mode, o.src_host, o.tgt_host, (SELECT r.id "
                       "FROM jobs r WHERE r.action = 'rollback' AND r.replay_of = o.id AND "
                       "r.status = 'succeeded' LIMIT 1), o.id FROM jobs j JOIN jobs o ON o.id = "
                       "CASE WHEN j.action = 'rollback' THEN j.replay_of ELSE j.id END WHERE j.id "
                       "= $1::uuid",
                       req, ij, &res, errstr, errstr_size);
    if (rc == 0)
        util_errf(ij->reason, sizeof(ij->reason),
                  "job %s is not recorded (see 'kvmove jobs'): there is nothing to roll back (a "
                  "job whose request is still on its way is stopped with 'kvmove cancel %s')",
                  req->job_id, req->job_id);
    if (rc <= 0)
        return rc;
    job_status_from_string(PQgetvalue(res, 0, 0), &status);
    util_strlcpy(ij->guest, PQgetvalue(res, 0, 1), sizeof(ij->guest));
    mode_from_string(PQgetvalue(res, 0, 2), &ij->mode);
    util_strlcpy(ij->src, PQgetvalue(res, 0, 3), sizeof(ij->src));
    util_strlcpy(ij->tgt, PQgetvalue(res, 0, 4), sizeof(ij->tgt));
    util_strlcpy(id, PQgetvalue(res, 0, 6), sizeof(id));
    if (!job_status_is_final(status))
        util_errf(ij->reason, sizeof(ij->reason),
                  "job %s is still %s; cancel it ('kvmove cancel %s') rather than roll it back", id,
                  PQgetvalue(res, 0, 0), id);
    else if (status == JOB_REJECTED)
        util_errf(ij->reason, sizeof(ij->reason), "job %s was rejected and never ran", id);
    else if (!PQgetisnull(res, 0, 5))
        util_errf(ij->reason, sizeof(ij->reason), "job %s was rolled back already (by job %s)", id,
                  PQgetvalue(res, 0, 5));
    PQclear(res);
    if (ij->reason[0] == '\0' && (rc = find_holder(js, ij, errstr, errstr_size)) < 0)
        return rc;
    if (ij->reason[0] != '\0')
        return 0;
    return jobstore_rollback_add(js, id, req->request_id, req->reason, req->submitted_by, source,
                                 reqjson, made, ij->reason, sizeof(ij->reason), errstr,
                                 errstr_size);
}

/* One try inside the caller's transaction. */
static int intake_job_once(jobstore *js, const request *req, long memory_mb, int vcpus,
                           const char *source, const char *reqjson, jobstore_intake *result,
                           char *errstr, size_t errstr_size)
{
    const char *idp[1] = {req->request_id};
    intake_job ij;
    long dup = 0;
    int rc;

    from_request(req, memory_mb, vcpus, &ij);
    rc = jobstore_value(js, "find request", "SELECT count(*) FROM jobs WHERE request_id = $1::uuid",
                        1, idp, &dup, errstr, errstr_size);
    if (rc < 0 || dup) {
        *result = JOBSTORE_DUPLICATE;
        return rc;
    }
    if (req->action == ACTION_ROLLBACK) {
        if ((rc = rollback_once(js, req, source, reqjson, &ij, errstr, errstr_size)) < 0)
            return rc;
        if (ij.reason[0] == '\0') {
            *result = JOBSTORE_CREATED;
            return 0;
        }
    } else if (req->action == ACTION_REPLAY &&
               (rc = from_replayed(js, req, &ij, errstr, errstr_size)) < 0)
        return rc;
    if (ij.reason[0] == '\0' && (rc = find_holder(js, &ij, errstr, errstr_size)) < 0)
        return rc;
    if (ij.reason[0] == '\0') {
        *result = JOBSTORE_CREATED;
        return insert_job(js, req, &ij, source, reqjson, errstr, errstr_size);
    }
    *result = JOBSTORE_REJECTED;
    rc = insert_rejected(js, req, &ij, source, reqjson, errstr, errstr_size);
    if (rc == 0)
        util_strlcpy(errstr, ij.reason, errstr_size);
    return rc;
}

/* One try inside the caller's transaction: a cancel, or a job - and then the cancels of it that
 * were recorded before it arrived (jobstore_cancel_arrived), under the lock of its id. */
static int intake_once(jobstore *js, const request *req, long memory_mb, int vcpus,
                       const char *source, const char *reqjson, jobstore_intake *result,
                       char *errstr, size_t errstr_size)
{
    char why[1024] = "";
    int rc;

    if (req->action == ACTION_CANCEL)
        return jobstore_cancel_intake(js, req, source, result, errstr, errstr_size);
    if ((rc = jobstore_lock_job_id(js, req->request_id, errstr, errstr_size)) < 0)
        return rc;
    rc = intake_job_once(js, req, memory_mb, vcpus, source, reqjson, result, errstr, errstr_size);
    if (rc < 0 || *result == JOBSTORE_DUPLICATE)
        return rc;
    if (*result == JOBSTORE_REJECTED) /* its reason, for the caller */
        util_strlcpy(why, errstr, sizeof(why));
    rc = jobstore_cancel_arrived(js, req->request_id, source, errstr, errstr_size);
    if (rc == 0 && *result == JOBSTORE_REJECTED)
        util_strlcpy(errstr, why, errstr_size);
    return rc;
}

int jobstore_intake_request(jobstore *js, const request *req, long memory_mb, int vcpus,
                            const char *source, jobstore_intake *result, char *errstr,
                            size_t errstr_size)
{
    char *reqjson = request_to_json(req);
    int rc = 0, tries;

    if (reqjson == NULL) {
        util_errf(errstr, errstr_size, "request %s: out of memory", req->request_id);
        return -JOBSTORE_EDB;
    }
    for (tries = 0; tries < 3; tries++) {
        if ((rc = jobstore_begin(js, errstr, errstr_size)) < 0)
            break;
        rc = intake_once(js, req, memory_mb, vcpus, source, reqjson, result, errstr, errstr_size);
        if ((rc = jobstore_end(js, rc, errstr, errstr_size)) == 0 || strcmp(js->sqlstate, "23505"))
            break;
        /* A unique index refused the job: another worker recorded the request (or another job
         * for the guest) meanwhile. Look again. */
    }
    if (tries == 3) {
        util_errf(errstr, errstr_size, "request %s: kept racing with other workers",
                  req->request_id);
        rc = -JOBSTORE_EDB;
    }
    free(reqjson);
    return rc;
}

int jobstore_intake_reject(jobstore *js, const char *request_id, const char *reason,
                           const char *source, char *errstr, size_t errstr_size)
{
    char *why = NULL;
    int rc, first = 0;

    if (request_id == NULL || !util_is_uuid(request_id))
        return 0;
    if ((rc = jobstore_text(reason, &why, errstr, errstr_size)) == 0 &&
        (rc = jobstore_begin(js, errstr, errstr_size)) == 0) {
        const char *p[2] = {request_id, why};
        /* One event per request id: a redelivered message is recorded already. */
        rc = jobstore_cmd(js, "record rejected request",
                          "INSERT INTO rejected_requests (request_id, reason) SELECT "
                          "$1::uuid, $2 WHERE NOT EXISTS (SELECT 1 FROM jobs WHERE request_id "
                          "= $1::uuid) ON CONFLICT (request_id) DO NOTHING",
                          2, p, &first, errstr, errstr_size);
        if (rc == 0 && first)
            rc = jobstore_outbox_add(js, request_id, "", EVENT_JOB_REJECTED, source,
                                     json_pack("{s:s}", "message", why), errstr, errstr_size);
        rc = jobstore_end(js, rc, errstr, errstr_size);
    }
    free(why);
    return rc;
}
