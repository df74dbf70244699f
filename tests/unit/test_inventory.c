/* The inventory and the API parsers: canned response bodies of every
 * discovery action (tests/data/api/) land in the fields an operator would
 * check, empty lists in both shapes are empty, malformed answers fail with
 * KM_EPARSE naming the field, the JSON form carries the API's names, and
 * the hash indexes find every resource of a large region. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "model/inventory.h"
#include "util/util.h"

static json_t *load(const char *name) {
  char path[512];
  snprintf(path, sizeof(path), "%s/data/api/%s", KM_TEST_DATA, name);
  json_error_t je;
  json_t *j = json_load_file(path, 0, &je);
  if (j == NULL) fail_msg("%s: %s", path, je.text);
  return j;
}

/* Parses one canned body with fn and returns its status. */
#define PARSE(call, file)                                                      \
  do {                                                                         \
    json_t *body_ = load(file);                                                \
    km_err_t e_;                                                               \
    int rc_ = (call);                                                          \
    if (rc_ != 0) fail_msg("%s: %s", file, e_.text);                           \
    json_decref(body_);                                                        \
  } while (0)

static km_inv_t *discover(void) {
  km_inv_t *inv = km_inv_new("payments", "1234567890123456", "cn-hangzhou",
                             "kst-hzz6500a1b2c3d4e5f6");
  km_inv_page_t pg;
  PARSE(km_inv_parse_list_keys(inv, body_, KM_CREATOR_USER, &pg, &e_),
        "list_keys_user.json");
  assert_int_equal(pg.items, 3);
  assert_int_equal(pg.total_count, 3);
  PARSE(km_inv_parse_list_keys(inv, body_, KM_CREATOR_SERVICE, NULL, &e_),
        "list_keys_service.json");
  PARSE(km_inv_parse_describe_key(inv, body_, &e_), "describe_key.json");
  PARSE(km_inv_parse_describe_key(inv, body_, &e_),
        "describe_key_migrated.json");
  PARSE(km_inv_parse_key_versions(inv, "key-hzz63a1b2c3d4e5f6g7h8", body_, NULL,
                                  &e_),
        "list_key_versions.json");
  PARSE(
      km_inv_parse_aliases(inv, "key-hzz63a1b2c3d4e5f6g7h8", body_, NULL, &e_),
      "list_aliases_by_key.json");
  PARSE(km_inv_parse_list_secrets(inv, body_, NULL, &e_), "list_secrets.json");
  PARSE(km_inv_parse_describe_secret(inv, body_, &e_), "describe_secret.json");
  PARSE(km_inv_parse_kms_instance(inv, body_, &e_), "get_kms_instance.json");
  PARSE(km_inv_parse_quota_infos(inv, body_, &e_),
        "get_kms_instance_quota_infos.json");
  PARSE(km_inv_parse_default_instance(inv, body_, &e_),
        "get_default_kms_instance.json");
  PARSE(km_inv_parse_dest_secrets(inv, body_, "billing", NULL, &e_),
        "list_secrets.json");
  return inv;
}

static void test_keys_from_canned_bodies(void **st) {
  (void)st;
  km_inv_t *inv = discover();
  assert_int_equal(inv->nkeys, 4);
  km_inv_key_t *k = km_inv_find_key(inv, "key-hzz63a1b2c3d4e5f6g7h8");
  assert_non_null(k);
  assert_string_equal(k->key_state, "Enabled");
  assert_string_equal(k->key_spec, "Aliyun_AES_256");
  assert_string_equal(k->origin, "Aliyun_KMS");
  assert_string_equal(k->protection_level, "SOFTWARE");
  assert_string_equal(k->automatic_rotation, "Enabled");
  assert_string_equal(k->rotation_interval, "31536000s");
  /* PrimaryKeyVersion, NextRotationDate and MaterialExpireTime are not
   * kept in the model. */
  assert_null(k->dkms_instance_id);
  /* TotalCount wins over the items of one page. */
  assert_int_equal(k->version_count, 3);
  assert_int_equal(k->aliases.n, 2);
  assert_int_equal(k->creator, KM_CREATOR_USER);
  /* Found by alias and by ARN too. */
  assert_ptr_equal(km_inv_find_key(inv, "alias/orders-db"), k);
  assert_ptr_equal(km_inv_find_key(inv,
                                   "acs:kms:cn-hangzhou:1234567890123456:key/"
                                   "key-hzz63a1b2c3d4e5f6g7h8"),
                   k);

  k = km_inv_find_key(inv, "0b1f2c3d-1111-4a4a-9e9e-00000000e21a");
  assert_string_equal(k->dkms_instance_id, "kst-hzz6500a1b2c3d4e5f6");
  assert_int_equal(k->version_count, -1);
  k = km_inv_find_key(inv, "a5c9e1d0-2222-4b4b-8f8f-0000000000aa");
  assert_int_equal(k->creator, KM_CREATOR_SERVICE);
  km_inv_free(inv);
}

