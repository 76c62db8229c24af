#!/bin/bash
# Test fixture self-test: drives the KVM host simulator (tests/hostsim) over real SSH through a
# manual offline migration of exa01vm01 (exa01adm02 -> exa01adm06), fault injection, latency,
# power cycles and the split-brain invariant, then checks that stop leaves no process behind.
# Usage: tests/hostsim/selftest.sh   (env HOSTSIM_PORT, default 2222). Prints "N passed, N failed".
set -u
HERE=$(cd "${BASH_SOURCE[0]%/*}" && pwd)
HS=$HERE/hostsim
FIXTURE=$HERE/../fixtures/exa01.xml
# Port: HOSTSIM_PORT, else the one ctest gives the test (KVMOVE_TEST_PORT), else 2222, else the first free one of 22220-22299 (a devstack may hold 2222).
port_free() {
    local a
    for a in 1 2 3 4 5 6; do (exec 3<>"/dev/tcp/127.0.1.$a/$1") 2>/dev/null && return 1; done
    return 0
}
PORT=${HOSTSIM_PORT:-${KVMOVE_TEST_PORT:-}}
if [[ -z $PORT ]]; then
    for PORT in 2222 {22220..22299}; do port_free "$PORT" && break; done
fi
T=$(mktemp -d /tmp/hostsim-selftest.XXXXXX)
ROOT=$T/root
pass=0 fail=0

G=exa01vm01.example.com
SRC=127.0.1.2 SRCN=exa01adm02.example.com
TGT=127.0.1.6 TGTN=exa01adm06.example.com
GI=/EXAVMIMAGES/GuestImages/$G
CFGDEV=exa01vm01_cfg_82abd35b3cb04643848b556c31e8903f
VOLS=(exa01vm01_sys exa01vm01_cfg exa01vm01_gih01 exa01vm01_dbh01 exa01vm01_u01)
declare -A DEV=(
    [exa01vm01_sys]=exa01vm01_sys_95d9f89aeacf4e7f8997972b2e1354ff
    [exa01vm01_cfg]=$CFGDEV
    [exa01vm01_gih01]=exa01vm01_gih01_5ea0689d6e4f4eedbde29fcf3f9f618d
    [exa01vm01_dbh01]=exa01vm01_dbh01_95370e3d9cfe49639c8943a659137265
    [exa01vm01_u01]=exa01vm01_u01_0b66086a58474595a3d2f00b1bd7bb63
)

cleanup() {
    "$HS" stop "$ROOT" >/dev/null 2>&1
    "$HS" stop "$T/cloud" >/dev/null 2>&1
    rm -rf "$T"
}
trap cleanup EXIT

ok() {
    pass=$((pass + 1))
    echo "ok - $1"
}
nok() {
    fail=$((fail + 1))
    echo "not ok - $1"
    [[ -n ${2:-} ]] && printf '    %s\n' "$2"
}
check() { # check DESC COMMAND...: passes when COMMAND succeeds
    local d=$1
    shift
    if "$@"; then ok "$d"; else nok "$d"; fi
}

# run ADDR COMMAND: plain ssh to a simulated host; sets RC, OUT, ERR.
run() {
    local a=$1
    shift
    OUT=$(ssh -i "$ROOT/id_ed25519" -o UserKnownHostsFile="$ROOT/known_hosts" -o StrictHostKeyChecking=yes \
        -o BatchMode=yes -o IdentitiesOnly=yes -o ConnectTimeout=5 -p "$PORT" "root@$a" "$*" 2>"$T/err")
    RC=$?
    ERR=$(<"$T/err")
}
# expect RC DESC ADDR COMMAND [OUT-SUBSTRING [ERR-SUBSTRING]]
expect() {
    local want=$1 d=$2 a=$3 c=$4 o=${5-} e=${6-}
    run "$a" "$c"
    if [[ $RC == "$want" && $OUT == *"$o"* && $ERR == *"$e"* ]]; then
        ok "$d"
    else
        nok "$d" "rc=$RC (want $want) out=[$OUT] err=[$ERR] cmd=[$c]"
    fi
}
state_has() { # state_has ADDR LINE
    if "$HS" state "$ROOT" "$1" | grep -qxF -- "$2"; then ok "state of $1 has '$2'"; else nok "state of $1 has '$2'"; fi
}
state_lacks() { # state_lacks ADDR PATTERN (fixed substring)
    if "$HS" state "$ROOT" "$1" | grep -qF -- "$2"; then nok "state of $1 lacks '$2'"; else ok "state of $1 lacks '$2'"; fi
}

