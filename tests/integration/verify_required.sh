#!/usr/bin/env bash
# "migrated" in the report means a verify proved it.  With GetKeyPolicy and
# GetSecretPolicy failing (5xx every time), the keys verify fails; the
# secrets verify must still run (before, it was skipped and every secret
# was reported migrated, unchecked), so no key or secret is reported
# migrated and each moved one is failed with the verify's reason.
. "$(dirname "$0")/lib/kmsim.sh"
start_kmsim "$KM_SRC/sim/fixtures/demo.yaml"
demo_manifest "$KM_SRC/manifests/demo.yaml" "$TMP/demo.yaml"
demo_env
cd "$TMP"
kmsim_post /_kmsim/faults \
  '{"error_5xx_rate":1,"actions":["GetKeyPolicy","GetSecretPolicy"]}' >/dev/null
rc=0
"$KM_BIN/kmsmig" run demo.yaml --yes --run-dir run >run.txt 2>run.err || rc=$?
cat run.txt | grep -E "^  (keys|secrets) " || true
[ "$rc" = 1 ] || { tail -5 run.err; echo "FAIL: run exited $rc, want 1"; exit 1; }
python3 - run/report.json <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
t = r["totals"]
print("totals: keys migrated %d failed %d, secrets migrated %d failed %d" % (
    t["keys"]["migrated"], t["keys"]["failed"],
    t["secrets"]["migrated"], t["secrets"]["failed"]))
assert t["secrets"]["migrated"] == 0, "secrets reported migrated that no verify checked"
assert t["keys"]["migrated"] == 0, "keys reported migrated that no verify checked"
assert t["secrets"]["failed"] > 0
for p in r["pipelines"]:
    for f in p["secrets"]["failed"]:
        assert "verif" in (f.get("reason") or ""), f
print("every moved secret is failed with the verify's reason")
PY
grep -q "GetSecretPolicy" run/kmsmig.log || { echo "FAIL: the secrets verify never ran"; exit 1; }
echo "verify_required: ok"
