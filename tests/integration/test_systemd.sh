#!/bin/bash
# systemd integration of kvmove-worker without systemd: the test plays the service manager.
# It binds the $NOTIFY_SOCKET datagram socket, sets $WATCHDOG_USEC and $JOURNAL_STREAM as
# systemd would, and checks what the worker says: STATUS= while it connects, READY=1 once it
# consumes, WATCHDOG=1 pings while it runs, STOPPING=1 on SIGTERM; "<N>" syslog priorities on
# its lines only when stdout is that journal stream; no pings for another $WATCHDOG_PID.
. "${BASH_SOURCE[0]%/*}/lib.sh"
it_setup systemd

# listen SOCKET OUT: records each datagram to SOCKET as one line of OUT (newlines as \n).
listen() {
    python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
with open(sys.argv[2], "a") as f:
    while True:
        f.write(s.recv(4096).decode().replace("\n", "\\n") + "\n")
        f.flush()
' "$1" "$2" &
    echo $! >"$IT_DIR/listen-$(basename "$1").pid"
    for _ in $(seq 50); do [[ -S $1 ]] && return 0; sleep 0.1; done
    return 1
}
wait_line() { # wait_line FILE REGEX [SECONDS]
    for _ in $(seq $((${3:-30} * 10))); do grep -qE "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
    return 1
}
stop_listeners() { for f in "$IT_DIR"/listen-*.pid; do [[ -e $f ]] && kill "$(cat "$f")" 2>/dev/null; done; }

SOCK=$IT_DIR/notify.sock NOTES=$IT_DIR/notify.out LOG=$IT_DIR/worker-1.log
check "the test's notify socket is listening" listen "$SOCK" "$NOTES"
: >"$LOG"
# An unusable metrics address makes the worker log a warning at start (priority 4).
NOTIFY_SOCKET=$SOCK WATCHDOG_USEC=400000 JOURNAL_STREAM=$(stat -c '%d:%i' "$LOG") \
    it_worker_start 1 -o metrics.listen=256.0.0.1:1
check "READY=1 once the worker consumes" wait_line "$NOTES" '^READY=1\\nSTATUS=consuming kvmove.requests from '
check "STATUS= while it connects, before READY=1" eq "STATUS=connecting to PostgreSQL" "$(head -n1 "$NOTES")"
sleep 2
check "WATCHDOG=1 pinged from the main loop (every 200 ms for WATCHDOG_USEC=400000)" \
    test "$(grep -c '^WATCHDOG=1$' "$NOTES")" -ge 4
check "journal stream: info lines carry <6>" grep -q '^<6>\[worker\] .* consuming kvmove.requests' "$LOG"
check "journal stream: the warning carries <4>" grep -q '^<4>\[worker\] .*serving no metrics' "$LOG"
check "journal stream: every line has a priority" eq 0 "$(grep -cv '^<[0-7]>' "$LOG")"
it_worker_stop 1
check "STOPPING=1 on SIGTERM" grep -q '^STOPPING=1\\nSTATUS=stopping: running steps get' "$NOTES"
check "STATUS=stopped at the end" eq "STATUS=stopped" "$(tail -n1 "$NOTES")"
check "READY=1 said once" eq 1 "$(grep -c '^READY=1' "$NOTES")"

# Another process's watchdog, and a stdout that is not the journal stream any more.
SOCK2=$IT_DIR/notify2.sock NOTES2=$IT_DIR/notify2.out LOG2=$IT_DIR/worker-2.log
listen "$SOCK2" "$NOTES2"
NOTIFY_SOCKET=$SOCK2 WATCHDOG_USEC=400000 WATCHDOG_PID=1 JOURNAL_STREAM=$(stat -c '%d:%i' "$LOG") \
    it_worker_start 2
check "worker 2 ready" wait_line "$NOTES2" '^READY=1'
sleep 1
check "no WATCHDOG=1 when WATCHDOG_PID names another process" eq 0 "$(grep -c '^WATCHDOG=1$' "$NOTES2")"
check "no <N> prefixes when stdout is not the journal stream" eq 0 "$(grep -c '^<[0-7]>' "$LOG2")"
it_worker_stop 2
# Without NOTIFY_SOCKET the worker runs as before (Type=simple-compatible).
it_worker_start 3
for _ in $(seq 100); do grep -q 'consuming kvmove.requests' "$IT_DIR/worker-3.log" && break; sleep 0.1; done
check "without NOTIFY_SOCKET the worker starts as before" grep -q '^\[worker\] .*consuming kvmove.requests' "$IT_DIR/worker-3.log"
it_worker_stop 3
stop_listeners
