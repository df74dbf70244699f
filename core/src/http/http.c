/* The HTTP transport: libcurl's multi-socket interface driven by one libuv
 * loop.  curl tells us which sockets to watch (CURLMOPT_SOCKETFUNCTION) and
 * when to wake it up (CURLMOPT_TIMERFUNCTION); we keep one uv_poll_t per
 * socket, one uv_timer_t and one uv_idle_t (curl's "now"), and call
 * curl_multi_socket_action() only from libuv callbacks, never from inside a
 * curl callback.
 *
 * Completed transfers are taken off curl (curl_multi_info_read, then
 * curl_multi_remove_handle) into a FIFO "done" queue and the user callbacks
 * run from that queue after socket_action has returned, so a callback may
 * start requests or close the transport.  Closing moves every transfer still
 * in curl to the same queue as KM_ECANCELED, so each callback fires exactly
 * once whichever way a request ends.
 *
 * Transfers wait in our own queue (lanes.c), one per endpoint (URL host and
 * port), until it has a free connection (max_host_connections): a transfer
 * handed to curl holds an easy handle and its buffers (~13 KB) even while it
 * only waits for a connection, and a fleet of hundreds of accounts queues
 * hundreds of calls behind one endpoint.  A queued request keeps only its URL,
 * headers and body.  curl's own CURLMOPT_MAX_HOST_CONNECTIONS is only a
 * backstop, as large as the cache (curl applies it per connect-to host, which
 * many host names share under an override to a host name; one to an address is
 * pinned per host name, target.c).
 *
 * Cost per call: a finished transfer's easy handle goes back to a small
 * pool with its fixed options set (share, callbacks, CA file, timeouts), so
 * a call sets only what differs per request instead of creating, setting up
 * and destroying a handle.  Connections live in the share (one pool per
 * host and port, whoever signs the calls), and the cache keeps as many idle
 * connections as the configured concurrency can use (max_host_connections
 * per endpoint seen): by default curl keeps only 4 per transfer in flight, so
 * when a stage's last calls drain it closes the connections the next stage
 * opens again (a TLS handshake each).
 *
 * A poll outlives curl's REMOVE of its socket (the connection went back to
 * the cache) and is closed when curl closes the fd, which curl does through
 * our CURLOPT_CLOSESOCKETFUNCTION: the next call on that connection then
 * costs no epoll_ctl, ioctl or handle (on_curl_socket).
 *
 * Hazards handled (see style-anchors §2 and §7.10): curl may call the socket
 * callback from curl_multi_cleanup(), so cleanup runs while the glue is
 * alive; a poll handle is freed only in its close callback; a socket fd may
 * be reused by a new connection while the old poll handle is still closing,
 * so a new poll for an fd first retires any stale one; a parked poll whose
 * idle connection turns readable (the server closed it) stops watching; a
 * poll error (status < 0) is passed to curl as CURL_CSELECT_ERR.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/ssl.h>

#include "http/http.h"
#include "http/http_internal.h"
#include "util/util.h"

/* Responses larger than this are refused (KM_EHTTP): KMS answers are small
 * and an unbounded buffer is an easy way to exhaust memory. */
#define KM_HTTP_MAX_BODY (64u * 1024u * 1024u)

/* Idle easy handles kept for reuse (about 10 KB each with their buffers):
 * enough for the transfers of a busy endpoint, bounded for a fleet. */
#define KM_HTTP_EASY_POOL 64

/* ---- small helpers --------------------------------------------------- */

static void active_link(km_http_t *h, req_t *r) {
  r->prev = NULL;
  r->next = h->active;
  if (h->active != NULL) h->active->prev = r;
  h->active = r;
}

static void active_unlink(km_http_t *h, req_t *r) {
  if (r->prev != NULL)
    r->prev->next = r->next;
  else
    h->active = r->next;
  if (r->next != NULL) r->next->prev = r->prev;
  r->prev = r->next = NULL;
}

static void done_push(km_http_t *h, req_t *r) {
  km__http_fifo_push(&h->done, r);
}

