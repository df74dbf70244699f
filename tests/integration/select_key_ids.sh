#!/usr/bin/env bash
# Key IDs copied from a plan select exactly those keys: kmsim's KMS 1.0 keys
# have UUID ids as the real KMS 1.0 does, the plan shows them, and
# `select.keys.ids` (UUIDs, a key ARN, and the key-… form of keys created in
# a KMS 3.0 instance, here one the fleet does not have) picks exactly them; a run
# migrates those keys and no other.
. "$(dirname "$0")/lib/kmsim.sh"
fail() { echo "FAIL: $*" >&2; exit 1; }
start_kmsim "$KM_SRC/sim/fixtures/demo.yaml"
demo_manifest "$KM_SRC/manifests/demo.yaml" "$TMP/base.yaml"
demo_env
cd "$TMP"

"$KM_BIN/kmsmig" plan -o json base.yaml >all.json 2>/dev/null || true
python3 - all.json base.yaml sel.yaml picked.txt <<'PY'
import json, re, sys
plan = json.load(open(sys.argv[1]))
uuid = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
keys = [(p["account"], p["account_id"], p["region"], r["id"])
        for p in plan["pipelines"] for r in p["resources"] if r["kind"] == "key"]
assert keys and all(uuid.match(k[3]) for k in keys), \
    "KMS 1.0 key ids in the plan are not UUIDs: %s" % [k[3] for k in keys][:5]
pending = [k for k in keys for p in plan["pipelines"] for r in p["resources"]
           if r["id"] == k[3] and r["verdict"] == "pending" and p["account"] == k[0]]
mgmt = [k for k in pending if k[0] == "mgmt" and k[2] == "cn-hangzhou"][:3]
other = [k for k in pending if k[0] == "app-a" and k[2] == "cn-shanghai"][:1]
assert len(mgmt) == 3 and other, pending
ids = [k[3] for k in mgmt]
a = other[0]
ids.append("acs:kms:%s:%s:key/%s" % (a[2], a[1], a[3]))  # the ARN form
ids.append("key-hzz62f5ba3dnpb6v8abcd")  # a KMS 3.0 instance key's form
s = open(sys.argv[2]).read()
sel = re.search(r"\nselect:\n(  .*\n)+", s).group(0)
s = s.replace(sel, "\nselect:\n  keys:\n    ids:\n" +
              "".join("      - %s\n" % i for i in ids) + "  secrets: none\n")
open(sys.argv[3], "w").write(s)
open(sys.argv[4], "w").write("\n".join(k[3] for k in mgmt + other) + "\n")
PY
"$KM_BIN/kmsmig" validate sel.yaml >validate.txt 2>&1 || fail "validate: $(cat validate.txt)"
"$KM_BIN/kmsmig" plan -o json sel.yaml >sel.json 2>/dev/null || true
python3 - sel.json picked.txt <<'PY' || fail "the plan does not select exactly the ids given"
import json, sys
plan = json.load(open(sys.argv[1]))
want = set(open(sys.argv[2]).read().split())
got = {r["id"] for p in plan["pipelines"] for r in p["resources"]
       if r["kind"] == "key" and r["verdict"] == "pending"}
assert got == want, (sorted(got), sorted(want))
PY
rc=0
"$KM_BIN/kmsmig" run sel.yaml --yes --run-dir run >run.txt 2>&1 || rc=$?
[ "$rc" = 0 ] || fail "run exit $rc: $(tail -8 run.txt)"
kmsim_get /_kmsim/state >state.json
python3 - state.json picked.txt <<'PY' || fail "the run migrated other keys than the ones selected"
import json, sys
s = json.load(open(sys.argv[1]))
want = set(open(sys.argv[2]).read().split())
moved = {k["KeyId"] for a in s["Accounts"] for r in a["Regions"].values()
         for k in r["Keys"] if k.get("DKMSInstanceId")}
assert moved == want, (sorted(moved), sorted(want))
PY
grep -q "keys       4 migrated" run.txt || fail "summary: $(tail -8 run.txt)"
echo "select_key_ids: ok"
