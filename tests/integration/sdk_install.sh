#!/usr/bin/env bash
# The SDK as a plugin author gets it: `cmake --install` into a temporary
# prefix lays out binaries, Lua hooks, kmsim's data, headers, the
# pkg-config file and man pages; examples/plugin (the installed copy) builds
# against that prefix alone, found by pkg-config, and exports only
# km_plugin_entry; the INSTALLED kmsmig plans the demo against the INSTALLED
# kmsim with the plugin loaded from the manifest's plugins.dir, which adds
# it to the built-in stages (the frozen key is skipped with the plugin's
# rule, every other resource is planned as without it).  Finally the prefix
# is moved elsewhere and still works (files are found relative to the
# binary, never through the build or source tree).
. "$(dirname "$0")/lib/kmsim.sh"
: "${KM_BUILD:?}"
# Nothing may come from outside the prefix.
unset KMSMIG_DATA_DIR KMSMIG_LUA_DIR KMSMIG_FREEZE_FILE || true

fail() {
  echo "FAIL: sdk_install: $*" >&2
  exit 1
}
# Runs a command, keeping its output in $TMP/NAME.out/.err; fails naming it
# unless it exits with the expected code.
expect_rc() {
  local want=$1 name=$2
  shift 2
  local rc=0
  "$@" >"$TMP/$name.out" 2>"$TMP/$name.err" || rc=$?
  if [ "$rc" -ne "$want" ]; then
    echo "--- $name: stdout (tail)" >&2
    tail -20 "$TMP/$name.out" >&2
    echo "--- $name: stderr (tail)" >&2
    tail -20 "$TMP/$name.err" >&2
    fail "$name: \`$*\` exited $rc, expected $want"
  fi
}

PREFIX=$TMP/prefix
FREEZE_KEY=9123e43b-b2bd-bac2-74a1-f2d2b9fecca4 # mgmt cn-hangzhou "demo key 01": movable

# ---- 1. install ----
expect_rc 0 install cmake --install "$KM_BUILD" --prefix "$PREFIX"
for f in bin/kmsmig bin/kmsim include/kmsmig/plugin.h include/kmsmig/errors.h \
  include/kmsmig/version.h lib/pkgconfig/kmsmig-plugin.pc \
  share/man/man1/kmsmig.1 share/man/man5/kmsmig-manifest.5 \
  share/kmsmig/lua/rotation.lua share/kmsmig/lua/default_instance.lua \
  share/kmsmig/lua/post_check.lua share/kmsmig/lua/before_batch.lua \
  share/kmsmig/lua/after_batch.lua share/kmsmig/lua/kmsmig/util.lua \
  share/kmsmig/plugin.map share/kmsmig/sim/tls/ca.pem \
  share/kmsmig/sim/tls/server.pem share/kmsmig/sim/tls/server.key \
  share/kmsmig/sim/fixtures/demo.yaml \
  share/doc/kmsmig/examples/plugin/freeze.c \
  share/doc/kmsmig/examples/plugin/CMakeLists.txt \
  share/doc/kmsmig/examples/plugin/Makefile; do
  [ -e "$PREFIX/$f" ] || fail "cmake --install did not install $f (cmake/install.cmake)"
done
for b in kmsmig kmsim; do
  [ -x "$PREFIX/bin/$b" ] || fail "bin/$b is not executable"
done
[ -d "$PREFIX/lib/kmsmig/plugins" ] ||
  fail "the plugin folder lib/kmsmig/plugins was not created"
if command -v groff >/dev/null; then
  for page in man1/kmsmig.1 man5/kmsmig-manifest.5; do
    w=$(groff -man -Tutf8 -ww -z "$PREFIX/share/man/$page" 2>&1) ||
      fail "groff cannot render $page"
    [ -z "$w" ] || fail "$page renders with warnings: $w"
  done
fi
echo "installed tree: ok"

# ---- 2. the example plugin, against the installed SDK only ----
export PKG_CONFIG_PATH="$PREFIX/lib/pkgconfig"
export PKG_CONFIG_LIBDIR="$PREFIX/lib/pkgconfig" # no system .pc files
pkg-config --exists kmsmig-plugin ||
  fail "pkg-config does not find kmsmig-plugin in $PKG_CONFIG_PATH"
inc=$(pkg-config --variable=includedir kmsmig-plugin)
[ "$(realpath "$inc")" = "$(realpath "$PREFIX/include")" ] ||
  fail "kmsmig-plugin.pc includedir is $inc, not $PREFIX/include"
map=$(pkg-config --variable=pluginmap kmsmig-plugin)
[ -f "$map" ] || fail "kmsmig-plugin.pc pluginmap=$map does not exist"
pdir=$(pkg-config --variable=plugindir kmsmig-plugin)
[ "$(realpath -m "$pdir")" = "$(realpath "$PREFIX/lib/kmsmig/plugins")" ] ||
  fail "kmsmig-plugin.pc plugindir is $pdir, not $PREFIX/lib/kmsmig/plugins"
