/* The manifest model the engine will read: the examples in manifests/ load
 * into the values an operator wrote (credentials, regions, instances,
 * overrides, includes with their own positions), defaults are applied, the
 * small value parsers accept and refuse what docs/manifest.md says, and
 * broken files are reported rather than crashing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "manifest/manifest.h"
#include "manifest/schema.h"

/* Loads path relative to the source tree; asserts success. */
static km_manifest_t *load_ok(const char *path, km_diags_t *d) {
  assert_int_equal(chdir(KM_SOURCE_DIR), 0);
  km_diags_init(d);
  km_manifest_t *m = NULL;
  int rc = km_manifest_load(path, &m, d);
  if (rc != 0) km_diags_print(d, stderr, KM_DIAG_WARNING);
  assert_int_equal(rc, 0);
  assert_non_null(m);
  return m;
}

static void test_demo_model(void **state) {
  (void)state;
  km_diags_t d;
  km_manifest_t *m = load_ok("manifests/demo.yaml", &d);
  assert_int_equal(d.n, 0);
  assert_int_equal(m->version, 1);
  assert_string_equal(m->name, "demo");
  assert_false(m->directory.present);
  assert_int_equal(m->naccounts, 3);
  const km_mf_account_t *mg = km_manifest_account(m, "mgmt");
  assert_non_null(mg);
  assert_string_equal(mg->id, "1000000000000001");
  assert_int_equal(mg->cred.kind, KM_MF_CRED_ENV);
  const km_mf_account_t *b = km_manifest_account(m, "app-b");
  assert_int_equal(b->cred.kind, KM_MF_CRED_ASSUME_ROLE);
  assert_string_equal(b->cred.via, "mgmt");
  assert_string_equal(b->cred.role, KM_DEFAULT_MEMBER_ROLE);
  assert_string_equal(b->cred.session_name, "kmsmig-demo");
  assert_int_equal(b->cred.duration_s, 3600);
  /* Accounts without their own regions get the manifest's. */
  assert_false(b->regions_overridden);
  assert_int_equal(b->regions.n, 2);
  assert_string_equal(b->regions.v[1], "cn-shanghai");
  /* Positions point into the file that holds the account (demo.yaml
   * includes one file per account), 1-based. */
  assert_string_equal(b->pos.file, "manifests/../accounts/demo/app-b.yaml");
  assert_int_equal(b->pos.line, 2);
  assert_int_equal(b->pos.col, 1);

  assert_int_equal(m->ninstances, 2);
  const km_mf_instance_t *hz = km_manifest_instance(m, "cn-hangzhou");
  assert_string_equal(hz->id, "kst-hzz6500a1b2c3d4e5f6");
  assert_string_equal(hz->owner, "mgmt");
  assert_int_equal(hz->type, KM_MF_INST_SOFTWARE);
  assert_true(hz->share_all);
  assert_int_equal(hz->image_major, 2);
  assert_int_equal(hz->image_minor, 9);
  assert_int_equal(hz->image_patch, 3);
  assert_int_equal(hz->auto_renew, 1);
  const km_mf_instance_t *sh = km_manifest_instance(m, "cn-shanghai");
  assert_false(sh->share_all);
  assert_int_equal(sh->share_with.n, 2);

  assert_int_equal(m->select.keys, KM_SEL_ALL_PENDING);
  assert_int_equal(m->migrate.driver, KM_MF_DRIVER_SIM);
  assert_int_equal(m->migrate.when, 0);
  assert_int_equal(m->migrate.task_timeout_s, 1800);
  assert_true(m->migrate.set_default);
  assert_int_equal(m->concurrency_accounts, 8);
  assert_int_equal(m->concurrency_per_endpoint, 4);
  assert_int_equal(m->noverrides, 1);
  assert_string_equal(m->overrides[0].host, "*.aliyuncs.com");
  assert_string_equal(m->overrides[0].address, "127.0.0.1:18443");
  assert_false(m->overrides[0].http);
  assert_int_equal(m->signature, 3);
  km_manifest_free(m);
  km_diags_free(&d);
}

