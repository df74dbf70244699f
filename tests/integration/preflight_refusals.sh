#!/usr/bin/env bash
# What refuses a batch is found before any side effect (docs/rules.md):
# - a Disconnected instance: the plan shows the pipelines blocked with the
#   fix and exits 3; a run leaves that region untouched (no rotation
#   change, nothing migrated) while the other region migrates;
# - a migration task already in the console (created here through kmsim's
#   console, scheduled for later): the plan names it and exits 3; the run
#   changes nothing in that account and region (rotation untouched, still
#   one task);
# - a member outside the owner's resource directory: the plan names the
#   sharing rule (and asks to confirm the enterprise, which no API shows),
#   the run neither shares with it nor touches its rotation;
# - an image_version the manifest got wrong (the console shows another):
#   every pipeline of the instance is blocked before anything changes.
. "$(dirname "$0")/lib/kmsim.sh"
CA="$KM_SRC/sim/tls/ca.pem"
fail() { echo "FAIL: $*" >&2; exit 1; }
demo_env
cd "$TMP"

# The rotation policies and homes of one account and region, as a line.
snapshot() { # STATEFILE ACCOUNT_ID REGION
  python3 - "$@" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
a = [a for a in s["Accounts"] if a["AccountId"] == sys.argv[2]][0]
r = a["Regions"][sys.argv[3]]
rows = [(k["KeyId"], json.dumps(k.get("Rotation"), sort_keys=True),
         k.get("DKMSInstanceId")) for k in r["Keys"]]
rows += [(x["SecretName"], json.dumps(x.get("Rotation"), sort_keys=True),
          x.get("DKMSInstanceId")) for x in r["Secrets"]]
print(json.dumps(sorted(rows, key=str)))
PY
}
tasks() { # ACCOUNT_ID: the number of console tasks in cn-hangzhou
  curl -sS --fail --cacert "$CA" -H "X-Kmsim-Account: $1" \
    --resolve "kms.cn-hangzhou.aliyuncs.com:$KMSIM_PORT:127.0.0.1" \
    "https://kms.cn-hangzhou.aliyuncs.com:$KMSIM_PORT/_kmsim/console/tasks" |
    python3 -c 'import json,sys; print(len(json.load(sys.stdin)["Tasks"]))'
}
MGMT=1000000000000001

# ---- 1. a Disconnected instance ----
python3 - "$KM_SRC/sim/fixtures/demo.yaml" disc.yaml <<'PY'
import sys
s = open(sys.argv[1]).read()
a = '            type: software\n            image_version: "2.9.3"'
assert a in s
s = s.replace(a, '            type: software\n            status: Disconnected\n'
              '            image_version: "2.9.3"', 1)
open(sys.argv[2], "w").write(s)
PY
start_kmsim disc.yaml
demo_manifest "$KM_SRC/manifests/demo.yaml" m.yaml
kmsim_get /_kmsim/state >disc-before.json
rc=0
"$KM_BIN/kmsmig" plan m.yaml >disc-plan.txt 2>&1 || rc=$?
[ "$rc" = 3 ] || fail "Disconnected: plan exit $rc, want 3: $(cat disc-plan.txt)"
grep -q "instance kst-hzz6500a1b2c3d4e5f6 is Disconnected, not Connected; enable it in the console, then plan again" disc-plan.txt ||
  fail "Disconnected: plan does not name the state and the fix: $(cat disc-plan.txt)"
grep -Eq "^mgmt +cn-hangzhou .*blocked" disc-plan.txt ||
  fail "Disconnected: mgmt cn-hangzhou is not shown blocked"
grep -q "nothing to do" disc-plan.txt && fail "Disconnected: a row reads 'nothing to do'"
grep -q "GetKmsInstanceQuotaInfos: Forbidden" disc-plan.txt &&
  fail "Disconnected: the raw quota error is shown as a failure"
rc=0
"$KM_BIN/kmsmig" run m.yaml --yes --run-dir run-disc >disc-run.txt 2>&1 || rc=$?
kmsim_get /_kmsim/state >disc-after.json
for acct in 1000000000000001 1000000000000002 1000000000000003; do
  [ "$(snapshot disc-before.json $acct cn-hangzhou)" = "$(snapshot disc-after.json $acct cn-hangzhou)" ] ||
    fail "Disconnected: the run changed account $acct in cn-hangzhou"
done
[ "$(snapshot disc-before.json $MGMT cn-shanghai)" != "$(snapshot disc-after.json $MGMT cn-shanghai)" ] ||
  fail "Disconnected: the healthy region did not migrate: $(tail -8 disc-run.txt)"
