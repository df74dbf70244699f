/* One CloudMonitor answer per instance gateway and window, shared by the
 * pipelines of a run (issue 13; docs/monitor.md "One query per instance
 * gateway").  The dedicated gateway is the instance's, asked with its
 * owner's credentials, so every member of the instance asks the owner's
 * `cms` bucket the same question: before this cache 6 queries a window
 * per member, 12 per pipeline, the whole wall time of a 1,000-account run.
 * Here one DescribeMetricList query (all its pages) answers every
 * pipeline asking with the same owner, region, namespace, metric,
 * dimensions, period and period-aligned window.
 *
 * The alignment.  CloudMonitor answers with one datapoint per period, its
 * timestamp the period's start (a multiple of Period, reference section 6;
 * kmsim the same), and selects datapoints left-open, right-closed.  For a
 * pipeline's window (s, e] it returns the datapoints with s < ts <= e;
 * for ts a multiple of P these are exactly the ones with
 * floor(s/P)*P < ts <= floor(e/P)*P.  So every window whose start lies in
 * the same period and whose end lies in the same period gets the same
 * datapoints: the key is (floor(s/P), floor(e/P)) and the query asks
 * StartTime = floor(s/P)*P, EndTime = the first asker's e.  The answer
 * differs from a pipeline's own query only in the period that is still
 * being counted, as it stood at the first asker's end.  So an answer
 * serves a pipeline only while it is fresh for it: when the first
 * asker's end is at most a tenth of the pipeline's own window away from
 * the pipeline's end (at most a tenth of the window missing or added).
 * Without that, a short window (monitor.window below the period) could
 * be answered after the migration with what was measured before it; and
 * a window after the migration is never answered with a baseline's
 * answer (the phase is in the key): a fast run asked its own after window
 * within the tolerance of its baseline.
 * kmsim counts events at millisecond precision, finer than real
 * datapoints, so on kmsim the shared answer also counts the part of the
 * first period before the pipeline's own start.  The monitoring rules
 * (procedure section 4) judge the instance's gateway as a whole ("a high
 * number of throttling errors", error codes, latency of the dedicated
 * gateway): a window widened to whole periods is the granularity
 * CloudMonitor has anyway.  An operator sees the same dedicated-gateway
 * figures in observe.json for every member whose window falls in the
 * same periods and ends at about the same time (the pipelines of a run
 * ask within seconds), and qps_avg of the dedicated gateway over the
 * answered window (aligned start to the first asker's end).  The shared
 * gateway (each member's own account) is not cached.
 *
 * Lifetime.  An entry is fetched by its first asker's stage context (the
 * monitor stage never ends with a query in flight, so that context lives
 * until the last page is in); later askers wait on it, their contexts
 * held so that they do not drain, and each waiter's function runs exactly
 * once.  An answered entry is kept among the CACHE_KEEP last used and
 * answers later askers at once; a failed query fails every waiter with
 * the same finding it would have had alone and is not kept, so a later
 * pipeline asks again.  Memory is bounded by CACHE_KEEP plus the queries
 * in flight, never by the number of pipelines. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stages/monitor/monitor.h"
#include "util/util.h"

/* Answered entries kept: 6 metrics x 2 windows x a few periods x regions
 * live at once; an evicted one is asked again, never answered wrong. */
#define CACHE_KEEP 256
/* CloudMonitor's longest range (reference section 6): 31 days. */
#define CMS_RANGE_MAX_S (31LL * 86400)

typedef struct entry_s {
  mon_cache_t *k; /* NULL: a private query (not shared, not kept) */
  char *key;
  uint64_t hash;
  bool fetching;
  unsigned pins; /* delivering: not evicted */
  uint64_t used; /* LRU tick */
  mon_answer_t a;
  mon_waiter_t *waiters, **wtail;
  /* while fetching: the first asker's context sends every page */
  km_sctx_t *c;
  char *owner, *ns, *metric, *dims;
  char start_ms[24], end_ms[24], period[16];
  int page;
} entry_t;

struct mon_cache_s {
  entry_t **v;
  size_t n, cap, kept;
  uint64_t tick;
  size_t asks, fetches, joined;
};

mon_cache_t *km__mon_cache_new(void) {
  return km_xcalloc(1, sizeof(mon_cache_t));
}

