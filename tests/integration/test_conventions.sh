#!/bin/bash
# The conventions operators expect (issue 16, item 4) and the picture of a migration (item 7):
# --version, strict numbers, the configuration files (the user's, an unreadable default one),
# kafka.config_file, secrets from files and credentials with their permission warnings,
# config show, the bash completion (against this stack's database), the man pages against
# every --help (and groff's lint), status --timeline and watch's board for an evacuation.
. "${BASH_SOURCE[0]%/*}/lib.sh"
it_setup conventions
it_worker_start 1
cd "$IT_DIR" || exit 1
# exa01vm01 and exa01vm02 start on adm02, exa01vm03 on adm01; adm06 runs newer software than
# the others, so a guest that went there stays there.
G1=exa01vm01.example.com S1=exa01adm02.example.com T1=exa01adm06.example.com
G2=exa01vm02.example.com G3=exa01vm03.example.com
A1=exa01adm01.example.com A3=exa01adm03.example.com A4=exa01adm04.example.com A5=exa01adm05.example.com
MAN=$IT_TOP/man
submit_job() { # submit_job G S T: publishes the migration, prints its job id (else tells why)
    local out
    out=$(kvmove submit --guest "$1" --mode offline --src "$2" --tgt "$3" 2>&1) || echo "$out" >&2
    grep -oE '[0-9a-f-]{36}' <<<"$out" | head -n1
}

# ---- --version: one version, CMake's ----
want=$(sed -nE 's/^project\(kvmove VERSION ([0-9.]+).*/\1/p' "$IT_TOP/CMakeLists.txt")
check "CMakeLists.txt has a project version" test -n "$want"
check "kvmove --version prints CMake's version" eq "kvmove $want" "$(kvmove --version)"
check "kvmove-worker --version prints CMake's version" eq "kvmove-worker $want" "$(kvmove-worker --version)"
check "kvmove --version needs no configuration" eq "kvmove $want" "$(KVMOVE_CONFIG=/nonexistent kvmove --version)"
check "the man pages carry the version" grep -q "\"kvmove $want\"" "$MAN/kvmove.1" "$MAN/kvmove-worker.1" "$MAN/kvmove.conf.5"

# ---- numbers are parsed strictly (the old code took --timeout abc as no limit) ----
strict() { # strict DESCRIPTION OPTION VALUE ARGS...: exit 2, the option and value named
    local what=$1 opt=$2 val=$3 out rc; shift 3
    out=$("$@" 2>&1 >/dev/null); rc=$?
    check "$what: exit 2" eq 2 "$rc"
    check "$what: the error names $opt and '$val'" grep -qF -- "$opt: '$val' is not a number from" <<<"$out"
}
strict "submit --timeout abc" --timeout abc kvmove submit --guest $G1 --mode offline --src $S1 --tgt $T1 --timeout abc
strict "replay --timeout 5x" --timeout 5x kvmove replay 00000000-0000-4000-8000-000000000000 --wait --timeout 5x
strict "watch --timeout -1" --timeout -1 kvmove watch --timeout -1
strict "shell --timeout 1e3" --timeout 1e3 kvmove shell --timeout 1e3 /dev/null
strict "cancel --timeout abc" --timeout abc kvmove cancel 00000000-0000-4000-8000-000000000000 --wait --timeout abc
strict "rollback --timeout 5x" --timeout 5x kvmove rollback 00000000-0000-4000-8000-000000000000 --wait --timeout 5x
strict "return --timeout -1" --timeout -1 kvmove return --host $S1 --timeout -1
strict "evacuate --max-parallel 0" --max-parallel 0 kvmove evacuate --host $S1 --max-parallel 0
strict "jobs --limit beyond a long" --limit 99999999999999999999 kvmove jobs --limit 99999999999999999999
strict "-o ssh.port=+22" ssh.port +22 kvmove -o ssh.port=+22 jobs
strict "KVMOVE_WORKER_JOBS=4x for the worker" worker.jobs 4x env KVMOVE_WORKER_JOBS=4x kvmove-worker migrate
out=$(kvmove submit --guest $G1 --mode offline --src $S1 --tgt $T1 --timeout 0x10 2>&1 >/dev/null)
check "no hexadecimal either" grep -q "'0x10' is not a number" <<<"$out"

