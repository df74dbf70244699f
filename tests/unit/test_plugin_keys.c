/* The `keys` stage (km_stage_keys), driven by the fake stage host
 * (tests/plugin/fakehost.h) on a typed model: discovery of several pages of
 * user and service keys into the model (aliases from ListAliases pages,
 * ListKeyVersions only for keys whose DescribeKey shows a rotation), a failing
 * call failing the stage with its Code and RequestId, rotation off journalled
 * BEFORE each call and only for rotation-Enabled keys that move, resume from a
 * journal of an earlier attempt (no second rotation_off, the journalled
 * interval restored), restore retries, and verification. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "../plugin/fakehost.c"
#include "model/inventory.h"
#include "stage/rotation.h"

/* Tries of a failed restore before giving up. */
#define RESTORE_ATTEMPTS KP_RESTORE_ATTEMPTS

typedef struct t_s {
  fh_t *fh;
} t_t;

static int setup(void **st) {
  t_t *t = calloc(1, sizeof(*t));
  t->fh = fh_new();
  *st = t;
  return 0;
}

static int teardown(void **st) {
  t_t *t = *st;
  fh_free(t->fh);
  free(t);
  return 0;
}

/* Starts a stage, delivers everything, checks the stage ended once. */
static int run_stage(t_t *t, km_stage_t s) {
  assert_int_equal(fh_start(t->fh, &km_stage_keys, s), 0);
  fh_drain(t->fh);
  assert_int_equal(fh_done_count(t->fh), 1);
  return fh_done_status(t->fh);
}

static const char *param(const char *const *params, size_t n, const char *k) {
  for (size_t i = 0; i < n; i++)
    if (strcmp(params[2 * i], k) == 0) return params[2 * i + 1];
  return NULL;
}

/* ---- generated cloud: 150 user keys, 3 service keys ---- */

#define NUSER 150
#define NSERVICE 3

static char *gen_list_keys(const char *action, const char *const *params,
                           size_t n, void *ud) {
  (void)action;
  (void)ud;
  int page = atoi(param(params, n, "PageNumber"));
  int size = atoi(param(params, n, "PageSize"));
  bool service = strstr(param(params, n, "Filters"), "Service") != NULL;
  int total = service ? NSERVICE : NUSER;
  json_t *arr = json_array();
  for (int i = (page - 1) * size; i < total && i < page * size; i++) {
    char id[32];
    snprintf(id, sizeof(id), service ? "key-s%d" : "key-u%03d", i);
    json_array_append_new(arr, json_pack("{s:s, s:s}", "KeyId", id, "KeyArn",
                                         "acs:kms:cn-hangzhou:1:key/x"));
  }
  json_t *b = json_pack("{s:{s:o}, s:i, s:i, s:i, s:s}", "Keys", "Key", arr,
                        "PageNumber", page, "PageSize", size, "TotalCount",
                        total, "RequestId", "RID-LIST");
  char *s = json_dumps(b, JSON_COMPACT);
  json_decref(b);
  return s;
}

static char *gen_describe(const char *action, const char *const *params,
                          size_t n, void *ud) {
  (void)action;
  (void)ud;
  const char *id = param(params, n, "KeyId");
  bool service = strncmp(id, "key-s", 5) == 0;
  int i = service ? 0 : atoi(id + 5);
  bool rot = !service && i < 10;
  /* Rotated (LastRotationDate after CreationDate): the rotating keys and
   * every third key, which has 2 versions (gen_versions). */
  bool rotated = !service && (rot || i % 3 == 0);
  return xprintf(
      "{\"KeyMetadata\":{\"KeyId\":\"%s\",\"KeySpec\":\"Aliyun_AES_256\","
      "\"KeyUsage\":\"ENCRYPT/DECRYPT\",\"Origin\":\"Aliyun_KMS\","
      "\"ProtectionLevel\":\"SOFTWARE\",\"KeyState\":\"Enabled\","
      "\"CreationDate\":\"2025-01-01T00:00:00Z\",\"LastRotationDate\":"
      "\"%s\",\"AutomaticRotation\":\"%s\"%s%s%s},\"RequestId\":\"RID-D\"}",
      id, rotated ? "2025-06-01T00:00:00Z" : "2025-01-01T00:00:00Z",
      rot ? "Enabled" : "Disabled",
      rot ? ",\"RotationInterval\":\"31536000s\"" : "",
      i == 5 ? ",\"DKMSInstanceId\":\"kst-hzz-other\"" : "",
      service ? ",\"CreatorType\":\"Service\"" : "");
}

