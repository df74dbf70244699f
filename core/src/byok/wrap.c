/* Wrapping HSM BYOK key material the way ImportKeyMaterial expects it, and
 * unwrapping it again.
 *
 * The format is the vendor's openssl chain (seed procedure, "HSM BYOK
 * migration"): a fresh AES-256 session key (ESK) is RSA-encrypted with the
 * wrapping public key from GetParametersForImport, the material is
 * encrypted with AES-256-ECB under the ESK with PKCS#7 padding, and the two
 * ciphertexts are concatenated.  ECB is what the service specifies; it is
 * acceptable here only because every ESK encrypts exactly one message and is
 * never reused, which is why the ESK is drawn anew for every call and never
 * leaves this file.
 *
 * The unwrap half exists so tests (and kmsim's ImportKeyMaterial) can check
 * that what we produce, and what the vendor's chain produces, decodes to the
 * original material.  Only the OpenSSL 3 EVP interfaces are used.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/core_names.h>
#include <openssl/decoder.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>

#include "byok/wrap.h"
#include "util/util.h"

static const char *const alg_names[] = {
    [KM_BYOK_RSAES_OAEP_SHA_256] = "RSAES_OAEP_SHA_256",
    [KM_BYOK_RSAES_PKCS1_V1_5] = "RSAES_PKCS1_V1_5",
    [KM_BYOK_RSAES_OAEP_SHA_1] = "RSAES_OAEP_SHA_1",
};

void km_byok_buf_free(km_byok_buf_t *b) {
  if (b == NULL) return;
  if (b->data != NULL) OPENSSL_clear_free(b->data, b->len);
  b->data = NULL;
  b->len = 0;
}

int km_byok_alg_parse(const char *name, km_byok_alg_t *out, km_err_t *err) {
  for (size_t i = 0; name != NULL && i < KM_ARRAY_SIZE(alg_names); i++) {
    if (strcasecmp(name, alg_names[i]) == 0) {
      *out = (km_byok_alg_t)i;
      return 0;
    }
  }
  return km__err_set(err, KM_EINVAL,
                     "unknown wrapping algorithm '%s'; use RSAES_OAEP_SHA_256 "
                     "(default), RSAES_PKCS1_V1_5 or RSAES_OAEP_SHA_1, the "
                     "WrappingAlgorithm given to GetParametersForImport",
                     name != NULL ? name : "");
}

const char *km_byok_alg_name(km_byok_alg_t alg) {
  if ((size_t)alg < KM_ARRAY_SIZE(alg_names)) return alg_names[alg];
  return "unknown";
}

int km_byok_spec_parse(const char *name, km_byok_spec_t *out, km_err_t *err) {
  if (name != NULL && strcasecmp(name, "RSA_2048") == 0) {
    *out = KM_BYOK_SPEC_RSA_2048;
    return 0;
  }
  if (name != NULL && strcasecmp(name, "EC_P256") == 0) {
    *out = KM_BYOK_SPEC_EC_P256;
    return 0;
  }
  return km__err_set(err, KM_EINVAL,
                     "unknown key spec '%s'; use RSA_2048 or EC_P256",
                     name != NULL ? name : "");
}

/* Decodes one public key from data in any encoding the OpenSSL decoders
 * recognise (DER or PEM; SubjectPublicKeyInfo or PKCS#1).  NULL on failure,
 * with the OpenSSL error queue cleared: the caller reports its own error. */
static EVP_PKEY *decode_pubkey(const unsigned char *data, size_t len) {
  EVP_PKEY *pk = NULL;
  OSSL_DECODER_CTX *dctx = OSSL_DECODER_CTX_new_for_pkey(
      &pk, NULL, NULL, NULL, EVP_PKEY_PUBLIC_KEY, NULL, NULL);
  if (dctx == NULL) {
    ERR_clear_error();
    return NULL;
  }
  const unsigned char *p = data;
  size_t left = len;
  if (OSSL_DECODER_from_data(dctx, &p, &left) != 1) {
    EVP_PKEY_free(pk);
    pk = NULL;
  }
  OSSL_DECODER_CTX_free(dctx);
  ERR_clear_error();
  return pk;
}

/* The wrapping key must be what GetParametersForImport hands out: RSA 2048.
 * Anything else would produce material the service cannot unwrap. */