static void test_secrets_instance_and_quota(void **st) {
  (void)st;
  km_inv_t *inv = discover();
  assert_int_equal(inv->nsecrets, 2);
  km_inv_secret_t *s = km_inv_find_secret(inv, "db-prod-password");
  assert_string_equal(s->secret_type, "Rds");
  assert_string_equal(s->encryption_key_id, "key-hzz63a1b2c3d4e5f6g7h8");
  assert_null(s->dkms_instance_id);
  assert_string_equal(s->rotation_interval, "604800s");
  assert_string_equal(km_inv_find_secret(inv, "ops-token")->secret_type,
                      "Generic");

  assert_true(inv->inst.present);
  assert_string_equal(inv->inst.status, "Connected");
  assert_string_equal(inv->inst.product_version, "3");
  assert_int_equal(inv->inst.key_num, 5000);
  /* SecretNum is a string in the API. */
  assert_int_equal(inv->inst.secret_num, 5000);
  assert_int_equal(inv->inst.spec, 1000);
  assert_int_equal(inv->inst.vpc_num, 50);
  assert_string_equal(inv->inst.end_date, "2027-01-01T00:00:00Z");
  assert_int_equal(inv->inst.key_quota, 5000);
  assert_int_equal(inv->inst.key_used, 612);
  assert_int_equal(inv->inst.secret_used, 300);
  assert_int_equal(inv->inst.vpc_used, 3);
  assert_string_equal(inv->default_instance_id, "kst-hzz6500a1b2c3d4e5f6");
  assert_int_equal(inv->ndest, 2);
  assert_string_equal(inv->dest_secrets[0].account, "billing");
  km_inv_free(inv);
}

static void test_empty_lists(void **st) {
  (void)st;
  km_inv_t *inv = km_inv_new("a", NULL, "cn-hangzhou", NULL);
  km_inv_page_t pg;
  PARSE(km_inv_parse_list_keys(inv, body_, KM_CREATOR_USER, &pg, &e_),
        "list_keys_empty.json");
  assert_int_equal(pg.items, 0);
  PARSE(km_inv_parse_list_keys(inv, body_, KM_CREATOR_USER, &pg, &e_),
        "list_keys_omitted.json");
  assert_int_equal(pg.items, 0);
  assert_int_equal(pg.total_count, 0);
  PARSE(km_inv_parse_list_secrets(inv, body_, &pg, &e_),
        "list_secrets_empty.json");
  assert_int_equal(inv->nkeys, 0);
  assert_int_equal(inv->nsecrets, 0);
  /* A single child converted from XML as an object is one item. */
  json_t *one = json_pack("{s:{s:{s:s}}}", "Keys", "Key", "KeyId", "key-1");
  assert_int_equal(
      km_inv_parse_list_keys(inv, one, KM_CREATOR_USER, NULL, NULL), 0);
  assert_int_equal(inv->nkeys, 1);
  json_decref(one);
  /* No quota list at all leaves the quota unknown. */
  json_t *q = json_pack("{s:s}", "RequestId", "x");
  assert_int_equal(km_inv_parse_quota_infos(inv, q, NULL), 0);
  assert_int_equal(inv->inst.key_quota, -1);
  json_decref(q);
  km_inv_free(inv);
}

