#!/bin/bash
# The worker's /metrics and /healthz: counters move during and after a migration, a failed
# preflight and a failed step are counted, /healthz fails while the database (or the broker)
# cannot be reached and recovers after; scrapes open no database connection; with two
# workers the cluster-wide gauges come from one of them (sum() over workers is right) and
# move to the other when it stops; kvmove_build_info; --log-format json gives one JSON object
# per line.
. "${BASH_SOURCE[0]%/*}/lib.sh"
. "${BASH_SOURCE[0]%/*}/waits.sh"
it_setup metrics
G=exa01vm01.example.com S=exa01adm02.example.com T=exa01adm06.example.com
DB=it_metrics
PGADMIN="${KVMOVE_DB/dbname=$DB/dbname=postgres}"

it_worker_start 1 -o metrics.listen=127.0.0.1:0 -o worker.step_retries=0 --log-format json
# metrics_port N: the port worker N logged it serves /metrics on ("" until it has).
metrics_port() { sed -n 's/.*serving \/metrics and \/healthz on .* (port \([0-9]*\)).*/\1/p' "$IT_DIR/worker-$1.log" | head -n1; }
has_metrics_port() { [[ -n $(metrics_port "$1") ]]; }
waited "worker logs the metrics port" 10 has_metrics_port 1
port=$(metrics_port 1)
URL=http://127.0.0.1:${port:-1}

# metric FILE-SUFFIX NAME{LABELS}: the value of one series (empty if absent).
metric() { awk -v k="$2" '$1 == k { print $2 }' "$IT_DIR/metrics.$1"; }
# scrape NAME [URL]: metrics to $IT_DIR/metrics.NAME once the database and broker figures (a
# cache a thread refreshes every 2 s) are from a refresh that began after this call.
scrape() {
    local url=${2:-$URL} r0 r
    r0=$(curl -s --max-time 10 "$url/metrics" | awk '$1 == "kvmove_metrics_refreshes_total" { print $2 }')
    for _ in $(seq 150); do
        curl -s --max-time 10 "$url/metrics" >"$IT_DIR/metrics.$1"
        r=$(metric "$1" kvmove_metrics_refreshes_total)
        [[ -n $r && -n $r0 ]] && ((r >= r0 + 2)) && return 0
        sleep 0.1
    done
    return 1
}
healthz() { curl -s --max-time 10 -o "$IT_DIR/healthz.out" -w '%{http_code}' "$URL/healthz"; }
# healthz_becomes CODE: polls /healthz until it answers CODE (it follows the refreshes).
healthz_becomes() {
    for _ in $(seq 100); do [[ $(healthz) == "$1" ]] && return 0; sleep 0.2; done
    return 1
}

check "a first scrape sees two fresh refreshes" scrape before
check "metrics served as Prometheus text" grep -q '^# TYPE kvmove_steps_total counter$' "$IT_DIR/metrics.before"
check "content type is the Prometheus text format" grep -qi '^content-type: text/plain; version=0.0.4' \
    <<<"$(curl -s -D - -o /dev/null "$URL/metrics")"
check "no step counted before a migration" eq 0 "$(metric before 'kvmove_steps_total{step="STOP_GUEST",outcome="succeeded"}')"
check "jobs by status from the database" eq 0 "$(metric before 'kvmove_jobs{status="succeeded"}')"
check "database up" eq 1 "$(metric before kvmove_database_up)"
check "broker up" eq 1 "$(metric before kvmove_broker_up)"
check "/healthz 200 with both reachable" eq 200 "$(healthz)"
check "unknown path is 404" eq 404 "$(curl -s -o /dev/null -w '%{http_code}' "$URL/nope")"

