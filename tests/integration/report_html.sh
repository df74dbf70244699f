#!/usr/bin/env bash
# report.json, report.html and report.md of the demo as a reader gets them:
#   - `kmsmig run` writes all three, mode 0600 (the HTML and Markdown
#     rendered one pipeline at a time are the bytes `kmsmig report` renders
#     from the whole document);
#   - with an observe.json in the run directory (a fixture in the monitor's
#     shape: lib/observe_fixture.py), `kmsmig report RUN --output html|md|
#     json` renders the observations too;
#   - report.json (the run's and the re-rendered one) is valid against
#     docs/report.schema.json, and a report with a field removed or a wrong
#     verdict is not (the schema can fail);
#   - headless Chromium loads report.html with no console error; every chart
#     is an SVG element with its id (chart-totals, chart-batch-durations,
#     timeline-N per pipeline, observe-N per observed pipeline); the text a
#     reader looks for is in the DOM; the page has no script and loads
#     nothing (no URL but its own anchors); the server-like markup in the
#     fixture is shown as text, never parsed;
#   - report.md has the sections and table headers docs/report.md lists, and
#     the fixture's markup and escape character are neutralised.
# Chromium or python3-jsonschema missing FAILS the test (scripts/deps.sh).
# KM_REPORT_SCREENSHOT=PNG keeps a screenshot (docs/img/report.png).
. "$(dirname "$0")/lib/kmsim.sh"
CHROMIUM=$(command -v chromium || command -v chromium-browser || true)
fail() { echo "FAIL: $*"; tail -20 out.txt err.txt chrome.err 2>/dev/null; exit 1; }
[ -n "$CHROMIUM" ] || fail "chromium is not installed (run scripts/deps.sh): report.html was NOT checked"
python3 -c 'import jsonschema' 2>/dev/null ||
  fail "python3-jsonschema is not installed (run scripts/deps.sh): report.json was NOT validated"
start_kmsim "$KM_SRC/sim/fixtures/demo.yaml"
demo_manifest "$KM_SRC/manifests/demo.yaml" "$TMP/demo.yaml"
demo_env
cd "$TMP"
K="$KM_BIN/kmsmig"
"$K" run demo.yaml --yes --run-dir run >out.txt 2>err.txt || fail "the demo run exited $?"
for f in report.json report.html report.md; do
  [ -s "run/$f" ] || fail "run/$f was not written"
  [ "$(stat -c %a "run/$f")" = 600 ] || fail "run/$f has mode $(stat -c %a "run/$f"), not 600"
done
grep -q "^report   run/report.html" out.txt || fail "the summary does not name report.html"
cp run/report.json run-report.json
# The run renders one pipeline at a time; `kmsmig report` the whole
# document: the same bytes.
for k in html md; do
  "$K" report run --output $k >whole.$k || fail "report --output $k exited $?"
  cmp -s whole.$k run/report.$k || fail "run/report.$k differs from \`kmsmig report run --output $k\`"
done
python3 "$KM_SRC/tests/integration/lib/observe_fixture.py" run
"$K" report run --output html --out report.html || fail "report --output html exited $?"
"$K" report run --output md --out report.md || fail "report --output md exited $?"
"$K" report run --output json >report.json || fail "report --output json exited $?"
[ "$(stat -c %a report.html)" = 600 ] || fail "--out wrote mode $(stat -c %a report.html)"
"$K" report run --output html >stdout.html || fail "report --output html exited $?"
head -1 stdout.html | grep -q '^<!DOCTYPE html>' ||
  fail "report --output html does not print HTML"

echo "== report.json against docs/report.schema.json"
python3 - "$KM_SRC/docs/report.schema.json" run-report.json report.json <<'PY'
import copy, json, sys, jsonschema
schema = json.load(open(sys.argv[1]))
jsonschema.Draft202012Validator.check_schema(schema)
v = jsonschema.Draft202012Validator(schema)
run, obs = (json.load(open(f)) for f in sys.argv[2:4])
for name, r in (("run", run), ("observed", obs)):
    errs = sorted(v.iter_errors(r), key=str)
    assert not errs, "%s report invalid: %s" % (name, errs[0])