static void req_free(req_t *r) {
  if (r->easy != NULL) curl_easy_cleanup(r->easy);
  free(r->url);
  free(r->path);
  free(r->post);
  curl_slist_free_all(r->headers);
  curl_slist_free_all(r->connect_to);
  curl_slist_free_all(r->resolve);
  km_buf_free(&r->body);
  free(r);
}

/* Keeps a finished transfer's handle for the next request, or frees it
 * when the pool is full.  Pointers into the finished request are cleared
 * so an idle handle never refers to freed memory. */
static void easy_release(km_http_t *h, CURL *e) {
  if (h->nidle_easy >= KM_HTTP_EASY_POOL || h->closing) {
    curl_easy_cleanup(e);
    return;
  }
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, NULL);
  curl_easy_setopt(e, CURLOPT_CONNECT_TO, NULL);
  curl_easy_setopt(e, CURLOPT_RESOLVE, NULL);
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, NULL);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, NULL);
  curl_easy_setopt(e, CURLOPT_PRIVATE, NULL);
  curl_easy_setopt(e, CURLOPT_POSTFIELDS, NULL);
  h->idle_easy[h->nidle_easy++] = e;
}

static int map_curl_code(CURLcode c) {
  switch (c) {
  case CURLE_OK:
    return 0;
  case CURLE_OPERATION_TIMEDOUT:
    return KM_ETIMEDOUT;
  case CURLE_SSL_CONNECT_ERROR:
  case CURLE_PEER_FAILED_VERIFICATION:
  case CURLE_SSL_ENGINE_NOTFOUND:
  case CURLE_SSL_ENGINE_SETFAILED:
  case CURLE_SSL_ENGINE_INITFAILED:
  case CURLE_SSL_CERTPROBLEM:
  case CURLE_SSL_CIPHER:
  case CURLE_SSL_CACERT_BADFILE:
  case CURLE_SSL_SHUTDOWN_FAILED:
  case CURLE_SSL_CRL_BADFILE:
  case CURLE_SSL_ISSUER_ERROR:
  case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
  case CURLE_SSL_INVALIDCERTSTATUS:
  case CURLE_SSL_CLIENTCERT:
  case CURLE_USE_SSL_FAILED:
    return KM_ETLS;
  default:
    return KM_EHTTP;
  }
}

/* ---- completion ------------------------------------------------------ */

static void teardown(km_http_t *h);
static void pump_target(km_http_t *h, target_t *t);

/* Runs the callbacks of finished requests, oldest first.  Called only from
 * libuv callbacks and km_http_close(), never from a curl callback.  A
 * callback may start requests (they join curl) or close the transport (its
 * cancellations join this queue); a nested call returns at once and the
 * outer loop delivers what was queued. */
static void deliver(km_http_t *h) {
  if (h->delivering) return;
  h->delivering = 1;
  req_t *r;
  while ((r = km__http_fifo_pop(&h->done)) != NULL) {
    km_http_resp_t resp;
    memset(&resp, 0, sizeof(resp));
    resp.status = r->status;
    resp.http_status = r->http_status;
    resp.body = r->body.data != NULL ? r->body.data : "";
    resp.body_len = r->body.len;
    resp.err_text = r->status == 0 ? "" : r->err_text;
    resp.total_time_s = r->total_time_s;
    resp.reused_connection = r->reused;
    resp.not_sent = r->not_sent;
    r->cb(&resp, r->ud);
    h->inflight--;
    req_free(r);
  }
  h->delivering = 0;
  if (h->closing && !h->cleaned) teardown(h);
}

/* Takes every finished transfer off curl into the done queue.  Called after
 * each socket_action, outside curl callbacks. */
