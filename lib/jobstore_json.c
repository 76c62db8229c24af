/* jobstore_json: the CLI's JSON views (jobstore_*_json): for showing, never for decisions. */
#include "jobstore.h"
#include "jobstore_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

int jobstore_job_get_json(jobstore *js, const char *job_id, json_t **out, char *errstr,
                          size_t errstr_size)
{
    const char *p[1] = {job_id};
    int rc;

    if (!util_is_uuid(job_id)) {
        util_errf(errstr, errstr_size, "'%s' is not a job id (a UUID; see 'kvmove jobs')", job_id);
        return -JOBSTORE_ENOTFOUND;
    }
    rc = jobstore_json_query(
        js, "read job",
        "SELECT json_build_object('id', j.id, 'request_id', j.request_id, 'replay_of', "
        "j.replay_of, 'attempt', j.attempt, 'action', j.action, 'guest', j.guest, 'mode', "
        "j.mode, 'src_host', j.src_host, 'tgt_host', j.tgt_host, 'only_step', j.only_step, "
        "'from_step', j.from_step, 'config_version', j.config_version, 'system', "
        "j.system_name, 'sequential', "
        "j.sequential, 'status', j.status, "
        "'lease_owner', j.lease_owner, 'lease_expires', j.lease_expires, 'error', j.error, "
        "'submitted_by', j.submitted_by, 'created_at', j.created_at, 'started_at', "
        "j.started_at, 'finished_at', j.finished_at, 'reason', j.reason, 'on_failure', "
        "j.on_failure, 'target_state', j.target_state, 'allow_colocation', "
        "j.allow_colocation, 'cancel_requested_at', j.cancel_requested_at, 'cancel_reason', "
        "j.cancel_reason, 'cancel_requested_by', j.cancel_requested_by, "
        "'steps', (SELECT coalesce(json_agg(json_build_object('step', s.step, 'seq', "
        "s.seq, 'host', s.host, 'status', s.status, 'attempts', s.attempts, 'started_at', "
        "s.started_at, 'finished_at', s.finished_at, 'elapsed_ms', s.elapsed_ms, "
        "'message', s.message, 'output', s.output) ORDER BY s.seq), '[]') FROM job_steps "
        "s WHERE s.job_id = j.id), "
        "'preflight', (SELECT coalesce(json_agg(json_build_object('check', p.check_name, "
        "'status', p.status, 'message', p.message) ORDER BY p.seq), '[]') FROM "
        "preflight_results p WHERE p.job_id = j.id), "
        "'replays', (SELECT coalesce(json_agg(r.id ORDER BY r.created_at), '[]') FROM jobs "
        "r WHERE r.replay_of = j.id), "
        "'cleanups', (SELECT coalesce(json_agg(json_build_object('host', c.host, 'status', "
        "c.status, 'reason', c.reason, 'attempts', c.attempts, 'last_error', c.last_error, "
        "'done_at', c.done_at) ORDER BY c.id), '[]') FROM host_cleanups c WHERE c.job_id = "
        "j.id)) FROM jobs j WHERE j.id = $1::uuid",
        1, p, out, errstr, errstr_size);
    if (rc == 0 && json_is_null(*out)) {
        json_decref(*out);
        *out = NULL;
        util_errf(errstr, errstr_size, "job %s does not exist (see 'kvmove jobs')", job_id);
        rc = -JOBSTORE_ENOTFOUND;
    }
    return rc;
}

int jobstore_jobs_list_json(jobstore *js, const char *status, const char *guest, const char *since,
                            int limit, json_t **out, char *errstr, size_t errstr_size)
{
    char lim[16];
    const char *p[4] = {status, guest, since, lim};

    snprintf(lim, sizeof(lim), "%d", limit > 0 ? limit : 100);
    return jobstore_json_query(
        js, "list jobs",
        "SELECT coalesce(json_agg(x ORDER BY x.created_at DESC), '[]') FROM (SELECT "
        "j.id, j.guest, j.mode, j.src_host, j.tgt_host, j.status, j.attempt, j.replay_of, "
        "j.only_step, j.error, j.created_at, j.finished_at, (SELECT s.step FROM job_steps "
        "s WHERE s.job_id = j.id AND s.status IN ('failed', 'running') ORDER BY s.seq "
        "LIMIT 1) AS current_step FROM jobs j WHERE ($1::text IS NULL OR j.status = $1) "
        "AND ($2::text IS NULL OR lower(j.guest) = lower($2)) AND ($3::timestamptz IS NULL OR "
        "j.created_at >= $3::timestamptz) ORDER BY j.created_at DESC LIMIT $4::integer) x",
        4, p, out, errstr, errstr_size);
}

int jobstore_cleanups_json(jobstore *js, const char *host, const char *guest, json_t **out,
                           char *errstr, size_t errstr_size)
{
    const char *p[2] = {host, guest};
    return jobstore_json_query(
        js, "list cleanups",
        "SELECT coalesce(json_agg(json_build_object('id', id, 'job_id', job_id, "
        "'host', host, 'guest', guest, 'status', status, 'reason', reason, "
        "'attempts', attempts, 'last_error', last_error, 'created_at', "
        "created_at, 'done_at', done_at) ORDER BY id), '[]') FROM host_cleanups "
        "WHERE ($1::text IS NULL OR lower(host) = lower($1)) AND ($2::text IS NULL OR "
        "lower(guest) = lower($2))",
        2, p, out, errstr, errstr_size);
}
