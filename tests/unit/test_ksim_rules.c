/* kmsim's rules with their exact error codes, through the full request
 * pipeline (routing, V1 authentication, throttling, dispatch) on the small
 * test fixture: authentication failures, rotation policy refusals and
 * bounds, secret rotation, key/secret policies, instances, STS trust,
 * ResourceManager, BYOK import (direct and envelope wrapping, token pairing
 * and expiry), throttling at the published QPS, and the state dump. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "server.h"
#include "state.h"

#define OWNER_AK "KSIMTESTOWNERAK01"
#define OWNER_SK "ksim-test-owner-secret"
#define MEMBER_AK "KSIMTESTMEMBERAK01"
#define MEMBER_SK "ksim-test-member-secret"
#define OUT_AK "KSIMTESTOUTSIDERAK1"
#define OUT_SK "ksim-test-outsider-secret"
#define KMS "kms.cn-hangzhou.aliyuncs.com"

static ksim_cloud_t *C;
static ksim_server_t S;
static unsigned g_nonce;

typedef struct {
  int status;
  char code[96];
  json_t *body;
} res_t;

/* One V1-signed POST with the given parameters (NULL-terminated pairs). */
static res_t vcall(const char *host, const char *ak, const char *sk,
                   const char *token, const char *version, const char *action,
                   va_list ap) {
  ksim_req_t req;
  ksim_resp_t resp;
  memset(&req, 0, sizeof(req));
  memset(&resp, 0, sizeof(resp));
  req.cloud = C;
  req.method = "POST";
  req.path = "/";
  req.host = host;
  char nonce[32], ts[21];
  snprintf(nonce, sizeof(nonce), "test-nonce-%u", ++g_nonce);
  km_iso8601((int64_t)time(NULL), ts);
  ksim_kvs_add(&req.query, "AccessKeyId", ak);
  ksim_kvs_add(&req.query, "Action", action);
  ksim_kvs_add(&req.query, "Version", version);
  ksim_kvs_add(&req.query, "Format", "JSON");
  ksim_kvs_add(&req.query, "SignatureMethod", "HMAC-SHA1");
  ksim_kvs_add(&req.query, "SignatureVersion", "1.0");
  ksim_kvs_add(&req.query, "SignatureNonce", nonce);
  ksim_kvs_add(&req.query, "Timestamp", ts);
  if (token != NULL) ksim_kvs_add(&req.query, "SecurityToken", token);
  const char *k;
  while ((k = va_arg(ap, const char *)) != NULL)
    ksim_kvs_add(&req.form, k, va_arg(ap, const char *));
  ksim_kvs_t all = {0};
  for (size_t i = 0; i < req.query.n; i++)
    ksim_kvs_add(&all, req.query.v[i].name, req.query.v[i].value);
  for (size_t i = 0; i < req.form.n; i++)
    ksim_kvs_add(&all, req.form.v[i].name, req.form.v[i].value);
  char *sts = ksim_v1_string_to_sign("POST", &all);
  char *sig = ksim_v1_signature(sk, sts);
  ksim_kvs_add(&req.query, "Signature", sig);
  free(sts);
  free(sig);
  ksim_kvs_free(&all);
  unsigned delay;
  ksim_process(&S, &req, &resp, &delay);
  res_t r = {resp.status, "", resp.body};
  snprintf(r.code, sizeof(r.code), "%s", resp.code);
  ksim_kvs_free(&req.query);
  ksim_kvs_free(&req.form);
  return r;
}

static res_t kms(const char *ak, const char *sk, const char *action, ...) {
  va_list ap;
  va_start(ap, action);
  res_t r = vcall(KMS, ak, sk, NULL, "2016-01-20", action, ap);
  va_end(ap);
  return r;
}

static res_t any(const char *host, const char *ak, const char *sk,
                 const char *token, const char *version, const char *action,
                 ...) {
  va_list ap;
  va_start(ap, action);
  res_t r = vcall(host, ak, sk, token, version, action, ap);
  va_end(ap);
  return r;
}

static void expect(res_t r, int status, const char *code) {
  if (r.status != status || strcmp(r.code, code) != 0) {
    char *b = json_dumps(r.body, JSON_COMPACT);
    print_error("got %d %s: %s\n", r.status, r.code, b);
    free(b);
  }
  assert_int_equal(r.status, status);
  assert_string_equal(r.code, code);
  /* every answer, error or not, carries a RequestId */
  assert_non_null(json_string_value(json_object_get(r.body, "RequestId")));
}

static const char *jget(json_t *o, const char *path) {
  char buf[256];
  snprintf(buf, sizeof(buf), "%s", path);
  json_t *cur = o;
  for (char *save = NULL, *t = strtok_r(buf, ".", &save); t != NULL;
       t = strtok_r(NULL, ".", &save))
    cur = json_object_get(cur, t);
  return json_string_value(cur);
}

