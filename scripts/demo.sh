#!/usr/bin/env bash
# The demo migration.  Until kmsim and the migration engine are built, it
# validates the demo manifest and says what is not built yet.
set -euo pipefail
build=${1:-build}
top=$(cd "$(dirname "$0")/.." && pwd)
bin="$top/$build/bin"
echo "== kmsmig validate manifests/demo.yaml"
"$bin/kmsmig" validate "$top/manifests/demo.yaml"
echo "demo: the migration engine and kmsim are not built yet; validation only"