echo "# root $ROOT, port $PORT"
check "init from the es.xml fixture" "$HS" init "$ROOT" "$FIXTURE" --port "$PORT"
check "127.0.1.x is local (sshd binds it)" "$HS" start "$ROOT"

# ---- seeded state and read-only commands
expect 0 "imageinfo -ver on target" $TGT "imageinfo -ver" "25.1.1.0.0.250301"
expect 0 "host-info: memory left after the guests defined" $SRC "vm_maker --host-info" "FreeMemoryMB: 98304"
expect 0 "host-info: used vcpus" $SRC "vm_maker --host-info" "UsedVcpus: 8"
expect 0 "host-info: node type" $SRC "vm_maker --host-info" "NodeType: KVMHOST"
expect 0 "source lists the guests" $SRC "virsh list --all --name" "$G"
expect 0 "guest runs on source" $SRC "virsh domstate $G" "running"
expect 0 "dominfo autostart" $SRC "virsh dominfo $G" "Autostart:      enable"
expect 1 "guest undefined on target" $TGT "virsh domstate $G" "" "error: failed to get domain '$G'"
expect 0 "VF pools in use on source" $SRC "vm_maker --list-vf-pools" "vfpool_re0"
expect 0 "re* interfaces attached" $SRC "vm_maker --list-interfaces $G" "re1"
expect 0 "edvutil lsattach on source" $SRC "edvutil lsattach" "exa01vm01_cfg $CFGDEV"
expect 0 "cfg volume mounted on source" $SRC "mountpoint -q $GI"
expect 0 "fstab has the cfg entry" $SRC "grep -c /dev/exc/$CFGDEV /etc/fstab" "1"
expect 0 "guest XML on the cfg volume" $SRC "test -f $GI/$G.xml && grep -c '<name>$G</name>' $GI/$G.xml" "1"
expect 0 "output paths are un-mapped" $SRC "cat /etc/fstab" "/dev/exc/$CFGDEV $GI xfs"
if [[ $OUT == *"$ROOT"* ]]; then nok "no simulator path leaks into output"; else ok "no simulator path leaks into output"; fi
: >"$T/empty_kh"
OUT=$(ssh -i "$ROOT/id_ed25519" -o UserKnownHostsFile="$T/empty_kh" -o StrictHostKeyChecking=yes -o BatchMode=yes \
    -p "$PORT" root@$SRC true 2>&1)
check "strict host key checking refuses an unknown host" test $? = 255

# ---- safety refusals before the move
expect 1 "target refuses to attach a volume attached elsewhere" $TGT "edvutil attach exa01vm01_sys ${DEV[exa01vm01_sys]}" "" \
    "volume exa01vm01_sys is attached to host $SRCN"
expect 1 "detach refused while the cfg device is mounted" $SRC "edvutil detach exa01vm01_cfg" "" "busy"
expect 1 "detach refused while the guest runs" $SRC "edvutil detach exa01vm01_sys" "" "busy"
expect 1 "undefine refused while running" $SRC "virsh undefine $G" "" "domain is running"

# ---- STOP_GUEST with fault injection and latency
"$HS" fault "$ROOT" exa01adm02 fail-once "vm_maker --stop-domain"
expect 1 "fail-once fault fails the next stop" $SRC "vm_maker --stop-domain $G" "" "hostsim: injected failure"
expect 0 "guest still running after the injected failure" $SRC "virsh domstate $G" "running"
check "fail-once line is consumed" test ! -s "$ROOT/hosts/$SRCN/faults"
"$HS" latency "$ROOT" exa01adm02 "--stop-domain" 300
expect 0 "graceful stop" $SRC "vm_maker --stop-domain $G"
last=$(grep -P '\tvm_maker --stop-domain '"$G"'$' "$ROOT/hosts/$SRCN/commands.log" | tail -n 1)
IFS=$'\t' read -r t0 t1 rc _ <<<"$last"
check "shutdown latency applied (>= 300 ms in commands.log)" test $((t1 - t0)) -ge 300
check "commands.log line has exit 0" test "$rc" = 0
"$HS" latency "$ROOT" exa01adm02 clear
expect 0 "guest shut off" $SRC "virsh domstate $G" "shut off"
expect 0 "stop of a stopped guest is fine" $SRC "vm_maker --stop-domain $G --force"

