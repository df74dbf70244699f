#!/usr/bin/env bash
# The demo under valgrind memcheck: `kmsmig plan` and `kmsmig run` of
# manifests/demo.yaml against kmsim, with every leak kind that is a bug
# (definite, indirect) and every memory error counted.  Passes with 0
# errors and 0 leaks and the run's usual exit 0 (the migration itself is
# checked by integration/engine_demo.sh).  Plain build only: valgrind and
# ASan do not mix.
. "$(dirname "$0")/../integration/lib/kmsim.sh"
command -v valgrind >/dev/null || { echo "valgrind is not installed (scripts/deps.sh)"; exit 1; }
start_kmsim "$KM_SRC/sim/fixtures/demo.yaml"
demo_manifest "$KM_SRC/manifests/demo.yaml" "$TMP/demo.yaml"
demo_env
cd "$TMP"
vg() {
  local log=$1
  shift
  valgrind --tool=memcheck --leak-check=full \
    --errors-for-leak-kinds=definite,indirect \
    --show-leak-kinds=definite,indirect --error-exitcode=99 \
    --track-fds=no --num-callers=30 --log-file="$log" "$@"
}
rc=0
vg plan.vg "$KM_BIN/kmsmig" plan demo.yaml >plan.txt 2>plan.err || rc=$?
[ "$rc" -eq 0 ] || { echo "FAIL: plan under valgrind exited $rc"; cat plan.vg; tail plan.err; exit 1; }
rc=0
vg run.vg "$KM_BIN/kmsmig" run demo.yaml --yes --run-dir run >run.txt 2>run.err || rc=$?
[ "$rc" -eq 0 ] || { echo "FAIL: run under valgrind exited $rc"; cat run.vg; tail run.err; exit 1; }
for f in plan.vg run.vg; do
  errs=$(sed -n 's/.*ERROR SUMMARY: \([0-9]*\) errors.*/\1/p' "$f" | tail -1)
  def=$(sed -n 's/.*definitely lost: \([0-9,]*\) bytes.*/\1/p' "$f" | tail -1)
  ind=$(sed -n 's/.*indirectly lost: \([0-9,]*\) bytes.*/\1/p' "$f" | tail -1)
  echo "valgrind ${f%.vg}: ${errs:-?} errors, definitely lost ${def:-0} bytes, indirectly lost ${ind:-0} bytes"
  [ "${errs:-x}" = 0 ] || { echo "FAIL: $f"; cat "$f"; exit 1; }
  case "${def:-0}${ind:-0}" in 00) ;; *) echo "FAIL: leaks in $f"; cat "$f"; exit 1 ;; esac
done
grep -q "plan only" plan.txt
echo "valgrind_demo: ok"
