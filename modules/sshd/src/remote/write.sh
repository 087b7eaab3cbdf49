#!/bin/sh
# vcloud.usage_meter.sshd: write the record UM_RECORD (the line UM_LINE and the
# time) atomically, private, in a directory made if missing.
umask 077
mkdir -p "$(dirname "$UM_RECORD")" \
  && printf '%s recorded=%s\n' "$UM_LINE" "$(date +%s)" > "$UM_RECORD.tmp.$$" \
  && mv -f "$UM_RECORD.tmp.$$" "$UM_RECORD"
