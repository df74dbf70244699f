/* The loopback server and client helpers of the transport's unit tests
 * (http_harness.h). */
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
#include "rt/loop.h"
#include "util/util.h"

#include "http_harness.h"

/* ---- the loopback server ------------------------------------------------ */

typedef struct {
  km_buf_t body;
} conn_ctx_t;

static void on_srv_conn(void *cls, struct MHD_Connection *c, void **sctx,
                        enum MHD_ConnectionNotificationCode code) {
  (void)c;
  (void)sctx;
  srv_t *s = cls;
  if (code == MHD_CONNECTION_NOTIFY_STARTED)
    atomic_fetch_add(&s->connections, 1);
}

static void on_srv_done(void *cls, struct MHD_Connection *c, void **con_cls,
                        enum MHD_RequestTerminationCode toe) {
  (void)cls;
  (void)c;
  (void)toe;
  conn_ctx_t *ctx = *con_cls;
  if (ctx != NULL) {
    km_buf_free(&ctx->body);
    free(ctx);
    *con_cls = NULL;
  }
}

static enum MHD_Result reply(struct MHD_Connection *c, const void *p, size_t n,
                             int close_conn) {
  struct MHD_Response *r =
      MHD_create_response_from_buffer(n, (void *)p, MHD_RESPMEM_MUST_COPY);
  if (close_conn) MHD_add_response_header(r, "Connection", "close");
  enum MHD_Result rc = MHD_queue_response(c, MHD_HTTP_OK, r);
  MHD_destroy_response(r);
  return rc;
}

static enum MHD_Result on_srv_req(void *cls, struct MHD_Connection *c,
                                  const char *url, const char *method,
                                  const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls) {
  (void)version;
  srv_t *s = cls;
  conn_ctx_t *ctx = *con_cls;
  if (ctx == NULL) {
    ctx = km_xcalloc(1, sizeof(*ctx));
    km_buf_init(&ctx->body);
    *con_cls = ctx;
    return MHD_YES;
  }
  if (*upload_size > 0) {
    km_buf_append(&ctx->body, upload, *upload_size);
    *upload_size = 0;
    return MHD_YES;
  }
  if (strcmp(url, "/echo") == 0) {
    const char *i = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "i");
    char out[64];
    int n = snprintf(out, sizeof(out), "resp-%s", i != NULL ? i : "?");
    return reply(c, out, (size_t)n, 0);
  }
  if (strcmp(url, "/post") == 0) {
    if (strcmp(method, "POST") != 0) return reply(c, "not a POST", 10, 0);
    return reply(c, ctx->body.data, ctx->body.len, 0);
  }
  if (strcmp(url, "/host") == 0) {
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Host");
    return reply(c, h != NULL ? h : "", h != NULL ? strlen(h) : 0, 0);
  }
  if (strcmp(url, "/args") == 0) { /* the query's a and b, decoded */
    const char *a = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "a");
    const char *b = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "b");
    char out[128];
    int n = snprintf(out, sizeof(out), "%s|%s|%s", method, a ? a : "-",
                     b ? b : "-");
    return reply(c, out, (size_t)n, 0);
  }
  if (strcmp(url, "/close") == 0) return reply(c, "bye", 3, 1);
  if (strcmp(url, "/sleep") == 0) {
    for (int i = 0; i < 300 && !atomic_load(&s->quit); i++)
      usleep(10000);
    return reply(c, "slept", 5, 0);
  }
  return reply(c, "?", 1, 0);
}

/* tls_key/tls_cert: PEM strings for an HTTPS server, or NULL for HTTP. */

void srv_start(srv_t *s) {
  srv_start_tls(s, NULL, NULL);
}

void srv_start_tls(srv_t *s, const char *tls_key, const char *tls_cert) {
  memset(s, 0, sizeof(*s));
  struct sockaddr_in sa;
  memset(&sa, 0, sizeof(sa));
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  sa.sin_port = 0;
  /* A thread per connection so a sleeping handler blocks nobody else. */
  unsigned flags =
      MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION;
  if (tls_key != NULL)
    s->d = MHD_start_daemon(
        flags | MHD_USE_TLS, 0, NULL, NULL, on_srv_req, s, MHD_OPTION_SOCK_ADDR,
        &sa, MHD_OPTION_NOTIFY_CONNECTION, on_srv_conn, s,
        MHD_OPTION_NOTIFY_COMPLETED, on_srv_done, s, MHD_OPTION_HTTPS_MEM_KEY,
        tls_key, MHD_OPTION_HTTPS_MEM_CERT, tls_cert, MHD_OPTION_END);
  else
    s->d = MHD_start_daemon(
        flags, 0, NULL, NULL, on_srv_req, s, MHD_OPTION_SOCK_ADDR, &sa,
        MHD_OPTION_NOTIFY_CONNECTION, on_srv_conn, s,
        MHD_OPTION_NOTIFY_COMPLETED, on_srv_done, s, MHD_OPTION_END);
  assert_non_null(s->d);
  const union MHD_DaemonInfo *info =
      MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
  assert_non_null(info);
  s->port = info->port;
  assert_true(s->port > 0);
}

void srv_stop(srv_t *s) {
  atomic_store(&s->quit, 1);
  MHD_stop_daemon(s->d);
}

/* ---- client-side helpers ---------------------------------------------- */

void on_closed(void *ud) {
  int *closed = ud;
  (*closed)++;
}

void on_done(const km_http_resp_t *r, void *ud) {
  result_t *res = ud;
  res->calls++;
  res->status = r->status;
  res->http_status = r->http_status;
  km_buf_reset(&res->body);
  km_buf_append(&res->body, r->body, r->body_len);
  snprintf(res->err_text, sizeof(res->err_text), "%s", r->err_text);
  res->reused = r->reused_connection;
  if (res->probe_h != NULL) {
    km_http_req_opts_t o = {.method = "GET", .url = "http://127.0.0.1:1/"};
    res->request_rc_after = km_http_request(res->probe_h, &o, on_done, res);
  }
  if (res->close_h != NULL)
    km_http_close(res->close_h, on_closed, res->closed_flag);
}

void res_init(result_t *r, size_t n) {
  memset(r, 0, n * sizeof(*r));
  for (size_t i = 0; i < n; i++)
    km_buf_init(&r[i].body);
}

void res_free(result_t *r, size_t n) {
  for (size_t i = 0; i < n; i++)
    km_buf_free(&r[i].body);
}

/* Closes h, runs the loop until its close callback, and closes the loop,
 * asserting nothing had to be closed by force. */
void finish(uv_loop_t *loop, km_http_t *h) {
  int closed = 0;
  km_http_close(h, on_closed, &closed);
  uv_run(loop, UV_RUN_DEFAULT);
  assert_int_equal(closed, 1);
  assert_int_equal(km_loop_close_all(loop), 0);
}

km_http_t *new_http(uv_loop_t *loop, long max_host) {
  km_http_opts_t o = {.max_host_connections = max_host};
  km_http_t *h = NULL;
  assert_int_equal(uv_loop_init(loop), 0);
  assert_int_equal(km_http_new(loop, &o, &h), 0);
  assert_non_null(h);
  return h;
}
