#!/usr/bin/env bash
# Cross-checks kmsmig's V1 and V3 request signatures against the official
# @alicloud/openapi-util from npm (see sign_crosscheck.js).  Needs node on
# PATH and tests/conformance/node_modules (scripts/npm-deps.sh); fails on any
# mismatch and prints how many cases matched.
set -euo pipefail
: "${KM_BIN:?KM_BIN must name the directory of the built binaries}"
: "${KM_SRC:?KM_SRC must name the source directory}"
dir="$KM_SRC/tests/conformance"
if ! command -v node >/dev/null; then
  echo "sign_crosscheck: node is not on PATH" >&2
  exit 1
fi
if [ ! -d "$dir/node_modules/@alicloud/openapi-util" ]; then
  echo "sign_crosscheck: $dir/node_modules is missing; run scripts/npm-deps.sh" >&2
  exit 1
fi
if [ ! -x "$KM_BIN/km_signtool" ]; then
  echo "sign_crosscheck: $KM_BIN/km_signtool is not built" >&2
  exit 1
fi
cd "$dir"
exec node sign_crosscheck.js "$KM_BIN/km_signtool"
