#!/usr/bin/env bash
# Accounts from the resource directory: the manifest lists only the
# management account; kmsmig lists the directory's members (folder and tag
# filters, exclusions) and reaches them with AssumeRole of the member role.
. "$(dirname "$0")/lib/kmsim.sh"
start_kmsim "$KM_SRC/sim/fixtures/demo.yaml"
demo_manifest "$KM_SRC/manifests/demo.yaml" "$TMP/base.yaml"
demo_env
cd "$TMP"
python3 - base.yaml <<'PY'
import re, sys
s = open(sys.argv[1]).read()
start = s.index("accounts:\n")
end = s.index("regions:")
mgmt_only = ('accounts:\n  - name: mgmt\n    id: "1000000000000001"\n'
             '    credentials: { env: true }\n\n')
s = s[:start] + mgmt_only + s[end:]
s = s.replace("    share_with: [app-a, app-b]", "    share_with: all")
d = ("directory:\n  management: mgmt\n"
     "  include: { folders: [fd-demoapps], tags: { env: prod } }\n")
open("all.yaml", "w").write(s.replace("accounts:\n", d + "accounts:\n", 1))
d2 = d + '  exclude: { accounts: ["1000000000000003"] }\n'
open("exclude.yaml", "w").write(s.replace("accounts:\n", d2 + "accounts:\n", 1))
# waves by tag match the members' directory tags (app-a: team app-a)
w = "waves:\n  - { name: canary, tags: { team: app-a } }\n  - { name: rest, rest: true }\n"
open("waves.yaml", "w").write(s.replace("accounts:\n", d + w + "accounts:\n", 1))
# one account at a time: more accounts than concurrency.accounts, so the
# members wait at the barrier without their credentials (parked)
one = s.replace("concurrency: { accounts: 8,", "concurrency: { accounts: 1,")
assert one != s
open("one.yaml", "w").write(one.replace("accounts:\n", d + "accounts:\n", 1))
# a member named in the manifest too, reached through mgmt (`via`), next to
# those the directory adds (the accounts' array grows after its source
# points at mgmt's: under ASan a stale pointer shows here)
via = s.replace(mgmt_only, mgmt_only + '  - name: app-a\n    id: "1000000000000002"\n'
                '    credentials: { assume_role: { via: mgmt } }\n\n')
assert via != s
open("via.yaml", "w").write(via.replace("accounts:\n", d + "accounts:\n", 1))
PY
"$KM_BIN/kmsmig" plan via.yaml >via.txt
grep -q "^app-a  *cn-hangzhou" via.txt
grep -q "^app-b  *cn-shanghai" via.txt
grep -q "3 accounts ready" via.txt
"$KM_BIN/kmsmig" validate all.yaml
"$KM_BIN/kmsmig" plan all.yaml >all.txt
cat all.txt | head -12
grep -q "^app-a  *cn-hangzhou" all.txt
grep -q "^app-b  *cn-shanghai" all.txt
grep -q "3 accounts ready" all.txt
"$KM_BIN/kmsmig" plan exclude.yaml >exclude.txt
grep -q "^app-a  *cn-hangzhou" exclude.txt
if grep -q "^app-b" exclude.txt; then echo "FAIL: excluded account planned"; exit 1; fi
grep -q "2 accounts ready" exclude.txt
"$KM_BIN/kmsmig" plan waves.yaml --output json >waves.json
python3 - waves.json <<'PY'
import json, sys
w = json.load(open(sys.argv[1]))["waves"]
print("waves:", json.dumps(w)[:300])
by = {}
for x in w if isinstance(w, list) else w.get("waves", []):
    for a in x.get("accounts", []):
        by[a if isinstance(a, str) else a.get("account", a.get("name"))] = x.get("name")
assert by.get("app-a") == "canary" and by.get("app-b") == "rest", by
PY
# A run with one account at a time: each member gives up its credentials
# at the barrier and assumes its role again when its turn comes; the run
# migrates the same resources.
kmsim_get /_kmsim/sts >sts0.json
rc=0
"$KM_BIN/kmsmig" run one.yaml --yes --run-dir run >run.txt 2>run.err || rc=$?
[ "$rc" -eq 0 ] || { echo "FAIL: run exited $rc"; tail -20 run.err; exit 1; }
kmsim_get /_kmsim/sts >sts.json
python3 - run/report.json sts0.json sts.json <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
pipes = r["pipelines"]
print("pipelines:", [(p["account"], p["status"]) for p in pipes])
assert {p["account"] for p in pipes} >= {"app-a", "app-b"}, pipes
assert all(p["status"] == "ok" for p in pipes), pipes
assert r["totals"]["keys"]["migrated"] > 0, r["totals"]
# each member's role assumed for discovery, then again after the barrier
issued = (json.load(open(sys.argv[3]))["issued"] -
          json.load(open(sys.argv[2]))["issued"])
print("STS credentials issued by the run:", issued)
assert issued == 4, issued
PY
echo "engine_directory: ok"
