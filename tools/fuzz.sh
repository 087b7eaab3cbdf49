#!/usr/bin/env bash
# Fuzz the args-file parser and the verify module's status-output parser for a
# bounded time each (cargo-fuzz / libFuzzer; the project is fuzz/, outside the
# main workspace).
#
#   tools/fuzz.sh [SECONDS] [TARGET...]     default: 60 s each, every target
#       targets: args_parse (usage_meter::protocol::args::parse_args + validate
#                over the sshd and verify parameters), status_parse
#                (um_verify::status::parse_status)
#
# Installs cargo-fuzz when missing (`cargo install cargo-fuzz --locked`, about
# 4 minutes on 2 cores). cargo-fuzz needs nightly-only rustc flags; on the
# stable toolchain RUSTC_BOOTSTRAP=1 enables them (set here).
#
# Env:  UM_FUZZ_SANITIZER  none (default: the code under test is safe Rust, and
#                          it runs ~2x faster) or address
#       UM_FUZZ_JOBS       parallel fuzzing processes per target (default 1)
# Corpus:    .work/fuzz/corpus/<target> (kept between runs; seeded from fuzz/seeds/<target>)
# Crashes:   .work/fuzz/artifacts/<target>/crash-* ; the script exits 1.
# Reproduce: (cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run -s none --target-dir ../target/fuzz <target> <crash-file>)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
secs=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(args_parse status_parse)
san=${UM_FUZZ_SANITIZER:-none}
jobs=${UM_FUZZ_JOBS:-1}
export RUSTC_BOOTSTRAP=1
export CARGO_TERM_COLOR=never

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "tools/fuzz.sh: installing cargo-fuzz (cargo install cargo-fuzz --locked)" >&2
  start=$(date +%s)
  cargo install cargo-fuzz --locked
  echo "tools/fuzz.sh: cargo-fuzz installed in $(( $(date +%s) - start )) s" >&2
fi

tdir=$root/target/fuzz          # not target/debug: other RUSTFLAGS, no rebuild churn
work=$root/.work/fuzz
cd fuzz
start=$(date +%s)
cargo fuzz build -s "$san" --target-dir "$tdir"
echo "tools/fuzz.sh: fuzz targets built in $(( $(date +%s) - start )) s" >&2

rc=0
for t in "${targets[@]}"; do
  mkdir -p "$work/corpus/$t" "$work/artifacts/$t"
  echo "tools/fuzz.sh: fuzzing $t for $secs s" >&2
  extra=()
  [ "$jobs" -gt 1 ] && extra+=(-fork="$jobs")
  # status lines are cut at 4096 characters: let inputs grow past that
  [ "$t" = status_parse ] && extra+=(-max_len=12288)
  if ! cargo fuzz run -s "$san" --target-dir "$tdir" "$t" "$work/corpus/$t" "seeds/$t" -- \
      -max_total_time="$secs" -dict="dict/$t.dict" -artifact_prefix="$work/artifacts/$t/" \
      -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 "${extra[@]}"; then
    echo "tools/fuzz.sh: $t FAILED: input saved in $work/artifacts/$t/" >&2
    rc=1
  fi
done
exit $rc
