#!/usr/bin/env python3
"""Calls per key and per secret, stage by stage: what a whole migration of
one account x one region asks of the cloud.

kmsim generates one account with one region (default 2,000 customer keys +
2 service keys and 500 secrets, seed 1, no BYOK key), throttling off and
console tasks of 1 s; `kmsmig run --yes -v` migrates everything it can
(select all-pending, driver sim).  With -v kmsmig logs one line per call it
sends ("STAGE by PROVIDER: call PRODUCT.ACTION", core/src/stage/ctx.c), so
the benchmark counts every call by stage, provider and action; kmsim's own
count (/_kmsim/stats, reset first) must agree with the sum, else the
benchmark says so and exits 1.

It prints, per stage and provider, the calls of each action, and the calls
per customer key (keys provider) and per secret (secrets provider); the
rest (share: the instance and sharing, migrate: console tasks and their
detection) is per run, not per resource.  Run it with two builds to compare
(--bin).  A benchmark, not a test: it never fails on time.

usage: calls_bench.py [--bin DIR] [--keys N] [--secrets N] [--json FILE]
"""
import argparse
import collections
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
REGION = "cn-hangzhou"
STAGES = ["discover", "preflight", "prepare", "migrate", "restore", "verify",
          "observe"]
CALL = re.compile(r" (\S+) (\S+): (\w+) by (\S+): call ([\w-]+)\.(\w+)(?: as \S+)?$")


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", default=os.path.join(TOP, "build", "bin"),
                    help="directory of kmsmig and kmsim (default build/bin)")
    ap.add_argument("--keys", type=int, default=2000,
                    help="customer keys in the region (plus 2 service keys)")
    ap.add_argument("--secrets", type=int, default=500)
    ap.add_argument("--json", help="also write the counts to this file")
    a = ap.parse_args()
    a.bin = os.path.abspath(a.bin)
    return a


