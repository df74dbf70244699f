/* The plan an operator reads: one row per account and region sorted by
 * account then region, counts that match the rules' verdicts, the quota
 * arithmetic of each instance, every blocked resource with its fix, skipped
 * resources with their reason, a closing line with what `run` would change,
 * and the same bytes whatever order the pipelines finished discovery in.
 * Set KM_TEST_SHOW=1 to print the rendered plan. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "engine/plan_render.h"

#define NOW ((int64_t)1780272000) /* 2026-06-01T00:00:00Z */

/* The manifest's select: everything pending, keys and secrets. */
static const km_select_t all_pending = {.keys = KM_SEL_ALL_PENDING,
                                        .secrets = KM_SEL_ALL_PENDING};

static km_inv_t *pipeline(const char *account, const char *region,
                          const char *inst, km_inv_type_t type) {
  km_inv_t *inv = km_inv_new(account, "1234567890123456", region, inst);
  inv->select = &all_pending;
  inv->instance_type = type;
  km_inv_set(&inv->image_version, "2.9.3");
  inv->auto_renew = 1;
  inv->inst.present = true;
  km_inv_set(&inv->inst.instance_id, inst);
  km_inv_set(&inv->inst.status, "Connected");
  km_inv_set(&inv->inst.end_date, "2027-06-01T00:00:00Z");
  inv->inst.key_quota = 5000;
  inv->inst.key_used = 612;
  inv->inst.secret_quota = 5000;
  inv->inst.secret_used = 300;
  return inv;
}

static km_inv_key_t *key(km_inv_t *inv, const char *id, int versions) {
  km_inv_key_t *k = km_inv_add_key(inv, id);
  km_inv_set(&k->key_state, "Enabled");
  km_inv_set(&k->origin, "Aliyun_KMS");
  km_inv_set(&k->protection_level, "SOFTWARE");
  k->version_count = versions;
  return k;
}

static void secret(km_inv_t *inv, const char *name, const char *cmk) {
  km_inv_secret_t *s = km_inv_add_secret(inv, name);
  km_inv_set(&s->encryption_key_id, cmk);
}

typedef struct {
  km_inv_t *inv[3];
  km_quota_use_t *quota;
  size_t nquota;
} fleet_t;

static void fleet_init(fleet_t *f) {
  km_inv_t *pay = pipeline("payments", "cn-hangzhou", "kst-hzz6500a1b2c3d4e5f6",
                           KM_INV_TYPE_SOFTWARE);
  key(pay, "key-pay-1", 1);
  key(pay, "key-pay-2", 1);
  key(pay, "0b1f2c3d-e21a", 3);
  key(pay, "key-svc", 1)->creator = KM_CREATOR_SERVICE;
  secret(pay, "pay-db", "key-pay-1");
  secret(pay, "pay-api", NULL);

  km_inv_t *ord = pipeline("orders", "cn-hangzhou", "kst-hzz6500a1b2c3d4e5f6",
                           KM_INV_TYPE_SOFTWARE);
  key(ord, "key-ord-1", 1);
  km_inv_set(&key(ord, "key-ord-old", 1)->dkms_instance_id,
             "kst-hzz6500a1b2c3d4e5f6");
  secret(ord, "db-prod-password", "key-ord-1");
  km_inv_add_dest_secret(ord, "db-prod-password", "billing");

  km_inv_t *leg = pipeline("legacy", "cn-shanghai", "kst-shh6500f6e5d4c3b2a1",
                           KM_INV_TYPE_HARDWARE);
  leg->auto_renew = 0;
  km_inv_key_t *byok = key(leg, "key-byok", 1);
  km_inv_set(&byok->origin, "EXTERNAL");
  km_inv_set(&byok->protection_level, "HSM");
  secret(leg, "ops-token", NULL);

  f->inv[0] = pay;
  f->inv[1] = ord;
  f->inv[2] = leg;
  for (int i = 0; i < 3; i++)
    assert_int_equal(km_rules_eval(f->inv[i], NOW, NULL), 0);
  assert_int_equal(km_rules_quota(f->inv, 3, &f->quota, &f->nquota, NULL), 0);
}

static void fleet_free(fleet_t *f) {
  for (int i = 0; i < 3; i++)
    km_inv_free(f->inv[i]);
  km_quota_uses_free(f->quota, f->nquota);
}

static char *render(const fleet_t *f, km_inv_t *const *order) {
  static const char *const notes[] = {
      "default_instance chose kst-hzz6500a1b2c3d4e5f6 for cn-hangzhou (was: "
      "none)"};
  km_plan_t p = {"acme-prod-kms3",
                 "manifests/acme-prod.yaml",
                 order,
                 3,
                 f->quota,
                 f->nquota,
                 notes,
                 1};
  km_buf_t b;
  km_buf_init(&b);
  assert_int_equal(km_plan_render_text(&p, &b, NULL), 0);
  if (getenv("KM_TEST_SHOW")) fputs(b.data, stdout);
  return km_buf_steal(&b);
}