static void test_multi_account_includes(void **state) {
  (void)state;
  km_diags_t d;
  km_manifest_t *m = load_ok("manifests/multi-account.yaml", &d);
  assert_true(m->directory.present);
  assert_string_equal(m->directory.management, "acme-mgmt");
  assert_string_equal(m->directory.include_folders.v[0], "fd-7Yq0a1");
  assert_int_equal(m->directory.ninclude_tags, 1);
  assert_string_equal(m->directory.include_tags[0].value, "prod");
  assert_string_equal(m->directory.exclude_accounts.v[0], "1502957755542187");
  /* The included account files in sorted order, each with its own file
   * position. */
  assert_int_equal(m->naccounts, 3);
  assert_string_equal(m->accounts[0].name, "acme-mgmt");
  assert_string_equal(m->accounts[1].name, "orders");
  assert_string_equal(m->accounts[2].name, "payments");
  assert_string_equal(m->accounts[2].pos.file,
                      "manifests/../accounts/acme/payments.yaml");
  assert_int_equal(m->accounts[2].pos.line, 3);
  assert_int_equal(m->accounts[2].pos.col, 1);
  /* orders has no credentials: the directory gives it the member role. */
  const km_mf_account_t *o = km_manifest_account(m, "orders");
  assert_int_equal(o->cred.kind, KM_MF_CRED_ASSUME_ROLE);
  assert_true(o->cred.implied);
  assert_string_equal(o->cred.via, "acme-mgmt");
  assert_string_equal(o->cred.role, KM_DEFAULT_MEMBER_ROLE);
  const km_mf_account_t *p = km_manifest_account(m, "payments");
  assert_false(p->cred.implied);
  assert_string_equal(p->cred.role, "KmsMigrationRole");
  assert_string_equal(p->cred.external_id_env, "PAYMENTS_EXTERNAL_ID");
  assert_int_equal(p->cred.duration_s, 3600);
  assert_true(p->regions_overridden);
  assert_int_equal(p->regions.n, 1);
  /* The management account keeps its own env credentials. */
  assert_int_equal(km_manifest_account(m, "acme-mgmt")->cred.kind,
                   KM_MF_CRED_ENV);
  /* Hook paths are joined to the manifest's directory. */
  assert_int_equal(m->hooks.post_check.n, 1);
  assert_string_equal(m->hooks.post_check.v[0],
                      "manifests/hooks/post_check_tags.lua");
  assert_null(m->hooks.rotation);
  assert_true(m->tolerance_is_percent);
  assert_int_equal(m->tolerance, 5);
  /* 2027-03-06T02:00:00+08:00 is 2027-03-05T18:00:00Z. */
  assert_int_equal(m->migrate.when, 1804269600);
  km_manifest_free(m);
  km_diags_free(&d);
}

static void test_byok_model(void **state) {
  (void)state;
  km_diags_t d;
  km_manifest_t *m = load_ok("manifests/byok.yaml", &d);
  assert_int_equal(m->instances[0].type, KM_MF_INST_HARDWARE);
  assert_true(m->select.byok_present);
  assert_int_equal(m->select.keys, KM_SEL_NONE);
  assert_int_equal(m->select.byok_keys.n, 1);
  assert_int_equal(m->select.byok_algorithm, KM_MF_WRAP_RSAES_OAEP_SHA_256);
  assert_false(m->select.byok_pem);
  assert_int_equal(m->select.byok_expiry, 0);
  assert_string_equal(m->select.byok_material_dir, "/secure/byok");
  assert_int_equal(m->accounts[0].cred.kind, KM_MF_CRED_PROFILE);
  assert_string_equal(m->accounts[0].cred.profile, "vault-admin");
  km_manifest_free(m);
  km_diags_free(&d);
}

static void test_all_errors_at_once(void **state) {
  (void)state;
  assert_int_equal(chdir(KM_SOURCE_DIR), 0);
  km_diags_t d;
  km_diags_init(&d);
  km_manifest_t *m = NULL;
  assert_int_equal(
      km_manifest_load("tests/manifest/three-mistakes.yaml", &m, &d),
      KM_EMANIFEST);
  assert_null(m);
  assert_int_equal(d.nerrors, 3);
  /* Sorted: the manifest's errors first, then the included file's (the
   * warnings, e.g. select not set, are not counted here). */
  const km_diag_t *e[3];
  size_t ne = 0;
  for (size_t i = 0; i < d.n && ne < 3; i++)
    if (d.v[i].level == KM_DIAG_ERROR) e[ne++] = &d.v[i];
  assert_int_equal(ne, 3);
  assert_int_equal(e[0]->line, 15);
  assert_int_equal(e[1]->line, 32);
  assert_string_equal(e[2]->file,
                      "tests/manifest/three-mistakes-accounts/app-b.yaml");
  km_diags_free(&d);
}

static int load_text(const char *text, km_diags_t *d) {
  char path[] = "/tmp/km_manifest_XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
  close(fd);
  km_diags_init(d);
  km_manifest_t *m = NULL;
  int rc = km_manifest_load(path, &m, d);
  km_manifest_free(m);
  unlink(path);
  return rc;
}

