/* The `secrets` stage (km_stage_secrets), driven by the fake stage host
 * (tests/plugin/fakehost.h) on a typed model: discovery of several
 * ListSecrets pages plus a DescribeSecret per secret, a failing call
 * failing the stage with its Code and RequestId, rotation off journalled
 * before each UpdateSecretRotationPolicy and only for rotation-Enabled
 * secrets that move, restore of the journalled interval on resume, and
 * verification (instance, type, default policy). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "../plugin/fakehost.c"
#include "model/inventory.h"

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
  assert_int_equal(fh_start(t->fh, &km_stage_secrets, s), 0);
  fh_drain(t->fh);
  assert_int_equal(fh_done_count(t->fh), 1);
  return fh_done_status(t->fh);
}

static const char *param(const char *const *params, size_t n, const char *k) {
  for (size_t i = 0; i < n; i++)
    if (strcmp(params[2 * i], k) == 0) return params[2 * i + 1];
  return NULL;
}

/* ---- generated cloud: 130 secrets ---- */

#define NSECRETS 130

static char *gen_list(const char *action, const char *const *params, size_t n,
                      void *ud) {
  (void)action;
  (void)ud;
  int page = atoi(param(params, n, "PageNumber"));
  int size = atoi(param(params, n, "PageSize"));
  json_t *arr = json_array();
  for (int i = (page - 1) * size; i < NSECRETS && i < page * size; i++) {
    char name[32];
    snprintf(name, sizeof(name), "sec-%03d", i);
    json_array_append_new(arr,
                          json_pack("{s:s, s:s}", "SecretName", name,
                                    "SecretType", i % 2 ? "Rds" : "Generic"));
  }
  json_t *b = json_pack("{s:{s:o}, s:i, s:i, s:i, s:s}", "SecretList", "Secret",
                        arr, "PageNumber", page, "PageSize", size, "TotalCount",
                        NSECRETS, "RequestId", "RID-L");
  char *s = json_dumps(b, JSON_COMPACT);
  json_decref(b);
  return s;
}

static char *gen_describe(const char *action, const char *const *params,
                          size_t n, void *ud) {
  (void)action;
  (void)ud;
  const char *name = param(params, n, "SecretName");
  int i = atoi(name + 4);
  bool rds = i % 2 == 1;
  return xprintf("{\"SecretName\":\"%s\",\"SecretType\":\"%s\","
                 "\"EncryptionKeyId\":\"key-u%03d\",\"AutomaticRotation\":"
                 "\"%s\"%s%s,\"RequestId\":\"RID-D\"}",
                 name, rds ? "Rds" : "Generic", i % 7,
                 rds ? "Enabled" : "Disabled",
                 rds ? ",\"RotationInterval\":\"604800s\"" : "",
                 i == 4 ? ",\"DKMSInstanceId\":\"kst-hzz-other\"" : "");
}

static void test_descriptor(void **st) {
  t_t *t = *st;
  assert_string_equal(km_stage_secrets.name, "secrets");
  assert_non_null(km_stage_secrets.version);
  assert_int_equal(km_stage_secrets.stages, KM_STAGE_BIT(KM_STAGE_DISCOVER) |
                                                KM_STAGE_BIT(KM_STAGE_PREPARE) |
                                                KM_STAGE_BIT(KM_STAGE_RESTORE) |
                                                KM_STAGE_BIT(KM_STAGE_VERIFY));
  /* A stage it does not provide is refused without ending anything. */
  assert_int_equal(fh_start(t->fh, &km_stage_secrets, KM_STAGE_MIGRATE),
                   KM_ENOTSUP);
  assert_int_equal(fh_done_count(t->fh), 0);
}

static void test_discover_pages(void **st) {
  t_t *t = *st;
  fh_generator(t->fh, "ListSecrets", gen_list, NULL);
  fh_generator(t->fh, "DescribeSecret", gen_describe, NULL);
  assert_int_equal(run_stage(t, KM_STAGE_DISCOVER), 0);
  assert_int_equal(fh_count(t->fh, "call ListSecrets "), 2);
  assert_int_equal(fh_count(t->fh, "call DescribeSecret "), NSECRETS);
  assert_true(fh_max_inflight(t->fh) > 1);
  assert_true(fh_max_inflight(t->fh) <= 32);
  /* Metadata only: never a value. */
  assert_int_equal(fh_count(t->fh, "call GetSecretValue"), 0);
  km_inv_t *inv = fh_inv(t->fh);
  assert_int_equal(inv->nsecrets, NSECRETS);
  km_inv_secret_t *s = km_inv_find_secret(inv, "sec-003");
  assert_non_null(s);
  assert_string_equal(s->secret_type, "Rds");
  assert_string_equal(s->encryption_key_id, "key-u003");
  assert_string_equal(s->automatic_rotation, "Enabled");
  assert_string_equal(s->rotation_interval, "604800s");
  assert_string_equal(km_inv_find_secret(inv, "sec-004")->dkms_instance_id,
                      "kst-hzz-other");
}

