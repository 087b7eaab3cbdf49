#!/bin/sh
# vcloud.usage_meter.upgrade_logs: list the files to fetch (after sum.sh).
# Arguments: the files (globs expanded by the login shell). Environment:
# UM_MAX_BYTES (0: whole files, else only the last that many bytes).
# Prints (usage_meter::reply) per readable regular file a section @@file with
# size=, offset= (> 0: only the tail from there is saved), sha256= and path=,
# then @@end.
M=$UM_MAX_BYTES
nl='
'
for f in "$@"; do
  if [ ! -f "$f" ] || [ ! -r "$f" ]; then continue; fi
  case "$f" in *"$nl"*) printf '@@skip\na file name with a line break\n'; continue;; esac
  s=$(stat -c %s "$f" 2> /dev/null) || continue
  if [ "$M" -gt 0 ] && [ "$s" -gt "$M" ]; then o=$((s - M)); n=$M; else o=0; n=$s; fi
  h=$(tail -c +$((o + 1)) "$f" 2> /dev/null | head -c "$n" | umhash | awk '{print $1}')
  printf '@@file\nsize=%s\noffset=%s\nsha256=%s\npath=%s\n' "$s" "$o" "$h" "$f"
done
echo @@end