static void test_malformed_names_the_field(void **st) {
  (void)st;
  km_inv_t *inv = km_inv_new("a", NULL, "cn-hangzhou", NULL);
  km_err_t e;
  json_t *b = load("list_keys_malformed.json");
  assert_int_equal(km_inv_parse_list_keys(inv, b, KM_CREATOR_USER, NULL, &e),
                   KM_EPARSE);
  assert_non_null(strstr(e.text, "ListKeys"));
  assert_non_null(strstr(e.text, "Keys"));
  json_decref(b);

  b = load("describe_key_bad_type.json");
  assert_int_equal(km_inv_parse_describe_key(inv, b, &e), KM_EPARSE);
  assert_non_null(strstr(e.text, "KeyState"));
  json_decref(b);

  b = json_pack("{s:{s:s, s:s}}", "KmsInstance", "InstanceId", "kst-1",
                "Status", "Connected");
  json_object_set_new(json_object_get(b, "KmsInstance"), "SecretNum",
                      json_string("lots"));
  assert_int_equal(km_inv_parse_kms_instance(inv, b, &e), KM_EPARSE);
  assert_non_null(strstr(e.text, "SecretNum"));
  assert_false(inv->inst.present);
  json_decref(b);

  b = json_pack("{s:[{s:i}]}", "KmsInstanceQuotaInfos", "ResourceQuota", 5);
  assert_int_equal(km_inv_parse_quota_infos(inv, b, &e), KM_EPARSE);
  assert_non_null(strstr(e.text, "ResourceType"));
  json_decref(b);

  b = json_pack("{s:s}", "RequestId", "x");
  assert_int_equal(km_inv_parse_describe_secret(inv, b, &e), KM_EPARSE);
  assert_non_null(strstr(e.text, "SecretName"));
  assert_int_equal(km_inv_parse_describe_key(inv, b, &e), KM_EPARSE);
  assert_non_null(strstr(e.text, "KeyMetadata"));
  json_decref(b);
  km_inv_free(inv);
}

/* The JSON form (report.json, the plan): the API's own field names, the
 * decision and the run outcome, and the selection the inventory borrows. */
static void test_json_form(void **st) {
  (void)st;
  km_inv_t *inv = discover();
  inv->instance_type = KM_INV_TYPE_SOFTWARE;
  km_inv_set(&inv->image_version, "2.9.3");
  inv->auto_renew = 0;
  km_select_t sel;
  memset(&sel, 0, sizeof(sel));
  sel.keys = KM_SEL_LIST;
  km_inv_strs_add(&sel.key_aliases, "alias/app-*");
  inv->select = &sel;
  km_inv_key_t *k = km_inv_find_key(inv, "key-hzz63a1b2c3d4e5f6g7h8");
  km_inv_key_decide(k, KM_VERDICT_FAILED, "key.pending", "failed to move");
  km_inv_set(&k->fail_code, "Forbidden.NoPermission");
  km_inv_set(&k->fail_request_id, "5E1C0000-AAAA");
  k->rotation_off = true;
  km_inv_add_issue(inv, "instance.auto_renew_off", KM_VERDICT_WARNING,
                   "auto_renew is false");
  km_inv_sort(inv);

  json_t *j = km_inv_to_json(inv);
  json_t *jk = json_array_get(json_object_get(j, "keys"), 2);
  assert_string_equal(json_string_value(json_object_get(jk, "KeyId")),
                      "key-hzz63a1b2c3d4e5f6g7h8");
  assert_string_equal(json_string_value(json_object_get(jk, "verdict")),
                      "failed");
  assert_int_equal(
      json_integer_value(json_object_get(
          json_object_get(json_object_get(j, "instance"), "key"), "used")),
      612);
  json_t *js = json_object_get(j, "select");
  assert_string_equal(json_string_value(json_object_get(js, "keys")), "list");
  assert_string_equal(
      json_string_value(json_array_get(json_object_get(js, "key_aliases"), 0)),
      "alias/app-*");
  assert_string_equal(json_string_value(json_object_get(js, "secrets")),
                      "unset");
  json_t *jd = json_object_get(j, "destination");
  assert_true(json_is_false(json_object_get(jd, "auto_renew")));
  assert_string_equal(json_string_value(json_object_get(jd, "image_version")),
                      "2.9.3");
  json_decref(j);

  /* No selection at all reads as unset (selects nothing). */
  inv->select = NULL;
  j = km_inv_to_json(inv);
  js = json_object_get(j, "select");
  assert_string_equal(json_string_value(json_object_get(js, "keys")), "unset");
  assert_string_equal(json_string_value(json_object_get(js, "secrets")),
                      "unset");
  json_decref(j);
  km_select_free(&sel);
  km_inv_free(inv);
}

/* The hash indexes: every key and secret of a large region is found by
 * KeyId, Arn, alias and name, as added and again after the sort reorders
 * the arrays; absent names stay absent. */
#define NBIG 5000

