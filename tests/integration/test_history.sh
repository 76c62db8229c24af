#!/bin/bash
# History that grows costs nothing and goes when it is old: every published event records where
# it landed in Kafka and `kvmove watch JOB` starts there, not at the start of the topic; an idle
# worker waits for PostgreSQL's notifications instead of polling; published events leave the
# outbox after outbox.retention_s; `kvmove jobs prune --older-than AGE` deletes old ended jobs
# (succeeded, failed, rejected or cancelled) with their steps and preflight results, never an
# active job, a job a younger replay names or one with a pending cleanup.
. "${BASH_SOURCE[0]%/*}/lib.sh"
it_setup history

G=exa01vm01.example.com S=exa01adm02.example.com T=exa01adm06.example.com
# Messages that are not kvmove events, on the topic before the job: a reader that starts at the
# topic's beginning reports each of them ("not a kvmove event").
for i in $(seq 50); do echo "junk $i"; done | kcat -P -b "$KVMOVE_BROKERS" -t kvmove.events -k junk
it_worker_start 1 -o metrics.listen=127.0.0.1:0
submit() { # submit GUEST SRC TGT: prints the job id
    kvmove submit --guest "$1" --mode offline --src "$2" --tgt "$3" | sed -n 's/.*(job id \([0-9a-f-]*\))$/\1/p'
}
id=$(submit $G $S $T)
check "migration succeeded" eq succeeded "$(wait_job "$id" 60)"
for _ in $(seq 100); do
    [[ $(sql "SELECT count(*) FROM outbox WHERE published_at IS NULL") == 0 ]] && break
    sleep 0.1
done
check "outbox published" eq 0 "$(sql "SELECT count(*) FROM outbox WHERE published_at IS NULL")"
check "every published event records its partition and offset" eq 0 \
    "$(sql "SELECT count(*) FROM outbox WHERE published_at IS NOT NULL AND (kafka_partition IS NULL OR kafka_offset IS NULL)")"
read -r p o ev <<<"$(sql "SELECT kafka_partition, kafka_offset, event_id FROM outbox WHERE job_id = '$id' ORDER BY id DESC LIMIT 1" | tr '|' ' ')"
check "the recorded partition and offset hold that event" eq "$ev" \
    "$(kcat -C -b "$KVMOVE_BROKERS" -t kvmove.events -p "$p" -o "$o" -c 1 -e -q 2>/dev/null | jq -r .id)"

kvmove watch "$id" --timeout 30 >"$IT_DIR/watch.out" 2>"$IT_DIR/watch.err"
check "watch ends with the job (exit 0)" eq 0 "$?"
check "watch shows the job from its first event" eq job.accepted "$(head -n1 "$IT_DIR/watch.out" | cut -d' ' -f2)"
check "...to its last" eq job.succeeded "$(tail -n1 "$IT_DIR/watch.out" | cut -d' ' -f2)"
check "watch read none of the messages before the job's first event" eq 0 \
    "$(grep -c 'not a kvmove event' "$IT_DIR/watch.err")"
check "watch shows each of the job's events once" eq \
    "$(sql "SELECT count(*) FROM outbox WHERE job_id = '$id'")" "$(wc -l <"$IT_DIR/watch.out")"
# Without PostgreSQL it still works, the old way: from the topic's start.
KVMOVE_DB="host=/nonexistent dbname=none" kvmove watch "$id" --timeout 30 >"$IT_DIR/watch2.out" 2>"$IT_DIR/watch2.err"
check "without the database watch still shows the job" eq "$(cat "$IT_DIR/watch.out" | cut -d' ' -f2-)" \
    "$(cut -d' ' -f2- "$IT_DIR/watch2.out")"
check "...read from the topic's start" eq 50 "$(grep -c 'not a kvmove event' "$IT_DIR/watch2.err")"

# Idle, the worker waits for notifications: little work asked of the database (polling every
# 50 ms from four executors and the main loop was some 400 statements a second; the prober's
# poll every 200 ms was ~100 statements in these 5 s: 146 in all, ~55 without it).
port=$(sed -n 's/.*(port \([0-9]*\)).*/\1/p' "$IT_DIR/worker-1.log" | head -n1)
st() { curl -s "http://127.0.0.1:$port/metrics" | awk '$1 == "kvmove_db_statements_total" { print $2 }'; }
s0=$(st)
sleep 5
s1=$(st)
check "an idle worker sent few statements in 5 s ($((s1 - s0)))" test $((s1 - s0)) -lt 90