/* The line of the table for account, or fail. */
static const char *line_of(const char *text, const char *prefix) {
  const char *p = text;
  size_t n = strlen(prefix);
  while (p != NULL && *p) {
    if (strncmp(p, prefix, n) == 0) return p;
    p = strchr(p, '\n');
    if (p) p++;
  }
  fail_msg("no line starting with \"%s\" in:\n%s", prefix, text);
  return NULL;
}

static void expect_in_line(const char *line, const char *what) {
  const char *end = strchr(line, '\n');
  size_t len = end ? (size_t)(end - line) : strlen(line);
  char *l = km_xstrndup(line, len);
  if (strstr(l, what) == NULL) fail_msg("line \"%s\" lacks \"%s\"", l, what);
  free(l);
}

static void test_text_plan(void **st) {
  (void)st;
  fleet_t f;
  fleet_init(&f);
  char *t = render(&f, f.inv);
  assert_non_null(strstr(t, "acme-prod-kms3: 3 accounts, 2 regions, plan only "
                            "— nothing will be changed\n"));
  /* Sorted by account: legacy, orders, payments. */
  const char *hdr = line_of(t, "ACCOUNT ");
  const char *leg = line_of(t, "legacy ");
  const char *ord = line_of(t, "orders ");
  const char *pay = line_of(t, "payments ");
  assert_true(hdr < leg && leg < ord && ord < pay);
  expect_in_line(hdr, "KEYS pend/done/skip");
  expect_in_line(pay, "2 / 0 / 2");
  expect_in_line(pay, "2 / 0 / 0");
  expect_in_line(pay, "ready");
  expect_in_line(ord, "1 / 1 / 0");
  /* A blocked secret keeps itself out; the rest of orders still moves. */
  expect_in_line(ord, "ready, 1 blocked");
  expect_in_line(leg, "0 / 0 / 0");
  expect_in_line(leg, "ready");

  /* Quota arithmetic of the shared instance: 3 keys, 2 secrets this run
   * (the blocked secret of orders is not counted). */
  const char *hz = line_of(t, "  kst-hzz6500a1b2c3d4e5f6  cn-hangzhou");
  expect_in_line(hz, "keys 612 + 3 this run = 615 / 5,000");
  expect_in_line(hz, "secrets 300 + 2 = 302 / 5,000");
  expect_in_line(hz, "ok");
  expect_in_line(
      line_of(t, "    auto_renew is false for kst-shh6500f6e5d4c3b2a1"),
      "(warning)");

  expect_in_line(line_of(t, "  orders cn-hangzhou secret db-prod-password"),
                 "already exists in kst-hzz6500a1b2c3d4e5f6 (account billing); "
                 "rename one of them, then plan again");
  expect_in_line(line_of(t, "  payments cn-hangzhou key 0b1f2c3d-e21a"),
                 "3 key versions; the vendor migrates single-version keys "
                 "only");
  expect_in_line(line_of(t, "  payments cn-hangzhou: 1 service key"),
                 "Default Keys");
  line_of(t, "hooks");
  expect_in_line(line_of(t, "3 accounts ready, 0 blocked"),
                 "`kmsmig run manifests/acme-prod.yaml` would change 7 "
                 "resources in 3 accounts");

  /* Same text whatever order the pipelines come in. */
  km_inv_t *rev[] = {f.inv[2], f.inv[0], f.inv[1]};
  char *t2 = render(&f, rev);
  assert_string_equal(t, t2);
  free(t);
  free(t2);
  fleet_free(&f);
}

static void test_over_quota_and_empty(void **st) {
  (void)st;
  fleet_t f;
  fleet_init(&f);
  f.inv[0]->inst.key_used = 4999;
  km_quota_uses_free(f.quota, f.nquota);
  assert_int_equal(km_rules_quota(f.inv, 3, &f.quota, &f.nquota, NULL), 0);
  char *t = render(&f, f.inv);
  expect_in_line(line_of(t, "  kst-hzz6500a1b2c3d4e5f6  cn-hangzhou"),
                 "over quota");
  line_of(t, "    instance kst-hzz6500a1b2c3d4e5f6: this run moves 3 keys "
             "but only 1 of its 5000 key quota are free");
  line_of(t, "  payments cn-hangzhou: instance kst-hzz6500a1b2c3d4e5f6 has 1 "
             "blocking issue (see instances)");
  line_of(t, "1 account ready, 2 blocked");
  free(t);
  fleet_free(&f);

  km_plan_t p = {"empty", "m.yaml", NULL, 0, NULL, 0, NULL, 0};
  km_buf_t b;
  km_buf_init(&b);
  assert_int_equal(km_plan_render_text(&p, &b, NULL), 0);
  assert_non_null(strstr(b.data, "0 accounts ready, 0 blocked. Nothing to "
                                 "migrate."));
  km_buf_free(&b);
  assert_int_equal(km_plan_render_text(NULL, &b, NULL), KM_EINVAL);
}

/* A pipeline whose discovery failed is failed, with its cause, counted in
 * the closing line; its empty lists are not "nothing to do". */
