#!/bin/bash
# Dead letters: unparseable and invalid requests go to kvmove.requests.dlq with headers naming
# the original topic, partition, offset and the reason; a job.rejected event is published when
# the request id could be read; the worker keeps going (a valid request after them runs).
. "${BASH_SOURCE[0]%/*}/lib.sh"
. "${BASH_SOURCE[0]%/*}/waits.sh"
it_setup dlq
it_worker_start 1

G=exa01vm01.example.com S=exa01adm02.example.com T=exa01adm06.example.com
FIX=$IT_TOP/tests/fixtures/messages/requests
produce() { # produce MESSAGE: one message (may span lines) to kvmove.requests, key = the guest,
    it_produce $G "$1" # signed by the test's operator: these are refused as invalid, not unproven
}
NOW=$(it_now)

ID_BADMODE=$(cat /proc/sys/kernel/random/uuid)
ID_SAME=$(cat /proc/sys/kernel/random/uuid)
ID_GOOD=$(cat /proc/sys/kernel/random/uuid)
msgs=(
    'this is not JSON {'
    "$(cat "$FIX/bad/guest_shell_injection.json")"
    "{\"request_id\": \"$ID_BADMODE\", \"action\": \"migrate_guest\", \"guest\": \"$G\", \"mode\": \"SOMETIMES\", \"src_host\": \"$S\", \"tgt_host\": \"$T\", \"submitted_by\": \"$IT_OPERATOR\", \"submitted_at\": \"$NOW\"}"
    "{\"request_id\": \"$ID_SAME\", \"action\": \"migrate_guest\", \"guest\": \"$G\", \"mode\": \"OFFLINE\", \"src_host\": \"$S\", \"tgt_host\": \"$S\", \"submitted_by\": \"$IT_OPERATOR\", \"submitted_at\": \"$NOW\"}"
    '[1, 2, 3]'
)
for m in "${msgs[@]}"; do produce "$m"; done
produce "{\"request_id\": \"$ID_GOOD\", \"action\": \"migrate_guest\", \"guest\": \"$G\", \"mode\": \"OFFLINE\", \"src_host\": \"$S\", \"tgt_host\": \"$T\", \"submitted_by\": \"$IT_OPERATOR\", \"submitted_at\": \"$NOW\"}"

check "a valid request after the bad ones runs" eq succeeded "$(wait_job "$ID_GOOD" 90)"
check "guest moved" grep -qx "domain $G running" <<<"$(host_state $T)"

# Offsets of the originals, then the dead letters with their headers.
kcat -C -b "$KVMOVE_BROKERS" -t kvmove.requests -e -o beginning -q -f '%p %o\n' >"$IT_DIR/requests.offsets" 2>/dev/null
kcat -C -b "$KVMOVE_BROKERS" -t kvmove.requests.dlq -e -o beginning -q -f '%h\n' >"$IT_DIR/dlq.headers" 2>/dev/null
kcat -C -b "$KVMOVE_BROKERS" -t kvmove.requests.dlq -e -o beginning -q -D '\0' -f '%s\0' >"$IT_DIR/dlq.payloads" 2>/dev/null
cat "$IT_DIR/dlq.headers"
check "five dead letters" eq 5 "$(wc -l <"$IT_DIR/dlq.headers")"
check "every dead letter names the original topic" eq 5 "$(grep -c 'kvmove.original.topic=kvmove.requests' "$IT_DIR/dlq.headers")"
check "every dead letter has a reason" eq 5 "$(grep -cE 'kvmove.error=[^,]+' "$IT_DIR/dlq.headers")"
# The (partition, offset) pairs named by the headers are those of the five bad originals.
named=$(sed -E 's/.*kvmove.original.partition=([0-9]+).*kvmove.original.offset=([0-9]+).*/\1 \2/' "$IT_DIR/dlq.headers" | sort)
check "headers name the partitions and offsets of the originals" eq "$(head -n 5 "$IT_DIR/requests.offsets" | sort)" "$named"
check "the payload is kept as it came" eq 'this is not JSON {' "$(tr '\0' '\n' <"$IT_DIR/dlq.payloads" | head -n1)"
check "reason: not JSON" grep -q 'kvmove.error=request is not valid JSON' "$IT_DIR/dlq.headers"
check "reason for the bad mode names the field" grep -qi 'mode' <<<"$(sed -n 3p "$IT_DIR/dlq.headers")"
check "reason for src = tgt" grep -qiE 'src.*tgt|same|differ' <<<"$(sed -n 4p "$IT_DIR/dlq.headers")"

# job.rejected for the requests whose id was readable, on the topic.
waited "the outbox is published" 10 outbox_drained
kvmove events >"$IT_DIR/events.jsonl" 2>/dev/null
rejected() { jq -r --arg j "$1" 'select(.type == "io.kvmove.job.rejected" and .data.job_id == $j) | .data.message' "$IT_DIR/events.jsonl"; }
check "job.rejected for the invalid mode" test -n "$(rejected "$ID_BADMODE")"
check "job.rejected for src = tgt" test -n "$(rejected "$ID_SAME")"
injected_id=$(jq -r .request_id "$FIX/bad/guest_shell_injection.json")
check "job.rejected for the shell-injection guest (its id is readable)" test -n "$(rejected "$injected_id")"
check "no job was created for a bad request" eq 1 "$(sql "SELECT count(*) FROM jobs")"
check "nothing of the bad requests reached a host" eq 0 "$(cat "$IT_HOSTS"/hosts/*/commands.log | grep -c '[;`$]' )"
check "worker still alive" kill -0 "$(cat "$IT_DIR/worker-1.pid")"

# The bad request sent again (a producer retry or a redelivery): dead-lettered again, but the
# rejection of its request id is recorded once, so consumers do not get a second job.rejected
# (its event id would differ: de-duplication on id could not catch it).
produce "${msgs[2]}"
dlq_count() { eq "$1" "$(kcat -C -b "$KVMOVE_BROKERS" -t kvmove.requests.dlq -e -o beginning -q -f '%o\n' 2>/dev/null | wc -l)"; }
waited "the re-sent bad request is dead-lettered again (six dead letters)" 10 dlq_count 6
check "one job.rejected for its request id" eq 1 \
    "$(sql "SELECT count(*) FROM outbox WHERE job_id = '$ID_BADMODE' AND payload->>'type' = 'io.kvmove.job.rejected'")"
check "its rejection recorded once, with the reason" eq 1 "$(sql "SELECT count(*) FROM rejected_requests WHERE request_id = '$ID_BADMODE' AND reason ILIKE '%mode%'")"
check "worker still alive after the re-send" kill -0 "$(cat "$IT_DIR/worker-1.pid")"
