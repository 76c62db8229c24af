#!/bin/bash
# Authenticated requests (issue 17): a request without a signature, one signed by a key nobody
# enrolled, one whose identity is not its key's, one changed after it was signed, a republished
# copy of a request that ran, an old one, and one from an operator without 'force' asking for
# OFFLINEFORCE are each dead-lettered with their reason, counted in
# kvmove_requests_refused_total, and send no command to any host; the CLI explains a refusal; a
# granted operator's request runs, recorded with the proven identity. Then the database roles:
# a login role in kvmove_operator cannot update jobs; one in kvmove_worker can.
. "${BASH_SOURCE[0]%/*}/lib.sh"
it_setup auth
it_worker_start 1 -o metrics.listen=127.0.0.1:0
for _ in $(seq 200); do
    port=$(sed -n 's/.*serving \/metrics and \/healthz on .* (port \([0-9]*\)).*/\1/p' "$IT_DIR/worker-1.log" | head -n1)
    [[ -n $port ]] && break
    sleep 0.1
done
check "worker serves metrics" test -n "$port"

G=exa01vm01.example.com S=exa01adm02.example.com T=exa01adm06.example.com
uuid() { cat /proc/sys/kernel/random/uuid; }
# request ID BY [MODE [AT]]: a migrate_guest request of G from S to T (one line, no newline).
request() {
    jq -cjn --arg id "$1" --arg by "$2" --arg m "${3:-OFFLINE}" --arg at "${4:-$(it_now)}" \
        --arg g $G --arg s $S --arg t $T \
        '{request_id: $id, action: "migrate_guest", guest: $g, mode: $m, src_host: $s,
          tgt_host: $t, submitted_by: $by, submitted_at: $at}'
}
# raw KEY VALUE [HEADER...]: VALUE as one message, with exactly these headers (NAME=VALUE).
raw() {
    local key=$1 f h=() x
    f=$(mktemp "$IT_DIR/raw.XXXXXX")
    printf '%s' "$2" >"$f"
    shift 2
    for x in "$@"; do h+=(-H "$x"); done
    kcat -P -b "$KVMOVE_BROKERS" -t kvmove.requests -k "$key" "${h[@]}" "$f" 2>/dev/null
}
refused() { curl -s --max-time 10 "http://127.0.0.1:$port/metrics" | awk -v k="kvmove_requests_refused_total{reason=\"$1\"}" '$1 == k { print $2 }'; }

# alice may migrate, not force; mallory's key was never enrolled.
operator_enrol alice "$IT_DIR/alice.key" migrate || it_setup_failed "operator alice"
KVMOVE_KEY_FILE=$IT_DIR/mallory.key kvmove key generate >/dev/null || it_setup_failed "mallory's key"
sign() { KVMOVE_KEY_FILE=$1 kvmove key sign "$2"; } # sign KEY_FILE FILE: the two header lines
signed() {                                         # signed KEY_FILE VALUE: the header arguments
    local f; f=$(mktemp "$IT_DIR/sig.XXXXXX")
    printf '%s' "$2" >"$f"
    sign "$1" "$f"
    rm -f "$f"
}
before=$(commands)

# Unauthenticated: no signature headers at all (the issue's plain kcat).
ID_U=$(uuid)
raw $G "$(request "$ID_U" "$IT_OPERATOR" OFFLINEFORCE)"
check "unsigned request dead-lettered as unauthenticated" grep -q '^unauthenticated: ' <<<"$(dead_letter "$ID_U")"

# Forged: a key no administrator enrolled; and alice's key claiming to be someone else.
ID_F1=$(uuid)
M=$(request "$ID_F1" "$IT_OPERATOR")
mapfile -t H < <(signed "$IT_DIR/mallory.key" "$M")
raw $G "$M" "${H[@]}"
check "request signed by an unknown key dead-lettered as forged" grep -q '^forged: key [0-9a-f]* is not enrolled' <<<"$(dead_letter "$ID_F1")"
ID_F2=$(uuid)
M=$(request "$ID_F2" "$IT_OPERATOR")
mapfile -t H < <(signed "$IT_DIR/alice.key" "$M")
raw $G "$M" "${H[@]}"
check "alice's key claiming another identity dead-lettered as forged" \
    grep -q "^forged: the request says submitted_by \"$IT_OPERATOR\" but key [0-9a-f]* belongs to alice" <<<"$(dead_letter "$ID_F2")"

