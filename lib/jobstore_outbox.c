/* jobstore_outbox: events written with the state they report, published to Kafka in order. */
#include "jobstore.h"
#include "jobstore_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "event.h"
#include "util.h"

int jobstore_outbox_add(jobstore *js, const char *job_id, const char *guest, const char *type,
                        const char *source, json_t *data, char *errstr, size_t errstr_size)
{
    json_t *ev = event_build(type, source, job_id, guest, data);
    char *payload = NULL;
    const char *p[4];
    int rc = -JOBSTORE_EDB;

    if (ev == NULL || (payload = event_dump(ev)) == NULL) {
        util_errf(errstr, errstr_size, "cannot build %s event", type);
        goto out;
    }
    p[0] = json_string_value(json_object_get(ev, "id"));
    p[1] = (job_id && util_is_uuid(job_id)) ? job_id : NULL;
    p[2] = job_id;
    p[3] = payload;
    rc = jobstore_cmd(js, "write outbox",
                      "INSERT INTO outbox (event_id, job_id, topic, key, payload) "
                      "VALUES ($1::uuid, $2::uuid, 'kvmove.events', $3, $4::jsonb)",
                      4, p, errstr, errstr_size);
out:
    free(payload);
    json_decref(ev);
    return rc;
}

int jobstore_outbox_publish(jobstore *js, jobstore_send_fn send, void *ctx, int limit,
                            int *published, char *errstr, size_t errstr_size)
{
    char lock[32], lim[16], *ids = NULL;
    const char *lp[1] = {lock}, *limp[1] = {lim}, *up[1] = {NULL};
    PGresult *res = NULL;
    jobstore_event *ev = NULL;
    int i, n, sent = 0, got;
    size_t len;

    if (published)
        *published = 0;
    snprintf(lock, sizeof(lock), "%d", LOCK_OUTBOX);
    snprintf(lim, sizeof(lim), "%d", limit > 0 ? limit : 100);
    if (jobstore_begin(js, errstr, errstr_size) < 0)
        return -JOBSTORE_EDB;
    res = jobstore_run(js, "outbox lock", "SELECT pg_try_advisory_xact_lock($1::bigint)", 1, lp,
                       PGRES_TUPLES_OK, NULL, errstr, errstr_size);
    if (res == NULL)
        goto fail;
    got = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    PQclear(res);
    res = NULL;
    if (!got) { /* another worker is publishing right now */
        jobstore_rollback(js);
        return 0;
    }
    res = jobstore_run(js, "read outbox",
                       "SELECT id, topic, coalesce(key, ''), payload::text FROM outbox "
                       "WHERE published_at IS NULL ORDER BY id LIMIT $1::integer",
                       1, limp, PGRES_TUPLES_OK, NULL, errstr, errstr_size);
    if (res == NULL)
        goto fail;
    n = PQntuples(res);
    if (n > 0) {
        ev = calloc((size_t)n, sizeof(*ev));
        if (ev == NULL)
            goto fail;
        for (i = 0; i < n; i++) {
            ev[i].topic = PQgetvalue(res, i, 1);
            ev[i].key = PQgetvalue(res, i, 2);
            ev[i].payload = PQgetvalue(res, i, 3);
        }
        /* One batch on the wire, then the delivered prefix is marked in one statement. */
        if (send(ctx, ev, (size_t)n) == 0)
            while (sent < n && ev[sent].delivered)
                sent++;
        if (sent > 0) {
            /* By id, not by range: an event committed late may carry a smaller id than one
             * sent here, and it has not been sent. */
            ids = malloc((size_t)sent * 22 + 3);
            if (ids == NULL)
                goto fail;
            len = 0;
            ids[len++] = '{';
            for (i = 0; i < sent; i++)
                len += (size_t)sprintf(ids + len, "%s%s", i ? "," : "", PQgetvalue(res, i, 0));
            ids[len++] = '}';
            ids[len] = '\0';
            up[0] = ids;
            if (jobstore_cmd(js, "mark published",
                             "UPDATE outbox SET published_at = clock_timestamp() WHERE id = "
                             "ANY($1::bigint[])",
                             1, up, errstr, errstr_size) < 0)
                goto fail;
        }
    }
    free(ids);
    free(ev);
    PQclear(res);
    if (jobstore_commit(js, errstr, errstr_size) < 0)
        return -JOBSTORE_EDB;
    if (published)
        *published = sent;
    return 0;
fail:
    free(ids);
    free(ev);
    PQclear(res);
    jobstore_rollback(js);
    return -JOBSTORE_EDB;
}

int jobstore_outbox_backlog(jobstore *js, long *backlog, char *errstr, size_t errstr_size)
{
    PGresult *res =
        jobstore_run(js, "outbox backlog", "SELECT count(*) FROM outbox WHERE published_at IS NULL",
                     0, NULL, PGRES_TUPLES_OK, NULL, errstr, errstr_size);

    if (res == NULL)
        return -JOBSTORE_EDB;
    *backlog = atol(PQgetvalue(res, 0, 0));
    PQclear(res);
    return 0;
}
