/* jobstore_step: a job's step records (begin, end) with their events, and the bridges its
 * CREATE steps made on the target (migrations/0009_created_bridges.sql). */
#include "jobstore.h"
#include "jobstore_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "event.h"
#include "util.h"

/* A step record and its event are one statement (one round trip, one commit) guarded by the
 * lease (JOBSTORE_LEASE_CTE): $3 step, $4 event id, $5 event, then the step's own values. */
#define STEP_EVENT                                                                                 \
    "e AS (INSERT INTO outbox (event_id, job_id, topic, key, payload) SELECT $4::uuid, id, "       \
    "'kvmove.events', $1, $5::jsonb FROM lease RETURNING 1) "

int jobstore_step_begin(jobstore *js, const job *j, step_id step, const char *host,
                        const char *owner, const char *source, char *errstr, size_t errstr_size)
{
    char id[40], *ev = NULL;
    const char *p[4] = {step_to_string(step), id, NULL, host};
    int rc = jobstore_outbox_event(j->id, j->guest, EVENT_STEP_STARTED, source,
                                   json_pack("{s:s,s:s,s:s}", "step", step_to_string(step), "host",
                                             host, "message", "step started"),
                                   id, &ev, errstr, errstr_size);

    p[2] = ev;
    if (rc == 0)
        rc = jobstore_lease_exec(
            js, j, owner, "begin step",
            "WITH " JOBSTORE_LEASE_CTE ", s AS (UPDATE job_steps SET status = 'running', host = "
            "$6, attempts = attempts + 1, started_at = now(), finished_at = NULL WHERE job_id = "
            "(SELECT id FROM lease) AND step = $3 RETURNING 1), " STEP_EVENT
            "SELECT count(*) FROM lease",
            4, p, errstr, errstr_size);
    free(ev);
    return rc;
}

static json_t *lines_json(const char *output)
{
    json_t *a = json_array();
    const char *p = output;

    while (p && *p) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        if (n > 0)
            json_array_append_new(a, json_stringn(p, n));
        p = nl ? nl + 1 : NULL;
    }
    return a;
}

int jobstore_step_end(jobstore *js, job *j, step_id step, const char *host, step_state state,
                      const char *message, const char *output, long elapsed_ms, const char *owner,
                      const char *source, char *errstr, size_t errstr_size)
{
    char el[32], id[40], *msg = NULL, *out = NULL, *ev = NULL;
    const char *type = state == STEP_SUCCEEDED ? EVENT_STEP_COMPLETED
                       : state == STEP_SKIPPED ? EVENT_STEP_SKIPPED
                                               : EVENT_STEP_FAILED;
    int rc;

    snprintf(el, sizeof(el), "%ld", elapsed_ms);
    if ((rc = jobstore_text(message, &msg, errstr, errstr_size)) == 0 &&
        (rc = jobstore_text(output, &out, errstr, errstr_size)) == 0 &&
        (rc = jobstore_outbox_event(j->id, j->guest, type, source,
                                    json_pack("{s:s,s:s,s:s,s:I,s:o}", "step", step_to_string(step),
                                              "host", host, "message", msg, "elapsed_ms",
                                              (json_int_t)elapsed_ms, "lines", lines_json(out)),
                                    id, &ev, errstr, errstr_size)) == 0) {
        const char *p[7] = {
            step_to_string(step), id, ev, step_state_to_string(state), msg, out, el};
        rc = jobstore_lease_exec(
            js, j, owner, "end step",
            "WITH " JOBSTORE_LEASE_CTE ", s AS (UPDATE job_steps SET status = $6, message = $7, "
            "output = output || $8, finished_at = now(), elapsed_ms = $9::bigint WHERE job_id = "
            "(SELECT id FROM lease) AND step = $3 RETURNING 1), " STEP_EVENT
            "SELECT count(*) FROM lease",
            7, p, errstr, errstr_size);
        if (rc == 0)
            j->state[step] = state;
    }
    free(msg);
    free(out);
    free(ev);
    return rc;
}

int jobstore_step_done_before(jobstore *js, const job *j, step_id step, int *done, char *errstr,
                              size_t errstr_size)
{
    const char *p[2] = {j->id, step_to_string(step)};
    long n = 0;
    int rc = jobstore_value(js, "find the step in earlier attempts",
                            "WITH RECURSIVE earlier(id) AS (SELECT replay_of FROM jobs WHERE id = "
                            "$1::uuid UNION SELECT j.replay_of FROM jobs j JOIN earlier e ON j.id "
                            "= e.id) SELECT count(*) FROM job_steps WHERE job_id IN (SELECT id "
                            "FROM earlier) AND step = $2 AND status = 'succeeded'",
                            2, p, &n, errstr, errstr_size);

    *done = rc == 0 && n > 0;
    return rc;
}

int jobstore_step_bridges_add(jobstore *js, const job *j, step_id step, const char *owner,
                              const char *names, char *errstr, size_t errstr_size)
{
    const char *p[2] = {step_to_string(step), names ? names : ""};

    /* The union with what an earlier try of the step in this job (a retry, a takeover) recorded:
     * a bridge it created is the job's although this try finds it there. */
    return jobstore_lease_exec(
        js, j, owner, "record the bridges a step creates",
        "WITH " JOBSTORE_LEASE_CTE ", b AS (INSERT INTO job_created_bridges AS r (job_id, step, "
        "bridges) SELECT id, $3, array_remove(string_to_array($4, E'\\n'), '') FROM lease ON "
        "CONFLICT (job_id, step) DO UPDATE SET bridges = ARRAY(SELECT DISTINCT x FROM "
        "unnest(r.bridges || EXCLUDED.bridges) x ORDER BY x), recorded_at = now() RETURNING 1) "
        "SELECT count(*) FROM lease",
        2, p, errstr, errstr_size);
}

int jobstore_step_bridges_created(jobstore *js, const job *j, step_id step, char **names,
                                  char *errstr, size_t errstr_size)
{
    const char *p[2] = {j->id, step_to_string(step)};
    PGresult *res = NULL;
    int rc;

    *names = NULL;
    rc = jobstore_row(js, "read the bridges a job created",
                      "WITH RECURSIVE chain (id, replay_of) AS (SELECT id, replay_of FROM jobs "
                      "WHERE id = $1::uuid UNION ALL SELECT j.id, j.replay_of FROM jobs j JOIN "
                      "chain c ON j.id = c.replay_of), r AS (SELECT bridges FROM "
                      "job_created_bridges WHERE job_id IN (SELECT id FROM chain) AND step = $2) "
                      "SELECT (SELECT count(*) FROM r), (SELECT coalesce(string_agg(DISTINCT x, "
                      "E'\\n' ORDER BY x), '') FROM r, unnest(r.bridges) x)",
                      2, p, &res, errstr, errstr_size);
    if (rc == 1 && PQnfields(res) == 2 && atol(PQgetvalue(res, 0, 0)) > 0 &&
        (*names = strdup(PQgetvalue(res, 0, 1))) == NULL) {
        util_errf(errstr, errstr_size, "database: bridge list: out of memory");
        rc = -JOBSTORE_EDB;
    }
    PQclear(res);
    return rc < 0 ? rc : 0;
}
