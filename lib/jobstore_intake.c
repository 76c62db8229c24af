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

/* Records a rejected request as a job row (so a redelivery stays a duplicate) plus its event. */
static int record_rejected(jobstore *js, const request *req, const char *guest, const char *reason,
                           const char *holder, const char *source, const char *reqjson,
                           char *errstr, size_t errstr_size)
{
    const char *p[9] = {req->request_id, req->action == ACTION_REPLAY ? "replay" : "migrate_guest",
                        guest,           mode_to_string(req->mode),
                        req->src_host,   req->tgt_host,
                        reason,          req->submitted_by,
                        reqjson};
    json_t *data;

    if (jobstore_cmd(
            js, "record rejected job",
            "INSERT INTO jobs (id, request_id, action, guest, mode, src_host, tgt_host, status, "
            "error, submitted_by, request, finished_at) VALUES ($1::uuid, $1::uuid, $2, $3, $4, "
            "$5, $6, 'rejected', $7, $8, $9::jsonb, now())",
            9, p, errstr, errstr_size) < 0)
        return -JOBSTORE_EDB;
    data = json_pack("{s:s}", "message", reason);
    if (holder && *holder)
        json_object_set_new(data, "holder_job_id", json_string(holder));
    return jobstore_outbox_add(js, req->request_id, guest, EVENT_JOB_REJECTED, source, data, errstr,
                               errstr_size);
}

int jobstore_reject_unparsed(jobstore *js, const char *request_id, const char *reason,
                             const char *source, char *errstr, size_t errstr_size)
{
    const char *p[2] = {request_id, reason};
    PGresult *res;
    int rc, first;

    if (request_id == NULL || !util_is_uuid(request_id))
        return 0;
    if (jobstore_begin(js, errstr, errstr_size) < 0)
        return -JOBSTORE_EDB;
    /* One event per request id: a redelivered message is recorded already. */
    res = jobstore_run(js, "record rejected request",
                       "INSERT INTO rejected_requests (request_id, reason) VALUES ($1::uuid, $2) "
                       "ON CONFLICT (request_id) DO NOTHING",
                       2, p, PGRES_COMMAND_OK, NULL, errstr, errstr_size);
    if (res == NULL) {
        jobstore_rollback(js);
        return -JOBSTORE_EDB;
    }
    first = atoi(PQcmdTuples(res)) > 0;
    PQclear(res);
    rc = first ? jobstore_outbox_add(js, request_id, "", EVENT_JOB_REJECTED, source,
                                     json_pack("{s:s}", "message", reason), errstr, errstr_size)
               : 0;
    if (rc < 0) {
        jobstore_rollback(js);
        return rc;
    }
    return jobstore_commit(js, errstr, errstr_size);
}

/* Fills INCLUDED for a replay of the job ORIG (its steps read inside the transaction). */
static int replay_plan(jobstore *js, const request *req, const char *orig_status,
                       int included[STEP__COUNT], char *reason, size_t reason_size, char *errstr,
                       size_t errstr_size)
{
    const char *p[1] = {req->job_id};
    PGresult *res;
    int orig_inc[STEP__COUNT] = {0}, start = -1, i, s;
    step_state st[STEP__COUNT];

    res = jobstore_run(js, "read replayed steps",
                       "SELECT step, status FROM job_steps WHERE job_id = $1", 1, p,
                       PGRES_TUPLES_OK, NULL, errstr, errstr_size);
    if (res == NULL)
        return -JOBSTORE_EDB;
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
    memset(included, 0, sizeof(int) * STEP__COUNT);
    if (req->has_step) {
        included[req->step] = 1;
        return 0;
    }
    if (req->has_from_step) {
        /* The spec's way: the named step and every step after it in the spec's order. */
        for (s = req->from_step; s < STEP__COUNT; s++)
            included[s] = 1;
        return 0;
    }
    /* Resume: every step of the earlier attempt that did not succeed (the plan may have run
     * them in another order than the spec's, so "after the failed step" is not enough). */
    for (s = 0; s < STEP__COUNT; s++) {
        included[s] = orig_inc[s] && st[s] != STEP_SUCCEEDED && st[s] != STEP_SKIPPED;
        if (included[s])
            start = s;
    }
    if (start < 0) {
        util_errf(reason, reason_size,
                  "job %s (%s) has no failed or unfinished step to resume; name one with "
                  "--step or --from-step",
                  req->job_id, orig_status);
        return 1;
    }
    return 0;
}

