/* What report.json takes from the run directory and how it is rendered:
 * batches and the rotation ledger from the journal (matched by token and by
 * kind and id over resumed attempts), the monitor's observe.json copied
 * without its raw events, an unparsable observe.json refused by name, the
 * merge checks (other manifest, other plan, same shard twice), and the
 * HTML and Markdown renderers escaping what the server said. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <openssl/evp.h>

#include "engine/report.h"
#include "util/util.h"

static const char *const journal_lines[] = {
    "{\"seq\":1,\"ts\":\"2026-12-05T02:03:09.230Z\",\"type\":\"rotation_off\","
    "\"fields\":{\"account\":\"pay\",\"region\":\"cn-hangzhou\",\"kind\":"
    "\"key\",\"id\":\"key-1\",\"automatic_rotation\":\"Enabled\","
    "\"rotation_interval\":\"2592000s\"}}",
    "{\"seq\":2,\"ts\":\"2026-12-05T02:03:09.400Z\",\"type\":"
    "\"rotation_off_done\",\"fields\":{\"account\":\"pay\",\"region\":"
    "\"cn-hangzhou\",\"kind\":\"key\",\"id\":\"key-1\",\"request_id\":"
    "\"RID-OFF-1\"}}",
    "{\"seq\":3,\"ts\":\"2026-12-05T02:03:10.310Z\",\"type\":"
    "\"batch_submitted\",\"fields\":{\"account\":\"pay\",\"region\":"
    "\"cn-hangzhou\",\"client_token\":\"tok-1\",\"keys\":[\"key-1\",\"key-2\"],"
    "\"secrets\":[\"db\"]}}",
    "{\"seq\":4,\"ts\":\"2026-12-05T02:03:10.500Z\",\"type\":\"task_started\","
    "\"fields\":{\"account\":\"pay\",\"region\":\"cn-hangzhou\","
    "\"client_token\":\"tok-1\",\"task_id\":\"mt-1\"}}",
    /* a resumed attempt follows the same batch: still one batch */
    "{\"seq\":5,\"ts\":\"2026-12-05T02:04:00.000Z\",\"type\":\"batch_resumed\","
    "\"fields\":{\"account\":\"pay\",\"region\":\"cn-hangzhou\","
    "\"client_token\":\"tok-1\"}}",
    "{\"seq\":6,\"ts\":\"2026-12-05T02:04:02.810Z\",\"type\":\"batch_done\","
    "\"fields\":{\"account\":\"pay\",\"region\":\"cn-hangzhou\","
    "\"client_token\":\"tok-1\",\"migrated_keys\":[\"key-1\",\"key-2\"],"
    "\"migrated_secrets\":[],\"failed_keys\":[],\"failed_secrets\":[\"db\"],"
    "\"timed_out\":false}}",
    "{\"seq\":7,\"ts\":\"2026-12-05T02:04:03.646Z\",\"type\":"
    "\"rotation_restored\",\"fields\":{\"account\":\"pay\",\"region\":"
    "\"cn-hangzhou\",\"kind\":\"key\",\"id\":\"key-1\",\"rotation_interval\":"
    "\"2592000s\",\"request_id\":\"RID-ON-1\"}}",
    /* turned off again later (a second run): a new entry, never restored */
    "{\"seq\":8,\"ts\":\"2026-12-05T03:00:00.000Z\",\"type\":\"rotation_off\","
    "\"fields\":{\"account\":\"pay\",\"region\":\"cn-hangzhou\",\"kind\":"
    "\"key\",\"id\":\"key-1\",\"automatic_rotation\":\"Enabled\","
    "\"rotation_interval\":\"2592000s\"}}",
    "{\"seq\":9,\"ts\":\"2026-12-05T03:00:01.000Z\",\"type\":\"rotation_off\","
    "\"fields\":{\"account\":\"pay\",\"region\":\"cn-hangzhou\",\"kind\":"
    "\"secret\",\"id\":\"db\",\"automatic_rotation\":\"Enabled\","
    "\"rotation_interval\":\"604800s\"}}",
    "{\"seq\":10,\"ts\":\"2026-12-05T03:00:02.000Z\",\"type\":"
    "\"rotation_restored\",\"fields\":{\"account\":\"pay\",\"region\":"
    "\"cn-hangzhou\",\"kind\":\"secret\",\"id\":\"db\",\"rotation_interval\":"
    "\"604800s\",\"left_off_by_hook\":true}}",
};

