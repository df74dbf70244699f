#!/usr/bin/env python3
"""Client cost per API call: the official Node.js SDK vs kmsmig, side by side.

Both clients do the same discovery of one account x one region (default
2,000 customer keys + 2 service keys and 500 secrets, from kmsim's seeded
generator) against one kmsim with throttling off, over HTTP and over HTTPS:

  kmsmig  `kmsmig plan MANIFEST` (discover + preflight, read-only), the
          manifest pointing every *.aliyuncs.com host at kmsim
          (endpoints.overrides: scheme http, or https with kmsim's test CA)
  node    tests/bench/sdk_discover.js: the calls kmsmig makes, written with the
          official SDK pinned by tests/conformance/package.json
          (@alicloud/kms20160120 1.2.0), up to 32 calls in flight

Calls are what kmsim served to that client (GET /_kmsim/stats, reset before
each client; node's own count must agree); CPU is the client process's
user+sys time (os.wait4 rusage, all its threads); wall is its elapsed time.
CPU µs/call = CPU / calls; the ratio is node / kmsmig per transport.  Each
client's fixed cost is measured too, as the same discovery of an empty
region (process start, SDK or plugins, TLS set-up, 7 calls, exit), and the
ratio is printed again with it taken off both sides.

Regime.  The issue asks for the discovery "throttling off" and compares the
CPU per call.  Per-call CPU depends strongly on the call rate (a call at
50/s wakes an idle process with cold caches; calls in a burst share the
wake-ups), so both clients must run in the same regime:
  burst (default)  both unpaced: kmsmig's limiter raised to 100000 calls/s
                   per API group through the manifest (concurrency.qps,
                   docs/manifest.md), node with no pacer; both with 32 calls
                   in flight per stage.  Under a minute per run.
  paced            both paced to the published 50 calls/s per API group
                   (kmsmig by itself, node with the same token bucket,
                   --node-qps); the discovery takes about 130 s per client
                   and transport, about 9 minutes in all.

kmsim's CPU in each client's run (utime+stime from /proc/PID/stat, read
before and after) is printed too, with its share of the run's wall time
(1.00 = one core busy the whole run; kmsim's handlers run one at a time
under its cloud lock, so near 1.00 kmsim is the bound of that row, not the
client).  The actions whose counts differ between the two clients are
printed (kmsmig's preflight makes a few CloudMonitor calls node does not).

Layers.  After each run over HTTP, tests/bench/client_floor (built with
kmsim) makes --layer-calls signed DescribeKey calls three ways and prints
the CPU per call of each, so one run says how far each layer of kmsmig is
from the least a client can spend and from the 1/20 target: kmsmig's
signer on an HTTP/1.1 writer and reader of the tool's own (uv_tcp_t, the
reply not read: the floor), the same with the reply read into a jansson
tree as kmsmig reads it, and kmsmig's whole client layer (km_acs_call:
signing, retries, curl on libuv, the tree).  What the whole `kmsmig plan`
spends above the client layer is its engine: pacing, the stages, the
model, the rules, the plan's output.

The SDK must reach kmsim by the real host name on ports 80/443, so the
benchmark re-runs itself inside a private mount+network namespace
(`unshare -mn`, as tests/conformance/lib/sdk_ns.sh does): loopback up, a
private /etc/hosts mapping the Alibaba Cloud host names to 127.0.0.1, kmsim
on 80 (http) and 443 (https), NODE_EXTRA_CA_CERTS=sim/tls/ca.pem.  Needs
root (or user namespaces), node, and scripts/npm-deps.sh run once.

A benchmark, not a test: it prints figures and never fails on time; it
exits non-zero only if it cannot run, a client fails, or the counts show
the two did not make the same discovery.

usage: client_cost.py [--bin DIR] [--keys N] [--secrets N] [--runs N]
                      [--transport http|https|both] [--regime burst|paced]
                      [--node-qps Q]
                      [--signature v1|v3] [--concurrency N]
                      [--layer-calls N]
"""
import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CA = os.path.join(TOP, "sim", "tls", "ca.pem")
NODE_SCRIPT = os.path.join(TOP, "tests", "bench", "sdk_discover.js")
NS_ENV = "KM_CLIENT_COST_IN_NS"
PORTS = {"http": 80, "https": 443}
REGION = "cn-hangzhou"


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", default=os.path.join(TOP, "build", "bin"),
                    help="directory of kmsmig and kmsim (default build/bin)")
    ap.add_argument("--keys", type=int, default=2000,
                    help="customer keys in the region (plus 2 service keys)")
    ap.add_argument("--secrets", type=int, default=500)
    ap.add_argument("--runs", type=int, default=1,
                    help="runs of each client and transport; medians shown")
    ap.add_argument("--transport", choices=["http", "https", "both"],
                    default="both")
    ap.add_argument("--signature", choices=["v1", "v3"], default="v1",
                    help="kmsmig's signature (the pinned SDK client signs V1)")
    ap.add_argument("--regime", choices=["burst", "paced"], default="burst",
                    help="burst: both unpaced (kmsmig's limiter raised by "
                    "the manifest); paced: both at the published QPS")
    ap.add_argument("--node-qps", type=float, default=50,
                    help="paced regime: pace node to Q calls/s per API "
                    "group, as kmsmig paces itself (default 50)")
    ap.add_argument("--concurrency", type=int, default=32,
                    help="node calls in flight (kmsmig: 32 per plugin)")
    ap.add_argument("--layer-calls", type=int, default=20000,
                    help="DescribeKey calls of each client_floor row over "
                    "HTTP (0: no layer rows)")
    a = ap.parse_args()
    a.bin = os.path.abspath(a.bin)
    if a.regime == "burst":
        a.node_qps = 0
    return a


