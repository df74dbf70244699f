#!/usr/bin/env python3
"""Pacing benchmarks of issue 13: P1 (a throttled fleet against its
throttle-bound lower limit) and P4 (growth from 100 to 1,000 accounts).

P1 (`pacing_bench.py p1`): kmsim's generator builds 100 accounts x 2
regions x (50 customer keys + 50 secrets) (seed 1, no BYOK key; the
generator's shape: some keys rotate, some have several versions, some are
asymmetric, plus 2 service keys a region).  kmsim enforces --qps (10) per
account, region and KMS API group (activation stays at its published 1)
and adds --latency-ms (20) to every cloud call.  kmsmig runs the whole
migration with `-v` and concurrency.qps set to the same figure for those
groups (what an operator who knows the quota writes: docs/performance.md).
It prints:
  - wall time, the throttle-bound lower limit and their ratio;
  - calls per resource (kmsim's count of every cloud call / keys + secrets
    of the fleet), the share of answers that were throttling;
  - peak RSS of kmsmig (VmHWM while it runs) and of kmsim (ru_maxrss);
  - CPU seconds of kmsmig and of kmsim during the run and kmsim's share;
  - the TLS connections kmsim accepted, how many resumed a TLS session
    (kmsim sends TLS 1.3 session tickets, as the cloud's gateways do;
    --no-tls-tickets turns them off) and the answers per connection.
--quiet runs kmsmig without -v, as an operator would, to see what -v
costs: there is no per-call log then, so no bound and no calls sent.
The bound is computed from the calls the run made, one per call, not per
attempt (kmsmig's -v line "STAGE by PROVIDER: call PRODUCT.ACTION [as
ACCOUNT]", core/src/stage/ctx.c; retries are not in it), each in the bucket
of the account whose credentials sent it, its region and its API group
(core/src/engine/api_groups.c).  A bucket of limit q serves n calls in no
less than n / q seconds (kmsim's one-second burst is not taken off: at most
q calls earlier per stage).  The bound is the larger of:
  (a) per pipeline, the sum over its stages, which run one after the other
      (discover, preflight, prepare, migrate, restore, verify, observe), of
      the slowest of the stage's buckets, n / q, plus one round trip
      (--latency-ms) per stage; for migrate at least the console tasks'
      own time (kmsim: 0.02 s per resource of a batch; the batches of a
      pipeline run one at a time: the procedure allows one task per account
      and region); for prepare of a member account at least kmsim's 1 s
      from AssociateResourceShare to Associated (the member may migrate
      into the shared instance only then);
  (b) per bucket over the whole run, n / q: the buckets of the instance's
      owner also carry every member's share calls and the instance's
      dedicated-gateway queries (6 a window, shared by the members since
      stages/monitor/gateway_cache.c; 6 per member and window before).
q is kmsim's limit for the group, or, for a group kmsim does not throttle
(CloudMonitor, ActionTrail, Resource Sharing, STS, RM), kmsmig's own
assumed figure, which it respects as the cloud's.  Not in the bound: CPU,
the engine's barrier after PREFLIGHT (every pipeline waits for the slowest
discovery), polls (the share round's, the task's every 250 ms).  Also
printed: the CPU floor of this machine, max(kmsmig's CPU (one thread),
(kmsmig + kmsim CPU) / cores), and per stage the mean duration against the
mean of its part of (a): where the time goes.

P4 (`pacing_bench.py p4`): --sizes (100,1000) accounts of the small shape
(1 region, 2 keys + 2 service keys, 1 secret), members found in the resource
directory, every account at once (up to 1,024), kmsim throttling off; per
size, wall and CPU of kmsmig and of kmsim, and the ratios between the sizes
(the target: at most 10.5x for 10x the accounts), and the calls kmsim served
during the run: all of them, and CloudMonitor DescribeMetricList (6 a
window per pipeline for its shared gateway, plus 6 a window for the
instance's dedicated gateway, shared by the members: stages/monitor/
gateway_cache.c).

A benchmark, not a test: it prints figures and never fails on time.

usage: pacing_bench.py p1 [--accounts N] [--regions N] [--keys N]
                          [--secrets N] [--qps Q] [--latency-ms MS]
                          [--concurrency N] [--adaptive] [--quiet]
                          [--owner-qps GROUP=QPS,...] [--bin DIR]
       pacing_bench.py p4 [--sizes 100,1000] [--bin DIR]
"""
import argparse
import collections
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fleet_bench as fb  # noqa: E402

