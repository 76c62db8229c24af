#!/bin/bash
# Real QEMU guests between real libvirt daemons: kvmove submit -> Kafka -> worker -> eleven steps
# over SSH with the libvirt profile -> PostgreSQL -> events. OFFLINE there, OFFLINEFORCE back
# from a live source, OFFLINEFORCE from a source that lost power (its stale copy fenced by a
# worker once the host is back: the dead-host path on real libvirt), then a failure injected on
# the target before the commit point, recovered by `kvmove replay`; then `kvmove rollback` of a
# failed job and `kvmove cancel` at a step boundary, each putting the guest back on its source,
# answering there with the same disk.
. "${BASH_SOURCE[0]%/*}/lib.sh"
H1=rh01kvm01 H2=rh01kvm02
G=rh01vm01.example.com
SYSVOL=rh01vm01_sys SYSDEV=rh01vm01_sys_5f0c2a7e9b1d4c3a8e6f0b2d4a6c8e01
CFGVOL=rh01vm01_cfg CFGDEV=rh01vm01_cfg_7a1e3c5b9d2f4e6a8c0b1d3f5e7a9c02
BRIDGE=vmeth0.101
LV=/var/lib/libvirt/kvmove
STEPS=STOP_GUEST,DETACH_INTERFACES,DETACH_VOLUMES,ATTACH_VOLUMES,CREATE_BRIDGES,MIGRATE_GUEST,REMOVE_BRIDGES,REMOVE_NAT_BRIDGE_SRC,CREATE_NAT_BRIDGE_TGT,ATTACH_INTERFACES,STARTUP_GUEST

t_setup=$SECONDS
rh_setup realhosts_migrate $H1=192.0.2.11 $H2=192.0.2.12
rh_guest_create $G $H1 $SYSVOL $SYSDEV $CFGVOL $CFGDEV $BRIDGE 52:54:00:c0:02:01 || die "guest creation"
on $H1 virsh -q start $G >/dev/null || die "first start of $G"
rh_wait_ready $H1 $G 180 || die "$G never became ready on $H1"
check "first boot: boot counter 1 on the shared disk" eq 1 "$(boot_counter $SYSVOL)"
lab kvmove config load "$RH_SRC/realhosts.xml" >/dev/null || die "config load"
rh_worker_start
rh_log "lab, two libvirt hosts and a running guest in $((SECONDS - t_setup)) s"

# serial HOST: the guest's serial console log on HOST.
serial() { on "$1" cat "/var/log/libvirt/qemu/$G.serial" 2>/dev/null; }
# attached HOST: the guest's volumes attached on HOST ("VOLUME DEVICE", sorted).
attached() { on "$1" find $LV/volumes -maxdepth 1 -type l -printf '%l %f\n' 2>/dev/null | sed 's|^.*/||' | sort | paste -sd,; }
bridges() { on "$1" ip -o link show type bridge | sed 's/^[0-9]*: \([^:@]*\).*/\1/' | paste -sd,; }
# locked_from HOST: QEMU's image lock refuses HOST read-write access to the guest's disk
# (qemu-io opens it read-write and only reads; the error names the "write" lock).
locked_from() { grep -q '"write" lock' <<<"$(on "$1" qemu-io -f raw -c 'read 0 512' "/srv/kvmove-shared/$SYSVOL" 2>&1)"; }
# job_times JOB: "total downtime" in ms: submit-to-end and STOP_GUEST start to STARTUP_GUEST end.
job_times() {
    sql "SELECT round(extract(epoch FROM j.finished_at - j.created_at) * 1000),
                round(extract(epoch FROM u.finished_at - s.started_at) * 1000)
           FROM jobs j JOIN job_steps s ON s.job_id = j.id AND s.step = 'STOP_GUEST'
                       JOIN job_steps u ON u.job_id = j.id AND u.step = 'STARTUP_GUEST'
          WHERE j.id = '$1'" | tr '|' ' '
}

