/* jobstore: all job, step, preflight, outbox and es.xml state in PostgreSQL (libpq); one file per
 * part: jobstore.c (connection, statements), jobstore_migrate.c, jobstore_config.c,
 * jobstore_intake.c, jobstore_job.c, jobstore_lease.c, jobstore_preflight.c, jobstore_step.c,
 * jobstore_cleanup.c, jobstore_outbox.c, jobstore_reservation.c, jobstore_json.c (views),
 * jobstore_auth.c. */
#ifndef KVMOVE_JOBSTORE_H
#define KVMOVE_JOBSTORE_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "auth.h"
#include "authz.h"
#include "request.h"
#include "step.h"

typedef struct jobstore jobstore;

/* Error codes (returned negated). Every database failure is one of the first two, as
 * failure_of_sqlstate (failure.h) classifies its SQLSTATE. */
#define JOBSTORE_EDB 1 /* the database failed or is unreachable: worth a retry */
#define JOBSTORE_EDATA                                                                             \
    5                        /* the database refused the statement or its data: the same call      \
                              * fails the same way again, do not retry it */
#define JOBSTORE_ENOTFOUND 2 /* no such job / config version */
#define JOBSTORE_ELEASE 3    /* this worker no longer holds the job's lease: stop working on it */
#define JOBSTORE_EINVALID 4  /* the request cannot be accepted (reason in errstr) */

/* The most bytes of one text kvmove does not control (host output, messages) that is stored. */
#define JOBSTORE_TEXT_MAX 65536

/* TEXT (NULL = "") as the job store writes every text it does not control (host output, step
 * messages, errors, reasons): valid UTF-8, each byte that does not start a well-formed sequence
 * replaced by U+FFFD, at most JOBSTORE_TEXT_MAX bytes of it (cut at a character boundary, then a
 * line saying how many bytes were left out). A C string ends at its first NUL byte. Returns a
 * new string (caller frees), NULL when out of memory. */
char *jobstore_text_clean(const char *text);

/* Connects with a libpq conninfo string (NULL or "" = the PG* environment variables).
 * Returns 0 and *OUT (free with jobstore_close), -JOBSTORE_EDB with errstr when the server
 * could not be reached (worth a retry), or -JOBSTORE_EDATA when it refused the client (wrong
 * password, unknown role or database, no pg_hba.conf entry: failure_of_pgconnect), which no
 * retry fixes. */
int jobstore_connect(const char *conninfo, jobstore **out, char *errstr, size_t errstr_size);
void jobstore_close(jobstore *js); /* accepts NULL */
/* What this process asked of PostgreSQL so far, over all its connections: *STATEMENTS sent and
 * *TRANSACTIONS ended (committed or rolled back; a statement outside a transaction is one).
 * Either may be NULL. */
void jobstore_counters(unsigned long *statements, unsigned long *transactions);

/* Reconnects if the connection broke (PostgreSQL restarted), listening again on the channels of
 * jobstore_listen. Returns 0 or -JOBSTORE_EDB. */
int jobstore_ensure(jobstore *js, char *errstr, size_t errstr_size);

/* ---- wake-ups (PostgreSQL LISTEN/NOTIFY, jobstore_notify.c) ---- */

/* Channels the schema notifies (migrations/0005_history.sql, 0011_ended.sql) at the commit of: */
#define JOBSTORE_CHANNEL_JOBS "kvmove_jobs"     /* a job that may be claimable now */
#define JOBSTORE_CHANNEL_OUTBOX "kvmove_outbox" /* events written to the outbox */
#define JOBSTORE_CHANNEL_PROBES "kvmove_probes" /* a probe recorded (queued) */

/* Listens on CHANNEL (a JOBSTORE_CHANNEL_*) on this connection, also after jobstore_ensure
 * reconnects. Returns 0 or a negative code. */
int jobstore_listen(jobstore *js, const char *channel, char *errstr, size_t errstr_size);
/* Waits up to TIMEOUT_MS for a notification on a channel listened to, taking every one that
 * arrived. Returns 1 when there was one, 0 on timeout, -JOBSTORE_EDB when the connection broke
 * (jobstore_ensure, then wait again: notifications sent while it was down are lost, so the
 * caller looks for work once after a reconnect). */
int jobstore_wait(jobstore *js, int timeout_ms, char *errstr, size_t errstr_size);

/* Applies every DIR/NNNN_*.sql not yet recorded in schema_migrations, in order, each in its
 * own transaction, under an advisory lock (several workers may start at once). *APPLIED gets
 * how many ran. Returns 0 or a negative code. */
int jobstore_migrate(jobstore *js, const char *dir, int *applied, char *errstr, size_t errstr_size);

/* ---- es.xml versions, kept per system (jobstore_config.c) ---- */

