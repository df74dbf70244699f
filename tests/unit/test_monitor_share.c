/* The monitor stage's dedicated-gateway answers shared by the pipelines of
 * a run (stages/monitor/gateway_cache.c, issue 13), driven by fake stage
 * hosts (tests/plugin/fakehost.h) that share the stage's one state as the
 * engine's pipelines do.  N members of one instance, answered in turn:
 * one two-page DescribeMetricList query per metric and period-aligned
 * window for the dedicated gateway instead of one per member, each
 * member's own shared-gateway query, every member's verdicts from the
 * right numbers (its own shared gateway, the instance's dedicated one); a
 * later member answered from the cache; a failing query failing every
 * member that waited for it, with its RequestId, and asked again by a
 * later member; and the cache's rules on given windows: the same periods
 * share, an answer is reused only while its end is within a tenth of the
 * asker's window of the asker's end. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "../plugin/fakehost.c"
#include "model/observe.h"
#include "stages/monitor/monitor.h"

#define NMEMBERS 8
#define PERIOD 60
#define DEDICATED "[{\"instanceId\":\"kst-hzz-dest\"}]"

static char g_ns[] = "acs_kms", g_req[] = "requests", g_qps[] = "qps",
            g_lat[] = "latency_1m", g_4xx[] = "code_4xx_1m",
            g_5xx[] = "code_5xx_1m", g_thr[] = "throttled",
            g_dshared[] = "[{\"userId\":\"{account_id}\"}]",
            g_ddedicated[] = "[{\"instanceId\":\"{instance_id}\"}]";

static km_mf_monitor_t g_mo = {
    .enabled = true,
    .window_s = 600,
    .period_s = PERIOD,
    .ns = g_ns,
    .metric = {g_req, g_qps, g_lat, g_4xx, g_5xx, g_thr},
    .dims_shared = g_dshared,
    .dims_dedicated = g_ddedicated,
    .throttle_act_pct = 1.0,
};

/* What the fake CloudMonitor was asked. */
typedef struct cms_s {
  size_t dedicated, shared, dedicated_throttled;
  size_t unaligned; /* dedicated queries whose StartTime is not aligned */
} cms_t;

static const char *param(const char *const *params, size_t n, const char *k) {
  for (size_t i = 0; i < n; i++)
    if (strcmp(params[2 * i], k) == 0) return params[2 * i + 1];
  return NULL;
}

/* The dedicated gateway: 12 requests of which 3 throttled, in two pages
 * (7 + 5, 2 + 1).  The shared gateway of member "1300000000000<NNN>": NNN
 * + 100 requests, one page. */
static char *gen_metrics(const char *action, const char *const *params,
                         size_t n, void *ud) {
  (void)action;
  cms_t *k = ud;
  const char *dims = param(params, n, "Dimensions");
  const char *metric = param(params, n, "MetricName");
  const char *token = param(params, n, "NextToken");
  bool thr = strcmp(metric, "throttled") == 0;
  double v;
  const char *next = NULL;
  if (strstr(dims, "instanceId") != NULL) {
    k->dedicated++;
    k->dedicated_throttled += thr;
    long long st = atoll(param(params, n, "StartTime"));
    k->unaligned += st % (PERIOD * 1000) != 0;
    v = token == NULL ? (thr ? 2 : 7) : (thr ? 1 : 5);
    next = token == NULL ? "2" : NULL;
  } else {
    k->shared++;
    const char *id = strstr(dims, "13000");
    v = thr ? 0 : 100 + atoi(id + 13);
  }
  json_t *pts = json_pack("[{s:i, s:f, s:f, s:f}]", "timestamp", 1, "Average",
                          v, "Maximum", v, "Sum", v);
  char *text = json_dumps(pts, JSON_COMPACT);
  json_decref(pts);
  json_t *b = json_pack("{s:s, s:b, s:s, s:s}", "Code", "200", "Success", 1,
                        "RequestId", "RID-CMS", "Datapoints", text);
  free(text);
  if (next != NULL) json_object_set_new(b, "NextToken", json_string(next));
  char *s = json_dumps(b, JSON_COMPACT);
  json_decref(b);
  return s;
}

typedef struct t_s {
  fh_t *fh[NMEMBERS + 1];
  char acct[NMEMBERS + 1][16], id[NMEMBERS + 1][32];
  cms_t cms;
} t_t;

/* Member i: account "m<i>", id 1300000000000<i>, the instance owned by
 * "owner"; every member shares member 0's provider state. */
