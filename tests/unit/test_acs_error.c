/* The error model: both error-body shapes land in km_err_t with Code,
 * RequestId, HTTP status and endpoint; throttling codes map to
 * KM_ETHROTTLED; the retryable set is what acs.h promises; an echoed
 * StringToSign (which can hold an STS token) never reaches err->text; and
 * full-jitter backoff stays inside its bounds and actually spreads. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "acs/acs.h"
#include "util/util.h"

static int parse(long st, const char *body, km_err_t *e) {
  return km_acs_parse_error(st, body, body != NULL ? strlen(body) : 0,
                            "kms.cn-hangzhou.aliyuncs.com", e);
}

static void test_pop_shape(void **st) {
  (void)st;
  km_err_t e;
  int rc = parse(404,
                 "{\"RequestId\":\"R-1\",\"HostId\":\"kms.cn-hangzhou."
                 "aliyuncs.com\",\"Code\":\"Forbidden.KeyNotFound\","
                 "\"Message\":\"The specified Key is not found.\","
                 "\"Recommend\":\"https://api.aliyun.com/troubleshoot?q=x\"}",
                 &e);
  assert_int_equal(rc, KM_ECLOUD);
  assert_int_equal(e.code, KM_ECLOUD);
  assert_int_equal(e.http_status, 404);
  assert_string_equal(e.cloud_code, "Forbidden.KeyNotFound");
  assert_string_equal(e.request_id, "R-1");
  assert_string_equal(e.where, "kms.cn-hangzhou.aliyuncs.com");
  assert_non_null(strstr(e.text, "The specified Key is not found"));
  assert_non_null(strstr(e.text, "troubleshoot"));
}

static void test_kms_native_shape(void **st) {
  (void)st;
  km_err_t e;
  int rc = parse(0,
                 "{\"HttpStatus\":400,\"Code\":\"IllegalTimestamp\","
                 "\"Message\":\"bad time\",\"RequestId\":\"R-2\"}",
                 &e);
  assert_int_equal(rc, KM_ECLOUD);
  assert_int_equal(e.http_status, 400);
  assert_string_equal(e.cloud_code, "IllegalTimestamp");
  assert_string_equal(e.request_id, "R-2");
  /* lower-case variants some gateways use */
  rc = parse(503,
             "{\"code\":\"ServiceUnavailableTemporary\","
             "\"requestId\":\"r3\"}",
             &e);
  assert_int_equal(rc, KM_ECLOUD);
  assert_string_equal(e.cloud_code, "ServiceUnavailableTemporary");
  assert_string_equal(e.request_id, "r3");
}

static void test_throttling(void **st) {
  (void)st;
  km_err_t e;
  const char *codes[] = {"Throttling", "Throttling.User", "Throttling.Api",
                         "Rejected.Throttling", "Throttling.Whatever"};
  for (size_t i = 0; i < KM_ARRAY_SIZE(codes); i++) {
    char body[160];
    snprintf(body, sizeof(body), "{\"Code\":\"%s\",\"RequestId\":\"r\"}",
             codes[i]);
    assert_int_equal(parse(400, body, &e), KM_ETHROTTLED);
    assert_int_equal(km_acs_is_throttling(codes[i]), 1);
    assert_int_equal(km_acs_is_retryable(KM_ETHROTTLED, 400, codes[i]), 1);
  }
  assert_int_equal(km_acs_is_throttling("ThrottlingX"), 0);
  assert_int_equal(km_acs_is_throttling("Rejected.LimitExceeded"), 0);
  assert_int_equal(km_acs_is_throttling(NULL), 0);
  /* The KMS-native shape of the KMS limits page (kmsim's throttle_shape
   * "kms"): throttling, with the status from the body. */
  assert_int_equal(parse(0,
                         "{\"HttpStatus\":429,\"Code\":\"Rejected.Throttling\","
                         "\"Message\":\"QPS Limit Exceeded\","
                         "\"RequestId\":\"e85db688\"}",
                         &e),
                   KM_ETHROTTLED);
  assert_int_equal(e.http_status, 429);
  assert_string_equal(e.cloud_code, "Rejected.Throttling");
  /* 429 with no usable body is throttling too. */
  assert_int_equal(parse(429, "busy", &e), KM_ETHROTTLED);
}

