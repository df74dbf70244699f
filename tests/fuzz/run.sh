#!/usr/bin/env bash
# One bounded fuzzing run for ctest: BIN SEEDS WORK SECONDS.  Runs every
# seed and regression input of SEEDS, then fuzzes for SECONDS with new
# inputs kept in WORK/corpus (never in the source tree).  A crash, leak,
# timeout or sanitizer report exits non-zero and leaves the input as
# WORK/crash-*; copy it into SEEDS as a regression input once fixed.
# Prints one summary line: "fuzz NAME: N executions, C crashes".
set -uo pipefail
bin=$1 seeds=$2 work=$3 secs=$4
name=$(basename "$seeds")
mkdir -p "$work/corpus"
rm -f "$work"/crash-* "$work"/leak-* "$work"/timeout-* "$work"/oom-*
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
# The manifest and journal targets write each input to a file (and the
# journal fsyncs): on tmpfs that costs microseconds, on a disk milliseconds.
scratch=$work
if [ -d /dev/shm ] && [ -w /dev/shm ]; then
  scratch=$(mktemp -d /dev/shm/km-fuzz-XXXXXX)
  trap 'rm -rf "$scratch"' EXIT
fi
export TMPDIR="$scratch"
rc=0
"$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
  -malloc_limit_mb=1024 -print_final_stats=1 -artifact_prefix="$work/" \
  "$work/corpus" "$seeds" >"$work/log" 2>&1 || rc=$?
runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log" | tail -1)
crashes=$(find "$work" -maxdepth 1 \( -name 'crash-*' -o -name 'leak-*' \
  -o -name 'timeout-*' -o -name 'oom-*' \) | wc -l)
if [ "$rc" -ne 0 ] && [ "$crashes" -eq 0 ]; then crashes=1; fi
echo "fuzz $name: ${runs:-0} executions, $crashes crashes"
echo "fuzz $name: ${runs:-0} executions, $crashes crashes" >"$work/summary"
if [ "$rc" -ne 0 ]; then
  grep -m1 -A30 -E 'ERROR: |runtime error|SUMMARY' "$work/log" >&2 || tail -40 "$work/log" >&2
  ls "$work"/crash-* "$work"/leak-* "$work"/timeout-* "$work"/oom-* 2>/dev/null >&2
  exit 1
fi
