#!/usr/bin/env bash
# Build the module binaries as fully static musl executables (OpenSSL vendored
# into libssh2, rustls+ring for HTTPS), cross-compiled with cargo-zigbuild.
#
#   tools/build-binaries.sh [--arch x86_64|aarch64|host|all] [--out DIR]
#
# Builds the multicall binary (every module in one file, crate multicall/) in
# release mode for each architecture: build/<arch>/usage_meter, installed as
# DIR/usage_meter-linux-<arch> (default DIR: plugins/bin, where the action
# plugins look). --arch host builds this machine's only (the demo's build).
# Idempotent; seconds when nothing changed.
# Needs only what tools/install-build-deps.sh installs.
set -euo pipefail
caller_pwd=$PWD
cd "$(dirname "$0")/.."
REPO=$PWD

host_arch=$(uname -m)
arch=$host_arch
out=$PWD/plugins/bin
while [ $# -gt 0 ]; do
  case "$1" in
    --arch) arch=${2:?--arch needs a value}; shift 2 ;;
    --arch=*) arch=${1#*=}; shift ;;
    --out) out=${2:?--out needs a value}; shift 2 ;;
    --out=*) out=${1#*=}; shift ;;
    -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "build-binaries: unknown argument: $1" >&2; exit 2 ;;
  esac
done
case "$out" in /*) ;; *) out=$caller_pwd/$out ;; esac
case "$arch" in
  all) arches=(x86_64 aarch64) ;;
  host) arches=("$host_arch") ;;
  x86_64|aarch64) arches=("$arch") ;;
  *) echo "build-binaries: --arch must be x86_64, aarch64, host or all (got '$arch')" >&2; exit 2 ;;
esac

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

VENV=$REPO/.work/buildtools-venv
if [ ! -x "$VENV/bin/cargo-zigbuild" ]; then
  echo "build-binaries: $VENV/bin/cargo-zigbuild missing: run tools/install-build-deps.sh" >&2
  exit 1
fi
export PATH="$VENV/bin:$HOME/.cargo/bin:$PATH"
# Keep zig's and cargo-zigbuild's caches inside the repo's .work/.
export ZIG_GLOBAL_CACHE_DIR=$REPO/.work/zig-cache
export ZIG_LOCAL_CACHE_DIR=$REPO/.work/zig-cache
export CARGO_ZIGBUILD_CACHE_DIR=$REPO/.work/zigbuild-cache
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}
target_dir=$(cargo metadata --format-version 1 --no-deps --locked | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')

# One multicall binary holds every module (crate multicall/, bin usage_meter).
PKG=um-multicall
BIN=usage_meter

targets=()
for a in "${arches[@]}"; do targets+=(--target "$a-unknown-linux-musl"); done
log "cargo zigbuild --release ${targets[*]} -p $PKG"
start=$(date +%s)
# One cargo invocation for all targets: host build scripts and proc macros are
# built once and both targets share the two cores.
cargo zigbuild --release --locked --bin "$BIN" "${targets[@]}" -p "$PKG"
log "cargo zigbuild done in $(( $(date +%s) - start )) s"

# ELF checks without `file`: right machine, statically linked (no PT_INTERP, no
# DT_NEEDED), so the binary needs no loader or library on the controller.
check_elf() { # path arch
  python3 - "$1" "$2" <<'EOF'
import struct, sys
path, arch = sys.argv[1], sys.argv[2]
want = {"x86_64": 62, "aarch64": 183}[arch]
with open(path, "rb") as f:
    data = f.read()
if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
    sys.exit(f"{path}: not a 64-bit little-endian ELF file")
machine, = struct.unpack_from("<H", data, 18)
if machine != want:
    sys.exit(f"{path}: ELF machine {machine}, expected {want} ({arch})")
phoff, = struct.unpack_from("<Q", data, 32)
phentsize, phnum = struct.unpack_from("<HH", data, 54)
for i in range(phnum):
    ptype, _, offset, _, _, filesz = struct.unpack_from("<IIQQQQ", data, phoff + i * phentsize)
    if ptype == 3:  # PT_INTERP
        sys.exit(f"{path}: dynamically linked (has a program interpreter)")
    if ptype == 2:  # PT_DYNAMIC (static-pie has one): no DT_NEEDED allowed
        for off in range(offset, offset + filesz - 15, 16):
            tag, _ = struct.unpack_from("<qQ", data, off)
            if tag == 0:
                break
            if tag == 1:
                sys.exit(f"{path}: needs shared libraries (DT_NEEDED)")
EOF
}

install_if_changed() { # src dest
  if ! cmp -s "$1" "$2"; then
    install -m 0755 "$1" "$2.tmp.$$" && mv -f "$2.tmp.$$" "$2"
    echo "  updated $2"
  else
    chmod 0755 "$2"
  fi
}

mkdir -p "$out"
for a in "${arches[@]}"; do
  triple=$a-unknown-linux-musl
  src=$target_dir/$triple/release/$BIN
  check_elf "$src" "$a"
  mkdir -p "build/$a"
  install_if_changed "$src" "build/$a/$BIN"
  install_if_changed "build/$a/$BIN" "$out/$BIN-linux-$a"
  log "$a: $(stat -c %s "build/$a/$BIN") bytes -> build/$a/$BIN and $out/$BIN-linux-$a"
done
