#!/bin/bash
# Idempotency: the same request id delivered again (to one worker, to two workers at once,
# after the job ended) never makes a second job or a second run; a second request for a guest
# with an active job is rejected with a job.rejected event naming the job that holds the guest.
. "${BASH_SOURCE[0]%/*}/lib.sh"
. "${BASH_SOURCE[0]%/*}/waits.sh"
it_setup idempotency

G=exa01vm01.example.com S=exa01adm02.example.com T=exa01adm06.example.com
G2=exa01vm03.example.com S2=exa01adm01.example.com T2=exa01adm03.example.com

# request ID GUEST SRC TGT: a request message (one line) with request id ID.
request() {
    jq -cn --arg id "$1" --arg g "$2" --arg s "$3" --arg t "$4" \
        '{request_id: $id, action: "migrate_guest", guest: $g, mode: "OFFLINE", src_host: $s,
          tgt_host: $t, submitted_by: $ENV.IT_OPERATOR, submitted_at: $ENV.NOW}'
}
NOW=$(it_now)
export NOW
# produce KEY MESSAGE...: each MESSAGE (one line, signed) to kvmove.requests with KEY, as a
# manual re-send would. A copy in another message is refused as replayed (dead-lettered, no
# job); a redelivery of one message is seen before: neither runs anything twice.
produce() {
    local key=$1 m; shift
    for m in "$@"; do it_produce "$key" "$m"; done
}
# seen ID: how many times the workers' logs say a later delivery or copy of request ID was not run.
seen() { cat "$IT_DIR"/worker-*.log | grep -cE "request $1 seen before|replayed: request $1 "; }
count_cmd() { host_log "$1" | cut -f4 | grep -c -- "$2"; }

# Two workers in different consumer groups: both receive every request, as after a rebalance.
it_worker_start 1 -o worker.group=g1
it_worker_start 2 -o worker.group=g2
ID=$(cat /proc/sys/kernel/random/uuid)
MSG=$(request "$ID" $G $S $T)
produce $G "$MSG" "$MSG"
check "the request ran to the end" eq succeeded "$(wait_job "$ID" 60)"
# seen_before ID N: the workers' logs say N times that request ID was seen before (or refused as
# a replayed copy: a copy in a new Kafka message).
seen_before() { eq "$2" "$(seen "$1")" 2>/dev/null; }
# seen_at_least ID N: at least N such lines.
seen_at_least() { (($(seen "$1") >= $2)); }
# Both workers have seen both copies once their intake caught up; then re-send after the end.
waited "the three later deliveries were recognised as seen before or replayed (exactly three)" 10 seen_before "$ID" 3
produce $G "$MSG"
waited "a re-send after the job ended is recognised by both workers (five in all)" 10 seen_before "$ID" 5
check "one job for the request id" eq 1 "$(sql "SELECT count(*) FROM jobs WHERE request_id = '$ID'")"
check "one job for the guest" eq 1 "$(sql "SELECT count(*) FROM jobs WHERE guest = '$G'")"
check "each step ran once" eq 0 "$(sql "SELECT count(*) FROM job_steps WHERE job_id = '$ID' AND attempts <> 1 AND status <> 'skipped'")"
check "the guest was stopped once" eq 1 "$(count_cmd $S "vm_maker --stop-domain $G")"
check "the guest was defined once on the target" eq 1 "$(count_cmd $T "virsh define")"
check "the guest was started once" eq 1 "$(count_cmd $T "vm_maker --start-domain $G")"
check "one job.accepted event in the outbox" eq 1 \
    "$(sql "SELECT count(*) FROM outbox WHERE job_id = '$ID' AND payload->>'type' = 'io.kvmove.job.accepted'")"
check "one job.succeeded event in the outbox" eq 1 \
    "$(sql "SELECT count(*) FROM outbox WHERE job_id = '$ID' AND payload->>'type' = 'io.kvmove.job.succeeded'")"
check "no safety violation" "$HOSTSIM" check "$IT_HOSTS"
it_worker_stop 2

# A second request for a guest whose job is still active is rejected, naming the holder.
"$HOSTSIM" fault "$IT_HOSTS" $S2 pause "vm_maker --stop-domain $G2"
ID1=$(cat /proc/sys/kernel/random/uuid) ID2=$(cat /proc/sys/kernel/random/uuid)
produce $G2 "$(request "$ID1" $G2 $S2 $T2)"
check "first job of guest 2 holds the guest (stop paused)" "$HOSTSIM" wait-paused "$IT_HOSTS" $S2 30
produce $G2 "$(request "$ID2" $G2 $S2 $T)"
waited "the second request is recorded" 10 job_recorded "$ID2"
check "second request recorded as rejected" eq rejected "$(sql "SELECT status FROM jobs WHERE request_id = '$ID2'")"
check "rejection names the holder" grep -q "guest $G2 already has an active job $ID1" <<<"$(sql "SELECT error FROM jobs WHERE id = '$ID2'")"
check "job.rejected event with holder_job_id" eq "$ID1" \
    "$(sql "SELECT payload->'data'->>'holder_job_id' FROM outbox WHERE job_id = '$ID2' AND payload->>'type' = 'io.kvmove.job.rejected'")"
check "the holder is still running" eq running "$(sql "SELECT status FROM jobs WHERE id = '$ID1'")"
"$HOSTSIM" fault "$IT_HOSTS" $S2 clear
"$HOSTSIM" resume "$IT_HOSTS" $S2
check "the holder completes" eq succeeded "$(wait_job "$ID1" 60)"
check "the rejected request changed nothing on its target" eq 0 "$(host_log $T | cut -f4 | grep -c "$G2")"
# The rejected request redelivered stays one rejected row (no new job now that the guest is free).
# The worker's log proves the redelivery was consumed (not merely that nothing happened yet).
produce $G2 "$(request "$ID2" $G2 $S2 $T)"
waited "the redelivered rejected request was consumed and recognised" 10 seen_at_least "$ID2" 1
check "redelivered rejected request is seen before, not run: still one rejected row" eq "1 rejected" \
    "$(sql "SELECT count(*) || ' ' || max(status) FROM jobs WHERE request_id = '$ID2'")"
check "...and no second job.rejected for it" eq 1 \
    "$(sql "SELECT count(*) FROM outbox WHERE job_id = '$ID2' AND payload->>'type' = 'io.kvmove.job.rejected'")"
check "...and nothing of it reached its target" eq 0 "$(host_log $T | cut -f4 | grep -c "$G2")"
# The events reached the topic: consumers see the rejection with the holder.
waited "the outbox is published" 10 outbox_drained
kvmove events >"$IT_DIR/events.jsonl" 2>/dev/null
check "job.rejected on kvmove.events names the holder" eq "$ID1" \
    "$(jq -r --arg j "$ID2" 'select(.type == "io.kvmove.job.rejected" and .data.job_id == $j) | .data.holder_job_id' "$IT_DIR/events.jsonl" | head -n1)"
check "no safety violation" "$HOSTSIM" check "$IT_HOSTS"
