/* The asynchronous client against a loopback HTTP server (libmicrohttpd on
 * its own thread): success with the real Host header and params delivered,
 * calls of three credentials interleaved (each signed with its own secret),
 * throttling then success (retries happened, each with a fresh nonce),
 * a final cloud error (Code, RequestId, HTTP status, endpoint in err),
 * a garbage 200 body (KM_EPARSE, not retried), 5xx until attempts run out,
 * the overall deadline, SignatureDoesNotMatch diagnosis, override refusals;
 * and every test closes client and transport and ends with
 * uv_loop_close() == 0. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <microhttpd.h>
#include <pthread.h>

#include "acs/acs.h"

#define MAX_REQ 64

typedef struct {
  pthread_mutex_t mu;
  int count;
  int throttle_left;
  char hosts[MAX_REQ][128];
  char nonces[MAX_REQ][64];
  char actions[MAX_REQ][64];
  char bodies[MAX_REQ][256];
  char keyids[MAX_REQ][64];
  char auths[MAX_REQ][256];
  char dates[MAX_REQ][32];
} server_state_t;

typedef struct {
  km_buf_t body;
} conn_t;

static server_state_t S;

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status,
                             const char *body) {
  struct MHD_Response *r = MHD_create_response_from_buffer(
      strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
  MHD_add_response_header(r, "Content-Type", "application/json");
  enum MHD_Result ret = MHD_queue_response(conn, status, r);
  MHD_destroy_response(r);
  return ret;
}

static void copyz(char *dst, size_t n, const char *s) {
  snprintf(dst, n, "%s", s != NULL ? s : "");
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *conn,
                               const char *url, const char *method,
                               const char *version, const char *upload,
                               size_t *upload_size, void **con_cls) {
  (void)cls, (void)url, (void)method, (void)version;
  conn_t *cc = *con_cls;
  if (cc == NULL) {
    cc = calloc(1, sizeof(*cc));
    km_buf_init(&cc->body);
    *con_cls = cc;
    return MHD_YES;
  }
  if (*upload_size > 0) {
    km_buf_append(&cc->body, upload, *upload_size);
    *upload_size = 0;
    return MHD_YES;
  }
  const char *action =
      MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "x-acs-action");
  if (action == NULL)
    action = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "Action");
  const char *keyid =
      MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "KeyId");
  pthread_mutex_lock(&S.mu);
  int i = S.count++;
  if (i < MAX_REQ) {
    copyz(S.hosts[i], sizeof(S.hosts[i]),
          MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Host"));
    const char *nonce = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                    "x-acs-signature-nonce");
    if (nonce == NULL)
      nonce = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND,
                                          "SignatureNonce");
    copyz(S.nonces[i], sizeof(S.nonces[i]), nonce);
    copyz(S.actions[i], sizeof(S.actions[i]), action);
    copyz(S.bodies[i], sizeof(S.bodies[i]), cc->body.data);
    copyz(S.keyids[i], sizeof(S.keyids[i]), keyid);
    copyz(S.auths[i], sizeof(S.auths[i]),
          MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization"));
    copyz(S.dates[i], sizeof(S.dates[i]),
          MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "x-acs-date"));
  }
  int throttle = 0;
  if (action != NULL && strcmp(action, "ThrottleTwice") == 0 &&
      S.throttle_left > 0) {
    S.throttle_left--;
    throttle = 1;
  }
  pthread_mutex_unlock(&S.mu);

  if (action == NULL)
    return reply(conn, 400, "{\"Code\":\"MissingParameter\"}");
  if (strcmp(action, "DescribeKey") == 0 ||
      strcmp(action, "ThrottleTwice") == 0) {
    if (throttle)
      return reply(conn, 400,
                   "{\"Code\":\"Throttling.User\",\"Message\":\"Request was "
                   "denied due to user flow control.\",\"RequestId\":\"T\"}");
    char body[256];
    snprintf(body, sizeof(body),
             "{\"RequestId\":\"ok-1\",\"KeyMetadata\":{\"KeyId\":\"%s\"}}",
             keyid != NULL ? keyid : "");
    return reply(conn, 200, body);
  }
  if (strcmp(action, "Fail") == 0)
    return reply(conn, 404,
                 "{\"RequestId\":\"rid-404\",\"HostId\":\"kms.cn-hangzhou."
                 "aliyuncs.com\",\"Code\":\"Forbidden.KeyNotFound\","
                 "\"Message\":\"The specified Key is not found.\"}");
  if (strcmp(action, "Garbage") == 0)
    return reply(conn, 200, "<html>not json</html>");
  if (strcmp(action, "Always503") == 0)
    return reply(conn, 503,
                 "{\"Code\":\"ServiceUnavailableTemporary\",\"RequestId\":"
                 "\"r503\"}");
  if (strcmp(action, "AlwaysThrottle") == 0)
    return reply(conn, 429,
                 "{\"Code\":\"Rejected.Throttling\",\"RequestId\":\"r429\"}");
  if (strcmp(action, "BadSig") == 0)
    return reply(conn, 400,
                 "{\"Code\":\"SignatureDoesNotMatch\",\"RequestId\":\"rs\","
                 "\"Message\":\"Specified signature is not matched with our "
                 "calculation. server string to sign is:POST&%2F&"
                 "SecurityToken%3DSECRET-TOKEN\"}");
  return reply(conn, 400, "{\"Code\":\"InvalidAction\"}");
}

static void completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                      enum MHD_RequestTerminationCode toe) {
  (void)cls, (void)conn, (void)toe;
  conn_t *cc = *con_cls;
  if (cc != NULL) {
    km_buf_free(&cc->body);
    free(cc);
  }
  *con_cls = NULL;
}

typedef struct {
  uv_loop_t loop;
  km_http_t *http;
  km_acs_client_t *client;
  struct MHD_Daemon *mhd;
  char addr[64];
} fixture_t;

typedef struct {
  int calls;
  int status;
  int attempts;
  int throttled;
  km_err_t err;
  char keyid[64];
} result_t;

static void on_result(const km_acs_result_t *res, void *ud) {
  result_t *r = ud;
  r->calls++;
  r->status = res->status;
  r->attempts = res->attempts;
  r->throttled = res->throttled;
  if (res->status == 0) {
    assert_non_null(res->body);
    assert_null(res->err);
    json_t *km = json_object_get(res->body, "KeyMetadata");
    copyz(r->keyid, sizeof(r->keyid),
          json_string_value(json_object_get(km, "KeyId")));
  } else {
    assert_null(res->body);
    assert_non_null(res->err);
    r->err = *res->err;
  }
}

static int setup(void **state) {
  fixture_t *f = calloc(1, sizeof(*f));
  memset(&S, 0, sizeof(S));
  pthread_mutex_init(&S.mu, NULL);
  f->mhd =
      MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL, handler,
                       NULL, MHD_OPTION_NOTIFY_COMPLETED, completed, NULL,
                       MHD_OPTION_LISTENING_ADDRESS_REUSE, 1, MHD_OPTION_END);
  assert_non_null(f->mhd);
  const union MHD_DaemonInfo *di =
      MHD_get_daemon_info(f->mhd, MHD_DAEMON_INFO_BIND_PORT);
  snprintf(f->addr, sizeof(f->addr), "127.0.0.1:%u", (unsigned)di->port);
  assert_int_equal(uv_loop_init(&f->loop), 0);
  assert_int_equal(km_http_new(&f->loop, NULL, &f->http), 0);
  km_endpoint_override_t ov = {
      .host_pattern = "*.aliyuncs.com", .address = f->addr, .scheme = "http"};
  km_acs_client_opts_t o = {.retry = {.max_attempts = 4,
                                      .base_ms = 5,
                                      .cap_ms = 20,
                                      .deadline_ms = 10000},
                            .overrides = &ov,
                            .noverrides = 1};
  km_err_t err;
  assert_int_equal(km_acs_client_new(f->http, &f->loop, &o, &f->client, &err),
                   0);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fixture_t *f = *state;
  assert_int_equal(km_acs_inflight(f->client), 0);
  km_acs_client_free(f->client);
  km_http_close(f->http, NULL, NULL);
  uv_run(&f->loop, UV_RUN_DEFAULT);
  assert_int_equal(uv_loop_close(&f->loop), 0);
  MHD_stop_daemon(f->mhd);
  pthread_mutex_destroy(&S.mu);
  free(f);
  return 0;
}

static const km_credential_t CRED = {"AKID-test", "secret-test", NULL};

static int run_call(fixture_t *f, const char *action, const km_params_t *p,
                    int form, result_t *r) {
  km_acs_call_t call = {.product = KM_PRODUCT_KMS,
                        .region = "cn-hangzhou",
                        .action = action,
                        .params = p,
                        .cred = &CRED,
                        .form_body = form};
  memset(r, 0, sizeof(*r));
  km_err_t err;
  int rc = km_acs_call(f->client, &call, on_result, r, &err);
  if (rc < 0) return rc;
  assert_int_equal(km_acs_inflight(f->client), 1);
  uv_run(&f->loop, UV_RUN_DEFAULT);
  assert_int_equal(r->calls, 1);
  return 0;
}

static void test_success(void **state) {
  fixture_t *f = *state;
  km_params_t p;
  km_params_init(&p);
  km_params_set(&p, "KeyId", "key-42");
  result_t r;
  assert_int_equal(run_call(f, "DescribeKey", &p, 0, &r), 0);
  assert_int_equal(r.status, 0);
  assert_int_equal(r.attempts, 1);
  assert_string_equal(r.keyid, "key-42");
  assert_int_equal(S.count, 1);
  /* The override changed where we connected, not the Host we signed. */
  assert_string_equal(S.hosts[0], "kms.cn-hangzhou.aliyuncs.com");
  assert_string_equal(S.keyids[0], "key-42");

  /* Form body: params travel in the body, not the query. */
  assert_int_equal(run_call(f, "DescribeKey", &p, 1, &r), 0);
  assert_int_equal(r.status, 0);
  assert_string_equal(S.bodies[1], "KeyId=key-42");
  assert_string_equal(S.keyids[1], "");
  km_params_free(&p);
}

