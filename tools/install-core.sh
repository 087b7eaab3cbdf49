#!/usr/bin/env bash
# One ansible-core of the support matrix in a venv of its own, .work/core-<line>,
# on the Python its users run it with (tools/requirements-matrix.txt).
#
#   tools/install-core.sh 2.16      prints the venv's bin directory as its last line
#
# The interpreters: tools/python.sh's find_python (python<X.Y> on PATH, else the
# machine's pyenv build). A missing interpreter is an error that names what to
# install, never a skipped test.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=tools/python.sh
. tools/python.sh
line=${1:?usage: tools/install-core.sh LINE   (e.g. 2.16; see tools/requirements-matrix.txt)}
row=$(awk -v l="$line" '$1 == l { print; exit }' tools/requirements-matrix.txt)
[ -n "$row" ] || { echo "install-core: $line is not in tools/requirements-matrix.txt" >&2; exit 2; }
read -r _ pyver pin <<<"$row"
py=$(find_python "$pyver") || { echo "install-core: ansible-core $line is tested on Python $pyver" >&2; exit 1; }
PYTHON=$py exec tools/pinned-venv.sh "core-$line" "$pin" pytest==8.4.2 pytest-timeout==2.4.0