static int setup(void **state) {
  (void)state;
  C = ksim_cloud_new();
  char err[512];
  if (ksim_fixture_load(C, KM_TEST_DATA "/fixtures/kmsim_small.yaml", err,
                        sizeof(err)) < 0) {
    print_error("%s\n", err);
    return -1;
  }
  C->faults.throttle_mode = 0; /* the throttling test turns it on */
  memset(&S, 0, sizeof(S));
  S.cloud = C;
  return 0;
}

static int teardown(void **state) {
  (void)state;
  ksim_cloud_free(C);
  return 0;
}

static void test_auth_errors(void **state) {
  (void)state;
  res_t r = kms(OWNER_AK, "wrong-secret", "ListKeys", NULL);
  expect(r, 400, "SignatureDoesNotMatch");
  /* the V1 message echoes the server's StringToSign */
  assert_non_null(strstr(jget(r.body, "Message"),
                         "server string to sign is:POST&%2F&AccessKeyId%3D"));
  assert_string_equal(jget(r.body, "HostId"), KMS);
  assert_non_null(strstr(jget(r.body, "Recommend"), "SignatureDoesNotMatch"));
  json_decref(r.body);
  r = kms("KSIMNOSUCHKEY", "x", "ListKeys", NULL);
  expect(r, 404, "InvalidAccessKeyId.NotFound");
  json_decref(r.body);
  r = kms(OWNER_AK, OWNER_SK, "NoSuchAction", NULL);
  expect(r, 404, "InvalidAction.NotFound");
  assert_string_equal(jget(r.body, "Message"),
                      "Specified api is not found, please check your url and "
                      "method.");
  json_decref(r.body);
  r = any(KMS, OWNER_AK, OWNER_SK, NULL, "2014-05-26", "ListKeys", NULL);
  expect(r, 400, "InvalidVersion");
  json_decref(r.body);
  r = any("kms.mars-north-1.aliyuncs.com", OWNER_AK, OWNER_SK, NULL,
          "2016-01-20", "ListKeys", NULL);
  expect(r, 404, "InvalidProduct.NotFound");
  json_decref(r.body);
  r = any("sts.aliyuncs.com", OWNER_AK, OWNER_SK, "x", "2015-04-01",
          "GetCallerIdentity", NULL);
  expect(r, 200, "");
  assert_string_equal(jget(r.body, "AccountId"), "1100000000000001");
  json_decref(r.body);
}

static void test_rotation_policy(void **state) {
  (void)state;
  struct {
    const char *key;
    int status;
    const char *code;
  } refusals[] = {
      {"key-rsa", 400, "Rejected.UnsupportedOperation"},
      {"key-svc", 403, "Forbidden.NoPermission"},
      {"alias/acs/rds", 403, "Forbidden.NoPermission"},
      {"key-ext", 400, "Unsupported.Origin"},
      {"key-disabled", 409, "Rejected.Disabled"},
      {"key-nope", 404, "Forbidden.KeyNotFound"},
      {"alias/nope", 404, "Forbidden.AliasNotFound"},
  };
  for (size_t i = 0; i < KM_ARRAY_SIZE(refusals); i++) {
    res_t r = kms(OWNER_AK, OWNER_SK, "UpdateRotationPolicy", "KeyId",
                  refusals[i].key, "EnableAutomaticRotation", "false", NULL);
    expect(r, refusals[i].status, refusals[i].code);
    json_decref(r.body);
  }
  static const char *const bad[] = {"6d", "731d", "5w", "100000000s"};
  for (size_t i = 0; i < KM_ARRAY_SIZE(bad); i++) {
    res_t r = kms(OWNER_AK, OWNER_SK, "UpdateRotationPolicy", "KeyId",
                  "key-sym-2", "EnableAutomaticRotation", "true",
                  "RotationInterval", bad[i], NULL);
    expect(r, 400, "InvalidParameter");
    json_decref(r.body);
  }
  res_t r = kms(OWNER_AK, OWNER_SK, "UpdateRotationPolicy", "KeyId",
                "key-sym-2", "EnableAutomaticRotation", "true", NULL);
  expect(r, 400, "MissingParameter");
  json_decref(r.body);
  /* 30d and 604800s forms; echoed as <n>s */
  r = kms(OWNER_AK, OWNER_SK, "UpdateRotationPolicy", "KeyId", "alias/app-2",
          "EnableAutomaticRotation", "true", "RotationInterval", "30d", NULL);
  expect(r, 200, "");
  json_decref(r.body);
  r = kms(OWNER_AK, OWNER_SK, "DescribeKey", "KeyId", "key-sym-2", NULL);
  expect(r, 200, "");
  assert_string_equal(jget(r.body, "KeyMetadata.AutomaticRotation"), "Enabled");
  assert_string_equal(jget(r.body, "KeyMetadata.RotationInterval"), "2592000s");
  assert_null(jget(r.body, "KeyMetadata.DKMSInstanceId"));
  json_decref(r.body);
  r = kms(OWNER_AK, OWNER_SK, "UpdateRotationPolicy", "KeyId", "key-sym-2",
          "EnableAutomaticRotation", "true", "RotationInterval", "604800s",
          NULL);
  expect(r, 200, "");
  json_decref(r.body);
  r = kms(OWNER_AK, OWNER_SK, "UpdateRotationPolicy", "KeyId", "key-sym-2",
          "EnableAutomaticRotation", "false", NULL);
  expect(r, 200, "");
  json_decref(r.body);
  r = kms(OWNER_AK, OWNER_SK, "DescribeKey", "KeyId", "key-sym-2", NULL);
  assert_string_equal(jget(r.body, "KeyMetadata.AutomaticRotation"),
                      "Disabled");
  assert_null(jget(r.body, "KeyMetadata.RotationInterval"));
  json_decref(r.body);
  /* a migrating key refuses control-plane writes */
  ksim_account_t *a = ksim_account_by_id(C, "1100000000000001");
  ksim_key_t *k =
      ksim_key_find(ksim_account_region(C, a, "cn-hangzhou"), "key-sym-2");
  k->migrating = true;
  r = kms(OWNER_AK, OWNER_SK, "UpdateRotationPolicy", "KeyId", "key-sym-2",
          "EnableAutomaticRotation", "false", NULL);
  expect(r, 409, "Forbidden.ResourceInMigration");
  json_decref(r.body);
  k->migrating = false;
}

