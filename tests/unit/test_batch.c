/* Migration batches: never more than 50 keys and 50 secrets, every moving
 * resource exactly once, every secret in its CMK's batch or a later one,
 * sorted and identical from one run to the next. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "model/batch.h"
#include "util/util.h"

static km_inv_t *inv_with_keys(int nkeys) {
  km_inv_t *inv = km_inv_new("payments", NULL, "cn-hangzhou", "kst-1");
  char id[32];
  /* Added in reverse so the planner has to sort. */
  for (int i = nkeys - 1; i >= 0; i--) {
    snprintf(id, sizeof(id), "key-%04d", i);
    km_inv_key_decide(km_inv_add_key(inv, id), KM_VERDICT_PENDING,
                      "key.pending", "will migrate");
  }
  return inv;
}

static void add_secret(km_inv_t *inv, const char *name, const char *cmk,
                       km_verdict_t v) {
  km_inv_secret_t *s = km_inv_add_secret(inv, name);
  km_inv_set(&s->encryption_key_id, cmk);
  km_inv_secret_decide(s, v, "secret.pending", "will migrate");
}

/* Index of the batch holding key id, or -1. */
static long key_batch(const km_batches_t *b, const char *id) {
  for (size_t i = 0; i < b->n; i++)
    for (size_t k = 0; k < b->v[i].nkeys; k++)
      if (strcmp(b->v[i].key_ids[k], id) == 0) return (long)i;
  return -1;
}

/* The invariants a user would check on any plan. */
static void check(const km_inv_t *inv, const km_batches_t *b, size_t want_keys,
                  size_t want_secrets) {
  size_t nk = 0, ns = 0;
  for (size_t i = 0; i < b->n; i++) {
    const km_batch_t *bt = &b->v[i];
    assert_true(bt->nkeys <= KM_BATCH_MAX_KEYS);
    assert_true(bt->nsecrets <= KM_BATCH_MAX_SECRETS);
    assert_true(bt->nkeys + bt->nsecrets > 0);
    for (size_t k = 1; k < bt->nkeys; k++)
      assert_true(strcmp(bt->key_ids[k - 1], bt->key_ids[k]) < 0);
    for (size_t s = 1; s < bt->nsecrets; s++)
      assert_true(strcmp(bt->secret_names[s - 1], bt->secret_names[s]) < 0);
    for (size_t s = 0; s < bt->nsecrets; s++) {
      const km_inv_secret_t *sec = km_inv_find_secret(inv, bt->secret_names[s]);
      assert_non_null(sec);
      assert_true(km_verdict_moves(sec->verdict));
      const km_inv_key_t *cmk = km_inv_find_key(inv, sec->encryption_key_id);
      if (cmk != NULL && km_verdict_moves(cmk->verdict)) {
        long kb = key_batch(b, cmk->key_id);
        if (kb < 0 || kb > (long)i)
          fail_msg("secret %s in batch %zu before its key %s (batch %ld)",
                   sec->secret_name, i, cmk->key_id, kb);
      }
    }
    nk += bt->nkeys;
    ns += bt->nsecrets;
  }
  assert_int_equal(nk, want_keys);
  assert_int_equal(ns, want_secrets);
}

static void plan(const km_inv_t *inv, km_batches_t *b) {
  km_err_t e;
  assert_int_equal(km_batch_plan(inv, b, &e), 0);
}

static void test_key_counts(void **st) {
  (void)st;
  static const struct {
    int keys;
    size_t batches;
  } cases[] = {{0, 0}, {1, 1}, {50, 1}, {51, 2}, {130, 3}};
  for (size_t c = 0; c < KM_ARRAY_SIZE(cases); c++) {
    km_inv_t *inv = inv_with_keys(cases[c].keys);
    km_batches_t b;
    plan(inv, &b);
    assert_int_equal(b.n, cases[c].batches);
    check(inv, &b, (size_t)cases[c].keys, 0);
    if (cases[c].keys == 130) {
      assert_int_equal(b.v[0].nkeys, 50);
      assert_int_equal(b.v[1].nkeys, 50);
      assert_int_equal(b.v[2].nkeys, 30);
      assert_string_equal(b.v[0].key_ids[0], "key-0000");
      assert_string_equal(b.v[2].key_ids[29], "key-0129");
    }
    km_batches_free(&b);
    km_inv_free(inv);
  }
}

