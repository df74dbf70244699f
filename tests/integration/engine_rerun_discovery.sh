#!/usr/bin/env bash
# --rerun-failed after a failed discovery: STS answers 5xx to every
# AssumeRole, so the two member accounts cannot be discovered (failed, with
# nothing listed) while mgmt, discovered at the same time, migrates (the
# tolerance of 0 stops new work only).  The run recommends --rerun-failed;
# once STS is healthy again, `--rerun-failed` discovers and migrates the
# members whole, exits 0, and no longer recommends itself.
. "$(dirname "$0")/lib/kmsim.sh"
start_kmsim "$KM_SRC/sim/fixtures/demo.yaml"
demo_manifest "$KM_SRC/manifests/demo.yaml" "$TMP/demo.yaml"
demo_env
cd "$TMP"
grep -q "failure_tolerance: { count: 0 }" demo.yaml
kmsim_get /_kmsim/state >before.json
kmsim_post /_kmsim/faults '{"seed":3,"error_5xx_rate":1.0,"actions":["AssumeRole"]}' >/dev/null
rc=0
"$KM_BIN/kmsmig" run demo.yaml --yes --run-dir run >run1.txt 2>run1.err || rc=$?
cat run1.txt
[ "$rc" -eq 1 ] || { echo "FAIL: first run should exit 1 (got $rc)"; exit 1; }
grep -q "accounts   1 ok   2 failed   0 blocked   0 not started" run1.txt ||
  { echo "FAIL: first run's totals"; exit 1; }
grep -q "app-a cn-hangzhou: discover failed: .*AssumeRole\|app-a cn-hangzhou: discover failed: .*assume role" run1.txt
grep -q "retry what did not finish .*--rerun-failed" run1.txt
python3 - run/report.json <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
st = {(p["account"], p["region"]): (p["status"], p["complete"]) for p in r["pipelines"]}
for a in ("app-a", "app-b"):
    for g in ("cn-hangzhou", "cn-shanghai"):
        assert st[(a, g)] == ("failed", False), st
for g in ("cn-hangzhou", "cn-shanghai"):
    assert st[("mgmt", g)] == ("ok", True), st
print("first run:", st)
PY

kmsim_post /_kmsim/faults '{"reset":true}' >/dev/null
rc=0
"$KM_BIN/kmsmig" run demo.yaml --yes --run-dir run --rerun-failed >run2.txt 2>run2.err || rc=$?
cat run2.txt
[ "$rc" -eq 0 ] || { echo "FAIL: --rerun-failed exited $rc"; tail run2.err; exit 1; }
if grep -q -- "--rerun-failed" run2.txt; then
  echo "FAIL: a finished rerun recommends --rerun-failed again"; exit 1
fi
grep -q "accounts   3 ok   0 failed   0 blocked   0 not started" run2.txt
kmsim_get /_kmsim/state >after.json
# Everything movable ended migrated, none twice, rotation as it was.
python3 "$KM_SRC/tests/integration/lib/check_state.py" before.json after.json \
  run/report.json --expect-all
python3 - run/report.json <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
moved = {(p["account"], p["region"]): len(p["keys"]["migrated"]) + len(p["secrets"]["migrated"])
         for p in r["pipelines"]}
for a in ("app-a", "app-b"):
    for g in ("cn-hangzhou", "cn-shanghai"):
        assert moved[(a, g)] > 0, ("the rerun did not migrate", a, g, moved)
print("the rerun migrated the members:", moved)
PY
echo "engine_rerun_discovery: ok"
