#!/usr/bin/env bash
# Migration windows (docs/waves.md).  app-b is in a change freeze from
# yesterday to tomorrow (Asia/Shanghai): the plan says it waits and when it
# runs; the run migrates mgmt and app-a, leaves app-b untouched (no rotation
# policy updated, no migration task, nothing of it shared) and reports it
# "waiting" with the freeze's end; the run exits 7 and the worklist shows
# the window.  A migrate.when inside a freeze is moved to the freeze's end
# plus the rotation lead, said in the plan.  An unknown time zone is a
# manifest error with its place.
. "$(dirname "$0")/lib/kmsim.sh"
start_kmsim "$KM_SRC/sim/fixtures/demo.yaml"
demo_manifest "$KM_SRC/manifests/demo.yaml" "$TMP/base.yaml"
demo_env
cd "$TMP"
y=$(TZ=Asia/Shanghai date -d yesterday +%F)
t=$(TZ=Asia/Shanghai date -d tomorrow +%F)
end=$(TZ=Asia/Shanghai date -d "$t + 1 day 00:00" +%s)   # the freeze's end
cat base.yaml - >freeze.yaml <<YAML
windows:
  - accounts: [app-b]
    time_zone: Asia/Shanghai
    freeze:
      - {from: $y, to: $t}
YAML
"$KM_BIN/kmsmig" validate freeze.yaml

"$KM_BIN/kmsmig" plan freeze.yaml >plan.txt
sed -n '/^migration windows/,$p' plan.txt
want=$(TZ=Asia/Shanghai date -d "@$end" '+%Y-%m-%d %H:%M %Z')
grep -q "^  app-b  *closed now: waits, runs from $want" plan.txt ||
  { echo "FAIL: the plan does not say when app-b runs ($want)"; exit 1; }
grep -q "window Asia/Shanghai: every day; freeze $y .. $t" plan.txt

kmsim_get /_kmsim/state >before.json
rc=0
"$KM_BIN/kmsmig" run freeze.yaml --yes --run-dir run >run.txt 2>run.err || rc=$?
cat run.txt
[ "$rc" -eq 7 ] || { echo "FAIL: expected exit 7 (accounts wait), got $rc"; tail -5 run.err; exit 1; }
grep -q "1 waiting for their window" run.txt
# The live progress tells the waiting pipelines apart from those not started.
grep -Eq "pipelines [0-9]+/[0-9]+ ended: .*, 0 not started, 2 waiting for their window" run.txt run.err ||
  { echo "FAIL: the progress counts app-b as not started"; grep -h "ended:" run.txt run.err; exit 1; }
grep -q "app-b  *window opens $want" run.txt
kmsim_get /_kmsim/state >after.json
python3 - before.json after.json run/report.json "$end" <<'PY'
import json, sys, datetime
a, b, r = (json.load(open(f)) for f in sys.argv[1:4])
end = int(sys.argv[4])
APPB = "1000000000000003"
def acct(st):
    return [x for x in st["Accounts"] if x["AccountId"] == APPB][0]
for region, reg in acct(a)["Regions"].items():
    after = acct(b)["Regions"][region]
    for k0, k1 in zip(reg["Keys"], after["Keys"]):
        assert k0["Rotation"] == k1["Rotation"], (k0["KeyId"], k0["Rotation"], k1["Rotation"])
        assert not k1["DKMSInstanceId"] or k0["DKMSInstanceId"], k1["KeyId"]
    for s0, s1 in zip(reg["Secrets"], after["Secrets"]):
        assert s0["Rotation"] == s1["Rotation"], s0["SecretName"]
old = {x["TaskId"] for x in a["Tasks"]}
assert not [x for x in b["Tasks"] if x["TaskId"] not in old and x["Account"] == APPB]
for inst in b["Instances"]:
    assert APPB not in (inst.get("SharedWith") or []) or \
        APPB in ([i for i in a["Instances"] if i["InstanceId"] == inst["InstanceId"]][0].get("SharedWith") or []), inst
st = {(p["account"], p["region"]): p["status"] for p in r["pipelines"]}
assert st[("app-b", "cn-hangzhou")] == "waiting" and st[("app-b", "cn-shanghai")] == "waiting", st
assert st[("mgmt", "cn-hangzhou")] in ("ok", "blocked") and st[("app-a", "cn-hangzhou")] == "ok", st
assert r["totals"]["accounts"]["waiting"] == 1, r["totals"]
w = [x for x in r["waves"]["windows"] if x["account"] == "app-b"][0]
want = datetime.datetime.fromtimestamp(end, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
assert w["next_open"] == want and w["open_now"] is False, (w, want)
iss = [i for p in r["pipelines"] if p["account"] == "app-b" for i in p["issues"]]
assert any(i["rule"] == "pipeline.waiting_window" for i in iss), iss
print("app-b waits until", want, "untouched; the others migrated")
PY
python3 - run/report.json "$KM_SRC/docs/report.schema.json" <<'PY'
import json, sys, jsonschema
jsonschema.Draft202012Validator(json.load(open(sys.argv[2]))).validate(json.load(open(sys.argv[1])))
PY
grep -q "## Migration windows" run/worklist.md
grep -q "app-b: Asia/Shanghai: every day; freeze $y .. $t (closed now; opens" run/worklist.md
python3 -c "import json,sys; w=json.load(open('run/worklist.json'))['windows']; assert w[0]['account']=='app-b', w"

# A scheduled batch inside a freeze moves to its end plus the rotation lead.
when=$(TZ=Asia/Shanghai date -d "+2 hours" +%Y-%m-%dT%H:%M:00+08:00)
sed "s/  when: now/  when: \"$when\"/" freeze.yaml >sched.yaml
grep -q "when: \"$when\"" sched.yaml
"$KM_BIN/kmsmig" plan sched.yaml >sched.txt
moved=$(TZ=Asia/Shanghai date -d "@$((end + 600))" '+%Y-%m-%d %H:%M %Z')
grep -q "migrate.when $when falls outside it: batches moved to $moved" sched.txt ||
  { echo "FAIL: the plan does not move the batch to $moved"; exit 1; }

# An unknown time zone stops validate with its place and the fix.
sed 's#time_zone: Asia/Shanghai#time_zone: Asia/Shanghia#' freeze.yaml >badtz.yaml
rc=0
"$KM_BIN/kmsmig" validate badtz.yaml >badtz.txt 2>&1 || rc=$?
cat badtz.txt
[ "$rc" -eq 2 ] || { echo "FAIL: validate of an unknown zone exited $rc"; exit 1; }
grep -Eq "badtz.yaml:[0-9]+:[0-9]+: .*'Asia/Shanghia' is not a time zone" badtz.txt
echo "freeze: ok"
