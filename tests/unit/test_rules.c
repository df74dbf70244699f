/* The preflight rule table: each rule gives the verdict and the message an
 * operator reads (naming the resource and the fix), in table order; the
 * instance rules block or warn as documented; the quota check sums every
 * pipeline of one instance; and docs/rules.md lists every rule id. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "model/rules.h"
#include "util/util.h"

/* 2026-06-01T00:00:00Z: the clock of every test. */
#define NOW ((int64_t)1780272000)

/* The manifest's `keys: all-pending` and `secrets: all-pending`, which most
 * tests use (inventories borrow their selection). */
static const km_select_t all_pending = {.keys = KM_SEL_ALL_PENDING,
                                        .secrets = KM_SEL_ALL_PENDING};

static km_inv_t *mk(const char *region, km_inv_type_t type, const char *image) {
  km_inv_t *inv = km_inv_new("payments", "1234567890123456", region,
                             "kst-hzz6500a1b2c3d4e5f6");
  inv->select = &all_pending;
  inv->instance_type = type;
  km_inv_set(&inv->image_version, image);
  inv->auto_renew = 1;
  inv->inst.present = true;
  km_inv_set(&inv->inst.instance_id, "kst-hzz6500a1b2c3d4e5f6");
  km_inv_set(&inv->inst.status, "Connected");
  km_inv_set(&inv->inst.end_date, "2027-06-01T00:00:00Z");
  inv->inst.key_quota = 1000;
  inv->inst.key_used = 10;
  inv->inst.secret_quota = 1000;
  inv->inst.secret_used = 10;
  return inv;
}

static km_inv_t *healthy(void) {
  return mk("cn-hangzhou", KM_INV_TYPE_SOFTWARE, "2.9.3");
}

static km_inv_key_t *key(km_inv_t *inv, const char *id, const char *state,
                         const char *origin, const char *prot, int versions) {
  km_inv_key_t *k = km_inv_add_key(inv, id);
  km_inv_set(&k->key_state, state);
  km_inv_set(&k->origin, origin);
  km_inv_set(&k->protection_level, prot);
  k->version_count = versions;
  return k;
}

static km_inv_key_t *ukey(km_inv_t *inv, const char *id) {
  return key(inv, id, "Enabled", "Aliyun_KMS", "SOFTWARE", 1);
}

static km_inv_secret_t *secret(km_inv_t *inv, const char *name,
                               const char *cmk) {
  km_inv_secret_t *s = km_inv_add_secret(inv, name);
  km_inv_set(&s->encryption_key_id, cmk);
  km_inv_set(&s->secret_type, "Generic");
  return s;
}

static void eval(km_inv_t *inv) {
  km_err_t e;
  assert_int_equal(km_rules_eval(inv, NOW, &e), 0);
}

static void expect_key(const km_inv_t *inv, const char *id, km_verdict_t v,
                       const char *rule, const char *text) {
  const km_inv_key_t *k = km_inv_find_key(inv, id);
  assert_non_null(k);
  /* What every output prints: stored, or rebuilt from the rule. */
  char buf[KM_RULES_REASON_MAX];
  const char *why = km_rules_key_reason(inv, k, buf, sizeof(buf));
  assert_non_null(why);
  if (k->verdict != v || strcmp(k->rule, rule) != 0)
    fail_msg("key %s: got %s/%s (%s), want %s/%s", id,
             km_verdict_name(k->verdict), k->rule, why, km_verdict_name(v),
             rule);
  assert_non_null(strstr(why, id));
  if (text != NULL && strstr(why, text) == NULL)
    fail_msg("key %s: reason \"%s\" lacks \"%s\"", id, why, text);
}

static void expect_secret(const km_inv_t *inv, const char *name, km_verdict_t v,
                          const char *rule, const char *text) {
  const km_inv_secret_t *s = km_inv_find_secret(inv, name);
  assert_non_null(s);
  char buf[KM_RULES_REASON_MAX];
  const char *why = km_rules_secret_reason(inv, s, buf, sizeof(buf));
  assert_non_null(why);
  if (s->verdict != v || strcmp(s->rule, rule) != 0)
    fail_msg("secret %s: got %s/%s (%s), want %s/%s", name,
             km_verdict_name(s->verdict), s->rule, why, km_verdict_name(v),
             rule);
  if (text != NULL && strstr(why, text) == NULL)
    fail_msg("secret %s: reason \"%s\" lacks \"%s\"", name, why, text);
}

static const km_inv_issue_t *issue(const km_inv_t *inv, const char *rule) {
  for (size_t i = 0; i < inv->nissues; i++)
    if (strcmp(inv->issues[i].rule, rule) == 0) return &inv->issues[i];
  return NULL;
}

