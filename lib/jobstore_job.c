/* jobstore_job: a job's execution status: claimed by a worker, finished. */
#include "jobstore.h"
#include "jobstore_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "event.h"
#include "util.h"

int jobstore_job_claim(jobstore *js, const char *owner, int lease_s, int max_per_host, job *out,
                       char *errstr, size_t errstr_size)
{
    char ls[16], mp[16], lock[32];
    const char *p[3] = {owner, ls, mp}, *lp[1] = {lock};
    PGresult *res;
    int i, rc;

    snprintf(ls, sizeof(ls), "%d", lease_s);
    snprintf(mp, sizeof(mp), "%d", max_per_host > 0 ? max_per_host : 1000000);
    snprintf(lock, sizeof(lock), "%d", LOCK_CLAIM);
    if ((rc = jobstore_begin(js, errstr, errstr_size)) < 0)
        return rc;
    /* One claim at a time, so that the per-host limit cannot be overshot by a race. */
    rc = jobstore_run(js, "claim lock", "SELECT pg_advisory_xact_lock($1::bigint)", 1, lp,
                      PGRES_TUPLES_OK, NULL, errstr, errstr_size);
    if (rc < 0) {
        jobstore_rollback(js);
        return rc;
    }
    rc = jobstore_run(
        js, "claim job",
        "WITH c AS (SELECT j.id, j.status AS prev FROM jobs j WHERE (j.status = 'queued' OR "
        "(j.status = 'running' AND j.lease_expires < now())) AND (SELECT count(*) FROM jobs "
        "r WHERE r.status = 'running' AND r.lease_expires >= now() AND r.id <> j.id AND "
        "j.src_host IN (r.src_host, r.tgt_host)) < $3::integer AND (SELECT count(*) FROM "
        "jobs r WHERE r.status = 'running' AND r.lease_expires >= now() AND r.id <> j.id "
        "AND j.tgt_host IN (r.src_host, r.tgt_host)) < $3::integer ORDER BY j.created_at "
        "LIMIT 1 FOR UPDATE OF j SKIP LOCKED) "
        "UPDATE jobs j SET status = 'running', lease_owner = $1, lease_expires = now() + "
        "make_interval(secs => $2::integer), started_at = coalesce(j.started_at, now()) "
        "FROM c WHERE j.id = c.id RETURNING j.id, coalesce(j.replay_of::text, ''), "
        "j.attempt, j.guest, j.src_host, j.tgt_host, j.mode, "
        "coalesce(j.config_version, 0), c.prev, j.sequential",
        3, p, PGRES_TUPLES_OK, &res, errstr, errstr_size);
    if (rc < 0) {
        jobstore_rollback(js);
        return rc;
    }
    if ((rc = jobstore_commit(js, errstr, errstr_size)) < 0) {
        PQclear(res);
        return rc;
    }
    if (PQntuples(res) == 0) {
        PQclear(res);
        return 0;
    }
    memset(out, 0, sizeof(*out));
    util_strlcpy(out->id, PQgetvalue(res, 0, 0), sizeof(out->id));
    util_strlcpy(out->replay_of, PQgetvalue(res, 0, 1), sizeof(out->replay_of));
    out->attempt = atoi(PQgetvalue(res, 0, 2));
    util_strlcpy(out->guest, PQgetvalue(res, 0, 3), sizeof(out->guest));
    util_strlcpy(out->src_host, PQgetvalue(res, 0, 4), sizeof(out->src_host));
    util_strlcpy(out->tgt_host, PQgetvalue(res, 0, 5), sizeof(out->tgt_host));
    mode_from_string(PQgetvalue(res, 0, 6), &out->mode);
    out->config_version = atol(PQgetvalue(res, 0, 7));
    out->takeover = strcmp(PQgetvalue(res, 0, 8), "running") == 0;
    out->sequential = PQgetvalue(res, 0, 9)[0] == 't';
    PQclear(res);
    {
        const char *q[1] = {out->id};
        rc = jobstore_run(js, "read steps",
                          "SELECT step, status FROM job_steps WHERE job_id = $1::uuid", 1, q,
                          PGRES_TUPLES_OK, &res, errstr, errstr_size);
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
    }
    return 1;
}

int jobstore_job_finish(jobstore *js, const job *j, job_status status, const char *error,
                        long elapsed_ms, const char *deployed_doc, const char *system_name,
                        const char *owner, const char *source, char *errstr, size_t errstr_size)
{
    char *reason = error ? jobstore_text_clean(error) : NULL;
    const char *p[3] = {j->id, job_status_to_string(status), reason};
    const char *c[3] = {system_name ? system_name : "", deployed_doc, j->id};
    int rc;

    if (error && reason == NULL) {
        util_errf(errstr, errstr_size, "job %s: out of memory", j->id);
        return -JOBSTORE_EDB;
    }
    if ((rc = jobstore_lease_begin(js, j, owner, errstr, errstr_size)) < 0) {
        free(reason);
        return rc;
    }
    rc = jobstore_cmd(js, "finish job",
                      "UPDATE jobs SET status = $2, error = $3, finished_at = now(), lease_owner = "
                      "NULL, lease_expires = NULL WHERE id = $1::uuid",
                      3, p, NULL, errstr, errstr_size);
    if (rc == 0 && deployed_doc)
        rc = jobstore_cmd(js, "store deployed config",
                          "INSERT INTO configs (system_name, state, document, note) VALUES ($1, "
                          "'migration-deployed', $2, 'deployed by job ' || $3)",
                          3, c, NULL, errstr, errstr_size);
    if (rc == 0)
        rc = jobstore_outbox_add(
            js, j->id, j->guest, status == JOB_SUCCEEDED ? EVENT_JOB_SUCCEEDED : EVENT_JOB_FAILED,
            source,
            json_pack("{s:s,s:s,s:s,s:s,s:I,s:i}", "guest", j->guest, "src_host", j->src_host,
                      "tgt_host", j->tgt_host, "message",
                      status == JOB_SUCCEEDED ? "migration completed"
                                              : (reason ? reason : "failed"),
                      "elapsed_ms", (json_int_t)elapsed_ms, "attempt", j->attempt),
            errstr, errstr_size);
    free(reason);
    return jobstore_end(js, rc, errstr, errstr_size);
}
