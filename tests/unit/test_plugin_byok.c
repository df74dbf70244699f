/* The `byok` stage (km_stage_byok), driven by the fake stage host
 * (tests/plugin/fakehost.h) on a typed model and typed settings
 * (select.byok as the manifest parsed it), and a fake
 * KMS that really unwraps what ImportKeyMaterial receives: material found
 * by KeyId in a private directory, wrapped for the public key of the SAME
 * GetParametersForImport answer as the token; the token and its public key
 * reused only as a pair, only within their 24 h, a new pair after
 * ExpiredImportToken; early refusals (no calls) for a software destination,
 * a region outside mainland China, missing or group-readable material, and
 * a material_expiry in the past; the 21-day rule from the journal; a failed
 * import leaving the key failed (never batched); and neither the token nor
 * the material ever in the journal, the model or an outcome. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "../plugin/fakehost.c"
#include "byok/wrap.h"
#include "manifest/manifest.h"
#include "model/inventory.h"
#include "util/util.h"

/* ---- the fake KMS side ---- */

typedef struct cloud_s {
  EVP_PKEY *priv;
  char *pub_b64;
  int ntok;              /* tokens handed out */
  char texp[32];         /* TokenExpireTime of the next answers */
  int imported;          /* materials that unwrapped */
  char tokens[8][64];    /* every token handed out */
  char material_b64[64]; /* the raw AES material, to look for in outputs */
} cloud_t;

static cloud_t cloud;

static const char *param(const char *const *params, size_t n, const char *k) {
  for (size_t i = 0; i < n; i++)
    if (strcmp(params[2 * i], k) == 0) return params[2 * i + 1];
  return NULL;
}

static char *gen_params(const char *action, const char *const *params, size_t n,
                        void *ud) {
  (void)action;
  (void)ud;
  assert_string_equal(param(params, n, "WrappingKeySpec"), "RSA_2048");
  assert_string_equal(param(params, n, "WrappingAlgorithm"),
                      "RSAES_OAEP_SHA_256");
  int i = cloud.ntok++;
  assert_true(i < 8);
  snprintf(cloud.tokens[i], sizeof(cloud.tokens[i]), "TOKEN%02dSECRETVALUE", i);
  return xprintf("{\"KeyId\":\"%s\",\"ImportToken\":\"%s\",\"PublicKey\":"
                 "\"%s\",\"TokenExpireTime\":\"%s\",\"RequestId\":\"RID-P%d\"}",
                 param(params, n, "KeyId"), cloud.tokens[i], cloud.pub_b64,
                 cloud.texp, i);
}

static char *gen_import(const char *action, const char *const *params, size_t n,
                        void *ud) {
  (void)action;
  (void)ud;
  const char *tok = param(params, n, "ImportToken");
  bool known = false;
  for (int i = 0; i < cloud.ntok; i++)
    known |= strcmp(tok, cloud.tokens[i]) == 0;
  assert_true(known);
  assert_string_equal(param(params, n, "KeyMaterialExpireUnix"), "0");
  const char *enc = param(params, n, "EncryptedKeyMaterial");
  km_byok_buf_t w, m;
  km_err_t err;
  assert_int_equal(km_byok_b64_decode(enc, strlen(enc), &w, &err), 0);
  assert_int_equal(km_byok_unwrap(cloud.priv, w.data, w.len,
                                  KM_BYOK_RSAES_OAEP_SHA_256, &m, &err),
                   0);
  km_byok_buf_free(&w);
  km_byok_buf_free(&m);
  cloud.imported++;
  return xprintf("{\"RequestId\":\"RID-I%d\"}", cloud.imported);
}

/* ---- fixture ---- */

typedef struct t_s {
  fh_t *fh;
  char dir[64];
  km_mf_select_t sel; /* select.byok of the manifest */
} t_t;

static void write_aes(const char *path, mode_t mode) {
  unsigned char k[32];
  RAND_bytes(k, sizeof(k));
  char *b = km_byok_b64_encode(k, sizeof(k));
  snprintf(cloud.material_b64, sizeof(cloud.material_b64), "%s", b);
  free(b);
  km_err_t err;
  assert_int_equal(km_byok_write_file(path, k, sizeof(k), false, &err), 0);
  chmod(path, mode);
}

static void sel_clear(km_mf_select_t *sel) {
  for (size_t i = 0; i < sel->byok_keys.n; i++)
    free(sel->byok_keys.v[i]);
  free(sel->byok_keys.v);
  free(sel->byok_material_dir);
  memset(sel, 0, sizeof(*sel));
}

