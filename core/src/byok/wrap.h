/* HSM BYOK key material: wrapping for ImportKeyMaterial, the matching
 * unwrap (for tests and kmsim), material loading and key generation.
 *
 * Wrapped format (the vendor's openssl chain, docs/byok.md):
 *   Cipher(ESK) || Cipher(key)
 *   ESK         = 32 fresh random bytes (AES-256), new for every wrap
 *   Cipher(ESK) = RSA-encrypt(wrapping public key, ESK); 256 bytes
 *   Cipher(key) = AES-256-ECB(ESK, material) with PKCS#7 padding
 * ImportKeyMaterial takes the base64 of that.  The wrapping key is always
 * RSA 2048 (GetParametersForImport WrappingKeySpec=RSA_2048).
 *
 * Secrets: material and ESKs live in km_byok_buf_t buffers allocated by
 * OpenSSL and cleansed on free; they never appear in a km_err_t, a log line
 * or any file other than the one the caller asked for.
 */
#ifndef KM_BYOK_WRAP_H
#define KM_BYOK_WRAP_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/types.h>

#include "kmsmig/errors.h"

/* The WrappingAlgorithm values of GetParametersForImport (RSA_2048). */
typedef enum {
  KM_BYOK_RSAES_OAEP_SHA_256 = 0, /* OAEP, SHA-256 + MGF1 SHA-256; default */
  KM_BYOK_RSAES_PKCS1_V1_5,
  KM_BYOK_RSAES_OAEP_SHA_1 /* OAEP, SHA-1 + MGF1 SHA-1 */
} km_byok_alg_t;

/* Key specs km_byok_keygen can make (the material of an EXTERNAL key). */
typedef enum { KM_BYOK_SPEC_RSA_2048 = 0, KM_BYOK_SPEC_EC_P256 } km_byok_spec_t;

/* Size of Cipher(ESK): the RSA 2048 modulus in bytes. */
#define KM_BYOK_CIPHER_ESK_LEN 256
/* Length of the ephemeral AES-256 session key. */
#define KM_BYOK_ESK_LEN 32
/* Largest material accepted (an RSA 4096 PKCS#8 is ~2.4 KiB). */
#define KM_BYOK_MATERIAL_MAX (16 * 1024)

/* A byte buffer that may hold a secret.  data is OPENSSL_malloc'd and owned
 * by the struct; km_byok_buf_free cleanses and frees it. */
typedef struct km_byok_buf_s {
  unsigned char *data;
  size_t len;
} km_byok_buf_t;

/* Cleanses and frees b->data and zeroes b; NULL or empty is a no-op. */
void km_byok_buf_free(km_byok_buf_t *b);

/* "RSAES_OAEP_SHA_256" etc. (case-insensitive) into *out; 0 or KM_EINVAL
 * with the accepted names in err. */
int km_byok_alg_parse(const char *name, km_byok_alg_t *out, km_err_t *err);
/* Canonical name; static string. */
const char *km_byok_alg_name(km_byok_alg_t alg);
/* "RSA_2048" / "EC_P256" (case-insensitive); 0 or KM_EINVAL. */
int km_byok_spec_parse(const char *name, km_byok_spec_t *out, km_err_t *err);

/* Parses a wrapping public key given as DER SubjectPublicKeyInfo, PEM, or
 * the base64 DER string GetParametersForImport returns (whitespace allowed),
 * and checks it is RSA 2048.  what (borrowed) names the source in errors
 * ("WrappingPublicKey.bin", "--public-key-b64").  On success *out is owned
 * by the caller (EVP_PKEY_free).  KM_EINVAL: not a public key, or not RSA
 * 2048 (err says which). */
int km_byok_pubkey_parse(const void *data, size_t len, const char *what,
                         EVP_PKEY **out, km_err_t *err);

/* Wraps material (borrowed, len bytes, 1..KM_BYOK_MATERIAL_MAX) for the
 * wrapping public key pub (borrowed; must be RSA 2048) with alg.  On success
 * out (caller-owned; km_byok_buf_free) holds Cipher(ESK) || Cipher(key) in
 * binary.  A fresh ESK is drawn from RAND_bytes for every call and cleansed
 * before returning. */
