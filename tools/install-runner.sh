#!/usr/bin/env bash
# Install the pinned AWX / Automation Platform job tooling into its own venv,
# .work/runner-venv: ansible-runner (what AWX and execution nodes run a job with,
# including `transmit | worker | process`) and ansible-builder (what builds an
# execution environment from meta/execution-environment.yml), with ansible-core
# pinned to the same version as .venv (tools/requirements.txt), so the jobs run
# the pinned ansible-playbook. Used by tests/test_awx.py; see docs/awx.md.
# Idempotent and non-interactive; a second run takes well under a second.
# Prints the venv's bin directory on stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${UM_WORK:-$PWD/.work}
VENV=$WORK/runner-venv
PY=${PYTHON:-python3}
REQS="ansible-runner==2.4.3 ansible-builder==3.2.0 ansible-core==2.19.14"

if [ "$(cat "$VENV/.requirements" 2>/dev/null)" != "$REQS" ] \
   || [ ! -x "$VENV/bin/ansible-runner" ] || [ ! -x "$VENV/bin/ansible-builder" ] \
   || [ ! -x "$VENV/bin/ansible-playbook" ]; then
  start=$(date +%s)
  printf '==> %s into %s\n' "$REQS" "$VENV" >&2
  rm -rf "$VENV"
  "$PY" -m venv "$VENV"
  # shellcheck disable=SC2086
  "$VENV/bin/pip" install -q --disable-pip-version-check $REQS
  echo "$REQS" > "$VENV/.requirements"
  printf '==> ansible-runner and ansible-builder installed in %s s\n' "$(( $(date +%s) - start ))" >&2
fi
echo "$VENV/bin"
