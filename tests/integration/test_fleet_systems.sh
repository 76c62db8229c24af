#!/bin/bash
# One database, two systems (exa01 and the cloud system cld02, served by one simulator): each
# keeps its own es.xml versions; a name both claim is refused at load; eight migrations at once
# (three in exa01, five in cld02) on two workers, submitted concurrently, leave the newest
# version of each system placing every guest where it runs with every merged action deployed,
# and neither system's versions carry the other's changes (issue 13: the lost update, one system
# per database). A request naming a guest with an active job in another spelling is rejected
# naming the holder.
. "${BASH_SOURCE[0]%/*}/lib.sh"
. "${BASH_SOURCE[0]%/*}/fleet.sh"
EXA=$IT_TOP/tests/fixtures/exa01.xml CLD=$IT_TOP/tests/fixtures/cld02.xml
UNION=$(mktemp /tmp/kvmove-union.XXXXXX.xml)
fleet_union "$UNION" "$EXA" "$CLD"
it_setup fleet_systems "$UNION" "$EXA" "$CLD"
rm -f "$UNION"
D=dbcloud.example.net
inv() { check "safety invariant held ($1)" "$HOSTSIM" check "$IT_HOSTS"; }

check "two systems, one version each" eq "cld02 1,exa01 1" \
    "$(kvmove config list --json | jq -r 'group_by(.system) | map("\(.[0].system) \(length)") | join(",")')"
check "config list --system shows that system only" eq exa01 "$(kvmove config list --system exa01 --json | jq -r '[.[].system] | unique | join(",")')"
check "config list --system in another case finds it (names compare without regard to case)" eq exa01 \
    "$(kvmove config list --system EXA01 --json | jq -r '[.[].system] | unique | join(",")')"
kvmove config save "$IT_DIR/none.xml" >"$IT_DIR/save.out" 2>&1
check "config save without --system names the systems to choose from" grep -q "(cld02, exa01)" "$IT_DIR/save.out"

# A third file claiming one of exa01's guests (in upper case) is refused, naming both systems.
sed 's/cld02vm05\.dbcloud\.example\.net/EXA01VM03.example.com/; s/name="cld02"/name="cld03"/' "$CLD" >"$IT_DIR/clash.xml"
kvmove config load "$IT_DIR/clash.xml" >"$IT_DIR/clash.out" 2>&1
check "a guest two systems claim is refused at load" eq 1 "$?"
check "the refusal names both systems" grep -q "system cld03 names .*exa01vm03.example.com (system exa01)" "$IT_DIR/clash.out"
check "nothing of the refused system is stored" eq 0 "$(sql "SELECT count(*) FROM configs WHERE system_name = 'cld03'")"

it_worker_start 1 -j 4
it_worker_start 2 -j 4

# Eight migrations at once, each submitted (validated, merged, published) concurrently: every
# merge and every deployment builds on the newest version of its system when it commits.
MOVES=(
    "exa01vm01.example.com exa01adm02.example.com exa01adm03.example.com"
    "EXA01VM02.example.com exa01adm02.example.com exa01adm04.example.com"
    "exa01vm03.example.com exa01adm01.example.com exa01adm05.example.com"
    "cld02vm01.$D cld02kvm01.$D cld02kvm04.$D"
    "cld02vm02.$D cld02kvm01.$D cld02kvm03.$D"
    "cld02vm03.$D cld02kvm02.$D cld02kvm04.$D"
    "cld02vm04.$D cld02kvm02.$D cld02kvm03.$D"
    "cld02vm05.$D cld02kvm03.$D cld02kvm04.$D"
)
i=0 pids=()
for m in "${MOVES[@]}"; do
    read -r g s t <<<"$m"
    kvmove submit --guest "$g" --mode offline --src "$s" --tgt "$t" >"$IT_DIR/submit.$i.out" 2>&1 &
    pids+=($!)
    i=$((i + 1))
done
wait "${pids[@]}"
check "eight merges validated" eq 8 "$(grep -l "Action Validated and Merged OK" "$IT_DIR"/submit.*.out | wc -l)"
for _ in $(seq 1200); do
    [[ $(sql "SELECT count(*) FROM jobs WHERE status IN ('succeeded', 'failed')") == 8 ]] && break
    sleep 0.1
done
check "eight jobs succeeded" eq 8 "$(sql "SELECT count(*) FROM jobs WHERE status = 'succeeded'")"
check "both workers ran jobs" test "$(grep -c 'Starting job' "$IT_DIR/worker-1.log")" -gt 0 -a "$(grep -c 'Starting job' "$IT_DIR/worker-2.log")" -gt 0
check "at least four migrations overlapped" test "$(sql "SELECT max(n) FROM (SELECT (SELECT count(*) FROM jobs b WHERE b.started_at <= a.started_at AND b.finished_at > a.started_at) AS n FROM jobs a) x")" -ge 4
check "jobs carry the es.xml spelling and their system" eq "exa01vm02.example.com exa01" \
    "$(sql "SELECT guest || ' ' || system_name FROM jobs WHERE lower(guest) = 'exa01vm02.example.com'")"
