/* Request signing against the published vectors (reference §4): the V1
 * StringToSign and the GET and POST signatures of the RPC signature doc, the
 * V3 canonical-request hash, signature and SignedHeaders of the V3 doc; plus
 * what a caller relies on: where parameters travel, STS headers, refusal of
 * malformed input, fresh nonces, and percent-encoding of awkward bytes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "acs/acs.h"

static const char *hdr(const km_signed_request_t *s, const char *name) {
  for (size_t i = 0; i < s->nheaders; i++)
    if (strcmp(s->headers[i].name, name) == 0) return s->headers[i].value;
  return NULL;
}

static void v1_vector_params(km_params_t *p) {
  km_params_init(p);
  km_params_set(p, "Timestamp", "2016-02-23T12:46:24Z");
  km_params_set(p, "Format", "XML");
  km_params_set(p, "AccessKeyId", "testid");
  km_params_set(p, "Action", "DescribeRegions");
  km_params_set(p, "SignatureMethod", "HMAC-SHA1");
  km_params_set(p, "SignatureNonce", "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf");
  km_params_set(p, "SignatureVersion", "1.0");
  km_params_set(p, "Version", "2014-05-26");
}

static void test_v1_published_vector(void **st) {
  (void)st;
  km_params_t p;
  v1_vector_params(&p);
  char *sts = km__acs_v1_string_to_sign("GET", &p);
  assert_string_equal(
      sts, "GET&%2F&AccessKeyId%3Dtestid%26Action%3DDescribeRegions%26Format%"
           "3DXML%26SignatureMethod%3DHMAC-SHA1%26SignatureNonce%3D3ee8c1b8-"
           "83d3-44af-a94f-4e0ad82fd6cf%26SignatureVersion%3D1.0%26Timestamp%"
           "3D2016-02-23T12%253A46%253A24Z%26Version%3D2014-05-26");
  char *sig = NULL;
  assert_int_equal(km__acs_v1_signature(sts, "testsecret", &sig), 0);
  assert_string_equal(sig, "OLeaidS1JvxuMvnyHOwuJ+uX5qY=");
  free(sig);
  free(sts);

  /* A Signature already present is not signed. */
  km_params_set(&p, "Signature", "ignored");
  sts = km__acs_v1_string_to_sign("POST", &p);
  assert_int_equal(km__acs_v1_signature(sts, "testsecret", &sig), 0);
  assert_string_equal(sig, "MxbnVAM4w6sft9xjVpe/GCKueuk=");
  free(sig);
  free(sts);
  km_params_free(&p);
}

static void test_v3_published_vector(void **st) {
  (void)st;
  km_params_t p;
  km_params_init(&p);
  km_params_set(&p, "RegionId", "cn-shanghai");
  km_params_set(&p, "ImageId",
                "win2019_1809_x64_dtc_zh-cn_40G_alibase_20230811.vhd");
  km_acs_request_t r = {.method = "POST",
                        .host = "ecs.cn-shanghai.aliyuncs.com",
                        .action = "RunInstances",
                        .version = "2014-05-26",
                        .params = &p,
                        .sigver = KM_SIG_V3,
                        .nonce = "3156853299f313e23d1673dc12e1703d",
                        .timestamp = "2023-10-26T10:22:32Z"};
  km_credential_t c = {"YourAccessKeyId", "YourAccessKeySecret", NULL};
  km_signed_request_t s;
  km_err_t err;
  assert_int_equal(km_acs_sign(&r, &c, &s, &err), 0);
  char hash[65];
  km__acs_sha256_hex(s.string_to_sign, strlen(s.string_to_sign), hash);
  assert_string_equal(
      hash, "7ea06492da5221eba5297e897ce16e55f964061054b7695beedaac1145b1e259");
  assert_string_equal(
      s.signature,
      "06563a9e1b43f5dfe96b81484da74bceab24a1d853912eee15083a6f0f3283c0");
  assert_string_equal(
      hdr(&s, "authorization"),
      "ACS3-HMAC-SHA256 Credential=YourAccessKeyId,SignedHeaders=host;x-acs-"
      "action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-"
      "version,Signature="
      "06563a9e1b43f5dfe96b81484da74bceab24a1d853912eee15083a6f0f3283c0");
  assert_string_equal(
      hdr(&s, "x-acs-content-sha256"),
      "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  assert_string_equal(s.url, "https://ecs.cn-shanghai.aliyuncs.com/"
                             "?ImageId=win2019_1809_x64_dtc_zh-cn_40G_"
                             "alibase_20230811.vhd&RegionId=cn-shanghai");
  assert_null(s.body);
  assert_null(hdr(&s, "content-type"));
  assert_null(hdr(&s, "host"));
  km_signed_request_free(&s);
  km_params_free(&p);
}

/* The full V1 path puts the common parameters in the query, signs the form
 * body too, and produces the signature of its own StringToSign. */
