#!/usr/bin/env bash
# Fast developer build: debug binaries for this machine into plugins/modules/
# (the release build is tools/build-binaries.sh: static, both architectures).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build -q --bins
for dir in modules/*/; do
  name=$(sed -n 's/^name = "\(.*\)"/\1/p' "$dir/Cargo.toml" | sed -n 2p)
  [ -n "$name" ] && [ -x "target/debug/$name" ] && install -m 0755 "target/debug/$name" "plugins/modules/$name"
done
ls plugins/modules
