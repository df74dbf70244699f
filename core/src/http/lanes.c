/* The transport's waiting room: the endpoints (a URL's host and port) and,
 * per endpoint, the requests waiting for one of its connections, in order.
 * A transfer handed to curl holds an easy handle and its buffers even while
 * it only waits, so requests wait here (URL, headers and body only) until
 * their endpoint has a free connection; http.c's pump_target takes them
 * out. */
#include <stdlib.h>
#include <string.h>

#include "http/http_internal.h"

target_t *km__http_target_of(km_http_t *h, const char *key) {
  for (target_t *t = h->targets; t != NULL; t = t->next)
    if (strcmp(t->key, key) == 0) return t;
  target_t *t = km_xcalloc(1, sizeof(*t));
  t->key = km_xstrdup(key);
  t->next = h->targets;
  h->targets = t;
  /* Room in the connection cache for this endpoint's connections too. */
  if (++h->ntargets > KM_HTTP_MIN_TARGETS) {
    long n = h->max_host_connections * (long)h->ntargets;
    curl_multi_setopt(h->multi, CURLMOPT_MAXCONNECTS,
                      n < KM_HTTP_MAX_CONNS ? n : KM_HTTP_MAX_CONNS);
  }
  return t;
}

void km__http_fifo_push(km__http_fifo_t *q, req_t *r) {
  r->qnext = NULL;
  if (q->tail != NULL)
    q->tail->qnext = r;
  else
    q->head = r;
  q->tail = r;
}

req_t *km__http_fifo_pop(km__http_fifo_t *q) {
  req_t *r = q->head;
  if (r == NULL) return NULL;
  q->head = r->qnext;
  if (q->head == NULL) q->tail = NULL;
  r->qnext = NULL;
  return r;
}

void km__http_targets_free(km_http_t *h) {
  while (h->targets != NULL) {
    target_t *t = h->targets;
    h->targets = t->next;
    free(t->key);
    free(t);
  }
}
