#!/usr/bin/env bash
# HSM BYOK material interoperates with the vendor's openssl procedure in
# both directions:
#  1. what `kmsmig byok wrap` writes, unwrapped with the openssl CLI (the
#     vendor's chain run backwards: split Cipher(ESK), pkeyutl -decrypt,
#     enc -d -aes-256-ecb), is byte for byte the `openssl pkcs8 -topk8
#     -nocrypt -outform der` of the material, for every wrapping algorithm,
#     public key form, material kind and output format;
#  2. what the vendor's chain makes (genrsa, pkcs8, rand, pkeyutl -encrypt,
#     enc -aes-256-ecb, cat, base64) unwraps with kmsmig's unwrap (the logic
#     kmsim's ImportKeyMaterial mirrors) to the vendor's PKCS#8 bytes.
set -euo pipefail
K="$KM_BIN/kmsmig"
U="$KM_BIN/km_byok_unwrap"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
fail() { echo "FAIL: $*" >&2; exit 1; }
mode() { stat -c %a "$1"; }

# The wrapping key pair GetParametersForImport would hold (RSA_2048); we get
# its public half as DER (WrappingPublicKey*.bin), PEM, and the API's base64.
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out wrap.pem 2>/dev/null
chmod 600 wrap.pem
openssl pkey -in wrap.pem -pubout -outform der -out WrappingPublicKey.bin
openssl pkey -in wrap.pem -pubout -out WrappingPublicKey.pem
pub_b64=$(openssl enc -e -base64 -A -in WrappingPublicKey.bin)

# RSA padding options for `openssl pkeyutl`, per WrappingAlgorithm.
pkeyopts() {
  case "$1" in
    RSAES_OAEP_SHA_256) echo "-pkeyopt rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:sha256 -pkeyopt rsa_mgf1_md:sha256" ;;
    RSAES_OAEP_SHA_1) echo "-pkeyopt rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:sha1 -pkeyopt rsa_mgf1_md:sha1" ;;
    RSAES_PKCS1_V1_5) echo "-pkeyopt rsa_padding_mode:pkcs1" ;;
  esac
}

# openssl-only unwrap of binary wrapped material $1 into $2.
openssl_unwrap() {
  local in=$1 out=$2 alg=$3
  head -c 256 "$in" >cesk.bin
  tail -c +257 "$in" >ckey.bin
  # shellcheck disable=SC2046
  openssl pkeyutl -decrypt -inkey wrap.pem -in cesk.bin -out esk.bin $(pkeyopts "$alg")
  [ "$(stat -c %s esk.bin)" -eq 32 ] || fail "$alg: ESK is not 32 bytes"
  openssl enc -d -aes-256-ecb -K "$(xxd -p -c 64 esk.bin)" -nosalt -in ckey.bin -out "$out"
  rm -f cesk.bin ckey.bin esk.bin
}

# --- 1. kmsmig wraps, openssl unwraps -------------------------------------
"$K" byok keygen --spec RSA_2048 --out rsa.pem 2>/dev/null
"$K" byok keygen --spec EC_P256 --out ec.pem 2>/dev/null
[ "$(mode rsa.pem)" = 600 ] || fail "keygen wrote rsa.pem with mode $(mode rsa.pem)"
grep -q -- '-----BEGIN PRIVATE KEY-----' rsa.pem || fail "keygen: not PKCS#8 PEM"
openssl pkey -in rsa.pem -noout -text | grep -q 'Private-Key: (2048 bit' || fail "keygen: not RSA 2048"
openssl pkey -in ec.pem -noout -text | grep -q 'prime256v1' || fail "keygen: not P-256"
openssl pkcs8 -topk8 -nocrypt -outform der -in rsa.pem -out rsa.pk8
openssl pkcs8 -topk8 -nocrypt -outform der -in ec.pem -out ec.pk8

n=0
for alg in RSAES_OAEP_SHA_256 RSAES_PKCS1_V1_5 RSAES_OAEP_SHA_1; do
  for mat in rsa ec; do
    "$K" byok wrap --public-key WrappingPublicKey.bin --material $mat.pem \
      --algorithm $alg --output wrapped.b64 2>/dev/null
    [ "$(mode wrapped.b64)" = 600 ] || fail "--output mode $(mode wrapped.b64)"
    openssl enc -d -base64 -A -in wrapped.b64 -out wrapped.bin
    openssl_unwrap wrapped.bin got.der $alg
    cmp -s got.der $mat.pk8 || fail "$alg/$mat: unwrapped bytes differ from openssl pkcs8 -topk8"
    rm -f wrapped.b64 wrapped.bin got.der
    n=$((n + 1))
  done
