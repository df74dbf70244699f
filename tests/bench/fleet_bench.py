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
Both modes size the generated instances' key and secret quotas to the fleet
(at least the generator's 10,000 each, so the default fleet is unchanged);
kmsmig's peak RSS is its own VmHWM (read from /proc while it runs: see
run_kmsmig for why not ru_maxrss); kmsim's is ru_maxrss (os.wait4).

Memory mode (--memory, or --preset small-10k): the requirement "10,000
small pipelines (1 region, 2 keys, 1 secret) in one process: peak RSS at
most 64 MB, at most 32 KB per pipeline beyond the process's baseline".
For every size in --sizes (default 1,1000,10000) it generates a fleet of
that many accounts of the small shape (1 region, 2 customer keys + the
generator's 2 service keys, 1 secret, no BYOK key), lets kmsmig find the
members in the resource directory (manifest `directory:`, ListAccounts,
AssumeRole into each member) and runs them with concurrency.accounts =
min(size, --concurrency or 1024, the manifest maximum) and
concurrency.requests_per_endpoint left to kmsmig's default (8; connections
in flight are a cost of that setting, ~80 KB each over TLS, not of the
pipelines: --requests-per-endpoint N measures another), and prints per
size: pipelines, accounts at once, exit code, wall time, peak RSS of
kmsmig (its VmHWM, see run_kmsmig), KB per pipeline
beyond the baseline, and the slope between consecutive sizes.
  - baseline = peak RSS of the same kmsmig running 1 pipeline of the same
    shape (a fleet of the management account alone, same manifest form);
    measured first even when 1 is not in --sizes;
  - KB per pipeline beyond baseline = (peak - baseline) / (pipelines - 1);
  - figures are in MiB and KiB (VmHWM counts KiB);
  - the targets (peak <= 64 MB, read as 64,000,000 bytes = 61.0 MiB, the
    stricter reading; <= 32 KB per pipeline) are printed for each
    size with "within" or "over"; they are defined at 10,000 pipelines.
--accounts-from manifest lists every account in the manifest instead (the
default mode's form).  --time-limit S stops a run after S seconds (SIGTERM,
kmsmig exits 4, resumable) and reports its peak RSS so far as a lower bound.

usage: fleet_bench.py [--accounts N] [--regions N] [--keys N] [--secrets N]
                      [--concurrency N] [--bin DIR]
       fleet_bench.py --memory [--sizes 1,1000,10000] [--regions N]
                      [--keys N] [--secrets N] [--concurrency N]
                      [--accounts-from directory|manifest]
                      [--time-limit S] [--bin DIR]
       fleet_bench.py --preset small-10k     (= --memory, the sizes above)
