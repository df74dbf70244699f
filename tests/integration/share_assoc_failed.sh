#!/usr/bin/env bash
# One member's association Failed, the other's Associated, in the same
# sharing round (issue 13): the demo with app-b moved to another verified
# enterprise in the same resource directory, so the directory check of
# DISCOVER passes (no API shows an account's enterprise: the plan only asks
# to confirm it) and the cloud fails app-b's association at PREPARE.  A
# member ends as soon as a poll shows its association settled, so this
# asserts what that must keep: app-b's pipelines fail with the cloud's reason
# and nothing of app-b is migrated or left with rotation off, while app-a
# (Associated) and the owner migrate; kmsim's state agrees.  What PREPARE
# turned off for app-b before the failure is back on.
. "$(dirname "$0")/lib/kmsim.sh"
fail() { echo "FAIL: $*" >&2; exit 1; }
python3 - "$KM_SRC/sim/fixtures/demo.yaml" "$TMP/cloud.yaml" <<'PY'
import sys
src, dst = sys.argv[1:3]
text = open(src).read()
ent = '  - {id: ent-demo0001, name: "Demo Trading Co. (verified)", verified: true}\n'
assert ent in text
text = text.replace(ent, ent + '  - {id: ent-other0001, name: "Other Co.", '
                    'verified: true}\n')
b = '    name: app-b\n    directory: rd-demo0001\n'
assert b in text
text = text.replace(b, b + '    enterprise: ent-other0001\n')
open(dst, "w").write(text)
PY
start_kmsim "$TMP/cloud.yaml"
demo_manifest "$KM_SRC/manifests/demo.yaml" "$TMP/demo.yaml"
# 16 connections per endpoint: PREPARE runs the share and the rotation
# changes at once (KM_ENGINE_TOGETHER_MIN), so app-b's rotation may be
# turned off before its association fails, and must then be restored.
sed -i 's/requests_per_endpoint: 4/requests_per_endpoint: 16/' "$TMP/demo.yaml"
grep -q "requests_per_endpoint: 16" "$TMP/demo.yaml" || fail "manifest not set"
demo_env
cd "$TMP"
kmsim_post /_kmsim/faults '{"task_seconds": 1}' >/dev/null
rc=0
"$KM_BIN/kmsmig" run demo.yaml --yes --run-dir run >run.txt 2>run.err || rc=$?
[ "$rc" != 0 ] || fail "run exited 0 although app-b could not be shared with"
[ -s run/report.json ] || { tail -20 run.err; fail "no report (exit $rc)"; }
kmsim_get /_kmsim/state >state.json
python3 - run/report.json state.json <<'PY'
import json, sys
rep, state = (json.load(open(f)) for f in sys.argv[1:3])
errs = []
by = {}
for p in rep["pipelines"]:
    by.setdefault(p["account"], []).append(p)
for p in by.get("app-b", []):
    text = json.dumps(p)
    if p.get("status") != "failed":
        errs.append("app-b %s: status %s, want failed" % (p["region"],
                                                         p.get("status")))
    if "did not succeed" not in text or "real-name verified enterprise" \
            not in text:
        errs.append("app-b %s: the cloud's reason is not reported: %s"
                    % (p["region"], text[:400]))
for acct in ("mgmt", "app-a"):
    for p in by.get(acct, []):
        if p.get("status") != "ok":
            errs.append("%s %s: status %s, want ok" % (acct, p["region"],
                                                        p.get("status")))
if len(by.get("app-b", [])) != 2 or len(by.get("app-a", [])) != 2:
    errs.append("pipelines: %s" % {a: len(v) for a, v in by.items()})
assoc = {}
def walk(o):
    if isinstance(o, dict):
        if "Shares" in o and "Associations" in o:
            for a in o["Associations"]:
                if a.get("AssociationType") == "Target":
                    assoc.setdefault(a["EntityId"], set()).add(
                        a["AssociationStatus"])
        for v in o.values():
            walk(v)
    elif isinstance(o, list):
        for v in o:
            walk(v)
walk(state)
ids = {a["Name"]: a["AccountId"] for a in state["Accounts"]}
print("target associations:", {k: sorted(v) for k, v in assoc.items()})
if assoc.get(ids["app-a"]) != {"Associated"}:
    errs.append("app-a not Associated in kmsim")
if assoc.get(ids["app-b"]) != {"Failed"}:
    errs.append("app-b not Failed in kmsim")
changes = 0
for acct in state["Accounts"]:
    if acct["Name"] != "app-b":
        continue
    for region, r in acct["Regions"].items():
        for x in r["Keys"] + r["Secrets"]:
            name = x.get("KeyId") or x.get("SecretName")
            if x.get("DKMSInstanceId"):
                errs.append("app-b %s migrated" % name)
            rot = x.get("Rotation", {})
            changes += rot.get("Updates", 0)
            if rot.get("Updates", 0) > 0 and not rot.get("Enabled"):
                errs.append("app-b %s: rotation left off" % name)
print("app-b rotation policy updates (off, then restored):", changes)
if errs:
    print("\n".join("FAIL: " + e for e in errs)); sys.exit(1)
PY
echo "share_assoc_failed: ok"
