#!/usr/bin/env bash
# The console driver end to end, the test playing the operator from
# worklist.json only (lib/console_operator.py clicks kmsim's emulated
# console with each item's exact selection, in a shuffled order).  The
# migration is scheduled (migrate.when a few seconds ahead, rotation_lead
# shorter still), so the first items appear only once rotation is off.
# Sitting 1 clicks three items, waits until kmsmig sees them done, then
# SIGTERM: kmsmig stops within seconds (exit 4), every rotation is back as
# it was, `kmsmig status` lists the open items as paused.  Sitting 2
# resumes: the open items are printed again, then listed as waiting once
# rotation is off again; the operator clicks every one.  At the end: exit 0,
# every resource migrated, rotation exactly as before, each resource in
# exactly one console task, one task per click.
. "$(dirname "$0")/lib/kmsim.sh"
start_kmsim "$KM_SRC/sim/fixtures/demo.yaml"
demo_manifest "$KM_SRC/manifests/demo.yaml" "$TMP/demo.yaml"
demo_env
cd "$TMP"
# Discovery must end before when - rotation_lead (8 s) for the wait to show.
WHEN=$(date -u -d '+20 seconds' +%Y-%m-%dT%H:%M:%SZ)
python3 - "$WHEN" <<'PY'
import sys
s = open("demo.yaml").read()
s = s.replace("driver: sim                     # kmsim performs the console step itself",
              "driver: console")
s = s.replace("when: now", 'when: "%s"\n  poll_interval: 1s\n  rotation_lead: 12s' % sys.argv[1])
assert "driver: console" in s and "rotation_lead" in s
open("demo.yaml", "w").write(s)
PY
kmsim_get /_kmsim/state >before.json
OP=(python3 "$KM_SRC/tests/integration/lib/console_operator.py" run "$KMSIM_PORT"
  "$KM_SRC/sim/tls/ca.pem" clicked.txt)
fail() { echo "FAIL: $*"; tail -30 out1.txt out2.txt err1.txt err2.txt 2>/dev/null; exit 1; }
state_count() { # STATE: how many items of worklist.json are in it
  python3 -c 'import json,sys
try: w=json.load(open("run/worklist.json"))
except Exception: print(0); sys.exit()
print(sum(1 for i in w["items"] if i["state"]==sys.argv[1]))' "$1"
}

# ---- sitting 1 ----
"$KM_BIN/kmsmig" run demo.yaml --yes --run-dir run >out1.txt 2>err1.txt &
PID=$!
for _ in $(seq 300); do
  [ "$(state_count waiting)" -ge 6 ] && break
  kill -0 $PID 2>/dev/null || fail "kmsmig ended during sitting 1"
  sleep 0.1
done
[ "$(state_count waiting)" -ge 6 ] || fail "no waiting items in worklist.json"
grep -q "scheduled: come back at" out1.txt ||
  fail "no 'come back at' line before rotation went off (or discovery took over 8 s)"
grep -q '^ACTION #' out1.txt || fail "no short ACTION lines"
awk 'length > 200 { bad = 1 } END { exit bad }' out1.txt || fail "a terminal line longer than 200 characters"
[ "$(stat -c %a run/worklist.json)" = 600 ] && [ "$(stat -c %a run/worklist.html)" = 600 ] &&
  [ "$(stat -c %a run/worklist.md)" = 600 ] || fail "worklist files are not mode 0600"
"${OP[@]}" --max 3 --seed 7 | tee -a clicks.txt
for _ in $(seq 300); do
  [ "$(state_count done)" -ge 3 ] && break
  sleep 0.1
done
[ "$(state_count done)" -ge 3 ] || fail "kmsmig did not detect the three clicked items"
t0=$(date +%s%N)
kill -TERM $PID
rc=0
wait $PID || rc=$?
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
echo "sitting 1: SIGTERM -> exit $rc after ${ms} ms"
[ "$rc" -eq 4 ] || fail "exit $rc after SIGTERM, expected 4 (interrupted)"
[ "$ms" -lt 20000 ] || fail "SIGTERM took ${ms} ms (the console wait itself has no end)"
grep -q "come back and run" out1.txt || fail "no come-back message"
kmsim_get /_kmsim/state >mid.json
python3 "$KM_SRC/tests/integration/lib/check_state.py" before.json mid.json run/report.json ||
  fail "rotation not restored after the stop"
"$KM_BIN/kmsmig" status run >status.txt
cat status.txt
grep -q "paused" status.txt || fail "status does not list the paused items"
[ "$(state_count paused)" -ge 1 ] || fail "no paused item in worklist.json after the stop"

# ---- sitting 2 ----
"$KM_BIN/kmsmig" run demo.yaml --yes --run-dir run >out2.txt 2>err2.txt &
PID=$!
for _ in $(seq 600); do
  kill -0 $PID 2>/dev/null || break
  "${OP[@]}" --seed 11 | tee -a clicks.txt
  sleep 0.2
done
rc=0
wait $PID || rc=$?
echo "sitting 2: exit $rc"
[ "$rc" -eq 0 ] || fail "the resumed run exited $rc"
grep -q "(resuming)" out2.txt
grep -q "from an earlier sitting" out2.txt || fail "the resumed run did not re-print the open items"
kmsim_get /_kmsim/state >after.json
python3 "$KM_SRC/tests/integration/lib/check_state.py" before.json after.json \
  run/report.json --expect-all
python3 - after.json run/worklist.json clicked.txt <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
w = json.load(open(sys.argv[2]))
clicks = open(sys.argv[3]).read().split()
assert len(clicks) == len(set(clicks)), "an item was clicked twice"
assert len(s["Tasks"]) == len(clicks), "%d tasks for %d clicks" % (len(s["Tasks"]), len(clicks))
seen = {}
for t in s["Tasks"]:
    for r in t["Keys"] + t["Secrets"]:
        k = (t["Account"], t["Region"], r)
        assert k not in seen, "%s in tasks %s and %s" % (k, seen[k], t["TaskId"])
        seen[k] = t["TaskId"]
states = [i["state"] for i in w["items"]]
assert states and all(x == "done" for x in states), states
print("tasks: %d, no resource in two tasks; worklist: %d items, all done"
      % (len(s["Tasks"]), len(states)))
PY
echo "clicks: $(wc -l <clicked.txt)"
echo "worklist_console: ok"