TOP = fb.TOP
CALL = re.compile(r" (\S+) (\S+): (\w+) by (\S+): call ([\w-]+)\.(\w+)"
                  r"(?: as (\S+))?$")
STAGES = ["discover", "preflight", "prepare", "migrate", "restore", "verify",
          "observe"]
# kmsim's throttled KMS groups that P1 sets to --qps (sim/faults.c).
KMS_GROUPS = ["key-read", "key-write", "key-tag-read", "create-key",
              "instance-read", "instance-write", "secret-meta"]
SECONDS_PER_RESOURCE = fb.SECONDS_PER_RESOURCE
CLK = os.sysconf("SC_CLK_TCK")


def kmsmig_groups():
    """kmsmig's table: (product, action) -> group, group -> published QPS
    (parsed from core/src/engine/api_groups.c, the one table)."""
    src = open(os.path.join(TOP, "core/src/engine/api_groups.c")).read()
    qps = {m.group(1): (m.group(2), float(m.group(3))) for m in re.finditer(
        r'\[(KM_RL_\w+)\] = \{"([\w-]+)", ([\d.]+)\}', src)}
    act = {}
    for m in re.finditer(r'\{"([\w-]+)", "(\w+)", (KM_RL_\w+), ', src):
        act[(m.group(1), m.group(2))] = qps[m.group(3)][0]
    return act, {g: q for g, q in qps.values()}


def kmsim_published():
    """kmsim's published per-group limits (sim/faults.c)."""
    src = open(os.path.join(TOP, "sim/faults.c")).read()
    body = src.split("k_published[]", 1)[1].split("};", 1)[0]
    return {m.group(1): float(m.group(2))
            for m in re.finditer(r'\{"([\w-]+)", ([\d.]+)\}', body)}


def cpu_s(pid):
    """utime + stime of a running process, seconds."""
    try:
        f = open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()
        return (int(f[11]) + int(f[12])) / CLK
    except (OSError, IndexError, ValueError):
        return 0.0


RUNQ_WAIT_S = 0.0  # kmsmig's main thread, the last reading of the run


