#!/usr/bin/env bash
# Install the ecosystem's judges of the built tarball into their own venv,
# .work/judges-venv: galaxy-importer (the importer behind Galaxy and Automation Hub)
# and antsibull-docs (the docsite builder), with ansible-core pinned to the same
# version as .venv (tools/requirements.txt) and galaxy-importer's ansible-lint to the
# same version as tools/install-lint.sh. Used by tests/test_ecosystem.py.
# Idempotent and non-interactive; a second run takes well under a second.
# Prints the venv's bin directory on stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${UM_WORK:-$PWD/.work}
VENV=$WORK/judges-venv
PY=${PYTHON:-python3}
REQS="galaxy-importer==0.4.44 antsibull-docs==2.28.0 ansible-core==2.19.14 ansible-lint==26.10.1"

if [ "$(cat "$VENV/.requirements" 2>/dev/null)" != "$REQS" ] \
   || [ ! -x "$VENV/bin/antsibull-docs" ] || [ ! -x "$VENV/bin/ansible-doc" ]; then
  start=$(date +%s)
  printf '==> %s into %s\n' "$REQS" "$VENV" >&2
  rm -rf "$VENV"
  "$PY" -m venv "$VENV"
  # shellcheck disable=SC2086
  "$VENV/bin/pip" install -q --disable-pip-version-check $REQS
  echo "$REQS" > "$VENV/.requirements"
  printf '==> judges installed in %s s\n' "$(( $(date +%s) - start ))" >&2
fi
echo "$VENV/bin"
