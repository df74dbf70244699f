/* report.json at the end of a run: per account and region what was
 * migrated, skipped (with the reason), failed (with code and RequestId),
 * blocked or never run; rotation turned off and restored; totals that add
 * up; shard reports that merge into the report of the whole run; and an
 * atomic write that reads back identical. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "engine/report.h"
#include "util/util.h"

static km_inv_key_t *key(km_inv_t *inv, const char *id, km_verdict_t v,
                         const char *rule, const char *reason) {
  km_inv_key_t *k = km_inv_add_key(inv, id);
  km_inv_key_decide(k, v, rule, reason);
  k->verified = v == KM_VERDICT_MIGRATED; /* a verify checked it */
  return k;
}

static km_inv_secret_t *secret(km_inv_t *inv, const char *name, km_verdict_t v,
                               const char *rule, const char *reason) {
  km_inv_secret_t *s = km_inv_add_secret(inv, name);
  km_inv_secret_decide(s, v, rule, reason);
  s->verified = v == KM_VERDICT_MIGRATED;
  return s;
}

static km_inv_t *payments(void) {
  km_inv_t *inv = km_inv_new("payments", "1234567890123456", "cn-hangzhou",
                             "kst-hzz6500a1b2c3d4e5f6");
  km_inv_key_t *k = key(inv, "key-1", KM_VERDICT_MIGRATED, "key.pending", "");
  k->rotation_off = k->rotation_restored = true;
  key(inv, "key-2", KM_VERDICT_MIGRATED, "key.pending", NULL);
  key(inv, "key-3", KM_VERDICT_SKIPPED, "key.multi_version",
      "key key-3: 3 key versions; the vendor migrates single-version keys "
      "only");
  key(inv, "key-4", KM_VERDICT_DONE, "key.already_migrated", NULL);
  secret(inv, "pay-db", KM_VERDICT_MIGRATED, "secret.pending", NULL);
  km_inv_secret_t *s =
      secret(inv, "ops-token", KM_VERDICT_FAILED, "secret.pending",
             "the member role lacks kms:UpdateSecretRotationPolicy");
  km_inv_set(&s->fail_code, "Forbidden.NoPermission");
  km_inv_set(&s->fail_request_id, "5E1C0000-1111-2222-3333-444455556666");
  s->rotation_off = true; /* turned off, then the restore failed */
  return inv;
}

static km_inv_t *orders(void) {
  km_inv_t *inv =
      km_inv_new("orders", NULL, "cn-hangzhou", "kst-hzz6500a1b2c3d4e5f6");
  key(inv, "key-o1", KM_VERDICT_PENDING, "key.pending", NULL);
  secret(inv, "db-prod-password", KM_VERDICT_BLOCKED, "secret.duplicate_name",
         "secret db-prod-password: a secret with this name already exists");
  return inv;
}

static km_inv_t *legacy(const char *region) {
  km_inv_t *inv = km_inv_new("legacy", NULL, region, "kst-shh");
  key(inv, "key-l1", KM_VERDICT_MIGRATED, "key.byok_hsm", NULL);
  km_inv_add_issue(inv, "instance.auto_renew_off", KM_VERDICT_WARNING,
                   "auto_renew is false");
  return inv;
}

static const km_report_meta_t meta = {
    .name = "acme-prod-kms3",
    .run_dir = "runs/acme-prod-kms3-20261205T020000Z",
    .tool_version = "0.1.0",
    .manifest_hash = "sha256:abc",
    .started = 1796436000,
    .finished = 1796438472};

static json_t *at(const json_t *j, const char *a, const char *b) {
  return json_object_get(json_object_get(j, a), b);
}

static json_int_t ival(const json_t *j, const char *a, const char *b) {
  return json_integer_value(at(j, a, b));
}

/* Moved but never verified (the keys verify failed and the secrets one
 * never ran, or the run stopped first): not "migrated", but failed with
 * code NotVerified and what to check; totals agree. */
