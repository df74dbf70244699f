#!/usr/bin/env bash
# Plan mode measures the baseline and makes only reads: every action kmsim
# served for the plan (besides the application traffic's own data-plane
# calls) is a READ of core/src/engine/actions.c, CloudMonitor among them,
# and nothing is written (no run directory).  `kmsmig observe` later sends
# CloudMonitor and ActionTrail reads only.
. "$(dirname "$0")/lib/kmsim.sh"
. "$(dirname "$0")/lib/monitor.sh"
monitor_fixture "$TMP/cloud.yaml"
start_kmsim "$TMP/cloud.yaml"
monitor_manifest "$TMP/m.yaml"
monitor_env
cd "$TMP"
wait_served 10 kms.Encrypt kms.Decrypt kms.GenerateDataKey kms.GetSecretValue
grep -o '{"[a-z]*", "[A-Za-z]*", KM_ACT_READ}' "$KM_SRC/core/src/engine/actions.c" |
  sed 's/{"\([a-z]*\)", "\([A-Za-z]*\)".*/\1.\2/' >reads.txt
stats() { kmsim_get /_kmsim/stats >"$1"; }
diff_actions() { # BEFORE AFTER: the actions whose count grew, traffic's own left out
  python3 - "$1" "$2" <<'PY'
import json, sys
b, a = (json.load(open(f))["ByAction"] for f in sys.argv[1:3])
n = lambda s, k: sum(s.get(k, {}).values())
traffic = {"kms.Encrypt", "kms.Decrypt", "kms.GenerateDataKey", "kms.GetSecretValue",
           "gateway.Encrypt", "gateway.Decrypt", "gateway.GenerateDataKey", "gateway.GetSecretValue"}
for k in sorted(a):
    if k not in traffic and n(a, k) > n(b, k):
        print(k)
PY
}
stats s0.json
"$KM_BIN/kmsmig" plan m.yaml >plan.txt 2>plan.err || { cat plan.txt plan.err; echo "FAIL: plan failed"; exit 1; }
stats s1.json
diff_actions s0.json s1.json >plan_actions.txt
cat plan_actions.txt
grep -qx cms.DescribeMetricList plan_actions.txt || { echo "FAIL: plan measured no baseline"; exit 1; }
bad=$(grep -vxF -f reads.txt plan_actions.txt | grep -v '^sts\.' || true)
[ -z "$bad" ] || { echo "FAIL: plan sent non-read actions: $bad"; exit 1; }
[ ! -e runs ] || { echo "FAIL: plan wrote a run directory"; exit 1; }
"$KM_BIN/kmsmig" run m.yaml --yes --run-dir run >run.txt 2>run.err ||
  { cat run.txt run.err; echo "FAIL: run failed"; exit 1; }
stats s2.json
"$KM_BIN/kmsmig" observe run >obs.txt 2>obs.err || [ $? = 1 ] || { cat obs.err; echo "FAIL: observe failed"; exit 1; }
stats s3.json
diff_actions s2.json s3.json >obs_actions.txt
cat obs_actions.txt
[ "$(grep -cvxE 'cms\.DescribeMetricList|actiontrail\.LookupEvents' obs_actions.txt)" = 0 ] ||
  { echo "FAIL: observe sent more than CloudMonitor and ActionTrail reads"; exit 1; }
grep -qx actiontrail.LookupEvents obs_actions.txt || { echo "FAIL: observe looked up no events"; exit 1; }
echo "monitor_reads_only: ok"
