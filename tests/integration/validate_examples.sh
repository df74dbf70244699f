#!/usr/bin/env bash
# Every example manifest in manifests/ validates (exit 0, one summary line),
# and the command line behaves: --help, usage errors and unreadable files
# exit 2 with a message, --quiet is silent on success.
set -euo pipefail
cd "$KM_SRC"
fail() { echo "FAIL: $*" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

count=0
for m in manifests/*.yaml; do
  if ! "$KM_BIN/kmsmig" validate "$m" >"$tmp/out" 2>"$tmp/err"; then
    cat "$tmp/err" >&2
    fail "$m does not validate"
  fi
  grep -qE "^$m: valid: [a-z0-9-]+, [0-9]+ accounts?" "$tmp/out" ||
    fail "$m: no summary line: $(cat "$tmp/out")"
  ! grep -q ': error: ' "$tmp/err" || fail "$m printed errors"
  count=$((count + 1))
done
[ "$count" -ge 4 ] || fail "expected at least 4 examples, found $count"

# The demo's summary says what the operator checks before a run.
"$KM_BIN/kmsmig" validate manifests/demo.yaml >"$tmp/out"
grep -qxF "manifests/demo.yaml: valid: demo, 3 accounts, 2 regions (cn-hangzhou, cn-shanghai), 2 instances, driver sim" "$tmp/out" ||
  fail "demo summary: $(cat "$tmp/out")"
"$KM_BIN/kmsmig" validate manifests/multi-account.yaml >"$tmp/out"
grep -qF "+ directory members" "$tmp/out" || fail "multi-account summary"

# --quiet: nothing at all on success.
"$KM_BIN/kmsmig" validate --quiet manifests/demo.yaml >"$tmp/out" 2>&1
[ ! -s "$tmp/out" ] || fail "--quiet printed: $(cat "$tmp/out")"

# JSON on success.
"$KM_BIN/kmsmig" validate -o json manifests/demo.yaml >"$tmp/out"
python3 - "$tmp/out" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
assert d["valid"] is True and d["errors"] == 0, d
s = d["summary"]
assert s["name"] == "demo" and s["accounts"] == 3 and s["instances"] == 2, s
assert s["regions"] == ["cn-hangzhou", "cn-shanghai"] and s["driver"] == "sim", s
PY

# --help exits 0 and shows the error format.
"$KM_BIN/kmsmig" validate --help >"$tmp/out"
grep -qF "FILE:LINE:COL: error:" "$tmp/out" || fail "--help lacks the format"

expect_usage() {
  set +e
  "$KM_BIN/kmsmig" validate "$@" >"$tmp/out" 2>"$tmp/err"
  local rc=$?
  set -e
  [ "$rc" -eq 2 ] || fail "validate $*: exit $rc, want 2"
  [ -s "$tmp/err" ] || fail "validate $*: no message"
}
expect_usage
expect_usage --bogus manifests/demo.yaml
expect_usage --output xml manifests/demo.yaml
expect_usage manifests/demo.yaml manifests/byok.yaml
expect_usage does/not/exist.yaml
grep -qF "does/not/exist.yaml: error: cannot read the file" "$tmp/err" ||
  fail "missing file message: $(cat "$tmp/err")"
echo "validate_examples: $count examples valid; CLI checks pass"