def reexec_in_namespace():
    for tool in ("unshare", "ip", "mount", "node"):
        if shutil.which(tool) is None:
            sys.exit("client_cost: '%s' is not on PATH" % tool)
    if not os.path.isdir(os.path.join(TOP, "tests", "conformance",
                                      "node_modules", "@alicloud",
                                      "kms20160120")):
        sys.exit("client_cost: tests/conformance/node_modules is missing; "
                 "run scripts/npm-deps.sh")
    env = dict(os.environ)
    env[NS_ENV] = "1"
    argv = ["unshare", "-mn", sys.executable, os.path.abspath(__file__)]
    argv += sys.argv[1:]
    try:
        os.execvpe("unshare", argv, env)
    except OSError as e:
        sys.exit("client_cost: cannot run unshare -mn: %s" % e)


def setup_namespace(work):
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    names = ["sts.aliyuncs.com", "resourcemanager.aliyuncs.com"]
    for r in [REGION]:
        names += ["kms.%s.aliyuncs.com" % r, "kms-vpc.%s.aliyuncs.com" % r,
                  "sts.%s.aliyuncs.com" % r,
                  "resourcesharing.%s.aliyuncs.com" % r]
    hosts = os.path.join(work, "hosts")
    with open(hosts, "w") as f:
        f.write("127.0.0.1 localhost\n::1 localhost ip6-localhost\n")
        f.write("127.0.0.1 %s\n" % " ".join(names))
    # Private to this mount namespace: the host's /etc/hosts is untouched.
    subprocess.run(["mount", "--bind", hosts, "/etc/hosts"], check=True)
    for v in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY",
              "all_proxy", "ALL_PROXY", "no_proxy", "NO_PROXY"):
        os.environ.pop(v, None)


def admin(method, path, body=None):
    """kmsim's admin paths over plain HTTP on the private loopback."""
    data = None if body is None else json.dumps(body).encode()
    headers = {"Host": "kms.%s.aliyuncs.com" % REGION,
               "Content-Type": "application/json"}
    req = urllib.request.Request("http://127.0.0.1:80" + path, data=data,
                                 method=method, headers=headers)
    with urllib.request.urlopen(req) as r:
        return json.load(r)


