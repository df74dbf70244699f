/* libFuzzer target: the resource directory listing's page parser
 * (core/src/run/directory.c, km_dir_parse_page) on any ListAccounts or
 * ListAccountsForParent reply.  Input: one flags byte (bits 0-2: page
 * number - 1, bit 3: filter on one included tag), then the reply body.
 * The same reply is fed as two pages, so members accumulate, each followed
 * by the paging decision (kp_next_page). */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "run/directory.h"
#include "stage/stage.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  unsigned flags = data[0];
  int page = (int)(flags & 7) + 1;
  json_t *body = json_loadb((const char *)data + 1, size - 1, 0, NULL);
  if (body == NULL) return 0;
  km_mf_kv_t tag = {.key = "env", .value = "prod"};
  km_mf_directory_t dir;
  memset(&dir, 0, sizeof(dir));
  dir.include_tags = &tag;
  dir.ninclude_tags = (flags & 8) ? 1 : 0;
  km_dir_members_t found = {0};
  /* Parsed twice, and the paging decision on what each page held. */
  const json_t *tc = json_object_get(body, "TotalCount");
  int64_t total = json_is_integer(tc) ? json_integer_value(tc) : -1;
  for (int p = page; p <= page + 1; p++) {
    size_t got = km_dir_parse_page(body, &dir, &found);
    km_err_t e;
    int more = kp_next_page("ListAccounts", p, got, 100, -1, total, &e);
    if (more != 0 && more != 1 && more != KM_EPARSE) abort();
  }
  for (size_t i = 0; i < found.n; i++)
    if (found.v[i].id == NULL) abort();
  km_dir_members_free(&found);
  json_decref(body);
  return 0;
}