# The run itself was observed (the monitor stage wrote observe.json before
# the report copied it); the fixture then replaces the observations.
assert run["observed"] is True, run["observed"]
assert any(isinstance(p["observe"], dict) for p in run["pipelines"]), "no pipeline observed"
assert obs["observed"] is True
t = obs["totals"]["observe"]
assert t == {"ok": 5, "watch": 1, "act": 6}, t
assert run["totals"]["batches"] == sum(len(p["batches"]) for p in run["pipelines"]) > 0
for p in run["pipelines"]:
    assert [s["stage"] for s in p["stages"]] == ["discover", "preflight", "prepare",
        "migrate", "restore", "verify", "observe"], p["stages"]
    assert all(s["status"] == "ok" for s in p["stages"]), p["stages"]
    assert len(p["rotation_ledger"]) == p["rotation"]["turned_off"], p["account"]
    for e in p["rotation_ledger"]:
        assert e["result"] == "restored_exactly" and e["off_request_id"] and e["restore_request_id"], e
        assert e["before"]["rotation_interval"] == e["after_interval"], e
    moved = sum(b["migrated_keys"] + b["migrated_secrets"] for b in p["batches"])
    assert moved == len(p["keys"]["migrated"]) + len(p["secrets"]["migrated"]), p["account"]
# The schema can fail: each of these breaks one documented rule.
bad = []
r = copy.deepcopy(run); del r["totals"]; bad.append(r)
r = copy.deepcopy(run); r["pipelines"][0]["status"] = "fine"; bad.append(r)
r = copy.deepcopy(obs); r["pipelines"][0]["observe"]["findings"][0]["verdict"] = "maybe"; bad.append(r)
r = copy.deepcopy(run); r["pipelines"][0]["rotation_ledger"][0]["result"] = "?"; bad.append(r)
r = copy.deepcopy(run); r["pipelines"][0]["surprise"] = 1; bad.append(r)
for i, r in enumerate(bad):
    assert list(v.iter_errors(r)), "broken report %d passed the schema" % i
print("schema: the run's and the observed report are valid; %d broken ones are not" % len(bad))
PY

echo "== report.html in headless Chromium"
chrome() { # FILE OUT
  timeout 60 "$CHROMIUM" --headless=new --disable-gpu --no-sandbox \
    --no-first-run --disable-extensions --user-data-dir="$TMP/profile" \
    --enable-logging=stderr --v=0 --virtual-time-budget=2000 \
    --dump-dom "file://$TMP/$1" >"$2" 2>>chrome.err
}
cp run/report.html run-report.html
chrome report.html dom.html || fail "chromium could not start or render (exit $?)"
chrome run-report.html dom-run.html || fail "chromium failed on the run's report.html"
[ -s dom.html ] && [ -s dom-run.html ] || fail "chromium printed no DOM: it did not start"
if grep -E 'CONSOLE|Uncaught|SyntaxError|ReferenceError|TypeError|ERR_FILE|net::' chrome.err; then
  fail "the browser logged a console or network error"
fi
python3 - report.json dom.html dom-run.html report.html run-report.json <<'PY'
import json, re, sys
r = json.load(open(sys.argv[1]))
dom, dom_run, src = (open(f).read() for f in sys.argv[2:5])
run_r = json.load(open(sys.argv[5]))
def svg(d, i):
    return re.search(r'<svg[^>]* id="%s"' % re.escape(i), d)
