#!/usr/bin/env bash
# A 30 s outage of every cloud endpoint in the middle of a run (issue 13)
# fails nothing: once the run is in MIGRATE (the first migration task has
# started: rotation is off, restore and verify are still to come), kmsim
# answers every cloud request for 30 s with a 503 (POST /_kmsim/faults
# {"outage_s": 30, "outage_mode": "503"}).  A connection closed without an
# answer (a lost answer to CreateResourceShare) is share_lost_reply.sh's
# case: the share stage looks the share up by name within the run.
# Retries are bounded by each call's deadline (300 s), not by a
# count, so the run waits the outage out: exit 0, 0 failed resources, every
# rotation policy back as it was, and the retrying said once per account,
# not once per attempt.  Before deadline-bound retries (5 attempts, 1-3 s)
# the same outage failed every account in flight.
# Takes the demo's time plus the outage: about 45 s.
. "$(dirname "$0")/lib/kmsim.sh"
OUTAGE_S=30
start_kmsim "$KM_SRC/sim/fixtures/demo.yaml"
demo_manifest "$KM_SRC/manifests/demo.yaml" "$TMP/demo.yaml"
demo_env
cd "$TMP"
kmsim_get /_kmsim/state >before.json
kmsim_post /_kmsim/faults '{"task_seconds": 1}' >/dev/null

t0=$(date +%s)
rc=0
"$KM_BIN/kmsmig" run demo.yaml --yes --run-dir run >run.txt 2>run.err &
mig=$!
# The outage starts when the journal says a migration task has started.
started=no
for _ in $(seq 600); do
  if grep -q '"type":"task_started"' run/journal.jsonl 2>/dev/null; then
    kmsim_post /_kmsim/faults \
      '{"outage_s": '$OUTAGE_S', "outage_mode": "503"}' >/dev/null
    started=yes
    break
  fi
  kill -0 "$mig" 2>/dev/null || break
  sleep 0.1
done
t_out=$(date +%s)
wait "$mig" || rc=$?
t1=$(date +%s)
cat run.txt
[ "$started" = yes ] || { echo "FAIL: the run never reached MIGRATE (exit $rc)"; tail -20 run.err; exit 1; }

kmsim_get /_kmsim/stats >stats.json
read -r refused dropped <<<"$(python3 - stats.json <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))["ByAction"]
n = lambda code: sum(v.get(code, 0) for v in s.values())
print(n("ServiceUnavailableTemporary"), n("Kmsim.Outage"))
PY
)"
notes=$(grep -c "has been retried for" run.err || true)
accounts=$(grep -c '^  - name:' demo.yaml || true)
echo "outage: ${OUTAGE_S} s from $((t_out - t0)) s into the run; answered" \
  "503 $refused times, connection closed $dropped times; run took" \
  "$((t1 - t0)) s, exit $rc; 'retried for long' lines: $notes" \
  "(accounts: $accounts)"
grep "has been retried for" run.err | head -5

[ "$rc" -eq 0 ] || { echo "FAIL: run exited $rc"; tail -30 run.err; exit 1; }
# The outage did hit the run, and the run outlasted it.
[ "$refused" -gt 0 ] ||
  { echo "FAIL: the outage answered no call"; exit 1; }
[ $((t1 - t_out)) -ge "$OUTAGE_S" ] ||
  { echo "FAIL: the run ended before the outage did"; exit 1; }
# Nothing failed: the summary an operator reads, then the report and the
# cloud itself (policies restored, every selected resource migrated).
grep -qE '^  accounts +[0-9]+ ok +0 failed' run.txt || { echo "FAIL: accounts failed"; exit 1; }
grep -qE '^  keys .* 0 failed' run.txt || { echo "FAIL: keys failed"; exit 1; }
grep -qE '^  secrets .* 0 failed' run.txt || { echo "FAIL: secrets failed"; exit 1; }
kmsim_get /_kmsim/state >after.json
python3 "$KM_SRC/tests/integration/lib/check_state.py" before.json after.json \
  run/report.json --expect-all
# Said once per account that was retried for long, not once per attempt.
[ "$notes" -ge 1 ] && [ "$notes" -le "$accounts" ] ||
  { echo "FAIL: $notes 'retried for long' lines for $accounts accounts"; exit 1; }
echo "outage: ok"