/* Calls of three credentials in flight at once (the third has the first's
 * AccessKey id with another secret) share the client's entries (one per
 * credential, keyed HMAC contexts reused): each request must carry its own
 * AccessKey id and the signature its own secret gives, recomputed here from
 * the request's nonce and date with an HMAC keyed afresh. */
static void test_two_credentials_interleaved(void **state) {
  fixture_t *f = *state;
  static const km_credential_t creds[3] = {{"AKID-A", "secret-a", NULL},
                                           {"AKID-B", "secret-b", "tok-b"},
                                           {"AKID-A", "secret-c", NULL}};
  km_params_t p[6];
  result_t r[6];
  for (int round = 0; round < 2; round++) {
    for (int i = 0; i < 6; i++) {
      km_params_init(&p[i]);
      km_params_setf(&p[i], "KeyId", "key-%c%d", 'a' + i % 3, i);
      km_acs_call_t call = {.product = KM_PRODUCT_KMS,
                            .region = "cn-hangzhou",
                            .action = "DescribeKey",
                            .params = &p[i],
                            .cred = &creds[i % 3]};
      memset(&r[i], 0, sizeof(r[i]));
      km_err_t err;
      assert_int_equal(km_acs_call(f->client, &call, on_result, &r[i], &err),
                       0);
    }
    assert_int_equal(km_acs_inflight(f->client), 6);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    for (int i = 0; i < 6; i++) {
      assert_int_equal(r[i].status, 0);
      km_params_free(&p[i]);
    }
  }
  assert_int_equal(S.count, 12);
  for (int i = 0; i < 12; i++) {
    const km_credential_t *c = &creds[S.keyids[i][4] - 'a'];
    char want[64];
    snprintf(want, sizeof(want), "Credential=%s,", c->access_key_id);
    assert_non_null(strstr(S.auths[i], want));
    km_params_t q;
    km_params_init(&q);
    km_params_set(&q, "KeyId", S.keyids[i]);
    km_acs_request_t req = {.host = "kms.cn-hangzhou.aliyuncs.com",
                            .action = "DescribeKey",
                            .version = "2016-01-20",
                            .params = &q,
                            .sigver = KM_SIG_V3,
                            .nonce = S.nonces[i],
                            .timestamp = S.dates[i]};
    km_signed_request_t sr;
    km_err_t err;
    assert_int_equal(km_acs_sign(&req, c, &sr, &err), 0);
    const char *sig = strstr(S.auths[i], "Signature=");
    assert_non_null(sig);
    assert_string_equal(sig + strlen("Signature="), sr.signature);
    km_signed_request_free(&sr);
    km_params_free(&q);
  }
}