def child(argv, env, cwd):
    """Runs argv; returns (exit status, wall s, CPU s, stdout, stderr)."""
    out = open(os.path.join(cwd, "child.out"), "w+")
    err = open(os.path.join(cwd, "child.err"), "w+")
    t0 = time.monotonic()
    p = subprocess.Popen(argv, env=env, cwd=cwd, stdout=out, stderr=err)
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.monotonic() - t0
    p.returncode = os.waitstatus_to_exitcode(status)
    out.seek(0)
    err.seek(0)
    o, e = out.read(), err.read()
    out.close()
    err.close()
    return p.returncode, wall, ru.ru_utime + ru.ru_stime, o, e


# The groups the discovery's calls belong to (core/src/engine/api_groups.c).
BURST_QPS = "{key-read: 100000, secret-meta: 100000, instance-read: 100000}"


def write_manifest(path, acct, region, inst, transport, signature, burst):
    ov = ('{host: "*.aliyuncs.com", address: "127.0.0.1:%d", scheme: %s%s}'
          % (PORTS[transport], transport,
             ', ca_file: "%s"' % CA if transport == "https" else ""))
    lines = [
        "version: 1",
        "name: client-cost",
        "accounts:",
        '  - {name: %s, id: "%s", credentials: {env: true}}'
        % (acct["Name"], acct["AccountId"]),
        "regions: [%s]" % region,
        "instances:",
        '  %s: {id: %s, owner: %s, type: software, image_version: "%s", '
        "auto_renew: true, share_with: all}"
        % (region, inst["InstanceId"], acct["Name"], inst["ImageVersion"]),
        "select: {keys: all-pending, secrets: all-pending}",
        "migrate: {driver: sim, when: now, task_timeout: 30m}",
        # 32 connections allowed, like node's 32 calls in flight.
        "concurrency: {accounts: 1, requests_per_endpoint: 32%s}"
        % (", qps: " + BURST_QPS if burst else ""),
        "endpoints:",
        "  overrides:",
        "    - " + ov,
        "signature: %s" % signature,
    ]
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def served(stats):
    """Requests kmsim served, those that did not answer OK, and the count
    of each action."""
    bad, by = {}, {}
    for action, codes in stats.get("ByAction", {}).items():
        by[action] = sum(codes.values())
        for code, n in codes.items():
            if code != "OK":
                bad["%s %s" % (action, code)] = n
    return stats.get("Requests", 0), bad, by


class Cloud:
    """One kmsim serving a generated fixture on 80 (http) and 443 (https)
    of the namespace's private loopback, throttling off."""

    def __init__(self, kmsim_bin, work, name, keys, services, secrets):
        self.work = work
        spec = ("seed=1,accounts=1,regions=%s,keys_per_region=%d,"
                "service_keys_per_region=%d,secrets_per_region=%d,"
                "byok_per_region=0" % (REGION, keys, services, secrets))
        fixture = os.path.join(work, name + ".yaml")
        with open(fixture, "w") as f:
            subprocess.run([kmsim_bin, "--generate", spec], stdout=f,
                           check=True)
        self.fx = open(fixture).read().split("\n")
        self.region = REGION
        ports = os.path.join(work, name + ".ports")
        self.log = os.path.join(work, name + ".kmsim.log")
        self.proc = subprocess.Popen(
            [kmsim_bin, "--fixture", fixture, "--http-port", "80",
             "--https-port", "443", "--port-file", ports],
            stdout=subprocess.DEVNULL, stderr=open(self.log, "w"))
        for _ in range(400):
            if os.path.exists(ports) and "https=" in open(ports).read():
                break
            if self.proc.poll() is not None:
                raise RuntimeError("kmsim exited; see %s" % self.log)
            time.sleep(0.05)
        faults = admin("POST", "/_kmsim/faults", {"throttle": "off"})
        if faults.get("throttle") != "off":
            raise RuntimeError("kmsim did not turn throttling off: %s"
                               % faults)
        state = admin("GET", "/_kmsim/state")
        self.acct = state["Accounts"][0]
        self.inst = next(i for i in state["Instances"]
                         if i["Owner"] == self.acct["AccountId"]
                         and i["Region"] == self.region)
        r = self.acct["Regions"][self.region]
        self.nuser = sum(1 for k in r["Keys"] if k["CreatorType"] == "User")
        self.nsvc = len(r["Keys"]) - self.nuser
        self.nsec = len(r["Secrets"])
        self.key_ids = [k["KeyId"] for k in r["Keys"]]
        # The generated AccessKey of the account (test-only values).
        self.ak = next(l.split('"')[1] for l in self.fx if '- id: "KSIM' in l)
        self.sk = next(l.split('"')[1] for l in self.fx
                       if 'secret: "ksim-gen' in l)

    def cpu(self):
        """kmsim's user+sys CPU so far, in seconds."""
        with open("/proc/%d/stat" % self.proc.pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self):
        if self.proc is not None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait()
            self.proc = None


