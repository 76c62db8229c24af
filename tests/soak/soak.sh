#!/bin/bash
# Soak: 3 workers, 6 simulated KVM hosts and 24 guests, migrated around without pause (single
# moves OFFLINE and OFFLINEFORCE, replays of failed jobs, `kvmove evacuate`), while a fault
# driver injects faults on a random schedule made from a seed (printed; KVMOVE_SOAK_SEED=N runs
# the same schedule again): SIGKILL of a worker (restarted), PostgreSQL restart (fast or
# immediate), broker restart, sshd bounce on a host, a host command failing once, a host powered
# off and on. Then the faults stop, every host is up, and the soak waits for the jobs to end
# (leases expire, takeovers finish, failed jobs are replayed) and asserts:
#   1. every job ended: succeeded, failed with a reason, or rejected; none queued or running;
#   2. no host effect happened twice for one job (below);
#   3. the simulator's safety invariant (never running nor autostart on two hosts) held at every
#      instant (it checks after every state change and records violations);
#   4. every guest runs on exactly one host, with autostart there only; no cleanup is pending;
#   5. every guest's placement in the newest es.xml of its system equals the hosts';
#   6. each job's events were published once each, in order (below).
# It prints the figures: jobs, faults by kind, retries, takeovers, failures by reason, duration.
#
# KVMOVE_SOAK_SECONDS (default 150) is how long the faults go on; the whole run takes about a
# minute more. KVMOVE_SOAK_KEEP=1 leaves build/soak/ (logs, command logs, events) in place.
#
# Broker restart: kvmove-devbroker is librdkafka's in-memory mock; a new process would lose the
# topics, the committed offsets and every request not yet consumed, and listen on another port
# (the mock cannot bind a chosen one). A real Kafka broker keeps its log and offsets across a
# restart, so the soak restarts the broker the way clients see a real one restart: it takes the
# broker down (every connection dropped, new ones refused: SIGUSR1) and brings it back on the
# same port with its data (SIGUSR2). Producers retry or report "broker unreachable" (the CLI's
# exit 3), consumers reconnect and resume from their committed offsets, the outbox keeps what
# was not delivered.
#
# sshd bounce: the host's sshd is stopped (with it every session and the commands in flight on
# the host end, as with systemd's default KillMode) and started again after 1-3 s; the host's
# state is untouched.
#
# "No host effect twice for one job": every command that changes a host (the simulator's command
# logs; queries left out) that exited 0 is attributed to the job of its guest (every command of a
# migration names its guest, its volumes or devices, or a bridge only it uses) that was running
# at the time; within one job, the same command on the same host must not have succeeded twice.
# Legitimate repeats are commands that failed (a fault, a retry), and commands of different jobs
# (a replay redoes what its failed attempt did not). A command in flight when its worker died
# may still complete on the host; the takeover observes and does not repeat it, so it too
# succeeds at most once.
#
# "Once, in order": the outbox is at least once (a batch whose later event was delivered but an
# earlier one not is sent again, and a broker restart may make the producer resend), so one
# event (one CloudEvents id) may be read more than once; consumers de-duplicate by id. Asserted:
# every event in the outbox was read from kvmove.events, nothing else was; per job (the key),
# the events in the order they were first read are the outbox's order; each job's sequence is
# valid: job.accepted first, a preflight result before its steps, a step ends at most once and
# only after it started, nothing starts after the job's end, exactly one job.succeeded or
# job.failed per ended job (cleanup events may follow it). Duplicates are counted in the figures.
set -uo pipefail
TOP=$(cd "${BASH_SOURCE[0]%/*}/../.." && pwd)
BUILD=${KVMOVE_BUILD_DIR:-$TOP/build}
HOSTSIM=$TOP/tests/hostsim/hostsim
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n1)
SOAK_SECONDS=${KVMOVE_SOAK_SECONDS:-150}
SEED=${KVMOVE_SOAK_SEED:-$(($(date +%s%N) / 1000 % 1000000))}
D=$BUILD/soak
ROOT=$D/hosts
NWORKERS=3 NHOSTS=6 LEASE_S=10 MAX_SINGLES=8 SSH_PORT=${KVMOVE_TEST_PORT:-25500} PG_PORT=54359
T0=$SECONDS
PASS=0 FAIL=0

log() { printf '[soak %4ds] %s\n' $((SECONDS - T0)) "$*"; }
check() { # check DESCRIPTION COMMAND...
    local what=$1
    shift
    if "$@"; then
        PASS=$((PASS + 1))
        log "ok: $what"
    else
        FAIL=$((FAIL + 1))
        log "FAILED: $what"
    fi
}
eq0() { [[ $1 == 0 ]]; }
sql() { psql "$KVMOVE_DB" -qAtX -F $'\t' -v ON_ERROR_STOP=1 -c "$1" 2>/dev/null; }
host_name() { printf 'soakadm%02d.example.com' "$1"; }
guest_name() { printf 'soakvm%02d.example.com' "$1"; }

