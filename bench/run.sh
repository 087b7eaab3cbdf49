#!/usr/bin/env bash
# Benchmarks (issue 7): bootstrap like `make test`, build the static release binaries, run bench/run.py.
#   bench/run.sh [--quick] [--only copy|overhead|reboot|fleet]
set -euo pipefail; cd "$(dirname "$0")/.." && tools/bootstrap.sh && tools/build-binaries.sh --arch x86_64 --out .work/bench/release-bin && exec .venv/bin/python bench/run.py "$@"