static char *gen_versions(const char *action, const char *const *params,
                          size_t n, void *ud) {
  (void)action;
  (void)ud;
  const char *id = param(params, n, "KeyId");
  int v = atoi(id + 5) % 3 == 0 ? 2 : 1;
  return xprintf("{\"KeyVersions\":{\"KeyVersion\":[]},\"PageNumber\":1,"
                 "\"PageSize\":100,\"TotalCount\":%d,\"RequestId\":\"R\"}",
                 v);
}

/* ListAliases: alias/<id> for every user key, in pages. */
static char *gen_aliases(const char *action, const char *const *params,
                         size_t n, void *ud) {
  (void)action;
  (void)ud;
  int page = atoi(param(params, n, "PageNumber"));
  int size = atoi(param(params, n, "PageSize"));
  json_t *arr = json_array();
  for (int i = (page - 1) * size; i < NUSER && i < page * size; i++) {
    char id[32], alias[48];
    snprintf(id, sizeof(id), "key-u%03d", i);
    snprintf(alias, sizeof(alias), "alias/%s", id);
    json_array_append_new(
        arr, json_pack("{s:s, s:s}", "AliasName", alias, "KeyId", id));
  }
  json_t *b = json_pack("{s:{s:o}, s:i, s:i, s:i, s:s}", "Aliases", "Alias",
                        arr, "PageNumber", page, "PageSize", size, "TotalCount",
                        NUSER, "RequestId", "R");
  char *s = json_dumps(b, JSON_COMPACT);
  json_decref(b);
  return s;
}

static void cloud(fh_t *fh) {
  fh_generator(fh, "ListKeys", gen_list_keys, NULL);
  fh_generator(fh, "DescribeKey", gen_describe, NULL);
  fh_generator(fh, "ListKeyVersions", gen_versions, NULL);
  fh_generator(fh, "ListAliases", gen_aliases, NULL);
}

static void test_descriptor(void **st) {
  t_t *t = *st;
  assert_string_equal(km_stage_keys.name, "keys");
  assert_non_null(km_stage_keys.version);
  assert_int_equal(km_stage_keys.stages, KM_STAGE_BIT(KM_STAGE_DISCOVER) |
                                             KM_STAGE_BIT(KM_STAGE_PREPARE) |
                                             KM_STAGE_BIT(KM_STAGE_RESTORE) |
                                             KM_STAGE_BIT(KM_STAGE_VERIFY));
  /* A stage it does not provide is refused without ending anything. */
  assert_int_equal(fh_start(t->fh, &km_stage_keys, KM_STAGE_MIGRATE),
                   KM_ENOTSUP);
  assert_int_equal(fh_done_count(t->fh), 0);
  /* Built in: the run's provider list has it, before byok and migrate. */
  km_stages_t *set = km_stages_new();
  km_err_t err;
  assert_int_equal(km_stages_add_builtin(set, &err), 0);
  bool found = false;
  for (size_t i = 0; i < km_stages_count(set); i++) {
    void *state;
    found |= km_stages_at(set, i, &state) == &km_stage_keys;
  }
  assert_true(found);
  km_stages_free(set);
}