for d, rep in ((dom, r), (dom_run, run_r)):
    for i in ("chart-totals", "chart-batch-durations"):
        assert svg(d, i), "no SVG #%s" % i
    observed_all = all(p["observe"] is not None for p in rep["pipelines"])
    for n, p in enumerate(rep["pipelines"]):
        observed = p["observe"] is not None
        assert svg(d, "timeline-%d" % n), "no timeline-%d" % n
        tl = re.search(r'<svg[^>]* id="timeline-%d".*?</svg>' % n, d, re.S).group(0)
        # one bar per stage and per batch
        assert tl.count("<rect") == len(p["stages"]) + len(p["batches"]), (n, tl.count("<rect"))
        assert bool(svg(d, "observe-%d" % n)) == observed, "observe-%d" % n
    assert ("gateways: not observed" in d) != observed_all
    for i in ("failures", "ledger"):
        assert re.search(r'<table id="%s"' % i, d), "no table #%s" % i
    assert "<script" not in d.lower(), "the page has a script element"
    text = re.sub(r"<[^>]+>", " ", d)
    for p in r["pipelines"]:
        assert p["account"] in text and p["region"] in text and p["instance_id"] in text
    e = r["pipelines"][0]["rotation_ledger"][0]
    assert e["id"] in text and e["off_request_id"] in text, "ledger entry not readable"
    n_rows = sum(len(p["rotation_ledger"]) for p in r["pipelines"])
    ledger = re.search(r'<table id="ledger">.*?</table>', d, re.S).group(0)
    assert ledger.count("<tr>") == n_rows + 1, (ledger.count("<tr>"), n_rows)
text = re.sub(r"<[^>]+>", " ", dom)
for p in r["pipelines"]:
    for c in p["observe"]["residual_callers"]:
        assert c["access_key_id"] in text and c["source_ip"] in text, c
assert "&lt;script&gt;alert(1)&lt;/script&gt;" in dom, "server markup not shown as text"
assert "\x1b" not in src, "an escape character reached the page"
# Self-contained: nothing to fetch, no script, no external font.
urls = re.findall(r'(?:src|href)\s*=\s*"([^"]*)"', src) + re.findall(r'url\(', src)
assert all(u.startswith("#") for u in urls), [u for u in urls if not u.startswith("#")]
assert "@import" not in src and "@font-face" not in src
print("report.html: %d pipelines, %d charts, no console error, no script, nothing fetched"
      % (len(r["pipelines"]), len(re.findall(r"<svg", dom))))
PY

echo "== report.md: the sections and table headers of docs/report.md"
python3 - "$KM_SRC/docs/report.md" report.md run/report.md report.json <<'PY'
import json, re, sys
doc = open(sys.argv[1]).read()
block = re.search(r"<!-- report.md sections -->\n(.*?)<!-- end -->", doc, re.S).group(1)
want = []
for line in block.splitlines():
    m = re.match(r"\|\s*`(#+ [^`]+)`\s*\|\s*(.*?)\s*\|$", line)
    if m:
        want.append((m.group(1), [h.strip().strip("`") for h in m.group(2).split(",") if h.strip()]))
assert len(want) >= 10, want
r = json.load(open(sys.argv[4]))
for f in sys.argv[2:4]:
    md = open(f).read()
    lines = md.splitlines()
    pos = 0
    for title, headers in want:
        t = title.replace("NAME", r["name"])
        idx = [i for i, l in enumerate(lines) if l == t]
        assert idx, "%s: no section %r" % (f, t)
        assert idx[0] >= pos, "%s: section %r out of order" % (f, t)
        pos = idx[0]
        for h in headers:
            cols = "| " + " | ".join(x.strip() for x in h.split(";")) + " |"
            nxt = [l for l in lines[pos:] if l.startswith("| ")]
            assert cols in lines[pos:], "%s: section %r lacks the table %s" % (f, t, cols)
    assert "\x1b" not in md, "escape character in " + f
md = open(sys.argv[2]).read()
assert "legacy-app/1.0 &lt;script&gt;alert(1)&lt;/script&gt;" in md, "markup not escaped"
assert "&lt;b&gt;\\|&lt;/b&gt;" in md, "a | from the server would break the table"
for p in r["pipelines"]:
    for c in p["observe"]["residual_callers"]:
        assert c["access_key_id"] in md
print("report.md: %d sections with their tables, server text escaped" % len(want))
PY
if [ -n "${KM_REPORT_SCREENSHOT:-}" ]; then
  timeout 60 "$CHROMIUM" --headless=new --disable-gpu --no-sandbox --no-first-run \
    --user-data-dir="$TMP/profile" --hide-scrollbars --window-size=1100,1700 \
    --screenshot="$KM_REPORT_SCREENSHOT" "file://$TMP/report.html" 2>>chrome.err ||
    fail "screenshot"
  echo "screenshot: $KM_REPORT_SCREENSHOT"
fi
echo "report_html: ok"
