/* `kmsmig byok keygen`: makes the private key that becomes an EXTERNAL
 * asymmetric key's material, as the vendor's example does with `openssl
 * genrsa -out TakPrivPkcs1.pem 2048`.
 *
 * The key is written as unencrypted PKCS#8 PEM ("BEGIN PRIVATE KEY", what
 * OpenSSL 3's genrsa and genpkey write) with mode 0600, and never over an
 * existing file: overwriting the only copy of imported material would make
 * the key unusable once its material expires and must be re-imported (the
 * service accepts only the SAME material again).
 */
#include <openssl/encoder.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include "byok/wrap.h"
#include "util/util.h"

int km_byok_keygen(km_byok_spec_t spec, const char *path, km_err_t *err) {
  EVP_PKEY *pk = NULL;
  switch (spec) {
  case KM_BYOK_SPEC_RSA_2048:
    pk = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    break;
  case KM_BYOK_SPEC_EC_P256:
    pk = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    break;
  default:
    return km__err_set(err, KM_EINVAL, "unknown key spec %d", (int)spec);
  }
  if (pk == NULL) {
    ERR_clear_error();
    return km__err_set(err, KM_EIO, "key generation failed (OpenSSL)");
  }
  unsigned char *pem = NULL;
  size_t len = 0;
  OSSL_ENCODER_CTX *ectx = OSSL_ENCODER_CTX_new_for_pkey(
      pk, EVP_PKEY_KEYPAIR, "PEM", "PrivateKeyInfo", NULL);
  int ok = ectx != NULL && OSSL_ENCODER_CTX_get_num_encoders(ectx) > 0 &&
           OSSL_ENCODER_to_data(ectx, &pem, &len) == 1;
  OSSL_ENCODER_CTX_free(ectx);
  EVP_PKEY_free(pk);
  ERR_clear_error();
  int rc;
  if (ok)
    rc = km_byok_write_file(path, pem, len, true, err);
  else
    rc = km__err_set(err, KM_EIO, "cannot encode the new key as PEM");
  if (pem != NULL) OPENSSL_clear_free(pem, len);
  return rc;
}