/* A system is the engineeredSystem name of its es.xml (es.xsd labelType: at most 64 bytes). Its
 * versions are numbered from one sequence shared by every system; "the newest" is always the
 * newest of one system, and changes to a system's versions are serialised by its row in table
 * systems (locked FOR UPDATE). Guest and KVM host names belong to one system each, in any case:
 * the ones its newest loaded es.xml names. */
#define JOBSTORE_SYSTEM_MAX REQUEST_SYSTEM_MAX

/* A guest or KVM host a system's es.xml names. */
typedef struct jobstore_machine {
    char system[JOBSTORE_SYSTEM_MAX];
    char hostname[REQUEST_NAME_MAX]; /* as es.xml spells it (the canonical spelling) */
    int is_guest;                    /* 1 a guest, 0 a KVM host */
    long memory_mb;                  /* a guest's guestMemory, MiB (0 for a host) */
    int cores;                       /* a guest's guestCores (0 for a host) */
} jobstore_machine;

/* What one stored version is. */
typedef struct jobstore_config_info {
    long version;
    char system[JOBSTORE_SYSTEM_MAX];
    char state[32]; /* loaded, migration-merged, migration-deployed */
} jobstore_config_info;

/* Stores DOCUMENT (validated by the caller) as the newest version of SYSTEM in state "loaded"
 * (the system is created when new), with the N MACHINES it names, which replace the names the
 * system claimed before. A name another system claims (in any case) refuses the load with
 * -JOBSTORE_EINVALID naming both systems; two loads racing for a name are refused the same way
 * by the database. *VERSION (may be NULL) gets the new version. Loading one system changes
 * nothing another sees. */
int jobstore_config_load(jobstore *js, const char *system, const char *document, const char *note,
                         const jobstore_machine *machines, size_t n, long *version, char *errstr,
                         size_t errstr_size);
/* Stores DOCUMENT as the newest version of SYSTEM in STATE ("loaded", "migration-merged" or
 * "migration-deployed"; the system is created when new) as it is: the names the system claims
 * stay (use jobstore_config_load for a new document, jobstore_config_update for a change to the
 * newest). *VERSION (may be NULL) gets the new version. */
int jobstore_config_store(jobstore *js, const char *system_name, const char *state,
                          const char *document, const char *note, long *version, char *errstr,
                          size_t errstr_size);
/* Fetches version VERSION, or with VERSION 0 the newest version of SYSTEM. SYSTEM may be NULL:
 * then VERSION may be of any system and VERSION 0 means the newest of the only system stored
 * (-JOBSTORE_EINVALID naming the systems when there are several). A VERSION of another system
 * than SYSTEM is -JOBSTORE_ENOTFOUND, as is a version or system not stored. *DOC (may be NULL:
 * the document is then not read) is malloc'd (caller frees); INFO (may be NULL) is filled. */
int jobstore_config_get(jobstore *js, const char *system, long version, char **doc,
                        jobstore_config_info *info, char *errstr, size_t errstr_size);
/* Lists the versions of SYSTEM (NULL = every system) as a JSON array of {version, system,
 * state, note, bytes, created_at}, oldest first; new reference. */
int jobstore_config_list(jobstore *js, const char *system, json_t **out, char *errstr,
                         size_t errstr_size);
/* Finds the guest or KVM host NAME (any case) among the names the stored systems claim.
 * Returns 1 and *OUT, 0 when no system names it, or negative. */
int jobstore_config_machine(jobstore *js, const char *name, jobstore_machine *out, char *errstr,
                            size_t errstr_size);

/* Builds the next version of a system from its newest: called under the system's lock, at
 * commit time, with the newest version's text and number. Returns 0 with *OUT (malloc'd; the
 * store frees it), 1 when there is nothing to store, or a negative jobstore code (errstr). */
typedef int (*jobstore_config_edit_fn)(void *ctx, const char *newest, long newest_version,
                                       char **out, char *errstr, size_t errstr_size);

/* A change to a system's es.xml (a MERGE, a deployed migration): applied to the newest version
 * of SYSTEM at commit time, never to an older one, so that overlapping changes all stay. */
typedef struct jobstore_config_change {
    const char *system;
    const char *state; /* of the new version: "migration-merged", "migration-deployed" */
    const char *note;  /* what made it (a command, "deployed by job ...") */
    jobstore_config_edit_fn edit;
    void *ctx; /* EDIT's */
} jobstore_config_change;

/* Applies CHANGE in a transaction of its own, under SYSTEM's lock. *VERSION (may be NULL) gets
 * the new version, 0 when EDIT had nothing to store. -JOBSTORE_ENOTFOUND when SYSTEM has no
 * version. */
int jobstore_config_update(jobstore *js, const jobstore_config_change *change, long *version,
                           char *errstr, size_t errstr_size);

