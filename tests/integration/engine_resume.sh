#!/usr/bin/env bash
# kill -9 at three points of a multi-account run (while turning rotation
# off, between a batch's submission and its completion, while restoring),
# resuming each time with --run-dir.  Then, from kmsim's state: nothing was
# migrated twice, every rotation policy equals the original, and every
# selected resource is migrated.
. "$(dirname "$0")/lib/kmsim.sh"
start_kmsim "$KM_SRC/sim/fixtures/demo.yaml"
demo_manifest "$KM_SRC/manifests/demo.yaml" "$TMP/demo.yaml"
demo_env
cd "$TMP"
kmsim_get /_kmsim/state >before.json

attempt() {
  local crash=$1 rc=0
  KMSMIG_TEST_CRASH_AFTER=$crash "$KM_BIN/kmsmig-faults" run demo.yaml --yes \
    --run-dir run >>run.txt 2>>run.err || rc=$?
  echo "attempt with crash at $crash: exit $rc"
  # 137 = SIGKILL: the crash point was reached.
  [ "$rc" -eq 137 ] || { echo "FAIL: expected SIGKILL at $crash"; tail -5 run.err; exit 1; }
}
attempt rotation_off:3
attempt task_started:1
attempt rotation_restored:2
rc=0
"$KM_BIN/kmsmig" run demo.yaml --yes --run-dir run >final.txt 2>>run.err || rc=$?
cat final.txt
[ "$rc" -eq 0 ] || { echo "FAIL: final resume exited $rc"; tail -20 run.err; exit 1; }
grep -q "(resuming)" final.txt
kmsim_get /_kmsim/state >after.json
python3 "$KM_SRC/tests/integration/lib/check_state.py" before.json after.json \
  run/report.json --expect-all
# No batch was submitted twice: every client token has at most one task.
python3 - after.json <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
seen = {}
for t in s["Tasks"]:
    for r in t["Keys"] + t["Secrets"]:
        k = (t["Account"], t["Region"], r)
        assert k not in seen, "%s in tasks %s and %s" % (k, seen[k], t["TaskId"])
        seen[k] = t["TaskId"]
print("tasks: %d, no resource in two tasks" % len(s["Tasks"]))
PY
echo "engine_resume: ok"
