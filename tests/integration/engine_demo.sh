#!/usr/bin/env bash
# The demo as an operator runs it, on a kmsim with a free port: plan changes
# nothing; run migrates every movable key and secret, restores rotation
# exactly, sets the default instance, reports the unmovable ones with
# reasons, and exits 0.
. "$(dirname "$0")/lib/kmsim.sh"
start_kmsim "$KM_SRC/sim/fixtures/demo.yaml"
demo_manifest "$KM_SRC/manifests/demo.yaml" "$TMP/demo.yaml"
demo_env
cd "$TMP"
umask 022 # an ordinary umask: kmsmig's files must be 0600 anyway
kmsim_get /_kmsim/state >before.json

"$KM_BIN/kmsmig" plan demo.yaml --out plan.json >plan.txt
grep -q "plan only" plan.txt
[ "$(stat -c %a plan.json)" = 600 ] || { echo "FAIL: plan --out file is $(stat -c %a plan.json)"; exit 1; }
kmsim_get /_kmsim/state >after-plan.json
python3 - before.json after-plan.json <<'PY'
import json, sys
a, b = (json.load(open(f)) for f in sys.argv[1:3])
a.pop("Clock"); b.pop("Clock")
assert a["Accounts"] == b["Accounts"], "plan changed the cloud"
print("plan changed nothing")
PY

rc=0
"$KM_BIN/kmsmig" run demo.yaml --yes --run-dir run >run.txt 2>run.err || rc=$?
cat run.txt
[ "$rc" -eq 0 ] || { echo "FAIL: run exited $rc"; tail -20 run.err; exit 1; }
kmsim_get /_kmsim/state >after.json
python3 "$KM_SRC/tests/integration/lib/check_state.py" before.json after.json \
  run/report.json --expect-all
python3 - after.json <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
for a in s["Accounts"]:
    for region, r in a["Regions"].items():
        if any(k["DKMSInstanceId"] for k in r["Keys"]):
            assert r["DefaultKmsInstanceId"], (a["Name"], region)
print("default instance set where resources moved")
PY
# The journal and report exist; every file of the run directory is private.
[ "$(stat -c %a run/journal.jsonl)" = 600 ]
[ "$(stat -c %a run/report.json)" = 600 ]
loose=$(find run -type f ! -perm 600 -printf '%m %p\n')
[ -z "$loose" ] || { echo "FAIL: run-directory files not 0600:"; echo "$loose"; exit 1; }
# The AccessKey secret is nowhere in the run directory or the output.
if grep -rqF "$ALIBABA_CLOUD_ACCESS_KEY_SECRET" run plan.txt run.txt run.err; then
  echo "FAIL: the AccessKey secret was written"; exit 1
fi
grep -q '"turned_off"' run/report.json
echo "engine_demo: ok"