done

# Default algorithm (OAEP SHA-256), PEM public key, base64 on stdout.
"$K" byok wrap --public-key WrappingPublicKey.pem --material ec.pem >wrapped.b64 2>/dev/null
openssl enc -d -base64 -A -in wrapped.b64 -out wrapped.bin
openssl_unwrap wrapped.bin got.der RSAES_OAEP_SHA_256
cmp -s got.der ec.pk8 || fail "stdout/PEM public key: bytes differ"
n=$((n + 1))

# The API's base64 PublicKey string; a vendor PKCS#1 material file.
openssl genrsa -traditional -out tak1.pem 2048 2>/dev/null
chmod 600 tak1.pem
grep -q 'BEGIN RSA PRIVATE KEY' tak1.pem || fail "setup: want a PKCS#1 file"
openssl pkcs8 -topk8 -inform PEM -in tak1.pem -outform der -nocrypt -out tak1.pk8
"$K" byok wrap --public-key-b64 "$pub_b64" --material tak1.pem --binary --output wrapped.bin 2>/dev/null
openssl_unwrap wrapped.bin got.der RSAES_OAEP_SHA_256
cmp -s got.der tak1.pk8 || fail "PKCS#1 material / --public-key-b64: bytes differ"
n=$((n + 1))

# Raw symmetric material (Aliyun_AES_256 and Aliyun_SM4), a public key file
# holding the base64 string.
printf '%s\n' "$pub_b64" >pubkey.txt
for len in 32 16; do
  openssl rand -out raw.bin $len
  chmod 600 raw.bin
  "$K" byok wrap --public-key pubkey.txt --material raw.bin --raw --binary >wrapped.bin 2>/dev/null
  [ "$(stat -c %s wrapped.bin)" -eq $((256 + (len / 16 + 1) * 16)) ] || fail "raw $len: wrong size"
  openssl_unwrap wrapped.bin got.der RSAES_OAEP_SHA_256
  cmp -s got.der raw.bin || fail "raw $len: bytes differ"
  n=$((n + 1))
  rm -f raw.bin
done

# --- 2. the vendor's chain wraps, kmsmig unwraps --------------------------
for alg in RSAES_OAEP_SHA_256 RSAES_PKCS1_V1_5; do
  rm -f TakPrivPkcs1.pem TakPrivPkcs8.bin EskAes256.bin CipherEsk.bin CipherTakPriv.bin \
    EncryptedKeyMaterial.bin EncryptedKeyMaterial_base64.txt got.bin
  openssl genrsa -out TakPrivPkcs1.pem 2048 2>/dev/null
  openssl pkcs8 -topk8 -inform PEM -in TakPrivPkcs1.pem -outform der -nocrypt -out TakPrivPkcs8.bin
  openssl rand -out EskAes256.bin 32
  # shellcheck disable=SC2046
  openssl pkeyutl -encrypt -pubin -inkey WrappingPublicKey.pem -in EskAes256.bin \
    $(pkeyopts $alg) -out CipherEsk.bin
  xxd -l 32 -c 32 -ps EskAes256.bin | xargs -I {} openssl enc -aes-256-ecb -e -K {} -in \
    TakPrivPkcs8.bin -nosalt -out CipherTakPriv.bin
  cat CipherEsk.bin CipherTakPriv.bin >EncryptedKeyMaterial.bin
  openssl enc -e -base64 -A -in EncryptedKeyMaterial.bin -out EncryptedKeyMaterial_base64.txt
  "$U" --private-key wrap.pem --algorithm $alg --in EncryptedKeyMaterial_base64.txt --out got.bin ||
    fail "$alg: kmsmig cannot unwrap the vendor's material"
  cmp -s got.bin TakPrivPkcs8.bin || fail "$alg: vendor material unwrapped to other bytes"
  # The wrong algorithm is refused, not silently mis-decoded.
  other=RSAES_OAEP_SHA_1
  if "$U" --private-key wrap.pem --algorithm $other --in EncryptedKeyMaterial_base64.txt \
    --out wrong.bin 2>/dev/null; then
    fail "$alg material unwrapped as $other"
  fi
  [ ! -e wrong.bin ] || fail "a failed unwrap left wrong.bin"
  n=$((n + 1))
done

echo "byok_openssl_interop: $n wraps checked byte for byte against openssl"
