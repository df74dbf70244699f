#!/usr/bin/env bash
# A saved plan (docs/plan.md): `kmsmig plan --out PLAN` and
# `kmsmig run --plan PLAN --shard K/N`, against kmsim.
#   1. Two shards that each fit an instance's key quota (5/10 and 7/10) but
#      together do not (12/10): the saved plan blocks that instance at plan
#      time, and both shards, run at once in two processes, change nothing.
#      `run --shard` without a plan is refused.
#   2. A plan whose manifest changed is refused before any call at all.
#   3. A planned key migrated since the plan: its pipeline is refused
#      (blocked, nothing changed there), the others run.
#   4. A valid plan run as two shards at once, in separate run directories:
#      every planned resource migrated exactly once (kmsim's console task
#      list), rotation restored exactly; a key that appeared after the plan
#      is not migrated, and the report says why.
#   5. A shard's run directory keeps its plan (resume).
#   6. The instance's quota shrinks after the plan (7 keys planned, 6 free):
#      the shard with 2 of them would fit alone, but is refused because the
#      plan's other shard still needs 5 there.
#   7. Exactly enough quota (7 of 7), shards one after the other: the second
#      shard sees the first one's keys in the instance and is not refused.
. "$(dirname "$0")/lib/kmsim.sh"
cd "$TMP"

# The fleet: mgmt owns one instance per region and shares it with app-a
# and app-b.  cn-hangzhou's instance has 10 keys of quota: app-a has 5
# keys, app-b 7.  cn-shanghai's has room for everything.  Key ids are
# UUIDs as the real KMS 1.0 issues them; the test reads them from kmsim.
uuid() { python3 -c 'import uuid,sys; print(uuid.UUID(int=int(sys.argv[1])))' "$1"; }
keys() { # first count [rotation-on index]
  for i in $(seq 0 $(($2 - 1))); do
    rot=""
    [ "${3:-x}" = "$i" ] && rot=', last_rotation: "-5d", rotation: {enabled: true, interval: 365d}'
    echo "          - {id: $(uuid $(($1 + i)))$rot}"
  done
}
fleet() { # [extra keys for app-b in cn-shanghai] [cn-shanghai key quota]
  cat <<YAML
kmsim: 1
regions: [cn-hangzhou, cn-shanghai]
throttle: published
enterprises:
  - {id: ent-plan0001, name: "Plan Test Co. (verified)", verified: true}
directories:
  - id: rd-plan0001
    enterprise: ent-plan0001
    management: mgmt
    folders:
      - {id: fd-planroot, name: Root}
accounts:
  - id: "1000000000000001"
    name: mgmt
    directory: rd-plan0001
    folder: fd-planroot
    access_keys:
      - {id: KSIMDEMOMGMTAK000001, secret: ksim-demo-mgmt-secret-not-a-real-key-0001}
    regions:
      cn-hangzhou:
        instances:
          - {id: kst-hzz6500a1b2c3d4e5f6, name: small, type: software, image_version: "2.9.3", auto_renew: true, spec: 1000, key_num: 10, secret_num: 100, vpc_num: 7}
      cn-shanghai:
        instances:
          - {id: kst-shh6500f6e5d4c3b2a1, name: big, type: software, image_version: "2.10.0", auto_renew: true, spec: 1000, key_num: ${2:-500}, secret_num: 100, vpc_num: 7}
        keys:
YAML
  keys 100 3 1
  cat <<'YAML'
        secrets:
          - {name: mgmt/db, type: Generic}
          - {name: mgmt/rds, type: Rds, rotation: {enabled: true, interval: 168h}}
YAML
  for acct in 2:app-a:5:2 3:app-b:7:2; do
    IFS=: read -r n name hz sh <<<"$acct"
    cat <<YAML
  - id: "100000000000000$n"
    name: $name
    directory: rd-plan0001
    folder: fd-planroot
    access_keys:
      - {id: KSIMPLANAK00000$n, secret: ksim-plan-$name-secret-not-a-real-key}
    regions:
      cn-hangzhou:
        keys:
YAML
    keys $((n * 1000)) "$hz" 0
    cat <<YAML
      cn-shanghai:
        keys:
YAML
    [ "$name" = app-b ] && sh=$((sh + ${1:-0}))
    keys $((n * 1000 + 500)) "$sh" 1
    cat <<YAML
        secrets:
          - {name: $name/generic, type: Generic}
YAML
  done
}
fleet >fleet.yaml
fleet 1 >fleet-later.yaml
fleet 0 6 >fleet-small.yaml
fleet 0 7 >fleet-exact.yaml

