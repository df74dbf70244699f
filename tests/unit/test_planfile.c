/* The saved plan reader (core/src/run/planfile.c): a plan written by
 * `kmsmig plan --out` reads back with the resources it moves, its batches,
 * its quota totals and its shards; a file that is not a plan, truncated,
 * of another plan_version, or inconsistent (a batch naming something the
 * plan does not move, a moved resource in no batch, a pipeline twice, a
 * mistyped field) is refused with a message that names the place and says
 * to re-run `kmsmig plan --out`.  Nothing is ever read as "everything". */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "engine/plan_render.h"
#include "model/batch.h"
#include "run/planfile.h"

#define HASH "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

/* A small valid plan: two accounts in one region sharing one instance, a
 * third account blocked. */
static const char *base =
    "{\"format\":\"kmsmig-plan\",\"plan_version\":2,"
    "\"manifest_sha256\":\"" HASH "\",\"created\":\"2026-12-01T10:00:00Z\","
    "\"pipelines\":["
    "{\"account\":\"app-a\",\"account_id\":\"1000000000000002\","
    " \"region\":\"cn-hangzhou\",\"instance_id\":\"kst-1\","
    " \"status\":\"ready\",\"issues\":[],"
    " \"resources\":[{\"kind\":\"key\",\"id\":\"k1\",\"verdict\":\"pending\"},"
    "  {\"kind\":\"key\",\"id\":\"k2\",\"verdict\":\"skipped\"},"
    "  {\"kind\":\"secret\",\"id\":\"s1\",\"verdict\":\"pending\"}],"
    " \"batches\":[{\"keys\":[\"k1\"],\"secrets\":[\"s1\"]}]},"
    "{\"account\":\"app-b\",\"region\":\"cn-hangzhou\","
    " \"instance_id\":\"kst-1\",\"status\":\"ready\",\"issues\":[],"
    " \"resources\":[{\"kind\":\"key\",\"id\":\"k3\",\"verdict\":\"needs_"
    "byok\"}],"
    " \"batches\":[{\"keys\":[\"k3\"],\"secrets\":[]}]},"
    "{\"account\":\"mgmt\",\"region\":\"cn-hangzhou\","
    " \"instance_id\":\"kst-1\",\"status\":\"blocked\","
    " \"issues\":[{\"rule\":\"instance.x\",\"verdict\":\"blocked\","
    "  \"message\":\"instance kst-1 is expired\"}],"
    " \"resources\":[],\"batches\":[]}],"
    "\"instances\":[{\"instance_id\":\"kst-1\",\"region\":\"cn-hangzhou\","
    " \"keys\":{\"used\":3,\"add\":2,\"quota\":10,\"ok\":true},"
    " \"secrets\":{\"used\":null,\"add\":1,\"quota\":null,\"ok\":false}}]}";

static km_planfile_t *parse_ok(const char *text) {
  km_planfile_t *p = NULL;
  km_err_t err;
  memset(&err, 0, sizeof(err));
  int rc = km_planfile_parse(text, strlen(text), "t.plan", &p, &err);
  if (rc != 0) fail_msg("parse failed: %s", err.text);
  return p;
}

/* Parses text and expects a refusal whose message contains needle and
 * says how to fix it. */
static void parse_bad(const char *text, size_t len, const char *needle) {
  km_planfile_t *p = NULL;
  km_err_t err;
  memset(&err, 0, sizeof(err));
  int rc = km_planfile_parse(text, len, "t.plan", &p, &err);
  if (rc == 0) fail_msg("accepted a bad plan (wanted \"%s\")", needle);
  assert_null(p);
  if (strstr(err.text, needle) == NULL || strstr(err.text, "t.plan") == NULL ||
      strstr(err.text, "kmsmig plan") == NULL)
    fail_msg("message \"%s\" lacks \"%s\", the file or the fix", err.text,
             needle);
}

/* base with one textual replacement (from must occur). */
static void bad_edit(const char *from, const char *to, const char *needle) {
  const char *at = strstr(base, from);
  assert_non_null(at);
  char *t =
      km_xasprintf("%.*s%s%s", (int)(at - base), base, to, at + strlen(from));
  parse_bad(t, strlen(t), needle);
  free(t);
}

