/* The dedicated gateway of a KMS 3.0 instance, <kst-id>.cryptoservice.kms.
 * aliyuncs.com (product "gateway" in server.c's routing): Encrypt, Decrypt
 * and GetSecretValue for keys and secrets inside that instance only (a
 * KMS 1.0 resource, or one in another instance, is not found here).
 * Data-plane calls keep working while a migration task holds a resource
 * (reference §2).  The encryption is kmsim's own, deterministic and
 * reversible so tests can round-trip: AES-256-GCM under a key derived with
 * HMAC-SHA256 from a fixed kmsim seed, the key id and the key version (and,
 * for BYOK keys, the hash of the imported material).  The ciphertext blob
 * is base64 of: "KSG1" | u8 len | key id | u8 len | version id | IV[12] |
 * ciphertext | tag[16]; the EncryptionContext string is the GCM AAD.
 * Secret values are synthesised from the secret's name and version.  Never
 * log a plaintext or a secret value. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "kms_common.h"

static const char k_seed[] = "kmsim-gateway-seed-v1 (test only)";

static void derive(const ksim_key_t *k, const char *version,
                   unsigned char out[32]) {
  unsigned char msg[512];
  size_t n =
      (size_t)snprintf((char *)msg, sizeof(msg), "key|%s|%s", k->id, version);
  if (n >= sizeof(msg) - 33) n = sizeof(msg) - 33;
  if (k->has_material) {
    msg[n++] = '|';
    memcpy(msg + n, k->material_hash, 32);
    n += 32;
  }
  unsigned int len = 32;
  HMAC(EVP_sha256(), k_seed, (int)strlen(k_seed), msg, n, out, &len);
}

/* Key in this gateway's instance, usable for symmetric crypto.  On the
 * shared gateway (no instance in the host) any key of the caller's region:
 * KMS 1.0 keys, and migrated ones, which the shared gateway forwards to
 * their instance (procedure section 4). */
static bool shared_gw(const ksim_req_t *req) {
  return req->instance_id[0] == '\0';
}

static ksim_key_t *gw_key(ksim_req_t *req, ksim_resp_t *resp, const char *id) {
  ksim_key_t *k = ksim_kms_key(req, resp, id);
  if (k == NULL) return NULL;
  if (!shared_gw(req) && (k->instance_id == NULL ||
                          strcmp(k->instance_id, req->instance_id) != 0)) {
    ksim_fail(resp, "Forbidden.KeyNotFound", "The specified Key is not found.");
    return NULL;
  }
  if (ksim_key_state_writable(k, resp) < 0) return NULL;
  if (!ksim_key_is_symmetric(k) || strcmp(k->usage, "ENCRYPT/DECRYPT") != 0) {
    ksim_fail(resp, "Rejected.UnsupportedOperation",
              "This operation is not supported for the key spec %s.", k->spec);
    return NULL;
  }
  return k;
}

static int gcm(bool enc, const unsigned char key[32],
               const unsigned char iv[12], const char *aad,
               const unsigned char *in, size_t n, unsigned char *out,
               unsigned char tag[16]) {
  EVP_CIPHER_CTX *x = EVP_CIPHER_CTX_new();
  int len = 0, ok = x != NULL && EVP_CipherInit_ex(x, EVP_aes_256_gcm(), NULL,
                                                   key, iv, enc ? 1 : 0) == 1;
  if (ok && aad != NULL && aad[0] != '\0')
    ok = EVP_CipherUpdate(x, NULL, &len, (const unsigned char *)aad,
                          (int)strlen(aad)) == 1;
  if (ok && n > 0) ok = EVP_CipherUpdate(x, out, &len, in, (int)n) == 1;
  if (ok && !enc)
    ok = EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_GCM_SET_TAG, 16, tag) == 1;
  if (ok) ok = EVP_CipherFinal_ex(x, out + len, &len) == 1;
  if (ok && enc)
    ok = EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_GCM_GET_TAG, 16, tag) == 1;
  EVP_CIPHER_CTX_free(x);
  return ok ? 0 : -1;
}

static char *b64(const unsigned char *p, size_t n) {
  char *out = km_xmalloc(4 * ((n + 2) / 3) + 1);
  EVP_EncodeBlock((unsigned char *)out, p, (int)n);
  return out;
}

static unsigned char *unb64(const char *s, size_t *n) {
  size_t l = strlen(s);
  if (l == 0 || l % 4 != 0) return NULL;
  unsigned char *out = km_xmalloc(l / 4 * 3 + 1);
  int r = EVP_DecodeBlock(out, (const unsigned char *)s, (int)l);
  if (r < 0) {
    free(out);
    return NULL;
  }
  size_t m = (size_t)r;
  if (s[l - 1] == '=') m--;
  if (s[l - 2] == '=') m--;
  *n = m;
  return out;
}

/* The ciphertext blob of pt under the key's current version (owned), or
 * NULL with resp failed. */