static void collect_done(km_http_t *h) {
  CURLMsg *m;
  int left;
  while ((m = curl_multi_info_read(h->multi, &left)) != NULL) {
    if (m->msg != CURLMSG_DONE) continue;
    CURL *e = m->easy_handle;
    CURLcode rc = m->data.result;
    char *priv = NULL;
    curl_easy_getinfo(e, CURLINFO_PRIVATE, &priv);
    req_t *r = (req_t *)(void *)priv;
    long nconn = 0;
    curl_easy_getinfo(e, CURLINFO_NUM_CONNECTS, &nconn);
    curl_easy_getinfo(e, CURLINFO_TOTAL_TIME, &r->total_time_s);
    if (rc == CURLE_OK)
      curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &r->http_status);
    h->stats.connections_opened += nconn > 0 ? (uint64_t)nconn : 0;
    r->reused = rc == CURLE_OK && nconn == 0;
    long sent = 0;
    curl_easy_getinfo(e, CURLINFO_REQUEST_SIZE, &sent);
    r->not_sent = rc != CURLE_OK && sent == 0;
    r->status = map_curl_code(rc);
    if (rc != CURLE_OK && r->errbuf[0] == '\0')
      snprintf(r->errbuf, sizeof(r->errbuf), "%s", curl_easy_strerror(rc));
    r->err_text = r->errbuf;
    /* m is invalid after remove_handle: nothing above may be read later. */
    curl_multi_remove_handle(h->multi, e);
    easy_release(h, e);
    r->easy = NULL;
    active_unlink(h, r);
    done_push(h, r);
    r->target->active--;
    pump_target(h, r->target);
  }
}

static void drive(km_http_t *h, curl_socket_t fd, int flags) {
  if (h->multi == NULL) return;
  int running = 0;
  curl_multi_socket_action(h->multi, fd, flags, &running);
  collect_done(h);
  deliver(h);
}

/* ---- libuv side ------------------------------------------------------ */

static void on_handle_closed(uv_handle_t *handle) {
  km_http_t *h = handle->data;
  if (handle->type == UV_POLL) free(handle); /* poll is sock_t's first field */
  if (--h->open_handles > 0) return;
  void (*cb)(void *) = h->close_cb;
  void *ud = h->close_ud;
  free(h->ca_file);
  free(h->byfd);
  km__http_memo_free(&h->memo);
  free(h);
  curl_global_cleanup();
  if (cb != NULL) cb(ud);
}

/* The open poll of fd, or NULL. */
static sock_t *sock_at(const km_http_t *h, curl_socket_t fd) {
  return fd >= 0 && (size_t)fd < h->nbyfd ? h->byfd[fd] : NULL;
}

static void sock_index(km_http_t *h, curl_socket_t fd, sock_t *s) {
  if ((size_t)fd >= h->nbyfd) {
    size_t n = h->nbyfd != 0 ? h->nbyfd : 64;
    while (n <= (size_t)fd)
      n *= 2;
    h->byfd = km_xrealloc(h->byfd, n * sizeof(*h->byfd));
    memset(h->byfd + h->nbyfd, 0, (n - h->nbyfd) * sizeof(*h->byfd));
    h->nbyfd = n;
  }
  h->byfd[fd] = s;
}

static void sock_close(sock_t *s) {
  km_http_t *h = s->h;
  if (s->prev != NULL)
    s->prev->next = s->next;
  else
    h->socks = s->next;
  if (s->next != NULL) s->next->prev = s->prev;
  s->prev = s->next = NULL;
  if (sock_at(h, s->fd) == s) h->byfd[s->fd] = NULL;
  /* uv_close stops the poll at once (the fd leaves epoll now), so a new
   * poll may be created for the same fd before this one's close callback. */
  uv_close((uv_handle_t *)&s->poll, on_handle_closed);
}

static void on_poll(uv_poll_t *p, int status, int events);

/* Watches events (0: none) on s.  libuv's uv_poll_start takes the fd out
 * of epoll and puts it back even when the events are the same (two system
 * calls), so an unchanged set is left alone. */
static int sock_watch(sock_t *s, int events) {
  if (events == s->events) return 0;
  int rc = events == 0 ? uv_poll_stop(&s->poll)
                       : uv_poll_start(&s->poll, events, on_poll);
  s->events = rc == 0 ? events : 0;
  return rc;
}

static void on_poll(uv_poll_t *p, int status, int events) {
  sock_t *s = (sock_t *)(void *)p;
  if (s->parked) {
    /* An idle connection the server closed (or wrote to): stop watching,
     * so a readable end of file does not wake the loop for ever; curl finds
     * the connection dead when it would take it and closes it. */
    (void)sock_watch(s, 0);
    return;
  }
  int flags = 0;
  if (status < 0) {
    /* libuv stopped polling (e.g. UV_EBADF): let curl fail the transfer. */
    flags = CURL_CSELECT_ERR;
  } else {
    if (events & UV_READABLE) flags |= CURL_CSELECT_IN;
    if (events & UV_WRITABLE) flags |= CURL_CSELECT_OUT;
  }
  /* s may be closed by what follows; only h is used afterwards. */
  drive(s->h, s->fd, flags);
}

