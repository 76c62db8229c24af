#!/bin/bash
# Runs inside the fresh root made by tests/fresh/run, as root in /root/kvmove: the README's
# commands as a new user types them, then checks what they did.
#   inside.sh demo: ./scripts/demo (stack kept for the checks), its observable result, the stack
#                   stopped, then the unit suites (ctest -L unit)
#   inside.sh test: ./scripts/test
set -uo pipefail
cd /root/kvmove || exit 1
G=exa01vm01.example.com S=exa01adm02.example.com T=exa01adm06.example.com
pass=0 fail=0

check() { # check DESCRIPTION COMMAND...
    local what=$1
    shift
    if "$@"; then
        pass=$((pass + 1))
        echo "fresh: ok: $what"
    else
        fail=$((fail + 1))
        echo "fresh: FAILED: $what"
    fi
}
eq() { [[ $1 == "$2" ]] || { echo "    expected: $1" >&2; echo "    actual:   $2" >&2; return 1; }; }
has_line() { grep -qxF -- "$2" <<<"$1"; }
lacks() { ! grep -qF -- "$2" <<<"$1"; }
sql() { psql "$KVMOVE_DB" -qAtX -v ON_ERROR_STOP=1 -c "$1"; }

case ${1:-demo} in
demo)
    t0=$SECONDS
    KVMOVE_DEMO_KEEP=1 ./scripts/demo 2>&1 | tee /root/demo.out
    rc=${PIPESTATUS[0]}
    echo "fresh: scripts/demo took $((SECONDS - t0)) s"
    check "./scripts/demo exits 0" eq 0 "$rc"
    if [[ -f .devstack/env ]]; then
        # shellcheck disable=SC1091
        . .devstack/env
        tgt=$(tests/hostsim/hostsim state "$KVMOVE_HOSTSIM_ROOT" $T)
        src=$(tests/hostsim/hostsim state "$KVMOVE_HOSTSIM_ROOT" $S)
        check "the simulator: $G runs on the target $T" has_line "$tgt" "domain $G running"
        check "the simulator: autostart of $G on $T" has_line "$tgt" "autostart $G"
        check "the simulator: $G is no longer defined on the source $S" lacks "$src" "$G"
        job=$(sql "SELECT id FROM jobs WHERE guest = '$G' ORDER BY created_at DESC LIMIT 1")
        check "PostgreSQL: the job succeeded" eq succeeded "$(sql "SELECT status FROM jobs WHERE id = '$job'")"
        check "PostgreSQL: eleven steps recorded, each succeeded or skipped" eq "11 11" \
            "$(sql "SELECT count(*), count(*) FILTER (WHERE status IN ('succeeded', 'skipped')) FROM job_steps WHERE job_id = '$job'" | tr '|' ' ')"
        check "PostgreSQL: the two NAT steps skipped (not a cloud deployment)" eq "CREATE_NAT_BRIDGE_TGT,REMOVE_NAT_BRIDGE_SRC" \
            "$(sql "SELECT string_agg(step, ',' ORDER BY step) FROM job_steps WHERE job_id = '$job' AND status = 'skipped'")"
    else
        check "the demo wrote its stack's environment (.devstack/env)" false
    fi
    check "scripts/devstack stop" ./scripts/devstack stop
    t0=$SECONDS
    (cd build && ctest -L unit -j "${KVMOVE_TEST_JOBS:-4}" --output-on-failure --timeout 600)
    rc=$?
    echo "fresh: ctest -L unit took $((SECONDS - t0)) s"
    check "the unit suites pass (ctest -L unit)" eq 0 "$rc"
    ;;
test)
    t0=$SECONDS
    ./scripts/test
    rc=$?
    echo "fresh: scripts/test took $((SECONDS - t0)) s"
    check "./scripts/test exits 0" eq 0 "$rc"
    ;;
*)
    echo "usage: inside.sh demo|test" >&2
    exit 2
    ;;
esac
echo "fresh: $pass passed, $fail failed"
((fail == 0))
