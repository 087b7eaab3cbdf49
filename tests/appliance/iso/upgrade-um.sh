#!/bin/bash
# VMware Usage Meter in-place upgrade script (SIMULATED test fixture, on the ISO
# built by tests/appliance/umsim.py make-iso). Target @VERSION@ build @BUILD@.
#   mount -o loop,ro Usage_Meter_Agent-...-<build>_Upgrade.iso /root/upgrade
#   bash /root/upgrade/upgrade-um.sh
# Checks the source version against the published rules, asks for the access token
# when the target is 9.x and the source 4.x, verifies the repository on the ISO and
# stages the new version; the switch happens at the next boot (umsim-apply-upgrade),
# which this script starts itself when built with reboot_self.
# Simulator switches: UMSIM_ISO_SECONDS (run time), fault iso-fail[=PERCENT].
UMS_TARGET_VERSION=@VERSION@
UMS_TARGET_BUILD=@BUILD@
UMS_DEFAULT_SECONDS=@SECONDS@
TOKEN_INPUT=@TOKEN_INPUT@
REBOOT_SELF=@REBOOT_SELF@
TOKEN_PROMPT=@PROMPT@
EXTRA_PROMPT=@EXTRA_PROMPT@
UMS_HOME=/opt/vmware/cloudusagemetering
# the simulator's config (not exported): UMSIM_ACCESS_TOKEN, UMSIM_ISO_SECONDS
. /usr/local/lib/umsim/common.sh 2> /dev/null
ISO_ROOT=$(cd "$(dirname "$0")" && pwd)
STAGING=/opt/vmware/.ums-upgrade-staging
STAGED=/opt/vmware/.ums-upgrade-staged
if [ "$(id -u)" != 0 ]; then
  echo "ERROR: the Usage Meter upgrade must be run as root." >&2
  exit 1
fi
mkdir -p "$UMS_HOME/var/logs"
LOG="$UMS_HOME/var/logs/inplaceupgradeum-$(date +%Y%d%m)-$UMS_TARGET_BUILD"
lg() { local l; l="$(date '+%F %T') $*"; echo "$l" >> "$LOG"; echo "$l"; }
fail() { lg "ERROR $*"; lg "ERROR upgrade FAILED"; rm -rf "$STAGING"; rm -f /run/ums-upgrade.pid; exit "${rc:-1}"; }
lg "INFO  VMware Usage Meter in-place upgrade to $UMS_TARGET_VERSION (build $UMS_TARGET_BUILD)"
cur=$(umsim_installed_version)
lg "INFO  installed version: ${cur:-unknown}"
c=$(umsim_version_num "$cur") t=$(umsim_version_num "$UMS_TARGET_VERSION")
needs_token=0
# the published source rules (4.8's and 9.x's beyond 4.8 -> 9 are a guess: 4.3 and 4.8)
if [ "$c" -ge "$t" ]; then
  why="$UMS_TARGET_VERSION is not newer than the installed ${cur:-unknown}"
elif [ "$t" -ge 9000000 ] && [ "$c" -ge 9000000 ]; then why=""
elif [ "$t" -ge 9000000 ] && [ "$c" -ge 4008000 ] && [ "$c" -lt 5000000 ]; then why=""; needs_token=1
elif [ "$t" -ge 9000000 ]; then why="$UMS_TARGET_VERSION installs on top of 4.8 (with an access token) or 9.x"
elif [ "$t" -ge 4006000 ] && [ "$c" -lt 4003000 ]; then why="$UMS_TARGET_VERSION installs on top of 4.3 and later"
elif [ "$t" -ge 4004000 ] && [ "$c" -ge 4000000 ]; then why=""
else why="$UMS_TARGET_VERSION does not install on top of ${cur:-unknown}"
fi
[ -z "$why" ] || rc=3 fail "an in-place upgrade from ${cur:-unknown} to $UMS_TARGET_VERSION is not supported: $why"

