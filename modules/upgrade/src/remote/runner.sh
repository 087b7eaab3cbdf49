#!/bin/bash
# vcloud.usage_meter.upgrade runner (written by the module; safe to delete when idle).
# Runs the bundle as the documented procedure does (cd <chdir> && bash <shar>),
# detached from SSH, while holding the upgrade lock (fd 9, inherited from the
# start script), then records the outcome.
#   runner.sh ID STATE_DIR SHAR CHDIR SHA256
id=$1 SD=$2 SH=$3 CH=$4 SHA=$5
log="$SD/runs/$id.log"
started=$(sed -n 's/^started=//p' "$SD/upgrade.current" 2>/dev/null)
if cd "$CH" 2>> "$log"; then
  case $SH in
    "$CH"/*) rel=${SH#"$CH"/} ;;
    *) rel=$SH ;;
  esac
  # the bundle runs with the SSH session's umask, as if run by hand
  umask "${UM_UMASK:-022}"
  # fd 9 (the lock) is not passed on: a daemon started by the bundle must not hold it
  bash "$rel" >> "$log" 2>&1 < /dev/null 9>&-
  rc=$?
else
  echo "upgrade runner: cannot change to $CH" >> "$log"
  rc=127
fi
boot=$(cat /proc/sys/kernel/random/boot_id 2>/dev/null)
# shellcheck disable=SC2012  # the newest log by mtime; the installer names them
ulog=$(ls -1t "$CH"/var/logs/inplaceupgradeum-* 2>/dev/null | head -n 1)
printf 'format=1\nid=%s\nsha256=%s\nshar=%s\nchdir=%s\nrc=%s\nstarted=%s\nfinished=%s\nfinished_boot_id=%s\nlog=%s\nupgrade_log=%s\n' \
  "$id" "$SHA" "$SH" "$CH" "$rc" "$started" "$(date +%s)" "$boot" "$log" "$ulog" > "$SD/upgrade.record.tmp"
mv -f "$SD/upgrade.record.tmp" "$SD/upgrade.record"
sync
