#!/usr/bin/env bash
# `kmsmig plan --export-fixture` and `kmsmig rehearse` (docs/rehearse.md),
# from the demo cloud (sim/fixtures/demo.yaml + manifests/demo.yaml) with
# canaries planted in it:
#   1. plan --export-fixture makes only read calls (kmsim's stats, each
#      action classified READ in core/src/engine/actions.c) and changes
#      nothing in the cloud (kmsim's state); the fixture is 0600.
#   2. The fixture holds no AccessKey id or secret of the source, none of
#      the operator's environment, and none of the secrets' other fields
#      kmsim keeps (extended_config); kmsim has no secret values at all,
#      so the export has no field for one.
#   3. rehearse --fixture, and rehearse exporting on the fly, each equal a
#      real run of the same manifest on the original kmsim: report.json's
#      totals and pipelines (account, region, status, every key and secret
#      migrated, skipped, blocked, failed with rule and reason, the rotation
#      counts, the issues) and the rotation ledger of the journal
#      (rotation_off / rotation_restored with kind, id, policy).
#      Normalised: only what must differ: the journal records' request_id
#      (each kmsim issues its own), the report's run_dir, started, finished
#      and duration_s (not compared), the times, RequestIds, task ids and
#      client tokens in the pipelines' timeline, batches and rotation
#      ledger (VOLATILE below), the gateway observations (measurements of
#      each kmsim's own traffic), and "rehearsal" (checked true /
#      absent, then dropped).  Pipelines are compared sorted by account and
#      region, ledger records as a sorted list.
#   4. The rehearsal is marked everywhere: report.json, the summary's first
#      line, worklist.json, the run directory (kmsmig run refuses it), and
#      kmsim is stopped at the end, also after SIGINT (exit 4).
#   5. A manifest that finds its members in the resource directory (folder
#      and tag filters), on the cloud the real run migrated: the fixture has
#      the folder and tags, and the rehearsal equals a real run there (the
#      same exit code, totals and pipelines: everything already migrated).
. "$(dirname "$0")/lib/kmsim.sh"
cd "$TMP"

# The demo cloud with canaries: the AccessKeys of every account and the
# extended config of a secret.
python3 - "$KM_SRC/sim/fixtures/demo.yaml" canary.yaml <<'PY'
import re, sys
s = open(sys.argv[1]).read()
s = s.replace("ksim-demo-mgmt-secret-not-a-real-key-0001", "CANARYSKmgmt7f3a9c1e")
s = s.replace("ksim-demo-app-a-secret-not-a-real-key-0001", "CANARYSKappa7f3a9c1e")
s = s.replace("ksim-demo-app-b-secret-not-a-real-key-0001", "CANARYSKappb7f3a9c1e")
s = s.replace("KSIMDEMOMGMTAK000001", "CANARYAKIDMGMT000001")
s = s.replace("KSIMDEMOAAK0000001", "CANARYAKIDAPPA0001")
s = s.replace("KSIMDEMOBAK0000001", "CANARYAKIDAPPB0001")
s = s.replace("{name: demo/rds-05, type: Rds,",
              "{name: demo/rds-05, type: Rds, extended_config: '{\"SecretSubType\":\"SingleUser\",\"DBInstanceId\":\"CANARYEXTCFG55\"}',")
assert s.count("CANARY") == 7, s.count("CANARY")
open(sys.argv[2], "w").write(s)
PY
canaries='CANARYSK|CANARYAKID|CANARYEXTCFG'

start_kmsim canary.yaml
demo_manifest "$KM_SRC/manifests/demo.yaml" demo.yaml
export ALIBABA_CLOUD_ACCESS_KEY_ID=CANARYAKIDMGMT000001
export ALIBABA_CLOUD_ACCESS_KEY_SECRET=CANARYSKmgmt7f3a9c1e
unset ALIBABA_CLOUD_SECURITY_TOKEN ALIBABA_CLOUD_PROFILE || true

state_view() { # kmsim's cloud without its clock and request counters
  kmsim_get /_kmsim/state | python3 -c '
import json, sys
s = json.load(sys.stdin)
for k in ("Clock", "clock", "Now", "StsCredentials"):
    s.pop(k, None)
print(json.dumps(s, sort_keys=True))'
}