# ---- DETACH_VOLUMES on the source
expect 0 "unmount cfg" $SRC "mountpoint -q $GI && umount $GI"
expect 32 "second umount: not mounted" $SRC "umount $GI" "" "not mounted"
expect 0 "remove the fstab entry" $SRC "sed -i '\\#^/dev/exc/$CFGDEV #d' /etc/fstab && ! grep -q $CFGDEV /etc/fstab"
expect 0 "remove the guest directory" $SRC "rmdir $GI && test ! -e $GI"
pids=()
for v in "${VOLS[@]}"; do
    (run $SRC "edvutil detach $v" && exit "$RC") &
    pids+=($!)
done
bad=0
for p in "${pids[@]}"; do wait "$p" || bad=1; done
check "5 detaches in parallel channels" test $bad = 0
state_lacks $SRC "device exa01vm01_"
state_lacks $SRC "attached exa01vm01_"
state_lacks $SRC "mount /dev/exc/$CFGDEV"
state_lacks $SRC "dir $GI"
check "detached volumes have no attachment" test ! -e "$ROOT/exascale/attachments/exa01vm01_sys"

# ---- ATTACH_VOLUMES on the target
pids=()
for v in "${VOLS[@]}"; do
    (run $TGT "edvutil attach $v ${DEV[$v]}" && exit "$RC") &
    pids+=($!)
done
bad=0
for p in "${pids[@]}"; do wait "$p" || bad=1; done
check "5 attaches in parallel channels" test $bad = 0
expect 0 "target lsattach" $TGT "edvutil lsattach" "exa01vm01_u01 ${DEV[exa01vm01_u01]}"
expect 1 "not mounted yet" $TGT "mountpoint -q $GI"
expect 0 "mkdir and mount cfg" $TGT "mkdir -p $GI && mount /dev/exc/$CFGDEV $GI"
expect 0 "add the fstab entry" $TGT "grep -q $CFGDEV /etc/fstab || echo '/dev/exc/$CFGDEV $GI xfs defaults 0 0' >> /etc/fstab"
expect 0 "the guest XML followed the volume" $TGT "test -f $GI/$G.xml"

# ---- CREATE_BRIDGES, MIGRATE_GUEST
expect 0 "add bridge 0" $TGT "vm_maker --add-bridge vmbondeth0.101 --vlan 101"
expect 0 "add bridge 1" $TGT "vm_maker --add-bridge vmbondeth1.102 --vlan 102"
expect 1 "add an existing bridge" $TGT "vm_maker --add-bridge vmbondeth0.101 --vlan 101"
expect 0 "define on target" $TGT "virsh define $GI/$G.xml" "Domain '$G' defined from $GI/$G.xml"
expect 1 "define twice" $TGT "virsh define $GI/$G.xml" "" "already exists"
expect 0 "defined shut off" $TGT "virsh domstate $G" "shut off"
expect 0 "defined without autostart" $TGT "virsh dominfo $G" "Autostart:      disable"
expect 0 "VF pools bring the re* interfaces" $TGT "vm_maker --list-interfaces $G" "re0"
expect 0 "autostart off on source" $SRC "virsh autostart --disable $G"
expect 0 "undefine on source" $SRC "virsh undefine $G"
expect 0 "autostart on target" $TGT "virsh autostart $G"
check "no violation so far" "$HS" check "$ROOT"

# ---- REMOVE_BRIDGES on the source
expect 0 "remove a bridge only the guest used" $SRC "vm_maker --remove-bridge vmbondeth1.102"
expect 1 "bridge still used by exa01vm02 stays" $SRC "vm_maker --remove-bridge vmbondeth0.101" "" "in use"

