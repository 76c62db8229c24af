/* jobstore_internal: what the jobstore_*.c files share; not for use outside them. */
#ifndef KVMOVE_JOBSTORE_INTERNAL_H
#define KVMOVE_JOBSTORE_INTERNAL_H

#include <stddef.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "jobstore.h"

struct jobstore {
    PGconn *conn;
    char *conninfo;
    char sqlstate[6];      /* of the last failed statement ("" when none or no server answer) */
    char listening[4][32]; /* channels of jobstore_listen, listened to again after a reconnect */
    int n_listening;
    int request_max_age_s; /* jobstore_set_request_max_age (0: AUTH_MAX_AGE_S_DEFAULT) */
};

/* Advisory lock keys (arbitrary, fixed). */
/* The statuses a job ends in (job_status_is_final, lib/step.c), as an SQL list: what prune,
 * watch and the end of a job compare jobs.status with. test_jobstore checks it against
 * job_status_is_final. */
#define JOBSTORE_SQL_ENDED "('succeeded', 'failed', 'rejected', 'cancelled')"

/* The stored spelling of the system named by SQL expression P (a parameter, "$1"): system
 * names compare without regard to case, as guest and host names do; P itself when no system
 * is stored under any spelling of it. */
#define JOBSTORE_SQL_SYSTEM(p)                                                                     \
    "coalesce((SELECT s.name FROM systems s WHERE lower(s.name) = lower(" p                        \
    ") ORDER BY s.name LIMIT 1), " p ")"

#define LOCK_MIGRATE 0x6b766d01
#define LOCK_OUTBOX 0x6b766d02
#define LOCK_CLAIM 0x6b766d03
/* The class of the per-job-id locks (pg_advisory_xact_lock(int, int), jobstore_lock_job_id). */
#define LOCK_JOB_ID 0x6b766d04

/* Every statement goes through these, so every failure is classified in one place: they return
 * 0, or -JOBSTORE_EDB when failure_of_sqlstate calls it transient (worth a retry) and
 * -JOBSTORE_EDATA when permanent, with errstr filled and js->sqlstate set. */

/* Runs SQL with text parameters and checks the result's status is EXPECT. The result goes to
 * *OUT (caller clears it) when OUT is not NULL, else it is cleared; *OUT is NULL on failure. */
int jobstore_run(jobstore *js, const char *what, const char *sql, int n, const char *const *params,
                 ExecStatusType expect, PGresult **out, char *errstr, size_t errstr_size);
/* Runs a statement without rows; *ROWS (may be NULL) gets how many rows it changed. */
int jobstore_cmd(jobstore *js, const char *what, const char *sql, int n, const char *const *params,
                 int *rows, char *errstr, size_t errstr_size);
/* Runs a query of exactly one row and stores its first column in *VALUE. */
int jobstore_value(jobstore *js, const char *what, const char *sql, int n,
                   const char *const *params, long *value, char *errstr, size_t errstr_size);
/* Runs SQL holding several statements without parameters (kvmove's own migration files). */
int jobstore_script(jobstore *js, const char *what, const char *sql, char *errstr,
                    size_t errstr_size);
int jobstore_begin(jobstore *js, char *errstr, size_t errstr_size);
/* Takes advisory lock KEY (LOCK_*) until the transaction ends, waiting for it. */
int jobstore_lock(jobstore *js, int key, char *errstr, size_t errstr_size);
int jobstore_commit(jobstore *js, char *errstr, size_t errstr_size);
void jobstore_rollback(jobstore *js);
/* Ends the open transaction: commits when RC is 0, else rolls back. Returns RC or the commit's
 * code. */
int jobstore_end(jobstore *js, int rc, char *errstr, size_t errstr_size);
/* Runs a query of at most one row: 1 with the result in *OUT (caller clears it), 0 when there is
 * no row. */
int jobstore_row(jobstore *js, const char *what, const char *sql, int n, const char *const *params,
                 PGresult **out, char *errstr, size_t errstr_size);
/* *OUT = jobstore_text_clean(TEXT) (caller frees), or -JOBSTORE_EDB when out of memory. */
int jobstore_text(const char *text, char **out, char *errstr, size_t errstr_size);
/* A PostgreSQL array literal ("{a,b}") of the N ids ID(CTX, i), leaving out any that is not an
 * id (only hex digits and dashes: bigints, UUIDs). *OUT is malloc'd (caller frees). Returns 0 or
 * -JOBSTORE_EDB when out of memory. */
int jobstore_id_array(size_t n, const char *(*id)(const void *ctx, size_t i), const void *ctx,
                      char **out, char *errstr, size_t errstr_size);
/* Runs a query whose one row and column is a JSON text: *OUT gets it as a new jansson value
 * (JSON null when there is no row). */
int jobstore_json_query(jobstore *js, const char *what, const char *sql, int n,
                        const char *const *params, json_t **out, char *errstr, size_t errstr_size);

/* LISTENs again on every channel of jobstore_listen (after the connection was reset). */
int jobstore_relisten(jobstore *js, char *errstr, size_t errstr_size);

/* Writes one event into the outbox inside the caller's transaction. DATA is stolen
 * (jobstore_outbox.c). */
int jobstore_outbox_add(jobstore *js, const char *job_id, const char *guest, const char *type,
                        const char *source, json_t *data, char *errstr, size_t errstr_size);
/* Begins a transaction in which OWNER holds J's lease (the row locked), for a write the lease
 * guards; on failure no transaction is left open. */