static void test_key_rules(void **st) {
  (void)st;
  km_inv_t *inv = healthy();
  km_inv_set(&ukey(inv, "key-done")->dkms_instance_id, "kst-other");
  ukey(inv, "key-svc")->creator = KM_CREATOR_SERVICE;
  km_inv_strs_add(&ukey(inv, "key-svc-alias")->aliases, "alias/acs/rds");
  km_inv_set(
      &key(inv, "key-del", "PendingDeletion", "Aliyun_KMS", "SOFTWARE", 1)
           ->delete_date,
      "2026-06-08T00:00:00Z");
  key(inv, "key-off", "Disabled", "Aliyun_KMS", "SOFTWARE", 1);
  key(inv, "key-imp", "PendingImport", "EXTERNAL", "SOFTWARE", 1);
  key(inv, "key-multi", "Enabled", "Aliyun_KMS", "SOFTWARE", 3);
  key(inv, "key-byok-sw", "Enabled", "EXTERNAL", "SOFTWARE", 1);
  key(inv, "key-byok-hsm", "Enabled", "EXTERNAL", "HSM", 1);
  ukey(inv, "key-ok");
  /* Version count not yet known is not a reason to skip. */
  key(inv, "key-unknown-versions", "Enabled", "Aliyun_KMS", "HSM", -1);
  eval(inv);

  expect_key(inv, "key-done", KM_VERDICT_DONE, "key.already_migrated",
             "kst-other");
  expect_key(inv, "key-svc", KM_VERDICT_SKIPPED, "key.service",
             "listed under Default Keys with usage Service Key");
  expect_key(inv, "key-svc-alias", KM_VERDICT_SKIPPED, "key.service", NULL);
  expect_key(inv, "key-del", KM_VERDICT_SKIPPED, "key.pending_deletion",
             "2026-06-08T00:00:00Z");
  expect_key(inv, "key-off", KM_VERDICT_SKIPPED, "key.disabled", "EnableKey");
  expect_key(inv, "key-imp", KM_VERDICT_SKIPPED, "key.pending_import",
             "import its material");
  expect_key(inv, "key-multi", KM_VERDICT_SKIPPED, "key.multi_version",
             "3 key versions; the vendor migrates single-version keys only");
  expect_key(inv, "key-byok-sw", KM_VERDICT_SKIPPED, "key.byok_software",
             "software-protected BYOK");
  /* HSM BYOK on a software destination cannot move. */
  expect_key(inv, "key-byok-hsm", KM_VERDICT_SKIPPED, "key.byok_destination",
             "hardware instance");
  expect_key(inv, "key-ok", KM_VERDICT_PENDING, "key.pending", NULL);
  expect_key(inv, "key-unknown-versions", KM_VERDICT_PENDING, "key.pending",
             NULL);
  /* Evaluation sorted the keys. */
  for (size_t i = 1; i < inv->nkeys; i++)
    assert_true(strcmp(inv->keys[i - 1].key_id, inv->keys[i].key_id) < 0);
  km_inv_free(inv);
}

static void test_hsm_byok_regions(void **st) {
  (void)st;
  static const struct {
    const char *region;
    km_inv_type_t type;
    km_verdict_t v;
    const char *rule;
  } cases[] = {
      {"cn-hangzhou", KM_INV_TYPE_HARDWARE, KM_VERDICT_NEEDS_BYOK,
       "key.byok_hsm"},
      {"cn-shanghai-finance-1", KM_INV_TYPE_HARDWARE, KM_VERDICT_NEEDS_BYOK,
       "key.byok_hsm"},
      {"cn-hongkong", KM_INV_TYPE_HARDWARE, KM_VERDICT_SKIPPED,
       "key.byok_region"},
      {"ap-southeast-1", KM_INV_TYPE_HARDWARE, KM_VERDICT_SKIPPED,
       "key.byok_region"},
      {"cn-beijing", KM_INV_TYPE_SOFTWARE, KM_VERDICT_SKIPPED,
       "key.byok_destination"},
  };
  for (size_t i = 0; i < KM_ARRAY_SIZE(cases); i++) {
    km_inv_t *inv = mk(cases[i].region, cases[i].type, "2.9.0");
    key(inv, "key-hsm", "Enabled", "EXTERNAL", "HSM", 1);
    eval(inv);
    expect_key(inv, "key-hsm", cases[i].v, cases[i].rule, NULL);
    km_inv_free(inv);
  }
  assert_true(km_region_is_mainland("cn-wulanchabu"));
  assert_false(km_region_is_mainland("cn-hongkong"));
  assert_false(km_region_is_mainland("eu-central-1"));
}