# ---- 1. the export reads only ----
state_view >state.before
curl -sS --fail -X DELETE --cacert "$KM_SRC/sim/tls/ca.pem" \
  --resolve "kms.cn-hangzhou.aliyuncs.com:$KMSIM_PORT:127.0.0.1" \
  "https://kms.cn-hangzhou.aliyuncs.com:$KMSIM_PORT/_kmsim/stats" >/dev/null
rc=0
"$KM_BIN/kmsmig" plan demo.yaml --export-fixture fx.yaml >plan.out 2>&1 || rc=$?
[ "$rc" = 0 ] || { cat plan.out; echo "FAIL: plan --export-fixture exit $rc"; exit 1; }
grep -q "exported fixture fx.yaml (0600)" plan.out ||
  { cat plan.out; echo "FAIL: plan did not say it exported"; exit 1; }
kmsim_get /_kmsim/stats >stats.json
python3 - stats.json "$KM_SRC/core/src/engine/actions.c" <<'PY'
import json, re, sys
stats = json.load(open(sys.argv[1]))["ByAction"]
reads = {f"{p}.{a}" for p, a in re.findall(
    r'\{"(\w+)", "(\w+)", KM_ACT_READ\}', open(sys.argv[2]).read())}
# The console's task list (the sim driver's GET /_kmsim/console/tasks)
# is a read of kmsim's console model.
sent = sorted(stats)
bad = [a for a in sent if a not in reads and not a.endswith(".tasks")]
assert sent, "no calls recorded"
assert not bad, f"plan --export-fixture sent non-read actions: {bad}"
print(f"ok: plan --export-fixture sent {sum(sum(v.values()) for v in stats.values())} "
      f"calls, all reads: {', '.join(sent)}")
PY
state_view >state.after
cmp -s state.before state.after ||
  { diff state.before state.after | head; echo "FAIL: plan changed kmsim's state"; exit 1; }
[ "$(stat -c %a fx.yaml)" = 600 ] || { echo "FAIL: fixture mode $(stat -c %a fx.yaml)"; exit 1; }

# ---- 2. no secret of the source ----
if grep -Eq "$canaries" fx.yaml; then
  grep -En "$canaries" fx.yaml | head
  echo "FAIL: the exported fixture carries a canary of the source"
  exit 1
fi
grep -Eq '^ *- \{?id: "?CANARY|secret: (ksim|CANARY)' fx.yaml &&
  { echo "FAIL: a source AccessKey in the fixture"; exit 1; }
[ "$(grep -c 'access_keys: \[{id: KSIMTEST' fx.yaml)" = 3 ] ||
  { grep -n access_keys fx.yaml; echo "FAIL: not one fresh test-only AccessKey per account"; exit 1; }
grep -Eiq '^\s*(value|secret_value|secret_data)\s*:' fx.yaml &&
  { echo "FAIL: a value field in the fixture"; exit 1; }
echo "ok: fixture 0600, no canary, 3 fresh test-only AccessKeys"

# ---- 3. rehearsals ----
rc=0
(umask 022 && exec "$KM_BIN/kmsmig" rehearse demo.yaml --fixture fx.yaml \
  --run-dir "$TMP/reh") >reh.out 2>&1 || rc=$?
[ "$rc" = 0 ] || { cat reh.out; echo "FAIL: rehearse --fixture exit $rc"; exit 1; }
grep -Eq "$canaries" reh.out reh/kmsmig.log reh/journal.jsonl reh/report.json &&
  { echo "FAIL: a canary in the rehearsal's output"; exit 1; }
rc=0
"$KM_BIN/kmsmig" rehearse demo.yaml --run-dir "$TMP/reh2" >reh2.out 2>&1 || rc=$?
[ "$rc" = 0 ] || { cat reh2.out; echo "FAIL: rehearse (export on the fly) exit $rc"; exit 1; }
grep -Eq "$canaries" reh2/fixture.yaml &&
  { echo "FAIL: a canary in the on-the-fly fixture"; exit 1; }
[ "$(stat -c %a reh2/fixture.yaml)" = 600 ] || { echo "FAIL: kept fixture not 0600"; exit 1; }
state_view >state.after2
cmp -s state.before state.after2 ||
  { echo "FAIL: a rehearsal changed the original cloud"; exit 1; }

