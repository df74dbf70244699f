#!/usr/bin/env bash
# A server's TotalCount never queues pages ahead of what was received: with
# TotalCount 10^9 in every list reply (a proxy rewrites kmsim's answers),
# plan pages one page after another while pages come back full, asks for
# no more list pages than the lists really have, and finishes normally.
# (Before: 10^7 pages queued at once, out of memory.)
. "$(dirname "$0")/lib/kmsim.sh"
start_kmsim "$KM_SRC/sim/fixtures/demo.yaml"
demo_manifest "$KM_SRC/manifests/demo.yaml" "$TMP/demo.yaml"
demo_env
cd "$TMP"
fail() { echo "FAIL: $*" >&2; exit 1; }
python3 "$KM_SRC/tests/integration/lib/patch_proxy.py" proxy.port "$KMSIM_PORT" \
  "$KM_SRC/sim/tls/ca.pem" counts.json &
PROXY=$!
trap 'kill $PROXY 2>/dev/null || true; cleanup_kmsim' EXIT
for _ in $(seq 100); do [ -s proxy.port ] && break; sleep 0.05; done
PPORT=$(cat proxy.port)
sed -i -e "s/address: 127.0.0.1:$KMSIM_PORT/address: 127.0.0.1:$PPORT/" \
  -e 's/scheme: https/scheme: http/' demo.yaml
grep -q "127.0.0.1:$PPORT" demo.yaml || fail "manifest not pointed at the proxy"

rc=0
# A bound on memory: an unbounded queue ends in an abort, not a stuck box.
# Under ASan (ASAN_OPTIONS set by the sanitizer build) address space is no
# bound (the shadow maps terabytes): its allocator's RSS limit is.
if [ -n "${ASAN_OPTIONS:-}" ]; then
  ASAN_OPTIONS="$ASAN_OPTIONS:hard_rss_limit_mb=4000" \
    "$KM_BIN/kmsmig" plan demo.yaml >plan.txt 2>plan.err || rc=$?
else
  (ulimit -v 4000000; exec "$KM_BIN/kmsmig" plan demo.yaml) >plan.txt 2>plan.err || rc=$?
fi
[ "$rc" = 0 ] || { tail -5 plan.err; fail "plan exited $rc"; }
python3 - counts.json <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
lists = {k: v for k, v in c.items() if k.startswith("List")}
print("list calls:", lists)
# The demo's lists are all short: one page per list and account/region.
assert sum(lists.values()) < 2000, "pages were queued from TotalCount"
assert c.get("ListKeys", 0) <= 20, c.get("ListKeys")
PY
echo "paging_bounded: ok"