static void params_free(entry_t *e) {
  free(e->owner);
  free(e->ns);
  free(e->metric);
  free(e->dims);
  e->owner = e->ns = e->metric = e->dims = NULL;
}

static void entry_free(entry_t *e) {
  params_free(e);
  free(e->key);
  free(e);
}

void km__mon_cache_free(mon_cache_t *k) {
  if (k == NULL) return;
  if (k->asks > 0)
    km_log(KM_LOG_DEBUG,
           "monitor: %zu dedicated-gateway queries answered %zu asks (%zu "
           "waited for a query in flight)",
           k->fetches, k->asks, k->joined);
  for (size_t i = 0; i < k->n; i++)
    entry_free(k->v[i]);
  free(k->v);
  free(k);
}

void km__mon_cache_counts(const mon_cache_t *k, mon_cache_counts_t *out) {
  *out = (mon_cache_counts_t){0};
  if (k == NULL) return;
  *out = (mon_cache_counts_t){k->asks, k->fetches, k->joined, k->n};
}

static uint64_t fnv1a(const char *s) {
  uint64_t h = 1469598103934665603ULL;
  for (; *s != '\0'; s++)
    h = (h ^ (unsigned char)*s) * 1099511628211ULL;
  return h;
}

/* An entry of key that is fresh for a window ending at end: its query
 * ends within a tenth of the window of that end (tol). */
static entry_t *find(const mon_cache_t *k, const char *key, uint64_t h,
                     int64_t end, int64_t tol) {
  for (size_t i = 0; i < k->n; i++) {
    const entry_t *e = k->v[i];
    int64_t d = e->a.end > end ? e->a.end - end : end - e->a.end;
    if (e->hash == h && d <= tol && strcmp(e->key, key) == 0) return k->v[i];
  }
  return NULL;
}

static void table_add(mon_cache_t *k, entry_t *e) {
  if (k->n == k->cap) {
    k->cap = k->cap ? 2 * k->cap : 16;
    k->v = km_xrealloc(k->v, k->cap * sizeof(*k->v));
  }
  k->v[k->n++] = e;
}

static void table_remove(mon_cache_t *k, const entry_t *e) {
  for (size_t i = 0; i < k->n; i++)
    if (k->v[i] == e) {
      k->v[i] = k->v[--k->n];
      return;
    }
}

/* Drops the least recently used answered entries above CACHE_KEEP. */
static void evict(mon_cache_t *k) {
  while (k->kept > CACHE_KEEP) {
    entry_t *old = NULL;
    for (size_t i = 0; i < k->n; i++) {
      entry_t *e = k->v[i];
      if (!e->fetching && e->pins == 0 && (old == NULL || e->used < old->used))
        old = e;
    }
    if (old == NULL) return;
    table_remove(k, old);
    k->kept--;
    entry_free(old);
  }
}

/* The query is over: every waiter gets the answer once, in the order they
 * asked; the entry is kept when answered and shared. */
static void complete(entry_t *e) {
  mon_cache_t *k = e->k;
  params_free(e);
  e->c = NULL;
  e->fetching = false;
  mon_waiter_t *w = e->waiters;
  e->waiters = NULL;
  e->wtail = &e->waiters;
  bool keep = k != NULL && e->a.fail_id == NULL;
  if (keep) {
    k->kept++;
    e->used = ++k->tick;
    e->pins++;
  } else if (k != NULL) {
    table_remove(k, e); /* a later asker asks again */
  }
  while (w != NULL) {
    mon_waiter_t *next = w->next; /* w lives in its context: read first */
    km_sctx_t *c = w->c;
    w->fn(c, &e->a, w->ud);
    kp_release(c); /* may end that stage and free w */
    w = next;
  }
  if (keep) {
    e->pins--;
    evict(k);
  } else {
    entry_free(e);
  }
}

static void fail(entry_t *e, const char *id, const char *why, const char *rid) {
  e->a.fail_id = id;
  snprintf(e->a.why, sizeof(e->a.why), "%s", why);
  snprintf(e->a.rid, sizeof(e->a.rid), "%s", rid != NULL ? rid : "");
}

static void fetch_page(entry_t *e, const char *token);