class Kmsim:
    def __init__(self, a, work):
        kmsim = os.path.join(a.bin, "kmsim")
        spec = ("seed=1,accounts=1,regions=%s,keys_per_region=%d,"
                "service_keys_per_region=2,secrets_per_region=%d,"
                "byok_per_region=0,instance_key_num=%d,"
                "instance_secret_num=%d"
                % (REGION, a.keys, a.secrets, max(10000, 2 * a.keys),
                   max(10000, 2 * a.secrets)))
        self.fixture = os.path.join(work, "fixture.yaml")
        with open(self.fixture, "w") as f:
            subprocess.run([kmsim, "--generate", spec], stdout=f, check=True)
        ports = os.path.join(work, "ports")
        self.proc = subprocess.Popen(
            [kmsim, "--fixture", self.fixture, "--http-port", "0",
             "--port-file", ports], stdout=subprocess.DEVNULL,
            stderr=open(os.path.join(work, "kmsim.log"), "w"))
        self.port = None
        for _ in range(400):
            if os.path.exists(ports) and "http=" in open(ports).read():
                self.port = int(open(ports).read().split("=")[1])
                break
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        if self.port is None:
            self.stop()
            sys.exit("calls_bench: kmsim did not start")

    def admin(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(
            "http://127.0.0.1:%d%s" % (self.port, path), data=data,
            method=method, headers={"Host": "kms.%s.aliyuncs.com" % REGION,
                                    "Content-Type": "application/json"})
        with urllib.request.urlopen(req) as r:
            return json.load(r)

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait()


def write_manifest(path, cloud):
    state = cloud.admin("GET", "/_kmsim/state")
    acct = state["Accounts"][0]
    inst = next(i for i in state["Instances"]
                if i["Owner"] == acct["AccountId"] and i["Region"] == REGION)
    keys = acct["Regions"][REGION]["Keys"]
    nuser = sum(1 for k in keys if k["CreatorType"] == "User")
    nsec = len(acct["Regions"][REGION]["Secrets"])
    lines = [
        "version: 1",
        "name: calls-bench",
        "accounts:",
        '  - {name: %s, id: "%s", credentials: {env: true}}'
        % (acct["Name"], acct["AccountId"]),
        "regions: [%s]" % REGION,
        "instances:",
        '  %s: {id: %s, owner: %s, type: software, image_version: "%s", '
        "auto_renew: true, share_with: all}"
        % (REGION, inst["InstanceId"], acct["Name"], inst["ImageVersion"]),
        "select: {keys: all-pending, secrets: all-pending}",
        "migrate: {driver: sim, when: now, task_timeout: 30m}",
        "concurrency: {accounts: 1, requests_per_endpoint: 32}",
        "endpoints:",
        "  overrides:",
        '    - {host: "*.aliyuncs.com", address: "127.0.0.1:%d", '
        "scheme: http}" % cloud.port,
    ]
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return nuser, len(keys) - nuser, nsec


def access_key(fixture):
    ak = sk = None
    for l in open(fixture):
        if ak is None and '- id: "KSIM' in l:
            ak = l.split('"')[1]
        elif sk is None and 'secret: "ksim-gen' in l:
            sk = l.split('"')[1]
    return ak, sk


def main():
    a = parse_args()
    for b in ("kmsim", "kmsmig"):
        if not os.access(os.path.join(a.bin, b), os.X_OK):
            sys.exit("calls_bench: %s/%s is not built" % (a.bin, b))
    work = tempfile.mkdtemp(prefix="kmsmig-calls-bench-")
    cloud = Kmsim(a, work)
    try:
        cloud.admin("POST", "/_kmsim/faults",
                    {"throttle": "off", "task_seconds": 1})
        manifest = os.path.join(work, "manifest.yaml")
        nuser, nsvc, nsec = write_manifest(manifest, cloud)
        ak, sk = access_key(cloud.fixture)
        env = dict(os.environ, ALIBABA_CLOUD_ACCESS_KEY_ID=ak,
                   ALIBABA_CLOUD_ACCESS_KEY_SECRET=sk)
        cloud.admin("DELETE", "/_kmsim/stats")
        err = os.path.join(work, "kmsmig.stderr")
        t0 = time.monotonic()
        with open(err, "w") as fe:
            rc = subprocess.run(
                [os.path.join(a.bin, "kmsmig"), "run", manifest, "--yes",
                 "-v", "--run-dir", os.path.join(work, "run")], env=env,
                stdout=subprocess.DEVNULL, stderr=fe).returncode
        wall = time.monotonic() - t0
        stats = cloud.admin("GET", "/_kmsim/stats")
    finally:
        cloud.stop()

    calls = collections.Counter()  # (stage, provider, product.action)
    for line in open(err):
        m = CALL.search(line.rstrip("\n"))
        if m:
            calls[(m.group(3), m.group(4),
                   "%s.%s" % (m.group(5), m.group(6)))] += 1
    served = collections.Counter()
    bad = {}
    for action, codes in stats.get("ByAction", {}).items():
        for code, n in codes.items():
            served[action] += n
            if code != "OK":
                bad["%s %s" % (action, code)] = n
    # Console requests of the sim driver are not cloud API calls.
    served_api = sum(n for k, n in served.items()
                     if not k.startswith("console."))
    sent = sum(calls.values())

    print("calls: 1 account x 1 region (%s), %d customer + %d service keys, "
          "%d secrets; kmsmig run exit %d in %.1f s; %d calls logged, %d "
          "served by kmsim" % (REGION, nuser, nsvc, nsec, rc, wall, sent,
                               served_api))
    print()
    print("| stage | provider | action | calls | per key | per secret |")
    print("| --- | --- | --- | ---: | ---: | ---: |")
    order = sorted(calls, key=lambda k: (STAGES.index(k[0])
                                         if k[0] in STAGES else 99, k[1],
                                         k[2]))
    for k in order:
        n = calls[k]
        pk = "%.3f" % (n / nuser) if k[1] == "keys" and nuser else ""
        ps = "%.3f" % (n / nsec) if k[1] == "secrets" and nsec else ""
        print("| %s | %s | %s | %d | %s | %s |" % (k[0], k[1], k[2], n, pk,
                                                  ps))
    print()
    print("| stage | keys: calls per key | secrets: calls per secret | "
          "other calls |")
    print("| --- | ---: | ---: | ---: |")
    tot_k = tot_s = tot_o = 0
    for st in STAGES:
        ck = sum(n for k, n in calls.items() if k[0] == st and k[1] == "keys")
        cs = sum(n for k, n in calls.items()
                 if k[0] == st and k[1] == "secrets")
        co = sum(n for k, n in calls.items()
                 if k[0] == st and k[1] not in ("keys", "secrets"))
        tot_k, tot_s, tot_o = tot_k + ck, tot_s + cs, tot_o + co
        if ck or cs or co:
            print("| %s | %.3f | %.3f | %d |"
                  % (st, ck / max(nuser, 1), cs / max(nsec, 1), co))
    print("| all | %.3f | %.3f | %d |" % (tot_k / max(nuser, 1),
                                          tot_s / max(nsec, 1), tot_o))
    print()
    print("by action (kmsim): " + ", ".join(
        "%s %d" % (k, n) for k, n in sorted(served.items())))
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"keys": nuser, "service_keys": nsvc, "secrets": nsec,
                       "exit": rc, "served": dict(served),
                       "calls": [{"stage": k[0], "provider": k[1],
                                  "action": k[2], "n": calls[k]}
                                 for k in order]}, f, indent=1)
    problems = []
    if rc != 0:
        problems.append("kmsmig run exited %d (see %s)" % (rc, err))
    if bad:
        problems.append("answers not OK: %s" % bad)
    if sent != served_api:
        problems.append("kmsmig logged %d calls, kmsim served %d"
                        % (sent, served_api))
    if problems:
        for p in problems:
            print("PROBLEM:", p)
        print("work directory kept:", work)
        sys.exit(1)
    if os.environ.get("KM_BENCH_KEEP"):
        print("work directory kept:", work)
    else:
        shutil.rmtree(work, ignore_errors=True)


main()
