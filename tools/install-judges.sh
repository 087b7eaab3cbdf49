#!/usr/bin/env bash
# The ecosystem's judges of the built tarball in their own venv, .work/judges-venv:
# galaxy-importer (the importer behind Galaxy and Automation Hub; it runs
# ansible-lint, pinned as in tools/install-lint.sh) and antsibull-docs (the docsite
# builder), with the ansible-core of tools/requirements.txt. Used by
# tests/test_ecosystem.py. Prints the venv's bin directory on stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
exec tools/pinned-venv.sh judges-venv galaxy-importer==0.4.44 antsibull-docs==2.28.0 ansible-lint==26.10.1 \
  "$(grep '^ansible-core==' tools/requirements.txt)"
