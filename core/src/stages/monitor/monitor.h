/* The monitor stage's parts (docs/monitor.md): monitor.c asks CloudMonitor
 * and ActionTrail, measure.c reads their replies into the typed
 * observation (model/observe.h); model/observe_judge.c judges it. */
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

#endif
