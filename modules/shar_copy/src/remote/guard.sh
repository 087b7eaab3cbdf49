#!/bin/sh
# vcloud.usage_meter.shar_copy: go on only while this run holds the copy lock
# (the owner file UM_OWNER names its token UM_TOKEN); else print UMLOSTLOCK and
# stop. Put in front of every script that writes the partial file or renames it.
[ "$(sed -n 's/^token=//p' "$UM_OWNER" 2> /dev/null)" = "$UM_TOKEN" ] || { echo UMLOSTLOCK; exit 0; }
