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

req_t *km__http_next_waiting(target_t *t) {
  req_t *r = t->wait_head;
  if (r == NULL) return NULL;
  t->wait_head = r->qnext;
  if (t->wait_head == NULL) t->wait_tail = NULL;
  r->qnext = NULL;
  return r;
}

void km__http_wait(target_t *t, req_t *r) {
  if (t->wait_tail != NULL)
    t->wait_tail->qnext = r;
  else
    t->wait_head = r;
  t->wait_tail = r;
}

void km__http_targets_free(km_http_t *h) {
  while (h->targets != NULL) {
    target_t *t = h->targets;
    h->targets = t->next;
    free(t->key);
    free(t);
  }
}