# ---- configuration files: the system's, the user's (XDG), -c / KVMOVE_CONFIG ----
show() { kvmove "$@" config show --json; }
value() { jq -r --arg k "$1" '.settings[] | select(.key == $k) | .value'; }
origin() { jq -r --arg k "$1" '.settings[] | select(.key == $k) | .origin'; }
mkdir -p xdg/kvmove home/.config/kvmove
printf 'worker.group = from-xdg\n' >xdg/kvmove/kvmove.conf
printf 'worker.group = from-home\n' >home/.config/kvmove/kvmove.conf
j=$(env -u KVMOVE_CONFIG XDG_CONFIG_HOME=$IT_DIR/xdg HOME=$IT_DIR/home kvmove config show --json)
check "the user's file is read (XDG_CONFIG_HOME)" eq from-xdg "$(value worker.group <<<"$j")"
check "...and its origin is its line" eq "file $IT_DIR/xdg/kvmove/kvmove.conf:1" "$(origin worker.group <<<"$j")"
check "...after the system's file, which is looked for" eq /etc/kvmove/kvmove.conf "$(jq -r '.files[0].path' <<<"$j")"
j=$(env -u KVMOVE_CONFIG -u XDG_CONFIG_HOME HOME=$IT_DIR/home kvmove config show --json)
check "without XDG_CONFIG_HOME: ~/.config/kvmove/kvmove.conf" eq from-home "$(value worker.group <<<"$j")"
j=$(env -u KVMOVE_CONFIG XDG_CONFIG_HOME=$IT_DIR/xdg KVMOVE_WORKER_GROUP=from-env kvmove config show --json)
check "the environment overrides the user's file" eq from-env "$(value worker.group <<<"$j")"
check "...and says so" eq "env KVMOVE_WORKER_GROUP" "$(origin worker.group <<<"$j")"
j=$(env -u KVMOVE_CONFIG XDG_CONFIG_HOME=$IT_DIR/xdg kvmove -o worker.group=from-flag config show --json)
check "a flag overrides both" eq "from-flag:flag" "$(value worker.group <<<"$j"):$(origin worker.group <<<"$j")"
j=$(XDG_CONFIG_HOME=$IT_DIR/xdg kvmove config show --json) # KVMOVE_CONFIG=/dev/null (lib.sh)
check "KVMOVE_CONFIG names the one file: the user's is not read" eq kvmove-workers "$(value worker.group <<<"$j")"
mkdir -p xdg2/kvmove && printf 'nosuch.key = 1\n' >xdg2/kvmove/kvmove.conf
env -u KVMOVE_CONFIG XDG_CONFIG_HOME=$IT_DIR/xdg2 kvmove jobs >/dev/null 2>&1
check "kvmove reads a broken user's file (and refuses it)" eq 2 "$?"
env -u KVMOVE_CONFIG XDG_CONFIG_HOME=$IT_DIR/xdg2 kvmove-worker migrate >/dev/null 2>&1
check "kvmove-worker does not read the user's file" eq 0 "$?"

# An unreadable default file is a warning; a named one an error. As nobody: root reads anything.
chmod 0600 xdg/kvmove/kvmove.conf
chmod 0755 "$IT_DIR" xdg xdg/kvmove
asnobody() { setpriv --reuid=nobody --regid=nogroup --clear-groups env -u KVMOVE_CONFIG "$@"; }
out=$(asnobody XDG_CONFIG_HOME=$IT_DIR/xdg HOME=/nonexistent "$IT_BUILD/kvmove" config show 2>&1 >/dev/null); rc=$?
check "an unreadable default file: exit 0" eq 0 "$rc"
check "...with a warning naming it" grep -q "^kvmove: warning: cannot read configuration file $IT_DIR/xdg/kvmove/kvmove.conf: Permission denied; going on without it" <<<"$out"
out=$(asnobody "$IT_BUILD/kvmove" -c "$IT_DIR/xdg/kvmove/kvmove.conf" config show 2>&1 >/dev/null); rc=$?
check "the same file named with -c: exit 2" eq 2 "$rc"
check "...an error naming it" grep -q "cannot read configuration file $IT_DIR/xdg/kvmove/kvmove.conf: Permission denied" <<<"$out"

