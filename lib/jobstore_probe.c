/* jobstore_probe: the cleanup and dry_run requests (lib/probe.h) a worker runs, their leases and
 * their results (table probes, migrations/0008_probes.sql). */
#include "jobstore.h"
#include "jobstore_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "event.h"
#include "util.h"

int jobstore_probe_add(jobstore *js, const char *request_id, const char *kind,
                       const char *submitted_by, const char *request, char *errstr,
                       size_t errstr_size)
{
    const char *p[4] = {request_id, kind, submitted_by, request};

    /* A message taken twice (redelivered before its offset was committed) is one probe. */
    return jobstore_cmd(js, "record probe",
                        "INSERT INTO probes (request_id, kind, submitted_by, request) VALUES "
                        "($1::uuid, $2, $3, $4::jsonb) ON CONFLICT (request_id) DO NOTHING",
                        4, p, NULL, errstr, errstr_size);
}

/* Writes the probe.completed event of probe ID (KIND, BY) that ended STATUS (ERROR: why not
 * succeeded) inside the caller's transaction. */
static int completed_event(jobstore *js, const char *id, const char *kind, const char *by,
                           const char *status, const char *error, const char *source, char *errstr,
                           size_t errstr_size)
{
    json_t *data = json_pack("{s:s,s:s,s:s,s:s}", "request_id", id, "kind", kind, "status", status,
                             "submitted_by", by);

    if (data != NULL && error != NULL && error[0] != '\0')
        json_object_set_new(data, "message", json_string(error));
    return jobstore_outbox_add(js, id, NULL, EVENT_PROBE_COMPLETED, source, data, errstr,
                               errstr_size);
}

int jobstore_probe_reject(jobstore *js, const char *request_id, const char *kind,
                          const char *submitted_by, const char *why, const char *source,
                          char *errstr, size_t errstr_size)
{
    char *text = NULL;
    int rc = jobstore_text(why, &text, errstr, errstr_size), added = 0;
    const char *p[4] = {request_id, kind, submitted_by, text};

    if (rc == 0 && (rc = jobstore_begin(js, errstr, errstr_size)) == 0) {
        rc = jobstore_cmd(js, "record refused probe",
                          "INSERT INTO probes (request_id, kind, submitted_by, request, status, "
                          "error, finished_at) VALUES ($1::uuid, $2, $3, '{}', 'rejected', $4, "
                          "now()) ON CONFLICT (request_id) DO NOTHING",
                          4, p, &added, errstr, errstr_size);
        if (rc == 0 && added)
            rc = completed_event(js, request_id, kind, submitted_by, "rejected", text, source,
                                 errstr, errstr_size);
        rc = jobstore_end(js, rc, errstr, errstr_size);
    }
    free(text);
    return rc;
}

int jobstore_probe_claim(jobstore *js, const char *owner, int lease_s, int max_attempts,
                         const char *source, jobstore_probe *out, char *errstr, size_t errstr_size)
{
    char lease[16], max[16];
    const char *p[3] = {owner, lease, max};
    PGresult *res = NULL;
    int rc;

    memset(out, 0, sizeof(*out));
    snprintf(lease, sizeof(lease), "%d", lease_s);
    snprintf(max, sizeof(max), "%d", max_attempts);
    if ((rc = jobstore_begin(js, errstr, errstr_size)) != 0)
        return rc;
    /* A probe whose runners all died MAX times (it may be what kills them) ends failed. */
    rc = jobstore_row(js, "give up probe",
                      "UPDATE probes SET status = 'failed', finished_at = now(), error = format("
                      "'given up: the workers running it stopped %s times without finishing "
                      "(last: %s)', attempts, lease_owner) WHERE request_id = (SELECT request_id "
                      "FROM probes WHERE status = 'running' AND lease_until < now() AND attempts "
                      ">= $1::int ORDER BY created_at LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING "
                      "request_id, kind, submitted_by, error",
                      1, p + 2, &res, errstr, errstr_size);
    if (rc == 1) {
        rc =
            completed_event(js, PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1), PQgetvalue(res, 0, 2),
                            "failed", PQgetvalue(res, 0, 3), source, errstr, errstr_size);
        PQclear(res);
        res = NULL;
    }
    if (rc == 0)
        rc = jobstore_row(js, "claim probe",
                          "UPDATE probes SET status = 'running', lease_owner = $1, lease_until = "
                          "now() + make_interval(secs => $2::int), attempts = attempts + 1, "
                          "started_at = coalesce(started_at, now()) WHERE request_id = (SELECT "
                          "request_id FROM probes WHERE status = 'queued' OR (status = 'running' "
                          "AND lease_until < now() AND attempts < $3::int) ORDER BY created_at "
                          "LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING request_id, kind, "
                          "request::text, attempts",
                          3, p, &res, errstr, errstr_size);
    if (rc == 1) {
        util_strlcpy(out->request_id, PQgetvalue(res, 0, 0), sizeof(out->request_id));
        util_strlcpy(out->kind, PQgetvalue(res, 0, 1), sizeof(out->kind));
        out->request = strdup(PQgetvalue(res, 0, 2));
        out->attempts = atoi(PQgetvalue(res, 0, 3));
        PQclear(res);
        if (out->request == NULL) {
            util_errf(errstr, errstr_size, "out of memory");
            rc = -JOBSTORE_EDB;
        }
    }
    rc = jobstore_end(js, rc < 0 ? rc : 0, errstr, errstr_size);
    if (rc < 0) {
        free(out->request);
        out->request = NULL;
        return rc;
    }
    return out->request != NULL;
}

