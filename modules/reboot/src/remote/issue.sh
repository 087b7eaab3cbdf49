#!/bin/sh
# vcloud.usage_meter.reboot: start the reboot detached (after running.sh).
# Environment: UM_SD (state dir), UM_LOCK (the upgrade lock), UM_TOKEN (names
# the outcome files), UM_REBOOT (the reboot command, shell), UM_LATER (the text
# of later.sh). Prints sshd_enabled=<systemctl is-enabled>, then
# upgrade_running=1 (nothing started) or locked=1, dir=<where the outcome
# goes>, issued=1.
e=$(systemctl is-enabled sshd 2> /dev/null) || e=${e:-unknown}
echo "sshd_enabled=$e"
# The upgrade lock, held by the detached reboot (fd 9) until the appliance goes down.
if command -v flock > /dev/null 2>&1 && mkdir -p "$UM_SD" 2> /dev/null && exec 9>> "$UM_LOCK"; then
  flock -w 3 9 || { echo upgrade_running=1; exit 0; }
  echo locked=1
elif umrunning "$UM_LOCK"; then
  echo upgrade_running=1
  exit 0
fi
d=/run
{ [ -d /run ] && [ -w /run ]; } || d=/tmp
echo "dir=$d"
n=
command -v nohup > /dev/null 2>&1 && n='nohup'
UM_D=$d UM_T=$UM_TOKEN $n sh -c "$UM_LATER" > /dev/null 2>&1 < /dev/null &
echo issued=1