# The real run on the original kmsim.
rc=0
"$KM_BIN/kmsmig" run demo.yaml --yes --run-dir "$TMP/real" >real.out 2>&1 || rc=$?
[ "$rc" = 0 ] || { cat real.out; echo "FAIL: real run exit $rc"; exit 1; }

python3 - real reh reh2 <<'PY'
import json, sys
# Times and ids each cloud gives its own (report v2: the stage timeline,
# batches and the rotation ledger); counts and results stay compared.
VOLATILE = {"request_id", "off_request_id", "restore_request_id", "turned_off",
            "restored", "submitted", "done", "start", "end", "task_id",
            "client_token", "seen"}
def norm(x):
    if isinstance(x, dict):
        return {k: norm(v) for k, v in x.items()
                if not (k in ("duration_s", "observe") or
                        (k in VOLATILE and (v is None or isinstance(v, str))))}
    if isinstance(x, list):
        return [norm(v) for v in x]
    return x
def view(d):
    r = json.load(open(f"{d}/report.json"))
    flag = r.pop("rehearsal", None)
    ledger = sorted(
        json.dumps({"type": x["type"], **{k: v for k, v in x["fields"].items()
                                          if k != "request_id"}},
                   sort_keys=True)
        for x in map(json.loads, open(f"{d}/journal.jsonl"))
        if x["type"] in ("rotation_off", "rotation_restored"))
    pipes = sorted((norm(p) for p in r["pipelines"]),
                   key=lambda p: (p["account"], p["region"]))
    for p in pipes:  # ledger entries in a stable order once times are gone
        if isinstance(p.get("rotation_ledger"), list):
            p["rotation_ledger"].sort(key=lambda e: json.dumps(e, sort_keys=True))
    return flag, {"totals": norm(r["totals"]), "pipelines": pipes, "ledger": ledger}
real_flag, real = view(sys.argv[1])
assert real_flag is None, "the real run's report says rehearsal"
t = real["totals"]
assert t["keys"]["migrated"] > 0 and t["rotation"]["turned_off"] > 0, t
for d in sys.argv[2:]:
    flag, got = view(d)
    assert flag is True, f"{d}/report.json: rehearsal is {flag!r}"
    for part in ("totals", "pipelines", "ledger"):
        if got[part] != real[part]:
            a = json.dumps(real[part], indent=1, sort_keys=True).splitlines()
            b = json.dumps(got[part], indent=1, sort_keys=True).splitlines()
            import difflib
            print("\n".join(list(difflib.unified_diff(a, b, "real", d, lineterm=""))[:60]))
            raise SystemExit(f"FAIL: {d}: {part} differs from the real run")
print(f"ok: both rehearsals equal the real run: keys {t['keys']}, "
      f"secrets {t['secrets']}, rotation {t['rotation']}, "
      f"{len(real['ledger'])} rotation records")
PY

# ---- 4. marked as a rehearsal, kmsim stopped ----
grep -q '^REHEARSAL against kmsim' reh.out || { cat reh.out; echo "FAIL: no REHEARSAL line"; exit 1; }
python3 -c 'import json,sys; assert json.load(open(sys.argv[1]))["rehearsal"] is True' reh/worklist.json
python3 -c '
import json, sys
j = json.load(open(sys.argv[1]))
assert j["rehearsal"] is True and j["wall_s"] > 0 and j["projected_s"] >= j["wall_s"], j' reh/rehearsal.json
grep -q "projected at" reh.out || { echo "FAIL: no projected time"; exit 1; }
[ -z "$(find reh -type f ! -perm 600)" ] ||
  { find reh -type f ! -perm 600 -ls; echo "FAIL: a rehearsal file is not 0600"; exit 1; }
rc=0
"$KM_BIN/kmsmig" run demo.yaml --yes --run-dir "$TMP/reh" >resume.out 2>&1 || rc=$?
[ "$rc" = 2 ] && grep -q "rehearsal's run directory" resume.out ||
  { cat resume.out; echo "FAIL: kmsmig run resumed a rehearsal ($rc)"; exit 1; }
# A kmsim of this test's rehearsals: started from this directory (other
# tests and builds run their own kmsim with a fixture of the same name).
our_kmsim() {
  local p
  for p in $(pgrep -f -- "--fixture fx.yaml"); do
    [ "$(readlink "/proc/$p/cwd" 2>/dev/null)" = "$(pwd -P)" ] && return 0
  done
  return 1
}
if our_kmsim; then
  echo "FAIL: the rehearsal's kmsim is still running"; exit 1
