#!/bin/bash
# Preflight (issue 3): for every check, a job whose es.xml copy or simulated host state makes
# exactly that check fail ends at preflight with the check named, having run only read-only
# queries on the hosts and changed nothing; MERGE and --dry-run; two concurrent jobs to a target
# with room for one (reservations); a single-step job after the migration skips what it changed;
# OFFLINEFORCE with the source down skips the checks that need the source.
. "${BASH_SOURCE[0]%/*}/lib.sh"
. "${BASH_SOURCE[0]%/*}/waits.sh"
it_setup preflight
it_worker_start 1 -o worker.step_retries=0

G1=exa01vm01.example.com G2=exa01vm02.example.com
A01=exa01adm01.example.com S=exa01adm02.example.com A03=exa01adm03.example.com
T=exa01adm06.example.com
HOSTS=(exa01adm01 exa01adm02 exa01adm03 exa01adm04 exa01adm05 exa01adm06)
FIX=$IT_TOP/tests/fixtures/preflight
ES=$IT_TOP/tests/fixtures/exa01.xml
# The commands preflight may send: queries only.
QUERIES='^(imageinfo -ver|vm_maker --host-info|virsh list --all --name|vm_maker --list-bridges|vm_maker --list-vf-pools)$'

snapshot() {
    local h
    for h in "${HOSTS[@]}"; do host_state "$h.example.com"; done
    sql "SELECT count(*) FROM configs"
}
declare -A MARK
mark_logs() { local h; for h in "${HOSTS[@]}"; do MARK[$h]=$(host_log "$h.example.com" | wc -l); done; }
# Commands received since mark_logs that are not queries.
effects_since() {
    local h
    for h in "${HOSTS[@]}"; do
        host_log "$h.example.com" | tail -n +$((MARK[$h] + 1)) | cut -f4 | grep -vE "$QUERIES" | sed "s/^/$h: /"
    done
}
newest_job() { sql "SELECT id FROM jobs ORDER BY created_at DESC LIMIT 1"; }

# pf_fail CHECK SUBMIT-ARGS...: the job fails at preflight on CHECK alone, nothing changes.
pf_fail() {
    local chk=$1 before rc job
    shift
    before=$(snapshot)
    mark_logs
    kvmove submit --no-validate --wait --timeout 60 "$@" >"$IT_DIR/submit.$chk.out" 2>&1
    rc=$?
    job=$(newest_job)
    check "$chk: kvmove submit --wait exits 1" eq 1 "$rc"
    check "$chk: job failed at preflight" grep -q '^preflight failed; no host was changed' \
        <<<"$(sql "SELECT error FROM jobs WHERE id = '$job' AND status = 'failed'")"
    check "$chk: exactly $chk failed" eq "$chk" \
        "$(sql "SELECT string_agg(check_name, ',' ORDER BY seq) FROM preflight_results WHERE job_id = '$job' AND status = 'failed'")"
    check "$chk: all 21 checks recorded" eq 21 "$(sql "SELECT count(*) FROM preflight_results WHERE job_id = '$job'")"
    check "$chk: preflight.failed event names it" eq "$chk" \
        "$(sql "SELECT payload->'data'->'failed_checks'->0->>'check' FROM outbox WHERE job_id = '$job' AND payload->>'type' = 'io.kvmove.preflight.failed'")"
    check "$chk: no step ran" eq 0 "$(sql "SELECT count(*) FROM job_steps WHERE job_id = '$job' AND status <> 'pending'")"
    check "$chk: only queries reached the hosts" eq "" "$(effects_since)"
    check "$chk: nothing else changed" eq "$before" "$(snapshot)"
    PF_MSG=$(sql "SELECT message FROM preflight_results WHERE job_id = '$job' AND check_name = '$chk'")
    it_log "  $chk: $PF_MSG"
}

# info_set H KEY VALUE: the simulated host H reports KEY: VALUE (info_reset H restores it).
info_set() {
    local f=$IT_HOSTS/hosts/$1/info
    [[ -f $f.orig ]] || cp "$f" "$f.orig"
    grep -v "^$2:" "$f" >"$f.new"
    echo "$2: $3" >>"$f.new"
    mv "$f.new" "$f"
}
info_reset() { mv "$IT_HOSTS/hosts/$1/info.orig" "$IT_HOSTS/hosts/$1/info"; }

MIG=(--guest $G1 --mode offline --src $S --tgt $T)

