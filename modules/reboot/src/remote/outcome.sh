#!/bin/sh
# vcloud.usage_meter.reboot: the reboot command's outcome, once it finished
# (usage_meter::reply): rc=<exit code>, then the end of its output as @@output. Environment: UM_BASE
# (<dir>/.um-reboot-<token>).
if [ -f "$UM_BASE.rc" ]; then
  echo "rc=$(cat "$UM_BASE.rc")"
  echo @@output
  tail -c 2000 "$UM_BASE.log" 2> /dev/null
fi