# Tampered: signed by the operator, then the guest changed.
ID_T=$(uuid)
M=$(request "$ID_T" "$IT_OPERATOR")
mapfile -t H < <(signed "$KVMOVE_KEY_FILE" "$M")
raw $G "${M/exa01vm01/exa01vm02}" "${H[@]}"
check "request changed after signing dead-lettered as tampered" grep -q '^tampered: ' <<<"$(dead_letter "$ID_T")"

# Expired: properly signed, but submitted long ago (a replay of an old request).
ID_E=$(uuid)
it_produce $G "$(request "$ID_E" "$IT_OPERATOR" OFFLINE 2025-07-30T16:11:46.123Z)"
check "old request dead-lettered as expired" grep -q '^expired: submitted_at 2025-07-30T16:11:46.123Z is ' <<<"$(dead_letter "$ID_E")"

# Unauthorized: alice asks for OFFLINEFORCE.
ID_A=$(uuid)
it_produce $G "$(request "$ID_A" alice OFFLINEFORCE)" "$IT_DIR/alice.key"
check "alice's OFFLINEFORCE dead-lettered as unauthorized, saying what to ask for" eq \
    "unauthorized: alice may not force migrations on system exa01: ask an administrator to grant 'force'" \
    "$(dead_letter "$ID_A")"
# ... and the CLI explains it (the job.rejected event the worker publishes).
out=$(KVMOVE_KEY_FILE=$IT_DIR/alice.key kvmove -o identity=alice submit --guest $G --mode offlineforce --src $S --tgt $T --wait --timeout 60 2>&1)
check "kvmove submit --wait as alice exits 1" eq 1 "$?"
echo "$out"
check "...and shows the refusal" grep -q "rejected: unauthorized: alice may not force migrations on system exa01: ask an administrator to grant 'force'" <<<"$out"

for id in "$ID_U" "$ID_F1" "$ID_F2" "$ID_T" "$ID_E" "$ID_A"; do
    check "no job for refused request $id" eq 0 "$(sql "SELECT count(*) FROM jobs WHERE request_id = '$id'")"
done
check "no command reached any host for the refused requests" eq "$before" "$(commands)"
check "no job at all yet" eq 0 "$(sql "SELECT count(*) FROM jobs")"

# A granted operator's signed request runs, recorded as that operator.
ID_OK=$(uuid)
M=$(request "$ID_OK" "$IT_OPERATOR")
it_produce $G "$M"
check "the granted operator's request runs" eq succeeded "$(wait_job "$ID_OK" 120)"
check "guest moved" grep -qx "domain $G running" <<<"$(host_state $T)"
check "jobs.submitted_by is the key's identity" eq "$IT_OPERATOR" "$(sql "SELECT submitted_by FROM jobs WHERE id = '$ID_OK'")"
check "job.accepted carries it" eq "$IT_OPERATOR" \
    "$(sql "SELECT payload->'data'->>'submitted_by' FROM outbox WHERE job_id = '$ID_OK' AND payload->>'type' = 'io.kvmove.job.accepted'")"
after_ok=$(commands)

# Replayed: the same bytes (and signature) published again while still fresh.
it_produce $G "$M"
check "the republished request dead-lettered as replayed" grep -q "^replayed: request $ID_OK was taken from message kvmove.requests/" <<<"$(dead_letter "$ID_OK")"
check "...no second job" eq 1 "$(sql "SELECT count(*) FROM jobs WHERE request_id = '$ID_OK'")"
check "...and no command to any host" eq "$after_ok" "$(commands)"

# alice's plain OFFLINE of another guest runs: migrate is granted; once her key is disabled,
# nothing it signs is taken.
ID_B=$(uuid)
it_produce exa01vm02.example.com "$(request "$ID_B" alice OFFLINE | sed 's/exa01vm01/exa01vm02/')" "$IT_DIR/alice.key"
check "alice's OFFLINE migration runs" eq succeeded "$(wait_job "$ID_B" 120)"
check "...recorded as alice's" eq alice "$(sql "SELECT submitted_by FROM jobs WHERE id = '$ID_B'")"
kvmove operator disable alice >/dev/null
ID_D=$(uuid)
it_produce $G "$(request "$ID_D" alice OFFLINE)" "$IT_DIR/alice.key"
check "a disabled key's request dead-lettered as forged" grep -q "^forged: key [0-9a-f]* of alice is disabled" <<<"$(dead_letter "$ID_D")"