static void member(t_t *t, int i, bool fail_throttled) {
  fh_t *fh = t->fh[i] = fh_new();
  snprintf(t->acct[i], sizeof(t->acct[i]), "m%d", i);
  snprintf(t->id[i], sizeof(t->id[i]), "1300000000000%03u", (unsigned)i % 1000);
  km_target_t *tg = fh_target(fh);
  tg->account = t->acct[i];
  tg->account_id = t->id[i];
  tg->instance_owner = "owner";
  tg->monitor = &g_mo;
  fh_inv(fh)->inst.present = true;
  fh_inv(fh)->inst.spec = 1000;
  if (fail_throttled)
    fh_error(fh, "DescribeMetricList",
             "MetricName=throttled&Dimensions=" DEDICATED, -1,
             "Throttling.User", "RID-CMS-FAIL");
  fh_generator(fh, "DescribeMetricList", gen_metrics, &t->cms);
  if (i > 0) fh_share_state(fh, t->fh[0]);
}

static int setup(void **st) {
  *st = calloc(1, sizeof(t_t));
  return 0;
}

static int teardown(void **st) {
  t_t *t = *st;
  for (int i = NMEMBERS; i >= 0; i--)
    if (t->fh[i] != NULL) fh_free(t->fh[i]); /* member 0 (the state) last */
  free(t);
  return 0;
}

/* Delivers the members' answers in turn, one each, until none is left. */
static void drain_in_turn(t_t *t, int n) {
  for (size_t got = 1; got > 0;) {
    got = 0;
    for (int i = 0; i < n; i++)
      got += fh_drain_one(t->fh[i]);
  }
}

/* Starts stage on members [from, to), each after the previous started
 * (none answered yet), then answers them in turn. */
static void run_members(t_t *t, int from, int to, km_stage_t stage) {
  for (int i = from; i < to; i++) {
    fh_reset_log(t->fh[i]);
    assert_int_equal(fh_start(t->fh[i], &km_stage_monitor, stage), 0);
    if (i == 0)
      for (int j = 1; j <= NMEMBERS; j++)
        if (t->fh[j] != NULL) fh_share_state(t->fh[j], t->fh[0]);
  }
  drain_in_turn(t, to);
  for (int i = from; i < to; i++)
    assert_int_equal(fh_done_count(t->fh[i]), 1);
}

/* Distinct (start period, end period) of the members' windows: what one
 * shared query answers. */
static size_t windows(t_t *t, int n, bool after) {
  int64_t seen[NMEMBERS + 1][2];
  size_t k = 0;
  for (int i = 0; i < n; i++) {
    const km_obs_t *o = fh_inv(t->fh[i])->obs;
    const km_obs_window_t *w = after ? km_obs_after_of(o) : &o->baseline;
    int64_t s = w->start / PERIOD, e = w->end / PERIOD;
    bool dup = false;
    for (size_t j = 0; j < k && !dup; j++)
      dup = seen[j][0] == s && seen[j][1] == e;
    if (!dup) {
      seen[k][0] = s;
      seen[k][1] = e;
      k++;
    }
  }
  return k;
}

static const km_obs_finding_t *kept(const km_obs_t *o, const char *id) {
  for (size_t i = 0; i < o->nfindings; i++)
    if (strcmp(o->findings[i].id, id) == 0) return &o->findings[i];
  return NULL;
}

typedef struct found_s {
  const char *id;
  km_obs_verdict_t verdict;
  char message[600];
  bool hit;
} found_t;

static void find_one(const km_obs_finding_t *f, void *ud) {
  found_t *x = ud;
  if (strcmp(f->id, x->id) != 0) return;
  x->hit = true;
  x->verdict = f->verdict;
  snprintf(x->message, sizeof(x->message), "%s", f->message);
}

