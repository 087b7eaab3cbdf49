# shellcheck shell=bash
# Sourced by tools/*.sh: find the Python interpreter of a given X.Y.
#
#   find_python 3.12      prints the path of an interpreter that really is 3.12
#   pin_python            prints the Python X.Y that tools/requirements-matrix.txt gives
#                         the ansible-core pinned in tools/requirements.txt (.venv's)
#
# Where interpreters come from: python<X.Y> on PATH (Debian 12's packages give only
# 3.11), else a pyenv build under ${PYENV_ROOT:-~/.pyenv}/versions/<X.Y>.* (the
# machine image carries 3.12 and 3.13). pyenv's shims are on PATH for every version
# but run only the selected one, so a candidate counts only when it starts and says
# it is X.Y.

find_python() {
  local v=$1 p
  for p in $(command -v "python$v" 2>/dev/null) "${PYENV_ROOT:-$HOME/.pyenv}"/versions/"$v".*/bin/python"$v"; do
    [ -x "$p" ] && [ "$("$p" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)" = "$v" ] \
      && { echo "$p"; return 0; }
  done
  echo "no python$v was found (PATH or ${PYENV_ROOT:-$HOME/.pyenv}/versions/$v.*):" \
       "install Python $v (a pyenv build, or a Debian/deadsnakes package), or put it on PATH" >&2
  return 1
}

pin_python() {
  local dir pin v
  dir=$(dirname "${BASH_SOURCE[0]}")
  pin=$(grep '^ansible-core==' "$dir/requirements.txt")
  v=$(awk -v p="$pin" '$3 == p { print $2; exit }' "$dir/requirements-matrix.txt")
  [ -n "$v" ] || { echo "tools/requirements-matrix.txt has no row for $pin (tools/requirements.txt)" >&2; return 1; }
  echo "$v"
}
