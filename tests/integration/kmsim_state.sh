#!/usr/bin/env bash
# kmsim --state: a SIGKILL of kmsim loses nothing it acknowledged.  A demo
# run changes the cloud; kmsim is killed with SIGKILL right after and
# restarted from the state file alone (no --fixture): the state it serves
# is the one before the kill (keys, secrets, rotation policies, instances,
# tasks, STS credentials, clock); the file is 0600; a state file that is not
# one is refused with the fix in the message.
. "$(dirname "$0")/lib/kmsim.sh"
STATE="$TMP/kmsim.state"
start_kmsim "$KM_SRC/sim/fixtures/demo.yaml" --state "$STATE"
[ -s "$STATE" ] || { echo "FAIL: no state file at start"; exit 1; }
[ "$(stat -c %a "$STATE")" = 600 ] || { echo "FAIL: state file not 0600"; exit 1; }
demo_manifest "$KM_SRC/manifests/demo.yaml" "$TMP/demo.yaml"
demo_env
cd "$TMP"
kmsim_post /_kmsim/clock '{"advance": 3600}' >/dev/null
kmsim_post /_kmsim/faults '{"seed": 7, "throttle_shape": "mixed"}' >/dev/null
rc=0
"$KM_BIN/kmsmig" run demo.yaml --yes --run-dir run >run.txt 2>run.err || rc=$?
[ "$rc" -eq 0 ] || { echo "FAIL: run exited $rc"; tail -20 run.err; exit 1; }
kmsim_get /_kmsim/state >before-kill.json
kill -9 "$KMSIM_PID"
wait "$KMSIM_PID" 2>/dev/null || true
# Same port, state file only.
"$KM_BIN/kmsim" --state "$STATE" --https-port "$KMSIM_PORT" \
  --port-file "$TMP/ports2" >"$TMP/kmsim2.log" 2>&1 &
KMSIM_PID=$!
for _ in $(seq 200); do [ -s "$TMP/ports2" ] && break; sleep 0.05; done
grep -q "state=resumed" "$TMP/kmsim2.log" || { echo "FAIL: not resumed"; cat "$TMP/kmsim2.log"; exit 1; }
kmsim_get /_kmsim/state >after-restart.json
kmsim_get /_kmsim/faults >faults.json
python3 - before-kill.json after-restart.json faults.json <<'PY'
import json, sys
a, b = (json.load(open(f)) for f in sys.argv[1:3])
faults = json.load(open(sys.argv[3]))
# the clock runs on while kmsim is down, as the cloud's does
assert abs(a["ClockOffset"] - b["ClockOffset"]) <= 1, "clock offset lost"
for k in ("Accounts", "Instances", "Tasks", "StsCredentials", "Extensions"):
    assert a[k] == b[k], "%s differs after the restart" % k
moved = sum(1 for ac in b["Accounts"] for r in ac["Regions"].values()
            for x in r["Keys"] + r["Secrets"] if x["Migrations"])
rot = sum(1 for ac in b["Accounts"] for r in ac["Regions"].values()
          for x in r["Keys"] + r["Secrets"] if x["Rotation"]["Enabled"])
assert moved > 0 and b["Tasks"], "the run left no trace to keep"
assert faults.get("throttle_shape") == "mixed", faults
print("restart from the state file: %d migrated resources, %d rotation "
      "policies, %d tasks, %d STS credentials kept"
      % (moved, rot, len(b["Tasks"]), len(b["StsCredentials"])))
PY
kill "$KMSIM_PID"; wait "$KMSIM_PID" 2>/dev/null || true; KMSIM_PID=
# Not a state file: refused, naming the file and the fix.
echo '{"x":1}' >bad.state
rc=0
"$KM_BIN/kmsim" --state bad.state --https-port 0 >bad.log 2>&1 || rc=$?
[ "$rc" -eq 2 ] && grep -q "bad.state: not a kmsim state file.*remove it" bad.log ||
  { echo "FAIL: bad state file not refused"; cat bad.log; exit 1; }
echo "kmsim_state: ok"
