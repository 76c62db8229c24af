#!/bin/bash
# The maintenance round trip: kvmove evacuate --reason records the evacuation (where each guest
# went); kvmove evacuations lists it; kvmove return --host H moves back the guests still where
# the evacuation put them (a guest moved again since is left alone), as migrations of action
# return linked to the evacuation, and marks it returned.
. "${BASH_SOURCE[0]%/*}/lib.sh"
it_setup return
it_worker_start 1 -j 4
H=exa01adm02.example.com G1=exa01vm01.example.com G2=exa01vm02.example.com
T1=exa01adm03.example.com T2=exa01adm04.example.com X=exa01adm05.example.com
on() { host_state "$1" | grep -qx "domain $2 running"; }

out=$(kvmove evacuate --host $H --targets $T1,$T2 --reason "BIOS update")
check "evacuate: every guest moved" test $? -eq 0
echo "$out"
E=$(sed -n 's/^Evacuation \([0-9]*\) recorded.*/\1/p' <<<"$out")
check "evacuate: the evacuation is recorded" eq "$H|BIOS update|2" "$(sql "SELECT e.host, e.reason, (SELECT count(*) FROM evacuation_moves m WHERE m.evacuation_id = e.id AND m.to_host IS NOT NULL) FROM evacuations e WHERE e.id = ${E:-0}")"
check "evacuate: the moves' jobs name it" eq 2 "$(sql "SELECT count(*) FROM jobs WHERE evacuation_id = ${E:-0} AND status = 'succeeded'")"
check "evacuate: job.accepted carries the evacuation" eq 2 "$(sql "SELECT count(*) FROM outbox WHERE payload->>'type' = 'io.kvmove.job.accepted' AND (payload->'data'->>'evacuation')::bigint = ${E:-0}")"
check "evacuate: nothing left on $H" eq 0 "$(host_state $H | grep -c '^domain ')"
list=$(kvmove evacuations --host $H --json)
check "evacuations --json: the evacuation with its two moves, succeeded" eq "$E BIOS update 2" "$(jq -r '.[0] | "\(.id) \(.reason) \([.moves[] | select(.status == "succeeded")] | length)"' <<<"$list")"
check "evacuations: text lists both guests" test "$(kvmove evacuations | grep -cE "$G1|$G2")" -eq 2

# G2 is moved on by the operator: return must leave it where it is now.
at2=$(jq -r --arg g $G2 '.[0].moves[] | select(.guest == $g) | .to_host' <<<"$list")
check "operator moves $G2 on" eq succeeded "$(wait_job "$(kvmove submit --guest $G2 --mode offline --src "$at2" --tgt $X | sed -n 's/.*(job id \([0-9a-f-]*\))$/\1/p')" 60)"

out=$(kvmove return --host $H --reason "BIOS done")
check "return: exits 0" test $? -eq 0
echo "$out"
check "return: $G1 is back on $H" on $H $G1
check "return: $G2 left alone on $X" on $X $G2
check "return: says why $G2 stays" grep -q "$G2 .*left alone: now on $X" <<<"$out"
check "return: the move back is a return job of the evacuation, with the reason" eq "return|${E}|BIOS done|succeeded" "$(sql "SELECT action, evacuation_id, reason, status FROM jobs WHERE action = 'return'")"
check "return: recorded with the move" eq 1 "$(sql "SELECT count(*) FROM evacuation_moves m JOIN jobs r ON r.id = m.return_job_id WHERE m.evacuation_id = $E AND m.guest = '$G1' AND r.status = 'succeeded'")"
check "return: the evacuation is marked returned" eq t "$(sql "SELECT returned_at IS NOT NULL FROM evacuations WHERE id = $E")"
out=$(kvmove return --host $H 2>&1)
check "return again: nothing waiting (exit 1)" test $? -eq 1
check "return again: says so" grep -q "no evacuation of $H is waiting" <<<"$out"
check "safety invariant held" "$HOSTSIM" check "$IT_HOSTS"
kvmove events --validate >"$IT_DIR/events.jsonl" 2>"$IT_DIR/events.err"
check "every event published matches event.schema.json" eq "" "$(cat "$IT_DIR/events.err")"
