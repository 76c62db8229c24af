#!/bin/bash
# The database refuses a job's records for good (a permanent error; here a trigger that raises):
# the job fails with the database's reason instead of waiting on "database unavailable" for
# ever. When even its failure cannot be written, the worker lets the job go: its lease runs out
# and a worker takes it over, rather than the job staying running, renewed, with nobody working
# on it. Once the database takes the records again, the job runs to its end. A lease lost during
# preflight is reported with the reason the failing write gave.
. "${BASH_SOURCE[0]%/*}/lib.sh"
it_setup store_faults
S=exa01adm02.example.com T=exa01adm06.example.com
G1=exa01vm01.example.com G2=exa01vm02.example.com
G3=exa01vm03.example.com S3=exa01adm01.example.com T3=exa01adm03.example.com
it_worker_start 1 -o worker.lease_s=3 -o metrics.listen=

wait_log() { # wait_log PATTERN [SECONDS]: until a worker log has a line matching PATTERN
    for _ in $(seq $((${2:-60} * 10))); do
        grep -q -- "$1" "$IT_DIR"/worker-*.log && return 0
        sleep 0.1
    done
    return 1
}

sql "CREATE FUNCTION it_refuse() RETURNS trigger LANGUAGE plpgsql AS \$\$ BEGIN
         RAISE EXCEPTION 'injected refusal of %', TG_TABLE_NAME; END \$\$" >/dev/null
sql "CREATE TRIGGER it_refuse_preflight BEFORE INSERT ON preflight_results FOR EACH ROW
         EXECUTE FUNCTION it_refuse()" >/dev/null

# 1. A record the database refuses: the job fails with the reason, no step runs.
kvmove submit --guest $G1 --mode offline --src $S --tgt $T >/dev/null
job=$(job_of $G1)
check "refused record: the job fails" eq failed "$(wait_job "$job" 60)"
err=$(sql "SELECT error FROM jobs WHERE id = '$job'")
echo "    error: $err"
check "refused record: the reason is the database's" grep -q "injected refusal of preflight_results" <<<"$err"
check "refused record: never retried as 'database unavailable'" eq 0 "$(grep -c 'database unavailable' "$IT_DIR/worker-1.log")"
check "refused record: no step ran" eq 0 "$(sql "SELECT count(*) FROM job_steps WHERE job_id = '$job' AND status <> 'pending'")"
check "refused record: one job.failed event" eq 1 "$(sql "SELECT count(*) FROM outbox WHERE job_id = '$job' AND payload->>'type' = 'io.kvmove.job.failed'")"
check "refused record: guest untouched on its source" grep -qx "domain $G1 running" <<<"$(host_state $S)"

# 2. Its failure refused as well: the worker lets the job go; not renewed, the lease runs out and
# the job is taken over (again and again while the database refuses).
sql "CREATE TRIGGER it_refuse_end BEFORE UPDATE ON jobs FOR EACH ROW
         WHEN (NEW.status IN ('failed', 'succeeded')) EXECUTE FUNCTION it_refuse()" >/dev/null
kvmove submit --guest $G2 --mode offline --src $S --tgt $T >/dev/null
job=$(job_of $G2)
check "refused end: the worker says it let the job go" wait_log "Job $job could not be ended" 60
check "refused end: its lease ran out and it was taken over" wait_log "Taking over job $job" 60
check "refused end: still not failed or succeeded" eq running "$(sql "SELECT status FROM jobs WHERE id = '$job'")"
# both at once (one transaction): a takeover in between would fail the job
sql "DROP TRIGGER it_refuse_end ON jobs; DROP TRIGGER it_refuse_preflight ON preflight_results" >/dev/null
check "refused end: the job ends once the database takes its records" eq succeeded "$(wait_job "$job" 90)"
check "refused end: guest running on the target" grep -qx "domain $G2 running" <<<"$(host_state $T)"
check "refused end: each step succeeded once" eq 0 "$(sql "SELECT count(*) FROM job_steps WHERE job_id = '$job' AND (status <> 'succeeded' AND status <> 'skipped' OR attempts > 1)")"

# 3. The lease is lost while preflight asks the hosts: the worker stops with the lease-lost
# reason (before, it logged an error buffer nothing had written); nobody renews the lease of the
# "thief", so the job is taken over when it runs out, and ends.
"$HOSTSIM" fault "$IT_HOSTS" $T3 pause "vm_maker --host-info"
kvmove submit --guest $G3 --mode offline --src $S3 --tgt $T3 >/dev/null
check "lost lease: preflight paused on the target" "$HOSTSIM" wait-paused "$IT_HOSTS" $T3 30
job=$(job_of $G3)
sql "UPDATE jobs SET lease_owner = 'thief' WHERE id = '$job'" >/dev/null
"$HOSTSIM" fault "$IT_HOSTS" $T3 clear
"$HOSTSIM" resume "$IT_HOSTS" $T3
check "lost lease: the worker logs why it stopped" wait_log "job $job: lease lost by worker-1" 30
check "lost lease: taken over once the thief's lease ran out" eq succeeded "$(wait_job "$job" 90)"
check "lost lease: guest running on the target" grep -qx "domain $G3 running" <<<"$(host_state $T3)"
check "no safety violation observed" "$HOSTSIM" check "$IT_HOSTS"

# 4. A database that refuses the worker (here: a database name that does not exist) is not
# waited out: the worker says why and exits 3 at once, instead of logging "retrying" for ever.
out=$(timeout 30 kvmove-worker --id worker-refused -o "db=$KVMOVE_DB dbname=kvmove_no_such_db" \
    -o metrics.listen= run </dev/null 2>&1)
rc=$?
check "refused by the database: the worker exits 3 (not retrying, not killed by timeout)" eq 3 "$rc"
check "...saying why" grep -q 'database "kvmove_no_such_db" does not exist; not retrying' <<<"$out"
check "...and did not retry" eq 0 "$(grep -c 'retrying$' <<<"$out")"
