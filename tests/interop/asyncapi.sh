#!/bin/bash
# interop.asyncapi: schema/asyncapi.yaml passes `asyncapi validate` (@asyncapi/cli, pinned in
# tests/interop/package-lock.json) with no problem at all, two broken copies of it do not (so
# the validator really resolves the JSON Schemas it references), and it names what the C
# sources do (contract.js).
set -uo pipefail
TOP=${KVMOVE_SOURCE_DIR:-$(cd "${BASH_SOURCE[0]%/*}/../.." && pwd)}
BUILD=${KVMOVE_BUILD_DIR:-$TOP/build}
CLI=$BUILD/interop/node_modules/.bin/asyncapi
PASS=0 FAIL=0
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
check() { # check DESCRIPTION COMMAND...
    local what=$1; shift
    if "$@"; then PASS=$((PASS + 1)); echo "[interop.asyncapi] ok: $what"
    else FAIL=$((FAIL + 1)); echo "[interop.asyncapi] FAILED: $what"; fi
}
[[ -x $CLI ]] || { echo "[interop.asyncapi] $CLI is missing (interop.install)"; exit 1; }
# The CLI's usage analytics stay off (and its state out of the real home directory).
echo '{"analyticsEnabled":"false","infoMessageShown":"true"}' >"$WORK/analytics.json"
validate() { HOME=$WORK ASYNCAPI_METRICS_CONFIG_PATH=$WORK/analytics.json CI=true "$CLI" validate "$@"; }
refused() { # refused FILE OUT: validate FILE fails, its report in OUT
    ! validate "$1" >"$2" 2>&1
}

# --fail-severity hint: any diagnostic at all fails, not only errors.
validate --fail-severity hint "$TOP/schema/asyncapi.yaml" >"$WORK/out" 2>&1
rc=$?
cat "$WORK/out"
check "asyncapi validate --fail-severity hint schema/asyncapi.yaml exits 0" test $rc -eq 0
check "...and reports it valid" grep -q "is valid" "$WORK/out"
check "...with no governance issue (no error, warning, info or hint)" grep -q "don't have governance issues" "$WORK/out"

# Negative controls, in a copy of schema/: a dangling payload reference, a broken schema.
cp -r "$TOP/schema" "$WORK/schema"
sed 's#\./request\.schema\.json#./missing.schema.json#' "$TOP/schema/asyncapi.yaml" >"$WORK/schema/dangling.yaml"
check "a payload \$ref to a missing file is refused" refused "$WORK/schema/dangling.yaml" "$WORK/neg1"
check "...naming the reference" grep -q "missing.schema.json" "$WORK/neg1"
sed 's#"additionalProperties": false#"additionalProperties": 7#' "$TOP/schema/request.schema.json" >"$WORK/schema/request.schema.json"
check "a referenced JSON Schema that is not one is refused" refused "$WORK/schema/asyncapi.yaml" "$WORK/neg2"
check "...naming the keyword" grep -q "additionalProperties.*must be object,boolean" "$WORK/neg2"

node "$TOP/tests/interop/contract.js"
check "the document names what lib/bus.h, lib/event.h and lib/bus.c do (contract.js)" test $? -eq 0
echo "$PASS passed, $FAIL failed"
((FAIL == 0))