/* Deletes old versions of SYSTEM (NULL = every system): the versions beyond the KEEP newest of
 * their system (KEEP <= 0: no such limit) and created before now() - OLDER_THAN (a PostgreSQL
 * interval such as '30 days'; NULL: no such limit), at least one of the two given. Never
 * deleted: the newest version of a system, and a version a job references (jobs.config_version:
 * an active job's, and a finished job's record of what it ran against). *PRUNED and *BYTES (may
 * be NULL) get how many versions and how many document bytes went. */
int jobstore_config_prune(jobstore *js, const char *system, int keep, const char *older_than,
                          long *pruned, long *bytes, char *errstr, size_t errstr_size);

/* ---- intake ---- */

typedef enum {
    JOBSTORE_CREATED,   /* a new job, queued; job.accepted is in the outbox */
    JOBSTORE_DUPLICATE, /* the request id was seen before: nothing changed */
    JOBSTORE_REJECTED,  /* recorded as rejected (reason in errstr); job.rejected in the outbox */
} jobstore_intake;

/* Records a validated request as a job, idempotently on its request id, in one transaction
 * with its job.accepted (or job.rejected) event. A cancel is recorded in cancel_requests
 * (JOBSTORE_CREATED when accepted: a queued job that never ran is cancelled at once, a started
 * one is marked to stop at its next step boundary, one not recorded yet is cancelled when its
 * request arrives (pending, until the maximum request age); JOBSTORE_REJECTED for a job that
 * has ended). A rollback becomes a job of the rollback steps linked to the job it
 * undoes (rejected when that job is active, past its commit point, or changed nothing). A second
 * active job for the same guest is rejected naming the job that holds the guest. A replay names an
 * earlier job: the new job copies its guest, mode and hosts, links to it (replay_of, attempt + 1)
 * and runs from the earlier job's failed step, from_step, or the single step. MEMORY_MB/VCPUS are
 * reserved on the target while the job is active (0 when unknown). SOURCE names the event source.
 * Returns 0 and *RESULT, or a negative code (errstr). */
int jobstore_intake_request(jobstore *js, const request *req, long memory_mb, int vcpus,
                            const char *source, jobstore_intake *result, char *errstr,
                            size_t errstr_size);

/* Publishes a job.rejected event for a request that never became a job (it failed to parse
 * or validate): REQUEST_ID may be "" when unreadable, then no event is written. Once per
 * request id (recorded in rejected_requests): a redelivery writes no second event. */
int jobstore_intake_reject(jobstore *js, const char *request_id, const char *reason,
                           const char *source, char *errstr, size_t errstr_size);

/* ---- execution (lease-guarded: every call checks OWNER still holds the lease) ---- */

typedef struct job {
    char id[REQUEST_UUID_LEN];
    char replay_of[REQUEST_UUID_LEN]; /* "" when not a replay */
    int attempt;
    char guest[REQUEST_NAME_MAX];
    char src_host[REQUEST_NAME_MAX];
    char tgt_host[REQUEST_NAME_MAX];
    migrate_mode mode;
    long config_version;              /* 0 = newest at claim time */
    char system[JOBSTORE_SYSTEM_MAX]; /* es.xml system of the guest ("" = not known at intake) */
    int included[STEP__ALL];          /* 1 if the step belongs to this job */
    step_state state[STEP__ALL];      /* as recorded */
    int takeover;                     /* 1 if claimed before (its worker died or handed it back) */
    int more;                         /* set by the claim: another job was claimable too */
    int sequential;                   /* 1: the spec's order, one operation at a time */
    request_action action;            /* migrate_guest, replay, rollback (its steps: rollback) */
    int target_stopped;               /* submit --target-state=stopped */
    int on_failure_rollback;          /* submit --on-failure=rollback */
    int allow_colocation;             /* submit --allow-colocation (VM cluster anti-affinity) */
    char reason[REQUEST_REASON_MAX];  /* the operator's --reason ("" = none) */
} job;

/* Claims the oldest queued job, or a running job whose lease expired, for OWNER with a lease
 * of LEASE_S seconds, skipping jobs whose source or target host already has MAX_PER_HOST
 * running jobs (across all workers; claims are serialised so the limit holds). The job and its
 * steps are read in the claim's transaction: a failed claim takes nothing. OUT->takeover is 1
 * when the job was claimed before, OUT->more when another job was claimable as well. Reads the
 * active jobs only (indexes jobs_runnable, jobs_one_active_per_guest): its cost does not grow
 * with the finished history. Returns 1 and fills *OUT, 0 when there is nothing to do, or
 * negative. */
int jobstore_job_claim(jobstore *js, const char *owner, int lease_s, int max_per_host, job *out,
                       char *errstr, size_t errstr_size);
/* Extends OWNER's leases of the N jobs JOB_IDS (the ones its executors are working on; a job
 * left out runs out of lease and is taken over). *RENEWED gets how many (may be NULL). */
