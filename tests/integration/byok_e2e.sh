#!/usr/bin/env bash
# HSM BYOK end to end against kmsim (sim/fixtures/byok.yaml): material made
# with `kmsmig byok keygen` in a 0700 directory; `kmsmig run` with the sim
# driver imports the migration material (byok stage) and migrates the
# selected HSM BYOK keys into the hardware instance in cn-hangzhou, while the
# HSM BYOK keys of cn-shanghai (software instance) and cn-hongkong (not
# mainland China) are refused and untouched.  Then, for a third key in a
# second run: kmsim's clock moves 25 h (every import token of the first run
# is dead: the second run gets new parameters), the run is killed right after
# the import, the clock moves 22 days (the migration material is older than
# 21 days), the resumed run is refused by the console with "current hardware
# BYOK key material is expired, please reimport" and says what to do, and
# `--rerun-failed` imports again and migrates the key.  The journal never
# holds a token or material.
. "$(dirname "$0")/lib/kmsim.sh"
start_kmsim "$KM_SRC/sim/fixtures/byok.yaml"
demo_manifest "$KM_SRC/manifests/byok.yaml" "$TMP/base.yaml"
export ALIBABA_CLOUD_ACCESS_KEY_ID=KSIMBYOKVAULTAK00001
export ALIBABA_CLOUD_ACCESS_KEY_SECRET=ksim-byok-vault-secret-not-a-real-key-01
unset ALIBABA_CLOUD_SECURITY_TOKEN ALIBABA_CLOUD_PROFILE || true
cd "$TMP"
fail() { echo "FAIL: $*" >&2; exit 1; }
# No long base64 run (a token, a public key, wrapped material) in FILE.
no_blob() {
  local hit
  hit=$(grep -Eo '[A-Za-z0-9+/]{60,}={0,2}' "$1" | grep -Ev '^[0-9a-f]+$' | head -1) || true
  [ -z "$hit" ] || fail "base64 blob in $1: ${hit:0:80}"
}

RSA=1234abcd-12ab-34cd-56ef-1234567890ab
AES=1234abcd-12ab-34cd-56ef-1234567890ac
LATER=1234abcd-12ab-34cd-56ef-1234567890ad
SH=5678abcd-12ab-34cd-56ef-1234567890ab
HK=9abcabcd-12ab-34cd-56ef-1234567890ab
INST=kst-hzz6600b2c3d4e5f6a7

# The example as the operator adapts it: env credentials, the test's
# material directory, and (run 1) two BYOK keys.
sed -e 's#credentials: { profile: vault-admin }#credentials: { env: true }#' \
    -e "s#material_dir: /secure/byok#material_dir: byok-material#" \
    -e "s#keys: \[$RSA\]#keys: [$RSA, $AES]#" base.yaml >byok.yaml
grep -q "keys: \[$RSA, $AES\]" byok.yaml || fail "byok.yaml"
grep -q "env: true" byok.yaml || fail "byok.yaml credentials"

# ---- material, private ----
mkdir -m 0700 byok-material
"$KM_BIN/kmsmig" byok keygen --spec RSA_2048 --out "byok-material/$RSA.pem" 2>/dev/null
for id in $AES $LATER; do
  (umask 077 && head -c 32 /dev/urandom >"byok-material/$id.bin")
done
[ "$(stat -c %a "byok-material/$RSA.pem")" = 600 ] || fail "keygen mode"

# ---- the keys' original import (the fixture's keys start PendingImport,
# see sim/fixtures/byok.yaml): what the key owner did long ago ----
kcall() {
  "$KM_BIN/kmsim_load" call --addr "127.0.0.1:$KMSIM_PORT" --https \
    --cacert "$KM_SRC/sim/tls/ca.pem" --ak "$ALIBABA_CLOUD_ACCESS_KEY_ID" \
    --secret "$ALIBABA_CLOUD_ACCESS_KEY_SECRET" "$@"
}
field() { python3 -c 'import json,sys; print(json.loads(sys.stdin.read().split("\n",1)[1])[sys.argv[1]])' "$1"; }
original_import() {
  local id=$1 file=$2 raw=$3 out pub tok wrapped
  out=$(kcall --action GetParametersForImport -p KeyId="$id" \
    -p WrappingKeySpec=RSA_2048 -p WrappingAlgorithm=RSAES_OAEP_SHA_256)
  grep -q '^HTTP 200' <<<"$out" || fail "GetParametersForImport $id: $out"
  pub=$(field PublicKey <<<"$out")
  tok=$(field ImportToken <<<"$out")
  wrapped=$("$KM_BIN/kmsmig" byok wrap --public-key-b64 "$pub" --material "$file" $raw 2>/dev/null)
  out=$(kcall --action ImportKeyMaterial -p KeyId="$id" -p ImportToken="$tok" \
    -p EncryptedKeyMaterial="$wrapped" -p KeyMaterialExpireUnix=0)
  grep -q '^HTTP 200' <<<"$out" || fail "original ImportKeyMaterial $id: $out"
}
original_import $RSA "byok-material/$RSA.pem" ""
original_import $AES "byok-material/$AES.bin" --raw
original_import $LATER "byok-material/$LATER.bin" --raw
echo "original material imported for 3 HSM BYOK keys"

