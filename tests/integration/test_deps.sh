#!/bin/bash
# Dependencies failing: PostgreSQL "restarted" mid-job (the worker's backends terminated), the
# broker down for longer than a lease (with a second worker waiting), a source host that stays
# down (retried, then the OFFLINEFORCE hint), a host's sshd stopped mid-step and back, a host
# command that hangs (per-command timeout). Transient trouble is retried with backoff, what is
# not fails the job with a clear reason, state is never lost; the failed job is then replayed
# with --step and --from-step.
. "${BASH_SOURCE[0]%/*}/lib.sh"
it_setup deps

G1=exa01vm01.example.com S1=exa01adm02.example.com T1=exa01adm06.example.com
G3=exa01vm03.example.com S3=exa01adm01.example.com T3=exa01adm03.example.com
BROKER=$(cat "$IT_DIR/devbroker.pid")
W=(-o worker.lease_s=3 -o worker.step_retries=3)
DB=$(sed -E 's/.*dbname=([^ ]+).*/\1/' <<<"$KVMOVE_DB")
it_worker_start 1 "${W[@]}"

ok_count() { host_log "$1" | awk -F'\t' '$3 == 0' | cut -f4 | grep -c -- "$2"; }
job_of() { sql "SELECT id FROM jobs WHERE guest = '$1' ORDER BY created_at DESC LIMIT 1"; }

# --- PostgreSQL restarted mid-job: every backend of the worker terminated while a step runs.
"$HOSTSIM" fault "$IT_HOSTS" $T1 pause "edvutil attach"
kvmove submit --guest $G1 --mode offline --src $S1 --tgt $T1 >/dev/null
check "pg: job paused in ATTACH_VOLUMES" "$HOSTSIM" wait-paused "$IT_HOSTS" $T1 30
job=$(job_of $G1)
killed=$(sql "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = '$DB' AND pid <> pg_backend_pid() AND application_name = 'kvmove'")
check "pg: the worker's connections were terminated ($killed)" test "$killed" -ge 2
"$HOSTSIM" fault "$IT_HOSTS" $T1 clear
"$HOSTSIM" resume "$IT_HOSTS" $T1
check "pg: job completes" eq succeeded "$(wait_job "$job" 60)"
check "pg: the worker reconnected (logged the outage)" grep -qiE "database|reconnect" "$IT_DIR/worker-1.log"
check "pg: each volume attached once" eq 5 "$(ok_count $T1 "edvutil attach exa01vm01_")"
check "pg: each step begun once" eq 0 "$(sql "SELECT count(*) FROM job_steps WHERE job_id = '$job' AND attempts > 1")"
check "pg: worker alive" kill -0 "$(cat "$IT_DIR/worker-1.pid")"

# --- Broker down for longer than a lease, a second worker waiting: the first keeps its lease
# (renewal does not depend on the broker), nobody takes the job over, events wait in the outbox.
it_worker_start 2 "${W[@]}"
"$HOSTSIM" fault "$IT_HOSTS" $T3 pause "vm_maker --add-bridge"
kvmove submit --guest $G3 --mode offline --src $S3 --tgt $T3 >/dev/null
check "broker: job paused in CREATE_BRIDGES" "$HOSTSIM" wait-paused "$IT_HOSTS" $T3 30
job=$(job_of $G3)
owner=$(sql "SELECT lease_owner FROM jobs WHERE id = '$job'")
kill -USR1 "$BROKER"
sleep 8 # > two leases
check "broker: lease still held by $owner while the broker is down" eq "$owner" \
    "$(sql "SELECT lease_owner FROM jobs WHERE id = '$job' AND lease_expires > now()")"
"$HOSTSIM" fault "$IT_HOSTS" $T3 clear
"$HOSTSIM" resume "$IT_HOSTS" $T3
check "broker: job completes while the broker is down" eq succeeded "$(wait_job "$job" 60)"
check "broker: no takeover" eq 0 "$(cat "$IT_DIR"/worker-*.log | grep -c "Taking over job $job")"
check "broker: bridges added, none twice" eq "" "$(host_log $T3 | awk -F'\t' '$3 == 0' | cut -f4 | grep -- "--add-bridge" | sort | uniq -d)"
check "broker: events wait in the outbox" test "$(sql "SELECT count(*) FROM outbox WHERE published_at IS NULL")" -gt 0
kill -USR2 "$BROKER"
for _ in $(seq 300); do
    [[ $(sql "SELECT count(*) FROM outbox WHERE published_at IS NULL") == 0 ]] && break
    sleep 0.1
done
check "broker: outbox drained once the broker is back" eq 0 "$(sql "SELECT count(*) FROM outbox WHERE published_at IS NULL")"
it_worker_stop 2