"""
import argparse
import collections
import json
import os
import re
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
QPS = {"key-read": 50, "key-write": 30, "secret-meta": 40, "instance-read": 50,
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
                "secret-meta": 2 + len(secrets) // 100 + len(secrets)
                + 2 * len(rot_s) + 2 * len(secrets),
                "instance-read": 3,
            }
            t = max(calls[g] / QPS[g] for g in calls)
            t += (len(movable) + len(secrets)) * SECONDS_PER_RESOURCE
            worst = max(worst, t)
    waves = -(-naccounts // concurrency)
    return worst * waves


KMSIM_CA = os.path.join(TOP, "sim/tls/ca.pem")
# --requests-per-endpoint: 64 in the fleet mode; the memory mode sets None,
# which leaves it out of the manifest (kmsmig's own default, 8, applies).
REQUESTS_PER_ENDPOINT = 64
MAX_CONCURRENCY = 1024  # concurrency.accounts maximum (docs/manifest.md)
# "peak RSS at most 64 MB", read in decimal units, the stricter reading:
# 64,000,000 bytes = 62,500 KiB = 61.0 MiB.
TARGET_PEAK_KIB = 64_000_000 // 1024
TARGET_PER_PIPELINE_KIB = 32  # "at most 32 KB per pipeline beyond baseline"


def start_fleet(a, work, naccounts):
    """Generates a fleet of naccounts and serves it; (kmsim, port, fixture,
    generator seconds, kmsim load seconds)."""
    # The instances' quotas grow with the fleet (the generator's default is
    # 10,000 keys and 10,000 secrets per instance, which a 10,000-account
    # fleet exceeds: preflight would block every pipeline).
    spec = ("seed=1,accounts=%d,regions=%d,keys_per_region=%d,"
            "secrets_per_region=%d,byok_per_region=0,"
            "instance_key_num=%d,instance_secret_num=%d" %
            (naccounts, a.regions, a.keys, a.secrets,
             max(10000, 2 * naccounts * a.keys),
             max(10000, 2 * naccounts * a.secrets)))
    fixture = os.path.join(work, "fleet.yaml")
    t0 = time.monotonic()
    with open(fixture, "w") as f:
        subprocess.run([os.path.join(a.bin, "kmsim"), "--generate", spec],
                       stdout=f, check=True)
    t1 = time.monotonic()
    ports = os.path.join(work, "ports")
    # --no-tls-tickets (pacing_bench): every connection a full handshake,
    # to see what TLS session resumption saves.
    extra = ["--no-tls-tickets"] if getattr(a, "no_tls_tickets", False) else []
    kmsim = subprocess.Popen([os.path.join(a.bin, "kmsim"), "--fixture",
                              fixture, "--https-port", "0", "--port-file",
                              ports] + extra, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    port = None
    for _ in range(2400):  # 120 s: a 10,000-account fixture loads in ~2 s
        if os.path.exists(ports) and "https=" in open(ports).read():
            port = int([l.split("=")[1] for l in open(ports).read().split()
                        if l.startswith("https=")][0])
            break
        if kmsim.poll() is not None:
            break
        time.sleep(0.05)
    if port is None:
        kmsim.kill()
        kmsim.wait()
        sys.exit("fleet_bench: kmsim did not start on %s" % fixture)
    return kmsim, port, fixture, t1 - t0, time.monotonic() - t1


def stop_kmsim(kmsim):
    """SIGTERM and reap; kmsim's rusage."""
    kmsim.send_signal(signal.SIGTERM)
    _, _, ru = os.wait4(kmsim.pid, 0)
    kmsim.returncode = 0
    return ru


def write_manifest(work, state, nregions, port, concurrency, directory):
    """The run's manifest.  directory=False lists every account (members by
    assume_role via the management account); directory=True lists the
    management account only and finds the members with ListAccounts."""
    accts = state["Accounts"]
    mgmt = accts[0]
    regions = state["Regions"][:nregions]
    insts = {i["Region"]: i for i in state["Instances"]
             if i["Owner"] == mgmt["AccountId"]}
    lines = ["version: 1", "name: fleet-bench"]
    if directory:
        lines.append("directory: {management: %s}" % mgmt["Name"])
    lines.append("accounts:")
    lines.append('  - {name: %s, id: "%s", credentials: {env: true}}'
                 % (mgmt["Name"], mgmt["AccountId"]))
    for x in ([] if directory else accts[1:]):
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
    conc = "concurrency: {accounts: %d" % concurrency
    if REQUESTS_PER_ENDPOINT is not None:
        conc += ", requests_per_endpoint: %d" % REQUESTS_PER_ENDPOINT
    lines += ["select: {keys: all-pending, secrets: all-pending}",
              "migrate: {driver: sim, when: now, task_timeout: 30m}",
              conc + "}",
              "failure_tolerance: {percent: 100}",
              "endpoints:", "  overrides:",
              '    - {host: "*.aliyuncs.com", address: "127.0.0.1:%d", '
              'scheme: https, ca_file: %s}' % (port, KMSIM_CA)]
    manifest = os.path.join(work, "fleet.yaml.manifest.yaml")
    open(manifest, "w").write("\n".join(lines) + "\n")
    return manifest, regions


def mgmt_env(fixture):
    """The management account's generated AccessKey (test-only values)."""
    ak = sk = None
    with open(fixture) as f:
        for l in f:
            if ak is None and "- id: \"KSIM" in l:
                ak = l.split('"')[1]
            elif sk is None and "secret: \"ksim-gen" in l:
                sk = l.split('"')[1]
            if ak is not None and sk is not None:
                break
    return dict(os.environ, ALIBABA_CLOUD_ACCESS_KEY_ID=ak,
                ALIBABA_CLOUD_ACCESS_KEY_SECRET=sk)


