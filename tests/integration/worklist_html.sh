#!/usr/bin/env bash
# worklist.html as a browser shows it: a console-driver run against kmsim
# with two items clicked (done) and the rest waiting, then headless
# Chromium renders the file: every item of worklist.json is in the DOM and
# in the overview table, the inline script ran (it fills the account filter
# and the "N shown" count), the state filter from the URL hash hides the
# other items and rows, and the browser logged no console error.  Chromium missing or unable to start
# FAILS this test (scripts/deps.sh installs it).  KM_WORKLIST_SCREENSHOT=PNG
# also keeps a screenshot (docs/img/worklist.png was made this way).
. "$(dirname "$0")/lib/kmsim.sh"
CHROMIUM=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$CHROMIUM" ]; then
  echo "FAIL: chromium is not installed (run scripts/deps.sh): worklist.html was NOT checked"
  exit 1
fi
start_kmsim "$KM_SRC/sim/fixtures/demo.yaml"
demo_manifest "$KM_SRC/manifests/demo.yaml" "$TMP/demo.yaml"
demo_env
cd "$TMP"
python3 - <<'PY'
s = open("demo.yaml").read()
s = s.replace("driver: sim                     # kmsim performs the console step itself",
              "driver: console")
s = s.replace("when: now", "when: now\n  poll_interval: 1s")
assert "driver: console" in s
open("demo.yaml", "w").write(s)
PY
fail() { echo "FAIL: $*"; tail -20 out.txt err.txt chrome.err 2>/dev/null; exit 1; }
count() {
  python3 -c 'import json,sys
try: w=json.load(open("run/worklist.json"))
except Exception: print(0); sys.exit()
print(sum(1 for i in w["items"] if i["state"]==sys.argv[1]))' "$1"
}
"$KM_BIN/kmsmig" run demo.yaml --yes --run-dir run >out.txt 2>err.txt &
PID=$!
for _ in $(seq 300); do
  [ "$(count waiting)" -ge 6 ] && break
  sleep 0.1
done
[ "$(count waiting)" -ge 6 ] || fail "no waiting items"
python3 "$KM_SRC/tests/integration/lib/console_operator.py" run "$KMSIM_PORT" \
  "$KM_SRC/sim/tls/ca.pem" clicked.txt --max 2 --seed 3
for _ in $(seq 300); do
  [ "$(count done)" -ge 2 ] && break
  sleep 0.1
done
[ "$(count done)" -ge 2 ] || fail "clicked items not done"
sleep 0.5 # the worklist is rewritten a moment after the record
kill -TERM $PID
wait $PID || true
cp run/worklist.html run/worklist.json .

chrome() { # URL OUT: DOM to OUT, browser log to chrome.err
  timeout 60 "$CHROMIUM" --headless=new --disable-gpu --no-sandbox \
    --no-first-run --disable-extensions --user-data-dir="$TMP/profile" \
    --enable-logging=stderr --v=0 --virtual-time-budget=2000 \
    --dump-dom "$1" >"$2" 2>>chrome.err
}
chrome "file://$TMP/worklist.html" dom.html || fail "chromium could not start or render (exit $?)"
[ -s dom.html ] || fail "chromium printed no DOM: it did not start"
chrome "file://$TMP/worklist.html#account=&state=done" dom-done.html ||
  fail "chromium failed on the filtered page"
if grep -E 'CONSOLE|Uncaught|SyntaxError|ReferenceError|TypeError' chrome.err; then
  fail "the browser logged a console error"
fi
python3 - worklist.json dom.html dom-done.html <<'PY'
import json, re, sys
w = json.load(open(sys.argv[1]))
dom = open(sys.argv[2]).read()
done = open(sys.argv[3]).read()
items = w["items"]
assert items, "no items"
for it in items:
    m = re.search(r'<section class="item [a-z_]+" data-state="([a-z_]+)"[^>]*id="item-%d"' % it["no"], dom)
    assert m, "item %d missing from the rendered page" % it["no"]
    assert m.group(1) == it["state"], (it["no"], m.group(1), it["state"])
    assert re.search(r'<tr class="row %s"[^>]*><td><a href="#item-%d">' % (it["state"], it["no"]), dom), \
        "item %d missing from the overview table" % it["no"]
    if it["state"] in ("scheduled", "waiting", "migrating", "paused"):
        assert len(it["keys"]) == it["nkeys"] and len(it["secrets"]) == it["nsecrets"], it
        for k in it["keys"] + it["secrets"]:
            assert k in dom, "%s of item %d not on the page" % (k, it["no"])
    else:
        # An ended item keeps its numbers; report.json has the IDs.
        assert it["keys"] is None and it["secrets"] is None, it
        assert "%d key(s), %d secret(s)" % (it["nkeys"], it["nsecrets"]) in dom, it["no"]
assert re.search(r'<span id="shown">%d shown</span>' % len(items), dom), "the script did not run"
accounts = sorted({i["account"] for i in items})
for a in accounts:
    assert '<option value="%s">%s</option>' % (a, a) in dom, "account filter lacks %s" % a
ndone = sum(i["state"] == "done" for i in items)
assert re.search(r'<span id="shown">%d shown</span>' % ndone, done), "state filter from the hash"
hidden = len(re.findall(r'<section class="item [a-z_]+"[^>]* hidden', done))
assert hidden == len(items) - ndone, (hidden, len(items), ndone)
hidden_rows = len(re.findall(r'<tr class="row [a-z_]+"[^>]* hidden', done))
assert hidden_rows == len(items) - ndone, (hidden_rows, len(items), ndone)
print("rendered: %d items, %d accounts, %d done shown by the filter, no console error"
      % (len(items), len(accounts), ndone))
PY
if [ -n "${KM_WORKLIST_SCREENSHOT:-}" ]; then
  timeout 60 "$CHROMIUM" --headless=new --disable-gpu --no-sandbox --no-first-run \
    --user-data-dir="$TMP/profile" --hide-scrollbars --window-size=1100,1400 \
    --screenshot="$KM_WORKLIST_SCREENSHOT" "file://$TMP/worklist.html" 2>>chrome.err ||
    fail "screenshot"
  echo "screenshot: $KM_WORKLIST_SCREENSHOT"
fi
echo "worklist_html: ok"