# ---------------------------------------------------------------- stack

teardown() {
    local f q
    set +e
    touch "$D/collect.stop"
    # the tables, for a look afterwards (KVMOVE_SOAK_KEEP=1)
    for f in jobs job_steps host_cleanups outbox configs; do
        q="SELECT * FROM $f"
        [[ $f == configs ]] && q="SELECT version, system_name, state, note, created_at FROM configs"
        psql "${KVMOVE_DB:-}" -qAtX -c "COPY ($q) TO STDOUT" >"$D/db-$f.tsv" 2>/dev/null
    done
    # the processes it started, by pid: TERM first (timeout passes it on to its evacuation)
    for f in "$D"/*.pid; do [[ -e $f ]] && kill -TERM "$(cat "$f")" 2>/dev/null; done
    sleep 0.5
    for f in "$D"/*.pid; do
        [[ -e $f ]] || continue
        kill -KILL "$(cat "$f")" 2>/dev/null
        wait "$(cat "$f")" 2>/dev/null
    done
    [[ -d $ROOT/hosts ]] && "$HOSTSIM" stop "$ROOT" >/dev/null 2>&1
    "$TOP/scripts/devstack" pg stop --dir "$D/pg" >/dev/null 2>&1
    echo "$PASS passed, $FAIL failed"
    if ((FAIL > 0)); then
        echo "--- the last lines of each worker's log ---"
        for f in "$D"/worker-*.log; do
            echo "== $f"
            tail -n 15 "$f"
        done
        exit 1
    fi
    [[ ${KVMOVE_SOAK_KEEP:-} == 1 ]] || rm -rf "$D"
}

setup() {
    local xml=$D/soak.xml
    rm -rf "$D"
    mkdir -p "$D"
    trap teardown EXIT
    # Six hosts of 128 GiB, four 8 GiB guests each; VF pools on every other host (so the
    # interface steps have work both ways).
    "$TOP/bench/gen_esxml" --name soak --hosts $NHOSTS --guests-per-host 4 --addr 127.0.3 \
        --vf-pools 10 --mem 8192 --host-mem 131072 >"$xml" || return 1
    "$TOP/scripts/devstack" pg start --dir "$D/pg" --pg-port $PG_PORT >/dev/null || return 1
    PGDATA_DIR=$(cat "$D/pg/pgdata")
    pg_ctl_ -m fast -w stop >/dev/null 2>&1
    pg_start || return 1
    export KVMOVE_DB="host=$PGDATA_DIR port=$PG_PORT user=postgres dbname=kvmove"
    "$BUILD/kvmove-devbroker" --partitions 4 --port-file "$D/brokers" </dev/null \
        >"$D/devbroker.log" 2>&1 &
    echo $! >"$D/devbroker.pid"
    disown $!
    for _ in $(seq 100); do [[ -s $D/brokers ]] && break; sleep 0.1; done
    export KVMOVE_BROKERS
    KVMOVE_BROKERS=$(head -n1 "$D/brokers")
    "$HOSTSIM" init "$ROOT" "$xml" --port $SSH_PORT >/dev/null || return 1
    # A guest takes 1.5 s to shut down and 2.5 s to boot: jobs are in flight long enough for
    # the faults to hit them inside the downtime.
    for n in $(seq $NHOSTS); do
        "$HOSTSIM" latency "$ROOT" "$(host_name "$n")" "vm_maker --stop-domain" 1500
        "$HOSTSIM" latency "$ROOT" "$(host_name "$n")" "vm_maker --start-domain" 2500
    done
    "$HOSTSIM" start "$ROOT" >/dev/null || return 1
    export KVMOVE_SSH_PORT=$SSH_PORT KVMOVE_SSH_IDENTITY=$ROOT/id_ed25519
    export KVMOVE_SSH_KNOWN_HOSTS=$ROOT/known_hosts KVMOVE_CONFIG=/dev/null
    export PATH=$BUILD:$PATH
    kvmove-worker migrate >/dev/null || return 1
    # The soak's operator (this user, every right): the workers take signed requests only.
    . "$TOP/scripts/lib/operator.sh"
    export KVMOVE_KEY_FILE=$D/operator.key
    operator_enrol "$(id -un)" "$KVMOVE_KEY_FILE" || return 1
    kvmove config load "$xml" >/dev/null || return 1
    for n in 0 1 2 3; do
        collect "$n" &
        echo $! >"$D/collect-$n.pid"
        disown $!
    done
    for n in $(seq $NWORKERS); do worker_start "$n"; done
}

# collect P: every event of kvmove.events partition P, from the beginning, as it is read
# ("PARTITION OFFSET KEY EVENT" lines in events.P.tsv). kcat ends when the broker is down; it is
# started again from the offset after the last one read.
collect() {
    local p=$1 off=beginning last
    while [[ ! -e $D/collect.stop ]]; do
        kcat -C -u -q -b "$KVMOVE_BROKERS" -t kvmove.events -p "$p" -o "$off" \
            -f '%p\t%o\t%k\t%s\n' >>"$D/events.$p.tsv" 2>>"$D/kcat.log" &
        echo $! >"$D/kcat-$p.pid"
        wait $!
        last=$(tail -n1 "$D/events.$p.tsv" 2>/dev/null | cut -f2)
        [[ -n $last ]] && off=$((last + 1))
        sleep 0.5
    done
}

worker_start() { # worker_start N: a new incarnation of worker N (id soak-wN.GENERATION)
    local n=$1 gen
    gen=$(($(cat "$D/worker-$n.gen" 2>/dev/null || echo 0) + 1)) # the fault driver is a subshell
    echo "$gen" >"$D/worker-$n.gen"
    kvmove-worker --id "soak-w$n.$gen" -o worker.lease_s=$LEASE_S -o metrics.listen= \
        -o worker.command_timeout_ms=60000 run </dev/null >>"$D/worker-$n.log" 2>&1 &
    echo $! >"$D/worker-$n.pid"
    disown $! # its SIGKILL is a fault, not news
}

# ---------------------------------------------------------------- faults

# The schedule, made from the seed alone: "SECOND KIND ARG DURATION" lines.
KINDS=(worker_kill pg_restart broker_restart sshd_bounce cmd_fail power_cycle)
PATTERNS=("vm_maker --stop-domain" "edvutil detach" "edvutil attach" "mount /dev/exc" "umount"
    "virsh define" "virsh undefine" "virsh autostart" "vm_maker --start-domain"
    "vm_maker --add-bridge" "vm_maker --remove-bridge" "vm_maker --attach-interface"
    "vm_maker --detach-interface")
schedule() {
    local t=4 kind arg dur
    RANDOM=$SEED
    while :; do
        t=$((t + 3 + RANDOM % 6))
        ((t < SOAK_SECONDS - 5)) || break
        kind=${KINDS[RANDOM % ${#KINDS[@]}]}
        case $kind in
        worker_kill) arg=$((1 + RANDOM % NWORKERS)) dur=$((1 + RANDOM % 3)) ;;
        pg_restart) arg=$( ((RANDOM % 2)) && echo fast || echo immediate) dur=$((1 + RANDOM % 3)) ;;
        broker_restart) arg=- dur=$((2 + RANDOM % 5)) ;;
        sshd_bounce) arg=$((1 + RANDOM % NHOSTS)) dur=$((1 + RANDOM % 3)) ;;
        cmd_fail) arg=$((1 + RANDOM % NHOSTS)):$((RANDOM % ${#PATTERNS[@]})) dur=0 ;;
        power_cycle) arg=$((1 + RANDOM % NHOSTS)) dur=$((4 + RANDOM % 9)) ;;
        esac
        echo "$t $kind $arg $dur"
    done
}

pg_ctl_() { runuser -u postgres -- "$PGBIN/pg_ctl" -D "$PGDATA_DIR/data" "$@"; }
# As devstack's, but synchronous_commit on: with it off (devstack's choice, for speed) a
# PostgreSQL crash (an immediate stop) loses transactions it had reported committed: steps and
# outbox rows already acted on and published come back undone, which no client can survive.
# fsync stays off: the operating system does not crash here, only PostgreSQL.
pg_start() {
    pg_ctl_ -l "$PGDATA_DIR/postgres.log" -w -t 60 -o "-k $PGDATA_DIR -p $PG_PORT \
-c listen_addresses='' -c fsync=off -c synchronous_commit=on -c max_connections=200" start \
        >/dev/null 2>&1
}

# inject KIND ARG DURATION: one fault, undone after DURATION seconds. Returns 1 when there was
# nothing to inject it into (an sshd bounce on a host that is off).
inject() {
    local kind=$1 arg=$2 dur=$3 h pid
    case $kind in
    worker_kill)
        kill -KILL "$(cat "$D/worker-$arg.pid")" 2>/dev/null
        sleep "$dur"
        worker_start "$arg"
        ;;
    pg_restart)
        pg_ctl_ -m "$arg" -w stop >/dev/null 2>&1
        sleep "$dur"
        pg_start
        ;;
    broker_restart)
        kill -USR1 "$(cat "$D/devbroker.pid")"
        sleep "$dur"
        kill -USR2 "$(cat "$D/devbroker.pid")"
        ;;
    sshd_bounce)
        h=$ROOT/hosts/$(host_name "$arg")
        [[ -e $h/off ]] && return 1 # powered off: nothing listens
        pid=$(cat "$h/sshd.pid" 2>/dev/null) && kill -TERM "$pid" 2>/dev/null
        sleep "$dur"
        "$HOSTSIM" start "$ROOT" >/dev/null 2>&1
        ;;
    cmd_fail)
        "$HOSTSIM" fault "$ROOT" "$(host_name "${arg%%:*}")" fail-once "${PATTERNS[${arg#*:}]}"
        ;;
    power_cycle)
        "$HOSTSIM" power-off "$ROOT" "$(host_name "$arg")" >/dev/null 2>&1
        sleep "$dur"
        "$HOSTSIM" power-on "$ROOT" "$(host_name "$arg")" >/dev/null 2>&1
        ;;
    esac
}

fault_driver() { # runs the schedule in real time; logs each fault
    local t kind arg dur what
    while read -r t kind arg dur; do
        while ((SECONDS - T0 - T_RUN < t)); do sleep 0.2; done
        what="$kind $arg"
        case $kind in
        cmd_fail) what="cmd_fail $(host_name "${arg%%:*}") '${PATTERNS[${arg#*:}]}'" ;;
        sshd_bounce | power_cycle) what="$kind $(host_name "$arg")" ;;
        worker_kill) what="worker_kill worker $arg" ;;
        esac
        log "fault: $what${dur:+ (${dur} s)}"
        if inject "$kind" "$arg" "$dur"; then
            echo "$t $kind" >>"$D/faults.done"
        else
            log "fault: $what not injected (the host is off)"
        fi
    done <"$D/schedule"
}

# After the faults: every host up and clean of faults, every worker running, broker up, database up.
restore() {
    local n
    for n in $(seq $NHOSTS); do
        [[ -e $ROOT/hosts/$(host_name "$n")/off ]] && "$HOSTSIM" power-on "$ROOT" "$(host_name "$n")" >/dev/null 2>&1
        "$HOSTSIM" fault "$ROOT" "$(host_name "$n")" clear
    done
    "$HOSTSIM" start "$ROOT" >/dev/null 2>&1
    kill -USR2 "$(cat "$D/devbroker.pid")" 2>/dev/null
    pg_ctl_ status >/dev/null 2>&1 || inject pg_restart fast 0
    for n in $(seq $NWORKERS); do
        kill -0 "$(cat "$D/worker-$n.pid")" 2>/dev/null || worker_start "$n"
    done
}

# ---------------------------------------------------------------- workload

declare -A ACTIVE=()  # guest -> its job in flight (a single move or a replay)
declare -A RETRIES=() # guest -> replays since its last success
declare -A HALFWAY=() # guest -> "SRC TGT" of its newest job, failed after its steps began
declare -A FIGURE=()  # counters for the figures
EVAC_PID= EVAC_HOST= EVACS=0 REPLAYS_DUE=0 EVAC_NEXT=$((SECONDS + 10)) EVAC_SINCE=0
WRNG=$((SEED + 1))

rnd() { # rnd N: 0..N-1 from the workload's own seeded stream
    RANDOM=$WRNG
    REPLY=$((RANDOM % $1))
    WRNG=$RANDOM
}

# where G: the host that runs guest G, else the one where it is defined without a stale copy
# pending (stale copies are shut off), else "".
where() {
    local g=$1 h best=
    for h in "$ROOT"/hosts/*; do
        [[ -d $h/domains/$g ]] || continue
        if [[ $(cat "$h/domains/$g/state" 2>/dev/null) == running ]]; then
            echo "${h##*/}"
            return
        fi
        [[ -z $best ]] && best=${h##*/}
    done
    echo "$best"
}

