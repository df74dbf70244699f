#!/usr/bin/env bash
# Starts kmsim in the background and waits until it answers.
#   scripts/kmsim-start.sh [-b BIN_DIR] [-f FIXTURE] [-p HTTP_PORT] [-s HTTPS_PORT]
#                          [-d RUN_DIR] [-- extra kmsim options]
# Ports default to 0 (a free port picked by the kernel).  Prints three lines:
#   pid=<pid>  http=<port>  https=<port>
# (also written to RUN_DIR/kmsim.env; the log is RUN_DIR/kmsim.log).  Stop it
# with scripts/kmsim-stop.sh RUN_DIR.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
bin=${KM_BIN:-$top/build/bin}
fixture=$top/sim/fixtures/demo.yaml
http=0
https=0
run=""
while getopts "b:f:p:s:d:" o; do
  case $o in
    b) bin=$OPTARG ;;
    f) fixture=$OPTARG ;;
    p) http=$OPTARG ;;
    s) https=$OPTARG ;;
    d) run=$OPTARG ;;
    *) echo "usage: $0 [-b BIN] [-f FIXTURE] [-p HTTP] [-s HTTPS] [-d DIR]" >&2; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
[ -n "$run" ] || run=$(mktemp -d "${TMPDIR:-/tmp}/kmsim.XXXXXX")
mkdir -p "$run"
rm -f "$run/ports" "$run/kmsim.env"
args=(--fixture "$fixture" --port-file "$run/ports")
[ "$http" != "-" ] && args+=(--http-port "$http")
[ "$https" != "-" ] && args+=(--https-port "$https")
"$bin/kmsim" "${args[@]}" "$@" >"$run/kmsim.log" 2>&1 &
pid=$!
for _ in $(seq 1 100); do
  if [ -s "$run/ports" ]; then break; fi
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "kmsim-start: kmsim exited:" >&2
    cat "$run/kmsim.log" >&2
    exit 1
  fi
  sleep 0.05
done
hp=$(sed -n 's/^http=//p' "$run/ports")
sp=$(sed -n 's/^https=//p' "$run/ports")
# Wait until it answers (health is an admin path: any host).
port=${hp:-$sp}
scheme=http
[ -n "$hp" ] || scheme=https
for _ in $(seq 1 100); do
  if curl -sk -o /dev/null "$scheme://127.0.0.1:$port/_kmsim/health" \
      ${KMSIM_ADMIN_TOKEN:+-H "X-Kmsim-Admin: $KMSIM_ADMIN_TOKEN"}; then
    break
  fi
  sleep 0.05
done
{
  echo "pid=$pid"
  echo "http=$hp"
  echo "https=$sp"
  echo "dir=$run"
} | tee "$run/kmsim.env"
