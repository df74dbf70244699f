#!/usr/bin/env bash
# Not a terminal (docs/cli.md, "Output"): a run of 200 small pipelines
# (100 accounts x 2 regions, generated; the terminal view's test,
# progress_tty.sh, runs 1,000) writes a bounded number of lines:
# a progress record (up to 3 lines) at most every 10 s (plus one when the
# run's phase changes), at most 21 lines about single pipelines (failed
# or blocked), progress lines of at most 200 characters, no escape
# sequence, and the summary; the whole stdout stays under 40 + 3T/10 lines
# for a run of T seconds.  (Before: 2 lines per pipeline, over 400.)
. "$(dirname "$0")/lib/kmsim.sh"
. "$(dirname "$0")/lib/fleet.sh"
fail() { echo "FAIL: $*" >&2; exit 1; }
start_fleet 100 2
cd "$TMP"
t0=$(date +%s)
rc=0
"$KM_BIN/kmsmig" run fleet.yaml --yes --run-dir run >out.txt 2>err.txt || rc=$?
t1=$(date +%s)
[ "$rc" = 0 ] || [ "$rc" = 1 ] || { tail -20 out.txt err.txt; fail "kmsmig exited $rc"; }
python3 - $((t1 - t0)) <<'PY'
import json, math, re, sys
secs = int(sys.argv[1])
out = open("out.txt", "rb").read()
err = open("err.txt", "rb").read()
assert b"\x1b" not in out and b"\x1b" not in err, "an escape sequence off a terminal"
lines = out.decode().splitlines()
progress = [l for l in lines if re.match(r"^\d\d:\d\d:\d\dZ  progress  ", l)]
per_pipe = [l for l in lines if re.match(r"^\d\d:\d\d:\d\dZ  \S+ +cn-", l)]
limit = math.ceil(secs / 10) + 3
assert 1 <= len(progress) <= limit, ("progress records", len(progress), limit)
head = lines[:next(i for i, l in enumerate(lines) if l.startswith("done in "))]
assert all(len(l) <= 200 for l in head), "a progress line over 200 characters"
assert len(per_pipe) <= 21, ("lines about single pipelines", len(per_pipe))
assert "pipelines 200/200 ended" in progress[-1], progress[-1]
bound = 40 + 3 * secs // 10
assert len(lines) <= bound, ("stdout lines", len(lines), bound)
rep = json.load(open("run/report.json"))
assert len(rep["pipelines"]) == 200, len(rep["pipelines"])
# The last record counts the pipelines as the summary and report.json do
# (a pipeline whose resources were all blocked is blocked, not ok).
m = re.search(r"ended: (\d+) ok, (\d+) blocked, (\d+) failed", progress[-1])
assert m, progress[-1]
st = [p["status"] for p in rep["pipelines"]]
want = (st.count("ok"), st.count("blocked"), st.count("failed"))
assert tuple(map(int, m.groups())) == want, ("progress vs report", m.groups(), want)
print("last progress record: %s ok, %s blocked, %s failed, as in report.json" % m.groups())
print("progress_plain: %d s, %d stdout lines (bound %d), %d progress records (bound %d), %d about single pipelines"
      % (secs, len(lines), bound, len(progress), limit, len(per_pipe)))
PY
echo "progress_plain: ok"
