#!/usr/bin/env python3
"""Compares two kmsim state dumps (before and after a run) the way an
operator would check a migration: every rotation policy is exactly what it
was, nothing was migrated twice, every resource the report says it migrated
is in its instance, and (with --all) every movable resource was migrated.

usage: check_state.py BEFORE.json AFTER.json REPORT.json [--expect-all]
"""
import json
import sys


def resources(state):
    out = {}
    for acct in state["Accounts"]:
        for region, r in acct["Regions"].items():
            for k in r["Keys"]:
                out[("key", acct["AccountId"], region, k["KeyId"])] = k
            for s in r["Secrets"]:
                out[("secret", acct["AccountId"], region, s["SecretName"])] = s
    return out


def main():
    before = resources(json.load(open(sys.argv[1])))
    after = resources(json.load(open(sys.argv[2])))
    report = json.load(open(sys.argv[3]))
    expect_all = "--expect-all" in sys.argv
    problems = []
    for ident, b in before.items():
        a = after[ident]
        rb, ra = b["Rotation"], a["Rotation"]
        if rb["Enabled"] != ra["Enabled"] or (
                rb["Enabled"] and rb["Interval"] != ra["Interval"]):
            problems.append("%s: rotation %s before, %s after" % (ident, rb, ra))
        if a["Migrations"] > 1:
            problems.append("%s: migrated %d times" % (ident, a["Migrations"]))
    migrated = 0
    for p in report["pipelines"]:
        for kind, field in (("keys", "key"), ("secrets", "secret")):
            for rid in p[kind]["migrated"]:
                migrated += 1
                hits = [v for (k, _, reg, i), v in after.items()
                        if k == field and reg == p["region"] and i == rid]
                if not hits or not hits[0]["DKMSInstanceId"]:
                    problems.append("%s %s reported migrated, not in an "
                                    "instance" % (field, rid))
            if expect_all and p[kind]["not_run"]:
                problems.append("%s %s: not run: %s" % (
                    p["account"], p["region"], p[kind]["not_run"]))
            if expect_all and p[kind]["failed"]:
                problems.append("%s %s: failed: %s" % (
                    p["account"], p["region"], p[kind]["failed"]))
    if expect_all:
        # Every user key / secret either migrated (now in an instance) or
        # reported skipped/blocked with a reason.
        reported = set()
        for p in report["pipelines"]:
            for kind in ("keys", "secrets"):
                for x in p[kind]["skipped"] + p[kind]["blocked"]:
                    reported.add(x["id"])
        for (kind, _, _, rid), a in after.items():
            if kind == "key" and a.get("CreatorType") == "Service":
                continue
            if not a["DKMSInstanceId"] and rid not in reported:
                problems.append("%s %s neither migrated nor reported" %
                                (kind, rid))
    for p in problems:
        print("FAIL:", p)
    print("state check: %d resources, %d migrated by the run, %d problem(s)"
          % (len(after), migrated, len(problems)))
    sys.exit(1 if problems else 0)


main()
