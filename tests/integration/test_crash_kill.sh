#!/bin/bash
# Crash anywhere: a job is SIGKILLed again and again. The worker dies while a host command of
# the job waits on a simulator `pause` fault; the next worker takes the job over once the lease
# (3 s) has expired, dies at the next point, and so on; the last one completes the job.
# Chain 1 (downtime-aware plan) dies at every step boundary: the paused first command of a step
# is dropped (it never runs), so the previous step is recorded and nothing of this one
# happened. Chain 2 (same plan, back) dies in the middle of every step with host commands: the
# paused command goes on without its worker. Chain 3 does the points only the sequential plan
# (`submit --sequential`) has. After each kill: the steps before the point (in the plan's
# order) are recorded and the point's step is running; after each chain: the job succeeded,
# every step begun once plus once per kill inside it, every effect on the hosts happened exactly
# once (simulator command logs against an uninterrupted run of the same plan and direction, and
# the hosts' final state equal to that run's), and the simulator never saw the safety invariant
# broken. Known caveat: a command in flight when its worker dies may still complete on the host
# (sshd runs it to its end); the takeover observes its effect and does not repeat it. Such a
# command is logged at most once (not at all when it dies writing to the closed channel), so it
# is compared apart: at most once, and the final state shows its effect.
# The hosts have no VF pools here, so the interface steps have effects too.
. "${BASH_SOURCE[0]%/*}/lib.sh"
it_setup_no_vfpools crash_kill

G=exa01vm01.example.com A=exa01adm02.example.com B=exa01adm03.example.com
FAST=(CREATE_BRIDGES CREATE_NAT_BRIDGE_TGT STOP_GUEST DETACH_INTERFACES DETACH_VOLUMES
    ATTACH_VOLUMES MIGRATE_GUEST ATTACH_INTERFACES STARTUP_GUEST REMOVE_BRIDGES
    REMOVE_NAT_BRIDGE_SRC)
SEQUENTIAL=(STOP_GUEST DETACH_INTERFACES DETACH_VOLUMES ATTACH_VOLUMES CREATE_BRIDGES
    MIGRATE_GUEST REMOVE_BRIDGES REMOVE_NAT_BRIDGE_SRC CREATE_NAT_BRIDGE_TGT ATTACH_INTERFACES
    STARTUP_GUEST)
check "no VF pools on the hosts of the test" eq "" "$(host_state $A | grep '^vfpool')$(host_state $B | grep '^vfpool')"

# Commands that change a host (idempotent-by-construction ones such as `mkdir -p` excluded).
EFFECT='^(vm_maker --(stop|start)-domain|vm_maker --(add|remove)-bridge|vm_maker --(attach|detach)-interface|edvutil (attach|detach) |umount |mount /|sed -i|echo .*>> /etc/fstab|virsh (define|undefine|autostart|start|shutdown|destroy) )'

NW=0 # workers started so far; each has its own consumer group and log
start_worker() {
    NW=$((NW + 1))
    it_worker_start $NW -o worker.lease_s=3 -o worker.group="w$NW"
}
# mark: remembers the length of both hosts' command logs.
mark() { MA=$(host_log $A | wc -l) MB=$(host_log $B | wc -l); }
# effects: effectful commands on both hosts since mark (any exit status), tagged, sorted.
effects() {
    { host_log $A | tail -n +$((MA + 1)) | cut -f4 | sed 's/^/A\t/'
      host_log $B | tail -n +$((MB + 1)) | cut -f4 | sed 's/^/B\t/'; } |
        grep -E "$(printf '^[AB]\t')${EFFECT#^}" | LC_ALL=C sort
}
states() { host_state $A | sed 's/^/A /'; host_state $B | sed 's/^/B /'; }
tag() { if [[ $1 == "$A" ]]; then echo A; else echo B; fi; }
# submit SRC TGT [OPTS...]: publishes the migration of G; sets JOB.
# steps_now PLAN: the job's steps in PLAN's order, "STEP:state", succeeded/skipped shown as done.
steps_now() {
    local -n p=$1
    local -A m=()
    local s st out=
    while IFS='|' read -r s st; do m[$s]=$st; done < <(sql "SELECT step, status FROM job_steps WHERE job_id = '$JOB'")
    for s in "${p[@]}"; do
        st=${m[$s]:-none}
        [[ $st == succeeded || $st == skipped ]] && st=done
        out+="$s:$st "
    done
    echo "${out% }"
}
# steps_at PLAN STEP: what steps_now must say while STEP runs.
steps_at() {
    local -n p=$1
    local s st=done out=
    for s in "${p[@]}"; do
        if [[ $s == "$2" ]]; then out+="$s:running " st=pending; else out+="$s:$st "; fi
    done
    echo "${out% }"
}
# drop_paused H PATTERN: the commands paused on host H that contain PATTERN never run: their
# dispatchers (started by this test's simulated sshd) are killed by pid.
drop_paused() {
    local p e n=0
    for p in $(pgrep -f -- "/hostsim-exec $IT_HOSTS/hosts/$1\$"); do
        e=$(tr '\0' '\n' 2>/dev/null <"/proc/$p/environ" | grep -a '^SSH_ORIGINAL_COMMAND=')
        [[ $e == *"$2"* ]] || continue
        kill -KILL "$p" 2>/dev/null && n=$((n + 1))
    done
    "$HOSTSIM" resume "$IT_HOSTS" "$1"
    ((n > 0))
}

