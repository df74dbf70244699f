/* The Terraform hand-off (core/src/run/terraform.c): which resources get a
 * change (moved and verified, or already in an instance; nothing else),
 * HCL strings that a hostile secret name cannot break out of, stable valid
 * addresses that two similar names never share, private files, and a
 * report section that reads back into the same files; a report without the
 * section or with a field missing is refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "run/terraform.h"
#include "util/util.h"

static km_inv_t *fleet(void) {
  km_inv_t *inv =
      km_inv_new("payments", "1234567890123456", "cn-hangzhou", "kst-dest");
  inv->instance_type = KM_INV_TYPE_SOFTWARE;
  km_inv_key_t *k = km_inv_add_key(inv, "key-b");
  km_inv_key_decide(k, KM_VERDICT_MIGRATED, "key.pending", NULL);
  k->verified = true;
  k = km_inv_add_key(inv, "key-a-hsm");
  km_inv_key_decide(k, KM_VERDICT_MIGRATED, "key.pending", NULL);
  km_inv_set(&k->protection_level, "HSM");
  k->verified = true;
  k = km_inv_add_key(inv, "key-unverified");
  km_inv_key_decide(k, KM_VERDICT_MIGRATED, "key.pending", NULL);
  k = km_inv_add_key(inv, "key-done");
  km_inv_key_decide(k, KM_VERDICT_DONE, "key.already_migrated", NULL);
  km_inv_set(&k->dkms_instance_id, "kst-other");
  k = km_inv_add_key(inv, "key-done-noid"); /* no instance known: left out */
  km_inv_key_decide(k, KM_VERDICT_DONE, "key.already_migrated", NULL);
  k = km_inv_add_key(inv, "key-skipped");
  km_inv_key_decide(k, KM_VERDICT_SKIPPED, "key.multi_version", NULL);
  km_inv_secret_t *s = km_inv_add_secret(inv, "db/\"x\"${var.y}\nz");
  km_inv_secret_decide(s, KM_VERDICT_MIGRATED, "secret.pending", NULL);
  s->verified = true;
  s = km_inv_add_secret(inv, "failed-one");
  km_inv_secret_decide(s, KM_VERDICT_FAILED, "secret.pending", NULL);
  return inv;
}

static void collect_picks_what_is_in_an_instance(void **state) {
  (void)state;
  km_inv_t *inv = fleet();
  km_tf_set_t s;
  km_tf_set_init(&s);
  km_tf_collect(&s, &inv, 1);
  assert_int_equal(s.n, 4);
  /* sorted: keys by id, then secrets */
  assert_string_equal(s.v[0].id, "key-a-hsm");
  assert_true(s.v[0].hsm_to_software);
  assert_string_equal(s.v[0].instance_id, "kst-dest");
  assert_string_equal(s.v[1].id, "key-b");
  assert_false(s.v[1].hsm_to_software);
  assert_string_equal(s.v[2].id, "key-done");
  assert_true(s.v[2].already);
  assert_string_equal(s.v[2].instance_id, "kst-other");
  assert_int_equal(s.v[3].kind, KM_TF_SECRET);
  km_tf_set_free(&s);
  km_inv_free(inv);
}

/* A fleet's pipelines come in the order they were planned, not by name:
 * the set is in the files' order (account, region, kind, id) all the same,
 * and allocated once at its size. */
static km_inv_t *one(const char *account, const char *region, const char *key2,
                     const char *key1) {
  km_inv_t *inv = km_inv_new(account, NULL, region, "kst-dest");
  const char *ids[] = {key2, key1};
  for (int i = 0; i < 2; i++) {
    km_inv_key_t *k = km_inv_add_key(inv, ids[i]);
    km_inv_key_decide(k, KM_VERDICT_MIGRATED, "key.pending", NULL);
    k->verified = true;
  }
  km_inv_secret_t *x = km_inv_add_secret(inv, "s");
  km_inv_secret_decide(x, KM_VERDICT_MIGRATED, "secret.pending", NULL);
  x->verified = true;
  return inv;
}

