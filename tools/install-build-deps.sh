#!/usr/bin/env bash
# Install what the static release build (tools/build-binaries.sh) and its tests
# need on a fresh Debian 12 machine, without prompting. Idempotent: a second run
# only checks and takes about a second.
#
#   apt:    gcc libc6-dev (host linker for build scripts and proc macros),
#           make perl (OpenSSL's own build, vendored into libssh2),
#           qemu-user-static (runs the aarch64 binaries in tests)
#   rustup: x86_64-unknown-linux-musl aarch64-unknown-linux-musl
#   PyPI:   ziglang + cargo-zigbuild (pinned below) in .work/buildtools-venv
#
# Nothing is started (no service, no binfmt registration) and everything that
# is not an apt package or a rustup target stays under the repo's .work/.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD

# Pinned: cargo-zigbuild and zig versions must agree (zig's CLI changes between
# minor releases); this pair was checked for both musl targets.
ZIGLANG_VERSION=0.17.1
CARGO_ZIGBUILD_VERSION=0.24.1
VENV=$REPO/.work/buildtools-venv
TARGETS=(x86_64-unknown-linux-musl aarch64-unknown-linux-musl)
APT_PACKAGES=(gcc libc6-dev make perl qemu-user-static)

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# --- apt ---------------------------------------------------------------------
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "install-build-deps: missing apt packages (run as root): ${missing[*]}" >&2
    exit 1
  fi
  # No package here ships a service, but never let apt start one anyway.
  if [ ! -x /usr/sbin/policy-rc.d ] || ! grep -q 'exit 101' /usr/sbin/policy-rc.d; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
  fi
  log "apt-get install ${missing[*]}"
  # Another apt (unattended-upgrades on a fresh machine) may hold the lock:
  # wait for it, up to 10 minutes, instead of failing at once.
  apt-get -o DPkg::Lock::Timeout=600 update -qq
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# --- rustup targets ----------------------------------------------------------
export PATH="$HOME/.cargo/bin:$PATH"
if ! command -v rustup >/dev/null; then
  echo "install-build-deps: rustup not found (the machine's Rust toolchain is installed by rustup)" >&2
  exit 1
fi
installed=$(rustup target list --installed)
for t in "${TARGETS[@]}"; do
  if ! grep -qx "$t" <<<"$installed"; then
    log "rustup target add $t"
    rustup target add "$t"
  fi
done

# --- zig + cargo-zigbuild (PyPI wheels: ~7 s, vs minutes for cargo install) ---
want="ziglang==$ZIGLANG_VERSION cargo-zigbuild==$CARGO_ZIGBUILD_VERSION"
if [ ! -x "$VENV/bin/cargo-zigbuild" ] || [ "$(cat "$VENV/.pins" 2>/dev/null)" != "$want" ]; then
  log "pip install $want into ${VENV#"$REPO"/}"
  mkdir -p "$REPO/.work"
  [ -x "$VENV/bin/python" ] || "${PYTHON:-python3}" -m venv "$VENV"
  # shellcheck disable=SC2086
  "$VENV/bin/pip" install -q --disable-pip-version-check $want
  echo "$want" > "$VENV/.pins"
fi
"$VENV/bin/python" -m ziglang version >/dev/null
"$VENV/bin/cargo-zigbuild" --version >/dev/null