/* select.byok: keys (NULL-terminated; none: every pending HSM BYOK key),
 * material_dir, algorithm RSAES_OAEP_SHA_256, wrapping_key_format der,
 * material_expiry (0: never). */
static void settings(t_t *t, const char *dir, long long expiry,
                     const char *const *keys) {
  km_mf_select_t *sel = &t->sel;
  sel_clear(sel);
  sel->keys = KM_SEL_NONE;
  sel->secrets = KM_SEL_NONE;
  sel->byok_present = true;
  for (size_t i = 0; keys != NULL && keys[i] != NULL; i++) {
    sel->byok_keys.v =
        realloc(sel->byok_keys.v, (sel->byok_keys.n + 1) * sizeof(char *));
    sel->byok_keys.v[sel->byok_keys.n++] = strdup(keys[i]);
  }
  sel->byok_material_dir = strdup(dir);
  sel->byok_algorithm = KM_MF_WRAP_RSAES_OAEP_SHA_256;
  sel->byok_pem = false;
  sel->byok_expiry = expiry;
  fh_target(t->fh)->byok = sel;
}

/* The model after the rules: two HSM BYOK keys and a plain one. */
static void set_doc(fh_t *fh, km_inv_type_t type, const char *region) {
  km_target_t *tg = fh_target(fh);
  tg->instance_type = type;
  tg->region = region;
  km_inv_t *inv = km_inv_new("acct", "1", region, "kst-hzz-dest");
  inv->instance_type = type;
  static const char *const ids[] = {"key-rsa", "key-aes", "key-plain"};
  static const char *const specs[] = {"RSA_2048", "Aliyun_AES_256",
                                      "Aliyun_AES_256"};
  for (int i = 0; i < 3; i++) {
    km_inv_key_t *k = km_inv_add_key(inv, ids[i]);
    km_inv_set(&k->key_spec, specs[i]);
    km_inv_set(&k->origin, i < 2 ? "EXTERNAL" : "Aliyun_KMS");
    km_inv_set(&k->protection_level, i < 2 ? "HSM" : "SOFTWARE");
    km_inv_set(&k->key_state, "Enabled");
    km_inv_key_decide(k, i < 2 ? KM_VERDICT_NEEDS_BYOK : KM_VERDICT_PENDING,
                      "key.byok_hsm", "rules");
  }
  fh_set_inv(fh, inv);
}

static int setup(void **st) {
  t_t *t = calloc(1, sizeof(*t));
  memset(&cloud, 0, sizeof(cloud));
  t->fh = fh_new();
  fh_target(t->fh)->instance_type = KM_INV_TYPE_HARDWARE;
  snprintf(t->dir, sizeof(t->dir), "/tmp/kmsmig-byok-XXXXXX");
  assert_non_null(mkdtemp(t->dir));
  char *p = xprintf("%s/key-rsa.pem", t->dir);
  km_err_t err;
  assert_int_equal(km_byok_keygen(KM_BYOK_SPEC_RSA_2048, p, &err), 0);
  free(p);
  p = xprintf("%s/key-aes.bin", t->dir);
  write_aes(p, 0600);
  free(p);
  settings(t, t->dir, 0, NULL);
  set_doc(t->fh, KM_INV_TYPE_HARDWARE, "cn-hangzhou");
  cloud.priv = EVP_RSA_gen(2048);
  unsigned char *der = NULL;
  int dlen = i2d_PUBKEY(cloud.priv, &der);
  cloud.pub_b64 = km_byok_b64_encode(der, (size_t)dlen);
  OPENSSL_free(der);
  km_iso8601((int64_t)time(NULL) + 86400, cloud.texp);
  fh_generator(t->fh, "GetParametersForImport", gen_params, NULL);
  *st = t;
  return 0;
}

static int teardown(void **st) {
  t_t *t = *st;
  fh_free(t->fh);
  sel_clear(&t->sel);
  char *cmd = xprintf("rm -rf '%s'", t->dir);
  assert_int_equal(system(cmd), 0);
  free(cmd);
  EVP_PKEY_free(cloud.priv);
  free(cloud.pub_b64);
  free(t);
  return 0;
}

/* The ImportKeyMaterial generator goes after any canned error rule. */
static void import_ok(t_t *t) {
  fh_generator(t->fh, "ImportKeyMaterial", gen_import, NULL);
}

static int run_prepare(t_t *t) {
  assert_int_equal(fh_start(t->fh, &km_stage_byok, KM_STAGE_PREPARE), 0);
  fh_drain(t->fh);
  assert_int_equal(fh_done_count(t->fh), 1);
  return fh_done_status(t->fh);
}

