/* libFuzzer target: V1 and V3 canonicalisation and signing
 * (core/src/acs/sign.c: km_acs_sign, the V1 StringToSign, the V3 canonical
 * request, percent-encoding, the form body).  Input: a flags byte, then
 * NUL-separated fields: host, action, version, AccessKey id, secret,
 * security token, user agent, nonce, timestamp, then parameter keys and
 * values in turn.  Flags: bit 0 V1 (else V3), bit 1 form body, bit 2 GET,
 * bit 3 a token, bit 4 a user agent, bit 5 the signer's own nonce and time.
 * Whatever the fields, signing succeeds or fails with err; on success the
 * output is complete and the same input signs the same way twice. */
#include <stdlib.h>
#include <string.h>

#include "acs/acs.h"
#include "fuzz.h"

#define NFIXED 9

static void check_same(const km_signed_request_t *a,
                       const km_signed_request_t *b) {
  if (a->string_to_sign == NULL || a->signature == NULL || a->url == NULL ||
      strcmp(a->string_to_sign, b->string_to_sign) != 0 ||
      strcmp(a->signature, b->signature) != 0 || strcmp(a->url, b->url) != 0 ||
      a->nheaders != b->nheaders || a->body_len != b->body_len)
    abort(); /* signing must be a function of its input */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  unsigned flags = data[0];
  char *s = km_fuzz_strndup(data + 1, size - 1);
  size_t n = size - 1;
  /* Split on NUL: fields[i] borrow from s. */
  const char *fields[64];
  size_t nf = 0;
  for (size_t at = 0; at <= n && nf < 64;) {
    fields[nf++] = s + at;
    at += strlen(s + at) + 1;
  }
  const char *f[NFIXED];
  for (size_t i = 0; i < NFIXED; i++)
    f[i] = i < nf ? fields[i] : "";
  km_params_t p;
  km_params_init(&p);
  for (size_t i = NFIXED; i + 1 < nf; i += 2)
    km_params_set(&p, fields[i], fields[i + 1]);
  bool own = (flags & 32) != 0;
  km_acs_request_t r = {
      .method = (flags & 4) ? "GET" : "POST",
      .host = f[0],
      .action = f[1],
      .version = f[2],
      .params = &p,
      .form_body = (flags & 2) != 0,
      .sigver = (flags & 1) ? KM_SIG_V1 : KM_SIG_V3,
      .nonce = own ? NULL : f[7],
      .timestamp = own ? NULL : f[8],
      .user_agent = (flags & 16) ? f[6] : NULL,
  };
  km_credential_t cred = {f[3], f[4], (flags & 8) ? f[5] : NULL};
  km_signed_request_t a, b;
  km_err_t err;
  if (km_acs_sign(&r, &cred, &a, &err) == 0) {
    if (!own) {
      if (km_acs_sign(&r, &cred, &b, &err) != 0) abort();
      check_same(&a, &b);
      km_signed_request_free(&b);
    }
    km_signed_request_free(&a);
  }
  char *sts = km__acs_v1_string_to_sign(r.method, &p);
  free(sts);
  km_params_free(&p);
  free(s);
  return 0;
}