int jobstore_probe_renew(jobstore *js, const char *request_id, const char *owner, int lease_s,
                         char *errstr, size_t errstr_size)
{
    char lease[16];
    const char *p[3] = {request_id, owner, lease};
    int rows = 0, rc;

    snprintf(lease, sizeof(lease), "%d", lease_s);
    rc = jobstore_cmd(js, "renew probe lease",
                      "UPDATE probes SET lease_until = now() + make_interval(secs => $3::int) "
                      "WHERE request_id = $1::uuid AND lease_owner = $2 AND status = 'running'",
                      3, p, &rows, errstr, errstr_size);
    if (rc == 0 && rows == 0) {
        util_errf(errstr, errstr_size, "probe %s: lease lost", request_id);
        return -JOBSTORE_ELEASE;
    }
    return rc;
}

int jobstore_probe_finish(jobstore *js, const char *request_id, const char *owner, int ok,
                          const json_t *result, const char *error, const char *source, char *errstr,
                          size_t errstr_size)
{
    char *res_text = result ? json_dumps(result, JSON_COMPACT) : NULL, *err_text = NULL;
    const char *p[5] = {request_id, owner, ok ? "succeeded" : "failed", res_text, NULL};
    PGresult *res = NULL;
    int rc;

    if (result != NULL && res_text == NULL) {
        util_errf(errstr, errstr_size, "out of memory");
        return -JOBSTORE_EDB;
    }
    if ((rc = jobstore_text(ok ? NULL : error, &err_text, errstr, errstr_size)) == 0 &&
        (rc = jobstore_begin(js, errstr, errstr_size)) == 0) {
        p[4] = err_text;
        rc = jobstore_row(js, "finish probe",
                          "UPDATE probes SET status = $3, result = $4::jsonb, error = $5, "
                          "finished_at = now(), lease_until = NULL WHERE request_id = $1::uuid "
                          "AND lease_owner = $2 AND status = 'running' RETURNING kind, "
                          "submitted_by",
                          5, p, &res, errstr, errstr_size);
        if (rc == 0) {
            util_errf(errstr, errstr_size, "probe %s: lease lost", request_id);
            rc = -JOBSTORE_ELEASE;
        } else if (rc == 1) {
            rc = completed_event(js, request_id, PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1), p[2],
                                 err_text, source, errstr, errstr_size);
            PQclear(res);
        }
        rc = jobstore_end(js, rc, errstr, errstr_size);
    }
    free(err_text);
    free(res_text);
    return rc;
}

int jobstore_probe_json(jobstore *js, const char *request_id, json_t **out, char *errstr,
                        size_t errstr_size)
{
    const char *p[1] = {request_id};

    return jobstore_json_query(
        js, "read probe",
        "SELECT json_build_object('request_id', request_id, 'kind', kind, 'submitted_by', "
        "submitted_by, 'status', status, 'result', result, 'error', coalesce(error, ''), "
        "'lease_owner', coalesce(lease_owner, ''), 'attempts', attempts, 'created_at', "
        "created_at, 'finished_at', finished_at) FROM probes WHERE request_id = $1::uuid",
        1, p, out, errstr, errstr_size);
}

int jobstore_probe_cleanups_settle(jobstore *js, const char *host, const char *guest, int *pending,
                                   char *errstr, size_t errstr_size)
{
    const char *p[2] = {host, guest};
    PGresult *res = NULL;
    int rc = jobstore_begin(js, errstr, errstr_size);

    /* Waits for the row locks of the sweeps running now (jobstore_cleanup_next holds each
     * cleanup it works on FOR UPDATE until its end), counts what they left pending, and lets
     * go at once. */
    *pending = 0;
    if (rc == 0) {
        rc = jobstore_run(js, "wait for running cleanups",
                          "SELECT id FROM host_cleanups WHERE status = 'pending' AND ($1::text IS "
                          "NULL OR lower(host) = lower($1)) AND ($2::text IS NULL OR lower(guest) "
                          "= lower($2)) FOR UPDATE",
                          2, p, PGRES_TUPLES_OK, &res, errstr, errstr_size);
        if (rc == 0) {
            *pending = PQntuples(res);
            PQclear(res);
        }
        jobstore_rollback(js);
    }
    return rc;
}
