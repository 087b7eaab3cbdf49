#!/usr/bin/env bash
# One ansible-core of the support matrix in a venv of its own, .work/core-<line>,
# on the Python its users run it with (tools/requirements-matrix.txt).
#
#   tools/install-core.sh 2.16      prints the venv's bin directory as its last line
#
# The interpreters: python<X.Y> on PATH, else the machine's pyenv build
# (~/.pyenv/versions/<X.Y>.*). Debian 12 ships only 3.11; the rust machine image
# carries pyenv builds of 3.12 and 3.13. A missing interpreter is an error that
# names what to install, never a skipped test.
set -euo pipefail
cd "$(dirname "$0")/.."
line=${1:?usage: tools/install-core.sh LINE   (e.g. 2.16; see tools/requirements-matrix.txt)}
row=$(awk -v l="$line" '$1 == l { print; exit }' tools/requirements-matrix.txt)
[ -n "$row" ] || { echo "install-core: $line is not in tools/requirements-matrix.txt" >&2; exit 2; }
read -r _ pyver pin <<<"$row"

find_python() {
  local v=$1 p
  # pyenv's shims are on PATH for every version but run only the selected one:
  # a candidate counts when it starts and says it is X.Y.
  for p in $(command -v "python$v" 2>/dev/null) "${PYENV_ROOT:-$HOME/.pyenv}"/versions/"$v".*/bin/python"$v"; do
    [ -x "$p" ] && [ "$("$p" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)" = "$v" ] \
      && { echo "$p"; return 0; }
  done
  return 1
}
py=$(find_python "$pyver") || {
  echo "install-core: ansible-core $line is tested on Python $pyver, and no python$pyver was found" \
       "(PATH or ~/.pyenv/versions/$pyver.*). Install Python $pyver, or put it on PATH." >&2
  exit 1
}
PYTHON=$py exec tools/pinned-venv.sh "core-$line" "$pin" pytest==8.4.2 pytest-timeout==2.4.0
