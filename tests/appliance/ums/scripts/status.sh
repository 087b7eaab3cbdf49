#!/bin/bash
# vCloud Usage Meter service status (simulated appliance).
# Prints one line per service, Running or Offline, and exits 0 only when every
# service is Running. The real script's line format and exit code are not
# published [guess]; the format is switchable (UMSIM_STATUS_FORMAT):
#   colon (default)  gw : Running
#   table            SERVICE  STATUS header, padded columns
#   ansi             colon format with ANSI colour escapes
# and the name spelling (UMSIM_STATUS_NAMES): lower (default, "gw") or doc ("GW").
. /usr/local/lib/umsim/common.sh 2>/dev/null
fmt=${UMSIM_STATUS_FORMAT:-colon}
rc=0
[ "$fmt" = table ] && printf '%-12s %s\n' SERVICE STATUS && printf '%-12s %s\n' ------- ------
while read -r s; do
  st=Offline
  if [ -e "/run/ums/up/$s" ] && ! umsim_service_offline "$s" && ! umsim_service_crashloop "$s"; then st=Running; fi
  [ "$st" = Running ] || rc=${UMSIM_STATUS_FAIL_RC:-1}
  n=$s; [ "${UMSIM_STATUS_NAMES:-lower}" = lower ] && n=${s,,}
  case $fmt in
    table) printf '%-12s %s\n' "$n" "$st" ;;
    ansi)
      if [ "$st" = Running ]; then c='\033[0;32m'; else c='\033[0;31m'; fi
      printf "\033[1m%s\033[0m : ${c}%s\033[0m\n" "$n" "$st" ;;
    *) printf '%s : %s\n' "$n" "$st" ;;
  esac
done < <(umsim_services)
exit "$rc"
