#!/usr/bin/env bash
# The pinned antsibull-changelog in its own venv, .work/changelog-venv.
# Prints the venv's bin directory on stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
exec tools/pinned-venv.sh changelog-venv antsibull-changelog==0.36.0
