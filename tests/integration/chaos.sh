#!/usr/bin/env bash
# The chaos suite (issue 11): one multi-account demo run (3 accounts x 2
# regions) resumed through 20 SIGKILLs of kmsmig at seeded points, two
# SIGKILLs of kmsim (restarted from its --state file, once while kmsmig is
# running), 10% 5xx + 5% dropped connections + 5% answers lost after the
# write applied + throttling storms in both error shapes, kmsim's clock
# jumped (skew between the service clock and ours) past the STS credentials'
# lifetime mid-run.  Then, from kmsim's state: no rotation policy lost or
# changed, no resource in two migration tasks, and the final cloud equal to
# the one an uninterrupted, fault-free run produces; the last exit code is 0
# and the report names every resource the way the cloud has it.
# Seeded: CHAOS_SEED (default 11) picks the crash points and the faults.
# Bounded: about two minutes on two shared cores.
. "$(dirname "$0")/lib/kmsim.sh"
SEED=${CHAOS_SEED:-11}
KILLS_WANTED=20
FIXTURE="$KM_SRC/sim/fixtures/demo.yaml"
demo_env
cd "$TMP"

# ---- the reference: the same run, uninterrupted, no faults ----
start_kmsim "$FIXTURE"
demo_manifest "$KM_SRC/manifests/demo.yaml" ref.yaml
kmsim_post /_kmsim/faults '{"task_seconds": 1}' >/dev/null
rc=0
"$KM_BIN/kmsmig" run ref.yaml --yes --run-dir ref >ref.txt 2>ref.err || rc=$?
[ "$rc" -eq 0 ] || { echo "FAIL: reference run exited $rc"; tail -20 ref.err; exit 1; }
kmsim_get /_kmsim/state >ref.json
kill "$KMSIM_PID"; wait "$KMSIM_PID" 2>/dev/null || true; KMSIM_PID=
rm -f "$TMP/ports"

# ---- the chaos run ----
STATE="$TMP/kmsim.state"
start_kmsim "$FIXTURE" --state "$STATE" --seed "$SEED"
PORT=$KMSIM_PORT
demo_manifest "$KM_SRC/manifests/demo.yaml" demo.yaml
kmsim_get /_kmsim/state >before.json
FAULTS='{"seed": '$SEED', "task_seconds": 1, "error_5xx_rate": 0.10,
  "drop_rate": 0.05, "lost_reply_rate": 0.05, "throttle_shape": "mixed",
  "throttle_storm": {"period_ms": 4000, "storm_ms": 400}}'
kmsim_post /_kmsim/faults "$FAULTS" >/dev/null