static void t_one_query_per_window(void **st) {
  t_t *t = *st;
  for (int i = 0; i < NMEMBERS; i++)
    member(t, i, false);
  run_members(t, 0, NMEMBERS, KM_STAGE_PREFLIGHT);
  /* the members started within one loop turn: one window, or two when a
   * period boundary fell between two starts */
  size_t nw = windows(t, NMEMBERS, false);
  assert_true(nw >= 1 && nw <= 2);
  /* 6 metrics x 2 pages per window, not per member */
  assert_int_equal(t->cms.dedicated, 6 * 2 * nw);
  assert_int_equal(t->cms.shared, 6 * NMEMBERS);
  assert_int_equal(t->cms.unaligned, 0);
  for (int i = 0; i < NMEMBERS; i++) {
    const km_obs_t *o = fh_inv(t->fh[i])->obs;
    assert_int_equal(o->nfindings, 0);
    assert_true(o->baseline.dedicated.measured && o->baseline.shared.measured);
    assert_int_equal(o->baseline.dedicated.requests, 12); /* both pages */
    assert_int_equal(o->baseline.dedicated.throttled, 3);
    assert_int_equal(o->baseline.shared.requests, 100 + i); /* its own */
  }

  /* after a migration of 5 minutes: the same sharing, and every member's
   * verdicts from its own shared gateway and the instance's dedicated one */
  for (int i = 0; i < NMEMBERS; i++)
    fh_inv(t->fh[i])->obs->baseline.end -= 300;
  size_t before = t->cms.dedicated;
  run_members(t, 0, NMEMBERS, KM_STAGE_OBSERVE);
  nw = windows(t, NMEMBERS, true);
  assert_int_equal(t->cms.dedicated - before, 6 * 2 * nw);
  assert_int_equal(t->cms.shared, 2 * 6 * NMEMBERS);
  for (int i = 0; i < NMEMBERS; i++) {
    const km_obs_t *o = fh_inv(t->fh[i])->obs;
    assert_true(o->judged);
    found_t f = {.id = "monitor.dedicated_throttled"};
    km_obs_each_finding(o, "kst-hzz-dest", find_one, &f);
    assert_true(f.hit);
    assert_int_equal(f.verdict, KM_OBS_ACT); /* 3 of 12: 25% >= 1% */
    assert_non_null(strstr(f.message, "throttled 3 of 12 requests"));
    f = (found_t){.id = "monitor.shared_traffic"};
    km_obs_each_finding(o, "kst-hzz-dest", find_one, &f);
    char own[64];
    snprintf(own, sizeof(own), "(%d and %d requests)", 100 + i, 100 + i);
    assert_non_null(strstr(f.message, own));
  }

  /* a member that comes later in the same periods: answered from the
   * cache, no dedicated query (unless its window is in a new period) */
  for (int i = 0; i < NMEMBERS; i++)
    fh_inv(t->fh[i])->obs->baseline.end += 300; /* the windows asked */
  member(t, NMEMBERS, false);
  before = t->cms.dedicated;
  run_members(t, NMEMBERS, NMEMBERS + 1, KM_STAGE_PREFLIGHT);
  size_t nw_all = windows(t, NMEMBERS + 1, false);
  assert_int_equal(t->cms.dedicated - before,
                   6 * 2 * (nw_all - windows(t, NMEMBERS, false)));
  const km_obs_t *o = fh_inv(t->fh[NMEMBERS])->obs;
  assert_int_equal(o->baseline.dedicated.requests, 12);
  assert_int_equal(o->baseline.shared.requests, 100 + NMEMBERS);
  mon_cache_counts_t n;
  km__mon_cache_counts(t->fh[0]->state, &n);
  assert_int_equal(n.asks, 6 * (2 * NMEMBERS + 1));
  assert_int_equal(n.fetches * 2, t->cms.dedicated);
  assert_true(n.joined > 0); /* members waited for a query in flight */
  assert_int_equal(n.entries, n.fetches); /* all kept: none failed, few */
}

static void t_failure_fails_every_waiter(void **st) {
  t_t *t = *st;
  for (int i = 0; i < NMEMBERS; i++)
    member(t, i, true);
  run_members(t, 0, NMEMBERS, KM_STAGE_PREFLIGHT);
  size_t nw = windows(t, NMEMBERS, false);
  /* one failing query per window, every waiter failed by it */
  assert_int_equal(t->cms.dedicated_throttled, 0); /* the rule answered */
  size_t failing = 0;
  for (int i = 0; i < NMEMBERS; i++)
    failing += fh_count(t->fh[i], "call DescribeMetricList Namespace=acs_kms&"
                                  "MetricName=throttled&Dimensions=" DEDICATED);
  assert_int_equal(failing, nw);
  for (int i = 0; i < NMEMBERS; i++) {
    const km_obs_t *o = fh_inv(t->fh[i])->obs;
    assert_int_equal(fh_done_status(t->fh[i]), 0); /* never fails a stage */
    const km_obs_finding_t *f = kept(o, "monitor.call_failed");
    assert_non_null(f);
    assert_non_null(strstr(f->message, "throttled (dedicated gateway)"));
    assert_non_null(strstr(f->message, "RID-CMS-FAIL"));
    assert_int_equal(o->nfindings, 1);
    assert_false(o->baseline.dedicated.measured); /* null, never "ok" */
    assert_true(o->baseline.shared.measured);
  }
  /* a failure is not kept: a later member asks again */
  member(t, NMEMBERS, true);
  run_members(t, NMEMBERS, NMEMBERS + 1, KM_STAGE_PREFLIGHT);
  assert_int_equal(fh_count(t->fh[NMEMBERS],
                            "call DescribeMetricList Namespace=acs_kms&"
                            "MetricName=throttled&Dimensions=" DEDICATED),
                   1);
  assert_non_null(kept(fh_inv(t->fh[NMEMBERS])->obs, "monitor.call_failed"));
}

