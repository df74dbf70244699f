#!/usr/bin/env bash
# Every STS token expires mid-run, while migrations are in flight and
# rotation is off (kmsim's /_kmsim/sts knob: what a clock jump or a revoked
# session looks like to the client, whose cache still believes its tokens
# fresh).  The cloud answers InvalidSecurityToken.Expired; kmsmig assumes
# the role again and retries the call, so the run finishes: every movable
# resource migrated and 0 rotations left off.
. "$(dirname "$0")/lib/kmsim.sh"
start_kmsim "$KM_SRC/sim/fixtures/demo.yaml"
demo_manifest "$KM_SRC/manifests/demo.yaml" "$TMP/demo.yaml"
demo_env
cd "$TMP"
kmsim_get /_kmsim/state >before.json
# Slow console tasks: the run is still migrating when the tokens expire.
kmsim_post /_kmsim/faults '{"task_seconds": 4}' >/dev/null
"$KM_BIN/kmsmig" run demo.yaml --yes --run-dir run >run.txt 2>run.err &
RUN_PID=$!
# Wait until a member account (reached only through STS) has a migration
# task, i.e. its rotation is off and its tokens are in use.
for _ in $(seq 600); do
  if kmsim_get /_kmsim/state | python3 -c '
import json, sys
s = json.load(sys.stdin)
sys.exit(0 if any(t["Account"] in ("1000000000000002", "1000000000000003")
                  for t in s["Tasks"]) else 1)'; then
    break
  fi
  kill -0 "$RUN_PID" 2>/dev/null || break
  sleep 0.1
done
kmsim_post /_kmsim/sts '{"expire": "all"}' >sts.json
cat sts.json
python3 -c 'import json,sys; n=json.load(open("sts.json"))["expired_now"]; assert n > 0, "no live token to expire: the run ended first"'
rc=0
wait "$RUN_PID" || rc=$?
cat run.txt
[ "$rc" -eq 0 ] || { echo "FAIL: run exited $rc"; tail -20 run.err; exit 1; }
kmsim_post /_kmsim/faults '{"reset":true}' >/dev/null
kmsim_get /_kmsim/stats >stats.json
python3 - stats.json <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
n = sum(c.get("InvalidSecurityToken.Expired", 0) for c in s["ByAction"].values())
assert n > 0, "kmsim never refused an expired token: the test did not test"
print("InvalidSecurityToken.Expired answers: %d" % n)
PY
grep -q "refused the STS token .*assumed the role again" run/kmsmig.log
grep -q "rotation   [0-9]* turned off, [0-9]* restored exactly, 0 not restored" run.txt
kmsim_get /_kmsim/state >after.json
python3 "$KM_SRC/tests/integration/lib/check_state.py" before.json after.json \
  run/report.json --expect-all
python3 - run/report.json <<'PY'
import json, sys
t = json.load(open(sys.argv[1]))["totals"]
assert t["rotation"]["not_restored"] == 0, t["rotation"]
assert t["rotation"]["turned_off"] == t["rotation"]["restored"] > 0, t["rotation"]
print("rotation: %d turned off, %d restored, 0 left off" %
      (t["rotation"]["turned_off"], t["rotation"]["restored"]))
PY
echo "engine_sts_expiry: ok"
