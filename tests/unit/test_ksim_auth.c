/* kmsim's own signature verifier against the published vectors of the
 * reference §4 (V1 GET and POST, V3), plus the percent-encoding rules. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ksim.h"

static void v1_params(ksim_kvs_t *p) {
  ksim_kvs_add(p, "Version", "2014-05-26");
  ksim_kvs_add(p, "Timestamp", "2016-02-23T12:46:24Z");
  ksim_kvs_add(p, "SignatureVersion", "1.0");
  ksim_kvs_add(p, "SignatureNonce", "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf");
  ksim_kvs_add(p, "SignatureMethod", "HMAC-SHA1");
  ksim_kvs_add(p, "Format", "XML");
  ksim_kvs_add(p, "Action", "DescribeRegions");
  ksim_kvs_add(p, "AccessKeyId", "testid");
}

static void test_v1_get_vector(void **state) {
  (void)state;
  ksim_kvs_t p = {0};
  v1_params(&p);
  /* a received Signature is excluded from the string to sign */
  ksim_kvs_add(&p, "Signature", "ignored");
  char *sts = ksim_v1_string_to_sign("GET", &p);
  assert_string_equal(
      sts, "GET&%2F&AccessKeyId%3Dtestid%26Action%3DDescribeRegions%26Format%"
           "3DXML%26SignatureMethod%3DHMAC-SHA1%26SignatureNonce%3D3ee8c1b8-"
           "83d3-44af-a94f-4e0ad82fd6cf%26SignatureVersion%3D1.0%26Timestamp%"
           "3D2016-02-23T12%253A46%253A24Z%26Version%3D2014-05-26");
  char *sig = ksim_v1_signature("testsecret", sts);
  assert_string_equal(sig, "OLeaidS1JvxuMvnyHOwuJ+uX5qY=");
  free(sig);
  sig = ksim_v1_signature("wrongsecret", sts);
  assert_string_not_equal(sig, "OLeaidS1JvxuMvnyHOwuJ+uX5qY=");
  free(sig);
  free(sts);
  ksim_kvs_free(&p);
}

static void test_v1_post_vector(void **state) {
  (void)state;
  ksim_kvs_t p = {0};
  v1_params(&p);
  char *sts = ksim_v1_string_to_sign("POST", &p);
  char *sig = ksim_v1_signature("testsecret", sts);
  assert_string_equal(sig, "MxbnVAM4w6sft9xjVpe/GCKueuk=");
  free(sig);
  free(sts);
  ksim_kvs_free(&p);
}

static void test_v3_vector(void **state) {
  (void)state;
  ksim_kvs_t q = {0}, h = {0};
  /* query in a different order than sorted: the verifier sorts */
  ksim_kvs_add(&q, "RegionId", "cn-shanghai");
  ksim_kvs_add(&q, "ImageId",
               "win2019_1809_x64_dtc_zh-cn_40G_alibase_20230811.vhd");
  ksim_kvs_add(&h, "x-acs-version", "2014-05-26");
  ksim_kvs_add(&h, "host", "ecs.cn-shanghai.aliyuncs.com");
  ksim_kvs_add(&h, "x-acs-action", "RunInstances");
  ksim_kvs_add(&h, "x-acs-date", "2023-10-26T10:22:32Z");
  ksim_kvs_add(&h, "x-acs-signature-nonce", "3156853299f313e23d1673dc12e1703d");
  ksim_kvs_add(
      &h, "x-acs-content-sha256",
      "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  ksim_kvs_add(&h, "user-agent", "not signed");
  const char *sh = "host;x-acs-action;x-acs-content-sha256;x-acs-date;"
                   "x-acs-signature-nonce;x-acs-version";
  char empty[65];
  ksim_sha256_hex("", 0, empty);
  assert_string_equal(
      empty,
      "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  char *canon = ksim_v3_canonical_request("POST", "/", &q, &h, sh, empty);
  char *sts = ksim_v3_string_to_sign(canon);
  assert_string_equal(sts, "ACS3-HMAC-SHA256\n"
                           "7ea06492da5221eba5297e897ce16e55f964061054b7695bee"
                           "daac1145b1e259");
  char *sig = ksim_v3_signature("YourAccessKeySecret", sts);
  assert_string_equal(
      sig, "06563a9e1b43f5dfe96b81484da74bceab24a1d853912eee15083a6f0f3283c0");
  free(sig);
  free(sts);
  free(canon);
  /* the host header is taken as received: a port changes the signature */
  ksim_kvs_free(&h);
  ksim_kvs_add(&h, "host", "ecs.cn-shanghai.aliyuncs.com:8443");
  ksim_kvs_add(&h, "x-acs-action", "RunInstances");
  ksim_kvs_add(&h, "x-acs-content-sha256", empty);
  ksim_kvs_add(&h, "x-acs-date", "2023-10-26T10:22:32Z");
  ksim_kvs_add(&h, "x-acs-signature-nonce", "3156853299f313e23d1673dc12e1703d");
  ksim_kvs_add(&h, "x-acs-version", "2014-05-26");
  canon = ksim_v3_canonical_request("POST", "/", &q, &h, sh, empty);
  sts = ksim_v3_string_to_sign(canon);
  sig = ksim_v3_signature("YourAccessKeySecret", sts);
  assert_string_not_equal(
      sig, "06563a9e1b43f5dfe96b81484da74bceab24a1d853912eee15083a6f0f3283c0");
  free(sig);
  free(sts);
  free(canon);
  ksim_kvs_free(&q);
  ksim_kvs_free(&h);
}

static void test_percent_encode(void **state) {
  (void)state;
  km_buf_t b;
  km_buf_init(&b);
  const char *in = "a b*c~d/e:f+g!'()\xe4\xb8\xad";
  ksim_percent_encode(&b, in, strlen(in));
  assert_string_equal(b.data, "a%20b%2Ac~d%2Fe%3Af%2Bg%21%27%28%29%E4%B8%AD");
  km_buf_free(&b);
}

static void test_interval_parse(void **state) {
  (void)state;
  assert_int_equal(ksim_parse_interval("30d"), 30 * 86400);
  assert_int_equal(ksim_parse_interval("604800s"), 604800);
  assert_int_equal(ksim_parse_interval("6h"), 6 * 3600);
  assert_int_equal(ksim_parse_interval("90"), 90);
  assert_int_equal(ksim_parse_interval("5w"), -1);
  assert_int_equal(ksim_parse_interval("d"), -1);
  assert_int_equal(ksim_parse_interval("-3d"), -1);
  assert_int_equal(ksim_parse_interval("3dd"), -1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_v1_get_vector),
      cmocka_unit_test(test_v1_post_vector),
      cmocka_unit_test(test_v3_vector),
      cmocka_unit_test(test_percent_encode),
      cmocka_unit_test(test_interval_parse),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
