#!/usr/bin/env bash
# `kmsmig byok` as an operator meets it: help exits 0; usage mistakes exit 2
# with a message that names the problem and writes nothing; material other
# users can read, a wrapping key that is not RSA 2048 and a non-key public
# key file are refused with the fix in the message; keygen never overwrites;
# no key material ever reaches stderr.
set -euo pipefail
K="$KM_BIN/kmsmig"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
fail() { echo "FAIL: $*" >&2; [ -f err ] && { echo "--- stderr:" >&2; cat err >&2; }; exit 1; }

# Runs kmsmig, stdout to out, stderr to err; sets rc.
run() { set +e; "$K" "$@" >out 2>err; rc=$?; set -e; }
expect() { # expect RC 'stderr substring' -- args...
  local want=$1 msg=$2; shift 3
  run "$@"
  [ "$rc" -eq "$want" ] || fail "kmsmig $*: exit $rc, want $want"
  [ -z "$msg" ] || grep -qF -- "$msg" err || fail "kmsmig $*: stderr lacks '$msg'"
}

expect 0 "" -- byok --help
grep -q 'kmsmig byok wrap' out || fail "byok --help: no wrap usage"
grep -q 'kmsmig byok keygen' out || fail "byok --help: no keygen usage"
expect 0 "" -- byok wrap --help
grep -q -- '--public-key-b64' out || fail "wrap --help lacks --public-key-b64"
grep -q 'RSAES_PKCS1_V1_5' out || fail "wrap --help lacks the algorithms"
expect 0 "" -- help byok
expect 0 "" -- byok keygen --help

openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out wrap.pem 2>/dev/null
openssl pkey -in wrap.pem -pubout -outform der -out pub.der
"$K" byok keygen --spec EC_P256 --out mat.pem 2>/dev/null

expect 2 "missing subcommand" -- byok
expect 2 "unknown subcommand 'unwrap'" -- byok unwrap
expect 2 "--material FILE is required" -- byok wrap --public-key pub.der
expect 2 "exactly one of --public-key FILE and --public-key-b64" -- byok wrap --material mat.pem
expect 2 "exactly one of" -- byok wrap --public-key pub.der --public-key-b64 AAAA --material mat.pem
expect 2 "unknown wrapping algorithm 'RSAES_OAEP_SHA_512'" -- \
  byok wrap --public-key pub.der --material mat.pem --algorithm RSAES_OAEP_SHA_512 --output o
expect 2 "unknown argument '--force'" -- byok wrap --public-key pub.der --material mat.pem --force
expect 2 "--public-key needs a value" -- byok wrap --material mat.pem --public-key
expect 2 "--spec RSA_2048|EC_P256 is required" -- byok keygen --out k.pem
expect 2 "unknown key spec 'RSA_4096'" -- byok keygen --spec RSA_4096 --out k.pem
[ ! -e o ] && [ ! -e k.pem ] || fail "a usage error wrote a file"

# Material readable by others: refused, with the chmod that fixes it.
chmod 644 mat.pem
expect 2 "mat.pem is accessible by group or others (mode 0644); key material must be private: chmod 600 mat.pem" -- \
  byok wrap --public-key pub.der --material mat.pem --output o
[ ! -e o ] || fail "refused material still produced output"
chmod 600 mat.pem

# A wrapping key that is not RSA 2048, a public key file that is no key.
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:3072 -out big.pem 2>/dev/null
openssl pkey -in big.pem -pubout -out big.pub
expect 2 "big.pub: the wrapping public key is RSA 3072" -- byok wrap --public-key big.pub --material mat.pem
head -c 300 /dev/urandom >junk.bin
expect 2 "junk.bin: not a public key" -- byok wrap --public-key junk.bin --material mat.pem
expect 2 "not a public key" -- byok wrap --public-key-b64 'not*base64' --material mat.pem
expect 2 "nope.der: cannot open" -- byok wrap --public-key nope.der --material mat.pem

# A raw key of the wrong size, and a raw key given without --raw.
head -c 31 /dev/urandom >raw31.bin && chmod 600 raw31.bin
expect 2 "raw31.bin has 31 bytes" -- byok wrap --public-key pub.der --material raw31.bin --raw
head -c 32 /dev/urandom >raw32.bin && chmod 600 raw32.bin
expect 2 "add --raw" -- byok wrap --public-key pub.der --material raw32.bin

# keygen never overwrites; the key stays as it was.
sum=$(sha256sum mat.pem)
expect 2 "mat.pem already exists; refusing to overwrite it" -- byok keygen --spec RSA_2048 --out mat.pem
[ "$(sha256sum mat.pem)" = "$sum" ] || fail "keygen changed an existing key"

# A successful wrap says what it did on stderr, and never shows material.
expect 0 "with RSAES_OAEP_SHA_256" -- byok wrap --public-key pub.der --material mat.pem
body=$(sed -n 2p mat.pem)
! grep -qF -- "$body" err || fail "stderr shows key material"
grep -qE '^[A-Za-z0-9+/]+=*$' out || fail "stdout is not one base64 line"
echo "byok_cli: help, usage errors and refusals behave"