static void test_discover_pages(void **st) {
  t_t *t = *st;
  cloud(t->fh);
  assert_int_equal(run_stage(t, KM_STAGE_DISCOVER), 0);
  /* 2 user pages + 1 service page; 2 alias pages; a DescribeKey per key;
   * ListKeyVersions only for the 56 rotated user keys (every third of 150,
   * and 6 more of the 10 rotating ones). */
  assert_int_equal(fh_count(t->fh, "call ListKeys "), 3);
  assert_int_equal(fh_count(t->fh, "call ListAliases "), 2);
  assert_int_equal(fh_count(t->fh, "call ListAliasesByKeyId "), 0);
  assert_int_equal(fh_count(t->fh, "call DescribeKey "), NUSER + NSERVICE);
  assert_int_equal(fh_count(t->fh, "call ListKeyVersions "), 56);
  assert_int_equal(fh_find(t->fh, "call ListKeyVersions KeyId=key-u011&", 0),
                   -1);
  assert_true(fh_find(t->fh, "call ListKeyVersions KeyId=key-u004&", 0) >= 0);
  assert_true(fh_find(t->fh,
                      "call ListKeys PageNumber=1&PageSize=100&Filters=[{\""
                      "Key\":\"CreatorType\",\"Values\":[\"User\"]}]",
                      0) >= 0);
  /* Concurrent, and bounded. */
  assert_true(fh_max_inflight(t->fh) > 1);
  assert_true(fh_max_inflight(t->fh) <= 32);

  km_inv_t *inv = fh_inv(t->fh);
  assert_int_equal(inv->nkeys, NUSER + NSERVICE);
  size_t service = 0, rotating = 0, migrated = 0;
  for (size_t i = 0; i < inv->nkeys; i++) {
    service += inv->keys[i].creator == KM_CREATOR_SERVICE;
    rotating += inv->keys[i].automatic_rotation != NULL &&
                strcmp(inv->keys[i].automatic_rotation, "Enabled") == 0;
    migrated += inv->keys[i].dkms_instance_id != NULL;
  }
  assert_int_equal(service, NSERVICE);
  assert_int_equal(rotating, 10);
  assert_int_equal(migrated, 1);
  km_inv_key_t *k = km_inv_find_key(inv, "key-u003");
  assert_non_null(k);
  assert_int_equal(k->version_count, 2);
  assert_int_equal(k->aliases.n, 1);
  assert_string_equal(k->aliases.v[0], "alias/key-u003");
  assert_string_equal(k->rotation_interval, "31536000s");
  /* Proven single by DescribeKey; an alias from the second page. */
  k = km_inv_find_key(inv, "key-u149");
  assert_int_equal(k->version_count, 1);
  assert_int_equal(k->aliases.n, 1);
  assert_string_equal(k->aliases.v[0], "alias/key-u149");
  assert_int_equal(km_inv_find_key(inv, "key-u004")->version_count, 1);
  assert_string_equal(inv->account, "acct");
  assert_string_equal(inv->instance_id, "kst-hzz-dest");
  /* Sorted for deterministic plans. */
  assert_string_equal(inv->keys[0].key_id, "key-s0");
}

static void test_discover_failure(void **st) {
  t_t *t = *st;
  fh_error(t->fh, "DescribeKey", "KeyId=key-u007", 1, "Forbidden.NoPermission",
           "RID-7");
  cloud(t->fh);
  int rc = run_stage(t, KM_STAGE_DISCOVER);
  assert_true(rc < 0);
  const km_err_t *e = fh_done_err(t->fh);
  assert_string_equal(e->cloud_code, "Forbidden.NoPermission");
  assert_string_equal(e->request_id, "RID-7");
  assert_non_null(strstr(e->text, "key-u007"));
  /* No half inventory in the model. */
  assert_int_equal(fh_inv(t->fh)->nkeys, 0);
  /* Nothing new was sent once it failed: far fewer than every call. */
  assert_true(fh_count(t->fh, "call ") < 3 + 153 + 300);
}

/* ---- rotation ---- */

static void add_key(km_inv_t *inv, const char *id, km_verdict_t v,
                    km_creator_t c, const char *rot, const char *interval) {
  km_inv_key_t *k = km_inv_add_key(inv, id);
  k->creator = c;
  km_inv_set(&k->automatic_rotation, rot);
  km_inv_set(&k->rotation_interval, interval);
  km_inv_set(&k->key_state, "Enabled");
  km_inv_key_decide(k, v, "test", NULL);
}

