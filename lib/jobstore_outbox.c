/* jobstore_outbox: events written with the state they report, published to Kafka in order. */
#include "jobstore.h"
#include "jobstore_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "event.h"
#include "util.h"

int jobstore_outbox_event(const char *job_id, const char *guest, const char *type,
                          const char *source, json_t *data, char event_id[40], char **payload,
                          char *errstr, size_t errstr_size)
{
    json_t *ev = event_build(type, source, job_id, guest, data);

    *payload = NULL;
    event_id[0] = '\0';
    if (ev == NULL || (*payload = event_dump(ev)) == NULL) {
        util_errf(errstr, errstr_size, "cannot build %s event", type);
        json_decref(ev);
        return -JOBSTORE_EDATA;
    }
    util_strlcpy(event_id, json_string_value(json_object_get(ev, "id")), 40);
    json_decref(ev);
    return 0;
}

int jobstore_outbox_add(jobstore *js, const char *job_id, const char *guest, const char *type,
                        const char *source, json_t *data, char *errstr, size_t errstr_size)
{
    char id[40], *payload = NULL;
    const char *p[4] = {id, (job_id && util_is_uuid(job_id)) ? job_id : NULL, job_id, NULL};
    int rc =
        jobstore_outbox_event(job_id, guest, type, source, data, id, &payload, errstr, errstr_size);

    p[3] = payload;
    if (rc == 0)
        rc = jobstore_cmd(js, "write outbox",
                          "INSERT INTO outbox (event_id, job_id, topic, key, payload) "
                          "VALUES ($1::uuid, $2::uuid, 'kvmove.events', $3, $4::jsonb)",
                          4, p, NULL, errstr, errstr_size);
    free(payload);
    return rc;
}

static const char *row_id(const void *res, size_t i)
{
    return PQgetvalue(res, (int)i, 0);
}

/* "{p,p,...}" / "{o,o,...}" of the first N events' partitions or offsets (malloc'd). */
static char *position_array(const jobstore_event *ev, size_t n, int offsets)
{
    char *a = malloc(n * 24 + 3);
    size_t i, len = 0;

    if (a == NULL)
        return NULL;
    a[len++] = '{';
    for (i = 0; i < n; i++)
        len += (size_t)sprintf(a + len, "%s%lld", i ? "," : "",
                               offsets ? (long long)ev[i].offset : (long long)ev[i].partition);
    a[len++] = '}';
    a[len] = '\0';
    return a;
}

/* Marks the first SENT events of RES (ids in column 0) published, with their positions. */
static int mark_published(jobstore *js, PGresult *res, const jobstore_event *ev, int sent,
                          char *errstr, size_t errstr_size)
{
    char *ids = NULL, *parts = position_array(ev, (size_t)sent, 0),
         *offs = position_array(ev, (size_t)sent, 1);
    int rc = jobstore_id_array((size_t)sent, row_id, res, &ids, errstr, errstr_size);
    const char *p[3] = {ids, parts, offs};

    if (rc == 0 && (parts == NULL || offs == NULL)) {
        util_errf(errstr, errstr_size, "outbox: out of memory");
        rc = -JOBSTORE_EDB;
    }
    /* By id, not by range: an event committed late may carry a smaller id than one sent here,
     * and it has not been sent. */
    if (rc == 0)
        rc = jobstore_cmd(js, "mark published",
                          "UPDATE outbox o SET published_at = clock_timestamp(), kafka_partition "
                          "= d.part, kafka_offset = d.off FROM unnest($1::bigint[], "
                          "$2::integer[], $3::bigint[]) AS d(id, part, off) WHERE o.id = d.id",
                          3, p, NULL, errstr, errstr_size);
    free(ids);
    free(parts);
    free(offs);
    return rc;
}

