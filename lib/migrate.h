/* migrate: the eleven offline-migration steps and the rollback steps that undo them, each
 * observing the host before it acts. */
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
    /* 1: STARTUP_GUEST leaves the guest defined but shut off on the target (submit
     * --target-state=stopped); it ends skipped, saying so with REASON (may be NULL). */
    int target_stopped;
    const char *reason;
    /* Set by migrate_step on the copy a rollback step runs with (source and target swapped): 1
     * while a rollback step runs. Callers leave it 0. */
    int reversed;
    /* What this run observed on the hosts before the guest stopped, so that the steps inside
     * the downtime do not ask again; owned by the env (migrate_env_init / migrate_env_free). */
    struct migrate_cache *cache;
    /* The job's record of the bridges it creates on its target, kept by the caller (the job
     * store) across retries, crashes and attempts, so that a rollback removes only those. Both
     * may be NULL: nothing is recorded, and a rollback removes every bridge of the guest no
     * other guest uses (as for a job recorded before the record existed). */
    /* Adds NAMES (one a line; "" for none) to what the job records as created by STEP
     * (STEP_CREATE_BRIDGES or STEP_CREATE_NAT_BRIDGE_TGT), durably. The step calls it with the
     * bridges it found missing before it sends any change, also when none is missing. Returns 0,
     * or -1 with errstr: the step fails as transient (retried, or handed back when the worker
     * stops), having changed nothing. */
    int (*bridges_record)(void *ctx, step_id step, const char *names, char *errstr,
                          size_t errstr_size);
    /* *NAMES = the bridges recorded as created by STEP (as above) by the job a rollback undoes,
     * across its attempts (malloc'd, one a line, caller frees), or NULL when none of them
     * recorded anything for STEP (a job from before the record). Returns 0, or -1 with errstr
     * (the step fails as transient, having changed nothing). */
    int (*bridges_created)(void *ctx, step_id step, char **names, char *errstr, size_t errstr_size);
    void *bridges_ctx; /* their CTX */
} migrate_env;

/* Prepares ENV's cache (call once per job before the first step). Returns 0 or -1. */
int migrate_env_init(migrate_env *env);
/* Frees what migrate_env_init allocated. */
void migrate_env_free(migrate_env *env);

/* The order steps run in. SEQUENTIAL: the spec's log order. Otherwise work that does not need
 * the guest stopped runs before STOP_GUEST (target bridges) and source cleanup the guest does
 * not wait for runs after STARTUP_GUEST. Writes STEP__COUNT steps into ORDER. */
void migrate_plan(int sequential, step_id order[STEP__COUNT]);

/* A rollback undoes a migration that has not reached its commit point (MIGRATE_GUEST succeeded):
 * each rollback step runs the migration step with the opposite effect with source and target
 * swapped (ROLLBACK_DETACH_VOLUMES_TGT is DETACH_VOLUMES on the target, ...), so it observes
 * first and is safe to run again, and the guest ends running, with autostart, on its source
 * only. The rollback step that undoes migration step STEP, or STEP__ALL when STEP has nothing to
 * undo before the commit point (ATTACH_INTERFACES and STARTUP_GUEST act on a guest the target
 * has not been given yet). */
step_id migrate_undo_step(step_id step);
/* 1 when a job whose migration steps are in STATE (as recorded across its attempts; STEP_PENDING
 * for a step that never ran) is past its commit point: MIGRATE_GUEST succeeded, the guest is the
 * target's. A cancel then completes forward; a rollback is refused. */
int migrate_committed(const step_state state[STEP__COUNT]);
/* The rollback of a job whose migration steps are in STATE (not committed): the rollback steps
 * that undo the steps that ran (succeeded, failed or interrupted), and always
 * ROLLBACK_STARTUP_GUEST_SRC, in the order they run (volumes back first, the guest started on
 * the source, then the target's bridges removed outside the downtime). Writes them into ORDER;
 * returns how many, 0 when no step ran (nothing to undo). */
size_t migrate_rollback_plan(const step_state state[STEP__COUNT], step_id order[STEP__ALL]);

typedef struct migrate_result {
    step_state state;   /* STEP_SUCCEEDED, STEP_SKIPPED or STEP_FAILED */
    char message[1024]; /* one line: what happened or why it failed */
    char *output;  /* every progress line of the step, malloc'd; free with migrate_result_free */
    int transient; /* 1 if the failure may go away on retry (host unreachable, timeout) */
    int cleanup_pending; /* OFFLINEFORCE left source-side work undone on an unreachable source:
                            record a pending cleanup (fence) for the source host */
} migrate_result;

/* The host a step acts on (ENV's source or target; NULL for a step out of range). A rollback step
 * acts on the host its name ends with (ROLLBACK_MIGRATE_GUEST: the source, where the guest goes
 * back to). */
const esxml_host *migrate_step_host(const migrate_env *env, step_id step);

/* 0 if STEP does nothing in ENV's deployment (the NAT steps outside a cloud deployment: it
 * ends skipped, saying so), else 1. */
int migrate_step_applies(const migrate_env *env, step_id step);

/* What a step that removes the guest's bridges does with one of them that is on the host. */
typedef enum {
    MIGRATE_BRIDGE_REMOVE,     /* it goes */
    MIGRATE_BRIDGE_IN_USE,     /* kept: other guests (in es.xml) use it there */
    MIGRATE_BRIDGE_PREEXISTING /* kept (a rollback): the job did not create it, it was there */
} migrate_bridge_fate;
/* The one rule for removing BRIDGE, present on the host: IN_USE is 1 when other guests use it
 * there. CREATED is NULL for the forward removal from the source (and for a rollback of a job
 * with no record), else the bridges the job a rollback undoes recorded as created (one a line;
 * "" for none): a bridge not among them was there before the migration and stays. */
migrate_bridge_fate migrate_bridge_fate_of(const char *bridge, int in_use, const char *created);

/* Runs STEP. Each step first observes the host and does only what is not done yet, so running
 * it again after a crash is safe. Returns 0 with *RES filled (its state says how it ended);
 * RES->output must be freed with migrate_result_free(). -1 for a step out of range. */
int migrate_step(migrate_env *env, step_id step, migrate_result *res);
void migrate_result_free(migrate_result *res);

/* The spec's per-step summary line:
 * "Migrate guest G from S to T. Step STEP completed successfully..." into BUF; for a rollback
 * step "Roll back guest G from T to S. Step STEP completed successfully...". */
void migrate_summary_line(const migrate_env *env, step_id step, char *buf, size_t size);

#endif