static void on_timer(uv_timer_t *t) {
  drive(t->data, CURL_SOCKET_TIMEOUT, 0);
}

static void on_soon(uv_idle_t *i) {
  uv_idle_stop(i);
  drive(i->data, CURL_SOCKET_TIMEOUT, 0);
}

/* ---- curl callbacks: only libuv calls in here, never libcurl ---------- */

static sock_t *sock_new(km_http_t *h, curl_socket_t fd) {
  /* An open poll for this fd that curl no longer knows about is stale (the
   * fd was closed without our close callback and reused): retire it first,
   * otherwise uv_poll_init would fail with UV_EEXIST. */
  sock_t *o = sock_at(h, fd);
  if (o != NULL) {
    km_log(KM_LOG_DEBUG, "http: retiring stale poll for fd %d", (int)fd);
    sock_close(o);
  }
  sock_t *s = km_xcalloc(1, sizeof(*s));
  if (uv_poll_init_socket(h->loop, &s->poll, fd) != 0) {
    free(s);
    return NULL;
  }
  s->poll.data = h;
  s->fd = fd;
  s->h = h;
  s->next = h->socks;
  if (h->socks != NULL) h->socks->prev = s;
  h->socks = s;
  sock_index(h, fd, s);
  h->open_handles++;
  return s;
}

/* curl's REMOVE of a socket whose connection goes back to the cache does
 * not close the poll: the poll keeps watching for input only (an idle
 * connection gets none unless the server closes it), and when curl takes
 * the connection again it finds the same poll watching what it wants, so
 * a call on a kept connection costs no epoll_ctl, ioctl or handle.  The
 * poll is closed when curl closes the socket (on_close_socket). */
static int on_curl_socket(CURL *e, curl_socket_t fd, int what, void *userp,
                          void *socketp) {
  (void)e;
  km_http_t *h = userp;
  sock_t *s = socketp;
  if (what == CURL_POLL_REMOVE) {
    if (s != NULL) {
      s->parked = 1;
      /* An idle connection does not keep the loop alive. */
      uv_unref((uv_handle_t *)&s->poll);
      if (s->events != 0 && s->events != UV_READABLE)
        (void)sock_watch(s, UV_READABLE);
    }
    curl_multi_assign(h->multi, fd, NULL);
    return 0;
  }
  if (s == NULL) {
    s = sock_at(h, fd);
    if (s != NULL && s->parked) {
      s->parked = 0;
      uv_ref((uv_handle_t *)&s->poll);
    } else
      s = sock_new(h, fd);
    if (s == NULL) return -1;
    curl_multi_assign(h->multi, fd, s);
  }
  int ev = 0;
  if (what & CURL_POLL_IN) ev |= UV_READABLE;
  if (what & CURL_POLL_OUT) ev |= UV_WRITABLE;
  return sock_watch(s, ev) == 0 ? 0 : -1;
}

/* Every socket curl closes passes here (CURLOPT_CLOSESOCKETFUNCTION): its
 * poll is closed first, so no poll ever outlives its fd, and a parked poll
 * always belongs to a connection curl still has. */
static int on_close_socket(void *ud, curl_socket_t fd) {
  km_http_t *h = ud;
  sock_t *s = sock_at(h, fd);
  if (s != NULL) sock_close(s);
  return close(fd);
}

static int on_curl_timer(CURLM *m, long timeout_ms, void *userp) {
  (void)m;
  km_http_t *h = userp;
  /* One timeout at a time: each call replaces the last. */
  uv_timer_stop(&h->timer);
  uv_idle_stop(&h->soon);
  if (timeout_ms < 0) return 0;
  /* 0 means "as soon as possible", but not from inside this callback: the
   * next turn of the loop, which then polls without sleeping.  A 1 ms
   * timer (curl's multi-uv example) cost a paced call a wake-up of its own
   * and a millisecond; a 0 ms one would run in this turn's timer pass,
   * again and again while curl asks for 0 (libuv 1.44). */
  if (timeout_ms == 0)
    uv_idle_start(&h->soon, on_soon);
  else
    uv_timer_start(&h->timer, on_timer, (uint64_t)timeout_ms, 0);
  return 0;
}

