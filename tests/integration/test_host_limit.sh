#!/bin/bash
# worker.max_jobs_per_host across workers: with a limit of 1, a job whose host is busy with a job
# another worker runs waits, while a later job on other hosts is claimed and runs; once the
# first job ends, the waiting one runs. The limit is enforced in the claim (PostgreSQL), not per
# worker: the worker holding the first job has no free executor, so every claim that skipped
# the waiting job was made by the other worker.
. "${BASH_SOURCE[0]%/*}/lib.sh"
. "${BASH_SOURCE[0]%/*}/waits.sh"
it_setup host_limit
S=exa01adm02.example.com
G1=exa01vm01.example.com T1=exa01adm06.example.com # on S
G2=exa01vm02.example.com T2=exa01adm04.example.com # on S too: shares S with the first job
G3=exa01vm03.example.com S3=exa01adm01.example.com T3=exa01adm03.example.com # other hosts

job_id() { sed -n 's/^Request \([0-9a-f-]*\) published.*/\1/p' <<<"$1"; }
status_of() { sql "SELECT status FROM jobs WHERE id = '$1'"; }
owner_of() { sql "SELECT coalesce(lease_owner, '') FROM jobs WHERE id = '$1'"; }
source_of() { # source_of JOB: the worker that published the job's step.completed events
    sql "SELECT string_agg(DISTINCT payload->>'source', ',') FROM outbox WHERE job_id = '$1' AND payload->>'type' = 'io.kvmove.step.completed'"
}

# Worker 1 (one executor) takes the first job, which waits in STOP_GUEST on S.
it_worker_start 1 -j 1 -o worker.max_jobs_per_host=1
"$HOSTSIM" fault "$IT_HOSTS" $S pause "vm_maker --stop-domain $G1"
j1=$(job_id "$(kvmove submit --guest $G1 --mode offline --src $S --tgt $T1)")
check "job 1 runs on worker 1, waiting in STOP_GUEST on $S" "$HOSTSIM" wait-paused "$IT_HOSTS" $S 30
check "job 1 is held by worker 1" eq "running worker-1" "$(status_of "$j1") $(owner_of "$j1")"

# Worker 2 (two executors, free) joins; job 2 shares S, job 3 does not.
it_worker_start 2 -j 2 -o worker.max_jobs_per_host=1
j2=$(job_id "$(kvmove submit --guest $G2 --mode offline --src $S --tgt $T2)")
waited "job 2 is recorded" 10 job_recorded "$j2"
j3=$(job_id "$(kvmove submit --guest $G3 --mode offline --src $S3 --tgt $T3)")
check "job 3 (other hosts, submitted after job 2) runs to the end" eq succeeded "$(wait_job "$j3" 90)"
check "...on worker 2 (worker 1's only executor is busy)" eq "/kvmove/worker/worker-2" "$(source_of "$j3")"
check "job 2 still waits: S runs job 1 (limit 1), though worker 2 has a free executor" eq queued "$(status_of "$j2")"
check "job 2 has not begun a step" eq 0 "$(sql "SELECT count(*) FROM job_steps WHERE job_id = '$j2' AND status <> 'pending'")"
check "nothing of job 2 reached its target" eq 0 "$(host_log $T2 | cut -f4 | grep -c "$G2")"

# Job 1 ends; job 2 goes.
"$HOSTSIM" fault "$IT_HOSTS" $S clear
"$HOSTSIM" resume "$IT_HOSTS" $S
check "job 1 succeeds" eq succeeded "$(wait_job "$j1" 90)"
check "job 2 succeeds once S is free" eq succeeded "$(wait_job "$j2" 90)"
check "job 2 began after job 1 ended (never two jobs on S)" eq t \
    "$(sql "SELECT b.started_at >= a.finished_at FROM jobs a, jobs b WHERE a.id = '$j1' AND b.id = '$j2'")"
check "at no time two running jobs shared a host" eq 0 \
    "$(sql "SELECT count(*) FROM jobs a JOIN jobs b ON a.id < b.id AND a.started_at < b.finished_at AND b.started_at < a.finished_at
             AND (a.src_host IN (b.src_host, b.tgt_host) OR a.tgt_host IN (b.src_host, b.tgt_host))")"
check "no safety violation" "$HOSTSIM" check "$IT_HOSTS"
