#!/bin/bash
# A worker that dies while it runs a probe does not leave it running for ever (issue 17 item 3):
# kvmove submit --dry-run is held in worker-1's preflight (a host command paused on the target),
# worker-1 is killed (SIGKILL), and once its lease ran out worker-2 runs the dry run again and
# the waiting CLI prints its result.
. "${BASH_SOURCE[0]%/*}/lib.sh"
it_setup probe_takeover
S=exa01adm02.example.com T=exa01adm06.example.com G=exa01vm01.example.com
it_worker_start 1 -o worker.lease_s=3
"$HOSTSIM" fault "$IT_HOSTS" $T pause "imageinfo"
kvmove submit --dry-run --guest $G --mode offline --src $S --tgt $T --timeout 120 >"$IT_DIR/dry.out" 2>&1 &
cli=$!
check "the dry run is held in worker-1's preflight (a command paused on the target)" "$HOSTSIM" wait-paused "$IT_HOSTS" $T 60
check "  the probe runs under worker-1's lease, attempt 1" eq "running|worker-1|1" \
    "$(sql "SELECT status || '|' || lease_owner || '|' || attempts FROM probes")"
it_worker_stop 1 KILL
"$HOSTSIM" fault "$IT_HOSTS" $T clear
"$HOSTSIM" resume "$IT_HOSTS" $T
check "  worker-1 is gone, its probe still 'running'" eq "running|worker-1" \
    "$(sql "SELECT status || '|' || lease_owner FROM probes")"
it_worker_start 2 -o worker.lease_s=3
wait "$cli"
rc=$?
cat "$IT_DIR/dry.out"
check "the CLI gets the dry run's result" eq 0 "$rc"
check "  and prints it" grep -q "^Dry run: nothing was changed or published.$" "$IT_DIR/dry.out"
check "worker-2 ran it again once worker-1's lease ran out" eq "succeeded|worker-2|2" \
    "$(sql "SELECT status || '|' || lease_owner || '|' || attempts FROM probes")"
check "one probe.completed" eq 1 "$(sql "SELECT count(*) FROM outbox WHERE payload->>'type' = 'io.kvmove.probe.completed'")"
