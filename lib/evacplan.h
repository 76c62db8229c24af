/* evacplan: where each guest of a KVM host goes when it is evacuated (kvmove evacuate): largest
 * first, each to the target where the full live preflight passes with the most free memory.
 * Run by a worker on request (a plan probe, lib/probe.h): only workers hold the hosts' key. */
#ifndef KVMOVE_EVACPLAN_H
#define KVMOVE_EVACPLAN_H

#include <stddef.h>

#include "esxml.h"
#include "jobstore.h"
#include "preflight.h"

typedef struct evacplan_move {
    const esxml_guest *guest;
    const esxml_host *to; /* NULL: not moved (OUTCOME says so, WHY says why on each target) */
    char outcome[600];
    char *why; /* "\n      HOST: CHECK failed: MESSAGE" per failing target (malloc'd) or NULL */
} evacplan_move;

/* How the planner asks the hosts and what it assumes (preflight_input's fields). */
typedef struct evacplan_input {
    const esxml *doc;
    long version;
    const esxml_host *src;
    const char *targets; /* comma-separated KVM hosts of DOC, or NULL / "" for every other */
    double vcpu_overcommit;
    preflight_connect_fn connect;
    preflight_release_fn release;
    void *connect_ctx;
} evacplan_input;

/* Checks IN->targets: every name a KVM host of IN->doc other than IN->src. Returns 0, or -1
 * with the reason in errstr. */
int evacplan_check_targets(const evacplan_input *in, char *errstr, size_t errstr_size);

/* Plans the evacuation of IN->src: one move per guest of it (*MOVES, *N; free with
 * evacplan_free), the memory jobs in flight reserve on each target counted (JS). Returns 0, or
 * a negative code with errstr. */
int evacplan_run(jobstore *js, const evacplan_input *in, evacplan_move **moves, size_t *n,
                 char *errstr, size_t errstr_size);
void evacplan_free(evacplan_move *moves, size_t n);

#endif
