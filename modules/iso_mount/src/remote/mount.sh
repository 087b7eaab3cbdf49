#!/bin/sh
# vcloud.usage_meter.iso_mount: make the private mount point and loop-mount
# the ISO read-only there. Environment: UM_ISO, UM_PATH.
# Prints (usage_meter::reply) rc= (of mkdir or mount), then mount's messages
# in a section @@err and @@end.
umask 077
err=$(mkdir -p "$UM_PATH" 2>&1 && chmod 0700 "$UM_PATH" 2>&1 && mount -o loop,ro "$UM_ISO" "$UM_PATH" 2>&1)
echo "rc=$?"
echo @@err
printf '%s\n' "$err"
echo @@end
