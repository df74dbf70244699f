/* BYOK import for EXTERNAL keys: GetParametersForImport hands out a fresh
 * RSA_2048 wrapping key and an ImportToken valid 24 h on kmsim's clock,
 * bound to that key pair and KeyId; ImportKeyMaterial really unwraps what
 * the client sends, either the material wrapped directly with RSA or the
 * migration envelope Cipher(ESK) || AES-256-ECB-PKCS#7(ESK, material) of the
 * seed procedure, checks the material against the KeySpec and the pairing,
 * and records when material was imported (the 21-day migration rule is the
 * emulated console's, sim/console*.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include "kms_common.h"

#define TOKEN_TTL (24 * 3600)

static char *b64(const unsigned char *p, size_t n) {
  char *out = km_xmalloc(4 * ((n + 2) / 3) + 1);
  EVP_EncodeBlock((unsigned char *)out, p, (int)n);
  return out;
}

/* Base64 decode (ignores nothing: whitespace-free input expected). */
static unsigned char *unb64(const char *s, size_t *n) {
  size_t len = strlen(s);
  if (len == 0 || len % 4 != 0) return NULL;
  unsigned char *out = km_xmalloc(len / 4 * 3 + 1);
  int r = EVP_DecodeBlock(out, (const unsigned char *)s, (int)len);
  if (r < 0) {
    free(out);
    return NULL;
  }
  size_t pad = (s[len - 1] == '=') + (s[len - 2] == '=');
  *n = (size_t)r - pad;
  return out;
}

static int check_import_key(ksim_req_t *req, ksim_resp_t *resp, ksim_key_t *k) {
  (void)req;
  if (strcmp(k->origin, "EXTERNAL") != 0)
    return ksim_fail(resp, "Unsupported.Origin",
                     "The key origin is not EXTERNAL: key material cannot be "
                     "imported.");
  if (strcmp(k->state, "PendingDeletion") == 0)
    return ksim_fail(resp, "Rejected.PendingDeletion",
                     "The key is pending deletion: the operation is not "
                     "allowed.");
  if (strcmp(k->state, "Disabled") == 0)
    return ksim_fail(resp, "Rejected.Disabled",
                     "The key is disabled: the operation is not allowed.");
  return 0;
}

static int get_parameters_for_import(ksim_req_t *req, ksim_resp_t *resp) {
  ksim_cloud_t *c = req->cloud;
  char key_id[256];
  const char *alg, *spec;
  /* validate under the lock, generate the RSA key without it */
  ksim_lock(c);
  int rc = -1;
  const char *id = ksim_param_req(req, resp, "KeyId");
  if (id == NULL) goto unlock;
  spec = ksim_param_req(req, resp, "WrappingKeySpec");
  if (spec == NULL) goto unlock;
  alg = ksim_param_req(req, resp, "WrappingAlgorithm");
  if (alg == NULL) goto unlock;
  if (strcmp(spec, "EC_SM2") == 0) {
    ksim_fail(resp, "Rejected.UnsupportedOperation",
              "kmsim does not emulate SM2PKE wrapping.");
    goto unlock;
  }
  if (strcmp(spec, "RSA_2048") != 0) {
    ksim_fail_invalid(resp, "WrappingKeySpec");
    goto unlock;
  }
  if (strcmp(alg, "RSAES_PKCS1_V1_5") != 0 &&
      strcmp(alg, "RSAES_OAEP_SHA_1") != 0 &&
      strcmp(alg, "RSAES_OAEP_SHA_256") != 0) {
    ksim_fail_invalid(resp, "WrappingAlgorithm");
    goto unlock;
  }
  ksim_key_t *k = ksim_kms_key(req, resp, id);
  if (k == NULL || check_import_key(req, resp, k) < 0) goto unlock;
  if (k->instance_id != NULL && strcmp(alg, "RSAES_OAEP_SHA_1") == 0) {
    /* dedicated KMS does not support OAEP_SHA_1 (reference §1) */
    ksim_fail_invalid(resp, "WrappingAlgorithm");
    goto unlock;
  }
  snprintf(key_id, sizeof(key_id), "%s", k->id);
  rc = 0;
unlock:
  ksim_unlock(c);
  if (rc < 0) return -1;

  EVP_PKEY *pkey = EVP_RSA_gen(2048);
  if (pkey == NULL)
    return ksim_fail(resp, "InternalFailure",
                     "The request processing has failed due to some unknown "
                     "error.");
  unsigned char *der = NULL;
  int dlen = i2d_PUBKEY(pkey, &der);
  unsigned char raw[48];
  RAND_bytes(raw, sizeof(raw));
  char *pub = b64(der, (size_t)dlen);
  OPENSSL_free(der);
  char *tok = b64(raw, sizeof(raw));

  ksim_lock(c);
  int64_t now = ksim_clock_now(c);
  /* drop expired tokens so the table does not grow without bound */
  size_t w = 0;
  for (size_t i = 0; i < c->import_tokens.n; i++) {
    ksim_import_token_t *t = c->import_tokens.v[i];
    if (t->expires + 86400 < now) {
      free(t->token);
      free(t->key_id);
      free(t->account);
      free(t->region);
      free(t->algorithm);
      EVP_PKEY_free(t->pkey);
      free(t);
    } else {
      c->import_tokens.v[w++] = t;
    }
  }
  c->import_tokens.n = w;
  ksim_import_token_t *t = km_xcalloc(1, sizeof(*t));
  t->token = km_xstrdup(tok);
  t->key_id = km_xstrdup(key_id);
  t->account = km_xstrdup(req->account->id);
  t->region = km_xstrdup(req->region);
  t->algorithm = km_xstrdup(alg);
  t->pkey = pkey;
  t->expires = now + TOKEN_TTL;
  *KSIM_VEC_PUSH(c->import_tokens) = t;
  json_t *body = json_pack("{s:s, s:s, s:s, s:o}", "KeyId", key_id,
                           "ImportToken", tok, "PublicKey", pub,
                           "TokenExpireTime", ksim_json_time(t->expires));
  ksim_unlock(c);
  free(pub);
  free(tok);
  return ksim_ok(resp, body);
}

