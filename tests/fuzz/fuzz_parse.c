/* libFuzzer target: every API reply parser of the inventory
 * (core/src/model/parse.c, km_inv_parse_*).  An input is up to eight
 * replies fed to one inventory, as discovery does across calls: each is a
 * selector byte (which parser, modulo their number) followed by the JSON
 * text up to the next NUL byte.  tests/fuzz/corpus/parse holds kmsim's
 * replies in that format (tests/fuzz/make_corpus.py). */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "model/inventory.h"

enum {
  P_LIST_KEYS_USER,
  P_LIST_KEYS_SERVICE,
  P_DESCRIBE_KEY,
  P_KEY_VERSIONS,
  P_ALIASES,
  P_LIST_SECRETS,
  P_DESCRIBE_SECRET,
  P_DEST_SECRETS,
  P_KMS_INSTANCE,
  P_QUOTA_INFOS,
  P_DEFAULT_INSTANCE,
  P_LIST_ALIASES,
  P__COUNT
};

/* A key id the per-key parsers are given: the first key listed, as
 * discovery asks for the keys it listed, or one it never saw. */
static const char *some_key(const km_inv_t *inv) {
  return inv->nkeys > 0 && inv->keys[0].key_id != NULL ? inv->keys[0].key_id
                                                       : "key-unlisted";
}

static void parse_one(km_inv_t *inv, unsigned which, const json_t *body) {
  km_err_t err;
  km_inv_page_t page;
  switch (which % P__COUNT) {
  case P_LIST_KEYS_USER:
    (void)km_inv_parse_list_keys(inv, body, KM_CREATOR_USER, &page, &err);
    break;
  case P_LIST_KEYS_SERVICE:
    (void)km_inv_parse_list_keys(inv, body, KM_CREATOR_SERVICE, NULL, &err);
    break;
  case P_DESCRIBE_KEY:
    (void)km_inv_parse_describe_key(inv, body, &err);
    break;
  case P_KEY_VERSIONS:
    (void)km_inv_parse_key_versions(inv, some_key(inv), body, &page, &err);
    break;
  case P_ALIASES:
    (void)km_inv_parse_aliases(inv, some_key(inv), body, &page, &err);
    break;
  case P_LIST_SECRETS:
    (void)km_inv_parse_list_secrets(inv, body, &page, &err);
    break;
  case P_DESCRIBE_SECRET:
    (void)km_inv_parse_describe_secret(inv, body, &err);
    break;
  case P_DEST_SECRETS:
    (void)km_inv_parse_dest_secrets(inv, body, NULL, &page, &err);
    break;
  case P_KMS_INSTANCE:
    (void)km_inv_parse_kms_instance(inv, body, &err);
    break;
  case P_QUOTA_INFOS:
    (void)km_inv_parse_quota_infos(inv, body, &err);
    break;
  case P_DEFAULT_INSTANCE:
    (void)km_inv_parse_default_instance(inv, body, &err);
    break;
  default:
    (void)km_inv_parse_list_aliases(inv, body, &page, &err);
    break;
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  km_inv_t *inv =
      km_inv_new("fuzz", "1234567890123456", "cn-hangzhou", "kst-hzz0000");
  for (int n = 0; n < 8 && size > 0; n++) {
    unsigned which = data[0];
    data++, size--;
    const uint8_t *end = memchr(data, 0, size);
    size_t len = end != NULL ? (size_t)(end - data) : size;
    json_t *body = json_loadb((const char *)data, len, 0, NULL);
    if (body != NULL) parse_one(inv, which, body);
    json_decref(body);
    data += len, size -= len;
    if (size > 0) data++, size--; /* the NUL */
  }
  /* Discovery attaches the listed aliases; the plan and report serialise
   * what was parsed. */
  (void)km_inv_attach_aliases(inv);
  json_decref(km_inv_to_json(inv));
  km_inv_free(inv);
  return 0;
}
