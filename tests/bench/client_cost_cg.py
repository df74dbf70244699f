#!/usr/bin/env python3
"""Instructions of kmsmig's side of client_cost.py, which load does not move.

The same discovery as client_cost.py (one account x one region, 2,000
customer + 2 service keys and 500 secrets, kmsim throttling off, kmsmig
unpaced with 32 calls in flight, signature v1), run once per transport
under `valgrind --tool=callgrind` (user space only).  kmsim listens on free
loopback ports and kmsmig reaches it through its endpoint override, so no
namespace or root is needed.  Prints the calls kmsim served and the
instructions callgrind counted; the profiles stay in --out for
callgrind_annotate.  With --strace instead, counts the connections kmsmig
opened and how often it opened the CA file.

A benchmark, not a test: figures only.

usage: client_cost_cg.py [--bin DIR] [--transport http|https|both]
                         [--out DIR] [--strace]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import client_cost as cc  # noqa: E402  (the fixture and the manifest)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", default=os.path.join(cc.TOP, "build", "bin"))
    ap.add_argument("--transport", choices=["http", "https", "both"],
                    default="both")
    ap.add_argument("--out", default=None,
                    help="where the profiles go (default: a new temp dir)")
    ap.add_argument("--strace", action="store_true")
    a = ap.parse_args()
    a.bin = os.path.abspath(a.bin)
    out = a.out or tempfile.mkdtemp(prefix="client-cost-cg-")
    os.makedirs(out, exist_ok=True)
    kmsim = os.path.join(a.bin, "kmsim")
    spec = ("seed=1,accounts=1,regions=%s,keys_per_region=2000,"
            "service_keys_per_region=2,secrets_per_region=500,"
            "byok_per_region=0" % cc.REGION)
    fx = os.path.join(out, "fixture.yaml")
    with open(fx, "w") as f:
        subprocess.run([kmsim, "--generate", spec], stdout=f, check=True)
    ports = os.path.join(out, "ports")
    if os.path.exists(ports):
        os.unlink(ports)
    p = subprocess.Popen([kmsim, "--fixture", fx, "--http-port", "0",
                          "--https-port", "0", "--port-file", ports],
                         stdout=subprocess.DEVNULL,
                         stderr=open(os.path.join(out, "kmsim.log"), "w"))
    try:
        for _ in range(400):
            if os.path.exists(ports) and "https=" in open(ports).read():
                break
            time.sleep(0.05)
        pp = dict(l.split("=") for l in open(ports).read().split())
        cc.PORTS = {"http": int(pp["http"]), "https": int(pp["https"])}

        def admin(method, path, body=None):
            data = None if body is None else json.dumps(body).encode()
            req = urllib.request.Request(
                "http://127.0.0.1:%d%s" % (cc.PORTS["http"], path),
                data=data, method=method,
                headers={"Host": "kms.%s.aliyuncs.com" % cc.REGION,
                         "Content-Type": "application/json"})
            with urllib.request.urlopen(req) as r:
                return json.load(r)

        admin("POST", "/_kmsim/faults", {"throttle": "off"})
        st = admin("GET", "/_kmsim/state")
        acct = st["Accounts"][0]
        inst = next(i for i in st["Instances"]
                    if i["Owner"] == acct["AccountId"]
                    and i["Region"] == cc.REGION)
        lines = open(fx).read().split("\n")
        ak = next(l.split('"')[1] for l in lines if '- id: "KSIM' in l)
        sk = next(l.split('"')[1] for l in lines if 'secret: "ksim-gen' in l)
        env = dict(os.environ, ALIBABA_CLOUD_ACCESS_KEY_ID=ak,
                   ALIBABA_CLOUD_ACCESS_KEY_SECRET=sk)
        for t in (["http", "https"] if a.transport == "both"
                  else [a.transport]):
            m = os.path.join(out, "manifest-%s.yaml" % t)
            cc.write_manifest(m, acct, cc.REGION, inst, t, "v1", True)
            admin("DELETE", "/_kmsim/stats")
            base = os.path.join(out, t)
            argv = [os.path.join(a.bin, "kmsmig"), "plan", "--output", "json",
                    m]
            if a.strace:
                argv = ["strace", "-f", "-e", "trace=connect,openat", "-o",
                        base + ".strace"] + argv
            else:
                argv = ["valgrind", "--tool=callgrind",
                        "--callgrind-out-file=%s.callgrind" % base] + argv
            r = subprocess.run(argv, env=env, cwd=out,
                               stdout=open(base + ".plan.json", "w"),
                               stderr=open(base + ".err", "w"))
            calls, bad, _ = cc.served(admin("GET", "/_kmsim/stats"))
            line = "%-5s exit %d  %d calls" % (t, r.returncode, calls)
            if bad:
                line += "  not OK: %s" % bad
            if a.strace:
                text = open(base + ".strace").read().split("\n")
                line += "  %d connect()  CA file opened %d times" % (
                    sum(1 for l in text if " connect(" in l),
                    sum(1 for l in text if "openat(" in l and
                        os.path.basename(cc.CA) in l))
            else:
                ir = [l.split(":")[-1].strip() for l in open(base + ".err")
                      if "Collected" in l]
                n = int(ir[0]) if ir else 0
                line += "  %s M instructions  (%.0f k per call)" % (
                    format(n // 1000000, ","), n / 1000 / max(calls, 1))
            print(line)
        print("profiles and outputs in", out)
    finally:
        p.terminate()
        p.wait()


if __name__ == "__main__":
    main()
