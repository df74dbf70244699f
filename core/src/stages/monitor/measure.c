/* Reading CloudMonitor and ActionTrail replies into the typed observation,
 * and judging it (docs/monitor.md "Verdicts").  Fail closed: a reply whose
 * datapoints or events cannot be read is an error for the caller to turn
 * into an "act" finding naming the call and its RequestId, never an empty
 * (and so "ok") measurement.  The thresholds are ours (the procedure,
 * section 4, says "a high number of throttling errors" and "a high
 * frequency of requests" without figures) and documented as such. */
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

/* ---- verdicts ---- */

static void residual(const km_inv_t *inv, km_obs_t *o, bool truncated) {
  size_t mig = 0, unknown = 0;
  char list[700] = "";
  for (size_t i = 0; i < o->ncallers; i++) {
    const km_obs_caller_t *c = &o->callers[i];
    if (c->migrated) {
      mig++;
      size_t l = strlen(list);
      if (l < sizeof(list) - 120)
        snprintf(list + l, sizeof(list) - l, "%s%s from %s (%lld calls)",
                 l ? ", " : "", c->access_key_id, c->source_ip,
                 (long long)c->count);
    } else if (c->resources.n == 0) {
      unknown++;
    }
  }
  char msg[900], act[400];
  snprintf(act, sizeof(act),
           "switch these clients' endpoint to the instance gateway "
           "%s.cryptoservice.kms.aliyuncs.com (KMS console: Instances -> "
           "instance details, or the SDK's KMS instance endpoint), then "
           "observe again with `kmsmig observe RUN_DIR`",
           inv->instance_id != NULL ? inv->instance_id : "<instance>");
  if (mig > 0) {
    snprintf(msg, sizeof(msg),
             "%zu caller(s) still call the shared gateway for keys or secrets "
             "this run migrated: %s",
             mig, list);
    km_obs_add_finding(o, "monitor.residual_callers", KM_OBS_ACT, msg, act);
  } else if (unknown > 0 || truncated) {
    snprintf(msg, sizeof(msg),
             "%zu caller(s) on the shared gateway made calls whose key or "
             "secret ActionTrail does not name%s",
             unknown,
             truncated ? "; and there were more events than kmsmig reads" : "");
    km_obs_add_finding(o, "monitor.residual_callers", KM_OBS_WATCH, msg,
                       "check these callers in ActionTrail (EventName, "
                       "ServiceName Kms) and switch the ones that use migrated "
                       "keys");
  } else {
    snprintf(msg, sizeof(msg),
             "no caller used a migrated key or secret through the shared "
             "gateway (%zu caller(s) seen, on KMS 1.0 resources only)",
             o->ncallers);
    km_obs_add_finding(o, "monitor.residual_callers", KM_OBS_OK, msg, "none");
  }
}

static void throttling(const km_inv_t *inv, km_obs_t *o, double act_pct) {
  const km_obs_gw_t *d = &o->after.dedicated;
  if (!d->measured) return;
  double pct =
      d->requests > 0 ? 100.0 * (double)d->throttled / (double)d->requests : 0;
  char msg[400], act[400], spec[32];
  if (o->instance_spec >= 0)
    snprintf(spec, sizeof(spec), "%lld", (long long)o->instance_spec);
  else
    snprintf(spec, sizeof(spec), "unknown");
  snprintf(msg, sizeof(msg),
           "the dedicated gateway of %s (instance spec %s) throttled %lld of "
           "%lld requests (%.1f%%)",
           inv->instance_id ? inv->instance_id : "?", spec,
           (long long)d->throttled, (long long)d->requests, pct);
  km_obs_verdict_t v = d->throttled == 0 ? KM_OBS_OK
                       : pct >= act_pct  ? KM_OBS_ACT
                                         : KM_OBS_WATCH;
  if (v == KM_OBS_OK)
    snprintf(act, sizeof(act), "none");
  else
    snprintf(act, sizeof(act),
             "raise the instance's computing performance above spec %s (KMS "
             "console: Instances -> Upgrade; the peak was %.0f QPS) or lower "
             "the clients' rate / adjust the throttling policy (procedure "
             "section 4)",
             spec, d->qps_max);
  km_obs_add_finding(o, "monitor.dedicated_throttled", v, msg, act);
}

