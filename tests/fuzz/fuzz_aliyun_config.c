/* libFuzzer target: the aliyun CLI config reader
 * (core/src/creds/aliyun_config.c, km__aliyun_profile_node) on any bytes
 * as ~/.aliyun/config.json: the current profile, a named one and a
 * chained one are resolved.  (That no secret reaches an error text is
 * tests/unit/test_creds.c's canary check: here a profile name may carry
 * any text, and errors rightly name the profile.) */
#include <stdlib.h>
#include <string.h>

#include "creds/creds_internal.h"
#include "fuzz.h"

static void resolve(const char *path, const char *profile) {
  km__cred_node_t *n = NULL;
  km_err_t err;
  memset(&err, 0, sizeof(err));
  if (km__aliyun_profile_node(path, profile, &n, &err) == 0)
    km__cred_node_free(n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *path = km_fuzz_write("config.json", data, size);
  resolve(path, NULL);
  resolve(path, "base");
  resolve(path, "chain");
  free(path);
  return 0;
}
