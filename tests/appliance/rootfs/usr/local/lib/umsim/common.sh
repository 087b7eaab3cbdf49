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
# umsim_installed_version -> the installed Usage Meter version (simulator-internal file)
umsim_installed_version() {
  sed -n 's/.*"version": *"\([^"]*\)".*/\1/p' "$UMS_HOME/.umsim/version.json" 2>/dev/null
}
# umsim_version_num X.Y.Z -> one comparable integer (X*1000000 + Y*1000 + Z)
umsim_version_num() {
  local a b c
  IFS=. read -r a b c _ <<< "$1"
  echo $(( ${a:-0} * 1000000 + ${b:-0} * 1000 + ${c:-0} ))
}
# umsim_services -> the configured service names, one per line; from 4.6 on also
# UMSIM_SERVICES_4_6 (4.6 adds vmware-um-loginservice and vmware-um-journal [doc])
umsim_services() {
  local s=${UMSIM_SERVICES:-Nginx,GW,Core,DSS,gnatsd,VcCol,nsxvCol,nsxtCol,vropsCol,daasCol,vrniCol,vcavCol,vcdCol,vraCol}
  if [ "$(umsim_version_num "$(umsim_installed_version)")" -ge 4006000 ]; then
    s="$s,${UMSIM_SERVICES_4_6-vmware-um-loginservice,vmware-um-journal}"
  fi
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
# umsim_mono_us -> CLOCK_MONOTONIC in microseconds (/proc/timer_list "now at", else /proc/uptime)
umsim_mono_us() {
  local ns
  ns=$(awk '/^now at/ {print $3; exit}' /proc/timer_list 2>/dev/null)
  if [ -n "$ns" ]; then echo $(( ns / 1000 )); return; fi
  awk '{ printf "%d\n", $1 * 1000000 }' /proc/uptime
}
# umsim_unit_show NAME NOW_US -> the `systemctl show` properties of the service's
# unit: ActiveState, NRestarts, ActiveEnterTimestampMonotonic (µs). Started
# services are active since they came up (UMSIM_SERVICES_AGE_S earlier, for an
# appliance that has been up a while); service-offline: failed; service-crashloop:
# active UP s after each restart, activating (auto-restart) the rest of the period.
umsim_unit_show() {
  local name=$1 now=$2 up state=activating enter=0 restarts=0 svc period upfor phase
  up=$(cat "/run/ums/up/$name" 2>/dev/null)
  if [ -n "$up" ]; then
    enter=$(( up - ${UMSIM_SERVICES_AGE_S:-0} * 1000000 ))
    [ "$enter" -gt 0 ] || enter=1
    state=active
    if umsim_service_offline "$name"; then
      state=failed
    elif umsim_fault service-crashloop && IFS=: read -r svc period upfor <<< "$(umsim_fault_value service-crashloop vcdCol)" \
        && tr ',' '\n' <<< "$svc" | grep -qixF -- "$name"; then
      period=${period:-30}; upfor=${upfor:-2}
      phase=$(( $(date +%s) % period ))
      enter=$(( now - phase * 1000000 ))
      restarts=$(( (now - up) / (period * 1000000) + 1 ))
      [ "$phase" -lt "$upfor" ] || state=activating
    fi
  fi
  printf 'ActiveState=%s\nNRestarts=%s\nActiveEnterTimestampMonotonic=%s\n' "$state" "$restarts" "$enter"
}