static int rsa_decrypt(EVP_PKEY *pkey, const char *alg, const unsigned char *in,
                       size_t inlen, unsigned char *out, size_t *outlen) {
  EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(pkey, NULL);
  int ok = ctx != NULL && EVP_PKEY_decrypt_init(ctx) > 0;
  if (ok && strcmp(alg, "RSAES_PKCS1_V1_5") == 0) {
    ok = EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) > 0;
  } else if (ok) {
    const EVP_MD *md =
        strcmp(alg, "RSAES_OAEP_SHA_256") == 0 ? EVP_sha256() : EVP_sha1();
    ok = EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING) > 0 &&
         EVP_PKEY_CTX_set_rsa_oaep_md(ctx, md) > 0 &&
         EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, md) > 0;
  }
  ok = ok && EVP_PKEY_decrypt(ctx, out, outlen, in, inlen) > 0;
  EVP_PKEY_CTX_free(ctx);
  return ok ? 0 : -1;
}

static int aes_ecb_decrypt(const unsigned char *key, const unsigned char *in,
                           size_t inlen, unsigned char *out, size_t *outlen) {
  EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
  int l1 = 0, l2 = 0;
  int ok = ctx != NULL &&
           EVP_DecryptInit_ex(ctx, EVP_aes_256_ecb(), NULL, key, NULL) > 0 &&
           EVP_DecryptUpdate(ctx, out, &l1, in, (int)inlen) > 0 &&
           EVP_DecryptFinal_ex(ctx, out + l1, &l2) > 0;
  EVP_CIPHER_CTX_free(ctx);
  *outlen = (size_t)(l1 + l2);
  return ok ? 0 : -1;
}

/* Material must fit the KeySpec: raw bytes of the right length for
 * symmetric keys, a PKCS#8 private key of the right type for asymmetric. */
static bool material_fits(const ksim_key_t *k, const unsigned char *m,
                          size_t n) {
  if (strcmp(k->spec, "Aliyun_AES_256") == 0) return n == 32;
  if (strcmp(k->spec, "Aliyun_AES_192") == 0) return n == 24;
  if (strcmp(k->spec, "Aliyun_AES_128") == 0 ||
      strcmp(k->spec, "Aliyun_SM4") == 0)
    return n == 16;
  const unsigned char *p = m;
  PKCS8_PRIV_KEY_INFO *p8 = d2i_PKCS8_PRIV_KEY_INFO(NULL, &p, (long)n);
  if (p8 == NULL) return false;
  EVP_PKEY *pk = EVP_PKCS82PKEY(p8);
  PKCS8_PRIV_KEY_INFO_free(p8);
  if (pk == NULL) return false;
  bool ok = false;
  if (strcmp(k->spec, "RSA_2048") == 0)
    ok = EVP_PKEY_is_a(pk, "RSA") && EVP_PKEY_get_bits(pk) == 2048;
  else if (strcmp(k->spec, "RSA_3072") == 0)
    ok = EVP_PKEY_is_a(pk, "RSA") && EVP_PKEY_get_bits(pk) == 3072;
  else if (strncmp(k->spec, "EC_", 3) == 0)
    ok = EVP_PKEY_is_a(pk, "EC") || EVP_PKEY_is_a(pk, "SM2");
  EVP_PKEY_free(pk);
  return ok;
}