class Bench:
    def __init__(self, a, work):
        self.a = a
        self.work = work
        self.kmsmig = os.path.join(a.bin, "kmsmig")
        self.problems = []
        self.by_action = {}

    def measure(self, cloud, side, t, label):
        """One client run against cloud: (calls, wall, cpu)."""
        a = self.a
        env = dict(os.environ, ALIBABA_CLOUD_ACCESS_KEY_ID=cloud.ak,
                   ALIBABA_CLOUD_ACCESS_KEY_SECRET=cloud.sk,
                   NODE_EXTRA_CA_CERTS=CA)
        if side == "kmsmig":
            manifest = os.path.join(self.work, "manifest-%s.yaml" % t)
            write_manifest(manifest, cloud.acct, cloud.region, cloud.inst, t,
                           a.signature, a.regime == "burst")
            # KM_BENCH_WRAP="perf record -g -o /tmp/p2.perf" profiles
            # kmsmig's runs (as in fleet_bench.py); the wrapper's CPU counts.
            wrap = os.environ.get("KM_BENCH_WRAP", "").split()
            argv = wrap + [self.kmsmig, "plan", manifest]
        else:
            argv = ["node", NODE_SCRIPT, "--region", cloud.region,
                    "--instance", cloud.inst["InstanceId"], "--protocol", t,
                    "--concurrency", str(a.concurrency)]
            if a.node_qps:
                argv += ["--qps", "%g" % a.node_qps]
        admin("DELETE", "/_kmsim/stats")
        k0 = cloud.cpu()
        rc, wall, cpu, o, e = child(argv, env, self.work)
        kcpu = cloud.cpu() - k0
        calls, bad, by = served(admin("GET", "/_kmsim/stats"))
        self.by_action[(side, t)] = by
        print("%-10s %-6s %-5s exit %d  %6d calls  %7.2f s wall  %6.3f s CPU"
              "  kmsim %6.3f s CPU (%.2f of the wall)"
              % (label, side, t, rc, calls, wall, cpu, kcpu,
                 kcpu / wall if wall else 0), flush=True)
        if rc != 0 or bad:
            self.problems.append("%s %s: exit %d, answers not OK: %s; %s"
                                 % (side, t, rc, bad, (o + e)[-800:]))
        if side == "node":
            try:
                j = json.loads(o.strip().split("\n")[-1])
            except (ValueError, IndexError):
                j = {}
            if j.get("calls") != calls:
                self.problems.append("node %s: counted %s calls, kmsim served"
                                     " %d" % (t, j.get("calls"), calls))
            found = (j.get("user_keys"), j.get("service_keys"),
                     j.get("secrets"))
            if found != (cloud.nuser, cloud.nsvc, cloud.nsec):
                self.problems.append("node %s: found %s user keys, %s service"
                                     " keys, %s secrets" % ((t,) + found))
        return calls, wall, cpu, kcpu


    def layers(self, cloud, run):
        """client_floor's rows over HTTP: {(client, read): µs/call}."""
        a = self.a
        tool = os.path.join(a.bin, "client_floor")
        ids = os.path.join(self.work, "key-ids.txt")
        with open(ids, "w") as f:
            f.write("\n".join(cloud.key_ids) + "\n")
        out = {}
        for client, read in LAYERS:
            argv = [tool, "--addr", "127.0.0.1:%d" % PORTS["http"],
                    "--ak", cloud.ak, "--secret", cloud.sk, "--ids", ids,
                    "--calls", str(a.layer_calls), "--conns",
                    str(a.concurrency), "--client", client, "--read", read]
            p = subprocess.run(argv, capture_output=True, text=True)
            line = p.stdout.strip()
            print("layer %d/%d  %s" % (run + 1, a.runs,
                                       line or p.stderr.strip()), flush=True)
            if p.returncode != 0 or "us/call" not in line:
                self.problems.append("client_floor %s/%s: exit %d: %s"
                                     % (client, read, p.returncode,
                                        p.stderr.strip()[-400:]))
                continue
            out[(client, read)] = float(line.rsplit(",", 1)[1].split()[0])
        return out