# ask: on stdin, or (TOKEN_INPUT=tty) on the terminal only, as a password prompt does
ask() {   # ask PROMPT -> the answer in REPLY; no echo on a terminal; rc 1 when nothing can be read
  if [ "$TOKEN_INPUT" = tty ]; then
    { exec 3<> /dev/tty; } 2> /dev/null || { echo; return 1; }
    printf '%s' "$1" >&3
    IFS= read -rs -u 3 REPLY || { exec 3>&-; return 1; }
    echo >&3; exec 3>&-
  else
    printf '%s' "$1"
    IFS= read -rs REPLY || { echo; return 1; }
    echo
  fi
}
if [ -n "$EXTRA_PROMPT" ]; then
  ask "$EXTRA_PROMPT" || rc=5 fail "no answer to: $EXTRA_PROMPT"
  case $REPLY in y|Y|yes|YES) ;; *) rc=5 fail "upgrade cancelled" ;; esac
fi
if [ "$needs_token" = 1 ]; then
  lg "INFO  the upgrade to $UMS_TARGET_VERSION needs the access token"
  if ! ask "$TOKEN_PROMPT"; then
    [ "$TOKEN_INPUT" = tty ] && rc=6 fail "cannot read the access token: no terminal (run the script from a console or an SSH session with a terminal)"
    rc=6 fail "no access token given"
  fi
  # builtins only: the token is never an argument, an exported variable or a log line
  if [ -z "$REPLY" ]; then REPLY=""; rc=6 fail "no access token given"
  elif [ "${REPLY#UMA:}" = "$REPLY" ]; then REPLY=""; rc=6 fail "the access token is not valid: it starts with UMA:"
  elif [ "$REPLY" != "${UMSIM_ACCESS_TOKEN:-}" ]; then REPLY=""; rc=6 fail "the access token was refused"
  fi
  REPLY=""
  lg "INFO  access token accepted"
fi
unset UMSIM_ACCESS_TOKEN

echo $$ > /run/ums-upgrade.pid
secs=${UMSIM_ISO_SECONDS:-}
[ -n "$secs" ] || secs=$UMS_DEFAULT_SECONDS
tick=$(awk -v s="$secs" 'BEGIN { printf "%.3f", s / 10 }')
fail_at=101
umsim_fault iso-fail && fail_at=$(umsim_fault_value iso-fail 50)
steps=("Checking prerequisites" "Verifying the repository" "Backing up the configuration"
       "Preparing packages" "Updating platform packages" "Updating Usage Meter components"
       "Migrating the configuration" "Migrating the database schema" "Staging version $UMS_TARGET_VERSION"
       "Finalizing")
rm -rf "$STAGING"
mkdir -p "$STAGING"
pkg=$(sed -n 's/.*<location href="\([^"]*\)".*/\1/p' "$ISO_ROOT/repo/repodata/repomd.xml" | head -n1)
want=$(sed -n 's/.*<checksum type="sha256">\([0-9a-f]*\)<.*/\1/p' "$ISO_ROOT/repo/repodata/repomd.xml" | head -n1)
for i in $(seq 1 10); do
  sleep "$tick"
  pct=$(( i * 10 ))
  [ "$pct" -lt "$fail_at" ] || fail "[${pct}%] ${steps[$((i - 1))]}: package transaction failed (simulated fault iso-fail)"
  if [ "$i" = 2 ]; then
    have=$(sha256sum "$ISO_ROOT/repo/$pkg" 2> /dev/null | cut -d' ' -f1)
    if [ -z "$want" ] || [ "$have" != "$want" ]; then fail "repository verification failed: $pkg is damaged or missing"; fi
    tar -xf "$ISO_ROOT/repo/$pkg" -C "$STAGING" ums || fail "cannot unpack $pkg"
  fi
  lg "INFO  [${pct}%] ${steps[$((i - 1))]}"
done
rm -rf "$STAGED"
mkdir -p "$STAGED"
mv "$STAGING/ums" "$STAGED/ums"
printf 'TARGET_VERSION=%s\nTARGET_BUILD=%s\nLOG_NAME=%s\nKIND=iso\n' "$UMS_TARGET_VERSION" "$UMS_TARGET_BUILD" "$(basename "$LOG")" > "$STAGED/meta"
touch "$STAGED/READY"
rm -rf "$STAGING"
sync
rm -f /run/ums-upgrade.pid
if [ "$REBOOT_SELF" = 1 ]; then
  lg "INFO  upgrade to $UMS_TARGET_VERSION staged; rebooting the appliance to complete the upgrade"
  reboot
  exit 0
fi
lg "INFO  upgrade to $UMS_TARGET_VERSION staged; reboot the appliance to complete the upgrade"
exit 0