static size_t on_write(char *p, size_t size, size_t n, void *ud) {
  req_t *r = ud;
  size_t len = size * n;
  if (r->body.len + len > KM_HTTP_MAX_BODY) {
    snprintf(r->errbuf, sizeof(r->errbuf), "response body larger than %u bytes",
             KM_HTTP_MAX_BODY);
    return 0; /* CURLE_WRITE_ERROR */
  }
  km_buf_append(&r->body, p, len);
  return len;
}

/* ---- public API ------------------------------------------------------ */

int km_http_new(uv_loop_t *loop, const km_http_opts_t *opts, km_http_t **out) {
  if (loop == NULL || out == NULL) return KM_EINVAL;
  *out = NULL;
  long cto = opts != NULL ? opts->connect_timeout_ms : 0;
  long tto = opts != NULL ? opts->total_timeout_ms : 0;
  long mhc = opts != NULL ? opts->max_host_connections : 0;
  if (cto < 0 || tto < 0 || mhc < 0) return KM_EINVAL;

  if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) return KM_EHTTP;
  km_http_t *h = km_xcalloc(1, sizeof(*h));
  h->loop = loop;
  h->connect_timeout_ms = cto > 0 ? cto : 10000;
  h->total_timeout_ms = tto > 0 ? tto : 60000;
  h->max_host_connections = mhc > 0 ? mhc : 8;
  if (opts != NULL && opts->ca_file != NULL)
    h->ca_file = km_xstrdup(opts->ca_file);
  h->ca_file_only = km__http_ca_file_only(h->ca_file);

  h->multi = curl_multi_init();
  if (h->multi == NULL) goto fail_multi;
  h->share = curl_share_init();
  if (h->share == NULL) goto fail_share;
  /* One loop thread: the share needs no lock callbacks. */
  if (curl_share_setopt(h->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS) ||
      curl_share_setopt(h->share, CURLSHOPT_SHARE,
                        CURL_LOCK_DATA_SSL_SESSION) ||
      curl_share_setopt(h->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT))
    goto fail_setopt;
  if (curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, on_curl_socket) ||
      curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h) ||
      curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer) ||
      curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h) ||
      curl_multi_setopt(h->multi, CURLMOPT_PIPELINING,
                        (long)CURLPIPE_NOTHING) ||
      /* curl counts this per connect-to host, not per host name: with an
       * endpoint override sending every host to one host, a limit of
       * max_host_connections made curl close an idle connection of one
       * host name to open one for another (P1: two calls per TLS
       * handshake).  The per-endpoint queue above bounds the transfers. */
      curl_multi_setopt(h->multi, CURLMOPT_MAX_HOST_CONNECTIONS,
                        (long)KM_HTTP_MAX_CONNS) ||
      curl_multi_setopt(h->multi, CURLMOPT_MAXCONNECTS,
                        h->max_host_connections * KM_HTTP_MIN_TARGETS))
    goto fail_setopt;
  h->idle_easy = km_xcalloc(KM_HTTP_EASY_POOL, sizeof(*h->idle_easy));
  if (uv_timer_init(loop, &h->timer) != 0 || uv_idle_init(loop, &h->soon) != 0)
    goto fail_setopt;
  h->timer.data = h;
  h->soon.data = h;
  h->open_handles = 2;
  *out = h;
  return 0;

fail_setopt:
  curl_share_cleanup(h->share);
fail_share:
  curl_multi_cleanup(h->multi);
fail_multi:
  free(h->idle_easy);
  free(h->ca_file);
  free(h);
  curl_global_cleanup();
  return KM_ENOMEM;
}

static int header_ok(const char *s) {
  return s != NULL && strpbrk(s, "\r\n") == NULL;
}

