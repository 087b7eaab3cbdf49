#!/usr/bin/env bash
# Build the vCenter simulator (tests/vcsim/main.go) offline into .work/vcsim/umvcsim,
# from Debian's golang-go and golang-github-vmware-govmomi-dev (tests/vcsim/apt-packages.txt;
# tools/bootstrap.sh installs them), in GOPATH mode: no module proxy, no network.
# Cached: rebuilt only when main.go, the Go version or the govmomi package changes.
# Prints the binary's path on stdout.
set -euo pipefail
cd "$(dirname "$0")/../.."
REPO=$PWD
OUT=${UM_WORK:-$REPO/.work}/vcsim
BIN=$OUT/umvcsim
GOVMOMI=/usr/share/gocode/src/github.com/vmware/govmomi

if ! command -v go >/dev/null || ! command -v patch >/dev/null || [ ! -d "$GOVMOMI/simulator" ]; then
  echo "vcsim: needs the apt packages in tests/vcsim/apt-packages.txt (run tools/bootstrap.sh)" >&2
  exit 2
fi
key=$( { sha256sum tests/vcsim/main.go tests/vcsim/govmomi-0.24-simulator.patch; go version; dpkg-query -W -f='${Version}' golang-github-vmware-govmomi-dev; } | sha256sum | cut -d' ' -f1)
if [ -x "$BIN" ] && [ "$(cat "$OUT/stamp" 2>/dev/null)" = "$key" ]; then
  echo "$BIN"
  exit 0
fi
rm -rf "$OUT/gopath"
mkdir -p "$OUT/gopath/src/umvcsim" "$OUT/gopath/src/github.com/vmware/govmomi" "$OUT/cache"
cp tests/vcsim/main.go "$OUT/gopath/src/umvcsim/main.go"
# An overlay of Debian's govmomi with a patched copy of its simulator package:
# everything else is a symlink to Debian's files.
# The patch fixes two simulator bugs pyvmomi (community.vmware) runs into:
#   - reading an unset property (VirtualMachine.snapshot before the first
#     snapshot) panicked and dropped the connection; it now returns nil;
#   - snapshot revert/remove tasks named the snapshot as the task's entity
#     (not a ManagedEntity: pyvmomi refuses it); they now name the VM, as vCenter does.
for f in "$GOVMOMI"/*; do
  [ "$(basename "$f")" = simulator ] || ln -s "$f" "$OUT/gopath/src/github.com/vmware/govmomi/"
done
cp -r "$GOVMOMI/simulator" "$OUT/gopath/src/github.com/vmware/govmomi/simulator"
find "$OUT/gopath/src/github.com/vmware/govmomi/simulator" -name '*_test.go' -delete
patch -s -p1 -d "$OUT/gopath/src/github.com/vmware/govmomi" < tests/vcsim/govmomi-0.24-simulator.patch
start=$(date +%s)
(cd "$OUT/gopath/src/umvcsim" &&
  GO111MODULE=off GOFLAGS='' GOPATH="$OUT/gopath:/usr/share/gocode" GOCACHE="$OUT/cache" \
    go build -o "$BIN.tmp" umvcsim)
mv "$BIN.tmp" "$BIN"
echo "$key" > "$OUT/stamp"
echo "vcsim: built $BIN in $(( $(date +%s) - start )) s" >&2
echo "$BIN"