check "refusals counted: unauthenticated" eq 1 "$(refused unauthenticated)"
check "refusals counted: forged" eq 3 "$(refused forged)"
check "refusals counted: tampered" eq 1 "$(refused tampered)"
check "refusals counted: expired" eq 1 "$(refused expired)"
check "refusals counted: replayed" eq 1 "$(refused replayed)"
check "refusals counted: unauthorized (kcat, then the CLI)" eq 2 "$(refused unauthorized)"
check "kvmove operators lists alice's disabled key and her right" eq "false migrate@*" \
    "$(kvmove operators --json | jq -r '.[] | select(.identity == "alice") | "\(.keys[0].enabled) \(.grants[0].right)@\(.grants[0].system)"')"

# Least privilege: login roles that are members of the group roles 0006 made.
PGHOST_DB=$KVMOVE_DB
sql "DROP ROLE IF EXISTS it_auth_op; CREATE ROLE it_auth_op LOGIN IN ROLE kvmove_operator;
     DROP ROLE IF EXISTS it_auth_wk; CREATE ROLE it_auth_wk LOGIN IN ROLE kvmove_worker;
     DROP ROLE IF EXISTS it_auth_ob; CREATE ROLE it_auth_ob LOGIN IN ROLE kvmove_observer" >/dev/null
as() { psql "${PGHOST_DB/user=postgres/user=$1}" -qAtX -v ON_ERROR_STOP=1 -c "$2" 2>&1; }
out=$(as it_auth_op "UPDATE jobs SET status = 'succeeded' WHERE id = '$ID_D'")
check "the operator role cannot update jobs" grep -q 'permission denied for table jobs' <<<"$out"
check "the operator role reads jobs" eq 2 "$(as it_auth_op "SELECT count(*) FROM jobs")"
check "the operator role cannot enrol keys" grep -q 'permission denied for table operator_keys' \
    <<<"$(as it_auth_op "INSERT INTO operator_keys (key_id, identity, public_key) VALUES ('$(printf '%032d' 0)', 'eve', 'x')")"
check "the operator role cannot grant rights" grep -q 'permission denied for table grants' \
    <<<"$(as it_auth_op "INSERT INTO grants VALUES ('eve', '*', 'force')")"
check "the CLI runs as the operator role (kvmove jobs)" eq 2 \
    "$(KVMOVE_DB=${PGHOST_DB/user=postgres/user=it_auth_op} kvmove jobs --json | jq length)"
check "the observer role cannot update jobs" grep -q 'permission denied for table jobs' \
    <<<"$(as it_auth_ob "UPDATE jobs SET error = 'x' WHERE id = '$ID_D'")"
check "the worker role may update jobs" eq "" "$(as it_auth_wk "UPDATE jobs SET error = error WHERE id = '$ID_OK'")"
check "the worker role cannot enrol keys" grep -q 'permission denied for table operator_keys' \
    <<<"$(as it_auth_wk "UPDATE operator_keys SET enabled = true")"

# Secret files: an SSH identity others can read is warned about at start (OpenSSH refuses one).
cp "$KVMOVE_SSH_IDENTITY" "$IT_DIR/loose_id" && chmod 0644 "$IT_DIR/loose_id"
it_worker_start 2 -o ssh.identity="$IT_DIR/loose_id" -o metrics.listen=
for _ in $(seq 100); do grep -q "consuming kvmove.requests" "$IT_DIR/worker-2.log" && break; sleep 0.1; done
check "a world-readable SSH identity is warned about" \
    grep -q "ssh.identity: permissions 0644 for key file $IT_DIR/loose_id are too open" "$IT_DIR/worker-2.log"
check "...and the worker's own one (0600) is not" eq 0 "$(grep -c 'ssh.identity: ' "$IT_DIR/worker-1.log")"
