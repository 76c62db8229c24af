#!/bin/bash
# kvmove evacuate: every guest off a host, placed by capacity (memory never over-committed),
# several migrations at once, each guest's outcome reported.
. "${BASH_SOURCE[0]%/*}/lib.sh"
xml=$(mktemp /tmp/kvmove-evac.XXXXXX.xml)
# Five 16 GiB guests on exa01adm01; every host has 40 GiB: a target takes at most two.
"$IT_TOP/bench/gen_esxml" 5 16384 2 40960 >"$xml"
it_setup evacuate "$xml"
rm -f "$xml"
it_worker_start 1 -j 4

H=exa01adm01.example.com
plan=$(kvmove evacuate --host $H --targets exa01adm02.example.com,exa01adm03.example.com --dry-run)
echo "$plan"
check "dry run places four guests, two per target" eq 4 "$(grep -c ' -> exa01adm0[23]' <<<"$plan")"
check "dry run says which guest does not fit, and why on each target" eq 2 "$(grep -c 'exa01adm0[23].example.com: target_memory failed: .* reserved by the planned move of benchvm.*, the planned move of benchvm.*needs 16384 MiB' <<<"$plan")"
check "dry run changes nothing" eq 0 "$(sql "SELECT count(*) FROM jobs")"

out=$(kvmove evacuate --host $H --targets exa01adm02.example.com,exa01adm03.example.com --max-parallel 4)
rc=$?
echo "$out"
check "evacuation with an unplaceable guest exits 1" eq 1 "$rc"
check "four jobs succeeded" eq 4 "$(sql "SELECT count(*) FROM jobs WHERE status = 'succeeded'")"
for t in exa01adm02.example.com exa01adm03.example.com; do
    check "$t runs two guests (40 GiB, 16 GiB each)" eq 2 "$(host_state $t | grep -c '^domain benchvm.* running$')"
done
check "source keeps only the guest that fits nowhere" eq 1 "$(host_state $H | grep -c '^domain benchvm')"
check "outcome reported per guest" eq 4 "$(grep -c -- '-> .*moved: migration completed' <<<"$out")"
check "migrations overlapped (several jobs running at once)" test "$(sql "SELECT count(*) FROM jobs a JOIN jobs b ON a.id < b.id AND a.started_at < b.finished_at AND b.started_at < a.finished_at")" -gt 0
check "no safety violation" "$HOSTSIM" check "$IT_HOSTS"
