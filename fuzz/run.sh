#!/bin/bash
# Builds the libFuzzer targets (clang, ASan + UBSan) and runs each for SECONDS (default 30)
# on a seed corpus made from tests/fixtures. Exit 0 when no target found a crash, leak or UB.
# Usage: fuzz/run.sh [SECONDS] [TARGET...]   (env KVMOVE_BUILD_DIR: where to build; default build/)
set -uo pipefail
TOP=$(cd "${BASH_SOURCE[0]%/*}/.." && pwd)
SECS=${1:-30}
shift $(($# > 0 ? 1 : 0))
OUT=${KVMOVE_BUILD_DIR:-$TOP/build}/fuzz
CC=${FUZZ_CC:-clang}
TARGETS=("$@")
((${#TARGETS[@]})) || TARGETS=(fuzz_request_json fuzz_request_command fuzz_esxml)
[[ $SECS =~ ^[0-9]+$ ]] || { echo "usage: fuzz/run.sh [SECONDS] [TARGET...]" >&2; exit 2; }
command -v "$CC" >/dev/null || { echo "fuzz: $CC not found (scripts/deps installs clang and libclang-rt-14-dev)" >&2; exit 1; }

# The modules each target needs (the parsers and what they call), not the whole library.
declare -A SRC=(
    [fuzz_request_json]="request.c jschema.c names.c step.c util.c"
    [fuzz_request_command]="request.c jschema.c names.c step.c util.c"
    [fuzz_esxml]="esxml.c names.c step.c util.c"
)
CFLAGS=(-g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined
    -fno-sanitize-recover=undefined -D_GNU_SOURCE "-DKVMOVE_SOURCE_DIR=\"$TOP\"" -I"$TOP/lib")
LIBS=$(pkg-config --cflags --libs jansson libxml-2.0) || exit 1

mkdir -p "$OUT"
seed() { # seed TARGET DIR: the seed corpus from the fixtures
    local t=$1 d=$2 f
    rm -rf "$d"
    mkdir -p "$d"
    case $t in
    fuzz_request_json) cp "$TOP"/tests/fixtures/messages/requests/*/*.json "$d"/ ;;
    fuzz_request_command)
        # The spec's command lines, as the tests and the spec write them.
        grep -rhoE 'MIGRATE GUEST [^"]*' "$TOP/tests" "$TOP/shared/spec" "$TOP/../shared/spec" 2>/dev/null |
            sed 's/[\\$].*//' | sort -u | head -n 200 | { i=0; while IFS= read -r l; do
                i=$((i + 1)); printf '%s' "$l" >"$d/cmd_$i"; done; }
        printf '%s' 'MIGRATE GUEST HOSTNAME=exa01vm01.example.com MODE=OFFLINE SRCHOST=exa01adm02.example.com TGTHOST=exa01adm06.example.com' >"$d/spec"
        printf '%s' 'migrate guest hostname=g.example.com mode=offlineforce srchost=a tgthost=b where stepname=STARTUP_GUEST' >"$d/lower"
        ;;
    fuzz_esxml) cp "$TOP"/tests/fixtures/esxml/*.xml "$TOP"/tests/fixtures/exa01.xml "$d"/ ;;
    esac
}

rc=0
for t in "${TARGETS[@]}"; do
    [[ -n ${SRC[$t]:-} ]] || { echo "fuzz: unknown target $t" >&2; exit 2; }
    srcs=()
    for s in ${SRC[$t]}; do srcs+=("$TOP/lib/$s"); done
    # shellcheck disable=SC2086
    if ! "$CC" "${CFLAGS[@]}" "$TOP/fuzz/$t.c" "${srcs[@]}" $LIBS -o "$OUT/$t" 2>"$OUT/$t.build.log"; then
        echo "fuzz: $t does not build:"; cat "$OUT/$t.build.log"; exit 1
    fi
    seed "$t" "$OUT/$t.seeds"
    mkdir -p "$OUT/$t.corpus"
    dict=()
    [[ -f $TOP/fuzz/$t.dict ]] && dict=(-dict="$TOP/fuzz/$t.dict")
    echo "fuzz: $t for ${SECS}s ($(ls "$OUT/$t.seeds" | wc -l) seeds)"
    # Crash inputs land in $OUT/crash-*; the corpus grows across runs in $OUT/$t.corpus.
    if (cd "$OUT" && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        "./$t" "${dict[@]}" -max_total_time="$SECS" -timeout=10 -rss_limit_mb=1024 -max_len=65536 \
        -print_final_stats=1 "$t.corpus" "$t.seeds" >"$t.log" 2>&1); then
        echo "fuzz: $t ok: $(grep -E '^stat::number_of_executed_units' "$OUT/$t.log" | awk '{print $2}') runs"
    else
        echo "fuzz: $t FAILED (log $OUT/$t.log):"
        grep -E 'ERROR|SUMMARY|runtime error|Test unit written' "$OUT/$t.log" | head -n 20
        rc=1
    fi
done
exit $rc