static void test_failed_pipeline(void **st) {
  (void)st;
  km_inv_t *ok = pipeline("orders", "cn-hangzhou", "kst-hzz6500a1b2c3d4e5f6",
                          KM_INV_TYPE_SOFTWARE);
  km_inv_t *bad = pipeline("payments", "cn-hangzhou", "kst-hzz6500a1b2c3d4e5f6",
                           KM_INV_TYPE_SOFTWARE);
  km_inv_add_issue(bad, "pipeline.failed", KM_VERDICT_FAILED,
                   "discover failed: SignatureDoesNotMatch: ...; check the "
                   "AccessKey secret of account payments");
  km_inv_t *v[] = {ok, bad};
  km_plan_t p = {"f", "m.yaml", v, 2, NULL, 0, NULL, 0};
  km_buf_t b;
  km_buf_init(&b);
  assert_int_equal(km_plan_render_text(&p, &b, NULL), 0);
  assert_string_equal(km_plan_status(bad), "failed");
  assert_non_null(strstr(b.data, "failed (not planned"));
  assert_non_null(strstr(b.data, "  payments cn-hangzhou: discover failed: "));
  assert_non_null(strstr(b.data, "check the AccessKey secret of account "
                                 "payments"));
  assert_non_null(strstr(b.data, "0 blocked, 1 failed"));
  assert_null(strstr(b.data, "Nothing to migrate"));
  /* The row says failed, with "-" for the unknown counts. */
  const char *row = strstr(b.data, "\npayments ");
  assert_non_null(row);
  const char *eol = strchr(row + 1, '\n');
  char line[256];
  snprintf(line, sizeof(line), "%.*s", (int)(eol - row - 1), row + 1);
  assert_non_null(strstr(line, "failed"));
  assert_null(strstr(line, "nothing to do"));
  assert_non_null(strstr(line, " - "));
  km_buf_free(&b);
  json_t *j;
  assert_int_equal(km_plan_render_json(&p, &j, NULL), 0);
  assert_int_equal(json_integer_value(json_object_get(
                       json_object_get(j, "summary"), "accounts_failed")),
                   1);
  json_decref(j);
  km_inv_free(ok);
  km_inv_free(bad);
}

static void test_json_plan(void **st) {
  (void)st;
  fleet_t f;
  fleet_init(&f);
  km_plan_t p = {"acme-prod-kms3",
                 "manifests/acme-prod.yaml",
                 f.inv,
                 3,
                 f.quota,
                 f.nquota,
                 NULL,
                 0};
  json_t *j;
  assert_int_equal(km_plan_render_json(&p, &j, NULL), 0);
  json_t *sum = json_object_get(j, "summary");
  assert_int_equal(json_integer_value(json_object_get(sum, "accounts")), 3);
  assert_int_equal(json_integer_value(json_object_get(sum, "accounts_blocked")),
                   0);
  assert_int_equal(
      json_integer_value(json_object_get(sum, "resources_to_change")), 7);
  json_t *pl = json_object_get(j, "pipelines");
  assert_int_equal(json_array_size(pl), 3);
  assert_string_equal(
      json_string_value(json_object_get(json_array_get(pl, 0), "account")),
      "legacy");
  json_t *leg = json_array_get(pl, 0);
  assert_int_equal(json_integer_value(json_object_get(
                       json_object_get(leg, "keys"), "needs_byok")),
                   1);
  /* The BYOK key is batched with its pipeline's first batch. */
  json_t *b0 = json_array_get(json_object_get(leg, "batches"), 0);
  assert_string_equal(
      json_string_value(json_array_get(json_object_get(b0, "keys"), 0)),
      "key-byok");
  json_t *ord = json_array_get(pl, 1);
  assert_string_equal(json_string_value(json_object_get(ord, "status")),
                      "ready");
  json_t *r = json_array_get(json_object_get(ord, "resources"), 2);
  assert_string_equal(json_string_value(json_object_get(r, "id")),
                      "db-prod-password");
  assert_string_equal(json_string_value(json_object_get(r, "rule")),
                      "secret.duplicate_name");
  json_t *in = json_array_get(json_object_get(j, "instances"), 0);
  assert_int_equal(
      json_integer_value(json_object_get(json_object_get(in, "keys"), "add")),
      3);

  /* Deterministic JSON as well. */
  km_inv_t *rev[] = {f.inv[1], f.inv[2], f.inv[0]};
  p.invs = rev;
  json_t *j2;
  assert_int_equal(km_plan_render_json(&p, &j2, NULL), 0);
  char *a = json_dumps(j, JSON_SORT_KEYS), *b = json_dumps(j2, JSON_SORT_KEYS);
  assert_string_equal(a, b);
  free(a);
  free(b);
  json_decref(j);
  json_decref(j2);
  fleet_free(&f);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_text_plan),
      cmocka_unit_test(test_over_quota_and_empty),
      cmocka_unit_test(test_failed_pipeline),
      cmocka_unit_test(test_json_plan),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