static void test_discover_failure(void **st) {
  t_t *t = *st;
  fh_error(t->fh, "ListSecrets", "PageNumber=2", 1, "Rejected.Throttling",
           "RID-THR");
  fh_generator(t->fh, "ListSecrets", gen_list, NULL);
  fh_generator(t->fh, "DescribeSecret", gen_describe, NULL);
  assert_true(run_stage(t, KM_STAGE_DISCOVER) < 0);
  assert_string_equal(fh_done_err(t->fh)->cloud_code, "Rejected.Throttling");
  assert_string_equal(fh_done_err(t->fh)->request_id, "RID-THR");
  /* No half inventory in the model. */
  assert_int_equal(fh_inv(t->fh)->nsecrets, 0);
}

/* ---- rotation ---- */

static void add_secret(km_inv_t *inv, const char *name, km_verdict_t v,
                       const char *type, const char *rot, const char *iv) {
  km_inv_secret_t *s = km_inv_add_secret(inv, name);
  km_inv_set(&s->secret_type, type);
  km_inv_set(&s->automatic_rotation, rot);
  km_inv_set(&s->rotation_interval, iv);
  km_inv_secret_decide(s, v, "test", NULL);
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
  add_secret(inv, "db-a", KM_VERDICT_PENDING, "Rds", "Enabled", "604800s");
  add_secret(inv, "gen-b", KM_VERDICT_PENDING, "Generic", "Disabled", NULL);
  add_secret(inv, "ram-c", KM_VERDICT_SKIPPED, "RAMCredentials", "Enabled",
             "86400s");
  set_doc(t->fh, inv);
  fh_answer(t->fh, "UpdateSecretRotationPolicy", NULL, -1,
            "{\"RequestId\":\"R-OFF\"}");
  assert_int_equal(run_stage(t, KM_STAGE_PREPARE), 0);
  assert_int_equal(fh_count(t->fh, "call UpdateSecretRotationPolicy"), 1);
  long j = fh_find(t->fh, "journal rotation_off db-a", 0);
  long c = fh_find(t->fh,
                   "call UpdateSecretRotationPolicy SecretName=db-a&"
                   "EnableAutomaticRotation=false",
                   0);
  long d = fh_find(t->fh, "journal rotation_off_done db-a", 0);
  assert_true(j >= 0 && c > j && d > c);
  json_t *rec = json_loads(fh_journal_at(t->fh, 0), 0, NULL);
  assert_string_equal(json_string_value(json_object_get(rec, "kind")),
                      "secret");
  assert_string_equal(
      json_string_value(json_object_get(rec, "rotation_interval")), "604800s");
  json_decref(rec);
  km_inv_t *after = fh_inv(t->fh);
  assert_true(km_inv_find_secret(after, "db-a")->rotation_off);
  assert_false(km_inv_find_secret(after, "ram-c")->rotation_off);
}

static void test_resume_restore(void **st) {
  t_t *t = *st;
  fh_seed_journal(t->fh,
                  "{\"type\":\"rotation_off\",\"kind\":\"secret\",\"id\":"
                  "\"db-a\",\"automatic_rotation\":\"Enabled\","
                  "\"rotation_interval\":\"1209600s\"}");
  /* A key record of the same id is not ours. */
  fh_seed_journal(t->fh, "{\"type\":\"rotation_off\",\"kind\":\"key\",\"id\":"
                         "\"db-a\",\"automatic_rotation\":\"Enabled\","
                         "\"rotation_interval\":\"31536000s\"}");
  km_inv_t *inv = base_inv();
  add_secret(inv, "db-a", KM_VERDICT_PENDING, "Rds", "Disabled", NULL);
  set_doc(t->fh, inv);
  fh_error(t->fh, "UpdateSecretRotationPolicy", NULL, 1, "InternalFailure",
           "RID-I");
  fh_answer(t->fh, "UpdateSecretRotationPolicy", NULL, -1,
            "{\"RequestId\":\"R\"}");
  assert_int_equal(run_stage(t, KM_STAGE_PREPARE), 0);
  assert_int_equal(fh_count(t->fh, "journal "), 0);
  assert_int_equal(fh_count(t->fh, "call "), 0);

  fh_reset_log(t->fh);
  assert_int_equal(run_stage(t, KM_STAGE_RESTORE), 0);
  /* The journalled interval, not the current "Disabled"; one retry. */
  assert_int_equal(fh_count(t->fh,
                            "call UpdateSecretRotationPolicy SecretName=db-a&"
                            "EnableAutomaticRotation=true&RotationInterval="
                            "1209600s"),
                   2);
  assert_int_equal(fh_count(t->fh, "timer "), 1);
  assert_true(fh_find(t->fh, "journal rotation_restored db-a", 0) >= 0);
  km_inv_t *after = fh_inv(t->fh);
  assert_true(km_inv_find_secret(after, "db-a")->rotation_off);
  assert_true(km_inv_find_secret(after, "db-a")->rotation_restored);
}

