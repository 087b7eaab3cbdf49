#!/bin/sh
# vcloud.usage_meter.shar_copy: hold the copy lock for as long as stdin is open.
# Environment: UM_SD (state dir), UM_LOCK (lock file), UM_OWNER (owner file),
# UM_TOKEN (this run), UM_TIMEOUT (seconds to wait), UM_EXTRA (more key=value
# lines for the owner file, each ending in a newline).
# Speaks usage_meter::reply, one section per state: @@waiting every 2 s while
# it waits (the first one with the owner's key=value lines), @@held once it
# holds the lock, or @@busy (with the owner's lines), @@noflock, @@error.
umask 077
L=$UM_LOCK
O=$UM_OWNER
ME=$UM_TOKEN
T=$UM_TIMEOUT
owner() { cat "$O" 2> /dev/null; echo "now=$(date +%s)"; }
mkdir -p "$UM_SD" || { echo @@error; exit 0; }
command -v flock > /dev/null 2>&1 || { echo @@noflock; exit 0; }
exec 9>> "$L" || { echo @@error; exit 0; }
got=0
if flock -n 9; then got=1; else
  # this run's own holder, left by a connection that was cut and not yet noticed by sshd
  h=$(sed -n 's/^pid=//p' "$O" 2> /dev/null); case $h in ''|*[!0-9]*) h= ;; esac
  # shellcheck disable=SC3013  # -ef: in bash, dash and busybox test
  if [ -n "$h" ] && [ "$(sed -n 's/^token=//p' "$O" 2> /dev/null)" = "$ME" ] && [ "/proc/$h/fd/9" -ef "$L" ]; then
    kill "$h" 2> /dev/null; flock -w 5 9 && got=1
  fi
fi
if [ $got = 0 ]; then
  echo @@waiting; owner
  end=$(( $(date +%s) + T ))
  while [ $got = 0 ]; do
    left=$(( end - $(date +%s) )); [ $left -gt 0 ] || break; [ $left -gt 2 ] && left=2
    if flock -w $left 9; then got=1; else echo @@waiting; fi
  done
fi
if [ $got = 0 ]; then echo @@busy; owner; exit 0; fi
if ! { printf 'token=%s\npid=%s\nclient=%s\nstarted=%s\n' "$ME" $$ "${SSH_CLIENT%% *}" "$(date +%s)"; printf '%s' "$UM_EXTRA"; } > "$O.tmp" \
  || ! mv -f "$O.tmp" "$O"; then
  echo @@error; exit 0
fi
echo @@held
while IFS= read -r _; do :; done
rm -f "$O"
