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
# shellcheck source=../../scripts/lib/service.sh
. "$IT_TOP/scripts/lib/service.sh"
# shellcheck source=../../scripts/lib/operator.sh
. "$IT_TOP/scripts/lib/operator.sh"
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n1)
IT_PASS=0
IT_FAIL=0

it_log() { printf '[%s] %s\n' "${IT_NAME:-itest}" "$*"; }

# it_setup_failed WHAT: the test cannot start (a service did not come up): counted as a failure,
# the test ends here (it_teardown stops what was started).
it_setup_failed() {
    it_log "setup failed: $*" >&2
    IT_FAIL=$((IT_FAIL + 1))
    exit 1
}

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
    "$IT_TOP/scripts/devstack" pg start --dir "$IT_PGDIR" --pg-port "$IT_PGPORT" >/dev/null ||
        it_setup_failed "PostgreSQL cluster in $IT_PGDIR"
    db=it_$(echo "$IT_NAME" | tr -c 'a-z0-9\n' '_')
    local data; data=$(cat "$IT_PGDIR/pgdata")
    service_as_postgres "$PGBIN/psql" -h "$data" -p "$(cat "$IT_PGDIR/pgport")" -d postgres -qAt \
        -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null || it_setup_failed "database $db"
    export KVMOVE_DB="host=$data port=$(cat "$IT_PGDIR/pgport") user=postgres dbname=$db"
    "$IT_BUILD/kvmove-devbroker" --port-file "$IT_DIR/brokers" </dev/null >"$IT_DIR/devbroker.log" 2>&1 &
    echo $! >"$IT_DIR/devbroker.pid"
    service_wait "the embedded broker (its port file $IT_DIR/brokers)" 60 "$!" "$IT_DIR/devbroker.log" \
        test -s "$IT_DIR/brokers" || it_setup_failed "the embedded broker did not come up"
    export KVMOVE_BROKERS; KVMOVE_BROKERS=$(head -n1 "$IT_DIR/brokers")
    # A port of its own per test (ctest gives each test one: KVMOVE_TEST_PORT), so neither a
    # test running beside it nor a lingering sshd of an earlier test can answer.
    port=${KVMOVE_TEST_PORT:-$((23000 + $(cksum <<<"$IT_NAME" | cut -d' ' -f1) % 2000))}
    IT_HOSTS=$IT_DIR/hosts
    "$HOSTSIM" init "$IT_HOSTS" "$esxml" --port "$port" >/dev/null || it_setup_failed "hostsim init"
    "$HOSTSIM" start "$IT_HOSTS" >/dev/null || it_setup_failed "simulated hosts did not come up"
    export KVMOVE_SSH_PORT=$port KVMOVE_SSH_IDENTITY=$IT_HOSTS/id_ed25519
    export KVMOVE_SSH_KNOWN_HOSTS=$IT_HOSTS/known_hosts KVMOVE_HOSTSIM_ROOT=$IT_HOSTS
    export KVMOVE_CONFIG=/dev/null
    export PATH=$IT_BUILD:$PATH
    kvmove-worker migrate >/dev/null || it_setup_failed "database migrations"
    for f in "${load[@]}"; do
        kvmove config load "$f" >/dev/null || it_setup_failed "kvmove config load $f"
    done
    # The test's operator: this user (the CLI's submitted_by), every right; the CLI signs with
    # its key (KVMOVE_KEY_FILE), raw producers with it_produce.
    export KVMOVE_KEY_FILE=$IT_DIR/operator.key IT_OPERATOR; IT_OPERATOR=$(id -un)
    operator_enrol "$IT_OPERATOR" "$KVMOVE_KEY_FILE" || it_setup_failed "operator $IT_OPERATOR"
}

# it_setup_no_vfpools NAME: it_setup with the fixture es.xml whose hosts exa01adm02 and
# exa01adm03 have no VF pools, so that the interface steps have effects there too.
it_setup_no_vfpools() {
    local xml; xml=$(mktemp "/tmp/kvmove-$1.XXXXXX.xml")
    sed -e '/<hostName>exa01adm0[23]\./,/<\/vfPools>/ s|<vfPools>true|<vfPools>false|' \
        "$IT_TOP/tests/fixtures/exa01.xml" >"$xml"
    it_setup "$1" "$xml"
    rm -f "$xml"
}

# spec_session COMMAND: the spec's shell session around COMMAND (a MIGRATE GUEST line), as a
# `kvmove shell` script: load exa01.xml, the command, then save, merge and deploy the action.
spec_session() {
    cat <<SESSION
LOAD FILE name=exa01.xml
$1
SAVE ACTION
MERGE ACTIONS
SAVE FILE NAME=exa01.migration-merged.xml
DEPLOY ACTIONS
SAVE FILE NAME=exa01.migration-deployed.xml
SESSION
}