static void test_list_keys_filters(void **state) {
  (void)state;
  res_t r = kms(OWNER_AK, OWNER_SK, "ListKeys", "Filters",
                "[{\"Key\":\"CreatorType\",\"Values\":[\"Service\"]}]", NULL);
  expect(r, 200, "");
  assert_int_equal(json_integer_value(json_object_get(r.body, "TotalCount")),
                   1);
  assert_string_equal(
      json_string_value(json_object_get(
          json_array_get(
              json_object_get(json_object_get(r.body, "Keys"), "Key"), 0),
          "KeyId")),
      "key-svc");
  json_decref(r.body);
  r = kms(OWNER_AK, OWNER_SK, "ListKeys", "Filters",
          "[{\"Key\":\"DKMSInstanceId\",\"Values\":[\"kst-test1\"]}]",
          "PageSize", "100", NULL);
  expect(r, 200, "");
  assert_int_equal(json_integer_value(json_object_get(r.body, "TotalCount")),
                   1);
  json_decref(r.body);
  r = kms(OWNER_AK, OWNER_SK, "ListKeys", "Filters", "[{\"Key\":\"Nope\"}]",
          NULL);
  expect(r, 400, "InvalidParameter");
  json_decref(r.body);
  r = kms(OWNER_AK, OWNER_SK, "ListKeys", "PageSize", "101", NULL);
  expect(r, 400, "InvalidParameter");
  json_decref(r.body);
  /* paging: 8 keys, pages of 3 */
  r = kms(OWNER_AK, OWNER_SK, "ListKeys", "PageSize", "3", "PageNumber", "3",
          NULL);
  expect(r, 200, "");
  assert_int_equal(json_integer_value(json_object_get(r.body, "TotalCount")),
                   8);
  assert_int_equal(
      json_array_size(json_object_get(json_object_get(r.body, "Keys"), "Key")),
      2);
  json_decref(r.body);
  /* multi-version key, migrated key */
  r = kms(OWNER_AK, OWNER_SK, "ListKeyVersions", "KeyId", "key-sym-1", NULL);
  expect(r, 200, "");
  assert_true(json_integer_value(json_object_get(r.body, "TotalCount")) >= 3);
  json_decref(r.body);
  r = kms(OWNER_AK, OWNER_SK, "DescribeKey", "KeyId", "key-migrated", NULL);
  assert_string_equal(jget(r.body, "KeyMetadata.DKMSInstanceId"), "kst-test1");
  json_decref(r.body);
}

