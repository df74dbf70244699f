#!/usr/bin/env bash
# Proves kmsim's fidelity with the OFFICIAL Alibaba Cloud SDKs from npm, used
# unchanged (see README.md next to this file).  kmsim and node run inside a
# private mount+network namespace (unshare -mn) where kms.<region>.aliyuncs.com,
# sts, resourcemanager, resourcesharing, metrics and actiontrail hosts resolve
# to kmsim on 127.0.0.1:443 and kmsim's test CA is trusted; the SDKs get only
# AccessKeys (or STS tokens) and regionId/endpoint, as a real user sets them.
# One line per case, then `sdk conformance: N passed, M failed`; non-zero
# exit if any case failed.  Needs root (or user namespaces) for unshare; if
# the namespace cannot be made the test fails, unless KM_ALLOW_SKIP=1.
# Env: KM_BIN (kmsim), KM_SRC; optional SDK_SCRIPTS to run a subset.
set -euo pipefail
: "${KM_BIN:?KM_BIN must name the directory of the built binaries}"
: "${KM_SRC:?KM_SRC must name the source directory}"
dir="$KM_SRC/tests/conformance"
SDK_SCRIPTS="${SDK_SCRIPTS:-sdk_kms.js sdk_share.js sdk_observe.js sdk_errors.js sdk_sts_rm.js}"

skip_or_fail() {
  if [ "${KM_ALLOW_SKIP:-0}" = 1 ]; then
    echo "sdk_conformance: SKIP: $1 (KM_ALLOW_SKIP=1)"
    exit 0
  fi
  echo "sdk_conformance: $1" >&2
  echo "sdk conformance: 0 passed, 1 failed"
  exit 1
}
for tool in node unshare ip mount; do
  command -v "$tool" >/dev/null || skip_or_fail "'$tool' is not on PATH"
done
[ -d "$dir/node_modules/@alicloud/kms20160120" ] ||
  skip_or_fail "$dir/node_modules is missing; run scripts/npm-deps.sh"
[ -x "$KM_BIN/kmsim" ] || skip_or_fail "$KM_BIN/kmsim is not built"
if ! unshare -mn true 2>/dev/null; then
  skip_or_fail "cannot create a private mount+network namespace (unshare -mn: needs root or user namespaces)"
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/sdkconf.XXXXXX")
trap 'rm -rf "$work"' EXIT
out="$work/cases.out"
set +e
KM_SRC="$KM_SRC" KMSIM="$KM_BIN/kmsim" SDK_WORK="$work" \
  SDK_FIXTURE="$KM_SRC/sim/fixtures/demo.yaml" SDK_SCRIPTS="$SDK_SCRIPTS" \
  unshare -mn bash "$dir/lib/sdk_ns.sh" | tee "$out"
rc=${PIPESTATUS[0]}
set -e
pass=$(grep -c '^PASS ' "$out" || true)
fail=$(grep -c '^FAIL ' "$out" || true)
if [ "$rc" -ne 0 ]; then
  echo "FAIL setup: the namespace runner exited $rc"
  fail=$((fail + 1))
fi
if [ "$pass" -eq 0 ] && [ "$fail" -eq 0 ]; then
  echo "FAIL setup: no case ran"
  fail=1
fi
if [ "$fail" -ne 0 ]; then
  echo "--- kmsim log (tail)"
  tail -20 "$work/kmsim.log" 2>/dev/null || true
fi
echo "sdk conformance: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