/* The model as report.json shows it (owned text). */
static char *doc_text(fh_t *fh) {
  json_t *j = km_inv_to_json(fh_inv(fh));
  char *s = json_dumps(j, JSON_COMPACT);
  json_decref(j);
  return s;
}

static km_verdict_t verdict(t_t *t, const char *id, char *reason, size_t n) {
  km_inv_key_t *k = km_inv_find_key(fh_inv(t->fh), id);
  assert_non_null(k);
  km_verdict_t v = k->verdict;
  if (reason != NULL)
    snprintf(reason, n, "%s", k->reason != NULL ? k->reason : "");
  return v;
}

/* Neither a token nor the raw material in the journal, model, outcomes. */
static void assert_no_secrets(t_t *t) {
  assert_true(strlen(cloud.material_b64) > 40);
  char *doc = doc_text(t->fh);
  for (int i = 0; i < cloud.ntok; i++) {
    for (size_t j = 0; j < fh_njournal(t->fh); j++)
      assert_null(strstr(fh_journal_at(t->fh, j), cloud.tokens[i]));
    assert_null(strstr(doc, cloud.tokens[i]));
    for (size_t j = 0; j < fh_noutcomes(t->fh); j++)
      assert_null(strstr(fh_outcome_at(t->fh, j), cloud.tokens[i]));
  }
  for (size_t j = 0; j < fh_njournal(t->fh); j++) {
    assert_null(strstr(fh_journal_at(t->fh, j), cloud.material_b64));
    assert_null(strstr(fh_journal_at(t->fh, j), "ImportToken"));
    assert_null(strstr(fh_journal_at(t->fh, j), "EncryptedKeyMaterial"));
  }
  assert_null(strstr(doc, cloud.material_b64));
  free(doc);
}

/* ---- tests ---- */

static void test_imports_then_pending(void **st) {
  t_t *t = *st;
  import_ok(t);
  assert_int_equal(run_prepare(t), 0);
  assert_int_equal(fh_count(t->fh, "call GetParametersForImport"), 2);
  assert_int_equal(fh_count(t->fh, "call ImportKeyMaterial"), 2);
  assert_int_equal(cloud.imported, 2);
  assert_int_equal(verdict(t, "key-rsa", NULL, 0), KM_VERDICT_PENDING);
  assert_int_equal(verdict(t, "key-aes", NULL, 0), KM_VERDICT_PENDING);
  assert_int_equal(verdict(t, "key-plain", NULL, 0), KM_VERDICT_PENDING);
  /* The pair: each import uses the token of the answer it wrapped for. */
  assert_int_equal(fh_count(t->fh, "journal byok_token"), 2);
  assert_int_equal(fh_count(t->fh, "journal byok_imported"), 2);
  for (size_t j = 0; j < fh_njournal(t->fh); j++) {
    const char *rec = fh_journal_at(t->fh, j);
    if (strstr(rec, "byok_token") != NULL)
      assert_non_null(strstr(rec, "\"token_expires\":\"20"));
  }
  assert_no_secrets(t);
  /* Call order: a key's parameters come before its import. */
  long p = fh_find(t->fh, "call GetParametersForImport KeyId=key-aes", 0);
  long i = fh_find(t->fh, "call ImportKeyMaterial KeyId=key-aes", 0);
  assert_true(p >= 0 && i > p);
}

/* A second prepare in the same process (--rerun-failed after a batch failed
 * the keys) imports again with the same pair: no new parameters. */
static void test_token_reused_within_24h(void **st) {
  t_t *t = *st;
  import_ok(t);
  assert_int_equal(run_prepare(t), 0);
  assert_int_equal(cloud.ntok, 2);
  fh_seed_journal(t->fh, "{\"type\":\"batch_done\",\"failed_keys\":"
                         "[\"key-rsa\",\"key-aes\"]}");
  /* (the record follows the imports: one list, in order) */
  fh_t *fh = t->fh;
  fh_reset_log(fh);
  set_doc(fh, KM_INV_TYPE_HARDWARE, "cn-hangzhou");
  assert_int_equal(run_prepare(t), 0);
  assert_int_equal(fh_count(fh, "call GetParametersForImport"), 0);
  assert_int_equal(fh_count(fh, "call ImportKeyMaterial"), 2);
  assert_int_equal(cloud.imported, 4);
  assert_int_equal(verdict(t, "key-rsa", NULL, 0), KM_VERDICT_PENDING);
  assert_no_secrets(t);
}

