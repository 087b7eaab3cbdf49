#!/usr/bin/env bash
# Install the pinned ansible-lint into its own venv, .work/lint-venv (kept apart from
# .venv so its many dependencies cannot move the test suite's ansible-core).
# Idempotent and non-interactive; a second run takes well under a second.
# Prints the venv's bin directory on stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
WORK=${UM_WORK:-$REPO/.work}
VENV=$WORK/lint-venv
PY=${PYTHON:-python3}
# ansible-core is pinned to the same version as .venv (tools/requirements.txt).
REQS="ansible-lint==26.10.1 ansible-core==2.19.14"

if [ "$(cat "$VENV/.requirements" 2>/dev/null)" != "$REQS" ] || [ ! -x "$VENV/bin/ansible-lint" ]; then
  start=$(date +%s)
  printf '==> ansible-lint into %s\n' "$VENV" >&2
  rm -rf "$VENV"
  "$PY" -m venv "$VENV"
  # shellcheck disable=SC2086
  "$VENV/bin/pip" install -q --disable-pip-version-check $REQS
  echo "$REQS" > "$VENV/.requirements"
  printf '==> ansible-lint installed in %s s\n' "$(( $(date +%s) - start ))" >&2
fi
echo "$VENV/bin"