static int check_wrapping_key(EVP_PKEY *pk, const char *what, km_err_t *err) {
  if (!EVP_PKEY_is_a(pk, "RSA"))
    return km__err_setw(err, KM_EINVAL, what,
                        "%s: the wrapping public key is %s, not RSA; use the "
                        "PublicKey of GetParametersForImport with "
                        "WrappingKeySpec RSA_2048",
                        what, EVP_PKEY_get0_type_name(pk));
  int bits = EVP_PKEY_get_bits(pk);
  if (bits != 2048)
    return km__err_setw(err, KM_EINVAL, what,
                        "%s: the wrapping public key is RSA %d; KMS wrapping "
                        "keys are RSA 2048 (WrappingKeySpec RSA_2048); "
                        "download the public key of GetParametersForImport",
                        what, bits);
  return 0;
}

int km_byok_pubkey_parse(const void *data, size_t len, const char *what,
                         EVP_PKEY **out, km_err_t *err) {
  *out = NULL;
  if (what == NULL) what = "public key";
  if (data == NULL || len == 0)
    return km__err_setw(err, KM_EINVAL, what, "%s: the public key is empty",
                        what);
  EVP_PKEY *pk = decode_pubkey(data, len);
  if (pk == NULL) {
    /* The API returns the DER as a base64 string: try that form. */
    km_byok_buf_t der = {0};
    if (km_byok_b64_decode(data, len, &der, NULL) == 0) {
      pk = decode_pubkey(der.data, der.len);
      km_byok_buf_free(&der);
    }
  }
  if (pk == NULL)
    return km__err_setw(err, KM_EINVAL, what,
                        "%s: not a public key; expected DER "
                        "SubjectPublicKeyInfo, PEM, or the base64 PublicKey "
                        "string of GetParametersForImport",
                        what);
  int rc = check_wrapping_key(pk, what, err);
  if (rc < 0) {
    EVP_PKEY_free(pk);
    return rc;
  }
  *out = pk;
  return 0;
}

/* Sets the padding (and digests) of alg on an encrypt/decrypt context. */
static int set_padding(EVP_PKEY_CTX *pctx, km_byok_alg_t alg) {
  if (alg == KM_BYOK_RSAES_PKCS1_V1_5)
    return EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) > 0;
  const EVP_MD *md =
      alg == KM_BYOK_RSAES_OAEP_SHA_1 ? EVP_sha1() : EVP_sha256();
  return EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_OAEP_PADDING) > 0 &&
         EVP_PKEY_CTX_set_rsa_oaep_md(pctx, md) > 0 &&
         EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, md) > 0;
}

/* AES-256-ECB with PKCS#7 padding over in, into a fresh secret buffer. */
static int aes_ecb(int enc, const unsigned char key[KM_BYOK_ESK_LEN],
                   const unsigned char *in, size_t len, km_byok_buf_t *out) {
  if (len > KM_BYOK_MATERIAL_MAX + 64) return KM_EINVAL;
  EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
  if (c == NULL) return KM_ENOMEM;
  size_t cap = len + 16;
  unsigned char *buf = OPENSSL_malloc(cap);
  int n1 = 0, n2 = 0, rc = KM_EINVAL;
  if (buf != NULL &&
      EVP_CipherInit_ex2(c, EVP_aes_256_ecb(), key, NULL, enc, NULL) == 1 &&
      EVP_CipherUpdate(c, buf, &n1, in, (int)len) == 1 &&
      EVP_CipherFinal_ex(c, buf + n1, &n2) == 1) {
    out->data = buf;
    out->len = (size_t)n1 + (size_t)n2;
    buf = NULL;
    rc = 0;
  } else if (buf == NULL) {
    rc = KM_ENOMEM;
  }
  if (buf != NULL) OPENSSL_clear_free(buf, cap);
  EVP_CIPHER_CTX_free(c);
  ERR_clear_error();
  return rc;
}

