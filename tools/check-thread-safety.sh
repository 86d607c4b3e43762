#!/usr/bin/env bash
# clang's -Wthread-safety over every C++ file of ours (generated protobuf code excluded),
# with the exact compile commands of a CMake build: the ABSL_GUARDED_BY and
# ABSL_EXCLUSIVE_LOCKS_REQUIRED annotations are checked, which gcc ignores.
# Usage: tools/check-thread-safety.sh BUILD_DIR
set -euo pipefail
build=$(cd "${1:-build}" && pwd)
root=$(cd "$(dirname "$0")/.." && pwd)
command -v clang++ >/dev/null || { echo "check-thread-safety: clang++ not installed" >&2; exit 1; }
list=$(mktemp)
trap 'rm -f "$list"' EXIT
# Three lines per source of ours: directory, file, command (commands hold no newlines).
jq -r --arg root "$root/" --arg build "$build/" \
  '.[] | select((.file | startswith($root)) and (.file | startswith($build) | not))
       | .directory, .file, .command' "$build/compile_commands.json" >"$list"
failed=0
count=0
while IFS= read -r dir && IFS= read -r file && IFS= read -r command; do
  count=$((count + 1))
  # The compiler and output flags are replaced; defines and include paths are kept.
  args=$(printf '%s' "$command" | sed -E 's#^(/usr/bin/ccache )?[^ ]+ ##; s# -o [^ ]+##; s# -c [^ ]+##; s# -MD##; s# -M[TF] [^ ]+##g')
  if ! out=$(cd "$dir" && eval "clang++ $args -fsyntax-only -Wno-everything -Wthread-safety \
      -Werror=thread-safety $file" 2>&1); then
    printf '%s\n' "$out" | grep -E "error" | head -5
    failed=1
  fi
done <"$list"
[ $failed -eq 0 ] && echo "check-thread-safety: $count files clean"
exit $failed
