#!/bin/bash
# Waits with a deadline for the integration tests (sourced after lib.sh). A wait that runs out
# says what it waited for and returns 1, so that the check around it fails with the reason
# instead of the test going on as if the awaited thing had happened.

# it_until SECONDS DESCRIPTION COMMAND...: runs COMMAND every 0.1 s until it succeeds. Returns 0,
# or 1 after SECONDS with "timed out after SECONDS s waiting for DESCRIPTION" on stderr.
it_until() {
    local t=$1 what=$2 i
    shift 2
    for ((i = 0; i < t * 10; i++)); do
        "$@" && return 0
        sleep 0.1
    done
    "$@" && return 0
    echo "    timed out after $t s waiting for $what" >&2
    return 1
}

# waited DESCRIPTION SECONDS COMMAND...: one assertion: COMMAND succeeds within SECONDS.
waited() {
    local what=$1 t=$2
    shift 2
    check "$what (within $t s)" it_until "$t" "$what" "$@"
}

# outbox_drained: every event in the outbox has been published.
outbox_drained() { [[ $(sql "SELECT count(*) FROM outbox WHERE published_at IS NULL") == 0 ]]; }
# job_recorded ID: a job row with id (= request id) ID exists.
job_recorded() { [[ $(sql "SELECT count(*) FROM jobs WHERE id = '$1'") == 1 ]]; }
# log_has FILE PATTERN: FILE has a line matching the extended regex PATTERN.
log_has() { grep -qE -- "$2" "$1" 2>/dev/null; }