# Faults kmsim served, summed over its restarts (its counters restart).
FAULTS_SEEN=0
count_faults() {
  local n
  n=$(kmsim_get /_kmsim/stats | python3 -c '
import json, sys
s = json.load(sys.stdin)
codes = ("ServiceUnavailableTemporary", "InternalFailure", "Kmsim.Dropped",
         "Kmsim.LostReply", "Rejected.Throttling", "Throttling.User")
print(sum(v for a in s["ByAction"].values() for c, v in a.items()
          if c in codes))') || n=0
  FAULTS_SEEN=$((FAULTS_SEEN + n))
}

restart_kmsim() {
  count_faults
  kill -9 "$KMSIM_PID"
  wait "$KMSIM_PID" 2>/dev/null || true
  rm -f "$TMP/ports"
  "$KM_BIN/kmsim" --state "$STATE" --https-port "$PORT" --seed "$SEED" \
    --port-file "$TMP/ports" >>"$TMP/kmsim.log" 2>&1 &
  KMSIM_PID=$!
  for _ in $(seq 200); do [ -s "$TMP/ports" ] && break; sleep 0.05; done
  [ -s "$TMP/ports" ] || { echo "FAIL: kmsim did not restart"; tail "$TMP/kmsim.log"; exit 1; }
  KMSIM_RESTARTS=$((KMSIM_RESTARTS + 1))
}

# Crash points in the order the run writes them: prepare, migrate,
# restore; n small so each attempt gets a little further and the run is
# not over before the 20th kill.  A seeded shuffle of n within each phase.
POINTS=$(python3 - "$SEED" <<'PY'
import random, sys
r = random.Random(int(sys.argv[1]))
pts = [("rotation_off", r.randint(1, 4)) for _ in range(4)]
pts += [("rotation_off_done", r.randint(1, 3)) for _ in range(3)]
pts += [(r.choice(["task_started", "batch_done"]), 1) for _ in range(6)]
pts += [("rotation_restored", r.randint(1, 3)) for _ in range(7)]
print(" ".join("%s:%d" % p for p in pts))
PY
)
KILLS=0 ATTEMPTS=0 KMSIM_RESTARTS=0
for point in $POINTS; do
  ATTEMPTS=$((ATTEMPTS + 1))
  rc=0
  if [ "$ATTEMPTS" -eq 5 ] || [ "$ATTEMPTS" -eq 12 ]; then
    # kmsim dies under a running kmsmig, and comes back with its state
    KMSMIG_TEST_CRASH_AFTER=$point "$KM_BIN/kmsmig-faults" run demo.yaml \
      --yes --run-dir run >>run.txt 2>>run.err &
    mig=$!
    sleep 0.7
    restart_kmsim
    wait "$mig" || rc=$?
  else
    KMSMIG_TEST_CRASH_AFTER=$point "$KM_BIN/kmsmig-faults" run demo.yaml \
      --yes --run-dir run >>run.txt 2>>run.err || rc=$?
  fi
  [ "$rc" -eq 137 ] && KILLS=$((KILLS + 1))
  echo "attempt $ATTEMPTS: crash at $point: exit $rc"
  if [ "$ATTEMPTS" -eq 9 ]; then
    # skew: kmsim's clock jumps 2 h, past every STS credential (1 h)
    kmsim_post /_kmsim/clock '{"advance": 7200}' >/dev/null
  fi
  if [ "$ATTEMPTS" -eq 16 ]; then restart_kmsim; fi
done
[ "$KILLS" -ge "$KILLS_WANTED" ] ||
  { echo "FAIL: only $KILLS of $KILLS_WANTED crash points were reached"; tail -30 run.err; exit 1; }

# The last resume, still under faults, must finish the run.
rc=0
"$KM_BIN/kmsmig" run demo.yaml --yes --run-dir run >final.txt 2>>run.err || rc=$?
cat final.txt
count_faults
[ "$rc" -eq 0 ] || { echo "FAIL: final resume exited $rc"; tail -30 run.err; exit 1; }
kmsim_post /_kmsim/faults '{"reset": true}' >/dev/null
kmsim_get /_kmsim/state >after.json
python3 "$KM_SRC/tests/integration/lib/check_state.py" before.json after.json \
  run/report.json --expect-all
python3 - before.json after.json ref.json run/report.json "$KILLS" \
  "$FAULTS_SEEN" "$KMSIM_RESTARTS" <<'PY'
import json, sys
before, after, ref, report = (json.load(open(f)) for f in sys.argv[1:5])
kills, faults, restarts = sys.argv[5:8]

def resources(s):
    out = {}
    for a in s["Accounts"]:
        for region, r in a["Regions"].items():
            for k in r["Keys"]:
                out[("key", a["AccountId"], region, k["KeyId"])] = k
            for x in r["Secrets"]:
                out[("secret", a["AccountId"], region, x["SecretName"])] = x
    return out

def final(x):
    # what an operator checks: where it is, its state, its rotation policy
    rot = x["Rotation"]
    return (x["DKMSInstanceId"], x.get("KeyState"), x["Migrations"],
            rot["Enabled"], rot["Interval"] if rot["Enabled"] else None)

b, a, r = resources(before), resources(after), resources(ref)
lost = sum(1 for i in b if (b[i]["Rotation"]["Enabled"], b[i]["Rotation"]["Interval"])
           != (a[i]["Rotation"]["Enabled"], a[i]["Rotation"]["Interval"]))
seen, twice = {}, 0
for t in after["Tasks"]:
    for x in t["Keys"] + t["Secrets"]:
        k = (t["Account"], t["Region"], x)
        twice += k in seen
        seen[k] = t["TaskId"]
diff = [i for i in r if final(r[i]) != final(a[i])]
for i in diff[:10]:
    print("DIFF %s: uninterrupted %s, chaos %s" % (i, final(r[i]), final(a[i])))
dflt = lambda s: {(x["AccountId"], reg): v["DefaultKmsInstanceId"]
                  for x in s["Accounts"] for reg, v in x["Regions"].items()}
if dflt(ref) != dflt(after):
    diff.append("default instances")
    print("DIFF default instances: %s vs %s" % (dflt(ref), dflt(after)))
equal = not diff
print("chaos: kills %s, kmsim restarts %s, faults %s, resources %d, lost %d, "
      "twice %d, equal %s" % (kills, restarts, faults, len(a), lost, twice,
                              "yes" if equal else "no"))
sys.exit(0 if equal and lost == 0 and twice == 0 else 1)
PY
echo "chaos: ok"
