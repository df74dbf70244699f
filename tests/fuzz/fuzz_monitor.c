/* libFuzzer target: the monitor stage's reply readers
 * (core/src/stages/monitor/measure.c) and observe.json's reader
 * (core/src/model/observe.c).  Input: one selector byte (0: a CloudMonitor
 * DescribeMetricList reply, 1: an ActionTrail LookupEvents reply, 2: an
 * observe.json pipeline entry), then the JSON.  Whatever the reader
 * accepts is judged and written back. */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "stages/monitor/monitor.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  json_t *body = json_loadb((const char *)data + 1, size - 1, 0, NULL);
  if (body == NULL) return 0;
  char why[300];
  const char *next = NULL;
  km_inv_t *inv =
      km_inv_new("a", "1300000000000001", "cn-hangzhou", "kst-hzzmon0001");
  inv->obs = km_obs_new();
  km_inv_strs_add(&inv->obs->migrated, "key-1");
  int rc = 0;
  switch (data[0] % 3) {
  case 0: {
    mon_metric_t m[KM_MON__COUNT];
    memset(m, 0, sizeof(m));
    for (int i = 0; i < KM_MON__COUNT; i++) {
      rc = km__mon_add_points(body, &m[i], &next, why, sizeof(why));
      if (rc != 0 && rc != KM_EPARSE) abort();
      m[i].answered = rc == 0;
    }
    km_obs_after(inv->obs)->present = true;
    km__mon_gateway(m, 60, &km_obs_after(inv->obs)->dedicated);
    break;
  }
  case 1:
    rc = km__mon_add_events(body, inv->obs, &next, why, sizeof(why));
    if (rc != 0 && rc != KM_EPARSE) abort();
    break;
  default: {
    km_obs_t *o = NULL;
    km_err_t e;
    rc = km_obs_from_json(body, &o, &e);
    if (rc != 0 && rc != KM_EPARSE) abort();
    if ((rc == 0) != (o != NULL)) abort();
    if (o != NULL) {
      km_obs_free(inv->obs);
      inv->obs = o;
    }
    break;
  }
  }
  if (inv->obs != NULL) {
    inv->obs->judged = true;
    inv->obs->throttle_act_pct = 1.0;
  }
  json_decref(km_obs_to_json(inv));
  km_inv_free(inv);
  json_decref(body);
  return 0;
}
