# A generated fleet on kmsim for tests that need many pipelines.  Source it
# after lib/kmsim.sh.
#   start_fleet ACCOUNTS REGIONS   generates the fleet (kmsim --generate:
#                                  1 key and 1 secret per region), serves it,
#                                  writes $TMP/fleet.yaml (the management
#                                  account finds the members in the resource
#                                  directory) and exports its AccessKey
start_fleet() {
  local accounts=$1 regions=$2
  "$KM_BIN/kmsim" --generate "seed=7,accounts=$accounts,regions=$regions,keys_per_region=1,secrets_per_region=1,byok_per_region=0" \
    >"$TMP/fleet-cloud.yaml"
  start_kmsim "$TMP/fleet-cloud.yaml"
  kmsim_get /_kmsim/state >"$TMP/fleet-state.json"
  python3 - "$TMP/fleet-state.json" "$TMP/fleet-cloud.yaml" "$TMP/fleet.yaml" \
    "$KMSIM_PORT" "$KM_SRC/sim/tls/ca.pem" "$regions" >"$TMP/fleet.env" <<'PY'
import json, sys
state, cloud, out, port, ca, nreg = sys.argv[1:7]
st = json.load(open(state))
mgmt = st["Accounts"][0]
regions = st["Regions"][:int(nreg)]
insts = {i["Region"]: i for i in st["Instances"] if i["Owner"] == mgmt["AccountId"]}
lines = ["version: 1", "name: fleet", "directory: {management: %s}" % mgmt["Name"],
         "accounts:",
         '  - {name: %s, id: "%s", credentials: {env: true}}' % (mgmt["Name"], mgmt["AccountId"]),
         "regions: [%s]" % ", ".join(regions), "instances:"]
for r in regions:
    i = insts[r]
    lines.append('  %s: {id: %s, owner: %s, type: software, image_version: "%s", '
                 "auto_renew: true, share_with: all}" % (r, i["InstanceId"], mgmt["Name"], i["ImageVersion"]))
lines += ["select: {keys: all-pending, secrets: all-pending}",
          "migrate: {driver: sim, when: now, task_timeout: 30m}",
          "concurrency: {accounts: 100, requests_per_endpoint: 64}",
          "failure_tolerance: {percent: 100}",
          "endpoints:", "  overrides:",
          '    - {host: "*.aliyuncs.com", address: "127.0.0.1:%s", scheme: https, ca_file: %s}' % (port, ca)]
open(out, "w").write("\n".join(lines) + "\n")
ak = sk = None
for l in open(cloud):
    if ak is None and '- id: "KSIM' in l:
        ak = l.split('"')[1]
    elif sk is None and 'secret: "ksim-gen' in l:
        sk = l.split('"')[1]
    if ak and sk:
        break
print("export ALIBABA_CLOUD_ACCESS_KEY_ID=%s ALIBABA_CLOUD_ACCESS_KEY_SECRET=%s" % (ak, sk))
PY
  . "$TMP/fleet.env"
  unset ALIBABA_CLOUD_SECURITY_TOKEN ALIBABA_CLOUD_PROFILE || true
}