#define SET(opt, val)                                                          \
  if (c == CURLE_OK) c = curl_easy_setopt(e, opt, val)

/* curl 7.88 makes an SSL_CTX per connection and calls this before the
 * handshake (the CA store is set up later, and its cache does not depend
 * on the callback).  An OpenSSL connection keeps a read and a write buffer
 * of ~17 KB each for its whole life, and a connection is idle most of the
 * time (in the cache, or waiting for the server's answer): RELEASE_BUFFERS
 * frees them whenever nothing is pending. */
static CURLcode on_ssl_ctx(CURL *e, void *ssl_ctx, void *ud) {
  (void)e;
  (void)ud;
  SSL_CTX_set_mode((SSL_CTX *)ssl_ctx, SSL_MODE_RELEASE_BUFFERS);
  return CURLE_OK;
}

/* A new easy handle with the options every request shares. */
static CURL *easy_new(km_http_t *h) {
  CURL *e = curl_easy_init();
  if (e == NULL) return NULL;
  CURLcode c = CURLE_OK;
  SET(CURLOPT_PROTOCOLS_STR, "http,https");
  SET(CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
  SET(CURLOPT_SHARE, h->share);
  SET(CURLOPT_WRITEFUNCTION, on_write);
  SET(CURLOPT_NOSIGNAL, 1L);
  SET(CURLOPT_CLOSESOCKETFUNCTION, on_close_socket);
  SET(CURLOPT_CLOSESOCKETDATA, (void *)h);
  SET(CURLOPT_TCP_KEEPALIVE, 1L);
  /* An API answer is a few KB: read in 4 KB pieces (over TLS from
   * OpenSSL's record, without more system calls).  curl's default receive
   * buffer is 16 KB per transfer, and a fleet has hundreds in flight. */
  SET(CURLOPT_BUFFERSIZE, 4096L);
  SET(CURLOPT_CONNECTTIMEOUT_MS, h->connect_timeout_ms);
  if (h->ca_file != NULL) SET(CURLOPT_CAINFO, h->ca_file);
  /* One CA file, no directory: curl then parses it once per transport and
   * every connection shares that store (http_internal.h). */
  if (h->ca_file_only) SET(CURLOPT_CAPATH, (char *)NULL);
  /* Not every libcurl build has an SSL_CTX to give (another TLS backend):
   * then the buffers stay, nothing else changes. */
  if (c == CURLE_OK)
    (void)curl_easy_setopt(e, CURLOPT_SSL_CTX_FUNCTION, on_ssl_ctx);
  if (c != CURLE_OK) {
    curl_easy_cleanup(e);
    return NULL;
  }
  return e;
}

/* What differs per request, set on a new or a reused handle (every option
 * a request may set is set here, so nothing leaks from the last one). */
static int setup_easy(km_http_t *h, req_t *r) {
  CURL *e = r->easy;
  long timeout = r->timeout_ms > 0 ? r->timeout_ms : h->total_timeout_ms;
  CURLcode c = CURLE_OK;
  SET(CURLOPT_URL, r->url);
  /* NULL: the path and query of the URL. */
  SET(CURLOPT_REQUEST_TARGET, r->path);
  /* "" turns the proxy variables off; NULL is curl's default (them). */
  SET(CURLOPT_PROXY, r->no_proxy ? "" : NULL);
  SET(CURLOPT_PRIVATE, (void *)r);
  SET(CURLOPT_WRITEDATA, (void *)r);
  SET(CURLOPT_ERRORBUFFER, r->errbuf);
  SET(CURLOPT_TIMEOUT_MS, timeout);
  SET(CURLOPT_SSL_VERIFYPEER, r->insecure ? 0L : 1L);
  SET(CURLOPT_SSL_VERIFYHOST, r->insecure ? 0L : 2L);
  SET(CURLOPT_CONNECT_TO, r->connect_to);
  SET(CURLOPT_RESOLVE, r->resolve);
  SET(CURLOPT_HTTPHEADER, r->headers);
  if (r->post != NULL) {
    SET(CURLOPT_POST, 1L);
    SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->post_len);
    /* r->post lives as long as the transfer (req_free): no copy. */
    SET(CURLOPT_POSTFIELDS, r->post);
  } else {
    SET(CURLOPT_POSTFIELDS, NULL);
    SET(CURLOPT_HTTPGET, 1L);
  }
  return c == CURLE_OK ? 0 : KM_EINVAL;
}
#undef SET

