#!/usr/bin/env bash
# The real kmsim binary, driven with curl (emulated console, admin paths) and
# kmsim_load (signed API calls): console refusals with their exact codes, a
# task that holds its resources (Forbidden.ResourceInMigration) until kmsim's
# clock is advanced and then shows DKMSInstanceId and the region's default
# instance, ClientToken idempotency, instance sharing Associated inside the
# resource directory and Failed across enterprises, and CloudMonitor counting
# the calls made.
. "$(dirname "$0")/lib/kmsim.sh"
CA="$KM_SRC/sim/tls/ca.pem"
cat >"$TMP/fx.yaml" <<'EOF'
kmsim: 1
regions: [cn-hangzhou]
console: {seconds_per_resource: "0.02"}
enterprises:
  - {id: ent-a, name: A, verified: true}
  - {id: ent-b, name: B, verified: true}
directories:
  - {id: rd-a, enterprise: ent-a, management: owner}
  - {id: rd-b, enterprise: ent-b, management: stranger}
accounts:
  - id: "1200000000000001"
    name: owner
    directory: rd-a
    access_keys: [{id: KSIMITOWNER00001, secret: itest-owner-secret}]
    regions:
      cn-hangzhou:
        instances:
          - {id: kst-itest1, type: software, image_version: "2.10.1", key_num: 20, secret_num: 20, vpc_num: 5}
          - {id: kst-itold, type: software, image_version: "2.8.0"}
        keys:
          - {id: key-it-1}
          - {id: key-it-2, rotation: {enabled: true, interval: 30d}}
        secrets:
          - {name: sec-it-1, key: key-it-1}
  - id: "1200000000000002"
    name: member
    directory: rd-a
    access_keys: [{id: KSIMITMEMBER0001, secret: itest-member-secret}]
    regions:
      cn-hangzhou:
        keys: [{id: key-it-m1}]
  - id: "1200000000000003"
    name: stranger
    directory: rd-b
    access_keys: [{id: KSIMITSTRANGER01, secret: itest-stranger-secret}]
EOF
OWNER=1200000000000001 MEMBER=1200000000000002 STRANGER=1200000000000003
start_kmsim "$TMP/fx.yaml"

fail() { echo "FAIL: $*"; cat "$TMP/body" 2>/dev/null; echo; exit 1; }

