#!/usr/bin/env bash
# The journal is tamper-evident (docs/journal.md): on a real run directory
# (a demo run killed after its second batch was submitted, rotation off),
# editing, deleting, reordering or inserting any journal line, truncating
# it, or rewriting its last record is detected by `kmsmig verify-journal`
# (exit 1, the line and what is wrong) AND refused by resume with the same
# message (also with --rerun-failed), without a call that changes the
# cloud and without a report.
# Before the chain, an edited rotation interval was restored as edited,
# exit 0.  An intact journal verifies; a torn last line after kill -9 is
# not tampering: resume finishes.  Every side-effect record of the run
# carries the RequestId of its call, and every hook decision is journalled.
. "$(dirname "$0")/lib/kmsim.sh"
start_kmsim "$KM_SRC/sim/fixtures/demo.yaml"
demo_manifest "$KM_SRC/manifests/demo.yaml" "$TMP/demo.yaml"
demo_env
cd "$TMP"
fail() { echo "FAIL: $*" >&2; exit 1; }

rc=0
KMSMIG_TEST_CRASH_AFTER=batch_submitted:2 "$KM_BIN/kmsmig-faults" run demo.yaml \
  --yes --run-dir run >first.txt 2>first.err || rc=$?
[ "$rc" = 137 ] || { tail -5 first.err; fail "expected SIGKILL, got $rc"; }
cp -a run good
n=$(wc -l <good/journal.jsonl)
echo "killed after the second batch was submitted: $n records"
kmsim_get /_kmsim/state >killed.json

out=$("$KM_BIN/kmsmig" verify-journal good) || fail "intact journal: exit $?"
echo "$out" | grep -q "journal intact: $n records" || fail "intact: $out"
echo "intact: $out"

# CASE NAME PYTHON: PYTHON edits L (the lines of good's journal); the run
# directory gets the result, verify-journal and resume must refuse it.
case_() {
  local name=$1 code=$2 rc=0
  rm -rf run
  cp -a good run
  python3 - run/journal.jsonl <<PY
import sys, json, re
p = sys.argv[1]
L = open(p).readlines()
orig = list(L)
$code
assert L != orig, "the edit changed nothing"
open(p, "w").writelines(L)
PY
  "$KM_BIN/kmsmig" verify-journal run >"$name.v.out" 2>"$name.v.err" || rc=$?
  [ "$rc" = 1 ] || { cat "$name.v.out" "$name.v.err"; fail "$name: verify-journal exited $rc"; }
  local msg
  msg=$(sed -n 's/^kmsmig verify-journal: BROKEN: //p' "$name.v.err")
  [ -n "$msg" ] || { cat "$name.v.err"; fail "$name: no BROKEN line"; }
  echo "$msg" | grep -q "line [0-9]" || fail "$name: no line number: $msg"
  echo "$msg" | grep -q "check automatic rotation" || fail "$name: no fix: $msg"
  [ -z "${3:-}" ] || echo "$msg" | grep -q "$3" || fail "$name: not '$3': $msg"
  rc=0
  "$KM_BIN/kmsmig" run demo.yaml --yes --run-dir run >"$name.r.out" 2>"$name.r.err" || rc=$?
  [ "$rc" = 2 ] || { tail -5 "$name.r.err"; fail "$name: resume exited $rc"; }
  grep -qF "kmsmig: journal: $msg" "$name.r.err" ||
    { cat "$name.r.err"; fail "$name: resume does not give verify-journal's message"; }
  [ ! -e run/report.json ] || fail "$name: a report was written"
  rc=0 # --rerun-failed resumes too: the same refusal
  "$KM_BIN/kmsmig" run demo.yaml --yes --run-dir run --rerun-failed \
    >"$name.f.out" 2>"$name.f.err" || rc=$?
  [ "$rc" = 2 ] && grep -qF "kmsmig: journal: $msg" "$name.f.err" ||
    { tail -5 "$name.f.err"; fail "$name: --rerun-failed was not refused the same way ($rc)"; }
  echo "$name: refused: ${msg%%. Not resuming*}"
}

