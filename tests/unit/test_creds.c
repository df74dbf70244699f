/* Credentials without the network: the environment source, the error an
 * operator sees when nothing is configured (naming the account and the
 * fix), aliyun CLI config profiles of every supported mode read from a
 * temporary HOME, the precedence of the chain, cancellation on close, and a
 * canary check that no planted secret reaches a log line, an error text or a
 * description. */
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

#include "creds/creds.h"
#include "util/util.h"

typedef struct {
  char home[128];
  char cfg[400];
} env_t;

static void clear_env(void) {
  unsetenv("ALIBABA_CLOUD_ACCESS_KEY_ID");
  unsetenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET");
  unsetenv("ALIBABA_CLOUD_SECURITY_TOKEN");
  unsetenv("ALIBABA_CLOUD_CONFIG_FILE");
  unsetenv("ALIBABA_CLOUD_PROFILE");
}

static int setup(void **st) {
  env_t *e = calloc(1, sizeof(*e));
  snprintf(e->home, sizeof(e->home), "/tmp/km_creds_XXXXXX");
  if (mkdtemp(e->home) == NULL) return -1;
  char dir[200];
  snprintf(dir, sizeof(dir), "%s/.aliyun", e->home);
  mkdir(dir, 0700);
  snprintf(e->cfg, sizeof(e->cfg), "%s/config.json", dir);
  clear_env();
  setenv("HOME", e->home, 1);
  *st = e;
  return 0;
}

static int teardown(void **st) {
  env_t *e = *st;
  char dir[300];
  unlink(e->cfg);
  snprintf(dir, sizeof(dir), "%s/.aliyun", e->home);
  rmdir(dir);
  rmdir(e->home);
  free(e);
  clear_env();
  return 0;
}

/* Profiles of every mode the tool reads, with canary secrets. */
static const char config_json[] =
    "{\"current\":\"base\",\"profiles\":["
    "{\"name\":\"base\",\"mode\":\"AK\",\"access_key_id\":\"LTAIbase\","
    "\"access_key_secret\":\"CANARY-PROFILE-SECRET\",\"sts_token\":\"\","
    "\"region_id\":\"cn-hangzhou\"},"
    "{\"name\":\"sts\",\"mode\":\"StsToken\",\"access_key_id\":\"STS.tmp\","
    "\"access_key_secret\":\"CANARY-STS-PROFILE-SECRET\","
    "\"sts_token\":\"CANARY-STS-PROFILE-TOKEN\"},"
    "{\"name\":\"role\",\"mode\":\"RamRoleArn\",\"access_key_id\":"
    "\"LTAIrole\",\"access_key_secret\":\"CANARY-ROLE-SECRET\","
    "\"ram_role_arn\":\"acs:ram::1111:role/migrator\","
    "\"ram_session_name\":\"kmsmig-test\",\"expired_seconds\":900},"
    "{\"name\":\"chain\",\"mode\":\"ChainableRamRoleArn\","
    "\"source_profile\":\"role\","
    "\"ram_role_arn\":\"acs:ram::2222:role/"
    "ResourceDirectoryAccountAccessRole\"},"
    "{\"name\":\"ecs\",\"mode\":\"EcsRamRole\",\"ram_role_name\":\"r\"},"
    "{\"name\":\"loop1\",\"mode\":\"ChainableRamRoleArn\","
    "\"source_profile\":\"loop2\",\"ram_role_arn\":\"acs:ram::1:role/a\"},"
    "{\"name\":\"loop2\",\"mode\":\"ChainableRamRoleArn\","
    "\"source_profile\":\"loop1\",\"ram_role_arn\":\"acs:ram::1:role/b\"},"
    "{\"name\":\"broken\",\"mode\":\"AK\",\"access_key_id\":\"LTAIx\"},"
    "{\"name\":\"badrole\",\"mode\":\"RamRoleArn\",\"access_key_id\":\"x\","
    "\"access_key_secret\":\"CANARY-BADROLE-SECRET\","
    "\"ram_role_arn\":\"arn:aws:iam::1:role/x\"}"
    "]}";

