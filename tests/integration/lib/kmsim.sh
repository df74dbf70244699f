# Helpers for integration tests that run kmsmig against a real kmsim on
# loopback.  Source it; needs KM_BIN and KM_SRC (set by ctest).
#   start_kmsim FIXTURE [kmsim args...]   sets KMSIM_PORT, KMSIM_PID
#   demo_manifest SRC DST                 a copy of SRC pointed at KMSIM_PORT
#   kmsim_get PATH / kmsim_post PATH JSON admin paths (/_kmsim/...)
#   demo_env                              the demo cloud's management AccessKey
set -euo pipefail
: "${KM_BIN:?}" "${KM_SRC:?}"
TMP=$(mktemp -d)
KMSIM_PID=
cleanup_kmsim() {
  if [ -n "$KMSIM_PID" ]; then
    kill "$KMSIM_PID" 2>/dev/null || true
    wait "$KMSIM_PID" 2>/dev/null || true
  fi
  rm -rf "$TMP"
}
trap cleanup_kmsim EXIT

start_kmsim() {
  local fixture=$1
  shift
  "$KM_BIN/kmsim" --fixture "$fixture" --https-port 0 \
    --port-file "$TMP/ports" "$@" >"$TMP/kmsim.log" 2>&1 &
  KMSIM_PID=$!
  for _ in $(seq 200); do
    [ -s "$TMP/ports" ] && grep -q https= "$TMP/ports" && break
    kill -0 "$KMSIM_PID" 2>/dev/null || { cat "$TMP/kmsim.log" >&2; return 1; }
    sleep 0.05
  done
  KMSIM_PORT=$(sed -n 's/^https=//p' "$TMP/ports")
  [ -n "$KMSIM_PORT" ] || { echo "kmsim did not start" >&2; return 1; }
}

demo_manifest() {
  sed -e "s#127.0.0.1:18443#127.0.0.1:$KMSIM_PORT#" \
      -e "s#ca_file: ../sim/tls/ca.pem#ca_file: $KM_SRC/sim/tls/ca.pem#" \
      -e "s#include: \.\./accounts/#include: $KM_SRC/accounts/#" \
      "$1" >"$2"
}

kmsim_get() {
  curl -sS --fail --cacert "$KM_SRC/sim/tls/ca.pem" \
    --resolve "kms.cn-hangzhou.aliyuncs.com:$KMSIM_PORT:127.0.0.1" \
    "https://kms.cn-hangzhou.aliyuncs.com:$KMSIM_PORT$1"
}

kmsim_post() {
  curl -sS --fail --cacert "$KM_SRC/sim/tls/ca.pem" \
    --resolve "kms.cn-hangzhou.aliyuncs.com:$KMSIM_PORT:127.0.0.1" \
    -H 'Content-Type: application/json' -d "$2" \
    "https://kms.cn-hangzhou.aliyuncs.com:$KMSIM_PORT$1"
}

demo_env() {
  export ALIBABA_CLOUD_ACCESS_KEY_ID=KSIMDEMOMGMTAK000001
  export ALIBABA_CLOUD_ACCESS_KEY_SECRET=ksim-demo-mgmt-secret-not-a-real-key-0001
  unset ALIBABA_CLOUD_SECURITY_TOKEN ALIBABA_CLOUD_PROFILE || true
}