static void test_retryable_set(void **st) {
  (void)st;
  assert_int_equal(km_acs_is_retryable(KM_EHTTP, 0, NULL), 1);
  assert_int_equal(km_acs_is_retryable(KM_ETIMEDOUT, 0, NULL), 1);
  assert_int_equal(km_acs_is_retryable(KM_ETLS, 0, NULL), 0);
  assert_int_equal(km_acs_is_retryable(KM_ECANCELED, 0, NULL), 0);
  assert_int_equal(km_acs_is_retryable(KM_ECLOUD, 503, "X"), 1);
  assert_int_equal(km_acs_is_retryable(KM_ECLOUD, 500, "InternalFailure"), 1);
  assert_int_equal(
      km_acs_is_retryable(KM_ECLOUD, 400, "ServiceUnavailableTemporary"), 1);
  assert_int_equal(km_acs_is_retryable(KM_ECLOUD, 404, "Forbidden.KeyNotFound"),
                   0);
  assert_int_equal(km_acs_is_retryable(KM_ECLOUD, 400, "InvalidParameter"), 0);
  assert_int_equal(
      km_acs_is_retryable(KM_ECLOUD, 403, "Forbidden.NoPermission"), 0);
}

static void test_garbage_and_scrub(void **st) {
  (void)st;
  km_err_t e;
  assert_int_equal(parse(502, "<html>bad gateway</html>", &e), KM_ECLOUD);
  assert_int_equal(e.http_status, 502);
  assert_string_equal(e.cloud_code, "");
  assert_non_null(strstr(e.text, "not JSON"));
  assert_int_equal(parse(500, NULL, &e), KM_ECLOUD);
  assert_int_equal(parse(400, "{\"Code\":\"Bad\\u0001Code\"}", &e), KM_ECLOUD);
  assert_string_equal(e.cloud_code, "");

  const char *sdm =
      "{\"Code\":\"SignatureDoesNotMatch\",\"RequestId\":\"R-9\","
      "\"Message\":\"Specified signature is not matched with our "
      "calculation. server string to sign is:POST&%2F&AccessKeyId%3DSTS.x"
      "%26SecurityToken%3DSUPERSECRETTOKEN\"}";
  assert_int_equal(parse(400, sdm, &e), KM_ECLOUD);
  assert_string_equal(e.cloud_code, "SignatureDoesNotMatch");
  assert_non_null(strstr(e.text, "not matched with our calculation"));
  assert_null(strstr(e.text, "SUPERSECRETTOKEN"));
  assert_null(strstr(e.text, "string to sign"));
  char *sts = km__acs_server_sts(sdm, strlen(sdm));
  assert_string_equal(sts, "POST&%2F&AccessKeyId%3DSTS.x%26SecurityToken%"
                           "3DSUPERSECRETTOKEN");
  free(sts);
  assert_null(km__acs_server_sts("{}", 2));
  /* NULL err is accepted. */
  assert_int_equal(parse(400, "{\"Code\":\"Throttling\"}", NULL),
                   KM_ETHROTTLED);
}