static void collect_sorts_a_fleet(void **state) {
  (void)state;
  km_inv_t *invs[] = {one("zeta", "cn-shanghai", "k2", "k1"),
                      one("alpha", "cn-shanghai", "k9", "k3"),
                      one("zeta", "cn-hangzhou", "k5", "k4"),
                      one("alpha", "cn-hangzhou", "k8", "k7")};
  km_tf_set_t s;
  km_tf_set_init(&s);
  km_tf_collect(&s, invs, 4);
  assert_int_equal(s.n, 12);
  assert_int_equal(s.cap, 12);
  const char *want[][3] = {
      {"alpha", "cn-hangzhou", "k7"}, {"alpha", "cn-hangzhou", "k8"},
      {"alpha", "cn-hangzhou", "s"},  {"alpha", "cn-shanghai", "k3"},
      {"alpha", "cn-shanghai", "k9"}, {"alpha", "cn-shanghai", "s"},
      {"zeta", "cn-hangzhou", "k4"},  {"zeta", "cn-hangzhou", "k5"},
      {"zeta", "cn-hangzhou", "s"},   {"zeta", "cn-shanghai", "k1"},
      {"zeta", "cn-shanghai", "k2"},  {"zeta", "cn-shanghai", "s"}};
  for (size_t i = 0; i < 12; i++) {
    assert_string_equal(s.v[i].account, want[i][0]);
    assert_string_equal(s.v[i].region, want[i][1]);
    assert_string_equal(s.v[i].id, want[i][2]);
  }
  km_tf_set_free(&s);
  for (size_t i = 0; i < 4; i++)
    km_inv_free(invs[i]);
}

static char *quoted(const char *s) {
  km_buf_t b;
  km_buf_init(&b);
  km_tf_hcl_quote(&b, s);
  return km_buf_steal(&b);
}

static void strings_cannot_break_out(void **state) {
  (void)state;
  char *q = quoted("a\"b\\c${x}%{y}$z%w\n\r\t\x01");
  assert_string_equal(q, "\"a\\\"b\\\\c$${x}%%{y}$z%w\\n\\r\\t\\u0001\"");
  free(q);
  /* a right-to-left override and a byte that is not UTF-8 */
  q = quoted("x\xe2\x80\xaey\xffz\xe5\x90\x8d");
  assert_string_equal(q, "\"x\\u202Ey\\uFFFDz\xe5\x90\x8d\"");
  free(q);
}