static void on_page(km_sctx_t *c, const kp_res_t *res, void *ud) {
  (void)c;
  entry_t *e = ud;
  char why[300];
  const char *next = NULL;
  if (res->status < 0) {
    fail(e, "monitor.call_failed", kp_res_text(res, why, sizeof(why)),
         res->request_id);
  } else if (km__mon_add_points(res->body, &e->a.m, &next, why, sizeof(why)) <
             0) {
    fail(e, "monitor.unreadable", why, res->request_id);
  } else if (next == NULL) {
    e->a.m.answered = true;
  } else if (e->page >= KM_MON_PAGES_MAX) {
    fail(e, "monitor.unreadable",
         "more pages than kmsmig reads (100): shorten monitor.window or raise "
         "monitor.period",
         res->request_id);
  } else {
    e->page++;
    fetch_page(e, next); /* the token is copied by the call */
    return;
  }
  complete(e);
}

static void fetch_page(entry_t *e, const char *token) {
  const char *params[] = {"Namespace",  e->ns,     "MetricName", e->metric,
                          "Dimensions", e->dims,   "StartTime",  e->start_ms,
                          "EndTime",    e->end_ms, "Period",     e->period,
                          "Length",     "1440",    "NextToken",  token};
  /* The instance's gateway is measured with its owner's credentials: the
   * owner sees the instance's metrics, whoever the caller was. */
  kp_call_as(e->c, e->owner, "cms", "DescribeMetricList", params,
             token != NULL ? 8 : 7, NULL, on_page, e);
}

static void add_waiter(entry_t *e, mon_waiter_t *w) {
  kp_hold(w->c); /* released once its answer is delivered */
  *e->wtail = w;
  e->wtail = &w->next;
}

/* A new query for q, fetched by c; shared when k is not NULL. */
static void start_fetch(mon_cache_t *k, km_sctx_t *c, const mon_ask_t *q,
                        char *key, uint64_t h, int64_t start, mon_waiter_t *w) {
  entry_t *e = km_xcalloc(1, sizeof(*e));
  e->k = k;
  e->key = key;
  e->hash = h;
  e->fetching = true;
  e->wtail = &e->waiters;
  e->c = c;
  e->page = 1;
  e->owner = q->owner != NULL ? km_xstrdup(q->owner) : NULL;
  e->ns = km_xstrdup(q->ns);
  e->metric = km_xstrdup(q->metric);
  e->dims = km_xstrdup(q->dims);
  snprintf(e->start_ms, sizeof(e->start_ms), "%lld", (long long)start * 1000);
  snprintf(e->end_ms, sizeof(e->end_ms), "%lld", (long long)q->end * 1000);
  snprintf(e->period, sizeof(e->period), "%lld", (long long)q->period_s);
  e->a.start = start;
  e->a.end = q->end;
  add_waiter(e, w);
  if (k != NULL) {
    table_add(k, e);
    k->fetches++;
  }
  fetch_page(e, NULL); /* may complete (and free e) at once */
}

void km__mon_cache_ask(mon_cache_t *k, km_sctx_t *c, const mon_ask_t *q,
                       mon_waiter_t *w, mon_answer_fn fn, void *ud) {
  *w = (mon_waiter_t){NULL, c, fn, ud};
  int64_t p = q->period_s > 0 ? q->period_s : 60;
  int64_t start = q->start - q->start % p, end_period = q->end / p;
  /* A window that whole periods would stretch beyond CloudMonitor's range
   * (monitor.window near 31 days) is asked as it is, for this pipeline. */
  if (k == NULL || (end_period + 1) * p - start > CMS_RANGE_MAX_S) {
    start_fetch(NULL, c, q, NULL, 0, q->start, w);
    return;
  }
  k->asks++;
  const char *owner = q->owner != NULL ? q->owner : c->t->account;
  char *key = km_xasprintf("%s\n%s\n%s\n%s\n%lld\n%lld\n%lld\n%s\n%c", owner,
                           c->t->region, q->ns, q->metric, (long long)p,
                           (long long)start, (long long)end_period, q->dims,
                           q->after ? 'a' : 'b');
  uint64_t h = fnv1a(key);
  entry_t *e = find(k, key, h, q->end, (q->end - q->start) / 10);
  if (e == NULL) {
    start_fetch(k, c, q, key, h, start, w);
    return;
  }
  free(key);
  if (e->fetching) {
    k->joined++;
    add_waiter(e, w);
    return;
  }
  /* answered before: at once (the caller holds c, as for an answer) */
  e->used = ++k->tick;
  e->pins++;
  fn(c, &e->a, ud);
  e->pins--;
}