# One manifest per region: over.yaml (the small instance), ok.yaml.
manifests() {
  for m in over:cn-hangzhou:kst-hzz6500a1b2c3d4e5f6:2.9.3 \
           ok:cn-shanghai:kst-shh6500f6e5d4c3b2a1:2.10.0; do
    IFS=: read -r name region inst img <<<"$m"
    cat >"$name.yaml" <<YAML
version: 1
name: plan-$name
accounts:
  - {name: mgmt, id: "1000000000000001", credentials: { env: true }}
  - {name: app-a, id: "1000000000000002", credentials: { assume_role: { via: mgmt } }}
  - {name: app-b, id: "1000000000000003", credentials: { assume_role: { via: mgmt } }}
regions: [$region]
instances:
  $region: {id: $inst, owner: mgmt, type: software, image_version: "$img", auto_renew: true, share_with: all}
select: {keys: all-pending, secrets: all-pending}
migrate: {driver: sim, when: now, task_timeout: 30m, set_default: true}
concurrency: { accounts: 8, requests_per_endpoint: 4 }
failure_tolerance: { count: 0 }
endpoints:
  overrides:
    - {host: "*.aliyuncs.com", address: 127.0.0.1:$KMSIM_PORT, scheme: https, ca_file: $KM_SRC/sim/tls/ca.pem}
signature: v3
YAML
  done
}
start_kmsim "$TMP/fleet.yaml"
manifests
demo_env
K="$KM_BIN/kmsmig"

# Resources of one region as kmsim has them: (account, kind, id) -> record.
cat >state.py <<'PY'
import json
def res(path, region):
    s = json.load(open(path))
    out = {}
    for a in s["Accounts"]:
        r = a["Regions"].get(region, {})
        for k in r.get("Keys", []):
            out[(a["Name"], "key", k["KeyId"])] = k
        for x in r.get("Secrets", []):
            out[(a["Name"], "secret", x["SecretName"])] = x
    return out
def tasks(path, region):
    return [t for t in json.load(open(path))["Tasks"] if t["Region"] == region]
PY

echo "== 1. shards cannot over-commit an instance"
for s in 1/2 2/2; do
  "$K" plan over.yaml --shard "$s" --output json >"shard${s%/*}.json" 2>shard.err
done
grep -q "checked for this shard's accounts only" shard.err
python3 - shard1.json shard2.json <<'PY'
import json, sys
# Per shard the instance fits (that is what made shards unsafe before).
for f in sys.argv[1:]:
    ins = json.load(open(f))["instances"]
    assert ins and all(i["keys"]["ok"] for i in ins), (f, ins)
    print(f, [(i["keys"]["add"], i["keys"]["quota"]) for i in ins])
PY
kmsim_get /_kmsim/state >before1.json
rc=0
"$K" plan over.yaml --out over.plan >plan1.txt 2>plan1.err || rc=$?
# Saved, and the exit says a run would refuse every pipeline (3: blocked).
[ "$rc" -eq 3 ] || { echo "FAIL: plan --out exited $rc (want 3)"; cat plan1.txt plan1.err; exit 1; }
grep -q "saved plan over.plan: 3 accounts × regions, 0 ready, 3 blocked" plan1.txt
python3 - over.plan <<'PY'
import json, sys
p = json.load(open(sys.argv[1]))
assert p["format"] == "kmsmig-plan" and p["plan_version"] == 2, p.keys()
assert len(p["manifest_sha256"]) == 64 and p["created"].endswith("Z")
(i,) = p["instances"]
assert (i["keys"]["add"], i["keys"]["quota"], i["keys"]["ok"]) == (12, 10, False), i
assert all(x["status"] == "blocked" for x in p["pipelines"]), p["pipelines"]
print("plan: 12 keys for a quota of 10, every pipeline of the instance blocked")
PY
# The two shards at once, two processes, two run directories.
"$K" run over.yaml --plan over.plan --shard 1/2 --yes --run-dir r1 >r1.txt 2>r1.err &
p1=$!
"$K" run over.yaml --plan over.plan --shard 2/2 --yes --run-dir r2 >r2.txt 2>r2.err &
p2=$!
rc1=0 rc2=0
wait $p1 || rc1=$?
wait $p2 || rc2=$?
[ "$rc1" -eq 3 ] && [ "$rc2" -eq 3 ] ||
  { echo "FAIL: blocked shards exited $rc1 $rc2 (want 3)"; cat r1.txt r2.txt; exit 1; }