# --- A source host that stays down: an unreachable source is transient in OFFLINE mode, so the
# step is retried with backoff (worker.step_retries) before the job fails with the OFFLINEFORCE
# hint. The source loses power while STOP_GUEST observes it, before anything changed.
G2=exa01vm02.example.com
"$HOSTSIM" fault "$IT_HOSTS" $S1 pause "virsh domstate $G2"
kvmove submit --guest $G2 --mode offline --src $S1 --tgt $T1 >/dev/null
check "down: job paused in STOP_GUEST" "$HOSTSIM" wait-paused "$IT_HOSTS" $S1 30
job=$(job_of $G2)
"$HOSTSIM" fault "$IT_HOSTS" $S1 clear
"$HOSTSIM" power-off "$IT_HOSTS" $S1
check "down: job fails" eq failed "$(wait_job "$job" 60)"
err=$(sql "SELECT error FROM jobs WHERE id = '$job'")
echo "    error: $err"
check "down: the reason names STOP_GUEST and MODE=OFFLINEFORCE" grep -qE "STOP_GUEST.*unreachable.*use MODE=OFFLINEFORCE" <<<"$err"
check "down: retried step_retries times first" eq 3 "$(grep -c "Step STOP_GUEST hit a transient failure.*retrying ([123] of 3)" "$IT_DIR/worker-1.log")"
check "down: nothing after STOP_GUEST ran" eq "CREATE_BRIDGES:succeeded STOP_GUEST:failed DETACH_VOLUMES:pending MIGRATE_GUEST:pending" \
    "$(sql "SELECT string_agg(step || ':' || status, ' ' ORDER BY array_position(ARRAY['CREATE_BRIDGES', 'STOP_GUEST', 'DETACH_VOLUMES', 'MIGRATE_GUEST'], step)) FROM job_steps WHERE job_id = '$job' AND step IN ('CREATE_BRIDGES', 'STOP_GUEST', 'DETACH_VOLUMES', 'MIGRATE_GUEST')")"
"$HOSTSIM" power-on "$IT_HOSTS" $S1
check "down: the guest runs again on its source after the power cycle" grep -qx "domain $G2 running" <<<"$(host_state $S1)"
check "down: the guest is not defined on the target" eq 0 "$(host_state $T1 | grep -c "^domain $G2")"

# --- A host's sshd stopped mid-step (power cycle) and back at once: the broken session is a
# transient failure, retried with backoff on a new session. G3 goes back from T3 to S3; T3 loses
# power while its bridges are being removed (the guest is undefined there by then).
m3=$(host_log $T3 | wc -l)
"$HOSTSIM" fault "$IT_HOSTS" $T3 pause "vm_maker --remove-bridge"
kvmove submit --guest $G3 --mode offline --src $T3 --tgt $S3 >/dev/null
check "sshd: job paused in REMOVE_BRIDGES" "$HOSTSIM" wait-paused "$IT_HOSTS" $T3 30
job=$(job_of $G3)
"$HOSTSIM" fault "$IT_HOSTS" $T3 clear
"$HOSTSIM" power-off "$IT_HOSTS" $T3
"$HOSTSIM" power-on "$IT_HOSTS" $T3
check "sshd: job completes" eq succeeded "$(wait_job "$job" 60)"
check "sshd: the transient failure was retried" grep -q "Step REMOVE_BRIDGES hit a transient failure" "$IT_DIR/worker-1.log"
check "sshd: guest runs on $S3" grep -qx "domain $G3 running" <<<"$(host_state $S3)"
check "sshd: guest gone from $T3" eq 0 "$(host_state $T3 | grep -c "$G3")"
check "sshd: its bridges gone from $T3, each removed once" eq "0 " \
    "$(host_state $T3 | grep -c "^bridge vmbondeth.\.30") $(host_log $T3 | tail -n +$((m3 + 1)) | awk -F'\t' '$3 == 0' | cut -f4 | grep -- "--remove-bridge" | sort | uniq -d)"
check "sshd: no safety violation" "$HOSTSIM" check "$IT_HOSTS"

