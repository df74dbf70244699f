#!/usr/bin/env bash
# Account includes stay inside the manifest's directory tree (or the working
# directory's): an absolute path, a `..` that leaves it and a symlink that
# points out are each refused with one error naming the include, and the
# file's content is never printed.  --allow-include-outside lets them in.
set -euo pipefail
: "${KM_BIN:?}" "${KM_SRC:?}"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
mkdir -p "$TMP/outside" "$TMP/proj/accounts" "$TMP/work"
# A file outside the tree whose lines would come back as "unknown key".
printf 'root:SECRETHASH1:19000:0:99999:7:::\ndaemon:SECRETHASH2:19000::::::\n' \
  >"$TMP/outside/shadow"
cat >"$TMP/outside/ok.yaml" <<'Y'
name: app
id: "1000000000000002"
credentials: { assume_role: { via: mgmt } }
Y
ln -s "$TMP/outside/shadow" "$TMP/proj/accounts/evil.yaml"
manifest() { # FILE INCLUDE
  cat >"$1" <<Y
version: 1
name: t
accounts:
  - name: mgmt
    id: "1000000000000001"
    credentials: { env: true }
  - include: $2
regions: [cn-hangzhou]
select: { keys: all-pending, secrets: all-pending }
instances:
  cn-hangzhou:
    id: kst-hzz6500a1b2c3d4e5f6
    owner: mgmt
    type: software
    image_version: "2.9.3"
    auto_renew: true
    share_with: all
migrate:
  driver: sim
Y
}
cd "$TMP/work" # neither tree holds outside/
refused() { # NAME MANIFEST WANT
  local rc=0
  "$KM_BIN/kmsmig" validate "$2" >"$1.out" 2>&1 || rc=$?
  [ "$rc" = 2 ] || { cat "$1.out"; fail "$1: exit $rc, want 2"; }
  grep -q "$3" "$1.out" || { cat "$1.out"; fail "$1: no '$3'"; }
  ! grep -q "SECRETHASH\|root:" "$1.out" || { cat "$1.out"; fail "$1: printed the file"; }
  [ "$(grep -c ': error: ' "$1.out")" = 1 ] || { cat "$1.out"; fail "$1: want one error"; }
  echo "$1 refused: $(grep ': error: ' "$1.out" | cut -c1-150)"
}
manifest "$TMP/proj/abs.yaml" "$TMP/outside/ok.yaml"
refused absolute "$TMP/proj/abs.yaml" "is an absolute path"
manifest "$TMP/proj/dotdot.yaml" "../outside/ok.yaml"
refused dotdot "$TMP/proj/dotdot.yaml" "resolves outside the manifest's directory tree"
manifest "$TMP/proj/link.yaml" "accounts/evil.yaml"
refused symlink "$TMP/proj/link.yaml" "resolves outside the manifest's directory tree"
manifest "$TMP/proj/glob.yaml" "accounts/*.yaml"
refused glob "$TMP/proj/glob.yaml" "accounts/evil.yaml resolves outside"

# Inside the tree is fine; the explicit option allows the outside one.
cp "$TMP/outside/ok.yaml" "$TMP/proj/accounts/app.yaml"
manifest "$TMP/proj/in.yaml" "accounts/app.yaml"
"$KM_BIN/kmsmig" validate "$TMP/proj/in.yaml" >/dev/null || fail "an include inside the tree was refused"
"$KM_BIN/kmsmig" validate --allow-include-outside "$TMP/proj/dotdot.yaml" >/dev/null ||
  fail "--allow-include-outside did not allow ../outside"
echo "include_confined: ok"