static void test_secrets(void **state) {
  (void)state;
  res_t r = kms(OWNER_AK, OWNER_SK, "UpdateSecretRotationPolicy", "SecretName",
                "sec-generic", "EnableAutomaticRotation", "false", NULL);
  expect(r, 400, "Rejected.UnsupportedOperation");
  json_decref(r.body);
  r = kms(OWNER_AK, OWNER_SK, "UpdateSecretRotationPolicy", "SecretName",
          "sec-rds", "EnableAutomaticRotation", "true", "RotationInterval",
          "5h", NULL);
  expect(r, 400, "InvalidParameter");
  json_decref(r.body);
  r = kms(OWNER_AK, OWNER_SK, "UpdateSecretRotationPolicy", "SecretName",
          "sec-rds", "EnableAutomaticRotation", "true", "RotationInterval",
          "8761h", NULL);
  expect(r, 400, "InvalidParameter");
  json_decref(r.body);
  r = kms(OWNER_AK, OWNER_SK, "UpdateSecretRotationPolicy", "SecretName",
          "sec-nope", "EnableAutomaticRotation", "false", NULL);
  expect(r, 404, "Forbidden.ResourceNotFound");
  json_decref(r.body);
  r = kms(OWNER_AK, OWNER_SK, "UpdateSecretRotationPolicy", "SecretName",
          "sec-rds", "EnableAutomaticRotation", "true", "RotationInterval",
          "167h", NULL);
  expect(r, 400, "InvalidParameter"); /* secret rotation starts at 168 h */
  json_decref(r.body);
  r = kms(OWNER_AK, OWNER_SK, "UpdateSecretRotationPolicy", "SecretName",
          "sec-rds", "EnableAutomaticRotation", "true", "RotationInterval",
          "168h", NULL);
  expect(r, 200, "");
  json_decref(r.body);
  r = kms(OWNER_AK, OWNER_SK, "DescribeSecret", "SecretName", "sec-rds",
          "FetchTags", "true", NULL);
  expect(r, 200, "");
  assert_string_equal(jget(r.body, "RotationInterval"), "604800s");
  assert_string_equal(jget(r.body, "EncryptionKeyId"), "key-sym-1");
  assert_string_equal(jget(r.body, "SecretType"), "Rds");
  assert_non_null(json_object_get(json_object_get(r.body, "Tags"), "Tag"));
  json_decref(r.body);
  /* ListSecrets items carry no DKMSInstanceId/EncryptionKeyId */
  r = kms(OWNER_AK, OWNER_SK, "ListSecrets", "Filters",
          "[{\"Key\":\"SecretType\",\"Values\":[\"RDS\"]}]", NULL);
  expect(r, 200, "");
  json_t *item = json_array_get(
      json_object_get(json_object_get(r.body, "SecretList"), "Secret"), 0);
  assert_string_equal(json_string_value(json_object_get(item, "SecretName")),
                      "sec-rds");
  assert_null(json_object_get(item, "EncryptionKeyId"));
  assert_null(json_object_get(item, "DKMSInstanceId"));
  json_decref(r.body);
  /* policies exist only inside instances */
  r = kms(OWNER_AK, OWNER_SK, "GetSecretPolicy", "SecretName", "sec-generic",
          NULL);
  expect(r, 400, "Rejected.UnsupportedOperation");
  json_decref(r.body);
  r = kms(OWNER_AK, OWNER_SK, "GetSecretPolicy", "SecretName", "sec-inst",
          NULL);
  expect(r, 200, "");
  assert_non_null(
      strstr(jget(r.body, "Policy"), "acs:ram::1100000000000001:*"));
  json_decref(r.body);
  r = kms(OWNER_AK, OWNER_SK, "GetKeyPolicy", "KeyId", "key-migrated",
          "PolicyName", "default", NULL);
  expect(r, 200, "");
  json_error_t e;
  json_t *pol = json_loads(jget(r.body, "Policy"), 0, &e);
  assert_non_null(pol);
  assert_string_equal(json_string_value(json_object_get(pol, "Version")), "1");
  json_decref(pol);
  json_decref(r.body);
  r = kms(OWNER_AK, OWNER_SK, "GetKeyPolicy", "KeyId", "key-sym-1", NULL);
  expect(r, 400, "Rejected.UnsupportedOperation");
  json_decref(r.body);
}

static void test_instances(void **state) {
  (void)state;
  res_t r = kms(OWNER_AK, OWNER_SK, "GetKmsInstance", "KmsInstanceId",
                "kst-test1", NULL);
  expect(r, 200, "");
  json_t *k = json_object_get(r.body, "KmsInstance");
  assert_true(json_is_string(json_object_get(k, "SecretNum")));
  assert_true(json_is_integer(json_object_get(k, "KeyNum")));
  assert_true(json_is_array(json_object_get(k, "ZoneIds")));
  assert_null(json_object_get(k, "ImageVersion"));
  json_decref(r.body);
  r = kms(OWNER_AK, OWNER_SK, "GetKmsInstanceQuotaInfos", "KmsInstanceId",
          "kst-test1", "ResourceType", "key", NULL);
  expect(r, 200, "");
  json_t *q =
      json_array_get(json_object_get(r.body, "KmsInstanceQuotaInfos"), 0);
  assert_int_equal(json_integer_value(json_object_get(q, "ResourceQuota")), 10);
  assert_int_equal(json_integer_value(json_object_get(q, "UsedQuantity")), 1);
  json_decref(r.body);
  /* not visible to a member it is not shared with */
  r = kms(MEMBER_AK, MEMBER_SK, "GetKmsInstance", "KmsInstanceId", "kst-test1",
          NULL);
  expect(r, 403, "Forbidden.DKMSInstanceNotFound");
  json_decref(r.body);
  r = kms(OWNER_AK, OWNER_SK, "GetDefaultKmsInstance", NULL);
  assert_string_equal(jget(r.body, "DefaultKmsInstanceId"), "kst-test1");
  json_decref(r.body);
  r = kms(MEMBER_AK, MEMBER_SK, "GetDefaultKmsInstance", NULL);
  assert_string_equal(jget(r.body, "DefaultKmsInstanceId"), "");
  json_decref(r.body);
}