def vm_hwm_kb(pid):
    """VmHWM (peak RSS, KiB) of a running process, or 0."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def run_kmsmig(a, work, manifest, env, time_limit=0):
    """Runs `kmsmig run`; (exit code, wall seconds, rusage of the kmsmig
    child alone, stdout path, stderr path, stopped at the time limit, peak
    RSS in KiB).  The peak is kmsmig's own VmHWM, read every 50 ms while it
    runs (the high-water mark only grows, so the last reading is the peak
    but for its last 50 ms): ru_maxrss of a child forked from this Python
    process starts at Python's own peak (Linux keeps the larger of the two
    across exec), and Python holds the fixture's state, so ru_maxrss
    reported Python's size whenever that was larger."""
    out = os.path.join(work, "kmsmig.stdout")
    err = os.path.join(work, "kmsmig.stderr")
    # KM_BENCH_WRAP="perf record -g -o /tmp/kmsmig.perf" profiles the run.
    wrap = os.environ.get("KM_BENCH_WRAP", "").split()
    t0 = time.monotonic()
    with open(out, "w") as fo, open(err, "w") as fe:
        p = subprocess.Popen(wrap + [os.path.join(a.bin, "kmsmig"), "run",
                                     manifest, "--yes", "--run-dir",
                                     os.path.join(work, "run")], env=env,
                             stdout=fo, stderr=fe)
        stopped = False
        hwm = 0
        while True:
            hwm = max(hwm, vm_hwm_kb(p.pid))
            pid, status, ru = os.wait4(p.pid, os.WNOHANG)
            if pid == p.pid:
                break
            if time_limit and not stopped and \
                    time.monotonic() - t0 > time_limit:
                p.send_signal(signal.SIGTERM)
                stopped = True
            time.sleep(0.05)
    wall = time.monotonic() - t0
    p.returncode = os.waitstatus_to_exitcode(status)
    if wrap:  # the wrapper's own peak is not kmsmig's
        hwm = ru.ru_maxrss
    return p.returncode, wall, ru, out, err, stopped, hwm


def tail(path, n=2000):
    try:
        with open(path) as f:
            return f.read()[-n:]
    except OSError:
        return ""


def fleet_main(a):
    """The default mode: one fleet, wall time against the throttle bound."""
    work = tempfile.mkdtemp(prefix="kmsmig-bench-")
    concurrency = a.concurrency if a.concurrency is not None else 100
    kmsim, port, fixture, _, _ = start_fleet(a, work, a.accounts)
    try:
        state = admin(port, "/_kmsim/state")
        accts = state["Accounts"]
        manifest, regions = write_manifest(work, state, a.regions, port,
                                           concurrency, directory=False)
        env = mgmt_env(fixture)
        lower = bound(state, concurrency, len(accts))
        rc, wall, ru, out, err, _, rss_kmsmig = run_kmsmig(a, work, manifest,
                                                            env)
        rep = json.load(open(os.path.join(work, "run", "report.json")))
        t = rep["totals"]
        stats = admin(port, "/_kmsim/stats")
    finally:
        kmsim_ru = stop_kmsim(kmsim)
    kmsim_rss = kmsim_ru.ru_maxrss
    print("fleet: %d accounts x %d regions = %d pipelines, %d keys + %d "
          "secrets per region" % (len(accts), len(regions),
                                  len(accts) * len(regions), a.keys, a.secrets))
    print("run exit %d: keys migrated %d, secrets migrated %d, failed %d, "
          "rotation %d off / %d restored"
          % (rc, t["keys"]["migrated"], t["secrets"]["migrated"],
             t["keys"]["failed"] + t["secrets"]["failed"],
             t["rotation"]["turned_off"], t["rotation"]["restored"]))
    print("requests served by kmsim: %s" %
          json.dumps(stats.get("requests", stats.get("Requests", "?"))))
    print("wall time            %8.2f s" % wall)
    print("throttle-bound limit %8.2f s" % lower)
    print("ratio wall/limit     %8.2f" % (wall / lower if lower else 0))
    print("peak RSS kmsmig      %8.1f MiB" % (rss_kmsmig / 1024.0))
    print("peak RSS kmsim       %8.1f MiB" % (kmsim_rss / 1024.0))
    if rc != 0:
        print(tail(out))
        print(tail(err))
    if os.environ.get("KM_BENCH_KEEP"):
        print("work directory kept:", work)
    else:
        shutil.rmtree(work, ignore_errors=True)


def error_summary(log):
    """The run log's error lines, numbers blanked, most frequent first."""
    c = collections.Counter()
    try:
        with open(log) as f:
            for l in f:
                if " error " not in l:
                    continue
                msg = l.split(" error ", 1)[1].strip()
                if ": " in msg and msg.split(": ", 1)[0].count(" ") == 1:
                    msg = msg.split(": ", 1)[1]  # drop "ACCOUNT REGION: "
                c[re.sub(r"\d+", "N", msg)] += 1
    except OSError:
        pass
    return c


