#!/usr/bin/env bash
# A CloudMonitor reply that cannot be read is never an "ok": here
# metrics.cn-hangzhou.aliyuncs.com is a server whose Datapoints text is not
# JSON.  The run still migrates (monitoring judges, it does not undo), but
# observe.json has an "act" finding naming DescribeMetricList and the
# reply's RequestId, the gateways it could not measure are null, and the
# run's summary shows the act.  A metric name the namespace does not have
# (a 404 from kmsim) is an "act" finding too, with kmsim's RequestId.
. "$(dirname "$0")/lib/kmsim.sh"
. "$(dirname "$0")/lib/monitor.sh"
monitor_fixture "$TMP/cloud.yaml"
start_kmsim "$TMP/cloud.yaml"
python3 - "$TMP/garble.port" <<'PY' &
import http.server, json, sys
class H(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = json.dumps({"Code": "200", "Success": True, "RequestId": "RID-GARBLED-0001",
                           "Period": "15", "Datapoints": "[{\"timestamp\": 1, \"Average\": "}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("x-acs-request-id", "RID-GARBLED-0001")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    do_GET = do_POST
s = http.server.HTTPServer(("127.0.0.1", 0), H)
open(sys.argv[1], "w").write(str(s.server_address[1]))
s.serve_forever()
PY
GARBLE_PID=$!
trap 'kill $GARBLE_PID 2>/dev/null || true; cleanup_kmsim' EXIT
for _ in $(seq 100); do [ -s "$TMP/garble.port" ] && break; sleep 0.05; done
MONITOR_OVERRIDE="    - {host: metrics.cn-hangzhou.aliyuncs.com, address: \"127.0.0.1:$(cat "$TMP/garble.port")\", scheme: http}"
monitor_manifest "$TMP/m.yaml"
monitor_env
cd "$TMP"
"$KM_BIN/kmsmig" run m.yaml --yes --run-dir run >run.txt 2>run.err ||
  { cat run.txt run.err; echo "FAIL: run failed"; exit 1; }
grep -E "^  observe +[1-9][0-9]* act" run.txt || { cat run.txt; echo "FAIL: no act in the summary"; exit 1; }
grep -q "ACT .*monitor.unreadable.*DescribeMetricList.*RID-GARBLED-0001" run.txt ||
  { cat run.txt; echo "FAIL: the unreadable reply is not named with its RequestId"; exit 1; }
python3 - run/observe.json <<'PY'
import json, sys
[p] = json.load(open(sys.argv[1]))["pipelines"]
assert p["baseline"]["gateways"]["shared"] is None, p["baseline"]
assert p["after"]["gateways"]["shared"] is None, p["after"]
f = [x for x in p["findings"] if x["id"] == "monitor.unreadable"]
assert f and all(x["verdict"] == "act" for x in f), p["findings"]
assert "RID-GARBLED-0001" in f[0]["message"] and "Datapoints" in f[0]["message"], f[0]
ok = [x["id"] for x in p["findings"] if x["verdict"] == "ok"]
assert "monitor.shared_traffic" not in ok and "monitor.shared_errors" not in ok, ok
print("unreadable reply: act, named:", f[0]["message"][:110])
PY
# a metric the namespace does not have: kmsim answers 404 ResourceNotFound
cd "$TMP" && rm -rf run2
MONITOR_OVERRIDE= monitor_manifest "$TMP/m2.yaml" "  metrics: {qps: no_such_metric}"
sed -i 's/^name: mon$/name: mon2/' m2.yaml
"$KM_BIN/kmsmig" run m2.yaml --yes --run-dir run2 >run2.txt 2>run2.err ||
  { cat run2.txt run2.err; echo "FAIL: run2 failed"; exit 1; }
grep -q "ACT .*monitor.call_failed.*DescribeMetricList no_such_metric.*ResourceNotFound" run2.txt ||
  { cat run2.txt; echo "FAIL: the refused metric is not an act finding"; exit 1; }
echo "monitor_fail_closed: ok"