# Retention: events published more than outbox.retention_s ago leave the outbox; newer stay.
sql "UPDATE outbox SET published_at = now() - interval '2 hours' WHERE job_id = '$id'" >/dev/null
it_worker_stop 1
id2=$(submit exa01vm02.example.com $S exa01adm04.example.com)
it_worker_start 2 -o outbox.retention_s=3600 -o metrics.listen=
check "second migration succeeded" eq succeeded "$(wait_job "$id2" 60)"
for _ in $(seq 100); do
    [[ $(sql "SELECT count(*) FROM outbox WHERE job_id = '$id'") == 0 ]] && break
    sleep 0.1
done
check "events published 2 h ago are deleted (retention 1 h)" eq 0 "$(sql "SELECT count(*) FROM outbox WHERE job_id = '$id'")"
check "the newer job's events stay" test "$(sql "SELECT count(*) FROM outbox WHERE job_id = '$id2'")" -ge 20
it_worker_stop 2

# Prune. Old finished jobs: A alone; B with its replay C (both old); D whose replay E is young;
# F with a pending cleanup, K with a done one; Q old but queued (active); R rejected long ago.
mk() { # mk LETTER STATUS FINISHED_AGO [REPLAY_OF]: a job row; prints its id
    local i r=NULL
    i=$(cat /proc/sys/kernel/random/uuid)
    [[ -n ${4:-} ]] && r="'$4'"
    sql "INSERT INTO jobs (id, request_id, replay_of, action, guest, mode, src_host, tgt_host, status, request, created_at, finished_at)
         VALUES ('$i', '$i', $r, 'migrate_guest', 'old$1.example.com', 'OFFLINE', 'a.example.com', 'b.example.com', '$2', '{}',
                 now() - interval '$3' - interval '1 hour', CASE WHEN '$2' IN ('queued', 'running') THEN NULL ELSE now() - interval '$3' END)" >/dev/null
    echo "$i"
}
A=$(mk a succeeded '10 days')
sql "INSERT INTO job_steps (job_id, step, seq, status) VALUES ('$A', 'STOP_GUEST', 1, 'succeeded')" >/dev/null
sql "INSERT INTO preflight_results (job_id, check_name, seq, status, message) VALUES ('$A', 'ssh_source', 1, 'passed', 'ok')" >/dev/null
B=$(mk b failed '10 days') C=$(mk c succeeded '9 days' "$B")
D=$(mk d failed '10 days') E=$(mk e succeeded '1 hour' "$D")
F=$(mk f succeeded '10 days') K=$(mk k succeeded '10 days')
sql "INSERT INTO host_cleanups (job_id, host, address, guest, reason) VALUES ('$F', 'h.example.com', '127.0.0.9', 'oldf.example.com', 'test')" >/dev/null
sql "INSERT INTO host_cleanups (job_id, host, address, guest, reason, status, done_at) VALUES ('$K', 'h.example.com', '127.0.0.9', 'oldk.example.com', 'test', 'done', now())" >/dev/null
Q=$(mk q queued '10 days') R=$(mk r rejected '10 days') X=$(mk x cancelled '10 days')
sql "INSERT INTO rejected_requests (request_id, reason, rejected_at) VALUES (gen_random_uuid(), 'old', now() - interval '10 days'), (gen_random_uuid(), 'new', now())" >/dev/null
kvmove jobs prune >/dev/null 2>&1
check "jobs prune without --older-than is a usage error (2)" eq 2 "$?"
out=$(kvmove jobs prune --older-than 1d)
check "prune: A, B, C, K, R and X" eq "6 finished jobs older than 1d pruned" "$out"
have() { [[ $(sql "SELECT count(*) FROM jobs WHERE id = '$1'") == 1 ]]; }
gone() { ! have "$1"; }
check "old finished job pruned" gone "$A"
check "...with its steps and preflight results" eq "0 0" \
    "$(sql "SELECT (SELECT count(*) FROM job_steps WHERE job_id = '$A'), (SELECT count(*) FROM preflight_results WHERE job_id = '$A')" | tr '|' ' ')"
check "an old job and its old replay are pruned" eq "" "$(have "$B" && echo B)$(have "$C" && echo C)"
check "an old job a young replay names stays" have "$D"
check "the young replay stays" have "$E"
check "a job with a pending cleanup stays" have "$F"
check "a job whose cleanup is done goes, with the cleanup" eq "0" "$(sql "SELECT count(*) FROM host_cleanups WHERE job_id = '$K'")$(have "$K" && echo K)"
check "an active job stays however old" have "$Q"
check "an old rejected job is pruned" gone "$R"
check "an old cancelled job is pruned" gone "$X"
check "old rejected requests pruned, new ones kept" eq "new" "$(sql "SELECT string_agg(reason, ',') FROM rejected_requests WHERE reason IN ('old', 'new')")"
check "the recent migrations stay" eq 2 "$(sql "SELECT count(*) FROM jobs WHERE id IN ('$id', '$id2')")"
check "a second prune finds nothing more" eq "0 finished jobs older than 1d pruned" "$(kvmove jobs prune --older-than 1d)"
