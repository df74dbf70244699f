#!/usr/bin/env python3
"""Writes RUN_DIR/observe.json in the monitor stage's shape (observe_version
1) for the pipelines of RUN_DIR/report.json, for the report tests: the
shared gateway's QPS falls after the run, one caller never switched, the
dedicated gateway throttles in one pipeline.  Server-like text carries
markup and an escape character, which the renderers must neutralise.
Missing fields are left out on purpose in the last pipeline (the report
renders what is there)."""
import json, os, sys

run = sys.argv[1]
rep = json.load(open(os.path.join(run, "report.json")))
out = {"observe_version": 1, "generated": "2026-12-02T03:30:00Z", "pipelines": []}
for i, p in enumerate(rep["pipelines"]):
    gw = lambda req, qa, qm, lat, codes: {"requests": req, "qps_avg": qa, "qps_max": qm,
                                          "latency_ms_avg": lat, "codes": codes}
    e = {"account": p["account"], "account_id": p["account_id"], "region": p["region"],
         "instance_id": p["instance_id"], "instance_spec": 1000,
         "baseline": {"window": {"start": "2026-12-02T02:00:00Z", "end": "2026-12-02T03:00:00Z"},
                      "gateways": {"shared": gw(36000, 10.0, 14.0, 21.5, {"Throttling": 3, "Forbidden.NoPermission": 1}),
                                   "dedicated": gw(0, 0.0, 0.0, None, {})}},
         "after": {"window": {"start": "2026-12-02T03:20:00Z", "end": "2026-12-02T03:30:00Z"},
                   "gateways": {"shared": gw(1200, 2.0, 3.0, 22.0, {}),
                                "dedicated": gw(4800, 8.0, 12.5, 6.2,
                                                {"Rejected.Throttling": 40} if i == 0 else {})}},
         "residual_callers": [{"access_key_id": "LTAI5tNEVERSWITCHED%02d" % i, "source_ip": "10.0.%d.7" % i,
                               "user_agent": "legacy-app/1.0 <script>alert(1)</script>\x1b[31m",
                               "count": 120 + i, "last_seen": "2026-12-02T03:29:58Z",
                               "events": [{"EventName": "Decrypt"}]}],
         "findings": [{"id": "shared.residual", "verdict": "act",
                       "message": "1 caller still on the shared gateway <b>|</b>",
                       "action": "switch it to the instance endpoint"},
                      {"id": "dedicated.throttled", "verdict": "watch" if i == 0 else "ok",
                       "message": "throttling on the instance gateway" if i == 0 else "no throttling",
                       "action": "raise the instance spec above 1000" if i == 0 else ""}]}
    if i == len(rep["pipelines"]) - 1:
        e["after"] = None            # not measured after (yet)
        del e["instance_spec"]
    out["pipelines"].append(e)
with open(os.path.join(run, "observe.json"), "w") as f:
    json.dump(out, f, indent=1)
