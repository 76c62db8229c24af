#!/bin/bash
# kvmove cancel of a job whose request is still in Kafka (not recorded yet), through the whole
# pipeline: the cancel wins. 1: with the worker stopped, a cancel ahead of its job's request;
# once the worker starts, the job is recorded and ended cancelled at once, with the events of a
# cancelled queued job in order, and no host command in the simulator's commands.log. 1b: kvmove
# submit then kvmove cancel with the worker stopped (keyed apart, read in either order): the job
# ends cancelled before any step, no host changed. 2, 3: a cancel recorded before its job's
# request (kept back, then published) is pending: `--wait` says until when and exits 0,
# `--follow` waits for the job, which is ended cancelled on arrival. 4: a pending cancel whose
# job never comes is rejected once its time is up (the intake's maximum request age), saying so.
# 5: a rollback of an unknown job is rejected (nothing to roll back).
. "${BASH_SOURCE[0]%/*}/lib.sh"
. "${BASH_SOURCE[0]%/*}/waits.sh"
it_setup cancel_pending

G=exa01vm01.example.com A=exa01adm02.example.com B=exa01adm03.example.com
uuid() { cat /proc/sys/kernel/random/uuid; }
request() { # request ID: the migration of G from A to B (one line), submitted now
    jq -cn --arg id "$1" --arg g $G --arg s $A --arg t $B --arg who "$IT_OPERATOR" \
        --arg at "$(it_now)" \
        '{request_id: $id, action: "migrate_guest", guest: $g, mode: "OFFLINE", src_host: $s,
          tgt_host: $t, submitted_by: $who, submitted_at: $at}'
}
events_of() { # events_of JOB: the types of JOB's events in the outbox, in order
    sql "SELECT string_agg(payload->>'type', ' ' ORDER BY id) FROM outbox WHERE job_id = '$1'" | sed 's/io\.kvmove\.//g'
}
ended_cancelled() { # ended_cancelled JOB CANCEL_REQUEST: JOB never ran and its cancel says so
    check "$1: ended cancelled" eq cancelled "$(wait_job "$1" 60)"
    check "$1: no step ran" eq 0 "$(sql "SELECT count(*) FROM job_steps WHERE job_id = '$1' AND status <> 'pending'")"
    check "$1: events in order" eq "job.accepted job.cancel_requested job.cancelled" "$(events_of "$1")"
    check "$1: the cancel's outcome" eq cancelled "$(sql "SELECT string_agg(outcome, ',') FROM cancel_requests WHERE job_id = '$1'")"
}

cancel_msg() { # cancel_msg JOB: a cancel of JOB (one line), submitted now
    jq -cn --arg id "$(uuid)" --arg j "$1" --arg who "$IT_OPERATOR" --arg at "$(it_now)" \
        '{request_id: $id, action: "cancel", job_id: $j, reason: "changed my mind",
          submitted_by: $who, submitted_at: $at}'
}

# 1. Workers stopped; the cancel is ahead of its job's request (both on one partition: the
# cancel overtook it, as it may on a partition of its own). Once a worker starts, the job is
# recorded and ended cancelled in one go: nothing is sent to any host.
before=$(commands)
JOB=$(uuid)
it_produce "$JOB" "$(cancel_msg "$JOB")" "" 0
it_produce $G "$(request "$JOB")" "" 0
it_worker_start 1 -o worker.lease_s=3
ended_cancelled "$JOB"
check "the cancel was pending when its job came" eq t "$(sql "SELECT expires_at IS NOT NULL FROM cancel_requests WHERE job_id = '$JOB'")"
check "the job has the cancel's reason" eq "changed my mind" "$(sql "SELECT cancel_reason FROM jobs WHERE id = '$JOB'")"
check "no host command was sent" eq "$before" "$(commands)"

# 1b. Workers stopped: kvmove submit, kvmove cancel, then start the worker. The two requests are
# keyed apart (the guest, the job), on partitions of their own: whichever the worker reads first,
# the job ends cancelled before any step and no host is changed (read first and claimed at once,
# its preflight may have queried the hosts before the cancel is read).
it_worker_stop 1
line=$(host_log $A | wc -l)
out=$(kvmove submit --guest $G --mode offline --src $A --tgt $B --reason "first try")
JOB1=$(sed -n 's/.*(job id \([0-9a-f-]*\))$/\1/p' <<<"$out")
check "submit published (job $JOB1)" test -n "$JOB1"
kvmove cancel "$JOB1" --reason "changed my mind" >/dev/null
check "cancel published with no worker running" test $? -eq 0
it_worker_start 1 -o worker.lease_s=3
check "submit, cancel: ended cancelled" eq cancelled "$(wait_job "$JOB1" 60)"
check "submit, cancel: no step ran" eq 0 "$(sql "SELECT count(*) FROM job_steps WHERE job_id = '$JOB1' AND status <> 'pending'")"
check "submit, cancel: events" grep -qE "^job.accepted( preflight.[a-z]+)? job.cancel_requested( preflight.[a-z]+)? job.cancelled$" <<<"$(events_of "$JOB1")"
check "submit, cancel: both reasons" eq "changed my mind|first try" "$(sql "SELECT cancel_reason, reason FROM jobs WHERE id = '$JOB1'")"
check "submit, cancel: no host changed" eq "" "$(host_effects $A $((line + 1)); host_effects $B)"
it_log "submit, cancel: the cancel was $(sql "SELECT CASE WHEN expires_at IS NULL THEN 'read after the job' ELSE 'pending when the job came' END FROM cancel_requests WHERE job_id = '$JOB1'")"

