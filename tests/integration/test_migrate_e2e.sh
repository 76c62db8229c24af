#!/bin/bash
# The spec's example migration through the whole pipeline: kvmove submit -> Kafka -> worker ->
# eleven steps over SSH on the simulated hosts -> PostgreSQL -> events; checks every effect.
. "${BASH_SOURCE[0]%/*}/lib.sh"
it_setup migrate_e2e
it_worker_start 1

G=exa01vm01.example.com S=exa01adm02.example.com T=exa01adm06.example.com
out=$(kvmove submit --guest $G --mode offline --src $S --tgt $T --wait --timeout 120)
rc=$?
echo "$out"
check "submit --wait exits 0" eq 0 "$rc"
check "progress shows the spec's merge line" grep -q "Action Validated and Merged OK" <<<"$out"
check "progress shows the spec's step line" grep -q "Migrate guest $G from $S to $T. Step STARTUP_GUEST completed successfully..." <<<"$out"
check "progress ends with Done [Elapsed" grep -q "^Done \[Elapsed = " <<<"$out"

job=$(sql "SELECT id FROM jobs WHERE guest = '$G'")
tgt=$(host_state $T) src=$(host_state $S)
check "target: domain running" grep -qx "domain $G running" <<<"$tgt"
check "target: autostart on" grep -qx "autostart $G" <<<"$tgt"
for v in sys cfg gih01 dbh01 u01; do
    check "target: volume exa01vm01_$v attached" grep -qx "attached exa01vm01_$v" <<<"$tgt"
    check "source: volume exa01vm01_$v not attached" eq 0 "$(grep -cx "attached exa01vm01_$v" <<<"$src")"
done
check "target: cfg volume mounted" grep -q "^mount /dev/exc/exa01vm01_cfg_82abd35b3cb04643848b556c31e8903f /EXAVMIMAGES/GuestImages/$G\$" <<<"$tgt"
check "target: fstab entry" grep -q "^fstab /dev/exc/exa01vm01_cfg_82abd35b3cb04643848b556c31e8903f /EXAVMIMAGES/GuestImages/$G " <<<"$tgt"
check "source: domain gone" eq 0 "$(grep -c "$G" <<<"$src")"
check "source: shared bridge kept for exa01vm02" grep -qx "bridge vmbondeth0.101 101" <<<"$src"
check "source: guest-only bridge removed" eq 0 "$(grep -c "vmbondeth1.102" <<<"$src")"
check "target: bridges created" grep -q "^bridge vmbondeth1.102" <<<"$tgt"
check "other guest untouched" grep -qx "domain exa01vm02.example.com running" <<<"$src"
check "no safety violation observed" "$HOSTSIM" check "$IT_HOSTS"

check "job succeeded" eq succeeded "$(sql "SELECT status FROM jobs WHERE id = '$job'")"
check "eleven steps recorded" eq 11 "$(sql "SELECT count(*) FROM job_steps WHERE job_id = '$job'")"
check "steps in the spec's log order" eq "STOP_GUEST,DETACH_INTERFACES,DETACH_VOLUMES,ATTACH_VOLUMES,CREATE_BRIDGES,MIGRATE_GUEST,REMOVE_BRIDGES,REMOVE_NAT_BRIDGE_SRC,CREATE_NAT_BRIDGE_TGT,ATTACH_INTERFACES,STARTUP_GUEST" \
    "$(sql "SELECT string_agg(step, ',' ORDER BY seq) FROM job_steps WHERE job_id = '$job'")"
check "nine steps succeeded, NAT steps skipped (not a cloud deployment)" eq "skipped:2 succeeded:9" \
    "$(sql "SELECT string_agg(status || ':' || n, ' ' ORDER BY status) FROM (SELECT status, count(*) n FROM job_steps WHERE job_id = '$job' GROUP BY status) x")"
check "preflight results stored" test "$(sql "SELECT count(*) FROM preflight_results WHERE job_id = '$job' AND status = 'passed'")" -ge 4
check "outbox fully published" eq 0 "$(sql "SELECT count(*) FROM outbox WHERE published_at IS NULL")"

# Events on the topic, in order, for this job.
kvmove events >"$IT_DIR/events.jsonl"
types=$(jq -r --arg j "$job" 'select(.data.job_id == $j) | .type' "$IT_DIR/events.jsonl" | sed 's/^io\.kvmove\.//' | uniq -c | awk '{print $2 "x" $1}' | paste -sd' ')
echo "events: $types"
check "events: job.accepted, then preflight.passed, first" eq \
    "job.acceptedx1 preflight.passedx1" "$(echo "$types" | cut -d' ' -f1-2)"