static void test_sts_and_rm(void **state) {
  (void)state;
  const char *rd_role =
      "acs:ram::1100000000000002:role/ResourceDirectoryAccountAccessRole";
  res_t r =
      any("sts.aliyuncs.com", OUT_AK, OUT_SK, NULL, "2015-04-01", "AssumeRole",
          "RoleArn", rd_role, "RoleSessionName", "t1", NULL);
  expect(r, 403, "NoPermission");
  json_decref(r.body);
  r = any("sts.aliyuncs.com", MEMBER_AK, MEMBER_SK, NULL, "2015-04-01",
          "AssumeRole", "RoleArn",
          "acs:ram::1100000000000001:role/ResourceDirectoryAccountAccessRole",
          "RoleSessionName", "t1", NULL);
  expect(r, 404, "EntityNotExist.Role");
  json_decref(r.body);
  r = any("sts.cn-hangzhou.aliyuncs.com", OWNER_AK, OWNER_SK, NULL,
          "2015-04-01", "AssumeRole", "RoleArn", rd_role, "RoleSessionName",
          "t1", "DurationSeconds", "899", NULL);
  expect(r, 400, "InvalidParameter");
  json_decref(r.body);
  r = any("sts.aliyuncs.com", OWNER_AK, OWNER_SK, NULL, "2015-04-01",
          "AssumeRole", "RoleArn", rd_role, "RoleSessionName", "t1",
          "DurationSeconds", "900", NULL);
  expect(r, 200, "");
  char *ak = km_xstrdup(jget(r.body, "Credentials.AccessKeyId"));
  char *sk = km_xstrdup(jget(r.body, "Credentials.AccessKeySecret"));
  char *tok = km_xstrdup(jget(r.body, "Credentials.SecurityToken"));
  json_decref(r.body);
  assert_memory_equal(ak, "STS.", 4);
  /* the STS credentials act as the member */
  r = any(KMS, ak, sk, tok, "2016-01-20", "ListKeys", NULL);
  expect(r, 200, "");
  assert_int_equal(json_integer_value(json_object_get(r.body, "TotalCount")),
                   1);
  json_decref(r.body);
  r = any(KMS, ak, sk, NULL, "2016-01-20", "ListKeys", NULL);
  expect(r, 400, "MissingSecurityToken");
  json_decref(r.body);
  r = any(KMS, ak, sk, "CAISwrong", "2016-01-20", "ListKeys", NULL);
  expect(r, 400, "InvalidSecurityToken.MismatchWithAccessKey");
  json_decref(r.body);
  C->clock_offset += 901;
  r = any(KMS, ak, sk, tok, "2016-01-20", "ListKeys", NULL);
  expect(r, 400, "InvalidSecurityToken.Expired");
  json_decref(r.body);
  C->clock_offset -= 901;
  free(ak);
  free(sk);
  free(tok);
  /* ResourceManager: only the management account lists the directory */
  r = any("resourcemanager.aliyuncs.com", OWNER_AK, OWNER_SK, NULL,
          "2020-03-31", "ListAccounts", "IncludeTags", "true", NULL);
  expect(r, 200, "");
  assert_int_equal(json_integer_value(json_object_get(r.body, "TotalCount")),
                   2);
  json_decref(r.body);
  r = any("resourcemanager.aliyuncs.com", OWNER_AK, OWNER_SK, NULL,
          "2020-03-31", "ListAccountsForParent", "ParentFolderId", "fd-tapps",
          NULL);
  expect(r, 200, "");
  assert_int_equal(json_integer_value(json_object_get(r.body, "TotalCount")),
                   1);
  json_decref(r.body);
  r = any("resourcemanager.aliyuncs.com", MEMBER_AK, MEMBER_SK, NULL,
          "2020-03-31", "ListAccounts", NULL);
  expect(r, 403, "NoPermission");
  json_decref(r.body);
  r = any("resourcemanager.aliyuncs.com", OUT_AK, OUT_SK, NULL, "2020-03-31",
          "ListAccounts", NULL);
  expect(r, 404, "EntityNotExists.ResourceDirectory");
  json_decref(r.body);
}

/* ---- BYOK ---- */

static EVP_PKEY *pubkey(const char *b64) {
  unsigned char der[2048];
  int n = EVP_DecodeBlock(der, (const unsigned char *)b64, (int)strlen(b64));
  assert_true(n > 0);
  const unsigned char *p = der;
  EVP_PKEY *k = d2i_PUBKEY(NULL, &p, n);
  assert_non_null(k);
  return k;
}