# ---- es.xml and request ----
pf_fail esxml_current --guest exa01vm09.example.com --mode offline --src $S --tgt $T
check "esxml_current: message names guest and what to do" grep -q "exa01vm09.example.com is not defined in es.xml version 1 .*kvmove config load" <<<"$PF_MSG"
pf_fail same_system --guest $G1 --mode offline --src $S --tgt exa01adm09.example.com
check "same_system: message names the host" grep -q "target exa01adm09.example.com not a KVM host of es.xml" <<<"$PF_MSG"
pf_fail guest_on_source --guest $G1 --mode offline --src $A03 --tgt $T
check "guest_on_source: message names source and the es.xml placement" grep -q "not defined on source KVM host $A03 .*places it on $S" <<<"$PF_MSG"

kvmove config load "$FIX/no_exascale.xml" >/dev/null
pf_fail exascale_storage "${MIG[@]}"
kvmove config load "$FIX/guest_liveupdate.xml" >/dev/null
pf_fail liveupdate_guest "${MIG[@]}"
check "liveupdate_guest: message names the guest" grep -q "guest $G1 has outstanding Exadata Live Update work" <<<"$PF_MSG"
kvmove config load "$FIX/vlan_conflict.xml" >/dev/null
pf_fail network_visibility --guest $G1 --mode offline --src $S --tgt $A01
check "network_visibility: message names bridge, VLANs and guests" grep -q "bridge vmbondeth0.101 on target KVM host $A01 carries VLAN 301 for guest exa01vm03.example.com; guest $G1 needs it with VLAN 101" <<<"$PF_MSG"
kvmove config load "$ES" >/dev/null

# ---- live host state (the host's answer wins over es.xml) ----
info_set $S Model X7-2
pf_fail hardware_source "${MIG[@]}"
check "hardware_source: found and required values, es.xml disagreement" grep -q "source KVM host $S has model X7-2; required: a 2-socket Exadata X8M-2 or later.*es.xml says model X8M-2 for $S but the host reports X7-2" <<<"$PF_MSG"
info_reset $S
info_set $T Fabric InfiniBand
pf_fail hardware_target "${MIG[@]}"
info_reset $T
info_set $S Version 24.1.0.0.0.240601
pf_fail software_source "${MIG[@]}"
check "software_source: found and required" grep -q "runs Exadata System Software 24.1.0.0.0.240601; required: 25.1.0 or later" <<<"$PF_MSG"
info_reset $S
info_set $T Version 24.1.0.0.0.240601
pf_fail software_target "${MIG[@]}"
info_reset $T
info_set $S Version 25.1.2.0.0.250601
pf_fail target_version "${MIG[@]}"
check "target_version: both versions named" grep -q "target KVM host $T runs Exadata System Software 25.1.1.0.0.250301, older than 25.1.2.0.0.250601 on source KVM host $S" <<<"$PF_MSG"
info_reset $S
info_set $T StorageServers exa01celadm01.example.com
pf_fail storage_servers "${MIG[@]}"
info_reset $T
# VF pools on the source only: not a failure, the interface steps attach re* on the target.
mv "$IT_HOSTS/hosts/$T/vfpools" "$IT_DIR/vfpools.saved"
out=$(kvmove submit --dry-run "${MIG[@]}" 2>&1 | tee "$IT_DIR/dry-run.vfpools.out")
check "network_visibility: VF pools on the source only pass, re* attached on the target" grep -q "network_visibility .*RoCE interfaces re0, re1 come from VF pools on source $S (nothing to detach) and are attached on target $T (no VF pools there)" <<<"$out"
mv "$IT_DIR/vfpools.saved" "$IT_HOSTS/hosts/$T/vfpools"
info_set $S LiveUpdatePending yes
pf_fail liveupdate_source "${MIG[@]}"
info_reset $S
info_set $T LiveUpdatePending yes
pf_fail liveupdate_target "${MIG[@]}"
check "liveupdate_target: es.xml disagreement is named" grep -q "es.xml says no Live Update work for $T but the host reports LiveUpdatePending: yes" <<<"$PF_MSG"
info_reset $T
cp -r "$IT_HOSTS/hosts/$S/domains/$G1" "$IT_HOSTS/hosts/$T/domains/"
echo "shut off" >"$IT_HOSTS/hosts/$T/domains/$G1/state"
rm -f "$IT_HOSTS/hosts/$T/domains/$G1/autostart"
pf_fail guest_name_free "${MIG[@]}"
check "guest_name_free: message names guest and target" grep -q "guest name $G1 is already in use on target KVM host $T (virsh list" <<<"$PF_MSG"
rm -r "${IT_HOSTS:?}/hosts/$T/domains/$G1"
info_set $T FreeMemoryMB 8192
pf_fail target_memory "${MIG[@]}"
check "target_memory: free, total, placed, reserved, needed" grep -q "target KVM host $T has 8192 MiB free (131072 total - 122880 placed - 0 reserved), guest $G1 needs 16384 MiB; memory cannot be over-committed" <<<"$PF_MSG"
info_reset $T
info_set $T UsedVcpus 46
pf_fail target_vcpus "${MIG[@]}"
check "target_vcpus: the assumed ratio is named" grep -q "46 vCPUs in use + 0 reserved + 4 for guest $G1 = 50; 48 allowed (48 cores x vCPU over-commit ratio 1.00, preflight.vcpu_overcommit; 1.0 = no over-commit)" <<<"$PF_MSG"
info_reset $T
"$HOSTSIM" power-off "$IT_HOSTS" $T
pf_fail ssh_target "${MIG[@]}"
"$HOSTSIM" power-on "$IT_HOSTS" $T
"$HOSTSIM" power-off "$IT_HOSTS" $S
pf_fail ssh_source "${MIG[@]}"
check "ssh_source: OFFLINE tells to use OFFLINEFORCE" grep -q "source KVM host $S is unreachable over SSH as root .*if the host is really down, use MODE=OFFLINEFORCE" <<<"$PF_MSG"
"$HOSTSIM" power-on "$IT_HOSTS" $S
check "guests back up after power-on" grep -qx "domain $G1 running" <<<"$(host_state $S)"

