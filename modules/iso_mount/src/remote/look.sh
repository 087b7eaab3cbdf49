#!/bin/sh
# vcloud.usage_meter.iso_mount: what is at the mount point (read-only).
# Environment: UM_ISO (the ISO file), UM_PATH (the mount point), UM_SCRIPT
# (a script name relative to the mount point, may be empty).
# Prints (usage_meter::reply) iso=0|1, iso_real=, dir=0|1, mounted=0|1,
# source= (what is mounted there), backing= (a loop device's file),
# empty=0|1 (the directory, when nothing is mounted), script=0|1, then the
# root of the mount point in a section @@root (one name a line, "/" after a
# directory) and @@end.
if [ -f "$UM_ISO" ]; then
  echo iso=1
  echo "iso_real=$(readlink -f "$UM_ISO")"
else
  echo iso=0
fi
src=
if [ -d "$UM_PATH" ]; then
  echo dir=1
  p=$(readlink -f "$UM_PATH")
  # the last mount on that directory is the one seen there; field 5 is the
  # mount point, the source comes two fields after the "-" separator
  src=$(awk -v p="$p" '$5 == p { for (i = 7; i <= NF; i++) if ($i == "-") { s = $(i + 2); break } } END { print s }' /proc/self/mountinfo)
else
  echo dir=0
fi
if [ -n "$src" ]; then
  echo mounted=1
  echo "source=$src"
  case $src in
    /dev/loop*)
      b=$(cat "/sys/block/${src#/dev/}/loop/backing_file" 2> /dev/null) ||
        b=$(losetup -n -O BACK-FILE "$src" 2> /dev/null)
      echo "backing=$b" ;;
  esac
else
  echo mounted=0
  if [ -d "$UM_PATH" ] && [ -z "$(ls -A "$UM_PATH" 2> /dev/null)" ]; then echo empty=1; else echo empty=0; fi
fi
if [ -n "$UM_SCRIPT" ] && [ -f "$UM_PATH/$UM_SCRIPT" ]; then echo script=1; else echo script=0; fi
echo @@root
if [ -n "$src" ]; then
  for f in "$UM_PATH"/* "$UM_PATH"/.[!.]*; do
    [ -e "$f" ] || continue
    if [ -d "$f" ]; then echo "${f##*/}/"; else echo "${f##*/}"; fi
  done | head -n 200
fi
echo @@end
