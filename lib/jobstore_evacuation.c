/* jobstore_evacuation: the maintenance round trip: where kvmove evacuate moved each guest, so that
 * kvmove return can move it back. */
#include "jobstore.h"
#include "jobstore_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

int jobstore_evacuation_add(jobstore *js, const char *host, const char *system, const char *reason,
                            const char *requested_by, const jobstore_evacuation_move *moves,
                            size_t n, long *id, char *errstr, size_t errstr_size)
{
    const char *p[4] = {host, system && system[0] ? system : NULL,
                        reason && reason[0] ? reason : NULL, requested_by ? requested_by : ""};
    char ids[32];
    size_t i;
    int rc;

    *id = 0;
    if ((rc = jobstore_begin(js, errstr, errstr_size)) < 0)
        return rc;
    rc = jobstore_value(js, "record evacuation",
                        "INSERT INTO evacuations (host, system_name, reason, requested_by) VALUES "
                        "($1, $2, $3, $4) RETURNING id",
                        4, p, id, errstr, errstr_size);
    snprintf(ids, sizeof(ids), "%ld", *id);
    for (i = 0; i < n && rc == 0; i++) {
        const char *q[6] = {ids,
                            moves[i].guest,
                            moves[i].from_host,
                            moves[i].to_host[0] ? moves[i].to_host : NULL,
                            moves[i].job_id[0] ? moves[i].job_id : NULL,
                            moves[i].message};
        rc = jobstore_cmd(js, "record evacuation move",
                          "INSERT INTO evacuation_moves (evacuation_id, guest, from_host, to_host, "
                          "job_id, message) VALUES ($1::bigint, $2, $3, $4, $5::uuid, $6)",
                          6, q, NULL, errstr, errstr_size);
    }
    return jobstore_end(js, rc, errstr, errstr_size);
}

int jobstore_evacuations_json(jobstore *js, const char *host, json_t **out, char *errstr,
                              size_t errstr_size)
{
    const char *p[1] = {host};

    return jobstore_json_query(
        js, "list evacuations",
        "SELECT coalesce(json_agg(json_build_object('id', e.id, 'host', e.host, 'system', "
        "e.system_name, 'reason', e.reason, 'requested_by', e.requested_by, 'created_at', "
        "e.created_at, 'returned_at', e.returned_at, 'moves', (SELECT coalesce(json_agg("
        "json_build_object('guest', m.guest, 'from_host', m.from_host, 'to_host', m.to_host, "
        "'job_id', m.job_id, 'status', j.status, 'message', m.message, 'return_job_id', "
        "m.return_job_id, 'return_status', r.status) ORDER BY m.guest), '[]') FROM "
        "evacuation_moves m LEFT JOIN jobs j ON j.id = m.job_id LEFT JOIN jobs r ON r.id = "
        "m.return_job_id WHERE m.evacuation_id = e.id)) ORDER BY e.id DESC), '[]') FROM "
        "evacuations e WHERE $1::text IS NULL OR lower(e.host) = lower($1)",
        1, p, out, errstr, errstr_size);
}

int jobstore_evacuation_returnable(jobstore *js, const char *host, long *id, json_t **moves,
                                   char *errstr, size_t errstr_size)
{
    const char *p[1] = {host};
    char ids[32];
    const char *q[1] = {ids};
    int rc;

    *id = 0;
    *moves = NULL;
    rc = jobstore_value(js, "find evacuation",
                        "SELECT coalesce(max(id), 0) FROM evacuations WHERE lower(host) = "
                        "lower($1) AND returned_at IS NULL",
                        1, p, id, errstr, errstr_size);
    if (rc < 0 || *id == 0)
        return rc;
    snprintf(ids, sizeof(ids), "%ld", *id);
    /* The moves that happened (their job succeeded) and have not been moved back yet. */
    return jobstore_json_query(
        js, "read evacuation moves",
        "SELECT coalesce(json_agg(json_build_object('guest', m.guest, 'from_host', m.from_host, "
        "'to_host', m.to_host, 'job_id', m.job_id) ORDER BY m.guest), '[]') FROM "
        "evacuation_moves m JOIN jobs j ON j.id = m.job_id WHERE m.evacuation_id = $1::bigint "
        "AND j.status = 'succeeded' AND (m.return_job_id IS NULL OR EXISTS (SELECT 1 FROM jobs r "
        "WHERE r.id = m.return_job_id AND r.status IN ('failed', 'rejected', 'cancelled')))",
        1, q, moves, errstr, errstr_size);
}

int jobstore_evacuation_returned(jobstore *js, long id, const char *guest, const char *job_id,
                                 char *errstr, size_t errstr_size)
{
    char ids[32];
    const char *p[3] = {ids, guest, job_id};

    snprintf(ids, sizeof(ids), "%ld", id);
    if (guest == NULL)
        return jobstore_cmd(js, "close evacuation",
                            "UPDATE evacuations SET returned_at = now() WHERE id = $1::bigint", 1,
                            p, NULL, errstr, errstr_size);
    return jobstore_cmd(js, "record return",
                        "UPDATE evacuation_moves SET return_job_id = $3::uuid WHERE evacuation_id "
                        "= $1::bigint AND guest = $2",
                        3, p, NULL, errstr, errstr_size);
}