/* The model the stage works on (inv stolen). */
static void set_doc(fh_t *fh, km_inv_t *inv) {
  fh_set_inv(fh, inv);
}

static km_inv_t *base_inv(void) {
  return km_inv_new("acct", "1234567890123456", "cn-hangzhou", "kst-hzz-dest");
}

static void test_prepare_journal_first(void **st) {
  t_t *t = *st;
  km_inv_t *inv = base_inv();
  add_key(inv, "key-1", KM_VERDICT_PENDING, KM_CREATOR_USER, "Enabled",
          "31536000s");
  add_key(inv, "key-2", KM_VERDICT_PENDING, KM_CREATOR_USER, "Disabled", NULL);
  add_key(inv, "key-3", KM_VERDICT_SKIPPED, KM_CREATOR_USER, "Enabled",
          "604800s");
  add_key(inv, "key-4", KM_VERDICT_NEEDS_BYOK, KM_CREATOR_USER, "Enabled",
          "604800s");
  add_key(inv, "key-5", KM_VERDICT_DONE, KM_CREATOR_USER, "Enabled", "604800s");
  add_key(inv, "key-s", KM_VERDICT_PENDING, KM_CREATOR_SERVICE, "Enabled",
          "604800s");
  set_doc(t->fh, inv);
  fh_answer(t->fh, "UpdateRotationPolicy", NULL, -1,
            "{\"RequestId\":\"R-OFF\"}");
  assert_int_equal(run_stage(t, KM_STAGE_PREPARE), 0);

  assert_int_equal(fh_count(t->fh, "call UpdateRotationPolicy"), 2);
  const char *ids[] = {"key-1", "key-4"};
  for (int i = 0; i < 2; i++) {
    char a[64], b[128], c[64];
    snprintf(a, sizeof(a), "journal rotation_off %s", ids[i]);
    snprintf(b, sizeof(b),
             "call UpdateRotationPolicy KeyId=%s&EnableAutomaticRotation=false",
             ids[i]);
    snprintf(c, sizeof(c), "journal rotation_off_done %s", ids[i]);
    long ja = fh_find(t->fh, a, 0), cb = fh_find(t->fh, b, 0),
         jc = fh_find(t->fh, c, 0);
    assert_true(ja >= 0);
    assert_true(cb > ja); /* journalled BEFORE the call */
    assert_true(jc > cb); /* done after it */
  }
  assert_int_equal(fh_njournal(t->fh), 4);
  json_t *rec = json_loads(fh_journal_at(t->fh, 0), 0, NULL);
  assert_string_equal(json_string_value(json_object_get(rec, "type")),
                      "rotation_off");
  assert_string_equal(json_string_value(json_object_get(rec, "kind")), "key");
  assert_string_equal(
      json_string_value(json_object_get(rec, "automatic_rotation")), "Enabled");
  const char *iv = json_string_value(json_object_get(rec, "rotation_interval"));
  const char *id = json_string_value(json_object_get(rec, "id"));
  assert_string_equal(iv, strcmp(id, "key-1") == 0 ? "31536000s" : "604800s");
  json_decref(rec);

  km_inv_t *after = fh_inv(t->fh);
  assert_true(km_inv_find_key(after, "key-1")->rotation_off);
  assert_true(km_inv_find_key(after, "key-4")->rotation_off);
  assert_false(km_inv_find_key(after, "key-3")->rotation_off);
}

static void test_prepare_failure(void **st) {
  t_t *t = *st;
  km_inv_t *inv = base_inv();
  add_key(inv, "key-1", KM_VERDICT_PENDING, KM_CREATOR_USER, "Enabled",
          "31536000s");
  set_doc(t->fh, inv);
  fh_error(t->fh, "UpdateRotationPolicy", NULL, -1, "Forbidden.NoPermission",
           "RID-X");
  assert_true(run_stage(t, KM_STAGE_PREPARE) < 0);
  assert_string_equal(fh_done_err(t->fh)->cloud_code, "Forbidden.NoPermission");
  assert_string_equal(fh_done_err(t->fh)->request_id, "RID-X");
  /* Journalled before: RESTORE will put it back whatever happened. */
  assert_true(fh_find(t->fh, "journal rotation_off key-1", 0) >= 0);
  assert_int_equal(fh_find(t->fh, "journal rotation_off_done", 0), -1);
  assert_true(fh_find(t->fh, "outcome key key-1 failed", 0) >= 0);
}

