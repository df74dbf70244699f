#!/usr/bin/env bash
# The demo run's output forms (docs/cli.md, "Output"):
# - --log-format json: every line kmsmig writes (stdout, stderr and
#   kmsmig.log) is one JSON object with ts, level and msg, the documented
#   event kinds appear (run_started first, progress, summary last with the
#   totals and the exit code), no escape sequence and no secret anywhere;
# - on a terminal (script(1) gives one): NO_COLOR=1 and --color=never
#   write no escape sequence at all (the status is one line rewritten with
#   a carriage return), while colour on (NO_COLOR unset or empty) draws the
#   block with escapes, so the check can fail;
# - not a terminal: no escape sequence;
# - --quiet: no progress and no warnings on the terminal, the summary, and
#   kmsmig.log still has every record.
. "$(dirname "$0")/lib/kmsim.sh"
fail() { echo "FAIL: $*" >&2; exit 1; }
start_kmsim "$KM_SRC/sim/fixtures/demo.yaml"
demo_manifest "$KM_SRC/manifests/demo.yaml" "$TMP/demo.yaml"
demo_env
cd "$TMP"
rc=0
"$KM_BIN/kmsmig" run demo.yaml --yes --run-dir rj --log-format json \
  >json.out 2>json.err || rc=$?
[ "$rc" = 0 ] || { tail -5 json.out json.err; fail "json run exited $rc"; }
python3 - "$ALIBABA_CLOUD_ACCESS_KEY_SECRET" <<'PY'
import json, re, sys
secret = sys.argv[1].encode()
for name in ("json.out", "json.err", "rj/kmsmig.log"):
    raw = open(name, "rb").read()
    assert b"\x1b" not in raw, ("escape sequence", name)
    assert secret not in raw, ("the AccessKey secret", name)
recs = []
for name in ("json.out", "json.err", "rj/kmsmig.log"):
    for n, line in enumerate(open(name).read().splitlines(), 1):
        try:
            r = json.loads(line)
        except ValueError as e:
            raise AssertionError("%s:%d is not JSON: %r (%s)" % (name, n, line[:120], e))
        assert isinstance(r, dict), (name, n)
        assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", r.get("ts", "")), (name, n, r)
        assert r.get("level") in ("error", "warn", "info", "debug"), (name, n, r)
        assert isinstance(r.get("msg"), str), (name, n, r)
        for k in ("account", "region", "stage", "event"):
            assert k not in r or isinstance(r[k], str), (name, n, k, r)
        if name == "json.out":
            recs.append(r)
events = [r.get("event") for r in recs]
assert events[0] == "run_started" and recs[0]["run_dir"] == "rj", recs[0]
assert events[-1] == "summary", events[-1]
s = recs[-1]
assert s["exit"] == 0 and s["totals"]["keys"]["migrated"] > 0, s
assert s["report"] == "rj/report.json", s
prog = [r for r in recs if r.get("event") == "progress"]
assert prog, "no progress record"
for p in prog:
    for k in ("accounts", "pipelines", "stages", "migrated", "calls", "eta_s", "waiting"):
        assert k in p, (k, p)
assert prog[-1]["pipelines"]["ok"] == 6, prog[-1]["pipelines"]
assert prog[-1]["migrated"]["keys"] == s["totals"]["keys"]["migrated"], prog[-1]
warns = [r for r in recs if r["level"] == "warn" and "account" in r]
assert warns and all("region" in w and "stage" in w for w in warns), warns
log = [json.loads(l) for l in open("rj/kmsmig.log")]
assert any(r.get("event") == "ended" and r.get("account") for r in log), "no pipeline end in the log"
print("json: %d records on stdout (%s), %d in kmsmig.log" % (len(recs), sorted(set(events) - {None}), len(log)))
PY

# On a terminal.  script(1) runs kmsmig on a pseudo-terminal and keeps
# everything it wrote, escapes included.
tty_run() { # NAME ENV... -- ARGS...
  local name=$1
  shift
  local envs=()
  while [ "$1" != "--" ]; do envs+=("$1"); shift; done
  shift
  local cmd
  cmd=$(printf '%q ' env -u NO_COLOR TERM=xterm-256color "${envs[@]}" \
    "$KM_BIN/kmsmig" run demo.yaml --yes --run-dir "r-$name" "$@")
  # The demo is migrated by now: these runs end blocked (exit 3).
  script -q -c "$cmd" "$name.raw" >/dev/null </dev/null || true
  grep -q "done in " "$name.raw" || { cat "$name.raw"; fail "$name: no summary"; }
}
has_esc() { python3 -c 'import sys; sys.exit(0 if b"\x1b" in open(sys.argv[1], "rb").read() else 1)' "$1"; }
tty_run nocolor NO_COLOR=1 --
tty_run never -- --color=never
tty_run empty NO_COLOR= --
tty_run auto --
for n in nocolor never; do
  if has_esc "$n.raw"; then fail "$n: an escape sequence on the terminal"; fi
  grep -aq "accounts " "$n.raw" || fail "$n: no status line"
done
for n in empty auto; do
  has_esc "$n.raw" || fail "$n: colour on, but no escape (the block is not drawn)"
done
# Not a terminal, colour left to auto.
"$KM_BIN/kmsmig" run demo.yaml --yes --run-dir rp >plain.out 2>plain.err || true
if has_esc plain.out || has_esc plain.err; then fail "escape sequence off a terminal"; fi
grep -q "progress  accounts " plain.out || fail "no progress line off a terminal"
# --quiet: the summary only (warnings stay in kmsmig.log).
"$KM_BIN/kmsmig" run demo.yaml --yes --run-dir rq --quiet >quiet.out 2>quiet.err || true
if grep -q "progress  \|^kmsmig run demo: run directory" quiet.out; then fail "--quiet printed progress"; fi
grep -q "^done in " quiet.out || fail "--quiet: no summary"
[ ! -s quiet.err ] || { cat quiet.err; fail "--quiet printed warnings"; }
grep -q " warn " rq/kmsmig.log || fail "--quiet dropped the warnings from kmsmig.log"
echo "progress_json: ok"