# it_now: the current time as a request's submitted_at (RFC 3339 UTC, milliseconds).
it_now() { date -u +%Y-%m-%dT%H:%M:%S.%3NZ; }

# it_produce KEY VALUE [KEY_FILE] [PARTITION]: publishes VALUE (exactly these bytes, one
# message) to kvmove.requests with KEY (to PARTITION when given, else the partitioner's),
# signed with KEY_FILE (default: the test operator's), as a producer kvmove did not write would
# (kcat, `kvmove key sign` for the headers); returns kcat's status.
it_produce() {
    local key=$1 f h=()
    f=$(mktemp "$IT_DIR/msg.XXXXXX")
    printf '%s' "$2" >"$f"
    while IFS= read -r line; do h+=(-H "$line"); done < <(KVMOVE_KEY_FILE=${3:-$KVMOVE_KEY_FILE} kvmove key sign "$f")
    [[ -n ${4:-} ]] && h+=(-p "$4")
    kcat -P -b "$KVMOVE_BROKERS" -t kvmove.requests -k "$key" "${h[@]}" "$f" 2>/dev/null
    local rc=$?
    rm -f "$f"
    return $rc
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
    [[ -n ${IT_HOSTS:-} ]] && "$HOSTSIM" stop "$IT_HOSTS" >/dev/null 2>&1
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

# wait_job ID [SECONDS]: waits until job ID has ended; prints its status (the last one seen, or
# "missing", and a note on stderr, when it did not end in time).
wait_job() {
    local id=$1 t=${2:-60} st
    service_wait "job $id to end" "$t" - - job_ended "$id"
    st=$(sql "SELECT status FROM jobs WHERE id = '$id'" 2>/dev/null || true)
    echo "${st:-missing}"
}
job_ended() { # job_ended ID: job ID has a final status
    [[ $(sql "SELECT status FROM jobs WHERE id = '$1'" 2>/dev/null) =~ ^(succeeded|failed|rejected|cancelled)$ ]]
}
# wait_cleanup JOB [SECONDS]: waits (default 30 s) until the host cleanup job JOB left is done;
# prints its status then.
wait_cleanup() {
    local n=$((${2:-30} * 5))
    for _ in $(seq "$n"); do
        [[ $(sql "SELECT status FROM host_cleanups WHERE job_id = '$1'") == done ]] && break
        sleep 0.2
    done
    sql "SELECT status FROM host_cleanups WHERE job_id = '$1'"
}
# it_submit SRC TGT [OPTS...]: publishes the OFFLINE migration of the test's guest $G from SRC
# to TGT (kvmove submit, OPTS added); sets JOB to its job id ("" when it was not published).
it_submit() {
    local out
    out=$(kvmove submit --guest "$G" --mode offline --src "$1" --tgt "$2" "${@:3}")
    JOB=$(sed -n 's/.*(job id \([0-9a-f-]*\))$/\1/p' <<<"$out")
}

# job_of GUEST: the newest job of GUEST, waiting up to 60 s for it to exist (a new group member
# may first wait for a rebalance).
job_of() {
    local id
    for _ in $(seq 600); do
        id=$(sql "SELECT id FROM jobs WHERE guest = '$1' ORDER BY created_at DESC LIMIT 1")
        [[ -n $id ]] && break
        sleep 0.1
    done
    [[ -n $id ]] || it_log "    timed out after 60 s waiting for a job of guest $1" >&2
    echo "$id"
}

# host_effects H [FROM_LINE]: commands with an effect that host H received (queries left out),
# from line FROM_LINE of its log (default 1).
host_effects() {
    host_log "$1" | tail -n +"${2:-1}" | cut -f4 | grep -vE '^(imageinfo|vm_maker --host-info|vm_maker --list-|virsh (list|domstate|dominfo|dumpxml)|edvutil lsattach|mountpoint|grep -q|test -)' || true
}

# dead_letter ID: the reason (kvmove.error) of the dead letter whose value names request ID,
# once there is one (empty after 30 s).
dead_letter() {
    local r
    for _ in $(seq 300); do
        r=$(kcat -C -b "$KVMOVE_BROKERS" -t kvmove.requests.dlq -o beginning -e -q -f '%s\t%h\n' 2>/dev/null |
            grep -F "$1" | tail -n1 | tr ',' '\n' | sed -n 's/^kvmove\.error=//p')
        [[ -n $r ]] && { echo "$r"; return 0; }
        sleep 0.1
    done
}

# commands: how many host commands the simulated hosts have run (their commands.log lines).
commands() { cat "$IT_HOSTS"/hosts/*/commands.log 2>/dev/null | wc -l; }
