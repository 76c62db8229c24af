#!/bin/bash
# kvmove subcommands: output (--json parsed with jq), exit codes (0 done, 1 failed, 2 usage,
# 3 unreachable), --help per subcommand, errors on stderr, settings precedence through the CLI.
. "${BASH_SOURCE[0]%/*}/lib.sh"
it_setup cli
it_worker_start 1

G=exa01vm01.example.com S=exa01adm02.example.com T=exa01adm06.example.com
cd "$IT_DIR" || exit 1

# ---- usage and help ----
for v in submit replay status jobs watch events config shell evacuate cleanup key operator operators grant revoke; do
    out=$(kvmove $v --help 2>err.txt); rc=$?
    check "$v --help: exit 0" eq 0 "$rc"
    check "$v --help: usage on stdout" grep -q "^Usage: kvmove $v" <<<"$out"
    check "$v --help: nothing on stderr" eq "" "$(cat err.txt)"
done
out=$(kvmove --help); check "kvmove --help lists shell, watch, config diff" grep -q "diff A B" <<<"$out"
check "kvmove --help documents exit codes" grep -q "3 broker or database unreachable" <<<"$out"
usage() { # usage DESCRIPTION ARGS...: exit 2, a Try line on stderr, nothing on stdout
    local what=$1 out rc; shift
    out=$(kvmove "$@" 2>err.txt); rc=$?
    check "$what: exit 2" eq 2 "$rc"
    check "$what: Try line on stderr" grep -q "^Try 'kvmove .*--help' for more information.$" err.txt
    check "$what: nothing on stdout" eq "" "$out"
}
usage "no command"
usage "unknown command" frobnicate
usage "unknown global option" --frob jobs
usage "jobs: unknown status" jobs --status done
usage "jobs: bad --since" jobs --since yesterday
usage "status: no job" status
usage "watch: not a job id" watch not-a-uuid
usage "config: unknown subcommand" config frob
usage "config diff: one version" config diff 1
usage "config save --version not a number" config save x.xml --version two
usage "submit: bad mode" submit --guest $G --mode fast --src $S --tgt $T
usage "bad -X" -X acks jobs

# ---- a migration, then every view of it ----
out=$(kvmove submit --guest $G --mode offline --src $S --tgt $T --wait --timeout 120); rc=$?
check "submit --wait: exit 0" eq 0 "$rc"
job=$(sql "SELECT id FROM jobs WHERE guest = '$G'")
check "one job" grep -qE '^[0-9a-f-]{36}$' <<<"$job"

j=$(kvmove jobs --json)
check "jobs --json: one succeeded job of the guest" eq "$job succeeded $G $S $T" \
    "$(jq -r '.[] | "\(.id) \(.status) \(.guest) \(.src_host) \(.tgt_host)"' <<<"$j")"
check "global --json works for jobs too" eq "$job" "$(kvmove --json jobs | jq -r '.[0].id')"
check "jobs --status succeeded" eq 1 "$(kvmove jobs --status succeeded --json | jq length)"
check "jobs --status failed" eq 0 "$(kvmove jobs --status failed --json | jq length)"
check "jobs --guest other" eq 0 "$(kvmove jobs --guest exa01vm02.example.com --json | jq length)"
check "jobs --since 1h" eq 1 "$(kvmove jobs --since 1h --json | jq length)"
check "jobs --since far future" eq 0 "$(kvmove jobs --since 2999-01-01 --json | jq length)"
check "jobs text: header and row" grep -q "^$job *$G *succeeded" <<<"$(kvmove jobs)"

st=$(kvmove status "$job" --json); rc=$?
check "status --json: exit 0" eq 0 "$rc"
check "status --json: job fields" eq "succeeded $G $S $T OFFLINE" \
    "$(jq -r '"\(.status) \(.guest) \(.src_host) \(.tgt_host) \(.mode)"' <<<"$st")"
check "status --json: 11 steps with state and host" eq 11 \
    "$(jq '[.steps[] | select(.status != null and .host != null and .started_at != null)] | length' <<<"$st")"
