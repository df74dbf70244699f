#!/usr/bin/env bash
# Installs the npm modules the conformance tests use (official Alibaba Cloud
# SDKs), from tests/conformance/package.json and its lock file.  Skips the
# install when node_modules already matches the lock file.
set -euo pipefail
cd "$(dirname "$0")/../tests/conformance"
[ -f package.json ] || exit 0
stamp=node_modules/.km-stamp
want=$(sha256sum package.json package-lock.json 2>/dev/null | sha256sum | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
echo "npm-deps: installing conformance test modules"
if [ -f package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error >/dev/null
else
  npm install --no-audit --no-fund --loglevel=error >/dev/null
fi
echo "$want" >"$stamp"