int km_byok_wrap_pkey(EVP_PKEY *pub, const unsigned char *material, size_t len,
                      km_byok_alg_t alg, km_byok_buf_t *out, km_err_t *err);

/* km_byok_pubkey_parse then km_byok_wrap_pkey: pubkey (borrowed) is DER,
 * PEM or the base64 DER string. */
int km_byok_wrap(const void *pubkey, size_t pubkey_len,
                 const unsigned char *material, size_t len, km_byok_alg_t alg,
                 km_byok_buf_t *out, km_err_t *err);

/* The reverse, as ImportKeyMaterial does it: priv (borrowed) is the RSA
 * 2048 wrapping private key, wrapped (borrowed) is Cipher(ESK) ||
 * Cipher(key) in binary.  On success out (caller-owned) holds the material.
 * KM_EINVAL when the data is not material wrapped for this key and alg. */
int km_byok_unwrap(EVP_PKEY *priv, const unsigned char *wrapped, size_t len,
                   km_byok_alg_t alg, km_byok_buf_t *out, km_err_t *err);

/* Standard base64 without line breaks; returns an owned NUL-terminated
 * string (free()).  Never fails (aborts on OOM like km_xmalloc). */
char *km_byok_b64_encode(const unsigned char *data, size_t len);
/* Decodes standard base64 (s borrowed, len chars); ASCII whitespace is
 * ignored, '=' padding is required.  out is caller-owned.  KM_EINVAL on
 * anything else. */
int km_byok_b64_decode(const char *s, size_t len, km_byok_buf_t *out,
                       km_err_t *err);

/* Reads a whole file (at most max bytes) into out (caller-owned).  With
 * private_only, refuses (KM_EPERM, naming the file and `chmod 600 FILE`) a
 * file whose mode lets group or others in, and anything not a regular file.
 * KM_ENOENT / KM_EIO / KM_EINVAL (too large) with the path in err. */
int km_byok_read_file(const char *path, size_t max, bool private_only,
                      km_byok_buf_t *out, km_err_t *err);

/* Writes data (borrowed) to path with mode 0600.  With exclusive, refuses an
 * existing path (KM_EEXIST); otherwise replaces it atomically (temporary
 * file in the same directory, fsync, rename). */
int km_byok_write_file(const char *path, const void *data, size_t len,
                       bool exclusive, km_err_t *err);

/* Loads an unencrypted private key file (PEM or DER; PKCS#1, SEC1 or
 * PKCS#8; RSA or EC) after the same permission check as
 * km_byok_read_file(private_only).  *out is owned by the caller. */
int km_byok_privkey_load(const char *path, EVP_PKEY **out, km_err_t *err);

/* Encodes a private key (borrowed) as PKCS#8 PrivateKeyInfo DER into out
 * (caller-owned): the bytes `openssl pkcs8 -topk8 -nocrypt -outform der`
 * produces, which is what ImportKeyMaterial expects for asymmetric keys. */
int km_byok_pkcs8_der(EVP_PKEY *key, km_byok_buf_t *out, km_err_t *err);

/* Key material from a file, ready to wrap, into out (caller-owned).  raw:
 * the file is the symmetric key itself, exactly 16 (SM4) or 32 (AES-256)
 * bytes.  Otherwise: a private key as km_byok_privkey_load reads it,
 * converted to PKCS#8 DER.  The file must be private (mode & 077 == 0). */
int km_byok_material_load(const char *path, bool raw, km_byok_buf_t *out,
                          km_err_t *err);

/* Generates a private key of spec and writes it to path as PKCS#8 PEM
 * ("BEGIN PRIVATE KEY", what `openssl genrsa` writes), mode 0600.  Refuses
 * an existing path (KM_EEXIST). */
int km_byok_keygen(km_byok_spec_t spec, const char *path, km_err_t *err);

#endif