static void check_big(const km_inv_t *inv) {
  char id[64], arn[128], alias[64], name[64];
  for (int i = 0; i < NBIG; i++) {
    snprintf(id, sizeof(id), "key-%05d", (i * 7919) % NBIG);
    snprintf(arn, sizeof(arn), "acs:kms:cn-hangzhou:1234567890123456:key/%s",
             id);
    snprintf(name, sizeof(name), "secret-%05d", (i * 7919) % NBIG);
    const km_inv_key_t *k = km_inv_find_key(inv, id);
    if (k == NULL) fail_msg("key %s not found", id);
    assert_string_equal(k->key_id, id);
    assert_ptr_equal(km_inv_find_key(inv, arn), k);
    const km_inv_secret_t *s = km_inv_find_secret(inv, name);
    if (s == NULL) fail_msg("secret %s not found", name);
    assert_string_equal(s->secret_name, name);
  }
  /* Aliases: a sample (a linear scan by design). */
  for (int i = 0; i < NBIG; i += 499) {
    snprintf(id, sizeof(id), "key-%05d", i);
    snprintf(alias, sizeof(alias), "alias/app-%05d", i);
    const km_inv_key_t *k = km_inv_find_key(inv, alias);
    assert_non_null(k);
    assert_string_equal(k->key_id, id);
  }
  assert_null(km_inv_find_key(inv, "key-99999"));
  assert_null(km_inv_find_key(inv, "alias/nope"));
  /* An Arn of another account does not match the key of the same id. */
  assert_null(km_inv_find_key(
      inv, "acs:kms:cn-hangzhou:9999999999999999:key/key-00001"));
  assert_null(km_inv_find_key(inv, ""));
  assert_null(km_inv_find_key(inv, NULL));
  assert_null(km_inv_find_secret(inv, "secret-99999"));
  assert_null(km_inv_find_secret(inv, NULL));
}

static void test_index_many(void **st) {
  (void)st;
  km_inv_t *inv =
      km_inv_new("payments", "1234567890123456", "cn-hangzhou", "kst-x");
  /* Added in reverse order, so that the sort moves every element. */
  for (int i = NBIG - 1; i >= 0; i--) {
    char id[64], arn[128], alias[64], name[64];
    snprintf(id, sizeof(id), "key-%05d", i);
    snprintf(arn, sizeof(arn), "acs:kms:cn-hangzhou:1234567890123456:key/%s",
             id);
    snprintf(alias, sizeof(alias), "alias/app-%05d", i);
    snprintf(name, sizeof(name), "secret-%05d", i);
    km_inv_key_t *k = km_inv_add_key(inv, id);
    km_inv_set(&k->arn, arn);
    km_inv_strs_add(&k->aliases, alias);
    km_inv_add_secret(inv, name);
    /* Found at once, between adds. */
    assert_ptr_equal(km_inv_find_key(inv, id), &inv->keys[inv->nkeys - 1]);
  }
  /* Adding again finds the existing ones. */
  assert_ptr_equal(km_inv_add_key(inv, "key-00042"),
                   km_inv_find_key(inv, "key-00042"));
  assert_ptr_equal(km_inv_add_secret(inv, "secret-00042"),
                   km_inv_find_secret(inv, "secret-00042"));
  assert_int_equal(inv->nkeys, NBIG);
  assert_int_equal(inv->nsecrets, NBIG);
  check_big(inv);

  km_inv_sort(inv);
  assert_string_equal(inv->keys[0].key_id, "key-00000");
  assert_string_equal(inv->secrets[NBIG - 1].secret_name, "secret-04999");
  check_big(inv);
  /* The index points at the sorted positions. */
  assert_ptr_equal(km_inv_find_key(inv, "key-00123"), &inv->keys[123]);
  assert_ptr_equal(km_inv_find_secret(inv, "secret-00123"), &inv->secrets[123]);

  /* Adds after the sort are found too, and so are the old ones. */
  km_inv_add_key(inv, "key-new");
  km_inv_add_secret(inv, "secret-new");
  assert_non_null(km_inv_find_key(inv, "key-new"));
  assert_non_null(km_inv_find_secret(inv, "secret-new"));
  assert_ptr_equal(km_inv_find_key(inv, "key-04999"), &inv->keys[4999]);
  km_inv_free(inv);
}

static void test_verdict_names(void **st) {
  (void)st;
  for (int v = KM_VERDICT_PENDING; v <= KM_VERDICT_WARNING; v++) {
    km_verdict_t back;
    assert_int_equal(km_verdict_parse(km_verdict_name((km_verdict_t)v), &back),
                     0);
    assert_int_equal(back, v);
  }
  assert_true(km_verdict_moves(KM_VERDICT_NEEDS_BYOK));
  assert_false(km_verdict_moves(KM_VERDICT_DONE));
}

/* ListAliases items reach their keys when discovery attaches them, in
 * whatever order the pages and the key lists came; an alias of a key that
 * was not listed is dropped; an item without KeyId is a KM_EPARSE naming
 * the field and records nothing. */
