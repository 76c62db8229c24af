#!/bin/bash
# kvmove cleanup, kvmove submit --dry-run and kvmove evacuate from a CLI with no SSH identity at all (ssh.identity
# and known_hosts pointing nowhere, HOME without .ssh) while the worker has it (issue 17 item 3):
# each is a signed request (cleanup, dry_run, plan) a worker runs; its result comes back in table
# probes (probe.completed). An operator without the right 'cleanup' / 'dry_run' / 'evacuate' is refused: the
# request is dead-lettered with its reason, the CLI says why, and no command reaches a host.
. "${BASH_SOURCE[0]%/*}/lib.sh"
it_setup remote_probe
S=exa01adm02.example.com T=exa01adm06.example.com G=exa01vm01.example.com
it_worker_start 1
mkdir -p "$IT_DIR/home"
# The CLI's environment: no SSH key anywhere (libssh would look in $HOME/.ssh).
nokey() { HOME=$IT_DIR/home KVMOVE_SSH_IDENTITY=$IT_DIR/no/such/id KVMOVE_SSH_KNOWN_HOSTS=$IT_DIR/no/such/known_hosts kvmove "$@"; }

# ---- submit --dry-run: the worker probes the hosts, the CLI prints what it found ----
before_src=$(host_log $S | wc -l)
out=$(nokey submit --dry-run --guest $G --mode offline --src $S --tgt $T --timeout 120 2>&1)
rc=$?
echo "$out"
check "dry run without an SSH key succeeds" eq 0 "$rc"
check "  it prints the preflight" grep -q "^Preflight of MIGRATE GUEST HOSTNAME=$G MODE=OFFLINE SRCHOST=$S TGTHOST=$T (es.xml version 1 of system exa01):" <<<"$out"
check "  with the live checks' results" grep -qE "^  passed +ssh_source +root@$S" <<<"$out"
check "  and the plan" grep -qE "^ +1\. [A-Z_]+ +on " <<<"$out"
check "  and says nothing changed" grep -q "^Dry run: nothing was changed or published.$" <<<"$out"
check "the worker asked the source host (over its SSH key)" test "$(host_log $S | wc -l)" -gt "$before_src"
check "the probe is recorded as the operator's, succeeded" eq "dry_run|$IT_OPERATOR|succeeded" \
    "$(sql "SELECT kind, submitted_by, status FROM probes ORDER BY created_at DESC LIMIT 1")"
check "no job was made" eq 0 "$(sql "SELECT count(*) FROM jobs")"
check "probe.completed was published in the outbox" eq 1 \
    "$(sql "SELECT count(*) FROM outbox WHERE payload->>'type' = 'io.kvmove.probe.completed' AND payload->'data'->>'kind' = 'dry_run'")"
"$HOSTSIM" power-off "$IT_HOSTS" $T
out=$(nokey submit --dry-run --guest $G --mode offline --src $S --tgt $T --timeout 120 2>&1)
check "a dry run whose preflight fails (target down) exits 1" eq 1 "$?"
check "  and says so" grep -q "^Preflight failed: " <<<"$out"
check "  naming the check" grep -qE "^  failed +ssh_target " <<<"$out"
"$HOSTSIM" power-on "$IT_HOSTS" $T

# ---- evacuate --dry-run: a worker plans the placement ----
out=$(nokey evacuate --host exa01adm01.example.com --dry-run 2>&1)
rc=$?
echo "$out"
check "evacuate --dry-run without an SSH key succeeds" eq 0 "$rc"
check "  it prints the plan" grep -qE "^Evacuating [0-9]+ guests? from exa01adm01.example.com \(system exa01, es.xml version 1" <<<"$out"
check "  with a target for each guest" test "$(grep -cE '^  [a-z0-9.]+ +[0-9]+ MiB +[0-9]+ vCPUs -> exa01adm0[0-9].example.com$' <<<"$out")" -ge 1
check "  planned by the worker" eq "plan|succeeded" "$(sql "SELECT kind || '|' || status FROM probes WHERE kind = 'plan'")"
check "  nothing recorded or started" eq "0 0" "$(sql "SELECT (SELECT count(*) FROM jobs) || ' ' || (SELECT count(*) FROM evacuations)")"

# ---- cleanup: OFFLINEFORCE off a dead host, then kvmove cleanup once it is back ----
"$HOSTSIM" power-off "$IT_HOSTS" $S
out=$(nokey submit --guest $G --mode offlineforce --src $S --tgt $T --wait --timeout 120)
check "OFFLINEFORCE off the dead host succeeds" test $? -eq 0
check "its cleanup is pending" eq pending "$(sql "SELECT status FROM host_cleanups")"
out=$(nokey cleanup --host $S --timeout 120 2>&1)
check "kvmove cleanup while the host is down: exit 1, still pending" eq 1 "$?"
check "  it says so" grep -q "0 cleanups done now, 1 still pending" <<<"$out"
"$HOSTSIM" power-on "$IT_HOSTS" $S
out=$(nokey cleanup --host $S --timeout 120 2>&1)
check "kvmove cleanup without an SSH key once the host is back: nothing pending" eq 0 "$?"
echo "$out"
check "the stale copy is gone from the source" eq 0 "$(host_state $S | grep -c "domain $G")"
check "the cleanup requests ran in the worker" eq "2 succeeded" \
    "$(sql "SELECT count(*) || ' ' || min(status) FROM probes WHERE kind = 'cleanup'")"