int jobstore_outbox_publish(jobstore *js, jobstore_send_fn send, void *ctx, int limit,
                            int *published, char *errstr, size_t errstr_size)
{
    char lock[32], lim[16];
    const char *p[2] = {lim, lock};
    PGresult *res = NULL;
    jobstore_event *ev = NULL;
    int i, n, sent = 0, rc;

    if (published)
        *published = 0;
    snprintf(lock, sizeof(lock), "%d", LOCK_OUTBOX);
    snprintf(lim, sizeof(lim), "%d", limit > 0 ? limit : 100);
    if ((rc = jobstore_begin(js, errstr, errstr_size)) < 0)
        return rc;
    /* The publishers' lock and the oldest unpublished events in one statement: one row of
     * NULLs and false when another worker is publishing (or kvmove watch is placing), one of
     * NULLs and true when there is nothing to publish. */
    rc = jobstore_run(js, "read outbox",
                      "WITH l AS (SELECT pg_try_advisory_xact_lock($2::bigint) AS got) SELECT "
                      "o.id, o.topic, coalesce(o.key, ''), o.payload::text, l.got FROM l LEFT "
                      "JOIN LATERAL (SELECT id, topic, key, payload FROM outbox WHERE l.got AND "
                      "published_at IS NULL ORDER BY id LIMIT $1::integer) o ON true ORDER BY o.id",
                      2, p, PGRES_TUPLES_OK, &res, errstr, errstr_size);
    if (rc == 0 && PQntuples(res) > 0 && PQgetvalue(res, 0, 4)[0] != 't') {
        PQclear(res);
        jobstore_rollback(js);
        return JOBSTORE_OUTBOX_BUSY;
    }
    n = rc == 0 && PQntuples(res) > 0 && !PQgetisnull(res, 0, 0) ? PQntuples(res) : 0;
    if (n > 0 && (ev = calloc((size_t)n, sizeof(*ev))) == NULL) {
        util_errf(errstr, errstr_size, "outbox: out of memory");
        rc = -JOBSTORE_EDB;
    }
    if (rc == 0 && n > 0) {
        for (i = 0; i < n; i++) {
            ev[i].topic = PQgetvalue(res, i, 1);
            ev[i].key = PQgetvalue(res, i, 2);
            ev[i].payload = PQgetvalue(res, i, 3);
        }
        /* One batch on the wire, then the delivered prefix is marked in one statement. */
        if (send(ctx, ev, (size_t)n) == 0)
            while (sent < n && ev[sent].delivered)
                sent++;
        if (sent > 0)
            rc = mark_published(js, res, ev, sent, errstr, errstr_size);
    }
    free(ev);
    PQclear(res);
    rc = jobstore_end(js, rc, errstr, errstr_size);
    if (rc == 0 && published)
        *published = sent;
    return rc;
}

int jobstore_outbox_backlog(jobstore *js, long *backlog, char *errstr, size_t errstr_size)
{
    return jobstore_value(js, "outbox backlog",
                          "SELECT count(*) FROM outbox WHERE published_at IS NULL", 0, NULL,
                          backlog, errstr, errstr_size);
}

int jobstore_outbox_expire(jobstore *js, int retention_s, int limit, long *deleted, char *errstr,
                           size_t errstr_size)
{
    char rs[16], lim[16];
    const char *p[2] = {rs, lim};
    int rows = 0, rc;

    snprintf(rs, sizeof(rs), "%d", retention_s);
    snprintf(lim, sizeof(lim), "%d", limit > 0 ? limit : 1000);
    rc = jobstore_cmd(js, "expire outbox",
                      "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox WHERE published_at < "
                      "now() - make_interval(secs => $1::integer) ORDER BY published_at LIMIT "
                      "$2::integer)",
                      2, p, &rows, errstr, errstr_size);
    if (deleted)
        *deleted = rc == 0 ? rows : 0;
    return rc;
}

int jobstore_event_positions(jobstore *js, const char *job_id,
                             int (*snapshot)(void *ctx, int64_t *at, int n), void *ctx, int64_t *at,
                             int n, jobstore_event_place *place, char *errstr, size_t errstr_size)
{
    char lock[32];
    const char *lp[1] = {lock}, *p[1] = {job_id};
    PGresult *res = NULL;
    int i, rc;

    place->created_ms = -1;
    place->known = place->ended = 0;
    snprintf(lock, sizeof(lock), "%d", LOCK_OUTBOX);
    if ((rc = jobstore_begin(js, errstr, errstr_size)) < 0)
        return rc;
    rc = jobstore_run(js, "outbox lock", "SELECT pg_advisory_xact_lock_shared($1::bigint)", 1, lp,
                      PGRES_TUPLES_OK, NULL, errstr, errstr_size);
    if (rc == 0 && (rc = snapshot(ctx, at, n)) != 0) {
        jobstore_rollback(js);
        return rc;
    }
    if (rc == 0)
        rc = jobstore_run(js, "event positions",
                          "SELECT kafka_partition, min(kafka_offset) FROM outbox WHERE job_id = "
                          "$1::uuid AND kafka_offset IS NOT NULL GROUP BY kafka_partition",
                          1, p, PGRES_TUPLES_OK, &res, errstr, errstr_size);
    for (i = 0; rc == 0 && i < PQntuples(res); i++) {
        int part = atoi(PQgetvalue(res, i, 0));
        long long off = atoll(PQgetvalue(res, i, 1));
        if (part >= 0 && part < n) {
            if (off < at[part])
                at[part] = off;
            place->known++;
        }
    }
    PQclear(res);
    res = NULL;
    if (rc == 0)
        rc = jobstore_row(
            js, "job time",
            "SELECT (extract(epoch FROM created_at) * 1000)::bigint, status IN " JOBSTORE_SQL_ENDED
            " FROM jobs WHERE id = $1::uuid UNION "
            "ALL SELECT (extract(epoch FROM rejected_at) * 1000)::bigint, true FROM "
            "rejected_requests WHERE request_id = $1::uuid LIMIT 1",
            1, p, &res, errstr, errstr_size);
    if (rc == 1) {
        place->created_ms = atoll(PQgetvalue(res, 0, 0));
        place->ended = PQgetvalue(res, 0, 1)[0] == 't';
        rc = 0;
    }
    PQclear(res);
    return jobstore_end(js, rc, errstr, errstr_size);
}