int jobstore_lease_renew(jobstore *js, const char *owner, const char *const *job_ids, size_t n,
                         int lease_s, int *renewed, char *errstr, size_t errstr_size);
/* Hands OWNER's running job JOB_ID (NULL = every one of OWNER's) back: queued again, without a
 * lease, for any worker to resume (a takeover). */
int jobstore_lease_release(jobstore *js, const char *owner, const char *job_id, char *errstr,
                           size_t errstr_size);

/* Records one preflight check result (status "passed", "failed", "skipped", "warning"). */
int jobstore_preflight_record(jobstore *js, const job *j, const char *owner, int seq,
                              const char *check_name, const char *status, const char *message,
                              char *errstr, size_t errstr_size);
/* Ends preflight: PASSED=1 writes preflight.passed, 0 writes preflight.failed with the failing
 * checks in DATA (stolen; may be NULL). */
int jobstore_preflight_done(jobstore *js, const job *j, const char *owner, const char *source,
                            int passed, json_t *data, char *errstr, size_t errstr_size);

/* Records the N preflight results in order (NAMES, STATUSES, MESSAGES; seq 1..N) with the
 * verdict event (as jobstore_preflight_done: DATA stolen) in one statement: one round trip and
 * one commit for the whole preflight. */
int jobstore_preflight_record_all(jobstore *js, const job *j, const char *owner, const char *source,
                                  const char *const *names, const char *const *statuses,
                                  const char *const *messages, size_t n, int passed, json_t *data,
                                  char *errstr, size_t errstr_size);

/* Marks STEP running on HOST (attempts + 1) with a step.started event. */
int jobstore_step_begin(jobstore *js, const job *j, step_id step, const char *host,
                        const char *owner, const char *source, char *errstr, size_t errstr_size);
/* Ends STEP as STATE (succeeded, skipped or failed) with MESSAGE and captured OUTPUT, and its
 * step.completed / step.skipped / step.failed event carrying ELAPSED_MS and the output lines. */
int jobstore_step_end(jobstore *js, job *j, step_id step, const char *host, step_state state,
                      const char *message, const char *output, long elapsed_ms, const char *owner,
                      const char *source, char *errstr, size_t errstr_size);
/* *DONE = 1 when STEP succeeded in an earlier attempt of job J (the job it replays, and so on
 * back along replay_of), else 0. */
int jobstore_step_done_before(jobstore *js, const job *j, step_id step, int *done, char *errstr,
                              size_t errstr_size);
/* Adds NAMES (bridge names, one a line; "" for none) to what STEP (CREATE_BRIDGES or
 * CREATE_NAT_BRIDGE_TGT) of job J records as created by the job, guarded by OWNER's lease: the
 * union with what an earlier try of the step in J recorded. A record without a bridge says the
 * step found none missing. */
int jobstore_step_bridges_add(jobstore *js, const job *j, step_id step, const char *owner,
                              const char *names, char *errstr, size_t errstr_size);
/* *NAMES = the bridges STEP recorded as created by job J and the attempts it resumes or undoes
 * (back along replay_of), one a line (malloc'd, caller frees); NULL when none of them has a
 * record of STEP (a job from before the record). */
int jobstore_step_bridges_created(jobstore *js, const job *j, step_id step, char **names,
                                  char *errstr, size_t errstr_size);
/* Ends the job as JOB_SUCCEEDED or JOB_FAILED (ERROR for failed; any other status is refused
 * with -JOBSTORE_EINVALID), releasing the lease, with its job.succeeded / job.failed event. A
 * job submitted with --on-failure=rollback that fails before its commit point gets its rollback
 * job in the same transaction (named in job.failed as rollback_job_id). When
 * DEPLOY is not NULL, the es.xml change it describes (the deployed migration) is applied to the
 * newest version of its system under the system's lock, in the same transaction
 * (jobstore_config_update's rules): the job ends and es.xml records it, or neither. */
int jobstore_job_finish(jobstore *js, const job *j, job_status status, const char *error,
                        long elapsed_ms, const jobstore_config_change *deploy, const char *owner,
                        const char *source, char *errstr, size_t errstr_size);

/* ---- cancel and rollback (jobstore_cancel.c) ---- */

/* 1 when a cancel of J was requested (kvmove cancel of a job that had started), 0 when not, or
 * negative. Cheap: the executor asks at every step boundary. */
int jobstore_job_cancel_pending(jobstore *js, const job *j, char *errstr, size_t errstr_size);
/* Stops OWNER's job J at a step boundary for the cancel requested: when J (with the attempts it
 * resumes) has not reached its commit point, it ends cancelled, with its job.cancelled event,
 * and - when one of its steps changed a host - a rollback job (a new attempt linked to J, its
 * job.accepted event) that puts the guest back on its source, in the same transaction; its id
 * goes to ROLLBACK_ID (REQUEST_UUID_LEN bytes; "" when nothing needed undoing). AT says where
 * ("before ATTACH_VOLUMES"). Returns 1 when J was cancelled, 0 when it is past its commit point
 * (it completes forward; nothing changed), or negative. */
