#!/bin/bash
# A second system, unlike exa01 (tests/fixtures/cld02.xml: cloud with NAT bridges, four KVM hosts
# on 127.0.2.x, VF pools on two of them, 3-4 volumes per guest, an upper-case guest), migrated
# end to end: OFFLINE from a host with VF pools to one without and back the other way (the
# guest named in another case than es.xml's), and OFFLINEFORCE from a dead host; the simulated
# hosts are checked against what es.xml says each guest needs (tests/integration/fleet.sh).
. "${BASH_SOURCE[0]%/*}/lib.sh"
. "${BASH_SOURCE[0]%/*}/fleet.sh"
ES=$IT_TOP/tests/fixtures/cld02.xml
it_setup fleet_fixture "$ES"
it_worker_start 1
D=dbcloud.example.net
K1=cld02kvm01.$D K2=cld02kvm02.$D K3=cld02kvm03.$D K4=cld02kvm04.$D
inv() { check "safety invariant held ($1)" "$HOSTSIM" check "$IT_HOSTS"; }

# move G MODE S T: submits and waits; the job id in $job.
move() {
    kvmove submit --guest "$1" --mode "$2" --src "$3" --tgt "$4" --wait --timeout 180 >"$IT_DIR/submit.$1.out" 2>&1
    check "$2 $1 $3 -> $4 succeeds" eq 0 "$?"
    job=$(sql "SELECT id FROM jobs WHERE lower(guest) = lower('$1') ORDER BY created_at DESC LIMIT 1")
}

# (1) OFFLINE, VF pools on the source, none on the target; another guest on the source shares
# the client bridge and the NAT bridge.
G=cld02vm01.$D
move $G offline $K1 $K4
check "all eleven steps succeeded, the NAT steps too (cloud)" eq 0 "$(sql "SELECT count(*) FROM job_steps WHERE job_id = '$job' AND status <> 'succeeded'")"
check "source has VF pools: no re* interface detached there" eq 0 "$(host_effects $K1 | grep -c -- '--detach-interface')"
check "target has none: re0 and re1 attached there" eq "re0 re1" "$(host_effects $K4 | grep -- "--attach-interface $G" | awk '{print $NF}' | sort | paste -sd' ')"
fleet_check_target "$ES" $G $K4
fleet_check_source "$ES" $G $K1
check "the other guest on the source still runs" grep -qx "domain cld02vm02.$D running" <<<"$(host_state $K1)"
fleet_check_placed "$ES" $G $K4
inv "after (1)"

# (2) OFFLINE the other way round: no VF pools on the source, VF pools on the target; the guest
# is CLD02VM04 in es.xml and named in lower case here.
G=cld02vm04.$D
move $G offline $K2 $K3
check "no VF pools on the source: re0 and re1 detached there" eq "re0 re1" "$(host_effects $K2 | grep -- '--detach-interface' | awk '{print $NF}' | sort | paste -sd' ')"
check "VF pools on the target: nothing attached there" eq 0 "$(host_effects $K3 | grep -c -- '--attach-interface')"
check "host commands name the guest as es.xml does" grep -q "vm_maker --start-domain CLD02VM04.$D" <<<"$(host_effects $K3)"
fleet_check_target "$ES" $G $K3
fleet_check_source "$ES" $G $K2
fleet_check_placed "$ES" $G $K3
it_log "  job guest as recorded: $(sql "SELECT guest FROM jobs WHERE id = '$job'"); event subjects: $(kvmove events 2>/dev/null | jq -r --arg j "$job" 'select(.data.job_id == $j) | .subject' | sort -u | paste -sd' ')"
inv "after (2)"

# (3) OFFLINEFORCE with the source powered off, no VF pools on either host.
G=cld02vm03.$D
"$HOSTSIM" power-off "$IT_HOSTS" $K2
move $G offlineforce $K2 $K4
check "source-side steps skipped as unreachable" eq "DETACH_INTERFACES,REMOVE_BRIDGES,REMOVE_NAT_BRIDGE_SRC,STOP_GUEST" \
    "$(sql "SELECT string_agg(step, ',' ORDER BY step) FROM job_steps WHERE job_id = '$job' AND status = 'skipped' AND message LIKE '%unreachable%'")"
fleet_check_target "$ES" $G $K4 force
check "volumes detached storage-side" grep -q "storage-side" <<<"$(sql "SELECT message FROM job_steps WHERE job_id = '$job' AND step = 'DETACH_VOLUMES'")"
inv "source off"
"$HOSTSIM" power-on "$IT_HOSTS" $K2
check "the dead source was cleaned up once back" eq done "$(wait_cleanup "$job")"
fleet_check_target "$ES" $G $K4
fleet_check_source "$ES" $G $K2
it_log "  NAT bridges left on $K2 after its last guest went: $(host_state $K2 | grep '^bridge vmnat' | paste -sd' ')"
fleet_check_placed "$ES" $G $K4
inv "end"