static int import_key_material(ksim_req_t *req, ksim_resp_t *resp) {
  const char *id = ksim_param_req(req, resp, "KeyId");
  if (id == NULL) return -1;
  const char *enc = ksim_param_req(req, resp, "EncryptedKeyMaterial");
  if (enc == NULL) return -1;
  const char *tok = ksim_param_req(req, resp, "ImportToken");
  if (tok == NULL) return -1;
  long expire = 0;
  if (ksim_param_int(req, resp, "KeyMaterialExpireUnix", 0, 0, 32503680000L,
                     &expire) < 0)
    return -1;
  if (expire != 0 && expire <= req->now)
    return ksim_fail_invalid(resp, "KeyMaterialExpireUnix");
  ksim_key_t *k = ksim_kms_key(req, resp, id);
  if (k == NULL || check_import_key(req, resp, k) < 0) return -1;
  if (k->migrating) return ksim_fail_migrating(resp);
  ksim_import_token_t *t = NULL;
  for (size_t i = 0; i < req->cloud->import_tokens.n; i++)
    if (strcmp(req->cloud->import_tokens.v[i]->token, tok) == 0)
      t = req->cloud->import_tokens.v[i];
  if (t == NULL || strcmp(t->key_id, k->id) != 0 ||
      strcmp(t->account, req->account->id) != 0)
    return ksim_fail(resp, "InvalidImportToken",
                     "The specified import token is not valid for this key.");
  if (req->now >= t->expires)
    return ksim_fail(resp, "ExpiredImportToken",
                     "The specified import token has expired.");
  size_t n = 0;
  unsigned char *blob = unb64(enc, &n);
  size_t rsa_len = (size_t)EVP_PKEY_get_size(t->pkey);
  if (blob == NULL || n < rsa_len) {
    free(blob);
    return ksim_fail(resp, "InvalidKeyMaterial",
                     "The key material is not valid.");
  }
  unsigned char head[512], *material = NULL;
  size_t head_len = sizeof(head), mlen = 0;
  int rc = -1;
  if (rsa_decrypt(t->pkey, t->algorithm, blob, rsa_len, head, &head_len) < 0)
    goto bad;
  if (n == rsa_len) {
    /* material wrapped directly with the public key */
    material = km_xmalloc(head_len + 1);
    memcpy(material, head, head_len);
    mlen = head_len;
  } else {
    /* Cipher(ESK) || AES-256-ECB-PKCS#7(ESK, material) */
    if (head_len != 32) goto bad;
    material = km_xmalloc(n - rsa_len + 32);
    if (aes_ecb_decrypt(head, blob + rsa_len, n - rsa_len, material, &mlen) < 0)
      goto bad;
  }
  if (!material_fits(k, material, mlen)) goto bad;
  unsigned char hash[32];
  SHA256(material, mlen, hash);
  if (k->has_material && memcmp(hash, k->material_hash, 32) != 0) {
    ksim_fail(resp, "InvalidKeyMaterial",
              "The key material is not valid: a re-import must use the same "
              "key material.");
    goto out;
  }
  memcpy(k->material_hash, hash, 32);
  k->has_material = true;
  k->material_expire = expire;
  k->material_imported_at = req->now;
  if (strcmp(k->state, "PendingImport") == 0) {
    free(k->state);
    k->state = km_xstrdup("Enabled");
  }
  rc = ksim_ok(resp, NULL);
  goto out;
bad:
  ksim_fail(resp, "InvalidKeyMaterial", "The key material is not valid.");
out:
  OPENSSL_cleanse(head, sizeof(head));
  if (material != NULL) OPENSSL_cleanse(material, mlen);
  free(material);
  free(blob);
  return rc;
}

static const ksim_action_t kms_byok_actions[] = {
    {"GetParametersForImport", get_parameters_for_import, "key-read",
     KSIM_F_NOLOCK},
    {"ImportKeyMaterial", import_key_material, "key-write", 0},
    {NULL, NULL, NULL, 0}};

KSIM_REGISTER_ACTIONS("kms", kms_byok_actions)