static void test_prepare_journal_error_stops(void **st) {
  t_t *t = *st;
  km_inv_t *inv = base_inv();
  add_key(inv, "key-1", KM_VERDICT_PENDING, KM_CREATOR_USER, "Enabled",
          "31536000s");
  set_doc(t->fh, inv);
  fh_journal_fail_at(t->fh, 0);
  assert_true(run_stage(t, KM_STAGE_PREPARE) < 0);
  /* No record, no change. */
  assert_int_equal(fh_count(t->fh, "call UpdateRotationPolicy"), 0);
  assert_int_equal(fh_done_err(t->fh)->code, KM_EJOURNAL);
}

#define SEED_OFF(id, iv)                                                       \
  "{\"type\":\"rotation_off\",\"kind\":\"key\",\"id\":\"" id "\","             \
  "\"automatic_rotation\":\"Enabled\",\"rotation_interval\":\"" iv "\","       \
  "\"account\":\"acct\",\"region\":\"cn-hangzhou\"}"

static void test_resume(void **st) {
  t_t *t = *st;
  /* Earlier attempt: key-1 turned off (done), key-7 journalled then killed
   * before the call, key-9 turned off and restored. */
  fh_seed_journal(t->fh, SEED_OFF("key-1", "31536000s"));
  fh_seed_journal(t->fh, "{\"type\":\"rotation_off_done\",\"kind\":\"key\","
                         "\"id\":\"key-1\",\"request_id\":\"R1\"}");
  fh_seed_journal(t->fh, SEED_OFF("key-7", "2592000s"));
  fh_seed_journal(t->fh, SEED_OFF("key-9", "604800s"));
  fh_seed_journal(t->fh, "{\"type\":\"rotation_restored\",\"kind\":\"key\","
                         "\"id\":\"key-9\",\"rotation_interval\":\"604800s\"}");
  km_inv_t *inv = base_inv();
  /* Discovery now: key-1 reads Disabled because we turned it off. */
  add_key(inv, "key-1", KM_VERDICT_PENDING, KM_CREATOR_USER, "Disabled", NULL);
  add_key(inv, "key-4", KM_VERDICT_PENDING, KM_CREATOR_USER, "Enabled",
          "604800s");
  add_key(inv, "key-7", KM_VERDICT_PENDING, KM_CREATOR_USER, "Enabled",
          "2592000s");
  add_key(inv, "key-9", KM_VERDICT_DONE, KM_CREATOR_USER, "Enabled", "604800s");
  set_doc(t->fh, inv);
  fh_answer(t->fh, "UpdateRotationPolicy", NULL, -1, "{\"RequestId\":\"R-U\"}");

  assert_int_equal(run_stage(t, KM_STAGE_PREPARE), 0);
  assert_int_equal(fh_find(t->fh, "journal rotation_off key-1", 0), -1);
  assert_int_equal(fh_find(t->fh, "journal rotation_off key-7", 0), -1);
  assert_true(fh_find(t->fh, "journal rotation_off key-4", 0) >= 0);
  /* key-7 may still be on: turned off again, without a second record. */
  assert_true(fh_find(t->fh, "call UpdateRotationPolicy KeyId=key-7", 0) >= 0);
  assert_int_equal(fh_find(t->fh, "call UpdateRotationPolicy KeyId=key-1", 0),
                   -1);
  km_inv_t *mid = fh_inv(t->fh);
  assert_true(km_inv_find_key(mid, "key-1")->rotation_off);

  /* RESTORE in the same process: the earlier attempt's records and this
   * attempt's (key-4), one list, each with its journalled interval. */
  fh_reset_log(t->fh);
  assert_int_equal(run_stage(t, KM_STAGE_RESTORE), 0);
  assert_int_equal(fh_count(t->fh, "call UpdateRotationPolicy"), 3);
  static const char *const want[][2] = {
      {"key-1", "31536000s"}, {"key-4", "604800s"}, {"key-7", "2592000s"}};
  for (int i = 0; i < 3; i++) {
    char c[160], j[64];
    snprintf(c, sizeof(c),
             "call UpdateRotationPolicy KeyId=%s&EnableAutomaticRotation=true&"
             "RotationInterval=%s",
             want[i][0], want[i][1]);
    snprintf(j, sizeof(j), "journal rotation_restored %s", want[i][0]);
    long ci = fh_find(t->fh, c, 0);
    assert_true(ci >= 0);
    assert_true(fh_find(t->fh, j, 0) > ci);
  }
  assert_int_equal(fh_find(t->fh, "call UpdateRotationPolicy KeyId=key-9", 0),
                   -1);
  km_inv_t *after = fh_inv(t->fh);
  assert_true(km_inv_find_key(after, "key-1")->rotation_restored);
  assert_true(km_inv_find_key(after, "key-4")->rotation_restored);

  /* A second RESTORE finds nothing left to do. */
  fh_reset_log(t->fh);
  assert_int_equal(run_stage(t, KM_STAGE_RESTORE), 0);
  assert_int_equal(fh_count(t->fh, "call "), 0);
}