int km_byok_wrap_pkey(EVP_PKEY *pub, const unsigned char *material, size_t len,
                      km_byok_alg_t alg, km_byok_buf_t *out, km_err_t *err) {
  out->data = NULL;
  out->len = 0;
  if ((size_t)alg >= KM_ARRAY_SIZE(alg_names))
    return km__err_set(err, KM_EINVAL, "unknown wrapping algorithm");
  if (material == NULL || len == 0 || len > KM_BYOK_MATERIAL_MAX)
    return km__err_set(err, KM_EINVAL,
                       "the key material is %zu bytes; expected 1 to %d", len,
                       KM_BYOK_MATERIAL_MAX);
  int rc = check_wrapping_key(pub, "wrapping public key", err);
  if (rc < 0) return rc;

  unsigned char esk[KM_BYOK_ESK_LEN];
  unsigned char cesk[KM_BYOK_CIPHER_ESK_LEN];
  size_t cesk_len = sizeof(cesk);
  km_byok_buf_t ckey = {0};
  EVP_PKEY_CTX *pctx = NULL;
  rc = 0;
  if (RAND_bytes(esk, sizeof(esk)) != 1) {
    rc = km__err_set(err, KM_EIO,
                     "no random bytes for the session key "
                     "(OpenSSL RAND_bytes failed)");
    goto done;
  }
  pctx = EVP_PKEY_CTX_new_from_pkey(NULL, pub, NULL);
  if (pctx == NULL || EVP_PKEY_encrypt_init(pctx) != 1 ||
      !set_padding(pctx, alg) ||
      EVP_PKEY_encrypt(pctx, cesk, &cesk_len, esk, sizeof(esk)) != 1 ||
      cesk_len != KM_BYOK_CIPHER_ESK_LEN) {
    rc = km__err_set(err, KM_EIO,
                     "RSA encryption of the session key with %s failed",
                     km_byok_alg_name(alg));
    goto done;
  }
  rc = aes_ecb(1, esk, material, len, &ckey);
  if (rc < 0) {
    rc = km__err_set(err, rc,
                     "AES-256-ECB encryption of the material "
                     "failed");
    goto done;
  }
  out->len = cesk_len + ckey.len;
  out->data = OPENSSL_malloc(out->len);
  if (out->data == NULL) {
    out->len = 0;
    rc = km__err_set(err, KM_ENOMEM, "out of memory");
    goto done;
  }
  memcpy(out->data, cesk, cesk_len);
  memcpy(out->data + cesk_len, ckey.data, ckey.len);
done:
  OPENSSL_cleanse(esk, sizeof(esk));
  km_byok_buf_free(&ckey);
  EVP_PKEY_CTX_free(pctx);
  ERR_clear_error();
  return rc;
}

int km_byok_wrap(const void *pubkey, size_t pubkey_len,
                 const unsigned char *material, size_t len, km_byok_alg_t alg,
                 km_byok_buf_t *out, km_err_t *err) {
  EVP_PKEY *pk = NULL;
  out->data = NULL;
  out->len = 0;
  int rc = km_byok_pubkey_parse(pubkey, pubkey_len, "public key", &pk, err);
  if (rc < 0) return rc;
  rc = km_byok_wrap_pkey(pk, material, len, alg, out, err);
  EVP_PKEY_free(pk);
  return rc;
}

