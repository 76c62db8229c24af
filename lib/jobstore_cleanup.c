/* jobstore_cleanup: source-side cleanups that OFFLINEFORCE left pending on an unreachable host. */
#include "jobstore.h"
#include "jobstore_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "event.h"
#include "util.h"

int jobstore_cleanup_add(jobstore *js, const job *j, const char *host, const char *address,
                         const char *reason, const char *owner, const char *source, char *errstr,
                         size_t errstr_size)
{
    char *why = NULL;
    int rc, added = 0;

    if ((rc = jobstore_text(reason, &why, errstr, errstr_size)) == 0 &&
        (rc = jobstore_lease_begin(js, j, owner, errstr, errstr_size)) == 0) {
        const char *p[5] = {j->id, host, address, j->guest, why};
        rc = jobstore_cmd(js, "record cleanup",
                          "INSERT INTO host_cleanups (job_id, host, address, guest, reason) VALUES "
                          "($1::uuid, $2, $3, $4, $5) ON CONFLICT (host, guest, job_id) DO NOTHING",
                          5, p, &added, errstr, errstr_size);
        if (rc == 0 && added)
            rc = jobstore_outbox_add(
                js, j->id, j->guest, EVENT_CLEANUP_PENDING, source,
                json_pack("{s:s,s:s,s:s}", "host", host, "guest", j->guest, "message", why), errstr,
                errstr_size);
        rc = jobstore_end(js, rc, errstr, errstr_size);
    }
    free(why);
    return rc;
}

/* The columns cleanup_row reads, of host_cleanups c joined with its jobs j; the last one says
 * whether the job ended leaving the guest running and no job of the guest is active or has
 * touched a host since (a later one refused before its first step does not count). */
#define CLEANUP_COLUMNS                                                                            \
    "c.id, c.job_id, c.host, c.address, c.guest, coalesce(j.config_version, 0), j.tgt_host, "      \
    "c.last_error, coalesce(j.system_name, ''), j.target_state = 'running' AND j.status = "        \
    "'succeeded' AND NOT EXISTS (SELECT 1 FROM jobs n WHERE lower(n.guest) = lower(j.guest) AND "  \
    "n.id <> j.id AND (n.status IN ('queued', 'running') OR (n.created_at > j.created_at AND "     \
    "EXISTS (SELECT 1 FROM job_steps s WHERE s.job_id = n.id AND s.status <> 'pending')))) FROM "  \
    "host_cleanups c JOIN jobs j ON j.id = c.job_id"

/* The first pending cleanup after an id, of a host and/or a guest ($1, $2 NULL = any). */
#define CLEANUP_FIRST                                                                              \
    "SELECT " CLEANUP_COLUMNS " WHERE c.status = 'pending' AND ($1::text IS NULL OR "              \
    "lower(c.host) = lower($1)) AND ($2::text IS NULL OR lower(c.guest) = lower($2)) AND c.id > "  \
    "$3::bigint ORDER BY c.id LIMIT 1"

/* Runs SQL (a query of CLEANUP_COLUMNS) with its N parameters P into *OUT. Returns 1, 0
 * when none, or negative. */
static int cleanup_row(jobstore *js, const char *what, const char *sql, int n, const char *const *p,
                       jobstore_cleanup *out, char *errstr, size_t errstr_size)
{
    PGresult *res;
    int found;

    memset(out, 0, sizeof(*out));
    found = jobstore_row(js, what, sql, n, p, &res, errstr, errstr_size);
    if (found == 1) {
        out->id = atol(PQgetvalue(res, 0, 0));
        util_strlcpy(out->job_id, PQgetvalue(res, 0, 1), sizeof(out->job_id));
        util_strlcpy(out->host, PQgetvalue(res, 0, 2), sizeof(out->host));
        util_strlcpy(out->address, PQgetvalue(res, 0, 3), sizeof(out->address));
        util_strlcpy(out->guest, PQgetvalue(res, 0, 4), sizeof(out->guest));
        out->config_version = atol(PQgetvalue(res, 0, 5));
        util_strlcpy(out->tgt_host, PQgetvalue(res, 0, 6), sizeof(out->tgt_host));
        util_strlcpy(out->last_error, PQgetvalue(res, 0, 7), sizeof(out->last_error));
        util_strlcpy(out->system, PQgetvalue(res, 0, 8), sizeof(out->system));
        out->target_running = PQgetvalue(res, 0, 9)[0] == 't';
        PQclear(res);
    }
    return found;
}