# console METHOD PATH ACCOUNT [JSON]: body to $TMP/body, prints the status
console() {
  local args=(-sS --cacert "$CA" -o "$TMP/body" -w '%{http_code}' -X "$1"
    --resolve "kms.cn-hangzhou.aliyuncs.com:$KMSIM_PORT:127.0.0.1"
    -H "X-Kmsim-Account: $3")
  [ $# -ge 4 ] && args+=(-H 'Content-Type: application/json' --data "$4")
  curl "${args[@]}" "https://kms.cn-hangzhou.aliyuncs.com:$KMSIM_PORT$2"
}
field() { jq -r "$1" "$TMP/body"; }

# signed HOST AK SECRET ACTION VERSION [-p K=V ...]: body to $TMP/body,
# prints the status
signed() {
  local host=$1 ak=$2 sk=$3 action=$4 version=$5
  shift 5
  "$KM_BIN/kmsim_load" call --addr "127.0.0.1:$KMSIM_PORT" --https \
    --cacert "$CA" --host "$host" --ak "$ak" --secret "$sk" \
    --action "$action" --version "$version" "$@" >"$TMP/out"
  sed -n '2,$p' "$TMP/out" >"$TMP/body"
  sed -n '1s/^HTTP //p' "$TMP/out"
}
KMS=kms.cn-hangzhou.aliyuncs.com
owner_kms() { signed $KMS KSIMITOWNER00001 itest-owner-secret "$1" 2016-01-20 "${@:2}"; }

# ---- overview ----
[ "$(console GET /_kmsim/console/overview $OWNER)" = 200 ] || fail overview
[ "$(field .KeysNotMigrated)/$(field .SecretsNotMigrated)/$(field .TaskStatus)" = "2/1/None" ] ||
  fail "overview counts"

# ---- refusals: exact codes, no task ----
expect() { # STATUS CODE JSON [ACCOUNT]
  local st
  st=$(console POST /_kmsim/console/migrate "${4:-$OWNER}" "$3")
  [ "$st" = "$1" ] && [ "$(field .Code)" = "$2" ] || fail "expected $1 $2 for $3, got $st"
}
expect 400 Console.RotationEnabled \
  '{"InstanceId":"kst-itest1","Resources":{"Keys":["key-it-2"]}}'
[ "$(field '.Problems[0].Resource')" = key-it-2 ] || fail "problem names the key"
expect 400 Console.ImageVersionTooOld \
  '{"InstanceId":"kst-itold","Resources":{"Keys":["key-it-1"]}}'
expect 400 Console.KeyNotMigrated \
  '{"InstanceId":"kst-itest1","Resources":{"Secrets":["sec-it-1"]}}'
expect 400 Console.InstanceNotAvailable \
  '{"InstanceId":"kst-itest1","Resources":{"Keys":["key-it-m1"]}}' $MEMBER
[ "$(console GET /_kmsim/console/tasks $OWNER)" = 200 ] || fail tasks
[ "$(field '.Tasks | length')" = 0 ] || fail "a refused submission created a task"

# ---- a task held until the clock moves ----
curl -sS --fail --cacert "$CA" -d '{"task_seconds":600}' \
  "https://127.0.0.1:$KMSIM_PORT/_kmsim/faults" >/dev/null
SUBMIT='{"ClientToken":"it-1","InstanceId":"kst-itest1","InstanceType":"software",
 "SetAsDefault":true,"Schedule":"now",
 "Resources":{"Keys":["key-it-1"],"Secrets":["sec-it-1"]}}'
[ "$(console POST /_kmsim/console/migrate $OWNER "$SUBMIT")" = 200 ] || fail submit
TASK=$(field .TaskId)
[ "$(field .Status)" = Running ] || fail "task not running"
expect 409 Console.TaskRunning \
  '{"ClientToken":"it-2","InstanceId":"kst-itest1","Resources":{"Keys":["key-it-2"]}}'
[ "$(owner_kms UpdateRotationPolicy -p KeyId=key-it-1 -p EnableAutomaticRotation=false)" = 409 ] ||
  fail "rotation change during migration"
[ "$(field .Code)" = Forbidden.ResourceInMigration ] || fail "ResourceInMigration code"
[ "$(owner_kms DescribeKey -p KeyId=key-it-1)" = 200 ] || fail DescribeKey
[ "$(field '.KeyMetadata.DKMSInstanceId // "none"')" = none ] || fail "migrated too early"

curl -sS --fail --cacert "$CA" -d '{"advance":601}' \
  "https://127.0.0.1:$KMSIM_PORT/_kmsim/clock" >/dev/null
[ "$(console GET "/_kmsim/console/tasks?ClientToken=it-1" $OWNER)" = 200 ] || fail tasks
[ "$(field '.Tasks[0].Status')" = Completed ] || fail "task not completed after the clock moved"
[ "$(field '[.Tasks[0].Results[].Status] | unique | join(",")')" = Migrated ] || fail results
[ "$(owner_kms DescribeKey -p KeyId=key-it-1)" = 200 ] || fail DescribeKey
[ "$(field .KeyMetadata.DKMSInstanceId)" = kst-itest1 ] || fail "key has no DKMSInstanceId"
[ "$(owner_kms DescribeSecret -p SecretName=sec-it-1)" = 200 ] || fail DescribeSecret
[ "$(field .DKMSInstanceId)" = kst-itest1 ] || fail "secret has no DKMSInstanceId"
[ "$(owner_kms GetDefaultKmsInstance)" = 200 ] || fail GetDefaultKmsInstance
[ "$(field .DefaultKmsInstanceId)" = kst-itest1 ] || fail "default instance not set"

