#!/bin/bash
# Graceful shutdown: SIGTERM during a job lets the running step finish (within worker.grace_s)
# and hands the job to another worker, which resumes at the next step; past the grace period
# the step is handed back unfinished and re-run by the other worker. Never a failed step.
. "${BASH_SOURCE[0]%/*}/lib.sh"
it_setup shutdown
S=exa01adm02.example.com T=exa01adm06.example.com

# stop_worker N: SIGTERM, wait for the exit; STOP_RC gets the exit status.
stop_worker() {
    local pid; pid=$(cat "$IT_DIR/worker-$1.pid")
    kill -TERM "$pid"
    wait "$pid"
    STOP_RC=$?
    rm -f "$IT_DIR/worker-$1.pid"
}
# wait_step JOB STEP STATUS: until the step has that status (up to 60 s).
wait_step() {
    for _ in $(seq 600); do
        [[ $(sql "SELECT status FROM job_steps WHERE job_id = '$1' AND step = '$2'") == "$3" ]] && return 0
        sleep 0.1
    done
    return 1
}
# events_of JOB TYPE STEP: the sources (worker ids) of the job's events of TYPE for STEP.
events_of() {
    jq -r --arg j "$1" --arg t "io.kvmove.$2" --arg s "$3" \
        'select(.data.job_id == $j and .type == $t and .data.step == $s) | .source | sub(".*/"; "")' "$IT_DIR/events.jsonl" | sort -u | paste -sd,
}

# stop_during STEP HOST OP MS A B [OPTION...]: OP on HOST takes MS ms; worker A (with the
# OPTIONs) takes the migration of G (its id in job) and, once STEP runs there, worker B starts
# and A gets SIGTERM; A must exit 0.
stop_during() {
    local step=$1 host=$2 op=$3 ms=$4 a=$5 b=$6
    shift 6
    "$HOSTSIM" latency "$IT_HOSTS" "$host" "$op" "$ms"
    it_worker_start "$a" -o metrics.listen= "$@"
    kvmove submit --guest $G --mode offline --src $S --tgt $T >/dev/null
    job=$(job_of $G)
    check "$step running on worker $a" wait_step "$job" "$step" running
    it_worker_start "$b" -o metrics.listen=
    stop_worker "$a"
    check "worker $a exits 0 on SIGTERM" eq 0 "$STOP_RC"
}

# 1. The step ends within the grace period: worker 1 finishes STOP_GUEST, hands the job back.
G=exa01vm01.example.com
stop_during STOP_GUEST $S "vm_maker --stop-domain" 3000 1 2
check "worker 1 logged the graceful stop" grep -q "stopping: no new jobs" "$IT_DIR/worker-1.log"
check "worker 1 finished the running step (not abandoned)" eq 0 "$(grep -c "grace period of .* over" "$IT_DIR/worker-1.log")"
check "STOP_GUEST completed by worker 1" eq succeeded "$(sql "SELECT status FROM job_steps WHERE job_id = '$job' AND step = 'STOP_GUEST'")"
check "job released, not failed" eq 0 "$(sql "SELECT count(*) FROM jobs WHERE id = '$job' AND (status = 'failed' OR lease_owner = 'worker-1' AND lease_expires > now())")"
check "the other worker finishes the job" eq succeeded "$(wait_job "$job" 120)"
check "worker 2 took it over" grep -q "Taking over job $job" "$IT_DIR/worker-2.log"
check "no failed step" eq 0 "$(sql "SELECT count(*) FROM job_steps WHERE job_id = '$job' AND status = 'failed'")"
check "no step ran twice" eq 0 "$(sql "SELECT count(*) FROM job_steps WHERE job_id = '$job' AND attempts > 1")"
check "guest running on the target" grep -qx "domain $G running" <<<"$(host_state $T)"
kvmove events >"$IT_DIR/events.jsonl"
check "events: STOP_GUEST completed by worker 1" eq worker-1 "$(events_of "$job" step.completed STOP_GUEST)"
check "events: STARTUP_GUEST completed by worker 2" eq worker-2 "$(events_of "$job" step.completed STARTUP_GUEST)"
check "events: no step failed" eq "" "$(jq -r --arg j "$job" 'select(.data.job_id == $j and .type == "io.kvmove.step.failed") | .id' "$IT_DIR/events.jsonl")"
stop_worker 2
check "an idle worker stops with 0" eq 0 "$STOP_RC"
"$HOSTSIM" latency "$IT_HOSTS" $S clear

# 2. The step outlasts the grace period: worker 3 hands it back unfinished and exits; worker 4
# runs it again (steps observe the host first, so the second run is safe).
G=exa01vm02.example.com
stop_during STARTUP_GUEST $T "vm_maker --start-domain" 5000 3 4 -o worker.grace_s=1
check "worker 3 handed the unfinished step back" grep -q "grace period of 1 s over: handing back 1 running step" "$IT_DIR/worker-3.log"
check "the other worker finishes the job" eq succeeded "$(wait_job "$job" 120)"
check "worker 4 took it over" grep -q "Taking over job $job" "$IT_DIR/worker-4.log"
check "no failed step" eq 0 "$(sql "SELECT count(*) FROM job_steps WHERE job_id = '$job' AND status = 'failed'")"
check "STARTUP_GUEST run again by worker 4" eq "succeeded:2" "$(sql "SELECT status || ':' || attempts FROM job_steps WHERE job_id = '$job' AND step = 'STARTUP_GUEST'")"
check "guest running on the target" grep -qx "domain $G running" <<<"$(host_state $T)"
check "no safety violation observed" "$HOSTSIM" check "$IT_HOSTS"
for _ in $(seq 50); do [[ $(sql "SELECT count(*) FROM outbox WHERE published_at IS NULL") == 0 ]] && break; sleep 0.1; done
check "every event published" eq 0 "$(sql "SELECT count(*) FROM outbox WHERE published_at IS NULL")"
