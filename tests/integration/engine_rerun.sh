#!/usr/bin/env bash
# --rerun-failed: in a first run the operator's rotation hook keeps rotation
# on for one key, so the console refuses that key's batch and its resources
# fail while every other pipeline migrates; once the hook is fixed,
# `run --run-dir DIR --rerun-failed` retries only what failed, and
# everything movable ends migrated, none twice, rotation as it was.
. "$(dirname "$0")/lib/kmsim.sh"
start_kmsim "$KM_SRC/sim/fixtures/demo.yaml"
demo_manifest "$KM_SRC/manifests/demo.yaml" "$TMP/demo.yaml"
demo_env
cd "$TMP"
kmsim_get /_kmsim/state >before.json
cat >keep_one.lua <<'LUA'
local default = require("rotation")
return function(input)
  if input.id == "d3b67aac-c8ce-b183-d942-7f9cf578ad5b" and input.phase == "before" then
    return { change = false }
  end
  return default(input)
end
LUA
printf 'hooks:\n  rotation: %s/keep_one.lua\n' "$TMP" >>demo.yaml
rc=0
"$KM_BIN/kmsmig" run demo.yaml --yes --run-dir run >run1.txt 2>run1.err || rc=$?
[ "$rc" -eq 1 ] || { echo "FAIL: first run should fail (exit $rc)"; cat run1.txt; exit 1; }
grep -q "retry what did not finish .*--rerun-failed" run1.txt
# The refused batch is one failure: printed once, its RequestId once, with
# the resources that failed with it; no text runs together.
python3 - run1.txt <<'PY'
import re, sys
out = open(sys.argv[1]).read()
summary = out[out.index("\ndone in"):]
ids = re.findall(r"[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}", summary)
assert ids and all(ids.count(i) == 1 for i in ids), ids
assert "on the same answer" in summary, summary
assert not re.search(r"\)[A-Za-z]", summary), summary
print("the refused batch is printed once")
PY
first=$(python3 -c 'import json;t=json.load(open("run/report.json"))["totals"];print(t["keys"]["failed"]+t["keys"]["not_run"])')
[ "$first" -gt 0 ] || { echo "FAIL: nothing failed in the first run"; exit 1; }
python3 - run/report.json <<'PY'
import json, sys
st = {(p["account"], p["region"]): p["status"]
      for p in json.load(open(sys.argv[1]))["pipelines"]}
assert st[("mgmt", "cn-shanghai")] == "failed", st
assert st[("mgmt", "cn-hangzhou")] == "ok", st
print("first run:", st)
PY
kmsim_get /_kmsim/state >mid.json
# The operator fixes the hook (the manifest, and so the run, stay the same).
printf 'return require("rotation")\n' >keep_one.lua
rc=0
"$KM_BIN/kmsmig" run demo.yaml --yes --run-dir run --rerun-failed >run2.txt 2>run2.err || rc=$?
cat run2.txt
[ "$rc" -eq 0 ] || { echo "FAIL: rerun exited $rc"; tail run2.err; exit 1; }
# Everything finished: the rerun does not recommend itself again.
if grep -q -- "--rerun-failed" run2.txt; then
  echo "FAIL: the finished rerun still recommends --rerun-failed"; exit 1
fi
kmsim_get /_kmsim/state >after.json
# Only what failed was retried: every task of the second run is mgmt's in
# cn-shanghai, the pipeline whose batch the console refused.
python3 - mid.json after.json <<'PY'
import json, sys
m, a = (json.load(open(f)) for f in sys.argv[1:3])
old = {t["TaskId"] for t in m["Tasks"]}
new = [t for t in a["Tasks"] if t["TaskId"] not in old]
assert new, "the rerun submitted nothing"
assert all((t["Account"], t["Region"]) == ("1000000000000001", "cn-shanghai")
           for t in new), [(t["Account"], t["Region"]) for t in new]
print("rerun submitted %d task(s), all for the failed pipeline" % len(new))
PY
python3 - before.json after.json <<'PY'
import json, sys
b, a = (json.load(open(f)) for f in sys.argv[1:3])
def res(s):
    out = {}
    for acct in s["Accounts"]:
        for region, r in acct["Regions"].items():
            for k in r["Keys"]:
                out[(acct["Name"], region, k["KeyId"])] = k
    return out
rb, ra = res(b), res(a)
moved = 0
for key, k in ra.items():
    assert k["Migrations"] <= 1, key
    o = rb[key]["Rotation"]
    assert (o["Enabled"], o["Interval"]) == (k["Rotation"]["Enabled"], k["Rotation"]["Interval"]) or not o["Enabled"], key
    movable = (k["CreatorType"] == "User" and len(rb[key]["Versions"]) == 1
               and k["KeyState"] == "Enabled" and k["Origin"] == "Aliyun_KMS")
    if movable:
        assert k["DKMSInstanceId"], ("not migrated", key)
        moved += 1
print("after --rerun-failed: %d movable keys all migrated, none twice" % moved)
PY
echo "engine_rerun: ok"
