#!/usr/bin/env bash
# An undersized instance: spec 5 (QPS) while the switched callers send
# ~30 calls a second to its gateway (the test waits until kmsim throttled
# 60 of them after the run).  kmsim's dedicated gateway throttles
# at the instance's spec; the after-observation must flag it "act" with
# the instance spec and what to change.  With spec 1000 (monitor_traffic)
# the same finding is "ok".
. "$(dirname "$0")/lib/kmsim.sh"
. "$(dirname "$0")/lib/monitor.sh"
monitor_fixture "$TMP/cloud.yaml" 5
start_kmsim "$TMP/cloud.yaml"
monitor_manifest "$TMP/m.yaml"
monitor_env
cd "$TMP"
wait_served 20 kms.Encrypt kms.Decrypt kms.GenerateDataKey kms.GetSecretValue
"$KM_BIN/kmsmig" run m.yaml --yes --run-dir run >run.txt 2>run.err ||
  { cat run.txt run.err; echo "FAIL: run failed"; exit 1; }
# the switched callers hit the instance's limit: 60 throttled after the
# run, so that the after-window (from the second after the run's OBSERVE
# began, to the last whole second) holds seconds of them, not the one
# second that 20 took (3 throttled in it: a flaky failure under load)
wait_served 60 gateway.Encrypt:Rejected.Throttling gateway.Decrypt:Rejected.Throttling \
  gateway.GenerateDataKey:Rejected.Throttling gateway.GetSecretValue:Rejected.Throttling
rc=0
"$KM_BIN/kmsmig" observe run >obs.txt 2>obs.err || rc=$?
cat obs.txt
[ "$rc" = 1 ] || { cat obs.err; echo "FAIL: observe exited $rc, want 1"; exit 1; }
grep -q "ACT .*monitor.dedicated_throttled.*instance spec 5" obs.txt ||
  { echo "FAIL: throttling on the instance gateway not flagged act with the spec"; exit 1; }
python3 - run/observe.json <<'PY'
import json, sys
[p] = json.load(open(sys.argv[1]))["pipelines"]
d = p["after"]["gateways"]["dedicated"]
print("dedicated gateway after: %d requests, %d throttled" % (d["requests"], d["codes"]["Throttling"]))
# kmsim throttled 20 or more in all; the window starts the second after
# the run's OBSERVE began, so some of those may fall before it
assert d["codes"]["Throttling"] >= 5, d
assert p["instance_spec"] == 5
f = {x["id"]: x for x in p["findings"]}["monitor.dedicated_throttled"]
assert f["verdict"] == "act" and "spec 5" in f["action"] and "computing performance" in f["action"], f
PY
echo "monitor_throttle: ok"
