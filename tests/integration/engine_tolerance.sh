#!/usr/bin/env bash
# One account cannot be reached (its role does not exist): it fails with the
# cloud's Code and RequestId.  With tolerance 0 and one account at a time,
# the tolerance stops new work only: mgmt, discovered before app-a failed,
# goes on and migrates; app-b, not yet started, is not started (nothing of
# it is changed); the summary counts 1 ok, 1 failed, 1 not started, and the
# run exits 1.  With failure_tolerance 1 the others are not stopped by it
# and finish.  A plan ignores the tolerance: it plans app-b too.
. "$(dirname "$0")/lib/kmsim.sh"
start_kmsim "$KM_SRC/sim/fixtures/demo.yaml"
demo_manifest "$KM_SRC/manifests/demo.yaml" "$TMP/base.yaml"
demo_env
cd "$TMP"
python3 - base.yaml <<'PY'
import sys
s = open(sys.argv[1]).read()
s = s.replace("credentials: { assume_role: { via: mgmt } }",
              "credentials: { assume_role: { via: mgmt, role: NoSuchRole } }")
open("failing.yaml", "w").write(
    s.replace("failure_tolerance: { count: 0 }", "failure_tolerance: { count: 1 }"))
open("tolerance.yaml", "w").write(
    s.replace("concurrency: { accounts: 8, requests_per_endpoint: 4 }",
              "concurrency: { accounts: 1, requests_per_endpoint: 4 }"))
PY
grep -q "count: 1" failing.yaml
grep -q "accounts: 1," tolerance.yaml

kmsim_get /_kmsim/state >before2.json
rc=0
"$KM_BIN/kmsmig" run tolerance.yaml --yes --run-dir run2 >run2.txt 2>run2.err || rc=$?
cat run2.txt
[ "$rc" -eq 1 ] || { echo "FAIL: expected exit 1, got $rc"; exit 1; }
grep -q "failure tolerance exceeded" run2/kmsmig.log
grep -q "accounts   1 ok   1 failed   0 blocked   1 not started" run2.txt ||
  { echo "FAIL: failed and not started are not counted apart"; exit 1; }
python3 - run2/report.json <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
issues = {(p["account"], p["region"]): [i["rule"] for i in p["issues"]]
          for p in r["pipelines"]}
st = {(p["account"], p["region"]): p["status"] for p in r["pipelines"]}
assert "pipeline.failed" in issues[("app-a", "cn-hangzhou")], issues
assert "pipeline.not_started" in issues[("app-b", "cn-hangzhou")], issues
assert st[("app-a", "cn-hangzhou")] == "failed", st
assert st[("app-b", "cn-hangzhou")] == "not_started", st
# Discovered before the failure: not turned into "not started" or failed.
assert st[("mgmt", "cn-hangzhou")] == "ok" and st[("mgmt", "cn-shanghai")] == "ok", st
acc = r["totals"]["accounts"]
assert (acc["ok"], acc["failed"], acc["not_started"]) == (1, 1, 1), acc
assert r["totals"]["keys"]["migrated"] > 0, r["totals"]
print("tolerance 0: mgmt went on, app-a failed, app-b not started:", st)
PY
kmsim_get /_kmsim/state >after2.json
python3 - before2.json after2.json <<'PY'
import json, sys
a, b = (json.load(open(f)) for f in sys.argv[1:3])
old = {t["TaskId"] for t in a["Tasks"]}
new = [t for t in b["Tasks"] if t["TaskId"] not in old]
assert new, "mgmt, discovered before the failure, started no migration"
assert all(t["Account"] == "1000000000000001" for t in new), \
    [t["Account"] for t in new]
print("migration tasks only for mgmt: %d" % len(new))
PY
# A plan ignores the tolerance: every account is discovered and shown.
rc=0
"$KM_BIN/kmsmig" plan tolerance.yaml >plan.txt 2>plan.err || rc=$?
cat plan.txt
[ "$rc" -eq 1 ] || { echo "FAIL: plan with a failed account: exit $rc"; exit 1; }
grep -Eq "^app-b +cn-hangzhou .* (ready|nothing to do)" plan.txt ||
  { echo "FAIL: the plan applied the tolerance to app-b"; exit 1; }
grep -Eq "^[0-9]+ accounts? ready, [0-9]+ blocked, 1 failed" plan.txt ||
  { echo "FAIL: plan totals"; exit 1; }

rc=0
"$KM_BIN/kmsmig" run failing.yaml --yes --run-dir run1 >run1.txt 2>run1.err || rc=$?
cat run1.txt
[ "$rc" -eq 1 ] || { echo "FAIL: expected exit 1, got $rc"; exit 1; }
grep -q "app-a cn-hangzhou: discover failed.*EntityNotExist.Role.*RequestId" run1.txt
python3 - run1/report.json <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
st = {(p["account"], p["region"]): p["status"] for p in r["pipelines"]}
assert st[("app-a", "cn-hangzhou")] == "failed", st
# mgmt migrated everything in the run above: what is left of it is
# blocked resources; it was not stopped either.
assert st[("mgmt", "cn-hangzhou")] in ("ok", "blocked"), st
assert st[("app-b", "cn-hangzhou")] == "ok", st
moved = {(p["account"], p["region"]): len(p["keys"]["migrated"])
         for p in r["pipelines"]}
assert moved[("app-b", "cn-hangzhou")] > 0, moved
print("a failing account did not stop the others:", st)
PY

echo "engine_tolerance: ok"