static void write_config(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
  chmod(path, 0600);
}

typedef struct {
  int calls;
  int status;
  char id[64];
  char secret[64];
  char token[64];
  int has_token;
  int64_t expiration;
  char text[600];
} got_t;

static void on_creds(const km_creds_result_t *res, void *ud) {
  got_t *g = ud;
  g->calls++;
  g->status = res->status;
  if (res->status == 0) {
    assert_null(res->err);
    snprintf(g->id, sizeof(g->id), "%s", res->cred->access_key_id);
    snprintf(g->secret, sizeof(g->secret), "%s", res->cred->access_key_secret);
    g->has_token = res->cred->security_token != NULL;
    if (g->has_token)
      snprintf(g->token, sizeof(g->token), "%s", res->cred->security_token);
    g->expiration = res->expiration;
  } else {
    assert_non_null(res->err);
    snprintf(g->text, sizeof(g->text), "%s", res->err->text);
  }
}

static int closed;
static void on_closed(void *ud) {
  (void)ud;
  closed++;
}

/* Creates a provider, gets once, closes, and checks the loop is clean. */
static void get_once(const km_cred_source_t *src, got_t *g) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  km_creds_t *p;
  km_err_t err;
  memset(g, 0, sizeof(*g));
  assert_int_equal(km_creds_new(&loop, src, NULL, &p, &err), 0);
  assert_int_equal(km_creds_get(p, on_creds, g), 0);
  assert_int_equal(g->calls, 0); /* never before get returns */
  uv_run(&loop, UV_RUN_DEFAULT);
  assert_int_equal(g->calls, 1);
  closed = 0;
  km_creds_close(p, on_closed, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  assert_int_equal(closed, 1);
  assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_env_source(void **st) {
  (void)st;
  setenv("ALIBABA_CLOUD_ACCESS_KEY_ID", "LTAIenv", 1);
  setenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "env-secret", 1);
  km_cred_source_t src = {.kind = KM_CRED_ENV, .account = "app-a"};
  got_t g;
  get_once(&src, &g);
  assert_int_equal(g.status, 0);
  assert_string_equal(g.id, "LTAIenv");
  assert_string_equal(g.secret, "env-secret");
  assert_false(g.has_token);
  assert_int_equal(g.expiration, 0);

  setenv("ALIBABA_CLOUD_SECURITY_TOKEN", "env-token", 1);
  get_once(&src, &g);
  assert_true(g.has_token);
  assert_string_equal(g.token, "env-token");
}

