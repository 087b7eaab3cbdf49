#!/bin/bash
# vcloud.usage_meter.upgrade ISO runner (written by the module; safe to delete when idle).
# Runs an ISO's upgrade script (cd <its directory> && bash <script>) detached from
# SSH, while holding the upgrade lock (fd 9, inherited from the start script),
# answers its access token prompt, stops it at a prompt nobody expected, then
# records the outcome.
#   iso_runner.sh ID STATE_DIR SCRIPT RUNDIR KEY LOGDIR INPUT PROMPT PROMPT_TIMEOUT
# INPUT: stdin (the script's stdin is a FIFO) or pty (the script runs under
# util-linux `script`, so it has a terminal, with echo off). PROMPT: an extended
# regular expression, matched case-insensitively against the output's last
# partial line. The token, if any, is in $SD/runs/ID.d/token (0600, in a 0700
# directory): read into a shell variable and removed at once; it is only ever
# written with the printf builtin (never an argument, never exported).
id=$1 SD=$2 SH=$3 CH=$4 SHA=$5 LD=$6 INPUT=$7 PROMPT=$8 PT=$9
log="$SD/runs/$id.log"
d="$SD/runs/$id.d"
tok=
if [ -f "$d/token" ]; then
  IFS= read -r tok < "$d/token"
  rm -f "$d/token"
fi
started=$(sed -n 's/^started=//p' "$SD/upgrade.current" 2> /dev/null)
stopped='' prompt='' tid=''
# stop the script's process group (and, under `script`, its terminal's session)
halt() {
  stopped=$1 prompt=$2
  local c
  # under `script` the script leads a session of its own (its terminal's)
  for c in $(pgrep -P "$pid"); do pkill -TERM -s "$c" 2> /dev/null; done
  kill -TERM -- "-$pid" 2> /dev/null
  sleep 1
  kill -KILL -- "-$pid" 2> /dev/null
}
# the last partial line of the output ("" when it ends with a line break)
partial() {
  local t
  t=$(tail -c 512 "$log" 2> /dev/null; echo x)
  t=${t%x}
  case $t in *$'\n') t= ;; *) t=${t##*$'\n'} ;; esac
  printf '%s' "${t//$'\r'/}"
}
watch() {
  local size last=-1 since=$SECONDS answered=-1 part
  shopt -s nocasematch
  while kill -0 "$pid" 2> /dev/null; do
    size=$(stat -c %s "$log" 2> /dev/null)
    if [ "$size" != "$last" ]; then last=$size since=$SECONDS; fi
    part=$(partial)
    if [ -n "$part" ] && [[ $part =~ $PROMPT ]]; then
      if [ "$size" != "$answered" ]; then
        if [ "$answered" != -1 ]; then halt token_again "$part"; return; fi
        if [ -z "$tok" ]; then halt missing_token "$part"; return; fi
        printf '%s\n' "$tok" >&3
        # which token this run was given (a digest through a pipe, never an argument):
        # a failed run may be tried again with another token
        tid=$(printf '%s' "$tok" | sha256sum | cut -c1-16)
        answered=$size
      fi
    elif [ -n "$part" ] && [ $((SECONDS - since)) -ge "$PT" ]; then
      halt unexpected_prompt "$part"
      return
    fi
    sleep 0.25
  done
}
mkdir -p "$d" && chmod 700 "$d"
rm -f "$d/in"
if cd "$CH" 2>> "$log" && mkfifo -m 600 "$d/in" 2>> "$log"; then
  exec 3<> "$d/in"
  # the script runs with the SSH session's umask, as if run by hand
  umask "${UM_UMASK:-022}"
  # its own process group (job control), so that a stop reaches all of it;
  # fd 9 (the lock) and fd 3 (its input's writing end) are not passed on
  set -m
  if [ "$INPUT" = pty ]; then
    script -qefc "stty -echo 2> /dev/null; exec bash $(printf '%q' "$SH")" /dev/null < "$d/in" >> "$log" 2>&1 3>&- 9>&- &
  else
    bash "$SH" < "$d/in" >> "$log" 2>&1 3>&- 9>&- &
  fi
  pid=$!
  set +m
  watch
  wait "$pid"
  rc=$?
  exec 3>&-
  if [ -n "$stopped" ]; then
    rc=125
    printf '\n[vcloud.usage_meter] stopped (%s) at: %s\n' "$stopped" "$prompt" >> "$log"
  fi
else
  echo "upgrade runner: cannot change to $CH" >> "$log"
  rc=127
fi
tok=
rm -rf "$d"
boot=$(cat /proc/sys/kernel/random/boot_id 2> /dev/null)
# shellcheck disable=SC2012  # the newest log by mtime; the installer names them
ulog=$(ls -1t "$LD"/var/logs/inplaceupgradeum-* 2> /dev/null | head -n 1)
{
  printf 'format=1\nid=%s\nsha256=%s\nshar=%s\nchdir=%s\nrc=%s\nstarted=%s\nfinished=%s\nfinished_boot_id=%s\nlog=%s\nupgrade_log=%s\n' \
    "$id" "$SHA" "$SH" "$CH" "$rc" "$started" "$(date +%s)" "$boot" "$log" "$ulog"
  printf 'mode=iso\nstopped=%s\nprompt=%s\ntoken_id=%s\n' "$stopped" "${prompt//$'\n'/ }" "$tid"
} > "$SD/upgrade.record.tmp"
mv -f "$SD/upgrade.record.tmp" "$SD/upgrade.record"
sync
