/* Internal to the HTTP transport (http.c, target.c, lanes.c): its types
 * and the helpers the files share. */
#ifndef KM_HTTP_INTERNAL_H
#define KM_HTTP_INTERNAL_H

#include <stddef.h>

#include <curl/curl.h>
#include <uv.h>

#include "http/http.h"
#include "util/util.h"

/* 1 when host (no brackets) is localhost, 127.0.0.0/8 or ::1. */
int km__http_is_loopback(const char *host);

/* Splits an http(s) url into its origin "scheme://authority/" (into
 * origin) and its request target "/path?query" (*target, malloc'd): 1 when
 * split, 0 when the URL is better given to curl whole (no path or query
 * beyond "/", a fragment, a byte curl would refuse or encode, or an origin
 * longer than originsz), KM_ENOMEM. */
int km__http_split_url(const char *url, char *origin, size_t originsz,
                       char **target);

/* Whether TLS can trust one CA file alone (CURLOPT_CAPATH NULL): ca_file,
 * or libcurl's built-in bundle when it is readable.  curl 7.88 caches the
 * parsed store per multi handle only without a CApath. */
int km__http_ca_file_only(const char *ca_file);

/* Where a request connects: target and port (the connect target, see
 * target.c); and when an override sends the URL host to an
 * address, the CONNECT_TO and RESOLVE entries that do so under the URL
 * host's name ("" when none: curl gets the caller's entry as it is). */
typedef struct {
  char target[256], port[16];
  char endpoint[280]; /* the URL's "host:port" */
  char pin_ct[600], pin_res[300];
} km__http_conn_t;

/* Where url (with connect_to) connects, remembered for the last (url,
 * connect_to): calls to one endpoint ask the same question each time. */
typedef struct {
  char *url, *connect_to; /* NULL url: nothing yet */
  km__http_conn_t conn;
} km__http_memo_t;
int km__http_connect_target_memo(km__http_memo_t *m, const char *url,
                                 const char *ct, km__http_conn_t *out);
void km__http_memo_free(km__http_memo_t *m);

/* Idle connections the cache keeps: max_host_connections for each
 * endpoint seen, at least for KM_HTTP_MIN_TARGETS (several host
 * names can share one target: an endpoint override sends kms, sts and
 * resourcemanager to one address), at most KM_HTTP_MAX_CONNS. */
#define KM_HTTP_MIN_TARGETS 4
#define KM_HTTP_MAX_CONNS 1024

typedef struct sock_s sock_t;
typedef struct req_s req_t;
typedef struct target_s target_t;

/* A queue of requests linked through req_t.qnext: an endpoint's waiting
 * requests, and the finished ones whose callbacks have yet to run. */
typedef struct {
  req_t *head, *tail;
} km__http_fifo_t;

/* An endpoint (the URL's host and port, where the request is addressed,
 * whatever address an override or a proxy connects it to) and the requests
 * waiting for one of its max_host_connections (FIFO).  concurrency.
 * requests_per_endpoint is per endpoint: with an override sending every
 * host to one address, a limit per address made kms, sts, resourcesharing
 * and CloudMonitor of every region share it (P1: 64 connections for two
 * regions' kms endpoints, every stage's tail waiting for one), and a
 * sharing round's steps queued behind thousands of rotation calls.  Few per
 * run, kept for the transport's life. */
struct target_s {
  char *key; /* "host:port" of the URL */
  size_t active;
  km__http_fifo_t waiting;
  target_t *next;
};

/* One watched socket.  Lives from curl's first interest in the fd until the
 * close callback of its poll handle. */
struct sock_s {
  uv_poll_t poll;
  curl_socket_t fd;
  km_http_t *h;
  sock_t *prev, *next; /* in h->socks while not closing */
  int events;          /* what the poll watches now (UV_READABLE, ...) */
  /* curl removed the socket (an idle connection in its cache) and the poll
   * is kept for when curl takes the connection again (http.c). */
  int parked;
};

/* One request, from km_http_request() until its callback has returned. */
struct req_s {
  km_http_t *h;
  CURL *easy;
  struct curl_slist *headers;
  struct curl_slist *connect_to;
  struct curl_slist *resolve; /* with a pinned connect_to (target.c) */
  km_buf_t body;
  char errbuf[CURL_ERROR_SIZE];
  const char *err_text; /* points into errbuf or a static string */
  km_http_done_cb cb;
  void *ud;
  int status;
  long http_status;
  double total_time_s;
  int reused;
  /* Until the transfer joins curl (start_transfer): what setup_easy needs. */
  char *url;    /* the whole URL, or its origin when path is set */
  char *path;   /* the request target (path and query), or NULL */
  int no_proxy; /* plain http: never through a proxy */
  char *post;   /* NULL: GET */
  size_t post_len;
  long timeout_ms;
  int insecure;
  target_t *target;
  int not_sent;       /* failed before a byte of the request was sent */
  req_t *prev, *next; /* in h->active while in curl */
  req_t *qnext;       /* in h->done queue, or the target's wait queue */
};

struct km_http_s {
  uv_loop_t *loop;
  CURLM *multi;
  CURLSH *share;
  uv_timer_t timer;
  uv_idle_t soon; /* curl's timeout 0: the next turn of the loop */
  long connect_timeout_ms;
  long total_timeout_ms;
  char *ca_file;
  int ca_file_only;     /* trust ca_file (or curl's bundle) alone: no CApath */
  km__http_memo_t memo; /* the last connect target worked out */

  req_t *active;    /* transfers attached to curl */
  CURL **idle_easy; /* easy handles ready for reuse (fixed options set) */
  size_t nidle_easy;
  target_t *targets; /* every connection target seen */
  size_t ntargets;
  long max_host_connections;
  km__http_fifo_t done; /* finished, callback not yet run */
  sock_t *socks;        /* open poll handles */
  sock_t **byfd;        /* the open poll of each fd, or NULL */
  size_t nbyfd;
  size_t inflight;
  km_http_stats_t stats;

  int delivering; /* inside deliver(): nested calls only queue */
  int closing;
  int cleaned; /* curl torn down, handles closing */
  int open_handles;
  void (*close_cb)(void *ud);
  void *close_ud;
};

/* ---- lanes.c: the requests waiting for a connection ---- */

/* The endpoint of key ("host:port"), created on first use (owned by h,
 * freed by km__http_targets_free). */
target_t *km__http_target_of(km_http_t *h, const char *key);
/* Puts r (borrowed; its qnext is the link) at the end of q. */
void km__http_fifo_push(km__http_fifo_t *q, req_t *r);
/* The first request of q, taken off it; NULL when q is empty. */
req_t *km__http_fifo_pop(km__http_fifo_t *q);
/* Frees every endpoint of h (no request may still wait). */
void km__http_targets_free(km_http_t *h);

#endif