static size_t rsa_wrap(EVP_PKEY *pub, const unsigned char *in, size_t n,
                       unsigned char *out) {
  EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(pub, NULL);
  assert_true(EVP_PKEY_encrypt_init(ctx) > 0);
  EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING);
  EVP_PKEY_CTX_set_rsa_oaep_md(ctx, EVP_sha256());
  EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, EVP_sha256());
  size_t olen = 512;
  assert_true(EVP_PKEY_encrypt(ctx, out, &olen, in, n) > 0);
  EVP_PKEY_CTX_free(ctx);
  return olen;
}

static char *b64(const unsigned char *p, size_t n) {
  char *o = malloc(4 * ((n + 2) / 3) + 1);
  EVP_EncodeBlock((unsigned char *)o, p, (int)n);
  return o;
}

typedef struct {
  char *token;
  EVP_PKEY *pub;
} params_t;

static params_t get_params(const char *key) {
  res_t r = kms(OWNER_AK, OWNER_SK, "GetParametersForImport", "KeyId", key,
                "WrappingKeySpec", "RSA_2048", "WrappingAlgorithm",
                "RSAES_OAEP_SHA_256", NULL);
  expect(r, 200, "");
  params_t p = {km_xstrdup(jget(r.body, "ImportToken")),
                pubkey(jget(r.body, "PublicKey"))};
  int64_t exp;
  assert_int_equal(km_parse_iso8601(jget(r.body, "TokenExpireTime"), &exp), 0);
  assert_true(exp >= ksim_clock_now(C) + 24 * 3600 - 5);
  json_decref(r.body);
  return p;
}

static res_t import(const char *key, const params_t *p, const char *material,
                    const char *expire) {
  return kms(OWNER_AK, OWNER_SK, "ImportKeyMaterial", "KeyId", key,
             "ImportToken", p->token, "EncryptedKeyMaterial", material,
             "KeyMaterialExpireUnix", expire, NULL);
}

static void test_byok(void **state) {
  (void)state;
  res_t r = kms(OWNER_AK, OWNER_SK, "GetParametersForImport", "KeyId",
                "key-sym-1", "WrappingKeySpec", "RSA_2048", "WrappingAlgorithm",
                "RSAES_OAEP_SHA_256", NULL);
  expect(r, 400, "Unsupported.Origin");
  json_decref(r.body);
  /* direct wrapping of a 32-byte AES key */
  params_t p = get_params("key-ext");
  unsigned char mat[32], wrapped[512];
  RAND_bytes(mat, sizeof(mat));
  char *enc = b64(wrapped, rsa_wrap(p.pub, mat, sizeof(mat), wrapped));
  r = import("key-ext", &p, enc, "1");
  expect(r, 400, "InvalidParameter"); /* expiry in the past */
  json_decref(r.body);
  r = import("key-ext", &p, "bm90LXdyYXBwZWQ=", "0");
  expect(r, 400, "InvalidKeyMaterial");
  json_decref(r.body);
  r = import("key-ext", &p, enc, "0");
  expect(r, 200, "");
  json_decref(r.body);
  free(enc);
  r = kms(OWNER_AK, OWNER_SK, "DescribeKey", "KeyId", "key-ext", NULL);
  assert_string_equal(jget(r.body, "KeyMetadata.KeyState"), "Enabled");
  json_decref(r.body);
  /* the token is reusable for 24 h, but a re-import must be the same
   * material */
  unsigned char other[32];
  RAND_bytes(other, sizeof(other));
  enc = b64(wrapped, rsa_wrap(p.pub, other, sizeof(other), wrapped));
  r = import("key-ext", &p, enc, "0");
  expect(r, 400, "InvalidKeyMaterial");
  json_decref(r.body);
  free(enc);
  /* the token is bound to its key */
  enc = b64(wrapped, rsa_wrap(p.pub, mat, sizeof(mat), wrapped));
  r = import("key-ext-rsa", &p, enc, "0");
  expect(r, 400, "InvalidImportToken");
  json_decref(r.body);
  /* ... and expires after 24 h on kmsim's clock */
  C->clock_offset += 24 * 3600 + 1;
  r = import("key-ext", &p, enc, "0");
  expect(r, 400, "ExpiredImportToken");
  json_decref(r.body);
  C->clock_offset -= 24 * 3600 + 1;
  free(enc);
  free(p.token);
  EVP_PKEY_free(p.pub);

  /* envelope: Cipher(ESK) || AES-256-ECB-PKCS#7(ESK, PKCS#8 RSA key) */
  p = get_params("key-ext-rsa");
  EVP_PKEY *tak = EVP_RSA_gen(2048);
  PKCS8_PRIV_KEY_INFO *p8 = EVP_PKEY2PKCS8(tak);
  unsigned char *der = NULL;
  int dlen = i2d_PKCS8_PRIV_KEY_INFO(p8, &der);
  unsigned char esk[32];
  RAND_bytes(esk, sizeof(esk));
  size_t wl = rsa_wrap(p.pub, esk, sizeof(esk), wrapped);
  unsigned char *blob = malloc(wl + (size_t)dlen + 32);
  memcpy(blob, wrapped, wl);
  EVP_CIPHER_CTX *cc = EVP_CIPHER_CTX_new();
  int l1 = 0, l2 = 0;
  EVP_EncryptInit_ex(cc, EVP_aes_256_ecb(), NULL, esk, NULL);
  EVP_EncryptUpdate(cc, blob + wl, &l1, der, dlen);
  EVP_EncryptFinal_ex(cc, blob + wl + l1, &l2);
  EVP_CIPHER_CTX_free(cc);
  enc = b64(blob, wl + (size_t)(l1 + l2));
  r = import("key-ext-rsa", &p, enc, "0");
  expect(r, 200, "");
  json_decref(r.body);
  /* the same envelope cannot import into a symmetric key's spec */
  free(enc);
  free(blob);
  OPENSSL_free(der);
  PKCS8_PRIV_KEY_INFO_free(p8);
  EVP_PKEY_free(tak);
  free(p.token);
  EVP_PKEY_free(p.pub);
  ksim_account_t *a = ksim_account_by_id(C, "1100000000000001");
  ksim_key_t *k =
      ksim_key_find(ksim_account_region(C, a, "cn-hangzhou"), "key-ext-rsa");
  assert_int_equal(k->material_imported_at, ksim_clock_now(C));
}