/* ---- verify ---- */

#define POLICY                                                                 \
  "{\"Policy\":\"{\\\"Statement\\\":[{\\\"Action\\\":[\\\"kms:*\\\"],"         \
  "\\\"Effect\\\":\\\"Allow\\\"}],\\\"Version\\\":\\\"1\\\"}\","               \
  "\"RequestId\":\"R\"}"

static void test_verify(void **st) {
  t_t *t = *st;
  km_inv_t *inv = base_inv();
  add_secret(inv, "ok-1", KM_VERDICT_MIGRATED, "Rds", "Disabled", NULL);
  add_secret(inv, "gone-2", KM_VERDICT_MIGRATED, "Generic", "Disabled", NULL);
  add_secret(inv, "type-3", KM_VERDICT_MIGRATED, "ECS", "Disabled", NULL);
  add_secret(inv, "nopol-4", KM_VERDICT_MIGRATED, "Generic", "Disabled", NULL);
  add_secret(inv, "skip-5", KM_VERDICT_SKIPPED, "Generic", "Disabled", NULL);
  set_doc(t->fh, inv);
  /* The destination now, as ListSecrets lists it on its DKMSInstanceId
   * filter: gone-2 is not there, type-3 changed type; the list spells a
   * type in capitals (RDS), which is the same type. */
  fh_answer(t->fh, "ListSecrets",
            "Filters=[{\"Key\":\"DKMSInstanceId\",\"Values\":[\"kst-hzz-"
            "dest\"]}]",
            -1,
            "{\"SecretList\":{\"Secret\":[{\"SecretName\":\"ok-1\","
            "\"SecretType\":\"RDS\"},{\"SecretName\":\"type-3\","
            "\"SecretType\":\"Generic\"},{\"SecretName\":\"nopol-4\","
            "\"SecretType\":\"Generic\"}]},\"PageNumber\":1,\"PageSize\":100,"
            "\"TotalCount\":3,\"RequestId\":\"R\"}");
  fh_answer(t->fh, "GetSecretPolicy", "SecretName=nopol-4", -1,
            "{\"Policy\":\"\",\"RequestId\":\"R\"}");
  fh_answer(t->fh, "GetSecretPolicy", "PolicyName=default", -1, POLICY);
  assert_true(run_stage(t, KM_STAGE_VERIFY) < 0);
  assert_int_equal(fh_noutcomes(t->fh), 3);
  assert_true(fh_find(t->fh, "outcome secret gone-2 failed", 0) >= 0);
  assert_true(fh_find(t->fh, "outcome secret type-3 failed", 0) >= 0);
  assert_true(fh_find(t->fh, "outcome secret nopol-4 failed", 0) >= 0);
  /* One listing of the destination, no DescribeSecret; skipped secrets are
   * not verified. */
  assert_true(
      fh_find(t->fh,
              "call ListSecrets PageNumber=1&PageSize=100&Filters=[{\""
              "Key\":\"DKMSInstanceId\",\"Values\":[\"kst-hzz-dest\"]}]",
              0) >= 0);
  assert_int_equal(fh_count(t->fh, "call DescribeSecret "), 0);
  assert_int_equal(fh_find(t->fh, "call GetSecretPolicy SecretName=skip-5", 0),
                   -1);
  assert_non_null(strstr(fh_outcome_at(t->fh, 0), "not listed by ListSecrets"));
  const char *e = fh_done_err(t->fh)->text;
  assert_non_null(strstr(e, "3 secret(s)"));
  km_inv_t *after = fh_inv(t->fh);
  assert_int_equal(km_inv_find_secret(after, "ok-1")->verdict,
                   KM_VERDICT_MIGRATED);
  assert_int_equal(km_inv_find_secret(after, "type-3")->verdict,
                   KM_VERDICT_FAILED);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_descriptor, setup, teardown),
      cmocka_unit_test_setup_teardown(test_discover_pages, setup, teardown),
      cmocka_unit_test_setup_teardown(test_discover_failure, setup, teardown),
      cmocka_unit_test_setup_teardown(test_prepare_journal_first, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_resume_restore, setup, teardown),
      cmocka_unit_test_setup_teardown(test_verify, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