# ---- kafka.config_file: a librdkafka properties file, the one kcat -F reads ----
printf '# as kcat -F reads it\nbootstrap.servers=%s\nclient.id=from-properties\n' "$KVMOVE_BROKERS" >client.properties
out=$(kvmove -b 127.0.0.1:1 -o kafka.config_file=$IT_DIR/client.properties submit --no-validate \
    --guest $G3 --mode offline --src $A1 --tgt $A3 2>&1); rc=$?
check "kafka.config_file's bootstrap.servers reaches the broker (-b points nowhere)" eq 0 "$rc"
check "kcat -F reads the same file" grep -q kvmove.requests <<<"$(kcat -F "$IT_DIR/client.properties" -L 2>/dev/null)"
j=$(show -o kafka.config_file=$IT_DIR/client.properties -X client.id=from-flag)
check "config show: a property from the file, with its line" eq "file $IT_DIR/client.properties:2" "$(jq -r '.settings[] | select(.key == "kafka.bootstrap.servers") | .origin' <<<"$j")"
check "config show: -X after the file wins" eq from-flag "$(value kafka.client.id <<<"$j")"
job_g3=$(grep -oE '[0-9a-f-]{36}' <<<"$out" | head -n1)
check "the request published through the properties file becomes a job" eq succeeded "$(wait_job "$job_g3" 120)"

