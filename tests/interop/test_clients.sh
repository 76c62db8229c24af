#!/bin/bash
# interop.clients: clients kvmove did not write drive a real kvmove stack (PostgreSQL, the
# development broker, simulated hosts, a worker) through every kind of event it emits:
#   kafkajs  publishes a normal OFFLINE migration, a request that breaks the schema (dead letter
#            and job.rejected) and one whose preflight fails;
#   kcat     publishes a migration that fails at STARTUP_GUEST (simulator fault), an OFFLINEFORCE
#            from a powered-off host (step.skipped, cleanup.pending; cleanup.completed when the
#            host is back) and bytes that are not JSON (a dead letter); kafkajs then cancels a
#            running job (its rollback follows) and asks for a dry run (probe.completed);
# then kafkajs, the CloudEvents SDK (Kafka.toEvent), ajv and the AsyncAPI document (clients.js)
# and kcat read every event and dead letter back. Asserts counts, not only exit codes.
. "${KVMOVE_SOURCE_DIR:-$(cd "${BASH_SOURCE[0]%/*}/../.." && pwd)}/tests/integration/lib.sh"
CLIENTS=$IT_TOP/tests/interop/clients.js
export NODE_PATH=${NODE_PATH:-$IT_BUILD/interop/node_modules} KAFKAJS_NO_PARTITIONER_WARNING=1
[[ -d $NODE_PATH/kafkajs ]] || { echo "[interop] $NODE_PATH has no kafkajs (interop.install)"; exit 1; }
it_setup interop_clients
it_worker_start 1
lane_start=$(date +%s%N)

TRACE=00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01
uuid() { cat /proc/sys/kernel/random/uuid; }
# request FILE ID GUEST MODE SRC TGT: writes a migrate_guest request (one line) to FILE.
request() {
    jq -cn --arg id "$2" --arg g "$3" --arg m "$4" --arg s "$5" --arg t "$6" \
        '{request_id: $id, action: "migrate_guest", guest: $g, mode: $m, src_host: $s,
          tgt_host: $t, submitted_by: $ENV.IT_OPERATOR, submitted_at: $ENV.NOW}' >"$1"
}
NOW=$(it_now)
export NOW
# Both clients publish signed requests, as any producer must: `kvmove key sign FILE` prints the
# two headers (NAME=VALUE lines) for the exact bytes of FILE, which each client sends as they are.
signature() { kvmove key sign "$1"; }
kafkajs() { # kafkajs KEY FILE [NAME=VALUE...]
    local key=$1 file=$2; shift 2
    node "$CLIENTS" produce "$KVMOVE_BROKERS" "$key" "$file" "$@" $(signature "$file")
}
kcat_produce() { # kcat_produce KEY <FILE: the standard input as one message
    local f h=()
    f=$(mktemp "$IT_DIR/kcat.XXXXXX")
    cat >"$f"
    while IFS= read -r line; do h+=(-H "$line"); done < <(signature "$f")
    kcat -P -b "$KVMOVE_BROKERS" -t kvmove.requests -k "$1" -H "traceparent=$TRACE" "${h[@]}" "$f" 2>/dev/null
}
wait_rejected() { # wait_rejected ID: until the outbox holds job.rejected for request ID
    for _ in $(seq 300); do
        [[ $(sql "SELECT count(*) FROM outbox WHERE key = '$1' AND payload->>'type' = 'io.kvmove.job.rejected'") -ge 1 ]] && return 0
        sleep 0.2
    done
    return 1
}

# ---- phase 1: four requests at once ----
S1=exa01adm01.example.com T1=exa01adm03.example.com G1=exa01vm03.example.com
J1=$(uuid)
request "$IT_DIR/normal.json" "$J1" $G1 OFFLINE $S1 $T1
check "kafkajs publishes an OFFLINE migration" kafkajs $G1 "$IT_DIR/normal.json" "traceparent=$TRACE"

J2=$(uuid)
request "$IT_DIR/invalid.json" "$J2" $G1 offline $S1 $T1 # lowercase mode: not in the schema
check "kafkajs publishes a request that breaks the schema" kafkajs $G1 "$IT_DIR/invalid.json" "traceparent=$TRACE" "x-origin=interop"

J3=$(uuid)
request "$IT_DIR/preflight.json" "$J3" nosuch.example.com OFFLINE $S1 $T1
check "kafkajs publishes a request whose preflight fails" kafkajs nosuch.example.com "$IT_DIR/preflight.json"

S2=exa01adm02.example.com T2=exa01adm04.example.com G2=exa01vm02.example.com
"$HOSTSIM" fault "$IT_HOSTS" $T2 fail-always "vm_maker --start-domain"
J4=$(uuid)
request "$IT_DIR/failing.json" "$J4" $G2 OFFLINE $S2 $T2
check "kcat publishes a migration that will fail" kcat_produce $G2 <"$IT_DIR/failing.json"
check "kcat publishes bytes that are not JSON" kcat_produce garbage <<<'{"request_id": "not even JSON'

check "the normal migration succeeds" eq succeeded "$(wait_job "$J1" 180)"
check "the request that breaks the schema is rejected (job.rejected)" wait_rejected "$J2"
check "the preflight failure fails the job" eq failed "$(wait_job "$J3" 60)"
check "...with a preflight result that failed" test "$(sql "SELECT count(*) FROM preflight_results WHERE job_id = '$J3' AND status = 'failed'")" -ge 1
check "the faulted migration fails" eq failed "$(wait_job "$J4" 180)"
check "...at STARTUP_GUEST" eq failed "$(sql "SELECT status FROM job_steps WHERE job_id = '$J4' AND step = 'STARTUP_GUEST'")"
"$HOSTSIM" fault "$IT_HOSTS" $T2 clear

# ---- phase 2: OFFLINEFORCE from a dead host, then the host comes back ----
G5=exa01vm01.example.com T5=exa01adm06.example.com
"$HOSTSIM" power-off "$IT_HOSTS" $S2
J5=$(uuid)
request "$IT_DIR/force.json" "$J5" $G5 OFFLINEFORCE $S2 $T5
check "kcat publishes an OFFLINEFORCE from a powered-off host" kcat_produce $G5 <"$IT_DIR/force.json"
check "the OFFLINEFORCE succeeds" eq succeeded "$(wait_job "$J5" 180)"
check "...with a pending cleanup of the dead host" eq "$S2:pending" "$(sql "SELECT host || ':' || status FROM host_cleanups WHERE job_id = '$J5'")"
"$HOSTSIM" power-on "$IT_HOSTS" $S2
for _ in $(seq 300); do
    [[ $(sql "SELECT status FROM host_cleanups WHERE job_id = '$J5'") == done ]] && break
    sleep 0.2
done
check "the worker cleans the host once it is back" eq done "$(sql "SELECT status FROM host_cleanups WHERE job_id = '$J5'")"

# ---- phase 3: kafkajs cancels a running job; its rollback puts the guest back ----
S6=$T1 T6=$S1 G6=$G1
"$HOSTSIM" fault "$IT_HOSTS" $S6 pause "vm_maker --stop-domain"
J6=$(uuid)
request "$IT_DIR/cancelled.json" "$J6" $G6 OFFLINE $S6 $T6
check "kafkajs publishes a migration that will be cancelled" kafkajs $G6 "$IT_DIR/cancelled.json"
check "...which runs, held in STOP_GUEST" "$HOSTSIM" wait-paused "$IT_HOSTS" $S6 60
jq -cn --arg id "$(uuid)" --arg j "$J6" \
    '{request_id: $id, action: "cancel", job_id: $j, reason: "interop", submitted_by: $ENV.IT_OPERATOR,
      submitted_at: $ENV.NOW}' >"$IT_DIR/cancel.json"
check "kafkajs publishes its cancel (keyed by the job)" kafkajs "$J6" "$IT_DIR/cancel.json"
for _ in $(seq 300); do
    [[ $(sql "SELECT count(*) FROM outbox WHERE key = '$J6' AND payload->>'type' = 'io.kvmove.job.cancel_requested'") -ge 1 ]] && break
    sleep 0.2
done
"$HOSTSIM" fault "$IT_HOSTS" $S6 clear
"$HOSTSIM" resume "$IT_HOSTS" $S6
check "the job ends cancelled" eq cancelled "$(wait_job "$J6" 120)"
RB=$(sql "SELECT id FROM jobs WHERE action = 'rollback' AND replay_of = '$J6'")
check "...and its rollback succeeds" eq succeeded "$(wait_job "${RB:-00000000-0000-4000-8000-000000000000}" 180)"

# ---- phase 4: kafkajs asks a worker for a dry run (probe.completed) ----
J7=$(uuid)
jq -cn --arg id "$J7" --arg g "$G5" --arg s "$T5" --arg t "$S2" \
    '{request_id: $id, action: "dry_run", guest: $g, mode: "OFFLINE", src_host: $s, tgt_host: $t,
      submitted_by: $ENV.IT_OPERATOR, submitted_at: $ENV.NOW}' >"$IT_DIR/dry_run.json"
check "kafkajs publishes a dry_run request" kafkajs $G5 "$IT_DIR/dry_run.json"
for _ in $(seq 300); do
    [[ $(sql "SELECT status FROM probes WHERE request_id = '$J7'") == succeeded ]] && break
    sleep 0.2
done
check "...which a worker runs (table probes)" eq succeeded "$(sql "SELECT status FROM probes WHERE request_id = '$J7'")"
for _ in $(seq 300); do
    [[ $(sql "SELECT count(*) FROM outbox WHERE published_at IS NULL") == 0 ]] && break
    sleep 0.2
done
check "the outbox is published" eq 0 "$(sql "SELECT count(*) FROM outbox WHERE published_at IS NULL")"
N=$(sql "SELECT count(*) FROM outbox")
sql "SELECT event_id FROM outbox ORDER BY 1" >"$IT_DIR/outbox.ids"
it_log "the worker published $N events"

# ---- read back: kafkajs + CloudEvents SDK + ajv + AsyncAPI ----
node "$CLIENTS" consume "$KVMOVE_BROKERS" "$N" 2 "$IT_DIR/summary.json"
check "kafkajs read kvmove.events and kvmove.requests.dlq" test $? -eq 0
sj() { jq -r "$1" "$IT_DIR/summary.json" 2>/dev/null; }
check "kafkajs received every event (distinct = outbox)" eq "$N" "$(sj .distinct)"
check "the CloudEvents SDK decoded every message (Kafka.toEvent)" eq "$(sj .received)" "$(sj .decoded)"
check "every event passes the SDK's validate()" eq "$N" "$(sj .sdkValid)"
check "every event matches schema/event.schema.json (ajv)" eq "$N" "$(sj .ajvValid)"
check "every event matches the AsyncAPI document's key, headers and payload" eq "$N" "$(sj .contractValid)"
check "every event's key is its job id" eq "$N" "$(sj .keyIsJob)"
check "the SDK maps the key to partitionkey" eq "$N" "$(sj .partitionKeyIsKey)"
check "the events are the outbox's" eq "$(cat "$IT_DIR/outbox.ids")" "$(sj '.ids[]')"
want_types="cleanup.completed cleanup.pending job.accepted job.cancel_requested job.cancelled job.failed job.rejected job.succeeded preflight.failed preflight.passed probe.completed step.completed step.failed step.skipped step.started"
check "every event type kvmove emits was seen (15 of 15)" eq "$want_types" "$(sj '.types | keys | join(" ")')"
check "every type kvmove knows is in that list (lib/event.h)" eq "$want_types" \
    "$(grep -oE '^#define EVENT_[A-Z_]+ "[a-z._]+"' "$IT_TOP/lib/event.h" | grep -v CONTENT | cut -d'"' -f2 | sort | tr '\n' ' ' | sed 's/ $//')"
check "no failures reported by the clients" eq 0 "$(sj '.failures | length')"

# Dead letters: both of them, with the original headers and the conventions' names.
check "two dead letters read by kafkajs" eq 2 "$(sj .deadLetters.received)"
check "both match the AsyncAPI dead-letter message" eq 2 "$(sj .deadLetters.contractValid)"
dl() { sj "[.deadLetters.messages[] | select($1)] | length"; }
check "the schema-breaking request is dead-lettered with its value" eq 1 "$(dl ".value | contains(\"$J2\")")"
check "...and its own headers (kafkajs's traceparent and x-origin)" eq 1 "$(dl ".headers.traceparent == \"$TRACE\" and .headers[\"x-origin\"] == \"interop\"")"
check "...the reason under kvmove's, Connect's and Spring's names" eq 1 \
    "$(dl '(.headers["kvmove.error"] | test("mode")) and .headers["__connect.errors.exception.message"] == .headers["kvmove.error"] and .headers["kafka_dlt-exception-message"] == .headers["kvmove.error"]')"
check "the bytes that are not JSON are dead-lettered with kcat's header" eq 1 "$(dl ".key == \"garbage\" and .headers.traceparent == \"$TRACE\"")"
check "every dead letter names topic, consumer group and a timestamp" eq 2 \
    "$(dl '.headers["__connect.errors.topic"] == "kvmove.requests" and .headers["kafka_dlt-original-consumer-group"] == "kvmove-workers" and .headers["kvmove.original.consumer.group"] == "kvmove-workers" and (.headers["kvmove.original.timestamp"] | test("^[0-9]+$"))')"

# ---- read back: kcat ----
kcat -C -b "$KVMOVE_BROKERS" -t kvmove.events -o beginning -e -q -f '%k\t%h\t%s\n' >"$IT_DIR/kcat.events" 2>/dev/null
check "kcat read kvmove.events" test $? -eq 0
check "kcat: every event carries content-type application/cloudevents+json" eq "$(sj .received)" \
    "$(grep -c $'\tcontent-type=application/cloudevents+json; charset=UTF-8\t' "$IT_DIR/kcat.events")"
check "kcat: the same events as the outbox" eq "$(cat "$IT_DIR/outbox.ids")" "$(cut -f3 "$IT_DIR/kcat.events" | jq -r .id | sort -u)"
check "kcat: each key is the event's job id" eq 0 "$(awk -F'\t' '{ print $1 "\t" $3 }' "$IT_DIR/kcat.events" | while IFS=$'\t' read -r k v; do [[ $k == "$(jq -r .data.job_id <<<"$v")" ]] || echo bad; done | wc -l)"
kcat -C -b "$KVMOVE_BROKERS" -t kvmove.requests.dlq -o beginning -e -q -f '%h\n' >"$IT_DIR/kcat.dlq" 2>/dev/null
check "kcat: two dead letters, one line each (all headers are text)" eq 2 "$(wc -l <"$IT_DIR/kcat.dlq")"
check "kcat: both carry kvmove.original.offset" eq 2 "$(grep -c 'kvmove.original.offset=[0-9]' "$IT_DIR/kcat.dlq")"

it_log "$(jq -r '"CloudEvents SDK: decoded \(.decoded) of \(.received) messages (\(.distinct) distinct events of \(.expected) published), \(.sdkValid) valid; types: " + ([.types | to_entries[] | "\(.key) \(.value)"] | join(", "))' "$IT_DIR/summary.json")"
it_log "lane scenarios and checks took $((($(date +%s%N) - lane_start) / 1000000)) ms"
