#!/usr/bin/env bash
# SIGTERM while the migration (console driver) is scheduled three hours
# ahead (migrate.when, default rotation_lead 10m): kmsmig stops within seconds with exit 4
# (interrupted, resumable), nothing was turned off or submitted (kmsim's
# rotation state equals the one before, no console task), and the worklist
# and `kmsmig status` say when to come back (when - 10 minutes, in local
# time and UTC+8).
. "$(dirname "$0")/lib/kmsim.sh"
start_kmsim "$KM_SRC/sim/fixtures/demo.yaml"
demo_manifest "$KM_SRC/manifests/demo.yaml" "$TMP/demo.yaml"
demo_env
cd "$TMP"
WHEN=$(date -u -d '+3 hours' +%Y-%m-%dT%H:%M:%SZ)
sed -i "s/when: now/when: \"$WHEN\"/; s/driver: sim .*/driver: console/" demo.yaml
grep -q "when: \"$WHEN\"" demo.yaml
kmsim_get /_kmsim/state >before.json
fail() { echo "FAIL: $*"; tail -30 out.txt err.txt 2>/dev/null; exit 1; }

"$KM_BIN/kmsmig" run demo.yaml --yes --run-dir run >out.txt 2>err.txt &
PID=$!
# Every pipeline waits for the rotation lead: six scheduled items.
for _ in $(seq 300); do
  n=$(python3 -c 'import json
try: print(sum(i["state"] == "scheduled" for i in json.load(open("run/worklist.json"))["items"]))
except Exception: print(0)')
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
python3 "$KM_SRC/tests/integration/lib/check_state.py" before.json after.json run/report.json
python3 - before.json after.json run/worklist.json "$WHEN" <<'PY'
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
grep -q '"rotation_off"' run/journal.jsonl && fail "a rotation_off was journalled"
"$KM_BIN/kmsmig" status run >status.txt
cat status.txt
grep -q "scheduled: come back at .* UTC+8" status.txt || fail "status does not say when to come back"
echo "worklist_sigterm: ok"