int jobstore_job_cancel(jobstore *js, const job *j, const char *owner, const char *source,
                        const char *at, char *rollback_id, char *errstr, size_t errstr_size);

/* The outcome of cancel request REQUEST_ID as JSON {request_id, job_id, outcome (cancelled,
 * requested, rejected, pending), message, reason, requested_by, created_at, expires_at,
 * job_status, rollback_job_id} (new reference). Returns 1 with *OUT, 0 when it is not recorded
 * (yet), or negative. */
int jobstore_cancel_get_json(jobstore *js, const char *request_id, json_t **out, char *errstr,
                             size_t errstr_size);
/* The intake's maximum request age (auth.max_age_s; until set, AUTH_MAX_AGE_S_DEFAULT): a
 * request older than that is refused, so a cancel of a job that is not recorded yet (its request
 * still in Kafka) stays pending that long, then is rejected. */
void jobstore_set_request_max_age(jobstore *js, int seconds);
/* Rejects the pending cancels whose job did not arrive in time (each with its job.rejected
 * event), at most JOBSTORE_CANCEL_EXPIRE_BATCH per call; *EXPIRED (may be NULL) gets how many.
 * Returns 0 or negative. */
#define JOBSTORE_CANCEL_EXPIRE_BATCH 500
int jobstore_cancel_expire(jobstore *js, const char *source, long *expired, char *errstr,
                           size_t errstr_size);

/* VM cluster anti-affinity, serialised: under the lock of J's system (or the claim lock when
 * the system is not known), confirms J's target unless another active job already confirmed
 * bringing one of the N guests PEERS (the other members of J's guest's VM cluster, in any case)
 * to the same host; then J's placed_at is set. Two concurrent moves of two members to one host:
 * the first to confirm wins, the other is told which job holds the host (HOLDER,
 * REQUEST_UUID_LEN bytes, and PEER, REQUEST_NAME_MAX bytes). Returns 1 when confirmed, 0 when
 * refused, or negative. */
int jobstore_job_place(jobstore *js, const job *j, const char *owner, const char *const *peers,
                       size_t n, char *holder, char *peer, char *errstr, size_t errstr_size);

/* ---- the maintenance round trip (jobstore_evacuation.c) ---- */

/* One guest of an evacuation: where kvmove evacuate put it (TO_HOST "" = nowhere: MESSAGE says
 * why) and the request id of its move (JOB_ID, "" when none was published). */
typedef struct jobstore_evacuation_move {
    char guest[REQUEST_NAME_MAX];
    char from_host[REQUEST_NAME_MAX];
    char to_host[REQUEST_NAME_MAX];
    char job_id[REQUEST_UUID_LEN];
    char message[600];
} jobstore_evacuation_move;

/* Records an evacuation of HOST (of SYSTEM, may be NULL) with REASON (may be NULL) and its N
 * MOVES, in one transaction. *ID gets its id (the requests of its moves carry it). */
int jobstore_evacuation_add(jobstore *js, const char *host, const char *system, const char *reason,
                            const char *requested_by, const jobstore_evacuation_move *moves,
                            size_t n, long *id, char *errstr, size_t errstr_size);
/* The evacuations of HOST (NULL = every host, any case), newest first, as a JSON array of {id,
 * host, system, reason, requested_by, created_at, returned_at, moves: [{guest, from_host,
 * to_host, job_id, status, message, return_job_id, return_status}]} (new reference). */
int jobstore_evacuations_json(jobstore *js, const char *host, json_t **out, char *errstr,
                              size_t errstr_size);
/* The newest evacuation of HOST not returned yet (*ID, 0 when none) and, as a JSON array of
 * {guest, from_host, to_host, job_id} in *MOVES (new reference), its moves whose job succeeded
 * and that have not been moved back (no return job, or one that did not succeed). */
int jobstore_evacuation_returnable(jobstore *js, const char *host, long *id, json_t **moves,
                                   char *errstr, size_t errstr_size);
/* Records JOB_ID as the move back of GUEST of evacuation ID; with GUEST NULL, marks the
 * evacuation returned (its guests are back). */
int jobstore_evacuation_returned(jobstore *js, long id, const char *guest, const char *job_id,
                                 char *errstr, size_t errstr_size);

/* ---- pending source-side cleanups (OFFLINEFORCE fencing of the stale copy) ---- */

/* Records that GUEST's source-side cleanup on HOST (reached at ADDRESS) is pending because
 * job J could not reach it, with a cleanup.pending event; once per (host, guest, job). */
