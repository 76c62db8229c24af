#!/bin/bash
# Real-host lane helpers (sourced): a "lab" network namespace with a bridge, real KVM hosts as
# network/mount/UTS namespaces with their own sshd and libvirtd, shared disk storage, and the
# kvmove pipeline (PostgreSQL, embedded broker, worker) inside the lab; all torn down by PID.
# Addresses are TEST-NET-1 (192.0.2.0/24) and exist only inside the namespaces made here.
set -uo pipefail
RH_TOP=$(cd "${BASH_SOURCE[0]%/*}/../.." && pwd)
RH_SRC=$RH_TOP/tests/realhosts
RH_BUILD=${KVMOVE_BUILD_DIR:-$RH_TOP/build}
# shellcheck source=../../scripts/lib/service.sh
. "$RH_TOP/scripts/lib/service.sh"
RH_PGDIR=$RH_BUILD/itest/pg
RH_PASS=0
RH_FAIL=0
RH_NET=192.0.2
declare -A RH_HOST_PID=() RH_HOST_UPID=() RH_HOST_IP=() RH_HOST_SSHD=() RH_HOST_LIBVIRTD=()
RH_LAB_PID=

rh_log() { printf '[%s %s] %s\n' "${RH_NAME:-realhosts}" "$(date +%T.%N | cut -c1-12)" "$*"; }

check() { # check DESCRIPTION COMMAND...: one assertion
    local what=$1; shift
    if "$@"; then
        RH_PASS=$((RH_PASS + 1)); rh_log "ok: $what"
    else
        RH_FAIL=$((RH_FAIL + 1)); rh_log "FAILED: $what"
    fi
}
eq() { [[ $1 == "$2" ]] || { echo "    expected: $1" >&2; echo "    actual:   $2" >&2; return 1; }; }
die() { rh_log "setup failed: $*"; RH_FAIL=$((RH_FAIL + 1)); exit 1; }

