/* HTTP transport: libcurl's multi-socket interface driven by one libuv loop
 * (uv_poll_t per socket, one uv_timer_t), the pattern of curl's
 * docs/examples/multi-uv.c with its documented hazards handled.
 *
 * Contract
 * - One km_http_t per loop.  Requests are asynchronous; km_http_request()
 *   either fails (returns < 0, the callback is never called) or succeeds and
 *   the callback is called exactly once, from the loop, never from inside a
 *   curl callback, so it may start new requests or resume Lua.
 * - After the callback returns the request is freed by the transport; the
 *   response pointers handed to the callback are borrowed for its duration.
 * - Keep-alive and connection reuse per host (one CURLSH for DNS, TLS
 *   sessions and connections), HTTP/1.1, TLS verification always on except
 *   for loopback addresses (127.0.0.0/8, ::1, localhost) where it may be
 *   turned off explicitly.
 * - km_http_close() stops accepting work, cancels what is in flight (their
 *   callbacks fire with KM_ECANCELED before km_http_close() returns, or, when
 *   it is called from a completion callback, right after that callback
 *   returns), cleans up curl and closes every handle; close_cb runs once the
 *   last handle is closed.  After it, the loop can be closed with
 *   uv_loop_close() == 0.
 * - Only http:// and https:// URLs, GET and POST; no redirects followed;
 *   response bodies above 64 MiB fail with KM_EHTTP.
 */
#ifndef KM_HTTP_H
#define KM_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "kmsmig/errors.h"

typedef struct km_http_s km_http_t;

typedef struct km_http_opts_s {
  long connect_timeout_ms;   /* 0: 10000 */
  long total_timeout_ms;     /* per request; 0: 60000 */
  long max_host_connections; /* per host at once; 0: 8 */
  const char *ca_file;       /* borrowed; NULL: system store */
} km_http_opts_t;

typedef struct km_http_header_s {
  const char *name;
  const char *value;
} km_http_header_t;

/* One request.  Every pointer is borrowed and only needs to stay valid until
 * km_http_request() returns (the transport copies what it keeps). */
typedef struct km_http_req_opts_s {
  const char *method; /* "GET" or "POST" */
  const char *url;    /* https://host/path?query (the real host) */
  const km_http_header_t *headers;
  size_t nheaders;
  const char *body; /* may be NULL */
  size_t body_len;
  /* curl CONNECT_TO entry "HOST:PORT:CONNECT-HOST:CONNECT-PORT" (empty HOST
   * or PORT match any): connect elsewhere while keeping the real Host header
   * and URL.  NULL for none. */
  const char *connect_to;
  /* Turns TLS verification off; refused (KM_EINVAL) unless the connect
   * target is a loopback address (127.0.0.0/8, ::1, localhost). */
  int insecure_loopback;
  long timeout_ms; /* 0: the transport's total_timeout_ms */
} km_http_req_opts_t;

/* What the callback sees.  status is 0 when an HTTP response arrived (any
 * HTTP status), or KM_ETIMEDOUT / KM_EHTTP / KM_ETLS / KM_ECANCELED with
 * err_text describing the transport failure. */
typedef struct km_http_resp_s {
  int status;
  long http_status;
  const char *body; /* NUL-terminated, borrowed */
  size_t body_len;
  const char *err_text; /* borrowed; "" when status == 0 */
  double total_time_s;
  int reused_connection; /* 1 when curl reused a kept-alive connection */
  /* 1 when a transport failure came before any byte of the request was
   * sent (refused, unresolved, no TLS handshake): it cannot have been
   * applied, so even a write may be sent again. */
  int not_sent;
} km_http_resp_t;

typedef void (*km_http_done_cb)(const km_http_resp_t *resp, void *ud);

/* Creates the transport on loop (borrowed).  Returns 0 and *out (owned; free
 * with km_http_close), or a negative KM_E* code. */
int km_http_new(uv_loop_t *loop, const km_http_opts_t *opts, km_http_t **out);

/* Starts a request.  Returns 0 (cb will be called exactly once) or a
 * negative code (cb will never be called): KM_EINVAL for a bad method, URL
 * (not http/https), header (empty name, ':' in the name, CR/LF anywhere),
 * body_len without body, or insecure_loopback whose connect target is not
 * a loopback address (the CONNECT-HOST of a connect_to entry that applies
 * to the URL, else the URL host); KM_ECANCELED once km_http_close() was
 * called; KM_ENOMEM / KM_EHTTP if curl refuses the transfer. */
int km_http_request(km_http_t *h, const km_http_req_opts_t *o,
                    km_http_done_cb cb, void *ud);

/* Number of requests started and not yet completed. */
size_t km_http_inflight(const km_http_t *h);

/* Counters for tests and benchmarks. */
typedef struct km_http_stats_s {
  uint64_t requests;
  uint64_t connections_opened; /* new TCP connections curl made */
} km_http_stats_t;
void km_http_stats(const km_http_t *h, km_http_stats_t *out);

/* Closes the transport (see contract above).  h is freed before close_cb
 * (may be NULL) is called.  Idempotent. */
void km_http_close(km_http_t *h, void (*close_cb)(void *ud), void *ud);

#endif
