#!/bin/sh
# sha256 of a remote file, from the cache when the file is unchanged since it
# was recorded (after sum.sh). Environment: UM_PATH, UM_CACHE, UM_WRITE (1:
# record a computed sum). Prints (usage_meter::reply) missing=1, or size=<n>,
# sha256=<hex> and cached=1 (from the cache) or cached=0 (computed).
P=$UM_PATH
C=$UM_CACHE
if [ ! -f "$P" ]; then echo missing=1; exit 0; fi
k=$(umstatkey "$P") || exit 3
sz=$(stat -c %s "$P")
if [ -r "$C" ]; then
  { read -r ck; read -r cp; read -r cs; } < "$C"
  if [ "$ck" = "$k" ] && [ "$cp" = "$P" ]; then printf 'size=%s\nsha256=%s\ncached=1\n' "$sz" "$cs"; exit 0; fi
fi
s=$(umhash < "$P" | awk '{print $1}')
[ ${#s} = 64 ] || { echo "hash failed" >&2; exit 4; }
if [ "$UM_WRITE" = 1 ]; then
  k2=$(umstatkey "$P")
  if [ "$k" = "$k2" ]; then umrecord "$k" "$P" "$s" "$C"; fi 2> /dev/null
fi
printf 'size=%s\nsha256=%s\ncached=0\n' "$sz" "$s"