# client_floor's rows: kmsmig's signer on an HTTP writer and reader of the
# tool's own (the floor), the same with the reply read into a jansson tree,
# and kmsmig's whole client layer (km_acs_call: curl on libuv, the tree).
LAYERS = (("raw", "none"), ("raw", "tree"), ("acs", "tree"))
LAYER_NAMES = {
    ("raw", "none"): "floor: signer + own HTTP/1.1 on libuv, reply not read",
    ("raw", "tree"): "floor + reply read into a jansson tree",
    ("acs", "tree"): "kmsmig's client layer (km_acs_call: curl + tree)",
}


def print_layers(a, layer_runs, med):
    """The table of CPU per call by layer, next to kmsmig and node."""
    if not layer_runs or ("node", "http") not in med:
        return
    node_us = med[("node", "http")][3]
    print()
    print("layers over HTTP (client_floor: %d DescribeKey calls, %d "
          "connections, CPU of the calls alone; median of %d); the target "
          "1/20 of node is %.0f µs/call"
          % (a.layer_calls, a.concurrency, len(layer_runs), node_us / 20))
    print()
    print("| layer | CPU µs/call | node / layer |")
    print("| --- | ---: | ---: |")
    for key in LAYERS:
        v = [r[key] for r in layer_runs if key in r]
        if v:
            us = statistics.median(v)
            print("| %s | %.1f | %.1f |" % (LAYER_NAMES[key], us,
                                          node_us / us if us else 0))
    k = med[("kmsmig", "http")][3]
    print("| kmsmig plan, the whole discovery (above) | %.1f | %.1f |"
          % (k, node_us / k if k else 0))
    print("| node SDK (above) | %.0f | 1.0 |" % node_us)


def median_row(rows):
    return (int(statistics.median(r[0] for r in rows)),
            statistics.median(r[1] for r in rows),
            statistics.median(r[2] for r in rows),
            statistics.median(r[2] / r[0] * 1e6 if r[0] else 0 for r in rows),
            statistics.median(r[3] for r in rows))


