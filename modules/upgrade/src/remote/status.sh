#!/bin/sh
# vcloud.usage_meter.upgrade: one read-only look at the appliance (after
# running.sh). Environment: UM_LOCK (the upgrade lock), UM_RECORD, UM_CURRENT
# (the run record and the run in progress), UM_SHAR (the bundle), UM_CHDIR,
# UM_OLD (<chdir>-old; empty: not looked at), UM_TICKS (first wait up to that many quarter seconds
# for a running upgrade to end), UM_TAIL (lines of the run's output).
# Prints boot_id=, running=, shar=, chdir=, old=, flock=, upgrade_log=, then
# the sections @@record, @@current, @@tail and @@end.
i=0
while [ $i -lt "$UM_TICKS" ] && umrunning "$UM_LOCK"; do sleep 0.25; i=$((i+1)); done
echo "boot_id=$(cat /proc/sys/kernel/random/boot_id)"
if umrunning "$UM_LOCK"; then echo running=1; else echo running=0; fi
if [ -f "$UM_SHAR" ]; then echo shar=1; else echo shar=0; fi
if [ -d "$UM_CHDIR" ]; then echo chdir=1; else echo chdir=0; fi
if [ -e "$UM_OLD" ] || [ -L "$UM_OLD" ]; then echo old=1; else echo old=0; fi
if command -v flock > /dev/null 2>&1; then echo flock=1; else echo flock=0; fi
# shellcheck disable=SC2012  # the newest by name pattern; the names have no line breaks
echo "upgrade_log=$(ls -1t "$UM_CHDIR"/var/logs/inplaceupgradeum-* 2> /dev/null | head -n 1)"
echo '@@record'; cat "$UM_RECORD" 2> /dev/null
echo '@@current'; cat "$UM_CURRENT" 2> /dev/null
l=$(sed -n 's/^log=//p' "$UM_CURRENT" 2> /dev/null)
[ -n "$l" ] || l=$(sed -n 's/^log=//p' "$UM_RECORD" 2> /dev/null)
echo '@@tail'; [ -n "$l" ] && tail -n "$UM_TAIL" "$l" 2> /dev/null; echo '@@end'