# job_breakdown JOB: where the time went (log only).
job_breakdown() {
    sql "SELECT 'job queued to claimed', round(extract(epoch FROM started_at - created_at) * 1000) FROM jobs WHERE id = '$1'
     UNION ALL SELECT 'claimed to STOP_GUEST (preflight, target bridges)', round(extract(epoch FROM s.started_at - j.started_at) * 1000)
       FROM jobs j JOIN job_steps s ON s.job_id = j.id AND s.step = 'STOP_GUEST' WHERE j.id = '$1'" | sed 's/^/    ms: /'
    sql "SELECT step, status, round(extract(epoch FROM finished_at - started_at) * 1000) AS ms FROM job_steps
      WHERE job_id = '$1' ORDER BY started_at" | sed 's/^/    step ms: /'
}

# expect_moved MODE FROM TO BOOT JOB: every effect of a completed migration FROM -> TO.
expect_moved() {
    local mode=$1 from=$2 to=$3 boot=$4 job=$5 types
    check "$mode: job succeeded" eq succeeded "$(sql "SELECT status FROM jobs WHERE id = '$job'")"
    check "$mode: guest running on $to" eq running "$(domstate $to $G)"
    check "$mode: guest answers on $to's serial console (boot $boot)" grep -q "^KVMOVE-READY boot=$boot" <<<"$(serial $to)"
    check "$mode: same disk followed it: boot counter $boot" eq "$boot" "$(boot_counter $SYSVOL)"
    check "$mode: guest undefined on $from" eq undefined "$(domstate $from $G)"
    check "$mode: autostart enabled on $to" eq enable "$(autostart $to $G)"
    check "$mode: no definition (so no autostart) left on $from" eq "" "$(on $from virsh list --all --name | sed '/^$/d')"
    check "$mode: volumes attached on $to" eq "$CFGVOL $CFGDEV,$SYSVOL $SYSDEV" "$(attached $to)"
    check "$mode: volumes detached from $from" eq "" "$(attached $from)"
    check "$mode: cfg volume mounted on $to" on $to mountpoint -q $LV/guests/$G
    check "$mode: cfg volume unmounted and its directory gone on $from" on $from test ! -e $LV/guests/$G
    check "$mode: fstab entry moved" eq "0 1" "$(on $from grep -c " $LV/guests/$G " /etc/fstab) $(on $to grep -c " $LV/guests/$G " /etc/fstab)"
    check "$mode: bridge $BRIDGE on $to, removed from $from" eq "$BRIDGE|" "$(bridges $to)|$(bridges $from)"
    check "$mode: QEMU on $to holds the disk's write lock (seen from $from)" locked_from $from
    check "$mode: eleven steps recorded in order" eq "$STEPS" \
        "$(sql "SELECT string_agg(step, ',' ORDER BY array_position(string_to_array('$STEPS', ','), step)) FROM job_steps WHERE job_id = '$job'")"
    check "$mode: nine steps succeeded, NAT steps skipped" eq "skipped:2 succeeded:9" \
        "$(sql "SELECT string_agg(status || ':' || n, ' ' ORDER BY status) FROM (SELECT status, count(*) n FROM job_steps WHERE job_id = '$job' GROUP BY status) x")"
    lab kvmove events >"$RH_DIR/events.jsonl" 2>/dev/null
    types=$(jq -r --arg j "$job" 'select(.data.job_id == $j) | .type' "$RH_DIR/events.jsonl" | sed 's/^io\.kvmove\.//')
    check "$mode: events accepted, preflight.passed first, job.succeeded last" eq "job.accepted preflight.passed job.succeeded" \
        "$(echo $(head -n2 <<<"$types") $(tail -n1 <<<"$types"))"
    check "$mode: events: 11 step.started, 9 step.completed, 2 step.skipped" eq "11 9 2" \
        "$(grep -cx step.started <<<"$types") $(grep -cx step.completed <<<"$types") $(grep -cx step.skipped <<<"$types")"
}

