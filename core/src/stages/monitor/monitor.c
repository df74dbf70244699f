/* The monitor stage (docs/monitor.md; the procedure's section 4).
 *
 * PREFLIGHT (read-only, in plan mode too): CloudMonitor DescribeMetricList
 * (namespace acs_kms, the manifest's metric names and dimensions) over the
 * window before now, for the shared gateway (the pipeline's account) and
 * the instance's dedicated gateway (asked as the instance's owner, who
 * sees its metrics; one answer per period-aligned window serves every
 * member of the instance, gateway_cache.c) -> inv->obs->baseline.
 * OBSERVE (after VERIFY, and again from `kmsmig observe`): the same metrics
 * over the time since the migration; `kmsmig observe` then also asks
 * ActionTrail LookupEvents for each data-plane EventName of KMS, which
 * lists the callers still on the shared gateway (not the run itself:
 * events are queryable up to 10 minutes late); then the observation is
 * judged (model/observe_judge.c).
 *
 * Every call goes through the host (rate limits, retries, credentials).
 * A call that fails or a reply that cannot be read becomes an "act"
 * finding naming the call and its RequestId; the stage itself does not
 * fail the pipeline: monitoring judges a migration, it does not undo it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "stages/monitor/monitor.h"
#include "util/util.h"

#define MONITOR_VERSION "1.0.0"
#define TRAIL_PAGES_MAX 20
#define CALL_FINDINGS_MAX 5
/* Queries at a time per pipeline: their groups' QPS is low, and a call
 * handed to the host holds a signed request.  The next query is made when
 * one ends (issue_next), so the rest wait as a cursor, not as queued
 * calls with copies of their parameters. */
#define MON_INFLIGHT 4

enum { GW_SHARED = 0, GW_DEDICATED = 1 };
static const char *const k_gw_names[] = {"shared", "dedicated"};

typedef struct job_s {
  km_sctx_t *c;
  km_obs_t *o;
  km_obs_window_t *w;
  bool after;
  mon_metric_t m[2][KM_MON__COUNT];
  bool ask[2];
  size_t call_findings;
  bool truncated;
  /* the next query to make: metrics gateway by gateway, then events */
  int next_gw, next_metric;
  size_t next_event;
  bool ask_events;
  char start_ms[24], end_ms[24], start_iso[21], end_iso[21];
  char dims[2][600];
  mon_cache_t *cache; /* the run's, for the dedicated gateway */
  int64_t ded_span;   /* seconds the dedicated answer covered (0: own) */
} job_t;

typedef struct q_s {
  job_t *j;
  int gw, metric, page;
  const char *event; /* LookupEvents: the EventName */
  mon_waiter_t w;    /* the dedicated gateway's answer */
} q_t;

static void query_metric(job_t *j, int gw, int metric, const char *token,
                         int page);
static void query_events(job_t *j, const char *event, const char *token,
                         int page);

/* Makes the next query of the job, if any is left. */
static void issue_next(job_t *j) {
  for (; j->next_gw < 2; j->next_gw++, j->next_metric = 0) {
    if (!j->ask[j->next_gw] || j->next_metric >= KM_MON__COUNT) continue;
    query_metric(j, j->next_gw, j->next_metric++, NULL, 1);
    return;
  }
  const km_mf_strlist_t *ev = &j->c->t->monitor->events;
  if (j->ask_events && j->next_event < ev->n)
    query_events(j, ev->v[j->next_event++], NULL, 1);
}

/* A failed or unreadable call: an "act" finding (the first few; the rest
 * go to the log only). */
static void call_finding(job_t *j, const char *id, const char *what,
                         const char *detail, const char *rid) {
  char msg[700];
  snprintf(msg, sizeof(msg), "%s: %s (RequestId %s)", what, detail,
           rid != NULL && rid[0] != '\0' ? rid : "none");
  kp_log(j->c, KM_LOG_WARN, "monitor: %s", msg);
  if (j->call_findings++ >= CALL_FINDINGS_MAX) return;
  km_obs_add_finding(
      j->o, id, KM_OBS_ACT, msg,
      "nothing was measured from this call, so no verdict is ok: check the "
      "account's CloudMonitor/ActionTrail permissions (cms:DescribeMetricList, "
      "actiontrail:LookupEvents) and the monitor: metric names and dimensions "
      "in the manifest (docs/monitor.md), then run `kmsmig observe RUN_DIR`");
}

