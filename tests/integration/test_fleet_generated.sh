#!/bin/bash
# A generated system no test was written against (bench/gen_esxml: cloud, hosts spelled in mixed
# case on 127.0.3.x, VF pools on the middle host only, 5 volumes and one RoCE interface per
# guest, a backup network, one client VLAN per host): OFFLINE and OFFLINEFORCE end to end, the
# hosts checked against what the generated es.xml says (tests/integration/fleet.sh).
. "${BASH_SOURCE[0]%/*}/lib.sh"
. "${BASH_SOURCE[0]%/*}/fleet.sh"
ES=$(mktemp /tmp/kvmove-fleet-gen.XXXXXX.xml)
"$IT_TOP/bench/gen_esxml" --name gen03 --hosts 3 --guests-per-host 2 --placed-hosts 2 --volumes 5 \
    --rdma 1 --backup --client-vlan per-host --cloud --vf-pools 010 --case mixed --addr 127.0.3 \
    --versions 25.1.0.0.0.250101,25.1.1.0.0.250301,25.1.0.0.0.250101 --models X9M-2,X10M-2 \
    --host-mem 262144 --host-cores 64 --cells 2 >"$ES"
it_setup fleet_generated "$ES"
cp "$ES" "$IT_DIR/es.xml"
rm -f "$ES"
ES=$IT_DIR/es.xml
it_worker_start 1
inv() { check "safety invariant held ($1)" "$HOSTSIM" check "$IT_HOSTS"; }
check "the generated hosts are spelled in mixed case" eq "GEN03ADM01.example.com gen03adm02.example.com" \
    "$(fleet_name "$ES" gen03adm01.example.com) $(fleet_name "$ES" gen03adm02.example.com)"
H1=gen03adm01.example.com H2=gen03adm02.example.com H3=gen03adm03.example.com

# OFFLINE: no VF pools on the source, VF pools on the target; the guest (GEN03VM01 in es.xml)
# and the hosts named in lower case; the other guest on the source shares its bridges.
G=gen03vm01.example.com
kvmove submit --guest $G --mode offline --src $H1 --tgt $H2 --wait --timeout 180 >"$IT_DIR/offline.out" 2>&1
check "OFFLINE $G succeeds" eq 0 "$?"
fleet_check_target "$ES" $G $H2
fleet_check_source "$ES" $G $H1
fleet_check_placed "$ES" $G $H2
inv "after OFFLINE"

# OFFLINEFORCE of the other guest, its host powered off, to the third host (no VF pools).
G=gen03vm02.example.com
"$HOSTSIM" power-off "$IT_HOSTS" "$(fleet_name "$ES" $H1)"
kvmove submit --guest $G --mode offlineforce --src $H1 --tgt $H3 --wait --timeout 180 >"$IT_DIR/force.out" 2>&1
check "OFFLINEFORCE $G from a dead host succeeds" eq 0 "$?"
job=$(sql "SELECT id FROM jobs WHERE lower(guest) = lower('$G') ORDER BY created_at DESC LIMIT 1")
fleet_check_target "$ES" $G $H3 force
"$HOSTSIM" power-on "$IT_HOSTS" "$(fleet_name "$ES" $H1)"
check "the dead source was cleaned up once back" eq done "$(wait_cleanup "$job")"
fleet_check_target "$ES" $G $H3
fleet_check_source "$ES" $G $H1
fleet_check_placed "$ES" $G $H3
inv "end"