static void test_backoff_bounds(void **st) {
  (void)st;
  km_retry_policy_t p = {.base_ms = 100, .cap_ms = 5000};
  uint64_t rng = 42;
  for (int attempt = 0; attempt < 40; attempt++) {
    uint64_t ceil = 100ull << (attempt < 20 ? attempt : 20);
    if (ceil > 5000) ceil = 5000;
    uint32_t lo = UINT32_MAX, hi = 0;
    for (int i = 0; i < 2000; i++) {
      uint32_t d = km_retry_backoff_ms(&p, attempt, &rng);
      assert_true(d <= ceil);
      if (d < lo) lo = d;
      if (d > hi) hi = d;
    }
    /* Full jitter: draws cover most of [0, ceil], not a fixed value. */
    assert_true(lo <= ceil / 10);
    assert_true(hi >= ceil - ceil / 10);
  }
  /* Defaults: base 200, cap 10000. */
  rng = 7;
  uint32_t top = 0;
  for (int i = 0; i < 1000; i++) {
    assert_true(km_retry_backoff_ms(NULL, 0, &rng) <= 200);
    uint32_t d = km_retry_backoff_ms(NULL, 1000, &rng);
    assert_true(d <= 10000);
    if (d > top) top = d;
  }
  assert_true(top >= 9000);
  /* Same seed, same sequence; a zero seed still moves. */
  uint64_t a = 0, b = 0;
  uint32_t first = km_retry_backoff_ms(&p, 5, &a);
  assert_int_equal(first, km_retry_backoff_ms(&p, 5, &b));
  assert_int_not_equal(a, 0);
  km_retry_policy_t d;
  km__retry_defaults(NULL, &d);
  /* No count: the deadline bounds the retries. */
  assert_int_equal(d.max_attempts, 0);
  assert_int_equal(d.cap_ms, 10000);
  assert_int_equal(d.deadline_ms, 300000);
}

/* A 30 s outage under the default policy, in simulated time, for many
 * seeds: the retries of one call span it well inside the deadline, with a
 * bounded number of attempts, and the call is back within one capped step
 * (10 s) of the service answering again. */
static void test_backoff_spans_outage(void **st) {
  (void)st;
  km_retry_policy_t d;
  km__retry_defaults(NULL, &d);
  int most = 0;
  uint64_t latest = 0;
  for (uint64_t seed = 1; seed <= 500; seed++) {
    uint64_t rng = seed, t = 0;
    int attempt = 0;
    while (t < 30000) { /* every attempt before 30 s fails */
      t += km_retry_backoff_ms(&d, attempt++, &rng);
      assert_true(t < d.deadline_ms);
    }
    if (attempt > most) most = attempt;
    if (t > latest) latest = t;
  }
  assert_true(latest <= 30000 + 10000);
  assert_true(most < 60); /* not a busy loop */
  print_message("30 s outage: at most %d retries, back by %.1f s\n", most,
                (double)latest / 1000.0);
}

/* Which attempts may have been applied although no answer says so. */
static void test_outcome_unknown(void **st) {
  (void)st;
  /* lost after sending: unknown; refused before sending: known */
  assert_true(km_retry_outcome_unknown(KM_EHTTP, 0, 0));
  assert_true(km_retry_outcome_unknown(KM_ETIMEDOUT, 0, 0));
  assert_false(km_retry_outcome_unknown(KM_EHTTP, 0, 1));
  assert_false(km_retry_outcome_unknown(KM_ETIMEDOUT, 0, 1));
  /* a 500 may have done the work; a 503 refused it; throttling refused it */
  assert_true(km_retry_outcome_unknown(KM_ECLOUD, 500, 0));
  assert_true(km_retry_outcome_unknown(KM_ECLOUD, 502, 0));
  assert_false(km_retry_outcome_unknown(KM_ECLOUD, 503, 0));
  assert_false(km_retry_outcome_unknown(KM_ETHROTTLED, 429, 0));
  assert_false(km_retry_outcome_unknown(KM_ECLOUD, 400, 0));
}

/* The fix is named for what the operator can change: whose AccessKey,
 * the clock, the endpoint; a temporary key gets no AccessKey advice. */
