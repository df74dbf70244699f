#!/bin/sh
# Install the Debian packages kmsmig needs to build, test and demo, but only those
# that are missing: apt-get runs only when something is absent, so a second call
# costs a few dpkg queries. Safe to run as root on a fresh Debian 12 machine.
set -eu

PKGS="build-essential cmake pkg-config git
libuv1-dev libcurl4-openssl-dev libssl-dev libyaml-dev liblua5.4-dev lua5.4
libjansson-dev libcmocka-dev libmicrohttpd-dev
openssl curl ca-certificates nodejs npm procps python3 python3-jsonschema python3-yaml iproute2 util-linux jq
chromium clang llvm valgrind tmux"

missing=""
for p in $PKGS; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
    missing="$missing $p"
  fi
done

# nodejs and npm may come from elsewhere than Debian (the image ships its own
# Node.js); a working binary on PATH is as good as the package.
filtered=""
for p in $missing; do
  case "$p" in
    nodejs) command -v node >/dev/null 2>&1 && continue ;;
    npm) command -v npm >/dev/null 2>&1 && continue ;;
  esac
  filtered="$filtered $p"
done

if [ -n "$filtered" ]; then
  echo "deps: installing$filtered"
  SUDO=""
  [ "$(id -u)" = 0 ] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  # shellcheck disable=SC2086
  $SUDO apt-get install -y -qq --no-install-recommends $filtered >/dev/null
else
  echo "deps: all Debian packages present"
fi
