/* The monitor stage's parts (docs/monitor.md): monitor.c asks CloudMonitor
 * and ActionTrail, gateway_cache.c shares the instance gateway's answers
 * between the pipelines of a run, measure.c reads the replies into the
 * typed observation (model/observe.h); model/observe_judge.c judges it. */
#ifndef KM_STAGES_MONITOR_H
#define KM_STAGES_MONITOR_H

#include "model/observe.h"
#include "stage/stage.h"

/* Per-metric totals of one gateway over a window, summed over datapoints
 * and pages. */
typedef struct mon_metric_s {
  bool answered; /* every page came back readable */
  double sum, max, avg_sum;
  size_t points;
} mon_metric_t;

/* Adds the datapoints of one DescribeMetricList reply (body borrowed) to
 * m; *next is the reply's NextToken (borrowed; NULL when done).  0, or
 * KM_EPARSE with why filled (what could not be read). */
int km__mon_add_points(const json_t *body, mon_metric_t *m, const char **next,
                       char *why, size_t n);
/* The gateway from its metrics (indexed KM_MON_*) over span seconds. */
void km__mon_gateway(const mon_metric_t *m, int64_t span, km_obs_gw_t *g);
/* Adds the events of one LookupEvents reply (body borrowed) to o's callers
 * (each event's resource checked against o->migrated); *next is its
 * NextToken ("" or NULL: done).  0, or KM_EPARSE with why filled. */
int km__mon_add_events(const json_t *body, km_obs_t *o, const char **next,
                       char *why, size_t n);

/* Pages of one DescribeMetricList query kmsmig reads at most. */
#define KM_MON_PAGES_MAX 100

/* ---- the instance gateway's answers, shared (gateway_cache.c) ---- */

/* One query's answer, all its pages: the metric's totals over the window
 * the query covered (Unix s: the period-aligned start to the first
 * asker's end), or the failure that stopped it (fail_id is the finding,
 * "monitor.call_failed" or "monitor.unreadable"; m then holds what the
 * pages before it gave, m.answered is false). */
typedef struct mon_answer_s {
  mon_metric_t m;
  int64_t start, end;
  const char *fail_id; /* NULL: answered */
  char why[300], rid[128];
} mon_answer_t;

typedef void (*mon_answer_fn)(km_sctx_t *c, const mon_answer_t *a, void *ud);

/* A pipeline waiting for an answer (storage the caller's, e.g. kp_alloc:
 * it must live as long as c). */
typedef struct mon_waiter_s {
  struct mon_waiter_s *next;
  km_sctx_t *c;
  mon_answer_fn fn;
  void *ud;
} mon_waiter_t;

/* What a pipeline asks (strings borrowed for the call): owner is the
 * manifest name whose credentials ask (NULL: the pipeline's own). */
typedef struct mon_ask_s {
  const char *owner, *ns, *metric, *dims;
  int64_t period_s, start, end; /* the pipeline's window, Unix s */
  /* the window after the migration (OBSERVE): never answered with a
   * baseline's answer, which a fast run asks less than the freshness
   * tolerance before (integration.monitor_traffic: 30 queries, not 36,
   * one run in three) and which counts the traffic before the switch */
  bool after;
} mon_ask_t;

typedef struct mon_cache_s mon_cache_t;

/* A run's cache (owned; the monitor stage's state) and its end. */
mon_cache_t *km__mon_cache_new(void);
void km__mon_cache_free(mon_cache_t *k);
/* The answer to q in c's region: from the cache, from the query another
 * pipeline has in flight, or from a new query sent through c.  fn(c,
 * answer, ud) runs exactly once, from inside this call (an answer kept
 * or a query refused at once) or later; c is held until it has run.  The
 * answer is borrowed for the call.  k NULL: not shared. */
void km__mon_cache_ask(mon_cache_t *k, km_sctx_t *c, const mon_ask_t *q,
                       mon_waiter_t *w, mon_answer_fn fn, void *ud);
/* What the cache did (tests, the debug log): asks it served, queries it
 * sent, asks that waited for a query in flight, entries it holds. */
typedef struct mon_cache_counts_s {
  size_t asks, fetches, joined, entries;
} mon_cache_counts_t;
void km__mon_cache_counts(const mon_cache_t *k, mon_cache_counts_t *out);

#endif
