#!/usr/bin/env bash
# Benchmarks: bootstrap like `make test`, build the release
# tarball (tools/build-collection.sh: both static multicall binaries in
# dist/vcloud-usage_meter-<version>.tar.gz), then run bench/run.py on it.
#   bench/run.sh [--no-build] [--quick] [--only copy|overhead|reboot|fleet|cost|hashes|distance|physical_limit] [--no-write] [--tarball PATH] [--render]
# --no-build skips the build (bench/run.py then needs the tarball to exist).
set -euo pipefail
cd "$(dirname "$0")/.."

build=1
args=()
for a in "$@"; do
  if [ "$a" = --no-build ]; then build=0; else args+=("$a"); fi
done

start=$SECONDS
tools/bootstrap.sh
if [ "$build" = 1 ]; then
  tools/build-collection.sh
fi
BENCH_BUILD_SECONDS=$((SECONDS - start))
export BENCH_BUILD_SECONDS
exec .venv/bin/python bench/run.py "${args[@]}"
