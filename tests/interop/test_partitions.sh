#!/bin/bash
# interop.partitions: kvmove and kafkajs (whose default partitioner is Java's: murmur2 of the key)
# put one guest's requests on the same partition of kvmove.requests, so that a pipeline
# publishing with a Java or JavaScript client and operators using kvmove submit keep that
# guest's requests in order. Only the broker is needed: kvmove submit --no-validate publishes
# without the database. kcat reads every request back with its key and partition.
set -uo pipefail
TOP=${KVMOVE_SOURCE_DIR:-$(cd "${BASH_SOURCE[0]%/*}/../.." && pwd)}
BUILD=${KVMOVE_BUILD_DIR:-$TOP/build}
export NODE_PATH=${NODE_PATH:-$BUILD/interop/node_modules} KAFKAJS_NO_PARTITIONER_WARNING=1
[[ -d $NODE_PATH/kafkajs ]] || { echo "[partitions] $NODE_PATH has no kafkajs (interop.install)"; exit 1; }
DIR=$BUILD/interop/partitions
rm -rf "$DIR" && mkdir -p "$DIR"
"$BUILD/kvmove-devbroker" --partitions 12 --port-file "$DIR/brokers" </dev/null >"$DIR/devbroker.log" 2>&1 &
broker=$!
trap 'kill $broker 2>/dev/null; wait $broker 2>/dev/null' EXIT
for _ in $(seq 100); do [[ -s $DIR/brokers ]] && break; sleep 0.1; done
B=$(head -n1 "$DIR/brokers")
export KVMOVE_CONFIG=/dev/null KVMOVE_BROKERS=$B
# kvmove signs what it publishes: a key of the lane's own (no worker checks it here).
export KVMOVE_KEY_FILE=$DIR/operator.key
"$BUILD/kvmove" key generate >/dev/null || { echo "[partitions] kvmove key generate failed"; exit 1; }
fail=0
guests=(exa01vm01.example.com exa01vm02.example.com exa01vm03.example.com exa01vm04.example.com
        exa01vm05.example.com exa01vm06.example.com exa01vm07.example.com cld02vm01.example.com)
for g in "${guests[@]}"; do
    "$BUILD/kvmove" submit --no-validate --guest "$g" --mode offline \
        --src exa01adm01.example.com --tgt exa01adm02.example.com >/dev/null || { echo "[partitions] kvmove submit $g failed"; fail=1; }
    jq -cn --arg g "$g" '{request_id: "00000000-0000-4000-8000-000000000000", action: "migrate_guest",
        guest: $g, mode: "OFFLINE", src_host: "exa01adm01.example.com", tgt_host: "exa01adm02.example.com",
        submitted_by: "interop", submitted_at: "2025-07-30T16:11:46.123Z"}' >"$DIR/req.json"
    node "$TOP/tests/interop/clients.js" produce "$B" "$g" "$DIR/req.json" "origin=kafkajs" >/dev/null ||
        { echo "[partitions] kafkajs produce $g failed"; fail=1; }
done
# KEY PARTITION ORIGIN, one line per request (kvmove's carry no origin header).
kcat -C -b "$B" -t kvmove.requests -e -q -f '%k %p %h\n' 2>/dev/null |
    awk '{print $1, $2, ($3 ~ /origin=kafkajs/ ? "kafkajs" : "kvmove")}' | sort >"$DIR/seen"
n=$(wc -l <"$DIR/seen")
if [[ $n -ne $((2 * ${#guests[@]})) ]]; then
    echo "[partitions] FAILED: kcat read $n requests, expected $((2 * ${#guests[@]}))"; fail=1
fi
spread=$(awk '{print $2}' "$DIR/seen" | sort -u | wc -l)
for g in "${guests[@]}"; do
    kv=$(awk -v g="$g" '$1 == g && $3 == "kvmove" {print $2}' "$DIR/seen")
    js=$(awk -v g="$g" '$1 == g && $3 == "kafkajs" {print $2}' "$DIR/seen")
    if [[ -n $kv && $kv == "$js" ]]; then
        echo "[partitions] ok: $g on partition $kv from kvmove and from kafkajs"
    else
        echo "[partitions] FAILED: $g on partition '${kv}' from kvmove, '${js}' from kafkajs"; fail=1
    fi
done
# Eight keys on one partition would make the comparison say nothing.
if ((spread < 3)); then echo "[partitions] FAILED: the keys used only $spread partitions"; fail=1; fi
exit $fail
