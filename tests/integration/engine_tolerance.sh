#!/usr/bin/env bash
# One account cannot be reached (its role does not exist): it fails with the
# cloud's Code and RequestId.  With failure_tolerance 1 the others are not
# stopped by it and finish; with tolerance 0 and one account at a time, no
# account is started after the failure (nothing is changed anywhere), the
# run says so, and exits 1.
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
assert st[("mgmt", "cn-hangzhou")] == "ok", st
assert st[("app-b", "cn-hangzhou")] == "ok", st
assert r["totals"]["keys"]["migrated"] > 0, r["totals"]
print("a failing account did not stop the others:", st)
PY

kmsim_get /_kmsim/state >before2.json
rc=0
"$KM_BIN/kmsmig" run tolerance.yaml --yes --run-dir run2 >run2.txt 2>run2.err || rc=$?
cat run2.txt
[ "$rc" -eq 1 ] || { echo "FAIL: expected exit 1, got $rc"; exit 1; }
grep -q "failure tolerance exceeded" run2/kmsmig.log
python3 - run2/report.json <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
issues = {(p["account"], p["region"]): [i["rule"] for i in p["issues"]]
          for p in r["pipelines"]}
assert "pipeline.failed" in issues[("app-a", "cn-hangzhou")], issues
assert "pipeline.not_started" in issues[("app-b", "cn-hangzhou")], issues
assert r["totals"]["keys"]["migrated"] == 0, r["totals"]
print("tolerance 0: nothing started after the failure:", issues)
PY
kmsim_get /_kmsim/state >after2.json
python3 - before2.json after2.json <<'PY'
import json, sys
a, b = (json.load(open(f)) for f in sys.argv[1:3])
assert len(a["Tasks"]) == len(b["Tasks"]), "a migration task was started"
print("no migration task was started")
PY
echo "engine_tolerance: ok"