static void test_restore_retries(void **st) {
  t_t *t = *st;
  fh_seed_journal(t->fh, SEED_OFF("key-1", "31536000s"));
  fh_error(t->fh, "UpdateRotationPolicy", NULL, 2, "Rejected.Throttling",
           "RID-T");
  fh_answer(t->fh, "UpdateRotationPolicy", NULL, -1, "{\"RequestId\":\"R\"}");
  /* An empty model: RESTORE works from the journal alone. */
  assert_int_equal(run_stage(t, KM_STAGE_RESTORE), 0);
  assert_int_equal(fh_count(t->fh, "call UpdateRotationPolicy"), 3);
  assert_int_equal(fh_count(t->fh, "timer "), 2);
  assert_true(fh_find(t->fh, "journal rotation_restored key-1", 0) >= 0);
}

static void test_restore_gives_up(void **st) {
  t_t *t = *st;
  fh_seed_journal(t->fh, SEED_OFF("key-1", "31536000s"));
  fh_seed_journal(t->fh, SEED_OFF("key-2", "604800s"));
  km_inv_t *inv = base_inv();
  add_key(inv, "key-1", KM_VERDICT_MIGRATED, KM_CREATOR_USER, "Disabled", NULL);
  add_key(inv, "key-2", KM_VERDICT_MIGRATED, KM_CREATOR_USER, "Disabled", NULL);
  set_doc(t->fh, inv);
  fh_error(t->fh, "UpdateRotationPolicy", "KeyId=key-1", -1,
           "Forbidden.NoPermission", "RID-P");
  fh_answer(t->fh, "UpdateRotationPolicy", NULL, -1, "{\"RequestId\":\"R\"}");
  assert_true(run_stage(t, KM_STAGE_RESTORE) < 0);
  assert_int_equal(fh_count(t->fh, "call UpdateRotationPolicy KeyId=key-1"),
                   RESTORE_ATTEMPTS);
  /* The other key is restored all the same. */
  assert_true(fh_find(t->fh, "journal rotation_restored key-2", 0) >= 0);
  const km_err_t *e = fh_done_err(t->fh);
  assert_string_equal(e->cloud_code, "Forbidden.NoPermission");
  assert_string_equal(e->request_id, "RID-P");
  assert_non_null(strstr(e->text, "key-1"));
  assert_int_equal(fh_noutcomes(t->fh), 1);
  const char *o = fh_outcome_at(t->fh, 0);
  assert_non_null(strstr(o, "key key-1 failed"));
  assert_non_null(strstr(o, "aliyun kms UpdateRotationPolicy --region "
                            "cn-hangzhou --KeyId key-1 "
                            "--EnableAutomaticRotation true "
                            "--RotationInterval 31536000s"));
  km_inv_t *after = fh_inv(t->fh);
  assert_true(km_inv_find_key(after, "key-1")->rotation_off);
  assert_false(km_inv_find_key(after, "key-1")->rotation_restored);
  assert_true(km_inv_find_key(after, "key-2")->rotation_restored);
}