static const char observe_json[] =
    "{\"observe_version\":1,\"generated\":\"2026-12-05T03:10:00Z\","
    "\"pipelines\":[{\"account\":\"pay\",\"region\":\"cn-hangzhou\","
    "\"baseline\":{\"gateways\":{\"shared\":{\"qps_avg\":10.5}}},"
    "\"residual_callers\":[{\"access_key_id\":\"LTAI1\",\"count\":3,"
    "\"events\":[{\"EventName\":\"Decrypt\"}]}],"
    "\"findings\":[{\"id\":\"a\",\"verdict\":\"act\"},{\"id\":\"b\","
    "\"verdict\":\"ok\"},{\"id\":\"c\",\"verdict\":\"act\"}]}]}";

static char *write_file(const char *dir, const char *name, const char *text) {
  char *p = km_xasprintf("%s/%s", dir, name);
  FILE *f = fopen(p, "w");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
  return p;
}

/* The journal as kmsmig writes it (docs/journal.md, format 2): each line
 * chained to the one before it ("prev", record 1 on the zero anchor of a
 * directory without manifest.sha256), and journal.mark naming the last. */
static void sha_hex(const char *s, char out[72]) {
  unsigned char md[32];
  unsigned int n = 0;
  EVP_Digest(s, strlen(s), md, &n, EVP_sha256(), NULL);
  memcpy(out, "sha256:", 7);
  for (int i = 0; i < 32; i++)
    snprintf(out + 7 + 2 * i, 3, "%02x", md[i]);
}

static char *write_file(const char *dir, const char *name, const char *text);

static char *write_journal(const char *dir) {
  km_buf_t j;
  km_buf_init(&j);
  char prev[72] = "sha256:";
  memset(prev + 7, '0', 64);
  prev[71] = '\0';
  for (size_t i = 0; i < KM_ARRAY_SIZE(journal_lines); i++) {
    const char *l = journal_lines[i];
    char *line = km_xasprintf("{\"v\":2,%.*s,\"prev\":\"%s\"}\n",
                              (int)strlen(l) - 2, l + 1, prev);
    km_buf_puts(&j, line);
    sha_hex(line, prev);
    free(line);
  }
  char *jp = write_file(dir, "journal.jsonl", j.data);
  km_buf_free(&j);
  char mark[128];
  snprintf(mark, sizeof(mark), "%20zu %s\n", KM_ARRAY_SIZE(journal_lines),
           prev);
  free(write_file(dir, "journal.mark", mark));
  return jp;
}

static km_inv_t *pay(void) {
  km_inv_t *inv =
      km_inv_new("pay", "1234567890123456", "cn-hangzhou", "kst-hzz");
  km_inv_key_t *k = km_inv_add_key(inv, "key-1");
  km_inv_key_decide(k, KM_VERDICT_MIGRATED, "key.pending", NULL);
  k->verified = true;
  return inv;
}

static const json_t *first(const json_t *a) {
  return json_array_get(a, 0);
}

static const char *s_of(const json_t *o, const char *k) {
  return json_string_value(json_object_get(o, k));
}

