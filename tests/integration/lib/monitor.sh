# Helpers for the monitor tests (tests/integration/monitor_*.sh): the
# kmsim cloud with application traffic (tests/fixtures/kmsim_monitor.yaml)
# and a manifest for it.  Source after lib/kmsim.sh.
#   monitor_fixture DST [SPEC]      the fixture, the instance's spec (QPS) set
#   monitor_manifest DST [EXTRA]    a manifest for KMSIM_PORT; EXTRA is YAML
#                                   appended under `monitor:`
#   monitor_env                     the shop account's AccessKey
#   served KEY..., wait_served N KEY...   kmsim's counts (below)
# The window is 10 s: a test that compares rates waits until kmsim served
# at least 10 s of its callers' traffic before the run; the after-window of
# `kmsmig observe` starts at the run's OBSERVE (every switching caller has
# switched by then).
monitor_fixture() {
  sed "s/spec: 1000/spec: ${2:-1000}/" "$KM_SRC/tests/fixtures/kmsim_monitor.yaml" >"$1"
}

monitor_manifest() {
  cat >"$1" <<YAML
version: 1
name: mon
accounts:
  - {name: shop, id: "1300000000000001", credentials: {env: true}}
regions: [cn-hangzhou]
instances:
  cn-hangzhou: {id: kst-hzzmon0001, owner: shop, type: software, image_version: "2.9.3", auto_renew: true}
select: {keys: all-pending, secrets: all-pending}
migrate: {driver: sim, when: now, task_timeout: 30m}
monitor:
  window: 10s
  period: 15
${2:-}
endpoints:
  overrides:
${MONITOR_OVERRIDE:-}
    - {host: "*.aliyuncs.com", address: "127.0.0.1:$KMSIM_PORT", scheme: https, ca_file: $KM_SRC/sim/tls/ca.pem}
YAML
}

monitor_env() {
  export ALIBABA_CLOUD_ACCESS_KEY_ID=KSIMMONSHOPAK0001
  export ALIBABA_CLOUD_ACCESS_KEY_SECRET=ksim-monitor-shop-secret
  unset ALIBABA_CLOUD_SECURITY_TOKEN ALIBABA_CLOUD_PROFILE || true
}

# served KEY... : the sum of kmsim's counts for the given "product.Action"
# keys (every code; "product.Action:Code" counts one code).
served() {
  kmsim_get /_kmsim/stats | python3 -c '
import json, sys
s = json.load(sys.stdin)["ByAction"]
t = 0
for k in sys.argv[1:]:
    a, _, code = k.partition(":")
    t += s.get(a, {}).get(code, 0) if code else sum(s.get(a, {}).values())
print(t)' "$@"
}

# wait_served N KEY... : waits (up to 2 minutes, for a loaded machine)
# until kmsim has served N more of those calls than when called.  The
# tests wait for traffic to have happened, never for a time to pass.
wait_served() {
  local want=$1 base now
  shift
  base=$(served "$@")
  for _ in $(seq 1200); do
    now=$(served "$@")
    [ $((now - base)) -ge "$want" ] && return 0
    sleep 0.1
  done
  echo "FAIL: kmsim served $((now - base)) of $want calls of $* (traffic generator stalled?)" >&2
  return 1
}
