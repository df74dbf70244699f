/* Reading CloudMonitor and ActionTrail replies into the typed observation
 * (model/observe_judge.c judges it, docs/monitor.md "Verdicts").  Fail
 * closed: a reply whose datapoints or events cannot be read is an error
 * for the caller to turn into an "act" finding naming the call and its
 * RequestId, never an empty (and so "ok") measurement. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stages/monitor/monitor.h"
#include "util/util.h"

static const char *str_at(const json_t *o, const char *k) {
  const char *s = json_string_value(json_object_get(o, k));
  return s != NULL ? s : "";
}

static double num(const json_t *o, const char *k, bool *ok) {
  const json_t *v = json_object_get(o, k);
  if (json_is_number(v)) return json_number_value(v);
  const char *s = json_string_value(v);
  char *end = NULL;
  double d = s != NULL ? strtod(s, &end) : 0;
  if (s == NULL || end == s || *end != '\0' || !isfinite(d)) *ok = false;
  return d;
}

int km__mon_add_points(const json_t *body, mon_metric_t *m, const char **next,
                       char *why, size_t n) {
  *next = NULL;
  const json_t *succ = json_object_get(body, "Success");
  if (json_is_false(succ)) {
    snprintf(why, n, "Success is false (Code %s: %s)", str_at(body, "Code"),
             str_at(body, "Message"));
    return KM_EPARSE;
  }
  /* Datapoints is a JSON-encoded string (reference section 6) */
  const char *text = json_string_value(json_object_get(body, "Datapoints"));
  if (text == NULL) {
    snprintf(why, n, "no Datapoints text in the reply");
    return KM_EPARSE;
  }
  json_error_t je;
  json_t *pts = text[0] == '\0' ? json_array() : json_loads(text, 0, &je);
  if (!json_is_array(pts)) {
    json_decref(pts);
    snprintf(why, n, "Datapoints is not a JSON array");
    return KM_EPARSE;
  }
  size_t i;
  json_t *p;
  json_array_foreach(pts, i, p) {
    bool ok = json_is_object(p);
    double avg = num(p, "Average", &ok);
    double mx =
        json_object_get(p, "Maximum") != NULL ? num(p, "Maximum", &ok) : avg;
    double sum = json_object_get(p, "Sum") != NULL ? num(p, "Sum", &ok) : avg;
    if (!ok) {
      json_decref(pts);
      snprintf(why, n, "datapoint %zu has no readable Average/Maximum/Sum",
               i + 1);
      return KM_EPARSE;
    }
    m->sum += sum;
    m->avg_sum += avg;
    if (m->points == 0 || mx > m->max) m->max = mx;
    m->points++;
  }
  json_decref(pts);
  const char *nt = json_string_value(json_object_get(body, "NextToken"));
  if (nt != NULL && nt[0] != '\0') *next = nt;
  return 0;
}

void km__mon_gateway(const mon_metric_t *m, int64_t span, km_obs_gw_t *g) {
  memset(g, 0, sizeof(*g));
  g->measured = true;
  for (size_t i = 0; i < KM_MON__COUNT; i++)
    g->measured &= m[i].answered;
  g->requests = llround(m[KM_MON_REQUESTS].sum);
  g->qps_avg = span > 0 ? (double)g->requests / (double)span : 0;
  g->qps_max = m[KM_MON_QPS].max;
  if (g->qps_max < g->qps_avg) g->qps_max = g->qps_avg;
  const mon_metric_t *l = &m[KM_MON_LATENCY];
  g->latency_ms_avg = l->points > 0 ? l->avg_sum / (double)l->points : 0;
  g->c4xx = llround(m[KM_MON_4XX].sum);
  g->c5xx = llround(m[KM_MON_5XX].sum);
  g->throttled = llround(m[KM_MON_THROTTLED].sum);
  /* two decimals are what a reader compares */
  g->qps_avg = round(g->qps_avg * 100) / 100;
  g->qps_max = round(g->qps_max * 100) / 100;
  g->latency_ms_avg = round(g->latency_ms_avg * 100) / 100;
}

/* ---- ActionTrail ---- */

/* The key or secret an event names (resourceName, else the request's
 * KeyId / SecretName), or "". */
static const char *event_resource(const json_t *e) {
  const char *r = str_at(e, "resourceName");
  if (r[0] != '\0') return r;
  const json_t *rp = json_object_get(e, "requestParameters");
  r = str_at(rp, "KeyId");
  return r[0] != '\0' ? r : str_at(rp, "SecretName");
}

static int add_event(const json_t *e, km_obs_t *o, char *why, size_t n,
                     size_t at) {
  int64_t t = 0;
  const char *name = str_at(e, "eventName");
  const json_t *uid = json_object_get(e, "userIdentity");
  if (!json_is_object(e) || name[0] == '\0' ||
      km_parse_iso8601(str_at(e, "eventTime"), &t) != 0 ||
      !json_is_object(uid)) {
    snprintf(why, n,
             "event %zu has no readable eventName, eventTime or "
             "userIdentity",
             at + 1);
    return KM_EPARSE;
  }
  /* a call that reached an instance's own gateway is not a residual one */
  if (strstr(str_at(e, "eventSource"), ".cryptoservice.kms.") != NULL) return 0;
  km_obs_caller_t *c =
      km_obs_caller(o, str_at(uid, "accessKeyId"), str_at(e, "sourceIpAddress"),
                    str_at(e, "userAgent"));
  c->count++;
  if (t > c->last_seen) {
    c->last_seen = t;
    free(c->user_agent); /* the latest one the caller sent */
    c->user_agent = km_xstrdup(str_at(e, "userAgent"));
  }
  km_inv_strs_add(&c->events, name);
  const char *res = event_resource(e);
  if (res[0] != '\0') {
    km_inv_strs_add(&c->resources, res);
    if (km_inv_strs_has(&o->migrated, res)) c->migrated = true;
  }
  return 0;
}

int km__mon_add_events(const json_t *body, km_obs_t *o, const char **next,
                       char *why, size_t n) {
  *next = NULL;
  const json_t *evs = json_object_get(body, "Events");
  if (!json_is_array(evs)) {
    snprintf(why, n, "no Events list in the reply");
    return KM_EPARSE;
  }
  size_t i;
  const json_t *e;
  json_array_foreach(evs, i, e) {
    if (add_event(e, o, why, n, i) < 0) return KM_EPARSE;
  }
  const char *nt = json_string_value(json_object_get(body, "NextToken"));
  if (nt != NULL && nt[0] != '\0') *next = nt;
  return 0;
}
