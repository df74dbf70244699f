#!/usr/bin/env bash
# kmsim end to end: starts the real binary on free ports with the small test
# fixture and checks, with requests signed by kmsmig's signer (kmsim_load),
# what a user of the emulator relies on: V1 and V3 over HTTP and HTTPS (the
# test-only CA verifies the certificate), the error shapes for a wrong
# secret, unknown AccessKey, skewed timestamp, nonce reuse, unknown action
# and host, the admin state dump, faults and the clock; a small answer
# over HTTPS in one TLS record.
set -uo pipefail
top=${KM_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
bin=${KM_BIN:-$top/build/bin}
run=$(mktemp -d "${TMPDIR:-/tmp}/kmsim-it.XXXXXX")
fails=0
pass() { echo "ok   $1"; }
fail() { echo "FAIL $1"; echo "     got: ${2:0:400}"; fails=$((fails + 1)); }
# check NAME OUTPUT PATTERN...: every grep -E pattern must match OUTPUT
check() {
  local name=$1 out=$2
  shift 2
  for p in "$@"; do
    if ! grep -qE -- "$p" <<<"$out"; then fail "$name (want /$p/)" "$out"; return; fi
  done
  pass "$name"
}

env_out=$("$top/scripts/kmsim-start.sh" -b "$bin" -f "$top/tests/fixtures/kmsim_small.yaml" \
  -d "$run" -- --admin-token it-admin) || { cat "$run/kmsim.log"; exit 1; }
trap '"$top/scripts/kmsim-stop.sh" "$run"; rm -rf "$run"' EXIT
hp=$(sed -n 's/^http=//p' <<<"$env_out")
sp=$(sed -n 's/^https=//p' <<<"$env_out")
admin=(-s -H "X-Kmsim-Admin: it-admin")
owner=(--ak KSIMTESTOWNERAK01 --secret ksim-test-owner-secret)
call() { "$bin/kmsim_load" call --addr "127.0.0.1:$hp" "$@"; }
calls() { "$bin/kmsim_load" call --addr "127.0.0.1:$sp" --https --cacert "$top/sim/tls/ca.pem" "$@"; }

out=$(call "${owner[@]}" --action DescribeKey -p KeyId=alias/app-1)
check "V3 POST over HTTP" "$out" '^HTTP 200' '"KeyId":"key-sym-1"' \
  '"RequestId":"[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}"'
out=$(calls "${owner[@]}" --sigver 1 --method GET --action ListKeys -p PageSize=2)
check "V1 GET over HTTPS (test CA)" "$out" '^HTTP 200' '"Keys":\{"Key":\[' '"TotalCount":8'
out=$(calls "${owner[@]}" --sigver 1 --form --action GetKmsInstanceQuotaInfos -p KmsInstanceId=kst-test1)
check "V1 form body over HTTPS, bare quota array" "$out" '^HTTP 200' '"KmsInstanceQuotaInfos":\[\{'
out=$(curl -s --cacert "$top/sim/tls/ca.pem" --connect-to "::127.0.0.1:$sp" \
  "https://kms.cn-hangzhou.aliyuncs.com/?Action=ListKeys&Version=2016-01-20" -o /dev/null -w '%{http_code}')
check "certificate valid for kms.cn-hangzhou.aliyuncs.com" "$out" '^400$'
# A small answer is one TLS record, as from the cloud's gateways (MHD alone
# sends the header and the body as two: sim/server.c, cork_reply).
out=$(python3 "$top/tests/integration/tls_records.py" "$sp" "$top/sim/tls/ca.pem" \
  '/?Action=ListKeys&Version=2016-01-20' 2>&1)
check "small answer in one TLS record" "$out" '^records=1 bytes=[0-9]+ status=HTTP/1.1 400'

out=$(call --ak KSIMTESTOWNERAK01 --secret wrong-secret --sigver 1 --action ListKeys)
check "wrong secret (V1)" "$out" '^HTTP 400' '"Code":"SignatureDoesNotMatch"' \
  'server string to sign is:POST&%2F&AccessKeyId%3DKSIMTESTOWNERAK01' '"HostId":"kms.cn-hangzhou.aliyuncs.com"'
out=$(call --ak KSIMTESTOWNERAK01 --secret wrong-secret --action ListKeys)
check "wrong secret (V3)" "$out" '^HTTP 400' '"Code":"SignatureDoesNotMatch"' 'ACS3-HMAC-SHA256'
out=$(call --ak KSIMUNKNOWN0001 --secret x --action ListKeys)
check "unknown AccessKeyId" "$out" '^HTTP 404' '"Code":"InvalidAccessKeyId.NotFound"'
old=$(date -u -d '-20 min' +%Y-%m-%dT%H:%M:%SZ)
out=$(call "${owner[@]}" --sigver 1 --timestamp "$old" --action ListKeys)
check "timestamp skewed 20 min (V1)" "$out" '^HTTP 400' '"Code":"InvalidTimeStamp.Expired"'
out=$(call "${owner[@]}" --timestamp "$old" --action ListKeys)
check "x-acs-date skewed 20 min (V3)" "$out" '^HTTP 400' '"Code":"InvalidTimeStamp.Expired"'
ok14=$(date -u -d '-14 min' +%Y-%m-%dT%H:%M:%SZ)
out=$(call "${owner[@]}" --timestamp "$ok14" --action ListKeys)
check "timestamp skewed 14 min accepted" "$out" '^HTTP 200'
nonce="it-nonce-$$-$RANDOM"
out=$(call "${owner[@]}" --nonce "$nonce" --action ListKeys)
check "first use of a nonce" "$out" '^HTTP 200'
out=$(call "${owner[@]}" --nonce "$nonce" --action ListKeys)
check "nonce reuse" "$out" '^HTTP 400' '"Code":"SignatureNonceUsed"'
out=$(call "${owner[@]}" --action NoSuchAction)
check "unknown action" "$out" '^HTTP 404' '"Code":"InvalidAction.NotFound"' \
  'Specified api is not found, please check your url and method.'
out=$(call "${owner[@]}" --host kms.xx-nowhere-1.aliyuncs.com --action ListKeys)
check "unknown host" "$out" '^HTTP 404' '"Code":"InvalidProduct.NotFound"'
out=$(call "${owner[@]}" --version 2014-05-26 --action ListKeys)
check "wrong version" "$out" '^HTTP 400' '"Code":"InvalidVersion"'
out=$(call "${owner[@]}" --action UpdateRotationPolicy -p KeyId=key-rsa -p EnableAutomaticRotation=false)
check "rotation refused for asymmetric keys" "$out" '^HTTP 400' '"Code":"Rejected.UnsupportedOperation"'

# STS through the real binary: assume the member's RD role, use the token
out=$(call "${owner[@]}" --host sts.aliyuncs.com --version 2015-04-01 --action AssumeRole \
  -p RoleArn=acs:ram::1100000000000002:role/ResourceDirectoryAccountAccessRole -p RoleSessionName=it)
check "AssumeRole" "$out" '^HTTP 200' '"AccessKeyId":"STS\.'
sak=$(grep -o '"AccessKeyId":"[^"]*' <<<"$out" | cut -d'"' -f4)
ssk=$(grep -o '"AccessKeySecret":"[^"]*' <<<"$out" | cut -d'"' -f4)
stk=$(grep -o '"SecurityToken":"[^"]*' <<<"$out" | cut -d'"' -f4)
out=$(call --ak "$sak" --secret "$ssk" --token "$stk" --action ListKeys)
check "STS credentials act as the member" "$out" '^HTTP 200' '"TotalCount":1' '1100000000000002:key/key-m-1'

# admin: token required, state dump, clock, faults, stats
out=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$hp/_kmsim/state")
check "admin needs the token" "$out" '^403$'
out=$(curl "${admin[@]}" "http://127.0.0.1:$hp/_kmsim/state")
check "state dump" "$out" '"AccountId":"1100000000000001"' '"KeyId":"key-sym-1"' \
  '"Rotation":\{"Enabled":true,"Interval":"31536000s"' '"DefaultKmsInstanceId":"kst-test1"' '"Tasks":\[\]'
out=$(curl "${admin[@]}" -X POST -d '{"advance":3700}' "http://127.0.0.1:$hp/_kmsim/clock")
check "clock advance" "$out" '"offset":3700'
out=$(call --ak "$sak" --secret "$ssk" --token "$stk" --action ListKeys)
check "STS token expired on kmsim's clock" "$out" '^HTTP 400' '"Code":"InvalidSecurityToken.Expired"'
out=$(curl "${admin[@]}" -X POST -d '{"seed":3,"error_5xx_rate":1.0,"actions":["ListAliases"]}' \
  "http://127.0.0.1:$hp/_kmsim/faults")
check "faults configured" "$out" '"error_5xx_rate":1'
out=$(call "${owner[@]}" --action ListAliases)
check "injected 5xx" "$out" '^HTTP 50[03]' '"Code":"(ServiceUnavailableTemporary|InternalFailure)"'
out=$(call "${owner[@]}" --action ListKeys)
check "faults scoped to their actions" "$out" '^HTTP 200'
curl "${admin[@]}" -X POST -d '{"error_5xx_rate":0,"drop_rate":1.0}' "http://127.0.0.1:$hp/_kmsim/faults" >/dev/null
out=$(call "${owner[@]}" --action ListAliases)
check "dropped connection" "$out" '^TRANSPORT'
curl "${admin[@]}" -X POST -d '{"reset":true}' "http://127.0.0.1:$hp/_kmsim/faults" >/dev/null
out=$(curl "${admin[@]}" "http://127.0.0.1:$hp/_kmsim/stats")
check "stats by action and code" "$out" '"kms.ListKeys":\{' '"SignatureNonceUsed":1' '"kms.NoSuchAction":\{"InvalidAction.NotFound":1'

# the generator's output is a fixture kmsim loads, the same for a seed
"$bin/kmsim" --generate 'seed=5,accounts=4,regions=cn-hangzhou+ap-southeast-1,keys_per_region=20' >"$run/gen1.yaml"
"$bin/kmsim" --generate 'seed=5,accounts=4,regions=cn-hangzhou+ap-southeast-1,keys_per_region=20' >"$run/gen2.yaml"
if cmp -s "$run/gen1.yaml" "$run/gen2.yaml"; then pass "generator deterministic"; else fail "generator deterministic" "differs"; fi
"$bin/kmsim" --fixture "$run/gen1.yaml" --http-port 0 >"$run/gen.out" 2>&1 &
gpid=$!
for _ in $(seq 200); do grep -q listening "$run/gen.out" && break; sleep 0.05; done
check "generated fixture loads" "$(head -1 "$run/gen.out")" 'listening http=[0-9]+ accounts=4 regions=2'
# SIGTERM stops it (whichever of its threads the signal reaches), at once.
kill -TERM "$gpid"
for _ in $(seq 100); do kill -0 "$gpid" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$gpid" 2>/dev/null; then
  kill -KILL "$gpid"
  fail "SIGTERM stops kmsim" "still running 10 s after SIGTERM"
else
  wait "$gpid" && pass "SIGTERM stops kmsim" || fail "SIGTERM stops kmsim" "exit $?"
fi

echo "kmsim_protocol: $fails failure(s)"
[ $fails -eq 0 ]