# 2. The cancel comes first (the job's request kept back): recorded pending; --wait says until
# when and exits 0. The request then arrives and its job is ended cancelled at once.
JOB2=$(uuid)
out=$(kvmove cancel "$JOB2" --reason "not this one" --wait --timeout 30)
check "pending: cancel --wait exits 0" test $? -eq 0
check "pending: the CLI says so ($out)" grep -qE "^cancel recorded; job $JOB2 is not recorded yet and will be cancelled when its request arrives \(until [0-9T:Z-]+\)$" <<<"$out"
check "pending: recorded, no event yet" eq "pending|0" "$(sql "SELECT outcome, (SELECT count(*) FROM outbox WHERE job_id = '$JOB2') FROM cancel_requests WHERE job_id = '$JOB2'")"
out=$(kvmove --json cancel "$JOB2" --wait --timeout 30)
check "pending: a second cancel is pending too (json)" eq pending "$(jq -r .outcome <<<"$out")"
check "pending: until the maximum request age (900 s)" eq 900 "$(sql "SELECT DISTINCT extract(epoch FROM expires_at - created_at)::int FROM cancel_requests WHERE job_id = '$JOB2'")"
before=$(commands)
it_produce $G "$(request "$JOB2")"
check "pending: the job arrived and ended cancelled" eq cancelled "$(wait_job "$JOB2" 60)"
check "pending: events in order" eq "job.accepted job.cancel_requested job.cancelled" "$(events_of "$JOB2")"
check "pending: the first cancel cancelled it, the second found it ended" eq "cancelled rejected" "$(sql "SELECT string_agg(outcome, ' ' ORDER BY created_at) FROM cancel_requests WHERE job_id = '$JOB2'")"
check "pending: no host command was sent" eq "$before" "$(commands)"

# 3. --follow waits for the job to arrive and end.
JOB3=$(uuid)
kvmove cancel "$JOB3" --follow --timeout 60 >"$IT_DIR/follow.out" 2>&1 &
FOLLOW=$!
waited "follow: the cancel is recorded pending" 30 bash -c "[[ \$(psql '$KVMOVE_DB' -qAtX -c \"SELECT outcome FROM cancel_requests WHERE job_id = '$JOB3'\") == pending ]]"
it_produce $G "$(request "$JOB3")"
wait $FOLLOW
check "follow: exits 0" test $? -eq 0
check "follow: says the job is cancelled" grep -qx "Job $JOB3 is cancelled" "$IT_DIR/follow.out"
check "follow: no host command was sent" eq "$before" "$(commands)"

# 4. A pending cancel whose job never comes: once its time is up (set back here rather than
# waited for) the worker's retention pass, run at start, rejects it with its job.rejected.
JOB4=$(uuid)
out=$(kvmove --json cancel "$JOB4" --wait --timeout 30)
REQ4=$(jq -r .request_id <<<"$out")
check "expiry: pending" eq pending "$(jq -r .outcome <<<"$out")"
it_worker_stop 1
sql "UPDATE cancel_requests SET created_at = created_at - interval '901 s', expires_at = expires_at - interval '901 s' WHERE job_id = '$JOB4'" >/dev/null
it_worker_start 1 -o worker.lease_s=3
waited "expiry: rejected" 30 bash -c "[[ \$(psql '$KVMOVE_DB' -qAtX -c \"SELECT outcome FROM cancel_requests WHERE job_id = '$JOB4'\") == rejected ]]"
check "expiry: the reason" grep -q "^no job $JOB4 arrived within 900 s of the cancel" <<<"$(sql "SELECT message FROM cancel_requests WHERE job_id = '$JOB4'")"
check "expiry: job.rejected for the cancel request" eq job.rejected "$(events_of "$REQ4")"

# 5. A rollback of a job that is not recorded is rejected: nothing to roll back.
out=$(kvmove rollback "$(uuid)" --wait --timeout 30 2>&1)
check "rollback of an unknown job: rejected" test $? -ne 0
check "rollback of an unknown job: nothing to roll back ($out)" grep -q "nothing to roll back" <<<"$out"
check "no job was recorded but the four" eq 4 "$(sql "SELECT count(*) FROM jobs WHERE status <> 'rejected'")"
