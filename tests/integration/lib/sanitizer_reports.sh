#!/usr/bin/env bash
# Run last in the sanitizer build (a ctest fixture cleanup): the
# integration tests' programs wrote every ASan, LSan and UBSan report into
# DIR (ASAN_OPTIONS/UBSAN_OPTIONS log_path); there must be none.  Prints
# the count and the first lines of each report.
set -uo pipefail
dir=$1
n=0
if [ -d "$dir" ]; then
  for f in "$dir"/*; do
    [ -s "$f" ] || continue
    n=$((n + 1))
    echo "== $f"
    head -40 "$f"
  done
fi
echo "sanitizer reports from the integration tests: $n"
[ "$n" -eq 0 ]