static char *seal(ksim_resp_t *resp, ksim_key_t *k, const char *ctx,
                  const char *pt);

static int encrypt(ksim_req_t *req, ksim_resp_t *resp) {
  const char *id = ksim_param_req(req, resp, "KeyId");
  if (id == NULL) return -1;
  const char *pt = ksim_param_req(req, resp, "Plaintext");
  if (pt == NULL) return -1;
  const char *ctx = ksim_param(req, "EncryptionContext");
  ksim_key_t *k = gw_key(req, resp, id);
  if (k == NULL) return -1;
  char *text = seal(resp, k, ctx, pt);
  if (text == NULL) return -1;
  json_t *body =
      json_pack("{s:s, s:s, s:s}", "CiphertextBlob", text, "KeyId", k->id,
                "KeyVersionId", k->versions.v[k->versions.n - 1].id);
  free(text);
  return ksim_ok(resp, body);
}

/* A data key: 32 random bytes, base64, returned and sealed. */
static int generate_data_key(ksim_req_t *req, ksim_resp_t *resp) {
  const char *id = ksim_param_req(req, resp, "KeyId");
  if (id == NULL) return -1;
  ksim_key_t *k = gw_key(req, resp, id);
  if (k == NULL) return -1;
  unsigned char dk[32];
  RAND_bytes(dk, sizeof(dk));
  char *pt = b64(dk, sizeof(dk));
  OPENSSL_cleanse(dk, sizeof(dk));
  char *text = seal(resp, k, ksim_param(req, "EncryptionContext"), pt);
  json_t *body =
      text == NULL ? NULL
                   : json_pack("{s:s, s:s, s:s, s:s}", "CiphertextBlob", text,
                               "Plaintext", pt, "KeyId", k->id, "KeyVersionId",
                               k->versions.v[k->versions.n - 1].id);
  OPENSSL_cleanse(pt, strlen(pt));
  free(pt);
  free(text);
  return body != NULL ? ksim_ok(resp, body) : -1;
}

static char *seal(ksim_resp_t *resp, ksim_key_t *k, const char *ctx,
                  const char *pt) {
  const char *ver = k->versions.v[k->versions.n - 1].id;
  size_t il = strlen(k->id), vl = strlen(ver), pl = strlen(pt);
  if (il > 255 || vl > 255) {
    ksim_fail_invalid(resp, "KeyId");
    return NULL;
  }
  size_t n = 4 + 1 + il + 1 + vl + 12 + pl + 16;
  unsigned char *blob = km_xmalloc(n), *p = blob, key[32];
  memcpy(p, "KSG1", 4);
  p += 4;
  *p++ = (unsigned char)il;
  memcpy(p, k->id, il);
  p += il;
  *p++ = (unsigned char)vl;
  memcpy(p, ver, vl);
  p += vl;
  unsigned char *iv = p;
  RAND_bytes(iv, 12);
  derive(k, ver, key);
  int rc = gcm(true, key, iv, ctx, (const unsigned char *)pt, pl, p + 12,
               p + 12 + pl);
  OPENSSL_cleanse(key, sizeof(key));
  if (rc < 0) {
    free(blob);
    ksim_fail(resp, "InternalFailure", "The encryption failed.");
    return NULL;
  }
  char *text = b64(blob, n);
  free(blob);
  return text;
}

static int decrypt(ksim_req_t *req, ksim_resp_t *resp) {
  const char *cb = ksim_param_req(req, resp, "CiphertextBlob");
  if (cb == NULL) return -1;
  const char *ctx = ksim_param(req, "EncryptionContext");
  size_t n = 0;
  unsigned char *blob = unb64(cb, &n);
  char id[256], ver[256];
  size_t il = 0, vl = 0;
  if (blob == NULL || n < 4 + 2 + 12 + 16 || memcmp(blob, "KSG1", 4) != 0 ||
      (il = blob[4]) + 5 + 1 > n || (vl = blob[5 + il]) + il + 6 + 28 > n) {
    free(blob);
    return ksim_fail_invalid(resp, "CiphertextBlob");
  }
  memcpy(id, blob + 5, il);
  id[il] = '\0';
  memcpy(ver, blob + 6 + il, vl);
  ver[vl] = '\0';
  ksim_key_t *k = gw_key(req, resp, id);
  if (k == NULL) {
    free(blob);
    return -1;
  }
  bool known = false;
  for (size_t i = 0; i < k->versions.n; i++)
    known |= strcmp(k->versions.v[i].id, ver) == 0;
  const unsigned char *iv = blob + 6 + il + vl, *ct = iv + 12;
  size_t cl = n - (size_t)(ct - blob) - 16;
  unsigned char key[32], tag[16];
  memcpy(tag, ct + cl, 16);
  char *pt = km_xmalloc(cl + 1);
  derive(k, ver, key);
  int rc =
      known ? gcm(false, key, iv, ctx, ct, cl, (unsigned char *)pt, tag) : -1;
  OPENSSL_cleanse(key, sizeof(key));
  free(blob);
  if (rc < 0) {
    free(pt);
    return ksim_fail_invalid(resp, "CiphertextBlob");
  }
  pt[cl] = '\0';
  json_t *body = json_pack("{s:s%, s:s, s:s}", "Plaintext", pt, cl, "KeyId",
                           k->id, "KeyVersionId", ver);
  OPENSSL_cleanse(pt, cl);
  free(pt);
  return ksim_ok(resp, body);
}

