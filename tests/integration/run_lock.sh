#!/usr/bin/env bash
# Run locks across runs (locks.dir, docs/plan.md "Locks") on the demo:
#  1. run A holds its accounts × one region (waiting for a scheduled time);
#     run B over the same accounts and both regions, another run directory,
#     is refused, exit 5, naming A's run directory and pid, before any write
#     (kmsim's write counts unchanged, B's journal empty), keeping none of
#     the locks it could take; plan warns; A, interrupted, releases its locks.
#  2. run C is killed (-9) mid-migration: its locks stay; D is refused with
#     "STALE" (dead pid on this host); C's resume re-owns them and finishes;
#     the folder is empty after.
#  3. a lock of a run on another host: refused (not stale); --break-lock
#     --yes takes it over and journals lock_broken naming that run.
#  4. locks.dir that does not exist: exit 2 (never created behind a mount).
. "$(dirname "$0")/lib/kmsim.sh"
fail() { echo "FAIL: $*"; for f in "$TMP"/*.err; do echo "== $f"; tail -5 "$f"; done; exit 1; }
start_kmsim "$KM_SRC/sim/fixtures/demo.yaml"
demo_manifest "$KM_SRC/manifests/demo.yaml" "$TMP/demo.yaml"
demo_env
cd "$TMP"
K="$KM_BIN/kmsmig"
mkdir locks
printf 'locks: {dir: locks}\n' >>demo.yaml
# A: one region of the three accounts, at a scheduled time; B: both regions.
sed -e 's/^  when: now.*/  when: "2099-01-01T00:00:00Z"/' \
  -e 's/^regions: \[cn-hangzhou, cn-shanghai\]/regions: [cn-hangzhou]/' demo.yaml >later.yaml
grep -q 2099 later.yaml && grep -q '^regions: \[cn-hangzhou\]' later.yaml || fail "no scheduled copy of the manifest"
writes() { # write calls kmsim answered so far
  kmsim_get /_kmsim/stats | python3 -c '
import json, re, sys
s = json.load(sys.stdin)["ByAction"]
print(sum(sum(v.values()) for k, v in s.items()
          if not re.match(r"^[a-z]+\.(Describe|List|Get|Query)", k)))'
}
records() { # TYPE DIR: how many journal records of TYPE
  local n
  n=$(grep -c "\"type\":\"$1\"" "$2/journal.jsonl" 2>/dev/null) || true
  echo "${n:-0}"
}

# ---- 1. concurrent runs ----
"$K" run later.yaml --yes --run-dir a >a.out 2>a.err &
A=$!
for _ in $(seq 200); do
  [ "$(records rotation_wait a)" -ge 3 ] && break
  kill -0 $A 2>/dev/null || fail "run A ended early"
  sleep 0.05
done
[ "$(records rotation_wait a)" -ge 3 ] || fail "run A is not waiting"
[ "$(ls locks | wc -l)" -eq 3 ] || fail "run A holds $(ls locks | wc -l) locks, want 3"
w0=$(writes)
rc=0
"$K" run demo.yaml --yes --run-dir b >b.out 2>b.err || rc=$?
[ "$rc" -eq 5 ] || fail "run B exited $rc, want 5"
grep -q "is locked by another run: run directory $TMP/a (run a) on host $(hostname), pid $A" b.err ||
  fail "run B does not name run A"
grep -q -- "--break-lock" b.err || fail "the refusal does not name --break-lock"
w1=$(writes)
[ "$w1" = "$w0" ] || fail "run B made write calls ($w0 -> $w1)"
[ ! -s b/journal.jsonl ] || fail "run B journalled something"
[ ! -e b/report.json ] || fail "run B wrote a report"
# All or nothing: B's cn-shanghai locks, free, were not kept.
[ "$(ls locks | wc -l)" -eq 3 ] || fail "after B's refusal $(ls locks | wc -l) locks, want A's 3"
[ "$(grep -c 'is locked by another run' b.err)" -eq 3 ] || fail "B does not list A's 3 locks"
! grep -q "cn-shanghai is locked" b.err || fail "B calls a free region locked"
"$K" plan demo.yaml >plan.out 2>plan.err || true
grep -q "is locked by run a" plan.err || fail "plan does not warn about the lock"
kill -INT $A
rc=0; wait $A || rc=$?
[ "$rc" -eq 4 ] || fail "run A exited $rc after SIGINT, want 4"
[ -z "$(ls locks)" ] || fail "run A left locks: $(ls locks)"
echo "concurrent: B refused (exit 5) naming A, kmsim writes $w0 before B, $w1 after; A released its 3 locks"

# ---- 2. kill -9, stale, resume re-owns ----
kmsim_post /_kmsim/faults '{"task_seconds": 3}' >/dev/null
"$K" run demo.yaml --yes --run-dir c >c.out 2>c.err &
C=$!
for _ in $(seq 300); do
  [ "$(records batch_submitted c)" -ge 1 ] && break
  sleep 0.05
done
[ "$(records batch_submitted c)" -ge 1 ] || fail "run C submitted no batch"
kill -9 $C; wait $C 2>/dev/null || true
[ "$(ls locks | wc -l)" -eq 6 ] || fail "the killed run left $(ls locks | wc -l) locks, want 6"
rc=0
"$K" run demo.yaml --yes --run-dir d >d.out 2>d.err || rc=$?
[ "$rc" -eq 5 ] || fail "run D exited $rc over a stale lock, want 5"
grep -q "pid $C, since .*STALE: that process is not running on this host" d.err ||
  fail "the stale lock is not reported as stale"
kmsim_post /_kmsim/faults '{"task_seconds": 0}' >/dev/null
"$K" run demo.yaml --yes --run-dir c >c2.out 2>c2.err || fail "the resume of C exited $?"
[ -z "$(ls locks)" ] || fail "the resumed run left locks: $(ls locks)"
python3 - c/report.json <<'PY' || fail "the resumed run did not migrate everything"
import json, sys
t = json.load(open(sys.argv[1]))["totals"]
assert t["keys"]["migrated"] > 0 and t["keys"]["failed"] == 0, t["keys"]
PY
echo "kill -9: stale lock refused (exit 5, STALE); the resume re-owned and released them"

# ---- 3. a lock of another host; --break-lock ----
python3 - locks demo.yaml <<'PY'
import json, re, sys
m = open(sys.argv[2]).read()
acct = re.search(r'id: "?(\d{16})', m).group(1)
lock = {"format": "kmsmig-lock", "version": 1, "token": "f" * 32, "run_id": "elsewhere-run",
        "run_dir": "/shared/runs/elsewhere-run", "host": "other-host", "pid": 4242,
        "since": "2026-12-01T00:00:00Z", "account": "x", "account_id": acct,
        "region": "cn-hangzhou", "plan_sha256": None, "shard": None}
json.dump(lock, open("%s/%s.cn-hangzhou.lock" % (sys.argv[1], acct), "w"))
PY
rc=0
"$K" run demo.yaml --yes --run-dir e >e.out 2>e.err || rc=$?
[ "$rc" -eq 5 ] || fail "run E exited $rc, want 5"
grep -q "run directory /shared/runs/elsewhere-run (run elsewhere-run) on host other-host, pid 4242" e.err ||
  fail "run E does not name the other host's run"
! grep -q STALE e.err || fail "a lock of another host was called stale"
rc=0
"$K" run demo.yaml --yes --break-lock --run-dir e >e2.out 2>e2.err || rc=$?
# 3: the demo's blocked secrets (everything else migrated by C already).
[ "$rc" -eq 0 ] || [ "$rc" -eq 3 ] || fail "the --break-lock run exited $rc"
grep -q "broke the lock of mgmt cn-hangzhou (journalled)" e2.err || fail "no word of the broken lock"
grep -q '"type":"lock_broken".*"holder_host":"other-host"' e/journal.jsonl ||
  grep -q '"holder_host":"other-host".*"type":"lock_broken"' e/journal.jsonl ||
  fail "no lock_broken record naming the other host"
[ -z "$(ls locks)" ] || fail "the run that broke the lock left locks: $(ls locks)"
echo "other host: refused, then --break-lock --yes journalled lock_broken and ran"

# ---- 4. a missing locks.dir ----
sed 's/^locks: {dir: locks}/locks: {dir: no-such-folder}/' demo.yaml >nodir.yaml
rc=0
"$K" run nodir.yaml --yes --run-dir f >f.out 2>f.err || rc=$?
[ "$rc" -eq 2 ] || fail "a missing locks.dir exited $rc, want 2"
grep -q "locks.dir .*no-such-folder is not a writable folder" f.err || fail "no message for the missing folder"
[ ! -e no-such-folder ] || fail "the missing locks.dir was created"
echo "run_lock: ok"
