#!/bin/bash
# kvmove rollback, submit --on-failure=rollback, --reason and --target-state=stopped through
# the whole pipeline. A job that failed before its commit point is rolled back by a new
# attempt linked to it (own steps, records and events) that puts the hosts back as they were;
# a rollback whose worker is SIGKILLed in the middle is finished by another worker; a job past
# its commit point, one rolled back already and a replay of a rolled-back job are refused.
. "${BASH_SOURCE[0]%/*}/lib.sh"
it_setup_no_vfpools rollback

G=exa01vm01.example.com A=exa01adm02.example.com B=exa01adm03.example.com
states() { { host_state $A | sed 's/^/A /'; host_state $B | sed 's/^/B /'; } | sed 's/,nofail//'; }
events_of() { sql "SELECT string_agg(payload->>'type', ' ' ORDER BY id) FROM outbox WHERE job_id = '$1'" | sed 's/io\.kvmove\.//g'; }
event_data() { # event_data JOB TYPE FIELD
    sql "SELECT payload->'data'->>'$3' FROM outbox WHERE job_id = '$1' AND payload->>'type' = 'io.kvmove.$2' ORDER BY id DESC LIMIT 1"
}
on_source_only() { # the guest runs, with autostart, on A only
    eq "autostart $G|domain $G running|" \
        "$(host_state $A | grep -E "^(domain|autostart) $G" | tr '\n' '|')$(host_state $B | grep -E "^(domain|autostart) $G" | tr '\n' '|')"
}
NW=0
start_worker() { NW=$((NW + 1)); it_worker_start $NW -o worker.lease_s=3 -o worker.group="w$NW"; }
start_worker

# 1. A failure inside MIGRATE_GUEST (the source's definition is gone, the target refused its
# own): the guest is defined nowhere. kvmove rollback defines and starts it on the source again.
before=$(states)
"$HOSTSIM" fault "$IT_HOSTS" $B fail-always "virsh define"
it_submit $A $B --reason "move for firmware"
check "failed: the job fails in MIGRATE_GUEST" eq failed "$(wait_job "$JOB" 60)"
"$HOSTSIM" fault "$IT_HOSTS" $B clear
check "failed: the guest is defined nowhere" eq "" "$(host_state $A | grep "^domain $G")$(host_state $B | grep "^domain $G")"
check "failed: the reason is stored" eq "move for firmware" "$(sql "SELECT reason FROM jobs WHERE id = '$JOB'")"
check "failed: job.accepted carries the reason" eq "move for firmware" "$(event_data "$JOB" job.accepted reason)"
check "failed: job.failed carries the reason" eq "move for firmware" "$(event_data "$JOB" job.failed reason)"
out=$(kvmove rollback "$JOB" --reason "put it back" --wait --timeout 60)
check "rollback: --wait exits 0" test $? -eq 0
RB=$(sed -n 's/.*(job id \([0-9a-f-]*\))$/\1/p' <<<"$out")
check "rollback: a new attempt linked to the job" eq "rollback|$JOB|2|succeeded|put it back" "$(sql "SELECT action, replay_of, attempt, status, reason FROM jobs WHERE id = '$RB'")"
check "rollback: its own steps" eq "ROLLBACK_DETACH_VOLUMES_TGT ROLLBACK_ATTACH_VOLUMES_SRC ROLLBACK_MIGRATE_GUEST ROLLBACK_ATTACH_INTERFACES_SRC ROLLBACK_STARTUP_GUEST_SRC ROLLBACK_REMOVE_BRIDGES_TGT" \
    "$(sql "SELECT string_agg(step, ' ' ORDER BY seq) FROM job_steps WHERE job_id = '$RB'")"
check "rollback: every step ended" eq 0 "$(sql "SELECT count(*) FROM job_steps WHERE job_id = '$RB' AND status NOT IN ('succeeded', 'skipped')")"
check "rollback: its events" eq "job.accepted" "$(events_of "$RB" | cut -d' ' -f1)"
check "rollback: job.succeeded says so" grep -q "rollback completed" <<<"$(event_data "$RB" job.succeeded message)"
# On a terminal watch numbers a rollback's steps in the rollback's order, out of its 9 steps
# (it said [12/11] for the first one).
tw=$(script -qec "kvmove watch $RB --timeout 30" /dev/null </dev/null | tr -d '\r')
check "rollback: watch shows its first step as [1/9]" grep -q '\[ 1/9\] ROLLBACK_DETACH_VOLUMES_TGT' <<<"$tw"
check "rollback: ...and its last as [8/9]" grep -q '\[ 8/9\] ROLLBACK_REMOVE_BRIDGES_TGT' <<<"$tw"
check "rollback: the failed job keeps its record" eq failed "$(sql "SELECT status FROM jobs WHERE id = '$JOB'")"
check "rollback: the guest runs, with autostart, on the source only" on_source_only
check "rollback: the hosts are as before the job" eq "$before" "$(states)"
check "rollback: safety invariant held" "$HOSTSIM" check "$IT_HOSTS"
out=$(kvmove rollback "$JOB" --wait --timeout 30 2>&1)
check "again: a second rollback is rejected" grep -q "rolled back already (by job $RB)" <<<"$out"
out=$(kvmove replay "$JOB" --wait --timeout 30 2>&1)
check "replay: a rolled-back job is not replayed" grep -q "was rolled back" <<<"$out"

