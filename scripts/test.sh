#!/usr/bin/env bash
# Runs the whole suite: every test of the plain build (unit, integration,
# conformance), then the unit tests again under ASan+UBSan.  Exits non-zero if
# anything failed.  Usage: scripts/test.sh BUILD_DIR ASAN_BUILD_DIR
set -uo pipefail
build=${1:-build}
asan=${2:-build-asan}
jobs=$(nproc 2>/dev/null || echo 2)
rc=0

echo "== plain build: unit, integration and conformance tests"
(cd "$build" && ctest --output-on-failure -j "$jobs") || rc=1

echo "== ASan+UBSan build: unit tests"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
(cd "$asan" && ctest -L unit --output-on-failure -j "$jobs") || rc=1

if [ $rc -ne 0 ]; then
  echo "test: FAILED"
else
  echo "test: all suites passed"
fi
exit $rc
