/* km_byok_unwrap: the ImportKeyMaterial side of HSM BYOK, for tests.  It
 * unwraps Cipher(ESK) || Cipher(key) with the wrapping private key using
 * kmsmig's km_byok_unwrap (the logic kmsim's ImportKeyMaterial mirrors), so
 * the integration tests can check that material wrapped by the vendor's own
 * openssl chain is understood.
 *
 * usage: km_byok_unwrap --private-key FILE --in FILE --out FILE
 *                       [--algorithm ALG] [--binary]
 * --in is base64 (what the console and the API take) unless --binary.
 * --out receives the material (mode 0600, never overwritten).
 * Exit 0 on success, 1 when the data does not unwrap, 2 on usage errors. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>

#include "byok/wrap.h"

static int usage(void) {
  fprintf(stderr, "usage: km_byok_unwrap --private-key FILE --in FILE "
                  "--out FILE [--algorithm ALG] [--binary]\n");
  return 2;
}

int main(int argc, char **argv) {
  const char *key = NULL, *in = NULL, *out = NULL, *alg_name = NULL;
  bool binary = false;
  for (int i = 1; i < argc; i++) {
    const char **slot = NULL;
    if (strcmp(argv[i], "--private-key") == 0)
      slot = &key;
    else if (strcmp(argv[i], "--in") == 0)
      slot = &in;
    else if (strcmp(argv[i], "--out") == 0)
      slot = &out;
    else if (strcmp(argv[i], "--algorithm") == 0)
      slot = &alg_name;
    else if (strcmp(argv[i], "--binary") == 0)
      binary = true;
    else
      return usage();
    if (slot != NULL) {
      if (i + 1 >= argc) return usage();
      *slot = argv[++i];
    }
  }
  if (key == NULL || in == NULL || out == NULL) return usage();

  km_err_t err = {0};
  km_byok_alg_t alg = KM_BYOK_RSAES_OAEP_SHA_256;
  if (alg_name != NULL && km_byok_alg_parse(alg_name, &alg, &err) < 0) {
    fprintf(stderr, "km_byok_unwrap: %s\n", err.text);
    return 2;
  }
  EVP_PKEY *priv = NULL;
  km_byok_buf_t text = {0}, wrapped = {0}, material = {0};
  int rc = km_byok_privkey_load(key, &priv, &err);
  if (rc == 0) rc = km_byok_read_file(in, 1024 * 1024, false, &text, &err);
  if (rc == 0 && binary) {
    wrapped = text;
    text.data = NULL;
    text.len = 0;
  } else if (rc == 0) {
    rc = km_byok_b64_decode((const char *)text.data, text.len, &wrapped, &err);
  }
  if (rc == 0)
    rc = km_byok_unwrap(priv, wrapped.data, wrapped.len, alg, &material, &err);
  if (rc == 0)
    rc = km_byok_write_file(out, material.data, material.len, true, &err);
  if (rc < 0) fprintf(stderr, "km_byok_unwrap: %s\n", err.text);
  km_byok_buf_free(&text);
  km_byok_buf_free(&wrapped);
  km_byok_buf_free(&material);
  EVP_PKEY_free(priv);
  return rc < 0 ? 1 : 0;
}
