/* jobstore_step: a job's step records (begin, end) with their events. */
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
