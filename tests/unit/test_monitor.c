/* The monitor stage's reply readers and verdicts (stages/monitor/measure.c)
 * and the observe.json round trip (model/observe.c): CloudMonitor's
 * Datapoints text summed over pages, every unreadable shape refused
 * (never an empty, "ok" measurement), ActionTrail events grouped per
 * AccessKey and source IP with the migrated resources marked, and the
 * verdicts for throttling and residual callers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "model/observe.h"
#include "stages/monitor/monitor.h"
#include "util/util.h"

static json_t *reply(const char *datapoints) {
  return json_pack("{s:s, s:b, s:s, s:s}", "Code", "200", "Success", 1,
                   "RequestId", "R1", "Datapoints", datapoints);
}

static void t_points_summed(void **st) {
  (void)st;
  mon_metric_t m;
  memset(&m, 0, sizeof(m));
  char why[200];
  const char *next = NULL;
  json_t *b = reply("[{\"timestamp\":1,\"Average\":4,\"Maximum\":4,\"Sum\":4},"
                    "{\"timestamp\":2,\"Average\":\"6\",\"Maximum\":\"9\"}]");
  json_object_set_new(b, "NextToken", json_string("2"));
  assert_int_equal(km__mon_add_points(b, &m, &next, why, sizeof(why)), 0);
  assert_string_equal(next, "2");
  json_decref(b);
  b = reply("");
  assert_int_equal(km__mon_add_points(b, &m, &next, why, sizeof(why)), 0);
  assert_null(next);
  json_decref(b);
  assert_int_equal(m.points, 2);
  assert_true(m.sum == 10 && m.max == 9 && m.avg_sum == 10);
}

static void t_points_unreadable(void **st) {
  (void)st;
  const char *bad[] = {"[{\"timestamp\":1,\"Average\":", "{\"a\":1}",
                       "[{\"timestamp\":1}]", "[{\"Average\":\"x\"}]", "[7]"};
  for (size_t i = 0; i < KM_ARRAY_SIZE(bad); i++) {
    mon_metric_t m;
    memset(&m, 0, sizeof(m));
    char why[200] = "";
    const char *next;
    json_t *b = reply(bad[i]);
    assert_int_equal(km__mon_add_points(b, &m, &next, why, sizeof(why)),
                     KM_EPARSE);
    assert_true(why[0] != '\0');
    json_decref(b);
  }
  /* no Datapoints at all, and Success false */
  mon_metric_t m;
  memset(&m, 0, sizeof(m));
  char why[200];
  const char *next;
  json_t *b = json_pack("{s:s}", "RequestId", "R2");
  assert_int_equal(km__mon_add_points(b, &m, &next, why, sizeof(why)),
                   KM_EPARSE);
  json_decref(b);
  b = json_pack("{s:s, s:b, s:s}", "Code", "403", "Success", 0, "Message",
                "denied");
  assert_int_equal(km__mon_add_points(b, &m, &next, why, sizeof(why)),
                   KM_EPARSE);
  assert_non_null(strstr(why, "403"));
  json_decref(b);
}

static json_t *event(const char *name, const char *ak, const char *ip,
                     const char *t, const char *key) {
  return json_pack("{s:s, s:s, s:s, s:s, s:s, s:{s:s}, s:{s:s}}", "eventName",
                   name, "eventTime", t, "sourceIpAddress", ip, "userAgent",
                   "app/1", "eventSource", "kms.cn-hangzhou.aliyuncs.com",
                   "userIdentity", "accessKeyId", ak, "requestParameters",
                   "KeyId", key);
}

