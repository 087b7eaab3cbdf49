#!/usr/bin/env bash
# Build one collection tarball per architecture, each holding only that
# architecture's static module binaries:
#
#   tools/build-collection.sh [--arch x86_64|aarch64|all] [--no-build]
#
#   dist/<arch>/<namespace>-<name>-<version>.tar.gz          (ansible-galaxy's fixed name)
#   dist/<namespace>-<name>-<version>-linux-<arch>.tar.gz    (same file, unmistakable name)
#
# Runs tools/build-binaries.sh first (seconds when up to date) unless --no-build.
# Each tarball is built by `ansible-galaxy collection build` from a staging copy
# of the repo (.work/collection-stage/<arch>) whose plugins/modules holds the
# sidecar docs plus build/<arch>/plugins/modules/*, so the binaries of another
# arch can never be packed. galaxy.yml's build_ignore keeps sources and tooling
# out; the result is checked against a list of forbidden paths anyway.
# ansible-galaxy: $ANSIBLE_GALAXY, else .venv/bin/ansible-galaxy, else PATH.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD

arch=$(uname -m)
build=1
while [ $# -gt 0 ]; do
  case "$1" in
    --arch) arch=${2:?--arch needs a value}; shift 2 ;;
    --arch=*) arch=${1#*=}; shift ;;
    --no-build) build=0; shift ;;
    -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "build-collection: unknown argument: $1" >&2; exit 2 ;;
  esac
done
case "$arch" in
  all) arches=(x86_64 aarch64) ;;
  x86_64|aarch64) arches=("$arch") ;;
  *) echo "build-collection: --arch must be x86_64, aarch64 or all (got '$arch')" >&2; exit 2 ;;
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
stage_excludes=(./.git ./.venv ./.work ./target ./build ./dist .pytest_cache .mypy_cache .ruff_cache __pycache__)
# Must not appear in a tarball (checked after the build).
forbidden_re='^(target|\.work|\.venv|\.git|\.ci|tests|bench|tools|library|modules|build|dist|demo|fuzz)(/|$)|^Cargo\.|(^|/)Cargo\.(toml|lock)$|\.rs$|^(Makefile|pytest\.ini|clippy\.toml|rustfmt\.toml|\.gitignore|rust-toolchain(\.toml)?)$|^\.(cargo|github)(/|$)|(^|/)(\.pytest_cache|\.mypy_cache|\.ruff_cache|__pycache__)(/|$)|\.pyc$'

for a in "${arches[@]}"; do
  bindir=build/$a/plugins/modules
  stage=.work/collection-stage/$a
  log "$a: staging $stage"
  rm -rf "$stage"; mkdir -p "$stage"
  tar -C "$REPO" $(printf -- '--exclude=%s ' "${stage_excludes[@]}") -cf - . | tar -C "$stage" -xf -

  # plugins/modules = everything with an extension (sidecar docs) + this arch's binaries.
  find "$stage/plugins/modules" -maxdepth 1 -type f ! -name '*.*' -delete
  mapfile -t bins < <(find "$bindir" -maxdepth 1 -type f ! -name '*.*' -printf '%f\n' 2>/dev/null | sort)
  if [ ${#bins[@]} -eq 0 ]; then
    echo "build-collection: no $a binaries in $bindir: run tools/build-binaries.sh --arch $a" >&2; exit 1
  fi
  for b in "${bins[@]}"; do
    install -m 0755 "$bindir/$b" "$stage/plugins/modules/$b"
    ls "$stage/plugins/modules/$b".y*ml >/dev/null 2>&1 || { echo "build-collection: module $b has no plugins/modules/$b.yml docs" >&2; exit 1; }
  done
  for y in "$stage"/plugins/modules/*.yml "$stage"/plugins/modules/*.yaml; do
    [ -e "$y" ] || continue
    m=$(basename "${y%.*}")
    [ -e "$stage/plugins/modules/$m" ] || { echo "build-collection: docs $m.yml but no $a binary $m" >&2; exit 1; }
  done

  mkdir -p "dist/$a"
  rm -f "dist/$a/$base.tar.gz"
  log "$a: ansible-galaxy collection build -> dist/$a/$base.tar.gz"
  ( cd "$stage" && "$galaxy" collection build --force --output-path "$REPO/dist/$a" . >/dev/null )
  tarball=dist/$a/$base.tar.gz
  [ -f "$tarball" ] || { echo "build-collection: ansible-galaxy did not write $tarball" >&2; exit 1; }

  # Check what was packed: no sources/tooling, binaries are this arch's and 0755.
  if python3 - "$tarball" "$a" "$forbidden_re" "${bins[@]}" <<'EOF'
import re, struct, sys, tarfile
tarball, arch, forbidden, bins = sys.argv[1], sys.argv[2], re.compile(sys.argv[3]), sys.argv[4:]
want = {"x86_64": 62, "aarch64": 183}[arch]
errors, elves = [], set()
with tarfile.open(tarball) as t:
    for m in t.getmembers():
        if forbidden.search(m.name):
            errors.append(f"forbidden path packed: {m.name}")
        if not m.isfile():
            continue
        head = t.extractfile(m).read(20)
        if head[:4] == b"\x7fELF":
            machine = struct.unpack_from("<H", head, 18)[0]
            if machine != want:
                errors.append(f"{m.name}: ELF machine {machine}, not {arch}")
            if m.mode & 0o777 != 0o755:
                errors.append(f"{m.name}: mode {oct(m.mode & 0o777)}, expected 0o755")
            elves.add(m.name)
missing = {f"plugins/modules/{b}" for b in bins} - elves
extra = elves - {f"plugins/modules/{b}" for b in bins}
errors += [f"module binary missing: {x}" for x in sorted(missing)]
errors += [f"unexpected ELF file: {x}" for x in sorted(extra)]
if errors:
    sys.exit(f"{tarball}:\n  " + "\n  ".join(errors) + "\n(fix galaxy.yml build_ignore); tarball removed")
EOF
  then :; else rm -f "$tarball"; exit 1; fi
  cp -f "$tarball" "dist/$base-linux-$a.tar.gz"
  log "$a: $tarball ($(stat -c %s "$tarball") bytes), copy dist/$base-linux-$a.tar.gz"
done
