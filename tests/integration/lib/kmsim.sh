# Helpers for integration tests that run kmsmig against a real kmsim on
# loopback.  Source it; needs KM_BIN and KM_SRC (set by ctest).
#   start_kmsim FIXTURE [kmsim args...]   sets KMSIM_PORT, KMSIM_PID
#   demo_manifest SRC DST                 a copy of SRC pointed at KMSIM_PORT
#   kmsim_get PATH / kmsim_post PATH JSON admin paths (/_kmsim/...)
#   demo_env                              the demo cloud's management AccessKey
set -euo pipefail
: "${KM_BIN:?}" "${KM_SRC:?}"
TMP=$(mktemp -d)
KMSIM_PID=
cleanup_kmsim() {
  if [ -n "$KMSIM_PID" ]; then
    kill "$KMSIM_PID" 2>/dev/null || true
    wait "$KMSIM_PID" 2>/dev/null || true
  fi
  rm -rf "$TMP"
}
trap cleanup_kmsim EXIT

start_kmsim() {
  local fixture=$1
  shift
  "$KM_BIN/kmsim" --fixture "$fixture" --https-port 0 \
    --port-file "$TMP/ports" "$@" >"$TMP/kmsim.log" 2>&1 &
  KMSIM_PID=$!
  for _ in $(seq 200); do
    [ -s "$TMP/ports" ] && grep -q https= "$TMP/ports" && break
    kill -0 "$KMSIM_PID" 2>/dev/null || { cat "$TMP/kmsim.log" >&2; return 1; }
    sleep 0.05
  done
  KMSIM_PORT=$(sed -n 's/^https=//p' "$TMP/ports")
  [ -n "$KMSIM_PORT" ] || { echo "kmsim did not start" >&2; return 1; }
}

demo_manifest() {
  # The accounts the example includes from accounts/ are written inline, so
  # a test can change an account the way an operator edits a copy.
  python3 - "$1" "$2" "$KMSIM_PORT" "$KM_SRC" <<'PY'
import os, re, sys
src, dst, port, top = sys.argv[1:5]
base = os.path.dirname(os.path.abspath(src))
out = []
for line in open(src):
    m = re.match(r"^(\s*)- include: (\S+\.yaml)\s*$", line)
    if m and "*" not in m.group(2):
        body = [l.rstrip("\n") for l in open(os.path.join(base, m.group(2)))
                if l.strip() and not l.lstrip().startswith("#")]
        pad = m.group(1)
        out.append(pad + "- " + body[0] + "\n")
        out += [pad + "  " + l + "\n" for l in body[1:]]
        continue
    out.append(line)
s = "".join(out)
s = s.replace("127.0.0.1:18443", "127.0.0.1:" + port)
s = s.replace("ca_file: ../sim/tls/ca.pem", "ca_file: " + top + "/sim/tls/ca.pem")
# Glob includes: a copy of the account files next to DST (includes stay
# inside the manifest's directory tree).
if re.search(r"include: \.\./accounts/", s):
    import shutil
    shutil.copytree(os.path.join(top, "accounts"),
                    os.path.join(os.path.dirname(os.path.abspath(dst)), "accounts"),
                    dirs_exist_ok=True)
    s = re.sub(r"include: \.\./accounts/", "include: accounts/", s)
open(dst, "w").write(s)
PY
}

kmsim_get() {
  curl -sS --fail --cacert "$KM_SRC/sim/tls/ca.pem" \
    --resolve "kms.cn-hangzhou.aliyuncs.com:$KMSIM_PORT:127.0.0.1" \
    "https://kms.cn-hangzhou.aliyuncs.com:$KMSIM_PORT$1"
}

kmsim_post() {
  curl -sS --fail --cacert "$KM_SRC/sim/tls/ca.pem" \
    --resolve "kms.cn-hangzhou.aliyuncs.com:$KMSIM_PORT:127.0.0.1" \
    -H 'Content-Type: application/json' -d "$2" \
    "https://kms.cn-hangzhou.aliyuncs.com:$KMSIM_PORT$1"
}

demo_env() {
  export ALIBABA_CLOUD_ACCESS_KEY_ID=KSIMDEMOMGMTAK000001
  export ALIBABA_CLOUD_ACCESS_KEY_SECRET=ksim-demo-mgmt-secret-not-a-real-key-0001
  unset ALIBABA_CLOUD_SECURITY_TOKEN ALIBABA_CLOUD_PROFILE || true
}