# ---- STARTUP_GUEST, paused by a fault
"$HS" fault "$ROOT" exa01adm06 pause "vm_maker --start-domain"
(run $TGT "vm_maker --start-domain $G" && exit "$RC") &
bg=$!
check "start is paused" "$HS" wait-paused "$ROOT" exa01adm06 10
expect 0 "other channels work while a command is paused" $TGT "virsh domstate $G" "shut off"
"$HS" fault "$ROOT" exa01adm06 clear
"$HS" resume "$ROOT" exa01adm06
wait $bg
check "paused start completes after resume" test $? = 0
expect 0 "guest runs on target" $TGT "virsh domstate $G" "running"
expect 1 "source no longer knows the guest" $SRC "virsh domstate $G"
state_has $TGT "domain $G running"
state_has $TGT "autostart $G"
state_has $TGT "mount /dev/exc/$CFGDEV $GI"
state_has $TGT "fstab /dev/exc/$CFGDEV $GI xfs defaults 0 0"
state_has $TGT "device $CFGDEV exa01vm01_cfg"
state_has $TGT "attached exa01vm01_dbh01"
state_has $TGT "bridge vmbondeth0.101 101"
state_has $TGT "iface $G re1"
state_lacks $SRC "$G"
state_has $SRC "domain exa01vm02.example.com running"
check "no violation after the migration" "$HS" check "$ROOT"
check "commands.log lines have 4 tab-separated fields" \
    awk -F'\t' 'NF != 4 || $3 !~ /^[0-9]+$/ { bad = 1 } END { exit bad }' "$ROOT/hosts/$TGTN/commands.log"
check "commands.log has the define" grep -qP "\t0\tvirsh define $GI/$G.xml\$" "$ROOT/hosts/$TGTN/commands.log"

# ---- fail-always, refusal to start twice
"$HS" fault "$ROOT" exa01adm03 fail-always "imageinfo"
expect 1 "fail-always 1" 127.0.1.3 "imageinfo -ver" "" "injected failure"
expect 1 "fail-always 2" 127.0.1.3 "imageinfo -ver" "" "injected failure"
"$HS" fault "$ROOT" exa01adm03 clear
expect 0 "cleared" 127.0.1.3 "imageinfo -ver" "25.1.0.0.0.250101"

# ---- a batch (kvmove's compound form): each part logged, faulted and delayed on its own
KB='kvmove_batch() { kvmove_m=$1$2; shift 2; kvmove_i=0; for kvmove_p in "$@"; do (set --; eval "$kvmove_p") </dev/null; printf '\''\n%s %d %d\n'\'' "$kvmove_m" "$kvmove_i" "$?"; printf '\''\n%s %d\n'\'' "$kvmove_m" "$kvmove_i" >&2; kvmove_i=$((kvmove_i + 1)); done; }; kvmove_batch'
batch() { # batch PART...: the batch command with marker halves aaaa..., bbbb...
    local p q=" 'aaaaaaaaaaaaaaaa' 'bbbbbbbbbbbbbbbb'"
    for p; do q+=" '${p//\'/\'\\\'\'}'"; done
    printf '%s%s' "$KB" "$q"
}
B3=127.0.1.3 B3N=$(basename "$(ls -d "$ROOT"/hosts/exa01adm03*)")
MK=aaaaaaaaaaaaaaaabbbbbbbbbbbbbbbb
n0=$(wc -l <"$ROOT/hosts/$B3N/commands.log")
"$HS" fault "$ROOT" exa01adm03 fail-once "vm_maker --list-bridges"
"$HS" latency "$ROOT" exa01adm03 "imageinfo" 200
run $B3 "$(batch "imageinfo -ver" "virsh domstate no-such-guest" "vm_maker --list-bridges" "echo 'it'\''s'; ls /EXAVMIMAGES")"
"$HS" latency "$ROOT" exa01adm03 clear
want_out=$'25.1.0.0.0.250101\n\n'"$MK 0 0"$'\n\n'"$MK 1 1"$'\n\n'"$MK 2 1"$'\n'"it's"$'\nGuestImages\n\n'"$MK 3 0"
want_err=$'\n'"$MK 0"$'\n'"error: failed to get domain 'no-such-guest'"$'\n\n'"$MK 1"$'\nhostsim: injected failure\n\n'"$MK 2"$'\n\n'"$MK 3"
check "a batch answers each part behind its separator" test "$RC:$OUT" = "0:$want_out"
check "a batch's stderr has each part's own behind its separator" test "$ERR" = "$want_err"
log4=$(tail -n +$((n0 + 1)) "$ROOT/hosts/$B3N/commands.log")
check "a batch logs one commands.log line per part" test "$(wc -l <<<"$log4")" = 4
check "each part's line has its own command and exit" test "$(cut -f3,4 <<<"$log4")" = \
    $'0\timageinfo -ver\n1\tvirsh domstate no-such-guest\n1\tvm_maker --list-bridges\n0\techo '\''it'\'\\\'\''s'\''; ls /EXAVMIMAGES'