int jobstore_cleanup_add(jobstore *js, const job *j, const char *host, const char *address,
                         const char *reason, const char *owner, const char *source, char *errstr,
                         size_t errstr_size);

typedef struct jobstore_cleanup {
    long id;
    char job_id[REQUEST_UUID_LEN];
    char host[REQUEST_NAME_MAX];
    char address[REQUEST_NAME_MAX];
    char guest[REQUEST_NAME_MAX];
    char tgt_host[REQUEST_NAME_MAX];  /* where the job moved the guest (its autostart waits) */
    long config_version;              /* the es.xml version of the job (0 = newest) */
    char system[JOBSTORE_SYSTEM_MAX]; /* the job's es.xml system ("" = not known) */
    char last_error[512];             /* why the last attempt failed ("" = none yet) */
    int target_running; /* the job succeeded leaving the guest running (target_state), and no
                         * job of the guest is active or has run a step since */
} jobstore_cleanup;

/* Takes the next pending cleanup with id > AFTER_ID (of HOST and/or GUEST, in any case, when not
 * NULL),
 * locked FOR UPDATE SKIP LOCKED in a transaction that jobstore_cleanup_finish ends (one at a
 * time per connection). Returns 1 and *OUT, 0 when none, or negative. */
int jobstore_cleanup_next(jobstore *js, const char *host, const char *guest, long after_id,
                          jobstore_cleanup *out, char *errstr, size_t errstr_size);
/* The oldest pending cleanup of GUEST on HOST (either NULL = any) into *OUT, without taking it.
 * Returns 1, 0 when there is none, or negative. */
int jobstore_cleanup_pending(jobstore *js, const char *host, const char *guest,
                             jobstore_cleanup *out, char *errstr, size_t errstr_size);
/* The oldest pending cleanup job J must wait for: a stale copy of J's guest (on any host) that
 * a job other than J and the jobs J replays left. While it is there (with its autostart), the
 * guest may be given autostart nowhere else, so J may not run. Returns 1 and *OUT, 0 when
 * there is none, or negative. */
int jobstore_cleanup_blocking(jobstore *js, const job *j, jobstore_cleanup *out, char *errstr,
                              size_t errstr_size);
/* Ends the cleanup taken by jobstore_cleanup_next: DONE=1 marks it done with OUTPUT and a
 * cleanup.completed event; DONE=0 counts a failed attempt with ERROR (it stays pending). */
int jobstore_cleanup_finish(jobstore *js, const jobstore_cleanup *cl, int done, const char *output,
                            const char *error, const char *source, char *errstr,
                            size_t errstr_size);
/* Records REASON (kvmove cleanup --reason) on the pending cleanups of GUEST on HOST (either NULL
 * = any; in any case): stored as done_reason and carried in their cleanup.completed events. */
int jobstore_cleanup_reason(jobstore *js, const char *host, const char *guest, const char *reason,
                            char *errstr, size_t errstr_size);
/* Pending cleanups for GUEST on HOST (either may be NULL = any; names in any case), as a JSON
 * array. */
int jobstore_cleanups_json(jobstore *js, const char *host, const char *guest, json_t **out,
                           char *errstr, size_t errstr_size);

/* ---- outbox ---- */

/* One outbox event handed to the publisher; DELIVERED is set by the send function. */
typedef struct jobstore_event {
    const char *topic;
    const char *key;
    const char *payload;
    int delivered;     /* 1 when the broker acknowledged it */
    int32_t partition; /* where it was stored, when delivered (recorded for kvmove watch) */
    int64_t offset;
} jobstore_event;

/* Publishes the N EVENTS (in order, all at once) and sets each one's DELIVERED. Returns 0, or
 * -1 when it could not try at all. */
typedef int (*jobstore_send_fn)(void *ctx, jobstore_event *events, size_t n);

/* Publishes up to LIMIT unpublished events in id order through SEND (one batch) and marks the
 * delivered prefix published, with where each landed (partition, offset); events after the first
 * one the broker did not take stay for the next call, so each key's events leave in order (a
 * later event already delivered is sent again: at least once). One publisher at a time (advisory
 * lock). *PUBLISHED gets how many were marked. Returns 0, JOBSTORE_OUTBOX_BUSY when another
 * publisher held the lock (nothing was read: try again shortly), or a negative code. */
#define JOBSTORE_OUTBOX_BUSY 1
int jobstore_outbox_publish(jobstore *js, jobstore_send_fn send, void *ctx, int limit,
                            int *published, char *errstr, size_t errstr_size);
/* What the job store knows about where job JOB_ID's events are (jobstore_event_positions). */
typedef struct jobstore_event_place {
    int64_t created_ms; /* when the job (or the rejected request) was recorded; -1 unknown */
    int known;          /* how many partitions hold a recorded event of the job */
    int ended;          /* 1 when the job has ended (succeeded, failed, rejected) */
} jobstore_event_place;

