/* The per-call savings of signing (acs/sign_key.c) must not change a byte:
 * keyed HMAC contexts reused across signatures, two credentials
 * interleaved, give the published V1 and V3 signatures (reference §4) and
 * the same requests as keying afresh; the nonce generator gives well-formed,
 * unique nonces (10^6 of them) and a forked child does not repeat its
 * parent's stream. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "acs/acs.h"

/* The published V1 StringToSign (GET), signed with "testsecret". */
static const char v1_sts[] =
    "GET&%2F&AccessKeyId%3Dtestid%26Action%3DDescribeRegions%26Format%"
    "3DXML%26SignatureMethod%3DHMAC-SHA1%26SignatureNonce%3D3ee8c1b8-"
    "83d3-44af-a94f-4e0ad82fd6cf%26SignatureVersion%3D1.0%26Timestamp%"
    "3D2016-02-23T12%253A46%253A24Z%26Version%3D2014-05-26";
static const char v1_sig[] = "OLeaidS1JvxuMvnyHOwuJ+uX5qY=";
static const char v3_sig[] =
    "06563a9e1b43f5dfe96b81484da74bceab24a1d853912eee15083a6f0f3283c0";

static void v1_with_key(km_sign_key_t *k) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  assert_int_equal(
      km__sign_key_mac(k, KM_SIG_V1, v1_sts, strlen(v1_sts), md, &n), 0);
  assert_int_equal(n, 20);
  char b64[32];
  EVP_EncodeBlock((unsigned char *)b64, md, (int)n);
  assert_string_equal(b64, v1_sig);
}

/* The published V3 request (RunInstances), signed through km_acs_sign with
 * the key's contexts. */
static void v3_with_key(km_sign_key_t *k) {
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
                        .timestamp = "2023-10-26T10:22:32Z",
                        .key = k};
  km_credential_t c = {"YourAccessKeyId", "YourAccessKeySecret", NULL};
  km_signed_request_t s;
  km_err_t err;
  assert_int_equal(km_acs_sign(&r, &c, &s, &err), 0);
  assert_string_equal(s.signature, v3_sig);
  km_signed_request_free(&s);
  km_params_free(&p);
}

static void test_reused_contexts_interleaved(void **st) {
  (void)st;
  km_sign_key_t *a = NULL, *b = NULL;
  assert_int_equal(km_sign_key_new("testsecret", &a), 0);
  assert_int_equal(km_sign_key_new("YourAccessKeySecret", &b), 0);
  /* Each context is re-initialised from its own key every time, whatever
   * the other credential signed in between. */
  for (int i = 0; i < 3; i++) {
    v1_with_key(a);
    v3_with_key(b);
  }
  km_sign_key_free(a);
  km_sign_key_free(b);

  km_sign_key_t *none = NULL;
  assert_int_equal(km_sign_key_new("", &none), KM_EINVAL);
  assert_null(none);
  km_sign_key_free(NULL);
}

/* A whole request (both versions, query and form body) signed with reused
 * contexts is byte for byte the one keyed afresh. */
static void test_reused_equals_fresh(void **st) {
  (void)st;
  km_params_t p;
  km_params_init(&p);
  km_params_set(&p, "KeyId", "key-1");
  km_params_set(&p, "Filters", "[{\"Key\":\"CreatorType\"}]");
  km_credential_t c1 = {"AKID1", "secret-one", NULL};
  km_credential_t c2 = {"STS.AKID2", "secret-two", "token/+="};
  km_sign_key_t *k1 = NULL, *k2 = NULL;
  assert_int_equal(km_sign_key_new(c1.access_key_secret, &k1), 0);
  assert_int_equal(km_sign_key_new(c2.access_key_secret, &k2), 0);
  for (int round = 0; round < 8; round++) {
    const km_credential_t *c = round % 2 ? &c2 : &c1;
    km_acs_request_t r = {.host = "kms.cn-hangzhou.aliyuncs.com",
                          .action = "DescribeKey",
                          .version = "2016-01-20",
                          .params = &p,
                          .form_body = (round / 2) % 2,
                          .sigver = round < 4 ? KM_SIG_V1 : KM_SIG_V3,
                          .nonce = "nonce-1",
                          .timestamp = "2026-12-02T07:00:00Z"};
    km_signed_request_t fresh, reused;
    km_err_t err;
    assert_int_equal(km_acs_sign(&r, c, &fresh, &err), 0);
    r.key = round % 2 ? k2 : k1;
    assert_int_equal(km_acs_sign(&r, c, &reused, &err), 0);
    assert_string_equal(fresh.signature, reused.signature);
    assert_string_equal(fresh.url, reused.url);
    assert_string_equal(fresh.string_to_sign, reused.string_to_sign);
    km_signed_request_free(&fresh);
    km_signed_request_free(&reused);
  }
  km_sign_key_free(k1);
  km_sign_key_free(k2);
  km_params_free(&p);
}

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