/* Share of 4xx/5xx answers that are not throttling (its own finding). */
static double err_share(const km_obs_gw_t *g) {
  int64_t c4 = g->c4xx >= g->throttled ? g->c4xx - g->throttled : g->c4xx;
  return g->requests > 0 ? (double)(c4 + g->c5xx) / (double)g->requests : 0;
}

static void errors_and_traffic(km_obs_t *o) {
  const km_obs_gw_t *b = &o->baseline.shared, *a = &o->after.shared;
  char msg[400];
  if (!o->baseline.present || !b->measured) {
    km_obs_add_finding(o, "monitor.baseline", KM_OBS_WATCH,
                       "no baseline of the shared gateway was measured before "
                       "the migration: nothing to compare with",
                       "compare with the shared gateway dashboard of the "
                       "region in CloudMonitor for the time before the run");
    return;
  }
  if (!a->measured) return;
  double sb = err_share(b) * 100, sa = err_share(a) * 100;
  snprintf(msg, sizeof(msg),
           "4xx/5xx on the shared gateway: %.1f%% before, %.1f%% after "
           "(%lld and %lld 5xx)",
           sb, sa, (long long)b->c5xx, (long long)a->c5xx);
  bool worse = sa > sb + 5.0 || (a->c5xx > 0 && b->c5xx == 0);
  km_obs_add_finding(
      o, "monitor.shared_errors", worse ? KM_OBS_WATCH : KM_OBS_OK, msg,
      worse ? "look up the ErrorCode of the failing calls in ActionTrail "
              "(EventName, ServiceName Kms): insufficient permissions or a "
              "key that does not exist (procedure section 4)"
            : "none");
  snprintf(msg, sizeof(msg),
           "shared-gateway QPS %.2f before, %.2f after (%lld and %lld "
           "requests)",
           b->qps_avg, a->qps_avg, (long long)b->requests,
           (long long)a->requests);
  /* The metrics count every call, kmsmig's own too: only data-plane
   * callers still seen in ActionTrail make a QPS that did not fall worth
   * watching. */
  bool fell = a->qps_avg < b->qps_avg || a->requests == 0;
  bool quiet = fell || o->migrated.n == 0 || o->ncallers == 0;
  km_obs_add_finding(o, "monitor.shared_traffic",
                     quiet ? KM_OBS_OK : KM_OBS_WATCH, msg,
                     quiet ? "none"
                           : "traffic has not moved off the shared gateway: "
                             "see monitor.residual_callers");
  const km_obs_gw_t *d = &o->after.dedicated;
  if (d->measured && d->requests > 0) {
    double ds = err_share(d) * 100;
    snprintf(
        msg, sizeof(msg),
        "dedicated gateway: %lld requests, %.1f%% 4xx/5xx besides throttling, "
        "latency "
        "%.1f ms (shared before: %.1f ms)",
        (long long)d->requests, ds, d->latency_ms_avg, b->latency_ms_avg);
    bool bad = d->c5xx > 0 || ds > sb + 5.0;
    km_obs_add_finding(o, "monitor.dedicated_errors",
                       bad ? KM_OBS_WATCH : KM_OBS_OK, msg,
                       bad ? "check the failing calls in the instance's access "
                             "logs (SLS: key ID, API, status code)"
                           : "none");
  }
}

void km__mon_judge(const km_inv_t *inv, km_obs_t *o, double throttle_act_pct,
                   bool trail_truncated) {
  residual(inv, o, trail_truncated);
  throttling(inv, o, throttle_act_pct);
  errors_and_traffic(o);
}
