#!/bin/bash
# The spec's recovery path: a migration fails at STARTUP_GUEST; after the cause is fixed the
# operator runs that one step alone (WHERE STEPNAME=STARTUP_GUEST), and `kvmove replay` works too.
. "${BASH_SOURCE[0]%/*}/lib.sh"
. "${BASH_SOURCE[0]%/*}/fleet.sh"
it_setup single_step
it_worker_start 1 -o worker.step_retries=0

G=exa01vm01.example.com S=exa01adm02.example.com T=exa01adm06.example.com
"$HOSTSIM" fault "$IT_HOSTS" $T fail-always "vm_maker --start-domain"
kvmove submit "MIGRATE GUEST HOSTNAME=$G MODE=OFFLINE SRCHOST=$S TGTHOST=$T" --wait --timeout 120 >"$IT_DIR/first.out"
check "failed migration exits 1" eq 1 "$?"
job=$(sql "SELECT id FROM jobs WHERE guest = '$G'")
check "job failed" eq failed "$(sql "SELECT status FROM jobs WHERE id = '$job'")"
check "STARTUP_GUEST recorded as failed" eq failed "$(sql "SELECT status FROM job_steps WHERE job_id = '$job' AND step = 'STARTUP_GUEST'")"
check "error names the step and the host's words" grep -q "step STARTUP_GUEST failed: .*injected failure" <<<"$(sql "SELECT error FROM jobs WHERE id = '$job'")"
check "guest defined but not running on target" grep -qx "domain $G shut off" <<<"$(host_state $T)"
check "jobs --status failed lists it" grep -q "$job" <<<"$(kvmove jobs --status failed)"

"$HOSTSIM" fault "$IT_HOSTS" $T clear
before=$(host_log $T | wc -l)
srcbefore=$(host_log $S | wc -l)
out=$(kvmove submit "MIGRATE GUEST HOSTNAME=$G MODE=OFFLINE SRCHOST=$S TGTHOST=$T WHERE STEPNAME=STARTUP_GUEST" --wait --timeout 60)
check "single step exits 0" eq 0 "$?"
echo "$out"
single=$(sql "SELECT id FROM jobs WHERE guest = '$G' AND only_step = 'STARTUP_GUEST'")
check "single-step job has exactly one step" eq "STARTUP_GUEST:succeeded" "$(sql "SELECT string_agg(step || ':' || status, ',') FROM job_steps WHERE job_id = '$single'")"
check "guest running on target" grep -qx "domain $G running" <<<"$(host_state $T)"
check "source not changed by the single step" eq "" "$(host_effects $S $((srcbefore + 1)))"
check "the target's only change is the start" eq "vm_maker --start-domain $G" "$(host_effects $T $((before + 1)))"
check "no safety violation" "$HOSTSIM" check "$IT_HOSTS"

# Replay: same failure on another guest, then `kvmove replay` resumes at the failed step.
G2=exa01vm03.example.com S2=exa01adm01.example.com T2=exa01adm03.example.com
"$HOSTSIM" fault "$IT_HOSTS" $T2 fail-once "vm_maker --add-bridge"
kvmove submit --guest $G2 --mode offline --src $S2 --tgt $T2 --wait --timeout 120 >/dev/null
job2=$(sql "SELECT id FROM jobs WHERE guest = '$G2'")
check "second job failed at CREATE_BRIDGES" eq "failed" "$(sql "SELECT status FROM job_steps WHERE job_id = '$job2' AND step = 'CREATE_BRIDGES'")"
kvmove replay "$job2" --wait --timeout 120 >"$IT_DIR/replay.out"
check "replay exits 0" eq 0 "$?"
replay=$(sql "SELECT id FROM jobs WHERE replay_of = '$job2'")
check "replay is attempt 2 linked to the job" eq 2 "$(sql "SELECT attempt FROM jobs WHERE id = '$replay'")"
check "replay runs exactly the steps attempt 1 did not finish" eq \
    "$(sql "SELECT string_agg(step, ',' ORDER BY seq) FROM job_steps WHERE job_id = '$job2' AND status NOT IN ('succeeded', 'skipped')")" \
    "$(sql "SELECT string_agg(step, ',' ORDER BY seq) FROM job_steps WHERE job_id = '$replay'")"
check "replay includes the failed step" eq 1 "$(sql "SELECT count(*) FROM job_steps WHERE job_id = '$replay' AND step = 'CREATE_BRIDGES'")"
check "history of the first attempt kept" eq failed "$(sql "SELECT status FROM jobs WHERE id = '$job2'")"
check "guest runs on the new host" grep -qx "domain $G2 running" <<<"$(host_state $T2)"
# Every volume es.xml gives the guest: attached once, by attempt 1 or by the replay, never twice.
VOLS2=$(fleet_volumes "$IT_TOP/tests/fixtures/exa01.xml" "$(fleet_id "$IT_TOP/tests/fixtures/exa01.xml" $G2)")
check "es.xml gives $G2 volumes" test "$(wc -w <<<"$VOLS2")" -ge 2
for v in $VOLS2; do
    check "volume $v attached exactly once on the target" eq 1 "$(host_log $T2 | awk -F'\t' '$3 == 0' | cut -f4 | grep -c "^edvutil attach $v ")"
    check "volume $v attached to the target now" grep -qx "attached $v" <<<"$(host_state $T2)"
done
check "no safety violation" "$HOSTSIM" check "$IT_HOSTS"
