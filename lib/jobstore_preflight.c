/* jobstore_preflight: a job's preflight check results and their verdict event. */
#include "jobstore.h"
#include "jobstore_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "event.h"
#include "util.h"

int jobstore_preflight_record(jobstore *js, const job *j, const char *owner, int seq,
                              const char *check_name, const char *status, const char *message,
                              char *errstr, size_t errstr_size)
{
    char sq[16], *msg = NULL;
    int rc;

    snprintf(sq, sizeof(sq), "%d", seq);
    if ((rc = jobstore_text(message, &msg, errstr, errstr_size)) == 0 &&
        (rc = jobstore_lease_begin(js, j, owner, errstr, errstr_size)) == 0) {
        const char *p[5] = {j->id, check_name, sq, status, msg};
        rc = jobstore_cmd(js, "record preflight",
                          "INSERT INTO preflight_results (job_id, check_name, seq, status, "
                          "message) VALUES ($1::uuid, $2, $3::integer, $4, $5) ON CONFLICT "
                          "(job_id, check_name) DO UPDATE SET status = EXCLUDED.status, message = "
                          "EXCLUDED.message, checked_at = now()",
                          5, p, NULL, errstr, errstr_size);
        rc = jobstore_end(js, rc, errstr, errstr_size);
    }
    free(msg);
    return rc;
}

int jobstore_preflight_done(jobstore *js, const job *j, const char *owner, const char *source,
                            int passed, json_t *data, char *errstr, size_t errstr_size)
{
    int rc = jobstore_lease_begin(js, j, owner, errstr, errstr_size);

    if (rc < 0) {
        json_decref(data);
        return rc;
    }
    rc = jobstore_outbox_add(js, j->id, j->guest,
                             passed ? EVENT_PREFLIGHT_PASSED : EVENT_PREFLIGHT_FAILED, source, data,
                             errstr, errstr_size);
    return jobstore_end(js, rc, errstr, errstr_size);
}
