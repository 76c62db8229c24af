/* jobstore_step: a job's step records (begin, end) with their events. */
#include "jobstore.h"
#include "jobstore_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "event.h"
#include "util.h"

int jobstore_step_begin(jobstore *js, const job *j, step_id step, const char *host,
                        const char *owner, const char *source, char *errstr, size_t errstr_size)
{
    const char *p[3] = {j->id, step_to_string(step), host};
    int rc = jobstore_lease_begin(js, j, owner, errstr, errstr_size);

    if (rc < 0)
        return rc;
    rc = jobstore_cmd(js, "begin step",
                      "UPDATE job_steps SET status = 'running', host = $3, attempts = attempts + "
                      "1, started_at = now(), finished_at = NULL WHERE job_id = $1::uuid AND "
                      "step = $2",
                      3, p, NULL, errstr, errstr_size);
    if (rc == 0)
        rc = jobstore_outbox_add(js, j->id, j->guest, EVENT_STEP_STARTED, source,
                                 json_pack("{s:s,s:s,s:s}", "step", step_to_string(step), "host",
                                           host, "message", "step started"),
                                 errstr, errstr_size);
    return jobstore_end(js, rc, errstr, errstr_size);
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
    char el[32], *msg = NULL, *out = NULL;
    const char *type = state == STEP_SUCCEEDED ? EVENT_STEP_COMPLETED
                       : state == STEP_SKIPPED ? EVENT_STEP_SKIPPED
                                               : EVENT_STEP_FAILED;
    int rc;

    snprintf(el, sizeof(el), "%ld", elapsed_ms);
    if ((rc = jobstore_text(message, &msg, errstr, errstr_size)) == 0 &&
        (rc = jobstore_text(output, &out, errstr, errstr_size)) == 0 &&
        (rc = jobstore_lease_begin(js, j, owner, errstr, errstr_size)) == 0) {
        const char *p[6] = {j->id, step_to_string(step), step_state_to_string(state), msg, out, el};
        rc = jobstore_cmd(js, "end step",
                          "UPDATE job_steps SET status = $3, message = $4, output = output || $5, "
                          "finished_at = now(), elapsed_ms = $6::bigint WHERE job_id = $1::uuid "
                          "AND step = $2",
                          6, p, NULL, errstr, errstr_size);
        if (rc == 0)
            rc =
                jobstore_outbox_add(js, j->id, j->guest, type, source,
                                    json_pack("{s:s,s:s,s:s,s:I,s:o}", "step", step_to_string(step),
                                              "host", host, "message", msg, "elapsed_ms",
                                              (json_int_t)elapsed_ms, "lines", lines_json(out)),
                                    errstr, errstr_size);
        if ((rc = jobstore_end(js, rc, errstr, errstr_size)) == 0)
            j->state[step] = state;
    }
    free(msg);
    free(out);
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