static void test_unverified_is_not_migrated(void **st) {
  (void)st;
  km_inv_t *inv = km_inv_new("pay", NULL, "cn-hangzhou", "kst-1");
  key(inv, "key-ok", KM_VERDICT_MIGRATED, "key.pending", NULL);
  secret(inv, "sec-unchecked", KM_VERDICT_MIGRATED, "secret.pending", NULL)
      ->verified = false;
  km_inv_t *v[] = {inv};
  json_t *r;
  assert_int_equal(km_report_build(&meta, v, 1, &r, NULL), 0);
  json_t *p = json_array_get(json_object_get(r, "pipelines"), 0);
  assert_int_equal(json_array_size(at(p, "keys", "migrated")), 1);
  assert_int_equal(json_array_size(at(p, "secrets", "migrated")), 0);
  json_t *f = json_array_get(at(p, "secrets", "failed"), 0);
  assert_string_equal(json_string_value(json_object_get(f, "id")),
                      "sec-unchecked");
  assert_string_equal(json_string_value(json_object_get(f, "code")),
                      "NotVerified");
  assert_non_null(
      strstr(json_string_value(json_object_get(f, "reason")), "not verified"));
  assert_string_equal(json_string_value(json_object_get(p, "status")),
                      "failed");
  assert_int_equal(ival(json_object_get(r, "totals"), "secrets", "migrated"),
                   0);
  assert_int_equal(ival(json_object_get(r, "totals"), "secrets", "failed"), 1);
  json_decref(r);
  km_inv_free(inv);
}

/* The status the progress view counts by is the one report.json writes:
 * all blocked and nothing moved is blocked; one moved is ok; a failed
 * resource fails the pipeline; a resource never got to fails it too. */
static const char *json_status(km_inv_t *inv) {
  km_inv_t *v[] = {inv};
  json_t *r;
  assert_int_equal(km_report_build(&meta, v, 1, &r, NULL), 0);
  static char buf[32];
  snprintf(buf, sizeof(buf), "%s",
           json_string_value(json_object_get(
               json_array_get(json_object_get(r, "pipelines"), 0), "status")));
  json_decref(r);
  return buf;
}

static void test_status_from_the_model(void **st) {
  (void)st;
  km_inv_t *inv = km_inv_new("blk", NULL, "cn-hangzhou", "kst-1");
  key(inv, "key-2v", KM_VERDICT_SKIPPED, "key.multi_version", NULL);
  secret(inv, "sec-1", KM_VERDICT_BLOCKED, "secret.cmk_unmovable", NULL);
  assert_string_equal(km_report_status(inv), "blocked");
  assert_string_equal(json_status(inv), "blocked");
  key(inv, "key-ok", KM_VERDICT_MIGRATED, "key.pending", NULL);
  assert_string_equal(km_report_status(inv), "ok");
  assert_string_equal(json_status(inv), "ok");
  secret(inv, "sec-2", KM_VERDICT_FAILED, "run.failed", NULL);
  assert_string_equal(km_report_status(inv), "failed");
  assert_string_equal(json_status(inv), "failed");
  km_inv_free(inv);

  inv = km_inv_new("todo", NULL, "cn-hangzhou", "kst-1");
  key(inv, "key-ok", KM_VERDICT_MIGRATED, "key.pending", NULL);
  key(inv, "key-left", KM_VERDICT_PENDING, "key.pending", NULL);
  assert_string_equal(km_report_status(inv), "failed");
  assert_string_equal(json_status(inv), "failed");
  km_inv_free(inv);
}

