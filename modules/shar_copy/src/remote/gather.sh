#!/bin/sh
# vcloud.usage_meter.shar_copy: what the appliance has before the copy.
# Environment: UM_DIR, UM_DEST, UM_PART. Prints dir=0|1, dest=<size>, part=<size>,
# part2=<size of UM_PART.2, the upper half of a copy sent in two streams>
# (an empty size: no such file), record=<the staging record UM_RECORD on one
# line> when UM_RECORD is set and there, then @@end (usage_meter::reply).
if [ -d "$UM_DIR" ]; then echo dir=1; else echo dir=0; fi
if [ -f "$UM_DEST" ]; then echo "dest=$(stat -c %s "$UM_DEST")"; else echo dest=; fi
if [ -f "$UM_PART" ]; then echo "part=$(stat -c %s "$UM_PART")"; else echo part=; fi
if [ -f "$UM_PART.2" ]; then echo "part2=$(stat -c %s "$UM_PART.2")"; else echo part2=; fi
if [ -n "${UM_RECORD:-}" ] && [ -f "$UM_RECORD" ]; then printf 'record=%s\n' "$(tr -d '\n\r' < "$UM_RECORD")"; fi
echo @@end
