#!/bin/sh
# vcloud.usage_meter.iso_mount: unmount the mount point (lazily only when a
# plain unmount fails: a process still uses it), remove the directory, and
# the ISO when asked. Environment: UM_PATH, UM_MOUNTED (1: unmount first),
# UM_ISO, UM_REMOVE_ISO (1: delete the ISO file).
# Prints (usage_meter::reply) umount=ok|lazy|failed|none, rmdir=0|1,
# removed_iso=0|1, then messages in a section @@err and @@end.
u=none
err=
if [ "$UM_MOUNTED" = 1 ]; then
  if e=$(umount "$UM_PATH" 2>&1); then
    u=ok
  elif umount -l "$UM_PATH" 2> /dev/null; then
    u=lazy
    err=$e
  else
    u=failed
    err=$e
  fi
fi
echo "umount=$u"
if [ "$u" != failed ] && [ -d "$UM_PATH" ]; then
  if e=$(rmdir "$UM_PATH" 2>&1); then echo rmdir=1; else echo rmdir=0; err="$err${err:+ / }$e"; fi
else
  echo rmdir=0
fi
if [ "$u" != failed ] && [ "$UM_REMOVE_ISO" = 1 ] && [ -f "$UM_ISO" ]; then
  if e=$(rm -f "$UM_ISO" 2>&1); then echo removed_iso=1; else echo removed_iso=0; err="$err${err:+ / }$e"; fi
else
  echo removed_iso=0
fi
echo @@err
printf '%s\n' "$err"
echo @@end