static void test_report_contents(void **st) {
  (void)st;
  km_inv_t *v[] = {payments(), legacy("cn-shanghai"), orders()};
  json_t *r;
  assert_int_equal(km_report_build(&meta, v, 3, &r, NULL), 0);
  assert_string_equal(json_string_value(json_object_get(r, "finished")),
                      "2026-12-05T02:41:12Z");
  assert_int_equal(json_integer_value(json_object_get(r, "duration_s")), 2472);
  json_t *pl = json_object_get(r, "pipelines");
  assert_int_equal(json_array_size(pl), 3);
  /* Sorted by account. */
  json_t *leg = json_array_get(pl, 0), *ord = json_array_get(pl, 1),
         *pay = json_array_get(pl, 2);
  assert_string_equal(json_string_value(json_object_get(leg, "account")),
                      "legacy");
  assert_string_equal(json_string_value(json_object_get(leg, "status")), "ok");
  assert_string_equal(json_string_value(json_object_get(ord, "status")),
                      "blocked");
  assert_string_equal(json_string_value(json_object_get(pay, "status")),
                      "failed");

  json_t *pk = json_object_get(pay, "keys");
  assert_int_equal(json_array_size(json_object_get(pk, "migrated")), 2);
  assert_int_equal(json_integer_value(json_object_get(pk, "already_migrated")),
                   1);
  json_t *sk = json_array_get(json_object_get(pk, "skipped"), 0);
  assert_string_equal(json_string_value(json_object_get(sk, "id")), "key-3");
  assert_string_equal(json_string_value(json_object_get(sk, "rule")),
                      "key.multi_version");
  assert_non_null(strstr(json_string_value(json_object_get(sk, "reason")),
                         "3 key versions"));
  json_t *f = json_array_get(at(pay, "secrets", "failed"), 0);
  assert_string_equal(json_string_value(json_object_get(f, "id")), "ops-token");
  assert_string_equal(json_string_value(json_object_get(f, "code")),
                      "Forbidden.NoPermission");
  assert_string_equal(json_string_value(json_object_get(f, "request_id")),
                      "5E1C0000-1111-2222-3333-444455556666");
  assert_int_equal(ival(pay, "rotation", "turned_off"), 2);
  assert_int_equal(ival(pay, "rotation", "restored"), 1);
  assert_string_equal(
      json_string_value(json_object_get(
          json_array_get(at(pay, "rotation", "not_restored"), 0), "id")),
      "ops-token");
  /* The blocked pipeline never ran its pending key. */
  assert_string_equal(
      json_string_value(json_array_get(at(ord, "keys", "not_run"), 0)),
      "key-o1");

  json_t *t = json_object_get(r, "totals");
  assert_int_equal(ival(t, "accounts", "ok"), 1);
  assert_int_equal(ival(t, "accounts", "failed"), 1);
  assert_int_equal(ival(t, "accounts", "blocked"), 1);
  assert_int_equal(ival(t, "keys", "migrated"), 3);
  assert_int_equal(ival(t, "keys", "skipped"), 1);
  assert_int_equal(ival(t, "keys", "not_run"), 1);
  assert_int_equal(ival(t, "secrets", "migrated"), 1);
  assert_int_equal(ival(t, "secrets", "failed"), 1);
  assert_int_equal(ival(t, "secrets", "blocked"), 1);
  assert_int_equal(ival(t, "rotation", "turned_off"), 2);
  assert_int_equal(ival(t, "rotation", "restored"), 1);
  assert_int_equal(ival(t, "rotation", "not_restored"), 1);
  json_decref(r);
  for (int i = 0; i < 3; i++)
    km_inv_free(v[i]);
}

static void test_account_takes_worst_pipeline(void **st) {
  (void)st;
  /* legacy ok in one region and blocked in another: one blocked account. */
  km_inv_t *a = legacy("cn-shanghai"), *b = legacy("cn-beijing");
  km_inv_add_issue(b, "instance.image_too_old", KM_VERDICT_BLOCKED, "x");
  key(b, "key-l1", KM_VERDICT_PENDING, "key.pending", NULL);
  km_inv_t *v[] = {a, b};
  json_t *r;
  assert_int_equal(km_report_build(&meta, v, 2, &r, NULL), 0);
  json_t *t = json_object_get(r, "totals");
  assert_int_equal(ival(t, "accounts", "ok"), 0);
  assert_int_equal(ival(t, "accounts", "blocked"), 1);
  assert_int_equal(json_integer_value(json_object_get(t, "pipelines")), 2);
  json_decref(r);
  km_inv_free(a);
  km_inv_free(b);
}

/* Not started is counted apart from failed, and ranks between failed and
 * blocked; an incomplete pipeline says so ("complete": false). */