grep -q "the saved plan blocked app-a cn-hangzhou: instance kst-hzz6500a1b2c3d4e5f6" r1.txt r2.txt
kmsim_get /_kmsim/state >after1.json
python3 - before1.json after1.json <<'PY'
import json, sys
sys.path.insert(0, ".")
from state import res, tasks
b, a = res(sys.argv[1], "cn-hangzhou"), res(sys.argv[2], "cn-hangzhou")
assert len(b) == 12, len(b)
assert b == a, "a blocked shard changed something"
assert not tasks(sys.argv[2], "cn-hangzhou")
print("both shards: nothing changed (12 keys, rotation untouched, no task)")
PY
rc=0
"$K" run over.yaml --shard 1/2 --yes >noplan.txt 2>noplan.err || rc=$?
[ "$rc" -eq 2 ] && grep -q "shard needs --plan PLAN" noplan.err ||
  { echo "FAIL: --shard without --plan: exit $rc"; cat noplan.err; exit 1; }

echo "== 2. a plan whose manifest changed is refused before any call"
"$K" plan ok.yaml --out ok.plan >plan2.txt 2>&1
cp ok.yaml ok.yaml.orig
sed -i 's/task_timeout: 30m/task_timeout: 31m/' ok.yaml
curl -sS --fail -X DELETE --cacert "$KM_SRC/sim/tls/ca.pem" \
  --resolve "kms.cn-hangzhou.aliyuncs.com:$KMSIM_PORT:127.0.0.1" \
  "https://kms.cn-hangzhou.aliyuncs.com:$KMSIM_PORT/_kmsim/stats" >/dev/null
rc=0
"$K" run ok.yaml --plan ok.plan --yes --run-dir changed >changed.txt 2>changed.err || rc=$?
[ "$rc" -eq 2 ] || { echo "FAIL: changed manifest: exit $rc"; cat changed.txt changed.err; exit 1; }
grep -q "made for another manifest" changed.err
grep -q "Re-run \`kmsmig plan ok.yaml --out ok.plan\`" changed.err
[ ! -e changed ] || { echo "FAIL: a run directory was created"; exit 1; }
kmsim_get /_kmsim/stats | python3 -c '
import json, sys
n = json.load(sys.stdin)["Requests"]
assert n == 0, "the refused run called kmsim %d times" % n
print("changed manifest refused: no run directory, 0 calls")'
mv ok.yaml.orig ok.yaml

echo "== 3. a planned key migrated since the plan"
kmsim_get /_kmsim/state >before3.json
gone=$(python3 - ok.plan <<'PY'
import json, sys
p = json.load(open(sys.argv[1]))
(mg,) = [x for x in p["pipelines"] if x["account"] == "mgmt"]
print(mg["batches"][0]["keys"][0])
PY
)
curl -sS --fail --cacert "$KM_SRC/sim/tls/ca.pem" \
  --resolve "kms.cn-shanghai.aliyuncs.com:$KMSIM_PORT:127.0.0.1" \
  -H 'X-Kmsim-Account: 1000000000000001' -H 'Content-Type: application/json' \
  -d "{\"ClientToken\":\"by-hand-1\",\"InstanceId\":\"kst-shh6500f6e5d4c3b2a1\",\"InstanceType\":\"software\",\"SetAsDefault\":false,\"Schedule\":\"now\",\"Resources\":{\"Keys\":[\"$gone\"],\"Secrets\":[]}}" \
  "https://kms.cn-shanghai.aliyuncs.com:$KMSIM_PORT/_kmsim/console/migrate" >/dev/null
for _ in $(seq 100); do
  kmsim_get /_kmsim/state >mid3.json
  python3 -c "
import json,sys; sys.path.insert(0,'.'); from state import res
sys.exit(0 if res('mid3.json','cn-shanghai')[('mgmt','key','$gone')]['DKMSInstanceId'] else 1)" && break
  sleep 0.1
