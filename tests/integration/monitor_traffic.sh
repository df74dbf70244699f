#!/usr/bin/env bash
# The procedure's monitoring section on emulated traffic: three callers use
# the shared gateway before the run; two switch to the instance gateway
# once their keys and secret are migrated, one (legacy) never does.  The
# baseline (before prepare) and `kmsmig observe RUN_DIR` a little later
# must differ in the expected direction (shared-gateway QPS falls, the
# dedicated gateway gets the traffic), the never-switched caller is listed
# by AccessKey ID and source IP (and the switched ones are not), the run's
# summary shows the verdict counts, observe.json is 0600 and the findings
# say "act" for the residual caller (exit 1 from observe).
. "$(dirname "$0")/lib/kmsim.sh"
. "$(dirname "$0")/lib/monitor.sh"
monitor_fixture "$TMP/cloud.yaml"
start_kmsim "$TMP/cloud.yaml"
monitor_manifest "$TMP/m.yaml"
monitor_env
cd "$TMP"
# a full baseline window (10 s at the callers' 34 calls a second) on the
# shared gateway
wait_served 340 kms.Encrypt kms.Decrypt kms.GenerateDataKey kms.GetSecretValue
rc=0
"$KM_BIN/kmsmig" run m.yaml --yes --run-dir run >run.txt 2>run.err || rc=$?
[ "$rc" = 0 ] || { cat run.txt run.err; echo "FAIL: run exited $rc"; exit 1; }
grep -E "^  observe +[0-9]+ act +[0-9]+ watch" run.txt ||
  { cat run.txt; echo "FAIL: no verdict line in the run's summary"; exit 1; }
[ "$(stat -c %a run/observe.json)" = 600 ] || { echo "FAIL: observe.json not 0600"; exit 1; }
# The run itself does not ask ActionTrail (events are queryable up to 10
# minutes late): residual callers are "watch", with when to observe.
grep -q "callers still on the shared gateway: \`kmsmig observe run\` after " run.txt ||
  { cat run.txt; echo "FAIL: the summary does not say when to observe"; exit 1; }
kmsim_get /_kmsim/stats | python3 -c '
import json, sys
s = json.load(sys.stdin)["ByAction"]
assert sum(s.get("actiontrail.LookupEvents", {}).values()) == 0, "the run asked ActionTrail"'
python3 - run/observe.json <<'PY'
import json, sys
for p in json.load(open(sys.argv[1]))["pipelines"]:
    f = {x["id"]: x for x in p["findings"]}.get("monitor.residual_callers")
    if p.get("migrated"):
        assert f["verdict"] == "watch" and "kmsmig observe" in f["action"], f
PY
# traffic after the switch: the switched callers on the instance gateway,
# legacy still on the shared one
wait_served 60 gateway.Encrypt gateway.Decrypt gateway.GenerateDataKey gateway.GetSecretValue
wait_served 8 kms.Decrypt
rc=0
"$KM_BIN/kmsmig" observe run >obs.txt 2>obs.err || rc=$?
cat obs.txt
[ "$rc" = 1 ] || { cat obs.err; echo "FAIL: observe exited $rc, want 1 (a finding says act)"; exit 1; }
grep -q "ACT .*monitor.residual_callers.*KSIMMONLEGCAK0001 from 192.168.7.9" obs.txt ||
  { echo "FAIL: the never-switched caller is not listed"; exit 1; }
[ "$(stat -c %a run/observe.json)" = 600 ] || { echo "FAIL: observe.json not 0600 after observe"; exit 1; }
python3 - run/observe.json <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
assert d["observe_version"] == 1 and d["generated"].endswith("Z")
[p] = d["pipelines"]
for k in ("account", "account_id", "region", "instance_id", "instance_spec",
          "baseline", "after", "residual_callers", "findings"):
    assert k in p, k
assert p["instance_spec"] == 1000
b, a = p["baseline"]["gateways"], p["after"]["gateways"]
for w in (p["baseline"], p["after"]):
    assert set(w["window"]) == {"start", "end"}
    for g in w["gateways"].values():
        assert set(g) == {"requests", "qps_avg", "qps_max", "latency_ms_avg", "codes"}, g
print("shared QPS %.2f -> %.2f, dedicated QPS %.2f -> %.2f" % (
    b["shared"]["qps_avg"], a["shared"]["qps_avg"],
    b["dedicated"]["qps_avg"], a["dedicated"]["qps_avg"]))
# 34 calls/s on the shared gateway before; only legacy's 4/s after (and
# kmsmig's own calls in the run's part of the window)
assert b["shared"]["requests"] >= 100, b["shared"]
assert a["shared"]["qps_avg"] < b["shared"]["qps_avg"] / 2, (b["shared"], a["shared"])
assert b["dedicated"]["requests"] == 0 and a["dedicated"]["requests"] >= 60, a["dedicated"]
assert a["dedicated"]["qps_avg"] > b["dedicated"]["qps_avg"]
# orders' error mix: 10% name a missing key or secret (4xx), measured
assert b["shared"]["codes"]["4xx"] > 0, b["shared"]
callers = {(c["access_key_id"], c["source_ip"]): c for c in p["residual_callers"]}
print("residual callers:", sorted(callers))
assert list(callers) == [("KSIMMONLEGCAK0001", "192.168.7.9")], callers
c = callers[("KSIMMONLEGCAK0001", "192.168.7.9")]
assert c["user_agent"].startswith("legacy-batch/0.9") and c["events"] == ["Decrypt"]
assert c["count"] >= 8 and c["last_seen"].endswith("Z") and c["migrated"] is True
f = {x["id"]: x for x in p["findings"]}
assert f["monitor.residual_callers"]["verdict"] == "act", f
assert "endpoint" in f["monitor.residual_callers"]["action"]
assert f["monitor.shared_traffic"]["verdict"] == "ok", f["monitor.shared_traffic"]
assert f["monitor.dedicated_throttled"]["verdict"] == "ok", f["monitor.dedicated_throttled"]
for x in p["findings"]:
    assert x["verdict"] in ("ok", "watch", "act") and x["message"] and x["action"]
PY
# kmsim counted the calls: the observation was measured, not assumed
kmsim_get /_kmsim/stats | python3 -c '
import json, sys
s = json.load(sys.stdin)["ByAction"]
n = lambda k: sum(s.get(k, {}).values())
print("kmsim served: DescribeMetricList %d, LookupEvents %d, shared Decrypt %d, gateway Decrypt %d" % (
    n("cms.DescribeMetricList"), n("actiontrail.LookupEvents"), n("kms.Decrypt"), n("gateway.Decrypt")))
assert n("cms.DescribeMetricList") >= 36 and n("actiontrail.LookupEvents") >= 13
assert n("gateway.Decrypt") > 0 and n("kms.Decrypt") > 0'
echo "monitor_traffic: ok"