fleet_check_newest exa01
fleet_check_newest cld02
check "exa01: one load, three merges, three deployments" eq "loaded 1,migration-deployed 3,migration-merged 3" \
    "$(sql "SELECT string_agg(state || ' ' || n, ',' ORDER BY state) FROM (SELECT state, count(*) n FROM configs WHERE system_name = 'exa01' GROUP BY state) x")"
check "cld02: one load, five merges, five deployments" eq "loaded 1,migration-deployed 5,migration-merged 5" \
    "$(sql "SELECT string_agg(state || ' ' || n, ',' ORDER BY state) FROM (SELECT state, count(*) n FROM configs WHERE system_name = 'cld02' GROUP BY state) x")"
check "each deployment is in its job's system" eq 0 \
    "$(sql "SELECT count(*) FROM configs c JOIN jobs j ON c.note = 'deployed by job ' || j.id WHERE c.system_name <> j.system_name")"
check "no version of one system names the other's guests" eq 0 \
    "$(sql "SELECT count(*) FROM configs WHERE (system_name = 'exa01' AND document LIKE '%cld02vm%') OR (system_name = 'cld02' AND document LIKE '%exa01vm%')")"
inv "after the overlapping migrations"

# The case-variant duplicate: a job for exa01vm01 is running (its guest takes 3 s to stop) when
# a request names EXA01VM01 (bypassing the merge, as a third-party producer would).
"$HOSTSIM" latency "$IT_HOSTS" exa01adm03.example.com "vm_maker --stop-domain" 3000 >/dev/null
kvmove submit --guest exa01vm01.example.com --mode offline --src exa01adm03.example.com --tgt exa01adm02.example.com >/dev/null 2>&1
for _ in $(seq 100); do
    holder=$(sql "SELECT id FROM jobs WHERE guest = 'exa01vm01.example.com' AND status = 'running'")
    [[ -n $holder ]] && break
    sleep 0.1
done
check "the first job is active" test -n "$holder"
kvmove submit --no-validate --wait --timeout 60 "MIGRATE GUEST HOSTNAME=EXA01VM01.example.com MODE=OFFLINE SRCHOST=exa01adm03.example.com TGTHOST=exa01adm04.example.com" >"$IT_DIR/dup.out" 2>&1
check "the second spelling is rejected" eq 1 "$?"
check "the rejection names the holder" grep -q "already has an active job $holder" <<<"$(sql "SELECT error FROM jobs WHERE status = 'rejected'")"
check "one active job for the guest" eq 1 "$(sql "SELECT count(*) FROM jobs WHERE lower(guest) = 'exa01vm01.example.com' AND status IN ('queued', 'running')")"
check "kvmove jobs --guest finds both in any spelling" eq 2 "$(kvmove jobs --guest Exa01Vm01.EXAMPLE.com --json | jq '[.[] | select(.status == "rejected" or .id == "'"$holder"'")] | length')"
check "the first job succeeds" eq succeeded "$(wait_job "$holder" 120)"
fleet_check_newest exa01
inv "end"

# A request naming a system that is not stored is dead-lettered with the reason.
kvmove submit --no-validate --system nosuch --guest cld02vm01.$D --mode offline --src cld02kvm04.$D --tgt cld02kvm01.$D >"$IT_DIR/nosuch.out" 2>&1
rid=$(sed -n 's/^Request \([0-9a-f-]*\) published.*/\1/p' "$IT_DIR/nosuch.out")
for _ in $(seq 100); do [[ -n $(sql "SELECT 1 FROM rejected_requests WHERE request_id = '$rid'") ]] && break; sleep 0.1; done
check "a request naming a system that is not stored is refused, saying which" grep -q "no es.xml of system nosuch is stored" <<<"$(sql "SELECT reason FROM rejected_requests WHERE request_id = '$rid'")"
check "it became no job" eq 0 "$(sql "SELECT count(*) FROM jobs WHERE id = '$rid'")"
check "kvmove status shows a job's system" eq cld02 "$(kvmove status "$(sql "SELECT id FROM jobs WHERE system_name = 'cld02' LIMIT 1")" --json | jq -r .system)"

# Pruning one system leaves the other alone and keeps the newest versions.
before=$(sql "SELECT count(*) FROM configs WHERE system_name = 'exa01'")
kvmove config prune >/dev/null 2>&1
check "config prune without a rule is a usage error" eq 2 "$?"
check "config prune --system cld02 --keep 2" grep -q "^Pruned 9 es.xml versions" <<<"$(kvmove config prune --system cld02 --keep 2)"
check "cld02 keeps its two newest versions" eq 2 "$(kvmove config list --system cld02 --json | jq length)"
check "exa01's versions are untouched" eq "$before" "$(sql "SELECT count(*) FROM configs WHERE system_name = 'exa01'")"
fleet_check_newest cld02