static bool valid_ident(const char *s) {
  if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z') ||
        s[0] == '_'))
    return false;
  for (; *s; s++)
    if (!(strchr("_-", *s) || (*s >= 'a' && *s <= 'z') ||
          (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9')))
      return false;
  return true;
}

static void addresses_are_valid_stable_and_distinct(void **state) {
  (void)state;
  km_tf_res_t a = {.region = "cn-hangzhou", .id = "a/b", .kind = KM_TF_SECRET};
  km_tf_res_t b = {.region = "cn-hangzhou", .id = "a.b", .kind = KM_TF_SECRET};
  km_tf_res_t k = {.region = "cn-hangzhou",
                   .id = "10851a59-9470-3082-75c0-aca0a2ba495d",
                   .kind = KM_TF_KEY};
  char x[160], y[160], z[160], again[160];
  km_tf_address_name(&a, x, sizeof(x));
  km_tf_address_name(&b, y, sizeof(y));
  km_tf_address_name(&k, z, sizeof(z));
  km_tf_address_name(&a, again, sizeof(again));
  assert_true(valid_ident(x) && valid_ident(y) && valid_ident(z));
  assert_string_not_equal(x, y);
  assert_string_equal(x, again);
  /* an id HCL accepts as it is keeps its name, without a hash */
  assert_string_equal(z,
                      "key_cn-hangzhou_10851a59-9470-3082-75c0-aca0a2ba495d");
  km_tf_res_t nl = {.region = "cn-hangzhou", .id = "x\ny\"}", .kind = 1};
  km_tf_address_name(&nl, x, sizeof(x));
  assert_true(valid_ident(x));
}

static char *slurp(const char *path) {
  FILE *f = fopen(path, "rb");
  assert_non_null(f);
  km_buf_t b;
  km_buf_init(&b);
  char tmp[4096];
  size_t n;
  while ((n = fread(tmp, 1, sizeof(tmp), f)) > 0)
    km_buf_append(&b, tmp, n);
  fclose(f);
  return km_buf_steal(&b);
}

static void collect_resource(const json_t *res, void *ud) {
  json_array_append_new(ud, json_deep_copy(res));
}

/* The report field of s, inside a document of its own.  What the field
 * hands on_resource, and km_tf_report_head (the head report.html and
 * report.md are rendered with), are what the document holds. */
static json_t *report_of(km_tf_set_t *s) {
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  assert_non_null(f);
  fputs("{\"report_version\": 1", f);
  json_t *seen = json_array();
  km_tf_report_t t = {s, collect_resource, seen};
  assert_int_equal(km_tf_report_field(f, &t), 0);
  fputs("\n}\n", f);
  fclose(f);
  json_error_t je;
  json_t *j = json_loads(text, 0, &je);
  if (j == NULL) fail_msg("report field is not JSON: %s\n%s", je.text, text);
  free(text);
  json_t *tf = json_deep_copy(json_object_get(j, "terraform"));
  assert_true(json_equal(json_object_get(tf, "resources"), seen));
  json_object_set_new(tf, "resources", json_array());
  json_t *head = km_tf_report_head(s);
  assert_true(json_equal(head, tf));
  json_decref(head);
  json_decref(tf);
  json_decref(seen);
  return j;
}

static void files_and_report_round_trip(void **state) {
  (void)state;
  char tmpl[] = "/tmp/km-tf-XXXXXX";
  assert_non_null(mkdtemp(tmpl));
  char *dir = km_xasprintf("%s/terraform", tmpl);
  km_inv_t *inv = fleet();
  km_tf_set_t s;
  km_tf_set_init(&s);
  km_tf_collect(&s, &inv, 1);
  km_err_t err;
  memset(&err, 0, sizeof(err));
  assert_int_equal(km_tf_write(&s, dir, KM_TF_ATTRIBUTE, &err), 0);
  struct stat st;
  assert_int_equal(stat(dir, &st), 0);
  assert_int_equal(st.st_mode & 0777, 0700);
  char *tf = km_xasprintf("%s/payments.tf", dir);
  assert_int_equal(stat(tf, &st), 0);
  assert_int_equal(st.st_mode & 0777, 0600);
  char *first = slurp(tf);
  assert_non_null(strstr(first, "dkms_instance_id = \"kst-other\""));
  assert_non_null(strstr(first, "ignore_changes = [protection_level]"));
  assert_non_null(
      strstr(first, "secret_name      = \"db/\\\"x\\\"$${var.y}\\nz\""));
  assert_null(strstr(first, "key-unverified"));
  assert_null(strstr(first, "failed-one"));

  json_t *rep = report_of(&s);
  const json_t *res =
      json_object_get(json_object_get(rep, "terraform"), "resources");
  assert_int_equal(json_array_size(res), 4);
  assert_string_equal(
      json_string_value(json_object_get(json_array_get(res, 1), "change")),
      "add dkms_instance_id = \"kst-dest\"");
  /* Read back and written again: the same file. */
  km_tf_set_t back;
  km_tf_set_init(&back);
  assert_int_equal(km_tf_from_report(&back, rep, &err), 0);
  assert_int_equal(km_tf_write(&back, dir, KM_TF_ATTRIBUTE, &err), 0);
  char *second = slurp(tf);
  assert_string_equal(first, second);
  /* The other style: lifecycle only, no argument. */
  assert_int_equal(km_tf_write(&back, dir, KM_TF_IGNORE, &err), 0);
  char *ign = slurp(tf);
  assert_null(strstr(ign, "dkms_instance_id ="));
  assert_non_null(strstr(ign, "ignore_changes = [dkms_instance_id, "
                              "enable_automatic_rotation, rotation_interval]"));
  assert_non_null(strstr(ign, "ignore_changes = [dkms_instance_id, "
                              "automatic_rotation, rotation_interval, "
                              "protection_level]"));
  free(ign);
  km_tf_set_free(&back);

  /* Fail closed: a field missing, or no section at all. */
  json_object_del(json_array_get(res, 2), "instance_id");
  km_tf_set_init(&back);
  assert_int_equal(km_tf_from_report(&back, rep, &err), KM_EINVAL);
  assert_non_null(strstr(err.text, "resources[2]"));
  km_tf_set_free(&back);
  json_object_del(rep, "terraform");
  km_tf_set_init(&back);
  assert_int_equal(km_tf_from_report(&back, rep, &err), KM_EINVAL);
  km_tf_set_free(&back);

  json_decref(rep);
  /* Nothing migrated: still a valid section, with empty lists. */
  km_tf_set_t none;
  km_tf_set_init(&none);
  rep = report_of(&none);
  assert_int_equal(json_array_size(json_object_get(
                       json_object_get(rep, "terraform"), "resources")),
                   0);
  json_decref(rep);
  km_tf_set_free(&none);
  free(first);
  free(second);
  char *cmd = km_xasprintf("rm -rf '%s'", tmpl);
  assert_int_equal(system(cmd), 0);
  free(cmd);
  free(tf);
  free(dir);
  km_tf_set_free(&s);
  km_inv_free(inv);
}

static bool starts(const char *s, const char *prefix) {
  return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* Text from a manifest or an edited report (account, region, instance)
 * cannot end a comment or a string either: every line of the .tf is a
 * comment, blank, or one kmsmig wrote. */
static void no_field_breaks_a_line(void **state) {
  (void)state;
  char tmpl[] = "/tmp/km-tf-XXXXXX";
  assert_non_null(mkdtemp(tmpl));
  km_tf_set_t s;
  km_tf_set_init(&s);
  s.v = km_xcalloc(1, sizeof(*s.v));
  s.n = s.cap = 1;
  s.v[0] = (km_tf_res_t){.account = km_xstrdup("acct\nresource \"x\" \"y\" {"),
                         .region = km_xstrdup("cn\n}\nregion"),
                         .id = km_xstrdup("name\n# ok"),
                         .instance_id = km_xstrdup("kst-1\"\n}"),
                         .kind = KM_TF_SECRET};
  km_err_t err;
  memset(&err, 0, sizeof(err));
  for (int st = 0; st < 2; st++) {
    assert_int_equal(km_tf_write(&s, tmpl, (km_tf_style_t)st, &err), 0);
    char *cmd = km_xasprintf("cat %s/*.tf", tmpl);
    FILE *f = popen(cmd, "r");
    assert_non_null(f);
    char line[1024];
    while (fgets(line, sizeof(line), f) != NULL) {
      bool ok = line[0] == '#' || line[0] == '\n' || line[0] == '}' ||
                strcmp(line, "  }\n") == 0 ||
                starts(line, "resource \"alicloud_kms_secret\" \"secret_") ||
                starts(line, "import {") || starts(line, "  secret_name ") ||
                starts(line, "  dkms_instance_id = \"") ||
                starts(line, "  lifecycle {") ||
                starts(line, "    ignore_changes = [") ||
                starts(line, "  to = alicloud_kms_secret.secret_") ||
                starts(line, "  id = \"");
      if (!ok) fail_msg("a field broke a line of the .tf: %s", line);
    }
    pclose(f);
    free(cmd);
  }
  char *cmd = km_xasprintf("rm -rf '%s'", tmpl);
  assert_int_equal(system(cmd), 0);
  free(cmd);
  km_tf_set_free(&s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(collect_picks_what_is_in_an_instance),
      cmocka_unit_test(collect_sorts_a_fleet),
      cmocka_unit_test(strings_cannot_break_out),
      cmocka_unit_test(addresses_are_valid_stable_and_distinct),
      cmocka_unit_test(files_and_report_round_trip),
      cmocka_unit_test(no_field_breaks_a_line),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