static void test_journal_and_observe(void **st) {
  (void)st;
  char dir[] = "/tmp/km_rx_XXXXXX";
  assert_non_null(mkdtemp(dir));
  char *jp = write_journal(dir);
  char *op = write_file(dir, "observe.json", observe_json);
  km_report_extra_t *x = NULL;
  km_err_t err;
  assert_int_equal(km_report_extra_load(dir, true, &x, &err), 0);
  assert_true(km_report_extra_observed(x));
  km_inv_t *v[] = {pay()};
  km_report_span_t spans[KM_STAGE__COUNT] = {
      {"discover", 1796436000120, 1796436001095, "ok"}};
  km_report_meta_t meta = {.name = "t", .spans = spans, .extra = x};
  json_t *r = NULL;
  assert_int_equal(km_report_build(&meta, v, 1, &r, NULL), 0);
  const json_t *p = first(json_object_get(r, "pipelines"));
  /* the timeline */
  const json_t *sg = first(json_object_get(p, "stages"));
  assert_int_equal(json_array_size(json_object_get(p, "stages")), 1);
  assert_string_equal(s_of(sg, "start"), "2026-12-05T02:00:00.120Z");
  assert_true(json_real_value(json_object_get(sg, "duration_s")) > 0.974);
  /* one batch although a resumed attempt followed it */
  const json_t *bs = json_object_get(p, "batches");
  assert_int_equal(json_array_size(bs), 1);
  const json_t *b = first(bs);
  assert_int_equal(json_integer_value(json_object_get(b, "keys")), 2);
  assert_int_equal(json_integer_value(json_object_get(b, "secrets")), 1);
  assert_string_equal(s_of(b, "task_id"), "mt-1");
  double d = json_real_value(json_object_get(b, "duration_s"));
  assert_true(d > 52.49 && d < 52.51);
  assert_int_equal(json_integer_value(json_object_get(b, "failed_secrets")), 1);
  /* the ledger: restored exactly, then off again (open), a hook's choice */
  const json_t *l = json_object_get(p, "rotation_ledger");
  assert_int_equal(json_array_size(l), 3);
  assert_string_equal(s_of(json_array_get(l, 0), "result"), "restored_exactly");
  assert_string_equal(s_of(json_array_get(l, 0), "off_request_id"),
                      "RID-OFF-1");
  assert_string_equal(s_of(json_array_get(l, 0), "restore_request_id"),
                      "RID-ON-1");
  assert_string_equal(s_of(json_array_get(l, 1), "result"), "not_restored");
  assert_true(json_is_null(json_object_get(json_array_get(l, 1), "restored")));
  assert_string_equal(s_of(json_array_get(l, 2), "result"), "left_off_by_hook");
  /* observe: copied, raw events dropped, verdicts counted and totalled */
  const json_t *o = json_object_get(p, "observe");
  assert_true(json_is_object(o));
  assert_null(
      json_object_get(first(json_object_get(o, "residual_callers")), "events"));
  assert_true(json_is_null(json_object_get(o, "after")));
  assert_int_equal(json_integer_value(
                       json_object_get(json_object_get(o, "verdicts"), "act")),
                   2);
  const json_t *t = json_object_get(r, "totals");
  assert_int_equal(json_integer_value(json_object_get(t, "batches")), 1);
  assert_int_equal(
      json_integer_value(json_object_get(json_object_get(t, "observe"), "act")),
      2);
  assert_true(json_is_true(json_object_get(r, "observed")));
  json_decref(r);
  km_report_extra_free(x);
  /* An observe.json that does not parse: refused, by name and line. */
  unlink(op);
  free(op);
  op = write_file(dir, "observe.json", "{\"pipelines\": [\n");
  assert_int_equal(km_report_extra_load(dir, true, &x, &err), KM_EPARSE);
  assert_null(x);
  assert_non_null(strstr(err.text, "observe.json:"));
  assert_non_null(strstr(err.text, "kmsmig observe"));
  unlink(op);
  unlink(jp);
  char *mp = km_xasprintf("%s/journal.mark", dir);
  unlink(mp);
  free(mp);
  rmdir(dir);
  free(op);
  free(jp);
  km_inv_free(v[0]);
}

static json_t *head(const char *hash, const char *plan, const char *shard) {
  json_t *r = json_pack("{s:s, s:s, s:[]}", "run_dir", "r", "manifest_hash",
                        hash, "pipelines");
  json_object_set_new(
      r, "plan",
      plan != NULL ? json_pack("{s:s, s:s?}", "sha256", plan, "shard", shard)
                   : json_null());
  return r;
}

