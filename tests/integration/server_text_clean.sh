#!/usr/bin/env bash
# Names from the server never reach the terminal or the log raw: a secret
# whose name carries ESC, CR, a bidi override (U+202E), a line separator
# (U+2028), a C1 CSI (U+009B) and a newline that fakes a log line is shown
# with each of those as '?', in plan, run, the run log and `kmsmig report`.
. "$(dirname "$0")/lib/kmsim.sh"
# The same hostile name in KMS 1.0 and already in the instance: the plan
# names it in its reason.
EVIL='evil\e[31mRED\r\u202Egnp.exe\u2028\u009B2J\n2026-01-01T00:00:00Z info  forged'
python3 - "$KM_SRC/sim/fixtures/demo.yaml" "$TMP/cloud.yaml" "$EVIL" <<'PY'
import sys
src, dst, evil = sys.argv[1:4]
out = []
for line in open(src):
    out.append(line)
    if line.strip() == "- {name: demo/generic-00, type: Generic, key: 10851a59-9470-3082-75c0-aca0a2ba495d}":
        pad = line[:len(line) - len(line.lstrip())]
        out.append(pad + '- {name: "%s", type: Generic, description: "%s"}\n' % (evil, evil))
        out.append(pad + '- {name: "%s", type: Generic, instance: kst-hzz6500a1b2c3d4e5f6, migrated: false}\n' % evil)
open(dst, "w").write("".join(out))
PY
start_kmsim "$TMP/cloud.yaml"
demo_manifest "$KM_SRC/manifests/demo.yaml" "$TMP/demo.yaml"
demo_env
cd "$TMP"
fail() { echo "FAIL: $*" >&2; exit 1; }

# kmsim really serves the hostile name (the test can fail).
kmsim_get /_kmsim/state | grep -q 'forged' || fail "fixture lacks the name"

raw_check() { # FILE...: no ESC, CR, C1, bidi, LS; no line starting "2026-01-01"
  python3 - "$@" <<'PY'
import sys
bad = {"\x1b": "ESC", "\r": "CR", "\u202e": "RLO", "\u2028": "LS", "\u009b": "CSI"}
ok = True
for f in sys.argv[1:]:
    t = open(f, "rb").read().decode("utf-8", "replace")
    for ch, name in bad.items():
        if ch in t:
            print("FAIL: %s holds a raw %s" % (f, name)); ok = False
    for line in t.splitlines():
        if line.startswith("2026-01-01T00:00:00Z info  forged"):
            print("FAIL: %s holds a forged line: %r" % (f, line)); ok = False
sys.exit(0 if ok else 1)
PY
}

"$KM_BIN/kmsmig" plan demo.yaml >plan.txt 2>plan.err || true
grep -q 'evil?\[31mRED?' plan.txt || { cat plan.txt; fail "plan does not show the name cleaned"; }
raw_check plan.txt plan.err
echo "plan: name shown as $(grep -o 'evil?[^ ]*' plan.txt | head -1)"

rc=0
"$KM_BIN/kmsmig" run demo.yaml --yes --run-dir run >run.txt 2>run.err || rc=$?
echo "run exited $rc"
"$KM_BIN/kmsmig" report run >report.txt 2>&1 || true
raw_check run.txt run.err run/kmsmig.log report.txt
grep -q 'evil' run/report.json || fail "the report does not list the secret"
echo "server_text_clean: ok"
