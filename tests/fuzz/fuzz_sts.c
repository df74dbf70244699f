/* libFuzzer target: the STS AssumeRole reply parser (core/src/creds/sts.c,
 * km__sts_parse) on any reply body.  A parsed reply has every credential
 * field; a refused one leaves nothing allocated. */
#include <stdlib.h>

#include "creds/creds_internal.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  json_t *body = json_loadb((const char *)data, size, 0, NULL);
  if (body == NULL) return 0;
  km__sts_creds_t c;
  km_err_t err;
  if (km__sts_parse(body, &c, &err) == 0) {
    if (c.ak_id == NULL || c.ak_secret == NULL || c.token == NULL) abort();
    km__sts_creds_clear(&c);
  } else if (c.ak_id != NULL || c.ak_secret != NULL || c.token != NULL) {
    abort();
  }
  json_decref(body);
  return 0;
}