# --- A hanging command: timed out after 2 s, retried, then the job fails with a clear reason.
# `virsh define` hangs on the target inside the downtime: the guest is undefined on the source
# by then and stays down, defined nowhere, until the replays below.
it_worker_stop 1
it_worker_start 1 "${W[@]}" -o worker.command_timeout_ms=2000 -o worker.step_retries=1
"$HOSTSIM" fault "$IT_HOSTS" $T3 hang "virsh define"
m3=$(host_log $T3 | wc -l)
kvmove submit --guest $G3 --mode offline --src $S3 --tgt $T3 >/dev/null
sleep 0.5
for _ in $(seq 100); do job=$(job_of $G3); [[ $(sql "SELECT src_host FROM jobs WHERE id = '$job'") == "$S3" ]] && break; sleep 0.1; done
check "hang: job fails" eq failed "$(wait_job "$job" 90)"
err=$(sql "SELECT error FROM jobs WHERE id = '$job'")
echo "    error: $err"
check "hang: the reason names the step and the timeout" grep -qiE "MIGRATE_GUEST.*did not finish within 2000 ms" <<<"$err"
check "hang: the step was retried (attempts in the log)" grep -q "Step MIGRATE_GUEST hit a transient failure" "$IT_DIR/worker-1.log"
check "hang: state kept (steps before succeeded, MIGRATE_GUEST failed, the rest pending)" eq \
    "ATTACH_VOLUMES:succeeded MIGRATE_GUEST:failed ATTACH_INTERFACES:pending STARTUP_GUEST:pending REMOVE_BRIDGES:pending" \
    "$(sql "SELECT string_agg(step || ':' || status, ' ' ORDER BY array_position(ARRAY['ATTACH_VOLUMES', 'MIGRATE_GUEST', 'ATTACH_INTERFACES', 'STARTUP_GUEST', 'REMOVE_BRIDGES'], step)) FROM job_steps WHERE job_id = '$job' AND step IN ('ATTACH_VOLUMES', 'MIGRATE_GUEST', 'ATTACH_INTERFACES', 'STARTUP_GUEST', 'REMOVE_BRIDGES')")"
check "hang: jobs --status failed lists it" grep -q "$job" <<<"$(kvmove jobs --status failed)"
check "hang: guest defined on neither host (undefined on the source, define hung)" eq "0 0" \
    "$(host_state $S3 | grep -c "^domain $G3") $(host_state $T3 | grep -c "^domain $G3")"

# --- Replay: --step runs the failed step alone, then --from-step runs it and every step after
# it in the spec's order (in the plan's order).
"$HOSTSIM" fault "$IT_HOSTS" $T3 clear
kvmove replay "$job" --step MIGRATE_GUEST --wait --timeout 60 >"$IT_DIR/replay1.out" 2>&1
check "replay --step exits 0" eq 0 "$?"
r1=$(sql "SELECT id FROM jobs WHERE replay_of = '$job' ORDER BY created_at LIMIT 1")
check "replay --step is a new attempt linked to the job" eq "2 $job" "$(sql "SELECT attempt || ' ' || replay_of FROM jobs WHERE id = '$r1'")"
check "replay --step ran MIGRATE_GUEST alone" eq "MIGRATE_GUEST:succeeded" \
    "$(sql "SELECT string_agg(step || ':' || status, ',') FROM job_steps WHERE job_id = '$r1'")"
check "replay --step: guest defined, autostart, shut off on $T3" eq "autostart $G3|domain $G3 shut off|" \
    "$(host_state $T3 | grep -E "^(domain|autostart) $G3" | tr '\n' '|')"
kvmove replay "$job" --from-step MIGRATE_GUEST --wait --timeout 60 >"$IT_DIR/replay2.out" 2>&1
check "replay --from-step exits 0" eq 0 "$?"
r2=$(sql "SELECT id FROM jobs WHERE replay_of = '$job' AND from_step = 'MIGRATE_GUEST'")
check "replay --from-step: MIGRATE_GUEST and the steps after it in the spec's order" eq \
    "MIGRATE_GUEST REMOVE_BRIDGES REMOVE_NAT_BRIDGE_SRC CREATE_NAT_BRIDGE_TGT ATTACH_INTERFACES STARTUP_GUEST" \
    "$(sql "SELECT string_agg(step, ' ' ORDER BY seq) FROM job_steps WHERE job_id = '$r2'")"
check "replay --from-step: the guest was started before the source was cleaned (the plan's order)" eq \
    "STARTUP_GUEST REMOVE_BRIDGES" \
    "$(sql "SELECT string_agg(step, ' ' ORDER BY started_at) FROM job_steps WHERE job_id = '$r2' AND step IN ('STARTUP_GUEST', 'REMOVE_BRIDGES')")"
check "replay --from-step succeeded" eq succeeded "$(sql "SELECT status FROM jobs WHERE id = '$r2'")"
check "history kept: the first attempt is still failed with its error" eq "failed" "$(sql "SELECT status FROM jobs WHERE id = '$job' AND error <> ''")"
check "guest runs on $T3" grep -qx "domain $G3 running" <<<"$(host_state $T3)"
check "the guest was defined once on $T3 (the replays observed it)" eq 1 \
    "$(host_log $T3 | tail -n +$((m3 + 1)) | awk -F'\t' '$3 == 0' | cut -f4 | grep -c "^virsh define")"
check "no safety violation" "$HOSTSIM" check "$IT_HOSTS"