# Uninterrupted runs give the reference effects and final states of each plan and direction.
declare -A REF STATE KILLS
start_worker
clean() { # clean NAME SRC TGT [OPTS...]
    mark
    it_submit "$2" "$3" "${@:4}"
    check "clean $1 run succeeds" eq succeeded "$([[ -n $JOB ]] && wait_job "$JOB" 60)"
    if ((IT_FAIL > 0)); then # no chain can pass; do not spend minutes waiting on pauses
        it_log "an uninterrupted run failed (are the simulated hosts up?): stopping here"
        exit 1
    fi
    REF[$1]=$(effects) STATE[$1]=$(states)
}
clean fwd $A $B
clean back $B $A
clean seqfwd $A $B --sequential
clean back2 $B $A
it_worker_stop $NW
check "an uninterrupted run has effects on both hosts" test "$(grep -c $'^A\t' <<<"${REF[fwd]}")" -gt 0 -a "$(grep -c $'^B\t' <<<"${REF[fwd]}")" -gt 0
check "the final states do not depend on the path (back twice the same)" eq "${STATE[back]}" "${STATE[back2]}"
echo "reference effects (forward):"
sed 's/^/    /' <<<"${REF[fwd]}"

# chain NAME REF PLAN STOPS [SUBMIT OPTS...]: one job of G in REF's direction, walked through
# STOPS, one a line "KIND ROLE STEP PATTERN": wait until the command containing PATTERN waits
# on host ROLE (S source, T target) with STEP running, then KIND: `drop` (SIGKILL the worker,
# the paused command never runs), `resume` (SIGKILL, the command goes on without its worker) or
# `hop` (no kill: only moves the pause on, past commands a takeover's preflight also sends).
chain() {
    local name=$1 ref=$2 planname=$3 stops=$4 src tgt i kind r step pat h got job st
    local -a L
    local inflight=() kn=0 takeovers s n
    shift 4
    if [[ $ref == back ]]; then src=$B tgt=$A; else src=$A tgt=$B; fi
    KILLS=()
    mapfile -t L < <(grep -v '^ *$' <<<"$stops")
    it_log "=== chain $name: $G ${src%%.*} -> ${tgt%%.*}, ${#L[@]} stops"
    mark
    setfault() { # setfault LINE: arms the pause of stop LINE
        local k r s p
        read -r k r s p <<<"$1"
        if [[ $r == S ]]; then r=$src; else r=$tgt; fi
        "$HOSTSIM" fault "$IT_HOSTS" "$r" pause "$p"
    }
    setfault "${L[0]}"
    start_worker
    it_submit $src $tgt "$@"
    job=$JOB
    for ((i = 0; i < ${#L[@]}; i++)); do
        read -r kind r step pat <<<"${L[i]}"
        if [[ $r == S ]]; then h=$src; else h=$tgt; fi
        if ! "$HOSTSIM" wait-paused "$IT_HOSTS" "$h" 40 >/dev/null; then
            check "$name: '$pat' reached on ${h%%.*}" false
            break
        fi
        [[ $kind == resume ]] && sleep 0.2 # the rest of a batch reaches the pause too
        for _ in $(seq 50); do # the file exists a moment before it holds the command
            got=$(cat "$IT_HOSTS/hosts/$h/paused" 2>/dev/null)
            [[ -n $got ]] && break
            sleep 0.02
        done
        [[ $kind != hop ]] && it_worker_stop $NW KILL
        check "$name: $kind while '$got' waited on ${h%%.*}" grep -qF -- "$pat" <<<"$got"
        check "$name: $kind point is inside $step, the steps before it recorded" \
            eq "$(steps_at "$planname" "$step")" "$(steps_now "$planname")"
        "$HOSTSIM" fault "$IT_HOSTS" $A clear
        "$HOSTSIM" fault "$IT_HOSTS" $B clear
        ((i + 1 < ${#L[@]})) && setfault "${L[i + 1]}"
        case $kind in
        drop) check "$name: the paused command was dropped" drop_paused "$h" "$pat" ;;
        resume)
            "$HOSTSIM" resume "$IT_HOSTS" "$h"
            inflight+=("$(tag "$h")	$pat")
            ;;
        hop) "$HOSTSIM" resume "$IT_HOSTS" "$h" ;;
        esac
        if [[ $kind != hop ]]; then
            kn=$((kn + 1)) KILLS[$step]=$((${KILLS[$step]:-0} + 1))
            check "$name: safety invariant held at kill $kn" "$HOSTSIM" check "$IT_HOSTS"
            start_worker
        fi
    done
    st=$(wait_job "$job" 90)
    it_worker_stop $NW
    check "$name: the job completes after $kn takeovers" eq succeeded "$st"
    takeovers=$(cat "$IT_DIR"/worker-*.log | grep -c "Taking over job $job")
    check "$name: each kill was followed by a takeover" eq "$kn" "$takeovers"
    local -n p=$planname
    local want= have
    for s in "${p[@]}"; do want+="$s:$((1 + ${KILLS[$s]:-0})) "; done
    have=$(sql "SELECT string_agg(step || ':' || attempts, ' ') FROM job_steps WHERE job_id = '$job'")
    check "$name: every step begun once, plus once per kill inside it" \
        eq "$(tr ' ' '\n' <<<"${want% }" | sort | tr '\n' ' ')" "$(tr ' ' '\n' <<<"$have" | sort | tr '\n' ' ')"
    # Exactly once, apart from the commands in flight at a kill (at most once, see the header).
    local act=$(effects) rest_act rest_ref x
    rest_act=$act rest_ref=${REF[$ref]}
    mapfile -t inflight < <(printf '%s\n' "${inflight[@]}" | sort -u | grep .)
    for x in "${inflight[@]}"; do
        rest_act=$(grep -vF -- "$x" <<<"$rest_act")
        rest_ref=$(grep -vF -- "$x" <<<"$rest_ref")
    done
    check "$name: every host effect exactly once" eq "$rest_ref" "$rest_act"
    n=$(for x in "${inflight[@]}"; do grep -F -- "$x" <<<"$act"; done | sort | uniq -d)
    check "$name: no command in flight at a kill ran again" eq "" "$n"
    check "$name: the hosts end as after an uninterrupted run" eq "${STATE[$ref]}" "$(states)"
    check "$name: guest runs, autostart, on ${tgt%%.*} only" eq "autostart $G|domain $G running|" \
        "$(host_state $tgt | grep -E "^(domain|autostart) $G" | tr '\n' '|')$(host_state $src | grep -E "^(domain|autostart) $G" | tr '\n' '|')"
    check "$name: safety invariant held" "$HOSTSIM" check "$IT_HOSTS"
}
# covered NAME: the last chain killed a worker inside every step that has host commands.
covered() {
    local s
    for s in "${FAST[@]}"; do
        case $s in *NAT*) continue ;; esac # no commands outside cloud deployments
        check "$1: killed inside $s" test "${KILLS[$s]:-0}" -gt 0
    done
}

# Boundaries: the first command each step sends (after a takeover a step observes afresh).
# REMOVE_BRIDGES lists the bridges as the takeover's preflight does: hop past it.
chain boundaries fwd FAST "
drop   T CREATE_BRIDGES    virsh dominfo $G
drop   S STOP_GUEST        virsh domstate $G
drop   S DETACH_INTERFACES vm_maker --list-interfaces
drop   S DETACH_VOLUMES    mountpoint -q
drop   T ATTACH_VOLUMES    edvutil lsattach
drop   S MIGRATE_GUEST     virsh dominfo $G
drop   T ATTACH_INTERFACES vm_maker --list-interfaces
drop   T STARTUP_GUEST     virsh domstate $G
hop    T STARTUP_GUEST     vm_maker --start-domain
drop   S REMOVE_BRIDGES    vm_maker --list-bridges"
covered boundaries

# Middles: each effect in flight; the last two STARTUP_GUEST stops: the first state query of
# the takeover passes, the worker dies on the second (the guest runs, the step not recorded).
chain middles back FAST "
resume T CREATE_BRIDGES    vm_maker --add-bridge
resume S STOP_GUEST        vm_maker --stop-domain
resume S DETACH_INTERFACES vm_maker --detach-interface
resume S DETACH_VOLUMES    umount /
resume S DETACH_VOLUMES    edvutil detach
resume T ATTACH_VOLUMES    edvutil attach
resume T ATTACH_VOLUMES    mount /dev/exc
resume S MIGRATE_GUEST     virsh undefine
resume T MIGRATE_GUEST     virsh define
resume T MIGRATE_GUEST     virsh autostart $G
resume T ATTACH_INTERFACES vm_maker --attach-interface
resume T STARTUP_GUEST     vm_maker --start-domain
hop    T STARTUP_GUEST     virsh domstate $G
resume T STARTUP_GUEST     virsh domstate $G
resume S REMOVE_BRIDGES    vm_maker --remove-bridge"
covered middles

# The sequential plan (the spec's order, one command at a time): the points only it has.
chain sequential seqfwd SEQUENTIAL "
hop    S STOP_GUEST        virsh domstate $G
resume S STOP_GUEST        virsh domstate $G
resume T CREATE_BRIDGES    vm_maker --add-bridge
resume S MIGRATE_GUEST     virsh autostart --disable
resume S REMOVE_BRIDGES    vm_maker --remove-bridge
resume T STARTUP_GUEST     vm_maker --start-domain" --sequential
