# service.sh (sourced by bash scripts and tests): the one place that gives a service the runtime
# state a freshly booted machine lacks, and the one wait every script uses for a service it
# started. Safe under `set -euo pipefail`; defines functions only.
#
#   service_prepare sshd|postgres|libvirtd...   create what the service needs before it starts
#   service_wait WHAT SECONDS PIDS LOG PROBE... poll PROBE until it succeeds (see below)
#   service_alive PID                           PID runs and is not a zombie
#   service_tcp_open ADDR PORT                  something accepts on ADDR:PORT
#   service_ssh_banner ADDR PORT                an SSH server greets on ADDR:PORT
#   service_as_postgres COMMAND...              COMMAND as user postgres, from /
#
# Limits for service_wait are meant to hold on a cold, loaded 2-core machine: they are long,
# and a wait ends early when the process it waits for has died.

# service_prepare NAME...: the directories and devices service NAME needs at start, created when
# absent (a booted system makes them from its service units / tmpfiles; a machine where the
# service never ran, a container or a chroot does not have them). Returns 1 with a message when
# something cannot be provided.
service_prepare() {
    local s
    for s in "$@"; do
        case $s in
        sshd)
            [[ -x /usr/sbin/sshd ]] || { echo "service: /usr/sbin/sshd missing (scripts/deps installs openssh-server)" >&2; return 1; }
            # Privilege separation directory: sshd refuses to start without it ("Missing
            # privilege separation directory: /run/sshd"); ssh.service's RuntimeDirectory.
            mkdir -p /run/sshd && chmod 0755 /run/sshd
            ;;
        postgres)
            getent passwd postgres >/dev/null ||
                { echo "service: no user 'postgres' (scripts/deps installs postgresql, which creates it)" >&2; return 1; }
            # Dynamic shared memory (posix) lives in /dev/shm: a world-writable tmpfs on a booted
            # machine, a root-only directory in a bare chroot.
            [[ $(stat -c %a /dev/shm 2>/dev/null) == 1777 ]] ||
                { echo "service: /dev/shm is not a world-writable directory (mode 1777): PostgreSQL cannot create shared memory" >&2; return 1; }
            ;;
        libvirtd)
            mkdir -p /run/libvirt
            # Taps for <interface type='bridge'>: the node exists once the tun module is loaded.
            if [[ ! -c /dev/net/tun ]]; then
                modprobe tun 2>/dev/null || true
                [[ -c /dev/net/tun ]] || { mkdir -p /dev/net && mknod -m 0666 /dev/net/tun c 10 200; } ||
                    { echo "service: /dev/net/tun missing and cannot be created" >&2; return 1; }
            fi
            ;;
        *)
            echo "service: service_prepare: unknown service $s" >&2
            return 1
            ;;
        esac
    done
}

# service_alive PID: PID runs and is not a zombie.
service_alive() {
    local s r
    [[ -n ${1:-} && -r /proc/$1/stat ]] || return 1
    read -r s <"/proc/$1/stat" 2>/dev/null || return 1
    r=${s##*) }
    [[ ${r%% *} != Z ]]
}

# service_wait WHAT SECONDS PIDS LOG PROBE...: runs PROBE (its output discarded) until it
# succeeds; returns 0 then. Gives up, prints to stderr what it waited for, why it gave up and the
# last lines of LOG, and returns 1 when a process of PIDS has exited or SECONDS have passed.
# PIDS: space-separated pids or @FILE (the pid in FILE, not judged while FILE is empty or absent);
# "-" watches nothing. LOG: space-separated log files whose tails to show, or "-" for none.
service_wait() {
    local what=$1 limit=$2 pids=$3 log=$4 t0 now p pid f why=
    shift 4
    t0=${EPOCHREALTIME/./}
    while :; do
        "$@" >/dev/null 2>&1 && return 0
        for p in $pids; do
            [[ $p == - ]] && continue
            pid=$p
            if [[ $p == @* ]]; then
                pid=
                [[ -r ${p#@} ]] && { read -r pid <"${p#@}" || true; } 2>/dev/null
                [[ -n $pid ]] || continue
            fi
            service_alive "$pid" || { why="process $pid exited"; break; }
        done
        [[ -n $why ]] && break
        now=${EPOCHREALTIME/./}
        if ((now - t0 >= limit * 1000000)); then
            why="no answer within $limit s"
            break
        fi
        sleep 0.05
    done
    "$@" >/dev/null 2>&1 && return 0 # it may have come up as its process ended (a daemonizing parent)
    {
        echo "${0##*/}: gave up waiting for $what: $why"
        for f in $log; do
            [[ $f == - ]] && continue
            if [[ -s $f ]]; then
                echo "--- last lines of $f ---"
                tail -n 20 "$f"
                echo "---"
            else
                echo "(log $f is empty or absent)"
            fi
        done
    } >&2
    return 1
}

# service_tcp_open ADDR PORT: something accepts connections on ADDR:PORT.
service_tcp_open() {
    (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null
}

# service_ssh_banner ADDR PORT: an SSH server answers on ADDR:PORT with its banner.
service_ssh_banner() {
    local l=
    l=$( (exec 3<>"/dev/tcp/$1/$2" && read -r -t 5 -u 3 l && echo "$l") 2>/dev/null) || return 1
    [[ $l == SSH-2.0-* ]]
}

# service_as_postgres COMMAND...: runs COMMAND as the postgres user, from / (PostgreSQL refuses to
# run as root, and its tools complain when they cannot enter the caller's directory, e.g. a
# checkout under /root).
service_as_postgres() {
    (cd / && runuser -u postgres -- "$@")
}
