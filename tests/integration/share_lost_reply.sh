#!/usr/bin/env bash
# A lost answer to CreateResourceShare (issue 13): kmsim creates the share
# and then closes the connection without an answer, every time
# (lost_reply_rate 1 on CreateResourceShare only).  The share stage must not
# fail the pipeline nor create the share twice: it looks the share up by
# name within the run, then associates whoever is still missing.  The demo
# shares two instances, so the run must exit 0 with exactly one share per
# instance, every member associated, and one CreateResourceShare served per
# share (the lost ones), none sent again with a new signature.
. "$(dirname "$0")/lib/kmsim.sh"
fail() { echo "FAIL: $*" >&2; exit 1; }
start_kmsim "$KM_SRC/sim/fixtures/demo.yaml"
demo_manifest "$KM_SRC/manifests/demo.yaml" "$TMP/demo.yaml"
demo_env
cd "$TMP"
kmsim_post /_kmsim/faults '{"task_seconds": 1, "lost_reply_rate": 1,
  "actions": ["CreateResourceShare"]}' >/dev/null
rc=0
"$KM_BIN/kmsmig" run demo.yaml --yes --run-dir run >run.txt 2>run.err || rc=$?
[ "$rc" = 0 ] || { tail -20 run.err; fail "run exited $rc, want 0"; }
grep -q "answer to CreateResourceShare for share kmsmig-.* was lost" run.err ||
  fail "the lost answer was not said"
kmsim_get /_kmsim/state >state.json
kmsim_get /_kmsim/stats >stats.json
python3 - state.json stats.json <<'PY'
import collections, json, sys
state, stats = (json.load(open(f)) for f in sys.argv[1:3])
shares, assoc = [], []
def walk(o):
    if isinstance(o, dict):
        if "Shares" in o and "Associations" in o:
            shares.extend(o["Shares"]); assoc.extend(o["Associations"])
        for v in o.values():
            walk(v)
    elif isinstance(o, list):
        for v in o:
            walk(v)
walk(state)
names = collections.Counter(s["ResourceShareName"] for s in shares)
print("shares:", dict(names))
created = stats["ByAction"].get("resourcesharing.CreateResourceShare", {})
print("CreateResourceShare served:", created)
errs = []
if not names or any(n != 1 for n in names.values()):
    errs.append("want one share per name, got %s" % dict(names))
# Applied once per share (its answer lost); the transport may resend the
# very request on a fresh connection, which kmsim refuses (SignatureNonceUsed,
# nothing applied) and kmsmig must not follow with a new attempt.
if created.get("Kmsim.LostReply", 0) != len(names) or \
        set(created) - {"Kmsim.LostReply", "SignatureNonceUsed"}:
    errs.append("CreateResourceShare: %s, want one lost reply per share (%d)"
                % (created, len(names)))
bad = [a for a in assoc if a.get("AssociationStatus") != "Associated"]
if not assoc or bad:
    errs.append("associations not all Associated: %s" % bad[:3])
if errs:
    print("\n".join("FAIL: " + e for e in errs)); sys.exit(1)
print("associations:", len(assoc), "all Associated")
PY
echo "share_lost_reply: ok"