check "status --json: preflight results" test "$(jq '.preflight | length' <<<"$st")" -ge 4
check "status --json: preflight all passed" eq 0 "$(jq '[.preflight[] | select(.status == "failed")] | length' <<<"$st")"
txt=$(kvmove status "$job")
check "status text: job line" grep -q "^Job $job .*: succeeded, created 20[0-9-]*T" <<<"$txt"
check "status text: preflight section" grep -q "^Preflight:" <<<"$txt"
check "status text: step with state, host, duration" grep -qE "^  STOP_GUEST +succeeded +$S +[0-9-]+.* [0-9]+\.[0-9]s" <<<"$txt"
check "status text: skipped NAT step" grep -qE "^  REMOVE_NAT_BRIDGE_SRC +skipped" <<<"$txt"
# Text from a host reaches the operator's terminal shown, never obeyed: a step message with a
# clear-screen sequence and a carriage return (as a host's stderr could put there).
sql "UPDATE job_steps SET message = E'stopped\x1b[2J\rgone' WHERE job_id = '$job' AND step = 'STOP_GUEST'"
txt=$(kvmove status "$job")
check "status text: the escape sequence is shown as text" grep -qF 'stopped\x1b[2J\rgone' <<<"$txt"
check "status text: no control byte reaches the terminal" eq 0 "$(tr -d '\n' <<<"$txt" | LC_ALL=C grep -c $'[\x01-\x1f\x7f]')"
check "status --json: the message as stored (jansson escapes it)" eq $'stopped\x1b[2J\rgone' \
    "$(kvmove status "$job" --json | jq -r '.steps[] | select(.step == "STOP_GUEST") | .message')"
kvmove status 00000000-0000-4000-8000-000000000000 >/dev/null 2>err.txt; rc=$?
check "status of an unknown job: exit 1" eq 1 "$rc"
check "status of an unknown job: says so" grep -q "does not exist" err.txt

# watch: the job's events from its start (it has ended: plain lines, exit 0).
w=$(kvmove watch "$job" --timeout 30); rc=$?
check "watch JOB: exit 0 (job succeeded)" eq 0 "$rc"
check "watch JOB: plain step line with host and elapsed" grep -qE "^[0-9T:.Z-]+ step.completed $job STOP_GUEST host=$S elapsed=[0-9.]+s" <<<"$w"
check "watch JOB: 11 step.started lines" eq 11 "$(grep -c " step.started $job " <<<"$w")"
check "watch JOB: ends with job.succeeded" grep -q " job.succeeded $job" <<<"$(tail -n1 <<<"$w")"
wj=$(kvmove watch "$job" --json --timeout 30)
check "watch --json: one CloudEvent per line" eq "$(wc -l <<<"$wj")" "$(jq -c 'select(.specversion == "1.0")' <<<"$wj" | wc -l)"
check "watch --json: last is job.succeeded" eq io.kvmove.job.succeeded "$(tail -n1 <<<"$wj" | jq -r .type)"
# watch on a terminal (script(1) gives it a pty): a progress line per step, rewritten in place.
tw=$(script -qec "kvmove watch $job --timeout 30" /dev/null </dev/null)
check "watch on a terminal: step progress line" grep -qE "\[ 1/11\] STOP_GUEST +$S +succeeded +[0-9]+\.[0-9]s" <<<"$tw"
check "watch on a terminal: lines rewritten in place" grep -q $'\r\e\[K' <<<"$tw"
check "watch on a terminal: ends with succeeded" grep -q "^Job $job succeeded \[Elapsed = " <<<"$(tr -d '\r' <<<"$tw" | tail -n1)"
# events: raw, valid against the schema.
ev=$(kvmove events --validate 2>err.txt); rc=$?
check "events --validate: exit 0" eq 0 "$rc"
check "events --validate: nothing on stderr" eq "" "$(cat err.txt)"
check "events: every line is JSON of this job or none" eq 0 "$(jq -r --arg j "$job" 'select(.data.job_id != $j) | .id' <<<"$ev" | wc -l)"
check "events: job.succeeded among them" eq 1 "$(jq -r 'select(.type == "io.kvmove.job.succeeded") | .id' <<<"$ev" | wc -l)"
# events --follow keeps running until interrupted.
kvmove events --follow >follow.txt 2>&1 &
fp=$!
sleep 3
check "events --follow: still running after the backlog" kill -0 $fp
kill -INT $fp; wait $fp; rc=$?
check "events --follow: exit 0 on SIGINT" eq 0 "$rc"
check "events --follow: printed the backlog" eq "$(wc -l <<<"$ev")" "$(wc -l <follow.txt)"

