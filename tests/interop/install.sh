#!/bin/bash
# Installs the interop lane's clients from the npm registry: `npm ci` of package-lock.json
# (every version pinned) into a directory outside the checkout, named by the lock file's hash
# ($KVMOVE_INTEROP_CACHE, default ~/.cache/kvmove-interop/HASH), so that a fresh clone of the
# same lock file (CI) reuses it; npm's own cache is $KVMOVE_NPM_CACHE (default ~/.npm).
# BUILD/interop/node_modules links to it. Prints and records (HASH/install-time) how long the
# install took. A missing or old node or npm fails: the lane is not optional (scripts/deps
# installs them).
set -euo pipefail
TOP=${KVMOVE_SOURCE_DIR:-$(cd "${BASH_SOURCE[0]%/*}/../.." && pwd)}
BUILD=${KVMOVE_BUILD_DIR:-$TOP/build}
ROOT=${KVMOVE_INTEROP_CACHE:-$HOME/.cache/kvmove-interop}
NPM_CACHE=${KVMOVE_NPM_CACHE:-$HOME/.npm}
LOCK=$TOP/tests/interop/package-lock.json

for tool in node npm; do
    command -v $tool >/dev/null || { echo "[interop] $tool is not installed (run scripts/deps)" >&2; exit 1; }
done
major=$(node -p 'process.versions.node.split(".")[0]')
if ((major < 20)); then
    echo "[interop] node $(node --version) is too old: cloudevents 10 needs node 20 or later" >&2
    exit 1
fi
DEST=$ROOT/$(cat "$LOCK" "$TOP/tests/interop/package.json" | sha256sum | cut -c1-16)-node$major
mkdir -p "$ROOT" "$BUILD/interop"
exec 9>"$ROOT/lock"
flock 9 # one install at a time (worktrees and CI share the directory)
if [[ ! -f $DEST/installed ]]; then
    rm -rf "$DEST" "$DEST.tmp"
    mkdir -p "$DEST.tmp"
    cp "$TOP/tests/interop/package.json" "$LOCK" "$DEST.tmp/"
    start=$(date +%s%N)
    # --ignore-scripts: nothing from the registry runs at install time (none of these needs it).
    npm ci --prefix "$DEST.tmp" --cache "$NPM_CACHE" --ignore-scripts --no-audit --no-fund \
        --loglevel=error >"$DEST.tmp/npm-ci.log" 2>&1 ||
        { cat "$DEST.tmp/npm-ci.log" >&2; echo "[interop] npm ci failed" >&2; exit 1; }
    ms=$((($(date +%s%N) - start) / 1000000))
    echo "npm ci $((ms / 1000)).$((ms % 1000 / 100)) s, $(du -sh "$DEST.tmp/node_modules" | cut -f1), node $(node --version), npm $(npm --version), npm cache $NPM_CACHE" >"$DEST.tmp/install-time"
    touch "$DEST.tmp/installed"
    mv "$DEST.tmp" "$DEST"
    echo "[interop] installed into $DEST: $(cat "$DEST/install-time")"
else
    echo "[interop] npm packages already installed in $DEST (first install: $(cat "$DEST/install-time"))"
fi
ln -sfn "$DEST/node_modules" "$BUILD/interop/node_modules"
