/* libFuzzer target: the error parser (core/src/acs/error.c).  Input: two
 * bytes of HTTP status (big-endian, modulo 600; 0 lets the body's
 * HttpStatus count), then the reply body as received.  Both body shapes,
 * the echoed StringToSign and the retry classification of what was parsed
 * must hold up to any body; the error text must stay a terminated
 * string. */
#include <stdlib.h>
#include <string.h>

#include "acs/acs.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 2) return 0;
  long status = (long)(((unsigned)data[0] << 8 | data[1]) % 600);
  const char *body = (const char *)data + 2;
  size_t len = size - 2;
  km_err_t err;
  int rc = km_acs_parse_error(status, body, len, "kms.cn-hangzhou.aliyuncs.com",
                              &err);
  if (rc != KM_ETHROTTLED && rc != KM_ECLOUD) abort();
  if (memchr(err.text, 0, sizeof(err.text)) == NULL ||
      memchr(err.cloud_code, 0, sizeof(err.cloud_code)) == NULL ||
      memchr(err.request_id, 0, sizeof(err.request_id)) == NULL)
    abort();
  (void)km_acs_is_retryable(rc, err.http_status, err.cloud_code);
  (void)km_acs_parse_error(status, body, len, NULL, NULL);
  free(km__acs_server_sts(body, len));
  return 0;
}
