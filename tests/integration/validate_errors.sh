#!/usr/bin/env bash
# `kmsmig validate` on a manifest with exactly three mistakes (two in the
# manifest, one in an included account file) exits 2 and prints all three,
# each as FILE:LINE:COL: error: ..., with the file as the user spelled it.
set -euo pipefail
cd "$KM_SRC"
m=tests/manifest/three-mistakes.yaml
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
set +e
"$KM_BIN/kmsmig" validate "$m" >"$tmp/out" 2>"$tmp/err"
rc=$?
set -e
fail() { echo "FAIL: $*" >&2; echo "--- stderr:" >&2; cat "$tmp/err" >&2; exit 1; }

[ "$rc" -eq 2 ] || fail "exit code $rc, want 2"
[ ! -s "$tmp/out" ] || fail "stdout should be empty for an invalid manifest"
n=$(grep -cE '^[^ :]+:[0-9]+:[0-9]+: error: ' "$tmp/err" || true)
[ "$n" -eq 3 ] || fail "$n error lines, want exactly 3"
grep -qxF "$m:15:5: error: unknown key 'regoins' in account 'app-a'; did you mean 'regions'?" "$tmp/err" ||
  fail "missing the regoins error at 15:5"
grep -qF "$m:32:11: error: 'instances.cn-shanghai.type' is 'hardwre'; did you mean 'hardware'?" "$tmp/err" ||
  fail "missing the type error at 32:11"
grep -qF "tests/manifest/three-mistakes-accounts/app-b.yaml:3:5: error: write the account id in quotes" "$tmp/err" ||
  fail "missing the included file's own position"
grep -qF "is not valid: 3 errors" "$tmp/err" || fail "missing the closing count"

# The same with --output json: three diagnostics, valid false, same exit.
set +e
json=$("$KM_BIN/kmsmig" validate --output json "$m" 2>/dev/null)
rc=$?
set -e
[ "$rc" -eq 2 ] || fail "json: exit code $rc, want 2"
python3 - "$json" <<'PY'
import json, sys
d = json.loads(sys.argv[1])
assert d["valid"] is False and d["errors"] == 3, d
pos = [(x["line"], x["column"]) for x in d["diagnostics"]]
assert pos == [(15, 5), (32, 11), (3, 5)], pos
PY

# --quiet keeps the three errors and drops the closing line.
set +e
"$KM_BIN/kmsmig" validate --quiet "$m" 2>"$tmp/err"
rc=$?
set -e
[ "$rc" -eq 2 ] || fail "quiet: exit code $rc"
[ "$(wc -l <"$tmp/err")" -eq 3 ] || fail "quiet: want exactly the 3 error lines"
echo "validate_errors: 3 errors reported at their positions, exit 2"
