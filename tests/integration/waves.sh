#!/usr/bin/env bash
# Waves (docs/waves.md), the demo manifests/waves.yaml on kmsim: two
# canary accounts by name, then 50% of the rest, then the rest.  The plan
# (text and JSON) shows which account runs in which wave.  A failure
# injected in wave 1 (kmsim drops every CreateResourceShare: the canaries
# cannot be shared the instance) stops the run at the gate before wave 2:
# exit 6, the exact command to go on, and wave 2's and 3's accounts
# untouched (no migration task, rotation as it was).  After the fault is
# gone: --advance passes one gate (wave 1 retried, wave 2 runs), with no
# terminal the next gate stops; on a terminal it asks ("n" stops);
# --auto-advance passes the clean wave 2 and finishes.  Every decision is
# journalled; a gate passed once is not asked again.
. "$(dirname "$0")/lib/kmsim.sh"
start_kmsim "$KM_SRC/sim/fixtures/waves.yaml"
demo_manifest "$KM_SRC/manifests/waves.yaml" "$TMP/fleet.yaml"
export ALIBABA_CLOUD_ACCESS_KEY_ID=KSIMGEN7AK000000
export ALIBABA_CLOUD_ACCESS_KEY_SECRET=ksim-gen-secret-e19bce068f758fddf09af7d8
unset ALIBABA_CLOUD_SECURITY_TOKEN ALIBABA_CLOUD_PROFILE || true
cd "$TMP"
# Without the gateway observation each wave takes a second, not three (the
# gate reads the observe stage's "act" findings when it runs).
sed -i 's/^signature: v3$/monitor: { enabled: false }\nsignature: v3/' fleet.yaml
grep -q "enabled: false" fleet.yaml
"$KM_BIN/kmsmig" validate fleet.yaml

# The plan shows the waves: canaries named, 50% of the other three is two.
"$KM_BIN/kmsmig" plan fleet.yaml >plan.txt
sed -n '/^waves/,$p' plan.txt
grep -Eq "wave 1 +canary +named +2 accounts: gen7-acct-0001, gen7-acct-0002$" plan.txt ||
  { echo "FAIL: plan does not show the canary wave"; exit 1; }
grep -Eq "wave 2 +half +50% of the rest +2 accounts: gen7-acct-0000, gen7-acct-0003$" plan.txt ||
  { echo "FAIL: plan does not show wave 2"; exit 1; }
grep -Eq "wave 3 +rest +the rest +1 account: gen7-acct-0004$" plan.txt ||
  { echo "FAIL: plan does not show wave 3"; exit 1; }
"$KM_BIN/kmsmig" plan fleet.yaml --output json >plan.json
python3 - plan.json <<'PY'
import json, sys
w = {x["wave"]: x["accounts"] for x in json.load(open(sys.argv[1]))["waves"]}
assert w == {1: ["gen7-acct-0001", "gen7-acct-0002"],
             2: ["gen7-acct-0000", "gen7-acct-0003"],
             3: ["gen7-acct-0004"]}, w
PY

# Wave 1 fails: the instance cannot be shared with the canaries.
kmsim_get /_kmsim/state >before.json
kmsim_post /_kmsim/faults '{"drop_rate":1.0,"actions":["CreateResourceShare"]}' >/dev/null
rc=0
"$KM_BIN/kmsmig" run fleet.yaml --yes --auto-advance --run-dir run >run1.txt 2>run1.err || rc=$?
cat run1.txt
[ "$rc" -eq 6 ] || { echo "FAIL: a failed wave 1 must stop at the gate (exit 6), got $rc"; tail -5 run1.err; exit 1; }
grep -q "STOPPED at the gate after wave 1" run1.txt
# The progress counts the held pipelines as held, not "not started".
grep -Eq "ended: .*, 0 not started, [1-9][0-9]* held at a wave gate" run1.txt run1.err ||
  { echo "FAIL: the progress does not say which pipelines the gate held"; grep -h "ended:" run1.txt run1.err; exit 1; }
grep -q "kmsmig run fleet.yaml --run-dir run --yes --advance" run1.txt ||
  { echo "FAIL: no command to go on"; exit 1; }