static void test_not_started_apart(void **st) {
  (void)st;
  km_inv_t *a = legacy("cn-shanghai"), *b = payments(), *c = orders();
  km_inv_add_issue(a, "pipeline.failed", KM_VERDICT_FAILED,
                   "discover failed: x");
  a->incomplete = true;
  km_inv_add_issue(b, "pipeline.not_started", KM_VERDICT_FAILED,
                   "not started: y");
  b->incomplete = true;
  km_inv_t *v[] = {a, b, c};
  json_t *r;
  assert_int_equal(km_report_build(&meta, v, 3, &r, NULL), 0);
  json_t *t = json_object_get(r, "totals");
  assert_int_equal(ival(t, "accounts", "failed"), 1);
  assert_int_equal(ival(t, "accounts", "not_started"), 1);
  json_t *pl = json_object_get(r, "pipelines");
  for (size_t i = 0; i < json_array_size(pl); i++) {
    json_t *p = json_array_get(pl, i);
    const char *acct = json_string_value(json_object_get(p, "account"));
    const char *stt = json_string_value(json_object_get(p, "status"));
    bool complete = json_is_true(json_object_get(p, "complete"));
    if (strcmp(acct, "legacy") == 0) {
      assert_string_equal(stt, "failed");
      assert_false(complete);
    } else if (strcmp(acct, "payments") == 0) {
      assert_string_equal(stt, "not_started");
      assert_false(complete);
    } else {
      assert_true(complete);
    }
  }
  json_decref(r);
  km_inv_free(a);
  km_inv_free(b);
  km_inv_free(c);
}

static void test_merge_shards(void **st) {
  (void)st;
  km_inv_t *v[] = {payments(), orders(), legacy("cn-shanghai")};
  json_t *whole, *s1, *s2;
  km_report_meta_t m1 = meta, m2 = meta;
  m2.started = meta.started + 60;
  m1.finished = meta.finished - 100;
  assert_int_equal(km_report_build(&meta, v, 3, &whole, NULL), 0);
  assert_int_equal(km_report_build(&m1, v, 1, &s1, NULL), 0);
  assert_int_equal(km_report_build(&m2, v + 1, 2, &s2, NULL), 0);
  km_err_t e;
  assert_int_equal(km_report_merge(s1, s2, &e), 0);
  assert_true(json_equal(json_object_get(s1, "pipelines"),
                         json_object_get(whole, "pipelines")));
  assert_true(json_equal(json_object_get(s1, "totals"),
                         json_object_get(whole, "totals")));
  assert_true(json_equal(json_object_get(s1, "started"),
                         json_object_get(whole, "started")));
  assert_true(json_equal(json_object_get(s1, "finished"),
                         json_object_get(whole, "finished")));
  /* Overlapping shards are refused, naming the pipeline. */
  assert_int_equal(km_report_merge(s1, s2, &e), KM_EEXIST);
  assert_non_null(strstr(e.text, "legacy cn-shanghai is in both reports"));
  json_decref(whole);
  json_decref(s1);
  json_decref(s2);
  for (int i = 0; i < 3; i++)
    km_inv_free(v[i]);
}

static void test_write_atomic(void **st) {
  (void)st;
  km_inv_t *v[] = {payments()};
  json_t *r;
  assert_int_equal(km_report_build(&meta, v, 1, &r, NULL), 0);
  char dir[] = "/tmp/km_report_XXXXXX";
  assert_non_null(mkdtemp(dir));
  char *path = km_xasprintf("%s/report.json", dir);
  assert_int_equal(km_report_write(r, path, NULL), 0);
  json_error_t je;
  json_t *back = json_load_file(path, 0, &je);
  assert_non_null(back);
  assert_true(json_equal(r, back));
  /* Only the report is left behind, no temporary file. */
  char *tmp = km_xasprintf("%s.tmp.%ld", path, (long)getpid());
  assert_int_not_equal(access(tmp, F_OK), 0);
  km_err_t e;
  char *bad = km_xasprintf("%s/missing/report.json", dir);
  assert_int_equal(km_report_write(r, bad, &e), KM_EIO);
  assert_non_null(strstr(e.text, "missing/report.json"));
  unlink(path);
  rmdir(dir);
  free(bad);
  free(tmp);
  free(path);
  json_decref(back);
  json_decref(r);
  km_inv_free(v[0]);
}

