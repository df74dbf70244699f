#!/usr/bin/env python3
"""Fleet benchmark: kmsmig migrating a generated fleet on kmsim.

Generates a fleet (default 100 accounts x 2 regions) with kmsim's seeded
generator, serves it with kmsim at the published per-account QPS limits
(reference §5), runs `kmsmig run` on it, and prints:
  - the wall time of the run,
  - the throttle-bound lower limit computed from the fixture: for every
    (account, region) the calls the run must make in each API group divided
    by that group's per-account QPS, plus the migration tasks' own time;
    pipelines of different accounts run in parallel, so the bound is the
    slowest pipeline (times the number of account waves when the manifest
    runs fewer accounts at once than the fleet has),
  - their ratio (1.0 = as fast as the throttling allows),
  - peak RSS of kmsmig and of kmsim.
It is a benchmark, not a test: it prints figures and never fails on time.

usage: fleet_bench.py [--accounts N] [--regions N] [--keys N] [--secrets N]
                      [--concurrency N] [--bin DIR]
"""
import argparse
import json
import os
import resource
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
# Published QPS per account and region (reference §5; the same table as
# core/src/engine/ratelimit.c; "assumed" groups are marked there).
QPS = {"key-read": 50, "key-write": 30, "secret-ops": 50, "instance-read": 50,
       "sts": 100, "rs": 20}
SECONDS_PER_RESOURCE = 0.02  # kmsim's default console task speed


def admin(port, path):
    ctx = ssl.create_default_context(cafile=os.path.join(TOP, "sim/tls/ca.pem"))
    req = urllib.request.Request("https://127.0.0.1:%d%s" % (port, path),
                                 headers={"Host": "kms.cn-hangzhou.aliyuncs.com"})
    ctx.check_hostname = False
    with urllib.request.urlopen(req, context=ctx) as r:
        return json.load(r)