# 1. OFFLINE: graceful ACPI shutdown on H1, started on H2.
out=$(lab kvmove submit --guest $G --mode offline --src $H1.example.com --tgt $H2.example.com --wait --timeout 300 2>&1)
rc=$?
echo "$out" | sed 's/^/    /'
check "OFFLINE: submit --wait exits 0" eq 0 "$rc"
job1=$(sql "SELECT id FROM jobs WHERE guest = '$G' ORDER BY created_at DESC LIMIT 1")
expect_moved OFFLINE $H1 $H2 2 "$job1"
check "OFFLINE: the guest shut down gracefully (ACPI power button) on $H1" grep -q "power button, powering off" <<<"$(serial $H1)"
read -r total1 down1 <<<"$(job_times "$job1")"
job_breakdown "$job1"
rh_log "OFFLINE: migration ${total1} ms, guest downtime ${down1} ms (STOP_GUEST start to ready)"

# 2. OFFLINEFORCE back: destroyed on H2 (no graceful shutdown), started on H1.
out=$(lab kvmove submit --guest $G --mode offlineforce --src $H2.example.com --tgt $H1.example.com --wait --timeout 300 2>&1)
rc=$?
echo "$out" | sed 's/^/    /'
check "OFFLINEFORCE: submit --wait exits 0" eq 0 "$rc"
job2=$(sql "SELECT id FROM jobs WHERE guest = '$G' ORDER BY created_at DESC LIMIT 1")
expect_moved OFFLINEFORCE $H2 $H1 3 "$job2"
check "OFFLINEFORCE: the guest was destroyed, not shut down, on $H2" eq 0 "$(serial $H2 | grep -c "power button")"
read -r total2 down2 <<<"$(job_times "$job2")"
job_breakdown "$job2"
rh_log "OFFLINEFORCE: migration ${total2} ms, guest downtime ${down2} ms"

# rh_until SECONDS DESCRIPTION COMMAND...: polls COMMAND (0.2 s) until it succeeds; 1 after
# SECONDS, saying what it waited for.
rh_until() {
    local t=$1 what=$2 i
    shift 2
    for ((i = 0; i < t * 5; i++)); do "$@" && return 0; sleep 0.2; done
    "$@" && return 0
    echo "    timed out after $t s waiting for $what" >&2
    return 1
}
# power_off HOST: HOST loses power: every process it runs (the guest's QEMU, libvirtd, sshd and
# their sessions) is killed at once; its disks stay (the namespace's files and mounts), its /run
# (a tmpfs) is lost.
# host_procs HOST: the processes HOST runs, its namespace's init (and the unshare that made it,
# which shares the network namespace) and the init's sleeps left out.
host_procs() {
    local q
    for q in $(rh_pids_in_ns "${RH_HOST_PID[$1]}"); do
        [[ $q == "${RH_HOST_UPID[$1]}" || $(cat "/proc/$q/comm" 2>/dev/null) == sleep ]] || echo "$q"
    done
}
no_host_procs() { [[ -z $(host_procs "$1") ]]; }
power_off() {
    local h=$1 p
    for p in $(host_procs "$h"); do kill -KILL "$p" 2>/dev/null; done
    rh_until 10 "every process of $h to end" no_host_procs "$h"
    on "$h" sh -c 'rm -rf /run/libvirt/* /run/sshd.pid'
}
# power_on HOST: HOST boots: sshd and libvirtd start (libvirtd autostarts what is set to).
power_on() { rh_host_daemons "$1"; rh_host_ready "$1"; }
cleanup_status() { sql "SELECT status FROM host_cleanups WHERE job_id = '$1'"; }
cleanup_done() { [[ $(cleanup_status "$1") == done ]]; }

