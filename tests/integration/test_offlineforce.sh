#!/bin/bash
# OFFLINEFORCE: resurrect a guest from a dead host and keep the stale copy from coming back;
# a hung guest is destroyed; OFFLINE refuses an unreachable source and points to OFFLINEFORCE.
. "${BASH_SOURCE[0]%/*}/lib.sh"
it_setup offlineforce
it_worker_start 1
S=exa01adm02.example.com
inv() { check "safety invariant held ($1)" "$HOSTSIM" check "$IT_HOSTS"; }

# (c) OFFLINE with the source down: refused, nothing changed, the message says what to do.
"$HOSTSIM" power-off "$IT_HOSTS" $S
kvmove submit --guest exa01vm02.example.com --mode offline --src $S --tgt exa01adm04.example.com --wait --timeout 120 >"$IT_DIR/c.out" 2>&1
check "OFFLINE with a dead source fails" eq 1 "$?"
jc=$(sql "SELECT id FROM jobs WHERE guest = 'exa01vm02.example.com'")
check "the reason names OFFLINEFORCE" grep -q "OFFLINEFORCE" <<<"$(sql "SELECT error FROM jobs WHERE id = '$jc'") $(sql "SELECT string_agg(message, ' ') FROM preflight_results WHERE job_id = '$jc'")"
check "target untouched by the refused job" eq "" "$(host_effects exa01adm04.example.com)"

# (a) OFFLINEFORCE with the source powered off.
G=exa01vm01.example.com T=exa01adm06.example.com
out=$(kvmove submit --guest $G --mode offlineforce --src $S --tgt $T --wait --timeout 120)
check "OFFLINEFORCE from a dead host succeeds" eq 0 "$?"
echo "$out"
job=$(sql "SELECT id FROM jobs WHERE guest = '$G'")
check "guest runs on the target" grep -qx "domain $G running" <<<"$(host_state $T)"
check "autostart on the target waits for the stale copy to go (never on two hosts)" eq 0 "$(grep -cx "autostart $G" <<<"$(host_state $T)")"
for v in sys cfg gih01 dbh01 u01; do
    check "volume exa01vm01_$v attached to the target" grep -qx "attached exa01vm01_$v" <<<"$(host_state $T)"
done
check "source-side steps skipped with the reason" eq "DETACH_INTERFACES,REMOVE_BRIDGES,STOP_GUEST" \
    "$(sql "SELECT string_agg(step, ',' ORDER BY step) FROM job_steps WHERE job_id = '$job' AND status = 'skipped' AND message LIKE '%unreachable%'")"
check "volumes detached storage-side" grep -q "storage-side" <<<"$(sql "SELECT message FROM job_steps WHERE job_id = '$job' AND step = 'DETACH_VOLUMES'")"
check "cleanup of the source recorded as pending" eq "$S:pending" "$(sql "SELECT host || ':' || status FROM host_cleanups WHERE job_id = '$job'")"
check "status shows the pending cleanup" grep -q "$S *pending" <<<"$(kvmove status "$job")"
kvmove events >"$IT_DIR/events1.jsonl"
check "cleanup.pending event" eq 1 "$(jq -r --arg j "$job" 'select(.data.job_id == $j and .type == "io.kvmove.cleanup.pending") | .id' "$IT_DIR/events1.jsonl" | wc -l)"
check "step.skipped events for the source-side steps" test "$(jq -r --arg j "$job" 'select(.data.job_id == $j and .type == "io.kvmove.step.skipped") | .id' "$IT_DIR/events1.jsonl" | wc -l)" -ge 3
# The listing, as JSON (the README: --json on every listing) and as text; it runs nothing.
cl=$(kvmove cleanup --list --json 2>"$IT_DIR/cleanup.err"); rc=$?
check "cleanup --list --json: exit 1 (a cleanup is pending)" eq 1 "$rc"
check "cleanup --list --json: nothing on stderr" eq "" "$(cat "$IT_DIR/cleanup.err")"
check "cleanup --list --json: the pending cleanup with host, guest, job" eq "$S $G pending $job" \
    "$(jq -r '.[] | "\(.host) \(.guest) \(.status) \(.job_id)"' <<<"$cl")"
check "cleanup --list: the text row" grep -qE "^  $S +$G +pending +$job" <<<"$(kvmove cleanup --list)"
check "global --json works for cleanup --list too" eq pending "$(kvmove --json cleanup --list | jq -r '.[0].status')"
kvmove cleanup --host $S >"$IT_DIR/cleanup.out" 2>&1
check "kvmove cleanup while the host is down: still pending, exit 1" eq 1 "$?"
check "the attempt is counted with its error" test "$(sql "SELECT attempts FROM host_cleanups WHERE job_id = '$job'")" -ge 1
inv "source off"