# ---- secrets: from files, credentials, permission warnings, never shown ----
printf 'hunter2\n' >pgpass && chmod 0600 pgpass
out=$(kvmove -o db.password_file=$IT_DIR/pgpass jobs --json 2>&1 >/dev/null); rc=$?
check "db.password_file: the conninfo still connects (host, port, dbname kept)" eq 0:"" "$rc:$out"
j=$(show -o db.password_file=$IT_DIR/pgpass)
check "config show: the password joins db, redacted" grep -q "password=<redacted>" <<<"$(value db <<<"$j")"
check "config show: ...and says where it came from" grep -q ", secret from $IT_DIR/pgpass" <<<"$(origin db <<<"$j")"
chmod 0644 pgpass
out=$(kvmove -o db.password_file=$IT_DIR/pgpass jobs 2>&1 >/dev/null)
check "a secret file others can read: a warning" grep -q "^kvmove: warning: permissions 0644 for '$IT_DIR/pgpass' are too open" <<<"$out"
out=$(kvmove-worker -o db.password_file=$IT_DIR/pgpass migrate 2>&1)
check "...the worker logs it" grep -q "permissions 0644 for '$IT_DIR/pgpass' are too open" <<<"$out"
chmod 0600 pgpass
mkdir -p creds && printf 'fromcred\n' >creds/db.password && printf 'k\n' >creds/id_test && chmod 0400 creds/*
j=$(CREDENTIALS_DIRECTORY=$IT_DIR/creds show -o ssh.identity=id_test)
check "systemd credential db.password: used without a setting" grep -q "secret from $IT_DIR/creds/db.password" <<<"$(origin db <<<"$j")"
check "a relative ssh.identity names a credential" eq "$IT_DIR/creds/id_test" "$(value ssh.identity <<<"$j")"
out=$(CREDENTIALS_DIRECTORY=$IT_DIR/creds kvmove jobs --json 2>&1 >/dev/null); rc=$?
check "...and the database is reached with it" eq 0:"" "$rc:$out"
all=$(kvmove -X sasl.password=s3cr3tX -X ssl.key.password=s3cr3tY -o "db=$KVMOVE_DB password=s3cr3tZ" config show; \
      kvmove -X sasl.password=s3cr3tX -o "db=$KVMOVE_DB password=s3cr3tZ" config show --json)
check "config show never prints a secret" eq 0 "$(grep -c 's3cr3t' <<<"$all")"
check "...it says it hid them" eq 5 "$(grep -o '<redacted>' <<<"$all" | wc -l)"
check "config show lists every key of the table, once" eq "$(kvmove __complete settings | sort)" "$(show | jq -r '.settings[].key' | sort)"

# ---- a migration to draw and to complete job ids from: the guest takes 1 s to stop and 2 s to
# boot, so that those steps are most of it whatever the machine's load ----
"$HOSTSIM" latency "$IT_HOSTS" $S1 "vm_maker --stop-domain" 1000
"$HOSTSIM" latency "$IT_HOSTS" $T1 "vm_maker --start-domain" 2000
job1=$(submit_job $G1 $S1 $T1)
check "migration 1 succeeds" eq succeeded "$(wait_job "$job1" 180)"
"$HOSTSIM" latency "$IT_HOSTS" $S1 clear
"$HOSTSIM" latency "$IT_HOSTS" $T1 clear

# ---- bash completion: sourced, driven as bash drives it ----
. "$IT_TOP/completion/kvmove"
complete_words() { # complete_words WORD...: the candidates for the last word
    COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); COMPREPLY=()
    if [[ $1 == kvmove-worker ]]; then _kvmove_worker; else _kvmove; fi
    printf '%s\n' "${COMPREPLY[@]}"
}
has() { grep -qxF -- "$1" <<<"$2"; }
c=$(complete_words kvmove "")
check "completion: every verb of kvmove --help" eq "$(kvmove --help | sed -n '/^Commands:/,/^$/s/^  \([a-z]*\) .*/\1/p' | sort)" "$(sort <<<"$c")"
check "completion: the hidden helper is not a verb" eq "" "$(grep __complete <<<"$c")"
check "completion: global options" has --config "$(complete_words kvmove --c)"
check "completion: a verb's options" eq "--step" "$(complete_words kvmove submit --st)"
check "completion: step names" eq $'STOP_GUEST\nSTARTUP_GUEST' "$(complete_words kvmove submit --guest $G1 --step ST)"
check "completion: --from-step=..." has DETACH_VOLUMES "$(complete_words kvmove replay --from-step = DET)"
check "completion: modes" eq $'offline\nofflineforce' "$(complete_words kvmove submit --mode o)"
check "completion: statuses" eq "failed" "$(complete_words kvmove jobs --status f)"
check "completion: guests of the stored es.xml" eq "$(grep -A1 '<osType>LinuxKVMGuest<' "$IT_TOP/tests/fixtures/exa01.xml" | sed -n 's/.*<hostName>\(.*\)<\/hostName>.*/\1/p' | sort)" "$(complete_words kvmove submit --guest "" | sort)"
check "completion: guests (a prefix)" has $G1 "$(complete_words kvmove submit --guest exa01vm0)"
check "completion: hosts" has $T1 "$(complete_words kvmove submit --guest $G1 --src $S1 --tgt exa01adm0)"
check "completion: hosts after a comma" has "$A1,$A3" "$(complete_words kvmove evacuate --host $S1 --targets "$A1,exa01adm03")"
check "completion: job ids for status" has "$job1" "$(complete_words kvmove status "")"
check "completion: job ids for status (a prefix)" eq "$job1" "$(complete_words kvmove status "${job1:0:8}")"
check "completion: replay offers failed jobs only" eq "" "$(complete_words kvmove replay "" | grep -x "$job1")"
check "completion: the global --db is used for job ids" eq "" "$(complete_words kvmove --db "dbname=nosuch_db_conv" status "")"
check "completion: config subcommands" eq $'diff\nlist\nload\nprune\nsave\nshow' "$(complete_words kvmove config "")"
check "completion: files after config load" has "client.properties" "$(complete_words kvmove config load cli)"
check "completion: setting keys after -o" has "ssh.port=" "$(complete_words kvmove -o ssh.p)"
check "completion: kvmove-worker commands" eq $'run\nmigrate' "$(complete_words kvmove-worker "")"
check "completion: kvmove-worker --log-format" eq $'text\njson' "$(complete_words kvmove-worker --log-format "")"
check "completion: the helper prints nothing on stderr, even unreachable" eq "" "$(kvmove --db dbname=nosuch_db_conv __complete jobs 2>&1)"
rm -rf inst && cmake --install "$IT_BUILD" --prefix "$IT_DIR/inst" >/dev/null 2>&1
check "cmake --install: the completion in share/bash-completion/completions" cmp "$IT_TOP/completion/kvmove" inst/share/bash-completion/completions/kvmove
check "cmake --install: kvmove-worker's too" test -f inst/share/bash-completion/completions/kvmove-worker
check "cmake --install: kvmove.conf(5)" test -f inst/share/man/man5/kvmove.conf.5

