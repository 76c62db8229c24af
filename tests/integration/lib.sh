#!/bin/bash
# Integration-test helpers (sourced): each test gets its own database in the shared private
# PostgreSQL cluster, its own embedded broker, its own simulated KVM hosts (real sshd) and the
# workers it starts; everything is stopped on exit.
set -uo pipefail
IT_TOP=$(cd "${BASH_SOURCE[0]%/*}/../.." && pwd)
IT_BUILD=${KVMOVE_BUILD_DIR:-$IT_TOP/build}
IT_PGDIR=${IT_PGDIR:-$IT_BUILD/itest/pg}
IT_PGPORT=${IT_PGPORT:-54339}
HOSTSIM=$IT_TOP/tests/hostsim/hostsim
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n1)
IT_PASS=0
IT_FAIL=0

it_log() { printf '[%s] %s\n' "${IT_NAME:-itest}" "$*"; }

# it_setup NAME [ESXML [LOAD...]]: fresh database, broker and hosts (of ESXML) for test NAME;
# the es.xml files LOAD (default: ESXML) are loaded, in order.
it_setup() {
    IT_NAME=$1
    local esxml=${2:-$IT_TOP/tests/fixtures/exa01.xml} db port f
    local load=("${@:3}")
    ((${#load[@]})) || load=("$esxml")
    IT_DIR=$IT_BUILD/itest/$IT_NAME
    rm -rf "$IT_DIR"
    mkdir -p "$IT_DIR"
    trap it_teardown EXIT
    "$IT_TOP/scripts/devstack" pg start --dir "$IT_PGDIR" --pg-port "$IT_PGPORT" >/dev/null
    db=it_$(echo "$IT_NAME" | tr -c 'a-z0-9\n' '_')
    local data; data=$(cat "$IT_PGDIR/pgdata")
    runuser -u postgres -- "$PGBIN/psql" -h "$data" -p "$(cat "$IT_PGDIR/pgport")" -d postgres -qAt \
        -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null
    export KVMOVE_DB="host=$data port=$(cat "$IT_PGDIR/pgport") user=postgres dbname=$db"
    "$IT_BUILD/kvmove-devbroker" --port-file "$IT_DIR/brokers" </dev/null >"$IT_DIR/devbroker.log" 2>&1 &
    echo $! >"$IT_DIR/devbroker.pid"
    for _ in $(seq 100); do [[ -s $IT_DIR/brokers ]] && break; sleep 0.1; done
    export KVMOVE_BROKERS; KVMOVE_BROKERS=$(head -n1 "$IT_DIR/brokers")
    # A port of its own per test, so a lingering sshd of an earlier test cannot answer.
    port=$((23000 + $(cksum <<<"$IT_NAME" | cut -d' ' -f1) % 2000))
    IT_HOSTS=$IT_DIR/hosts
    "$HOSTSIM" init "$IT_HOSTS" "$esxml" --port "$port" >/dev/null
    "$HOSTSIM" start "$IT_HOSTS" >/dev/null
    export KVMOVE_SSH_PORT=$port KVMOVE_SSH_IDENTITY=$IT_HOSTS/id_ed25519
    export KVMOVE_SSH_KNOWN_HOSTS=$IT_HOSTS/known_hosts KVMOVE_HOSTSIM_ROOT=$IT_HOSTS
    export KVMOVE_CONFIG=/dev/null
    export PATH=$IT_BUILD:$PATH
    kvmove-worker migrate >/dev/null
    for f in "${load[@]}"; do kvmove config load "$f" >/dev/null; done
}

# it_worker_start N [ARGS...]: starts worker N in the background (log: $IT_DIR/worker-N.log).
it_worker_start() {
    local n=$1; shift
    kvmove-worker --id "worker-$n" "$@" run </dev/null >>"$IT_DIR/worker-$n.log" 2>&1 &
    echo $! >"$IT_DIR/worker-$n.pid"
}

it_worker_stop() { # it_worker_stop N [SIGNAL]
    local f=$IT_DIR/worker-$1.pid pid
    [[ -f $f ]] || return 0
    pid=$(cat "$f")
    kill -"${2:-TERM}" "$pid" 2>/dev/null || true
    for _ in $(seq 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    rm -f "$f"
}

it_teardown() {
    local f
    set +e
    for f in "$IT_DIR"/worker-*.pid; do [[ -e $f ]] && it_worker_stop "$(basename "$f" .pid | cut -d- -f2)"; done
    "$HOSTSIM" stop "$IT_HOSTS" >/dev/null 2>&1
    if [[ -f $IT_DIR/devbroker.pid ]]; then
        kill "$(cat "$IT_DIR/devbroker.pid")" 2>/dev/null
        wait "$(cat "$IT_DIR/devbroker.pid")" 2>/dev/null
    fi
    echo "$IT_PASS passed, $IT_FAIL failed"
    if ((IT_FAIL > 0)); then
        echo "--- worker logs ---"
        tail -n 40 "$IT_DIR"/worker-*.log 2>/dev/null
        exit 1
    fi
}

# sql QUERY: runs QUERY on the test's database, unaligned, tuples only.
sql() { psql "$KVMOVE_DB" -qAtX -v ON_ERROR_STOP=1 -c "$1"; }

check() { # check DESCRIPTION COMMAND...: one assertion
    local what=$1; shift
    if "$@"; then
        IT_PASS=$((IT_PASS + 1)); it_log "ok: $what"
    else
        IT_FAIL=$((IT_FAIL + 1)); it_log "FAILED: $what"
    fi
}

eq() { # eq EXPECTED ACTUAL
    [[ $1 == "$2" ]] || { echo "    expected: $1" >&2; echo "    actual:   $2" >&2; return 1; }
}

# host_state H: the simulator's canonical state of host H.
host_state() { "$HOSTSIM" state "$IT_HOSTS" "$1"; }
# host_log H: commands host H received.
host_log() { cat "$IT_HOSTS/hosts/$1/commands.log" 2>/dev/null || true; }

# wait_job ID [SECONDS]: waits until job ID has ended; prints its status.
wait_job() {
    local id=$1 t=${2:-60} st
    for _ in $(seq $((t * 10))); do
        st=$(sql "SELECT status FROM jobs WHERE id = '$id'" 2>/dev/null || true)
        case $st in succeeded | failed | rejected) echo "$st"; return 0 ;; esac
        sleep 0.1
    done
    echo "${st:-missing}"
}

# host_effects H [FROM_LINE]: commands with an effect that host H received (queries left out),
# from line FROM_LINE of its log (default 1).
host_effects() {
    host_log "$1" | tail -n +"${2:-1}" | cut -f4 | grep -vE '^(imageinfo|vm_maker --host-info|vm_maker --list-|virsh (list|domstate|dominfo|dumpxml)|edvutil lsattach|mountpoint|grep -q|test -)' || true
}
