#!/bin/bash
# kvmove cancel, through the whole pipeline (CLI -> Kafka -> worker -> PostgreSQL -> events):
# a queued job never starts; a running job is cancelled while each step of the plan (and its
# preflight) waits on a simulator `pause` fault, so that the cancel takes effect at the step
# boundary after it. Before the commit point (MIGRATE_GUEST done) the job ends cancelled and its
# rollback job puts the hosts back as they were (the guest running, with autostart, on its
# source); from MIGRATE_GUEST on the job completes forward. After each: the guest runs on exactly
# one host, has autostart on exactly one, each of its volumes is attached to exactly one host,
# and the simulator never saw the safety invariant broken. A cancel of an ended job is rejected.
. "${BASH_SOURCE[0]%/*}/lib.sh"
it_setup_no_vfpools cancel

G=exa01vm01.example.com A=exa01adm02.example.com B=exa01adm03.example.com
VOLUMES=$(host_state $A | sed -n 's/^attached \(exa01vm01_[a-z0-9_]*\)$/\1/p')
check "the guest has volumes on $A" test -n "$VOLUMES"

# submit SRC TGT [OPTS...]: publishes the migration of G; sets JOB.
# states: both hosts' state, kvmove's fstab option (nofail) left out (the seeded entries lack it).
states() { { host_state $A | sed 's/^/A /'; host_state $B | sed 's/^/B /'; } | sed 's/,nofail//'; }
# where: the host G runs on, has autostart on, and its volumes are attached to ("A"/"B" each).
where() {
    local h out= v
    for h in A B; do
        local n=${!h}
        host_state "$n" | grep -qx "domain $G running" && out+="run:$h "
    done
    for h in A B; do
        local n=${!h}
        host_state "$n" | grep -qx "autostart $G" && out+="autostart:$h "
    done
    for v in $VOLUMES; do
        for h in A B; do
            local n=${!h}
            host_state "$n" | grep -qx "attached $v" && out+="$v:$h "
        done
    done
    echo "${out% }"
}
expect_on() { # expect_on A|B: what `where` says when G is wholly on that host
    local out="run:$1 autostart:$1" v
    for v in $VOLUMES; do out+=" $v:$1"; done
    echo "$out"
}
events_of() { # events_of JOB: the types of JOB's events in the outbox, in order
    sql "SELECT string_agg(payload->>'type', ' ' ORDER BY id) FROM outbox WHERE job_id = '$1'" | sed 's/io\.kvmove\.//g'
}
tag() { if [[ $1 == "$A" ]]; then echo A; else echo B; fi; }

# 1. A queued job never starts, and a job cancelled during its preflight changes nothing. The
# first job (G2) waits in its preflight; with one running job per host allowed, the second
# (G) stays queued behind it.
G2=exa01vm02.example.com
it_worker_start 1 -o worker.lease_s=3 -o worker.max_jobs_per_host=1
before=$(states)
"$HOSTSIM" fault "$IT_HOSTS" $B pause "vm_maker --host-info"
out=$(kvmove submit --guest $G2 --mode offline --src $A --tgt $B)
JOB2=$(sed -n 's/.*(job id \([0-9a-f-]*\))$/\1/p' <<<"$out")
check "preflight: the first job waits in its preflight" "$HOSTSIM" wait-paused "$IT_HOSTS" $B 40
it_submit $A $B --reason "first try"
service_wait "job $JOB recorded" 30 - - bash -c "[[ \$(psql '$KVMOVE_DB' -qAtX -c \"SELECT status FROM jobs WHERE id = '$JOB'\") == queued ]]"
out=$(kvmove --json cancel "$JOB" --reason "wrong target" --wait --timeout 30)
check "queued: cancel --wait exits 0" test $? -eq 0
check "queued: outcome cancelled" eq cancelled "$(jq -r .outcome <<<"$out")"
check "queued: job cancelled, with the reasons" eq "cancelled|wrong target|first try" "$(sql "SELECT status, cancel_reason, reason FROM jobs WHERE id = '$JOB'")"
check "queued: no step ran" eq 0 "$(sql "SELECT count(*) FROM job_steps WHERE job_id = '$JOB' AND status <> 'pending'")"
check "queued: events" eq "job.accepted job.cancel_requested job.cancelled" "$(events_of "$JOB")"
check "queued: reason in job.cancelled" eq "wrong target" "$(sql "SELECT payload->'data'->>'reason' FROM outbox WHERE job_id = '$JOB' AND payload->>'type' = 'io.kvmove.job.cancelled'")"
out=$(kvmove cancel "$JOB2" --reason "not now" --wait --timeout 30)
check "preflight: cancel requested" grep -q ": requested: " <<<"$out"
"$HOSTSIM" fault "$IT_HOSTS" $B clear
"$HOSTSIM" resume "$IT_HOSTS" $B
check "preflight: the job ends cancelled" eq cancelled "$(wait_job "$JOB2" 60)"
check "preflight: nothing ran, no rollback" eq "0|0" "$(sql "SELECT (SELECT count(*) FROM job_steps WHERE job_id = '$JOB2' AND status <> 'pending'), (SELECT count(*) FROM jobs WHERE replay_of = '$JOB2')")"
check "preflight: job.cancelled says no host changed" grep -q "no host was changed" <<<"$(sql "SELECT payload->'data'->>'message' FROM outbox WHERE job_id = '$JOB2' AND payload->>'type' = 'io.kvmove.job.cancelled'")"
check "queued, preflight: the hosts are unchanged" eq "$before" "$(states)"
out=$(kvmove cancel "$JOB" --wait --timeout 30 2>&1)
check "ended: a second cancel is rejected (exit 1)" test $? -eq 1
check "ended: it says why" grep -q "has ended (cancelled)" <<<"$out"
check "ended: the job is still cancelled" eq cancelled "$(sql "SELECT status FROM jobs WHERE id = '$JOB'")"

