#!/usr/bin/env bash
# Install what the snapshot / VMware Tools tests need from community.vmware, without
# prompting and idempotently (a second run takes well under a second):
#   - community.vmware, extracted from PyPI's `ansible` package (Galaxy is not
#     reachable from these machines; the `ansible` wheel bundles the collections),
#     into .work/vmware-collections/ansible_collections/community/vmware.
#     Only that one collection is extracted (~3.5 MB) instead of installing the
#     whole package (~500 MB of collections).
#   - its Python dependencies (pyvmomi, requests) into .venv (tests/vcsim/requirements.txt).
# Prints the collections path to add to ANSIBLE_COLLECTIONS_PATH on stdout.
#
# Users do not need this script: see docs/vmware.md.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
WORK=${UM_WORK:-$REPO/.work}
# Only community.vmware is taken from it: ansible 12.x (built on ansible-core 2.19)
# carries the community.vmware the tests were written against; it must run on
# the pinned ansible-core too (test_snapshot.py).
ANSIBLE_PKG_VERSION=12.3.0
VMWARE_VERSION=5.10.0   # community.vmware inside ansible 12.3.0
DEST=$WORK/vmware-collections
COLL=$DEST/ansible_collections/community/vmware
PY=$REPO/.venv/bin/python
log() { printf '==> %s\n' "$*" >&2; }

[ -x "$PY" ] || { echo "install-vmware-deps: .venv missing (run tools/bootstrap.sh)" >&2; exit 2; }
# pytest-xdist workers may run this at the same time: one at a time, the second
# then finds everything installed.
mkdir -p "$WORK"
exec 9>"$WORK/vmware-deps.lock"
flock 9

installed=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["collection_info"]["version"])' \
  "$COLL/MANIFEST.json" 2>/dev/null || true)
if [ "$installed" != "$VMWARE_VERSION" ]; then
  start=$(date +%s)
  log "community.vmware $VMWARE_VERSION from ansible==$ANSIBLE_PKG_VERSION (PyPI)"
  tmp=$(mktemp -d "${TMPDIR:-/tmp}/um-vmware.XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  "$PY" -m pip download -q --disable-pip-version-check --no-deps --only-binary=:all: \
    -d "$tmp" "ansible==$ANSIBLE_PKG_VERSION"
  rm -rf "$DEST.new"
  "$PY" - "$tmp"/ansible-"$ANSIBLE_PKG_VERSION"-*.whl "$DEST.new" <<'PY'
import sys, zipfile
whl, dest = sys.argv[1], sys.argv[2]
prefix = "ansible_collections/community/vmware/"
with zipfile.ZipFile(whl) as z:
    names = [n for n in z.namelist() if n.startswith(prefix)]
    if not names:
        sys.exit(f"{whl}: no {prefix}")
    z.extractall(dest, names)
PY
  got=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["collection_info"]["version"])' \
    "$DEST.new/ansible_collections/community/vmware/MANIFEST.json")
  if [ "$got" != "$VMWARE_VERSION" ]; then
    echo "install-vmware-deps: ansible==$ANSIBLE_PKG_VERSION carries community.vmware $got, expected $VMWARE_VERSION" >&2
    exit 1
  fi
  rm -rf "$DEST"
  mv "$DEST.new" "$DEST"
  log "community.vmware $got installed in $(( $(date +%s) - start )) s"
fi

if ! cmp -s tests/vcsim/requirements.txt "$REPO/.venv/.vmware-requirements" 2>/dev/null; then
  start=$(date +%s)
  log "pip install -r tests/vcsim/requirements.txt"
  "$PY" -m pip install -q --disable-pip-version-check -r tests/vcsim/requirements.txt
  cp tests/vcsim/requirements.txt "$REPO/.venv/.vmware-requirements"
  log "pyvmomi installed in $(( $(date +%s) - start )) s"
fi
echo "$DEST"