static void test_selection(void **st) {
  (void)st;
  km_inv_t *inv = healthy();
  km_select_t sel;
  memset(&sel, 0, sizeof(sel));
  inv->select = &sel;
  sel.keys = KM_SEL_LIST;
  km_inv_strs_add(&sel.key_aliases, "alias/app-*");
  km_inv_strs_add(&sel.key_ids, "key-by-id");
  km_inv_strs_add(&ukey(inv, "key-app")->aliases, "alias/app-orders");
  ukey(inv, "key-by-id");
  km_inv_strs_add(&ukey(inv, "key-other")->aliases, "alias/other");
  /* A selected key that cannot move reports why, not "not selected". */
  km_inv_strs_add(
      &key(inv, "key-other-multi", "Enabled", "Aliyun_KMS", "SOFTWARE", 2)
           ->aliases,
      "alias/zzz");
  sel.secrets = KM_SEL_LIST;
  km_inv_strs_add(&sel.secret_names, "db-*");
  secret(inv, "db-main", NULL);
  secret(inv, "web-token", NULL);
  eval(inv);
  expect_key(inv, "key-app", KM_VERDICT_PENDING, "key.pending", NULL);
  expect_key(inv, "key-by-id", KM_VERDICT_PENDING, "key.pending", NULL);
  expect_key(inv, "key-other", KM_VERDICT_SKIPPED, "key.not_selected",
             "select.keys");
  expect_key(inv, "key-other-multi", KM_VERDICT_SKIPPED, "key.multi_version",
             NULL);
  expect_secret(inv, "db-main", KM_VERDICT_PENDING, "secret.pending", NULL);
  expect_secret(inv, "web-token", KM_VERDICT_SKIPPED, "secret.not_selected",
                "select.secrets");
  sel.secrets = KM_SEL_NONE;
  eval(inv);
  expect_secret(inv, "db-main", KM_VERDICT_SKIPPED, "secret.not_selected",
                NULL);
  km_inv_free(inv);
  km_select_free(&sel);
}

/* A manifest that does not say what to select selects nothing (fail
 * closed): with no selection at all, and with one whose modes are unset,
 * every key and secret that would move is skipped with the selection_unset
 * rule, whose reason names the manifest field; nothing is pending. */
static void check_unset(km_inv_t *inv) {
  ukey(inv, "key-a");
  km_inv_strs_add(&ukey(inv, "key-b")->aliases, "alias/app-b");
  key(inv, "key-multi", "Enabled", "Aliyun_KMS", "SOFTWARE", 3);
  km_inv_set(&ukey(inv, "key-moved")->dkms_instance_id,
             "kst-hzz6500a1b2c3d4e5f6");
  secret(inv, "s-cmk", "key-a");
  secret(inv, "s-default", NULL);
  km_inv_set(&secret(inv, "s-done", NULL)->dkms_instance_id,
             "kst-hzz6500a1b2c3d4e5f6");
  eval(inv);
  expect_key(inv, "key-a", KM_VERDICT_SKIPPED, "key.selection_unset",
             "select.keys");
  expect_key(inv, "key-b", KM_VERDICT_SKIPPED, "key.selection_unset",
             "select.keys");
  /* A rule that says more about the key still comes first. */
  expect_key(inv, "key-multi", KM_VERDICT_SKIPPED, "key.multi_version", NULL);
  expect_key(inv, "key-moved", KM_VERDICT_DONE, "key.already_migrated", NULL);
  expect_secret(inv, "s-cmk", KM_VERDICT_SKIPPED, "secret.selection_unset",
                "select.secrets");
  expect_secret(inv, "s-default", KM_VERDICT_SKIPPED, "secret.selection_unset",
                "select.secrets");
  expect_secret(inv, "s-done", KM_VERDICT_DONE, "secret.already_migrated",
                NULL);
  km_inv_counts_t c;
  km_inv_count(inv, &c);
  assert_int_equal(c.keys[KM_VERDICT_PENDING], 0);
  assert_int_equal(c.keys[KM_VERDICT_NEEDS_BYOK], 0);
  assert_int_equal(c.secrets[KM_VERDICT_PENDING], 0);
  assert_int_equal(c.keys[KM_VERDICT_SKIPPED], 3);
  assert_int_equal(c.secrets[KM_VERDICT_SKIPPED], 2);
  /* Skipped, not blocked: the plan still runs and says why. */
  assert_int_equal(c.blocking, 0);
}