/* Hands r to curl.  < 0: r is not in curl (the caller ends it). */
static int start_transfer(km_http_t *h, req_t *r) {
  r->easy = h->nidle_easy > 0 ? h->idle_easy[--h->nidle_easy] : easy_new(h);
  if (r->easy == NULL) return KM_ENOMEM;
  int rc = setup_easy(h, r);
  if (rc < 0) return rc;
  if (curl_multi_add_handle(h->multi, r->easy) != CURLM_OK) return KM_EHTTP;
  active_link(h, r);
  r->target->active++;
  return 0;
}

/* Starts waiting requests of t while it has free connections.  One that
 * cannot start ends at once through the done queue (its start succeeded,
 * so it still calls back exactly once). */
static void pump_target(km_http_t *h, target_t *t) {
  req_t *r;
  while (!h->closing && t->active < (size_t)h->max_host_connections &&
         (r = km__http_fifo_pop(&t->waiting)) != NULL) {
    int rc = start_transfer(h, r);
    if (rc < 0) {
      r->status = rc;
      r->err_text = "request could not be handed to curl";
      r->not_sent = 1;
      done_push(h, r);
    }
  }
}

int km_http_request(km_http_t *h, const km_http_req_opts_t *o,
                    km_http_done_cb cb, void *ud) {
  if (h == NULL || o == NULL || cb == NULL || o->url == NULL ||
      o->method == NULL)
    return KM_EINVAL;
  if (h->closing) return KM_ECANCELED;
  if (strcmp(o->method, "GET") != 0 && strcmp(o->method, "POST") != 0)
    return KM_EINVAL;
  if (o->body == NULL && o->body_len != 0) return KM_EINVAL;

  /* curl gets the origin as its URL and the path and query as the request
   * target: parsed, normalised and formatted, a ~300-byte signed query cost
   * curl ~90 k instructions per request (http_internal.h). */
  char origin[300];
  char *path = NULL;
  int rc = km__http_split_url(o->url, origin, sizeof(origin), &path);
  if (rc < 0) return rc;
  const char *url = rc == 1 ? origin : o->url;
  km__http_conn_t cn;
  rc = km__http_connect_target_memo(&h->memo, url, o->connect_to, &cn);
  const char *target = cn.target;
  if (rc < 0) {
    free(path);
    return rc;
  }
  int insecure = 0;
  if (o->insecure_loopback) {
    if (!km__http_is_loopback(target)) {
      km_log(KM_LOG_ERROR,
             "http: refusing to turn TLS verification off for %s: not a "
             "loopback address",
             target);
      free(path);
      return KM_EINVAL;
    }
    insecure = 1;
  }

  req_t *r = km_xcalloc(1, sizeof(*r));
  r->path = path;
  r->h = h;
  r->cb = cb;
  r->ud = ud;
  km_buf_init(&r->body);
  for (size_t i = 0; i < o->nheaders; i++) {
    const km_http_header_t *hd = &o->headers[i];
    if (!header_ok(hd->name) || !header_ok(hd->value) || hd->name[0] == '\0' ||
        strchr(hd->name, ':') != NULL) {
      rc = KM_EINVAL;
      goto fail;
    }
    /* "Name;" is curl's way of sending a header with an empty value. */
    size_t nl = strlen(hd->name), vl = strlen(hd->value);
    char *line = km_xmalloc(nl + vl + 3);
    memcpy(line, hd->name, nl);
    if (vl > 0) {
      memcpy(line + nl, ": ", 2);
      memcpy(line + nl + 2, hd->value, vl + 1);
    } else {
      memcpy(line + nl, ";", 2);
    }
    struct curl_slist *l = curl_slist_append(r->headers, line);
    free(line);
    if (l == NULL) {
      rc = KM_ENOMEM;
      goto fail;
    }
    r->headers = l;
  }
  /* No "Expect: 100-continue" round trip before POST bodies. */
  struct curl_slist *l = curl_slist_append(r->headers, "Expect:");
  if (l == NULL) {
    rc = KM_ENOMEM;
    goto fail;
  }
  r->headers = l;
  if (o->connect_to != NULL) {
    int pin = cn.pin_ct[0] != '\0';
    r->connect_to = curl_slist_append(NULL, pin ? cn.pin_ct : o->connect_to);
    if (pin && r->connect_to != NULL)
      r->resolve = curl_slist_append(NULL, cn.pin_res);
    if (r->connect_to == NULL || (pin && r->resolve == NULL)) {
      rc = KM_ENOMEM;
      goto fail;
    }
  }
  r->url = km_xstrdup(url);
  /* A request target is in origin form, which only a tunnel (CONNECT, as
   * curl makes for https) carries as is; and plain http is only for
   * loopback addresses (acs/client.c), which a proxy would not reach. */
  r->no_proxy = strncasecmp(url, "http:", 5) == 0;
  if (strcmp(o->method, "POST") == 0) {
    r->post = km_xmalloc(o->body_len + 1);
    if (o->body_len > 0) memcpy(r->post, o->body, o->body_len);
    r->post[o->body_len] = '\0';
    r->post_len = o->body_len;
  }
  r->timeout_ms = o->timeout_ms;
  r->insecure = insecure;
  r->target = km__http_target_of(h, cn.endpoint);
  if (r->target->active < (size_t)h->max_host_connections) {
    rc = start_transfer(h, r);
    if (rc < 0) goto fail;
  } else {
    km__http_fifo_push(&r->target->waiting, r);
  }
  h->inflight++;
  h->stats.requests++;
  return 0;

fail:
  req_free(r);
  return rc;
}

