/* The per-call costs of signing that do not depend on the request, paid
 * once instead of on every call:
 *
 * - Keyed HMAC contexts (km_sign_key_t): one HMAC-SHA1 context keyed with
 *   "<secret>&" (V1) and one HMAC-SHA256 context keyed with the secret
 *   (V3), made when a credential is first used.  A signature re-initialises
 *   the context with its stored key (EVP_MAC_init with a NULL key), which
 *   costs neither an algorithm fetch nor an allocation nor the key schedule;
 *   a one-shot HMAC() did all three per call.  The contexts hold key
 *   material (the padded key and its hashed pads), so they are kept no
 *   longer than the credential (acs/client.c frees them when the credential
 *   is no longer used) and OpenSSL cleanses them when they are freed.  The
 *   secret itself is not kept here.
 *
 * - Nonces (km_acs_nonce): SignatureNonce / x-acs-signature-nonce only has to
 *   be unique per AccessKey within the service's replay window and not
 *   guessable in advance; it is sent in clear and protects nothing secret.
 *   So instead of 16 bytes from the OS CSPRNG per request, the nonces are
 *   the blocks of an AES-128-CTR keystream whose key and counter come once
 *   from getrandom() (RAND_bytes, the OS-seeded DRBG).  AES is a
 *   permutation, so distinct counter blocks give distinct nonces: within a
 *   process they never repeat (until 2^128 of them); across processes the
 *   random key makes a repeat as likely as with random nonces.  Without the
 *   key nobody can predict the next nonce from the previous ones.  A forked
 *   child takes a new key before its first nonce, so parent and child never
 *   share a stream.  Blocks are made 64 at a time. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include "acs/acs.h"

struct km_sign_key_s {
  EVP_MAC_CTX *v1; /* HMAC-SHA1, key "<secret>&" */
  EVP_MAC_CTX *v3; /* HMAC-SHA256, key "<secret>" */
};

static EVP_MAC_CTX *keyed(EVP_MAC *mac, const char *digest, const void *key,
                          size_t klen) {
  EVP_MAC_CTX *ctx = EVP_MAC_CTX_new(mac);
  if (ctx == NULL) return NULL;
  OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
                                                          (char *)digest, 0),
                         OSSL_PARAM_construct_end()};
  if (EVP_MAC_init(ctx, key, klen, params) != 1) {
    EVP_MAC_CTX_free(ctx);
    return NULL;
  }
  return ctx;
}

int km_sign_key_new(const char *secret, km_sign_key_t **out) {
  *out = NULL;
  if (secret == NULL || secret[0] == '\0') return KM_EINVAL;
  EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
  if (mac == NULL) return KM_EINVAL;
  size_t n = strlen(secret);
  char *amp = km_xmalloc(n + 2);
  memcpy(amp, secret, n);
  amp[n] = '&';
  amp[n + 1] = '\0';
  km_sign_key_t *k = km_xcalloc(1, sizeof(*k));
  k->v1 = keyed(mac, "SHA1", amp, n + 1);
  k->v3 = keyed(mac, "SHA256", secret, n);
  OPENSSL_cleanse(amp, n + 1);
  free(amp);
  EVP_MAC_free(mac);
  if (k->v1 == NULL || k->v3 == NULL) {
    km_sign_key_free(k);
    return KM_EINVAL;
  }
  *out = k;
  return 0;
}

void km_sign_key_free(km_sign_key_t *k) {
  if (k == NULL) return;
  EVP_MAC_CTX_free(k->v1); /* OpenSSL cleanses the key and pad states */
  EVP_MAC_CTX_free(k->v3);
  free(k);
}

int km__sign_key_mac(km_sign_key_t *k, km_sigver_t v, const void *msg,
                     size_t len, unsigned char *out, unsigned int *outlen) {
  EVP_MAC_CTX *ctx = v == KM_SIG_V1 ? k->v1 : k->v3;
  size_t n = 0;
  /* A NULL key re-initialises with the key the context already holds. */
  if (EVP_MAC_init(ctx, NULL, 0, NULL) != 1 ||
      EVP_MAC_update(ctx, msg, len) != 1 ||
      EVP_MAC_final(ctx, out, &n, EVP_MAX_MD_SIZE) != 1)
    return KM_EINVAL;
  *outlen = (unsigned int)n;
  return 0;
}

/* ---- nonces ---- */

#define NONCE_BATCH 64 /* blocks per refill */

static struct {
  pthread_mutex_t lock;
  EVP_CIPHER_CTX *ctr;
  unsigned char blocks[NONCE_BATCH * 16];
  size_t next; /* next unused block; NONCE_BATCH: refill */
  int reseed;  /* set in a forked child */
} g_nonce = {PTHREAD_MUTEX_INITIALIZER, NULL, {0}, NONCE_BATCH, 0};

static pthread_once_t g_atfork_once = PTHREAD_ONCE_INIT;

/* The lock is held across fork() so the child gets a consistent state;
 * the child must not continue the parent's stream. */
static void nonce_prepare(void) {
  pthread_mutex_lock(&g_nonce.lock);
}

static void nonce_parent(void) {
  pthread_mutex_unlock(&g_nonce.lock);
}

static void nonce_child(void) {
  g_nonce.reseed = 1;
  g_nonce.next = NONCE_BATCH;
  pthread_mutex_unlock(&g_nonce.lock);
}

static void nonce_atfork(void) {
  if (pthread_atfork(nonce_prepare, nonce_parent, nonce_child) != 0)
    abort(); /* without it a forked child could repeat nonces */
}

static void nonce_seed(void) {
  unsigned char key_iv[32];
  if (RAND_bytes(key_iv, sizeof(key_iv)) != 1)
    abort(); /* a predictable nonce would make requests replayable */
  if (g_nonce.ctr == NULL) g_nonce.ctr = EVP_CIPHER_CTX_new();
  if (g_nonce.ctr == NULL || EVP_EncryptInit_ex(g_nonce.ctr, EVP_aes_128_ctr(),
                                                NULL, key_iv, key_iv + 16) != 1)
    abort();
  OPENSSL_cleanse(key_iv, sizeof(key_iv));
  g_nonce.reseed = 0;
}

static void nonce_refill(void) {
  static const unsigned char zero[NONCE_BATCH * 16];
  int n = 0;
  if (g_nonce.ctr == NULL || g_nonce.reseed) nonce_seed();
  if (EVP_EncryptUpdate(g_nonce.ctr, g_nonce.blocks, &n, zero,
                        (int)sizeof(zero)) != 1 ||
      n != (int)sizeof(zero))
    abort();
  g_nonce.next = 0;
}

void km_acs_nonce(char out[33]) {
  static const char hex[] = "0123456789abcdef";
  pthread_once(&g_atfork_once, nonce_atfork);
  pthread_mutex_lock(&g_nonce.lock);
  if (g_nonce.next >= NONCE_BATCH) nonce_refill();
  const unsigned char *b = g_nonce.blocks + 16 * g_nonce.next++;
  for (size_t i = 0; i < 16; i++) {
    out[2 * i] = hex[b[i] >> 4];
    out[2 * i + 1] = hex[b[i] & 15];
  }
  out[32] = '\0';
  pthread_mutex_unlock(&g_nonce.lock);
}
