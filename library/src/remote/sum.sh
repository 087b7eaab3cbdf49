#!/bin/sh
# Shell functions for the remote checksum cache, put in front of the scripts
# that hash a file on the appliance (usage_meter::upgrade_state::SUM_SH).
# shellcheck disable=SC2317  # functions, called by the script that follows

# umhash: sha256 of stdin, printed as the first word; openssl (fast, SHA
# extensions) when present, else sha256sum.
umhash() { if command -v openssl > /dev/null 2>&1; then openssl dgst -sha256 -r; else sha256sum; fi; }

# umsha1: sha1 of stdin (an ISO's .mf sum), the same way.
umsha1() { if command -v openssl > /dev/null 2>&1; then openssl dgst -sha1 -r; else sha1sum; fi; }

# umstatkey FILE: an opaque identity of the file's version (device, inode,
# size, mtime, ctime).
umstatkey() { stat -c '%d:%i:%s:%y:%z' "$1"; }

# umrecord KEY FILE SHA256 CACHE: write the cache entry (stat key, path, sum).
umrecord() { mkdir -p "$(dirname "$4")" && printf '%s\n%s\n%s\n' "$1" "$2" "$3" > "$4.tmp" && mv -f "$4.tmp" "$4"; }

# umrecordsum FILE SHA256 CACHE: record SHA256 as the sum of FILE as it is now.
umrecordsum() { k=$(umstatkey "$1") && umrecord "$k" "$1" "$2" "$3"; }