# ---- man pages: complete, and what --help says ----
# The options in text: --long and -x words (roff's \- read as -, font escapes dropped).
opts() { sed -e 's/\\-/-/g' -e 's/\\f[BIRP]//g' | grep -oE '(^|[[:space:],[(|])--?[a-zA-Z][a-zA-Z0-9-]*' | sed -E 's/^[[:space:],[(|]//' | sort -u; }
# section FILE HEADING [LEVEL]: the roff source of .SH/.SS HEADING up to the next heading.
section() { awk -v h="$2" -v lvl="${3:-SH}" '$1 == "." lvl { on = ($0 == "." lvl " " h) ; next } /^\.SH/ { on = 0 } on' "$1"; }
verbs=$(kvmove --help | sed -n '/^Commands:/,/^$/s/^  \([a-z]*\) .*/\1/p')
check "kvmove(1) has a section for every verb, and no other" eq "$(sort <<<"$verbs")" "$(sed -n 's/^\.SS //p' "$MAN/kvmove.1" | sort)"
for v in $verbs; do
    h=$(kvmove $v --help | opts | grep -vx -- --help)
    m=$(section "$MAN/kvmove.1" "$v" SS | opts | grep -vx -- --help)
    # the man page may name short forms a usage line leaves out: long options both ways
    missing=$(comm -23 <(echo "$h") <(echo "$m")); extra=$(comm -13 <(echo "$h") <(echo "$m") | grep -- '^--')
    check "kvmove(1) $v: every option of '$v --help'${missing:+ (missing: $missing)}" eq "" "$missing"
    check "kvmove(1) $v: no option '$v --help' does not have${extra:+ (extra: $extra)}" eq "" "$extra"
done
h=$(kvmove --help | sed -n '/^Options:/,/^$/p' | opts); m=$(section "$MAN/kvmove.1" OPTIONS | opts)
check "kvmove(1) OPTIONS: the global options of kvmove --help" eq "$h" "$(comm -12 <(echo "$h") <(echo "$m"))"
h=$(kvmove-worker --help | opts); m=$(section "$MAN/kvmove-worker.1" OPTIONS | opts)
check "kvmove-worker(1) OPTIONS: every option of kvmove-worker --help, and no other" eq "$h" "$m"
check "kvmove-worker(1): both commands" eq $'migrate\nrun' "$(section "$MAN/kvmove-worker.1" COMMANDS | sed -n 's/^\.B //p' | sort)"
for page in kvmove.1 kvmove-worker.1; do
    for s in "EXIT STATUS" ENVIRONMENT FILES "SEE ALSO"; do
        check "$page has $s" grep -qx "\.SH $s" "$MAN/$page"
    done
