#!/bin/sh
# vcloud.usage_meter.shar_copy: after a verified copy (or a dest found identical),
# check the sha1 of UM_DEST when UM_SHA1 (40 hex digits) is set, then, when
# UM_RECORD is set, write the staging record there: UM_BODY (the record's JSON
# up to its last fields), UM_SHA1PART (its sha1 field, or empty), then
# "staged_at" (UTC, now) and "}". A record that already says the same keeps its
# time and is not written again. UM_WRITE=0 (check mode) writes nothing.
# The record's directory is 0700 and the record 0600: root's only.
# Prints (usage_meter::reply) sha1bad=<sha1 found> and stops when it differs,
# else record=same|written|would|failed with staged_at=<the record's time>,
# then @@end. (after sum.sh: umsha1)
if [ -n "${UM_SHA1:-}" ]; then
  s1=$(umsha1 < "$UM_DEST" | awk '{print $1}')
  if [ "$s1" != "$UM_SHA1" ]; then printf 'sha1bad=%s\n@@end\n' "$s1"; exit 0; fi
fi
if [ -z "${UM_RECORD:-}" ]; then echo @@end; exit 0; fi
old=$(cat "$UM_RECORD" 2> /dev/null)
at=$(printf '%s' "$old" | sed -n 's/.*"staged_at":"\([^"]*\)".*/\1/p')
case $old in
  "$UM_BODY$UM_SHA1PART"*) printf 'record=same\nstaged_at=%s\n@@end\n' "$at"; exit 0 ;;
esac
if [ "${UM_WRITE:-0}" != 1 ]; then printf 'record=would\nstaged_at=%s\n@@end\n' "$at"; exit 0; fi
umask 077
t=$(date -u +%Y-%m-%dT%H:%M:%SZ)
d=$(dirname "$UM_RECORD")
if mkdir -p "$d" && chmod 0700 "$d" \
  && printf '%s%s,"staged_at":"%s"}\n' "$UM_BODY" "$UM_SHA1PART" "$t" > "$UM_RECORD.tmp" \
  && mv -f "$UM_RECORD.tmp" "$UM_RECORD"; then
  printf 'record=written\nstaged_at=%s\n' "$t"
else
  rm -f "$UM_RECORD.tmp"; echo record=failed
fi
echo @@end
