#!/bin/bash
# kvmove shell driven by the spec's numbered steps, typed as written (hostnames from the
# fixture): checks the printed lines, both saved es.xml files and the final state.
. "${BASH_SOURCE[0]%/*}/lib.sh"
it_setup shell_spec
it_worker_start 1

G=exa01vm01.example.com S=exa01adm02.example.com T=exa01adm06.example.com
cd "$IT_DIR" || exit 1
cp "$IT_TOP/tests/fixtures/exa01.xml" exa01.xml
spec_session "MIGRATE GUEST HOSTNAME=$G MODE=OFFLINE SRCHOST=$S TGTHOST=$T" >session.txt
out=$(kvmove shell --timeout 120 <session.txt 2>stderr.txt)
rc=$?
echo "$out"
cat stderr.txt
check "shell exits 0" eq 0 "$rc"
check "nothing on stderr" eq "" "$(cat stderr.txt)"
has() { grep -qF -- "$1" <<<"$out"; }
hasx() { grep -qx -- "$1" <<<"$out"; }
check "LOAD FILE line" grep -q "^File : exa01.xml loaded OK" <<<"$out"
check "merge line" hasx "Merging MIGRATE GUEST"
check "Action Validated and Merged OK" grep -q "^Action Validated and Merged OK" <<<"$out"
check "merged file saved OK" grep -q "^File : exa01.migration-merged.xml saved OK" <<<"$out"
id=$(xmllint --xpath "string(//action[subCommand='MIGRATE GUEST HOSTNAME=$G MODE=OFFLINE SRCHOST=$S TGTHOST=$T']/@id)" exa01.migration-merged.xml)
check "merged file: action id is a number" grep -qE '^[0-9]+$' <<<"$id"
check "Deploying Action ID line (lower case, as the spec)" hasx "Deploying Action ID : $id migrate guest hostname=$G mode=offline srchost=$S tgthost=$T"
check "Deploying MIGRATE GUEST" hasx "Deploying MIGRATE GUEST"
check "Migrate Guest" hasx "Migrate Guest"
check "Starting Guest Migration" hasx "Starting Guest Migration : $G"
for step in STOP_GUEST DETACH_INTERFACES DETACH_VOLUMES ATTACH_VOLUMES CREATE_BRIDGES MIGRATE_GUEST \
    REMOVE_BRIDGES REMOVE_NAT_BRIDGE_SRC CREATE_NAT_BRIDGE_TGT ATTACH_INTERFACES STARTUP_GUEST; do
    check "step line $step" has "Migrate guest $G from $S to $T. Step $step completed successfully..."
done
check "Done..." hasx "Done..."
check "ends with Done [Elapsed = ...]" grep -qE '^Done \[Elapsed = [0-9]+ mS \[[0-9.]+ minutes\] .+\]$' <<<"$(grep -v '^File : exa01.migration-deployed' <<<"$out" | tail -n1)"
check "deployed file saved OK (last line)" grep -q "^File : exa01.migration-deployed.xml saved OK" <<<"$(tail -n1 <<<"$out")"

# The merged es.xml: guest still on the source, the action merged and not deployed.
m=exa01.migration-merged.xml d=exa01.migration-deployed.xml
check "merged: guest still under source host" eq exa01adm02_id "$(xmllint --xpath "string(//machine[machine/@id='exa01vm01_id']/@id)" $m)"
check "merged: action merged" eq true "$(xmllint --xpath "string(//action[@id='$id']/@merged)" $m)"
check "merged: action not deployed" eq false "$(xmllint --xpath "string(//action[@id='$id']/@deployed)" $m)"
# The deployed es.xml: guest under the target host, the migration recorded as deployed.
check "deployed: guest under target host" eq exa01adm06_id "$(xmllint --xpath "string(//machine[machine/@id='exa01vm01_id']/@id)" $d)"
check "deployed: not under the source any more" eq 0 "$(xmllint --xpath "count(//machine[@id='exa01adm02_id']/machine[@id='exa01vm01_id'])" $d)"
check "deployed: a MIGRATE GUEST action for $G is deployed" test "$(xmllint --xpath "count(//action[starts-with(subCommand,'MIGRATE GUEST HOSTNAME=$G ')][@deployed='true'])" $d)" -ge 1

# Final state: hosts and database.
tgt=$(host_state $T) src=$(host_state $S)
check "target: domain running" grep -qx "domain $G running" <<<"$tgt"
check "target: autostart" grep -qx "autostart $G" <<<"$tgt"
check "source: guest gone" eq 0 "$(grep -c "$G" <<<"$src")"
check "no safety violation" "$HOSTSIM" check "$IT_HOSTS"
check "one job, succeeded" eq succeeded "$(sql "SELECT string_agg(status, ',') FROM jobs")"
check "config versions: loaded, loaded, merged, deployed" eq "loaded loaded migration-merged migration-deployed" \
    "$(sql "SELECT string_agg(state, ' ' ORDER BY version) FROM configs")"

# config diff: the guest moved between the shell's LOAD FILE (2) and the deployed version (4).
diff=$(kvmove config diff 2 4 --json)
check "config diff --json: exactly the guest moved" eq "moved $G $S $T" \
    "$(jq -r '.guests[] | "\(.change) \(.guest) \(.from) \(.to)"' <<<"$diff")"
check "config diff --json: versions" eq "2 4" "$(jq -r '"\(.from_version) \(.to_version)"' <<<"$diff")"
check "config diff: text names the move" grep -q "moved *$G *$S -> $T" <<<"$(kvmove config diff 2 4)"
check "config diff of a version with itself: nothing moved" eq 0 "$(kvmove config diff 3 3 --json | jq '.guests | length')"

# A second session: the same migration again no longer validates (guest is on the target now).
printf 'MIGRATE GUEST HOSTNAME=%s MODE=OFFLINE SRCHOST=%s TGTHOST=%s\nSAVE ACTION\nMERGE ACTIONS\nDEPLOY ACTIONS\n' $G $S $T >again.txt
out2=$(kvmove shell again.txt 2>&1)
rc=$?
echo "$out2"
check "stale migration: exit 1" eq 1 "$rc"
check "stale migration: not merged" eq 0 "$(grep -c "Action Validated and Merged OK" <<<"$out2")"
check "stale migration: session stopped before DEPLOY" eq 0 "$(grep -c "Deploying" <<<"$out2")"
check "stale migration: still one job" eq 1 "$(sql "SELECT count(*) FROM jobs")"