static void test_missing_env_error(void **st) {
  (void)st;
  uv_loop_t loop;
  uv_loop_init(&loop);
  km_creds_t *p = NULL;
  km_err_t err;
  km_cred_source_t env = {.kind = KM_CRED_ENV, .account = "app-a"};
  assert_int_equal(km_creds_new(&loop, &env, NULL, &p, &err), KM_ECREDS);
  assert_null(p);
  assert_non_null(strstr(err.text, "no credentials for account app-a"));
  assert_non_null(strstr(err.text, "ALIBABA_CLOUD_ACCESS_KEY_ID"));
  assert_non_null(strstr(err.text, "ALIBABA_CLOUD_ACCESS_KEY_SECRET"));

  /* The chain with no environment and no config file says every fix. */
  km_cred_source_t chain = {.kind = KM_CRED_CHAIN, .account = "app-a"};
  assert_int_equal(km_creds_new(&loop, &chain, NULL, &p, &err), KM_ECREDS);
  assert_non_null(strstr(err.text, "no credentials for account app-a"));
  assert_non_null(strstr(err.text, "ALIBABA_CLOUD_ACCESS_KEY_ID"));
  assert_non_null(
      strstr(err.text, "credentials: {profile: NAME} in accounts/app-a.yaml"));

  /* Half a pair names the missing half. */
  setenv("ALIBABA_CLOUD_ACCESS_KEY_ID", "LTAIenv", 1);
  assert_int_equal(km_creds_new(&loop, &chain, NULL, &p, &err), KM_ECREDS);
  assert_non_null(strstr(err.text, "ALIBABA_CLOUD_ACCESS_KEY_SECRET is not"));
  assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_profiles(void **st) {
  env_t *e = *st;
  write_config(e->cfg, config_json);
  got_t g;

  /* No name: the file's "current". */
  km_cred_source_t src = {.kind = KM_CRED_PROFILE, .account = "app-a"};
  get_once(&src, &g);
  assert_int_equal(g.status, 0);
  assert_string_equal(g.id, "LTAIbase");
  assert_string_equal(g.secret, "CANARY-PROFILE-SECRET");
  assert_false(g.has_token); /* an empty sts_token is no token */

  /* ALIBABA_CLOUD_PROFILE picks another; StsToken carries the token. */
  setenv("ALIBABA_CLOUD_PROFILE", "sts", 1);
  get_once(&src, &g);
  assert_string_equal(g.id, "STS.tmp");
  assert_true(g.has_token);
  assert_string_equal(g.token, "CANARY-STS-PROFILE-TOKEN");
  unsetenv("ALIBABA_CLOUD_PROFILE");

  /* The chain falls back to the config file when the environment is empty,
   * and prefers the environment when it is set. */
  km_cred_source_t chain = {.kind = KM_CRED_CHAIN, .account = "app-a"};
  get_once(&chain, &g);
  assert_string_equal(g.id, "LTAIbase");
  setenv("ALIBABA_CLOUD_ACCESS_KEY_ID", "LTAIenv", 1);
  setenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "env-secret", 1);
  get_once(&chain, &g);
  assert_string_equal(g.id, "LTAIenv");
  clear_env();

  /* ALIBABA_CLOUD_CONFIG_FILE moves the file. */
  char other[400];
  snprintf(other, sizeof(other), "%s/other.json", e->home);
  write_config(other, "{\"profiles\":[{\"name\":\"default\",\"access_key_id\":"
                      "\"LTAIother\",\"access_key_secret\":\"s\"}]}");
  setenv("ALIBABA_CLOUD_CONFIG_FILE", other, 1);
  get_once(&src, &g);
  assert_string_equal(g.id, "LTAIother"); /* no current: "default" */
  unlink(other);
  unsetenv("ALIBABA_CLOUD_CONFIG_FILE");
}

