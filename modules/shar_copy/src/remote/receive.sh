#!/bin/sh
# vcloud.usage_meter.shar_copy: write stdin into the file UM_PART (the partial
# file, or UM_PART.2, the upper half of a copy sent in two streams).
# UM_OFFSET 0 starts a new file (a new inode: nothing a cut connection left
# running can still write into it) and removes UM_DROP when set (the upper half
# of an earlier copy, when this one is sent in one stream); else it appends.
# A failed write drains the rest of the stream, so the controller gets the
# result rather than a broken pipe. Prints size=<bytes of the file>.
umask 022
if [ "$UM_OFFSET" = 0 ]; then
  rm -f "$UM_PART"
  if [ -n "${UM_DROP:-}" ]; then rm -f "$UM_DROP"; fi
  cat > "$UM_PART"
else
  cat >> "$UM_PART"
fi || { echo UMWRITEFAIL >&2; cat > /dev/null; }
stat -c 'size=%s' "$UM_PART"
