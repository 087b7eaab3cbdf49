# shellcheck shell=bash
# Sourced by the simulated appliance's scripts (bash). Not part of a real appliance.
#   /run/umsim          the harness control dir (<state>/ctl on the host, bind-mounted):
#                       config (shell KEY=VALUE), faults/<name> (value), boot_id
#   /run/umsim-log      the host's <state>/supervisor.log (bind-mounted), event timeline
UMSIM_CTL=/run/umsim
UMSIM_EVENTS=/run/umsim-log
# shellcheck disable=SC2034  # read by the scripts that source this file
UMS_HOME=/opt/vmware/cloudusagemetering
if [ -r "$UMSIM_CTL/config" ]; then . "$UMSIM_CTL/config"; fi

# umsim_fault NAME -> true when the fault switch is on
umsim_fault() { [ -e "$UMSIM_CTL/faults/$1" ]; }
# umsim_fault_value NAME DEFAULT -> the switch's value (or DEFAULT when empty)
umsim_fault_value() {
  local v=""
  [ -r "$UMSIM_CTL/faults/$1" ] && v=$(head -c 4096 "$UMSIM_CTL/faults/$1" | head -n1)
  [ -n "$v" ] && printf '%s\n' "$v" || printf '%s\n' "${2:-}"
}
# umsim_fault_consume NAME -> one-shot switches turn themselves off once fired
umsim_fault_consume() { rm -f "$UMSIM_CTL/faults/$1"; }
# umsim_event EVENT [key=value...] -> "EVENT <epoch.ns> key=value..." in the timeline
umsim_event() {
  local ev=$1; shift
  printf '%s %s boot_id=%s %s\n' "$ev" "$(date +%s.%N)" "$(cat /proc/sys/kernel/random/boot_id 2>/dev/null)" "$*" \
    >> "$UMSIM_EVENTS" 2>/dev/null || true
}
# umsim_services -> the configured service names, one per line
umsim_services() {
  local s=${UMSIM_SERVICES:-Nginx,GW,Core,DSS,gnatsd,VcCol,nsxvCol,nsxtCol,vropsCol,daasCol,vrniCol,vcavCol,vcdCol,vraCol}
  tr ',' '\n' <<< "$s" | sed '/^$/d'
}
# umsim_service_offline NAME -> true when the service-offline fault names this service
umsim_service_offline() {
  umsim_fault service-offline || return 1
  local v; v=$(umsim_fault_value service-offline vcdCol)
  tr ',' '\n' <<< "$v" | grep -qixF -- "$1"
}
# umsim_service_crashloop NAME -> true while the service-crashloop fault keeps NAME
# down. Value SERVICES[:PERIOD[:UP]] (default vcdCol:30:2): a unit that fails at
# start and is restarted every PERIOD s (Restart=on-failure) shows Running for
# UP s after each restart and Offline the rest of the time.
umsim_service_crashloop() {
  umsim_fault service-crashloop || return 1
  local svc period up
  IFS=: read -r svc period up <<< "$(umsim_fault_value service-crashloop vcdCol)"
  tr ',' '\n' <<< "$svc" | grep -qixF -- "$1" || return 1
  [ $(( $(date +%s) % ${period:-30} )) -ge "${up:-2}" ]
}
# umsim_sleep SECONDS -> sleep that lets bash traps run (used by PID 1)
umsim_sleep() { sleep "$1" & wait $! 2>/dev/null; }