static void test_throttling(void **state) {
  (void)state;
  C->faults.throttle_mode = 1;
  int ok = 0, throttled = 0;
  for (int i = 0; i < 80; i++) {
    res_t r =
        kms(MEMBER_AK, MEMBER_SK, "DescribeKey", "KeyId", "key-m-1", NULL);
    if (r.status == 200) ok++;
    if (r.status == 429) {
      assert_string_equal(r.code, "Rejected.Throttling");
      throttled++;
    }
    json_decref(r.body);
  }
  /* published key-read QPS is 50 per account and region: a burst of 80
   * gets about 50 through (plus what refills while the loop runs) */
  assert_in_range(ok, 50, 60);
  assert_int_equal(ok + throttled, 80);
  /* another API group has its own bucket */
  res_t r = kms(MEMBER_AK, MEMBER_SK, "GetDefaultKmsInstance", NULL);
  expect(r, 200, "");
  json_decref(r.body);
  C->faults.throttle_mode = 0;
}

static void test_nonce_and_state(void **state) {
  (void)state;
  assert_true(ksim_nonce_check(C, "AK", "n1", 1000));
  assert_false(ksim_nonce_check(C, "AK", "n1", 1000));
  assert_true(ksim_nonce_check(C, "AK2", "n1", 1000));
  json_t *s = ksim_state_dump(C);
  assert_int_equal(json_array_size(json_object_get(s, "Accounts")), 3);
  assert_int_equal(json_array_size(json_object_get(s, "Instances")), 1);
  json_decref(s);
  json_t *st = ksim_stats_dump(C);
  assert_true(json_integer_value(json_object_get(st, "Requests")) > 50);
  json_decref(st);
}

static void test_fixture_errors(void **state) {
  (void)state;
  ksim_cloud_t *c = ksim_cloud_new();
  json_t *bad =
      json_pack("{s:[s], s:[{s:s, s:{s:{s:[{s:s, s:s}]}}}]}", "regions",
                "cn-hangzhou", "accounts", "id", "1", "regions", "cn-hangzhou",
                "keys", "id", "k1", "spec", "AES_999");
  char err[512];
  assert_int_equal(ksim_fixture_apply(c, bad, err, sizeof(err)), -1);
  assert_non_null(strstr(err, "accounts[0].regions.cn-hangzhou.keys[0]"));
  json_decref(bad);
  ksim_cloud_free(c);
  /* the generator is deterministic for a seed */
  json_t *g = json_pack("{s:i, s:i, s:i}", "seed", 7, "accounts", 3,
                        "keys_per_region", 5);
  json_t *a = ksim_generate(g, err, sizeof(err));
  json_t *b = ksim_generate(g, err, sizeof(err));
  assert_true(json_equal(a, b));
  c = ksim_cloud_new();
  json_t *fx = json_pack("{s:O}", "gen", g);
  assert_int_equal(ksim_fixture_apply(c, fx, err, sizeof(err)), 0);
  assert_int_equal(c->accounts.n, 3);
  ksim_cloud_free(c);
  json_decref(fx);
  json_decref(a);
  json_decref(b);
  json_decref(g);
}

/* Issue 11's rotation rules: 7-365 days in an instance, no rotation in a
 * hardware instance, Suspended for a disabled key with rotation on, no
 * AutomaticRotation for a Generic secret. */