done
rc=0
"$K" run ok.yaml --plan ok.plan --yes --run-dir r3 >r3.txt 2>r3.err || rc=$?
[ "$rc" -eq 1 ] || { echo "FAIL: stale plan run exited $rc (want 1)"; cat r3.txt; exit 1; }
grep -q "the cloud changed since the saved plan in mgmt cn-shanghai: already migrated $gone" r3.txt
grep -q "saved plan out of date   1 account × region changed since the plan" r3.txt
kmsim_get /_kmsim/state >after3.json
python3 - mid3.json after3.json r3/report.json <<'PY'
import json, sys
sys.path.insert(0, ".")
from state import res, tasks
m, a = res(sys.argv[1], "cn-shanghai"), res(sys.argv[2], "cn-shanghai")
st = {p["account"]: p["status"] for p in json.load(open(sys.argv[3]))["pipelines"]}
assert st == {"mgmt": "blocked", "app-a": "ok", "app-b": "ok"}, st
for k, v in m.items():
    if k[0] == "mgmt":
        assert a[k] == v, ("mgmt changed although its pipeline was refused", k)
mine = [t for t in tasks(sys.argv[2], "cn-shanghai") if t["Account"] == "1000000000000001"]
assert len(mine) == 1, mine  # the one submitted by hand
print("stale plan: mgmt refused and unchanged, app-a and app-b ran:", st)
PY

echo "== 4. two shards of a valid plan, at once"
cleanup_kmsim_only() { kill "$KMSIM_PID"; wait "$KMSIM_PID" 2>/dev/null || true; KMSIM_PID=; }
cleanup_kmsim_only
rm -f ports
start_kmsim "$TMP/fleet.yaml"
manifests
"$K" plan ok.yaml --out ok4.plan >plan4.txt 2>&1
# A key appears after the plan: the same cloud with one key more, on the
# same port (so the manifest, and its hash, stay the same).
port=$KMSIM_PORT
cleanup_kmsim_only
rm -f ports
start_kmsim "$TMP/fleet-later.yaml" --https-port "$port"
kmsim_get /_kmsim/state >before4.json
"$K" run ok.yaml --plan ok4.plan --shard 1/2 --yes --run-dir s1 >s1.txt 2>s1.err &
p1=$!
# The second shard from another folder, the manifest by its absolute path.
mkdir -p elsewhere
(cd elsewhere && "$K" run "$TMP/ok.yaml" --plan ../ok4.plan --shard 2/2 --yes --run-dir ../s2 >../s2.txt 2>../s2.err) &
p2=$!
rc1=0 rc2=0
wait $p1 || rc1=$?
wait $p2 || rc2=$?
[ "$rc1" -eq 0 ] && [ "$rc2" -eq 0 ] ||
  { echo "FAIL: shards exited $rc1 $rc2"; cat s1.txt s2.txt; tail s1.err s2.err; exit 1; }
kmsim_get /_kmsim/state >after4.json
grep -q "not in the saved plan   1 resource appeared after the plan" s2.txt
grep -q "refresh the plan: kmsmig plan $TMP/ok.yaml --out ../ok4.plan" s2.txt
python3 - ok4.plan before4.json after4.json s1/report.json s2/report.json <<'PY'
import json, sys
sys.path.insert(0, ".")
from state import res, tasks
plan = json.load(open(sys.argv[1]))
b, a = res(sys.argv[2], "cn-shanghai"), res(sys.argv[3], "cn-shanghai")
planned = {(p["account"], x["kind"], x["id"]) for p in plan["pipelines"]
           for x in p["resources"] if x["verdict"] in ("pending", "needs_byok")}
assert len(planned) == 3 + 2 + 2 * (2 + 1), planned
later = [k for k in a if k not in planned and k[0] == "app-b"]
assert len(later) == 1, later
# The console's task list: each planned resource in exactly one task.
ids = {a_["AccountId"]: a_["Name"] for a_ in json.load(open(sys.argv[3]))["Accounts"]}
seen = []
for t in tasks(sys.argv[3], "cn-shanghai"):
    acct = ids[t["Account"]]
    seen += [(acct, "key", k) for k in t["Keys"]]
    seen += [(acct, "secret", s) for s in t["Secrets"]]