# A migration with a slow guest start, so that it can be scraped half-way.
# (8 s: a scrape waits for two refreshes of the cached figures, 2 s apart, on a busy machine.)
"$HOSTSIM" latency "$IT_HOSTS" $T "vm_maker --start-domain" 8000
kvmove submit --guest $G --mode offline --src $S --tgt $T >/dev/null
startup_running() { [[ $(sql "SELECT count(*) FROM job_steps WHERE step = 'STARTUP_GUEST' AND status = 'running'") == 1 ]]; }
waited "the migration reaches STARTUP_GUEST" 30 startup_running
check "a scrape during STARTUP_GUEST sees two fresh refreshes" scrape during
check "during: the job is running" eq 1 "$(metric during 'kvmove_jobs{status="running"}')"
check "during: this worker holds one job" eq 1 "$(metric during kvmove_worker_jobs_active)"
check "during: STOP_GUEST counted" eq 1 "$(metric during 'kvmove_steps_total{step="STOP_GUEST",outcome="succeeded"}')"
check "during: STARTUP_GUEST not yet counted" eq 0 "$(metric during 'kvmove_steps_total{step="STARTUP_GUEST",outcome="succeeded"}')"
check "during: events published" test "$(metric during kvmove_events_published_total)" -gt 0
job=$(sql "SELECT id FROM jobs WHERE guest = '$G'")
check "migration succeeded" eq succeeded "$(wait_job "$job" 120)"
waited "the outbox is published" 10 outbox_drained
check "a scrape after the migration sees two fresh refreshes" scrape after
check "after: STARTUP_GUEST counted" eq 1 "$(metric after 'kvmove_steps_total{step="STARTUP_GUEST",outcome="succeeded"}')"
ok=0 skipped=0
for s in $(sql "SELECT step || ':' || status FROM job_steps WHERE job_id = '$job'"); do
    st=${s%%:*} out=${s#*:}
    [[ $(metric after "kvmove_steps_total{step=\"$st\",outcome=\"$out\"}") == 1 ]] && ok=$((ok + 1))
    [[ $out == skipped ]] && skipped=$((skipped + 1))
done
check "after: every recorded step counted once under its outcome" eq 11 "$ok"
check "after: skipped steps counted" eq "$skipped" "$(grep -c '^kvmove_steps_total{.*outcome="skipped"} 1$' "$IT_DIR/metrics.after")"
check "after: events published grew" test "$(metric after kvmove_events_published_total)" -gt "$(metric during kvmove_events_published_total)"
check "after: events published = events written" eq "$(sql "SELECT count(*) FROM outbox")" "$(metric after kvmove_events_published_total)"
check "after: outbox backlog 0" eq 0 "$(metric after kvmove_outbox_backlog)"
check "after: jobs succeeded 1" eq 1 "$(metric after 'kvmove_jobs{status="succeeded"}')"
check "after: jobs running 0" eq 0 "$(metric after 'kvmove_jobs{status="running"}')"
check "after: worker finished one job" eq 1 "$(metric after 'kvmove_worker_jobs_finished_total{status="succeeded"}')"
check "after: STARTUP_GUEST histogram: one observation" eq 1 "$(metric after 'kvmove_step_duration_seconds_count{step="STARTUP_GUEST"}')"
check "after: STARTUP_GUEST took at least the 8 s latency (le=5 bucket empty)" eq 0 "$(metric after 'kvmove_step_duration_seconds_bucket{step="STARTUP_GUEST",le="5"}')"
check "after: STARTUP_GUEST within +Inf" eq 1 "$(metric after 'kvmove_step_duration_seconds_bucket{step="STARTUP_GUEST",le="+Inf"}')"
check "after: histogram buckets cumulative" eq "" "$(awk '/^kvmove_step_duration_seconds_bucket/ { split($1, a, ",le="); if (a[1] == prev && $2 < last) print $0; prev = a[1]; last = $2 }' "$IT_DIR/metrics.after")"
check "after: consumer lag reported and 0" eq 0 "$(awk '/^kvmove_consumer_lag\{/ { s += $2; n++ } END { print n ? s : "none" }' "$IT_DIR/metrics.after")"

# A request for a guest es.xml does not know (straight to Kafka, past the CLI's validation):
# its preflight fails and is counted by check; a step failure is counted by outcome.
rid=$(cat /proc/sys/kernel/random/uuid)
it_produce nosuch.example.com "$(printf '{"request_id":"%s","action":"migrate_guest","guest":"nosuch.example.com","mode":"OFFLINE","src_host":"%s","tgt_host":"%s","submitted_by":"%s","submitted_at":"%s"}' \
    "$rid" $S $T "$IT_OPERATOR" "$(it_now)")"
check "the request for an unknown guest fails at preflight" eq failed "$(wait_job "$rid" 10)"
check "a scrape after it sees two fresh refreshes" scrape preflight
check "preflight failure counted by check" test "$(awk '/^kvmove_preflight_failures_total\{check=/ { s += $2 } END { print s + 0 }' "$IT_DIR/metrics.preflight")" -ge 1
"$HOSTSIM" latency "$IT_HOSTS" $T clear
"$HOSTSIM" fault "$IT_HOSTS" $T fail-always "vm_maker --start-domain"
G2=exa01vm02.example.com
kvmove submit --guest $G2 --mode offline --src $S --tgt $T >/dev/null
guest_has_job() { [[ -n $(sql "SELECT id FROM jobs WHERE guest = '$1'") ]]; }
waited "the second migration is recorded" 10 guest_has_job $G2
job2=$(sql "SELECT id FROM jobs WHERE guest = '$G2'")
check "second migration fails at STARTUP_GUEST" eq failed:failed "$(wait_job "$job2" 120):$(sql "SELECT status FROM job_steps WHERE job_id = '$job2' AND step = 'STARTUP_GUEST'")"
check "a scrape after the failed step sees two fresh refreshes" scrape failed
check "failed step counted" eq 1 "$(metric failed 'kvmove_steps_total{step="STARTUP_GUEST",outcome="failed"}')"
check "failed jobs counted (the preflight one and this one)" eq 2 "$(metric failed 'kvmove_worker_jobs_finished_total{status="failed"}')"
check "jobs failed from the database" test "$(metric failed 'kvmove_jobs{status="failed"}')" -ge 1

# /healthz while the database refuses connections (this test's database only: the shared
# cluster keeps serving the other tests).
psql "$PGADMIN" -qAtX -c "ALTER DATABASE $DB ALLOW_CONNECTIONS false" \
    -c "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = '$DB'" >/dev/null
check "/healthz 503 while the database is unreachable" healthz_becomes 503
check "/healthz names the database" grep -q '^database: unreachable' "$IT_DIR/healthz.out"
check "/healthz still sees the broker" grep -q '^broker: ok' "$IT_DIR/healthz.out"
check "a scrape without the database sees two fresh refreshes" scrape nodb
check "database_up 0 in metrics" eq 0 "$(metric nodb kvmove_database_up)"
check "counters still served without the database" eq 2 "$(metric nodb 'kvmove_steps_total{step="STOP_GUEST",outcome="succeeded"}')"
psql "$PGADMIN" -qAtX -c "ALTER DATABASE $DB ALLOW_CONNECTIONS true" >/dev/null
check "/healthz 200 again when the database is back" healthz_becomes 200

# ... and while the broker is down (the embedded broker takes it down on SIGUSR1).
kill -USR1 "$(cat "$IT_DIR/devbroker.pid")"
check "/healthz 503 while the broker is down" healthz_becomes 503
check "/healthz names the broker" grep -q '^broker: unreachable' "$IT_DIR/healthz.out"
kill -USR2 "$(cat "$IT_DIR/devbroker.pid")"
check "/healthz 200 again when the broker is back" healthz_becomes 200

# A scrape reads a cache: it opens no database connection. The worker's metrics keep one
# connection (the refresher's), the same backend before and after many scrapes.
conns() { sql "SELECT pid || ' ' || backend_start FROM pg_stat_activity WHERE datname = '$DB' AND application_name = 'kvmove-worker-metrics' ORDER BY pid"; }
before=$(conns)
for _ in $(seq 30); do curl -s --max-time 10 "$URL/metrics" >/dev/null; curl -s --max-time 10 "$URL/healthz" >/dev/null; done
check "one metrics connection per worker" eq 1 "$(conns | wc -l)"
check "30 scrapes and 30 /healthz opened no connection (same backend)" eq "$before" "$(conns)"

# kvmove_build_info carries the CMake project version.
version=$(sed -n 's/^project(kvmove VERSION \([0-9.]*\).*/\1/p' "$IT_TOP/CMakeLists.txt")
check "a scrape for the build info sees two fresh refreshes" scrape build
check "kvmove_build_info{version=\"$version\"}" grep -q "^kvmove_build_info{version=\"$version\",librdkafka=\"[0-9.]*\"} 1$" "$IT_DIR/metrics.build"

# Two workers: the cluster-wide gauges come from one only, so sum() over workers is right.
it_worker_start 2 -o metrics.listen=127.0.0.1:0 --log-format json
waited "worker 2 logs its metrics port" 10 has_metrics_port 2
port2=$(metrics_port 2)
URL2=http://127.0.0.1:${port2:-1}
check "worker 1 serves refreshed metrics" scrape w1
check "worker 2 serves refreshed metrics" scrape w2 "$URL2"
check "exactly one of the two workers exports the cluster-wide gauges" eq "0 1" \
    "$(printf '%s\n' "$(metric w1 kvmove_metrics_exporter)" "$(metric w2 kvmove_metrics_exporter)" | sort | tr '\n' ' ' | sed 's/ $//')"
sum() { cat "$IT_DIR/metrics.w1" "$IT_DIR/metrics.w2" | awk -v k="$1" '$1 == k { s += $2; n++ } END { print n + 0, s + 0 }'; }
for st in succeeded failed running; do
    check "sum over workers of kvmove_jobs{status=\"$st\"} is the database's count (one series)" \
        eq "1 $(sql "SELECT count(*) FROM jobs WHERE status = '$st'")" "$(sum "kvmove_jobs{status=\"$st\"}")"
done
check "one kvmove_outbox_backlog series over both workers" eq "1 0" "$(sum kvmove_outbox_backlog)"
check "one kvmove_consumer_lag series per partition over both workers" eq 4 \
    "$(cat "$IT_DIR/metrics.w1" "$IT_DIR/metrics.w2" | grep -c '^kvmove_consumer_lag{')"
check "both workers report their own reachability" eq 2 "$(cat "$IT_DIR/metrics.w1" "$IT_DIR/metrics.w2" | grep -c '^kvmove_database_up 1$')"
# The exporter stops: the other takes over at its next refresh.
if [[ $(metric w1 kvmove_metrics_exporter) == 1 ]]; then gone=1 left=$URL2; else gone=2 left=$URL; fi
it_worker_stop $gone
taken=0
for _ in $(seq 30); do
    scrape left "$left" && [[ $(metric left kvmove_metrics_exporter) == 1 ]] && { taken=1; break; }
done
check "the remaining worker takes over the cluster-wide gauges" eq 1 "$taken"
check "...and exports them (jobs succeeded from the database)" eq "$(sql "SELECT count(*) FROM jobs WHERE status = 'succeeded'")" \
    "$(metric left 'kvmove_jobs{status="succeeded"}')"

# JSON log lines: every line an object; the job's lines carry job, guest and step.
check "every log line is a JSON object" eq true "$(jq -s 'all(type == "object")' "$IT_DIR/worker-1.log")"
check "log lines have time, level, job, guest, step, message" eq 0 \
    "$(jq -c 'select((has("time") and has("level") and has("job") and has("guest") and has("step") and has("message")) | not)' "$IT_DIR/worker-1.log" | wc -l)"
check "a step line names job, guest and step" test "$(jq -r --arg j "$job" --arg g "$G" 'select(.job == $j and .guest == $g and .step == "STOP_GUEST") | .message' "$IT_DIR/worker-1.log" | wc -l)" -ge 1
check "the failed job is logged at level error" test "$(jq -r --arg j "$job2" 'select(.job == $j and .level == "error") | .message' "$IT_DIR/worker-1.log" | grep -c 'failed')" -ge 1
check "--log-format rejects an unknown format" eq 2 "$(kvmove-worker --log-format yaml run >/dev/null 2>&1; echo $?)"

# A busy metrics port: the worker says so and runs on without metrics. Worker 3 asks for the
# port the remaining worker serves on; then that worker stops, and worker 3 runs a migration.
if [[ $gone == 1 ]]; then busy=${port2:-1} keep=2; else busy=${port:-1} keep=1; fi
it_worker_start 3 -o metrics.listen=127.0.0.1:$busy
waited "worker 3 says the metrics port $busy is in use and serves no metrics" 10 \
    log_has "$IT_DIR/worker-3.log" "cannot listen on 127.0.0.1:$busy for metrics: .*in use.*; serving no metrics"
waited "worker 3 runs on: it consumes kvmove.requests" 30 log_has "$IT_DIR/worker-3.log" "consuming kvmove.requests"
check "the port still answers for the worker that had it" eq 200 "$(curl -s --max-time 10 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$busy/healthz")"
it_worker_stop $keep
G3=exa01vm03.example.com S3=exa01adm01.example.com T3=exa01adm03.example.com
j3=$(kvmove submit --guest $G3 --mode offline --src $S3 --tgt $T3 | sed -n 's/^Request \([0-9a-f-]*\) published.*/\1/p')
check "worker 3, without metrics, runs a migration to the end" eq succeeded "$(wait_job "$j3" 90)"
check "...itself (its events' source)" eq "/kvmove/worker/worker-3" \
    "$(sql "SELECT string_agg(DISTINCT payload->>'source', ',') FROM outbox WHERE job_id = '$j3' AND payload->>'type' = 'io.kvmove.step.completed'")"
check "worker 3 is alive" kill -0 "$(cat "$IT_DIR/worker-3.pid")"
