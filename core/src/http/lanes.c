/* The transport's waiting room: the connection targets (where curl really
 * connects) and, per target, the requests waiting for one of its
 * connections, one lane per URL host served in turn.  A transfer handed to
 * curl holds an easy handle and its buffers even while it only waits, so
 * requests wait here (URL, headers and body only) until their target has a
 * free connection; http.c's pump_target takes them out. */
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
  /* Room in the connection cache for this target's connections too. */
  if (++h->ntargets > KM_HTTP_MIN_TARGETS) {
    long n = h->max_host_connections * (long)h->ntargets;
    curl_multi_setopt(h->multi, CURLMOPT_MAXCONNECTS,
                      n < KM_HTTP_MAX_CONNS ? n : KM_HTTP_MAX_CONNS);
  }
  return t;
}

req_t *km__http_next_waiting(target_t *t) {
  lane_t *l = t->turn != NULL ? t->turn : t->lanes;
  for (lane_t *first = l; l != NULL;) {
    lane_t *after = l->next != NULL ? l->next : t->lanes;
    if (l->wait_head != NULL) {
      req_t *r = l->wait_head;
      l->wait_head = r->qnext;
      if (l->wait_head == NULL) l->wait_tail = NULL;
      r->qnext = NULL;
      t->turn = after;
      return r;
    }
    l = after;
    if (l == first) break;
  }
  return NULL;
}

void km__http_wait_in_lane(target_t *t, req_t *r, const char *url) {
  const char *host = strstr(url, "://");
  host = host != NULL ? host + 3 : url;
  size_t n = strcspn(host, "/?#");
  lane_t *l = t->lanes;
  while (l != NULL && (strlen(l->host) != n || memcmp(l->host, host, n) != 0))
    l = l->next;
  if (l == NULL) {
    l = km_xcalloc(1, sizeof(*l));
    l->host = km_xstrndup(host, n);
    l->next = t->lanes;
    t->lanes = l;
  }
  if (l->wait_tail != NULL)
    l->wait_tail->qnext = r;
  else
    l->wait_head = r;
  l->wait_tail = r;
}

void km__http_targets_free(km_http_t *h) {
  while (h->targets != NULL) {
    target_t *t = h->targets;
    h->targets = t->next;
    while (t->lanes != NULL) {
      lane_t *l = t->lanes;
      t->lanes = l->next;
      free(l->host);
      free(l);
    }
    free(t->key);
    free(t);
  }
}
