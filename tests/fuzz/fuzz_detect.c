/* libFuzzer target: the migrate stage's detection pages
 * (core/src/stages/migrate/detect.c, km__mig_detect_parse): ListKeys and
 * ListSecrets replies filtered on the destination instance.  Input: one
 * flags byte (bit 0: a ListSecrets page, bits 1-3: page number - 1), then
 * the reply body. */
#include <stdlib.h>

#include "fuzz.h"
#include "stages/migrate/migrate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  unsigned flags = data[0];
  int page = (int)((flags >> 1) & 7) + 1;
  json_t *body = json_loadb((const char *)data + 1, size - 1, 0, NULL);
  if (body == NULL) return 0;
  json_t *seen = json_object();
  const json_t *tc = json_object_get(body, "TotalCount");
  int64_t total = json_is_integer(tc) ? json_integer_value(tc) : -1;
  for (int p = page; p <= page + 1; p++) {
    size_t got = km__mig_detect_parse(body, (flags & 1) != 0, seen);
    km_err_t e;
    int more = kp_next_page("ListKeys", p, got, 100, -1, total, &e);
    if (more != 0 && more != 1 && more != KM_EPARSE) abort();
  }
  json_decref(seen);
  json_decref(body);
  return 0;
}
