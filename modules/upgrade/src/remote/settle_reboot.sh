#!/bin/sh
# vcloud.usage_meter.upgrade: record an ISO run that ended with the appliance
# rebooting (the runner never wrote its record). Environment: UM_LOCK, UM_RECORD,
# UM_CURRENT (the upgrade's lock, record and run in progress), UM_ID (the run).
# Prints (usage_meter::reply) state=recorded, busy (a run holds the lock) or
# raced (another run started since).
exec 9>> "$UM_LOCK"
flock -w 5 9 || { echo state=busy; exit 0; }
get() { sed -n "s/^$1=//p" "$2" 2> /dev/null | head -n 1; }
[ "$(get id "$UM_CURRENT")" = "$UM_ID" ] || { echo state=raced; exit 0; }
[ "$(get id "$UM_RECORD")" = "$UM_ID" ] && { echo state=recorded; exit 0; }
log=$(get log "$UM_CURRENT")
[ -n "$log" ] && echo "[vcloud.usage_meter] the appliance rebooted during the run" >> "$log"
rm -rf "${UM_RECORD%/*}/runs/$UM_ID.d"
printf 'format=1\nid=%s\nsha256=%s\nshar=%s\nchdir=%s\nrc=0\nstarted=%s\nfinished=%s\nfinished_boot_id=%s\nlog=%s\nupgrade_log=\nmode=iso\nrebooted=1\n' \
  "$UM_ID" "$(get sha256 "$UM_CURRENT")" "$(get shar "$UM_CURRENT")" "$(get chdir "$UM_CURRENT")" \
  "$(get started "$UM_CURRENT")" "$(date +%s)" "$(get boot_id "$UM_CURRENT")" "$log" > "$UM_RECORD.tmp" &&
  mv -f "$UM_RECORD.tmp" "$UM_RECORD" && echo state=recorded
