/* plan --export-fixture (core/src/run/export.c) read back by kmsim's own
 * fixture loader: what a plan model holds arrives in kmsim as it was (key
 * states, a DeleteDate, a service key's service, rotation of a disabled
 * key, a secret already migrated, a name already in the instance, the
 * instance's quota, an extra STS role), a name from the server with YAML
 * syntax in it stays one name, the AccessKeys are fresh test-only ones the
 * rehearsal reads back, the file is 0600, and an incomplete discovery
 * writes nothing. */
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

#include "run/export.h"
#include "state.h"
#include "util/util.h"

static const char *k_manifest =
    "version: 1\n"
    "name: exp\n"
    "accounts:\n"
    "  - {name: mgmt, id: \"1000000000000001\", credentials: {env: true}}\n"
    "  - name: app\n"
    "    id: \"1000000000000002\"\n"
    "    credentials: {assume_role: {via: mgmt, role: Auditor}}\n"
    "regions: [cn-hangzhou]\n"
    "instances:\n"
    "  cn-hangzhou: {id: kst-hzz6500a1b2c3d4e5f6, owner: mgmt, type: "
    "software,\n"
    "                image_version: \"2.9.3\", auto_renew: true, share_with: "
    "all}\n"
    "select: {keys: all-pending, secrets: all-pending}\n"
    "migrate: {driver: sim, when: now}\n";

typedef struct fx_s {
  char dir[64];
  char *manifest, *fixture;
  km_manifest_t *m;
  km_runtime_t rt;
  km_rt_account_t accts[2];
  km_inv_t *invs[2];
} fx_t;

static void set(char **dst, const char *v) {
  km_inv_set(dst, v);
}

static int setup(void **state) {
  fx_t *f = km_xcalloc(1, sizeof(*f));
  strcpy(f->dir, "/tmp/km-export-XXXXXX");
  assert_non_null(mkdtemp(f->dir));
  f->manifest = km_xasprintf("%s/m.yaml", f->dir);
  f->fixture = km_xasprintf("%s/fx.yaml", f->dir);
  FILE *o = fopen(f->manifest, "w");
  fputs(k_manifest, o);
  fclose(o);
  km_diags_t d;
  km_diags_init(&d);
  int rc = km_manifest_load(f->manifest, &f->m, &d);
  km_diags_print(&d, stderr, KM_DIAG_WARNING);
  km_diags_free(&d);
  assert_int_equal(rc, 0);
  f->rt.m = f->m;
  f->rt.accts = f->accts;
  f->rt.naccts = 2;
  f->accts[0].mf = &f->m->accounts[0];
  f->accts[1].mf = &f->m->accounts[1];

  const char *inst = "kst-hzz6500a1b2c3d4e5f6";
  km_inv_t *a = km_inv_new("mgmt", "1000000000000001", "cn-hangzhou", inst);
  a->inst.present = true;
  set(&a->inst.instance_id, inst);
  set(&a->inst.instance_name, "hz");
  set(&a->inst.status, "Connected");
  a->inst.spec = 1000;
  a->inst.key_quota = 7;
  a->inst.secret_quota = 3;
  a->inst.vpc_quota = 2;
  set(&a->default_instance_id, inst);
  km_inv_key_t *k = km_inv_add_key(a, "07cdbca0-5f3d-f5fe-eec2-2714cb8a9534");
  set(&k->key_spec, "Aliyun_AES_256");
  set(&k->key_state, "PendingDeletion");
  set(&k->delete_date, "2027-01-09T03:00:00Z");
  set(&k->automatic_rotation, "Disabled");
  km_inv_strs_add(&k->aliases, "alias/retired");
  k = km_inv_add_key(a, "822bf22f-24ef-a6c2-b07d-a14fc1de5f0c");
  k->creator = KM_CREATOR_SERVICE;
  km_inv_strs_add(&k->aliases, "alias/acs/oss");
  k = km_inv_add_key(a, "cb097b91-124a-1e69-4df9-ec1d297945c5");
  set(&k->key_state, "Disabled");
  set(&k->automatic_rotation, "Suspended"); /* on, while Disabled */
  set(&k->rotation_interval, "7776000s");
  k->version_count = 3;
  km_inv_secret_t *s = km_inv_add_secret(a, "odd\"name: [x]\n# y");
  set(&s->secret_type, "Rds");
  set(&s->automatic_rotation, "Enabled");
  set(&s->rotation_interval, "604800s");
  s = km_inv_add_secret(a, "moved");
  set(&s->secret_type, "Generic");
  set(&s->dkms_instance_id, inst);
  km_inv_add_dest_secret(a, "moved", NULL);         /* this one, migrated */
  km_inv_add_dest_secret(a, "created-there", NULL); /* made in the instance */
  km_inv_t *b = km_inv_new("app", "1000000000000002", "cn-hangzhou", inst);
  km_inv_add_key(b, "4e4fdcc7-09f5-1696-0aa7-6d0ba45f5e9d");
  f->invs[0] = a;
  f->invs[1] = b;
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fx_t *f = *state;
  km_inv_free(f->invs[0]);
  km_inv_free(f->invs[1]);
  km_manifest_free(f->m);
  unlink(f->fixture);
  unlink(f->manifest);
  rmdir(f->dir);
  free(f->fixture);
  free(f->manifest);
  free(f);
  return 0;
}