# the same ClientToken returns the same task, nothing is submitted twice
[ "$(console POST /_kmsim/console/migrate $OWNER "$SUBMIT")" = 200 ] || fail resubmit
[ "$(field .TaskId)" = "$TASK" ] || fail "ClientToken not idempotent"
[ "$(console GET /_kmsim/console/tasks $OWNER)" = 200 ] && [ "$(field '.Tasks | length')" = 1 ] ||
  fail "one task expected"
curl -sS --fail --cacert "$CA" -d '{"reset":true}' \
  "https://127.0.0.1:$KMSIM_PORT/_kmsim/faults" >/dev/null

# ---- sharing ----
RS=resourcesharing.cn-hangzhou.aliyuncs.com
share() { # TARGET NAME
  [ "$(signed $RS KSIMITOWNER00001 itest-owner-secret CreateResourceShare 2020-01-10 \
    -p ResourceShareName="$2" -p Resources.1.ResourceId=kst-itest1 \
    -p Resources.1.ResourceType=KMSInstance -p Targets.1="$1")" = 200 ] ||
    fail CreateResourceShare
  field .ResourceShare.ResourceShareId
}
assoc_status() { # SHARE TARGET
  [ "$(signed $RS KSIMITOWNER00001 itest-owner-secret ListResourceShareAssociations \
    2020-01-10 -p AssociationType=Target -p ResourceShareIds.1="$1" -p Target="$2")" = 200 ] ||
    fail ListResourceShareAssociations
  field '.ResourceShareAssociations[0].AssociationStatus'
}
wait_assoc() { # SHARE TARGET -> final status
  local st
  for _ in $(seq 40); do
    st=$(assoc_status "$1" "$2")
    [ "$st" != Associating ] && break
    sleep 0.1
  done
  echo "$st"
}
S1=$(share $MEMBER it-share-member)
[ "$(assoc_status "$S1" $MEMBER)" = Associating ] || fail "association is asynchronous"
[ "$(wait_assoc "$S1" $MEMBER)" = Associated ] || fail "member not Associated"
[ "$(console POST /_kmsim/console/migrate $MEMBER \
  '{"ClientToken":"m-1","InstanceId":"kst-itest1","Resources":{"Keys":["key-it-m1"]}}')" = 200 ] ||
  fail "member cannot migrate into the shared instance"
S2=$(share $STRANGER it-share-stranger)
[ "$(wait_assoc "$S2" $STRANGER)" = Failed ] || fail "cross-enterprise share not Failed"
[ "$(field '.ResourceShareAssociations[0].AssociationFailedDetails[0].FailureReason')" = \
  UnsupportedOperation ] || fail "FailureReason"

# ---- CloudMonitor counts what was served ----
if grep -q ksim_observe_record "$KM_SRC/sim/server.c"; then
  for _ in 1 2 3; do owner_kms ListKeys >/dev/null; done
  [ "$(signed metrics.cn-hangzhou.aliyuncs.com KSIMITOWNER00001 itest-owner-secret \
    DescribeMetricList 2019-01-01 -p Namespace=acs_kms -p MetricName=requests \
    -p Period=60)" = 200 ] || fail DescribeMetricList
  # 3 ListKeys + UpdateRotationPolicy + 3 DescribeKey/Secret + GetDefaultKmsInstance
  n=$(jq -r '.Datapoints | fromjson | map(.Sum) | add' "$TMP/body")
  [ "${n%.*}" = 8 ] || fail "DescribeMetricList counted $n KMS calls, expected 8"
else
  echo "kmsim_console: CloudMonitor check skipped: sim/server.c does not call ksim_observe_record yet"
fi
echo "kmsim_console: ok"
