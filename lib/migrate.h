/* migrate: the eleven offline-migration steps, each observing the host before it acts. */
#ifndef KVMOVE_MIGRATE_H
#define KVMOVE_MIGRATE_H

#include <stddef.h>

#include "esxml.h"
#include "hostconn.h"
#include "step.h"

/* What a step runs against. The views point into DOC, which outlives the env. */
typedef struct migrate_env {
    const esxml *doc;
    const esxml_guest *guest;
    const esxml_host *src;
    const esxml_host *tgt;
    migrate_mode mode;
    int command_timeout_ms; /* per host command; 0 = none */
    /* Returns a session to HOST (kept and reused by the caller's pool; not freed by the step),
     * or a negative hostconn code with errstr (-HOSTCONN_EUNREACHABLE when it is down). The
     * session must stay open until the step releases it. */
    int (*connect)(void *ctx, const esxml_host *host, hostconn **out, char *errstr,
                   size_t errstr_size);
    /* Called once for every session connect gave, when the step that asked for it ends: until
     * then the pool must not close it (hostsession pins it). RC: 0, or the negative hostconn code
     * of a command that failed on it (hostsession_put says what that means for the session).
     * May be NULL (the caller's pool then keeps its sessions as it likes). */
    void (*release)(void *ctx, hostconn *c, int rc);
    /* Called with each progress line as it happens (may be NULL). */
    void (*log)(void *ctx, const char *line);
    void *ctx;
    int sequential; /* 1: one operation at a time (the spec's baseline); 0: batch independent ones
                     */
    /* What this run observed on the hosts before the guest stopped, so that the steps inside
     * the downtime do not ask again; owned by the env (migrate_env_init / migrate_env_free). */
    struct migrate_cache *cache;
} migrate_env;

/* Prepares ENV's cache (call once per job before the first step). Returns 0 or -1. */
int migrate_env_init(migrate_env *env);
/* Frees what migrate_env_init allocated. */
void migrate_env_free(migrate_env *env);

/* The order steps run in. SEQUENTIAL: the spec's log order. Otherwise work that does not need
 * the guest stopped runs before STOP_GUEST (target bridges) and source cleanup the guest does
 * not wait for runs after STARTUP_GUEST. Writes STEP__COUNT steps into ORDER. */
void migrate_plan(int sequential, step_id order[STEP__COUNT]);

typedef struct migrate_result {
    step_state state;   /* STEP_SUCCEEDED, STEP_SKIPPED or STEP_FAILED */
    char message[1024]; /* one line: what happened or why it failed */
    char *output;  /* every progress line of the step, malloc'd; free with migrate_result_free */
    int transient; /* 1 if the failure may go away on retry (host unreachable, timeout) */
    int cleanup_pending; /* OFFLINEFORCE left source-side work undone on an unreachable source:
                            record a pending cleanup (fence) for the source host */
} migrate_result;

/* The host a step acts on (ENV's source or target; NULL for a step out of range). */
const esxml_host *migrate_step_host(const migrate_env *env, step_id step);

/* 0 if STEP does nothing in ENV's deployment (the NAT steps outside a cloud deployment: it
 * ends skipped, saying so), else 1. */
int migrate_step_applies(const migrate_env *env, step_id step);

/* Runs STEP. Each step first observes the host and does only what is not done yet, so running
 * it again after a crash is safe. Returns 0 with *RES filled (its state says how it ended);
 * RES->output must be freed with migrate_result_free(). -1 for a step out of range. */
int migrate_step(migrate_env *env, step_id step, migrate_result *res);
void migrate_result_free(migrate_result *res);

/* The spec's per-step summary line:
 * "Migrate guest G from S to T. Step STEP completed successfully..." into BUF. */
void migrate_summary_line(const migrate_env *env, step_id step, char *buf, size_t size);

#endif
