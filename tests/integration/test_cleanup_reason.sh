#!/bin/bash
# --reason on kvmove cleanup (and submit): an OFFLINEFORCE move off a dead host with a reason;
# `kvmove cleanup --host H --reason TEXT` while the host is still down (a worker runs it: the
# cleanup stays pending, exit 1, the reason recorded); once the host is back `kvmove cleanup`
# removes the stale copy (or the worker's fencer did) and the reason is kept: host_cleanups.
# done_reason and cleanup.completed's data.reason.
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
out=$(kvmove cleanup --host $S --reason "host back from repair" --timeout 120)
check "kvmove cleanup --reason while the host is down: still pending (exit 1)" test $? -eq 1
check "  it says so" grep -q "0 cleanups done now, 1 still pending" <<<"$out"
"$HOSTSIM" power-on "$IT_HOSTS" $S
out=$(kvmove cleanup --host $S --timeout 120)
check "kvmove cleanup once the host is back: nothing left pending" test $? -eq 0
check "the cleanup records the reason" eq "done|host back from repair" "$(sql "SELECT status, done_reason FROM host_cleanups WHERE job_id = '$job'")"
check "cleanup.completed carries it" eq "host back from repair" "$(sql "SELECT payload->'data'->>'reason' FROM outbox WHERE job_id = '$job' AND payload->>'type' = 'io.kvmove.cleanup.completed'")"
check "the stale copy is gone from the source" eq 0 "$(host_state $S | grep -c "domain $G")"
check "safety invariant held" "$HOSTSIM" check "$IT_HOSTS"
kvmove events --validate >"$IT_DIR/events.jsonl" 2>"$IT_DIR/events.err"
check "every event published matches event.schema.json" eq "" "$(cat "$IT_DIR/events.err")"