static void test_rotation_rules_v3(void **state) {
  (void)state;
  res_t r =
      kms(OWNER_AK, OWNER_SK, "UpdateRotationPolicy", "KeyId", "key-migrated",
          "EnableAutomaticRotation", "true", "RotationInterval", "366d", NULL);
  expect(r, 400, "InvalidParameter");
  json_decref(r.body);
  r = kms(OWNER_AK, OWNER_SK, "UpdateRotationPolicy", "KeyId", "key-migrated",
          "EnableAutomaticRotation", "true", "RotationInterval", "365d", NULL);
  expect(r, 200, "");
  json_decref(r.body);
  ksim_instance_t *in = ksim_instance_by_id(C, "kst-test1");
  char *type = in->type;
  in->type = "hardware";
  r = kms(OWNER_AK, OWNER_SK, "UpdateRotationPolicy", "KeyId", "key-migrated",
          "EnableAutomaticRotation", "true", "RotationInterval", "30d", NULL);
  expect(r, 400, "Rejected.UnsupportedOperation");
  json_decref(r.body);
  /* turning it off stays possible */
  r = kms(OWNER_AK, OWNER_SK, "UpdateRotationPolicy", "KeyId", "key-migrated",
          "EnableAutomaticRotation", "false", NULL);
  expect(r, 200, "");
  json_decref(r.body);
  in->type = type;
  ksim_account_t *a = ksim_account_by_id(C, "1100000000000001");
  ksim_key_t *k =
      ksim_key_find(ksim_account_region(C, a, "cn-hangzhou"), "key-disabled");
  k->rotation_enabled = true;
  k->rotation_interval = 30 * 86400;
  r = kms(OWNER_AK, OWNER_SK, "DescribeKey", "KeyId", "key-disabled", NULL);
  assert_string_equal(jget(r.body, "KeyMetadata.AutomaticRotation"),
                      "Suspended");
  assert_string_equal(jget(r.body, "KeyMetadata.RotationInterval"), "2592000s");
  json_decref(r.body);
  k->rotation_enabled = false;
  r = kms(OWNER_AK, OWNER_SK, "DescribeSecret", "SecretName", "sec-generic",
          NULL);
  expect(r, 200, "");
  assert_null(json_object_get(r.body, "AutomaticRotation"));
  json_decref(r.body);
  /* Filters: a Key given twice is OR-ed; 0 values match nothing; 11 are
   * refused */
  r = kms(OWNER_AK, OWNER_SK, "ListKeys", "Filters",
          "[{\"Key\":\"KeyId\",\"Values\":[\"key-sym-1\"]},"
          "{\"Key\":\"KeyId\",\"Values\":[\"key-rsa\"]}]",
          NULL);
  expect(r, 200, "");
  assert_int_equal(json_integer_value(json_object_get(r.body, "TotalCount")),
                   2);
  json_decref(r.body);
  r = kms(OWNER_AK, OWNER_SK, "ListKeys", "Filters",
          "[{\"Key\":\"KeyId\",\"Values\":[]}]", NULL);
  expect(r, 200, "");
  assert_int_equal(json_integer_value(json_object_get(r.body, "TotalCount")),
                   0);
  json_decref(r.body);
  r = kms(OWNER_AK, OWNER_SK, "ListKeys", "Filters",
          "[{\"Key\":\"KeyId\",\"Values\":[\"1\",\"2\",\"3\",\"4\",\"5\","
          "\"6\",\"7\",\"8\",\"9\",\"10\",\"11\"]}]",
          NULL);
  expect(r, 400, "InvalidParameter");
  json_decref(r.body);
}

/* Throttling in the KMS-native shape, and a storm throttles everything. */
static void test_throttle_shapes(void **state) {
  (void)state;
  char err[256];
  json_t *cfg = json_pack("{s:s, s:{s:f, s:f}}", "throttle_shape", "kms",
                          "throttle_storm", "period_ms", 1000000.0, "storm_ms",
                          1000000.0);
  assert_int_equal(ksim_faults_configure(C, cfg, err, sizeof(err)), 0);
  json_decref(cfg);
  res_t r = kms(MEMBER_AK, MEMBER_SK, "DescribeKey", "KeyId", "key-m-1", NULL);
  expect(r, 429, "Rejected.Throttling");
  assert_int_equal(json_integer_value(json_object_get(r.body, "HttpStatus")),
                   429);
  assert_string_equal(jget(r.body, "Message"), "QPS Limit Exceeded");
  assert_null(json_object_get(r.body, "HostId"));
  json_decref(r.body);
  cfg = json_pack("{s:b}", "reset", 1);
  assert_int_equal(ksim_faults_configure(C, cfg, err, sizeof(err)), 0);
  json_decref(cfg);
  C->faults.throttle_mode = 0;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_auth_errors),
      cmocka_unit_test(test_rotation_policy),
      cmocka_unit_test(test_list_keys_filters),
      cmocka_unit_test(test_secrets),
      cmocka_unit_test(test_instances),
      cmocka_unit_test(test_sts_and_rm),
      cmocka_unit_test(test_byok),
      cmocka_unit_test(test_throttling),
      cmocka_unit_test(test_nonce_and_state),
      cmocka_unit_test(test_fixture_errors),
      cmocka_unit_test(test_rotation_rules_v3),
      cmocka_unit_test(test_throttle_shapes),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
