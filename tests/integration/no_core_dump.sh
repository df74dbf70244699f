#!/usr/bin/env bash
# kmsmig holds AccessKey secrets in memory: it must never leave a core file.
# At start it sets RLIMIT_CORE to 0 and PR_SET_DUMPABLE to 0, so even a core
# limit raised again from outside (prlimit) gives no core on SIGABRT.
set -euo pipefail
: "${KM_BIN:?}"
TMP=$(mktemp -d)
PID=
cleanup() {
  [ -n "$PID" ] && kill -KILL "$PID" 2>/dev/null || true
  rm -rf "$TMP"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

cd "$TMP"
mkfifo manifest.yaml
# validate blocks opening the FIFO: a live kmsmig process to look at.
(ulimit -c unlimited 2>/dev/null || true; exec "$KM_BIN/kmsmig" validate manifest.yaml) &
PID=$!
for _ in $(seq 100); do
  grep -q "Max core file size" "/proc/$PID/limits" 2>/dev/null &&
    [ "$(readlink "/proc/$PID/exe" 2>/dev/null)" = "$(readlink -f "$KM_BIN/kmsmig")" ] && break
  sleep 0.05
done
sleep 0.2
soft=$(awk '/Max core file size/ {print $5}' "/proc/$PID/limits")
[ "$soft" = 0 ] || fail "core file size limit is '$soft', want 0"
echo "core limit: $soft"

# Try to raise the limit from outside (refused when the hard limit is 0 and
# we lack CAP_SYS_RESOURCE); PR_SET_DUMPABLE 0 must give no core either way.
prlimit --pid "$PID" --core=unlimited:unlimited 2>/dev/null ||
  echo "raising the core limit from outside was refused"
kill -ABRT "$PID"
wait "$PID" 2>/dev/null || true
PID=
cores=$(find "$TMP" -name 'core*' | wc -l)
[ "$cores" = 0 ] || fail "a core file was written: $(ls "$TMP")"
echo "no core file after SIGABRT with the limit raised"
echo "no_core_dump: ok"