static void test_throttling_then_success(void **state) {
  fixture_t *f = *state;
  S.throttle_left = 2;
  result_t r;
  assert_int_equal(run_call(f, "ThrottleTwice", NULL, 0, &r), 0);
  assert_int_equal(r.status, 0);
  assert_int_equal(r.attempts, 3);
  assert_int_equal(r.throttled, 2);
  assert_int_equal(S.count, 3);
  /* Each attempt was signed afresh. */
  assert_string_not_equal(S.nonces[0], S.nonces[1]);
  assert_string_not_equal(S.nonces[1], S.nonces[2]);
  assert_int_equal(strlen(S.nonces[0]), 32);
}

static void test_final_error(void **state) {
  fixture_t *f = *state;
  result_t r;
  assert_int_equal(run_call(f, "Fail", NULL, 0, &r), 0);
  assert_int_equal(r.status, KM_ECLOUD);
  assert_int_equal(r.attempts, 1);
  assert_int_equal(S.count, 1);
  assert_int_equal(r.err.code, KM_ECLOUD);
  assert_int_equal(r.err.http_status, 404);
  assert_string_equal(r.err.cloud_code, "Forbidden.KeyNotFound");
  assert_string_equal(r.err.request_id, "rid-404");
  assert_string_equal(r.err.where, "kms.cn-hangzhou.aliyuncs.com");
  assert_non_null(strstr(r.err.text, "not found"));
  assert_null(strstr(r.err.text, "secret-test"));
}

