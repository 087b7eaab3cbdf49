#!/usr/bin/env bash
# Install everything the tests need on a fresh Debian 12 machine, without
# prompting: apt packages, a pinned ansible-core in .venv, Rust targets and
# build tools. Idempotent; a second run takes seconds.
#
#   tools/bootstrap.sh           what `make test` needs
#   tools/bootstrap.sh --demo    only what `make demo` needs: the appliance's apt
#                                packages and .venv (no cross-build tools, no
#                                vCenter simulator, no linters, no other ansible-core of the matrix)
set -euo pipefail
cd "$(dirname "$0")/.."
log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
demo=0
case "${1:-}" in
  --demo) demo=1 ;;
  "") ;;
  *) echo "bootstrap: unknown argument: $1 (--demo or nothing)" >&2; exit 2 ;;
esac

# apt must never start a service on this machine (no systemd; the simulated
# appliance runs its own sshd in its own namespaces).
if [ ! -x /usr/sbin/policy-rc.d ] || ! grep -q 'exit 101' /usr/sbin/policy-rc.d; then
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
  chmod +x /usr/sbin/policy-rc.d
fi

pkgs=""
apt_lists=(tools/apt-packages.txt tests/appliance/apt-packages.txt)
[ "$demo" = 1 ] || apt_lists+=(tests/vcsim/apt-packages.txt)
for f in "${apt_lists[@]}"; do
  [ -f "$f" ] && pkgs="$pkgs $(sed 's/#.*//' "$f" | tr -s ' \n' ' ')"
done
missing=()
for p in $pkgs; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  log "apt-get install ${missing[*]}"
  # Another apt (unattended-upgrades on a fresh machine) may hold the lock:
  # wait for it, up to 10 minutes, instead of failing at once.
  apt-get -o DPkg::Lock::Timeout=600 update -qq
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# .venv: the pinned ansible-core (tools/requirements.txt) on the Python the support
# matrix gives it (tools/requirements-matrix.txt, tools/python.sh); a .venv on another
# Python (an older checkout's) is rebuilt.
# shellcheck source=tools/python.sh
. tools/python.sh
pyver=$(pin_python)
PY=${PYTHON:-$(find_python "$pyver")} || { echo "bootstrap: .venv's ansible-core needs Python $pyver" >&2; exit 1; }
if [ -x .venv/bin/python ] && [ "$(.venv/bin/python -c 'import sys; print("%d.%d" % sys.version_info[:2])')" != "$pyver" ]; then
  log "rebuilding .venv on Python $pyver"
  rm -rf .venv
fi
if [ ! -x .venv/bin/python ]; then
  log "creating .venv (Python $pyver)"
  "$PY" -m venv .venv
fi
if ! cmp -s tools/requirements.txt .venv/.requirements 2>/dev/null; then
  log "pip install -r tools/requirements.txt"
  .venv/bin/pip install -q --disable-pip-version-check -r tools/requirements.txt
  cp tools/requirements.txt .venv/.requirements
fi
if [ "$demo" = 1 ]; then
  mkdir -p .work
  log "bootstrap (demo) done"
  exit 0
fi
# The other ansible-core lines of the support matrix (tests/test_core_matrix.py);
# the pinned one is .venv.
pin=$(grep '^ansible-core==' tools/requirements.txt)
awk -v pin="$pin" '!/^#/ && NF && $3 != pin { print $1 }' tools/requirements-matrix.txt | while read -r line; do
  tools/install-core.sh "$line" >/dev/null
done

# Rust targets and the cross-linker; community.vmware (optional dependency,
# tested against a vCenter simulator); ansible-lint in its own venv.
for step in install-build-deps install-vmware-deps install-lint; do
  if [ -x "tools/$step.sh" ]; then "tools/$step.sh"; fi
done
mkdir -p .work
log "bootstrap done"
