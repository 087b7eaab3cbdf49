#!/usr/bin/env bash
# The README's main command (`make demo`): upgrade three simulated vCloud Usage
# Meter appliances end to end with the collection's own playbook, in one play:
# a 4.1 and a 4.2 to 4.3 (the shar), and a 4.2 the whole way to 9.0 (the shar
# to 4.3, then the 4.8 and 9.0 ISOs, the last with an access token); print the
# summary with every hop.
#
#   demo/run.sh [--dev] [--keep]
#
#   --dev    use this checkout as the collection, with a debug binary
#            (tools/dev-build.sh), instead of building and installing the
#            release tarball (tools/build-collection.sh)
#   --keep   leave the appliances running afterwards (stop them with
#            python3 tests/appliance/umsim.py --root .work/demo/appliances stop --all)
#   UM_COLLECTIONS_PATH=DIR  use the collection already installed there (as
#            `make test` does), building nothing
#
# Steps: bootstrap (.venv with ansible-core) when missing -> build the collection
# and install it into .work/demo/collections -> start three appliances as shipped
# (sshd stopped and disabled) -> write an inventory whose passwords are
# vault-encrypted (ansible-vault encrypt_string, throwaway vault password file)
# -> ansible-playbook vcloud.usage_meter.upgrade -> summary -> stop the
# appliances (also on failure or Ctrl-C).
#
# The appliances are isolated in their own network, mount and PID namespaces
# (tests/appliance/README.md): nothing here touches this machine's sshd or /opt,
# or reboots it. Needs root (namespaces) on Debian 12. All files stay in .work/demo.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD

dev=0; keep=0
for a in "$@"; do
  case "$a" in
    --dev) dev=1 ;;
    --keep) keep=1 ;;
    -h|--help) sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "demo: unknown argument: $a (see --help)" >&2; exit 2 ;;
  esac
done

