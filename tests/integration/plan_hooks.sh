#!/usr/bin/env bash
# Plan mode runs every hook read-only and shows each decision (docs/hooks.md):
# the rotation, before_batch and post_check decisions of the operator's
# hooks are in the plan's text and JSON; each hook also tries a write
# action, which plan mode refuses (kmsim's request stats show no write
# action at all).  Then a run with the same before_batch freeze: the frozen
# account's batches are skipped before PREPARE, so its rotation policies
# are never touched.
. "$(dirname "$0")/lib/kmsim.sh"
fail() { echo "FAIL: $*" >&2; exit 1; }
start_kmsim "$KM_SRC/sim/fixtures/demo.yaml"
demo_manifest "$KM_SRC/manifests/demo.yaml" "$TMP/base.yaml"
demo_env
cd "$TMP"

cat >rotation.lua <<'LUA'
-- Secrets keep their rotation (the operator's choice); keys go off.  The
-- write below must be refused in plan mode.
return function(input)
  if kmsmig.mode() == "plan" then
    local ok, msg, code = kms.call("UpdateRotationPolicy",
      { KeyId = input.id, EnableAutomaticRotation = "false" })
    if ok ~= nil or code ~= "EPERM" then error("write not refused: " .. tostring(code)) end
  end
  if input.kind == "secret" and input.phase == "before" then
    return { change = false }
  end
  return require("rotation")(input)
end
LUA
cat >freeze.lua <<'LUA'
-- A change freeze for app-b.
return function(input)
  if kmsmig.mode() == "plan" then
    local ok, msg, code = kms.call("CreateKey", { Description = "x" })
    if ok ~= nil or code ~= "EPERM" then error("write not refused: " .. tostring(code)) end
  end
  if kmsmig.account() == "app-b" then
    return { accept = false, reason = "change freeze for app-b until Friday" }
  end
  return { accept = true }
end
LUA
cat >post_tags.lua <<'LUA'
-- Fails for mgmt: its keys would arrive without a team tag.
return function(input)
  local ok, msg, code = kms.call("TagResource",
    { KeyId = "x", Tags = '[{"TagKey":"a","TagValue":"b"}]' })
  if kmsmig.mode() == "plan" and (ok ~= nil or code ~= "EPERM") then
    error("write not refused: " .. tostring(code))
  end
  if kmsmig.account() == "mgmt" then
    return { passed = false,
             messages = { string.format("%d keys would lack a team tag", #input.keys) } }
  end
  return { passed = true, messages = kmsmig.array() }
end
LUA
cat base.yaml - >hooks.yaml <<EOF
hooks:
  rotation: $TMP/rotation.lua
  before_batch: $TMP/freeze.lua
  post_check: [$TMP/post_tags.lua]
EOF

curl -sS --fail --cacert "$KM_SRC/sim/tls/ca.pem" -X DELETE \
  --resolve "kms.cn-hangzhou.aliyuncs.com:$KMSIM_PORT:127.0.0.1" \
  "https://kms.cn-hangzhou.aliyuncs.com:$KMSIM_PORT/_kmsim/stats" >/dev/null
rc=0
"$KM_BIN/kmsmig" plan hooks.yaml >plan.txt 2>&1 || rc=$?
[ "$rc" = 0 ] || fail "plan exit $rc: $(cat plan.txt)"
"$KM_BIN/kmsmig" plan -o json hooks.yaml >plan.json 2>plan-json.err ||
  fail "plan -o json: $(cat plan-json.err)"
kmsim_get /_kmsim/stats >stats.json

grep -q "app-b cn-shanghai: before_batch accepts 0 of 1 batch; refuses batch 1 (4 keys, 2 secrets): change freeze for app-b until Friday" plan.txt ||
  fail "no before_batch decision in the plan: $(sed -n '/^hooks/,$p' plan.txt)"
grep -q "mgmt cn-hangzhou: before_batch accepts 2 of 2 batches" plan.txt || fail "no accepted batch shown"
grep -q "mgmt cn-hangzhou: rotation off for [1-9][0-9]* before the migration" plan.txt ||
  fail "no rotation decision (off) in the plan"
# (app-a's rds-shh, rotating every 12 h, is blocked by secret.rotation_unrestorable:
# the hook keeps mgmt's managed secrets on.)
grep -q "mgmt cn-hangzhou: rotation off for [0-9]* before the migration (the journalled policy restored after it), kept on for [1-9] (the console refuses to migrate these until it is off): .*secret demo/rds-" plan.txt ||
  fail "no rotation decision (kept on) in the plan"
grep -q "mgmt cn-hangzhou: rotation off .*; post_check on what would migrate fails: post_tags.lua: [0-9]* keys would lack a team tag" plan.txt ||
  fail "no post_check decision in the plan: $(grep post_check plan.txt)"
grep -q "app-a cn-hangzhou: rotation off .*; post_check on what would migrate passes" plan.txt ||
  fail "no passing post_check in the plan"
# The frozen account's resources are skipped with the hook's reason.
grep -q "app-b cn-shanghai .*the before_batch hook refused its batch: change freeze" plan.txt ||
  fail "frozen resources not shown skipped"

python3 - plan.json stats.json <<'PY' || fail "plan JSON or stats"
import json, sys
plan, stats = (json.load(open(f)) for f in sys.argv[1:3])
notes = plan["notes"]
for want in ("app-b cn-shanghai: before_batch accepts 0 of 1 batch; refuses batch 1",
             "mgmt cn-hangzhou: rotation off for",
             "kept on for",
             "post_check on what would migrate fails"):
    assert any(want in n for n in notes), (want, notes)
writes = ("Update", "Create", "Delete", "Enable", "Disable", "Tag", "Untag",
          "Associate", "Disassociate", "Import", "Set", "Cancel", "Schedule",
          "Put", "Rotate")
actions = stats["ByAction"].keys()
assert actions, "kmsim saw no request at all"
bad = [a for a in actions if a.split(".", 1)[-1].startswith(writes)]
assert not bad, "plan sent write actions: %s" % bad
PY

# The run: the freeze skips app-b before PREPARE.
cat base.yaml - >freeze.yaml <<EOF
hooks:
  before_batch: $TMP/freeze.lua
EOF
kmsim_get /_kmsim/state >before.json
rc=0
"$KM_BIN/kmsmig" run freeze.yaml --yes --run-dir run >run.txt 2>&1 || rc=$?
kmsim_get /_kmsim/state >after.json
python3 - before.json after.json <<'PY' || fail "run: $(tail -8 run.txt)"
import json, sys
b, a = (json.load(open(f)) for f in sys.argv[1:3])
def res(s, acct):
    x = [x for x in s["Accounts"] if x["AccountId"] == acct][0]
    return {(g, k["KeyId"]): (k.get("Rotation"), k.get("DKMSInstanceId"))
            for g, r in x["Regions"].items() for k in r["Keys"]} | \
           {(g, s["SecretName"]): (s.get("Rotation"), s.get("DKMSInstanceId"))
            for g, r in x["Regions"].items() for s in r["Secrets"]}
assert res(b, "1000000000000003") == res(a, "1000000000000003"), "app-b changed"
moved = [k for k, v in res(a, "1000000000000002").items() if v[1]]
assert moved, "app-a did not migrate"
PY
echo "plan_hooks: ok"
