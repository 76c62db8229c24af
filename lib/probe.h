/* probe: the requests a worker answers with a result instead of a job: the pending OFFLINEFORCE
 * cleanups run now (kvmove cleanup), the full preflight of a migration with its plan
 * (kvmove submit --dry-run) and the placement of a host's evacuation (kvmove evacuate). They travel
 * on kvmove.requests, signed like migration requests, so that only workers hold the hosts' SSH key;
 * the result comes back through table probes. */
#ifndef KVMOVE_PROBE_H
#define KVMOVE_PROBE_H

#include <stddef.h>

#include "request.h"

typedef enum { PROBE_CLEANUP, PROBE_DRY_RUN, PROBE_PLAN, PROBE__COUNT } probe_kind;

/* The kind's name as in messages (their "action") and probes.kind: "cleanup", "dry_run", "plan"
 * (static; NULL when out of range). */
const char *probe_kind_to_string(probe_kind kind);
/* Parses a kind's name (exact). Returns 0 and *OUT, or -1. */
int probe_kind_from_string(const char *name, probe_kind *out);

#define PROBE_TARGETS_MAX 2048

typedef struct probe_request {
    char request_id[REQUEST_UUID_LEN]; /* the probe's id: its row in probes */
    probe_kind kind;
    /* cleanup: only the pending cleanups of HOST and/or GUEST ("" = any), and the operator's
     * reason (stored with each cleanup done, carried in its cleanup.completed event) */
    char host[REQUEST_NAME_MAX]; /* plan: the host to evacuate */
    char guest[REQUEST_NAME_MAX];
    char reason[REQUEST_REASON_MAX];
    char targets[PROBE_TARGETS_MAX]; /* plan: comma-separated KVM hosts ("" = every other) */
    /* dry_run: the migration to probe, as kvmove submit would publish it (action
     * migrate_guest; its request_id and submitted_* are the probe's) */
    request migration;
    char submitted_by[64];
    char submitted_at[40]; /* RFC 3339 UTC */
} probe_request;

/* Fills P with a fresh request of KIND (request_init's id, time and user). */
void probe_init(probe_request *p, probe_kind kind);

/* The kind of the request message BUF (its "action"), when it is a probe: 0 and *KIND; -1 for
 * anything else (a migration request, or not JSON: request_parse_json says why). */
int probe_message_kind(const char *buf, size_t len, probe_kind *kind);

/* Parses and validates a probe message. A cleanup has request_id, action "cleanup", optional
 * host, guest and reason, submitted_by and submitted_at; a dry_run is a migrate_guest request
 * with action "dry_run" (every field and rule of request_parse_json). Returns 0, or -1 with the
 * reason in errstr (out->request_id is still set when it could be read). A plan has request_id,
 * action "plan", host, optional targets (comma-separated host names), submitted_by and
 * submitted_at. */
int probe_parse_json(const char *buf, size_t len, probe_request *out, char *errstr,
                     size_t errstr_size);

/* Serialises P as a probe message (malloc'd, caller frees; NULL when out of memory or when P
 * is not valid: probe_parse_json(probe_to_json(P)) gives P back). */
char *probe_to_json(const probe_request *p);

#endif
