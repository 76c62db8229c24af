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
check "events: accepted, preflight, 11 started, 9 completed + 2 skipped, succeeded" eq \
    "job.acceptedx1 preflight.passedx1" "$(echo "$types" | cut -d' ' -f1-2)"
check "events: last is job.succeeded" eq "job.succeededx1" "$(echo "$types" | awk '{print $NF}')"
check "events: 11 step.started" eq 11 "$(jq -r --arg j "$job" 'select(.data.job_id == $j and .type == "io.kvmove.step.started")' "$IT_DIR/events.jsonl" | grep -c '"specversion"')"
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

# Every host command went over one reused session per host (one connection each).
check "status shows the job" grep -q "STARTUP_GUEST *succeeded" <<<"$(kvmove status "$job")"
