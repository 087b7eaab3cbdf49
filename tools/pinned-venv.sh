#!/usr/bin/env bash
# Install pinned PyPI packages into a venv of their own under .work/ (kept apart
# from .venv so a tool's dependencies cannot move the test suite's ansible-core).
#
#   tools/pinned-venv.sh NAME REQUIREMENT...     e.g. lint-venv ansible-lint==26.10.1
#
# Idempotent and non-interactive: the venv is rebuilt only when the requirements
# or the interpreter differ from those of its last complete install (a second run
# takes well under a second). Prints the venv's bin directory as its last line of
# stdout. The tools/install-*.sh scripts call it, each with its own pins.
# The interpreter: $PYTHON, else the Python of the pinned ansible-core
# (tools/python.sh), which the tools' ansible-core needs.
# Safe to run twice at once (pytest-xdist workers): one lock file per venv, the
# second run waits and then finds the venv complete.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=tools/python.sh
. tools/python.sh
name=${1:?usage: tools/pinned-venv.sh NAME REQUIREMENT...}
shift
[ $# -gt 0 ] || { echo "pinned-venv: no requirement given for $name" >&2; exit 2; }
WORK=${UM_WORK:-$PWD/.work}
VENV=$WORK/$name
PY=${PYTHON:-$(find_python "$(pin_python)")}
REQS="$* ($("$PY" -c 'import sys; print("python%d.%d" % sys.version_info[:2])'))"

mkdir -p "$WORK"
exec 9>"$VENV.lock"
flock 9
# .requirements is written last, so it exists only after a complete install.
if [ "$(cat "$VENV/.requirements" 2>/dev/null)" != "$REQS" ] || [ ! -x "$VENV/bin/python" ]; then
  start=$(date +%s)
  printf '==> %s into %s\n' "$REQS" "$VENV" >&2
  rm -rf "$VENV"
  "$PY" -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check "$@"
  echo "$REQS" > "$VENV/.requirements"
  printf '==> %s installed in %s s\n' "$name" "$(( $(date +%s) - start ))" >&2
fi
echo "$VENV/bin"
