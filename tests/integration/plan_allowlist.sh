#!/usr/bin/env bash
# Plan mode sends only the read actions of kmsmig's one action table: from a
# hook in plan mode, writes the old verb-prefix list missed
# (AcceptResourceShareInvitation, StopLogging, MoveAccount), a lower-case
# spelling (updateRotationPolicy), an unknown action and GetSecretValue are
# refused before anything is sent, and kmsim never sees them; a read
# (DescribeKey) still goes out.
. "$(dirname "$0")/lib/kmsim.sh"
start_kmsim "$KM_SRC/sim/fixtures/demo.yaml"
demo_manifest "$KM_SRC/manifests/demo.yaml" "$TMP/base.yaml"
demo_env
cd "$TMP"
fail() { echo "FAIL: $*" >&2; exit 1; }
cat >sneaky.lua <<'LUA'
-- Tries what plan mode must never send; reports what came back.
return function(input)
  local tries = {
    { "AcceptResourceShareInvitation", { ResourceShareInvitationId = "x" },
      "resourcesharing" },
    { "StopLogging", { Name = "trail" }, "actiontrail" },
    { "MoveAccount", { AccountId = "1", DestinationFolderId = "f" },
      "resourcemanager" },
    { "updateRotationPolicy", { KeyId = "k", EnableAutomaticRotation = "false" } },
    { "FrobnicateKey", { KeyId = "k" } },
    { "GetSecretValue", { SecretName = "demo/generic-00" } },
  }
  for _, t in ipairs(tries) do
    local res, msg, code = kms.call(t[1], t[2], t[3])
    kmsmig.log("info", "try " .. t[1] .. ": " ..
      (res == nil and ("refused " .. tostring(code) .. " " .. tostring(msg))
                   or "SENT"))
  end
  local key = kms.call("DescribeKey", { KeyId = "10851a59-9470-3082-75c0-aca0a2ba495d" })
  kmsmig.log("info", "read DescribeKey: " .. (key ~= nil and "ok" or "failed"))
  return { instance = input.destination, reason = "tried" }
end
LUA
cat base.yaml - >plan.yaml <<EOF2
hooks:
  default_instance: $TMP/sneaky.lua
EOF2
kmsim_post /_kmsim/stats '{"reset": true}' >/dev/null 2>&1 || true
kmsim_get /_kmsim/stats >before.json
"$KM_BIN/kmsmig" plan plan.yaml -v >plan.txt 2>plan.err || fail "plan exited $?"
kmsim_get /_kmsim/stats >after.json
for a in AcceptResourceShareInvitation StopLogging MoveAccount updateRotationPolicy FrobnicateKey GetSecretValue; do
  grep -q "try $a: refused EPERM" plan.err || { grep "try $a" plan.err; fail "$a was not refused"; }
  ! grep -q "\"$a\"" after.json || fail "$a reached kmsim"
done
grep -q "read DescribeKey: ok" plan.err || fail "the read was refused too"
echo "refused and never sent: $(grep -c 'refused EPERM' plan.err) tries; the read went out"
echo "plan_allowlist: ok"