/* Dimensions template with {account_id}, {region}, {instance_id} set. */
static void fill_dims(const km_sctx_t *c, const char *tpl, char *out,
                      size_t n) {
  const struct {
    const char *ph, *v;
  } subs[] = {{"{account_id}", c->t->account_id},
              {"{region}", c->t->region},
              {"{instance_id}", c->t->instance_id}};
  size_t o = 0;
  while (*tpl != '\0' && o + 1 < n) {
    bool hit = false;
    for (size_t i = 0; i < KM_ARRAY_SIZE(subs) && !hit; i++) {
      size_t l = strlen(subs[i].ph);
      if (strncmp(tpl, subs[i].ph, l) == 0) {
        int w = snprintf(out + o, n - o, "%s", subs[i].v ? subs[i].v : "");
        o += w > 0 ? (size_t)w : 0;
        if (o >= n) o = n - 1;
        tpl += l;
        hit = true;
      }
    }
    if (!hit) out[o++] = *tpl++;
  }
  out[o] = '\0';
}

/* ---- CloudMonitor ---- */

static void on_metric(km_sctx_t *c, const kp_res_t *res, void *ud) {
  q_t *q = ud;
  job_t *j = q->j;
  const km_mf_monitor_t *mo = c->t->monitor;
  mon_metric_t *m = &j->m[q->gw][q->metric];
  char what[200], why[300];
  snprintf(what, sizeof(what),
           "CloudMonitor DescribeMetricList %s (%s gateway)",
           mo->metric[q->metric], k_gw_names[q->gw]);
  const char *next = NULL;
  if (res->status < 0) {
    call_finding(j, "monitor.call_failed", what,
                 kp_res_text(res, why, sizeof(why)), res->request_id);
  } else if (km__mon_add_points(res->body, m, &next, why, sizeof(why)) < 0) {
    call_finding(j, "monitor.unreadable", what, why, res->request_id);
  } else if (next == NULL) {
    m->answered = true;
  } else if (q->page >= KM_MON_PAGES_MAX) {
    call_finding(j, "monitor.unreadable", what,
                 "more pages than kmsmig reads (100): shorten monitor.window "
                 "or raise monitor.period",
                 res->request_id);
  } else {
    query_metric(j, q->gw, q->metric, next, q->page + 1);
    return; /* the next page takes this query's place */
  }
  issue_next(j);
}

/* The dedicated gateway's answer to one metric (shared with the other
 * members of the instance): the same finding as a query of its own. */
static void on_dedicated(km_sctx_t *c, const mon_answer_t *a, void *ud) {
  (void)c;
  q_t *q = ud;
  job_t *j = q->j;
  j->m[GW_DEDICATED][q->metric] = a->m;
  if (q->metric == KM_MON_REQUESTS) j->ded_span = a->end - a->start;
  if (a->fail_id != NULL) {
    char what[200];
    snprintf(what, sizeof(what),
             "CloudMonitor DescribeMetricList %s (%s gateway)",
             c->t->monitor->metric[q->metric], k_gw_names[GW_DEDICATED]);
    call_finding(j, a->fail_id, what, a->why, a->rid);
  }
  issue_next(j);
}

static void query_metric(job_t *j, int gw, int metric, const char *token,
                         int page) {
  km_sctx_t *c = j->c;
  const km_mf_monitor_t *mo = c->t->monitor;
  q_t *q = kp_alloc(c, sizeof(*q));
  *q = (q_t){.j = j, .gw = gw, .metric = metric, .page = page};
  if (gw == GW_DEDICATED) {
    /* the instance's owner sees the instance's metrics, whoever the
     * caller was; the cache pages */
    mon_ask_t a = {
        c->t->instance_owner, mo->ns,      mo->metric[metric], j->dims[gw],
        mo->period_s,         j->w->start, j->w->end,          j->after};
    km__mon_cache_ask(j->cache, c, &a, &q->w, on_dedicated, q);
    return;
  }
  char period[16];
  snprintf(period, sizeof(period), "%lld", (long long)mo->period_s);
  const char *params[] = {
      "Namespace",  mo->ns,      "MetricName", mo->metric[metric],
      "Dimensions", j->dims[gw], "StartTime",  j->start_ms,
      "EndTime",    j->end_ms,   "Period",     period,
      "Length",     "1440",      "NextToken",  token};
  kp_call_as(c, NULL, "cms", "DescribeMetricList", params,
             token != NULL ? 8 : 7, NULL, on_metric, q);
}