demo_py() { python3 "$REPO/demo/demo.py" "$@"; }   # the demo's Python steps, in a linted file
say() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
die() { printf 'demo: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root: the simulated appliances need network/PID/mount namespaces"

DEMO=$REPO/.work/demo
APPS=$DEMO/appliances
UMSIM=(python3 "$REPO/tests/appliance/umsim.py" --root "$APPS")
NAMES=(demo-um41 demo-um42 demo-um42to9)
VERSIONS=(4.1.0 4.2.0 4.2.0)
EXPECT=(4.3.0 4.3.0 9.0.0)      # where each must end, checked on its console at the end
mkdir -p "$DEMO"

started=()
# shellcheck disable=SC2317  # run by the trap below
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [ ${#started[@]} -gt 0 ]; then
    if [ "$keep" = 1 ] && [ "$rc" = 0 ]; then
      say "Leaving ${started[*]} running (--keep)"
    else
      say "Stopping the simulated appliances"
      for n in "${started[@]}"; do
        "${UMSIM[@]}" stop --name "$n" >/dev/null 2>&1 || echo "demo: could not stop $n" >&2
      done
    fi
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ------------------------------------------------------------------ tools
need_bootstrap=0
[ -x .venv/bin/ansible-playbook ] || need_bootstrap=1
[ -x /usr/sbin/sshd ] || need_bootstrap=1
if [ $dev = 0 ] && [ -z "${UM_COLLECTIONS_PATH:-}" ] && [ ! -x .work/buildtools-venv/bin/cargo-zigbuild ]; then
  need_bootstrap=1     # the release build needs cargo-zigbuild (tools/install-build-deps.sh)
fi
if [ $need_bootstrap = 1 ]; then
  say "Bootstrapping (apt packages, .venv with ansible-core, Rust and build tools): tools/bootstrap.sh"
  tools/bootstrap.sh
fi
export PATH="$REPO/.venv/bin:$HOME/.cargo/bin:$PATH"
for t in ip unshare nsenter ssh-keygen openssl; do
  command -v "$t" >/dev/null || die "$t is missing: run tools/bootstrap.sh"
done
[ -x /usr/sbin/sshd ] || die "openssh-server is missing: run tools/bootstrap.sh"

# Ansible's environment, built as for the tests (tests/lib/playbook.py): its files
# in .work/demo/ansible-home, not ~/.ansible; no developer ansible.cfg, ANSIBLE_*
# variable or ssh-agent; the um_results callback, whose JSON gives the summary
# below. The collection: $UM_COLLECTIONS_PATH, with --dev this checkout (through
# a symlink in .work/dev-collections), else the tarball installed below.
coll_args=()
if [ -z "${UM_COLLECTIONS_PATH:-}" ] && [ $dev = 0 ]; then coll_args=(--collections "$DEMO/collections"); fi
eval "$(python3 tests/lib/playbook.py --home "$DEMO/ansible-home" "${coll_args[@]}")"
export ANSIBLE_DISPLAY_SKIPPED_HOSTS=False

# ------------------------------------------------------------------ collection
if [ -n "${UM_COLLECTIONS_PATH:-}" ]; then
  say "Using the collection under UM_COLLECTIONS_PATH=$UM_COLLECTIONS_PATH (no build)"
elif [ $dev = 1 ]; then
  say "Building the debug module binary into plugins/bin (tools/dev-build.sh)"
  tools/dev-build.sh >/dev/null
else
  # Only what the demo runs: this controller's binary, in a host-only tarball
  # (the release tarball, for every controller, is `make build collection`).
  say "Building this controller's module binary and a collection tarball (tools/build-collection.sh --arch host)"
  tools/build-collection.sh --arch host
  # shellcheck disable=SC2012  # the newest by mtime; the names are ours, no odd characters
  tarball=$(ls -t .work/dist-host/vcloud-usage_meter-*-host-only.tar.gz | head -1)
  rm -rf "$DEMO/collections"
  ansible-galaxy collection install --force -p "$DEMO/collections" "$tarball" >/dev/null
fi
ansible-doc vcloud.usage_meter.upgrade >/dev/null 2>&1 || die "the collection is not usable from $ANSIBLE_COLLECTIONS_PATH"

# ------------------------------------------------------------------ appliances
say "Building a small upgrade bundle (a real self-extracting shell archive)"
bundle_json=$("${UMSIM[@]}" mkshar --size 32M --seconds 3)
bundle=$(printf '%s' "$bundle_json" | demo_py field path)
bundle_sha=$(sha256sum "$bundle" | cut -d' ' -f1)
echo "bundle: $bundle (sha256:$bundle_sha)"

say "Building the 4.8 and 9.0 upgrade ISOs (real ISO 9660 images with .mf, .crt and .sign from a test CA)"
iso48_json=$("${UMSIM[@]}" make-iso --version 4.8.0 --seconds 3)
iso90_json=$("${UMSIM[@]}" make-iso --version 9.0.0 --seconds 3)
iso48=$(printf '%s' "$iso48_json" | demo_py field iso)
iso90=$(printf '%s' "$iso90_json" | demo_py field iso)
iso_ca=$(printf '%s' "$iso90_json" | demo_py field ca)
echo "ISOs: $iso48 $iso90 (signed by the test CA $iso_ca)"

# Throwaway secrets for this run, vault-encrypted into the inventory below.
rand() { demo_py token; }
vault_pass=$DEMO/vault-password
rand > "$vault_pass"; chmod 600 "$vault_pass"

declare -A root_pw api_pw info
# The access token the 9.0 upgrade asks for (the vendor's start with UMA:); the
# simulated appliance accepts only this one.
access_token="UMA:$(rand)"
for i in "${!NAMES[@]}"; do
  n=${NAMES[$i]}
  root_pw[$n]="R-$(rand)"; api_pw[$n]="A-$(rand)"
  say "Starting appliance $n (Usage Meter ${VERSIONS[$i]}, sshd stopped and disabled, as shipped)"
  started+=("$n")
  info[$n]=$("${UMSIM[@]}" start --name "$n" --version "${VERSIONS[$i]}" --sshd off --fresh \
             --root-password "${root_pw[$n]}" --api-password "${api_pw[$n]}" --access-token "$access_token")
  printf '%s' "${info[$n]}" | demo_py appliance
done

# ------------------------------------------------------------------ inventory
say "Writing the inventory (secrets encrypted with ansible-vault encrypt_string)"
enc() { printf '%s' "$2" | ansible-vault encrypt_string --vault-password-file "$vault_pass" --stdin-name "$1" 2>/dev/null \
        | sed -e "s/^$1: /    $1: /"; }
inv=$DEMO/inventory.yml
{
  echo "# Written by demo/run.sh: three simulated appliances, secrets vault-encrypted."
  echo "usage_meter:"
  echo "  hosts:"
  for n in "${NAMES[@]}"; do
    field() { printf '%s' "${info[$n]}" | demo_py field "$1"; }
    echo "    $n:"
    echo "      ansible_host: $(field address)"
    echo "      ansible_user: root"
    enc ansible_password "${root_pw[$n]}" | sed 's/^/  /'
    enc usage_meter_api_password "${api_pw[$n]}" | sed 's/^/  /'
    echo "      usage_meter_api_ca_path: $(field api_ca)"
    echo "      usage_meter_known_hosts: $(field known_hosts)"
    echo "      umsim_name: $n"
    if [ "$n" = demo-um42 ]; then
      echo "      # this one also accepts the product servers' certificates through the API (issue 6);"
      echo "      # demo-um41 leaves that step to a person, and its summary says so"
      echo "      usage_meter_certificates: true"
    fi
    if [ "$n" = demo-um42to9 ]; then
      echo "      # the whole way: 4.2 -> 4.3 (the shar) -> 4.8 -> 9.0 (the ISOs; 9.0 asks for the token)"
      echo "      usage_meter_target_version: \"9.0\""
      echo "      usage_meter_isos:"
      echo "        - path: $iso48"
      echo "        - path: $iso90"
      echo "      usage_meter_iso_ca_path: $iso_ca"
      enc usage_meter_access_token "$access_token" | sed 's/^/  /'
      echo "      usage_meter_certificates: true"
    fi
  done
  cat <<EOF
  vars:
    usage_meter_bundle: $bundle
    usage_meter_bundle_checksum: "sha256:$bundle_sha"
    # SSH is closed on a stock appliance. In production the role opens it
    # through VMware Tools (usage_meter_vmware_tools_sshd + usage_meter_vcenter_*);
    # here the simulated appliance's console stands in for it.
    usage_meter_console_sshd_tasks: $REPO/demo/umsim_console_sshd.yml
    umsim_py: $REPO/tests/appliance/umsim.py
    umsim_python: $REPO/.venv/bin/python
    umsim_root: $APPS
    usage_meter_log_dir: $DEMO/logs
    # the demo's timings, from the one table of tests, bench and demo (tests/lib/timings.py)
EOF
  python3 tests/lib/timings.py demo | sed 's/^/    /'
} > "$inv"
demo_py check-inventory "$inv" "${#NAMES[@]}" || exit 1
sed -n '1,12p' "$inv"; echo "    ..."

# ------------------------------------------------------------------ the play
say "ansible-playbook -i $inv vcloud.usage_meter.upgrade --vault-password-file ..."
log=$DEMO/ansible.log
export UM_RESULTS_FILE=$DEMO/results.json UM_RECAP_FILE=$DEMO/recap.json   # the um_results callback writes them
rm -f "$UM_RESULTS_FILE" "$UM_RECAP_FILE"
t0=$(date +%s)
set +e
ansible-playbook -i "$inv" vcloud.usage_meter.upgrade --vault-password-file "$vault_pass" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
set -e
t1=$(date +%s)

# ------------------------------------------------------------------ summary
# recap: the PLAY RECAP lines again, from the callback's $UM_RECAP_FILE
recap() { demo_py recap "$UM_RECAP_FILE" || true; }
say "Summary (each appliance's usage_meter_summary, from the play's JSON results), $((t1 - t0)) s"
# Read from what the role publishes (set_stats, the fact), not from a task's
# name or text: a summary missing for an appliance fails the demo, loudly.
summary_ok=1
demo_py summary "$UM_RESULTS_FILE" "${NAMES[@]}" || summary_ok=0
echo
recap

say "Checked independently, on each appliance's console (not through the collection)"
console_ok=1
for i in "${!NAMES[@]}"; do
  n=${NAMES[$i]}
  "${UMSIM[@]}" status --name "$n" | demo_py status --expect "${EXPECT[$i]}" || console_ok=0
  printf '    sshd at boot: %s\n' "$("${UMSIM[@]}" exec --name "$n" -- systemctl is-enabled sshd 2>/dev/null || true)"
done

if [ "$rc" = 0 ]; then
  say "Running the play again: an upgraded appliance is left alone (changed=0)"
  export UM_RESULTS_FILE=$DEMO/results-rerun.json UM_RECAP_FILE=$DEMO/recap-rerun.json
  rm -f "$UM_RESULTS_FILE" "$UM_RECAP_FILE"
  set +e
  ansible-playbook -i "$inv" vcloud.usage_meter.upgrade --vault-password-file "$vault_pass" > "$DEMO/ansible-rerun.log" 2>&1
  rc=$?
  set -e
  recap
  [ "$rc" = 0 ] || echo "demo: the second run failed (rc $rc): see $DEMO/ansible-rerun.log" >&2
fi
if [ "$console_ok" = 0 ]; then
  say "FAILED: an appliance's console shows another version than expected (see 'demo:' above)"
  exit 1
fi
if [ "$summary_ok" = 0 ]; then
  say "FAILED: the play (rc $rc) left no usage_meter_summary for every appliance (see 'demo:' above)"
  exit 1
fi
if [ "$rc" = 0 ]; then
  say "Done: two appliances upgraded to 4.3 and one to 9.0 in $((t1 - t0)) s; a second run changed nothing."
else
  say "The play failed (rc $rc): see the messages above and the logs in $DEMO/logs"
fi
exit "$rc"