# The issue's case: an edited rotation interval (in the middle).
case_ edited_interval '
i = next(i for i, l in enumerate(L) if "\"type\":\"rotation_off\"" in l and i < len(L) - 3)
L[i], k = re.subn(r"\"rotation_interval\":\"\d+s\"", "\"rotation_interval\":\"86400s\"", L[i])
assert k == 1, L[i]
' "it was edited"
case_ edited_first 'L[0] = L[0].replace("\"ts\":\"2", "\"ts\":\"3")' "line 1: "
case_ edited_last 'L[-1] = L[-1].replace("\"ts\":\"2", "\"ts\":\"3")' "rewritten"
case_ damaged_middle 'L[5] = L[5][:30] + "\n"' "line 6: "
case_ deleted 'del L[7]' "deleted"
case_ deleted_first 'del L[0]' "deleted"
case_ reordered 'L[3], L[4] = L[4], L[3]' "reordered"
case_ inserted_copy 'L.insert(6, L[2])' "inserted"
# An inserted forged record with a correct seq and prev, the later lines
# renumbered: the next line's prev still names the old neighbour.
case_ inserted_forged '
import hashlib
f = json.loads(L[4]); f["seq"] = 6; f["prev"] = "sha256:" + hashlib.sha256(L[4].encode()).hexdigest()
f["fields"]["rotation_interval"] = "86400s"
new = json.dumps(f, separators=(",", ":")) + "\n"
rest = []
for l in L[5:]:
    r = json.loads(l); r["seq"] += 1; rest.append(json.dumps(r, separators=(",", ":")) + "\n")
L[5:] = [new] + rest
' "line 6"
case_ truncated 'del L[-3:]' "records were lost"
case_ emptied 'L[:] = []' "records were lost"
# A whole tail rewritten consistently (chain recomputed): the mark's hash.
case_ tail_rewritten '
import hashlib
for i in range(len(L) - 4, len(L)):
    r = json.loads(L[i]); r["prev"] = "sha256:" + hashlib.sha256(L[i-1].encode()).hexdigest()
    r["fields"]["region"] = r["fields"].get("region", "") + "x"
    L[i] = json.dumps(r, separators=(",", ":")) + "\n"
' "journal.mark holds another hash"
case_ format1 '
L[:] = [json.dumps({k: v for k, v in json.loads(l).items() if k not in ("v", "prev")},
                   separators=(",", ":")) + "\n" for l in L]
' "format 1"

kmsim_get /_kmsim/state >after.json
python3 - killed.json after.json <<'PY'
import json, sys
a, b = (json.load(open(f)) for f in sys.argv[1:3])
a.pop("Clock", None); b.pop("Clock", None)
assert a["Accounts"] == b["Accounts"], "a refused resume changed the cloud"
print("the refused resumes changed nothing")
PY

# A torn last line (kill -9 in the middle of a write) is not tampering.
rm -rf run
cp -a good run
printf '{"v":2,"seq":%d,"ts":"2026-12-02T00:00:00.0' $((n + 1)) >>run/journal.jsonl
out=$("$KM_BIN/kmsmig" verify-journal run 2>/dev/null) || fail "torn tail: verify exited $?"
echo "$out" | grep -q "torn last line" || fail "torn tail: $out"
rc=0
"$KM_BIN/kmsmig" run demo.yaml --yes --run-dir run >final.txt 2>final.err || rc=$?
[ "$rc" = 0 ] || { tail -5 final.err; fail "resume after a torn tail exited $rc"; }
grep -q "23 restored exactly, 0 not restored" final.txt || { cat final.txt; fail "rotation"; }
"$KM_BIN/kmsmig" verify-journal run >/dev/null || fail "the finished journal does not verify"
echo "torn tail: resumed, finished, the journal verifies"

# RequestIds and hook decisions, over the whole journal of the run.
python3 - run/journal.jsonl <<'PY'
import json, sys
side = {"rotation_off_done", "rotation_restored", "share_associated",
        "task_started", "batch_seen", "batch_done", "byok_token",
        "byok_imported"}
seen, hooks, bad = {}, {}, []
for n, l in enumerate(open(sys.argv[1]), 1):
    r = json.loads(l)
    t, f = r["type"], r["fields"]
    if t == "rotation_restored" and f.get("left_off_by_hook"):
        continue  # no call was made
    if t in side:
        seen[t] = seen.get(t, 0) + 1
        if not isinstance(f.get("request_id"), str) or not f["request_id"]:
            bad.append((n, t))
    if t == "hook_decision":
        hooks[f["hook"]] = hooks.get(f["hook"], 0) + 1
        assert f["input_sha256"].startswith("sha256:") and f["decision"], f
assert not bad, "side-effect records without a RequestId: %s" % bad
for t in ("rotation_off_done", "rotation_restored", "share_associated",
          "task_started", "batch_done"):
    assert seen.get(t), "no %s record" % t
for h in ("rotation", "default_instance", "before_batch", "after_batch",
          "post_check"):
    assert hooks.get(h), "no decision of the %s hook" % h
print("request ids: %s; hook decisions: %s" % (
    ", ".join("%s %d" % kv for kv in sorted(seen.items())),
    ", ".join("%s %d" % kv for kv in sorted(hooks.items()))))
PY
echo "journal_chain: ok"