done
check "kvmove(1) EXIT STATUS: 0 to 3, as --help says" eq $'0\n1\n2\n3' "$(section "$MAN/kvmove.1" "EXIT STATUS" | sed -n 's/^\.B \([0-9]\)$/\1/p')"
# Every environment variable the code reads is in ENVIRONMENT.
for v in $(grep -ho 'getenv("[A-Z_]*")' "$IT_TOP"/producer/*.c "$IT_TOP"/lib/*.c | grep -oE '[A-Z_]{2,}' | sort -u); do
    check "kvmove(1) ENVIRONMENT names $v" grep -q "$v" <(section "$MAN/kvmove.1" ENVIRONMENT)
done
for v in $(grep -ho 'getenv("[A-Z_]*")' "$IT_TOP"/worker/*.c | grep -oE '[A-Z_]{2,}' | sort -u); do
    check "kvmove-worker(1) ENVIRONMENT names $v" grep -q "$v" <(section "$MAN/kvmove-worker.1" ENVIRONMENT)
done
# kvmove.conf(5): exactly the keys of lib/settings.c, each with its default and variable.
keys=$(kvmove __complete settings | sort)
conf_keys=$(section "$MAN/kvmove.conf.5" SETTINGS | awk 'p && /^\.B / { print $2 } { p = /^\.TP/ }' | sed 's/\\-/-/g' | sort)
check "kvmove.conf(5) SETTINGS: every key of lib/settings.c" eq "" "$(comm -23 <(echo "$keys") <(echo "$conf_keys"))"
check "kvmove.conf(5) SETTINGS: no key lib/settings.c does not have" eq "" "$(comm -13 <(echo "$keys") <(echo "$conf_keys"))"
defaults=$(env -i PATH="$PATH" KVMOVE_CONFIG=/dev/null kvmove config show --json)
for k in $keys; do
    entry=$(section "$MAN/kvmove.conf.5" SETTINGS | awk -v k=".B $k" '$0 == k { on = 1; next } /^\.(TP|SH|SS)/ { on = 0 } on' | sed -e 's/\\-/-/g')
    env_name=$(jq -r --arg k "$k" '.settings[] | select(.key == $k) | .env' <<<"$defaults")
    def=$(value "$k" <<<"$defaults")
    check "kvmove.conf(5) $k: Environment: $env_name" grep -qF "Environment: \\fB$env_name\\fR" <<<"$entry"
    if [[ -z $def ]]; then
        check "kvmove.conf(5) $k: Default: empty" grep -qF "Default: empty." <<<"$entry"
    elif [[ $def == /* ]]; then
        check "kvmove.conf(5) $k: a directory's default, described" grep -qF "Default: the installation's" <<<"$entry"
    else
        check "kvmove.conf(5) $k: Default: $def" grep -qF "Default: \\fB$def\\fR." <<<"$entry"
    fi
done
for page in "$MAN"/kvmove.1 "$MAN"/kvmove-worker.1 "$MAN"/kvmove.conf.5; do
    check "groff -ww: $(basename "$page") has no warning" eq "" "$(groff -man -ww -z "$page" 2>&1)"
    check "man --warnings: $(basename "$page") has no warning" eq "" "$(man --warnings -l "$page" 2>&1 >/dev/null)"
done

# ---- status --timeline ----
tl=$(COLUMNS=100 kvmove status "$job1" --timeline); rc=$?
check "status --timeline: exit 0 (the job succeeded)" eq 0 "$rc"
check "status --timeline: the source's row" grep -qE "^source $S1 +[^ ]" <<<"$tl"
check "status --timeline: the target's row" grep -qE "^target $T1 +[^ ]" <<<"$tl"
check "status --timeline: the downtime row" grep -qE "^downtime +<=+ [0-9.]+s =+>" <<<"$tl"
check "status --timeline: the downtime in the summary" grep -qE "^Downtime: [0-9.]+s from STOP_GUEST's start to STARTUP_GUEST's end" <<<"$tl"
check "status --timeline: STOP_GUEST drawn on the source's row" grep -qE "^source .*\[(STOP_GUEST|SG)=*\]" <<<"$tl"
check "status --timeline: STARTUP_GUEST drawn on the target's row" grep -qE "^target .*\[(STARTUP_GUEST|SU)=*\]" <<<"$tl"
check "status --timeline: a legend line per step (11)" eq 11 "$(grep -cE '^  [1-9AB] [A-Z]{2} [A-Z_]+ ' <<<"$tl")"
drawing() { sed -n '/^Downtime:/,/^  #/p' | sed '1d;$d'; } # the axis, the rows, the downtime
check "status --timeline: \$COLUMNS is the width when not a terminal" eq "" "$(drawing <<<"$tl" | awk 'length > 100')"
check "status --timeline: ...and used" test "$(drawing <<<"$tl" | awk '{ if (length > n) n = length } END { print n }')" -ge 90
check "status --timeline: plain text when not a terminal" eq 0 "$(grep -c $'\e' <<<"$tl")"
tt=$(script -qec "stty cols 72; kvmove status $job1 --timeline" /dev/null </dev/null | tr -d '\r')
check "status --timeline on a terminal: as wide as the terminal" eq "" "$(drawing <<<"$tt" | sed $'s/\e\\[[0-9;]*m//g' | awk 'length > 72')"
check "status --timeline on a terminal: the downtime in colour" grep -q $'^downtime *\e\\[1;31m<' <<<"$tt"
check "status --timeline on a terminal with NO_COLOR: no colour" eq 0 "$(script -qec "NO_COLOR=1 kvmove status $job1 --timeline" /dev/null </dev/null | grep -c $'\e\\[')"
kvmove status "$job1" --timeline --json >/dev/null 2>&1
check "status --timeline --json: a usage error" eq 2 "$?"

# ---- watch --host: an evacuation of a host at a glance ----
kvmove watch --host $S1 --timeout 240 >watch_host.txt 2>watch_host.err &
watch_pid=$!
# watch reads the events from its start on: its first line says it has started.
for _ in $(seq 300); do grep -q "^# kvmove watch: the jobs from or to $S1" watch_host.txt && break; sleep 0.1; done
check "watch --host: a first line says what it watches" grep -q "^# kvmove watch: the jobs from or to $S1; 0 jobs" watch_host.txt
# One after the other: two deployments at once may lose one's es.xml update (fixed by fleet2).
job2=$(submit_job $G2 $S1 $A4)
check "migration 2 (from $S1) succeeds" eq succeeded "$(wait_job "$job2" 180)"
job3=$(submit_job $G3 $A3 $A5)
check "migration 3 (elsewhere) succeeds" eq succeeded "$(wait_job "$job3" 180)"
for _ in $(seq 300); do grep -q "^${job2:0:8} .* succeeded in " watch_host.txt && break; sleep 0.2; done
kill "$watch_pid" 2>/dev/null; wait "$watch_pid" 2>/dev/null
check "watch --host: the job from $S1 ends with 'succeeded in'" grep -qE "^${job2:0:8} $G2 +exa01adm02 -> exa01adm04 \[11/11\] succeeded in [0-9.]+s$" watch_host.txt
check "watch --host: a line per change (its steps running)" test "$(grep -cE "^${job2:0:8} .* \[ ?[0-9]+/11\] [A-Z_]+ +running " watch_host.txt)" -ge 5
check "watch --host: progress counts up to 11" eq 11 "$(grep "^${job2:0:8} " watch_host.txt | grep -oE '\[ ?[0-9]+/11\]' | tr -d '[] ' | cut -d/ -f1 | sort -n | tail -n1)"
check "watch --host: the other host's job is not shown" eq 0 "$(grep -c "^${job3:0:8} " watch_host.txt)"
check "watch --host: no escape sequences when not a terminal" eq 0 "$(grep -c $'\e' watch_host.txt)"
# On a terminal: one line per job under a summary, redrawn in place.
script -qec "stty cols 90; kvmove watch --timeout 240" /dev/null </dev/null >watch_tty.txt 2>&1 &
watch_pid=$!
for _ in $(seq 300); do grep -q "0 jobs: 0 queued" watch_tty.txt && break; sleep 0.1; done
job4=$(submit_job $G2 $A4 $A1)
check "migration 4 succeeds" eq succeeded "$(wait_job "$job4" 180)"
for _ in $(seq 300); do grep -q "${job4:0:8} .* succeeded in " watch_tty.txt && break; sleep 0.2; done
kill "$watch_pid" 2>/dev/null; wait "$watch_pid" 2>/dev/null
check "watch on a terminal: the job's line ends with 'succeeded in'" grep -qE "${job4:0:8} $G2 +exa01adm04 -> exa01adm01 \[11/11\] succeeded in " watch_tty.txt
check "watch on a terminal: a summary line" grep -qE "1 job: 0 queued, 0 running, 1 succeeded, 0 failed" watch_tty.txt
check "watch on a terminal: redrawn in place (cursor up, lines cleared)" grep -q $'\e\\[2A\r\e\\[K' watch_tty.txt
check "watch on a terminal: no line wider than the terminal" eq "" "$(tr '\r' '\n' <watch_tty.txt | sed $'s/\e\\[[0-9;]*[A-Za-z]//g' | awk 'length > 90')"