/* Runs SQL (CLEANUP_FIRST and what follows) into *OUT. Returns 1, 0 when none, or negative. */
static int cleanup_first(jobstore *js, const char *what, const char *sql, const char *host,
                         const char *guest, long after_id, jobstore_cleanup *out, char *errstr,
                         size_t errstr_size)
{
    char after[32];
    const char *p[3] = {host, guest, after};

    snprintf(after, sizeof(after), "%ld", after_id);
    return cleanup_row(js, what, sql, 3, p, out, errstr, errstr_size);
}

int jobstore_cleanup_next(jobstore *js, const char *host, const char *guest, long after_id,
                          jobstore_cleanup *out, char *errstr, size_t errstr_size)
{
    int rc = jobstore_begin(js, errstr, errstr_size);

    if (rc < 0)
        return rc;
    rc = cleanup_first(js, "next cleanup", CLEANUP_FIRST " FOR UPDATE OF c SKIP LOCKED", host,
                       guest, after_id, out, errstr, errstr_size);
    if (rc <= 0)
        jobstore_rollback(js);
    return rc; /* when 1, the transaction stays open until jobstore_cleanup_finish */
}

int jobstore_cleanup_pending(jobstore *js, const char *host, const char *guest,
                             jobstore_cleanup *out, char *errstr, size_t errstr_size)
{
    return cleanup_first(js, "pending cleanup", CLEANUP_FIRST, host, guest, 0, out, errstr,
                         errstr_size);
}

int jobstore_cleanup_blocking(jobstore *js, const job *j, jobstore_cleanup *out, char *errstr,
                              size_t errstr_size)
{
    const char *p[2] = {j->id, j->guest};

    return cleanup_row(
        js, "stale copy in the way",
        "WITH RECURSIVE own(id) AS (SELECT $1::uuid UNION SELECT r.replay_of FROM jobs r JOIN own "
        "o ON r.id = o.id WHERE r.replay_of IS NOT NULL) SELECT " CLEANUP_COLUMNS " WHERE "
        "c.status = 'pending' AND lower(c.guest) = lower($2) AND c.job_id NOT IN (SELECT id FROM "
        "own) ORDER BY c.id LIMIT 1",
        2, p, out, errstr, errstr_size);
}

int jobstore_cleanup_finish(jobstore *js, const jobstore_cleanup *cl, int done, const char *output,
                            const char *error, const char *source, char *errstr, size_t errstr_size)
{
    char id[32], *out = NULL, *err = NULL;
    int rc;

    snprintf(id, sizeof(id), "%ld", cl->id);
    if ((rc = jobstore_text(output, &out, errstr, errstr_size)) == 0 &&
        (rc = jobstore_text(error, &err, errstr, errstr_size)) == 0 && done) {
        const char *p[2] = {id, out};
        PGresult *res = NULL;
        /* done_reason: the operator's kvmove cleanup --reason, when one was given. */
        rc = jobstore_row(js, "finish cleanup",
                          "UPDATE host_cleanups SET status = 'done', done_at = now(), attempts = "
                          "attempts + 1, output = $2, last_error = '' WHERE id = $1::bigint "
                          "RETURNING coalesce(done_reason, '')",
                          2, p, &res, errstr, errstr_size);
        if (rc > 0) {
            json_t *data = json_pack("{s:s,s:s,s:s}", "host", cl->host, "guest", cl->guest,
                                     "message", "stale copy removed from the source host");
            if (PQgetvalue(res, 0, 0)[0])
                json_object_set_new(data, "reason", json_string(PQgetvalue(res, 0, 0)));
            PQclear(res);
            rc = jobstore_outbox_add(js, cl->job_id, cl->guest, EVENT_CLEANUP_COMPLETED, source,
                                     data, errstr, errstr_size);
        }
    } else if (rc == 0) {
        const char *p[2] = {id, err};
        rc = jobstore_cmd(js, "count cleanup attempt",
                          "UPDATE host_cleanups SET attempts = attempts + 1, last_error = $2 "
                          "WHERE id = $1::bigint",
                          2, p, NULL, errstr, errstr_size);
    }
    free(out);
    free(err);
    /* ends the transaction jobstore_cleanup_next opened */
    return jobstore_end(js, rc, errstr, errstr_size);
}

int jobstore_cleanup_reason(jobstore *js, const char *host, const char *guest, const char *reason,
                            char *errstr, size_t errstr_size)
{
    char *why = NULL;
    int rc = jobstore_text(reason, &why, errstr, errstr_size);
    const char *p[3] = {host, guest, why};

    if (rc == 0)
        rc = jobstore_cmd(js, "record cleanup reason",
                          "UPDATE host_cleanups SET done_reason = $3 WHERE status = 'pending' AND "
                          "($1::text IS NULL OR lower(host) = lower($1)) AND ($2::text IS NULL OR "
                          "lower(guest) = lower($2))",
                          3, p, NULL, errstr, errstr_size);
    free(why);
    return rc;
}
