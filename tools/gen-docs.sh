#!/usr/bin/env bash
# Regenerate every file that comes from the Rust types:
#   plugins/modules/<name>.py   doc-only module files (usage_meter <name> --doc)
#   plugins/action/<name>.py    their action plugins (um-gen-docs action <name>)
#   plugins/doc_fragments/*.py, meta/runtime.yml
# The module list is the multicall binary's (usage_meter --list).
# With --check, write nothing and fail if any committed file is stale.
set -euo pipefail
cd "$(dirname "$0")/.."
check=0; [ "${1:-}" = "--check" ] && check=1
cargo build -q -p usage-meter --bin um-gen-docs -p um-multicall --bin usage_meter
gen=target/debug/um-gen-docs
multi=target/debug/usage_meter
mapfile -t names < <("$multi" --list)
[ ${#names[@]} -gt 0 ] || { echo "gen-docs: usage_meter --list printed no module" >&2; exit 1; }
out=$(mktemp -d); trap 'rm -rf "$out"' EXIT
mkdir -p "$out/plugins/modules" "$out/plugins/action" "$out/plugins/doc_fragments" "$out/meta"
for n in "${names[@]}"; do
  "$multi" "$n" --doc > "$out/plugins/modules/$n.py"
  "$gen" action "$n" > "$out/plugins/action/$n.py"
done
for f in $("$gen" fragments); do
  "$gen" fragment "$f" > "$out/plugins/doc_fragments/$f.py"
done
"$gen" runtime "${names[@]}" > "$out/meta/runtime.yml"
stale=0
while IFS= read -r f; do
  rel=${f#"$out"/}
  if ! cmp -s "$f" "$rel"; then
    if [ $check = 1 ]; then echo "stale: $rel (run tools/gen-docs.sh)" >&2; stale=1
    else mkdir -p "$(dirname "$rel")"; cp "$f" "$rel"; echo "wrote $rel"; fi
  fi
done < <(find "$out" -type f | sort)
# A generated file whose module no longer exists is stale too (and so is an
# old-style sidecar plugins/modules/<name>.yml).
for y in plugins/modules/*.py plugins/modules/*.yml plugins/action/*.py plugins/doc_fragments/*.py; do
  [ -e "$y" ] || continue
  [ -e "$out/$y" ] || { if [ $check = 1 ]; then echo "stale: $y (module removed)" >&2; stale=1; else rm "$y"; echo "removed $y"; fi; }
done
exit $stale