static void test_broken_files(void **state) {
  (void)state;
  km_diags_t d;
  assert_int_equal(load_text("", &d), KM_EMANIFEST);
  assert_int_equal(d.nerrors, 1);
  assert_non_null(strstr(d.v[0].msg, "version: 1"));
  km_diags_free(&d);
  assert_int_equal(load_text("- a\n- b\n", &d), KM_EMANIFEST);
  assert_int_equal(d.nerrors, 1);
  km_diags_free(&d);
  assert_int_equal(load_text("version: 1\n---\nname: x\n", &d), KM_EMANIFEST);
  assert_non_null(strstr(d.v[0].msg, "second YAML document"));
  assert_int_equal(d.v[0].line, 2);
  km_diags_free(&d);
  /* Missing required sections are all reported, not just the first. */
  assert_int_equal(load_text("version: 1\n", &d), KM_EMANIFEST);
  assert_int_equal(d.nerrors, 3); /* name, instances, accounts */
  km_diags_free(&d);
  /* A literal secret is refused wherever it appears, value never echoed. */
  assert_int_equal(load_text("version: 1\nsecurity_token: hunter2\n", &d),
                   KM_EMANIFEST);
  for (size_t i = 0; i < d.n; i++)
    assert_null(strstr(d.v[i].msg, "hunter2"));
  km_diags_free(&d);
  km_diags_init(&d);
  km_manifest_t *m = NULL;
  assert_int_equal(km_manifest_load("/nonexistent/m.yaml", &m, &d), KM_ENOENT);
  assert_int_equal(d.nerrors, 1);
  assert_int_equal(d.v[0].line, 0);
  km_diags_free(&d);
}

static void test_value_parsers(void **state) {
  (void)state;
  int64_t v = 0;
  assert_int_equal(km__parse_duration("2h", &v), 0);
  assert_int_equal(v, 7200);
  assert_int_equal(km__parse_duration("1h30m", &v), 0);
  assert_int_equal(v, 5400);
  assert_int_equal(km__parse_duration("90s", &v), 0);
  assert_int_equal(v, 90);
  assert_int_equal(km__parse_duration("2", &v), KM_EINVAL);
  assert_int_equal(km__parse_duration("0s", &v), KM_EINVAL);
  assert_int_equal(km__parse_duration("h", &v), KM_EINVAL);
  assert_int_equal(km__parse_duration("2h ", &v), KM_EINVAL);

  assert_int_equal(km__parse_time("2026-12-05T02:00:00+08:00", &v), 0);
  assert_int_equal(v, 1796407200); /* 2026-12-04T18:00:00Z */
  assert_int_equal(km__parse_time("2026-12-04T18:00:00Z", &v), 0);
  assert_int_equal(v, 1796407200);
  assert_int_equal(km__parse_time("2026-12-04T18:00:00", &v), KM_EINVAL);
  assert_int_equal(km__parse_time("2026-02-30T00:00:00Z", &v), KM_EINVAL);
  assert_int_equal(km__parse_time("2026-12-04T18:00:00+0800", &v), KM_EINVAL);

  /* BYOK expiry: the material is deleted at 00:00 UTC+8 of that date. */
  assert_int_equal(km__parse_date_cst("2027-01-01", &v), 0);
  assert_int_equal(v, 1798761600 - 8 * 3600); /* 2027-01-01T00:00Z - 8h */
  assert_int_equal(km__parse_date_cst("2027-13-01", &v), KM_EINVAL);

  assert_int_equal(km__edit_distance("regoins", "regions"), 2);
  static const char *const keys[] = {"regions", "instances", "accounts", NULL};
  assert_string_equal(km__nearest("regoins", keys), "regions");
  assert_null(km__nearest("zzz", keys));

  assert_true(km__secret_key("access_key_secret"));
  assert_true(km__secret_key("AccessKeySecret"));
  assert_true(km__secret_key("security-token"));
  assert_false(km__secret_key("secrets"));
  assert_false(km__secret_key("external_id_env"));

  assert_true(km_manifest_region_known("cn-chengdu"));
  assert_false(km_manifest_region_known("cn-hangzou"));
  assert_true(km_manifest_region_mainland("cn-shanghai"));
  assert_false(km_manifest_region_mainland("cn-hongkong"));
  assert_false(km_manifest_region_mainland("ap-southeast-1"));
}

/* A manifest that says nothing about select leaves both modes unset (the
 * rules then skip everything: fail closed), never "all-pending".  The
 * manifest is demo.yaml without its select block, written to a temporary
 * file with the includes made absolute. */
