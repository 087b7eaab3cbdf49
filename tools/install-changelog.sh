#!/usr/bin/env bash
# Install the pinned antsibull-changelog into its own venv, .work/changelog-venv.
# Idempotent and non-interactive. Prints the venv's bin directory on stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${UM_WORK:-$PWD/.work}
VENV=$WORK/changelog-venv
PY=${PYTHON:-python3}
REQS="antsibull-changelog==0.36.0"

if [ "$(cat "$VENV/.requirements" 2>/dev/null)" != "$REQS" ] || [ ! -x "$VENV/bin/antsibull-changelog" ]; then
  printf '==> %s into %s\n' "$REQS" "$VENV" >&2
  rm -rf "$VENV"
  "$PY" -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check "$REQS"
  echo "$REQS" > "$VENV/.requirements"
fi
echo "$VENV/bin"