static int cmp_u128(const void *a, const void *b) {
  return memcmp(a, b, 16);
}

static void test_nonce_format_and_uniqueness(void **st) {
  (void)st;
  enum { N = 1000000 };
  unsigned char(*raw)[16] = malloc(sizeof(*raw) * N);
  assert_non_null(raw);
  for (size_t i = 0; i < N; i++) {
    char n[33];
    memset(n, 'X', sizeof(n));
    km_acs_nonce(n);
    assert_int_equal(n[32], '\0');
    for (size_t j = 0; j < 16; j++) {
      int hi = hexval(n[2 * j]), lo = hexval(n[2 * j + 1]);
      assert_true(hi >= 0 && lo >= 0); /* 32 lowercase hex digits */
      raw[i][j] = (unsigned char)(hi << 4 | lo);
    }
  }
  qsort(raw, N, sizeof(*raw), cmp_u128);
  size_t dups = 0;
  for (size_t i = 1; i < N; i++)
    if (memcmp(raw[i - 1], raw[i], 16) == 0) dups++;
  assert_int_equal(dups, 0);
  /* Not a constant or a short cycle in disguise: both halves vary. */
  assert_memory_not_equal(raw[0], raw[N - 1], 8);
  assert_memory_not_equal(raw[0] + 8, raw[N - 1] + 8, 8);
  free(raw);

  /* km_acs_sign uses the generator when no nonce is given. */
  km_acs_request_t r = {.host = "kms.cn-hangzhou.aliyuncs.com",
                        .action = "ListKeys",
                        .version = "2016-01-20",
                        .sigver = KM_SIG_V3};
  km_credential_t c = {"id", "sek", NULL};
  km_signed_request_t s1, s2;
  km_err_t err;
  assert_int_equal(km_acs_sign(&r, &c, &s1, &err), 0);
  assert_int_equal(km_acs_sign(&r, &c, &s2, &err), 0);
  const char *n1 = NULL, *n2 = NULL;
  for (size_t i = 0; i < s1.nheaders; i++)
    if (strcmp(s1.headers[i].name, "x-acs-signature-nonce") == 0)
      n1 = s1.headers[i].value;
  for (size_t i = 0; i < s2.nheaders; i++)
    if (strcmp(s2.headers[i].name, "x-acs-signature-nonce") == 0)
      n2 = s2.headers[i].value;
  assert_non_null(n1);
  assert_non_null(n2);
  assert_int_equal(strlen(n1), 32);
  assert_string_not_equal(n1, n2);
  km_signed_request_free(&s1);
  km_signed_request_free(&s2);
}

/* Without the re-key after fork() the child's next nonce would be the
 * parent's next one (same stream, same position). */
static void test_nonce_after_fork(void **st) {
  (void)st;
  char before[33];
  km_acs_nonce(before); /* the stream is seeded and a batch is buffered */
  int fds[2];
  assert_int_equal(pipe(fds), 0);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    char n[33];
    km_acs_nonce(n);
    ssize_t w = write(fds[1], n, 32);
    _exit(w == 32 ? 0 : 1);
  }
  close(fds[1]);
  char child[33] = {0};
  assert_int_equal(read(fds[0], child, 32), 32);
  close(fds[0]);
  int status = 0;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  char parent[33];
  km_acs_nonce(parent);
  assert_string_not_equal(child, parent);
  assert_string_not_equal(child, before);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_reused_contexts_interleaved),
      cmocka_unit_test(test_reused_equals_fresh),
      cmocka_unit_test(test_nonce_format_and_uniqueness),
      cmocka_unit_test(test_nonce_after_fork),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
