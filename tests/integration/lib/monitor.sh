# Helpers for the monitor tests (tests/integration/monitor_*.sh): the
# kmsim cloud with application traffic (tests/fixtures/kmsim_monitor.yaml)
# and a manifest for it.  Source after lib/kmsim.sh.
#   monitor_fixture DST [SPEC]      the fixture, the instance's spec (QPS) set
#   monitor_manifest DST [EXTRA]    a manifest for KMSIM_PORT; EXTRA is YAML
#                                   appended under `monitor:`
#   monitor_env                     the shop account's AccessKey
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
  window: 3s
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
