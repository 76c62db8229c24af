#!/bin/bash
# A rollback removes only the target bridges the job it undoes created (recorded in
# job_created_bridges before CREATE_BRIDGES sends them); a bridge that was on the target before
# the job stays. Also when the worker was killed inside CREATE_BRIDGES after creating one of two
# bridges and another worker took the job over (its try finds that one there: still the job's).
. "${BASH_SOURCE[0]%/*}/lib.sh"
it_setup rollback_bridges

G=exa01vm01.example.com A=exa01adm02.example.com B=exa01adm03.example.com
states() { { host_state $A | sed 's/^/A /'; host_state $B | sed 's/^/B /'; } | sed 's/,nofail//'; }
recorded() { sql "SELECT coalesce(array_to_string(bridges, ' '), '-') FROM job_created_bridges WHERE job_id = '$1' AND step = 'CREATE_BRIDGES'"; }
bridges_of() { host_state "$1" | grep '^bridge ' | tr '\n' '|'; }
rollback() { # rollback JOB: runs kvmove rollback and waits; sets RB
    local out
    out=$(kvmove rollback "$1" --reason "undo" --wait --timeout 90)
    RB=$(sed -n 's/.*(job id \([0-9a-f-]*\))$/\1/p' <<<"$out")
}
NW=0
start_worker() { NW=$((NW + 1)); it_worker_start $NW -o worker.lease_s=3 -o worker.group="w$NW"; }
start_worker

# 1. The operator made one of the guest's two bridges on the target by hand before the job; the
# job fails in ATTACH_VOLUMES. The rollback removes the bridge the job created and keeps that one.
"$HOSTSIM" ssh "$IT_HOSTS" $B "vm_maker --add-bridge vmbondeth0.101 --vlan 101" >/dev/null
before=$(states)
"$HOSTSIM" fault "$IT_HOSTS" $B fail-always "edvutil attach"
it_submit $A $B
check "before: the job fails in ATTACH_VOLUMES" eq "failed|failed" "$(wait_job "$JOB" 60)|$(sql "SELECT status FROM job_steps WHERE job_id = '$JOB' AND step = 'ATTACH_VOLUMES'")"
"$HOSTSIM" fault "$IT_HOSTS" $B clear
check "before: CREATE_BRIDGES recorded the one it created" eq "vmbondeth1.102" "$(recorded "$JOB")"
check "before: both bridges were on the target" eq "bridge vmbondeth0.101 101|bridge vmbondeth1.102 102|" "$(bridges_of $B)"
rollback "$JOB"
check "before: the rollback succeeds" eq succeeded "$(sql "SELECT status FROM jobs WHERE id = '$RB'")"
check "before: the operator's bridge is still on the target, the job's is gone" eq "bridge vmbondeth0.101 101|" "$(bridges_of $B)"
out=$(sql "SELECT output FROM job_steps WHERE job_id = '$RB' AND step = 'ROLLBACK_REMOVE_BRIDGES_TGT'")
check "before: the rollback says why it keeps it" grep -qx "Keeping bridge vmbondeth0.101 on KVM host $B: it was there before the migration" <<<"$out"
check "before: and removes the other" grep -qx "Removing bridge vmbondeth1.102 from KVM host $B" <<<"$out"
check "before: the hosts are as before the job" eq "$before" "$(states)"
check "before: the rollback recorded nothing" eq 0 "$(sql "SELECT count(*) FROM job_created_bridges WHERE job_id = '$RB'")"

# 2. Both bridges missing; the worker is killed while CREATE_BRIDGES creates the second (the first
# is there); the host is power-cycled, which ends the command it was sending. The next worker takes
# the job over: its CREATE_BRIDGES finds the first there and creates the second; the job fails in
# ATTACH_VOLUMES. The rollback removes both: the first is the job's although the takeover found it.
"$HOSTSIM" ssh "$IT_HOSTS" $B "vm_maker --remove-bridge vmbondeth0.101" >/dev/null
before=$(states)
"$HOSTSIM" fault "$IT_HOSTS" $B pause "--add-bridge vmbondeth1.102"
it_submit $A $B
check "crash: CREATE_BRIDGES waits on the second bridge" "$HOSTSIM" wait-paused "$IT_HOSTS" $B 40
check "crash: both were recorded before they were sent" eq "vmbondeth0.101 vmbondeth1.102|bridge vmbondeth0.101 101|" "$(recorded "$JOB")|$(bridges_of $B)"
it_worker_stop $NW KILL
"$HOSTSIM" fault "$IT_HOSTS" $B clear
"$HOSTSIM" power-off "$IT_HOSTS" $B >/dev/null
"$HOSTSIM" power-on "$IT_HOSTS" $B >/dev/null
check "crash: one of the two bridges was created" eq "bridge vmbondeth0.101 101|" "$(bridges_of $B)"
"$HOSTSIM" fault "$IT_HOSTS" $B fail-always "edvutil attach"
start_worker
check "crash: the job fails in ATTACH_VOLUMES" eq "failed|failed" "$(wait_job "$JOB" 90)|$(sql "SELECT status FROM job_steps WHERE job_id = '$JOB' AND step = 'ATTACH_VOLUMES'")"
"$HOSTSIM" fault "$IT_HOSTS" $B clear
check "crash: another worker took it over" grep -q "Taking over job $JOB" "$IT_DIR/worker-$NW.log"
check "crash: CREATE_BRIDGES begun twice" eq 2 "$(sql "SELECT attempts FROM job_steps WHERE job_id = '$JOB' AND step = 'CREATE_BRIDGES'")"
check "crash: the record keeps both" eq "vmbondeth0.101 vmbondeth1.102" "$(recorded "$JOB")"
rollback "$JOB"
check "crash: the rollback succeeds" eq succeeded "$(sql "SELECT status FROM jobs WHERE id = '$RB'")"
check "crash: both bridges are gone from the target" eq "" "$(bridges_of $B)"
check "crash: the hosts are as before the job" eq "$before" "$(states)"

# 3. A job recorded before job_created_bridges existed (no row): its rollback removes every
# bridge of the guest no other guest uses, as before.
"$HOSTSIM" ssh "$IT_HOSTS" $B "vm_maker --add-bridge vmbondeth0.101 --vlan 101" >/dev/null
"$HOSTSIM" fault "$IT_HOSTS" $B fail-always "edvutil attach"
it_submit $A $B
check "old: the job fails in ATTACH_VOLUMES" eq failed "$(wait_job "$JOB" 60)"
"$HOSTSIM" fault "$IT_HOSTS" $B clear
sql "DELETE FROM job_created_bridges WHERE job_id = '$JOB'" >/dev/null
rollback "$JOB"
check "old: the rollback succeeds" eq succeeded "$(sql "SELECT status FROM jobs WHERE id = '$RB'")"
check "old: both bridges are gone, as before the record" eq "" "$(bridges_of $B)"
check "safety invariant held throughout" "$HOSTSIM" check "$IT_HOSTS"