read -r t0 t1 _ <<<"$(head -n 1 <<<"$log4")"
check "a part's latency applies to it (>= 200 ms)" test $((t1 - t0)) -ge 200
n0=$(wc -l <"$ROOT/hosts/$B3N/commands.log")
expect 0 "a batch not in the form runs as one command" $B3 "$KB 'aaaa' 'bbbb' 'echo x'; echo y" "y"
check "... logged as one line" test "$(($(wc -l <"$ROOT/hosts/$B3N/commands.log") - n0))" = 1

# ---- power cycle of a healthy host: autostart and fstab come back
"$HS" power-off "$ROOT" exa01adm01
run 127.0.1.1 "true"
check "powered-off host refuses connections" test "$RC" = 255
state_has 127.0.1.1 "power off"
state_has 127.0.1.1 "domain exa01vm03.example.com shut off"
check "power-on" "$HS" power-on "$ROOT" exa01adm01
expect 0 "autostart guest runs after power-on" 127.0.1.1 "virsh domstate exa01vm03.example.com" "running"
expect 0 "fstab mounted at boot" 127.0.1.1 "mountpoint -q /EXAVMIMAGES/GuestImages/exa01vm03.example.com"
check "no violation after a clean power cycle" "$HS" check "$ROOT"

# ---- split brain: target dies, guest is forced back to the source, target powers on
"$HS" power-off "$ROOT" exa01adm06
# Every volume, each command's exit status checked (run itself always returns 0).
for v in "${VOLS[@]}"; do
    expect 0 "storage-side detach of $v from the dead host" $SRC "edvutil detach $v --host $TGTN"
done
state_lacks $TGT "device exa01vm01_"
for v in "${VOLS[@]}"; do
    expect 0 "re-attach $v on the source" $SRC "edvutil attach $v ${DEV[$v]}"
done
expect 0 "mount on source" $SRC "mkdir -p $GI && mount /dev/exc/$CFGDEV $GI && virsh define $GI/$G.xml"
expect 0 "bridge back on source" $SRC "vm_maker --add-bridge vmbondeth1.102 --vlan 102"
expect 0 "start on source (the dead host does not run it)" $SRC "vm_maker --start-domain $G && virsh autostart $G"
check "no violation while the target is dead" "$HS" check "$ROOT"
"$HS" power-on "$ROOT" exa01adm06
# The dead host's copy still has autostart, but its disks were detached storage-side: it
# cannot start (the fence OFFLINEFORCE relies on); only the double autostart is reported.
expect 0 "fenced stale copy stays off at power-on" $TGT "virsh domstate $G" "shut off"
check "boot log says why" grep -q "autostart of .*$G failed: disks missing" "$ROOT/hosts/$TGTN/boot.log"
OUT=$("$HS" check "$ROOT")
RC=$?
check "hostsim check reports the double autostart" test "$RC" = 1
check "violation names the double autostart" grep -q "autostart $G on" <<<"$OUT"
check "no guest ran on two hosts" test "$(grep -c "running $G on" <<<"$OUT")" = 0
expect 1 "a start of the stale copy is refused (no disks)" $TGT "vm_maker --start-domain $G" "" ""
# Without the fence: a host that kept its attachment and comes back starts its copy (split
# brain), and QEMU's image lock refuses a second start elsewhere.
"$HS" power-off "$ROOT" exa01adm04
mkdir -p "$ROOT/hosts/$(basename "$(ls -d "$ROOT"/hosts/exa01adm04*)")/domains/$G"
D4=$(ls -d "$ROOT"/hosts/exa01adm04*)
cp "$ROOT/hosts/$TGTN/domains/$G/xml" "$D4/domains/$G/xml"
echo "shut off" >"$D4/domains/$G/state"
: >"$D4/domains/$G/autostart"
for d in $(ls "$ROOT/hosts/$SRCN/dev/exc/"); do cp "$ROOT/hosts/$SRCN/dev/exc/$d" "$D4/dev/exc/$d"; done
for b in $(ls "$ROOT/hosts/$SRCN/bridges/"); do cp "$ROOT/hosts/$SRCN/bridges/$b" "$D4/bridges/$b" 2>/dev/null; done
"$HS" power-on "$ROOT" exa01adm04
OUT=$("$HS" check "$ROOT")
check "violation names the guest running on both hosts" grep -q "running $G on .*$SRCN" <<<"$OUT"
expect 1 "QEMU lock: a second start elsewhere is refused" $SRC "vm_maker --stop-domain $G && vm_maker --start-domain $G" "" "write"

