#!/usr/bin/env bash
# A run through kmsim faults (throttling at a tight per-account QPS, 5% of
# answers 5xx, 3% dropped connections, latency) still finishes with zero
# failed resources and every rotation policy restored: the client retries
# with backoff and the rate limiter adapts.
. "$(dirname "$0")/lib/kmsim.sh"
start_kmsim "$KM_SRC/sim/fixtures/demo.yaml" --seed 7
demo_manifest "$KM_SRC/manifests/demo.yaml" "$TMP/demo.yaml"
demo_env
cd "$TMP"
kmsim_get /_kmsim/state >before.json
kmsim_post /_kmsim/faults '{"seed":7,"error_5xx_rate":0.05,"drop_rate":0.03,
  "latency":{"dist":"uniform","min_ms":1,"max_ms":15},
  "throttle":{"key-read":20,"key-write":10,"secret-meta":15,"instance-read":10}}' >/dev/null
rc=0
"$KM_BIN/kmsmig" run demo.yaml --yes --run-dir run >run.txt 2>run.err || rc=$?
cat run.txt
kmsim_get /_kmsim/stats >stats.json || true
python3 - stats.json <<'PY' || true
import json, sys
s = json.load(open(sys.argv[1]))
print("kmsim stats:", json.dumps(s)[:400])
PY
[ "$rc" -eq 0 ] || { echo "FAIL: run exited $rc"; tail -20 run.err; exit 1; }
kmsim_post /_kmsim/faults '{"reset":true}' >/dev/null
kmsim_get /_kmsim/state >after.json
python3 "$KM_SRC/tests/integration/lib/check_state.py" before.json after.json \
  run/report.json --expect-all
echo "engine_faults: ok"