case " $(pkg-config --cflags kmsmig-plugin) " in
*"$KM_SRC"*) fail "pkg-config --cflags points into the source tree" ;;
esac

# An out-of-tree copy, so nothing relative can reach the source tree.
SRC=$TMP/freeze-src
cp -r "$PREFIX/share/doc/kmsmig/examples/plugin" "$SRC"
expect_rc 0 example-cmake cmake -S "$SRC" -B "$TMP/freeze-build"
expect_rc 0 example-build cmake --build "$TMP/freeze-build"
so=$TMP/freeze-build/freeze.so
[ -f "$so" ] || fail "the example's CMake build made no freeze.so"
if command -v make >/dev/null; then
  expect_rc 0 example-make make -C "$SRC"
  [ -f "$SRC/freeze.so" ] || fail "the example's Makefile made no freeze.so"
  sos=("$so" "$SRC/freeze.so")
else
  sos=("$so")
fi
for s in "${sos[@]}"; do
  syms=$(nm -D --defined-only "$s" | awk '$2 ~ /^[TDBRVW]$/ {print $3}' | sort)
  [ "$syms" = km_plugin_entry ] ||
    fail "$s exports '${syms//$'\n'/ }', expected only km_plugin_entry (version script)"
  if nm -D --undefined-only "$s" | grep -E ' (km_|km__)' >/dev/null; then
    fail "$s needs kmsmig symbols: $(nm -D --undefined-only "$s" | grep -E ' km_')"
  fi
done
mkdir -p "$TMP/plugins"
cp "$so" "$TMP/plugins/freeze.so"
echo "example plugin: built with pkg-config only; exports only km_plugin_entry"

# ---- 3. the installed kmsmig + plugins.dir against the installed kmsim ----
SHARE=$PREFIX/share/kmsmig
KM_BIN=$PREFIX/bin start_kmsim "$SHARE/sim/fixtures/demo.yaml" \
  --tls-cert "$SHARE/sim/tls/server.pem" --tls-key "$SHARE/sim/tls/server.key" ||
  fail "the installed kmsim did not start with the installed TLS files"
# The demo manifest, pointed at this kmsim (lib/kmsim.sh) and at the
# installed CA.
demo_manifest "$KM_SRC/manifests/demo.yaml" "$TMP/base.yaml"
sed -i "s#ca_file: .*/sim/tls/ca.pem#ca_file: $SHARE/sim/tls/ca.pem#" \
  "$TMP/base.yaml"
grep -q "ca_file: $SHARE/sim/tls/ca.pem" "$TMP/base.yaml" ||
  fail "could not point the demo manifest's ca_file at the installed CA"
grep -q "^plugins:" "$TMP/base.yaml" &&
  fail "manifests/demo.yaml has a plugins key already; update this test"
{
  cat "$TMP/base.yaml"
  printf '\nplugins: { dir: plugins }   # relative to this manifest\n'
} >"$TMP/freeze.yaml"
echo "$FREEZE_KEY" >"$TMP/frozen.txt"
printf '# a comment, then an id no account has\nkey-000000000000notthere\n' \
  >>"$TMP/frozen.txt"
demo_env
cd "$TMP" || fail "cannot cd to $TMP"

expect_rc 0 validate-freeze "$PREFIX/bin/kmsmig" validate freeze.yaml
expect_rc 0 plan-base "$PREFIX/bin/kmsmig" plan base.yaml --output json
KMSMIG_FREEZE_FILE=$TMP/frozen.txt \
  expect_rc 0 plan-json "$PREFIX/bin/kmsmig" plan freeze.yaml --output json
KMSMIG_FREEZE_FILE=$TMP/frozen.txt \
  expect_rc 0 plan-text "$PREFIX/bin/kmsmig" plan freeze.yaml
grep -q "plan only" plan-text.out || fail "the text plan has no 'plan only' line"
grep -E "mgmt cn-hangzhou .*$FREEZE_KEY.*frozen by" plan-text.out >/dev/null ||
  fail "the text plan does not list $FREEZE_KEY as frozen (skipped section):
$(sed -n '/^skipped/,/^$/p' plan-text.out)"

python3 - plan-base.out plan-json.out "$FREEZE_KEY" <<'PY' || fail "plan JSON check (above)"
import json, sys
base, frz = (json.load(open(f)) for f in sys.argv[1:3])
key = sys.argv[3]

def resources(plan):
    out = {}
    for p in plan["pipelines"]:
        for r in p["resources"]:
            out[(p["account"], p["region"], r["kind"], r["id"])] = r
    return out

b, f = resources(base), resources(frz)
errors = []
if set(b) != set(f):
    errors.append("the plugin changed what was discovered: only without it "
                  f"{sorted(set(b) - set(f))[:5]}, only with it "
                  f"{sorted(set(f) - set(b))[:5]} (were the built-in "
                  "stages replaced by plugins.dir?)")
hits = [k for k in f if k[2] == "key" and k[3] == key]
if not hits:
    errors.append(f"{key} is not in the plan at all")
