/* The manifest's `monitor:` section: what the monitor stage asks
 * CloudMonitor and ActionTrail (docs/monitor.md).  Every default is filled
 * in here, so the stage reads typed values only.  The metric names and
 * dimensions of namespace acs_kms are not published by the vendor
 * (reference section 6: UNCONFIRMED); the defaults are our assumption
 * (latency_1m, code_4xx_1m, code_5xx_1m come from a non-official agent
 * guide) and match kmsim, so an operator can set the real names here. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "manifest/build.h"
#include "util/util.h"

static const char *const k_metric_keys[KM_MON__COUNT] = {
    "requests", "qps", "latency", "code_4xx", "code_5xx", "throttled"};
static const char *const k_metric_defaults[KM_MON__COUNT] = {
    "requests", "qps", "latency_1m", "code_4xx_1m", "code_5xx_1m", "throttled"};

/* The data-plane calls of KMS that an application makes (ActionTrail
 * EventName): the caller of any of them still on the shared gateway after
 * the migration has not switched its endpoint. */
static const char *const k_events[] = {"Encrypt",
                                       "Decrypt",
                                       "ReEncrypt",
                                       "GenerateDataKey",
                                       "GenerateDataKeyWithoutPlaintext",
                                       "ExportDataKey",
                                       "GenerateAndExportDataKey",
                                       "AsymmetricSign",
                                       "AsymmetricVerify",
                                       "AsymmetricEncrypt",
                                       "AsymmetricDecrypt",
                                       "GetPublicKey",
                                       "GetSecretValue",
                                       NULL};

static void defaults(km_mf_monitor_t *mo) {
  mo->enabled = true;
  mo->window_s = 3600;
  mo->period_s = 60;
  mo->throttle_act_pct = 1.0;
}

/* A Dimensions template must be a JSON array (or object) once its
 * placeholders are replaced. */
static bool dims_ok(const char *t) {
  char *s = km_xstrdup(t);
  static const char *const ph[] = {"{account_id}", "{region}", "{instance_id}"};
  for (size_t i = 0; i < KM_ARRAY_SIZE(ph); i++) {
    char *at;
    size_t l = strlen(ph[i]);
    while ((at = strstr(s, ph[i])) != NULL) {
      memset(at, 'x', l);
    }
  }
  json_t *j = json_loads(s, 0, NULL);
  bool ok = json_is_array(j) || json_is_object(j);
  json_decref(j);
  free(s);
  return ok;
}

static void rd_dims(km_mctx_t *c, const km_ynode_t *n, const char *k,
                    char **out) {
  const km_ynode_t *v = km__ymap_get(n, k);
  char name[64];
  snprintf(name, sizeof(name), "monitor.dimensions.%s", k);
  if (v == NULL || !km__rd_str(c, name, v, out)) return;
  if (!dims_ok(*out)) {
    km__err(c, v,
            "'%s' must be JSON, e.g. '[{\"instanceId\":\"{instance_id}\"}]' "
            "({account_id}, {region} and {instance_id} are replaced)",
            name);
    free(*out);
    *out = NULL;
  }
}

static void rd_metrics(km_mctx_t *c, const km_ynode_t *n, km_mf_monitor_t *mo) {
  static const char *const keys[] = {
      "requests", "qps", "latency", "code_4xx", "code_5xx", "throttled", NULL};
  if (!km__is_mapping(c, "monitor.metrics", n)) return;
  km__check_keys(c, n, keys, "monitor.metrics");
  char name[64];
  for (size_t i = 0; i < KM_MON__COUNT; i++) {
    snprintf(name, sizeof(name), "monitor.metrics.%s", k_metric_keys[i]);
    km__rd_str(c, name, km__ymap_get(n, k_metric_keys[i]), &mo->metric[i]);
  }
}

static void rd_window(km_mctx_t *c, const km_ynode_t *n, km_mf_monitor_t *mo) {
  const km_ynode_t *w = km__ymap_get(n, "window");
  int64_t secs = 0;
  if (w == NULL) return;
  if (w->kind != KM_YSCALAR || km__parse_duration(w->str, &secs) || secs < 1 ||
      secs > 31 * 86400)
    km__err(c, w,
            "'monitor.window' must be a duration from 1s to 31d (the "
            "CloudMonitor limit) such as 1h, 30m or 10s");
  else
    mo->window_s = secs;
}

void km__build_monitor(km_mctx_t *c, const km_ynode_t *n) {
  static const char *const keys[] = {
      "enabled", "window",     "period", "namespace",
      "metrics", "dimensions", "events", "throttle_act_percent",
      NULL};
  km_mf_monitor_t *mo = &c->m->monitor;
  defaults(mo);
  if (n != NULL && km__is_mapping(c, "monitor", n)) {
    km__check_keys(c, n, keys, "monitor");
    km__rd_bool(c, "monitor.enabled", km__ymap_get(n, "enabled"), &mo->enabled);
    rd_window(c, n, mo);
    long p = 0;
    const km_ynode_t *pn = km__ymap_get(n, "period");
    if (km__rd_int(c, "monitor.period", pn, 15, 3600, &p)) {
      if (p != 15 && p != 60 && p != 900 && p != 3600)
        km__err(c, pn,
                "'monitor.period' must be 15, 60, 900 or 3600 seconds "
                "(CloudMonitor's periods)");
      else
        mo->period_s = p;
    }
    km__rd_str(c, "monitor.namespace", km__ymap_get(n, "namespace"), &mo->ns);
    const km_ynode_t *m = km__ymap_get(n, "metrics");
    if (m != NULL) rd_metrics(c, m, mo);
    const km_ynode_t *d = km__ymap_get(n, "dimensions");
    static const char *const dk[] = {"shared", "dedicated", NULL};
    if (d != NULL && km__is_mapping(c, "monitor.dimensions", d)) {
      km__check_keys(c, d, dk, "monitor.dimensions");
      rd_dims(c, d, "shared", &mo->dims_shared);
      rd_dims(c, d, "dedicated", &mo->dims_dedicated);
    }
    km__rd_strlist(c, "monitor.events", km__ymap_get(n, "events"), false,
                   &mo->events);
    long pct = 0;
    if (km__rd_int(c, "monitor.throttle_act_percent",
                   km__ymap_get(n, "throttle_act_percent"), 0, 100, &pct))
      mo->throttle_act_pct = (double)pct;
  }
  if (mo->ns == NULL) mo->ns = km_xstrdup("acs_kms");
  for (size_t i = 0; i < KM_MON__COUNT; i++)
    if (mo->metric[i] == NULL) mo->metric[i] = km_xstrdup(k_metric_defaults[i]);
  /* Shared gateway: the caller's own traffic in the region (no instance);
   * dedicated: the instance's gateway (kmsim's dimensions, our
   * assumption for the cloud). */
  if (mo->dims_shared == NULL)
    mo->dims_shared = km_xstrdup("[{\"userId\":\"{account_id}\"}]");
  if (mo->dims_dedicated == NULL)
    mo->dims_dedicated = km_xstrdup("[{\"instanceId\":\"{instance_id}\"}]");
  if (mo->events.n == 0)
    for (size_t i = 0; k_events[i] != NULL; i++)
      km__strlist_push(&mo->events, k_events[i]);
}

void km__monitor_free(km_mf_monitor_t *mo) {
  free(mo->ns);
  for (size_t i = 0; i < KM_MON__COUNT; i++)
    free(mo->metric[i]);
  free(mo->dims_shared);
  free(mo->dims_dedicated);
  km__strlist_free(&mo->events);
}