[ "$(tasks $MGMT)" = 0 ] || fail "Disconnected: a task was submitted in cn-hangzhou"
kill "$KMSIM_PID"; wait "$KMSIM_PID" 2>/dev/null || true; KMSIM_PID=; rm -f "$TMP/ports"

# ---- 2. a task already in the console ----
start_kmsim "$KM_SRC/sim/fixtures/demo.yaml"
demo_manifest "$KM_SRC/manifests/demo.yaml" m.yaml
kmsim_get /_kmsim/state >task-before.json
KEY=$(python3 - task-before.json <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
a = [a for a in s["Accounts"] if a["AccountId"] == "1000000000000001"][0]
print([k["KeyId"] for k in a["Regions"]["cn-hangzhou"]["Keys"]
       if k.get("State", k.get("KeyState")) == "Enabled" and k.get("CreatorType", "User") == "User"
       and not (k.get("Rotation") or {}).get("Enabled") and len(k.get("Versions", [1])) == 1
       and not k.get("DKMSInstanceId") and k.get("Origin", "Aliyun_KMS") == "Aliyun_KMS"][0])
PY
)
curl -sS --fail --cacert "$CA" -H "X-Kmsim-Account: $MGMT" -H 'Content-Type: application/json' \
  --resolve "kms.cn-hangzhou.aliyuncs.com:$KMSIM_PORT:127.0.0.1" \
  -d "{\"ClientToken\":\"operator-by-hand\",\"InstanceId\":\"kst-hzz6500a1b2c3d4e5f6\",\"InstanceType\":\"software\",\"SetAsDefault\":false,\"Schedule\":\"2099-01-01T00:00:00Z\",\"Resources\":{\"Keys\":[\"$KEY\"]}}" \
  "https://kms.cn-hangzhou.aliyuncs.com:$KMSIM_PORT/_kmsim/console/migrate" >task.json ||
  fail "could not create the console task"
TASK=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["TaskId"])' task.json)
kmsim_get /_kmsim/state >task-before.json
rc=0
"$KM_BIN/kmsmig" plan m.yaml >task-plan.txt 2>&1 || rc=$?
[ "$rc" = 3 ] || fail "task: plan exit $rc, want 3: $(cat task-plan.txt)"
grep -q "migration task $TASK (Scheduled) is already in the console of account mgmt in cn-hangzhou" task-plan.txt ||
  fail "task: the plan does not name the console task: $(cat task-plan.txt)"
grep -Eq "^mgmt +cn-hangzhou .*blocked" task-plan.txt || fail "task: mgmt cn-hangzhou not blocked"
grep -Eq "^app-a +cn-hangzhou .*ready" task-plan.txt || fail "task: another account was blocked too"
"$KM_BIN/kmsmig" plan -o json m.yaml >task-plan.json 2>/dev/null || true
python3 - task-plan.json <<'PY' || fail "task: the plan JSON has no instance.task_in_region issue"
import json, sys
p = json.load(open(sys.argv[1]))
text = json.dumps([x for x in p["pipelines"] if x["account"] == "mgmt" and x["region"] == "cn-hangzhou"])
assert "instance.task_in_region" in text, text[:2000]
PY
# The console driver cannot read the task list (no API): the plan asks the
# operator to confirm it instead of claiming the region is free.
sed 's/driver: sim /driver: console /' m.yaml >console.yaml
grep -q "driver: console" console.yaml || fail "console.yaml"
rc=0
"$KM_BIN/kmsmig" plan console.yaml >console-plan.txt 2>&1 || rc=$?
grep -q "confirm before \`kmsmig run\`: no API shows the console's migration tasks, so check that the Migration Tool of account mgmt in cn-hangzhou shows no task running or scheduled" console-plan.txt ||
  fail "console driver: no task confirmation in the plan: $(cat console-plan.txt)"
rc=0
"$KM_BIN/kmsmig" run m.yaml --yes --run-dir run-task >task-run.txt 2>&1 || rc=$?
kmsim_get /_kmsim/state >task-after.json
[ "$(snapshot task-before.json $MGMT cn-hangzhou)" = "$(snapshot task-after.json $MGMT cn-hangzhou)" ] ||
  fail "task: the run changed mgmt cn-hangzhou (rotation or homes)"
[ "$(tasks $MGMT)" = 1 ] || fail "task: the run submitted a second task ($(tasks $MGMT) tasks)"
grep -q "is already in the console" run-task/kmsmig.log 2>/dev/null || grep -q "is already in the console" task-run.txt ||
  fail "task: the run does not say why mgmt cn-hangzhou was refused: $(tail -12 task-run.txt)"