static void test_v1_request_layout(void **st) {
  (void)st;
  km_params_t p;
  km_params_init(&p);
  km_params_set(&p, "KeyId", "key-1");
  km_acs_request_t r = {.method = "POST",
                        .host = "kms.cn-hangzhou.aliyuncs.com",
                        .action = "DescribeKey",
                        .version = "2016-01-20",
                        .params = &p,
                        .form_body = 1,
                        .sigver = KM_SIG_V1,
                        .nonce = "n1",
                        .timestamp = "2024-01-02T03:04:05Z"};
  km_credential_t c = {"AKID", "sek", "tok/en+"};
  km_signed_request_t s;
  assert_int_equal(km_acs_sign(&r, &c, &s, NULL), 0);
  assert_string_equal(s.body, "KeyId=key-1");
  assert_int_equal(s.body_len, strlen("KeyId=key-1"));
  assert_string_equal(hdr(&s, "content-type"),
                      "application/x-www-form-urlencoded");
  assert_non_null(strstr(s.url, "&SecurityToken=tok%2Fen%2B&"));
  assert_non_null(strstr(s.url, "Format=JSON"));
  assert_null(strstr(s.url, "&KeyId="));
  assert_null(strstr(s.url, "?KeyId="));
  assert_non_null(strstr(s.string_to_sign, "KeyId%3Dkey-1"));
  char *sig = NULL;
  assert_int_equal(km__acs_v1_signature(s.string_to_sign, "sek", &sig), 0);
  assert_string_equal(sig, s.signature);
  km_buf_t enc;
  km_buf_init(&enc);
  km_acs_percent_encode(&enc, sig);
  char *want = km_xasprintf("Signature=%s", enc.data);
  assert_non_null(strstr(s.url, want));
  free(want);
  km_buf_free(&enc);
  free(sig);
  km_signed_request_free(&s);

  /* Common parameter names are the signer's. */
  km_params_set(&p, "Timestamp", "x");
  km_err_t err;
  assert_int_equal(km_acs_sign(&r, &c, &s, &err), KM_EINVAL);
  assert_non_null(strstr(err.text, "Timestamp"));
  km_params_free(&p);
}

static void test_v3_sts_and_form(void **st) {
  (void)st;
  km_params_t p;
  km_params_init(&p);
  km_params_set(&p, "SecretName", "a b*~");
  km_acs_request_t r = {.host = "kms.cn-hangzhou.aliyuncs.com",
                        .action = "DescribeSecret",
                        .version = "2016-01-20",
                        .params = &p,
                        .form_body = 1,
                        .nonce = "n2",
                        .timestamp = "2024-01-02T03:04:05Z",
                        .user_agent = "kmsmig-test"};
  km_credential_t c = {"STS.id", "sek", "TOKEN-VALUE"};
  km_signed_request_t s;
  assert_int_equal(km_acs_sign(&r, &c, &s, NULL), 0);
  assert_string_equal(s.method, "POST");
  assert_string_equal(s.url, "https://kms.cn-hangzhou.aliyuncs.com/");
  assert_string_equal(s.body, "SecretName=a%20b*~");
  char h[65];
  km__acs_sha256_hex(s.body, s.body_len, h);
  assert_string_equal(hdr(&s, "x-acs-content-sha256"), h);
  assert_string_equal(hdr(&s, "x-acs-security-token"), "TOKEN-VALUE");
  assert_string_equal(hdr(&s, "x-acs-accesskey-id"), "STS.id");
  assert_string_equal(hdr(&s, "user-agent"), "kmsmig-test");
  assert_non_null(
      strstr(hdr(&s, "authorization"),
             "SignedHeaders=content-type;host;x-acs-accesskey-id;"
             "x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-"
             "security-token;x-acs-signature-nonce;x-acs-version,"));
  /* The canonical request is what was signed. */
  char *sig = NULL;
  assert_int_equal(km__acs_v3_signature(s.string_to_sign, "sek", &sig), 0);
  assert_string_equal(sig, s.signature);
  free(sig);
  /* No secret anywhere in what the caller could print. */
  assert_null(strstr(s.string_to_sign, "sek"));
  km_signed_request_free(&s);
  km_params_free(&p);
}

