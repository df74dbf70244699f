#!/usr/bin/env bash
# Call economy (issue 13, item 1): a whole run of one account and region
# makes the calls it needs and no more, and decides as before.
#   - aliases from ListAliases pages (120 aliases: 2 pages), never one
#     ListAliasesByKeyId per key, and every alias still reaches its key;
#   - ListKeyVersions only for the keys whose DescribeKey shows a rotation
#     (LastRotationDate after CreationDate): the 6 keys with 2-3 versions
#     and the 4 rotated 5 days ago, not the other 50;
#   - the keys with several versions are still skipped (key.multi_version);
#   - DescribeKey / DescribeSecret once per resource in discovery; verify
#     describes only the 2 service keys (the migrated keys and secrets are
#     proven by one ListKeys / ListSecrets listing on DKMSInstanceId).
# Calls are counted twice: by kmsim (/_kmsim/stats) and, per stage, from
# kmsmig's -v log ("STAGE by PROVIDER: call kms.ACTION").
. "$(dirname "$0")/lib/kmsim.sh"
fail() { echo "FAIL: $*" >&2; exit 1; }
cd "$TMP"
python3 - fixture.yaml <<'PY'
import sys
keys = []
for i in range(60):
    k = "{id: key-e%02d, aliases: [alias/e%02d-a, alias/e%02d-b]" % (i, i, i)
    if i < 6:      # rotated: 2 or 3 versions
        k += ", versions: %d, rotation: {enabled: true, interval: 30d}" % (2 + i % 2)
    elif i < 10:   # rotated 5 days ago, one version left (kmsim's fixture)
        k += ', last_rotation: "-5d", rotation: {enabled: true, interval: 365d}'
    keys.append(k + "}")
keys += ["{id: key-svc-1, creator: service, service: rds}",
         "{id: key-svc-2, creator: service, service: oss}"]
secrets = ["{name: sec-e%02d, type: Generic}" % i for i in range(10)]
out = """kmsim: 1
regions: [cn-hangzhou]
accounts:
  - id: "1100000000000101"
    name: econ
    access_keys:
      - {id: KSIMTESTECONAK0001, secret: ksim-test-econ-secret}
    regions:
      cn-hangzhou:
        instances:
          - {id: kst-hzz6e0c0a1b2c3d4e5f6, type: software, image_version: "2.9.3", key_num: 1000, secret_num: 100, vpc_num: 3}
        keys:
""" + "".join("          - %s\n" % k for k in keys) + "        secrets:\n" + \
    "".join("          - %s\n" % s for s in secrets)
open(sys.argv[1], "w").write(out)
PY
start_kmsim fixture.yaml
kmsim_post /_kmsim/faults '{"task_seconds": 1, "throttle": "off"}' >/dev/null
cat >econ.yaml <<EOF
version: 1
name: call-economy
accounts:
  - {name: econ, id: "1100000000000101", credentials: {env: true}}
regions: [cn-hangzhou]
instances:
  cn-hangzhou: {id: kst-hzz6e0c0a1b2c3d4e5f6, owner: econ, type: software, image_version: "2.9.3", auto_renew: true, share_with: all}
select: {keys: all-pending, secrets: all-pending}
migrate: {driver: sim, when: now, task_timeout: 10m}
endpoints:
  overrides:
    - {host: "*.aliyuncs.com", address: "127.0.0.1:$KMSIM_PORT", scheme: https, ca_file: "$KM_SRC/sim/tls/ca.pem"}
EOF
export ALIBABA_CLOUD_ACCESS_KEY_ID=KSIMTESTECONAK0001
export ALIBABA_CLOUD_ACCESS_KEY_SECRET=ksim-test-econ-secret
unset ALIBABA_CLOUD_SECURITY_TOKEN ALIBABA_CLOUD_PROFILE || true
# Every alias still reaches its key: a selection by alias picks exactly the
# keys behind it, from both ListAliases pages (e50-e59's aliases are on the
# second page, e07-a on the first).
sed 's|^select: .*|select: {keys: {aliases: ["alias/e5*-b", "alias/e07-a"]}, secrets: none}|' \
  econ.yaml >by-alias.yaml
"$KM_BIN/kmsmig" plan by-alias.yaml --output json >plan.json 2>plan.err ||
  { tail -5 plan.err; fail "plan failed"; }
