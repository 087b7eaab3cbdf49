#!/bin/sh
# vcloud.usage_meter.sshd: the service's state, and the record of its original
# state. Environment: UM_SVC (service name), UM_RECORD (the record file; empty:
# none). Prints `mgr=systemctl|service active=<state> enabled=<state>`, then
# `rec=<the record, on one line>` when UM_RECORD holds one.
s=$UM_SVC
if command -v systemctl > /dev/null 2>&1; then
  a=$(systemctl is-active "$s" 2> /dev/null)
  e=$(systemctl is-enabled "$s" 2> /dev/null)
  echo "mgr=systemctl active=${a:-unknown} enabled=${e:-unknown}"
else
  if service "$s" status > /dev/null 2>&1; then a=active; else a=inactive; fi
  if ls /etc/rc*.d/S*"$s" > /dev/null 2>&1; then e=enabled; else e=disabled; fi
  echo "mgr=service active=$a enabled=$e"
fi
if [ -n "$UM_RECORD" ] && [ -f "$UM_RECORD" ]; then echo "rec=$(head -c 200 "$UM_RECORD" | tr '\n' ' ')"; fi