check "--json lists the cleanup as done" eq done "$(nokey cleanup --list --json | jq -r '.[0].status')"

# ---- refused: bob may migrate, not clean up or probe ----
operator_enrol bob "$IT_DIR/bob.key" migrate || it_setup_failed "operator bob"
asbob() { KVMOVE_KEY_FILE=$IT_DIR/bob.key nokey -o identity=bob "$@"; }
before=$(commands)
# Unsigned, and signed then changed: refused before anything runs.
dry() { printf '{"request_id":"%s","action":"dry_run","guest":"%s","mode":"OFFLINE","src_host":"%s","tgt_host":"%s","submitted_by":"%s","submitted_at":"%s"}' "$1" "$2" $T $S "$IT_OPERATOR" "$(it_now)"; }
ID_U=$(cat /proc/sys/kernel/random/uuid)
printf '%s' "$(dry "$ID_U" $G)" | kcat -P -b "$KVMOVE_BROKERS" -t kvmove.requests -k $G 2>/dev/null
check "an unsigned dry_run is dead-lettered as unauthenticated" grep -q '^unauthenticated: ' <<<"$(dead_letter "$ID_U")"
ID_T=$(cat /proc/sys/kernel/random/uuid)
dry "$ID_T" $G >"$IT_DIR/signed.json"
mapfile -t H < <(kvmove key sign "$IT_DIR/signed.json")
sed "s/$G/exa01vm02.example.com/" "$IT_DIR/signed.json" >"$IT_DIR/tampered.json"
kcat -P -b "$KVMOVE_BROKERS" -t kvmove.requests -k $G -H "${H[0]}" -H "${H[1]}" "$IT_DIR/tampered.json" 2>/dev/null
check "a dry_run changed after signing is dead-lettered as tampered" grep -q '^tampered: ' <<<"$(dead_letter "$ID_T")"
check "  both are recorded refused, for a CLI waiting on them" eq "rejected rejected" \
    "$(sql "SELECT string_agg(status, ' ') FROM probes WHERE request_id IN ('$ID_U', '$ID_T')")"
out=$(asbob submit --dry-run --guest $G --mode offline --src $T --tgt $S --timeout 60 2>&1)
check "bob's dry run exits 1" eq 1 "$?"
echo "$out"
check "  the CLI says why" grep -q "rejected: unauthorized: bob may not probe hosts for a dry run on system exa01: ask an administrator to grant 'dry_run'" <<<"$out"
ID=$(sql "SELECT request_id FROM probes WHERE submitted_by = 'bob' AND kind = 'dry_run'")
check "  its request is dead-lettered with the reason" eq \
    "unauthorized: bob may not probe hosts for a dry run on system exa01: ask an administrator to grant 'dry_run'" \
    "$(dead_letter "$ID")"
out=$(asbob cleanup --timeout 60 2>&1)
check "bob's cleanup exits 1" eq 1 "$?"
check "  the CLI says why" grep -q "rejected: unauthorized: bob may not run the pending cleanups on every system: ask an administrator to grant 'cleanup' on '\*' (every system)" <<<"$out"
ID=$(sql "SELECT request_id FROM probes WHERE submitted_by = 'bob' AND kind = 'cleanup'")
check "  its request is dead-lettered with the reason" grep -q "^unauthorized: bob may not run the pending cleanups" <<<"$(dead_letter "$ID")"
check "no command reached any host for the refused requests (unsigned, tampered, bob's)" eq "$before" "$(commands)"

out=$(asbob evacuate --host exa01adm01.example.com --dry-run 2>&1)
check "bob's evacuate exits 1" eq 1 "$?"
check "  the CLI says why" grep -q "rejected: unauthorized: bob may not plan evacuations on system exa01: ask an administrator to grant 'evacuate'" <<<"$out"
check "no command reached any host for bob's plan" eq "$before" "$(commands)"

# ---- no worker: the CLI says so within its --timeout ----
it_worker_stop 1
out=$(nokey cleanup --timeout 3 2>&1)
check "with no worker, kvmove cleanup exits 3" eq 3 "$?"
check "  saying no worker took it" grep -q "no worker took it within" <<<"$out"
kvmove events --validate >"$IT_DIR/events.jsonl" 2>"$IT_DIR/events.err"
check "every event published matches event.schema.json" eq "" "$(cat "$IT_DIR/events.err")"
