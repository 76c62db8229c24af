#!/bin/bash
# kvmove evacuate: every guest off a host, placed by capacity: largest guest first, each on the
# target with the most free memory that fits it, memory reserved by jobs in flight counted,
# memory never over-committed; several migrations at once; each guest's outcome reported.
# The guests differ in size and the targets in free memory, chosen so that other rules (first
# fit, smallest first, the order es.xml lists the guests, ignoring reservations) would place
# them differently.
. "${BASH_SOURCE[0]%/*}/lib.sh"
. "${BASH_SOURCE[0]%/*}/waits.sh"
H=exa01adm01.example.com A=exa01adm02.example.com B=exa01adm03.example.com
D=exa01adm04.example.com
xml=$(mktemp /tmp/kvmove-evac.XXXXXX.xml)
# Five guests of exa01adm01 (bench/gen_esxml), then resized: benchvm1..4 of 4, 16, 8 and 12 GiB;
# benchvm5 (8 GiB) moves to exa01adm04 (not evacuated: it makes a reservation below). Targets:
# exa01adm02 with 21 GiB, exa01adm03 with 24 GiB, both empty.
"$IT_TOP/bench/gen_esxml" 5 8192 2 1048576 >"$xml.gen"
python3 - "$xml.gen" >"$xml" <<'PY'
import re, sys
x = open(sys.argv[1]).read()
def field(x, name, tag, value):  # sets TAG of the machine whose hostName is NAME
    pat = r"(<hostName>%s</hostName>(?:(?!</machine>).)*?<%s>)\d+" % (re.escape(name), tag)
    y, n = re.subn(pat, r"\g<1>%d" % value, x, count=1, flags=re.S)
    assert n == 1, name
    return y
for g, mb in ((1, 4096), (2, 16384), (3, 8192), (4, 12288), (5, 8192)):
    x = field(x, "benchvm%d.example.com" % g, "guestMemory", mb)
for h, mb in (("02", 21504), ("03", 24576)):
    x = field(x, "exa01adm%s.example.com" % h, "memoryMB", mb)
ref = '      <machine id="benchvm5_id"/>\n'
assert ref in x
x = x.replace(ref, "", 1)
i = x.index("<hostName>exa01adm04.example.com</hostName>")
j = x.index("    </machine>", i)
x = x[:j] + ref + x[j:]
sys.stdout.write(x)
PY
rm -f "$xml.gen"
it_setup evacuate "$xml"
cp "$xml" "$IT_DIR/es.xml"
rm -f "$xml"
it_worker_start 1 -j 4 -o worker.step_retries=0
check "fixture: benchvm5 on exa01adm04, four guests of 4-16 GiB on exa01adm01" eq \
    "benchvm5.example.com|benchvm1 4096,benchvm2 16384,benchvm3 8192,benchvm4 12288" \
    "$(host_state $D | sed -n 's/^domain \(benchvm[0-9.a-z]*\) running$/\1/p')|$(for g in 1 2 3 4; do
        echo "benchvm$g $(xmllint --xpath "string(//machine[hostName='benchvm$g.example.com']/guestMemory)" "$IT_DIR/es.xml")"
    done | paste -sd,)"

# plan_of OUTPUT: the plan's "GUEST -> TARGET" lines in the order printed, short names.
plan_of() { sed -n 's/^  \(benchvm[0-9]*\)\.example\.com .* -> \(.*\)$/\1 \2/p' <<<"$1" | sed 's/ exa01\(adm0[0-9]\)\.example\.com$/ \1/; s/ not moved: .*/ -/'; }
EVAC=(--host $H --targets $A,$B)

# 1. A job in flight to exa01adm03 reserves benchvm5's 8 GiB there (it waits in its first step on
# that host): the plan counts it. 16 GiB first, to exa01adm02 (21 GiB free beats 24 - 8 = 16);
# then 12 GiB to exa01adm03; 8 GiB fits nowhere now; 4 GiB to exa01adm02 (5 GiB left beats 4).
"$HOSTSIM" fault "$IT_HOSTS" $B pause "vm_maker --add-bridge"
kvmove submit --guest benchvm5.example.com --mode offline --src $D --tgt $B >"$IT_DIR/resv.out"
resv=$(sed -n 's/^Request \([0-9a-f-]*\) published.*/\1/p' "$IT_DIR/resv.out")
check "a job to exa01adm03 is in flight (paused in CREATE_BRIDGES)" "$HOSTSIM" wait-paused "$IT_HOSTS" $B 30
check "...holding a reservation of 8192 MiB there" eq "$B 8192" \
    "$(sql "SELECT tgt_host || ' ' || memory_mb FROM jobs WHERE id = '$resv'")"
