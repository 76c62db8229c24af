#!/bin/bash
# Outbox: events are written with the state they report; with the broker down the worker keeps
# committing steps, is SIGKILLed before it could publish them, and once the broker is back a
# second worker publishes every one of them (at least once; consumers de-duplicate on id).
. "${BASH_SOURCE[0]%/*}/lib.sh"
. "${BASH_SOURCE[0]%/*}/waits.sh"
it_setup outbox

G=exa01vm01.example.com S=exa01adm02.example.com T=exa01adm06.example.com
BROKER=$(cat "$IT_DIR/devbroker.pid")
it_worker_start 1 -o worker.lease_s=3

# Paused in STOP_GUEST, the broker goes down; the steps of the downtime commit their events.
"$HOSTSIM" fault "$IT_HOSTS" $S pause "vm_maker --stop-domain"
kvmove submit --guest $G --mode offline --src $S --tgt $T >/dev/null
check "job reached STOP_GUEST" "$HOSTSIM" wait-paused "$IT_HOSTS" $S 30
job=$(sql "SELECT id FROM jobs WHERE guest = '$G'")
# What was committed so far is published while the broker is up.
waited "the events before the outage are published" 10 outbox_drained
published_before=$(sql "SELECT count(*) FROM outbox WHERE published_at IS NOT NULL")

kill -USR1 "$BROKER" # broker down
"$HOSTSIM" fault "$IT_HOSTS" $S clear
"$HOSTSIM" fault "$IT_HOSTS" $T pause "vm_maker --start-domain"
"$HOSTSIM" resume "$IT_HOSTS" $S
check "job reached STARTUP_GUEST with the broker down" "$HOSTSIM" wait-paused "$IT_HOSTS" $T 60
pending=$(sql "SELECT count(*) FROM outbox WHERE published_at IS NULL")
check "steps committed while the broker was down" eq "succeeded" "$(sql "SELECT status FROM job_steps WHERE job_id = '$job' AND step = 'MIGRATE_GUEST'")"
check "their events wait in the outbox (got $pending)" test "$pending" -ge 10
it_worker_stop 1 KILL # dies between commit and publish
"$HOSTSIM" fault "$IT_HOSTS" $T clear
"$HOSTSIM" resume "$IT_HOSTS" $T
kill -USR2 "$BROKER" # broker up

it_worker_start 2 -o worker.lease_s=3
check "job completes after takeover" eq succeeded "$(wait_job "$job" 60)"
waited "outbox fully published" 20 outbox_drained

kvmove events >"$IT_DIR/events.jsonl" 2>/dev/null
sql "SELECT event_id FROM outbox ORDER BY id" >"$IT_DIR/outbox.ids"
jq -r .id "$IT_DIR/events.jsonl" | sort >"$IT_DIR/topic.ids"
check "every outbox event is on the topic" eq "" "$(sort -u "$IT_DIR/outbox.ids" | comm -23 - <(sort -u "$IT_DIR/topic.ids"))"
check "nothing on the topic that is not in the outbox" eq "" "$(sort -u "$IT_DIR/topic.ids" | comm -13 <(sort -u "$IT_DIR/outbox.ids") -)"
dups=$(($(wc -l <"$IT_DIR/topic.ids") - $(sort -u "$IT_DIR/topic.ids" | wc -l)))
it_log "events published more than once (allowed, consumers de-duplicate on id): $dups"
check "the outbox row of an event holds the same id as its payload" eq 0 \
    "$(sql "SELECT count(*) FROM outbox WHERE payload->>'id' <> event_id::text")"
check "events were published before the outage too" test "$published_before" -ge 3
# After de-duplication on id, a consumer sees the job's story in order.
types=$(jq -r --arg j "$job" 'select(.data.job_id == $j) | .id + " " + .type' "$IT_DIR/events.jsonl" | awk '!seen[$1]++ {print $2}' | sed 's/^io\.kvmove\.//')
check "de-duplicated story starts with job.accepted" eq job.accepted "$(head -n1 <<<"$types")"
check "de-duplicated story ends with job.succeeded" eq job.succeeded "$(tail -n1 <<<"$types")"
check "every step.started of the job reached the topic" eq \
    "$(sql "SELECT count(*) FROM outbox WHERE job_id = '$job' AND payload->>'type' = 'io.kvmove.step.started'")" \
    "$(grep -c '^step.started$' <<<"$types")"
check "guest runs on the target" grep -qx "domain $G running" <<<"$(host_state $T)"
# The start paused at the kill ran without its client; sshd may drop it before it is logged.
check "not started twice" test "$(host_log $T | awk -F'\t' '$3 == 0' | cut -f4 | grep -c "vm_maker --start-domain $G")" -le 1
check "no safety violation" "$HOSTSIM" check "$IT_HOSTS"
