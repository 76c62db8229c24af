#!/bin/bash
# --reason on kvmove cleanup (and submit): an OFFLINEFORCE move off a dead host with a reason;
# the host comes back while no worker runs; `kvmove cleanup --host H --reason TEXT` removes the
# stale copy and records why: host_cleanups.done_reason and cleanup.completed's data.reason.
. "${BASH_SOURCE[0]%/*}/lib.sh"
it_setup cleanup_reason
S=exa01adm02.example.com T=exa01adm06.example.com G=exa01vm01.example.com
it_worker_start 1
"$HOSTSIM" power-off "$IT_HOSTS" $S
out=$(kvmove submit --guest $G --mode offlineforce --src $S --tgt $T --reason "adm02 lost power" --wait --timeout 120)
check "OFFLINEFORCE with a reason succeeds" test $? -eq 0
job=$(sql "SELECT id FROM jobs WHERE guest = '$G'")
check "the job keeps the reason" eq "adm02 lost power" "$(sql "SELECT reason FROM jobs WHERE id = '$job'")"
check "job.succeeded carries it" eq "adm02 lost power" "$(sql "SELECT payload->'data'->>'reason' FROM outbox WHERE job_id = '$job' AND payload->>'type' = 'io.kvmove.job.succeeded'")"
it_worker_stop 1 # nobody cleans up by itself now
"$HOSTSIM" power-on "$IT_HOSTS" $S
out=$(kvmove cleanup --host $S --reason "host back from repair")
check "kvmove cleanup --reason: nothing left pending" test $? -eq 0
check "the cleanup records the reason" eq "done|host back from repair" "$(sql "SELECT status, done_reason FROM host_cleanups WHERE job_id = '$job'")"
check "cleanup.completed carries it" eq "host back from repair" "$(sql "SELECT payload->'data'->>'reason' FROM outbox WHERE job_id = '$job' AND payload->>'type' = 'io.kvmove.cleanup.completed'")"
check "the stale copy is gone from the source" eq 0 "$(host_state $S | grep -c "domain $G")"
check "safety invariant held" "$HOSTSIM" check "$IT_HOSTS"
kvmove events --validate >"$IT_DIR/events.jsonl" 2>"$IT_DIR/events.err"
check "every event published matches event.schema.json" eq "" "$(cat "$IT_DIR/events.err")"