# ---- config versions ----
cl=$(kvmove config list --json)
check "config list --json: loaded, merged, deployed" eq "loaded migration-merged migration-deployed" "$(jq -r 'map(.state) | join(" ")' <<<"$cl")"
check "config list text" grep -qE "^3 +exa01 +migration-deployed" <<<"$(kvmove config list)"
sv=$(kvmove config save v1.xml --version 1 --json)
check "config save --json" eq "v1.xml 1 loaded" "$(jq -r '"\(.file) \(.version) \(.state)"' <<<"$sv")"
check "config save: version 1 has the guest on the source" eq exa01adm02_id "$(xmllint --xpath "string(//machine[machine/@id='exa01vm01_id']/@id)" v1.xml)"
check "config diff 1 3 --json: the guest moved" eq "moved $G $S $T" "$(kvmove config diff 1 3 --json | jq -r '.guests[] | "\(.change) \(.guest) \(.from) \(.to)"')"
check "config diff 1 0: 0 is the newest" eq 3 "$(kvmove config diff 1 0 --json | jq .to_version)"
check "config diff 1 3: deployed action listed" eq true "$(kvmove config diff 1 3 --json | jq '[.actions[] | select(.deployed)] | length > 0')"
kvmove config save x.xml --version 99 >/dev/null 2>err.txt; rc=$?
check "config save of a missing version: exit 1" eq 1 "$rc"
check "config save of a missing version: says what to do" grep -q "kvmove config list" err.txt
lj=$(kvmove config load "$IT_TOP/tests/fixtures/exa01.xml" --json)
check "config load --json" eq "4 exa01 6" "$(jq -r '"\(.version) \(.system) \(.kvm_hosts)"' <<<"$lj")"
kvmove config load "$IT_TOP/tests/fixtures/esxml/entity_xxe.xml" >/dev/null 2>err.txt; rc=$?
check "config load of a hostile file: exit 1" eq 1 "$rc"

# ---- validation failure: exit 1, nothing published ----
kvmove submit --guest nosuch.example.com --mode offline --src $S --tgt $T >out.txt 2>&1; rc=$?
check "submit of an unknown guest: exit 1" eq 1 "$rc"
check "submit of an unknown guest: no job" eq 1 "$(sql "SELECT count(*) FROM jobs")"

# ---- shell: LIST ACTIONS --json, HELP, prompts pasted from a runbook, errors ----
sh_out=$(printf 'oedacli> MIGRATE GUEST HOSTNAME=exa01vm02.example.com MODE=offlineforce SRCHOST=%s TGTHOST=exa01adm03.example.com\nsave action\nlist actions\nhelp\nexit\nDEPLOY ACTIONS\n' $S | kvmove shell --json); rc=$?
check "shell: exit 0 at EXIT (later lines ignored)" eq 0 "$rc"
check "shell: LIST ACTIONS --json" eq "saved MIGRATE GUEST HOSTNAME=exa01vm02.example.com MODE=OFFLINEFORCE SRCHOST=$S TGTHOST=exa01adm03.example.com" \
    "$(sed -n '/^\[/,/^\]/p' <<<"$sh_out" | jq -r '.[] | "\(.state) \(.command)"')"
check "shell: HELP lists DEPLOY ACTIONS" grep -q "DEPLOY ACTIONS" <<<"$sh_out"
printf 'FROB ACTIONS\n' | kvmove shell >/dev/null 2>err.txt; rc=$?
check "shell: unknown command: exit 1" eq 1 "$rc"
check "shell: unknown command: says HELP" grep -q "type HELP" err.txt
printf 'MERGE ACTIONS\n' | kvmove shell >/dev/null 2>err.txt; rc=$?
check "shell: MERGE without actions: exit 1" eq 1 "$rc"
check "shell: MERGE without actions: says why" grep -q "no saved actions" err.txt
printf 'MIGRATE GUEST HOSTNAME=a;reboot MODE=OFFLINE SRCHOST=%s TGTHOST=%s\n' $S $T | kvmove shell >/dev/null 2>err.txt; rc=$?
check "shell: hostile guest name refused: exit 1" eq 1 "$rc"
kvmove shell /nonexistent.txt 2>err.txt; rc=$?
check "shell: missing command file: exit 1" eq 1 "$rc"

# An interactive session: prompt on a terminal.
ti=$(printf 'HELP\nEXIT\n' | script -qec "kvmove shell" /dev/null)
check "shell on a terminal: kvmove> prompt" grep -q "kvmove> " <<<"$ti"
check "shell on a terminal: HELP answered" grep -q "MIGRATE GUEST HOSTNAME=G" <<<"$ti"

# ---- unreachable services: exit 3, and what to do ----
kvmove --db "host=127.0.0.1 port=1 connect_timeout=2" jobs >/dev/null 2>err.txt; rc=$?
check "database unreachable: exit 3" eq 3 "$rc"
check "database unreachable: says what to check" grep -q "check that PostgreSQL is running and that --db, KVMOVE_DB" err.txt
kvmove -b 127.0.0.1:1 events >/dev/null 2>err.txt; rc=$?
check "broker unreachable: exit 3" eq 3 "$rc"
check "broker unreachable: says what to check" grep -q "check that the Kafka brokers 127.0.0.1:1 are running" err.txt

# ---- precedence through the CLI: defaults < file < environment < flags ----
printf 'brokers = 127.0.0.1:1\ndb = "host=127.0.0.1 port=1 connect_timeout=2"\n' >bad.conf
check "file db < KVMOVE_DB: environment wins" eq "$job" "$(kvmove -c bad.conf jobs --json | jq -r '.[0].id')"
kvmove -c bad.conf --db "host=127.0.0.1 port=1 connect_timeout=2" jobs >/dev/null 2>&1; rc=$?
check "KVMOVE_DB < --db: flag wins (unreachable, exit 3)" eq 3 "$rc"
(unset KVMOVE_DB; kvmove -c bad.conf jobs >/dev/null 2>&1); rc=$?
check "file db used without KVMOVE_DB (unreachable, exit 3)" eq 3 "$rc"
(unset KVMOVE_BROKERS KVMOVE_DB; KVMOVE_CONFIG=bad.conf kvmove jobs >/dev/null 2>&1); rc=$?
check "KVMOVE_CONFIG names the file" eq 3 "$rc"
printf 'brokerz = x\n' >typo.conf
kvmove -c typo.conf jobs >/dev/null 2>err.txt; rc=$?
check "configuration typo: exit 2" eq 2 "$rc"
check "configuration typo: file and line named" grep -q "typo.conf:1: unknown setting 'brokerz'" err.txt

# ---- man pages: installed by cmake --install, and well-formed roff ----
if cmake --install "$IT_BUILD" --prefix "$IT_DIR/inst" >install.log 2>&1; then
    for m in kvmove kvmove-worker; do
        f=$IT_DIR/inst/share/man/man1/$m.1
        check "man page $m.1 installed" test -s "$f"
        check "man page $m.1 renders without warnings" eq "" "$(groff -man -Tutf8 -ww "$f" 2>&1 >/dev/null)"
    done
    check "kvmove.1 documents exit status 3" grep -q "cannot be reached" "$IT_DIR/inst/share/man/man1/kvmove.1"
else
    check "cmake --install works" false
    cat install.log
fi