/* ---- ActionTrail ---- */

static void on_events(km_sctx_t *c, const kp_res_t *res, void *ud) {
  (void)c;
  q_t *q = ud;
  job_t *j = q->j;
  char what[160], why[300];
  snprintf(what, sizeof(what), "ActionTrail LookupEvents EventName=%s",
           q->event);
  const char *next = NULL;
  if (res->status < 0) {
    call_finding(j, "monitor.call_failed", what,
                 kp_res_text(res, why, sizeof(why)), res->request_id);
  } else if (km__mon_add_events(res->body, j->o, &next, why, sizeof(why)) < 0) {
    call_finding(j, "monitor.unreadable", what, why, res->request_id);
  } else if (next != NULL && q->page >= TRAIL_PAGES_MAX) {
    j->truncated = true;
  } else if (next != NULL) {
    query_events(j, q->event, next, q->page + 1);
    return; /* the next page takes this query's place */
  }
  issue_next(j);
}

static void query_events(job_t *j, const char *event, const char *token,
                         int page) {
  /* ServiceName Kms narrows EventName to KMS's own calls (an exact value
   * of the reference's LookupAttribute keys). */
  const char *params[] = {"LookupAttribute.1.Key",
                          "EventName",
                          "LookupAttribute.1.Value",
                          event,
                          "LookupAttribute.2.Key",
                          "ServiceName",
                          "LookupAttribute.2.Value",
                          "Kms",
                          "StartTime",
                          j->start_iso,
                          "EndTime",
                          j->end_iso,
                          "MaxResults",
                          "50",
                          "NextToken",
                          token};
  q_t *q = kp_alloc(j->c, sizeof(*q));
  *q = (q_t){.j = j, .page = page, .event = event};
  kp_call_as(j->c, NULL, "actiontrail", "LookupEvents", params,
             token != NULL ? 8 : 7, NULL, on_events, q);
}

/* ---- the stage ---- */

static void drained(km_sctx_t *c) {
  job_t *j = c->ud;
  int64_t span = j->w->end - j->w->start;
  /* the dedicated gateway's rate over the window its answer covered */
  int64_t spans[2] = {span, j->ded_span > 0 ? j->ded_span : span};
  km_obs_gw_t *g[2] = {&j->w->shared, &j->w->dedicated};
  for (int gw = 0; gw < 2; gw++)
    if (j->ask[gw]) km__mon_gateway(j->m[gw], spans[gw], g[gw]);
  j->w->present = true;
  if (j->after) {
    /* the findings' texts are built from these when needed */
    j->o->judged = true;
    j->o->trail_truncated = j->truncated;
    j->o->throttle_act_pct = c->t->monitor->throttle_act_pct;
    size_t act, watch;
    km_obs_count(j->o, &act, &watch);
    kp_log(c, act ? KM_LOG_WARN : KM_LOG_INFO,
           "monitor: %zu act, %zu watch (%zu caller(s) on the shared "
           "gateway)",
           act, watch, j->o->ncallers);
  } else {
    kp_log(c, KM_LOG_INFO,
           "monitor: baseline of the shared gateway: %lld requests, %.2f QPS",
           (long long)j->w->shared.requests, j->w->shared.qps_avg);
  }
  kp_finish(c);
}

/* What this run migrated (the residual callers are those still using
 * one of these through the shared gateway). */
static void note_migrated(const km_inv_t *inv, km_obs_t *o) {
  for (size_t i = 0; i < inv->nkeys; i++)
    if (inv->keys[i].verdict == KM_VERDICT_MIGRATED)
      km_inv_strs_add(&o->migrated, inv->keys[i].key_id);
  for (size_t i = 0; i < inv->nsecrets; i++)
    if (inv->secrets[i].verdict == KM_VERDICT_MIGRATED)
      km_inv_strs_add(&o->migrated, inv->secrets[i].secret_name);
}