static void test_reads_plan(void **state) {
  (void)state;
  km_planfile_t *p = parse_ok(base);
  assert_string_equal(p->manifest_sha256, HASH);
  assert_int_equal(p->created, 1796119200);
  assert_int_equal(p->npipes, 3);
  assert_int_equal(p->naccounts, 3);
  const km_plan_pipe_t *a = km_planfile_find(p, "app-a", "cn-hangzhou");
  assert_non_null(a);
  /* Only what moves: the skipped key is not planned. */
  assert_int_equal(a->keys.n, 1);
  assert_string_equal(a->keys.v[0], "k1");
  assert_true(km_inv_strs_has(&a->secrets, "s1"));
  assert_int_equal(a->nbatches, 1);
  const km_plan_pipe_t *b = km_planfile_find(p, "app-b", "cn-hangzhou");
  assert_true(km_inv_strs_has(&b->keys, "k3")); /* needs_byok moves */
  assert_null(b->account_id);
  const km_plan_pipe_t *m = km_planfile_find(p, "mgmt", "cn-hangzhou");
  assert_string_equal(m->blocked, "instance kst-1 is expired");
  assert_null(km_planfile_find(p, "mgmt", "cn-shanghai"));
  const km_plan_inst_t *in = km_planfile_instance(p, "kst-1");
  assert_non_null(in);
  assert_int_equal(in->key_used, 3);
  assert_int_equal(in->key_add, 2);
  assert_int_equal(in->secret_quota, -1);
  assert_false(in->ok);
  assert_null(km_planfile_instance(p, "kst-2"));
  assert_int_equal(strlen(p->file_sha256), 64);
  km_planfile_free(p);
}

/* Accounts in name order, every N-th; all regions of one account together;
 * each pipeline in exactly one shard. */
static void test_shards(void **state) {
  (void)state;
  km_planfile_t *p = parse_ok(base);
  const char *want[3] = {"app-a", "app-b", "mgmt"};
  for (size_t i = 0; i < 3; i++) {
    const km_plan_pipe_t *pp = km_planfile_find(p, want[i], "cn-hangzhou");
    assert_int_equal(pp->account_no, i);
    int in = 0;
    for (unsigned k = 1; k <= 2; k++)
      in += km_planfile_in_shard(pp, k, 2);
    assert_int_equal(in, 1);
    assert_true(km_planfile_in_shard(pp, 1, 1));
  }
  assert_true(
      km_planfile_in_shard(km_planfile_find(p, "app-a", "cn-hangzhou"), 1, 2));
  assert_true(
      km_planfile_in_shard(km_planfile_find(p, "app-b", "cn-hangzhou"), 2, 2));
  assert_true(
      km_planfile_in_shard(km_planfile_find(p, "mgmt", "cn-hangzhou"), 1, 2));
  km_planfile_free(p);
}

static void test_truncated_and_not_json(void **state) {
  (void)state;
  size_t n = strlen(base);
  for (size_t cut = 0; cut < n; cut += 37)
    parse_bad(base, cut, "t.plan");
  parse_bad("", 0, "not valid JSON");
  parse_bad("[]", 2, "not a JSON object");
  parse_bad("{\"plan_version\":2}", 18, "not a saved plan");
}

static void test_versions(void **state) {
  (void)state;
  bad_edit("\"plan_version\":2", "\"plan_version\":3",
           "version 3, but this kmsmig reads version 2");
  bad_edit("\"plan_version\":2", "\"plan_version\":1", "version 1");
  bad_edit("\"plan_version\":2", "\"plan_version\":\"2\"", "plan_version");
  bad_edit("\"format\":\"kmsmig-plan\"", "\"format\":\"other\"",
           "not a saved plan");
  /* `plan --output json` (no format, no hash) is for reading only. */
  bad_edit("\"format\":\"kmsmig-plan\",", "", "not a saved plan");
}

static void test_header_fields(void **state) {
  (void)state;
  bad_edit("\"manifest_sha256\":\"" HASH "\",", "", "manifest_sha256");
  bad_edit(HASH, "0123", "manifest_sha256");
  bad_edit(HASH,
           "0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef",
           "manifest_sha256");
  bad_edit("\"2026-12-01T10:00:00Z\"", "\"yesterday\"", "created");
  bad_edit("\"pipelines\":[", "\"pipes\":[", "pipelines");
  bad_edit("\"instances\":[", "\"inst\":[", "instances");
}

static void test_pipeline_fields(void **state) {
  (void)state;
  bad_edit("\"account\":\"app-b\"", "\"account\":7",
           "pipelines[1]: \"account\" is missing");
  bad_edit("\"status\":\"blocked\"", "\"status\":\"maybe\"", "\"status\"");
  bad_edit("\"verdict\":\"needs_byok\"", "\"verdict\":\"perhaps\"",
           "unknown verdict");
  bad_edit("{\"kind\":\"key\",\"id\":\"k3\"",
           "{\"kind\":\"cert\",\"id\":\"k3\"", "neither a key nor a secret");
  bad_edit("\"instance_id\":\"kst-1\",\"status\":\"ready\"",
           "\"instance_id\":null,\"status\":\"ready\"", "no instance_id");
  bad_edit("\"resources\":[]", "\"resources\":{}", "\"resources\"");
  bad_edit("\"keys\":{\"used\":3", "\"keys\":{\"used\":\"3\"", "\"used\"");
  bad_edit(",\"ok\":true", "", "quota figures");
}