static void test_selection_unset(void **st) {
  (void)st;
  km_inv_t *inv = healthy();
  inv->select = NULL;
  check_unset(inv);
  km_inv_free(inv);

  static const km_select_t unset = {.keys = KM_SEL_UNSET,
                                    .secrets = KM_SEL_UNSET};
  inv = healthy();
  inv->select = &unset;
  check_unset(inv);
  km_inv_free(inv);

  /* Only the kind left unset is skipped. */
  static const km_select_t keys_only = {.keys = KM_SEL_ALL_PENDING,
                                        .secrets = KM_SEL_UNSET};
  inv = healthy();
  inv->select = &keys_only;
  ukey(inv, "key-a");
  secret(inv, "s-default", NULL);
  eval(inv);
  expect_key(inv, "key-a", KM_VERDICT_PENDING, "key.pending", NULL);
  expect_secret(inv, "s-default", KM_VERDICT_SKIPPED, "secret.selection_unset",
                "select.secrets");
  km_inv_free(inv);
}

static void test_secret_rules(void **st) {
  (void)st;
  km_inv_t *inv = healthy();
  km_select_t sel = {.keys = KM_SEL_LIST, .secrets = KM_SEL_ALL_PENDING};
  inv->select = &sel;
  km_inv_strs_add(&sel.key_ids, "key-sel");
  km_inv_strs_add(&sel.key_ids, "key-multi");
  ukey(inv, "key-sel");
  ukey(inv, "key-unsel");
  key(inv, "key-multi", "Enabled", "Aliyun_KMS", "SOFTWARE", 4);
  km_inv_set(&ukey(inv, "key-moved")->dkms_instance_id,
             "kst-hzz6500a1b2c3d4e5f6");
  ukey(inv, "key-svc")->creator = KM_CREATOR_SERVICE;

  secret(inv, "s-sel", "key-sel");
  secret(inv, "s-unsel", "key-unsel");
  secret(inv, "s-multi", "key-multi");
  secret(inv, "s-moved-cmk", "key-moved");
  secret(inv, "s-svc", "key-svc");
  secret(inv, "s-default", NULL);
  secret(inv, "s-ghost", "key-ghost");
  secret(inv, "db-prod-password", NULL);
  km_inv_set(&secret(inv, "s-done", "key-unsel")->dkms_instance_id,
             "kst-hzz6500a1b2c3d4e5f6");
  km_inv_add_dest_secret(inv, "db-prod-password", "billing");
  /* The migrated secret's own copy in the instance is not a duplicate. */
  km_inv_add_dest_secret(inv, "s-done", NULL);
  eval(inv);

  expect_secret(inv, "s-sel", KM_VERDICT_PENDING, "secret.pending", NULL);
  expect_secret(inv, "s-unsel", KM_VERDICT_BLOCKED, "secret.cmk_not_selected",
                "secret s-unsel is encrypted by key key-unsel, which is not "
                "migrated and not selected; add key-unsel to select.keys or "
                "migrate it first");
  expect_secret(inv, "s-multi", KM_VERDICT_BLOCKED, "secret.cmk_unmovable",
                "key.multi_version");
  expect_secret(inv, "s-moved-cmk", KM_VERDICT_PENDING, "secret.pending", NULL);
  expect_secret(inv, "s-svc", KM_VERDICT_PENDING, "secret.pending", NULL);
  expect_secret(inv, "s-default", KM_VERDICT_PENDING, "secret.pending", NULL);
  expect_secret(inv, "s-ghost", KM_VERDICT_BLOCKED, "secret.cmk_unknown",
                "key-ghost");
  expect_secret(inv, "db-prod-password", KM_VERDICT_BLOCKED,
                "secret.duplicate_name",
                "already exists in kst-hzz6500a1b2c3d4e5f6 (account billing); "
                "rename one of them, then plan again");
  expect_secret(inv, "s-done", KM_VERDICT_DONE, "secret.already_migrated",
                NULL);
  km_inv_counts_t c;
  km_inv_count(inv, &c);
  assert_int_equal(c.blocking, 4);
  km_inv_free(inv);
  km_select_free(&sel);
}