static void test_garbage_body(void **state) {
  fixture_t *f = *state;
  result_t r;
  assert_int_equal(run_call(f, "Garbage", NULL, 0, &r), 0);
  assert_int_equal(r.status, KM_EPARSE);
  assert_int_equal(r.attempts, 1);
  assert_int_equal(r.err.http_status, 200);
  assert_int_equal(S.count, 1);
}

static void test_attempts_run_out(void **state) {
  fixture_t *f = *state;
  result_t r;
  assert_int_equal(run_call(f, "Always503", NULL, 0, &r), 0);
  assert_int_equal(r.status, KM_ECLOUD);
  assert_int_equal(r.attempts, 4);
  assert_int_equal(r.throttled, 0); /* 503s are not throttling */
  assert_int_equal(S.count, 4);
  assert_int_equal(r.err.http_status, 503);
  assert_string_equal(r.err.cloud_code, "ServiceUnavailableTemporary");
  assert_non_null(strstr(r.err.text, "gave up after 4 attempts"));
}

static void test_deadline(void **state) {
  fixture_t *f = *state;
  /* A client whose backoff always exceeds a short deadline. */
  km_endpoint_override_t ov = {
      .host_pattern = "*", .address = f->addr, .scheme = "http"};
  km_acs_client_opts_t o = {
      .retry = {.max_attempts = 50, .base_ms = 400, .cap_ms = 400},
      .overrides = &ov,
      .noverrides = 1};
  km_acs_client_t *c;
  assert_int_equal(km_acs_client_new(f->http, &f->loop, &o, &c, NULL), 0);
  km_acs_call_t call = {.product = KM_PRODUCT_KMS,
                        .region = "cn-hangzhou",
                        .action = "AlwaysThrottle",
                        .cred = &CRED,
                        .deadline_ms = 300};
  result_t r;
  memset(&r, 0, sizeof(r));
  uint64_t t0 = km_now_ms();
  assert_int_equal(km_acs_call(c, &call, on_result, &r, NULL), 0);
  uv_run(&f->loop, UV_RUN_DEFAULT);
  assert_int_equal(r.calls, 1);
  assert_int_equal(r.status, KM_EDEADLINE);
  assert_int_equal(r.throttled, r.attempts);
  assert_true(r.attempts >= 1 && r.attempts < 50);
  assert_true(km_now_ms() - t0 < 2000);
  assert_int_equal(r.err.http_status, 429);
  assert_string_equal(r.err.cloud_code, "Rejected.Throttling");
  assert_string_equal(r.err.request_id, "r429");
  km_acs_client_free(c);
}

/* The callback may free the client (documented): the call's memory and its
 * credential entry must not be touched afterwards (ASan checks), with and
 * without a retry timer in the call. */
typedef struct {
  km_acs_client_t *client;
  int status;
} free_in_cb_t;

static void free_client_cb(const km_acs_result_t *res, void *ud) {
  free_in_cb_t *x = ud;
  x->status = res->status;
  km_acs_client_free(x->client);
  x->client = NULL;
}

