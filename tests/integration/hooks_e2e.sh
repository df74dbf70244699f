#!/usr/bin/env bash
# Lua hooks end to end against kmsim:
# - a custom default_instance hook keeps a region's existing default (mgmt
#   cn-shanghai has a legacy instance as default): GetDefaultKmsInstance
#   shows the hook's choice after the run, while regions without a default
#   get the destination;
# - a post_check that fails for one account lands in the summary, the report
#   and the exit code (1);
# - in plan mode a hook's write action is refused with a clear message and
#   the plan still shows the hook's decision.
. "$(dirname "$0")/lib/kmsim.sh"
python3 - "$KM_SRC/sim/fixtures/demo.yaml" "$TMP/fixture.yaml" <<'PY'
import sys
s = open(sys.argv[1]).read()
anchor = "            vpc_num: 7\n        keys:\n          - {id: 518f3e74-7089-97dd-ebb5-2158b2d9c447"
assert anchor in s
s = s.replace(anchor, """            vpc_num: 7
          - id: kst-shh65legacy00000000
            name: legacy-shanghai
            type: software
            image_version: "2.9.5"
            auto_renew: true
            spec: 1000
            key_num: 500
            secret_num: 100
            vpc_num: 7
        default_instance: kst-shh65legacy00000000
        keys:
          - {id: 518f3e74-7089-97dd-ebb5-2158b2d9c447""", 1)
open(sys.argv[2], "w").write(s)
PY
start_kmsim "$TMP/fixture.yaml"
demo_manifest "$KM_SRC/manifests/demo.yaml" "$TMP/base.yaml"
demo_env
cd "$TMP"
cat >post_fail.lua <<'LUA'
-- Fails for app-b only, as an operator's check of one account would.
return function(input)
  if kmsmig.account() == "app-b" then
    return { passed = false,
             messages = { "app-b: canary ciphertext did not decrypt" } }
  end
  return { passed = true, messages = kmsmig.array() }
end
LUA
cat >default_writes.lua <<'LUA'
-- Tries a write in plan mode: it must be refused, and the hook goes on.
return function(input)
  local ok, msg = kms.call("UpdateRotationPolicy",
    { KeyId = "key-none", EnableAutomaticRotation = "false" })
  kmsmig.log("info", "write attempt: " .. tostring(msg))
  return { instance = input.destination,
           reason = "write refused: " .. tostring(msg) }
end
LUA
cat base.yaml - >hooks.yaml <<EOF2
hooks:
  default_instance: $KM_SRC/manifests/hooks/default_instance_keep.lua
  post_check: [$TMP/post_fail.lua]
EOF2
cat base.yaml - >plan-hooks.yaml <<EOF2
hooks:
  default_instance: $TMP/default_writes.lua
EOF2
"$KM_BIN/kmsmig" validate hooks.yaml >/dev/null

# Plan mode: the write is refused, the decision is shown, nothing changed.
"$KM_BIN/kmsmig" plan plan-hooks.yaml -v >plan.txt 2>plan.err
grep -q "default_instance chose kst-hzz6500a1b2c3d4e5f6 for mgmt cn-hangzhou" plan.txt
grep -q "refused in plan mode" plan.err
echo "plan: hook decision shown, write refused"

rc=0
"$KM_BIN/kmsmig" run hooks.yaml --yes --run-dir run >run.txt 2>run.err || rc=$?
cat run.txt
[ "$rc" -eq 1 ] || { echo "FAIL: expected exit 1 (post_check), got $rc"; tail run.err; exit 1; }
grep -q "post_check: .*app-b: canary ciphertext did not decrypt" run.txt
kmsim_get /_kmsim/state >after.json
python3 - after.json run/report.json <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
d = {(a["Name"], r): v["DefaultKmsInstanceId"]
     for a in s["Accounts"] for r, v in a["Regions"].items()}
assert d[("mgmt", "cn-shanghai")] == "kst-shh65legacy00000000", d
assert d[("mgmt", "cn-hangzhou")] == "kst-hzz6500a1b2c3d4e5f6", d
assert d[("app-a", "cn-shanghai")] == "kst-shh6500f6e5d4c3b2a1", d
rep = json.load(open(sys.argv[2]))
st = {(p["account"], p["region"]): p["status"] for p in rep["pipelines"]}
assert st[("app-b", "cn-hangzhou")] == "failed", st
assert st[("app-a", "cn-hangzhou")] == "ok", st
print("defaults as the hook chose:", d)
PY
echo "hooks_e2e: ok"
