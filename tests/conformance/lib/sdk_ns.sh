#!/usr/bin/env bash
# Runs INSIDE the private mount+network namespace made by sdk_conformance.sh
# (`unshare -mn`): brings up loopback, maps the real Alibaba Cloud host names
# to 127.0.0.1 with a private /etc/hosts (bind mount, invisible outside),
# starts kmsim on port 443 with the demo fixture and runs the sdk_*.js
# scripts with kmsim's test CA trusted.  Prints the scripts' PASS/FAIL lines.
# Env: KM_SRC, KMSIM (binary), SDK_WORK (scratch dir), SDK_FIXTURE,
#      SDK_SCRIPTS (space-separated list of sdk_*.js names).
set -euo pipefail
: "${KM_SRC:?}" "${KMSIM:?}" "${SDK_WORK:?}" "${SDK_FIXTURE:?}" "${SDK_SCRIPTS:?}"
dir="$KM_SRC/tests/conformance"

ip link set lo up
hosts="$SDK_WORK/hosts"
{
  echo "127.0.0.1 localhost"
  echo "::1 localhost ip6-localhost"
  printf '127.0.0.1'
  for r in cn-hangzhou cn-shanghai; do
    printf ' %s' "kms.$r.aliyuncs.com" "kms-vpc.$r.aliyuncs.com" \
      "sts.$r.aliyuncs.com" "resourcesharing.$r.aliyuncs.com" \
      "metrics.$r.aliyuncs.com" "actiontrail.$r.aliyuncs.com"
  done
  printf ' %s' sts.aliyuncs.com resourcemanager.aliyuncs.com
  echo
} >"$hosts"
mount --bind "$hosts" /etc/hosts

unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY no_proxy NO_PROXY
rm -f "$SDK_WORK/ports"
"$KMSIM" --fixture "$SDK_FIXTURE" --https-port 443 --port-file "$SDK_WORK/ports" \
  >"$SDK_WORK/kmsim.log" 2>&1 &
kpid=$!
trap 'kill "$kpid" 2>/dev/null || true; wait "$kpid" 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  [ -s "$SDK_WORK/ports" ] && break
  kill -0 "$kpid" 2>/dev/null || break
  sleep 0.1
done
if ! grep -q '^https=443' "$SDK_WORK/ports" 2>/dev/null; then
  echo "FAIL setup: kmsim did not start on 443: $(tail -5 "$SDK_WORK/kmsim.log" | tr '\n' ' ')"
  exit 0
fi

cd "$dir"
export NODE_EXTRA_CA_CERTS="$KM_SRC/sim/tls/ca.pem"
for s in $SDK_SCRIPTS; do
  set +e
  node "$dir/$s" >"$SDK_WORK/$s.out" 2>"$SDK_WORK/$s.err"
  rc=$?
  set -e
  cat "$SDK_WORK/$s.out"
  if [ "$rc" -ne 0 ] && ! grep -q '^FAIL ' "$SDK_WORK/$s.out"; then
    echo "FAIL $s: node exited $rc without a case failure: $(tail -3 "$SDK_WORK/$s.err" | tr '\n' ' ')"
  fi
done
