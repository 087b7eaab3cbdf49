#!/bin/sh
# vcloud.usage_meter.reboot: remove the outcome files UM_BASE.rc and UM_BASE.log.
rm -f "$UM_BASE.rc" "$UM_BASE.log"