# The dead host comes back: its stale copy must never run again, and is cleaned up. The
# target's libvirtd does not answer at first: "could not ask" is not "no longer defined", so
# the cleanup stays pending (autostart still to move) until the target answers again.
"$HOSTSIM" fault "$IT_HOSTS" $T fail-always "virsh "
"$HOSTSIM" power-on "$IT_HOSTS" $S
inv "right after power-on"
check "stale copy did not start (its disks are gone)" grep -qx "domain $G shut off" <<<"$(host_state $S)"
check "boot log says why" grep -q "autostart of .*$G failed: disks missing" "$IT_HOSTS/hosts/$S/boot.log"
for _ in $(seq 100); do
    [[ $(sql "SELECT status = 'done' OR last_error LIKE '%dominfo%' FROM host_cleanups WHERE job_id = '$job'") == t ]] && break
    sleep 0.2
done
check "target's libvirtd down: the cleanup is tried and stays pending" eq pending "$(sql "SELECT status FROM host_cleanups WHERE job_id = '$job'")"
check "...saying the target could not be asked" grep -q "virsh dominfo $G.*injected failure" <<<"$(sql "SELECT last_error FROM host_cleanups WHERE job_id = '$job'")"
check "...and the stale definition is gone from the source meanwhile" eq 0 "$(grep -c "domain $G" <<<"$(host_state $S)")"
check "no autostart on the target yet" eq 0 "$(grep -cx "autostart $G" <<<"$(host_state $T)")"
"$HOSTSIM" fault "$IT_HOSTS" $T clear
for _ in $(seq 100); do
    [[ $(sql "SELECT status FROM host_cleanups WHERE job_id = '$job'") == done ]] && break
    sleep 0.2
done
check "a worker cleaned the source by itself" eq done "$(sql "SELECT status FROM host_cleanups WHERE job_id = '$job'")"
src=$(host_state $S)
check "stale domain undefined on the source" eq 0 "$(grep -c "domain $G" <<<"$src")"
check "no autostart left on the source" eq 0 "$(grep -c "autostart $G" <<<"$src")"
check "no mount or fstab entry left" eq 0 "$(grep -cE "^(mount|fstab) .*GuestImages/$G" <<<"$src")"
check "the other guest on the source is untouched" grep -qx "domain exa01vm02.example.com running" <<<"$src"
check "guest still runs on the target" grep -qx "domain $G running" <<<"$(host_state $T)"
check "autostart moved to the target once the stale copy was gone" grep -qx "autostart $G" <<<"$(host_state $T)"
kvmove events >"$IT_DIR/events2.jsonl"
check "cleanup.completed event" eq 1 "$(jq -r --arg j "$job" 'select(.data.job_id == $j and .type == "io.kvmove.cleanup.completed") | .id' "$IT_DIR/events2.jsonl" | wc -l)"
check "kvmove cleanup: nothing pending now" kvmove cleanup --host $S
cl=$(kvmove cleanup --list --json --host $S); rc=$?
check "cleanup --list --json: exit 0, the cleanup done" eq "0 done $job" "$rc $(jq -r '.[] | "\(.status) \(.job_id)"' <<<"$cl")"
check "cleanup --list --json --guest other: no rows" eq 0 "$(kvmove cleanup --list --json --guest exa01vm09.example.com | jq length)"
inv "after cleanup"

# (b) A hung guest: OFFLINE cannot stop it gracefully; OFFLINEFORCE destroys it and moves on.
G2=exa01vm03.example.com S2=exa01adm01.example.com T2=exa01adm03.example.com
"$HOSTSIM" hang-guest "$IT_HOSTS" $S2 $G2
kvmove submit --guest $G2 --mode offline --src $S2 --tgt $T2 --wait --timeout 120 >/dev/null 2>&1
check "OFFLINE on a hung guest fails" eq failed "$(sql "SELECT status FROM jobs WHERE guest = '$G2'")"
check "...at STOP_GUEST with the host's words" grep -q "ACPI" <<<"$(sql "SELECT error FROM jobs WHERE guest = '$G2'")"
check "hung guest still running on its host" grep -qx "domain $G2 running" <<<"$(host_state $S2)"
kvmove submit --guest $G2 --mode offlineforce --src $S2 --tgt $T2 --wait --timeout 120 >/dev/null
check "OFFLINEFORCE moves the hung guest" eq 0 "$?"
check "it was destroyed, not shut down" eq 1 "$(host_effects $S2 | grep -c "^vm_maker --stop-domain $G2 --force$")"
check "hung guest runs on the target" grep -qx "domain $G2 running" <<<"$(host_state $T2)"
check "no cleanup pending for a reachable source" eq 0 "$(sql "SELECT count(*) FROM host_cleanups WHERE guest = '$G2'")"
inv "end"