static void test_list_aliases_attach(void **st) {
  (void)st;
  km_inv_t *inv = km_inv_new("a", "1234567890123456", "cn-hangzhou", NULL);
  km_err_t e;
  km_inv_page_t pg;
  json_t *b = json_loads(
      "{\"Aliases\":{\"Alias\":[{\"AliasName\":\"alias/x\",\"KeyId\":"
      "\"k1\"},{\"AliasName\":\"alias/y\",\"KeyId\":\"k2\"},"
      "{\"AliasName\":\"alias/z\",\"KeyId\":\"gone\"},{\"AliasName\":"
      "\"alias/w\",\"KeyId\":\"k1\"}]},\"PageNumber\":1,\"PageSize\":"
      "100,\"TotalCount\":4}",
      0, NULL);
  assert_int_equal(km_inv_parse_list_aliases(inv, b, &pg, &e), 0);
  json_decref(b);
  assert_int_equal(pg.items, 4);
  assert_int_equal(pg.total_count, 4);
  km_inv_add_key(inv, "k1");
  km_inv_add_key(inv, "k2");
  assert_int_equal(km_inv_attach_aliases(inv), 1); /* alias/z: key gone */
  assert_int_equal(inv->nalias_items, 0);
  const km_inv_key_t *k1 = km_inv_find_key(inv, "k1");
  assert_int_equal(k1->aliases.n, 2);
  assert_true(km_inv_strs_has(&k1->aliases, "alias/x"));
  assert_true(km_inv_strs_has(&k1->aliases, "alias/w"));
  assert_ptr_equal(km_inv_find_key(inv, "alias/y"), km_inv_find_key(inv, "k2"));
  b = json_loads("{\"Aliases\":{\"Alias\":[{\"AliasName\":\"alias/v\","
                 "\"KeyId\":\"k2\"},{\"AliasName\":\"alias/u\"}]}}",
                 0, NULL);
  assert_int_equal(km_inv_parse_list_aliases(inv, b, NULL, &e), KM_EPARSE);
  assert_non_null(strstr(e.text, "Aliases.Alias[].KeyId"));
  assert_int_equal(inv->nalias_items, 0);
  json_decref(b);
  km_inv_free(inv);
}

/* DescribeKey proves a single version only when LastRotationDate is the
 * CreationDate; a rotation, or a field missing, leaves the count unknown
 * for ListKeyVersions, and a known count is never lowered. */
static void test_single_version_proof(void **st) {
  (void)st;
  static const struct {
    const char *body;
    int want;
  } cases[] = {
      {"{\"KeyMetadata\":{\"KeyId\":\"k\",\"CreationDate\":"
       "\"2025-01-01T00:00:00Z\",\"LastRotationDate\":"
       "\"2025-01-01T00:00:00Z\"}}",
       1},
      {"{\"KeyMetadata\":{\"KeyId\":\"k\",\"CreationDate\":"
       "\"2025-01-01T00:00:00Z\",\"LastRotationDate\":"
       "\"2025-04-01T00:00:00Z\"}}",
       -1},
      {"{\"KeyMetadata\":{\"KeyId\":\"k\",\"CreationDate\":"
       "\"2025-01-01T00:00:00Z\"}}",
       -1},
      {"{\"KeyMetadata\":{\"KeyId\":\"k\",\"CreationDate\":\"\","
       "\"LastRotationDate\":\"\"}}",
       -1},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    km_inv_t *inv = km_inv_new("a", NULL, "cn-hangzhou", NULL);
    km_err_t e;
    json_t *b = json_loads(cases[i].body, 0, NULL);
    assert_non_null(b);
    assert_int_equal(km_inv_parse_describe_key(inv, b, &e), 0);
    assert_int_equal(km_inv_find_key(inv, "k")->version_count, cases[i].want);
    km_inv_find_key(inv, "k")->version_count = 3;
    assert_int_equal(km_inv_parse_describe_key(inv, b, &e), 0);
    assert_int_equal(km_inv_find_key(inv, "k")->version_count, 3);
    json_decref(b);
    km_inv_free(inv);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_keys_from_canned_bodies),
      cmocka_unit_test(test_secrets_instance_and_quota),
      cmocka_unit_test(test_empty_lists),
      cmocka_unit_test(test_malformed_names_the_field),
      cmocka_unit_test(test_json_form),
      cmocka_unit_test(test_index_many),
      cmocka_unit_test(test_verdict_names),
      cmocka_unit_test(test_list_aliases_attach),
      cmocka_unit_test(test_single_version_proof),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