static void test_hints(void **st) {
  (void)st;
  km_err_t e;
  parse(400,
        "{\"Code\":\"SignatureDoesNotMatch\",\"RequestId\":\"R-9\","
        "\"Message\":\"Specified signature is not matched with our "
        "calculation.\",\"Recommend\":\"https://api.aliyun.com/troubleshoot"
        "?q=SignatureDoesNotMatch&product=Kms&requestId=R-9\"}",
        &e);
  /* The RequestId once: the Recommend link's copy is cut. */
  assert_non_null(strstr(e.text, "RequestId R-9"));
  assert_null(strstr(strstr(e.text, "RequestId R-9") + 13, "R-9"));
  km_acs_add_hint(&e, "account mgmt", NULL, 0);
  assert_non_null(strstr(e.text, "check the AccessKey secret of account mgmt"));
  parse(400, "{\"Code\":\"SignatureDoesNotMatch\",\"RequestId\":\"R\"}", &e);
  km_acs_add_hint(&e, "account app-a", NULL, 1);
  assert_null(strstr(e.text, "AccessKey secret"));
  parse(404, "{\"Code\":\"InvalidAccessKeyId.NotFound\",\"RequestId\":\"R\"}",
        &e);
  km_acs_add_hint(&e, "account mgmt", NULL, 0);
  assert_non_null(strstr(e.text, "check the AccessKey id of account mgmt"));
  parse(400, "{\"Code\":\"InvalidTimeStamp.Expired\",\"RequestId\":\"R\"}", &e);
  km_acs_add_hint(&e, "account mgmt", NULL, 0);
  assert_non_null(strstr(e.text, "check this machine's clock"));
  km__err_clear(&e);
  km__err_setw(&e, KM_EHTTP, "kms.cn-hangzhou.aliyuncs.com",
               "Couldn't connect to server");
  km_acs_add_hint(&e, "account mgmt", "127.0.0.1:1", 0);
  assert_non_null(strstr(e.text, "check the endpoint kms.cn-hangzhou."
                                 "aliyuncs.com and its address 127.0.0.1:1"));
  /* A cloud error that is not the operator's setup: no advice added. */
  parse(403, "{\"Code\":\"Forbidden.NoPermission\",\"RequestId\":\"R\"}", &e);
  char before[sizeof(e.text)];
  memcpy(before, e.text, sizeof(before));
  km_acs_add_hint(&e, "account mgmt", NULL, 0);
  assert_string_equal(e.text, before);
}

static void test_token_refused(void **st) {
  (void)st;
  km_err_t e;
  static const char *const yes[] = {
      "InvalidSecurityToken.Expired", "InvalidSecurityToken.Malformed",
      "InvalidSecurityToken.MismatchWithAccessKey"};
  for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
    char body[200];
    snprintf(body, sizeof(body), "{\"Code\":\"%s\",\"RequestId\":\"R\"}",
             yes[i]);
    parse(400, body, &e);
    assert_int_equal(km_acs_is_token_refused(&e, 1), 1);
  }
  parse(400,
        "{\"Code\":\"InvalidParameter\",\"Message\":\"The specified "
        "parameter \\\"SecurityToken.Expired\\\" is not valid.\"}",
        &e);
  assert_int_equal(km_acs_is_token_refused(&e, 1), 1);
  parse(404, "{\"Code\":\"InvalidAccessKeyId.NotFound\"}", &e);
  assert_int_equal(km_acs_is_token_refused(&e, 1), 1);
  /* A long-term key that is not found is the operator's to fix. */
  assert_int_equal(km_acs_is_token_refused(&e, 0), 0);
  parse(400, "{\"Code\":\"SignatureDoesNotMatch\"}", &e);
  assert_int_equal(km_acs_is_token_refused(&e, 1), 0);
  assert_int_equal(km_acs_is_token_refused(NULL, 1), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_pop_shape),
      cmocka_unit_test(test_hints),
      cmocka_unit_test(test_token_refused),
      cmocka_unit_test(test_kms_native_shape),
      cmocka_unit_test(test_throttling),
      cmocka_unit_test(test_retryable_set),
      cmocka_unit_test(test_garbage_and_scrub),
      cmocka_unit_test(test_backoff_bounds),
      cmocka_unit_test(test_backoff_spans_outage),
      cmocka_unit_test(test_outcome_unknown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
