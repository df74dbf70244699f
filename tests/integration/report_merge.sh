#!/usr/bin/env bash
# `kmsmig report RUN_DIR...` merges the shards of one saved plan: the demo
# planned once (`plan --out`), run as two shards one after the other, and
# the same manifest run unsharded on a fresh kmsim give the same totals and
# the same pipelines; the merged text, HTML and Markdown show every
# pipeline.  Refused, exit 2 with both run directories named: the same
# shard twice, a sharded and an unsharded run (different plans), runs of
# different manifests (unless --allow-mixed), and a pipeline in two run
# directories (even with --allow-mixed).
. "$(dirname "$0")/lib/kmsim.sh"
fail() { echo "FAIL: $*"; tail -20 out.txt err.txt 2>/dev/null; exit 1; }
start_kmsim "$KM_SRC/sim/fixtures/demo.yaml"
demo_manifest "$KM_SRC/manifests/demo.yaml" "$TMP/demo.yaml"
demo_env
cd "$TMP"
K="$KM_BIN/kmsmig"
"$K" plan demo.yaml --out demo.plan >plan.txt 2>&1 || true
[ -s demo.plan ] || { cat plan.txt; fail "no saved plan"; }
for s in 1 2; do
  "$K" run demo.yaml --plan demo.plan --shard $s/2 --yes --run-dir s$s >s$s.txt 2>s$s.err ||
    { cat s$s.txt; fail "shard $s/2 exited $?"; }
done
# One unsharded run of the same manifest on a fresh cloud (same port: the
# manifest, and its hash, stay the same).
port=$KMSIM_PORT
kill "$KMSIM_PID"; wait "$KMSIM_PID" 2>/dev/null || true; KMSIM_PID=
rm -f "$TMP/ports"
start_kmsim "$KM_SRC/sim/fixtures/demo.yaml" --https-port "$port"
"$K" run demo.yaml --yes --run-dir whole >whole.txt 2>whole.err || fail "the unsharded run exited $?"

"$K" report s1 s2 --output json >merged.json || fail "report s1 s2 exited $?"
"$K" report s1 s2 >merged.txt || fail "report s1 s2 (text) exited $?"
"$K" report s1 s2 --output html --out merged.html || fail "report s1 s2 --output html exited $?"
"$K" report s1 s2 --output md --out merged.md || fail "report s1 s2 --output md exited $?"
python3 - merged.json whole/report.json s1/report.json s2/report.json merged.html merged.md merged.txt <<'PY'
import json, re, sys
m, w, a, b = (json.load(open(f)) for f in sys.argv[1:5])
html, md, txt = (open(f).read() for f in sys.argv[5:8])
assert a["pipelines"] and b["pipelines"], "a shard ran nothing"
assert a["plan"]["shard"] == "1/2" and b["plan"]["shard"] == "2/2", (a["plan"], b["plan"])
assert m["merged_from"] == ["s1", "s2"], m["merged_from"]
assert m["totals"] == w["totals"], "merged totals %s != unsharded %s" % (m["totals"], w["totals"])
def shape(p):
    return (p["account"], p["region"], p["status"],
            {k: {b_: (v if isinstance(v, int) else sorted(x if isinstance(x, str) else x["id"] for x in v))
                 for b_, v in p[k].items()} for k in ("keys", "secrets")},
            p["rotation"]["turned_off"], p["rotation"]["restored"], len(p["rotation_ledger"]))
assert [shape(p) for p in m["pipelines"]] == [shape(p) for p in w["pipelines"]], "pipelines differ"
n = len(w["pipelines"])
assert html.count('<section class="pipeline"') == n, html.count('<section class="pipeline"')
for d in ("s1", "s2"):
    assert "<code>%s</code>" % d in html, d
rows = [l for l in md.split("## Accounts and regions")[1].split("##")[0].splitlines() if l.startswith("| ") and "---" not in l]
assert len(rows) == n + 1, rows
t = w["totals"]
assert "accounts   %d ok" % t["accounts"]["ok"] in txt, txt
assert "keys       %d migrated" % t["keys"]["migrated"] in txt, txt
assert "run directory s1 and 1 more" in txt and "report   merged from 2 run directories" in txt, txt
print("merge of 2 shards = unsharded run: %d pipelines, keys %d migrated, secrets %d migrated, %d batches"
      % (n, t["keys"]["migrated"], t["secrets"]["migrated"], t["batches"]))
PY

refused() { # WANT_TEXT ARGS...: exit 2 and the message
  local want=$1 rc=0
  shift
  "$K" report "$@" >r.out 2>r.err || rc=$?
  [ "$rc" -eq 2 ] || fail "report $* exited $rc, want 2"
  grep -q -- "$want" r.err || { cat r.err; fail "report $*: no '$want'"; }
}
refused "both shard 1/2 of the same plan" s1 s1
refused "not shards of one saved plan" s1 whole
refused "is in both reports" s1 whole --allow-mixed
cp -r s2 other
python3 - other/report.json <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
r["manifest_hash"] = "0" * 64
json.dump(r, open(sys.argv[1], "w"))
PY
refused "different manifests" s1 other
grep -q -- "--allow-mixed" r.err || fail "the refusal does not name --allow-mixed"
"$K" report s1 other --allow-mixed --output json >mixed.json || fail "--allow-mixed did not merge"
refused "the run directory of a finished" s1 /nonexistent
mkdir -p v3
python3 -c 'import json; r=json.load(open("s2/report.json")); r["report_version"]=3; json.dump(r, open("v3/report.json","w"))'
refused "report_version 3 is not one this kmsmig reads" v3
echo "report_merge: ok"
