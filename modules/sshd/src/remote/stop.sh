#!/bin/sh
# vcloud.usage_meter.sshd: stop the service UM_SVC one second later, detached,
# so that the stop completes although it ends the session that issued it.
# UM_SYSTEMCTL=1: with systemctl, else with service.
# shellcheck disable=SC2016  # expanded by the inner sh, from the environment
if [ "$UM_SYSTEMCTL" = 1 ]; then
  nohup sh -c 'sleep 1; systemctl stop "$UM_SVC"' > /dev/null 2>&1 < /dev/null &
else
  nohup sh -c 'sleep 1; service "$UM_SVC" stop' > /dev/null 2>&1 < /dev/null &
fi