/* A stable fake value: the same secret version always reads the same. */
static char *secret_value(const ksim_secret_t *s, const char *version) {
  unsigned char mac[32];
  unsigned int len = 32;
  char msg[600];
  snprintf(msg, sizeof(msg), "secret|%s|%s", s->name, version);
  HMAC(EVP_sha256(), k_seed, (int)strlen(k_seed), (unsigned char *)msg,
       strlen(msg), mac, &len);
  char hex[33];
  for (int i = 0; i < 16; i++)
    snprintf(hex + 2 * i, 3, "%02x", mac[i]);
  if (strcmp(s->type, "Generic") == 0)
    return km_xasprintf("kmsim-value-%s", hex);
  return km_xasprintf("{\"AccountName\":\"kmsim\",\"AccountPassword\":\"%s\"}",
                      hex);
}

static int get_secret_value(ksim_req_t *req, ksim_resp_t *resp) {
  const char *name = ksim_param_req(req, resp, "SecretName");
  if (name == NULL) return -1;
  ksim_secret_t *s = ksim_kms_secret(req, resp, name);
  if (s == NULL) return -1;
  if (!shared_gw(req) &&
      (s->instance_id == NULL || strcmp(s->instance_id, req->instance_id) != 0))
    return ksim_fail(resp, "Forbidden.ResourceNotFound", "Resource not found");
  if (s->versions.n == 0)
    return ksim_fail(resp, "Forbidden.ResourceNotFound", "Resource not found");
  const char *vid = ksim_param(req, "VersionId");
  const char *stage = ksim_param(req, "VersionStage");
  size_t idx = s->versions.n - 1;
  if (vid != NULL) {
    bool found = false;
    for (size_t i = 0; i < s->versions.n; i++)
      if (strcmp(s->versions.v[i], vid) == 0) {
        idx = i;
        found = true;
      }
    if (!found)
      return ksim_fail(resp, "Forbidden.ResourceNotFound",
                       "Resource not found");
  } else if (stage != NULL && strcmp(stage, "ACSPrevious") == 0) {
    if (s->versions.n < 2)
      return ksim_fail(resp, "Forbidden.ResourceNotFound",
                       "Resource not found");
    idx = s->versions.n - 2;
  } else if (stage != NULL && strcmp(stage, "ACSCurrent") != 0) {
    return ksim_fail_invalid(resp, "VersionStage");
  }
  const char *v = s->versions.v[idx];
  json_t *stages = json_array();
  if (idx == s->versions.n - 1)
    json_array_append_new(stages, json_string("ACSCurrent"));
  else if (idx + 2 == s->versions.n)
    json_array_append_new(stages, json_string("ACSPrevious"));
  char *value = secret_value(s, v);
  json_t *body = json_pack(
      "{s:s, s:s, s:s, s:s, s:s, s:{s:o}, s:o, s:s}", "SecretName", s->name,
      "SecretType", s->type, "SecretData", value, "SecretDataType", "text",
      "VersionId", v, "VersionStages", "VersionStage", stages, "CreateTime",
      ksim_json_time(s->created), "AutomaticRotation",
      s->rotation_enabled ? "Enabled" : "Disabled");
  if (s->extended_config != NULL)
    json_object_set_new(body, "ExtendedConfig",
                        json_string(s->extended_config));
  km_free_secret(value);
  return ksim_ok(resp, body);
}

static const ksim_action_t gateway_actions[] = {
    {"Encrypt", encrypt, "gateway-crypto", 0},
    {"Decrypt", decrypt, "gateway-crypto", 0},
    {"GenerateDataKey", generate_data_key, "gateway-crypto", 0},
    {"GetSecretValue", get_secret_value, "gateway-secret", 0},
    {NULL, NULL, NULL, 0}};

/* The same data-plane calls on the shared gateway, in its published QPS
 * groups (reference section 5). */
static const ksim_action_t shared_actions[] = {
    {"Encrypt", encrypt, "crypto-sym", 0},
    {"Decrypt", decrypt, "crypto-sym", 0},
    {"GenerateDataKey", generate_data_key, "crypto-sym", 0},
    {"GetSecretValue", get_secret_value, "secret-value", 0},
    {NULL, NULL, NULL, 0}};

KSIM_REGISTER_ACTIONS("gateway", gateway_actions)
KSIM_REGISTER_ACTIONS("kms", shared_actions)