fi

# SIGINT during a rehearsal: rotation put back in kmsim, exit 4, kmsim gone.
"$KM_BIN/kmsmig" rehearse demo.yaml --fixture fx.yaml --run-dir "$TMP/reh3" \
  >reh3.out 2>&1 &
pid=$!
# Once rotation is off somewhere (the journal says so), it must come back.
for _ in $(seq 400); do
  grep -q '"rotation_off_done"' "$TMP/reh3/journal.jsonl" 2>/dev/null && break
  sleep 0.05
done
kill -INT "$pid"
rc=0
wait "$pid" || rc=$?
if [ "$rc" != 4 ] && [ "$rc" != 0 ]; then
  cat reh3.out; echo "FAIL: rehearse after SIGINT exit $rc"; exit 1
fi
if our_kmsim; then
  echo "FAIL: kmsim still running after SIGINT"; exit 1
fi
grep -q "0 not restored" reh3.out || { cat reh3.out; echo "FAIL: rotation not restored after SIGINT"; exit 1; }
echo "ok: marked as a rehearsal; kmsim stopped (also after SIGINT, exit $rc)"

# ---- 5. a directory manifest on the migrated cloud ----
# Only mgmt is named; the members come from the resource directory (a
# folder and a tag filter), so the export must carry the directory, its
# folder and the tags.  The cloud is now migrated (keys and secrets in the
# instances, default instances set): the rehearsal must see that too.
python3 - demo.yaml <<'PY'
import sys
s = open(sys.argv[1]).read()
start, end = s.index("accounts:\n"), s.index("regions:")
s = s[:start] + ('accounts:\n  - name: mgmt\n    id: "1000000000000001"\n'
                 '    credentials: { env: true }\n\n') + s[end:]
s = s.replace("    share_with: [app-a, app-b]", "    share_with: all")
d = ("directory:\n  management: mgmt\n"
     "  include: { folders: [fd-demoapps], tags: { env: prod } }\n")
open("dir.yaml", "w").write(s.replace("accounts:\n", d + "accounts:\n", 1))
PY
rc=0
"$KM_BIN/kmsmig" rehearse dir.yaml --run-dir "$TMP/reh4" >reh4.out 2>&1 || rc=$?
rc_real=0
"$KM_BIN/kmsmig" run dir.yaml --yes --run-dir "$TMP/real4" >real4.out 2>&1 || rc_real=$?
[ "$rc" = "$rc_real" ] || { cat reh4.out real4.out; echo "FAIL: directory: rehearsal exit $rc, real run $rc_real"; exit 1; }
grep -q 'folder: "fd-demoapps"' reh4/fixture.yaml &&
  grep -q 'tags: {"env": "prod"}' reh4/fixture.yaml ||
  { echo "FAIL: the directory's folder or tags are not in the fixture"; exit 1; }
python3 - real4 reh4 <<'PY'
import json, sys
VOLATILE = {"request_id", "off_request_id", "restore_request_id", "turned_off",
            "restored", "submitted", "done", "start", "end", "task_id",
            "client_token", "seen"}
def norm(x):  # the same normalisation as above
    if isinstance(x, dict):
        return {k: norm(v) for k, v in x.items()
                if not (k in ("duration_s", "observe") or
                        (k in VOLATILE and (v is None or isinstance(v, str))))}
    if isinstance(x, list):
        return [norm(v) for v in x]
    return x
def view(d):
    r = json.load(open(f"{d}/report.json"))
    pipes = sorted((norm(p) for p in r["pipelines"]), key=lambda p: (p["account"], p["region"]))
    for p in pipes:
        if isinstance(p.get("rotation_ledger"), list):
            p["rotation_ledger"].sort(key=lambda e: json.dumps(e, sort_keys=True))
    return norm(r["totals"]), pipes
real, reh = view(sys.argv[1]), view(sys.argv[2])
assert real[0]["accounts"]["ok"] + real[0]["accounts"]["blocked"] == 3, real[0]
assert real[0]["keys"]["already_migrated"] > 0, real[0]
assert real == reh, "FAIL: directory rehearsal differs from the real run"
print(f"ok: directory manifest on the migrated cloud: rehearsal equals the real run "
      f"(keys {real[0]['keys']})")
PY
echo "PASS"