/* The batches and the planned resources must agree exactly. */
static void test_batches_consistent(void **state) {
  (void)state;
  bad_edit("\"batches\":[{\"keys\":[\"k1\"]", "\"batches\":[{\"keys\":[\"k2\"]",
           "does not move");
  bad_edit("{\"keys\":[\"k3\"],\"secrets\":[]}", "{\"keys\":[],\"secrets\":[]}",
           "in no batch");
  bad_edit("{\"keys\":[\"k3\"],\"secrets\":[]}",
           "{\"keys\":[\"k3\",\"k3\"],\"secrets\":[]}", "twice");
  bad_edit("{\"keys\":[\"k3\"],\"secrets\":[]}", "{\"secrets\":[]}",
           "no key or secret list");
  bad_edit("\"batches\":[]}]", "\"batches\":null}]", "\"batches\"");
}

static void test_duplicate_pipeline(void **state) {
  (void)state;
  bad_edit("{\"account\":\"mgmt\"", "{\"account\":\"app-a\"", "appears twice");
  bad_edit("{\"account\":\"app-b\",\"region\":\"cn-hangzhou\",",
           "{\"account\":\"app-b\",\"region\":\"cn-hangzhou\","
           "\"region\":\"cn-hangzhou\",",
           "not valid JSON");
}

static void test_missing_file(void **state) {
  (void)state;
  km_planfile_t *p = NULL;
  km_err_t err;
  memset(&err, 0, sizeof(err));
  assert_int_equal(km_planfile_load("/nonexistent/x.plan", &p, &err), KM_EIO);
  assert_null(p);
  assert_non_null(strstr(err.text, "kmsmig plan MANIFEST --out"));
}

/* What `plan --out` writes reads back: the planned set is the moving
 * resources, the batches those of km_batch_plan. */
static void test_round_trip(void **state) {
  (void)state;
  km_inv_t *inv = km_inv_new("acct", "1000000000000009", "cn-beijing", "kst-9");
  km_inv_set(&inv->inst.instance_id, "kst-9");
  inv->inst.present = true;
  inv->inst.key_quota = 100;
  inv->inst.key_used = 1;
  inv->inst.secret_quota = 100;
  inv->inst.secret_used = 0;
  char id[32];
  for (int i = 0; i < 60; i++) {
    snprintf(id, sizeof(id), "key-%02d", i);
    km_inv_key_decide(km_inv_add_key(inv, id),
                      i % 10 == 9 ? KM_VERDICT_SKIPPED : KM_VERDICT_PENDING,
                      "t", "t");
  }
  km_inv_secret_decide(km_inv_add_secret(inv, "sec/a"), KM_VERDICT_PENDING, "t",
                       "t");
  km_inv_t *invs[] = {inv};
  km_quota_use_t *q = NULL;
  size_t nq = 0;
  assert_int_equal(km_rules_quota(invs, 1, &q, &nq, NULL), 0);
  km_plan_t plan = {
      .name = "rt", .invs = invs, .ninvs = 1, .quota = q, .nquota = nq};
  json_t *doc = NULL;
  assert_int_equal(km_plan_render_saved(&plan, HASH, 1796119200, &doc, NULL),
                   0);
  char *text = json_dumps(doc, JSON_INDENT(2));
  km_planfile_t *p = parse_ok(text);
  const km_plan_pipe_t *pp = km_planfile_find(p, "acct", "cn-beijing");
  assert_non_null(pp);
  assert_int_equal(pp->keys.n, 54);
  assert_int_equal(pp->secrets.n, 1);
  assert_int_equal(pp->nbatches, 2); /* 50 + 4 keys */
  assert_false(km_inv_strs_has(&pp->keys, "key-09"));
  const km_plan_inst_t *in = km_planfile_instance(p, "kst-9");
  assert_int_equal(in->key_add, 54);
  assert_true(in->ok);
  km_planfile_free(p);
  free(text);
  json_decref(doc);
  km_quota_uses_free(q, nq);
  km_inv_free(inv);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_reads_plan),
      cmocka_unit_test(test_shards),
      cmocka_unit_test(test_truncated_and_not_json),
      cmocka_unit_test(test_versions),
      cmocka_unit_test(test_header_fields),
      cmocka_unit_test(test_pipeline_fields),
      cmocka_unit_test(test_batches_consistent),
      cmocka_unit_test(test_duplicate_pipeline),
      cmocka_unit_test(test_missing_file),
      cmocka_unit_test(test_round_trip),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