grep -q '"type":"wave_gate".*"decision":"stop"' run/journal.jsonl
kmsim_get /_kmsim/state >mid.json
python3 - before.json mid.json run/report.json <<'PY'
import json, sys
a, b, r = (json.load(open(f)) for f in sys.argv[1:4])
ids = {x["Name"]: x["AccountId"] for x in b["Accounts"]}
later = {ids[n] for n in ("gen7-acct-0000", "gen7-acct-0003", "gen7-acct-0004")}
old = {t["TaskId"] for t in a["Tasks"]}
new = [t for t in b["Tasks"] if t["TaskId"] not in old]
assert not [t for t in new if t["Account"] in later], "wave 2/3 migrated"
st = {p["account"]: p["status"] for p in r["pipelines"]}
assert st["gen7-acct-0001"] == "failed" and st["gen7-acct-0002"] == "failed", st
for n in ("gen7-acct-0000", "gen7-acct-0003", "gen7-acct-0004"):
    assert st[n] == "held", st
    p = [p for p in r["pipelines"] if p["account"] == n][0]
    assert p["rotation"]["turned_off"] == 0, p["rotation"]
assert r["waves"]["stopped_after"] == 1, r["waves"]
assert r["totals"]["accounts"]["held"] == 3, r["totals"]
print("wave 1 failed; waves 2 and 3 held, untouched:", st)
PY

python3 - run/report.json "$KM_SRC/docs/report.schema.json" <<'PY'
import json, sys, jsonschema
jsonschema.Draft202012Validator(json.load(open(sys.argv[2]))).validate(json.load(open(sys.argv[1])))
PY

# The fault is gone.  --advance passes one gate (the operator's word,
# journalled): wave 1 is retried, wave 2 runs, and with nobody to confirm
# (no terminal, no --auto-advance) the gate after wave 2 stops.
kmsim_post /_kmsim/faults '{"reset":true}' >/dev/null
rc=0
"$KM_BIN/kmsmig" run fleet.yaml --yes --advance --run-dir run >run2.txt 2>run2.err || rc=$?
[ "$rc" -eq 6 ] || { echo "FAIL: --advance passes one gate only; exit $rc"; tail -5 run2.err; exit 1; }
grep -q "STOPPED at the gate after wave 2: .*nobody confirmed the gate" run2.txt
grep -q '"type":"wave_gate".*"by":"operator".*"decision":"advance"\|"type":"wave_gate".*"decision":"advance".*"by":"operator"' run/journal.jsonl
python3 - run/report.json <<'PY'
import json, sys
st = {p["account"]: p["status"] for p in json.load(open(sys.argv[1]))["pipelines"]}
assert st["gen7-acct-0001"] == st["gen7-acct-0002"] == st["gen7-acct-0000"] == "ok", st
assert st["gen7-acct-0004"] == "held", st
PY

# On a terminal the gate asks; "n" stops there (journalled, exit 6).
rc=0
printf 'n\n' | script -qec "'$KM_BIN/kmsmig' run fleet.yaml --yes --color never --run-dir run" /dev/null >run3.txt 2>&1 || rc=$?
[ "$rc" -eq 6 ] || { echo "FAIL: a refused prompt must stop (exit 6), got $rc"; exit 1; }
grep -q "Start wave 3 (rest)? \[y/N\]" run3.txt ||
  { echo "FAIL: no prompt on a terminal"; tail -20 run3.txt; exit 1; }
grep -q "STOPPED at the gate after wave 2: .*not confirmed" run3.txt
grep -q '"type":"wave_gate".*"decision":"stop".*"by":"prompt"\|"type":"wave_gate".*"by":"prompt".*"decision":"stop"' run/journal.jsonl ||
  { echo "FAIL: the refused prompt is not journalled"; exit 1; }

# --auto-advance: wave 1's gate passed in an earlier sitting (not asked
# again), wave 2 is clean, wave 3 runs.
rc=0
"$KM_BIN/kmsmig" run fleet.yaml --yes --auto-advance --run-dir run >run4.txt 2>run4.err || rc=$?
cat run4.txt
# Exit 1: gen7-acct-0003's secret is blocked by the fixture (its key has
# four versions); everything else migrates.
[ "$rc" -eq 1 ] || { echo "FAIL: the resume exited $rc"; tail -5 run4.err; exit 1; }
grep -c '"type":"wave_gate".*"decision":"advance"' run/journal.jsonl | grep -qx 2 ||
  { echo "FAIL: two gates passed should be journalled once each"; exit 1; }
kmsim_get /_kmsim/state >after.json
python3 - run/report.json <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
st = {p["account"]: p["status"] for p in r["pipelines"]}
assert st.pop("gen7-acct-0003") == "blocked", st
assert set(st.values()) == {"ok"}, st
assert [w["gate"] for w in r["waves"]["waves"]] == ["passed", "passed", "not_reached"], r["waves"]
assert r["waves"]["stopped_after"] is None, r["waves"]
print("resumed: every wave migrated")
PY
python3 "$KM_SRC/tests/integration/lib/check_state.py" before.json after.json \
  run/report.json --expect-all
echo "waves: ok"
