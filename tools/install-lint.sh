#!/usr/bin/env bash
# The pinned ansible-lint in its own venv, .work/lint-venv, with the ansible-core
# of tools/requirements.txt. Prints the venv's bin directory on stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
exec tools/pinned-venv.sh lint-venv ansible-lint==26.10.1 "$(grep '^ansible-core==' tools/requirements.txt)"