static void test_instance_rules(void **st) {
  (void)st;
  km_inv_t *inv = healthy();
  eval(inv);
  assert_int_equal(inv->nissues, 0);
  /* 2.10.0 is later than 2.9.0 (numeric, not text, comparison). */
  km_inv_set(&inv->image_version, "2.10.0");
  eval(inv);
  assert_int_equal(inv->nissues, 0);

  km_inv_set(&inv->image_version, "2.8.9");
  km_inv_set(&inv->inst.status, "Disconnected");
  inv->auto_renew = 0;
  km_inv_set(&inv->inst.end_date, "2026-06-15T00:00:00Z");
  eval(inv);
  const km_inv_issue_t *is = issue(inv, "instance.image_too_old");
  assert_non_null(is);
  assert_int_equal(is->verdict, KM_VERDICT_BLOCKED);
  assert_non_null(
      strstr(is->message,
             "upgrade the instance image to 2.9.0 or later in the console"));
  assert_non_null(strstr(is->message, "2.8.9"));
  is = issue(inv, "instance.not_enabled");
  assert_non_null(is);
  assert_non_null(strstr(is->message, "Disconnected"));
  is = issue(inv, "instance.expiring");
  assert_int_equal(is->verdict, KM_VERDICT_WARNING);
  assert_non_null(strstr(is->message, "in 14 days"));
  is = issue(inv, "instance.auto_renew_off");
  assert_int_equal(is->verdict, KM_VERDICT_WARNING);
  assert_non_null(strstr(is->message, "auto_renew is false"));
  /* Re-evaluating replaces the issues instead of adding to them. */
  size_t n = inv->nissues;
  eval(inv);
  assert_int_equal(inv->nissues, n);

  km_inv_set(&inv->inst.end_date, "2026-05-01T00:00:00Z");
  inv->auto_renew = -1;
  km_inv_set(&inv->image_version, NULL);
  eval(inv);
  assert_int_equal(issue(inv, "instance.expired")->verdict, KM_VERDICT_BLOCKED);
  assert_null(issue(inv, "instance.expiring"));
  assert_int_equal(issue(inv, "instance.auto_renew_unknown")->verdict,
                   KM_VERDICT_WARNING);
  assert_non_null(strstr(issue(inv, "instance.image_unknown")->message,
                         "instances.cn-hangzhou.image_version"));

  km_inv_set(&inv->image_version, "2.9.x");
  eval(inv);
  assert_non_null(issue(inv, "instance.image_invalid"));
  km_inv_free(inv);

  inv = mk("cn-shanghai", KM_INV_TYPE_HARDWARE, NULL);
  eval(inv);
  is = issue(inv, "instance.hardware_image");
  assert_non_null(is);
  assert_non_null(strstr(is->message,
                         "contact Alibaba Cloud support to upgrade the "
                         "hardware instance image, then set image_version in "
                         "the manifest"));
  /* An operator-confirmed hardware image is accepted as is. */
  km_inv_set(&inv->image_version, "1.4.0");
  eval(inv);
  assert_int_equal(inv->nissues, 0);
  inv->instance_type = KM_INV_TYPE_UNKNOWN;
  inv->inst.present = false;
  eval(inv);
  assert_non_null(issue(inv, "instance.type_unknown"));
  assert_non_null(strstr(issue(inv, "instance.not_found")->message,
                         "kst-hzz6500a1b2c3d4e5f6"));
  km_inv_set(&inv->instance_id, NULL);
  eval(inv);
  assert_non_null(strstr(issue(inv, "instance.not_configured")->message,
                         "instances.cn-shanghai.id"));
  km_inv_free(inv);

  assert_false(km_rules_eval(NULL, NOW, NULL) == 0);
}

static void test_quota_across_pipelines(void **st) {
  (void)st;
  km_inv_t *a = healthy(), *b = healthy(), *c = healthy();
  km_inv_set(&b->account, "orders");
  km_inv_set(&c->account, "legacy");
  km_inv_set(&c->instance_id, "kst-shh6500f6e5d4c3b2a1");
  km_inv_set(&c->region, "cn-shanghai");
  a->inst.key_quota = 100;
  a->inst.key_used = 90;
  /* b did not read the quota (shared instance): a's answer is used. */
  b->inst.key_quota = b->inst.key_used = -1;
  char id[32];
  for (int i = 0; i < 6; i++) {
    snprintf(id, sizeof(id), "key-a%d", i);
    ukey(a, id);
    snprintf(id, sizeof(id), "key-b%d", i);
    ukey(b, id);
    snprintf(id, sizeof(id), "key-c%d", i);
    ukey(c, id);
  }
  secret(c, "c-secret", NULL);
  km_inv_set(&ukey(a, "key-a-done")->dkms_instance_id, "kst-x");
  eval(a);
  eval(b);
  eval(c);
  km_inv_t *all[] = {c, b, a};
  km_quota_use_t *u;
  size_t nu;
  assert_int_equal(km_rules_quota(all, 3, &u, &nu, NULL), 0);
  assert_int_equal(nu, 2);
  assert_string_equal(u[0].instance_id, "kst-hzz6500a1b2c3d4e5f6");
  assert_int_equal(u[0].pipelines, 2);
  assert_int_equal(u[0].key_add, 12);
  assert_int_equal(u[0].key_used, 90);
  assert_int_equal(u[0].key_quota, 100);
  assert_false(u[0].keys_ok);
  assert_true(u[0].secrets_ok);
  assert_true(u[1].keys_ok);
  assert_int_equal(u[1].secret_add, 1);
  const km_inv_issue_t *is = issue(a, "instance.quota_keys");
  assert_non_null(is);
  assert_int_equal(is->verdict, KM_VERDICT_BLOCKED);
  assert_non_null(strstr(is->message, "moves 12 keys but only 10 of its 100"));
  assert_non_null(issue(b, "instance.quota_keys"));
  assert_null(issue(c, "instance.quota_keys"));
  km_quota_uses_free(u, nu);

  /* Fixing the quota and checking again clears the issue. */
  a->inst.key_quota = 200;
  assert_int_equal(km_rules_quota(all, 3, &u, &nu, NULL), 0);
  assert_null(issue(a, "instance.quota_keys"));
  km_quota_uses_free(u, nu);

  /* Unknown quota blocks only pipelines that move something. */
  c->inst.secret_quota = -1;
  assert_int_equal(km_rules_quota(&c, 1, &u, &nu, NULL), 0);
  assert_non_null(issue(c, "instance.quota_unknown"));
  km_quota_uses_free(u, nu);
  km_inv_free(a);
  km_inv_free(b);
  km_inv_free(c);
}

