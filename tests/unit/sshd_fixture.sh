#!/bin/bash
# sshd_fixture.sh: starts/stops a private sshd on 127.0.0.1 for the hostconn unit tests.
#
# Usage: sshd_fixture.sh start DIR PORT   generate keys (once) in DIR, start sshd, wait for it
#        sshd_fixture.sh stop DIR         stop that sshd and every connection it serves
#
# Files in DIR after start:
#   ssh_host_ed25519_key[.pub]  host key (kept across restarts, so known_hosts stays valid)
#   id_ed25519[.pub]            client key, listed in authorized_keys (log in as root)
#   other_id_ed25519[.pub]      a second client key that is NOT authorized
#   other_host_ed25519_key.pub  a host key the server does not have
#   known_hosts                 "[127.0.0.1]:PORT" with the server's host key
#   known_hosts_other           "[127.0.0.1]:PORT" with other_host_ed25519_key (wrong key)
#   sshd_config, sshd.pid, sshd.log
set -eu
# sshd's runtime directories and the wait for it (scripts/lib/service.sh).
. "${BASH_SOURCE[0]%/*}/../../scripts/lib/service.sh"

die() {
    echo "sshd_fixture: $*" >&2
    exit 1
}

keygen() { # keygen FILE: ed25519 key without passphrase, unless it exists
    [ -f "$1" ] || ssh-keygen -q -t ed25519 -N '' -C kvmove-test -f "$1" >/dev/null
}

alive() { # alive PID: running and not a zombie (init may be slow to reap)
    service_alive "$1"
}

up() { # up DIR PORT: sshd wrote its pid file and accepts on 127.0.0.1:PORT
    [ -s "$1/sshd.pid" ] && service_tcp_open 127.0.0.1 "$2"
}

start() {
    local dir=$1 port=$2
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    keygen "$dir/ssh_host_ed25519_key"
    keygen "$dir/id_ed25519"
    keygen "$dir/other_id_ed25519"
    keygen "$dir/other_host_ed25519_key"
    cp "$dir/id_ed25519.pub" "$dir/authorized_keys"
    echo "[127.0.0.1]:$port $(cut -d' ' -f1,2 "$dir/ssh_host_ed25519_key.pub")" >"$dir/known_hosts"
    echo "[127.0.0.1]:$port $(cut -d' ' -f1,2 "$dir/other_host_ed25519_key.pub")" \
        >"$dir/known_hosts_other"
    cat >"$dir/sshd_config" <<EOF
Port $port
ListenAddress 127.0.0.1
HostKey $dir/ssh_host_ed25519_key
PidFile $dir/sshd.pid
UsePAM no
StrictModes no
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
AuthorizedKeysFile $dir/authorized_keys
MaxSessions 16
LogLevel ERROR
EOF
    service_tcp_open 127.0.0.1 "$port" && die "port $port on 127.0.0.1 is already in use"
    service_prepare sshd || die "cannot prepare sshd's runtime directories"
    rm -f "$dir/sshd.pid"
    # root's ~/.bashrc is slow on this machine (pyenv) and bash sources it for every ssh
    # command: hide it in a private mount namespace. Fall back to plain sshd without unshare.
    if unshare --mount --propagation private true 2>/dev/null; then
        setsid unshare --mount --propagation private sh -c \
            'mount --bind /dev/null /root/.bashrc 2>/dev/null; exec "$@"' sh \
            /usr/sbin/sshd -D -f "$dir/sshd_config" -E "$dir/sshd.log" </dev/null >>"$dir/sshd.out" 2>&1 &
    else
        setsid /usr/sbin/sshd -D -f "$dir/sshd_config" -E "$dir/sshd.log" </dev/null >>"$dir/sshd.out" 2>&1 &
    fi
    service_wait "sshd on 127.0.0.1:$port" 60 "$!" "$dir/sshd.log $dir/sshd.out" up "$dir" "$port" ||
        die "sshd did not come up on 127.0.0.1:$port (logs in $dir)"
}

stop() {
    local dir=$1 pid children i
    [ -s "$dir/sshd.pid" ] || return 0
    pid=$(cat "$dir/sshd.pid")
    # The per-connection sshd processes outlive the listener: end them too, as a host going
    # down would, so that clients see their sessions break.
    children=$(ps -o pid= --ppid "$pid" 2>/dev/null || true)
    kill "$pid" $children 2>/dev/null || true
    for i in $(seq 1 100); do
        alive "$pid" || break
        sleep 0.05
    done
    rm -f "$dir/sshd.pid"
}

case "${1:-}" in
start)
    [ $# -eq 3 ] || die "usage: $0 start DIR PORT"
    start "$2" "$3"
    ;;
stop)
    [ $# -eq 2 ] || die "usage: $0 stop DIR"
    stop "$2"
    ;;
*)
    die "usage: $0 start DIR PORT | stop DIR"
    ;;
esac