typedef struct got_s {
  int calls;
  mon_answer_t a;
} got_t;

static void on_answer(km_sctx_t *c, const mon_answer_t *a, void *ud) {
  (void)c;
  got_t *g = ud;
  g->calls++;
  g->a = *a;
}

static void t_fresh_only(void **st) {
  t_t *t = *st;
  member(t, 0, false);
  fh_t *fh = t->fh[0];
  km_sctx_t *c =
      km_sctx_new(&fake_shost, (km_pipeline_t *)(void *)fh, &fh->t, fh->inv,
                  KM_STAGE_PREFLIGHT, false, false, "monitor");
  mon_cache_t *k = km__mon_cache_new();
  /* Unix seconds, period 60; the answer's start is the aligned one */
  const struct {
    int64_t s, e, start, end;
    const char *why;
  } asks[] = {
      {6000, 9600, 6000, 9600, "a new query"},
      {6030, 9630, 6000, 9600, "the same periods, 30 s <= 360 s: shared"},
      {5990, 9600, 5940, 9600, "a start in the period before: new"},
      {9590, 9600, 9540, 9600, "a 10 s window: new"},
      {9595, 9605, 9540, 9605, "the same periods, 5 s > 1 s: new"},
      {9594, 9600, 9540, 9600, "the same periods and end: shared"},
  };
  enum { N = sizeof(asks) / sizeof(asks[0]) };
  mon_waiter_t w[N + 2];
  got_t g[N + 2];
  memset(g, 0, sizeof(g));
  for (size_t i = 0; i < N; i++) {
    mon_ask_t q = {"owner", "acs_kms", "requests", DEDICATED,
                   PERIOD,  asks[i].s, asks[i].e,  false};
    km__mon_cache_ask(k, c, &q, &w[i], on_answer, &g[i]);
    assert_int_equal(g[i].calls, 0); /* waiting */
  }
  fh_drain(fh);
  assert_int_equal(t->cms.dedicated, 4 * 2); /* 4 queries of 2 pages */
  for (size_t i = 0; i < N; i++) {
    if (g[i].calls != 1 || g[i].a.start != asks[i].start ||
        g[i].a.end != asks[i].end || !g[i].a.m.answered || g[i].a.m.sum != 12)
      fail_msg("ask %zu (%s): %d answers, window %lld..%lld, sum %g", i,
               asks[i].why, g[i].calls, (long long)g[i].a.start,
               (long long)g[i].a.end, g[i].a.m.sum);
  }
  /* answered before: at once, without a call */
  mon_ask_t q = {"owner", "acs_kms", "requests", DEDICATED,
                 PERIOD,  6010,      9610,       false};
  km__mon_cache_ask(k, c, &q, &w[N], on_answer, &g[N]);
  assert_int_equal(g[N].calls, 1);
  assert_int_equal(g[N].a.start, 6000);
  assert_int_equal(t->cms.dedicated, 8);
  /* the same window after the migration (a fast run asks it within the
   * tolerance of its baseline): never the baseline's answer */
  q.after = true;
  km__mon_cache_ask(k, c, &q, &w[N + 1], on_answer, &g[N + 1]);
  assert_int_equal(g[N + 1].calls, 0);
  fh_drain(fh);
  assert_int_equal(g[N + 1].calls, 1);
  assert_int_equal(t->cms.dedicated, 10);
  mon_cache_counts_t n;
  km__mon_cache_counts(k, &n);
  assert_int_equal(n.asks, N + 2);
  assert_int_equal(n.fetches, 5);
  assert_int_equal(n.joined, 2);
  km__mon_cache_free(k);
  km_sctx_free(c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(t_one_query_per_window, setup, teardown),
      cmocka_unit_test_setup_teardown(t_failure_fails_every_waiter, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(t_fresh_only, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
