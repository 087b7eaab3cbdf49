#!/bin/sh
# vcloud.usage_meter.shar_copy (staged: verify): read the staging record
# UM_RECORD and hash UM_DEST as it is on disk (sha256, and sha1 too when
# UM_SHA1=1, both at once); writes nothing (no checksum cache either).
# Prints (usage_meter::reply) record=<the record, one line> (absent: none),
# dest=<size> (empty: no such file), sha256=<hex>, sha1=<hex>, then @@end.
# (after sum.sh: umhash, umsha1)
if [ -f "$UM_RECORD" ]; then printf 'record=%s\n' "$(tr -d '\n\r' < "$UM_RECORD")"; fi
if [ -f "$UM_DEST" ]; then echo "dest=$(stat -c %s "$UM_DEST")"; else printf 'dest=\n@@end\n'; exit 0; fi
if [ -f "$UM_RECORD" ]; then
  if [ "${UM_SHA1:-0}" = 1 ]; then umsha1 < "$UM_DEST" | awk '{print "sha1=" $1}' & fi
  umhash < "$UM_DEST" | awk '{print "sha256=" $1}'
  wait
fi
echo @@end
