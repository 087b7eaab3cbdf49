#!/usr/bin/env bash
# The pinned ruff (Python linter) in its own venv, .work/ruff-venv, for make
# test's unit target. Prints the venv's bin directory on stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
exec tools/pinned-venv.sh ruff-venv ruff==0.17.5