static void test_free_client_in_callback(void **state) {
  fixture_t *f = *state;
  static const char *const actions[] = {"DescribeKey", "ThrottleTwice"};
  for (size_t i = 0; i < KM_ARRAY_SIZE(actions); i++) {
    S.throttle_left = 2;
    km_endpoint_override_t ov = {
        .host_pattern = "*.aliyuncs.com", .address = f->addr, .scheme = "http"};
    km_acs_client_opts_t o = {
        .retry = {.base_ms = 1, .cap_ms = 2, .deadline_ms = 10000},
        .overrides = &ov,
        .noverrides = 1};
    free_in_cb_t x = {NULL, 1};
    km_err_t err;
    assert_int_equal(km_acs_client_new(f->http, &f->loop, &o, &x.client, &err),
                     0);
    km_acs_call_t call = {.product = KM_PRODUCT_KMS,
                          .region = "cn-hangzhou",
                          .action = actions[i],
                          .cred = &CRED};
    assert_int_equal(km_acs_call(x.client, &call, free_client_cb, &x, &err), 0);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(x.status, 0);
    assert_null(x.client);
  }
}

static void test_signature_diagnosis(void **state) {
  fixture_t *f = *state;
  result_t r;
  assert_int_equal(run_call(f, "BadSig", NULL, 0, &r), 0);
  assert_int_equal(r.status, KM_ECLOUD);
  assert_string_equal(r.err.cloud_code, "SignatureDoesNotMatch");
  /* The echoed StringToSign is not ours: the request was changed on the
   * way, so no AccessKey advice (the secret may be right). */
  assert_non_null(strstr(r.err.text, "another request than kmsmig signed"));
  assert_null(strstr(r.err.text, "check the AccessKey secret"));
  assert_null(strstr(r.err.text, "kmsmig bug"));
  assert_null(strstr(r.err.text, "SECRET-TOKEN"));
}

static void test_refusals(void **state) {
  fixture_t *f = *state;
  km_acs_client_t *c = NULL;
  km_err_t err;
  km_endpoint_override_t remote = {
      .host_pattern = "*", .address = "10.1.2.3:80", .scheme = "http"};
  km_acs_client_opts_t o = {.overrides = &remote, .noverrides = 1};
  assert_int_equal(km_acs_client_new(f->http, &f->loop, &o, &c, &err),
                   KM_EPERM);
  assert_null(c);
  remote.scheme = "https";
  remote.insecure = 1;
  assert_int_equal(km_acs_client_new(f->http, &f->loop, &o, &c, &err),
                   KM_EPERM);
  remote.insecure = 0;
  remote.address = "no-port";
  assert_int_equal(km_acs_client_new(f->http, &f->loop, &o, &c, &err),
                   KM_EINVAL);
  /* Loopback in any spelling is fine; https to anywhere is fine. */
  const char *ok[] = {"[::1]:8443", "localhost:1", "127.9.9.9:80",
                      "kmsim.internal:443"};
  for (size_t i = 0; i < KM_ARRAY_SIZE(ok); i++) {
    remote.address = ok[i];
    remote.scheme = i < 3 ? "http" : "https";
    assert_int_equal(km_acs_client_new(f->http, &f->loop, &o, &c, &err), 0);
    km_acs_client_free(c);
  }

  /* A call that cannot start never calls back. */
  result_t r;
  memset(&r, 0, sizeof(r));
  km_acs_call_t call = {.product = KM_PRODUCT_KMS,
                        .region = "CN_HANGZHOU",
                        .action = "DescribeKey",
                        .cred = &CRED};
  assert_int_equal(km_acs_call(f->client, &call, on_result, &r, &err),
                   KM_EINVAL);
  call.region = "cn-hangzhou";
  call.action = "Describe Key";
  assert_int_equal(km_acs_call(f->client, &call, on_result, &r, &err),
                   KM_EINVAL);
  km_credential_t nocred = {"id", "", NULL};
  call.action = "DescribeKey";
  call.cred = &nocred;
  assert_int_equal(km_acs_call(f->client, &call, on_result, &r, &err),
                   KM_ECREDS);
  uv_run(&f->loop, UV_RUN_DEFAULT);
  assert_int_equal(r.calls, 0);
  assert_int_equal(km_acs_inflight(f->client), 0);
  assert_int_equal(S.count, 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_success, setup, teardown),
      cmocka_unit_test_setup_teardown(test_two_credentials_interleaved, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_free_client_in_callback, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_throttling_then_success, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_final_error, setup, teardown),
      cmocka_unit_test_setup_teardown(test_garbage_body, setup, teardown),
      cmocka_unit_test_setup_teardown(test_attempts_run_out, setup, teardown),
      cmocka_unit_test_setup_teardown(test_deadline, setup, teardown),
      cmocka_unit_test_setup_teardown(test_signature_diagnosis, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