# ---- MERGE ACTIONS and --dry-run ----
jobs_before=$(sql "SELECT count(*) FROM jobs")
out=$(kvmove submit --guest $G1 --mode offline --src $A03 --tgt $T 2>&1)
check "merge: a failing es.xml check exits 1" eq 1 "$?"
check "merge: prints the failing check with its reason" grep -q "^Check guest_on_source failed: guest $G1 is placed on $S in es.xml version" <<<"$out"
check "merge: nothing published" grep -q "nothing was published" <<<"$out"
before=$(snapshot)
mark_logs
info_set $T FreeMemoryMB 8192
out=$(kvmove submit --dry-run "${MIG[@]}" 2>&1)
check "dry run: a failing live check exits 1" eq 1 "$?"
check "dry run: names it" grep -qE "^  failed +target_memory +target KVM host $T has 8192 MiB free" <<<"$out"
info_reset $T
out=$(kvmove submit --dry-run "${MIG[@]}" 2>&1)
check "dry run: passes" eq 0 "$?"
echo "$out"
check "dry run: every check passed" eq 21 "$(grep -cE '^  passed ' <<<"$out")"
check "dry run: the plan lists the eleven steps" eq 11 "$(grep -cE '^ +[0-9]+\. [A-Z_]+ +on exa01adm0[26]' <<<"$out")"
check "dry run: the worker's order: target bridges first, STOP_GUEST on the source third" eq "CREATE_BRIDGES $T CREATE_NAT_BRIDGE_TGT $T STOP_GUEST $S" "$(grep -E '^ +[0-9]+\. ' <<<"$out" | head -3 | awk '{print $2, $4}' | paste -sd' ')"
check "dry run --sequential: the spec's order" grep -qE "^ +1\. STOP_GUEST +on $S" <<<"$(kvmove submit --dry-run --sequential "${MIG[@]}" 2>&1)"
check "dry run: no job, no es.xml version" eq "$jobs_before" "$(sql "SELECT count(*) FROM jobs")"
check "dry run: only queries reached the hosts" eq "" "$(effects_since)"
check "dry run: nothing changed" eq "$before" "$(snapshot)"