/* Places a reader of kvmove.events at job JOB_ID's first event, exactly: under the outbox lock
 * (shared, so that no publisher is between delivering an event and recording where it landed)
 * it calls SNAPSHOT(CTX, AT), which fills AT[0..N-1] with the topic's ends now (every event
 * published later is at or after them), then lowers AT[p] to the offset of the job's first
 * recorded event in partition p, and fills *PLACE. Returns 0, a negative code, or SNAPSHOT's
 * non-zero return. */
int jobstore_event_positions(jobstore *js, const char *job_id,
                             int (*snapshot)(void *ctx, int64_t *at, int n), void *ctx, int64_t *at,
                             int n, jobstore_event_place *place, char *errstr, size_t errstr_size);
/* Number of events not yet published. */
int jobstore_outbox_backlog(jobstore *js, long *backlog, char *errstr, size_t errstr_size);
/* Deletes up to LIMIT events published more than RETENTION_S seconds ago, oldest first (they
 * are in Kafka; the outbox keeps them that long for `kvmove watch` and for audits). *DELETED
 * gets how many. Returns 0 or a negative code. */
int jobstore_outbox_expire(jobstore *js, int retention_s, int limit, long *deleted, char *errstr,
                           size_t errstr_size);

/* ---- history (jobstore_prune.c) ---- */

/* Deletes up to LIMIT ended jobs (succeeded, failed, rejected, cancelled) that finished more
 * than OLDER_THAN_S seconds ago, with their steps, preflight results and done cleanups, and the
 * rejected requests, cancel requests and ended probes as old. Never an active job, nor a job with a
 * pending cleanup, nor one a remaining replay names (replay_of: it goes in a later call, after its
 * replay). *PRUNED gets how many jobs; call again until it is 0. Returns 0 or a negative code. */
int jobstore_jobs_prune(jobstore *js, int older_than_s, int limit, long *pruned, char *errstr,
                        size_t errstr_size);

/* ---- queries ---- */

/* The job with its steps and preflight results as JSON (new reference). */
int jobstore_job_get_json(jobstore *js, const char *job_id, json_t **out, char *errstr,
                          size_t errstr_size);
/* Jobs, newest first, filtered by STATUS / GUEST (in any case) / SINCE (each NULL = any) as a
 * JSON array. */
int jobstore_jobs_list_json(jobstore *js, const char *status, const char *guest, const char *since,
                            int limit, json_t **out, char *errstr, size_t errstr_size);
/* ---- operators: their keys, their rights, where requests came from (jobstore_auth.c) ---- */

/* Looks up the enrolled key KEY_ID: 1 with *OUT, 0 when it is not enrolled, or a negative code
 * (auth_key_lookup_fn, with the jobstore as CTX). */
int jobstore_auth_key(void *js, const char *key_id, auth_key *out, char *errstr,
                      size_t errstr_size);
/* The rights IDENTITY has on SYSTEM ("" = none but those on '*'): those granted there and on
 * '*'. Returns 0 with *OUT, or a negative code. */
int jobstore_auth_rights(jobstore *js, const char *identity, const char *system, authz_rights *out,
                         char *errstr, size_t errstr_size);
/* Records that request REQUEST_ID was taken from message TOPIC/PARTITION/OFFSET signed by KEY_ID,
 * unless a message recorded it first: *REPLAYED is then 1 when that was another message (its
 * place in FIRST, "topic/partition/offset"), 0 when it was this one (a redelivery). Returns 0 or
 * a negative code. */
int jobstore_auth_origin(jobstore *js, const char *request_id, const char *topic, int partition,
                         long long offset, const char *key_id, int *replayed, char *first,
                         size_t first_size, char *errstr, size_t errstr_size);
/* Enrols IDENTITY's public key PUBLIC_KEY (sign_public_parse's base64) as KEY_ID, enabled.
 * Returns 0, or -JOBSTORE_EDATA when the key is enrolled already (errstr says whose). */
int jobstore_operator_add(jobstore *js, const char *identity, const char *key_id,
                          const char *public_key, char *errstr, size_t errstr_size);
/* Enables (ENABLED 1) or disables IDENTITY's key KEY_ID (NULL = every key of IDENTITY). *CHANGED
 * gets how many keys changed. Returns 0 or a negative code. */
int jobstore_operator_enable(jobstore *js, const char *identity, const char *key_id, int enabled,
                             int *changed, char *errstr, size_t errstr_size);
/* Grants (GRANT 1) or revokes IDENTITY's RIGHT (authz_right_name) on SYSTEM (AUTHZ_ANY_SYSTEM =
 * every system). *CHANGED gets 1 when it was not so already. Returns 0 or a negative code. */
int jobstore_operator_grant(jobstore *js, const char *identity, const char *system,
                            const char *right, int grant, int *changed, char *errstr,
                            size_t errstr_size);
