#!/bin/sh
# vcloud.usage_meter.verify: what the service manager says about the units given
# as positional words (usage_meter::reply): now=<CLOCK_MONOTONIC in µs> (from
# /proc/timer_list, root only; else now_uptime=<seconds of /proc/uptime>), then
# @@show with `systemctl show` of the units (Id, LoadState, ActiveState, NRestarts,
# ActiveEnterTimestampMonotonic), a blank line between units; no @@show when
# systemctl cannot show them. Then @@end.
ns=$(awk '/^now at/ {print $3; exit}' /proc/timer_list 2> /dev/null)
if [ -n "$ns" ]; then
  echo "now=$((ns / 1000))"
else
  echo "now_uptime=$(cut -d' ' -f1 /proc/uptime 2> /dev/null)"
fi
if out=$(systemctl show -p Id,LoadState,ActiveState,NRestarts,ActiveEnterTimestampMonotonic -- "$@" 2> /dev/null); then
  echo @@show
  printf '%s\n' "$out"
fi
echo @@end
