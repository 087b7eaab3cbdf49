#!/usr/bin/env bash
# AWX / Automation Platform job tooling in its own venv, .work/runner-venv:
# ansible-runner (what AWX and execution nodes run a job with, `transmit | worker |
# process` included) and ansible-builder (what builds an execution environment from
# meta/execution-environment.yml), with the ansible-core of tools/requirements.txt so
# the jobs run the pinned ansible-playbook. Used by tests/test_awx.py (docs/awx.md).
# Prints the venv's bin directory on stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
exec tools/pinned-venv.sh runner-venv ansible-runner==2.4.3 ansible-builder==3.2.0 \
  "$(grep '^ansible-core==' tools/requirements.txt)"
