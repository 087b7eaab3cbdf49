#!/bin/sh
# vcloud.usage_meter.shar_copy: remove the partial file UM_PART and the upper
# half UM_PART.2 of a copy sent in two streams (after guard.sh).
rm -f "$UM_PART" "$UM_PART.2"