static void test_roundtrip(void **state) {
  fx_t *f = *state;
  km_err_t err;
  memset(&err, 0, sizeof(err));
  assert_int_equal(km_export_fixture(&f->rt, f->invs, 2, f->fixture, &err), 0);
  struct stat st;
  assert_int_equal(stat(f->fixture, &st), 0);
  assert_int_equal(st.st_mode & 0777, 0600);

  ksim_cloud_t *c = ksim_cloud_new();
  char e[512] = "";
  int rc = ksim_fixture_load(c, f->fixture, e, sizeof(e));
  if (rc != 0) fprintf(stderr, "%s\n", e);
  assert_int_equal(rc, 0);
  ksim_account_t *mgmt = ksim_account_by_name(c, "mgmt");
  ksim_account_t *app = ksim_account_by_name(c, "app");
  assert_non_null(mgmt);
  assert_non_null(app);
  ksim_region_t *r = ksim_account_region(c, mgmt, "cn-hangzhou");
  assert_string_equal(r->default_instance, "kst-hzz6500a1b2c3d4e5f6");
  ksim_key_t *k = ksim_key_find(r, "07cdbca0-5f3d-f5fe-eec2-2714cb8a9534");
  assert_non_null(k);
  assert_string_equal(k->state, "PendingDeletion");
  int64_t dd;
  assert_int_equal(km_parse_iso8601("2027-01-09T03:00:00Z", &dd), 0);
  assert_int_equal(k->delete_date, dd);
  assert_non_null(ksim_key_find(r, "alias/retired"));
  k = ksim_key_find(r, "822bf22f-24ef-a6c2-b07d-a14fc1de5f0c");
  assert_true(k->service);
  assert_string_equal(k->service_name, "oss");
  k = ksim_key_find(r, "cb097b91-124a-1e69-4df9-ec1d297945c5");
  assert_string_equal(k->state, "Disabled");
  assert_true(k->rotation_enabled);
  assert_int_equal(k->rotation_interval, 7776000);
  assert_int_equal(k->versions.n, 3);
  ksim_secret_t *s = ksim_secret_find(r, "odd\"name: [x]\n# y");
  assert_non_null(s); /* one scalar, however YAML-like */
  assert_true(s->rotation_enabled);
  assert_int_equal(s->rotation_interval, 604800);
  size_t moved = 0, created = 0;
  for (size_t i = 0; i < r->secrets.n; i++) {
    moved += strcmp(r->secrets.v[i]->name, "moved") == 0;
    created += strcmp(r->secrets.v[i]->name, "created-there") == 0 &&
               r->secrets.v[i]->instance_id != NULL;
  }
  assert_int_equal(moved, 1); /* not twice: it is the migrated one */
  assert_int_equal(created, 1);
  ksim_instance_t *in = ksim_instance_by_id(c, "kst-hzz6500a1b2c3d4e5f6");
  assert_non_null(in);
  assert_string_equal(in->owner, "1000000000000001");
  assert_string_equal(in->image_version, "2.9.3");
  assert_true(in->auto_renew);
  /* the STS role app is reached by, trusting mgmt */
  assert_int_equal(app->roles.n, 1);
  assert_string_equal(app->roles.v[0].name, "Auditor");
  assert_string_equal(app->roles.v[0].trusted.v[0], "1000000000000001");
  assert_non_null(ksim_key_find(ksim_account_region(c, app, "cn-hangzhou"),
                                "4e4fdcc7-09f5-1696-0aa7-6d0ba45f5e9d"));

  km_rt_static_key_t *keys = NULL;
  size_t n = 0;
  assert_int_equal(km_export_read_keys(f->fixture, &keys, &n, &err), 0);
  assert_int_equal(n, 2);
  for (size_t i = 0; i < n; i++) {
    assert_memory_equal(keys[i].id, "KSIMTEST", 8);
    assert_memory_equal(keys[i].secret, "test-only-rehearsal-", 20);
    const char *sk = NULL;
    ksim_account_t *who = ksim_account_by_ak(c, keys[i].id, &sk);
    assert_non_null(who);
    assert_string_equal(who->name, keys[i].account);
    assert_string_equal(sk, keys[i].secret);
  }
  assert_string_not_equal(keys[0].id, keys[1].id);
  km_export_keys_free(keys, n);
  ksim_cloud_free(c);
}

static void test_fresh_keys_each_time(void **state) {
  fx_t *f = *state;
  km_err_t err;
  km_rt_static_key_t *k1 = NULL, *k2 = NULL;
  size_t n1 = 0, n2 = 0;
  assert_int_equal(km_export_fixture(&f->rt, f->invs, 2, f->fixture, &err), 0);
  assert_int_equal(km_export_read_keys(f->fixture, &k1, &n1, &err), 0);
  assert_int_equal(km_export_fixture(&f->rt, f->invs, 2, f->fixture, &err), 0);
  assert_int_equal(km_export_read_keys(f->fixture, &k2, &n2, &err), 0);
  assert_int_equal(n1, n2);
  assert_string_not_equal(k1[0].id, k2[0].id);
  assert_string_not_equal(k1[0].secret, k2[0].secret);
  km_export_keys_free(k1, n1);
  km_export_keys_free(k2, n2);
}

static void test_incomplete_writes_nothing(void **state) {
  fx_t *f = *state;
  km_err_t err;
  memset(&err, 0, sizeof(err));
  f->invs[1]->incomplete = true;
  assert_int_equal(km_export_fixture(&f->rt, f->invs, 2, f->fixture, &err),
                   KM_EINVAL);
  f->invs[1]->incomplete = false;
  assert_non_null(strstr(err.text, "app cn-hangzhou"));
  assert_int_equal(access(f->fixture, F_OK), -1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_roundtrip, setup, teardown),
      cmocka_unit_test_setup_teardown(test_fresh_keys_each_time, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_incomplete_writes_nothing, setup,
                                      teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
