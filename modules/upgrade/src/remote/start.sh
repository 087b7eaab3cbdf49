#!/bin/bash
# vcloud.usage_meter.upgrade: start the detached runner, under the lock.
# Sent after usage_meter's sum.sh (umstatkey).
#   bash -s -- STATE_DIR SHAR CHDIR SHA256 EXPECTED_RECORD_ID [LOCK_WAIT [SUM_CACHE [RUNNER_ARGS...]]]  (this script on stdin)
# RUNNER_ARGS are passed on to the runner after its five. An ISO run's access
# token, if any, is in the shell variable UM_TOK (read from stdin before this
# script): it is handed to the runner in a 0600 file under a 0700 directory,
# which the runner removes at once.
# Prints (usage_meter::reply) state=started + id=<id>, state=busy (a run holds the lock: attach),
# state=raced (the record, or the bundle, changed since the module looked: look
# again) or state=noflock.
set -u
SD=$1 SH=$2 CH=$3 SHA=$4 EXPECT=$5 WAIT=${6:-5} CACHE=${7:-}
orig_umask=$(umask)
umask 077   # our state and the run output are for root only; the bundle gets orig_umask
mkdir -p "$SD/runs" || exit 20
command -v flock > /dev/null 2>&1 || { echo state=noflock; exit 0; }
exec 9>> "$SD/upgrade.lock"
# a status probe holds a shared lock for a moment; a running upgrade holds it for minutes
if ! flock -w "$WAIT" 9; then
  echo state=busy
  exit 0
fi
rid=$(sed -n 's/^id=//p' "$SD/upgrade.record" 2> /dev/null | head -n 1)
if [ "${rid:--}" != "$EXPECT" ]; then
  echo state=raced
  exit 0
fi
# The bundle is still the one the module hashed: the checksum cache entry it
# wrote must match the file as it is now (a copy may have replaced it since).
if [ -n "$CACHE" ]; then
  k=$(umstatkey "$SH" 2> /dev/null) || k=
  { read -r ck; read -r cp; read -r cs; } < "$CACHE" 2> /dev/null || ck=
  if [ -z "$k" ] || [ "$k" != "$ck" ] || [ "$cp" != "$SH" ] || [ "$cs" != "$SHA" ]; then
    echo state=raced
    exit 0
  fi
fi
id="$(date +%s)-$$"
log="$SD/runs/$id.log"
boot=$(cat /proc/sys/kernel/random/boot_id 2> /dev/null)
cat > "$SD/runner.sh.tmp" << 'UM_RUNNER_EOF'
@RUNNER@
UM_RUNNER_EOF
mv -f "$SD/runner.sh.tmp" "$SD/runner.sh" || exit 21
printf 'id=%s\nsha256=%s\nshar=%s\nchdir=%s\nstarted=%s\nboot_id=%s\nlog=%s\n' \
  "$id" "$SHA" "$SH" "$CH" "$(date +%s)" "$boot" "$log" > "$SD/upgrade.current.tmp"
mv -f "$SD/upgrade.current.tmp" "$SD/upgrade.current" || exit 22
: > "$log"
tokf="$SD/runs/$id.d/token"
if [ -n "${UM_TOK-}" ]; then
  { mkdir -p "$SD/runs/$id.d" && chmod 700 "$SD/runs/$id.d" && printf '%s\n' "$UM_TOK" > "$tokf"; } || exit 23
fi
UM_TOK=
# new session, no terminal, no SSH file descriptors: survives the connection; keeps fd 9 (the lock)
UM_UMASK=$orig_umask setsid nohup bash "$SD/runner.sh" "$id" "$SD" "$SH" "$CH" "$SHA" "${@:8}" < /dev/null > /dev/null 2>&1 &
# the runner takes the token at once; never leave it behind
i=0
while [ -e "$tokf" ] && [ $i -lt 120 ]; do sleep 0.25; i=$((i + 1)); done
rm -f "$tokf"
echo state=started
echo "id=$id"