# 2. A cancel while each step waits: "ROLE STEP PATTERN" (S source, T target; the pattern is a
# command of that step that preflight never sends).
POINTS="T CREATE_BRIDGES vm_maker --add-bridge
S STOP_GUEST vm_maker --stop-domain
S DETACH_INTERFACES vm_maker --detach-interface
S DETACH_VOLUMES edvutil detach
T ATTACH_VOLUMES edvutil attach
T MIGRATE_GUEST virsh define
T ATTACH_INTERFACES vm_maker --attach-interface
T STARTUP_GUEST vm_maker --start-domain
S REMOVE_BRIDGES vm_maker --remove-bridge"
committed=0 src=$A tgt=$B
while read -r role step pat; do
    [[ $role == S ]] && h=$src || h=$tgt
    [[ $step == MIGRATE_GUEST ]] && committed=1
    before=$(states)
    "$HOSTSIM" fault "$IT_HOSTS" "$h" pause "$pat"
    it_submit $src $tgt --reason "maintenance of $(tag $src)"
    if ! "$HOSTSIM" wait-paused "$IT_HOSTS" "$h" 40 >/dev/null; then
        check "$step: '$pat' reached on $(tag $h)" false
        "$HOSTSIM" fault "$IT_HOSTS" "$h" clear
        break
    fi
    check "$step: the job waits in $step" eq running "$(sql "SELECT status FROM job_steps WHERE job_id = '$JOB' AND step = '$step'")"
    forward=$(grep -c "Cancel requested before .*, past the commit point" "$IT_DIR"/worker-1.log)
    out=$(kvmove --json cancel "$JOB" --reason "cancel in $step" --wait --timeout 30)
    check "$step: cancel requested" eq requested "$(jq -r .outcome <<<"$out")"
    "$HOSTSIM" fault "$IT_HOSTS" "$h" clear
    "$HOSTSIM" resume "$IT_HOSTS" "$h"
    st=$(wait_job "$JOB" 60)
    if ((committed)); then
        check "$step: past the commit point the job completes forward" eq succeeded "$st"
        check "$step: the guest is wholly on the target" eq "$(expect_on "$(tag $tgt)")" "$(where)"
        check "$step: the worker said so" eq $((forward + 1)) "$(grep -c "Cancel requested before .*, past the commit point" "$IT_DIR"/worker-1.log)"
        check "$step: job.cancel_requested, no job.cancelled" eq "job.cancel_requested" "$(events_of "$JOB" | grep -o 'job\.cancel[a-z_]*' | tr '\n' ' ' | sed 's/ $//')"
        x=$src src=$tgt tgt=$x
        continue
    fi
    check "$step: the job ends cancelled" eq cancelled "$st"
    rb=$(sql "SELECT id FROM jobs WHERE action = 'rollback' AND replay_of = '$JOB'")
    check "$step: a rollback job follows, named in job.cancelled" eq "$rb" "$(sql "SELECT payload->'data'->>'rollback_job_id' FROM outbox WHERE job_id = '$JOB' AND payload->>'type' = 'io.kvmove.job.cancelled'")"
    check "$step: the rollback succeeds" eq succeeded "$([[ -n $rb ]] && wait_job "$rb" 60)"
    check "$step: the rollback carries the reason" eq "cancel in $step" "$(sql "SELECT reason FROM jobs WHERE id = '$rb'")"
    check "$step: rollback events" eq "job.accepted step.started" "$(events_of "$rb" | cut -d' ' -f1-2)"
    check "$step: the rollback's steps all ended" eq 0 "$(sql "SELECT count(*) FROM job_steps WHERE job_id = '$rb' AND status NOT IN ('succeeded', 'skipped')")"
    check "$step: events of the job" eq "job.cancel_requested job.cancelled" "$(events_of "$JOB" | grep -o 'job\.cancel[a-z_]*' | tr '\n' ' ' | sed 's/ $//')"
    check "$step: reason in job.cancel_requested" eq "cancel in $step" "$(sql "SELECT payload->'data'->>'reason' FROM outbox WHERE job_id = '$JOB' AND payload->>'type' = 'io.kvmove.job.cancel_requested'")"
    check "$step: the guest is wholly back on the source" eq "$(expect_on "$(tag $src)")" "$(where)"
    check "$step: the hosts are as before the job" eq "$before" "$(states)"
    check "$step: safety invariant held" "$HOSTSIM" check "$IT_HOSTS"
done <<<"$POINTS"
check "safety invariant held throughout" "$HOSTSIM" check "$IT_HOSTS"
kvmove events --validate >"$IT_DIR/events.jsonl" 2>"$IT_DIR/events.err"
check "every event published matches event.schema.json" eq "" "$(cat "$IT_DIR/events.err")"
