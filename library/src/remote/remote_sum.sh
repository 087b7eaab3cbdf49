#!/bin/sh
# sha256 of a remote file, from the cache when the file is unchanged since it
# was recorded (after sum.sh). Environment: UM_PATH, UM_CACHE, UM_WRITE (1:
# record a computed sum). Prints MISSING or `SUM <size> <sha256> cached|computed`.
P=$UM_PATH
C=$UM_CACHE
if [ ! -f "$P" ]; then echo MISSING; exit 0; fi
k=$(umstatkey "$P") || exit 3
sz=$(stat -c %s "$P")
if [ -r "$C" ]; then
  { read -r ck; read -r cp; read -r cs; } < "$C"
  if [ "$ck" = "$k" ] && [ "$cp" = "$P" ]; then echo "SUM $sz $cs cached"; exit 0; fi
fi
s=$(umhash < "$P" | awk '{print $1}')
[ ${#s} = 64 ] || { echo "hash failed" >&2; exit 4; }
if [ "$UM_WRITE" = 1 ]; then
  k2=$(umstatkey "$P")
  if [ "$k" = "$k2" ]; then umrecord "$k" "$P" "$s" "$C"; fi 2> /dev/null
fi
echo "SUM $sz $s computed"