static void test_role_profiles_resolve(void **st) {
  env_t *e = *st;
  write_config(e->cfg, config_json);
  uv_loop_t loop;
  uv_loop_init(&loop);
  km_err_t err;
  km_creds_t *p;
  km_cred_source_t src = {
      .kind = KM_CRED_PROFILE, .account = "app-b", .profile = "role"};
  /* A role needs an API client for STS. */
  assert_int_equal(km_creds_new(&loop, &src, NULL, &p, &err), KM_EINVAL);
  assert_non_null(strstr(err.text, "app-b"));
  /* The client is only stored until a get: a placeholder shows the plan. */
  int placeholder;
  km_acs_client_t *fake = (km_acs_client_t *)&placeholder;
  assert_int_equal(km_creds_new(&loop, &src, fake, &p, &err), 0);
  const char *d = km_creds_describe(p);
  assert_non_null(strstr(d, "role acs:ram::1111:role/migrator"));
  assert_non_null(strstr(d, "via profile 'role' (AK of RamRoleArn)"));
  km_creds_close(p, NULL, NULL);

  src.profile = "chain";
  assert_int_equal(km_creds_new(&loop, &src, fake, &p, &err), 0);
  d = km_creds_describe(p);
  const char *outer = strstr(d, "acs:ram::2222:role/"
                                "ResourceDirectoryAccountAccessRole");
  const char *inner = strstr(d, "acs:ram::1111:role/migrator");
  assert_non_null(outer);
  assert_non_null(inner);
  assert_true(outer < inner); /* chain -> role -> AK */
  km_creds_close(p, NULL, NULL);

  /* An explicit ASSUME_ROLE source via a profile. */
  km_cred_source_t base = {.kind = KM_CRED_PROFILE, .profile = "base"};
  km_cred_source_t ar = {.kind = KM_CRED_ASSUME_ROLE,
                         .account = "app-c",
                         .role_arn = "acs:ram::3333:role/x",
                         .via = &base};
  assert_int_equal(km_creds_new(&loop, &ar, fake, &p, &err), 0);
  assert_non_null(strstr(km_creds_describe(p),
                         "role acs:ram::3333:role/x via profile 'base' (AK)"));
  km_creds_close(p, NULL, NULL);
  ar.duration_seconds = 100;
  assert_int_equal(km_creds_new(&loop, &ar, fake, &p, &err), KM_EINVAL);
  assert_non_null(strstr(err.text, "900..43200"));
  ar.duration_seconds = 0;
  ar.role_arn = "not-an-arn";
  assert_int_equal(km_creds_new(&loop, &ar, fake, &p, &err), KM_EINVAL);
  assert_non_null(strstr(err.text, "acs:ram::<account-id>:role/<role-name>"));
  uv_run(&loop, UV_RUN_DEFAULT);
  assert_int_equal(uv_loop_close(&loop), 0);
}

static void expect_profile_error(const char *profile, int code,
                                 const char *needle) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  km_err_t err;
  km_creds_t *p = NULL;
  int placeholder;
  km_cred_source_t src = {
      .kind = KM_CRED_PROFILE, .account = "app-a", .profile = profile};
  assert_int_equal(
      km_creds_new(&loop, &src, (km_acs_client_t *)&placeholder, &p, &err),
      code);
  assert_null(p);
  if (strstr(err.text, needle) == NULL)
    fail_msg("error for profile %s lacks \"%s\": %s", profile, needle,
             err.text);
  assert_non_null(strstr(err.text, "app-a"));
  assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_profile_errors(void **st) {
  env_t *e = *st;
  write_config(e->cfg, config_json);
  expect_profile_error("ecs", KM_ENOTSUP, "mode EcsRamRole");
  expect_profile_error("loop1", KM_ECREDS, "loop1 -> loop2 -> loop1");
  expect_profile_error("broken", KM_ECREDS, "has no access_key_secret");
  expect_profile_error("nope", KM_ECREDS, "has no profile 'nope'");
  expect_profile_error("badrole", KM_EINVAL, "role ARN must look like");
  write_config(e->cfg, "{\"profiles\": [ CANARY-BROKEN-SECRET");
  expect_profile_error("base", KM_ECREDS, "is not a JSON object");
  unlink(e->cfg);
  expect_profile_error("base", KM_ENOENT, "does not exist");
}

static void test_close_cancels_pending(void **st) {
  (void)st;
  uv_loop_t loop;
  uv_loop_init(&loop);
  km_cred_source_t src = {
      .kind = KM_CRED_STATIC, .access_key_id = "id", .access_key_secret = "s"};
  km_creds_t *p;
  assert_int_equal(km_creds_new(&loop, &src, NULL, &p, NULL), 0);
  got_t g;
  memset(&g, 0, sizeof(g));
  assert_int_equal(km_creds_get(p, on_creds, &g), 0);
  closed = 0;
  km_creds_close(p, on_closed, NULL);
  assert_int_equal(g.calls, 1);
  assert_int_equal(g.status, KM_ECANCELED);
  uv_run(&loop, UV_RUN_DEFAULT);
  assert_int_equal(g.calls, 1);
  assert_int_equal(closed, 1);
  assert_int_equal(uv_loop_close(&loop), 0);
}

