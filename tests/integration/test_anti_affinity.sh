#!/bin/bash
# VM cluster anti-affinity (rac01.xml: rac01vm01 on rac01adm02 and rac01vm03 on rac01adm01 form
# VM cluster rac01c1): a move onto a host with another member is refused (by the CLI's merge
# and by the worker's preflight); two concurrent moves of the two members to one host: exactly
# one passes; a job that another job beat to the host (placed there first, under the system's
# lock) fails; --allow-colocation --reason overrides, recorded; kvmove evacuate --reason never
# places two members on one host and records the reason with each move.
. "${BASH_SOURCE[0]%/*}/lib.sh"
it_setup anti_affinity "$IT_TOP/tests/fixtures/rac01.xml"
it_worker_start 1 -o worker.lease_s=5 -j 4
it_worker_start 2 -o worker.lease_s=5 -j 4 -o worker.group=w2

V1=rac01vm01.example.com V3=rac01vm03.example.com
H1=rac01adm01.example.com H2=rac01adm02.example.com H3=rac01adm03.example.com
H4=rac01adm04.example.com H5=rac01adm05.example.com
job_of() { sed -n 's/.*(job id \([0-9a-f-]*\))$/\1/p' <<<"$1"; }
members_on() { host_state "$1" | grep -cE "^domain ($V1|$V3) running$"; }

# 1. Refused at submit (MERGE ACTIONS' es.xml check) and by the worker (--no-validate).
out=$(kvmove submit --guest $V1 --mode offline --src $H2 --tgt $H1 2>&1)
check "submit onto the other member's host: refused (exit 1)" test $? -eq 1
check "...naming the check" grep -q "vm_cluster_anti_affinity" <<<"$out"
kvmove submit --guest $V1 --mode offline --src $H2 --tgt $H1 --allow-colocation >/dev/null 2>&1
check "--allow-colocation without --reason: usage error" test $? -eq 2
J=$(job_of "$(kvmove submit --guest $V1 --mode offline --src $H2 --tgt $H1 --no-validate)")
check "worker: the job fails its preflight" eq failed "$(wait_job "$J" 60)"
check "worker: vm_cluster_anti_affinity failed, naming the member" grep -q "$V3" <<<"$(sql "SELECT message FROM preflight_results WHERE job_id = '$J' AND check_name = 'vm_cluster_anti_affinity' AND status = 'failed'")"
check "worker: nothing moved" eq "1 1" "$(members_on $H1) $(members_on $H2)"

# 2. Concurrent moves of both members to one host: exactly one passes.
JA=$(job_of "$(kvmove submit --guest $V1 --mode offline --src $H2 --tgt $H3 --no-validate)")
JB=$(job_of "$(kvmove submit --guest $V3 --mode offline --src $H1 --tgt $H3 --no-validate)")
sa=$(wait_job "$JA" 90) sb=$(wait_job "$JB" 90)
check "concurrent: exactly one succeeded, one failed" eq "failed succeeded" "$(printf '%s\n' "$sa" "$sb" | sort | tr '\n' ' ' | sed 's/ $//')"
check "concurrent: the failed one failed vm_cluster_anti_affinity" eq 1 "$(sql "SELECT count(*) FROM preflight_results WHERE job_id IN ('$JA', '$JB') AND check_name = 'vm_cluster_anti_affinity' AND status = 'failed'")"
check "concurrent: one member on $H3" eq 1 "$(members_on $H3)"
if [[ $sa == succeeded ]]; then MOVED=$V1 STAYED=$V3 FROM=$H1; else MOVED=$V3 STAYED=$V1 FROM=$H2; fi

# 3. Beaten to the host: another job confirmed bringing a member to H4 first (placed_at, under
# the system's lock) although it is younger than this one's view of reservations (its row is
# written here as a job held by a worker that does not exist).
sql "INSERT INTO jobs (id, request_id, action, guest, mode, src_host, tgt_host, status, lease_owner, lease_expires, request, created_at, started_at, placed_at, system_name)
     VALUES ('00000000-0000-4000-8000-000000000001', '00000000-0000-4000-8000-000000000001', 'migrate_guest', '$MOVED', 'OFFLINE', '$H3', '$H4', 'running', 'elsewhere', now() + interval '1 hour', '{}', now() + interval '1 hour', now(), now(), 'rac01')" >/dev/null
J=$(job_of "$(kvmove submit --guest $STAYED --mode offline --src $FROM --tgt $H4 --no-validate)")
check "placed first: the job fails" eq failed "$(wait_job "$J" 60)"
check "placed first: vm_cluster_anti_affinity names the job placed first" grep -q "job 00000000-0000-4000-8000-000000000001 was placed there first" <<<"$(sql "SELECT message FROM preflight_results WHERE job_id = '$J' AND check_name = 'vm_cluster_anti_affinity'")"
sql "UPDATE jobs SET status = 'failed', lease_owner = NULL, lease_expires = NULL, finished_at = now() WHERE id = '00000000-0000-4000-8000-000000000001'" >/dev/null

# 4. --allow-colocation --reason: allowed, with a warning naming the reason.
out=$(kvmove submit --guest $STAYED --mode offline --src $FROM --tgt $H3 --allow-colocation --reason "test window" --wait --timeout 90)
check "colocation allowed: the job succeeds" test $? -eq 0
J=$(job_of "$out")
check "colocation allowed: recorded" eq "t|test window" "$(sql "SELECT allow_colocation, reason FROM jobs WHERE id = '$J'")"
check "colocation allowed: the check warns, naming the reason" grep -q "allowed by --allow-colocation: test window" <<<"$(sql "SELECT message FROM preflight_results WHERE job_id = '$J' AND check_name = 'vm_cluster_anti_affinity' AND status = 'warning'")"
check "colocation allowed: both members on $H3" eq 2 "$(members_on $H3)"

# 5. kvmove evacuate --reason of the host with both members: never two on one target. With one
# target offered, only one member can go; the other is not moved, the plan says why.
out=$(kvmove evacuate --host $H3 --targets $H4 --reason "firmware on adm03")
check "evacuate to one target: exits 1 (a guest not moved)" test $? -eq 1
echo "$out"
check "evacuate to one target: one member moved there" eq "1 1" "$(members_on $H4) $(members_on $H3)"
check "evacuate to one target: the plan names the check" grep -q "vm_cluster_anti_affinity failed" <<<"$out"
out=$(kvmove evacuate --host $H3 --targets $H4,$H5 --reason "firmware on adm03")
check "evacuate again, two targets: exits 0" test $? -eq 0
check "evacuate: one member on each target" eq "1 1 0" "$(members_on $H4) $(members_on $H5) $(members_on $H3)"
check "evacuate: the reason is stored with each move" eq 2 "$(sql "SELECT count(*) FROM jobs WHERE reason = 'firmware on adm03' AND status = 'succeeded'")"
check "evacuate: job.accepted carries it" eq 2 "$(sql "SELECT count(*) FROM outbox WHERE payload->>'type' = 'io.kvmove.job.accepted' AND payload->'data'->>'reason' = 'firmware on adm03'")"
check "safety invariant held" "$HOSTSIM" check "$IT_HOSTS"
kvmove events --validate >"$IT_DIR/events.jsonl" 2>"$IT_DIR/events.err"
check "every event published matches event.schema.json" eq "" "$(cat "$IT_DIR/events.err")"