/* Every identity with a key or a right, as a JSON array of {identity, keys: [{key_id,
 * public_key, enabled, enrolled_at}], grants: [{system, right}]} ordered by identity. */
int jobstore_operators_json(jobstore *js, json_t **out, char *errstr, size_t errstr_size);

/* ---- capacity reserved on target hosts (jobstore_reservation.c) ---- */

/* What one active job reserves on its target host (recorded at intake: the guest's size). */
typedef struct jobstore_reservation {
    char job_id[REQUEST_UUID_LEN];
    char guest[REQUEST_NAME_MAX];
    long memory_mb;
    int vcpus;
} jobstore_reservation;

/* The reservations on HOST that count against job JOB_ID: the active (queued or running) jobs
 * targeting HOST created before it, so that of two jobs that cannot both fit the older passes
 * and the younger fails, whatever order their preflights run in; every active job when JOB_ID
 * is NULL (a job not created yet: a dry run). Only jobs that reserve something, oldest first.
 * *OUT is malloc'd (caller frees; NULL when none), *N its length. Returns 0 or negative. */
int jobstore_reservations_on(jobstore *js, const char *host, const char *job_id,
                             jobstore_reservation **out, size_t *n, char *errstr,
                             size_t errstr_size);
/* Memory (MiB) and vCPUs reserved on HOST by active jobs other than EXCEPT_JOB (may be NULL). */
int jobstore_reserved_on(jobstore *js, const char *host, const char *except_job, long *memory_mb,
                         int *vcpus, char *errstr, size_t errstr_size);

/* ---- probes: cleanup and dry_run requests a worker runs (lib/probe.h, jobstore_probe.c) ---- */

/* Records the probe REQUEST_ID of KIND ("cleanup", "dry_run") that SUBMITTED_BY's signed
 * message REQUEST (JSON text) asks for, queued; nothing when it is recorded already. */
int jobstore_probe_add(jobstore *js, const char *request_id, const char *kind,
                       const char *submitted_by, const char *request, char *errstr,
                       size_t errstr_size);
/* Records that the probe REQUEST_ID was refused (WHY: the dead letter's reason) with its
 * probe.completed event, so that the CLI waiting for it can say why; nothing when the id is
 * recorded already. */
int jobstore_probe_reject(jobstore *js, const char *request_id, const char *kind,
                          const char *submitted_by, const char *why, const char *source,
                          char *errstr, size_t errstr_size);
typedef struct jobstore_probe {
    char request_id[40];
    char kind[16];
    char *request; /* the message (malloc'd: the caller frees it) */
    int attempts;  /* this run included */
} jobstore_probe;
/* Takes the oldest probe that is queued, or running under a lease that ran out (its worker
 * died) fewer than MAX_ATTEMPTS times, for OWNER for LEASE_S seconds; one that ran out
 * MAX_ATTEMPTS times ends failed (probe.completed from SOURCE). Returns 1 with *OUT, 0 when
 * there is none, or a negative code. */
int jobstore_probe_claim(jobstore *js, const char *owner, int lease_s, int max_attempts,
                         const char *source, jobstore_probe *out, char *errstr, size_t errstr_size);
/* Extends OWNER's lease on probe REQUEST_ID by LEASE_S seconds from now. Returns 0,
 * -JOBSTORE_ELEASE when OWNER no longer holds it, or a negative code. */
int jobstore_probe_renew(jobstore *js, const char *request_id, const char *owner, int lease_s,
                         char *errstr, size_t errstr_size);
/* Ends OWNER's probe REQUEST_ID: succeeded (OK) with RESULT (borrowed; may be NULL), or failed
 * with ERROR, and its probe.completed event from SOURCE. Returns 0, -JOBSTORE_ELEASE when OWNER
 * no longer holds it (nothing written), or a negative code. */
int jobstore_probe_finish(jobstore *js, const char *request_id, const char *owner, int ok,
                          const json_t *result, const char *error, const char *source, char *errstr,
                          size_t errstr_size);
/* Waits until no other sweep (a fencer, another worker's cleanup) is working on a pending
 * cleanup of HOST and/or GUEST (NULL = any); *PENDING gets how many are pending then. A sweep
 * skips the cleanups others hold, so a requested cleanup that finds more pending than it tried
 * sweeps again. Returns 0 or negative. */
int jobstore_probe_cleanups_settle(jobstore *js, const char *host, const char *guest, int *pending,
                                   char *errstr, size_t errstr_size);
/* The probe REQUEST_ID as a JSON object (request_id, kind, submitted_by, status, result,
 * error, lease_owner, attempts, created_at, finished_at), or JSON null when there is none. */
int jobstore_probe_json(jobstore *js, const char *request_id, json_t **out, char *errstr,
                        size_t errstr_size);

#endif
