/* request: migration requests, as JSON messages and as the spec's MIGRATE GUEST command. */
#ifndef KVMOVE_REQUEST_H
#define KVMOVE_REQUEST_H

#include <stddef.h>
#include "step.h"

#define REQUEST_NAME_MAX 254  /* hostnames: 253 + NUL */
#define REQUEST_UUID_LEN 37   /* 36 + NUL */
#define REQUEST_SYSTEM_MAX 65 /* es.xml system (engineeredSystem) names: 64 + NUL */
/* The operator's reason: at most REQUEST_REASON_CHARS characters of UTF-8 text without control
 * characters (the bytes, with the NUL, fit REQUEST_REASON_MAX). */
#define REQUEST_REASON_CHARS 500
#define REQUEST_REASON_MAX (REQUEST_REASON_CHARS * 4 + 1)

/* migrate_guest: a new migration; replay: resume a job; cancel: stop a job (a queued one never
 * starts, a running one stops at its next step boundary and is rolled back unless it is past
 * the commit point); rollback: undo a failed or cancelled job that has not reached the commit
 * point; return: a migration back to the host an evacuation (kvmove evacuate) moved it off. */
typedef enum {
    ACTION_MIGRATE_GUEST,
    ACTION_REPLAY,
    ACTION_CANCEL,
    ACTION_ROLLBACK,
    ACTION_RETURN,
    ACTION__COUNT
} request_action;

/* The action's name as in messages and jobs.action ("migrate_guest"); static; NULL if out of
 * range. */
const char *request_action_to_string(request_action action);
/* 1 for the actions that name an existing job (replay, cancel, rollback), else 0. */
int request_action_names_job(request_action action);

typedef struct request {
    char request_id[REQUEST_UUID_LEN]; /* producer-made UUID: the idempotency key */
    request_action action;
    char guest[REQUEST_NAME_MAX];
    migrate_mode mode;
    int has_mode; /* mode was given; always for migrate_guest, optional override for replay */
    char src_host[REQUEST_NAME_MAX];
    char tgt_host[REQUEST_NAME_MAX];
    int has_step; /* run this one step only (WHERE STEPNAME=) */
    step_id step;
    int has_from_step; /* replay: start at this step */
    step_id from_step;
    char job_id[REQUEST_UUID_LEN];   /* replay: the job to resume */
    long config_version;             /* es.xml version validated against; 0 = latest */
    char system[REQUEST_SYSTEM_MAX]; /* the guest's es.xml system; "" = not named (resolved) */
    int sequential; /* 1: the spec's order, one operation at a time (the baseline plan) */
    char reason[REQUEST_REASON_MAX]; /* the operator's reason ("" = none given) */
    int has_on_failure;              /* on_failure was given (a replay keeps its job's) */
    int on_failure_rollback;         /* 1: a failure before the commit point rolls back */
    int has_target_state;            /* target_state was given (a replay keeps its job's) */
    int target_stopped;              /* 1: leave the guest defined but shut off on the target */
    int allow_colocation;            /* 1: VM cluster anti-affinity overridden (needs a reason) */
    long evacuation;                 /* the evacuation this move belongs to; 0 = none */
    char submitted_by[64];
    char submitted_at[40]; /* RFC 3339 UTC */
} request;

/* Fills R with defaults: a fresh request_id, action migrate_guest, mode OFFLINE (has_mode 0:
 * a replay carries no mode override unless has_mode is set; a migrate_guest always carries its
 * mode), submitted_at now, submitted_by from the effective user's name. */
void request_init(request *r);

/* Parses and validates a request message (JSON, see schema/request.schema.json): required
 * fields, types, enums, every name through name_check(). Returns 0, or -1 with the reason in
 * errstr. On failure the request_id is still copied to OUT when it could be read (so that a
 * job.rejected event can name it); out->request_id is "" otherwise. */
int request_parse_json(const char *buf, size_t len, request *out, char *errstr, size_t errstr_size);

/* Serialises R as a request message. Returns a malloc'd NUL-terminated string the caller
 * frees, or NULL on allocation failure. */
char *request_to_json(const request *r);

/* Parses the spec's command form, keywords case-insensitive:
 *   MIGRATE GUEST HOSTNAME=g MODE=OFFLINE|OFFLINEFORCE SRCHOST=s TGTHOST=t [WHERE STEPNAME=S]
 * into OUT (which request_init() has prepared; its id and timestamps are kept). Returns 0, or
 * -1 with the reason (unknown keyword, missing parameter, bad name) in errstr. */
int request_parse_command(const char *command, request *out, char *errstr, size_t errstr_size);

/* Validates the names and the combination of fields of R (as request_parse_json does).
 * Returns 0, or -1 with the reason in errstr. */
int request_validate(const request *r, char *errstr, size_t errstr_size);

#endif
