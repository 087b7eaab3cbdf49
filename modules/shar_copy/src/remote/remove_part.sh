#!/bin/sh
# vcloud.usage_meter.shar_copy: remove the partial file UM_PART (after guard.sh).
rm -f "$UM_PART"
