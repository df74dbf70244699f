#!/usr/bin/env bash
# What the operator reads: a prepare that fails (ResourceSharing answers 5xx
# to every share request) is reported as "prepare failed", not as the
# restore that ran after it, once per pipeline in the summary with its
# RequestId once, and once on the progress line as a Code; and a preflight
# warning shared by three accounts (auto_renew off on their instance) is
# printed once while the run goes and once in the summary, "(3 accounts)".
. "$(dirname "$0")/lib/kmsim.sh"
start_kmsim "$KM_SRC/sim/fixtures/demo.yaml"
demo_manifest "$KM_SRC/manifests/demo.yaml" "$TMP/demo.yaml"
demo_env
cd "$TMP"
python3 - <<'PY'
s = open("demo.yaml").read()
s = s.replace("auto_renew: true", "auto_renew: false", 1)  # cn-hangzhou's
open("demo.yaml", "w").write(s.replace("failure_tolerance: { count: 0 }",
                                        "failure_tolerance: { count: 3 }"))
PY
kmsim_post /_kmsim/faults '{"seed":5,"error_5xx_rate":1.0,
  "actions":["CreateResourceShare","AssociateResourceShare"]}' >/dev/null
rc=0
"$KM_BIN/kmsmig" run demo.yaml --yes --run-dir run >run.txt 2>run.err || rc=$?
cat run.txt
[ "$rc" -eq 1 ] || { echo "FAIL: expected exit 1, got $rc"; exit 1; }
python3 - run.txt run.err run/report.json <<'PY'
import json, re, sys
out, err = open(sys.argv[1]).read(), open(sys.argv[2]).read()
rep = json.load(open(sys.argv[3]))
failed = [(p["account"], p["region"]) for p in rep["pipelines"] if p["status"] == "failed"]
assert failed, "no pipeline failed: the fault did not bite"
summary = out[out.index("\ndone in"):]
for a, g in failed:
    lines = [l for l in summary.splitlines() if l.startswith("  %s %s: " % (a, g))]
    assert len(lines) == 1, ("the failure is not printed once", a, g, lines)
    l = lines[0]
    assert ": prepare failed: " in l, ("wrong stage", l)
    assert "restore failed" not in l, l
    ids = re.findall(r"[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}", l)
    assert len(ids) <= 1, ("RequestId more than once", l)
    prog = [l for l in out.splitlines()
            if re.match(r"\d\d:\d\d:\d\dZ +%s +%s .* failed" % (a, g), l)]
    assert len(prog) == 1, ("progress line", prog)
    assert " prepare " in prog[0], prog[0]
# Nothing runs together: a closing parenthesis is followed by a separator.
assert not re.search(r"\)[A-Za-z]", summary), re.search(r".{40}\)[A-Za-z].{20}", summary)
# The failure texts reach the terminal only through stdout (once).
assert " failed: " not in err, err
w = "auto_renew is false for kst-hzz6500a1b2c3d4e5f6"
assert err.count(w) == 1, ("live warning not once", err.count(w))
lines = [l for l in summary.splitlines() if w in l]
assert len(lines) == 1 and lines[0].endswith("(3 accounts)"), lines
print("failed in prepare, once each: %s; warning once, (3 accounts)" % failed)
PY
kmsim_post /_kmsim/faults '{"reset":true}' >/dev/null
echo "messages_once: ok"
