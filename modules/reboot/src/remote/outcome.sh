#!/bin/sh
# vcloud.usage_meter.reboot: the reboot command's outcome, once it finished:
# rc=<exit code>, then the end of its output. Environment: UM_BASE
# (<dir>/.um-reboot-<token>).
if [ -f "$UM_BASE.rc" ]; then echo "rc=$(cat "$UM_BASE.rc")"; tail -c 2000 "$UM_BASE.log" 2> /dev/null; fi