plan=$(kvmove evacuate "${EVAC[@]}" --dry-run)
echo "$plan"
check "dry run with 8 GiB reserved on exa01adm03: largest first, most free memory that fits" eq \
    "benchvm2 adm02,benchvm4 adm03,benchvm3 -,benchvm1 adm02" "$(plan_of "$plan" | paste -sd,)"
check "dry run says which guest does not fit" grep -q "benchvm3.example.com .*not moved: no target passes preflight (2 tried)" <<<"$plan"
check "...and why on each target (the planned moves and the job in flight counted)" eq 2 \
    "$(grep -c 'exa01adm0[23].example.com: target_memory failed: .*reserved by .*the planned move of benchvm[24].example.com), guest benchvm3.example.com needs 8192 MiB' <<<"$plan")"
check "dry run changes nothing (one job: the one in flight)" eq 1 "$(sql "SELECT count(*) FROM jobs")"
# The job in flight fails (its source refuses to stop the guest) and gives its reservation up.
"$HOSTSIM" fault "$IT_HOSTS" $D fail-always "vm_maker --stop-domain"
"$HOSTSIM" fault "$IT_HOSTS" $B clear
"$HOSTSIM" resume "$IT_HOSTS" $B
check "the reserving job fails" eq failed "$(wait_job "$resv" 60)"
"$HOSTSIM" fault "$IT_HOSTS" $D clear

# 2. Nothing reserved: 16 GiB to exa01adm03 (24 free), 12 GiB to exa01adm02 (21), 8 GiB to
# exa01adm02 (9 left beats 8), 4 GiB to exa01adm03 (8 left beats 1). First fit would put 16 GiB
# on exa01adm02, smallest first would leave 16 GiB behind, es.xml order would put 4 GiB first.
plan=$(kvmove evacuate "${EVAC[@]}" --dry-run)
echo "$plan"
check "dry run: largest first, each to the target with the most free memory that fits" eq \
    "benchvm2 adm03,benchvm4 adm02,benchvm3 adm02,benchvm1 adm03" "$(plan_of "$plan" | paste -sd,)"
out=$(kvmove evacuate "${EVAC[@]}" --max-parallel 4)
rc=$?
echo "$out"
check "evacuation exits 0 (every guest moved)" eq 0 "$rc"
check "four jobs succeeded" eq 4 "$(sql "SELECT count(*) FROM jobs WHERE status = 'succeeded'")"
check "placed as planned: exa01adm02 runs benchvm3 and benchvm4" eq "benchvm3 benchvm4" \
    "$(host_state $A | sed -n 's/^domain \(benchvm[0-9]*\)\.example\.com running$/\1/p' | sort | paste -sd' ')"
check "placed as planned: exa01adm03 runs benchvm1 and benchvm2" eq "benchvm1 benchvm2" \
    "$(host_state $B | sed -n 's/^domain \(benchvm[0-9]*\)\.example\.com running$/\1/p' | sort | paste -sd' ')"
check "the source has no guest left" eq 0 "$(host_state $H | grep -c '^domain benchvm')"
check "benchvm5 still runs on exa01adm04 (its job failed before the stop)" grep -qx "domain benchvm5.example.com running" <<<"$(host_state $D)"
# host_mb H: the memory of the guests defined on simulated host H (their es.xml sizes).
host_mb() {
    local g mb=0
    for g in $(host_state "$1" | sed -n 's/^domain \([^ ]*\) .*/\1/p'); do
        mb=$((mb + $(xmllint --xpath "string(//machine[hostName='$g']/guestMemory)" "$IT_DIR/es.xml")))
    done
    echo $mb
}
check "memory never over-committed: exa01adm02 holds 20 of its 21 GiB, exa01adm03 20 of 24" eq \
    "20480 20480" "$(host_mb $A) $(host_mb $B)"
# The newest stored es.xml says the same (every deployment applied to the newest version, also
# when the migrations overlap).
kvmove config save "$IT_DIR/after.xml" >/dev/null
placed_on() { xmllint --xpath "//machine[hostName='$1']/machine/@id" "$IT_DIR/after.xml" 2>/dev/null | grep -o 'benchvm[0-9]*' | sort | paste -sd' '; }
check "the newest es.xml places benchvm3, benchvm4 on exa01adm02 and benchvm1, benchvm2 on exa01adm03" eq \
    "benchvm3 benchvm4|benchvm1 benchvm2|" "$(placed_on $A)|$(placed_on $B)|$(placed_on $H)"
check "outcome reported per guest" eq 4 "$(grep -c -- '-> .*moved: migration completed' <<<"$out")"
check "migrations overlapped (several jobs running at once)" test "$(sql "SELECT count(*) FROM jobs a JOIN jobs b ON a.id < b.id AND a.started_at < b.finished_at AND b.started_at < a.finished_at")" -gt 0
check "no safety violation" "$HOSTSIM" check "$IT_HOSTS"
