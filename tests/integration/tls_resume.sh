#!/usr/bin/env bash
# TLS session resumption (issue 13, item 2): a connection kmsmig opens to
# an endpoint after its first handshake there resumes the TLS session
# instead of paying a full handshake.  kmsim sends TLS 1.3
# session tickets as the cloud's gateways do and counts, per connection,
# whether the client brought a session back (/_kmsim/stats TlsResumed).
#   - a discovery of 150 keys and 40 secrets over HTTPS (up to 8 calls in
#     flight per endpoint) in which kmsim drops 5% of the connections
#     without an answer (seeded): the calls are retried on new connections,
#     opened after the first handshakes, and those resume;
#   - the same discovery against kmsim --no-tls-tickets resumes none (the
#     count is the server's, not an assumption).
. "$(dirname "$0")/lib/kmsim.sh"
fail() { echo "FAIL: $*" >&2; exit 1; }
cd "$TMP"
"$KM_BIN/kmsim" --generate "seed=1,accounts=1,regions=cn-hangzhou,keys_per_region=150,service_keys_per_region=2,secrets_per_region=40,byok_per_region=0" >fixture.yaml

# One discovery; prints "connections resumed" as kmsim counted them (the
# stats request's own connection taken off: a fresh curl, a full handshake).
discover() {
  kmsim_post /_kmsim/faults '{"throttle": "off", "drop_rate": 0.05}' >/dev/null
  kmsim_get /_kmsim/state >state.json
  python3 - state.json "$KMSIM_PORT" "$KM_SRC" >m.yaml <<'PY'
import json, sys
st, port, top = json.load(open(sys.argv[1])), sys.argv[2], sys.argv[3]
acct = st["Accounts"][0]
inst = next(i for i in st["Instances"] if i["Owner"] == acct["AccountId"])
print("""version: 1
name: tls-resume
accounts:
  - {name: %s, id: "%s", credentials: {env: true}}
regions: [cn-hangzhou]
instances:
  cn-hangzhou: {id: %s, owner: %s, type: software, image_version: "2.9.3", auto_renew: true, share_with: all}
select: {keys: all-pending, secrets: all-pending}
migrate: {driver: sim, when: now, task_timeout: 30m}
concurrency: {accounts: 1, requests_per_endpoint: 8}
endpoints:
  overrides:
    - {host: "*.aliyuncs.com", address: "127.0.0.1:%s", scheme: https, ca_file: "%s/sim/tls/ca.pem"}""" % (
    acct["Name"], acct["AccountId"], inst["InstanceId"], acct["Name"], port,
    top))
PY
  curl -sS --fail -X DELETE --cacert "$KM_SRC/sim/tls/ca.pem" \
    --resolve "kms.cn-hangzhou.aliyuncs.com:$KMSIM_PORT:127.0.0.1" \
    "https://kms.cn-hangzhou.aliyuncs.com:$KMSIM_PORT/_kmsim/stats" >/dev/null
  "$KM_BIN/kmsmig" plan m.yaml --output json >plan.json 2>plan.err ||
    { tail -5 plan.err >&2; fail "plan failed"; }
  kmsim_get /_kmsim/stats | python3 -c '
import json, sys
s = json.load(sys.stdin)
print(s["TlsConnections"] - 1, s["TlsResumed"], s["Requests"])'
}

export ALIBABA_CLOUD_ACCESS_KEY_ID=KSIMGEN1AK000000
export ALIBABA_CLOUD_ACCESS_KEY_SECRET=$(sed -n 's/^ *secret: "\(ksim-gen-secret-[0-9a-f]*\)"$/\1/p' fixture.yaml | head -1)
unset ALIBABA_CLOUD_SECURITY_TOKEN ALIBABA_CLOUD_PROFILE || true
[ -n "$ALIBABA_CLOUD_ACCESS_KEY_SECRET" ] || fail "no access key in the generated fixture"

start_kmsim fixture.yaml --seed 7
read -r conns resumed requests < <(discover)
echo "with tickets: $requests calls on $conns TLS connections, $resumed resumed"
[ "$conns" -ge 2 ] || fail "$conns TLS connection(s): the discovery should open several"
[ "$resumed" -ge 1 ] || fail "no connection resumed a TLS session ($conns connections)"
[ "$resumed" -lt "$conns" ] || fail "$resumed of $conns resumed: the first cannot"

kill "$KMSIM_PID"; wait "$KMSIM_PID" 2>/dev/null || true
rm -f "$TMP/ports"
start_kmsim fixture.yaml --seed 7 --no-tls-tickets
read -r conns resumed requests < <(discover)
echo "without tickets: $requests calls on $conns TLS connections, $resumed resumed"
[ "$conns" -ge 2 ] || fail "$conns TLS connection(s) without tickets"
[ "$resumed" -eq 0 ] || fail "$resumed resumed against a kmsim that sends no tickets"
echo "PASS: later connections resume the TLS session; none without tickets"