static void test_refusals_and_nonce(void **st) {
  (void)st;
  km_acs_request_t r = {.host = "kms.cn-hangzhou.aliyuncs.com",
                        .action = "ListKeys",
                        .version = "2016-01-20"};
  km_credential_t c = {"id", "sek", NULL};
  km_signed_request_t s1, s2;
  km_err_t err;
  assert_int_equal(km_acs_sign(&r, &c, &s1, NULL), 0);
  assert_int_equal(km_acs_sign(&r, &c, &s2, NULL), 0);
  const char *n1 = hdr(&s1, "x-acs-signature-nonce");
  assert_int_equal(strlen(n1), 32);
  assert_string_not_equal(n1, hdr(&s2, "x-acs-signature-nonce"));
  assert_string_not_equal(s1.signature, s2.signature);
  int64_t t;
  assert_int_equal(km_parse_iso8601(hdr(&s1, "x-acs-date"), &t), 0);
  km_signed_request_free(&s1);
  km_signed_request_free(&s2);

  km_credential_t empty = {"id", "", NULL};
  assert_int_equal(km_acs_sign(&r, &empty, &s1, &err), KM_ECREDS);
  km_credential_t crlf = {"id", "sek", "tok\r\nX-Evil: 1"};
  assert_int_equal(km_acs_sign(&r, &crlf, &s1, &err), KM_EINVAL);
  assert_null(strstr(err.text, "tok"));
  r.action = "List Keys";
  assert_int_equal(km_acs_sign(&r, &c, &s1, &err), KM_EINVAL);
  r.action = "ListKeys";
  r.method = "PUT";
  assert_int_equal(km_acs_sign(&r, &c, &s1, &err), KM_EINVAL);
  r.method = "GET";
  r.form_body = 1;
  assert_int_equal(km_acs_sign(&r, &c, &s1, &err), KM_EINVAL);
  r.form_body = 0;
  r.sigver = (km_sigver_t)2;
  assert_int_equal(km_acs_sign(&r, &c, &s1, &err), KM_EINVAL);
}

static void test_percent_encode(void **st) {
  (void)st;
  km_buf_t b;
  km_buf_init(&b);
  km_acs_percent_encode(&b, "a b*~-_.+/=&\xe4\xb8\xad!'()");
  assert_string_equal(b.data, "a%20b%2A~-_.%2B%2F%3D%26%E4%B8%AD%21%27%28%29");
  km_buf_free(&b);
}

static void test_params_and_endpoints(void **st) {
  (void)st;
  km_params_t p;
  km_params_init(&p);
  const char *ids[] = {"k1", "k2", "k3"};
  km_params_set_list(&p, "ResourceId", ids, 3);
  km_params_setf(&p, "PageSize", "%d", 100);
  km_params_set(&p, "ResourceId.2", "k2b");
  assert_int_equal(p.n, 4);
  assert_string_equal(km_params_get(&p, "ResourceId.1"), "k1");
  assert_string_equal(km_params_get(&p, "ResourceId.2"), "k2b");
  assert_string_equal(km_params_get(&p, "ResourceId.3"), "k3");
  assert_null(km_params_get(&p, "ResourceId.0"));
  assert_string_equal(km_params_get(&p, "PageSize"), "100");
  km_params_free(&p);

  char host[128];
  struct {
    km_product_t p;
    const char *region, *want, *version;
  } cases[] = {
      {KM_PRODUCT_KMS, "cn-hangzhou", "kms.cn-hangzhou.aliyuncs.com",
       "2016-01-20"},
      {KM_PRODUCT_STS, "cn-hangzhou", "sts.aliyuncs.com", "2015-04-01"},
      {KM_PRODUCT_RESOURCEMANAGER, NULL, "resourcemanager.aliyuncs.com",
       "2020-03-31"},
      {KM_PRODUCT_RESOURCESHARING, "ap-southeast-1",
       "resourcesharing.ap-southeast-1.aliyuncs.com", "2020-01-10"},
      {KM_PRODUCT_CMS, "cn-shanghai-finance-1",
       "metrics.cn-shanghai-finance-1.aliyuncs.com", "2019-01-01"},
      {KM_PRODUCT_ACTIONTRAIL, "eu-central-1",
       "actiontrail.eu-central-1.aliyuncs.com", "2020-07-06"},
  };
  for (size_t i = 0; i < KM_ARRAY_SIZE(cases); i++) {
    assert_int_equal(
        km_product_host(cases[i].p, cases[i].region, host, sizeof(host)), 0);
    assert_string_equal(host, cases[i].want);
    assert_string_equal(km_product_version(cases[i].p), cases[i].version);
    km_product_t back;
    assert_int_equal(km_product_from_name(km_product_name(cases[i].p), &back),
                     0);
    assert_int_equal(back, cases[i].p);
  }
  const char *bad[] = {NULL,           "",    "CN-hangzhou", "cn_hangzhou",
                       "cn-hangzhou.", "-cn", "cn--x",       "cn-",
                       "a/b",          "a b"};
  for (size_t i = 0; i < KM_ARRAY_SIZE(bad); i++)
    assert_int_equal(km_product_host(KM_PRODUCT_KMS, bad[i], host, 64),
                     KM_EINVAL);
  assert_int_equal(km_product_host(KM_PRODUCT_KMS, "cn-hangzhou", host, 10),
                   KM_EINVAL);
  km_product_t x;
  assert_int_equal(km_product_from_name("ecs", &x), KM_EINVAL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_v1_published_vector),
      cmocka_unit_test(test_v3_published_vector),
      cmocka_unit_test(test_v1_request_layout),
      cmocka_unit_test(test_v3_sts_and_form),
      cmocka_unit_test(test_refusals_and_nonce),
      cmocka_unit_test(test_percent_encode),
      cmocka_unit_test(test_params_and_endpoints),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
