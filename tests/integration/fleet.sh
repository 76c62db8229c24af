#!/bin/bash
# Helpers for the tests that run against systems other than exa01 (sourced after lib.sh): what
# an es.xml says a guest needs, read with xmllint, and checks that the simulated hosts match it
# after a move. Nothing here names a guest, host, volume or bridge: it all comes from the file,
# so the same checks hold for any system (tests/fixtures/cld02.xml, bench/gen_esxml output).

FLEET_UC=ABCDEFGHIJKLMNOPQRSTUVWXYZ FLEET_LC=abcdefghijklmnopqrstuvwxyz

fx() { xmllint --nonet --xpath "$2" "$1" 2>/dev/null; } # fx FILE XPATH

# fx_list FILE XPATH-TO-ELEMENTS: their text, one a line.
fx_list() {
    local n i
    n=$(fx "$1" "count($2)")
    for ((i = 1; i <= ${n:-0}; i++)); do fx "$1" "string(($2)[$i])"; echo; done
}

# fleet_machine FILE NAME: the machine element (XPath) whose hostName is NAME in any case.
fleet_machine() {
    echo "/engineeredSystem/machines/machine[translate(hostName,'$FLEET_UC','$FLEET_LC')=translate('$2','$FLEET_UC','$FLEET_LC')]"
}
fleet_id() { fx "$1" "string($(fleet_machine "$1" "$2")/@id)"; }         # fleet_id FILE NAME
fleet_name() { fx "$1" "string($(fleet_machine "$1" "$2")/hostName)"; } # es.xml spelling
fleet_cloud() { [[ $(fx "$1" "string(/engineeredSystem/@deploymentType)") == cloud ]]; }

# fleet_guest_nets FILE GUEST_ID: the guest's network elements (XPath).
fleet_guest_nets() {
    echo "/engineeredSystem/networks/network[@id=/engineeredSystem/machines/machine[@id='$2']/networks/network/@id]"
}
fleet_volumes() { # fleet_volumes FILE GUEST_ID: EDV volume names, one a line
    fx_list "$1" "/engineeredSystem/storage/edvVolumes/edvVolume[@id=/engineeredSystem/machines/machine[@id='$2']/edvVolumes/edvVolume/@id]/name"
}
fleet_bridges() { fx_list "$1" "$(fleet_guest_nets "$1" "$2")/bridge"; } # one a line
fleet_nat_bridges() { fx_list "$1" "$(fleet_guest_nets "$1" "$2")/natBridge" | sort -u; }
fleet_roce() { fx_list "$1" "$(fleet_guest_nets "$1" "$2")[networkType='private']/interfaceName"; }
fleet_vlan() { # fleet_vlan FILE BRIDGE: its VLAN ("" when untagged)
    fx "$1" "string((/engineeredSystem/networks/network[bridge='$2']/vlanId)[1])"
}
# fleet_used_by_others FILE HOST GUEST_ID FIELD NAME: 1 if a guest other than GUEST_ID that FILE
# places on HOST has a network whose FIELD (bridge, natBridge) is NAME.
fleet_used_by_others() {
    local n
    n=$(fx "$1" "count(/engineeredSystem/networks/network[$4='$5'][@id=/engineeredSystem/machines/machine[@id=$(fleet_machine "$1" "$2")/machine/@id][@id!='$3']/networks/network/@id])")
    [[ ${n:-0} -gt 0 ]]
}

# Hosts and guests may be named in any case; the simulator's directories and domains use es.xml's
# spelling (fleet_name), as kvmove's host commands do.

# fleet_check_target FILE G T [force]: G (any spelling) runs on T with everything es.xml FILE
# says it needs there: domain (es.xml spelling), autostart (deferred under OFFLINEFORCE with a
# dead source), every EDV volume attached here, cfg mounted, its bridges with their VLANs, its
# NAT bridges (cloud), its RoCE interfaces.
fleet_check_target() {
    local f=$1 gid name st v b n i vl
    gid=$(fleet_id "$f" "$2") name=$(fleet_name "$f" "$2") st=$(host_state "$(fleet_name "$f" "$3")")
    check "$name: es.xml knows it" test -n "$gid"
    check "$name runs on target $3 (es.xml spelling)" grep -qx "domain $name running" <<<"$st"
    if [[ ${4:-} != force ]]; then
        check "$name: autostart on the target" grep -qx "autostart $name" <<<"$st"
    else
        check "$name: no autostart on the target while the stale copy may exist" eq 0 "$(grep -cx "autostart $name" <<<"$st")"
    fi
    for v in $(fleet_volumes "$f" "$gid"); do
        check "$name: volume $v attached to the target" grep -qx "attached $v" <<<"$st"
    done
    check "$name: cfg volume mounted on the target" grep -q "^mount /dev/exc/.* /EXAVMIMAGES/GuestImages/$name\$" <<<"$st"
    for b in $(fleet_bridges "$f" "$gid"); do
        vl=$(fleet_vlan "$f" "$b")
        if [[ -n $vl ]]; then
            check "$name: bridge $b (VLAN $vl) on the target" grep -qx "bridge $b $vl" <<<"$st"
        else
            check "$name: untagged bridge $b on the target (no VLAN, as es.xml has it)" \
                grep -qx "bridge $b" <<<"$st"
        fi
    done
    if fleet_cloud "$f"; then
        for n in $(fleet_nat_bridges "$f" "$gid"); do
            check "$name: NAT bridge $n on the target" grep -qx "bridge $n" <<<"$st"
        done
    fi
    for i in $(fleet_roce "$f" "$gid"); do
        check "$name: RoCE interface $i on the target" grep -qx "iface $name $i" <<<"$st"
    done
}

