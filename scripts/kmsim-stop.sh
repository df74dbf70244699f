#!/usr/bin/env bash
# Stops a kmsim started by scripts/kmsim-start.sh: kmsim-stop.sh RUN_DIR (or
# kmsim-stop.sh -p PID).  Sends SIGTERM to that pid only and waits for it.
set -euo pipefail
if [ "${1:-}" = "-p" ]; then
  pid=$2
else
  pid=$(sed -n 's/^pid=//p' "${1:?usage: kmsim-stop.sh RUN_DIR | -p PID}/kmsim.env")
fi
[ -n "$pid" ] || exit 0
kill -TERM "$pid" 2>/dev/null || exit 0
for _ in $(seq 1 100); do
  kill -0 "$pid" 2>/dev/null || exit 0
  sleep 0.05
done
echo "kmsim-stop: $pid did not stop after 5 s; sending SIGKILL" >&2
kill -KILL "$pid" 2>/dev/null || true
