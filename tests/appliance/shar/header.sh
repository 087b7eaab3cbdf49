#!/bin/bash
# VMware vCloud Usage Meter - in-place system upgrade bundle (SIMULATED test fixture,
# built by tests/appliance/umsim.py mkshar). Target @VERSION@ build @BUILD@.
#   cd /opt/vmware/cloudusagemetering && bash ums-system-upgrade.shar
# Self-extracting: this bash header, then a gzip-compressed tar payload at byte
# offset UMS_PAYLOAD_OFFSET. Needs only bash, tail, tar, gzip, df, awk (no uudecode).
UMS_TARGET_VERSION=@VERSION@
UMS_TARGET_BUILD=@BUILD@
UMS_DEFAULT_SECONDS=@SECONDS@
UMS_PAYLOAD_BYTES=@PAYLOAD_BYTES@
UMS_PAYLOAD_BYTES=$(( 10#$UMS_PAYLOAD_BYTES ))   # zero-padded: not octal
UMS_PAYLOAD_OFFSET=@OFFSET@
UMS_HOME=/opt/vmware/cloudusagemetering
# @PAD@
self=$0
case $self in /*) ;; *) self=$PWD/$self ;; esac
if [ "$(id -u)" != 0 ]; then
  echo "ERROR: the Usage Meter upgrade must be run as root." >&2
  exit 1
fi
if [ ! "$PWD" -ef "$UMS_HOME" ]; then
  echo "ERROR: run the upgrade from $UMS_HOME:" >&2
  echo "       cd $UMS_HOME && bash $(basename "$0")" >&2
  exit 1
fi
mkdir -p "$UMS_HOME/var/logs"
UMS_LOG="$UMS_HOME/var/logs/inplaceupgradeum-$(date +%Y%d%m)-$UMS_TARGET_BUILD"
lg() { local l; l="$(date '+%F %T') $*"; echo "$l" >> "$UMS_LOG"; echo "$l"; }
lg "INFO  vCloud Usage Meter in-place upgrade to $UMS_TARGET_VERSION (build $UMS_TARGET_BUILD)"
STAGING=/opt/vmware/.ums-upgrade-staging
rm -rf "$STAGING"
avail=$(df -Pk /opt/vmware | awk 'NR == 2 { print $4 }')
need=$(( UMS_PAYLOAD_BYTES / 1024 + 1024 ))
if [ "${avail:-0}" -lt "$need" ]; then
  lg "ERROR not enough free space in /opt/vmware: $need KiB needed, ${avail:-0} KiB available"
  lg "ERROR upgrade FAILED"
  exit 4
fi
mkdir -p "$STAGING"
lg "INFO  extracting the upgrade bundle"
if ! tail -c +$(( 10#$UMS_PAYLOAD_OFFSET + 1 )) "$self" | tar -xzf - -C "$STAGING"; then
  lg "ERROR bundle extraction failed: the bundle is incomplete or corrupt, or the disk is full"
  lg "ERROR upgrade FAILED"
  rm -rf "$STAGING"
  exit 2
fi
UMS_LOG=$UMS_LOG UMS_STAGING=$STAGING UMS_TARGET_VERSION=$UMS_TARGET_VERSION \
  UMS_TARGET_BUILD=$UMS_TARGET_BUILD UMS_DEFAULT_SECONDS=$UMS_DEFAULT_SECONDS \
  bash "$STAGING/upgrade.sh" "$@"
exit $?