# ---- hang, then stop leaves nothing behind
"$HS" fault "$ROOT" exa01adm05 hang "echo hang-me"
(run 127.0.1.5 "echo hang-me") &
hb=$!
for ((i = 0; i < 250; i++)); do
    pgrep -f "hostsim-exec $ROOT/hosts/exa01adm05" >/dev/null && break
    sleep 0.02
done
hung() { pgrep -f "hostsim-exec $ROOT/hosts/exa01adm05" >/dev/null; }
check "hung command is running" hung
spids=$(cat "$ROOT"/hosts/*/sshd.pid "$ROOT"/hosts/*/unshare.pid 2>/dev/null)
check "stop" "$HS" stop "$ROOT"
wait $hb 2>/dev/null
left=0
for p in $spids; do
    [[ -r /proc/$p/stat ]] && [[ $(awk '{print $3}' /proc/"$p"/stat) != Z ]] && left=1
done
check "recorded sshd/unshare pids are gone" test $left = 0
check "no process of ROOT remains" test -z "$(pgrep -f "$ROOT" | while read -r p; do
    [[ $(awk '{print $3}' /proc/"$p"/stat 2>/dev/null) == Z ]] || echo "$p"
done)"

# ---- a second system: cloud (NAT bridges), other addresses, mixed VF pools (tests/fixtures/cld02.xml)
C=$T/cloud
cloud_has() { "$HS" state "$C" "$1" | grep -qxF -- "$2"; } # cloud_has H LINE
check "init from the cloud fixture" "$HS" init "$C" "$HERE/../fixtures/cld02.xml" --port "$PORT"
check "127.0.2.x is local (sshd binds it)" "$HS" start "$C"
OUT=$(ssh -i "$C/id_ed25519" -o UserKnownHostsFile="$C/known_hosts" -o StrictHostKeyChecking=yes \
    -o BatchMode=yes -o IdentitiesOnly=yes -o ConnectTimeout=5 -p "$PORT" root@127.0.2.1 "vm_maker --list-bridges")
check "a cloud host starts with the NAT bridge its guests use" grep -qxF vmnat0.3001 <<<"$OUT"
check "one NAT bridge for the guests that share it" test "$(grep -c '^vmnat' <<<"$OUT")" = 1
check "the NAT bridge carries no VLAN" cloud_has cld02kvm02 "bridge vmnat0.3002"
check "no NAT bridge on a host without guests" test -z "$("$HS" state "$C" cld02kvm04 | grep '^bridge')"
check "VF pools only where es.xml says" test -z "$("$HS" state "$C" cld02kvm02 | grep '^vfpool')"
check "a guest spelled in upper case in es.xml is defined so" cloud_has cld02kvm02 "domain CLD02VM04.dbcloud.example.net running"
check "stop the cloud system" "$HS" stop "$C"

echo "$pass passed, $fail failed"
((fail == 0))