size_t km_http_inflight(const km_http_t *h) {
  return h != NULL ? h->inflight : 0;
}

void km_http_stats(const km_http_t *h, km_http_stats_t *out) {
  if (out == NULL) return;
  if (h == NULL) {
    memset(out, 0, sizeof(*out));
    return;
  }
  *out = h->stats;
}

/* Tears curl down once no callback is pending, then closes every handle.
 * curl_multi_cleanup may still call on_curl_socket (REMOVE), so the glue
 * stays alive until it returns; polls curl did not remove are closed before
 * the share closes the connections' fds. */
static void teardown(km_http_t *h) {
  h->cleaned = 1;
  curl_multi_cleanup(h->multi);
  km__http_targets_free(h);
  h->multi = NULL;
  /* Idle handles hold a reference to the share: free them before it. */
  while (h->nidle_easy > 0)
    curl_easy_cleanup(h->idle_easy[--h->nidle_easy]);
  free(h->idle_easy);
  h->idle_easy = NULL;
  while (h->socks != NULL)
    sock_close(h->socks);
  if (curl_share_cleanup(h->share) != CURLSHE_OK)
    km_log(KM_LOG_WARN, "http: curl share still in use at close");
  h->share = NULL;
  uv_timer_stop(&h->timer);
  uv_close((uv_handle_t *)&h->timer, on_handle_closed);
  uv_close((uv_handle_t *)&h->soon, on_handle_closed);
}

void km_http_close(km_http_t *h, void (*close_cb)(void *ud), void *ud) {
  if (h == NULL || h->closing) return;
  h->closing = 1;
  h->close_cb = close_cb;
  h->close_ud = ud;
  while (h->active != NULL) {
    req_t *r = h->active;
    curl_multi_remove_handle(h->multi, r->easy);
    active_unlink(h, r);
    r->status = KM_ECANCELED;
    r->err_text = "request canceled: HTTP transport closing";
    done_push(h, r);
    r->target->active--;
  }
  for (target_t *t = h->targets; t != NULL; t = t->next) {
    req_t *r;
    while ((r = km__http_fifo_pop(&t->waiting)) != NULL) {
      r->status = KM_ECANCELED;
      r->err_text = "request canceled: HTTP transport closing";
      r->not_sent = 1; /* it never left the transport's queue */
      done_push(h, r);
    }
  }
  /* Inside a callback the outer deliver() finishes the queue and tears
   * down; otherwise do both now. */
  deliver(h);
}
