#!/usr/bin/env bash
# One account cannot be reached (its role does not trust the management
# account): it fails with the cloud's Code and RequestId, the others are
# not stopped by it; with failure_tolerance 0 and one account at a time,
# no new account starts after it, and the run says so and exits 1.
. "$(dirname "$0")/lib/kmsim.sh"
start_kmsim "$KM_SRC/sim/fixtures/demo.yaml"
demo_manifest "$KM_SRC/manifests/demo.yaml" "$TMP/base.yaml"
demo_env
cd "$TMP"
# app-a assumes a role that does not exist in the demo cloud.
python3 - base.yaml <<'PY'
import sys
s = open(sys.argv[1]).read()
s = s.replace("credentials: { assume_role: { via: mgmt } }",
              "credentials: { assume_role: { via: mgmt, role: NoSuchRole } }")
open("failing.yaml", "w").write(s)
s = s.replace("concurrency: { accounts: 8, requests_per_endpoint: 4 }",
              "concurrency: { accounts: 1, requests_per_endpoint: 4 }")
s = s.replace("accounts:\n  - name: mgmt", "accounts:\n  - name: mgmt")
open("tolerance.yaml", "w").write(s)
PY
grep -q NoSuchRole failing.yaml

# Tolerance not exceeded would need tolerance >= 1: here the other accounts
# run to completion because they started together (accounts: 8).
rc=0
"$KM_BIN/kmsmig" run failing.yaml --yes --run-dir run1 >run1.txt 2>run1.err || rc=$?
cat run1.txt
[ "$rc" -eq 1 ] || { echo "FAIL: expected exit 1, got $rc"; exit 1; }
grep -q "app-a" run1.txt
grep -Eq "RequestId" run1.txt
python3 - run1/report.json <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
st = {(p["account"], p["region"]): p["status"] for p in r["pipelines"]}
assert st[("app-a", "cn-hangzhou")] == "failed", st
assert st[("mgmt", "cn-hangzhou")] == "ok", st
assert st[("app-b", "cn-hangzhou")] == "ok", st
print("a failing account did not stop the others:", st)
PY

# One account at a time, in manifest order (mgmt, app-a, app-b): app-a
# fails, tolerance 0 is exceeded, app-b is never started.
rc=0
"$KM_BIN/kmsmig" run tolerance.yaml --yes --run-dir run2 >run2.txt 2>run2.err || rc=$?
[ "$rc" -eq 1 ] || { echo "FAIL: expected exit 1, got $rc"; exit 1; }
grep -q "failure tolerance exceeded" run2.err run2/kmsmig.log
python3 - run2/report.json <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
st = {(p["account"], p["region"]): p["status"] for p in r["pipelines"]}
issues = {(p["account"], p["region"]): [i["rule"] for i in p["issues"]]
          for p in r["pipelines"]}
assert st[("mgmt", "cn-hangzhou")] == "ok", st
assert "pipeline.not_started" in issues[("app-b", "cn-hangzhou")], issues
print("tolerance stopped new accounts:", st)
PY
echo "engine_tolerance: ok"