static void test_messages_fully_expanded(void **st) {
  (void)st;
  km_inv_t *inv = mk("cn-hongkong", KM_INV_TYPE_HARDWARE, NULL);
  inv->auto_renew = 0;
  km_inv_set(&inv->inst.end_date, "2026-06-10T00:00:00Z");
  key(inv, "k1", "Enabled", "EXTERNAL", "HSM", 1);
  key(inv, "k2", "PendingDeletion", "Aliyun_KMS", "SOFTWARE", 1);
  key(inv, "k3", "Enabled", "Aliyun_KMS", "SOFTWARE", 2);
  secret(inv, "s1", "k1");
  secret(inv, "s2", "k3");
  eval(inv);
  char buf[KM_RULES_REASON_MAX];
  for (size_t i = 0; i < inv->nkeys; i++) {
    const char *why = km_rules_key_reason(inv, &inv->keys[i], buf, sizeof(buf));
    if (why == NULL || strchr(why, '{')) fail_msg("unexpanded: %s", why);
  }
  for (size_t i = 0; i < inv->nsecrets; i++) {
    const char *why =
        km_rules_secret_reason(inv, &inv->secrets[i], buf, sizeof(buf));
    if (why == NULL || strchr(why, '{')) fail_msg("unexpanded: %s", why);
  }
  for (size_t i = 0; i < inv->nissues; i++)
    if (strchr(inv->issues[i].message, '{'))
      fail_msg("unexpanded: %s", inv->issues[i].message);
  km_inv_free(inv);
}

/* The common verdicts keep no text per resource (10,000 models wait at the
 * barrier): it is rebuilt from the rule; a later decision by a stage is
 * never read as the rule's text. */
static void test_reasons_rebuilt(void **st) {
  (void)st;
  km_inv_t *inv = healthy();
  ukey(inv, "key-ok");
  key(inv, "key-del", "PendingDeletion", "Aliyun_KMS", "SOFTWARE", 1);
  eval(inv);
  km_inv_key_t *ok = km_inv_find_key(inv, "key-ok");
  km_inv_key_t *del = km_inv_find_key(inv, "key-del");
  assert_null(ok->reason);
  assert_non_null(del->reason); /* names DeleteDate: kept */
  char buf[KM_RULES_REASON_MAX];
  assert_string_equal(km_rules_key_reason(inv, ok, buf, sizeof(buf)),
                      "key key-ok will be migrated to kst-hzz6500a1b2c3d4e5f6");
  km_inv_key_decide(ok, KM_VERDICT_MIGRATED, "run.migrated", NULL);
  assert_null(km_rules_key_reason(inv, ok, buf, sizeof(buf)));
  km_inv_key_decide(ok, KM_VERDICT_FAILED, "key.pending", NULL);
  assert_null(km_rules_key_reason(inv, ok, buf, sizeof(buf)));
  km_inv_free(inv);
}

/* A Disconnected instance: its quota cannot be read, and the pipeline is
 * blocked by instance.not_enabled with the fix, not by "quota unknown". */