# ---- run 1: two selected BYOK keys and the ordinary key move ----
rc=0
"$KM_BIN/kmsmig" run byok.yaml --yes --run-dir run1 >run1.txt 2>run1.err || rc=$?
cat run1.txt
[ "$rc" -eq 0 ] || { tail -30 run1.err; fail "run 1 exited $rc"; }
kmsim_get /_kmsim/state >state1.json
python3 - state1.json run1/report.json "$RSA" "$AES" "$LATER" "$SH" "$HK" "$INST" <<'PY'
import json, sys
state, report = (json.load(open(f)) for f in sys.argv[1:3])
rsa, aes, later, sh, hk, inst = sys.argv[3:9]
keys = {}
for a in state["Accounts"]:
    for region, r in a["Regions"].items():
        for k in r["Keys"]:
            keys[k["KeyId"]] = (region, k)
for kid in (rsa, aes):
    assert keys[kid][1]["DKMSInstanceId"] == inst, (kid, keys[kid][1])
# select.keys is none: only the keys of select.byok.keys move.
plain = [k for k, (g, v) in keys.items() if g == "cn-hangzhou" and k not in (rsa, aes, later)]
assert plain and not any(keys[k][1]["DKMSInstanceId"] for k in plain), plain
for kid in (later, sh, hk):
    assert not keys[kid][1]["DKMSInstanceId"], (kid, keys[kid][1])
text = json.dumps(report)
assert "mainland China" in text, "no non-mainland refusal in the report"
assert "hardware instance" in text, "no non-hardware refusal in the report"
print("run 1: BYOK keys %s, %s migrated; %s, %s refused; %s not selected"
      % (rsa, aes, sh, hk, later))
PY
grep -c '"byok_token"' run1/journal.jsonl | grep -qx 2 || fail "byok_token records"
grep -c '"byok_imported"' run1/journal.jsonl | grep -qx 2 || fail "byok_imported records"
# Never a token, never material: no long base64 run, no token field.
no_blob run1/journal.jsonl
! grep -qi 'importtoken\|encryptedkeymaterial' run1/journal.jsonl || fail "token field in the journal"
no_blob run1/report.json

# ---- run 2: the third key; 24 h later (new import parameters) ----
sed -e "s/keys: \[$RSA, $AES\]/keys: [$LATER]/" byok.yaml >later.yaml
grep -q "keys: \[$LATER\]" later.yaml || fail "later.yaml"
kmsim_post /_kmsim/clock '{"advance": 90000}' >/dev/null
rc=0
(KMSMIG_TEST_CRASH_AFTER=byok_imported:1 exec "$KM_BIN/kmsmig-faults" run later.yaml \
  --yes --run-dir run2 >run2a.txt 2>run2a.err) 2>/dev/null || rc=$?
[ "$rc" -ne 0 ] || fail "the crash did not happen"
grep -q "\"byok_imported\".*$LATER\|$LATER.*\"byok_imported\"" run2/journal.jsonl ||
  fail "no byok_imported before the crash"
# 22 days on kmsim's clock: the material is older than 21 days there.
kmsim_post /_kmsim/clock '{"advance": 1900800}' >/dev/null
rc=0
"$KM_BIN/kmsmig" run later.yaml --yes --run-dir run2 >run2b.txt 2>run2b.err || rc=$?
[ "$rc" -eq 1 ] || { tail -30 run2b.err; fail "resume exited $rc, expected 1"; }
grep -q "please reimport" run2/report.json || fail "no console message in the report"
grep -q -- "--rerun-failed" run2/report.json || fail "no action in the report"
grep -q "ACTION: material expired" run2b.err || fail "no ACTION line"
rc=0
"$KM_BIN/kmsmig" run later.yaml --yes --run-dir run2 --rerun-failed >run2c.txt 2>run2c.err || rc=$?
[ "$rc" -eq 0 ] || { tail -30 run2c.err; fail "--rerun-failed exited $rc"; }
kmsim_get /_kmsim/state >state2.json
python3 - state2.json "$LATER" "$INST" <<'PY'
import json, sys
state = json.load(open(sys.argv[1]))
later, inst = sys.argv[2:4]
for a in state["Accounts"]:
    for k in a["Regions"]["cn-hangzhou"]["Keys"]:
        if k["KeyId"] == later:
            assert k["DKMSInstanceId"] == inst, k
            print("run 2: %s migrated after re-import (MaterialImportedAt %s, "
                  "clock %s)" % (later, k["MaterialImportedAt"], state["Clock"]))
PY
n=$(grep -c "\"byok_imported\"" run2/journal.jsonl)
[ "$n" -eq 2 ] || fail "expected 2 imports of $LATER in run2, got $n"
n=$(grep -c "\"byok_token\"" run2/journal.jsonl)
[ "$n" -eq 2 ] || fail "expected 2 sets of import parameters in run2, got $n"
no_blob run2/journal.jsonl
no_blob run2/report.json
echo "byok_e2e: ok"
