#!/bin/sh
# vcloud.usage_meter.shar_copy: write stdin into the partial file UM_PART.
# UM_OFFSET 0 starts a new file (a new inode: nothing a cut connection left
# running can still write into it); else it appends. A failed write drains the
# rest of the stream, so the controller gets the result rather than a broken
# pipe. Prints size=<bytes of the partial file>.
umask 022
if [ "$UM_OFFSET" = 0 ]; then
  rm -f "$UM_PART"
  cat > "$UM_PART"
else
  cat >> "$UM_PART"
fi || { echo UMWRITEFAIL >&2; cat > /dev/null; }
stat -c 'size=%s' "$UM_PART"