static void test_select_absent_is_unset(void **state) {
  (void)state;
  assert_int_equal(chdir(KM_SOURCE_DIR), 0);
  FILE *in = fopen("manifests/demo.yaml", "r");
  assert_non_null(in);
  char path[] = "/tmp/kmsmig-test-manifest-XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  FILE *out = fdopen(fd, "w");
  assert_non_null(out);
  char line[512];
  int skip = 0;
  while (fgets(line, sizeof(line), in) != NULL) {
    if (strncmp(line, "select:", 7) == 0) {
      skip = 1;
      continue;
    }
    if (skip && line[0] == ' ') continue;
    skip = 0;
    /* ../x relative to manifests/ is KM_SOURCE_DIR/x. */
    char *rel = strstr(line, "../");
    if (rel != NULL) {
      fprintf(out, "%.*s%s/%s", (int)(rel - line), line, KM_SOURCE_DIR,
              rel + 3);
    } else {
      fputs(line, out);
    }
  }
  fclose(in);
  fclose(out);
  /* The copy in /tmp includes the source tree's account files: outside its
   * own directory tree, so the explicit option allows them. */
  km_diags_t d;
  km_diags_init(&d);
  km_manifest_t *m = NULL;
  km_manifest_opts_t mo = {.allow_include_outside = true};
  assert_int_equal(km_manifest_load_opts(path, &mo, &m, &d), 0);
  assert_int_equal(m->select.keys, KM_SEL_UNSET);
  assert_int_equal(m->select.secrets, KM_SEL_UNSET);
  assert_false(m->select.byok_present);
  km_manifest_free(m);
  km_diags_free(&d);
  unlink(path);

  /* And the demo itself selects all pending of both. */
  m = load_ok("manifests/demo.yaml", &d);
  assert_int_equal(m->select.keys, KM_SEL_ALL_PENDING);
  assert_int_equal(m->select.secrets, KM_SEL_ALL_PENDING);
  km_manifest_free(m);
  km_diags_free(&d);
}

/* concurrency.qps: the manifest's figures for every account and an
 * account's own, by API group (0: the published figure). */
static void test_qps_model(void **state) {
  (void)state;
  static const char text[] =
      "version: 1\n"
      "name: t\n"
      "accounts:\n"
      "  - name: mgmt\n"
      "    id: \"1000000000000001\"\n"
      "    credentials: { env: true }\n"
      "  - name: app\n"
      "    id: \"1000000000000002\"\n"
      "    credentials: { assume_role: { via: mgmt } }\n"
      "    concurrency: { qps: { key-read: 10, secret-value: 2.5 } }\n"
      "regions: [cn-hangzhou]\n"
      "instances:\n"
      "  cn-hangzhou:\n"
      "    id: kst-hzz6500a1b2c3d4e5f6\n"
      "    owner: mgmt\n"
      "    type: software\n"
      "    image_version: \"2.9.3\"\n"
      "    auto_renew: true\n"
      "    share_with: all\n"
      "migrate:\n"
      "  driver: sim\n"
      "  task_timeout: 30m\n"
      "concurrency: { accounts: 4, qps: { key-read: 20, secret-meta: 15 } }\n";
  char path[] = "/tmp/km_manifest_qps_XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
  close(fd);
  km_diags_t d;
  km_diags_init(&d);
  km_manifest_t *m = NULL;
  int rc = km_manifest_load(path, &m, &d);
  if (rc != 0) km_diags_print(&d, stderr, KM_DIAG_WARNING);
  assert_int_equal(rc, 0);
  assert_true(m->qps.qps[KM_RL_KEY_READ] == 20);
  assert_true(m->qps.qps[KM_RL_SECRET_META] == 15);
  assert_true(m->qps.qps[KM_RL_KEY_WRITE] == 0);
  const km_mf_account_t *a = km_manifest_account(m, "app");
  assert_true(a->qps.qps[KM_RL_KEY_READ] == 10);
  assert_true(a->qps.qps[KM_RL_SECRET_VALUE] == 2.5);
  assert_true(km_manifest_account(m, "mgmt")->qps.qps[KM_RL_KEY_READ] == 0);
  km_manifest_free(m);
  km_diags_free(&d);
  unlink(path);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_demo_model),
      cmocka_unit_test(test_multi_account_includes),
      cmocka_unit_test(test_byok_model),
      cmocka_unit_test(test_all_errors_at_once),
      cmocka_unit_test(test_broken_files),
      cmocka_unit_test(test_value_parsers),
      cmocka_unit_test(test_select_absent_is_unset),
      cmocka_unit_test(test_qps_model),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