def memory_run(a, naccounts):
    """One memory-mode run of naccounts accounts; a dict of figures."""
    work = tempfile.mkdtemp(prefix="kmsmig-mem-%d-" % naccounts)
    conc = min(naccounts, a.concurrency or MAX_CONCURRENCY, MAX_CONCURRENCY)
    sys.stdout.write("  %d accounts: generating and loading the fleet ..."
                     % naccounts)
    sys.stdout.flush()
    kmsim, port, fixture, gen_s, load_s = start_fleet(a, work, naccounts)
    r = {"accounts": naccounts, "at_once": conc, "gen_s": gen_s,
         "load_s": load_s, "work": work}
    try:
        state = admin(port, "/_kmsim/state")
        manifest, regions = write_manifest(
            work, state, a.regions, port, conc,
            directory=a.accounts_from == "directory")
        del state
        sys.stdout.write(" running kmsmig ...")
        sys.stdout.flush()
        rc, wall, ru, out, err, stopped, hwm = run_kmsmig(
            a, work, manifest, mgmt_env(fixture), a.time_limit)
        r.update(rc=rc, wall=wall, rss=hwm, user=ru.ru_utime,
                 sys=ru.ru_stime, stopped=stopped, out=out, err=err)
        r["pipelines"] = naccounts * len(regions)
        r["status"] = None
        try:
            rep = json.load(open(os.path.join(work, "run", "report.json")))
            r["status"] = collections.Counter(p.get("status", "?")
                                              for p in rep["pipelines"])
        except (OSError, ValueError, KeyError):
            pass
        r["errors"] = error_summary(os.path.join(work, "run", "kmsmig.log"))
    finally:
        kru = stop_kmsim(kmsim)
    r.update(kmsim_rss=kru.ru_maxrss, kmsim_cpu=kru.ru_utime + kru.ru_stime)
    print(" exit %d, %.1f s, peak RSS %.1f MiB" % (r["rc"], r["wall"],
                                                   r["rss"] / 1024.0))
    return r


