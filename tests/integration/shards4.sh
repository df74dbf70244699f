#!/usr/bin/env bash
# Four shards of one saved plan at once, on one machine, against one kmsim,
# sharing one lock folder, run with the command line of the Kubernetes
# example (examples/kubernetes/kmsmig-shards.yaml, read from the YAML: the
# shard comes from JOB_COMPLETION_INDEX as in an Indexed Job), in the pod's
# layout (config/ = the ConfigMap, shared/ = the volume).  Each instance's
# quota is cut to exactly what the plan needs.  Then: no shard fails (the
# fleet has two accounts a rule blocks, so 1 is expected),
# every planned key and secret was migrated exactly once (kmsim's
# Migrations counter), no instance is over its quota, the lock folder is
# empty; the merge Job's command writes one report equal to an unsharded
# run on a fresh kmsim (totals, pipelines, each resource's verdict, the
# rotation ledger without times and RequestIds).
. "$(dirname "$0")/lib/kmsim.sh"
. "$(dirname "$0")/lib/fleet.sh"
fail() {
  echo "FAIL: $*"
  for f in "$TMP"/*.err "$TMP"/*.out; do echo "== $f"; grep -v "\"warn\"\| warn " "$f" | tail -8 || true; done
  exit 1
}
EX="$KM_SRC/examples/kubernetes"
start_fleet 8 1
port=$KMSIM_PORT
mkdir -p "$TMP/pod/config" "$TMP/pod/shared/locks" "$TMP/pod/shared/runs"
cd "$TMP/pod"
cp "$TMP/fleet.yaml" config/fleet.yaml
"$KM_BIN/kmsmig" validate "$EX/fleet.yaml" >/dev/null || fail "the example manifest does not validate"
locks=$(python3 -c 'import sys, yaml; print(yaml.safe_load(open(sys.argv[1]))["locks"]["dir"])' "$EX/fleet.yaml")
[ "$locks" = "../shared/locks" ] || fail "the example's locks.dir is $locks"
printf 'locks: { dir: %s }\n' "$locks" >>config/fleet.yaml
export PATH="$KM_BIN:$PATH"

# The Job manifests: parsed as YAML, the commands taken from them.
python3 - "$EX/kmsmig-shards.yaml" "$EX/kmsmig-merge.yaml" >"$TMP/cmds" <<'PY' || fail "the example Job manifests"
import shlex, sys, yaml
docs = [d for f in sys.argv[1:3] for d in yaml.safe_load_all(open(f))]
jobs = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Job"}
shards, merge = jobs["kmsmig-shards"], jobs["kmsmig-merge"]
s = shards["spec"]
assert s["completionMode"] == "Indexed" and s["completions"] == s["parallelism"] == 4, s
pod = s["template"]["spec"]
c = pod["containers"][0]
assert c["command"][:2] == ["sh", "-c"] and len(c["command"]) == 3, c["command"]
assert "JOB_COMPLETION_INDEX + 1" in c["command"][2], "the shard is not the job index + 1"
assert c["envFrom"] == [{"secretRef": {"name": "kmsmig-credentials"}}], c.get("envFrom")
assert "env" not in c, "credentials or settings written into the Job"
vols = {v["name"]: v for v in pod["volumes"]}
mounts = {m["name"]: m["mountPath"] for m in c["volumeMounts"]}
assert vols["config"]["configMap"]["name"] == "kmsmig-config" and mounts["config"] == c["workingDir"] + "/config"
assert vols["shared"]["persistentVolumeClaim"]["claimName"] == "kmsmig-shared" and mounts["shared"] == c["workingDir"] + "/shared"
pvc = [d for d in docs if d["kind"] == "PersistentVolumeClaim"][0]
assert pvc["metadata"]["name"] == "kmsmig-shared" and pvc["spec"]["accessModes"] == ["ReadWriteMany"]
m = merge["spec"]["template"]["spec"]["containers"][0]
assert m["command"][:2] == ["sh", "-c"] and "envFrom" not in m, m
print(c["command"][2]); print(m["command"][2])
PY
SHARD_CMD=$(sed -n 1p "$TMP/cmds")
MERGE_CMD=$(sed -n 2p "$TMP/cmds")

# The quota of each instance cut to what the plan puts there.
kmsmig plan config/fleet.yaml --out config/fleet.plan >"$TMP/plan0.out" 2>"$TMP/plan0.err" || fail "plan exited $?"
python3 - config/fleet.plan "$TMP/fleet-cloud.yaml" <<'PY'
import json, re, sys
plan = json.load(open(sys.argv[1]))
need = {i["instance_id"]: (i["keys"]["used"] + i["keys"]["add"], i["secrets"]["used"] + i["secrets"]["add"])
        for i in plan["instances"]}
assert all(k > 0 and s > 0 for k, s in need.values()), need
text, out, cur = open(sys.argv[2]).read().splitlines(), [], None
for l in text:
    m = re.match(r'\s*- id: "(kst-[^"]+)"', l)
    if m:
        cur = m.group(1)
    if cur in need and re.match(r"\s*key_num: ", l):
        l = re.sub(r"\d+$", str(need[cur][0]), l)
    if cur in need and re.match(r"\s*secret_num: ", l):
        l = re.sub(r"\d+$", str(need[cur][1]), l)
    out.append(l)
open(sys.argv[2], "w").write("\n".join(out) + "\n")
PY
restart_kmsim() {
  kill "$KMSIM_PID"; wait "$KMSIM_PID" 2>/dev/null || true; KMSIM_PID=
  rm -f "$TMP/ports"
  start_kmsim "$TMP/fleet-cloud.yaml" --https-port "$port"
}
restart_kmsim
kmsmig plan config/fleet.yaml --out config/fleet.plan >"$TMP/plan.out" 2>"$TMP/plan.err" || fail "plan (tight quota) exited $?"

# The four shards at once, each with the Job's command.
pids=()
for i in 0 1 2 3; do
  JOB_COMPLETION_INDEX=$i sh -c "$SHARD_CMD" >"$TMP/shard$i.out" 2>"$TMP/shard$i.err" &
  pids+=($!)
done
for i in 0 1 2 3; do
  rc=0; wait "${pids[$i]}" || rc=$?
  # 1 or 3: the fleet's two accounts whose only secret is blocked by a rule.
  case $rc in 0 | 1 | 3) ;; *) fail "shard $((i + 1))/4 exited $rc" ;; esac
  [ -s "shared/runs/shard-$((i + 1))/lock.id" ] || fail "shard $((i + 1)) took no lock"
done
[ -z "$(ls -A shared/locks)" ] || fail "the shards left locks: $(ls -A shared/locks)"
kmsim_get /_kmsim/state >"$TMP/state.json"
sh -c "$MERGE_CMD" >"$TMP/merge.out" 2>"$TMP/merge.err" || fail "the merge command exited $?"
[ -s shared/report.html ] || fail "no merged report.html"

# The same plan, unsharded, on a fresh kmsim.
restart_kmsim
rc=0
kmsmig run config/fleet.yaml --plan config/fleet.plan --yes --run-dir shared/runs/whole >"$TMP/whole.out" 2>"$TMP/whole.err" || rc=$?
case $rc in 0 | 1 | 3) ;; *) fail "the unsharded run exited $rc" ;; esac
python3 - "$TMP/state.json" config/fleet.plan shared/report.json shared/runs/whole/report.json <<'PY'
import json, sys
state, plan, m, w = (json.load(open(f)) for f in sys.argv[1:5])
planned = {(p["account_id"], r["id"]) for p in plan["pipelines"] for r in p["resources"]
           if r["verdict"] in ("pending", "needs_byok")}
done = {}
for a in state["Accounts"]:
    for reg in a["Regions"].values():
        for k in reg["Keys"]:
            done[(a["AccountId"], k["KeyId"])] = k["Migrations"]
        for s in reg["Secrets"]:
            done[(a["AccountId"], s["SecretName"])] = s["Migrations"]
assert planned, "the plan moves nothing"
twice = [k for k, n in done.items() if n > 1]
missed = [k for k in planned if done.get(k) != 1]
extra = [k for k, n in done.items() if n and k not in planned]
assert not twice and not missed and not extra, (twice[:3], missed[:3], extra[:3])
for i in state["Instances"]:
    assert i["KeysUsed"] <= i["KeyNum"] and i["SecretsUsed"] <= i["SecretNum"], i
full = sum(i["KeysUsed"] == i["KeyNum"] for i in state["Instances"] if i["KeysUsed"])
assert full, "no instance is filled to its (cut) quota: the test would not see an over-commit"
assert m["merged_from"] == ["shared/runs/shard-%d" % k for k in range(1, 5)], m["merged_from"]
assert m["totals"] == w["totals"], "merged totals %s != unsharded %s" % (m["totals"], w["totals"])
def ledger(p):
    return sorted((e["kind"], e["id"], json.dumps(e["before"], sort_keys=True), e["after_interval"],
                   e["left_off_by_hook"], e["result"]) for e in p["rotation_ledger"])
def shape(p):
    res = {k: {b: (v if isinstance(v, int) else sorted(x if isinstance(x, str) else x["id"] for x in v))
               for b, v in p[k].items()} for k in ("keys", "secrets")}
    return (p["account"], p["region"], p["status"], res, p["rotation"]["turned_off"],
            p["rotation"]["restored"], ledger(p))
assert [shape(p) for p in m["pipelines"]] == [shape(p) for p in w["pipelines"]], "pipelines differ"
t = w["totals"]
print("4 shards at once = unsharded run: %d pipelines, %d resources migrated once each, "
      "keys %d, secrets %d migrated, quota %s"
      % (len(w["pipelines"]), len(planned), t["keys"]["migrated"], t["secrets"]["migrated"],
         ", ".join("%s keys %d/%d" % (i["InstanceId"], i["KeysUsed"], i["KeyNum"]) for i in state["Instances"])))
PY
echo "shards4: ok"