int km_byok_unwrap(EVP_PKEY *priv, const unsigned char *wrapped, size_t len,
                   km_byok_alg_t alg, km_byok_buf_t *out, km_err_t *err) {
  out->data = NULL;
  out->len = 0;
  if (priv == NULL || !EVP_PKEY_is_a(priv, "RSA") ||
      EVP_PKEY_get_bits(priv) != 2048)
    return km__err_set(err, KM_EINVAL,
                       "the unwrapping key must be an RSA 2048 private key");
  if ((size_t)alg >= KM_ARRAY_SIZE(alg_names))
    return km__err_set(err, KM_EINVAL, "unknown wrapping algorithm");
  /* At least one AES block of Cipher(key), and whole blocks only. */
  if (wrapped == NULL || len < KM_BYOK_CIPHER_ESK_LEN + 16 ||
      (len - KM_BYOK_CIPHER_ESK_LEN) % 16 != 0)
    return km__err_set(err, KM_EINVAL,
                       "wrapped material is %zu bytes; expected 256 bytes of "
                       "Cipher(ESK) followed by whole 16-byte AES blocks",
                       len);
  unsigned char esk[512];
  size_t esk_len = sizeof(esk);
  int rc = 0;
  EVP_PKEY_CTX *pctx = EVP_PKEY_CTX_new_from_pkey(NULL, priv, NULL);
  if (pctx == NULL || EVP_PKEY_decrypt_init(pctx) != 1 ||
      !set_padding(pctx, alg) ||
      EVP_PKEY_decrypt(pctx, esk, &esk_len, wrapped, KM_BYOK_CIPHER_ESK_LEN) !=
          1 ||
      esk_len != KM_BYOK_ESK_LEN) {
    rc = km__err_set(err, KM_EINVAL,
                     "cannot decrypt Cipher(ESK) with this key and %s (wrong "
                     "key, algorithm, or not wrapped material)",
                     km_byok_alg_name(alg));
    goto done;
  }
  rc = aes_ecb(0, esk, wrapped + KM_BYOK_CIPHER_ESK_LEN,
               len - KM_BYOK_CIPHER_ESK_LEN, out);
  if (rc < 0)
    rc = km__err_set(err, rc,
                     "cannot decrypt Cipher(key): bad AES-256-ECB padding");
done:
  OPENSSL_cleanse(esk, sizeof(esk));
  EVP_PKEY_CTX_free(pctx);
  ERR_clear_error();
  return rc;
}

char *km_byok_b64_encode(const unsigned char *data, size_t len) {
  size_t n = 4 * ((len + 2) / 3);
  char *s = km_xmalloc(n + 1);
  size_t o = 0;
  /* EVP_EncodeBlock takes an int length: feed it in 3-byte-aligned chunks
   * so any size_t input works. */
  for (size_t i = 0; i < len;) {
    size_t chunk = len - i > 3 * 1024 * 1024 ? 3 * 1024 * 1024 : len - i;
    int w = EVP_EncodeBlock((unsigned char *)s + o, data + i, (int)chunk);
    o += (size_t)w;
    i += chunk;
  }
  s[o] = '\0';
  return s;
}

static bool is_b64(unsigned char c) {
  return isalnum(c) || c == '+' || c == '/';
}

int km_byok_b64_decode(const char *s, size_t len, km_byok_buf_t *out,
                       km_err_t *err) {
  out->data = NULL;
  out->len = 0;
  if (len > 64 * 1024 * 1024)
    return km__err_set(err, KM_EINVAL, "base64 text too large");
  char *clean = km_xmalloc(len + 1);
  size_t n = 0, pad = 0;
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n') continue;
    if (c == '=' ? pad > 1 : (!is_b64(c) || pad > 0)) {
      OPENSSL_cleanse(clean, n);
      free(clean);
      return km__err_set(err, KM_EINVAL,
                         "not base64: unexpected character at offset %zu", i);
    }
    if (c == '=') pad++;
    clean[n++] = (char)c;
  }
  if (n % 4 != 0) {
    OPENSSL_cleanse(clean, n);
    free(clean);
    return km__err_set(err, KM_EINVAL,
                       "not base64: %zu characters is not a multiple of 4", n);
  }
  size_t cap = n / 4 * 3;
  unsigned char *buf = OPENSSL_malloc(cap > 0 ? cap : 1);
  if (buf == NULL) {
    OPENSSL_cleanse(clean, n);
    free(clean);
    return km__err_set(err, KM_ENOMEM, "out of memory");
  }
  size_t o = 0;
  for (size_t i = 0; i < n; i += 4 * 1024 * 1024) {
    size_t chunk = n - i > 4 * 1024 * 1024 ? 4 * 1024 * 1024 : n - i;
    int w = EVP_DecodeBlock(buf + o, (unsigned char *)clean + i, (int)chunk);
    if (w < 0) {
      OPENSSL_cleanse(clean, n);
      free(clean);
      OPENSSL_clear_free(buf, cap > 0 ? cap : 1);
      ERR_clear_error();
      return km__err_set(err, KM_EINVAL, "not base64");
    }
    o += (size_t)w;
  }
  /* The text may encode a secret (raw material pasted as base64). */
  OPENSSL_cleanse(clean, n);
  free(clean);
  /* EVP_DecodeBlock counts the bytes the '=' padding stands for. */
  out->data = buf;
  out->len = o - pad;
  return 0;
}
