#!/usr/bin/env bash
# The demo migration: kmsim serves the demo cloud (sim/fixtures/demo.yaml) on
# 127.0.0.1:18443, kmsmig plans and then runs manifests/demo.yaml with the
# `sim` driver, prints the summary, and kmsim is stopped.  Usage:
#   scripts/demo.sh [BUILD_DIR]
set -euo pipefail
build=${1:-build}
top=$(cd "$(dirname "$0")/.." && pwd)
bin="$top/$build/bin"
cd "$top"

port=18443
if (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null; then
  echo "demo: port $port is in use (another kmsim?); stop it and retry" >&2
  exit 1
fi
work=$(mktemp -d)
"$bin/kmsim" --fixture sim/fixtures/demo.yaml --https-port $port \
  --port-file "$work/ports" >"$work/kmsim.log" 2>&1 &
kmsim_pid=$!
cleanup() {
  kill "$kmsim_pid" 2>/dev/null || true
  wait "$kmsim_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
for _ in $(seq 100); do
  [ -s "$work/ports" ] && break
  kill -0 "$kmsim_pid" 2>/dev/null || { cat "$work/kmsim.log" >&2; exit 1; }
  sleep 0.05
done
echo "== kmsim: the demo cloud on 127.0.0.1:$port (sim/fixtures/demo.yaml)"

# The management account's AccessKey in the demo cloud: test-only values
# that kmsim accepts and that mean nothing anywhere else.  Members are
# reached with STS AssumeRole, as in a real resource directory.
export ALIBABA_CLOUD_ACCESS_KEY_ID=KSIMDEMOMGMTAK000001
export ALIBABA_CLOUD_ACCESS_KEY_SECRET=ksim-demo-mgmt-secret-not-a-real-key-0001
unset ALIBABA_CLOUD_SECURITY_TOKEN ALIBABA_CLOUD_PROFILE || true

echo "== kmsmig plan manifests/demo.yaml"
"$bin/kmsmig" plan manifests/demo.yaml
echo
echo "== kmsmig run manifests/demo.yaml --yes"
rc=0
"$bin/kmsmig" run manifests/demo.yaml --yes || rc=$?
exit $rc