def main():
    a = parse_args()
    if os.environ.get(NS_ENV) != "1":
        reexec_in_namespace()
    kmsim_bin = os.path.join(a.bin, "kmsim")
    for b in (kmsim_bin, os.path.join(a.bin, "kmsmig")):
        if not os.access(b, os.X_OK):
            sys.exit("client_cost: %s is not built" % b)
    work = tempfile.mkdtemp(prefix="kmsmig-client-cost-")
    transports = ["http", "https"] if a.transport == "both" else [a.transport]
    sides = ("kmsmig", "node")
    bench = Bench(a, work)
    cloud = None
    fixed, results, layer_runs = {}, {}, []
    try:
        setup_namespace(work)
        # The fixed cost of each client: the same discovery of an empty
        # region (process start, SDK/plugins, TLS set-up, the handful of
        # list and instance calls, exit).
        cloud = Cloud(kmsim_bin, work, "empty", 0, 0, 0)
        for t in transports:
            for side in sides:
                rows = [bench.measure(cloud, side, t, "empty %d/3" % (i + 1))
                        for i in range(3)]
                fixed[(side, t)] = median_row(rows)
        cloud.stop()
        cloud = Cloud(kmsim_bin, work, "region", a.keys, 2, a.secrets)
        for run in range(a.runs):
            for t in transports:
                for side in sides:
                    results.setdefault((side, t), []).append(bench.measure(
                        cloud, side, t, "run %d/%d" % (run + 1, a.runs)))
            if "http" in transports and a.layer_calls > 0:
                layer_runs.append(bench.layers(cloud, run))
    except (RuntimeError, subprocess.CalledProcessError, OSError) as e:
        sys.exit("client_cost: %s" % e)
    finally:
        if cloud is not None:
            cloud.stop()
        if os.environ.get("KM_BENCH_KEEP"):
            print("work directory kept:", work)
        else:
            shutil.rmtree(work, ignore_errors=True)

    med = {k: median_row(v) for k, v in results.items()}
    print()
    print("client cost: 1 account x 1 region (%s), %d customer + %d service "
          "keys, %d secrets; kmsim throttling off; kmsmig signature %s; "
          "%s; median of %d run%s"
          % (cloud.region, cloud.nuser, cloud.nsvc, cloud.nsec, a.signature,
             "both paced at %g calls/s per API group" % a.node_qps
             if a.regime == "paced" else "both unpaced (burst)", a.runs,
             "" if a.runs == 1 else "s"))
    print()
    print("| side | transport | calls | wall s | CPU s | CPU µs/call "
          "| kmsim CPU s | kmsim busy |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for t in transports:
        for side in sides:
            c, w, cpu, us, kc = med[(side, t)]
            print("| %s | %s | %d | %.2f | %.3f | %.0f | %.3f | %.2f |"
                  % (side, t.upper(), c, w, cpu, us, kc, kc / w if w else 0))
    print()
    for t in transports:
        k, n = med[("kmsmig", t)], med[("node", t)]
        fk, fn = fixed[("kmsmig", t)], fixed[("node", t)]
        # Per call without the fixed cost: (CPU - empty CPU) / (calls -
        # empty calls).
        net_k = (k[2] - fk[2]) / (k[0] - fk[0]) * 1e6 if k[0] > fk[0] else 0
        net_n = (n[2] - fn[2]) / (n[0] - fn[0]) * 1e6 if n[0] > fn[0] else 0
        print("ratio node/kmsmig %-5s %.2f CPU µs/call   fixed cost (empty "
              "region, %d calls): kmsmig %.3f s, node %.3f s; without it "
              "%.0f / %.0f µs = %.2f"
              % (t.upper(), n[3] / k[3] if k[3] else 0, fk[0], fk[2], fn[2],
                 net_n, net_k, net_n / net_k if net_k else 0))
    print_layers(a, layer_runs, med)
    # Where the two call sets differ (the last run of each), so a reader
    # sees what the per-call figures compare.
    for t in transports:
        k = bench.by_action.get(("kmsmig", t), {})
        n = bench.by_action.get(("node", t), {})
        diff = ["%s %d/%d" % (a, k.get(a, 0), n.get(a, 0))
                for a in sorted(set(k) | set(n)) if k.get(a, 0) != n.get(a, 0)]
        print("calls that differ, kmsmig/node, %s: %s"
              % (t.upper(), ", ".join(diff) if diff else "none"))
    for t in transports:
        c, w, cpu, us, kc = med[("kmsmig", t)]
        if w and kc / w > 0.8:
            print("note: kmsim was busy %.0f%% of kmsmig's %s run: kmsim, not "
                  "kmsmig, bounds that row's wall time" % (100 * kc / w,
                                                           t.upper()))
    if bench.problems:
        print()
        for p in bench.problems:
            print("PROBLEM:", p)
        sys.exit(1)


if __name__ == "__main__":
    main()