# 3. OFFLINEFORCE from a dead source: H1 loses power with the guest running; the guest is
# resurrected on H2 (source-side steps skipped, autostart on H2 deferred: the stale definition
# on H1 still has it). H1 comes back: its libvirtd tries to autostart the stale copy, which QEMU's
# image lock refuses (H2's QEMU holds the disk); a worker thread removes the stale copy and only
# then enables autostart on H2.
power_off $H1
check "dead source: H1 answers no SSH" eq 255 "$(lab ssh -i "$RH_DIR/id_ed25519" -o UserKnownHostsFile="$RH_DIR/known_hosts" -o BatchMode=yes -o ConnectTimeout=5 root@${RH_HOST_IP[$H1]} true >/dev/null 2>&1; echo $?)"
out=$(lab kvmove submit --guest $G --mode offlineforce --src $H1.example.com --tgt $H2.example.com --wait --timeout 300 2>&1)
rc=$?
echo "$out" | sed 's/^/    /'
check "dead source: OFFLINEFORCE exits 0" eq 0 "$rc"
job5=$(sql "SELECT id FROM jobs WHERE guest = '$G' ORDER BY created_at DESC LIMIT 1")
check "dead source: job succeeded" eq succeeded "$(sql "SELECT status FROM jobs WHERE id = '$job5'")"
check "dead source: source-side steps skipped as unreachable" eq "DETACH_INTERFACES,REMOVE_BRIDGES,STOP_GUEST" \
    "$(sql "SELECT string_agg(step, ',' ORDER BY step) FROM job_steps WHERE job_id = '$job5' AND status = 'skipped' AND message LIKE '%unreachable%'")"
check "dead source: guest running on H2, ready (boot 4)" eq "running" "$(domstate $H2 $G)"
check "dead source: the same disk followed it (boot counter 4)" eq 4 "$(boot_counter $SYSVOL)"
check "dead source: H2's serial console says ready, boot 4" grep -q "^KVMOVE-READY boot=4" <<<"$(serial $H2)"
check "dead source: no autostart on H2 while the stale copy may exist" eq disable "$(autostart $H2 $G)"
check "dead source: the cleanup of H1 is pending" eq pending "$(cleanup_status "$job5")"
lab kvmove events >"$RH_DIR/events5.jsonl" 2>/dev/null
check "dead source: cleanup.pending event" eq 1 "$(jq -r --arg j "$job5" 'select(.data.job_id == $j and .type == "io.kvmove.cleanup.pending") | .id' "$RH_DIR/events5.jsonl" | wc -l)"
qlog_before=$(on $H1 cat /var/log/libvirt/qemu/$G.log 2>/dev/null | wc -l)
power_on $H1
stale_refused() { on $H1 tail -n +$((qlog_before + 1)) /var/log/libvirt/qemu/$G.log 2>/dev/null | grep -q '"write" lock'; }
check "H1 back: its libvirtd autostarted the stale copy, and QEMU refused it the disk (H2 holds the write lock)" \
    rh_until 30 "H1's QEMU log to show the refused start" stale_refused
check "H1 back: the stale copy is not running" test "$(domstate $H1 $G)" != running
check "H1 back: a worker removes the stale copy" rh_until 60 "the cleanup of H1" cleanup_done "$job5"
check "H1 back: the stale copy never booted (boot counter still 4)" eq 4 "$(boot_counter $SYSVOL)"
check "H1 back: the stale definition (and its autostart) gone from H1" eq undefined "$(domstate $H1 $G)"
check "H1 back: no definition left on H1" eq "" "$(on $H1 virsh list --all --name | sed '/^$/d')"
check "H1 back: autostart moved to H2 once the stale copy was gone" eq enable "$(autostart $H2 $G)"
check "H1 back: cfg volume unmounted and its directory gone on H1" on $H1 test ! -e $LV/guests/$G
check "H1 back: fstab entry gone on H1" eq 0 "$(on $H1 grep -c " $LV/guests/$G " /etc/fstab)"
check "H1 back: volumes detached from H1" eq "" "$(attached $H1)"
check "H1 back: bridge $BRIDGE removed from H1" eq "" "$(bridges $H1)"
check "H1 back: guest still running on H2" eq running "$(domstate $H2 $G)"
check "H1 back: QEMU on H2 holds the disk's write lock (seen from H1)" locked_from $H1
lab kvmove events >"$RH_DIR/events5.jsonl" 2>/dev/null
check "H1 back: cleanup.completed event" eq 1 "$(jq -r --arg j "$job5" 'select(.data.job_id == $j and .type == "io.kvmove.cleanup.completed") | .id' "$RH_DIR/events5.jsonl" | wc -l)"