int jobstore_lease_begin(jobstore *js, const job *j, const char *owner, char *errstr,
                         size_t errstr_size);

/* Applies CHANGE inside the caller's transaction: locks its system's row, reads the newest
 * version, stores what CHANGE->edit makes of it (jobstore_config_update's rules). *VERSION (may
 * be NULL) gets the new version, 0 when there was nothing to store (jobstore_config.c). */
int jobstore_config_apply(jobstore *js, const jobstore_config_change *change, long *version,
                          char *errstr, size_t errstr_size);

/* The lease rule as a common table expression: "lease" is job $1's row, locked, when worker $2
 * holds its lease, else empty. A write the lease guards in one statement (one round trip, one
 * implicit transaction) joins its rows to it and ends in "SELECT count(*) FROM lease". */
#define JOBSTORE_LEASE_CTE                                                                         \
    "lease AS (SELECT id FROM jobs WHERE id = $1::uuid AND lease_owner = $2 AND status = "         \
    "'running' FOR UPDATE)"
/* Runs SQL, a statement built on JOBSTORE_LEASE_CTE whose parameters $1 and $2 are J's id and
 * OWNER and PARAMS the rest ($3 ...). Returns 0, -JOBSTORE_ELEASE when OWNER does not hold the
 * lease (nothing was written), or a negative code. */
int jobstore_lease_exec(jobstore *js, const job *j, const char *owner, const char *what,
                        const char *sql, int n, const char *const *params, char *errstr,
                        size_t errstr_size);

/* An outbox row of event TYPE (CloudEvents, event_build) about JOB_ID: its id into EVENT_ID
 * and its JSON into *PAYLOAD (malloc'd, caller frees). DATA is stolen. For statements that
 * write the row themselves ("INSERT INTO outbox ... $id::uuid, ..., $payload::jsonb"). */
int jobstore_outbox_event(const char *job_id, const char *guest, const char *type,
                          const char *source, json_t *data, char event_id[40], char **payload,
                          char *errstr, size_t errstr_size);

/* A PostgreSQL text[] literal of the N strings TEXT(CTX, i), each quoted. *OUT is malloc'd
 * (caller frees). Returns 0 or -JOBSTORE_EDB when out of memory. */
int jobstore_text_array(size_t n, const char *(*text)(const void *ctx, size_t i), const void *ctx,
                        char **out, char *errstr, size_t errstr_size);

/* One change of a job's status. Intake inserts a job queued (or rejected); after that its status
 * changes only through jobstore_job_change (jobstore_job.c): claim, takeover, hand-back, finish. */
typedef struct job_change {
    const char *job_id;
    job_status from, to; /* the row must be in FROM (the caller has it locked) */
    const char *owner;   /* to JOB_RUNNING: the new lease owner */
    int lease_s;         /* to JOB_RUNNING: the lease, in seconds */
    const char *error;   /* to JOB_FAILED: the reason (already cleaned) */
} job_change;
/* Changes a job's status inside the caller's transaction, setting what goes with it (lease,
 * started_at, finished_at, error). Refuses with -JOBSTORE_EINVALID what job_status_can_follow
 * refuses, and a row that is not in C->from. */
int jobstore_job_change(jobstore *js, const job_change *c, char *errstr, size_t errstr_size);

/* ---- cancel and rollback (jobstore_cancel.c) ---- */

/* The state of each migration step of JOB_ID across its attempts (the job and the ones it
 * resumes): the newest attempt's record of it, STEP_PENDING for a step none had. */
int jobstore_chain_states(jobstore *js, const char *job_id, step_state state[STEP__COUNT],
                          char *errstr, size_t errstr_size);
/* Inside the caller's transaction: a queued rollback job (id ID, or a fresh one when NULL) of
 * the job UNDONE (a rollback job names the job it undoes), with the rollback steps
 * migrate_rollback_plan picks, REASON and REQUESTED_BY, REQJSON as its request (NULL: none),
 * and its job.accepted event. Its id goes to OUT_ID (REQUEST_UUID_LEN bytes). When there is no
 * rollback to make (UNDONE does not exist, is past its commit point, changed no host), WHY says
 * so, OUT_ID is "" and 0 is returned. */
int jobstore_rollback_add(jobstore *js, const char *undone, const char *id, const char *reason,
                          const char *requested_by, const char *source, const char *reqjson,
                          char *out_id, char *why, size_t why_size, char *errstr,
                          size_t errstr_size);
/* Intake of a cancel request inside the caller's transaction (jobstore_intake_request). A
 * cancel of a job that is not recorded yet is kept pending (jobstore_cancel_arrived). */
int jobstore_cancel_intake(jobstore *js, const request *req, const char *source,
                           jobstore_intake *result, char *errstr, size_t errstr_size);
/* Takes the lock of job id JOB_ID until the transaction ends: the intake of a cancel and the
 * intake of the job's own request take it first, so that whichever comes second sees what the
 * first recorded (a pending cancel, or the job). */
int jobstore_lock_job_id(jobstore *js, const char *job_id, char *errstr, size_t errstr_size);
/* Inside the intake's transaction that has just recorded job JOB_ID (queued or rejected), under
 * jobstore_lock_job_id: carries out the cancels pending for it, as if each had arrived now (a
 * queued job is ended cancelled with its job.cancel_requested and job.cancelled events before
 * anything runs), or rejects them when they have expired. */
int jobstore_cancel_arrived(jobstore *js, const char *job_id, const char *source, char *errstr,
                            size_t errstr_size);

#endif
