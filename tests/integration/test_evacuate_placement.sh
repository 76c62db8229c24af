#!/bin/bash
# kvmove evacuate places by preflight (issue 13): the target with the most free memory fails a
# check (outstanding Live Update work, as the live host reports it), so the guests go to the
# other target, which has room for them; a guest with no valid target is reported with each
# candidate's failing check, and nothing is published for it (no request on the topic, no job).
. "${BASH_SOURCE[0]%/*}/lib.sh"
xml=$(mktemp /tmp/kvmove-evacp.XXXXXX.xml)
# Three 8 GiB guests on exa01adm01; every host has 40 GiB in es.xml.
"$IT_TOP/bench/gen_esxml" 3 8192 2 40960 >"$xml"
it_setup evacuate_placement "$xml"
rm -f "$xml"
H=exa01adm01.example.com A=exa01adm02.example.com B=exa01adm03.example.com

# info_set H KEY VALUE: the simulated host H reports KEY: VALUE.
info_set() {
    local f=$IT_HOSTS/hosts/$1/info
    grep -v "^$2:" "$f" >"$f.new"
    echo "$2: $3" >>"$f.new"
    mv "$f.new" "$f"
}
# requests: the migration requests on kvmove.requests (the plan requests evacuate asks a worker
# for are not moves).
requests() { kcat -C -b "$KVMOVE_BROKERS" -t kvmove.requests -e -o beginning -q -f '%s\n' 2>/dev/null | grep -c '"action":"migrate_guest"'; }

# A has the most free memory (40 GiB) but outstanding Live Update work; B reports 30000 MiB.
info_set $A LiveUpdatePending yes
info_set $B MemoryMB 30000
it_worker_start 1 -j 4

plan=$(kvmove evacuate --host $H --targets $A,$B --dry-run)
echo "$plan"
check "dry run: every guest goes to the target that passes preflight" eq 3 "$(grep -c " -> $B\$" <<<"$plan")"
check "dry run: nothing on the target with the most free memory" eq 0 "$(grep -c " -> $A" <<<"$plan")"
check "dry run publishes nothing" eq 0 "$(requests)"

out=$(kvmove evacuate --host $H --targets $A,$B --max-parallel 3)
rc=$?
echo "$out"
check "evacuation exits 0" eq 0 "$rc"
check "three jobs succeeded, all to $B" eq "3 $B" "$(sql "SELECT count(*) || ' ' || min(tgt_host) FROM jobs WHERE status = 'succeeded' AND tgt_host = '$B'")"
check "$B runs the three guests" eq 3 "$(host_state $B | grep -c '^domain benchvm.* running$')"
check "$A runs none" eq 0 "$(host_state $A | grep -c '^domain benchvm')"

# Evacuating B to A only: A still fails its check, so no guest has a valid target.
before=$(requests)
plan=$(kvmove evacuate --host $B --targets $A --dry-run)
echo "$plan"
check "no valid target: each guest is reported not moved" eq 3 "$(grep -c 'not moved: no target passes preflight' <<<"$plan")"
check "no valid target: the failing check of the candidate is named" eq 3 "$(grep -c "$A: liveupdate_target failed" <<<"$plan")"
out=$(kvmove evacuate --host $B --targets $A)
rc=$?
echo "$out"
check "evacuation with no valid target exits 1" eq 1 "$rc"
sleep 1
check "nothing was published for the unplaced guests" eq "$before" "$(requests)"
check "no job was recorded for them" eq 3 "$(sql "SELECT count(*) FROM jobs")"
check "no safety violation" "$HOSTSIM" check "$IT_HOSTS"