python3 - plan.json <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
pending = set()
def walk(o):
    if isinstance(o, dict):
        if o.get("kind") == "key" and o.get("verdict") == "pending":
            pending.add(o["id"])
        for v in o.values():
            walk(v)
    elif isinstance(o, list):
        for v in o:
            walk(v)
walk(doc)
want = {"key-e%02d" % i for i in range(50, 60)} | {"key-e07"}
assert pending == want, "selected by alias: %s, want %s" % (sorted(pending), sorted(want))
print("aliases: the selection by alias picks the %d keys behind them" % len(want))
PY
# Then the run, its calls counted from here.
curl -sS --fail -X DELETE --cacert "$KM_SRC/sim/tls/ca.pem" \
  --resolve "kms.cn-hangzhou.aliyuncs.com:$KMSIM_PORT:127.0.0.1" \
  "https://kms.cn-hangzhou.aliyuncs.com:$KMSIM_PORT/_kmsim/stats" >/dev/null
rc=0
"$KM_BIN/kmsmig" run econ.yaml --yes -v --run-dir run >run.txt 2>run.err || rc=$?
[ "$rc" = 0 ] || { tail -20 run.err; fail "run exited $rc, want 0"; }
kmsim_get /_kmsim/stats >stats.json
python3 - stats.json run.err run/report.json <<'PY'
import collections, json, re, sys
stats = json.load(open(sys.argv[1]))["ByAction"]
served = {a.split(".", 1)[1]: sum(c.values()) for a, c in stats.items()
          if a.startswith("kms.")}
per = collections.Counter()
for line in open(sys.argv[2]):
    m = re.search(r": (\w+) by (\w+): call kms\.(\w+)$", line.rstrip("\n"))
    if m:
        per[(m.group(1), m.group(3))] += 1
print("served:", dict(sorted(served.items())))
print("answers not OK:", {a: {c: n for c, n in cs.items() if c != "OK"}
                          for a, cs in stats.items() if set(cs) - {"OK"}})
print("per stage:", dict(sorted(per.items())))
errs = []
def want(what, got, exp):
    if got != exp:
        errs.append("%s: %s calls, want %s" % (what, got, exp))
want("ListAliasesByKeyId", served.get("ListAliasesByKeyId", 0), 0)
want("ListAliases (120 aliases, 100 a page)", served.get("ListAliases", 0), 2)
want("ListKeyVersions (10 rotated keys of 60)", served.get("ListKeyVersions", 0), 10)
want("DescribeKey in discover (60 + 2 service)", per[("discover", "DescribeKey")], 62)
want("DescribeKey in verify (service keys only)", per[("verify", "DescribeKey")], 2)
want("DescribeSecret in discover", per[("discover", "DescribeSecret")], 10)
want("DescribeSecret after discover",
     sum(n for (st, a), n in per.items() if a == "DescribeSecret" and st != "discover"), 0)
want("DescribeKey in prepare/restore",
     sum(n for (st, a), n in per.items() if a == "DescribeKey" and st in ("prepare", "restore")), 0)
want("GetKeyPolicy (one per migrated key)", per[("verify", "GetKeyPolicy")], 54)
logged = collections.Counter()
for (st, a), n in per.items():
    logged[a] += n
want("calls logged vs served, by action",
     {a: n for a, n in logged.items() if served.get(a) != n},
     {a: n for a, n in served.items() if logged.get(a) != n})

r = json.load(open(sys.argv[3]))
t = r["totals"]
want("keys migrated", t["keys"]["migrated"], 54)
want("secrets migrated", t["secrets"]["migrated"], 10)
p = r["pipelines"][0]
skipped = {k["id"]: k for k in p["keys"]["skipped"]}
for i in range(6):
    k = skipped.get("key-e%02d" % i)
    if k is None or k.get("rule") != "key.multi_version":
        errs.append("key-e%02d: not skipped as key.multi_version: %s" % (i, k))
multi = sorted(i for i, k in skipped.items() if k.get("rule") == "key.multi_version")
want("keys skipped as key.multi_version", multi, ["key-e%02d" % i for i in range(6)])
print("totals:", t["keys"], t["secrets"])
if errs:
    print("\n".join("FAIL: " + e for e in errs))
    sys.exit(1)
PY
echo "call_economy: ok"