# 4. A failure on the target before the commit point (MIGRATE_GUEST): H1's attachment
# directory is unusable, so ATTACH_VOLUMES fails after the guest stopped on H2.
on $H1 sh -c "mkdir -p $LV && rm -rf $LV/volumes && touch $LV/volumes"
out=$(lab kvmove submit --guest $G --mode offline --src $H2.example.com --tgt $H1.example.com --wait --timeout 300 2>&1)
rc=$?
echo "$out" | sed 's/^/    /'
job3=$(sql "SELECT id FROM jobs WHERE guest = '$G' ORDER BY created_at DESC LIMIT 1")
check "fault: submit --wait exits non-zero" test "$rc" -ne 0
check "fault: job failed at ATTACH_VOLUMES" eq "failed ATTACH_VOLUMES" \
    "$(sql "SELECT j.status, s.step FROM jobs j JOIN job_steps s ON s.job_id = j.id AND s.status = 'failed' WHERE j.id = '$job3'" | tr '|' ' ')"
check "fault: MIGRATE_GUEST (the commit point) did not run" eq "" \
    "$(sql "SELECT status FROM job_steps WHERE job_id = '$job3' AND step = 'MIGRATE_GUEST' AND status NOT IN ('pending')")"
check "fault: guest still defined on $H2, shut off" eq "shut off" "$(domstate $H2 $G)"
check "fault: guest not defined on $H1" eq undefined "$(domstate $H1 $G)"
check "fault: running nowhere" eq 0 "$( (on $H1 virsh list --name; on $H2 virsh list --name) | grep -c .)"
check "fault: no QEMU holds the disk" on $H2 qemu-io -f raw -c 'read 0 512' /srv/kvmove-shared/$SYSVOL
check "fault: autostart only on $H2" eq "|enable" "$(autostart $H1 $G)|$(autostart $H2 $G)"
on $H1 rm -f $LV/volumes
out=$(lab kvmove replay "$job3" --wait --timeout 300 2>&1)
rc=$?
echo "$out" | sed 's/^/    /'
check "replay: exits 0" eq 0 "$rc"
job4=$(sql "SELECT id FROM jobs WHERE replay_of = '$job3'")
check "replay: a new attempt linked to the failed job" test -n "$job4"
check "replay: succeeded" eq succeeded "$(sql "SELECT status FROM jobs WHERE id = '$job4'")"
check "replay: guest running on $H1 and ready (boot 5)" grep -q "^KVMOVE-READY boot=5" <<<"$(serial $H1)"
check "replay: same disk (boot counter 5)" eq 5 "$(boot_counter $SYSVOL)"
check "replay: undefined on $H2, autostart on $H1" eq "undefined enable" "$(domstate $H2 $G) $(autostart $H1 $G)"
check "replay: volumes on $H1 only" eq "$CFGVOL $CFGDEV,$SYSVOL $SYSDEV|" "$(attached $H1)|$(attached $H2)"
# expect_back HOST OTHER BOOT WHAT: the guest was put back on HOST: running and answering on
# HOST's console (boot BOOT), the same disk, autostart and volumes on HOST only.
expect_back() {
    local h=$1 o=$2 boot=$3 what=$4
    check "$what: guest running on $h and ready (boot $boot)" grep -q "^KVMOVE-READY boot=$boot" <<<"$(serial $h)"
    check "$what: same disk (boot counter $boot)" eq "$boot" "$(boot_counter $SYSVOL)"
    check "$what: defined with autostart on $h only" eq "running enable undefined" "$(domstate $h $G) $(autostart $h $G) $(domstate $o $G)"
    check "$what: volumes on $h only" eq "$CFGVOL $CFGDEV,$SYSVOL $SYSDEV|" "$(attached $h)|$(attached $o)"
    check "$what: cfg volume mounted on $h" on $h mountpoint -q $LV/guests/$G
}

