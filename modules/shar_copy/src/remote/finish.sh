#!/bin/sh
# vcloud.usage_meter.shar_copy: hash the partial file UM_PART as it is on disk
# now and rename exactly those bytes to UM_DEST when its size and sha256 are
# UM_SIZE and UM_SHA, then record the checksum in UM_CACHE (after sum.sh).
# With UM_SPLIT=1 (sent in two streams) UM_PART.2 is first appended to UM_PART
# and removed (a failure leaves sizes the next run restarts from).
# Prints (usage_meter::reply) result=renamed, result=renamefail, or
# result=bad with size=<n> and sha256=<hex> (left in place, not renamed).
umask 022
if [ "${UM_SPLIT:-0}" = 1 ] && [ -f "$UM_PART.2" ]; then
  cat "$UM_PART.2" >> "$UM_PART" && rm -f "$UM_PART.2"
fi
s=$(umhash < "$UM_PART" | awk '{print $1}')
z=$(stat -c %s "$UM_PART" 2> /dev/null)
if [ ${#UM_SHA} = 64 ] && [ "$s" = "$UM_SHA" ] && [ "$z" = "$UM_SIZE" ]; then
  mv -f "$UM_PART" "$UM_DEST" && { umrecordsum "$UM_DEST" "$UM_SHA" "$UM_CACHE"; } 2> /dev/null
  if [ -f "$UM_DEST" ] && ! [ -e "$UM_PART" ]; then echo result=renamed; else echo result=renamefail; fi
else
  printf 'result=bad\nsize=%s\nsha256=%s\n' "$z" "$s"
fi
