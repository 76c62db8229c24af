/* step: the migration steps, job statuses and step states as tables matching the database. */
#ifndef KVMOVE_STEP_H
#define KVMOVE_STEP_H

#include <stddef.h>

/* The eleven steps of a migration in the order of the spec's log, then the steps of a rollback
 * (kvmove rollback, a cancel before the commit point, submit --on-failure=rollback): each undoes
 * what one migration step did, in the order a rollback runs them. The names are stable (stored
 * as text); a rollback step's name says the host it acts on (_SRC: the job's source, _TGT: its
 * target). */
typedef enum {
    STEP_STOP_GUEST,
    STEP_DETACH_INTERFACES,
    STEP_DETACH_VOLUMES,
    STEP_ATTACH_VOLUMES,
    STEP_CREATE_BRIDGES,
    STEP_MIGRATE_GUEST,
    STEP_REMOVE_BRIDGES,
    STEP_REMOVE_NAT_BRIDGE_SRC,
    STEP_CREATE_NAT_BRIDGE_TGT,
    STEP_ATTACH_INTERFACES,
    STEP_STARTUP_GUEST,
    STEP__COUNT, /* the migration steps are 0 .. STEP__COUNT - 1 */
    STEP_ROLLBACK_DETACH_VOLUMES_TGT = STEP__COUNT,
    STEP_ROLLBACK_CREATE_BRIDGES_SRC,
    STEP_ROLLBACK_CREATE_NAT_BRIDGE_SRC,
    STEP_ROLLBACK_ATTACH_VOLUMES_SRC,
    STEP_ROLLBACK_MIGRATE_GUEST,
    STEP_ROLLBACK_ATTACH_INTERFACES_SRC,
    STEP_ROLLBACK_STARTUP_GUEST_SRC,
    STEP_ROLLBACK_REMOVE_BRIDGES_TGT,
    STEP_ROLLBACK_REMOVE_NAT_BRIDGE_TGT,
    STEP__ALL /* every step, migration and rollback */
} step_id;

/* 1 if STEP is one of the rollback steps, else 0. */
int step_is_rollback(step_id step);

/* Returns the step's name as in the spec ("STOP_GUEST"), or a rollback step's name; a static
 * string, NULL if out of range. */
const char *step_to_string(step_id step);
/* Parses a step name, case-insensitively. Returns 0 and sets *out, or -1 if unknown. */
int step_from_string(const char *name, step_id *out);
/* Writes every migration step name in the spec's order, separated by SEP, into BUF (SIZE bytes; cut
 * if too small, always terminated), for messages and help texts. Returns BUF. */
const char *step_names(const char *sep, char *buf, size_t size);
/* Enough for step_names with a separator of up to 4 characters. */
#define STEP_NAMES_MAX 256

typedef enum {
    JOB_QUEUED,  /* accepted, waiting for a worker */
    JOB_RUNNING, /* a worker holds the lease */
    JOB_SUCCEEDED,
    JOB_FAILED,
    JOB_REJECTED,  /* never started: validation or a guest busy with another job */
    JOB_CANCELLED, /* kvmove cancel: never started, or stopped at a step boundary before the
                      commit point (a rollback attempt puts the guest back) */
    JOB__COUNT
} job_status;

/* Returns the status as stored in jobs.status ("queued"); a static string, NULL if out of
 * range. */
const char *job_status_to_string(job_status status);
/* Parses a stored status, exactly (lower case). Returns 0 and sets *out, or -1 if unknown. */
int job_status_from_string(const char *name, job_status *out);

typedef enum {
    STEP_PENDING,
    STEP_RUNNING,
    STEP_SUCCEEDED,
    STEP_FAILED,
    STEP_SKIPPED,
    STEPSTATE__COUNT
} step_state;

/* Returns the state as stored in job_steps.status ("pending"); a static string, NULL if out
 * of range. */
const char *step_state_to_string(step_state state);
/* Parses a stored step state, exactly (lower case). Returns 0 and sets *out, or -1. */
int step_state_from_string(const char *name, step_state *out);

typedef enum { MODE_OFFLINE, MODE_OFFLINEFORCE, MODE__COUNT } migrate_mode;

/* Returns "OFFLINE" or "OFFLINEFORCE"; a static string, NULL if out of range. */
const char *mode_to_string(migrate_mode mode);
/* Returns 0 and sets *out, or -1. Accepts OFFLINE / OFFLINEFORCE in any case. */
int mode_from_string(const char *name, migrate_mode *out);

/* Which job status may follow which: 1 when a job in FROM may change to TO (queued -> running
 * when claimed, -> cancelled when cancelled before it ever started; running -> running when
 * another worker takes an expired lease over, -> queued when its lease is handed back, ->
 * succeeded or failed when it ends, -> cancelled when it stops at a step boundary for a
 * cancel), else 0. Succeeded, failed, rejected and cancelled are final. Every change of
 * jobs.status is checked against it. */
int job_status_can_follow(job_status from, job_status to);
/* 1 when nothing may follow STATUS (succeeded, failed, rejected, cancelled). */
int job_status_is_final(job_status status);

#endif