def memory_main(a):
    sizes = sorted(set(int(x) for x in a.sizes.split(",") if x.strip()))
    if not sizes or sizes[0] < 1:
        sys.exit("fleet_bench: --sizes takes positive counts, e.g. 1,1000")
    shape = ("%d region%s, %d keys + %d secret%s per region (+2 service "
             "keys), no BYOK key" % (a.regions, "" if a.regions == 1 else "s",
                                     a.keys, a.secrets,
                                     "" if a.secrets == 1 else "s"))
    src = ("resource directory (manifest directory:, ListAccounts, "
           "AssumeRole into each member)" if a.accounts_from == "directory"
           else "every account listed in the manifest")
    print("memory: kmsmig peak RSS by number of pipelines")
    print("  shape: %s; accounts from the %s" % (shape, src))
    print("  kmsmig: %s" % os.path.join(a.bin, "kmsmig"))
    print("  concurrency.requests_per_endpoint: %s" % (
        REQUESTS_PER_ENDPOINT if REQUESTS_PER_ENDPOINT is not None
        else "not set (kmsmig's default, 8)"))
    runs = {}
    if sizes[0] != 1:
        print("  baseline run (1 pipeline), not in --sizes:")
    for n in ([1] if sizes[0] != 1 else []) + sizes:
        runs[n] = memory_run(a, n)
    base = runs[1]["rss"]
    print()
    print("baseline = peak RSS of kmsmig running 1 pipeline of the same "
          "shape: %.1f MiB" % (base / 1024.0))
    print("KB/pipeline = (peak RSS - baseline) / (pipelines - 1); "
          "figures in MiB and KiB (VmHWM of kmsmig, read while it runs)")
    print("targets: peak RSS <= 64 MB (64,000,000 bytes = 61.0 MiB), "
          "<= 32 KB per pipeline beyond "
          "baseline (defined at 10,000 pipelines)")
    print()
    hdr = ("%9s %7s %4s %9s %9s %13s %13s %11s  %-7s %-7s"
           % ("pipelines", "at once", "exit", "wall s", "cpu s",
              "peak RSS MiB", "KB/pipeline", "slope KB", "<=64MB",
              "<=32KB"))
    print(hdr)
    prev = None
    for n in sizes:
        r = runs[n]
        p = r["pipelines"]
        per = (r["rss"] - base) / (p - 1) if p > 1 else None
        slope = ((r["rss"] - prev["rss"]) / (p - prev["pipelines"])
                 if prev is not None and p > prev["pipelines"] else None)
        print("%9d %7d %4d %9.1f %9.1f %13.1f %13s %11s  %-7s %-7s%s"
              % (p, r["at_once"], r["rc"], r["wall"], r["user"] + r["sys"],
                 r["rss"] / 1024.0,
                 "-" if per is None else "%.1f" % per,
                 "-" if slope is None else "%.1f" % slope,
                 "within" if r["rss"] <= TARGET_PEAK_KIB else "over",
                 "-" if per is None else
                 ("within" if per <= TARGET_PER_PIPELINE_KIB else "over"),
                 "  (stopped at --time-limit: peak so far)"
                 if r["stopped"] else ""))
        prev = r
    print("(slope KB = growth of peak RSS per added pipeline since the "
          "previous size)")
    print()
    print("%9s %10s %13s %11s  %s" % ("pipelines", "gen+load s",
                                       "kmsim RSS MiB", "kmsim cpu s",
                                       "pipelines by status (report.json)"))
    for n in sizes:
        r = runs[n]
        st = ("no report.json" if r["status"] is None else
              ", ".join("%s %d" % kv for kv in sorted(r["status"].items())))
        print("%9d %10.1f %13.1f %11.1f  %s"
              % (r["pipelines"], r["gen_s"] + r["load_s"],
                 r["kmsim_rss"] / 1024.0, r["kmsim_cpu"], st))
    for n in sizes:
        r = runs[n]
        if r["errors"]:
            print()
            print("kmsmig at %d pipelines: exit %d; errors in the run log "
                  "(numbers as N):" % (r["pipelines"], r["rc"]))
            for msg, k in r["errors"].most_common(8):
                print("  %6d  %s" % (k, msg[:160]))
        elif r["rc"] not in (0, 1):
            print()
            print("kmsmig at %d pipelines: exit %d; last output:"
                  % (r["pipelines"], r["rc"]))
            print(tail(r["out"]))
            print(tail(r["err"]))
    keep = os.environ.get("KM_BENCH_KEEP")
    for r in runs.values():
        if keep:
            print("work directory kept:", r["work"])
        else:
            shutil.rmtree(r["work"], ignore_errors=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--accounts", type=int, default=100)
    ap.add_argument("--regions", type=int, default=None)
    ap.add_argument("--keys", type=int, default=None)
    ap.add_argument("--secrets", type=int, default=None)
    ap.add_argument("--concurrency", type=int, default=None)
    ap.add_argument("--requests-per-endpoint", type=int, default=None,
                    help="concurrency.requests_per_endpoint of the fleet's "
                         "manifest: each is up to one TLS connection per "
                         "host in use (~80 KB).  Default: 64 in the fleet "
                         "mode (throughput); in memory mode not set, so "
                         "kmsmig's own default (8) applies, as for a user")
    ap.add_argument("--bin", default=os.path.join(TOP, "build", "bin"))
    ap.add_argument("--memory", action="store_true",
                    help="peak RSS of kmsmig by number of pipelines")
    ap.add_argument("--preset", choices=["small-10k"],
                    help="small-10k: --memory --sizes 1,1000,10000 "
                    "--regions 1 --keys 2 --secrets 1")
    ap.add_argument("--sizes", default="1,1000,10000",
                    help="memory mode: account counts, comma-separated")
    ap.add_argument("--accounts-from", choices=["directory", "manifest"],
                    default="directory", help="memory mode: where the "
                    "members come from")
    ap.add_argument("--time-limit", type=float, default=0,
                    help="memory mode: stop a run after this many seconds")
    a = ap.parse_args()
    global REQUESTS_PER_ENDPOINT
    if a.preset == "small-10k":
        a.memory = True
    if a.requests_per_endpoint is not None:
        REQUESTS_PER_ENDPOINT = a.requests_per_endpoint
    elif a.memory:
        REQUESTS_PER_ENDPOINT = None
    if a.memory:
        small = {"regions": 1, "keys": 2, "secrets": 1}
    else:
        small = {"regions": 2, "keys": 20, "secrets": 10}
    for k, v in small.items():
        if getattr(a, k) is None:
            setattr(a, k, v)
    if a.memory:
        memory_main(a)
    else:
        fleet_main(a)


if __name__ == "__main__":
    main()
