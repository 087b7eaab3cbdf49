#!/bin/sh
# vcloud.usage_meter.reboot: run by issue.sh, detached: one second later, the
# reboot command UM_REBOOT, its exit code and output recorded in
# $UM_D/.um-reboot-$UM_T.{rc,log}. The upgrade lock (fd 9) stays open here
# until the appliance goes down; the reboot command does not get it.
sleep 1
( eval "$UM_REBOOT" ) > "$UM_D/.um-reboot-$UM_T.log" 2>&1 < /dev/null 9>&-
echo $? > "$UM_D/.um-reboot-$UM_T.rc"