/* A pair past its expiry is never used: new parameters. */
static void test_expired_pair_replaced(void **st) {
  t_t *t = *st;
  import_ok(t);
  km_iso8601((int64_t)time(NULL) + 60, cloud.texp); /* inside the margin */
  assert_int_equal(run_prepare(t), 0);
  fh_seed_journal(t->fh, "{\"type\":\"batch_done\",\"failed_keys\":"
                         "[\"key-rsa\",\"key-aes\"]}");
  fh_reset_log(t->fh);
  set_doc(t->fh, KM_INV_TYPE_HARDWARE, "cn-hangzhou");
  assert_int_equal(run_prepare(t), 0);
  assert_int_equal(fh_count(t->fh, "call GetParametersForImport"), 2);
  assert_int_equal(cloud.ntok, 4);
}

/* ExpiredImportToken (the service's clock ran past 24 h): one new pair. */
static void test_expired_token_answer_retried(void **st) {
  t_t *t = *st;
  fh_error(t->fh, "ImportKeyMaterial", "KeyId=key-rsa", 1, "ExpiredImportToken",
           "RID-X");
  import_ok(t);
  assert_int_equal(run_prepare(t), 0);
  assert_int_equal(fh_count(t->fh, "call GetParametersForImport KeyId=key-rsa"),
                   2);
  assert_int_equal(fh_count(t->fh, "call ImportKeyMaterial KeyId=key-rsa"), 2);
  assert_int_equal(verdict(t, "key-rsa", NULL, 0), KM_VERDICT_PENDING);
}

static void test_import_failure_not_batched(void **st) {
  t_t *t = *st;
  fh_error(t->fh, "ImportKeyMaterial", "KeyId=key-rsa", -1,
           "InvalidKeyMaterial", "RID-BAD");
  import_ok(t);
  assert_int_equal(run_prepare(t), 0); /* the stage goes on */
  char why[800];
  assert_int_equal(verdict(t, "key-rsa", why, sizeof(why)), KM_VERDICT_FAILED);
  assert_non_null(strstr(why, "InvalidKeyMaterial"));
  assert_non_null(strstr(why, "same material"));
  assert_false(km_verdict_moves(KM_VERDICT_FAILED));
  assert_int_equal(verdict(t, "key-aes", NULL, 0), KM_VERDICT_PENDING);
  km_inv_key_t *k = km_inv_find_key(fh_inv(t->fh), "key-rsa");
  assert_string_equal(k->fail_code, "InvalidKeyMaterial");
  assert_string_equal(k->fail_request_id, "RID-BAD");
  assert_int_equal(fh_count(t->fh, "outcome key key-rsa failed"), 1);
  assert_int_equal(fh_count(t->fh, "journal byok_imported key-rsa"), 0);
  assert_no_secrets(t);
}

static void refused(t_t *t, const char *id, const char *want) {
  char why[800];
  assert_int_equal(verdict(t, id, why, sizeof(why)), KM_VERDICT_FAILED);
  if (strstr(why, want) == NULL) fail_msg("reason '%s' lacks '%s'", why, want);
}

static void test_refused_software_destination(void **st) {
  t_t *t = *st;
  set_doc(t->fh, KM_INV_TYPE_SOFTWARE, "cn-hangzhou");
  assert_int_equal(run_prepare(t), 0);
  assert_int_equal(fh_count(t->fh, "call "), 0);
  refused(t, "key-rsa", "hardware instance");
  refused(t, "key-aes", "hardware instance");
  assert_int_equal(verdict(t, "key-plain", NULL, 0), KM_VERDICT_PENDING);
}

static void test_refused_outside_mainland(void **st) {
  t_t *t = *st;
  set_doc(t->fh, KM_INV_TYPE_HARDWARE, "cn-hongkong");
  assert_int_equal(run_prepare(t), 0);
  assert_int_equal(fh_count(t->fh, "call "), 0);
  refused(t, "key-rsa", "mainland China");
}

static void test_refused_material(void **st) {
  t_t *t = *st;
  char *p = xprintf("%s/key-aes.bin", t->dir);
  assert_int_equal(chmod(p, 0644), 0);
  free(p);
  p = xprintf("%s/key-rsa.pem", t->dir);
  assert_int_equal(unlink(p), 0);
  free(p);
  assert_int_equal(run_prepare(t), 0);
  assert_int_equal(fh_count(t->fh, "call "), 0);
  refused(t, "key-rsa", "no migration material");
  refused(t, "key-rsa", "key-rsa.pem");
  refused(t, "key-aes", "chmod 600");
}

