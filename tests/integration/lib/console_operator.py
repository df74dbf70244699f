#!/usr/bin/env python3
"""Plays the operator of a console-driver run from worklist.json only: the
items in state "waiting" get their console step (POST /_kmsim/console/migrate,
docs/kmsim-console.md) with exactly the item's selection, instance, type,
default tick and schedule, in a shuffled order.  Clicked client tokens are
kept in a file so that a second sitting never clicks an item twice.

usage: console_operator.py RUN_DIR PORT CA CLICKED_FILE [--max N] [--seed S]
prints one line per click; exit 1 when the console refused a step.
"""
import json
import random
import subprocess
import sys


def click(port, ca, item):
    region = item["region"]
    host = "kms.%s.aliyuncs.com" % region
    body = {
        "ClientToken": "op-" + item["client_token"][-50:],
        "InstanceId": item["instance"],
        "InstanceType": item["instance_type"],
        "SetAsDefault": item["set_default"],
        "Schedule": item["schedule"],
        "Resources": {"Keys": item["keys"], "Secrets": item["secrets"]},
    }
    out = subprocess.run(
        ["curl", "-sS", "--cacert", ca, "-w", "\n%{http_code}",
         "--resolve", "%s:%s:127.0.0.1" % (host, port),
         "-H", "X-Kmsim-Account: " + item["account_id"],
         "-H", "Content-Type: application/json",
         "--data", json.dumps(body),
         "https://%s:%s/_kmsim/console/migrate" % (host, port)],
        capture_output=True, text=True, check=True).stdout
    text, code = out.rsplit("\n", 1)
    return code, text


def main():
    run_dir, port, ca, clicked_file = sys.argv[1:5]
    args = sys.argv[5:]
    limit = int(args[args.index("--max") + 1]) if "--max" in args else None
    seed = int(args[args.index("--seed") + 1]) if "--seed" in args else None
    try:
        clicked = set(open(clicked_file).read().split())
    except FileNotFoundError:
        clicked = set()
    try:
        wl = json.load(open(run_dir + "/worklist.json"))
    except (FileNotFoundError, json.JSONDecodeError):
        return 0
    todo = [i for i in wl["items"]
            if i["state"] == "waiting" and i["driver"] == "console"
            and i["client_token"] not in clicked]
    random.Random(seed).shuffle(todo)
    if limit is not None:
        todo = todo[:limit]
    for item in todo:
        code, text = click(port, ca, item)
        print("click #%d %s %s %s: %d keys, %d secrets, schedule %s -> %s"
              % (item["no"], item["account"], item["region"],
                 item["client_token"], len(item["keys"]),
                 len(item["secrets"]), item["schedule"], code))
        if code != "200":
            print("console refused: " + text)
            return 1
        with open(clicked_file, "a") as f:
            f.write(item["client_token"] + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
