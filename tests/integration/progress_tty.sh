#!/usr/bin/env bash
# What an operator sees on a terminal (docs/cli.md, "Output"): a run of
# 1,000 small pipelines (500 accounts x 2 regions, generated) inside a
# 120x40 tmux pane shows one live status block that is redrawn in place:
# each look at the pane finds the block once, its counts change from look
# to look, the pane never fills with one line per pipeline (the whole
# scrollback stays short), and at the end the summary replaces the block.
# (Before: 2 lines per pipeline, 2,000 lines, and nothing else.)
. "$(dirname "$0")/lib/kmsim.sh"
. "$(dirname "$0")/lib/fleet.sh"
fail() { echo "FAIL: $*" >&2; exit 1; }
command -v tmux >/dev/null || fail "tmux is not installed (scripts/deps.sh installs it)"
start_fleet 500 2
cd "$TMP"
cat >run.sh <<EOF
#!/usr/bin/env bash
cd "$TMP"
unset NO_COLOR
export ALIBABA_CLOUD_ACCESS_KEY_ID=$ALIBABA_CLOUD_ACCESS_KEY_ID
export ALIBABA_CLOUD_ACCESS_KEY_SECRET=$ALIBABA_CLOUD_ACCESS_KEY_SECRET
"$KM_BIN/kmsmig" run fleet.yaml --yes --run-dir run
echo \$? >rc.txt
exec sleep 600
EOF
chmod +x run.sh
SOCK="$TMP/tmux.sock" # a private tmux server, ended with the test
trap 'tmux -S "$SOCK" kill-server 2>/dev/null || true; cleanup_kmsim' EXIT
tmux -S "$SOCK" new-session -d -x 120 -y 40 "$TMP/run.sh"
n=0
for _ in $(seq 600); do # at most 20 min; a look every 2 s
  sleep 2
  [ -s rc.txt ] && break
  n=$((n + 1))
  tmux -S "$SOCK" capture-pane -p >"look-$n.txt"
done
[ -s rc.txt ] || fail "the run did not end in 20 minutes"
sleep 1 # tmux reads the pane's last output
tmux -S "$SOCK" capture-pane -p >final.txt
tmux -S "$SOCK" capture-pane -p -S - >scrollback.txt
rc=$(cat rc.txt)
[ "$rc" = 0 ] || [ "$rc" = 1 ] || { cat final.txt; fail "kmsmig exited $rc"; }
python3 - "$n" <<'PY'
import re, sys
n = int(sys.argv[1])
looks = [open("look-%d.txt" % i).read().splitlines() for i in range(1, n + 1)]
pipe_line = re.compile(r"^\d\d:\d\d:\d\dZ  \S+ +cn-")
ended = []
for i, lines in enumerate(looks, 1):
    stages = [l for l in lines if l.startswith("stages    pending ")]
    heads = [l for l in lines if l.startswith("accounts  ")]
    assert len(stages) <= 1 and len(heads) <= 1, ("block drawn twice", i, lines)
    per_pipe = [l for l in lines if pipe_line.match(l)]
    assert len(per_pipe) <= 21, ("one line per pipeline", i, per_pipe[:5])
    if heads:
        assert all(len(l) <= 119 for l in lines[lines.index(heads[0]) - 1:][:5]), \
            "a block line wraps"
        m = re.search(r"pipelines ([\d,]+) / 1,000 ended", heads[0])
        assert m, heads[0]
        ended.append(int(m.group(1).replace(",", "")))
with_block = len(ended)
assert with_block >= 3, ("the live block was seen %d times in %d looks" % (with_block, n))
assert len(set(ended)) >= 2, ("the counts never changed", ended)
assert ended == sorted(ended), ("ended went backwards", ended)
final = open("final.txt").read()
assert "done in " in final and re.search(r"^exit [01]$", final, re.M), final
assert "stages    pending" not in final, "the block was not replaced by the summary"
scroll = [l for l in open("scrollback.txt").read().splitlines() if l.strip()]
assert len(scroll) < 150, ("the terminal filled: %d lines" % len(scroll))
print("progress_tty: %d looks, block in %d, pipelines ended %s..%s, %d lines in the scrollback"
      % (n, with_block, ended[0], ended[-1], len(scroll)))
PY
echo "progress_tty: ok"
