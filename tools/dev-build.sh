#!/usr/bin/env bash
# Fast developer build: the debug multicall binary for this machine, installed
# where the action plugins look for it (plugins/bin/usage_meter-linux-<arch>).
# The release build is tools/build-binaries.sh (static, both architectures).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build -q -p um-multicall --bin usage_meter
mkdir -p plugins/bin
dest=plugins/bin/usage_meter-linux-$(uname -m)
install -m 0755 target/debug/usage_meter "$dest.tmp.$$" && mv -f "$dest.tmp.$$" "$dest"
# Module binaries of 1.0.0's layout would shadow the doc-only modules: drop them.
find plugins/modules -maxdepth 1 -type f ! -name '*.*' -delete
echo "$dest"
