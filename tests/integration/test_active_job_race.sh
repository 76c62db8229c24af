#!/bin/bash
# "At most one active job per guest" when two workers record two requests for the same guest at
# the same moment: neither sees the other's job when it looks for a holder (the first one's
# transaction has not committed), both insert, the unique index lets one through, and the other
# is rejected naming the holder; only one job runs. The race is made certain, not hoped for: a
# trigger holds the first request's transaction open after its insert, and the second request
# goes to a partition the other worker consumes; the test sees the second insert wait on the
# first (a lock wait) before it lets the first commit.
. "${BASH_SOURCE[0]%/*}/lib.sh"
. "${BASH_SOURCE[0]%/*}/waits.sh"
it_setup active_job_race
G=exa01vm01.example.com S=exa01adm02.example.com T=exa01adm06.example.com T2=exa01adm04.example.com
DB=$(sed -E 's/.*dbname=([^ ]+).*/\1/' <<<"$KVMOVE_DB")
uuid() { cat /proc/sys/kernel/random/uuid; }
request() { # request ID GUEST SRC TGT: a request message (one line)
    jq -cn --arg id "$1" --arg g "$2" --arg s "$3" --arg t "$4" --arg who "$IT_OPERATOR" \
        --arg at "$(it_now)" \
        '{request_id: $id, action: "migrate_guest", guest: $g, mode: "OFFLINE", src_host: $s,
          tgt_host: $t, submitted_by: $who, submitted_at: $at}'
}
to_partition() { kcat -P -b "$KVMOVE_BROKERS" -t kvmove.requests -p "$1" -k "$2" 2>/dev/null; } # P KEY <MSG

it_worker_start 1
it_worker_start 2

# Which worker consumes which partition: a probe (a request the workers dead-letter) to every
# partition; the dead letters name the partition and the worker. Again until both workers have
# their share (the second one joins the group a moment later).
NP=$(kcat -L -b "$KVMOVE_BROKERS" -t kvmove.requests 2>/dev/null | grep -c 'partition [0-9]')
dlq_lines() { kcat -C -b "$KVMOVE_BROKERS" -t kvmove.requests.dlq -e -o beginning -q -f '%h\n' 2>/dev/null; }
dlq_has() { [[ $(dlq_lines | wc -l) -ge $1 ]]; }
P1= P2= sent=0
for round in $(seq 20); do
    for ((p = 0; p < NP; p++)); do
        printf '{"request_id": "%s", "action": "probe"}\n' "$(uuid)" | to_partition $p probe
    done
    sent=$((sent + NP))
    it_until 30 "the probes of round $round dead-lettered" dlq_has $sent || break
    owners=$(dlq_lines | tail -n "$NP" | sed -E 's/.*kvmove.original.partition=([0-9]+).*kvmove.worker=([^,]+).*/\1 \2/')
    P1=$(awk '$2 == "worker-1" { print $1; exit }' <<<"$owners")
    P2=$(awk '$2 == "worker-2" { print $1; exit }' <<<"$owners")
    [[ -n $P1 && -n $P2 ]] && break
    sleep 1
done
check "each worker consumes a partition of its own (worker-1: ${P1:-none}, worker-2: ${P2:-none})" test -n "$P1" -a -n "$P2"

# The first request's insert, once done, waits 8 s before its transaction commits.
R1=$(uuid) R2=$(uuid)
sql "CREATE FUNCTION it_hold() RETURNS trigger LANGUAGE plpgsql AS \$\$ BEGIN
         IF NEW.request_id::text = '$R1' THEN PERFORM pg_sleep(8); END IF; RETURN NULL; END \$\$" >/dev/null
sql "CREATE TRIGGER it_hold AFTER INSERT ON jobs FOR EACH ROW EXECUTE FUNCTION it_hold()" >/dev/null
backends_waiting() { # backends_waiting KIND: backends of this database waiting on KIND ('PgSleep' or 'Lock')
    [[ $(sql "SELECT count(*) FROM pg_stat_activity WHERE datname = '$DB' AND (wait_event = '$1' OR wait_event_type = '$1')") -ge 1 ]]
}
it_produce $G "$(request "$R1" $G $S $T)" "" "${P1:-0}"
waited "the first request is inserted, its transaction held open" 20 backends_waiting PgSleep
it_produce $G "$(request "$R2" $G $S $T2)" "" "${P2:-1}"
waited "the second request's insert waits on the first's (both found no holder)" 8 backends_waiting Lock
check "the first request's job is recorded and runs" eq succeeded "$(wait_job "$R1" 90)"
check "the second request is rejected" eq rejected "$(wait_job "$R2" 30)"
check "...naming the job that holds the guest" grep -q "guest $G already has an active job $R1" \
    <<<"$(sql "SELECT error FROM jobs WHERE id = '$R2'")"
check "...with job.rejected naming the holder" eq "$R1" \
    "$(sql "SELECT payload->'data'->>'holder_job_id' FROM outbox WHERE job_id = '$R2' AND payload->>'type' = 'io.kvmove.job.rejected'")"
check "the two requests were recorded by different workers" eq 2 \
    "$(sql "SELECT count(DISTINCT payload->>'source') FROM outbox WHERE job_id IN ('$R1', '$R2') AND payload->>'type' IN ('io.kvmove.job.accepted', 'io.kvmove.job.rejected')")"
check "one job of the guest ran: the guest stopped once" eq 1 "$(host_log $S | cut -f4 | grep -c "^vm_maker --stop-domain $G$")"
check "nothing reached the rejected request's target" eq 0 "$(host_log $T2 | cut -f4 | grep -c "$G")"
check "the guest runs on the holder's target" grep -qx "domain $G running" <<<"$(host_state $T)"
check "no safety violation" "$HOSTSIM" check "$IT_HOSTS"