static int file_contains(const char *path, const char *needle) {
  FILE *f = fopen(path, "rb");
  if (f == NULL) return 0;
  km_buf_t b;
  km_buf_init(&b);
  char tmp[4096];
  size_t n;
  while ((n = fread(tmp, 1, sizeof(tmp), f)) > 0)
    km_buf_append(&b, tmp, n);
  fclose(f);
  int found = b.data != NULL && strstr(b.data, needle) != NULL;
  km_buf_free(&b);
  return found;
}

static void test_canaries(void **st) {
  env_t *e = *st;
  char logpath[400];
  snprintf(logpath, sizeof(logpath), "%s/log.txt", e->home);
  FILE *log = fopen(logpath, "w");
  km_log_set_file(log);
  km_log_set_level(KM_LOG_DEBUG);

  write_config(e->cfg, config_json);
  chmod(e->cfg, 0644); /* provokes the permissions warning */
  static const char *const profiles[] = {"base",   "sts",     "role",
                                         "chain",  "ecs",     "loop1",
                                         "broken", "badrole", "nope"};
  km_buf_t texts;
  km_buf_init(&texts);
  uv_loop_t loop;
  uv_loop_init(&loop);
  int placeholder;
  for (size_t i = 0; i < KM_ARRAY_SIZE(profiles); i++) {
    km_err_t err;
    memset(&err, 0, sizeof(err));
    km_cred_source_t src = {
        .kind = KM_CRED_PROFILE, .account = "app-a", .profile = profiles[i]};
    km_creds_t *p;
    if (km_creds_new(&loop, &src, (km_acs_client_t *)&placeholder, &p, &err) ==
        0) {
      km_buf_puts(&texts, km_creds_describe(p));
      km_creds_close(p, NULL, NULL);
    } else {
      km_buf_puts(&texts, err.text);
      km_buf_puts(&texts, err.where);
    }
  }
  /* Half-set environment with a canary secret. */
  setenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "CANARY-ENV-SECRET", 1);
  setenv("ALIBABA_CLOUD_SECURITY_TOKEN", "CANARY-ENV-TOKEN", 1);
  km_err_t err;
  km_creds_t *p;
  km_cred_source_t env = {.kind = KM_CRED_ENV, .account = "app-a"};
  assert_int_equal(km_creds_new(&loop, &env, NULL, &p, &err), KM_ECREDS);
  km_buf_puts(&texts, err.text);
  setenv("ALIBABA_CLOUD_ACCESS_KEY_ID", "LTAIenv", 1);
  assert_int_equal(km_creds_new(&loop, &env, NULL, &p, &err), 0);
  km_buf_puts(&texts, km_creds_describe(p));
  km_creds_close(p, NULL, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  assert_int_equal(uv_loop_close(&loop), 0);

  km_log_set_file(NULL);
  km_log_set_level(KM_LOG_ERROR);
  fclose(log);
  /* The log really received the debug and warning lines... */
  assert_true(file_contains(logpath, "readable by other users"));
  assert_true(file_contains(logpath, "credentials for account app-a"));
  /* ...and no secret. */
  assert_null(strstr(texts.data, "CANARY"));
  assert_false(file_contains(logpath, "CANARY"));
  km_buf_free(&texts);
  unlink(logpath);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_env_source, setup, teardown),
      cmocka_unit_test_setup_teardown(test_missing_env_error, setup, teardown),
      cmocka_unit_test_setup_teardown(test_profiles, setup, teardown),
      cmocka_unit_test_setup_teardown(test_role_profiles_resolve, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_profile_errors, setup, teardown),
      cmocka_unit_test_setup_teardown(test_close_cancels_pending, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_canaries, setup, teardown),
  };
  km_log_set_level(KM_LOG_ERROR);
  return cmocka_run_group_tests(tests, NULL, NULL);
}
