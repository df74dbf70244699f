#!/usr/bin/env bash
# Every plugin .so (the loader's fixtures; the built-in stages are linked in)
# exports exactly one dynamic symbol, km_plugin_entry, and needs no symbol
# from the kmsmig binary (jansson's check-exports idea).
set -euo pipefail
shopt -s nullglob
checked=0
for so in "$KM_BUILD"/plugins/*.so "$KM_BUILD"/tests/plugins/fix_good.so; do
  syms=$(nm -D --defined-only "$so" | awk '$2 ~ /^[TDBR]$/ {print $3}' | sort)
  if [ "$syms" != "km_plugin_entry" ]; then
    echo "FAIL: $so exports: $syms" >&2
    exit 1
  fi
  if nm -D --undefined-only "$so" | grep -E ' (km_|km__)' >/dev/null; then
    echo "FAIL: $so needs host symbols:" >&2
    nm -D --undefined-only "$so" | grep -E ' (km_|km__)' >&2
    exit 1
  fi
  checked=$((checked + 1))
done
[ "$checked" -ge 1 ] || { echo "FAIL: no plugin found to check" >&2; exit 1; }
echo "plugin exports: $checked plugin(s) export only km_plugin_entry"