static void t_events_grouped(void **st) {
  (void)st;
  km_obs_t *o = km_obs_new();
  km_inv_strs_add(&o->migrated, "key-1");
  json_t *evs = json_array();
  json_array_append_new(evs, event("Decrypt", "AK1", "10.0.0.1",
                                   "2026-12-02T03:00:00Z", "key-1"));
  json_array_append_new(evs, event("Encrypt", "AK1", "10.0.0.1",
                                   "2026-12-02T03:00:05Z", "key-1"));
  json_array_append_new(evs, event("Decrypt", "AK2", "10.0.0.2",
                                   "2026-12-02T03:00:01Z", "key-old"));
  json_t *b = json_pack("{s:o, s:s}", "Events", evs, "NextToken", "");
  char why[200];
  const char *next = "x";
  assert_int_equal(km__mon_add_events(b, o, &next, why, sizeof(why)), 0);
  assert_null(next);
  json_decref(b);
  assert_int_equal(o->ncallers, 2);
  assert_string_equal(o->callers[0].access_key_id, "AK1");
  assert_int_equal(o->callers[0].count, 2);
  assert_int_equal(o->callers[0].events.n, 2);
  assert_true(o->callers[0].migrated);
  assert_false(o->callers[1].migrated);
  /* an event without a time is unreadable */
  evs = json_array();
  json_array_append_new(evs, json_pack("{s:s}", "eventName", "Decrypt"));
  b = json_pack("{s:o}", "Events", evs);
  assert_int_equal(km__mon_add_events(b, o, &next, why, sizeof(why)),
                   KM_EPARSE);
  json_decref(b);
  km_obs_free(o);
}

/* The judged findings are built on demand: a copy of the one asked for. */
typedef struct found_s {
  const char *id;
  km_obs_verdict_t verdict;
  char message[1000], action[600];
  bool hit;
} found_t;

static void find_one(const km_obs_finding_t *f, void *ud) {
  found_t *x = ud;
  if (strcmp(f->id, x->id) != 0) return;
  x->hit = true;
  x->verdict = f->verdict;
  snprintf(x->message, sizeof(x->message), "%s", f->message);
  snprintf(x->action, sizeof(x->action), "%s", f->action);
}

static found_t g_found;

static const found_t *finding(const km_obs_t *o, const char *id) {
  g_found = (found_t){.id = id};
  km_obs_each_finding(o, "kst-hzzmon0001", find_one, &g_found);
  if (!g_found.hit) fail_msg("no finding %s", id);
  return &g_found;
}

static void t_verdicts(void **st) {
  (void)st;
  km_inv_t *inv =
      km_inv_new("a", "1300000000000001", "cn-hangzhou", "kst-hzzmon0001");
  km_obs_t *o = km_obs_new();
  inv->obs = o;
  o->instance_spec = 5;
  o->baseline.present = km_obs_after(o)->present = true;
  o->baseline.shared = (km_obs_gw_t){true, 300, 10, 12, 1, 3, 0, 0};
  o->after->shared = (km_obs_gw_t){true, 30, 1, 2, 1, 0, 0, 0};
  o->after->dedicated = (km_obs_gw_t){true, 100, 30, 33, 1, 60, 0, 60};
  km_obs_caller(o, "AK1", "10.0.0.1", "ua")->migrated = true;
  o->judged = true;
  o->throttle_act_pct = 1.0;
  const found_t *f = finding(o, "monitor.dedicated_throttled");
  assert_int_equal(f->verdict, KM_OBS_ACT);
  assert_non_null(strstr(f->message, "instance spec 5"));
  assert_non_null(strstr(f->action, "spec 5"));
  assert_int_equal(finding(o, "monitor.residual_callers")->verdict, KM_OBS_ACT);
  assert_int_equal(finding(o, "monitor.shared_traffic")->verdict, KM_OBS_OK);
  /* throttling is not counted again as an error */
  assert_int_equal(finding(o, "monitor.dedicated_errors")->verdict, KM_OBS_OK);
  size_t act, watch;
  km_obs_count(o, &act, &watch);
  assert_int_equal(act, 2);
  /* round trip of what `kmsmig observe` reads back */
  json_t *j = km_obs_to_json(inv);
  km_obs_t *back = NULL;
  km_err_t err;
  assert_int_equal(km_obs_from_json(j, &back, &err), 0);
  assert_int_equal(back->instance_spec, 5);
  assert_int_equal(back->baseline.shared.requests, 300);
  assert_true(back->baseline.shared.measured && back->after == NULL);
  km_obs_free(back);
  json_object_set_new(json_object_get(json_object_get(j, "baseline"), "window"),
                      "start", json_integer(1));
  assert_int_equal(km_obs_from_json(j, &back, &err), KM_EPARSE);
  assert_null(back);
  json_decref(j);
  km_inv_free(inv);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(t_points_summed),
      cmocka_unit_test(t_points_unreadable),
      cmocka_unit_test(t_events_grouped),
      cmocka_unit_test(t_verdicts),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