def bound(state, concurrency, naccounts):
    """Throttle-bound lower limit (seconds) from the fleet's resources."""
    worst = 0.0
    for acct in state["Accounts"]:
        for region, r in acct["Regions"].items():
            user = [k for k in r["Keys"] if k["CreatorType"] == "User"]
            svc = [k for k in r["Keys"] if k["CreatorType"] == "Service"]
            movable = [k for k in user if len(k["Versions"]) == 1
                       and k["KeyState"] == "Enabled"
                       and k["Origin"] == "Aliyun_KMS"]
            rot_k = [k for k in movable if k["Rotation"]["Enabled"]]
            secrets = r["Secrets"]
            rot_s = [s for s in secrets if s["Rotation"]["Enabled"]]
            pages_k = 2 + len(user) // 100 + len(svc) // 100
            calls = {
                # discover: ListKeys pages, DescribeKey all, versions and
                # aliases per user key; verify: DescribeKey + GetKeyPolicy per
                # migrated key; service keys re-listed in verify.
                "key-read": pages_k + len(user) + len(svc) + 2 * len(user)
                + 2 * len(movable) + 1,
                # rotation off and back on.
                "key-write": 2 * len(rot_k),
                # ListSecrets pages (source and destination), DescribeSecret,
                # rotation off/on, verify DescribeSecret + GetSecretPolicy.
                "secret-ops": 2 + len(secrets) // 100 + len(secrets)
                + 2 * len(rot_s) + 2 * len(secrets),
                "instance-read": 3,
            }
            t = max(calls[g] / QPS[g] for g in calls)
            t += (len(movable) + len(secrets)) * SECONDS_PER_RESOURCE
            worst = max(worst, t)
    waves = -(-naccounts // concurrency)
    return worst * waves


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--accounts", type=int, default=100)
    ap.add_argument("--regions", type=int, default=2)
    ap.add_argument("--keys", type=int, default=20)
    ap.add_argument("--secrets", type=int, default=10)
    ap.add_argument("--concurrency", type=int, default=100)
    ap.add_argument("--bin", default=os.path.join(TOP, "build", "bin"))
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="kmsmig-bench-")
    spec = ("seed=1,accounts=%d,regions=%d,keys_per_region=%d,"
            "secrets_per_region=%d,byok_per_region=0" %
            (a.accounts, a.regions, a.keys, a.secrets))
    fixture = os.path.join(work, "fleet.yaml")
    with open(fixture, "w") as f:
        subprocess.run([os.path.join(a.bin, "kmsim"), "--generate", spec],
                       stdout=f, check=True)
    ports = os.path.join(work, "ports")
    kmsim = subprocess.Popen([os.path.join(a.bin, "kmsim"), "--fixture",
                              fixture, "--https-port", "0", "--port-file",
                              ports], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    try:
        for _ in range(400):
            if os.path.exists(ports) and "https=" in open(ports).read():
                break
            time.sleep(0.05)
        port = int([l.split("=")[1] for l in open(ports).read().split()
                    if l.startswith("https=")][0])
        state = admin(port, "/_kmsim/state")
        accts = state["Accounts"]
        mgmt = accts[0]
        regions = state["Regions"][:a.regions]
        insts = {i["Region"]: i for i in state["Instances"]
                 if i["Owner"] == mgmt["AccountId"]}
        lines = ["version: 1", "name: fleet-bench", "accounts:"]
        lines.append('  - {name: %s, id: "%s", credentials: {env: true}}'
                     % (mgmt["Name"], mgmt["AccountId"]))
        for x in accts[1:]:
            lines.append('  - {name: %s, id: "%s", credentials: '
                         '{assume_role: {via: %s}}}'
                         % (x["Name"], x["AccountId"], mgmt["Name"]))
        lines.append("regions: [%s]" % ", ".join(regions))
        lines.append("instances:")
        for r in regions:
            i = insts[r]
            lines.append("  %s: {id: %s, owner: %s, type: software, "
                         "image_version: \"%s\", auto_renew: true, "
                         "share_with: all}" % (r, i["InstanceId"],
                                               mgmt["Name"], i["ImageVersion"]))
        lines += ["select: {keys: all-pending, secrets: all-pending}",
                  "migrate: {driver: sim, when: now, task_timeout: 30m}",
                  "concurrency: {accounts: %d, requests_per_endpoint: 64}"
                  % a.concurrency,
                  "failure_tolerance: {percent: 100}",
                  "endpoints:", "  overrides:",
                  '    - {host: "*.aliyuncs.com", address: "127.0.0.1:%d", '
                  'scheme: https, ca_file: %s}'
                  % (port, os.path.join(TOP, "sim/tls/ca.pem"))]
        manifest = os.path.join(work, "fleet.yaml.manifest.yaml")
        open(manifest, "w").write("\n".join(lines) + "\n")
        # The management account's generated AccessKey (test-only values).
        fx = open(fixture).read().split("\n")
        ak = next(l.split('"')[1] for l in fx if "- id: \"KSIM" in l)
        sk = next(l.split('"')[1] for l in fx if "secret: \"ksim-gen" in l)
        env = dict(os.environ, ALIBABA_CLOUD_ACCESS_KEY_ID=ak,
                   ALIBABA_CLOUD_ACCESS_KEY_SECRET=sk)
        lower = bound(state, a.concurrency, len(accts))
        t0 = time.monotonic()
        # KM_BENCH_WRAP="perf record -g -o /tmp/kmsmig.perf" profiles the run.
        wrap = os.environ.get("KM_BENCH_WRAP", "").split()
        run = subprocess.run(wrap + [os.path.join(a.bin, "kmsmig"), "run", manifest,
                              "--yes", "--run-dir",
                              os.path.join(work, "run")], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
        wall = time.monotonic() - t0
        rss_kmsmig = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        rep = json.load(open(os.path.join(work, "run", "report.json")))
        t = rep["totals"]
        kmsim_rss = 0
        try:
            for l in open("/proc/%d/status" % kmsim.pid):
                if l.startswith("VmHWM:"):
                    kmsim_rss = int(l.split()[1])
        except OSError:
            pass
        stats = admin(port, "/_kmsim/stats")
    finally:
        kmsim.send_signal(signal.SIGTERM)
        kmsim.wait()
    print("fleet: %d accounts x %d regions = %d pipelines, %d keys + %d "
          "secrets per region" % (len(accts), len(regions),
                                  len(accts) * len(regions), a.keys, a.secrets))
    print("run exit %d: keys migrated %d, secrets migrated %d, failed %d, "
          "rotation %d off / %d restored"
          % (run.returncode, t["keys"]["migrated"], t["secrets"]["migrated"],
             t["keys"]["failed"] + t["secrets"]["failed"],
             t["rotation"]["turned_off"], t["rotation"]["restored"]))
    print("requests served by kmsim: %s" %
          json.dumps(stats.get("requests", stats.get("Requests", "?"))))
    print("wall time            %8.2f s" % wall)
    print("throttle-bound limit %8.2f s" % lower)
    print("ratio wall/limit     %8.2f" % (wall / lower if lower else 0))
    print("peak RSS kmsmig      %8.1f MiB" % (rss_kmsmig / 1024.0))
    print("peak RSS kmsim       %8.1f MiB" % (kmsim_rss / 1024.0))
    if run.returncode != 0:
        print(run.stdout[-2000:])
        print(run.stderr[-2000:])
    if os.environ.get("KM_BENCH_KEEP"):
        print("work directory kept:", work)
    else:
        shutil.rmtree(work, ignore_errors=True)


main()