static void test_only_moving_resources(void **st) {
  (void)st;
  km_inv_t *inv = inv_with_keys(3);
  km_inv_key_decide(km_inv_add_key(inv, "key-skip"), KM_VERDICT_SKIPPED,
                    "key.multi_version", "x");
  km_inv_key_decide(km_inv_add_key(inv, "key-byok"), KM_VERDICT_NEEDS_BYOK,
                    "key.byok_hsm", "x");
  km_inv_key_decide(km_inv_add_key(inv, "key-done"), KM_VERDICT_DONE,
                    "key.already_migrated", "x");
  add_secret(inv, "s-blocked", NULL, KM_VERDICT_BLOCKED);
  add_secret(inv, "s-done", NULL, KM_VERDICT_DONE);
  add_secret(inv, "s-ok", "key-done", KM_VERDICT_PENDING);
  km_batches_t b;
  plan(inv, &b);
  assert_int_equal(b.n, 1);
  check(inv, &b, 4, 1);
  assert_int_equal(key_batch(&b, "key-byok"), 0);
  assert_int_equal(key_batch(&b, "key-skip"), -1);
  json_t *j = km_batches_to_json(&b);
  json_t *want =
      json_pack("[{s:[s,s,s,s], s:[s]}]", "keys", "key-0000", "key-0001",
                "key-0002", "key-byok", "secrets", "s-ok");
  assert_true(json_equal(j, want));
  json_decref(j);
  json_decref(want);
  km_batches_free(&b);
  km_inv_free(inv);
}

static void test_secrets_follow_their_keys(void **st) {
  (void)st;
  /* 130 keys in 3 batches; 120 secrets whose CMKs are spread over all of
   * them, plus secrets with migrated or no CMKs. */
  km_inv_t *inv = inv_with_keys(130);
  km_inv_key_decide(km_inv_add_key(inv, "key-old"), KM_VERDICT_DONE,
                    "key.already_migrated", "x");
  char name[32], cmk[32];
  for (int i = 0; i < 120; i++) {
    snprintf(name, sizeof(name), "secret-%03d", i);
    if (i % 10 == 0)
      snprintf(cmk, sizeof(cmk), "key-old");
    else
      snprintf(cmk, sizeof(cmk), "key-%04d", (i * 37) % 130);
    add_secret(inv, name, i % 15 == 7 ? NULL : cmk, KM_VERDICT_PENDING);
  }
  km_batches_t b;
  plan(inv, &b);
  check(inv, &b, 130, 120);
  /* 120 secrets need at least 3 batches, and the keys already take 3. */
  assert_int_equal(b.n, 3);

  /* Deterministic: the same plan again, whatever the inventory order. */
  km_inv_sort(inv);
  km_batches_t b2;
  plan(inv, &b2);
  json_t *j1 = km_batches_to_json(&b), *j2 = km_batches_to_json(&b2);
  assert_true(json_equal(j1, j2));
  json_decref(j1);
  json_decref(j2);
  km_batches_free(&b);
  km_batches_free(&b2);
  km_inv_free(inv);
}

static void test_secrets_waiting_for_last_batch(void **st) {
  (void)st;
  /* All 120 secrets depend on the last key: none may go before batch 2,
   * so they fill batch 2 and then secret-only batches after it. */
  km_inv_t *inv = inv_with_keys(101);
  char name[32];
  for (int i = 0; i < 120; i++) {
    snprintf(name, sizeof(name), "late-%03d", i);
    add_secret(inv, name, "key-0100", KM_VERDICT_PENDING);
  }
  /* And 10 free secrets, which take the early batches. */
  for (int i = 0; i < 10; i++) {
    snprintf(name, sizeof(name), "free-%03d", i);
    add_secret(inv, name, NULL, KM_VERDICT_PENDING);
  }
  km_batches_t b;
  plan(inv, &b);
  check(inv, &b, 101, 130);
  assert_int_equal(b.n, 5);
  assert_int_equal(b.v[0].nsecrets, 10);
  assert_int_equal(b.v[1].nsecrets, 0);
  assert_int_equal(b.v[2].nsecrets, 50);
  assert_int_equal(b.v[3].nkeys, 0);
  assert_int_equal(b.v[3].nsecrets, 50);
  assert_int_equal(b.v[4].nsecrets, 20);
  km_batches_free(&b);
  km_inv_free(inv);
}

static void test_secrets_only(void **st) {
  (void)st;
  km_inv_t *inv = inv_with_keys(0);
  char name[32];
  for (int i = 0; i < 51; i++) {
    snprintf(name, sizeof(name), "s-%03d", i);
    add_secret(inv, name, NULL, KM_VERDICT_PENDING);
  }
  km_batches_t b;
  plan(inv, &b);
  assert_int_equal(b.n, 2);
  check(inv, &b, 0, 51);
  assert_string_equal(b.v[1].secret_names[0], "s-050");
  km_batches_free(&b);
  km_inv_free(inv);
  assert_int_equal(km_batch_plan(NULL, &b, NULL), KM_EINVAL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_key_counts),
      cmocka_unit_test(test_only_moving_resources),
      cmocka_unit_test(test_secrets_follow_their_keys),
      cmocka_unit_test(test_secrets_waiting_for_last_batch),
      cmocka_unit_test(test_secrets_only),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