static void test_disconnected_instance(void **st) {
  (void)st;
  km_inv_t *inv = healthy();
  km_inv_set(&inv->inst.status, "Disconnected");
  inv->inst.key_quota = inv->inst.key_used = -1;
  inv->inst.secret_quota = inv->inst.secret_used = -1;
  ukey(inv, "1234abcd-12ab-34cd-56ef-1234567890ab");
  eval(inv);
  const km_inv_issue_t *is = issue(inv, "instance.not_enabled");
  assert_non_null(is);
  assert_int_equal(is->verdict, KM_VERDICT_BLOCKED);
  assert_non_null(strstr(is->message, "is Disconnected, not Connected; "
                                      "enable it in the console"));
  km_quota_use_t *u;
  size_t nu;
  assert_int_equal(km_rules_quota(&inv, 1, &u, &nu, NULL), 0);
  assert_null(issue(inv, "instance.quota_unknown"));
  km_quota_uses_free(u, nu);
  /* The same unknown quota on a Connected instance still blocks. */
  km_inv_set(&inv->inst.status, "Connected");
  eval(inv);
  assert_int_equal(km_rules_quota(&inv, 1, &u, &nu, NULL), 0);
  assert_non_null(issue(inv, "instance.quota_unknown"));
  km_quota_uses_free(u, nu);
  km_inv_free(inv);
}

/* The console task rules: facts from outside the inventory, expanded with
 * the pipeline's placeholders; only instance rules can be added so. */
static void test_task_rules(void **st) {
  (void)st;
  km_inv_t *inv = healthy();
  eval(inv);
  const char *extra[] = {"task", "mt-0001", "task_status", "Scheduled"};
  assert_int_equal(
      km_rules_issue(inv, "instance.task_in_region", extra, 2, NULL), 0);
  const km_inv_issue_t *is = issue(inv, "instance.task_in_region");
  assert_non_null(is);
  assert_int_equal(is->verdict, KM_VERDICT_BLOCKED);
  assert_string_equal(is->message,
                      "migration task mt-0001 (Scheduled) is already in the "
                      "console of account payments in cn-hangzhou, and the "
                      "console runs one task at a time; wait until it has "
                      "ended (Migration Tool, task status), then plan again");
  assert_int_equal(
      km_rules_issue(inv, "instance.task_unverified", NULL, 0, NULL), 0);
  is = issue(inv, "instance.task_unverified");
  assert_non_null(is);
  assert_int_equal(is->verdict, KM_VERDICT_WARNING);
  assert_non_null(strstr(is->message, "Migration Tool of account payments "
                                      "in cn-hangzhou shows no task"));
  /* A server's text reaches the message without control characters. */
  const char *evil[] = {"task", "mt-\x1b[31mx", "task_status", "Running"};
  km_inv_clear_issues(inv, "instance.task_in_region");
  assert_int_equal(
      km_rules_issue(inv, "instance.task_in_region", evil, 2, NULL), 0);
  is = issue(inv, "instance.task_in_region");
  assert_non_null(is);
  assert_null(strchr(is->message, '\x1b'));
  assert_non_null(strstr(is->message, "mt-?[31mx (Running)"));
  km_err_t e;
  assert_int_equal(km_rules_issue(inv, "key.pending", NULL, 0, &e), KM_EINVAL);
  assert_int_equal(km_rules_issue(inv, "no.such.rule", NULL, 0, &e), KM_EINVAL);
  /* A new evaluation starts from the table again. */
  eval(inv);
  assert_null(issue(inv, "instance.task_in_region"));
  km_inv_free(inv);
}

/* Rotation that the destination would refuse: a hardware instance, a key
 * interval outside 7-365 days, a secret interval under 168 h: blocked (left
 * in KMS 1.0, rotation untouched); one the instance accepts still moves. */
static void rot(km_inv_key_t *k, const char *state, const char *iv) {
  km_inv_set(&k->automatic_rotation, state);
  km_inv_set(&k->rotation_interval, iv);
}

