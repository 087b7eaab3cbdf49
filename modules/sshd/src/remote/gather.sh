#!/bin/sh
# vcloud.usage_meter.sshd: the service's state, and the record of its original
# state. Environment: UM_SVC (service name), UM_RECORD (the record file; empty:
# none). Prints (usage_meter::reply) mgr=systemctl|service, active=<state>,
# enabled=<state>, then the record in a section @@record when UM_RECORD holds one,
# then @@end.
s=$UM_SVC
if command -v systemctl > /dev/null 2>&1; then
  a=$(systemctl is-active "$s" 2> /dev/null)
  e=$(systemctl is-enabled "$s" 2> /dev/null)
  printf 'mgr=systemctl\nactive=%s\nenabled=%s\n' "${a:-unknown}" "${e:-unknown}"
else
  if service "$s" status > /dev/null 2>&1; then a=active; else a=inactive; fi
  if ls /etc/rc*.d/S*"$s" > /dev/null 2>&1; then e=enabled; else e=disabled; fi
  printf 'mgr=service\nactive=%s\nenabled=%s\n' "$a" "$e"
fi
if [ -n "$UM_RECORD" ] && [ -f "$UM_RECORD" ]; then echo @@record; head -c 200 "$UM_RECORD" | tr '\n' ' '; echo; fi
echo @@end