for k in hits:
    if b[k]["verdict"] != "pending":
        errors.append(f"{key} is {b[k]['verdict']} without the plugin; the "
                      "test needs a movable key: pick another FREEZE_KEY")
    r = f[k]
    if r["verdict"] != "skipped" or r.get("rule") != "example.frozen":
        errors.append(f"{key} with the plugin: verdict {r['verdict']} rule "
                      f"{r.get('rule')}, expected skipped / example.frozen "
                      "(did the plugin's PREFLIGHT run, and before the rule "
                      "table overwrote it?)")
    elif "frozen by" not in (r.get("reason") or ""):
        errors.append(f"{key}: reason {r.get('reason')!r} lacks the plugin's text")
changed = [(k, b[k]["verdict"], f[k]["verdict"]) for k in b
           if k in f and k[3] != key and b[k]["verdict"] != f[k]["verdict"]]
if changed:
    errors.append(f"the plugin changed other verdicts: {changed[:5]}")
pending = sum(1 for k in f if f[k]["verdict"] == "pending")
if pending < 50:
    errors.append(f"only {pending} resources pending with the plugin: the "
                  "built-in stages did not plan the others")
rb = base["summary"]["resources_to_change"]
rf = frz["summary"]["resources_to_change"]
if rf != rb - 1:
    errors.append(f"resources_to_change {rb} without the plugin, {rf} with "
                  "it; expected one fewer")
for e in errors:
    print("  " + e, file=sys.stderr)
if errors:
    sys.exit(1)
print(f"plan: {key} frozen (example.frozen); {pending} resources still "
      f"pending, as without the plugin")
PY

# A freeze file that cannot be read stops the plan (nothing frozen silently).
rc=0
KMSMIG_FREEZE_FILE=$TMP/no-such-file "$PREFIX/bin/kmsmig" plan freeze.yaml \
  >plan-nofile.out 2>plan-nofile.err || rc=$?
[ "$rc" -ne 0 ] ||
  fail "plan with an unreadable KMSMIG_FREEZE_FILE exited 0 (the plugin's init error was ignored)"
grep -q "KMSMIG_FREEZE_FILE" plan-nofile.err ||
  fail "plan with an unreadable KMSMIG_FREEZE_FILE exited $rc without saying why: $(tail -5 plan-nofile.err)"
echo "plugins.dir adds the plugin to the built-in stages: ok"

# ---- 4. a moved prefix still works ----
MOVED=$TMP/elsewhere/kmsmig-sdk
mkdir -p "$TMP/elsewhere"
mv "$PREFIX" "$MOVED"
expect_rc 0 moved-version "$MOVED/bin/kmsmig" version
grep -Eq '^kmsmig [0-9]+\.[0-9]+\.[0-9]+' moved-version.out ||
  fail "moved kmsmig version printed: $(cat moved-version.out)"
# (run from $TMP: the demo includes ../accounts/, outside the manifest's
# folder and the working directory, so the include confinement is lifted)
expect_rc 0 moved-validate "$MOVED/bin/kmsmig" validate --allow-include-outside "$KM_SRC/manifests/demo.yaml"
grep -q "valid" moved-validate.out || fail "moved kmsmig validate: $(cat moved-validate.out)"
# The plan needs the Lua hooks: they must come from the moved prefix.
sed -i "s#$PREFIX/share#$MOVED/share#" base.yaml freeze.yaml
KMSMIG_FREEZE_FILE=$TMP/frozen.txt \
  expect_rc 0 moved-plan "$MOVED/bin/kmsmig" plan freeze.yaml
grep -q "$FREEZE_KEY.*frozen by" moved-plan.out ||
  fail "the moved kmsmig's plan does not show $FREEZE_KEY frozen"
# Which hook files did it use?  A failing default_instance hook in the moved
# tree names its path in the error: it must be the moved prefix's, not the
# source tree's lua/.
hook=$MOVED/share/kmsmig/lua/default_instance.lua
cp "$hook" "$TMP/default_instance.lua.orig"
echo 'error("sdk_install marker")' >"$hook"
rc=0
"$MOVED/bin/kmsmig" plan base.yaml >moved-hook.out 2>moved-hook.err || rc=$?
cp "$TMP/default_instance.lua.orig" "$hook"
grep -q "sdk_install marker" moved-hook.err moved-hook.out || {
  used=$(grep -o "[^ ]*default_instance.lua" moved-hook.err | sort -u | head -3 || true)
  fail "the moved kmsmig did not run the Lua hooks of its prefix ($hook) but ${used:-other ones (the plan exited $rc without naming them: KM_SOURCE_DIR/lua?)}; the built-in hook folder must be km_path_data(\"lua\") (core/src/util/paths.h)"
}
PKG_CONFIG_PATH=$MOVED/lib/pkgconfig PKG_CONFIG_LIBDIR=$MOVED/lib/pkgconfig \
  pkg-config --variable=pluginmap kmsmig-plugin | xargs test -f ||
  fail "the moved kmsmig-plugin.pc does not follow the prefix (pcfiledir)"
echo "moved prefix: version, validate and plan work"
echo "sdk_install: ok"