static void test_rotation_restorable(void **st) {
  (void)st;
  km_inv_t *inv = healthy();
  rot(ukey(inv, "k-ok"), "Enabled", "31536000s");     /* 365 d */
  rot(ukey(inv, "k-long"), "Enabled", "63072000s");   /* 730 d */
  rot(ukey(inv, "k-unread"), "Enabled", "a year");    /* cannot be read */
  rot(ukey(inv, "k-off"), "Disabled", "63072000s");   /* nothing to restore */
  km_inv_secret_t *s1 = secret(inv, "s-short", NULL); /* 6 h */
  km_inv_set(&s1->secret_type, "Rds");
  km_inv_set(&s1->automatic_rotation, "Enabled");
  km_inv_set(&s1->rotation_interval, "21600s");
  km_inv_secret_t *s2 = secret(inv, "s-week", NULL);
  km_inv_set(&s2->secret_type, "Rds");
  km_inv_set(&s2->automatic_rotation, "Enabled");
  km_inv_set(&s2->rotation_interval, "604800s");
  eval(inv);
  expect_key(inv, "k-ok", KM_VERDICT_PENDING, "key.pending", NULL);
  expect_key(inv, "k-long", KM_VERDICT_BLOCKED, "key.rotation_unrestorable",
             "7 to 365 days");
  expect_key(inv, "k-unread", KM_VERDICT_BLOCKED, "key.rotation_unrestorable",
             "cannot be read");
  expect_key(inv, "k-off", KM_VERDICT_PENDING, "key.pending", NULL);
  expect_secret(inv, "s-short", KM_VERDICT_BLOCKED,
                "secret.rotation_unrestorable", "168 to 8760 hours");
  expect_secret(inv, "s-week", KM_VERDICT_PENDING, "secret.pending", NULL);
  km_inv_free(inv);
  /* a hardware destination: no key rotates there */
  inv = mk("cn-hangzhou", KM_INV_TYPE_HARDWARE, "3.0.1");
  rot(ukey(inv, "k-hw"), "Enabled", "2592000s");
  rot(ukey(inv, "k-plain"), "Disabled", NULL);
  eval(inv);
  expect_key(inv, "k-hw", KM_VERDICT_BLOCKED, "key.rotation_unrestorable",
             "hardware instance");
  expect_key(inv, "k-plain", KM_VERDICT_PENDING, "key.pending", NULL);
  km_inv_free(inv);
}

static void test_table_and_docs(void **st) {
  (void)st;
  size_t n;
  const km_rule_t *t = km_rules_table(&n);
  assert_true(n >= 25);
  char path[512];
  snprintf(path, sizeof(path), "%s/docs/rules.md", KM_SOURCE_DIR);
  FILE *f = fopen(path, "r");
  if (f == NULL) fail_msg("cannot open %s", path);
  km_buf_t doc;
  km_buf_init(&doc);
  char chunk[4096];
  size_t got;
  while ((got = fread(chunk, 1, sizeof(chunk), f)) > 0)
    km_buf_append(&doc, chunk, got);
  fclose(f);
  const km_rule_t *last_key = NULL, *last_secret = NULL;
  for (size_t i = 0; i < n; i++) {
    assert_non_null(t[i].source);
    assert_true(strlen(t[i].source) > 10);
    assert_true(strlen(t[i].message) > 10);
    assert_ptr_equal(km_rules_find(t[i].id), &t[i]); /* ids are unique */
    /* The row shows the id, verdict and message exactly as in the table,
     * so the page cannot drift from the code. */
    char *needle = km_xasprintf("| `%s` | %s | %s |", t[i].id,
                                km_verdict_name(t[i].verdict), t[i].message);
    if (strstr(doc.data, needle) == NULL)
      fail_msg("docs/rules.md lacks the row of %s: %s", t[i].id, needle);
    free(needle);
    if (t[i].scope == KM_RULE_KEY) last_key = &t[i];
    if (t[i].scope == KM_RULE_SECRET) last_secret = &t[i];
  }
  /* The last rule of each kind is the catch-all "will migrate". */
  assert_string_equal(last_key->id, "key.pending");
  assert_string_equal(last_secret->id, "secret.pending");
  km_buf_free(&doc);
}

static void test_versions(void **st) {
  (void)st;
  int c;
  assert_int_equal(km_version_cmp("2.9.0", "2.9", &c), 0);
  assert_int_equal(c, 0);
  assert_int_equal(km_version_cmp("2.10", "2.9.0", &c), 0);
  assert_true(c > 0);
  assert_int_equal(km_version_cmp("2.8.12", "2.9.0", &c), 0);
  assert_true(c < 0);
  assert_int_equal(km_version_cmp("v2.9", "2.9.0", &c), KM_EINVAL);
  assert_int_equal(km_version_cmp("2.9.0.1", "2.9.0", &c), KM_EINVAL);
  assert_int_equal(km_version_cmp("2..9", "2.9.0", &c), KM_EINVAL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_key_rules),
      cmocka_unit_test(test_hsm_byok_regions),
      cmocka_unit_test(test_selection),
      cmocka_unit_test(test_selection_unset),
      cmocka_unit_test(test_secret_rules),
      cmocka_unit_test(test_instance_rules),
      cmocka_unit_test(test_quota_across_pipelines),
      cmocka_unit_test(test_messages_fully_expanded),
      cmocka_unit_test(test_reasons_rebuilt),
      cmocka_unit_test(test_disconnected_instance),
      cmocka_unit_test(test_task_rules),
      cmocka_unit_test(test_table_and_docs),
      cmocka_unit_test(test_rotation_restorable),
      cmocka_unit_test(test_versions),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