/* The run's report, written one pipeline at a time, is the same document as
 * the one built whole; the summary keeps only what it lists. */
static void test_write_run_streams(void **st) {
  (void)st;
  km_inv_t *clean =
      km_inv_new("billing", "1234567890123457", "cn-hangzhou", "kst-hzz");
  key(clean, "key-b1", KM_VERDICT_MIGRATED, "key.pending", NULL);
  km_inv_t *v[] = {payments(), legacy("cn-shanghai"), orders(),
                   legacy("cn-hangzhou"), clean};
  json_t *whole;
  assert_int_equal(km_report_build(&meta, v, 5, &whole, NULL), 0);
  char dir[] = "/tmp/km_report_XXXXXX";
  assert_non_null(mkdtemp(dir));
  char *path = km_xasprintf("%s/report.json", dir);
  json_t *sum = NULL;
  km_report_batches_t nb = {99, 99};
  assert_int_equal(km_report_write_run(&meta, v, 5, path, &sum, &nb, NULL), 0);
  json_error_t je;
  json_t *back = json_load_file(path, 0, &je);
  if (back == NULL) fail_msg("report.json: %s line %d", je.text, je.line);
  assert_true(json_equal(whole, back));
  /* The batch chart's scale, as a reader of the file counts it. */
  size_t nbatches = 0, pi;
  json_t *pp;
  json_array_foreach(json_object_get(back, "pipelines"), pi, pp) nbatches +=
      json_array_size(json_object_get(pp, "batches"));
  assert_int_equal(nb.n, nbatches);
  assert_true(json_equal(json_object_get(whole, "totals"),
                         json_object_get(sum, "totals")));
  /* What the summary reads: the pipelines with a failure or a block, in
   * order (not the clean one, not those with only a warning), and each
   * warning once with its accounts (legacy's two regions: one account). */
  json_t *listed = json_object_get(sum, "pipelines");
  assert_int_equal(json_array_size(listed), 2);
  assert_string_equal(
      json_string_value(json_object_get(json_array_get(listed, 0), "account")),
      "orders");
  assert_string_equal(
      json_string_value(json_object_get(json_array_get(listed, 1), "account")),
      "payments");
  json_t *w = json_object_get(sum, "warnings");
  assert_int_equal(json_array_size(w), 1);
  assert_string_equal(
      json_string_value(json_array_get(json_array_get(w, 0), 0)),
      "auto_renew is false");
  assert_int_equal(json_integer_value(json_array_get(json_array_get(w, 0), 1)),
                   1);
  /* The same count from a report read back. */
  json_t *w2 = km_report_warnings(json_object_get(back, "pipelines"));
  assert_true(json_equal(w, w2));
  json_decref(w2);
  json_decref(sum);
  /* No pipeline at all is still a report. */
  assert_int_equal(km_report_write_run(&meta, v, 0, path, &sum, NULL, NULL), 0);
  json_decref(sum);
  json_decref(back);
  back = json_load_file(path, 0, &je);
  assert_non_null(back);
  assert_int_equal(json_array_size(json_object_get(back, "pipelines")), 0);
  km_err_t e;
  char *bad = km_xasprintf("%s/missing/report.json", dir);
  assert_int_equal(km_report_write_run(&meta, v, 5, bad, &sum, NULL, &e),
                   KM_EIO);
  assert_null(sum);
  assert_non_null(strstr(e.text, "missing/report.json"));
  unlink(path);
  rmdir(dir);
  free(bad);
  free(path);
  json_decref(back);
  json_decref(whole);
  for (size_t i = 0; i < 5; i++)
    km_inv_free(v[i]);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_report_contents),
      cmocka_unit_test(test_unverified_is_not_migrated),
      cmocka_unit_test(test_account_takes_worst_pipeline),
      cmocka_unit_test(test_not_started_apart),
      cmocka_unit_test(test_status_from_the_model),
      cmocka_unit_test(test_merge_shards),
      cmocka_unit_test(test_write_atomic),
      cmocka_unit_test(test_write_run_streams),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
