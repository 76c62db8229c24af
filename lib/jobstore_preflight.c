/* jobstore_preflight: a job's preflight check results and their verdict event. */
#include "jobstore.h"
#include "jobstore_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "event.h"
#include "util.h"

static const char *nth(const void *list, size_t i)
{
    return ((const char *const *)list)[i];
}

/* Writes checks FIRST_SEQ.. (N of them: NAMES, STATUSES, MESSAGES, messages already cleaned)
 * and, when VERDICT is set, that event with DATA (stolen; NULL = none), in one statement guarded
 * by the lease. */
static int preflight_write(jobstore *js, const job *j, const char *owner, const char *source,
                           int first_seq, const char *const *names, const char *const *statuses,
                           const char *const *messages, size_t n, const char *verdict, json_t *data,
                           char *errstr, size_t errstr_size)
{
    char seq[16], id[40] = "", *ev = NULL, *an = NULL, *as = NULL, *am = NULL;
    const char *p[6] = {seq, NULL, NULL, NULL, NULL, NULL};
    int rc = 0;

    snprintf(seq, sizeof(seq), "%d", first_seq - 1);
    if (verdict)
        rc = jobstore_outbox_event(j->id, j->guest, verdict, source, data, id, &ev, errstr,
                                   errstr_size);
    else
        json_decref(data);
    if (rc == 0 && (rc = jobstore_text_array(n, nth, names, &an, errstr, errstr_size)) == 0 &&
        (rc = jobstore_text_array(n, nth, statuses, &as, errstr, errstr_size)) == 0 &&
        (rc = jobstore_text_array(n, nth, messages, &am, errstr, errstr_size)) == 0) {
        p[1] = an;
        p[2] = as;
        p[3] = am;
        p[4] = verdict ? id : NULL;
        p[5] = ev;
        /* The checks in the order given (seq = $3 + their ordinal), then the verdict event
         * when there is one ($7 not NULL). */
        rc = jobstore_lease_exec(
            js, j, owner, "record preflight",
            "WITH " JOBSTORE_LEASE_CTE ", r AS (INSERT INTO preflight_results (job_id, "
            "check_name, seq, status, message) SELECT l.id, c.name, $3::integer + c.n::integer, "
            "c.status, c.message FROM lease l, unnest($4::text[], $5::text[], $6::text[]) WITH "
            "ORDINALITY AS c(name, status, message, n) ON CONFLICT (job_id, check_name) DO UPDATE "
            "SET status = EXCLUDED.status, message = EXCLUDED.message, checked_at = now() "
            "RETURNING 1), e AS (INSERT INTO outbox (event_id, job_id, topic, key, payload) "
            "SELECT $7::uuid, id, 'kvmove.events', $1, $8::jsonb FROM lease WHERE $7 IS NOT NULL "
            "RETURNING 1) SELECT count(*) FROM lease",
            6, p, errstr, errstr_size);
    }
    free(ev);
    free(an);
    free(as);
    free(am);
    return rc;
}

int jobstore_preflight_record(jobstore *js, const job *j, const char *owner, int seq,
                              const char *check_name, const char *status, const char *message,
                              char *errstr, size_t errstr_size)
{
    char *msg = NULL;
    int rc = jobstore_text(message, &msg, errstr, errstr_size);

    if (rc == 0)
        rc = preflight_write(js, j, owner, NULL, seq, &check_name, &status,
                             (const char *const *)&msg, 1, NULL, NULL, errstr, errstr_size);
    free(msg);
    return rc;
}

int jobstore_preflight_done(jobstore *js, const job *j, const char *owner, const char *source,
                            int passed, json_t *data, char *errstr, size_t errstr_size)
{
    return preflight_write(js, j, owner, source, 1, NULL, NULL, NULL, 0,
                           passed ? EVENT_PREFLIGHT_PASSED : EVENT_PREFLIGHT_FAILED, data, errstr,
                           errstr_size);
}

int jobstore_preflight_record_all(jobstore *js, const job *j, const char *owner, const char *source,
                                  const char *const *names, const char *const *statuses,
                                  const char *const *messages, size_t n, int passed, json_t *data,
                                  char *errstr, size_t errstr_size)
{
    char **msg = calloc(n ? n : 1, sizeof(*msg));
    size_t i;
    int rc = msg ? 0 : -JOBSTORE_EDB;

    if (msg == NULL)
        util_errf(errstr, errstr_size, "database: preflight results: out of memory");
    for (i = 0; rc == 0 && i < n; i++)
        rc = jobstore_text(messages[i], &msg[i], errstr, errstr_size);
    if (rc == 0)
        rc = preflight_write(js, j, owner, source, 1, names, statuses, (const char *const *)msg, n,
                             passed ? EVENT_PREFLIGHT_PASSED : EVENT_PREFLIGHT_FAILED, data, errstr,
                             errstr_size);
    else
        json_decref(data);
    for (i = 0; msg && i < n; i++)
        free(msg[i]);
    free(msg);
    return rc;
}
