/* The transport's TLS and request line against the loopback server: the
 * CA file trusted (another CA refused, connections verified by the one
 * cached store), and the URL split into its origin and request target with
 * the query reaching the server unchanged. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <microhttpd.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "http/http.h"
#include "http/http_internal.h"
#include "rt/loop.h"
#include "util/util.h"

#include "http_harness.h"

/* PEM key and certificate (owned, free()) for CN/SAN
 * kms.cn-hangzhou.aliyuncs.com and IP 127.0.0.1, valid for a day. */
static void make_cert(char **key_pem, char **cert_pem) {
  EVP_PKEY *pk = EVP_EC_gen("P-256");
  assert_non_null(pk);
  X509 *x = X509_new();
  X509_set_version(x, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
  X509_gmtime_adj(X509_getm_notBefore(x), -60);
  X509_gmtime_adj(X509_getm_notAfter(x), 86400);
  X509_set_pubkey(x, pk);
  X509_NAME *n = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(
      n, "CN", MBSTRING_ASC,
      (const unsigned char *)"kms.cn-hangzhou.aliyuncs.com", -1, -1, 0);
  X509_set_issuer_name(x, n);
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
  X509_EXTENSION *ext =
      X509V3_EXT_conf_nid(NULL, &ctx, NID_subject_alt_name,
                          "DNS:kms.cn-hangzhou.aliyuncs.com,IP:127.0.0.1");
  assert_non_null(ext);
  X509_add_ext(x, ext, -1);
  X509_EXTENSION_free(ext);
  ext = X509V3_EXT_conf_nid(NULL, &ctx, NID_basic_constraints, "CA:TRUE");
  X509_add_ext(x, ext, -1);
  X509_EXTENSION_free(ext);
  assert_true(X509_sign(x, pk, EVP_sha256()) > 0);

  BIO *b = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(b, pk, NULL, NULL, 0, NULL, NULL);
  char *p;
  long len = BIO_get_mem_data(b, &p);
  *key_pem = km_xstrndup(p, (size_t)len);
  BIO_free(b);
  b = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(b, x);
  len = BIO_get_mem_data(b, &p);
  *cert_pem = km_xstrndup(p, (size_t)len);
  BIO_free(b);
  X509_free(x);
  EVP_PKEY_free(pk);
}

/* Runs one GET on a fresh loop and transport with ca_file; returns what the
 * callback saw (res is caller-initialised). */
static void one_get(const char *ca_file, const char *url, const char *ct,
                    int insecure, result_t *res) {
  uv_loop_t loop;
  assert_int_equal(uv_loop_init(&loop), 0);
  km_http_opts_t ho = {.ca_file = ca_file};
  km_http_t *h = NULL;
  assert_int_equal(km_http_new(&loop, &ho, &h), 0);
  km_http_req_opts_t o = {.method = "GET",
                          .url = url,
                          .connect_to = ct,
                          .insecure_loopback = insecure};
  assert_int_equal(km_http_request(h, &o, on_done, res), 0);
  uv_run(&loop, UV_RUN_DEFAULT);
  assert_int_equal(res->calls, 1);
  finish(&loop, h);
}

/* The transport hands curl the origin and the request target apart; what
 * reaches the server is the URL's path and query, unchanged. */
static void test_split_url(void **st) {
  (void)st;
  char o[64];
  char *t = NULL;
  assert_int_equal(km__http_split_url("https://h.example:8443/p?a=1&b=%2F", o,
                                      sizeof(o), &t),
                   1);
  assert_string_equal(o, "https://h.example:8443/");
  assert_string_equal(t, "/p?a=1&b=%2F");
  free(t);
  assert_int_equal(km__http_split_url("http://h?x=1", o, sizeof(o), &t), 1);
  assert_string_equal(o, "http://h/");
  assert_string_equal(t, "/?x=1");
  free(t);
  /* Given to curl whole: nothing to split, a fragment, bytes curl would
   * refuse (CR/LF would split the request line), an origin too long. */
  const char *whole[] = {"https://h/",
                         "https://h",
                         "https://h/a#f",
                         "https://h/?a=b c",
                         "https://h/?a\r\nX: y",
                         "https://h/?\xc3\xa9",
                         "not a url",
                         "https://a-very-long-host-name.example.com:443/x"};
  for (size_t i = 0; i < KM_ARRAY_SIZE(whole); i++) {
    t = NULL;
    assert_int_equal(km__http_split_url(whole[i], o, 32, &t), 0);
    assert_null(t);
  }
}

static void test_query_reaches_server(void **st) {
  (void)st;
  srv_t s;
  srv_start(&s);
  /* A plain http request never goes through a proxy: this one points
   * nowhere, and the request still reaches the server. */
  setenv("http_proxy", "http://127.0.0.1:1", 1);
  uv_loop_t loop;
  km_http_t *h = new_http(&loop, 0);
  char ct[128];
  snprintf(ct, sizeof(ct), "kms.cn-hangzhou.aliyuncs.com:80:127.0.0.1:%u",
           s.port);
  km_http_req_opts_t o[] = {
      {.method = "POST",
       .url = "http://kms.cn-hangzhou.aliyuncs.com/args?a=x%2Fy%3D&b=2",
       .connect_to = ct},
      {.method = "GET",
       .url = "http://kms.cn-hangzhou.aliyuncs.com/args",
       .connect_to = ct},
  };
  result_t res[2];
  res_init(res, 2);
  for (size_t i = 0; i < 2; i++)
    assert_int_equal(km_http_request(h, &o[i], on_done, &res[i]), 0);
  uv_run(&loop, UV_RUN_DEFAULT);
  assert_int_equal(res[0].status, 0);
  assert_string_equal(res[0].body.data, "POST|x/y=|2");
  assert_int_equal(res[1].status, 0);
  assert_string_equal(res[1].body.data, "GET|-|-");
  finish(&loop, h);
  unsetenv("http_proxy");
  res_free(res, 2);
  srv_stop(&s);
}

static void test_tls_verification(void **st) {
  (void)st;
  char *key, *cert;
  make_cert(&key, &cert);
  srv_t s;
  srv_start_tls(&s, key, cert);
  char ca[] = "/tmp/km-test-ca-XXXXXX";
  int fd = mkstemp(ca);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, cert, strlen(cert)), (ssize_t)strlen(cert));
  close(fd);

  char direct[128], ct[128], ct_any[128];
  snprintf(direct, sizeof(direct), "https://127.0.0.1:%u/echo?i=1", s.port);
  snprintf(ct, sizeof(ct), "kms.cn-hangzhou.aliyuncs.com:443:127.0.0.1:%u",
           s.port);
  snprintf(ct_any, sizeof(ct_any), "::127.0.0.1:%u", s.port);
  result_t res[5];
  res_init(res, 5);

  /* Not in the trust store: refused. */
  one_get(NULL, direct, NULL, 0, &res[0]);
  assert_int_equal(res[0].status, KM_ETLS);
  assert_true(strlen(res[0].err_text) > 0);
  /* Trusted through ca_file, the real host name checked via CONNECT_TO. */
  one_get(ca, "https://kms.cn-hangzhou.aliyuncs.com/echo?i=2", ct, 0, &res[1]);
  assert_int_equal(res[1].status, 0);
  assert_string_equal(res[1].body.data, "resp-2");
  /* Trusted certificate, wrong name: the host check is on too. */
  one_get(ca, "https://kms.cn-shanghai.aliyuncs.com/echo?i=3", ct_any, 0,
          &res[2]);
  assert_int_equal(res[2].status, KM_ETLS);
  /* Untrusted, but explicitly insecure towards loopback: allowed. */
  one_get(NULL, direct, NULL, 1, &res[3]);
  assert_int_equal(res[3].status, 0);
  assert_string_equal(res[3].body.data, "resp-1");
  /* ca_file names another CA (same subject, another key): refused. */
  char *key2, *cert2;
  make_cert(&key2, &cert2);
  char wrong[] = "/tmp/km-test-ca2-XXXXXX";
  fd = mkstemp(wrong);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, cert2, strlen(cert2)), (ssize_t)strlen(cert2));
  close(fd);
  one_get(wrong, "https://kms.cn-hangzhou.aliyuncs.com/echo?i=4", ct, 0,
          &res[4]);
  assert_int_equal(res[4].status, KM_ETLS);
  unlink(wrong);
  free(key2);
  free(cert2);
  /* The store curl parsed once per transport verifies every new
   * connection: three in a row (the server closes each), all trusted. */
  uv_loop_t loop;
  assert_int_equal(uv_loop_init(&loop), 0);
  km_http_opts_t ho = {.ca_file = ca};
  km_http_t *h = NULL;
  assert_int_equal(km_http_new(&loop, &ho, &h), 0);
  int before = atomic_load(&s.connections);
  for (int i = 0; i < 3; i++) {
    result_t r;
    res_init(&r, 1);
    km_http_req_opts_t o = {.method = "GET",
                            .url = "https://kms.cn-hangzhou.aliyuncs.com/close",
                            .connect_to = ct};
    assert_int_equal(km_http_request(h, &o, on_done, &r), 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(r.status, 0);
    assert_string_equal(r.body.data, "bye");
    res_free(&r, 1);
  }
  assert_int_equal(atomic_load(&s.connections) - before, 3);
  finish(&loop, h);

  res_free(res, 5);
  unlink(ca);
  srv_stop(&s);
  free(key);
  free(cert);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_tls_verification),
      cmocka_unit_test(test_split_url),
      cmocka_unit_test(test_query_reaches_server),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