submit() { # submit G SRC TGT MODE: publishes one move (ACTIVE[G] = its job)
    local out rc id why
    out=$(timeout 60 kvmove submit --guest "$1" --mode "$4" --src "$2" --tgt "$3" 2>&1)
    rc=$?
    id=$(sed -n 's/.*(job id \([0-9a-f-]*\))$/\1/p' <<<"$out")
    if [[ -n $id ]]; then
        ACTIVE[$1]=$id
        FIGURE[submitted_$4]=$((${FIGURE[submitted_$4]:-0} + 1))
    else
        # why: the checks that failed, else the last line (broker or database unreachable: 3)
        why=$(sed -n 's/^Check \([a-z_]*\) failed.*/\1/p' <<<"$out" | paste -sd+)
        why="exit $rc${why:+: $why}"
        FIGURE["refused ($why)"]=$((${FIGURE["refused ($why)"]:-0} + 1))
        echo "$(date +%s) $1 $2 -> $3 $4: $why: $(tail -n1 <<<"$out")" >>"$D/refused.log"
    fi
}

replay() { # replay G JOB SRC: resumes the unfinished steps; when the guest runs on the job's
    # source again, the whole migration from STOP_GUEST, as an operator would (a source that
    # rebooted inside the downtime started the guest again: its autostart was still there)
    local out id k from=()
    [[ $(cat "$ROOT/hosts/$3/domains/$1/state" 2>/dev/null) == running ]] &&
        from=(--from-step STOP_GUEST)
    out=$(timeout 60 kvmove replay "$2" "${from[@]}" 2>&1)
    id=$(sed -n 's/.*(job id \([0-9a-f-]*\))$/\1/p' <<<"$out")
    [[ -n $id ]] || log "replay of $2 ($1) not published: $(tr '\n' ' ' <<<"$out" | head -c 300)"
    if [[ -n $id ]]; then
        ACTIVE[$1]=$id
        RETRIES[$1]=$((${RETRIES[$1]:-0} + 1))
        k=replays
        ((${#from[@]})) && k="replays --from-step STOP_GUEST"
        FIGURE[$k]=$((${FIGURE[$k]:-0} + 1))
    fi
}

# Frees the guests whose job ended, then replays each guest's newest job when it failed after its
# steps began (the guest may be half-way; a failed replay counts too) and ended at least 3 s ago,
# up to MAX times in a row per guest (evacuations' jobs included). Returns 1 if the database did
# not answer.
reap() {
    local max=$1 ids= g id st src tgt
    local -A live=()
    for g in "${!ACTIVE[@]}"; do ids+=${ids:+,}${ACTIVE[$g]}; done
    if [[ -n $ids ]]; then
        rows=$(sql "SELECT id, status FROM jobs WHERE id = ANY('{$ids}'::uuid[])") || return 1
        while IFS=$'\t' read -r id st; do [[ -n $id ]] && live[$id]=$st; done <<<"$rows"
        for g in "${!ACTIVE[@]}"; do
            case ${live[${ACTIVE[$g]}]:-} in
            succeeded) unset "ACTIVE[$g]" "RETRIES[$g]" ;;
            failed | rejected) unset "ACTIVE[$g]" ;;
            esac
        done
    fi
    rows=$(sql "SELECT guest, id, finished_at < now() - interval '3 seconds', src_host,
                    tgt_host FROM (SELECT DISTINCT ON (guest) guest, id, status, finished_at,
                    replay_of, src_host, tgt_host, (SELECT count(*) FROM job_steps s WHERE
                    s.job_id = j.id AND s.attempts > 0) AS begun FROM jobs j WHERE status <>
                    'rejected' ORDER BY guest, created_at DESC) n
                WHERE status = 'failed' AND (begun > 0 OR replay_of IS NOT NULL)") || return 1
    REPLAYS_DUE=0 HALFWAY=()
    while IFS=$'\t' read -r g id st src tgt; do
        [[ -n $g ]] && HALFWAY[$g]="$src $tgt"
        [[ -n $g && -z ${ACTIVE[$g]:-} ]] || continue
        ((${RETRIES[$g]:-0} < max)) || continue
        REPLAYS_DUE=$((REPLAYS_DUE + 1))
        [[ $st == t ]] && replay "$g" "$id" "$src"
    done <<<"$rows"
    return 0
}

# One more single move: an idle guest (not in flight, not on the host being evacuated) to
# another host; OFFLINEFORCE when its host is down (the spec's case), and now and then anyway.
one_move() {
    local g src tgt mode i
    rnd 24
    g=$(guest_name $((REPLY + 1)))
    # a guest a failed job left half-way is replayed, not moved anew (a new move would find
    # its volumes attached where the failed job put them)
    [[ -n ${ACTIVE[$g]:-} || -n ${HALFWAY[$g]:-} ]] && return
    src=$(where "$g")
    [[ -z $src || $src == "$EVAC_HOST" ]] && return
    for i in 1 2 3 4; do
        rnd $NHOSTS
        tgt=$(host_name $((REPLY + 1)))
        [[ $tgt != "$src" && $tgt != "$EVAC_HOST" ]] && break
    done
    [[ $tgt == "$src" || $tgt == "$EVAC_HOST" ]] && return
    rnd 5
    if [[ -e $ROOT/hosts/$src/off ]] || ((REPLY == 0)); then mode=offlineforce; else mode=offline; fi
    submit "$g" "$src" "$tgt" "$mode"
}

# Now and then (every 20-40 s) an evacuation, in the background: a host is picked, single moves
# stop touching it, and once none in flight does (and no half-way guest comes from or goes to
# it: es.xml may still place such a guest there, and the evacuation would move it anew instead
# of its replay), `kvmove evacuate` runs. A host that stays busy for 60 s is given up.
maybe_evacuate() {
    local h g busy
    if [[ -n $EVAC_PID ]]; then
        kill -0 "$EVAC_PID" 2>/dev/null && return
        wait "$EVAC_PID"
        rm -f "$D/evacuate.pid"
        rnd 20
        EVAC_PID= EVAC_HOST= EVAC_NEXT=$((SECONDS + 20 + REPLY))
    fi
    if [[ -z $EVAC_HOST ]]; then
        ((SECONDS >= EVAC_NEXT)) || return
        rnd $NHOSTS
        EVAC_HOST=$(host_name $((REPLY + 1))) EVAC_SINCE=$SECONDS
        return
    fi
    h=$EVAC_HOST
    if ((SECONDS - EVAC_SINCE > 60)); then
        rnd 20
        EVAC_HOST= EVAC_NEXT=$((SECONDS + 20 + REPLY))
        return
    fi
    [[ -e $ROOT/hosts/$h/off || " ${HALFWAY[*]} " == *" $h "* ]] && return
    for g in "${!ACTIVE[@]}"; do
        busy=$(sql "SELECT count(*) FROM jobs WHERE id = '${ACTIVE[$g]}' AND '$h' IN (src_host, tgt_host)")
        [[ $busy == 0 ]] || return
    done
    EVACS=$((EVACS + 1))
    log "evacuate $h"
    timeout 300 kvmove evacuate --host "$h" --max-parallel 3 >"$D/evacuate-$EVACS.log" 2>&1 &
    EVAC_PID=$!
    echo $! >"$D/evacuate.pid"
}

workload() { # until the faults end
    while ((SECONDS - T0 - T_RUN < SOAK_SECONDS)); do
        reap 4 || { sleep 0.5; continue; }
        maybe_evacuate
        ((${#ACTIVE[@]} < MAX_SINGLES)) && one_move
        sleep 0.3
    done
}

# After the faults: no new moves; replays go on until every job has ended (or DRAIN_S passed).
drain() {
    local left t=$SECONDS
    while ((SECONDS - t < 150)); do
        reap 8
        if [[ -n $EVAC_PID ]] && ! kill -0 "$EVAC_PID" 2>/dev/null; then
            wait "$EVAC_PID"
            rm -f "$D/evacuate.pid"
            EVAC_PID= EVAC_HOST=
        fi
        left=$(sql "SELECT count(*) FROM jobs WHERE status IN ('queued', 'running')")
        [[ $left == 0 && ${#ACTIVE[@]} == 0 && -z $EVAC_PID && $REPLAYS_DUE == 0 ]] &&
            [[ $(sql "SELECT count(*) FROM host_cleanups WHERE status = 'pending'") == 0 ]] && return 0
        sleep 1
    done
    return 1
}

# ---------------------------------------------------------------- checks

# Effectful commands that exited 0, attributed to jobs: "JOB HOST COMMAND" per line, and the
# duplicates. A command names its guest soakvmNN (volumes and devices too) or a bridge of its
# own (vmbondeth0.1NN).
effects_per_job() {
    sql "SELECT guest, id, (extract(epoch FROM started_at) * 1000)::bigint,
                (extract(epoch FROM coalesce(finished_at, now())) * 1000)::bigint
         FROM jobs WHERE started_at IS NOT NULL" >"$D/windows.tsv"
    for h in "$ROOT"/hosts/*; do
        awk -F'\t' -v host="${h##*/}" '$3 == 0 { print host "\t" $1 "\t" $4 }' "$h/commands.log"
    done | grep -E $'\t''(vm_maker --(stop|start)-domain|vm_maker --(add|remove)-bridge|vm_maker --(attach|detach)-interface|edvutil (attach|detach) |umount |mount /|sed -i|echo .*>> /etc/fstab|virsh (define|undefine|autostart|start|shutdown|destroy) )' |
        awk -F'\t' 'NR == FNR { n[$1]++; j[$1, n[$1]] = $2; s[$1, n[$1]] = $3; e[$1, n[$1]] = $4; next }
            {
                g = ""
                if (match($3, /soakvm[0-9][0-9]/)) g = substr($3, RSTART, RLENGTH) ".example.com"
                else if (match($3, /vmbondeth0\.1[0-9][0-9]/)) g = "soakvm" substr($3, RSTART + 12, 2) ".example.com"
                if (g == "") next
                for (i = 1; i <= n[g]; i++)
                    if ($2 >= s[g, i] && $2 <= e[g, i]) { print j[g, i] "\t" $1 "\t" $3; break }
            }' "$D/windows.tsv" - >"$D/effects.tsv"
    sort "$D/effects.tsv" | uniq -d >"$D/effects.twice"
    [[ ! -s $D/effects.twice ]] || { sed 's/^/    twice: /' "$D/effects.twice" | head -20; false; }
}

placement_matches() { # each system's newest es.xml against the hosts (where the guest is defined)
    local n g h s want got bad=0 systems
    systems=$(sql "SELECT name FROM systems ORDER BY name") || return 1
    [[ -n $systems ]] || { echo "    no system stored"; return 1; }
    rm -f "$D"/newest-*.xml
    for s in $systems; do
        kvmove config save "$D/newest-$s.xml" --system "$s" >/dev/null || return 1
    done
    for n in $(seq 24); do
        g=$(guest_name "$n")
        got=$(for h in "$ROOT"/hosts/*; do [[ -d $h/domains/$g ]] && echo "${h##*/}"; done | paste -sd,)
        want=$(for s in $systems; do
            xmllint --xpath "//machine[machine/@id='soakvm$(printf %02d "$n")_id']/hostName/text()" \
                "$D/newest-$s.xml" 2>/dev/null && echo
        done | grep . | paste -sd,)
        [[ $want == "$got" ]] || { echo "    $g: es.xml says ${want:-nowhere}, hosts say ${got:-nowhere}"; bad=1; }
    done
    ((bad == 0))
}

guests_consistent() { # every guest runs on one host, autostart there only
    local n g running auto bad=0
    for n in $(seq 24); do
        g=$(guest_name "$n")
        running=$(grep -lx running "$ROOT"/hosts/*/domains/"$g"/state 2>/dev/null | wc -l)
        auto=$(ls -d "$ROOT"/hosts/*/domains/"$g"/autostart 2>/dev/null | wc -l)
        [[ $running == 1 && $auto == 1 && $(dirname "$(grep -lx running "$ROOT"/hosts/*/domains/"$g"/state)") == \
            $(dirname "$(ls -d "$ROOT"/hosts/*/domains/"$g"/autostart)") ]] ||
            { echo "    $g: running on $running host(s), autostart on $auto"; bad=1; }
    done
    ((bad == 0))
}

# The events read from kvmove.events against the outbox (see the header).
events_once_in_order() {
    local i
    # the outbox published, and what it published read (or 60 s passed)
    for i in $(seq 120); do
        sql "SELECT key, event_id, id FROM outbox ORDER BY id" >"$D/outbox.tsv"
        cat "$D"/events.?.tsv | jq -rR 'split("\t") as $f | ($f[3:] | join("\t") | fromjson?)
            as $e | select($e != null) | [$f[2], $e.id, ($e.type | sub("^io\\.kvmove\\."; "")),
            ($e.data.step // "-")] | @tsv' >"$D/read.tsv"
        [[ $(sql "SELECT count(*) FROM outbox WHERE published_at IS NULL") == 0 &&
            $(cut -f2 "$D/read.tsv" | sort -u | wc -l) -ge $(wc -l <"$D/outbox.tsv") ]] && break
        sleep 0.5
    done
    awk -F'\t' '
        NR == FNR { out[$2] = 1; okey[$2] = $1; order[$1] = order[$1] " " $2; n_out++; next }
        {
            reads++
            if (!($2 in out)) { print "    not in the outbox: " $0; bad = 1; next }
            if ($2 in seen) { dups++; next }
            seen[$2] = 1; first[$1] = first[$1] " " $2
            job = $1; t = $3; s = $4
            if (t == "job.accepted" || t == "job.rejected") {
                if (started[job]) { print "    " job ": a second " t; bad = 1 }
                started[job] = 1
                if (t == "job.rejected") ended[job] = 1
                next
            }
            # a probe (cleanup, dry run, plan asked of a worker) is keyed by its request, no job
            if (t ~ /^probe\./) next
            if (!started[job]) { print "    " job ": " t " before job.accepted"; bad = 1 }
            if (t ~ /^cleanup\./) next
            if (ended[job]) { print "    " job ": " t " after the job ended"; bad = 1 }
            if (t == "preflight.passed") { passed[job] = 1; next }
            if (t == "preflight.failed") next
            if (t == "step.started") {
                if (!passed[job]) { print "    " job ": " s " started before a preflight passed"; bad = 1 }
                if (done[job, s]) { print "    " job ": " s " started again after it ended"; bad = 1 }
                run[job, s] = 1
                next
            }
            if (t ~ /^step\./) {
                if (!run[job, s] || done[job, s]) { print "    " job ": " t " of " s " without a start or twice"; bad = 1 }
                done[job, s] = 1
                next
            }
            if (t == "job.succeeded" || t == "job.failed") { ended[job] = 1; terminal[job]++ }
        }
        END {
            for (id in out) if (!(id in seen)) { missing++; if (missing <= 5) print "    never read: " okey[id] " " id }
            for (k in order) if (order[k] != first[k]) { print "    out of order: job " k; bad = 1 }
            printf "    %d events in the outbox, %d read (%d duplicates of an event already read)\n", n_out, reads, dups
            print dups + 0 >"/dev/stderr"
            exit (bad || missing) ? 1 : 0
        }' "$D/outbox.tsv" "$D/read.tsv" 2>"$D/duplicates"
}

every_job_ended() {
    local stuck
    stuck=$(sql "SELECT id || ' ' || guest || ' ' || status || ' lease ' || coalesce(lease_owner, '-')
                 FROM jobs WHERE status IN ('queued', 'running')")
    [[ -z $stuck ]] || { sed 's/^/    stuck: /' <<<"$stuck"; return 1; }
    [[ $(sql "SELECT count(*) FROM jobs WHERE status = 'failed' AND coalesce(error, '') = ''") == 0 ]]
}

figures() {
    local k
    echo "=== soak figures (seed $SEED, faults for $SOAK_SECONDS s, $((SECONDS - T0)) s in all) ==="
    echo "jobs by status and kind:"
    sql "SELECT status, CASE WHEN replay_of IS NOT NULL THEN 'replay' ELSE lower(mode) END, count(*)
         FROM jobs GROUP BY 1, 2 ORDER BY 1, 2" | awk -F'\t' '{ printf "  %-10s %-13s %5d\n", $1, $2, $3 }'
    echo "  evacuations: $EVACS ($(cat "$D"/evacuate-*.log 2>/dev/null | grep -c 'published (job') jobs);" \
        "replays: ${FIGURE[replays]:-0} resuming, ${FIGURE["replays --from-step STOP_GUEST"]:-0} from STOP_GUEST"
    echo "  submissions the CLI refused:" \
        "$(for k in "${!FIGURE[@]}"; do [[ $k == refused* ]] && echo "$k ${FIGURE[$k]}"; done | paste -sd, || true)"
    echo "faults injected by kind:"
    awk '{ n[$2]++ } END { for (k in n) printf "  %-15s %3d\n", k, n[k] }' "$D/faults.done" 2>/dev/null | sort
    echo "retries (transient step failures retried): $(cat "$D"/worker-*.log | grep -c 'hit a transient failure')"
    echo "takeovers: $(cat "$D"/worker-*.log | grep -c 'Taking over job')"
    echo "events: $(wc -l <"$D/outbox.tsv") in the outbox, $(wc -l <"$D/read.tsv") read, $(cat "$D/duplicates" 2>/dev/null || echo 0) duplicates"
    echo "failures by reason:"
    sql "SELECT replace(CASE WHEN error LIKE 'preflight failed%' THEN 'preflight failed: ' ||
                (SELECT string_agg(check_name, '+' ORDER BY check_name) FROM preflight_results p
                 WHERE p.job_id = j.id AND p.status = 'failed') ELSE error END, E'\n', ' ')
         FROM jobs j WHERE status IN ('failed', 'rejected')" |
        sed -E 's/[0-9a-f]{8}-[0-9a-f-]{27}/JOB/g; s/soakvm[0-9]+/G/g; s/soakadm[0-9]+/H/g;
                s/127\.0\.3\.[0-9]+/ADDR/g; s/port [0-9]+/port P/g; s/ [0-9]+ ms/ N ms/g' |
        cut -c1-110 | sort | uniq -c | sort -rn | sed 's/^/  /'
}

# ---------------------------------------------------------------- run

log "seed $SEED (KVMOVE_SOAK_SEED=$SEED reproduces the fault schedule), faults for $SOAK_SECONDS s"
setup || { log "setup failed"; FAIL=1; exit 1; }
schedule >"$D/schedule"
log "fault schedule (second kind arg duration):"
sed 's/^/    /' "$D/schedule"
T_RUN=$((SECONDS - T0))
fault_driver &
echo $! >"$D/faults.pid"
workload
wait "$(cat "$D/faults.pid")" 2>/dev/null
rm -f "$D/faults.pid"
log "faults over; restoring every host, the broker, the database and the workers"
restore
log "draining: waiting for every job to end (leases of $LEASE_S s expire, failed jobs are replayed)"
drain || log "drain: still not done after 150 s"
check "every job ended (succeeded, failed with a reason, rejected); none stuck" every_job_ended
check "no host effect twice for one job" effects_per_job
check "the safety invariant held at every instant (hostsim check)" "$HOSTSIM" check "$ROOT"
check "no cleanup pending" eq0 "$(sql "SELECT count(*) FROM host_cleanups WHERE status = 'pending'")"
check "every guest runs on one host, with autostart there only" guests_consistent
check "every guest's placement in its system's newest es.xml equals the hosts'" placement_matches
check "each job's events published once, in order" events_once_in_order
figures