kill "$KMSIM_PID"; wait "$KMSIM_PID" 2>/dev/null || true; KMSIM_PID=; rm -f "$TMP/ports"

# ---- 3. a member outside the owner's resource directory ----
python3 - "$KM_SRC/sim/fixtures/demo.yaml" nodir.yaml <<'PY'
import sys
s = open(sys.argv[1]).read()
a = "    name: app-b\n    directory: rd-demo0001\n    folder: fd-demoapps\n"
assert a in s
# Still reachable from mgmt (a trusted role), but in no resource directory.
s = s.replace(a, "    name: app-b\n    roles: [{name: ResourceDirectoryAccountAccessRole, trusted: [mgmt]}]\n", 1)
open(sys.argv[2], "w").write(s)
PY
start_kmsim nodir.yaml
demo_manifest "$KM_SRC/manifests/demo.yaml" m.yaml
kmsim_get /_kmsim/state >nodir-before.json
rc=0
"$KM_BIN/kmsmig" plan m.yaml >nodir-plan.txt 2>&1 || rc=$?
[ "$rc" = 3 ] || fail "directory: plan exit $rc, want 3: $(cat nodir-plan.txt)"
grep -q "instance kst-hzz6500a1b2c3d4e5f6 cannot be shared with account app-b: the owner mgmt is in resource directory rd-demo0001 and app-b in none" nodir-plan.txt ||
  fail "directory: the plan does not name the directory rule: $(cat nodir-plan.txt)"
grep -Eq "^app-a +cn-hangzhou .*ready" nodir-plan.txt || fail "directory: app-a blocked too"
grep -q "same real-name-verified enterprise" nodir-plan.txt ||
  fail "directory: the plan does not ask to confirm the enterprise"
rc=0
"$KM_BIN/kmsmig" run m.yaml --yes --run-dir run-nodir >nodir-run.txt 2>&1 || rc=$?
kmsim_get /_kmsim/state >nodir-after.json
for region in cn-hangzhou cn-shanghai; do
  [ "$(snapshot nodir-before.json 1000000000000003 $region)" = "$(snapshot nodir-after.json 1000000000000003 $region)" ] ||
    fail "directory: the run changed app-b in $region"
done
kmsim_get /_kmsim/shares | python3 -c '
import json, sys
s = json.load(sys.stdin)
bad = [a for a in s["Associations"] if a.get("AssociationType") == "Target" and a.get("EntityId") == "1000000000000003"]
assert not bad, bad' || fail "directory: the run tried to share with app-b"
kill "$KMSIM_PID"; wait "$KMSIM_PID" 2>/dev/null || true; KMSIM_PID=; rm -f "$TMP/ports"

# ---- 4. an image version the manifest got wrong ----
python3 - "$KM_SRC/sim/fixtures/demo.yaml" oldimg.yaml <<'PY'
import sys
s = open(sys.argv[1]).read()
a = '            type: software\n            image_version: "2.9.3"'
assert a in s
s = s.replace(a, '            type: software\n            image_version: "2.8.0"', 1)
open(sys.argv[2], "w").write(s)
PY
start_kmsim oldimg.yaml
demo_manifest "$KM_SRC/manifests/demo.yaml" m.yaml   # still says 2.9.3
kmsim_get /_kmsim/state >img-before.json
rc=0
"$KM_BIN/kmsmig" plan m.yaml >img-plan.txt 2>&1 || rc=$?
[ "$rc" = 3 ] || fail "image: plan exit $rc, want 3: $(cat img-plan.txt)"
grep -q "the console shows image version 2.8.0 for kst-hzz6500a1b2c3d4e5f6, but instances.cn-hangzhou.image_version says 2.9.3" img-plan.txt ||
  fail "image: the plan does not name the console's image version: $(cat img-plan.txt)"
for a in mgmt app-a app-b; do
  grep -Eq "^$a +cn-hangzhou .*blocked" img-plan.txt || fail "image: $a cn-hangzhou not blocked"
done
rc=0
"$KM_BIN/kmsmig" run m.yaml --yes --run-dir run-img >img-run.txt 2>&1 || rc=$?
kmsim_get /_kmsim/state >img-after.json
for acct in 1000000000000001 1000000000000002 1000000000000003; do
  [ "$(snapshot img-before.json $acct cn-hangzhou)" = "$(snapshot img-after.json $acct cn-hangzhou)" ] ||
    fail "image: the run changed account $acct in cn-hangzhou"
done
echo "preflight_refusals: ok"