assert sorted(seen) == sorted(planned), (sorted(seen), sorted(planned))
for k, v in a.items():
    assert v["Migrations"] == (1 if k in planned else 0), k
    assert v["DKMSInstanceId"] == ("kst-shh6500f6e5d4c3b2a1" if k in planned else None), k
    ro, rn = b[k]["Rotation"], v["Rotation"]
    assert (ro["Enabled"], ro["Interval"]) == (rn["Enabled"], rn["Interval"]), k
# The shards split the accounts (app-a, mgmt | app-b) and together ran all.
accts = [sorted(p["account"] for p in json.load(open(f))["pipelines"])
         for f in sys.argv[4:6]]
assert accts == [["app-a", "mgmt"], ["app-b"]], accts
(b2,) = json.load(open(sys.argv[5]))["pipelines"]
(sk,) = b2["keys"]["skipped"]
assert sk["id"] == later[0][2] and sk["rule"] == "plan.not_planned", sk
assert "not in the saved plan" in sk["reason"], sk
print("two shards: %d planned resources migrated once each, rotation "
      "restored exactly, shards %s; the later key left: %s" %
      (len(planned), accts, sk["reason"]))
PY
echo "== 5. a run directory keeps its plan"
rc=0
"$K" run ok.yaml --run-dir s1 --yes >res1.txt 2>res1.err || rc=$?
[ "$rc" -eq 2 ] && grep -q "was started with a saved plan" res1.err ||
  { echo "FAIL: resume without --plan: exit $rc"; cat res1.err; exit 1; }
# Resuming with its plan: what this run migrated is not "changed since".
"$K" run ok.yaml --plan ok4.plan --shard 1/2 --run-dir s1 --yes >res2.txt 2>&1 ||
  { echo "FAIL: resume with the plan"; cat res2.txt; exit 1; }
kmsim_get /_kmsim/state >after5.json
python3 - after4.json after5.json <<'PY'
import json, sys
a, b = (json.load(open(f))["Tasks"] for f in sys.argv[1:3])
assert len(a) == len(b), "the resumed shard submitted again"
print("resume: refused without its plan; with it, nothing submitted again")
PY
echo "== 6. less quota than the plan needs, seen from one shard"
cleanup_kmsim_only
rm -f ports
start_kmsim "$TMP/fleet.yaml" --https-port "$port"
"$K" plan ok.yaml --out ok6.plan >plan6.txt 2>&1
cleanup_kmsim_only
rm -f ports
start_kmsim "$TMP/fleet-small.yaml" --https-port "$port"
kmsim_get /_kmsim/state >before6.json
rc=0
"$K" run ok.yaml --plan ok6.plan --shard 2/2 --yes --run-dir q2 >q2.txt 2>&1 || rc=$?
[ "$rc" -eq 3 ] || { echo "FAIL: short quota: exit $rc (want 3)"; cat q2.txt; exit 1; }
grep -q "key quota free now 6, but the saved plan still needs up to 7 there (this shard 2, its other shards up to 5)" q2.txt
kmsim_get /_kmsim/state >after6.json
python3 - before6.json after6.json <<'PY'
import json, sys
sys.path.insert(0, ".")
from state import res, tasks
assert res(sys.argv[1], "cn-shanghai") == res(sys.argv[2], "cn-shanghai")
assert not tasks(sys.argv[2], "cn-shanghai")
print("quota shrank: the shard that fits alone is refused, nothing changed")
PY
echo "== 7. exactly enough quota, shards one after the other"
cleanup_kmsim_only
rm -f ports
start_kmsim "$TMP/fleet-exact.yaml" --https-port "$port"
"$K" plan ok.yaml --out ok7.plan >plan7.txt 2>&1
grep -q "keys 0 + 7 this run = 7 / 7" plan7.txt
for s in 1 2; do
  "$K" run ok.yaml --plan ok7.plan --shard $s/2 --yes --run-dir e$s >e$s.txt 2>&1 ||
    { echo "FAIL: shard $s of an exactly fitting plan"; cat e$s.txt; exit 1; }
done
kmsim_get /_kmsim/state | python3 -c '
import json, sys
(i,) = [i for i in json.load(sys.stdin)["Instances"] if i["Region"] == "cn-shanghai"]
assert (i["KeysUsed"], i["KeyNum"]) == (7, 7), i
print("exact quota: both shards ran, one after the other, 7 of 7 keys used")'
echo "saved_plan: ok"