# ---- two concurrent jobs to a target with room for one ----
info_set $T MemoryMB 20000
"$HOSTSIM" latency "$IT_HOSTS" $S "vm_maker --stop-domain" 2000
kvmove submit --guest $G1 --mode offline --src $S --tgt $T >"$IT_DIR/a.out"
check "reservation: first job validated and merged" grep -q "Action Validated and Merged OK" "$IT_DIR/a.out"
ja=$(sed -n 's/^Request \([0-9a-f-]*\) published.*/\1/p' "$IT_DIR/a.out")
# Reservations go by the order jobs are recorded, and the two requests travel on different
# partitions (key = guest): submit the second once the first is recorded, so "first" is certain.
waited "reservation: the first job is recorded before the second is submitted" 10 job_recorded "$ja"
jb=$(kvmove submit --guest $G2 --mode offline --src $S --tgt $T | sed -n 's/^Request \([0-9a-f-]*\) published.*/\1/p')
check "reservation: first job succeeds" eq succeeded "$(wait_job "$ja" 60)"
check "reservation: second job fails" eq failed "$(wait_job "$jb" 60)"
msg=$(sql "SELECT message FROM preflight_results WHERE job_id = '$jb' AND check_name = 'target_memory' AND status = 'failed'")
it_log "  reservation: $msg"
check "reservation: second job failed on target_memory, reserved by the first" grep -q "target KVM host $T has 3616 MiB free (20000 total - 0 placed - 16384 reserved by job $ja), guest $G2 needs 16384 MiB" <<<"$msg"
check "reservation: only target_memory failed" eq target_memory "$(sql "SELECT string_agg(check_name, ',') FROM preflight_results WHERE job_id = '$jb' AND status = 'failed'")"
check "reservation: second guest untouched" grep -qx "domain $G2 running" <<<"$(host_state $S)"
"$HOSTSIM" latency "$IT_HOSTS" $S clear
info_reset $T

# ---- a single step after the migration: checks the migration changed are skipped ----
kvmove submit --wait --timeout 60 "MIGRATE GUEST HOSTNAME=$G1 MODE=OFFLINE SRCHOST=$S TGTHOST=$T WHERE STEPNAME=STARTUP_GUEST" >"$IT_DIR/single.out" 2>&1
check "single step after the migration passes preflight and succeeds" eq 0 "$?"
js=$(newest_job)
check "single step: guest_on_source, guest_name_free, target_memory, target_vcpus skipped" eq \
    "guest_on_source,guest_name_free,target_memory,target_vcpus" \
    "$(sql "SELECT string_agg(check_name, ',' ORDER BY seq) FROM preflight_results WHERE job_id = '$js' AND status = 'skipped'")"
check "single step: the reason is given" grep -q "resumes an earlier attempt" \
    <<<"$(sql "SELECT message FROM preflight_results WHERE job_id = '$js' AND check_name = 'guest_on_source'")"

# ---- OFFLINEFORCE with the source down ----
"$HOSTSIM" power-off "$IT_HOSTS" $S
jf=$(kvmove submit --guest $G2 --mode offlineforce --src $S --tgt $A03 | sed -n 's/^Request \([0-9a-f-]*\) published.*/\1/p')
preflight_done() { [[ -n $(sql "SELECT 1 FROM outbox WHERE job_id = '$1' AND payload->>'type' LIKE 'io.kvmove.preflight.%'") ]]; }
waited "OFFLINEFORCE: the job's preflight ended" 30 preflight_done "$jf"
check "OFFLINEFORCE: preflight passed with the source down" eq io.kvmove.preflight.passed \
    "$(sql "SELECT payload->>'type' FROM outbox WHERE job_id = '$jf' AND payload->>'type' LIKE 'io.kvmove.preflight.%'")"
check "OFFLINEFORCE: ssh_source skipped with the reason" grep -q "source KVM host $S is unreachable .*MODE=OFFLINEFORCE proceeds without it" \
    <<<"$(sql "SELECT message FROM preflight_results WHERE job_id = '$jf' AND check_name = 'ssh_source' AND status = 'skipped'")"
check "OFFLINEFORCE: checks that need the source skipped" eq \
    "ssh_source,hardware_source,software_source,target_version,liveupdate_source" \
    "$(sql "SELECT string_agg(check_name, ',' ORDER BY seq) FROM preflight_results WHERE job_id = '$jf' AND status = 'skipped'")"
# ...and the job it let through moved the guest: source-side steps skipped, the guest runs on the
# target, the source's cleanup waits for the host to come back.
check "OFFLINEFORCE: the job succeeds with the source down" eq succeeded "$(wait_job "$jf" 120)"
check "OFFLINEFORCE: the guest runs on the target" grep -qx "domain $G2 running" <<<"$(host_state $A03)"
check "OFFLINEFORCE: source-side steps skipped as unreachable" eq "DETACH_INTERFACES,REMOVE_BRIDGES,STOP_GUEST" \
    "$(sql "SELECT string_agg(step, ',' ORDER BY step) FROM job_steps WHERE job_id = '$jf' AND status = 'skipped' AND message LIKE '%unreachable%'")"
check "OFFLINEFORCE: the source's cleanup is pending" eq "$S:pending" \
    "$(sql "SELECT host || ':' || status FROM host_cleanups WHERE job_id = '$jf'")"
check "OFFLINEFORCE: no safety violation" "$HOSTSIM" check "$IT_HOSTS"