# rh_deps: installs what the lane needs when missing (libvirt, QEMU, busybox; ~15-150 s).
rh_deps() {
    local missing=() p
    for p in libvirt-daemon-system libvirt-clients qemu-system-x86 qemu-utils busybox-static \
        openssh-server iproute2; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
    done
    ((${#missing[@]} == 0)) && return 0
    rh_log "installing ${missing[*]}"
    # Where an init system would start the packages' daemons (a system libvirtd outside our
    # namespaces), policy-rc.d forbids it for the duration of the install.
    local prc=/usr/sbin/policy-rc.d made= rc=0
    if [[ ! -e $prc ]]; then printf '#!/bin/sh\nexit 101\n' >"$prc" && chmod +x "$prc" && made=1; fi
    { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
        --no-install-recommends "${missing[@]}"; } >"$RH_DIR/apt.log" 2>&1 || rc=1
    [[ -n $made ]] && rm -f "$prc"
    ((rc == 0)) || tail -n 20 "$RH_DIR/apt.log"
    return $rc
}

# lab NS-COMMAND...: runs a command in the lab's network namespace (where the pipeline runs).
lab() { nsenter -t "$RH_LAB_PID" -n -- "$@"; }
# on HOST COMMAND...: runs a command inside host HOST (its network, mounts and hostname).
on() { local h=$1; shift; nsenter -t "${RH_HOST_PID[$h]}" -m -n -u -p -- "$@"; }

# rh_wait_ns WHAT PID LOG: waits until PID (an unshare) has left our network namespace; fails
# with LOG's tail (unshare's stderr) if it exited.
rh_wait_ns() {
    service_wait "$1 (unshare, pid $2, to enter its namespaces)" 60 "$2" "$3" rh_netns_differs "$2"
}
rh_netns_differs() { [[ $(readlink "/proc/$1/ns/net") != $(readlink /proc/self/ns/net) ]]; }
# rh_child PID: PID has a child (prints it).
rh_child() {
    local c
    c=$(cat "/proc/$1/task/$1/children" 2>/dev/null | tr -d ' ')
    [[ -n $c ]] && echo "$c"
}

# rh_lab_up: the lab namespace with bridge lab0 at .1; the pipeline runs in it.
rh_lab_up() {
    unshare --net --fork --kill-child sleep infinity </dev/null >/dev/null 2>"$RH_DIR/lab.unshare.log" &
    RH_LAB_PID=$!
    echo "$RH_LAB_PID" >"$RH_DIR/lab.pid"
    rh_wait_ns "the lab" "$RH_LAB_PID" "$RH_DIR/lab.unshare.log" || die "lab namespace did not come up"
    lab ip link set lo up
    lab ip link add lab0 type bridge
    lab ip addr add "$RH_NET.1/24" dev lab0
    lab ip link set lab0 up
}

# rh_host_prepare NAME IP: the host's namespace, network and file system (no daemons yet).
rh_host_prepare() {
    local h=$1 ip=$2 d=$RH_DIR/hosts/$1 pid upid
    mkdir -p "$d"/{etc-libvirt,lib-libvirt,log-libvirt,cache-libvirt,ssh}
    cp -a /etc/libvirt/. "$d/etc-libvirt/"
    cp -a /var/lib/libvirt/. "$d/lib-libvirt/"
    mkdir -p "$d/log-libvirt/qemu"
    rm -f "$d"/etc-libvirt/qemu/networks/autostart/*.xml # no "default" network (dnsmasq, nft)
    cat >>"$d/etc-libvirt/qemu.conf" <<'EOF'
# kvmove realhosts lane: root QEMU without security drivers, cgroups or virtlogd.
user = "root"
group = "root"
dynamic_ownership = 0
security_driver = "none"
stdio_handler = "file"
cgroup_controllers = [ ]
remember_owner = 0
EOF
    mkdir -p "$d/etc-overlay"
    : >"$d/empty"
    ssh-keygen -q -t ed25519 -N '' -f "$d/ssh/host_ed25519" -C "$h"
    cp "$RH_DIR/id_ed25519.pub" "$d/ssh/authorized_keys"
    chmod 600 "$d/ssh/authorized_keys"
    cat >"$d/ssh/sshd_config" <<EOF
ListenAddress $ip
Port 22
HostKey $d/ssh/host_ed25519
PidFile /run/sshd.pid
AuthorizedKeysFile $d/ssh/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
MaxSessions 64
MaxStartups 64
EOF
    echo "$ip $(cut -d' ' -f1-2 "$d/ssh/host_ed25519.pub")" >>"$RH_DIR/known_hosts"

    # A PID namespace too: its init (a reaping shell) is the host's PID 1, so daemonized
    # libvirtd/QEMU/sshd are reaped inside, and killing it ends everything the host ran.
    unshare --net --mount --uts --pid --fork --mount-proc --kill-child \
        bash -c 'while :; do sleep 1; done' </dev/null >/dev/null 2>"$d/unshare.log" &
    upid=$!
    echo "$upid" >"$RH_DIR/host-$h.pid"
    rh_wait_ns "host $h" "$upid" "$d/unshare.log" || die "namespace of $h did not come up"
    service_wait "the init of host $h's PID namespace (child of unshare $upid)" 60 "$upid" "$d/unshare.log" \
        rh_child "$upid" || die "namespace of $h did not come up"
    pid=$(rh_child "$upid")
    RH_HOST_PID[$h]=$pid RH_HOST_UPID[$h]=$upid RH_HOST_IP[$h]=$ip
    lab ip link add "v-$h" type veth peer name eth0 netns "$pid"
    lab ip link set "v-$h" master lab0 up
    on "$h" sh -ec "
        hostname $h
        ip link set lo up
        ip addr add $ip/24 dev eth0
        ip link set eth0 up
        mount -t tmpfs -o mode=755 tmpfs /run
        mount -t tmpfs -o mode=755 tmpfs /srv
        mkdir -p /srv/kvmove-shared
        mount --bind '$RH_DIR/shared' /srv/kvmove-shared
        # /etc: a copy-on-write overlay (upper layer on tmpfs), so the host's own fstab edits
        # (sed -i renames) and files stay in the host; /etc/libvirt is the host's copy.
        mount -t tmpfs tmpfs '$d/etc-overlay'
        mkdir '$d/etc-overlay/up' '$d/etc-overlay/work'
        mount -t overlay overlay -o 'lowerdir=/etc,upperdir=$d/etc-overlay/up,workdir=$d/etc-overlay/work' /etc
        : >/etc/fstab
        mkdir -p /etc/kvmove
        # Facts a libvirt host cannot measure, declared as a site would (they match realhosts.xml).
        printf 'Model: X8M-2\\nSockets: 2\\nFabric: RoCE\\nVersion: 25.1.0.0.0.250101\\n' >/etc/kvmove/host-facts
        mount --bind '$d/etc-libvirt' /etc/libvirt
        mount --bind '$d/lib-libvirt' /var/lib/libvirt
        mount --bind '$d/log-libvirt' /var/log/libvirt
        mount --bind '$d/cache-libvirt' /var/cache/libvirt
        if [ -f /root/.bashrc ]; then mount --bind '$d/empty' /root/.bashrc; fi
        if [ -f /root/.profile ]; then mount --bind '$d/empty' /root/.profile; fi
    " || die "cannot set up host $h"
    # /run is the host's own (empty) tmpfs: sshd's and libvirtd's runtime directories.
    on "$h" bash -c '. "$1" && service_prepare sshd libvirtd' _ "$RH_TOP/scripts/lib/service.sh" ||
        die "cannot prepare the runtime directories of host $h"
}

# rh_host_daemons NAME: starts sshd and libvirtd in host NAME, in the foreground of an nsenter
# of ours (so a wait sees them die); both are waited for by rh_host_ready.
rh_host_daemons() {
    local h=$1 d=$RH_DIR/hosts/$1
    on "$h" /usr/sbin/sshd -D -f "$d/ssh/sshd_config" -E "$d/sshd.log" </dev/null >>"$d/sshd.out" 2>&1 &
    RH_HOST_SSHD[$h]=$!
    on "$h" libvirtd </dev/null >>"$d/libvirtd.log" 2>&1 &
    RH_HOST_LIBVIRTD[$h]=$!
}

# rh_host_ready NAME: waits until sshd on NAME greets and libvirtd answers (its first start
# probes QEMU: ~10 s idle, much longer on a loaded 2-core machine).
rh_host_ready() {
    local h=$1 d=$RH_DIR/hosts/$1
    service_wait "sshd of $h (${RH_HOST_IP[$h]}:22)" 60 "${RH_HOST_SSHD[$h]}" "$d/sshd.log $d/sshd.out" \
        rh_sshd_greets "${RH_HOST_IP[$h]}" || die "sshd on $h did not come up"
    service_wait "libvirtd of $h" 300 "${RH_HOST_LIBVIRTD[$h]}" "$d/libvirtd.log" \
        on "$h" virsh -q list --all || die "libvirtd on $h does not answer"
}
# rh_sshd_greets IP: an SSH server greets on IP:22, seen from the lab.
rh_sshd_greets() {
    lab bash -c 'exec 3<>"/dev/tcp/$1/22" && read -r -t 5 l <&3 && [[ $l == SSH-2.0-* ]]' _ "$1"
}

# rh_pids_in_ns PID: every process in the network namespace of PID, PID excepted.
rh_pids_in_ns() {
    local ns p
    ns=$(readlink "/proc/$1/ns/net") || return 0
    for p in /proc/[0-9]*; do
        p=${p#/proc/}
        [[ $p == "$1" ]] && continue
        [[ $(readlink "/proc/$p/ns/net" 2>/dev/null) == "$ns" ]] && echo "$p"
    done
}

# rh_host_down NAME: ends host NAME: killing its PID-namespace init kills every process the
# host ran (guests, libvirtd, sshd, sessions); then its unshare is reaped.
rh_host_down() {
    local h=$1 init=${RH_HOST_PID[$1]:-} upid=${RH_HOST_UPID[$1]:-}
    [[ -n $upid ]] || return 0
    [[ -n $init ]] && kill -KILL "$init" 2>/dev/null
    kill -TERM "$upid" 2>/dev/null
    wait "$upid" 2>/dev/null
}

# rh_pg: the private PostgreSQL cluster of the integration lane (unix socket: reachable from
# the lab namespace); started here if the ctest fixture did not.
rh_pg() {
    local pgbin data
    pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n1)
    if [[ ! -f $RH_PGDIR/pgdata ]]; then
        "$RH_TOP/scripts/devstack" pg start --dir "$RH_PGDIR" --pg-port 54339 >/dev/null || return 1
        RH_PG_STARTED=1
    fi
    data=$(cat "$RH_PGDIR/pgdata")
    RH_DB=rh_$(echo "$RH_NAME" | tr -c 'a-z0-9\n' '_')
    service_as_postgres "$pgbin/psql" -h "$data" -p "$(cat "$RH_PGDIR/pgport")" -d postgres -qAt \
        -c "DROP DATABASE IF EXISTS $RH_DB" -c "CREATE DATABASE $RH_DB" >/dev/null || return 1
    export KVMOVE_DB="host=$data port=$(cat "$RH_PGDIR/pgport") user=postgres dbname=$RH_DB"
}

# rh_setup NAME HOST=IP...: the whole lab for test NAME.
rh_setup() {
    RH_NAME=$1; shift
    local spec h
    RH_DIR=$RH_BUILD/realhosts/$RH_NAME
    RH_GUESTDIR=$RH_BUILD/realhosts/guest
    rm -rf "$RH_DIR"
    mkdir -p "$RH_DIR/shared" "$RH_DIR/hosts"
    trap rh_teardown EXIT
    rh_deps || die "cannot install the lane's packages"
    "$RH_SRC/build-guest.sh" "$RH_GUESTDIR" || die "cannot build the test guest"
    rh_pg || die "PostgreSQL"
    ssh-keygen -q -t ed25519 -N '' -f "$RH_DIR/id_ed25519" -C kvmove-realhosts
    : >"$RH_DIR/known_hosts"
    rh_lab_up
    for spec in "$@"; do rh_host_prepare "${spec%%=*}" "${spec#*=}"; done
    for spec in "$@"; do rh_host_daemons "${spec%%=*}"; done

    # The pipeline, inside the lab: broker, database schema, settings for CLI and worker.
    export KVMOVE_CONFIG=/dev/null KVMOVE_HOSTS_PROFILE=libvirt
    export KVMOVE_SSH_PORT=22 KVMOVE_SSH_IDENTITY=$RH_DIR/id_ed25519
    export KVMOVE_SSH_KNOWN_HOSTS=$RH_DIR/known_hosts
    export PATH=$RH_BUILD:$PATH
    lab "$RH_BUILD/kvmove-devbroker" --port-file "$RH_DIR/brokers" </dev/null >"$RH_DIR/devbroker.log" 2>&1 &
    echo $! >"$RH_DIR/devbroker.pid"
    service_wait "the embedded broker (its port file $RH_DIR/brokers)" 60 "$!" "$RH_DIR/devbroker.log" \
        test -s "$RH_DIR/brokers" || die "the embedded broker did not come up"
    export KVMOVE_BROKERS; KVMOVE_BROKERS=$(head -n1 "$RH_DIR/brokers")
    lab kvmove-worker migrate >/dev/null || die "database migrations"
    # The lab's operator (README, "Authenticated requests"): this user, every right.
    export KVMOVE_KEY_FILE=$RH_DIR/operator.key
    # shellcheck source=../../scripts/lib/operator.sh
    . "$RH_TOP/scripts/lib/operator.sh"
    operator_enrol "$(id -un)" "$KVMOVE_KEY_FILE" || die "operator $(id -un)"
    for spec in "$@"; do rh_host_ready "${spec%%=*}"; done
}

# rh_worker_start: one worker in the lab (log: $RH_DIR/worker.log).
rh_worker_start() {
    lab kvmove-worker --id rh-worker "$@" run </dev/null >>"$RH_DIR/worker.log" 2>&1 &
    echo $! >"$RH_DIR/worker.pid"
}

rh_stop_pidfile() { # rh_stop_pidfile FILE: TERM, then KILL after 10 s, and reap
    local pid
    [[ -f $1 ]] || return 0
    pid=$(cat "$1")
    kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    rm -f "$1"
}

rh_teardown() {
    local h p t0=$SECONDS
    set +e
    rh_stop_pidfile "$RH_DIR/worker.pid"
    rh_stop_pidfile "$RH_DIR/devbroker.pid"
    for h in "${!RH_HOST_PID[@]}"; do rh_host_down "$h"; done
    if [[ -n $RH_LAB_PID ]]; then
        for p in $(rh_pids_in_ns "$RH_LAB_PID"); do kill -KILL "$p" 2>/dev/null; done
        kill -TERM "$RH_LAB_PID" 2>/dev/null
        wait "$RH_LAB_PID" 2>/dev/null
    fi
    [[ -n ${RH_PG_STARTED:-} ]] && "$RH_TOP/scripts/devstack" pg stop --dir "$RH_PGDIR" >/dev/null
    rh_log "torn down in $((SECONDS - t0)) s"
    echo "$RH_PASS passed, $RH_FAIL failed"
    if ((RH_FAIL > 0)); then
        echo "--- worker log ---"
        tail -n 60 "$RH_DIR/worker.log" 2>/dev/null
        exit 1
    fi
}

# sql QUERY: runs QUERY on the test's database, unaligned, tuples only (unix socket).
sql() { psql "$KVMOVE_DB" -qAtX -v ON_ERROR_STOP=1 -c "$1"; }

# rh_guest_create GUEST HOST SYSVOL SYSDEV CFGVOL CFGDEV BRIDGE MAC: the guest's volumes on the
# shared storage (a 1 MiB raw disk, a configuration directory holding GUEST.xml), attached,
# mounted and defined on HOST with autostart, as an installer would leave it; not started.
rh_guest_create() {
    local g=$1 h=$2 sysvol=$3 sysdev=$4 cfgvol=$5 cfgdev=$6 br=$7 mac=$8 sh=$RH_DIR/shared
    local lv=/var/lib/libvirt/kvmove
    mkdir -p "$sh/boot" "$sh/$cfgvol"
    cp "$RH_GUESTDIR/vmlinuz" "$RH_GUESTDIR/initrd.img" "$sh/boot/"
    truncate -s 1M "$sh/$sysvol"
    cat >"$sh/$cfgvol/$g.xml" <<XML
<domain type='qemu'>
  <name>$g</name>
  <uuid>$(cat /proc/sys/kernel/random/uuid)</uuid>
  <memory unit='MiB'>192</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='q35'>hvm</type>
    <kernel>/srv/kvmove-shared/boot/vmlinuz</kernel>
    <initrd>/srv/kvmove-shared/boot/initrd.img</initrd>
    <cmdline>console=ttyS0 quiet panic=-1</cmdline>
  </os>
  <features>
    <acpi/>
    <tcg><tb-cache unit='MiB'>32</tb-cache></tcg>
  </features>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>restart</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <disk type='file' device='disk'>
      <driver name='qemu' type='raw'/>
      <source file='$lv/volumes/$sysdev'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <interface type='bridge'>
      <source bridge='$br'/>
      <mac address='$mac'/>
      <model type='virtio'/>
    </interface>
    <serial type='file'>
      <source path='/var/log/libvirt/qemu/$g.serial' append='off'/>
      <target port='0'/>
    </serial>
    <memballoon model='none'/>
  </devices>
</domain>
XML
    on "$h" sh -ec "
        mkdir -p $lv/volumes $lv/guests/$g
        ln -sfn /srv/kvmove-shared/$sysvol $lv/volumes/$sysdev
        ln -sfn /srv/kvmove-shared/$cfgvol $lv/volumes/$cfgdev
        mount --bind $lv/volumes/$cfgdev $lv/guests/$g
        echo '$lv/volumes/$cfgdev $lv/guests/$g none bind,nofail 0 0' >>/etc/fstab
        ip link add name $br type bridge
        ip link set $br up
        virsh -q define $lv/guests/$g/$g.xml >/dev/null
        virsh -q autostart $g >/dev/null
    "
}

# rh_wait_ready HOST GUEST [SECONDS]: waits for the guest's readiness line on HOST's serial log.
rh_wait_ready() {
    local t=${3:-120}
    for _ in $(seq $((t * 5))); do
        on "$1" grep -qs KVMOVE-READY "/var/log/libvirt/qemu/$2.serial" && return 0
        sleep 0.2
    done
    return 1
}

# boot_counter SYSVOL: the boot counter the guest keeps in its disk's first 16 bytes.
boot_counter() { head -c 16 "$RH_DIR/shared/$1" | tr -dc 0-9; }
# domstate HOST GUEST: "running", "shut off", or "undefined".
domstate() { on "$1" virsh domstate "$2" 2>/dev/null | sed '/^$/d' || echo undefined; }
# autostart HOST GUEST: "enable", "disable" or "" when undefined.
autostart() { on "$1" virsh dominfo "$2" 2>/dev/null | sed -n 's/^Autostart: *//p'; }
