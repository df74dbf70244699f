#!/usr/bin/env bash
# SIGTERM while the migration is scheduled three hours ahead (migrate.when,
# default rotation_lead 10m), with the console driver and with the sim
# driver: kmsmig stops within seconds with exit 4 (interrupted, resumable), nothing was turned off or submitted (kmsim's
# rotation state equals the one before, no console task), and the worklist
# and `kmsmig status` say when to come back (when - 10 minutes, in local
# time and UTC+8).
. "$(dirname "$0")/lib/kmsim.sh"
start_kmsim "$KM_SRC/sim/fixtures/demo.yaml"
demo_manifest "$KM_SRC/manifests/demo.yaml" "$TMP/demo.yaml"
demo_env
cd "$TMP"
WHEN=$(date -u -d '+3 hours' +%Y-%m-%dT%H:%M:%SZ)
sed -i "s/when: now/when: \"$WHEN\"/" demo.yaml
grep -q "when: \"$WHEN\"" demo.yaml
sed "s/driver: sim .*/driver: console/" demo.yaml >console.yaml
cp demo.yaml sim.yaml
kmsim_get /_kmsim/state >before.json
for DRIVER in console sim; do
echo "== driver $DRIVER"
fail() { echo "FAIL: $*"; tail -30 $DRIVER.out $DRIVER.err 2>/dev/null; exit 1; }

"$KM_BIN/kmsmig" run $DRIVER.yaml --yes --run-dir $DRIVER >$DRIVER.out 2>$DRIVER.err &
PID=$!
# Every pipeline waits for the rotation lead: six scheduled items.
for _ in $(seq 300); do
  n=$(python3 -c 'import json, sys
try: print(sum(i["state"] == "scheduled" for i in json.load(open(sys.argv[1] + "/worklist.json"))["items"]))
except Exception: print(0)' "$DRIVER")
  [ "$n" -ge 6 ] && break
  kill -0 $PID 2>/dev/null || fail "kmsmig ended before waiting"
  sleep 0.1
done
[ "$n" -ge 6 ] || fail "worklist.json has $n scheduled items, expected 6"
t0=$(date +%s%N)
kill -TERM $PID
rc=0
wait $PID || rc=$?
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
echo "SIGTERM with the migration scheduled at $WHEN: exit $rc after ${ms} ms"
[ "$rc" -eq 4 ] || fail "exit $rc, expected 4 (interrupted)"
# A bound of seconds against the hours the wait would last: not a timing test.
[ "$ms" -lt 20000 ] || fail "stopping took ${ms} ms"
kmsim_get /_kmsim/state >after.json
python3 "$KM_SRC/tests/integration/lib/check_state.py" before.json after.json $DRIVER/report.json
python3 - before.json after.json $DRIVER/worklist.json "$WHEN" <<'PY'
import json, sys, datetime
before, after, wl = (json.load(open(p)) for p in sys.argv[1:4])
when = datetime.datetime.strptime(sys.argv[4], "%Y-%m-%dT%H:%M:%SZ")
assert after["Tasks"] == [], "a console task was submitted: %s" % after["Tasks"]
back = (when - datetime.timedelta(minutes=10)).strftime("%Y-%m-%dT%H:%M:%SZ")
for it in wl["items"]:
    assert it["state"] == "scheduled", it
    assert it["come_back_at"] == back, (it["come_back_at"], back)
print("no task, rotation untouched, every item says come back at %s" % back)
PY
grep -q '"rotation_off"' $DRIVER/journal.jsonl && fail "a rotation_off was journalled"
"$KM_BIN/kmsmig" status $DRIVER >$DRIVER-status.txt
cat $DRIVER-status.txt
grep -q "scheduled: come back at .* UTC+8" $DRIVER-status.txt || fail "status does not say when to come back"
done
echo "worklist_sigterm: ok"