check "events: last is job.succeeded" eq "job.succeededx1" "$(echo "$types" | awk '{print $NF}')"
# steps_of TYPE: the steps of this job's events of TYPE, sorted, comma-separated.
steps_of() { jq -r --arg j "$job" --arg t "io.kvmove.$1" 'select(.data.job_id == $j and .type == $t) | .data.step' "$IT_DIR/events.jsonl" | sort | paste -sd,; }
ALL=$(printf '%s\n' STOP_GUEST DETACH_INTERFACES DETACH_VOLUMES ATTACH_VOLUMES CREATE_BRIDGES MIGRATE_GUEST \
    REMOVE_BRIDGES REMOVE_NAT_BRIDGE_SRC CREATE_NAT_BRIDGE_TGT ATTACH_INTERFACES STARTUP_GUEST | sort | paste -sd,)
check "events: 11 step.started, one per step" eq "$ALL" "$(steps_of step.started)"
check "events: 2 step.skipped, the NAT steps" eq "CREATE_NAT_BRIDGE_TGT,REMOVE_NAT_BRIDGE_SRC" "$(steps_of step.skipped)"
check "events: 9 step.completed, every other step" eq \
    "$(tr , '\n' <<<"$ALL" | grep -v NAT_BRIDGE | paste -sd,)" "$(steps_of step.completed)"
check "events: no step.failed" eq "" "$(steps_of step.failed)"
check "events: 1 + 1 + 11 + 9 + 2 + 1 = 25 events of the job" eq 25 \
    "$(jq -r --arg j "$job" 'select(.data.job_id == $j) | .id' "$IT_DIR/events.jsonl" | sort -u | wc -l)"
check "events are CloudEvents 1.0 with subject = guest" eq 0 "$(jq -r 'select(.specversion != "1.0" or .subject == null or .id == null or .source == null or .time == null)' "$IT_DIR/events.jsonl" | wc -l)"

# es.xml: the deployed version has the guest under the target host and the action deployed.
kvmove config save "$IT_DIR/deployed.xml" >/dev/null
check "deployed es.xml: guest placed on target" eq "exa01adm06_id" \
    "$(xmllint --xpath "string(//machine[machine/@id='exa01vm01_id']/@id)" "$IT_DIR/deployed.xml")"
check "deployed es.xml: MIGRATE GUEST action deployed" eq "true" \
    "$(xmllint --xpath "string(//action[contains(subCommand,'MIGRATE GUEST HOSTNAME=$G')][@deployed='true']/@deployed)" "$IT_DIR/deployed.xml")"
check "deployed es.xml: the merged action itself is now deployed (action 28, no copy)" eq "28 true 1" \
    "$(xmllint --xpath "string(//action[contains(subCommand,'MIGRATE GUEST HOSTNAME=$G')]/@id)" "$IT_DIR/deployed.xml") $(xmllint --xpath "string(//action[@id='28']/@deployed)" "$IT_DIR/deployed.xml") $(xmllint --xpath "count(//action[contains(subCommand,'MIGRATE GUEST HOSTNAME=$G')])" "$IT_DIR/deployed.xml")"
check "config versions: loaded, merged, deployed" eq "loaded migration-merged migration-deployed" \
    "$(sql "SELECT string_agg(state, ' ' ORDER BY version) FROM configs")"

# Every host command went over one reused session per host: the simulator records the SSH
# connection (client port) each command came on (sessions.log), one line per command.
for h in $S $T; do
    check "$h: every command of the job came on one SSH connection" eq 1 \
        "$(cut -f2 "$IT_HOSTS/hosts/$h/sessions.log" | sort -u | wc -l)"
    check "$h: ...and it carried all $(host_log $h | wc -l) commands" eq "$(host_log $h | wc -l)" \
        "$(wc -l <"$IT_HOSTS/hosts/$h/sessions.log")"
done
check "no other host was contacted" eq "" \
    "$(cd "$IT_HOSTS/hosts" && for h in *; do [[ $h == "$S" || $h == "$T" ]] || cat "$h/sessions.log"; done)"

# VF pools on both hosts (exa01): the re* interfaces come with the definition; nothing is
# detached on the source or attached on the target, and the spec says so.
check "VF pools: no re* interface detached on the source" eq 0 "$(host_effects $S | grep -c -- '--detach-interface')"
check "VF pools: no re* interface attached on the target" eq 0 "$(host_effects $T | grep -c -- '--attach-interface')"
check "VF pools: the guest's re0 and re1 are on the target" eq "re0 re1" \
    "$(grep "^iface $G " <<<"$tgt" | awk '{print $3}' | sort | paste -sd' ')"
check "VF pools: the spec's line for the source" grep -qx "VF POOLS in use in kvmHost $S. No need to detach re\* interfaces" <<<"$out"
check "status shows the job" grep -q "STARTUP_GUEST *succeeded" <<<"$(kvmove status "$job")"