static void test_refused_past_expiry(void **st) {
  t_t *t = *st;
  settings(t, t->dir, (long long)time(NULL) - 86400, NULL);
  assert_int_equal(run_prepare(t), 0);
  assert_int_equal(fh_count(t->fh, "call "), 0);
  refused(t, "key-rsa", "material_expiry");
  refused(t, "key-aes", "in the past");
}

static void test_not_selected_skipped(void **st) {
  t_t *t = *st;
  import_ok(t);
  static const char *const only_aes[] = {"key-aes", NULL};
  settings(t, t->dir, 0, only_aes);
  assert_int_equal(run_prepare(t), 0);
  assert_int_equal(fh_count(t->fh, "call GetParametersForImport KeyId=key-rsa"),
                   0);
  assert_int_equal(verdict(t, "key-rsa", NULL, 0), KM_VERDICT_SKIPPED);
  assert_int_equal(verdict(t, "key-aes", NULL, 0), KM_VERDICT_PENDING);
}

static void test_not_configured(void **st) {
  t_t *t = *st;
  /* No select.byok in the manifest fails every BYOK key. */
  fh_target(t->fh)->byok = NULL;
  fh_t *fh = t->fh;
  assert_int_equal(run_prepare(t), 0);
  assert_int_equal(fh_count(fh, "call "), 0);
  assert_int_equal(verdict(t, "key-rsa", NULL, 0), KM_VERDICT_FAILED);
}

/* The 21-day rule from the journal: recent material is kept, old material
 * is imported again. */
static void test_material_age(void **st) {
  t_t *t = *st;
  import_ok(t);
  char recent[21], old[21];
  km_iso8601((int64_t)time(NULL) - 86400, recent);
  km_iso8601((int64_t)time(NULL) - 22 * 86400, old);
  char *r1 = xprintf(
      "{\"type\":\"byok_imported\",\"id\":\"key-rsa\",\"at\":\"%s\"}", recent);
  char *r2 = xprintf(
      "{\"type\":\"byok_imported\",\"id\":\"key-aes\",\"at\":\"%s\"}", old);
  fh_seed_journal(t->fh, r1);
  fh_seed_journal(t->fh, r2);
  free(r1);
  free(r2);
  assert_int_equal(run_prepare(t), 0);
  assert_int_equal(fh_count(t->fh, "call GetParametersForImport KeyId=key-rsa"),
                   0);
  assert_int_equal(fh_count(t->fh, "call ImportKeyMaterial KeyId=key-aes"), 1);
  assert_int_equal(verdict(t, "key-rsa", NULL, 0), KM_VERDICT_PENDING);
  assert_int_equal(verdict(t, "key-aes", NULL, 0), KM_VERDICT_PENDING);
}

/* RESTORE: the console's two BYOK refusals get the action in the reason. */
static void test_restore_maps_console_errors(void **st) {
  t_t *t = *st;
  km_inv_t *inv = km_inv_new("acct", "1", "cn-hangzhou", "kst-hzz-dest");
  km_inv_key_t *k = km_inv_add_key(inv, "key-rsa");
  km_inv_key_decide(k, KM_VERDICT_FAILED, "run.console_refused",
                    "current hardware BYOK key material is expired, please "
                    "reimport");
  km_inv_set(&k->fail_code, "Console.ByokMaterialExpired");
  fh_set_inv(t->fh, inv);
  assert_int_equal(fh_start(t->fh, &km_stage_byok, KM_STAGE_RESTORE), 0);
  fh_drain(t->fh);
  assert_int_equal(fh_done_count(t->fh), 1);
  assert_int_equal(fh_done_status(t->fh), 0);
  char why[900];
  assert_int_equal(verdict(t, "key-rsa", why, sizeof(why)), KM_VERDICT_FAILED);
  assert_non_null(strstr(why, "--rerun-failed"));
  assert_non_null(strstr(why, "please reimport"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_imports_then_pending, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_token_reused_within_24h, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_expired_pair_replaced, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_expired_token_answer_retried, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_import_failure_not_batched, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_refused_software_destination, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_refused_outside_mainland, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_refused_material, setup, teardown),
      cmocka_unit_test_setup_teardown(test_refused_past_expiry, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_not_selected_skipped, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_not_configured, setup, teardown),
      cmocka_unit_test_setup_teardown(test_material_age, setup, teardown),
      cmocka_unit_test_setup_teardown(test_restore_maps_console_errors, setup,
                                      teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
