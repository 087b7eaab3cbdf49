#!/usr/bin/env bash
# Build the collection tarball: one file for every supported controller, with
# the static multicall binary for x86_64 and for aarch64 (the action plugins
# pick the controller's at run time).
#
#   tools/build-collection.sh [--arch all|host] [--no-build]
#
#   dist/<namespace>-<name>-<version>.tar.gz     (ansible-galaxy's own name)
#
# Runs tools/build-binaries.sh first (seconds when up to date) unless --no-build.
# --arch host packs this machine's binary only (the demo's quick build); such a
# tarball is named ...-<version>-host-only.tar.gz and is never a release.
# The tarball is built by `ansible-galaxy collection build` from a staging copy
# of the repo (.work/collection-stage) whose plugins/bin holds exactly the
# binaries from build/<arch>/; galaxy.yml's build_ignore keeps sources and
# tooling out, and the result is checked: no forbidden path, both binaries
# present, static, of the right machine, 0755, and the whole file under
# Galaxy's upload limit of 20 MB.
# ansible-galaxy: $ANSIBLE_GALAXY, else .venv/bin/ansible-galaxy, else PATH.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD

arch=all
build=1
while [ $# -gt 0 ]; do
  case "$1" in
    --arch) arch=${2:?--arch needs a value}; shift 2 ;;
    --arch=*) arch=${1#*=}; shift ;;
    --no-build) build=0; shift ;;
    -h|--help) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "build-collection: unknown argument: $1" >&2; exit 2 ;;
  esac
done
case "$arch" in
  all) arches=(x86_64 aarch64) ;;
  host) arches=("$(uname -m)") ;;
  *) echo "build-collection: --arch must be all or host (got '$arch')" >&2; exit 2 ;;
esac

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

if [ -n "${ANSIBLE_GALAXY:-}" ]; then galaxy=$ANSIBLE_GALAXY
elif [ -x .venv/bin/ansible-galaxy ]; then galaxy=$REPO/.venv/bin/ansible-galaxy
else galaxy=$(command -v ansible-galaxy) || { echo "build-collection: ansible-galaxy not found (set ANSIBLE_GALAXY or run tools/bootstrap.sh)" >&2; exit 1; }
fi

# namespace/name/version: top-level scalar keys of galaxy.yml.
gkey() { sed -n "s/^$1:[[:space:]]*[\"']\{0,1\}\([^\"'#[:space:]]*\).*/\1/p" galaxy.yml | head -1; }
ns=$(gkey namespace); name=$(gkey name); ver=$(gkey version)
if [ -z "$ns" ] || [ -z "$name" ] || [ -z "$ver" ]; then
  echo "build-collection: cannot read namespace/name/version from galaxy.yml" >&2; exit 1
fi
base=$ns-$name-$ver

if [ $build = 1 ]; then
  tools/build-binaries.sh --arch "$arch"
fi

# Never copied into the staging tree (big, or build products); everything
# else is copied and left to galaxy.yml's build_ignore.
stage_excludes=(./.git ./.venv ./.work ./target ./build ./dist ./plugins/bin .pytest_cache .mypy_cache .ruff_cache __pycache__)
# Must not appear in a tarball (checked after the build).
forbidden_re='^(target|\.work|\.venv|\.git|\.ci|tests/(?!sanity/)|bench|tools|library|modules|multicall|build|dist|demo|fuzz)(/|$)|^Cargo\.|(^|/)Cargo\.(toml|lock)$|\.rs$|^(Makefile|pytest\.ini|clippy\.toml|rustfmt\.toml|\.shellcheckrc|\.gitignore|rust-toolchain(\.toml)?)$|^\.(cargo|github)(/|$)|(^|/)(\.pytest_cache|\.mypy_cache|\.ruff_cache|__pycache__)(/|$)|\.pyc$'

stage=.work/collection-stage
log "staging $stage"
rm -rf "$stage"; mkdir -p "$stage"
tar -C "$REPO" "${stage_excludes[@]/#/--exclude=}" -cf - . | tar -C "$stage" -xf -
# A module binary in plugins/modules (1.0.0's layout) would shadow the doc-only module.
if find "$stage/plugins/modules" -maxdepth 1 -type f ! -name '*.*' | grep -q .; then
  echo "build-collection: plugins/modules holds files without an extension (old module binaries?): remove them" >&2; exit 1
fi
mkdir -p "$stage/plugins/bin"
for a in "${arches[@]}"; do
  src=build/$a/usage_meter
  [ -f "$src" ] || { echo "build-collection: no $a binary at $src: run tools/build-binaries.sh --arch $a" >&2; exit 1; }
  install -m 0755 "$src" "$stage/plugins/bin/usage_meter-linux-$a"
done

out=dist
[ "$arch" = all ] || out=.work/dist-host
mkdir -p "$out"
rm -f "$out/$base.tar.gz"
log "ansible-galaxy collection build -> $out/$base.tar.gz"
( cd "$stage" && "$galaxy" collection build --force --output-path "$REPO/$out" . >/dev/null )
tarball=$out/$base.tar.gz
[ -f "$tarball" ] || { echo "build-collection: ansible-galaxy did not write $tarball" >&2; exit 1; }

# Check what was packed.
if python3 - "$tarball" "$forbidden_re" "${arches[@]}" <<'EOF'
import re, struct, sys, tarfile
tarball, forbidden, arches = sys.argv[1], re.compile(sys.argv[2]), sys.argv[3:]
machines = {62: "x86_64", 183: "aarch64"}
limit = 20 * 1000 * 1000   # Galaxy refuses larger uploads
errors, elves = [], {}
with tarfile.open(tarball) as t:
    for m in t.getmembers():
        if forbidden.search(m.name):
            errors.append(f"forbidden path packed: {m.name}")
        if not m.isfile():
            continue
        head = t.extractfile(m).read(20)
        if head[:4] == b"\x7fELF":
            elves[m.name] = machines.get(struct.unpack_from("<H", head, 18)[0], "unknown")
            if m.mode & 0o777 != 0o755:
                errors.append(f"{m.name}: mode {oct(m.mode & 0o777)}, expected 0o755")
want = {f"plugins/bin/usage_meter-linux-{a}": a for a in arches}
if elves != want:
    errors.append(f"ELF files {elves}, expected exactly {want}")
import os
size = os.path.getsize(tarball)
if size > limit:
    errors.append(f"{size} bytes, over Galaxy's limit of {limit}")
if errors:
    sys.exit(f"{tarball}:\n  " + "\n  ".join(errors) + "\n(fix galaxy.yml build_ignore); tarball removed")
EOF
then :; else rm -f "$tarball"; exit 1; fi
if [ "$arch" != all ]; then
  mv -f "$tarball" "$out/$base-host-only.tar.gz"; tarball=$out/$base-host-only.tar.gz
fi
log "$tarball ($(stat -c %s "$tarball") bytes)"
