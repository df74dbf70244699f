#!/usr/bin/env bash
# A journal that lost records cannot prove what was restored: a run killed
# after turning rotation off, whose journal is then emptied, truncated or
# deleted, must not resume (before: it resumed, left rotation off and
# reported "0 not restored").  Each time resume stops with a message that
# says what to check, writes no report, and changes nothing in the cloud.
. "$(dirname "$0")/lib/kmsim.sh"
start_kmsim "$KM_SRC/sim/fixtures/demo.yaml"
demo_manifest "$KM_SRC/manifests/demo.yaml" "$TMP/demo.yaml"
demo_env
cd "$TMP"
fail() { echo "FAIL: $*" >&2; exit 1; }

rc=0
KMSMIG_TEST_CRASH_AFTER=rotation_off:4 "$KM_BIN/kmsmig-faults" run demo.yaml \
  --yes --run-dir run >first.txt 2>first.err || rc=$?
[ "$rc" = 137 ] || { tail -5 first.err; fail "expected SIGKILL, got $rc"; }
cp run/journal.jsonl journal.full
records=$(wc -l <journal.full)
echo "killed after turning rotation off; journal has $records records"
kmsim_get /_kmsim/state >killed.json

resume_refused() { # NAME
  local rc=0
  rm -f run/report.json
  "$KM_BIN/kmsmig" run demo.yaml --yes --run-dir run >"$1.txt" 2>"$1.err" || rc=$?
  [ "$rc" != 0 ] || { tail -5 "$1.err"; fail "$1: resume exited 0"; }
  grep -q "Not resuming" "$1.err" || { tail -5 "$1.err"; fail "$1: no clear message"; }
  grep -q "check automatic rotation" "$1.err" || fail "$1: does not say what to check"
  [ ! -e run/report.json ] || fail "$1: a report was written"
  ! grep -q "0 not restored" "$1.txt" || fail "$1: reported 0 not restored"
  echo "$1: refused (exit $rc): $(grep -o 'records were lost[^:]*\|the journal was deleted' "$1.err" | head -1)"
}

: >run/journal.jsonl
resume_refused emptied
head -n 2 journal.full >run/journal.jsonl
resume_refused truncated
head -c $(( $(stat -c %s journal.full) - 30 )) journal.full >run/journal.jsonl
resume_refused torn_cut
rm run/journal.jsonl
resume_refused deleted

kmsim_get /_kmsim/state >after.json
python3 - killed.json after.json <<'PY'
import json, sys
a, b = (json.load(open(f)) for f in sys.argv[1:3])
a.pop("Clock", None); b.pop("Clock", None)
assert a["Accounts"] == b["Accounts"], "a refused resume changed the cloud"
print("the refused resumes changed nothing")
PY

# The whole journal back: resume goes on and restores everything.
cp journal.full run/journal.jsonl
rc=0
"$KM_BIN/kmsmig" run demo.yaml --yes --run-dir run >final.txt 2>final.err || rc=$?
[ "$rc" = 0 ] || { tail -5 final.err; fail "resume with the full journal exited $rc"; }
echo "journal_lost: ok"
