#!/usr/bin/env bash
# Regenerate every documentation file that comes from the Rust types:
#   plugins/modules/<name>.yml, plugins/doc_fragments/connection.py, meta/runtime.yml.
# With --check, write nothing and fail if any committed file is stale.
set -euo pipefail
cd "$(dirname "$0")/.."
check=0; [ "${1:-}" = "--check" ] && check=1
cargo build -q -p usage-meter --bin um-gen-docs
names=()
for dir in modules/*/; do
  bin=$(awk '/^\[\[bin\]\]/{b=1} b && /^name *=/{gsub(/[" ]/,"",$0); sub("name=","",$0); print; exit}' "$dir/Cargo.toml")
  [ -n "$bin" ] && names+=("$bin")
done
cargo build -q $(for d in modules/*/; do printf -- '-p %s ' "$(sed -n 's/^name = "\(.*\)"/\1/p' "$d/Cargo.toml" | head -1)"; done)
out=$(mktemp -d); trap 'rm -rf "$out"' EXIT
mkdir -p "$out/plugins/modules" "$out/plugins/doc_fragments" "$out/meta"
for n in "${names[@]}"; do "target/debug/$n" --doc > "$out/plugins/modules/$n.yml"; done
for f in $(target/debug/um-gen-docs fragments); do
  target/debug/um-gen-docs fragment "$f" > "$out/plugins/doc_fragments/$f.py"
done
target/debug/um-gen-docs runtime "${names[@]}" > "$out/meta/runtime.yml"
stale=0
while IFS= read -r f; do
  rel=${f#"$out"/}
  if ! cmp -s "$f" "$rel"; then
    if [ $check = 1 ]; then echo "stale: $rel (run tools/gen-docs.sh)" >&2; stale=1
    else mkdir -p "$(dirname "$rel")"; cp "$f" "$rel"; echo "wrote $rel"; fi
  fi
done < <(find "$out" -type f | sort)
# A generated file whose source no longer exists is stale too.
for y in plugins/modules/*.yml plugins/doc_fragments/*.py; do
  [ -e "$y" ] || continue
  [ -e "$out/$y" ] || { if [ $check = 1 ]; then echo "stale: $y (module removed)" >&2; stale=1; else rm "$y"; echo "removed $y"; fi; }
done
exit $stale
