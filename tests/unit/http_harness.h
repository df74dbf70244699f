/* The unit tests' loopback HTTP(S) server (libmicrohttpd) and the
 * client-side helpers the transport's tests share (test_http.c,
 * test_http_tls.c; http_harness.c). */
#ifndef KM_TEST_HTTP_HARNESS_H
#define KM_TEST_HTTP_HARNESS_H

#include <stdatomic.h>
#include <stdint.h>

#include <microhttpd.h>
#include <uv.h>

#include "http/http.h"
#include "util/util.h"

typedef struct {
  struct MHD_Daemon *d;
  uint16_t port;
  atomic_int connections; /* TCP connections accepted */
  atomic_int quit;        /* makes /sleep return early at teardown */
} srv_t;

/* Starts s on a free loopback port (plain HTTP, or TLS with the PEM key
 * and certificate); srv_stop stops it. */
void srv_start(srv_t *s);
void srv_start_tls(srv_t *s, const char *tls_key, const char *tls_cert);
void srv_stop(srv_t *s);

typedef struct {
  int calls;
  int status;
  long http_status;
  km_buf_t body;
  char err_text[256];
  int reused;
  /* Optional actions taken from inside the callback. */
  km_http_t *close_h;
  int *closed_flag;
  int request_rc_after; /* km_http_request() result from the callback */
  km_http_t *probe_h;
} result_t;

/* km_http_close's callback: counts into (int *)ud. */
void on_closed(void *ud);
/* A request's callback: records the answer into (result_t *)ud. */
void on_done(const km_http_resp_t *r, void *ud);
void res_init(result_t *r, size_t n);
void res_free(result_t *r, size_t n);
/* Closes h, runs the loop until its close callback, and closes the loop,
 * asserting nothing had to be closed by force. */
void finish(uv_loop_t *loop, km_http_t *h);
/* A transport on loop (initialised here) with max_host connections. */
km_http_t *new_http(uv_loop_t *loop, long max_host);

#endif
