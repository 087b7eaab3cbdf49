#!/bin/bash
# Runs from the extracted bundle (simulated Usage Meter 4.3 upgrade). Stages the new
# version; the switch to cloudusagemetering-old + new cloudusagemetering happens at
# the next boot (umsim-apply-upgrade). Simulator switches: UMSIM_SHAR_SECONDS (run
# time), fault shar-fail[=PERCENT] (fail at that progress, rc 1).
. /usr/local/lib/umsim/common.sh 2> /dev/null
LOG=$UMS_LOG
STAGING=$UMS_STAGING
STAGED=/opt/vmware/.ums-upgrade-staged
lg() { local l; l="$(date '+%F %T') $*"; echo "$l" >> "$LOG"; echo "$l"; }
fail() { lg "ERROR $*"; lg "ERROR upgrade FAILED"; rm -f /run/ums-upgrade.pid; exit "${rc:-1}"; }
cur=$(sed -n 's/.*"version": *"\([^"]*\)".*/\1/p' /opt/vmware/cloudusagemetering/.umsim/version.json 2> /dev/null)
lg "INFO  installed version: ${cur:-unknown}"
case $cur in
  4.1.*|4.2.*) ;;
  *) rm -rf "$STAGING"; rc=3 fail "an in-place upgrade from version '${cur:-unknown}' to $UMS_TARGET_VERSION is not supported" ;;
esac
echo $$ > /run/ums-upgrade.pid
secs=${UMSIM_SHAR_SECONDS:-}
[ -n "$secs" ] || secs=$UMS_DEFAULT_SECONDS
tick=$(awk -v s="$secs" 'BEGIN { printf "%.3f", s / 10 }')
fail_at=101
umsim_fault shar-fail && fail_at=$(umsim_fault_value shar-fail 50)
steps=("Checking prerequisites" "Verifying the bundle" "Backing up the configuration"
       "Preparing packages" "Updating platform packages" "Updating Usage Meter components"
       "Migrating the configuration" "Migrating the database schema" "Staging version $UMS_TARGET_VERSION"
       "Finalizing")
want=$(sed -n 's/^filler_bytes=//p' "$STAGING/MANIFEST")
for i in $(seq 1 10); do
  sleep "$tick"
  pct=$(( i * 10 ))
  if [ "$pct" -ge "$fail_at" ]; then
    rm -rf "$STAGING/filler"
    fail "[${pct}%] ${steps[$((i - 1))]}: package transaction failed (simulated fault shar-fail)"
  fi
  if [ "$i" = 2 ]; then
    have=$(stat -c %s "$STAGING/filler/ums-packages.bin" 2> /dev/null || echo 0)
    [ "$have" = "$want" ] || fail "bundle verification failed: packages $have bytes, expected $want"
  fi
  lg "INFO  [${pct}%] ${steps[$((i - 1))]}"
done
rm -rf "$STAGED"
mkdir -p "$STAGED"
mv "$STAGING/ums" "$STAGED/ums"
printf 'TARGET_VERSION=%s\nTARGET_BUILD=%s\nLOG_NAME=%s\n' "$UMS_TARGET_VERSION" "$UMS_TARGET_BUILD" "$(basename "$LOG")" > "$STAGED/meta"
touch "$STAGED/READY"
rm -rf "$STAGING"
sync
lg "INFO  upgrade to $UMS_TARGET_VERSION staged; reboot the appliance to complete the upgrade"
rm -f /run/ums-upgrade.pid
exit 0