static void test_merge_check(void **st) {
  (void)st;
  json_t *s1 = head("m1", "p1", "1/2"), *s2 = head("m1", "p1", "2/2");
  json_t *other_m = head("m2", "p1", "2/2"), *no_plan = head("m1", NULL, NULL);
  json_t *other_p = head("m1", "p2", "2/2");
  km_err_t e;
  assert_int_equal(km_report_merge_check(s1, s2, false, &e), 0);
  assert_int_equal(km_report_merge_check(s1, other_m, false, &e), KM_EINVAL);
  assert_non_null(strstr(e.text, "--allow-mixed"));
  assert_int_equal(km_report_merge_check(s1, other_m, true, &e), 0);
  assert_int_equal(km_report_merge_check(s1, no_plan, false, &e), KM_EINVAL);
  assert_int_equal(km_report_merge_check(s1, other_p, false, &e), KM_EINVAL);
  /* the same shard twice: never, whatever the flag */
  assert_int_equal(km_report_merge_check(s1, s1, true, &e), KM_EINVAL);
  assert_non_null(strstr(e.text, "shard 1/2"));
  /* merging concatenates the Terraform lists and names the sources */
  json_object_set_new(
      s1, "terraform",
      json_pack("{s:[{s:s}], s:[]}", "files", "account", "a", "resources"));
  json_object_set_new(
      s2, "terraform",
      json_pack("{s:[{s:s}], s:[]}", "files", "account", "b", "resources"));
  assert_int_equal(km_report_merge(s1, s2, &e), 0);
  assert_int_equal(json_array_size(json_object_get(
                       json_object_get(s1, "terraform"), "files")),
                   2);
  assert_int_equal(json_array_size(json_object_get(s1, "merged_from")), 2);
  assert_true(json_is_null(json_object_get(s1, "run_dir")));
  json_decref(s1);
  json_decref(s2);
  json_decref(other_m);
  json_decref(no_plan);
  json_decref(other_p);
}

static void test_render_escapes(void **st) {
  (void)st;
  km_inv_t *inv =
      km_inv_new("a<b>", "1234567890123456", "cn-hangzhou", "kst-1");
  km_inv_secret_t *s = km_inv_add_secret(inv, "x|y\x1b[31m<script>");
  km_inv_secret_decide(s, KM_VERDICT_FAILED, "secret.pending", "bad | * _");
  km_inv_set(&s->fail_code, "Forbidden");
  km_inv_set(&s->fail_request_id, "RID-9");
  km_report_meta_t meta = {.name = "n"};
  json_t *r;
  assert_int_equal(km_report_build(&meta, &inv, 1, &r, NULL), 0);
  km_buf_t h, m;
  km_buf_init(&h);
  km_buf_init(&m);
  assert_int_equal(km_report_render_html(r, &h, NULL), 0);
  assert_int_equal(km_report_render_md(r, &m, NULL), 0);
  assert_null(strchr(h.data, '\x1b'));
  assert_null(strchr(m.data, '\x1b'));
  assert_null(strstr(h.data, "<script"));
  assert_non_null(strstr(h.data, "x|y?[31m&lt;script&gt;"));
  assert_non_null(strstr(h.data, "a&lt;b&gt;"));
  assert_non_null(strstr(h.data, "RID-9"));
  assert_non_null(strstr(m.data, "| x\\|y?\\[31m&lt;script&gt; |"));
  assert_non_null(strstr(m.data, "| bad \\| \\* \\_ |"));
  json_t *empty = json_object();
  assert_int_equal(km_report_render_html(empty, &h, NULL), KM_EINVAL);
  json_decref(empty);
  km_buf_free(&h);
  km_buf_free(&m);
  json_decref(r);
  km_inv_free(inv);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_journal_and_observe),
      cmocka_unit_test(test_merge_check),
      cmocka_unit_test(test_render_escapes),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