int jobstore_job_create(jobstore *js, const request *req, long memory_mb, int vcpus,
                        const char *source, jobstore_intake *result, char *errstr,
                        size_t errstr_size)
{
    char *reqjson = request_to_json(req);
    char guest[REQUEST_NAME_MAX], src[REQUEST_NAME_MAX], tgt[REQUEST_NAME_MAX];
    char mem[32], cpus[16], attempt[16] = "1", cfg[32], reason[600] = "";
    char sqlstate[6];
    int included[STEP__COUNT], s, rc = -JOBSTORE_EDB, tries;
    migrate_mode mode = req->mode;
    PGresult *res = NULL;
    const char *sequential = req->sequential ? "true" : "false";

    if (reqjson == NULL)
        return -JOBSTORE_EDB;
    for (tries = 0; tries < 3; tries++) {
        const char *idp[1] = {req->request_id};
        int dup, prc;
        char holder[REQUEST_UUID_LEN] = "";

        util_strlcpy(guest, req->guest, sizeof(guest));
        util_strlcpy(src, req->src_host, sizeof(src));
        util_strlcpy(tgt, req->tgt_host, sizeof(tgt));
        snprintf(mem, sizeof(mem), "%ld", memory_mb);
        snprintf(cpus, sizeof(cpus), "%d", vcpus);
        snprintf(cfg, sizeof(cfg), "%ld", req->config_version);
        reason[0] = '\0';
        if (jobstore_begin(js, errstr, errstr_size) < 0)
            goto out;
        res = jobstore_run(js, "find request", "SELECT 1 FROM jobs WHERE request_id = $1::uuid", 1,
                           idp, PGRES_TUPLES_OK, NULL, errstr, errstr_size);
        if (res == NULL)
            goto fail;
        dup = PQntuples(res) > 0;
        PQclear(res);
        res = NULL;
        if (dup) {
            jobstore_rollback(js);
            *result = JOBSTORE_DUPLICATE;
            rc = 0;
            goto out;
        }
        if (req->action == ACTION_REPLAY) {
            const char *p[1] = {req->job_id};
            res =
                jobstore_run(js, "find replayed job",
                             "SELECT guest, mode, src_host, tgt_host, attempt, status, memory_mb, "
                             "vcpus, coalesce(config_version, 0), sequential FROM jobs WHERE id = "
                             "$1::uuid",
                             1, p, PGRES_TUPLES_OK, NULL, errstr, errstr_size);
            if (res == NULL)
                goto fail;
            if (PQntuples(res) == 0) {
                util_errf(reason, sizeof(reason), "job %s does not exist (see 'kvmove jobs')",
                          req->job_id);
            } else {
                const char *st = PQgetvalue(res, 0, 5);
                util_strlcpy(guest, PQgetvalue(res, 0, 0), sizeof(guest));
                mode_from_string(PQgetvalue(res, 0, 1), &mode);
                util_strlcpy(src, PQgetvalue(res, 0, 2), sizeof(src));
                util_strlcpy(tgt, PQgetvalue(res, 0, 3), sizeof(tgt));
                snprintf(attempt, sizeof(attempt), "%d", atoi(PQgetvalue(res, 0, 4)) + 1);
                snprintf(mem, sizeof(mem), "%s", PQgetvalue(res, 0, 6));
                snprintf(cpus, sizeof(cpus), "%s", PQgetvalue(res, 0, 7));
                if (req->config_version == 0)
                    snprintf(cfg, sizeof(cfg), "%s", PQgetvalue(res, 0, 8));
                if (!req->sequential)
                    sequential = PQgetvalue(res, 0, 9)[0] == 't' ? "true" : "false";
                if (strcmp(st, "queued") == 0 || strcmp(st, "running") == 0)
                    util_errf(reason, sizeof(reason),
                              "job %s is still %s; wait for it to end before replaying it",
                              req->job_id, st);
                else if (strcmp(st, "rejected") == 0)
                    util_errf(reason, sizeof(reason),
                              "job %s was rejected and never ran; submit a new request",
                              req->job_id);
                else {
                    prc = replay_plan(js, req, st, included, reason, sizeof(reason), errstr,
                                      errstr_size);
                    if (prc < 0)
                        goto fail;
                }
            }
            PQclear(res);
            res = NULL;
        } else {
            for (s = 0; s < STEP__COUNT; s++)
                included[s] = !req->has_step || req->step == (step_id)s;
        }
        if (reason[0] == '\0') {
            const char *p[1] = {guest};
            res = jobstore_run(
                js, "find active job",
                "SELECT id FROM jobs WHERE guest = $1 AND status IN ('queued', 'running')", 1, p,
                PGRES_TUPLES_OK, NULL, errstr, errstr_size);
            if (res == NULL)
                goto fail;
            if (PQntuples(res) > 0) {
                util_strlcpy(holder, PQgetvalue(res, 0, 0), sizeof(holder));
                util_errf(reason, sizeof(reason),
                          "guest %s already has an active job %s; wait for it to end", guest,
                          holder);
            }
            PQclear(res);
            res = NULL;
        }
        if (reason[0] != '\0') {
            request r2 = *req;
            r2.mode = mode;
            util_strlcpy(r2.src_host, src, sizeof(r2.src_host));
            util_strlcpy(r2.tgt_host, tgt, sizeof(r2.tgt_host));
            if (record_rejected(js, &r2, guest, reason, holder, source, reqjson, errstr,
                                errstr_size) < 0)
                goto fail;
            if (jobstore_commit(js, errstr, errstr_size) < 0)
                goto out;
            util_strlcpy(errstr, reason, errstr_size);
            *result = JOBSTORE_REJECTED;
            rc = 0;
            goto out;
        }
        {
            const char *p[16] = {req->request_id,
                                 req->action == ACTION_REPLAY ? req->job_id : NULL,
                                 attempt,
                                 req->action == ACTION_REPLAY ? "replay" : "migrate_guest",
                                 guest,
                                 mode_to_string(mode),
                                 src,
                                 tgt,
                                 req->has_step ? step_to_string(req->step) : NULL,
                                 req->has_from_step ? step_to_string(req->from_step) : NULL,
                                 strcmp(cfg, "0") == 0 ? NULL : cfg,
                                 mem,
                                 cpus,
                                 req->submitted_by,
                                 reqjson,
                                 sequential};
            res = jobstore_run(
                js, "insert job",
                "INSERT INTO jobs (id, request_id, replay_of, attempt, action, guest, mode, "
                "src_host, tgt_host, only_step, from_step, config_version, memory_mb, "
                "vcpus, status, submitted_by, request, sequential) VALUES ($1::uuid, "
                "$1::uuid, $2::uuid, $3::integer, $4, $5, $6, $7, $8, $9, $10, "
                "$11::bigint, $12::bigint, $13::integer, 'queued', $14, $15::jsonb, "
                "$16::boolean)",
                16, p, PGRES_COMMAND_OK, sqlstate, errstr, errstr_size);
            if (res == NULL) {
                jobstore_rollback(js);
                if (strcmp(sqlstate, "23505") == 0)
                    continue; /* raced with another worker: look again */
                goto out;
            }
            PQclear(res);
            res = NULL;
        }
        for (s = 0; s < STEP__COUNT; s++) {
            char seq[8];
            const char *p[4] = {req->request_id, step_to_string((step_id)s), seq,
                                included[s] ? "pending" : NULL};
            if (!included[s])
                continue;
            snprintf(seq, sizeof(seq), "%d", s + 1);
            if (jobstore_cmd(
                    js, "insert step",
                    "INSERT INTO job_steps (job_id, step, seq, status) VALUES ($1::uuid, $2, "
                    "$3::integer, $4)",
                    4, p, errstr, errstr_size) < 0)
                goto fail;
        }
        {
            json_t *data = json_pack("{s:s,s:s,s:s,s:s,s:o,s:i,s:s}", "guest", guest, "mode",
                                     mode_to_string(mode), "src_host", src, "tgt_host", tgt,
                                     "steps", steps_json(included), "attempt", atoi(attempt),
                                     "message", "migration request accepted");
            if (req->action == ACTION_REPLAY)
                json_object_set_new(data, "replay_of", json_string(req->job_id));
            if (jobstore_outbox_add(js, req->request_id, guest, EVENT_JOB_ACCEPTED, source, data,
                                    errstr, errstr_size) < 0)
                goto fail;
        }
        if (jobstore_cmd(js, "notify", "NOTIFY kvmove_jobs", 0, NULL, errstr, errstr_size) < 0)
            goto fail;
        if (jobstore_commit(js, errstr, errstr_size) < 0)
            goto out;
        *result = JOBSTORE_CREATED;
        rc = 0;
        goto out;
    }
    util_errf(errstr, errstr_size, "request %s: kept racing with other workers", req->request_id);
    goto out;
fail:
    PQclear(res);
    jobstore_rollback(js);
out:
    free(reqjson);
    return rc;
}