def runq_wait_s(pid):
    """Seconds the process's main thread was runnable but waited for a CPU
    (/proc/PID/schedstat, second field): the other sessions' share."""
    try:
        return int(open("/proc/%d/schedstat" % pid).read().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return 0.0


def post_faults(port, body):
    import ssl
    import urllib.request
    ctx = ssl.create_default_context(cafile=fb.KMSIM_CA)
    ctx.check_hostname = False
    req = urllib.request.Request(
        "https://127.0.0.1:%d/_kmsim/faults" % port,
        data=json.dumps(body).encode(), method="POST",
        headers={"Host": "kms.cn-hangzhou.aliyuncs.com",
                 "Content-Type": "application/json"})
    with urllib.request.urlopen(req, context=ctx) as r:
        return json.load(r)


def run_logged(a, work, manifest, env, verbose):
    """kmsmig run (with -v when verbose); like fb.run_kmsmig."""
    out = os.path.join(work, "kmsmig.stdout")
    err = os.path.join(work, "kmsmig.stderr")
    argv = [os.path.join(a.bin, "kmsmig"), "run", manifest, "--yes",
            "--run-dir", os.path.join(work, "run")] + (["-v"] if verbose
                                                       else [])
    # KM_BENCH_WRAP="perf record -g -o /tmp/p1.perf" profiles the run (the
    # peak RSS printed is then the wrapper's).
    argv = os.environ.get("KM_BENCH_WRAP", "").split() + argv
    t0 = time.monotonic()
    with open(out, "w") as fo, open(err, "w") as fe:
        p = subprocess.Popen(argv, env=env, stdout=fo, stderr=fe)
        hwm = 0
        global RUNQ_WAIT_S
        while True:
            hwm = max(hwm, fb.vm_hwm_kb(p.pid))
            RUNQ_WAIT_S = max(RUNQ_WAIT_S, runq_wait_s(p.pid))
            pid, status, ru = os.wait4(p.pid, os.WNOHANG)
            if pid == p.pid:
                break
            time.sleep(0.05)
    wall = time.monotonic() - t0
    return os.waitstatus_to_exitcode(status), wall, ru, out, err, hwm


def count_calls(err, act_group):
    """Calls per (pipeline account, region, stage, group, sender); the
    sender is None for the pipeline's own credentials."""
    calls = collections.Counter()
    unknown = collections.Counter()
    with open(err) as f:
        for line in f:
            m = CALL.search(line.rstrip("\n"))
            if not m:
                continue
            acct, region, stage, _, prod, action, as_ = m.groups()
            g = act_group.get((prod, action))
            if g is None:
                unknown[(prod, action)] += 1
                g = "unlisted"
            calls[(acct, region.rstrip(":"), stage, g, as_)] += 1
    return calls, unknown


def task_seconds(journal):
    """Console task time per (account name, region): resources of every
    batch_submitted record x kmsim's 0.02 s."""
    t = collections.Counter()
    with open(journal) as f:
        for line in f:
            try:
                r = json.loads(line)
            except ValueError:
                continue
            if r.get("type") == "batch_submitted":
                f = r.get("fields", r)
                n = len(f.get("keys", [])) + len(f.get("secrets", []))
                t[(f.get("account"), f.get("region"))] += \
                    n * SECONDS_PER_RESOURCE
    return t


ASSOC_S = 1.0  # sim/share.c ASSOC_MS


def throttle_bound(calls, limit, tasks, latency_s, owners):
    """(bound, the pipeline of (a) and its seconds, the bucket of (b) and
    its seconds, per stage the mean of (a)'s part); see the docstring."""
    per_stage = collections.defaultdict(collections.Counter)
    bucket = collections.Counter()
    for (acct, region, stage, g, as_), n in calls.items():
        if as_ is None:
            per_stage[(acct, region)][(stage, g)] += n
        bucket[(as_ or acct, region, g)] += n
    best_a = (0.0, ("-", "-"))
    parts = collections.defaultdict(list)
    for pipe, c in per_stage.items():
        total = 0.0
        for st in STAGES:
            t = max([n / limit(g) for (s, g), n in c.items()
                     if s == st and limit(g)] + [0.0])
            if st == "migrate":
                t = max(t, tasks.get(pipe, 0.0))
            if st == "prepare" and pipe[0] not in owners:
                t = max(t, ASSOC_S)
            if any(s == st for s, _ in c) or st == "migrate":
                t += latency_s
            parts[st].append(t)
            total += t
        best_a = max(best_a, (total, pipe))
    best_b = (0.0, ("-", "-", "-"))
    for (who, region, g), n in bucket.items():
        q = limit(g)
        if q:
            best_b = max(best_b, (n / q, (who, region, g)))
    mean = {st: sum(v) / len(v) for st, v in parts.items() if v}
    return max(best_a[0], best_b[0]), best_a, best_b, mean


def stage_means(report):
    dur = collections.defaultdict(list)
    for p in report["pipelines"]:
        for s in p.get("stages", []):
            dur[s["stage"]].append(s["duration_s"])
    return {st: sum(v) / len(v) for st, v in dur.items() if v}


def p1_manifest(work, state, a, port):
    """fleet_bench's manifest with concurrency.qps for the KMS groups."""
    conc = a.concurrency or len(state["Accounts"])
    manifest, regions = fb.write_manifest(work, state, a.regions, port, conc,
                                          directory=False)
    text = open(manifest).read()
    old = ("concurrency: {accounts: %d, requests_per_endpoint: 64}" % conc)
    assert old in text
    qps = "" if a.adaptive else ", qps: {%s}" % ", ".join(
        "%s: %g" % (g, a.qps) for g in KMS_GROUPS)
    text = text.replace(old, "concurrency: {accounts: %d, "
                        "requests_per_endpoint: %d%s}"
                        % (conc, a.requests_per_endpoint, qps))
    if a.owner_qps:
        # The instance owner's own figures (docs/manifest.md: an account's
        # concurrency.qps), e.g. rs=20,cms=50: kmsmig's assumed figures
        # written as the quota the operator knows.
        owner = state["Accounts"][0]
        line = ('  - {name: %s, id: "%s", credentials: {env: true}}'
                % (owner["Name"], owner["AccountId"]))
        assert line in text
        qv = ", ".join("%s: %s" % tuple(kv.split("="))
                       for kv in a.owner_qps.split(","))
        text = text.replace(line, line[:-1] + ", concurrency: {qps: {%s}}}"
                            % qv)
    open(manifest, "w").write(text)
    return manifest, regions


def p1(a):
    work = tempfile.mkdtemp(prefix="kmsmig-p1-")
    act_group, kmsmig_qps = kmsmig_groups()
    pub = kmsim_published()
    enforced = {g: (a.qps if g in KMS_GROUPS else q) for g, q in pub.items()}
    enforced["activation"] = min(a.qps, pub.get("activation", 1))

    def limit(g):  # kmsim's limit, else kmsmig's own assumed figure
        if g in enforced:
            return enforced[g]
        return kmsmig_qps.get(g, 0.0)

    kmsim, port, fixture, _, _ = fb.start_fleet(a, work, a.accounts)
    try:
        state = fb.admin(port, "/_kmsim/state")
        nkeys = sum(1 for x in state["Accounts"] for r in x["Regions"].values()
                    for k in r["Keys"] if k["CreatorType"] == "User")
        nsec = sum(len(r["Secrets"]) for x in state["Accounts"]
                   for r in x["Regions"].values())
        manifest, regions = p1_manifest(work, state, a, port)
        owner = state["Accounts"][0]["Name"]
        del state
        post_faults(port, {"throttle": {g: a.qps for g in KMS_GROUPS},
                           "latency": {"dist": "fixed",
                                       "min_ms": a.latency_ms}})
        stats0 = fb.admin(port, "/_kmsim/stats")  # also warms the admin path
        k0 = cpu_s(kmsim.pid)
        rc, wall, ru, out, err, hwm = run_logged(
            a, work, manifest, fb.mgmt_env(fixture), verbose=not a.quiet)
        kcpu = cpu_s(kmsim.pid) - k0
        stats = fb.admin(port, "/_kmsim/stats")
    finally:
        kru = fb.stop_kmsim(kmsim)
    calls, unknown = count_calls(err, act_group)
    tasks = task_seconds(os.path.join(work, "run", "journal.jsonl"))
    try:
        rep = json.load(open(os.path.join(work, "run", "report.json")))
        t = rep["totals"]
    except (OSError, ValueError, KeyError):
        rep = t = None
    owners = {p.get("account") for p in (rep or {}).get("pipelines", [])
              if p.get("account") == owner}
    lower, (ta, pa), (tb, bb), parts = throttle_bound(
        calls, limit, tasks, a.latency_ms / 1000.0, owners)
    lower_k, (tka, pka), (tkb, bkb), _ = throttle_bound(
        calls, lambda g: enforced.get(g, 0.0), tasks, a.latency_ms / 1000.0,
        owners)
    by = stats.get("ByAction", {})
    answers = sum(sum(c.values()) for c in by.values())
    thr = sum(n for c in by.values() for code, n in c.items()
              if "Throttl" in code)
    cloud = sum(sum(c.values()) for act, c in by.items()
                if not act.startswith("console."))
    sent = sum(calls.values())
    mcpu = ru.ru_utime + ru.ru_stime
    print("P1 fleet: %d accounts x %d regions = %d pipelines, %d customer "
          "keys + %d secrets; kmsim: %g QPS per account, region and KMS "
          "group, %d ms added latency; kmsmig: %s"
          % (a.accounts, len(regions), a.accounts * len(regions), nkeys, nsec,
             a.qps, a.latency_ms,
             "adaptive from the published figures" if a.adaptive else
             "concurrency.qps %g for those groups" % a.qps))
    if a.owner_qps:
        print("the instance owner's own concurrency.qps: %s (the bound "
              "still takes kmsmig's assumed figures for those groups)"
              % a.owner_qps)
    if t is not None:
        print("run exit %d: keys migrated %d, secrets migrated %d, failed %d"
              % (rc, t["keys"]["migrated"], t["secrets"]["migrated"],
                 t["keys"]["failed"] + t["secrets"]["failed"]))
    else:
        print("run exit %d, no report" % rc)
    print("wall time              %8.2f s" % wall)
    if a.quiet:
        print("kmsmig ran without -v: no per-call log, so no throttle-bound "
              "limit and no calls sent (take them from a run with -v)")
    else:
        print("throttle-bound limit   %8.2f s  (a: pipeline %s %s %.2f s; "
              "b: bucket %s %.2f s)" % (lower, pa[0] if pa else "-",
                                        pa[1] if pa else "", ta,
                                        "/".join(bb) if bb else "-", tb))
        print("ratio wall/limit       %8.2f" % (wall / lower if lower else 0))
        print("the same, kmsim's limits only (no CloudMonitor/ActionTrail/RS "
              "figure): %.2f s (a %.2f, b %s %.2f), ratio %.2f"
              % (lower_k, tka, "/".join(bkb), tkb,
                 wall / lower_k if lower_k else 0))
        print("calls sent by kmsmig   %8d  (%.2f per resource)"
              % (sent, sent / max(1, nkeys + nsec)))
    print("answers from kmsim     %8d  (cloud %d: %.2f per resource)"
          % (answers, cloud, cloud / max(1, nkeys + nsec)))
    print("throttled answers      %8d  (%.2f%% of the answers)"
          % (thr, 100.0 * thr / max(1, answers)))
    conns = stats.get("TlsConnections", 0) - stats0.get("TlsConnections", 0)
    resumed = stats.get("TlsResumed", 0) - stats0.get("TlsResumed", 0)
    print("TLS connections        %8d  (%d resumed a session, %d full "
          "handshakes%s; %.1f answers per connection)"
          % (conns, resumed, conns - resumed,
             ", kmsim without tickets" if a.no_tls_tickets else "",
             answers / max(1, conns)))
    print("peak RSS kmsmig        %8.1f MiB" % (hwm / 1024.0))
    print("peak RSS kmsim         %8.1f MiB" % (kru.ru_maxrss / 1024.0))
    ncpu = os.cpu_count() or 1
    floor = max(mcpu, (mcpu + kcpu) / ncpu)
    print("CPU floor (%d cores)    %8.2f s  (max(kmsmig CPU, both / cores))"
          % (ncpu, floor))
    if rep is not None:
        means = stage_means(rep)
        print("per stage, mean of the pipelines: duration s / bound s")
        print("  " + ", ".join("%s %.2f/%.2f" % (st, means.get(st, 0),
                                                 parts.get(st, 0))
                               for st in STAGES))
    print("CPU kmsmig             %8.2f s  (%.2f cores over the wall); "
          "runnable but waiting for a CPU %.2f s" % (mcpu, mcpu / wall,
                                                     RUNQ_WAIT_S))
    print("CPU kmsim (the run)    %8.2f s  (%.2f cores; %.0f%% of both "
          "processes' CPU)" % (kcpu, kcpu / wall,
                               100.0 * kcpu / max(1e-9, kcpu + mcpu)))
    if unknown:
        print("calls not in kmsmig's group table:", dict(unknown))
    if rc != 0:
        print(fb.tail(out))
        print(fb.tail(err, 3000))
    if os.environ.get("KM_BENCH_KEEP"):
        print("work directory kept:", work)
    else:
        shutil.rmtree(work, ignore_errors=True)


def p4_run(a, n):
    work = tempfile.mkdtemp(prefix="kmsmig-p4-%d-" % n)
    conc = min(n, fb.MAX_CONCURRENCY)
    kmsim, port, fixture, _, _ = fb.start_fleet(a, work, n)
    try:
        state = fb.admin(port, "/_kmsim/state")
        manifest, _ = fb.write_manifest(work, state, a.regions, port, conc,
                                        directory=True)
        del state
        post_faults(port, {"throttle": "off"})
        s0 = served(fb.admin(port, "/_kmsim/stats"))
        k0 = cpu_s(kmsim.pid)
        rc, wall, ru, out, err, hwm = run_logged(a, work, manifest,
                                                 fb.mgmt_env(fixture), False)
        kcpu = cpu_s(kmsim.pid) - k0
        s1 = served(fb.admin(port, "/_kmsim/stats"))
    finally:
        fb.stop_kmsim(kmsim)
    try:
        rep = json.load(open(os.path.join(work, "run", "report.json")))
        st = collections.Counter(p.get("status", "?") for p in rep["pipelines"])
    except (OSError, ValueError, KeyError):
        st = None
    r = {"n": n, "rc": rc, "wall": wall, "cpu": ru.ru_utime + ru.ru_stime,
         "kcpu": kcpu, "rss": hwm, "status": st,
         "calls": s1[0] - s0[0], "cms": s1[1] - s0[1]}
    if rc != 0:
        print(fb.tail(out))
        print(fb.tail(err))
    if os.environ.get("KM_BENCH_KEEP"):
        print("work directory kept:", work)
    else:
        shutil.rmtree(work, ignore_errors=True)
    return r


def served(stats):
    """(every call, DescribeMetricList calls) kmsim served so far."""
    by = stats.get("ByAction", {})
    n = lambda k: sum(by.get(k, {}).values())
    return sum(sum(c.values()) for c in by.values()), n("cms.DescribeMetricList")


def p4(a):
    sizes = [int(x) for x in a.sizes.split(",")]
    print("P4 growth: %s accounts, 1 region, 2 keys (+2 service keys) + 1 "
          "secret each, members from the resource directory, all accounts at "
          "once (at most %d), kmsim throttling off"
          % (" -> ".join(str(s) for s in sizes), fb.MAX_CONCURRENCY))
    runs = []
    for n in sizes:
        r = p4_run(a, n)
        runs.append(r)
        print("%6d accounts: exit %d, wall %7.2f s, CPU kmsmig %7.2f s, "
              "CPU kmsim %7.2f s, peak RSS kmsmig %6.1f MiB, pipelines %s, "
              "calls %d (DescribeMetricList %d)"
              % (n, r["rc"], r["wall"], r["cpu"], r["kcpu"], r["rss"] / 1024.0,
                 dict(r["status"]) if r["status"] else "no report",
                 r["calls"], r["cms"]))
        sys.stdout.flush()
    for x, y in zip(runs, runs[1:]):
        print("%d -> %d accounts (x%.1f): wall x%.2f, CPU kmsmig x%.2f, "
              "CPU kmsim x%.2f" % (x["n"], y["n"], y["n"] / x["n"],
                                   y["wall"] / x["wall"], y["cpu"] / x["cpu"],
                                   y["kcpu"] / max(1e-9, x["kcpu"])))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("mode", choices=["p1", "p4"])
    ap.add_argument("--bin", default=os.path.join(TOP, "build", "bin"))
    ap.add_argument("--accounts", type=int, default=100)
    ap.add_argument("--regions", type=int, default=None)
    ap.add_argument("--keys", type=int, default=None)
    ap.add_argument("--secrets", type=int, default=None)
    ap.add_argument("--qps", type=float, default=10)
    ap.add_argument("--latency-ms", type=int, default=20)
    ap.add_argument("--concurrency", type=int, default=None,
                    help="p1: concurrency.accounts (default: every account)")
    ap.add_argument("--requests-per-endpoint", type=int, default=64)
    ap.add_argument("--owner-qps", default=None,
                    help="p1: the instance owner's own concurrency.qps, "
                    "GROUP=QPS[,...] (e.g. rs=20,cms=50: the figures kmsmig "
                    "assumes, written as the quota an operator knows)")
    ap.add_argument("--adaptive", action="store_true",
                    help="p1: no concurrency.qps: kmsmig starts from the "
                    "published figures and adapts")
    ap.add_argument("--no-tls-tickets", action="store_true",
                    help="kmsim resumes no TLS session (every connection "
                    "a full handshake)")
    ap.add_argument("--quiet", action="store_true",
                    help="p1: kmsmig without -v, as an operator runs it "
                    "(what -v costs); no per-call log, so no bound")
    ap.add_argument("--sizes", default="100,1000")
    a = ap.parse_args()
    a.bin = os.path.abspath(a.bin)
    small = ({"regions": 2, "keys": 50, "secrets": 50} if a.mode == "p1"
             else {"regions": 1, "keys": 2, "secrets": 1})
    for k, v in small.items():
        if getattr(a, k) is None:
            setattr(a, k, v)
    p1(a) if a.mode == "p1" else p4(a)


if __name__ == "__main__":
    main()