# fleet_check_source FILE G S: after the move (and the cleanup of a dead source) nothing of G is
# left on S, and what the other guests on S (as the newest stored es.xml places them) use is
# kept: volumes detached, domain gone, bridges removed unless shared, NAT bridges kept while
# shared.
fleet_check_source() {
    local f=$1 gid name st v b n now=$IT_DIR/newest.$RANDOM.xml
    gid=$(fleet_id "$f" "$2") name=$(fleet_name "$f" "$2") st=$(host_state "$(fleet_name "$f" "$3")")
    kvmove config save "$now" >/dev/null
    check "$name: no domain left on source $3" eq 0 "$(grep -c "^domain $name " <<<"$st")"
    check "$name: no autostart left on the source" eq 0 "$(grep -cx "autostart $name" <<<"$st")"
    check "$name: no mount or fstab entry left on the source" eq 0 "$(grep -cE "^(mount|fstab) .*GuestImages/$name( |\$)" <<<"$st")"
    for v in $(fleet_volumes "$f" "$gid"); do
        check "$name: volume $v not attached to the source" eq 0 "$(grep -cx "attached $v" <<<"$st")"
    done
    for b in $(fleet_bridges "$f" "$gid" | sort -u); do
        if fleet_used_by_others "$now" "$3" "$gid" bridge "$b"; then
            check "$name: source keeps bridge $b (other guests there use it)" grep -q "^bridge $b\( \|\$\)" <<<"$st"
        else
            check "$name: source bridge $b removed (no other guest there uses it)" eq 0 "$(grep -c "^bridge $b\( \|\$\)" <<<"$st")"
        fi
    done
    fleet_cloud "$f" || return 0
    for n in $(fleet_nat_bridges "$f" "$gid"); do
        if fleet_used_by_others "$now" "$3" "$gid" natBridge "$n"; then
            check "$name: source keeps NAT bridge $n (other guests there use it)" \
                grep -qx "bridge $n" <<<"$st"
        else
            check "$name: source NAT bridge $n removed (no other guest there uses it)" \
                eq 0 "$(grep -cx "bridge $n" <<<"$st")"
        fi
    done
}

# fleet_check_placed FILE G T: the newest stored es.xml places G on T.
fleet_check_placed() {
    local gid tid saved=$IT_DIR/newest.$RANDOM.xml
    gid=$(fleet_id "$1" "$2") tid=$(fleet_id "$1" "$3")
    kvmove config save "$saved" >/dev/null
    check "newest es.xml places $(fleet_name "$1" "$2") on $(fleet_name "$1" "$3")" eq "$tid" \
        "$(fx "$saved" "string(/engineeredSystem/machines/machine[machine/@id='$gid']/@id)")"
}

# fleet_union OUT FILE...: one file for the host simulator holding the machines, networks and
# EDV volumes of several systems (each keeps its addresses), so that one simulator serves them
# all. Marked cloud: the simulator seeds NAT bridges only where es.xml names them. Not for
# kvmove (each system is loaded from its own file).
fleet_union() {
    local out=$1 f part
    shift
    {
        echo '<?xml version="1.0" encoding="UTF-8"?>'
        echo '<engineeredSystem name="union" deploymentType="cloud">'
        for part in machines networks; do
            echo "<$part>"
            for f in "$@"; do fx "$f" "/engineeredSystem/$part/*"; echo; done
            echo "</$part>"
        done
        echo '<storage><edvVolumes>'
        for f in "$@"; do fx "$f" "/engineeredSystem/storage/edvVolumes/edvVolume"; echo; done
        echo '</edvVolumes></storage></engineeredSystem>'
    } >"$out"
}

# fleet_check_newest SYSTEM: the newest stored es.xml of SYSTEM places every guest on the KVM host
# where the simulator has it running, and no guest of it runs anywhere else (every host of the
# system is looked at); every merged action of it is deployed.
fleet_check_newest() {
    local saved=$IT_DIR/newest.$1.$RANDOM.xml h hn g want got n bad=0
    kvmove config save --system "$1" "$saved" >/dev/null
    n=$(fx "$saved" "count(/engineeredSystem/machines/machine[osType='LinuxKVM'])")
    for ((h = 1; h <= n; h++)); do
        hn=$(fx "$saved" "string(/engineeredSystem/machines/machine[osType='LinuxKVM'][$h]/hostName)")
        want=$(fx_list "$saved" "/engineeredSystem/machines/machine[@id=/engineeredSystem/machines/machine[osType='LinuxKVM'][$h]/machine/@id]/hostName" | grep . | sort | paste -sd' ')
        got=$(host_state "$hn" | sed -n 's/^domain \(.*\) running$/\1/p' | sort | paste -sd' ')
        [[ $want == "$got" ]] || { echo "    $hn: es.xml places: $want; runs: $got" >&2; bad=1; }
    done
    check "system $1: the newest es.xml places every guest where it runs" eq 0 "$bad"
    check "system $1: every merged action is deployed" eq 0 \
        "$(fx "$saved" "count(/engineeredSystem/actions/action[@merged='true'][@deployed!='true'])")"
}
