#!/usr/bin/env bash
# One CloudMonitor query per instance gateway (issue 13, docs/monitor.md
# "One query per instance gateway"): 12 accounts of a resource directory
# share the management account's instance in one region.  Every pipeline
# still asks its own shared gateway (6 metrics before, 6 after), but the
# instance's dedicated gateway, asked with the owner's credentials, is one
# answer per metric and period-aligned window for all of them (reused
# while it is fresh: its end within a tenth of the asker's window of the
# asker's end): kmsim serves 6 dedicated-gateway queries per distinct
# window at least, per distinct window and end second at most, not 6 per
# pipeline and window (144).  Members that shared an answer see the same
# dedicated-gateway figures, and the run's verdicts are the same as
# before (no "act" for the gateways).  (tests/unit/test_monitor_share.c
# checks each member's verdicts against the numbers it was answered.)
. "$(dirname "$0")/lib/kmsim.sh"
. "$(dirname "$0")/lib/fleet.sh"
fail() { echo "FAIL: $*" >&2; exit 1; }
start_fleet 12 1
cd "$TMP"
# 15-minute periods: the members' windows share them (a run spans one or
# two; the count below is exact either way)
printf 'monitor: {window: 1h, period: 900}\n' >>fleet.yaml
rc=0
"$KM_BIN/kmsmig" run fleet.yaml --yes --run-dir run >run.txt 2>run.err || rc=$?
# (the generated fleet has 2 pipelines blocked by preflight: exit 1)
[ "$rc" = 0 ] || [ "$rc" = 1 ] || { tail -n 20 run.txt run.err; fail "kmsmig exited $rc"; }
kmsim_get /_kmsim/stats >stats.json
python3 - run/observe.json stats.json <<'PY'
import json, sys
from datetime import datetime, timezone
obs = json.load(open(sys.argv[1]))["pipelines"]
stats = json.load(open(sys.argv[2]))["ByAction"]
served = sum(stats.get("cms.DescribeMetricList", {}).values())
P = 900
def secs(iso):
    return int(datetime.strptime(iso, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc).timestamp())
windows, keys, ends, dedicated = 0, set(), set(), {}
for p in obs:
    assert p["instance_id"], p
    for w in (p["baseline"], p["after"]):
        if w is None:
            continue
        windows += 1
        s, e = secs(w["window"]["start"]), secs(w["window"]["end"])
        # the key of the shared answer: the periods of the start and the end
        k = (s // P, e // P)
        keys.add(k)
        ends.add((k, e))
        d = w["gateways"]["dedicated"]
        assert d is not None, ("dedicated gateway not measured", p["account"], p["findings"])
        # the members of a window and end second got the same answer
        assert dedicated.setdefault((k, e), d) == d, (p["account"], k, d, dedicated[(k, e)])
        assert w["gateways"]["shared"] is not None, p["account"]
assert len(obs) == 12 and windows >= 20, (len(obs), windows)
# each window: 6 shared-gateway queries (one page each); the dedicated
# gateway: 6 per query
ded = served - 6 * windows
print("monitor_shared_gateway: %d pipelines, %d windows, %d distinct periods, %d "
      "with their end seconds: kmsim served %d DescribeMetricList (%d for the "
      "dedicated gateway; %d without sharing)"
      % (len(obs), windows, len(keys), len(ends), served, ded, 6 * windows))
assert ded % 6 == 0 and 6 * len(keys) <= ded <= 6 * len(ends), (ded, keys, ends)
assert ded < 6 * windows, "no answer was shared"
for k in sorted(dedicated):
    print("  periods and end %s: dedicated gateway %s" % (k, dedicated[k]))
for p in obs:
    f = {x["id"]: x["verdict"] for x in p["findings"]}
    assert f.get("monitor.dedicated_throttled") == "ok", (p["account"], f)
    assert "act" not in [v for k, v in f.items() if k != "monitor.residual_callers"], (p["account"], f)
PY
echo "monitor_shared_gateway: ok"