/* ---- verify ---- */

#define POLICY                                                                 \
  "{\"Policy\":\"{\\\"Statement\\\":[{\\\"Action\\\":[\\\"kms:*\\\"],"         \
  "\\\"Effect\\\":\\\"Allow\\\"}],\\\"Version\\\":\\\"1\\\"}\","               \
  "\"RequestId\":\"R\"}"

#define F_DEST                                                                 \
  "Filters=[{\"Key\":\"DKMSInstanceId\",\"Values\":[\"kst-hzz-dest\"]}]"
#define F_SERVICE "Filters=[{\"Key\":\"CreatorType\",\"Values\":[\"Service\"]}]"

/* Keys in the destination now: the listing ListKeys answers on its
 * DKMSInstanceId filter. */
static void dest_listing(fh_t *fh, const char *ids_json) {
  char *b = xprintf("{\"Keys\":{\"Key\":%s},\"PageNumber\":1,\"PageSize\":"
                    "100,\"RequestId\":\"R\"}",
                    ids_json);
  fh_answer(fh, "ListKeys", F_DEST, -1, b);
  free(b);
}

static void verify_doc(fh_t *fh) {
  km_inv_t *inv = base_inv();
  add_key(inv, "key-1", KM_VERDICT_MIGRATED, KM_CREATOR_USER, "Disabled", NULL);
  add_key(inv, "key-2", KM_VERDICT_MIGRATED, KM_CREATOR_USER, "Disabled", NULL);
  add_key(inv, "key-3", KM_VERDICT_SKIPPED, KM_CREATOR_USER, "Disabled", NULL);
  add_key(inv, "key-s", KM_VERDICT_PENDING, KM_CREATOR_SERVICE, "Disabled",
          NULL);
  set_doc(fh, inv);
  fh_answer(fh, "DescribeKey", "KeyId=key-s", -1,
            "{\"KeyMetadata\":{\"KeyId\":\"key-s\",\"KeyState\":\"Enabled\","
            "\"CreatorType\":\"Service\"},\"RequestId\":\"R\"}");
  fh_answer(fh, "GetKeyPolicy", "PolicyName=default", -1, POLICY);
  fh_answer(fh, "ListKeys", F_SERVICE, -1,
            "{\"Keys\":{\"Key\":[{\"KeyId\":\"key-s\"}]},\"PageNumber\":1,"
            "\"PageSize\":100,\"TotalCount\":1,\"RequestId\":\"R\"}");
}

static void test_verify_missing_instance(void **st) {
  t_t *t = *st;
  dest_listing(t->fh, "[{\"KeyId\":\"key-1\"},{\"KeyId\":\"key-other\"}]");
  verify_doc(t->fh);
  assert_true(run_stage(t, KM_STAGE_VERIFY) < 0);
  assert_int_equal(fh_noutcomes(t->fh), 1);
  assert_non_null(strstr(fh_outcome_at(t->fh, 0), "key key-2 failed"));
  assert_non_null(strstr(fh_outcome_at(t->fh, 0),
                         "not listed by ListKeys with DKMSInstanceId "
                         "kst-hzz-dest"));
  assert_non_null(strstr(fh_done_err(t->fh)->text, "key-2"));
  /* One listing on the destination; no migrated key is described; skipped
   * keys are not verified; the service key is checked. */
  assert_true(
      fh_find(t->fh,
              "call ListKeys PageNumber=1&PageSize=100&Filters=[{\""
              "Key\":\"DKMSInstanceId\",\"Values\":[\"kst-hzz-dest\"]}]",
              0) >= 0);
  assert_int_equal(fh_count(t->fh, "call DescribeKey "), 1);
  assert_true(fh_find(t->fh, "call DescribeKey KeyId=key-s", 0) >= 0);
  assert_int_equal(fh_find(t->fh, "call GetKeyPolicy KeyId=key-3", 0), -1);
  km_inv_t *after = fh_inv(t->fh);
  assert_int_equal(km_inv_find_key(after, "key-2")->verdict, KM_VERDICT_FAILED);
  assert_int_equal(km_inv_find_key(after, "key-1")->verdict,
                   KM_VERDICT_MIGRATED);
}