# 2. --target-state=stopped: the guest ends defined, with autostart, shut off on the target.
it_submit $A $B --target-state=stopped --reason "park it"
check "stopped: the job succeeds" eq succeeded "$(wait_job "$JOB" 60)"
check "stopped: recorded" eq "stopped|park it" "$(sql "SELECT target_state, reason FROM jobs WHERE id = '$JOB'")"
check "stopped: STARTUP_GUEST skipped" eq skipped "$(sql "SELECT status FROM job_steps WHERE job_id = '$JOB' AND step = 'STARTUP_GUEST'")"
check "stopped: defined, autostart, shut off on the target" eq "autostart $G|domain $G shut off|" "$(host_state $B | grep -E "^(domain|autostart) $G" | tr '\n' '|')"
check "stopped: nothing left on the source" eq "" "$(host_state $A | grep -E "^(domain|autostart) $G")"
check "stopped: job.accepted says so" eq stopped "$(event_data "$JOB" job.accepted target_state)"
out=$(kvmove rollback "$JOB" --wait --timeout 30 2>&1)
check "committed: a rollback is refused" grep -q "past its commit point" <<<"$out"
"$HOSTSIM" ssh "$IT_HOSTS" $B "virsh start $G" >/dev/null
it_submit $B $A --reason "back home"
check "back: the job succeeds" eq succeeded "$(wait_job "$JOB" 60)"
check "back: the guest runs on the source only" on_source_only

# 3. --on-failure=rollback: a failure before the commit point rolls back with no operator action.
before=$(states)
"$HOSTSIM" fault "$IT_HOSTS" $B fail-always "edvutil attach"
it_submit $A $B --on-failure=rollback --reason "auto"
check "auto: the job fails in ATTACH_VOLUMES" eq "failed|failed" "$(wait_job "$JOB" 60)|$(sql "SELECT status FROM job_steps WHERE job_id = '$JOB' AND step = 'ATTACH_VOLUMES'")"
"$HOSTSIM" fault "$IT_HOSTS" $B clear
RB=$(event_data "$JOB" job.failed rollback_job_id)
check "auto: job.failed names the rollback job" eq "$RB" "$(sql "SELECT id FROM jobs WHERE action = 'rollback' AND replay_of = '$JOB'")"
check "auto: the rollback succeeds" eq succeeded "$([[ -n $RB ]] && wait_job "$RB" 60)"
check "auto: the guest runs on the source only" on_source_only
check "auto: the hosts are as before the job" eq "$before" "$(states)"

# 4. SIGKILL in the middle of a rollback: the worker dies while ROLLBACK_MIGRATE_GUEST defines
# the guest on the source; the next worker takes the rollback over and finishes it.
before=$(states)
"$HOSTSIM" fault "$IT_HOSTS" $B fail-always "virsh define"
it_submit $A $B
check "crash: the job fails in MIGRATE_GUEST" eq failed "$(wait_job "$JOB" 60)"
"$HOSTSIM" fault "$IT_HOSTS" $B clear
"$HOSTSIM" fault "$IT_HOSTS" $A pause "virsh define"
out=$(kvmove rollback "$JOB")
RB=$(sed -n 's/.*(job id \([0-9a-f-]*\))$/\1/p' <<<"$out")
check "crash: the rollback waits in ROLLBACK_MIGRATE_GUEST" "$HOSTSIM" wait-paused "$IT_HOSTS" $A 40
check "crash: ROLLBACK_MIGRATE_GUEST is running" eq running "$(sql "SELECT status FROM job_steps WHERE job_id = '$RB' AND step = 'ROLLBACK_MIGRATE_GUEST'")"
it_worker_stop $NW KILL
"$HOSTSIM" fault "$IT_HOSTS" $A clear
"$HOSTSIM" resume "$IT_HOSTS" $A # the command goes on without its worker
start_worker
check "crash: another worker finishes the rollback" eq succeeded "$(wait_job "$RB" 90)"
check "crash: it took the rollback over" grep -q "Taking over job $RB" "$IT_DIR/worker-$NW.log"
check "crash: ROLLBACK_MIGRATE_GUEST begun twice" eq 2 "$(sql "SELECT attempts FROM job_steps WHERE job_id = '$RB' AND step = 'ROLLBACK_MIGRATE_GUEST'")"
check "crash: the guest runs on the source only" on_source_only
check "crash: the hosts are as before the job" eq "$before" "$(states)"
check "safety invariant held throughout" "$HOSTSIM" check "$IT_HOSTS"
kvmove events --validate >"$IT_DIR/events.jsonl" 2>"$IT_DIR/events.err"
check "every event published matches event.schema.json" eq "" "$(cat "$IT_DIR/events.err")"