/* The window: before PREFLIGHT the `window` up to now; after, up to now
 * from the end of the migration (the baseline's end in the run itself),
 * at most `window` long. */
static void set_window(job_t *j, int64_t now) {
  int64_t start = now - j->c->t->monitor->window_s;
  if (j->after) {
    /* `kmsmig observe`: from the second after the run's OBSERVE began
     * (ActionTrail's times are whole seconds; that second may still hold
     * calls from before the last switch) */
    int64_t from = j->c->plan ? j->o->migrated_at + 1 : j->o->baseline.end;
    if (from > start) start = from;
  }
  if (start >= now) start = now - 1;
  j->w->start = start;
  j->w->end = now;
  snprintf(j->start_ms, sizeof(j->start_ms), "%lld", (long long)start * 1000);
  snprintf(j->end_ms, sizeof(j->end_ms), "%lld", (long long)now * 1000);
  km_iso8601(start, j->start_iso);
  km_iso8601(now, j->end_iso);
}

static int monitor_start(void *state, km_sctx_t *c) {
  if (c->stage != KM_STAGE_PREFLIGHT && c->stage != KM_STAGE_OBSERVE)
    return KM_ENOTSUP;
  const km_mf_monitor_t *mo = c->t->monitor;
  km_inv_t *inv = c->inv;
  bool after = c->stage == KM_STAGE_OBSERVE;
  /* `kmsmig observe` (plan mode at OBSERVE) observes only the pipelines
   * the run took through MIGRATE. */
  if (mo == NULL ||
      (after && c->plan && (inv->obs == NULL || !inv->obs->migrate_finished))) {
    kp_finish(c);
    return 0;
  }
  if (inv->obs == NULL) inv->obs = km_obs_new();
  km_obs_t *o = inv->obs;
  if (inv->inst.present) o->instance_spec = inv->inst.spec;
  int64_t now = (int64_t)time(NULL);
  if (after) {
    km_obs_reset_after(o);
    if (!c->plan) {
      o->migrate_finished = true;
      o->migrated_at = now;
      note_migrated(inv, o);
    }
  }
  job_t *j = kp_alloc(c, sizeof(*j));
  j->c = c;
  j->cache = state;
  j->o = o;
  j->after = after;
  j->w = after ? km_obs_after(o) : &o->baseline;
  memset(j->w, 0, sizeof(*j->w));
  set_window(j, now);
  fill_dims(c, mo->dims_shared, j->dims[GW_SHARED], sizeof(j->dims[0]));
  fill_dims(c, mo->dims_dedicated, j->dims[GW_DEDICATED], sizeof(j->dims[0]));
  j->ask[GW_SHARED] = true;
  j->ask[GW_DEDICATED] = c->t->instance_id != NULL;
  c->ud = j;
  c->keep_going = true;
  c->on_drain = drained;
  /* Residual callers matter only for what this run migrated, and only
   * `kmsmig observe` asks: ActionTrail shows a call up to 10 minutes
   * after it was made, so the run's own OBSERVE could only see the calls
   * from before the switch (and LookupEvents is 2 a second per account). */
  j->ask_events = after && c->plan && o->migrated.n > 0;
  if (after) o->trail_looked = j->ask_events;
  kp_hold(c);
  for (int i = 0; i < MON_INFLIGHT; i++)
    issue_next(j);
  kp_release(c);
  return 0;
}

/* The run's state: the instance gateways' answers (gateway_cache.c). */
static int monitor_init(void **state, km_err_t *err) {
  (void)err;
  *state = km__mon_cache_new();
  return 0;
}

static void monitor_fini(void *state) {
  km__mon_cache_free(state);
}

const km_stage_ops_t km_stage_monitor = {
    .name = "monitor",
    .version = MONITOR_VERSION,
    .stages = KM_STAGE_BIT(KM_STAGE_PREFLIGHT) | KM_STAGE_BIT(KM_STAGE_OBSERVE),
    .init = monitor_init,
    .fini = monitor_fini,
    .start = monitor_start,
};