static void test_verify_ok(void **st) {
  t_t *t = *st;
  dest_listing(t->fh, "[{\"KeyId\":\"key-1\"},{\"KeyId\":\"key-2\"}]");
  verify_doc(t->fh);
  assert_int_equal(run_stage(t, KM_STAGE_VERIFY), 0);
  assert_int_equal(fh_noutcomes(t->fh), 0);
  assert_int_equal(fh_count(t->fh, "call GetKeyPolicy"), 2);
  assert_true(km_inv_find_key(fh_inv(t->fh), "key-2")->verified);
}

/* A destination listing that fails proves nothing: the stage fails with
 * the call's error and no key is marked verified. */
static void test_verify_listing_fails(void **st) {
  t_t *t = *st;
  fh_error(t->fh, "ListKeys", F_DEST, -1, "Forbidden.NoPermission", "RID-L");
  verify_doc(t->fh);
  assert_true(run_stage(t, KM_STAGE_VERIFY) < 0);
  assert_string_equal(fh_done_err(t->fh)->cloud_code, "Forbidden.NoPermission");
  assert_false(km_inv_find_key(fh_inv(t->fh), "key-1")->verified);
  assert_false(km_inv_find_key(fh_inv(t->fh), "key-2")->verified);
}

/* One key's failed policy call fails that key only: the listing still
 * proves the other. */
static void test_verify_one_policy_fails(void **st) {
  t_t *t = *st;
  fh_error(t->fh, "GetKeyPolicy", "KeyId=key-1", -1, "InternalFailure",
           "RID-P");
  dest_listing(t->fh, "[{\"KeyId\":\"key-1\"},{\"KeyId\":\"key-2\"}]");
  verify_doc(t->fh);
  assert_true(run_stage(t, KM_STAGE_VERIFY) < 0);
  assert_int_equal(fh_noutcomes(t->fh), 1);
  assert_non_null(strstr(fh_outcome_at(t->fh, 0), "key key-1 failed"));
  assert_false(km_inv_find_key(fh_inv(t->fh), "key-1")->verified);
  assert_true(km_inv_find_key(fh_inv(t->fh), "key-2")->verified);
}

static void test_verify_service_key_gone(void **st) {
  t_t *t = *st;
  fh_answer(t->fh, "ListKeys", F_SERVICE, 1,
            "{\"Keys\":{\"Key\":[]},\"TotalCount\":0,\"RequestId\":\"R\"}");
  dest_listing(t->fh, "[{\"KeyId\":\"key-1\"},{\"KeyId\":\"key-2\"}]");
  verify_doc(t->fh);
  assert_true(run_stage(t, KM_STAGE_VERIFY) < 0);
  assert_int_equal(fh_noutcomes(t->fh), 1);
  assert_non_null(strstr(fh_outcome_at(t->fh, 0), "key key-s failed"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_descriptor, setup, teardown),
      cmocka_unit_test_setup_teardown(test_discover_pages, setup, teardown),
      cmocka_unit_test_setup_teardown(test_discover_failure, setup, teardown),
      cmocka_unit_test_setup_teardown(test_prepare_journal_first, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_prepare_failure, setup, teardown),
      cmocka_unit_test_setup_teardown(test_prepare_journal_error_stops, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_resume, setup, teardown),
      cmocka_unit_test_setup_teardown(test_restore_retries, setup, teardown),
      cmocka_unit_test_setup_teardown(test_restore_gives_up, setup, teardown),
      cmocka_unit_test_setup_teardown(test_verify_missing_instance, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_verify_ok, setup, teardown),
      cmocka_unit_test_setup_teardown(test_verify_listing_fails, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_verify_one_policy_fails, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_verify_service_key_gone, setup,
                                      teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