# 4. kvmove rollback: a failure on H2 (the target now) before the commit point, then the
# rollback puts the guest back on H1 and starts it there.
on $H2 sh -c "mkdir -p $LV && rm -rf $LV/volumes && touch $LV/volumes"
lab kvmove submit --guest $G --mode offline --src $H1.example.com --tgt $H2.example.com --wait --timeout 300 >/dev/null 2>&1
job7=$(sql "SELECT id FROM jobs WHERE guest = '$G' ORDER BY created_at DESC LIMIT 1")
check "rollback: the job failed at ATTACH_VOLUMES, the guest down on $H1" eq "failed|shut off" "$(sql "SELECT status FROM jobs WHERE id = '$job7'")|$(domstate $H1 $G)"
on $H2 rm -f $LV/volumes
out=$(lab kvmove rollback "$job7" --reason "real-host lane" --wait --timeout 300 2>&1)
rc=$?
echo "$out" | sed 's/^/    /'
check "rollback: exits 0" eq 0 "$rc"
check "rollback: a rollback attempt linked to the job" eq "rollback|succeeded" "$(sql "SELECT action, status FROM jobs WHERE replay_of = '$job7'")"
expect_back $H1 $H2 6 rollback

# 5. kvmove cancel at a step boundary: DETACH_INTERFACES waits (a shell function in H1's root
# .bashrc, which sshd's commands source, holds `virsh domiflist` while /run/kvmove-pause
# exists); the cancel is recorded meanwhile; the job ends cancelled at the next boundary and its
# rollback starts the guest on H1 again.
if on $H1 findmnt -n /root/.bashrc >/dev/null 2>&1; then
    on $H1 sh -c 'cat >/root/.bashrc' <<'BASHRC'
virsh() {
    if [ "$1" = domiflist ] && [ -e /run/kvmove-pause ]; then
        : >/run/kvmove-paused
        while [ -e /run/kvmove-pause ]; do sleep 0.1; done
    fi
    command virsh "$@"
}
BASHRC
    on $H1 touch /run/kvmove-pause
    lab kvmove submit --guest $G --mode offline --src $H1.example.com --tgt $H2.example.com 2>&1 | sed 's/^/    /'
    for _ in $(seq 600); do on $H1 test -e /run/kvmove-paused && break; sleep 0.2; done
    job8=$(sql "SELECT id FROM jobs WHERE guest = '$G' AND action = 'migrate_guest' ORDER BY created_at DESC LIMIT 1")
    check "cancel: the job waits in DETACH_INTERFACES" eq running "$(sql "SELECT status FROM job_steps WHERE job_id = '$job8' AND step = 'DETACH_INTERFACES'")"
    out=$(lab kvmove --json cancel "$job8" --reason "real-host lane" --wait --timeout 60 2>&1)
    check "cancel: requested" eq requested "$(jq -r .outcome <<<"$out" 2>/dev/null)"
    on $H1 rm -f /run/kvmove-pause
    for _ in $(seq 600); do [[ $(sql "SELECT status FROM jobs WHERE id = '$job8'") == cancelled ]] && break; sleep 0.2; done
    check "cancel: the job ended cancelled" eq cancelled "$(sql "SELECT status FROM jobs WHERE id = '$job8'")"
    rb=$(sql "SELECT id FROM jobs WHERE action = 'rollback' AND replay_of = '$job8'")
    for _ in $(seq 1500); do [[ $(sql "SELECT status FROM jobs WHERE id = '${rb:-00000000-0000-0000-0000-000000000000}'") =~ ^(succeeded|failed)$ ]] && break; sleep 0.2; done
    check "cancel: its rollback succeeded" eq succeeded "$(sql "SELECT status FROM jobs WHERE id = '${rb:-00000000-0000-0000-0000-000000000000}'")"
    expect_back $H1 $H2 7 cancel
    on $H1 sh -c ': >/root/.bashrc'
else
    check "cancel: H1's /root/.bashrc is the host's own (bind-mounted) file" false
fi

for _ in $(seq 50); do [[ $(sql "SELECT count(*) FROM outbox WHERE published_at IS NULL") == 0 ]] && break; sleep 0.1; done
check "all jobs: every event published" eq 0 "$(sql "SELECT count(*) FROM outbox WHERE published_at IS NULL")"
read -r total5 down5 <<<"$(job_times "$job5")"
rh_log "measured on real QEMU (TCG): OFFLINE ${total1} ms (downtime ${down1} ms), OFFLINEFORCE ${total2} ms (downtime ${down2} ms), OFFLINEFORCE from a dead host ${total5} ms, lane $((SECONDS - t_setup)) s"
