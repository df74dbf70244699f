#!/usr/bin/env bash
# A selection that is missing, empty or unparsable migrates nothing and says
# why (fail closed): no `select:` at all, `select: {}`, and `select.keys`
# left out each plan zero changes with the reason on every pipeline, and a
# run changes nothing in the cloud; a garbled value is a manifest error
# (exit 2, file:line:col) before any call.
. "$(dirname "$0")/lib/kmsim.sh"
start_kmsim "$KM_SRC/sim/fixtures/demo.yaml"
demo_manifest "$KM_SRC/manifests/demo.yaml" "$TMP/base.yaml"
demo_env
cd "$TMP"
fail() { echo "FAIL: $*" >&2; exit 1; }

python3 - base.yaml <<'PY'
import re, sys
s = open(sys.argv[1]).read()
sel = re.search(r"\nselect:\n(  .*\n)+", s).group(0)
open("none.yaml", "w").write(s.replace(sel, "\n"))
open("empty.yaml", "w").write(s.replace(sel, "\nselect: {}\n"))
open("nokeys.yaml", "w").write(s.replace(sel, "\nselect:\n  secrets: all-pending\n"))
open("garbled.yaml", "w").write(s.replace(sel, "\nselect:\n  keys: all-pendng\n  secrets: all-pending\n"))
PY

for m in none empty; do
  rc=0
  "$KM_BIN/kmsmig" plan $m.yaml >$m.txt 2>&1 || rc=$?
  grep -q "keys not selected because select.keys is not set" $m.txt ||
    fail "$m: plan does not say why no key moves: $(cat $m.txt)"
  grep -q "secrets\? not selected because select.secrets is not set" $m.txt ||
    fail "$m: plan does not say why no secret moves"
  grep -q "Nothing to migrate" $m.txt || fail "$m: plan would change something"
  "$KM_BIN/kmsmig" plan -o json $m.yaml >$m.json 2>/dev/null || true
  python3 - $m.json <<'PY' || fail "$m: a resource is pending in the plan JSON"
import json, sys
plan = json.load(open(sys.argv[1]))
ps = plan["pipelines"]
moving = [(p["account"], p["region"], kind) for p in ps
          for kind in ("keys", "secrets")
          if p[kind].get("pending", 0) or p[kind].get("needs_byok", 0)]
assert not moving, moving
assert all(not p["batches"] for p in ps), "a batch is planned"
rules = {r.get("rule") for p in ps for r in p["resources"]}
assert "key.selection_unset" in rules, rules
assert "secret.selection_unset" in rules, rules
PY
done

# select.keys left out: secrets whose keys are not selected are held back,
# no key moves; the others still do.
"$KM_BIN/kmsmig" plan nokeys.yaml >nokeys.txt 2>&1 || true
grep -q "keys not selected because select.keys is not set" nokeys.txt ||
  fail "nokeys: no reason for the keys"

# The run changes nothing: every key still outside any instance.
before=$(kmsim_get /_kmsim/state | python3 -c 'import json,sys; s=json.load(sys.stdin); print(sum(1 for a in s["Accounts"] for r in a["Regions"].values() for k in r["Keys"] if k.get("DKMSInstanceId")))')
rc=0
"$KM_BIN/kmsmig" run none.yaml --yes --run-dir run-none >run.txt 2>&1 || rc=$?
after=$(kmsim_get /_kmsim/state | python3 -c 'import json,sys; s=json.load(sys.stdin); print(sum(1 for a in s["Accounts"] for r in a["Regions"].values() for k in r["Keys"] if k.get("DKMSInstanceId")))')
[ "$before" = "$after" ] || fail "run without select moved keys ($before -> $after)"
grep -q "keys       0 migrated" run.txt || fail "run summary: $(tail -8 run.txt)"

# Unparsable: a manifest error, nothing called.
rc=0
"$KM_BIN/kmsmig" validate garbled.yaml >garbled.txt 2>&1 || rc=$?
[ "$rc" = 2 ] || fail "garbled select: validate exit $rc, want 2"
grep -q "garbled.yaml:[0-9]*:[0-9]*: error: .*select.keys" garbled.txt ||
  fail "garbled select: no file:line:col error: $(cat garbled.txt)"
rc=0
"$KM_BIN/kmsmig" plan garbled.yaml >garbled-plan.txt 2>&1 || rc=$?
[ "$rc" = 2 ] || fail "garbled select: plan exit $rc, want 2"
echo "select_fail_closed: ok"
