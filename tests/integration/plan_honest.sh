#!/usr/bin/env bash
# `kmsmig plan` when discovery cannot work says so: with a wrong AccessKey
# secret every account is shown failed with "check the AccessKey secret of
# account mgmt" (the account whose key signed, also for the members reached
# through it), never as "nothing to do", never as a kmsmig bug; with an
# endpoint nobody answers on, failed with the endpoint and its address to
# check.  Both are counted as failed and exit 1; nothing was changed.
. "$(dirname "$0")/lib/kmsim.sh"
start_kmsim "$KM_SRC/sim/fixtures/demo.yaml"
demo_manifest "$KM_SRC/manifests/demo.yaml" "$TMP/demo.yaml"
demo_env
cd "$TMP"
kmsim_get /_kmsim/state >before.json

check_failed_plan() { # FILE EXIT FIX-TEXT
  local out=$1 rc=$2 fix=$3
  [ "$rc" -eq 1 ] || { echo "FAIL: $out: expected exit 1, got $rc"; cat "$out"; exit 1; }
  if grep -q "nothing to do\|Nothing to migrate\|accounts ready, 0 blocked\.\|kmsmig bug" "$out"; then
    echo "FAIL: $out reads as a plan of an empty cloud"; cat "$out"; exit 1
  fi
  grep -q "^0 accounts ready, 0 blocked, 3 failed" "$out" ||
    { echo "FAIL: $out: totals do not count the failures"; cat "$out"; exit 1; }
  for a in mgmt app-a app-b; do
    for r in cn-hangzhou cn-shanghai; do
      grep -Eq "^$a +$r .* failed$" "$out" ||
        { echo "FAIL: $out: row $a $r is not failed"; cat "$out"; exit 1; }
      grep -q "^  $a $r: discover failed: .*$fix" "$out" ||
        { echo "FAIL: $out: $a $r does not name the fix '$fix'"; cat "$out"; exit 1; }
    done
  done
  # Each failure once, with its RequestId once.
  python3 - "$out" <<'PY'
import re, sys
lines = [l for l in open(sys.argv[1]) if l.startswith("  ") and " failed: " in l]
assert len(lines) == 6, lines
for l in lines:
    ids = re.findall(r"[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}", l)
    assert len(ids) <= 1, ("RequestId more than once", l)
PY
}

rc=0
ALIBABA_CLOUD_ACCESS_KEY_SECRET=not-the-secret "$KM_BIN/kmsmig" plan demo.yaml \
  >wrong.txt 2>wrong.err || rc=$?
cat wrong.txt; cat wrong.err >&2
check_failed_plan wrong.txt "$rc" \
  "check the AccessKey secret of account mgmt"
! grep -q "not-the-secret" wrong.txt wrong.err || { echo "FAIL: the secret was printed"; exit 1; }
# The JSON plan counts them too.
rc=0
ALIBABA_CLOUD_ACCESS_KEY_SECRET=not-the-secret "$KM_BIN/kmsmig" plan demo.yaml \
  --output json >wrong.json 2>/dev/null || rc=$?
[ "$rc" -eq 1 ] || { echo "FAIL: json plan exit $rc"; exit 1; }
python3 - wrong.json <<'PY'
import json, sys
p = json.load(open(sys.argv[1]))
assert p["summary"]["accounts_failed"] == 3, p["summary"]
assert p["summary"]["accounts_ready"] == 0, p["summary"]
assert all(x["status"] == "failed" for x in p["pipelines"]), [x["status"] for x in p["pipelines"]]
print("json plan: 3 accounts failed, 0 ready")
PY

# An endpoint nobody answers on (a closed loopback port).
port=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1]);s.close()')
sed "s/127.0.0.1:$KMSIM_PORT/127.0.0.1:$port/" demo.yaml >unreachable.yaml
rc=0
"$KM_BIN/kmsmig" plan unreachable.yaml >unreach.txt 2>unreach.err || rc=$?
cat unreach.txt
check_failed_plan unreach.txt "$rc" \
  "check the endpoint [a-z.-]*aliyuncs.com and its address 127.0.0.1:$port"

# Members taken from the resource directory: with a wrong secret the
# listing fails; the message names the fix (not RAM rights) and the exit
# code is 1 (a failure), not 2 (a manifest error).
python3 - demo.yaml <<'PY'
import sys
s = open(sys.argv[1]).read()
start, end = s.index("accounts:\n"), s.index("regions:")
s = (s[:start] + "directory:\n  management: mgmt\n" +
     'accounts:\n  - name: mgmt\n    id: "1000000000000001"\n'
     "    credentials: { env: true }\n\n" + s[end:])
open("directory.yaml", "w").write(s.replace("share_with: [app-a, app-b]", "share_with: all"))
PY
rc=0
ALIBABA_CLOUD_ACCESS_KEY_SECRET=not-the-secret "$KM_BIN/kmsmig" plan \
  directory.yaml >dir.txt 2>dir.err || rc=$?
cat dir.err
[ "$rc" -eq 1 ] || { echo "FAIL: directory listing failure: exit $rc"; exit 1; }
grep -q "listing the resource directory as mgmt failed: SignatureDoesNotMatch.*check the AccessKey secret of account mgmt" dir.err
! grep -q "AliyunResourceDirectoryReadOnlyAccess" dir.err ||
  { echo "FAIL: a wrong secret is blamed on RAM rights"; exit 1; }

kmsim_get /_kmsim/state >after.json
python3 - before.json after.json <<'PY'
import json, sys
a, b = (json.load(open(f)) for f in sys.argv[1:3])
assert a["Accounts"] == b["Accounts"] and a["Tasks"] == b["Tasks"], "plan changed something"
print("nothing was changed")
PY
echo "plan_honest: ok"
