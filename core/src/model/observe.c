/* The typed gateway observation of a pipeline (model/observe.h) and its
 * observe.json form.  The JSON shape is the contract other tools render
 * (docs/monitor.md "observe.json"): keep the fields, add only. */
#include <stdlib.h>
#include <string.h>

#include "model/intern.h"
#include "model/observe.h"
#include "util/util.h"

km_obs_t *km_obs_new(void) {
  km_obs_t *o = km_xcalloc(1, sizeof(*o));
  o->instance_spec = -1;
  return o;
}

static void caller_free(km_obs_caller_t *c) {
  free(c->access_key_id);
  free(c->source_ip);
  free(c->user_agent);
  km_inv_strs_free(&c->events);
  km_inv_strs_free(&c->resources);
}

void km_obs_reset_after(km_obs_t *o) {
  for (size_t i = 0; i < o->ncallers; i++)
    caller_free(&o->callers[i]);
  free(o->callers);
  o->callers = NULL;
  o->ncallers = 0;
  for (size_t i = 0; i < o->nfindings; i++) {
    km_str_free(o->findings[i].id);
    free(o->findings[i].message);
    km_str_free(o->findings[i].action);
  }
  free(o->findings);
  o->findings = NULL;
  o->nfindings = 0;
  o->judged = o->trail_looked = o->trail_truncated = false;
  free(o->after);
  o->after = NULL;
}

km_obs_window_t *km_obs_after(km_obs_t *o) {
  if (o->after == NULL) o->after = km_xcalloc(1, sizeof(*o->after));
  return o->after;
}

const km_obs_window_t *km_obs_after_of(const km_obs_t *o) {
  static const km_obs_window_t none;
  return o != NULL && o->after != NULL ? o->after : &none;
}

void km_obs_free(km_obs_t *o) {
  if (o == NULL) return;
  km_obs_reset_after(o);
  km_inv_strs_free(&o->migrated);
  free(o);
}

void km_obs_add_finding(km_obs_t *o, const char *id, km_obs_verdict_t v,
                        const char *message, const char *action) {
  o->findings =
      km_xrealloc(o->findings, (o->nfindings + 1) * sizeof(*o->findings));
  /* Ids and actions repeat across a fleet's pipelines: one interned copy
   * each; the message carries this pipeline's figures. */
  o->findings[o->nfindings++] = (km_obs_finding_t){
      (char *)km_intern(id), v, km_xstrdup(message), (char *)km_intern(action)};
}

static bool eq(const char *a, const char *b) {
  return strcmp(a != NULL ? a : "", b != NULL ? b : "") == 0;
}

km_obs_caller_t *km_obs_caller(km_obs_t *o, const char *akid, const char *ip,
                               const char *ua) {
  for (size_t i = 0; i < o->ncallers; i++)
    if (eq(o->callers[i].access_key_id, akid) &&
        eq(o->callers[i].source_ip, ip))
      return &o->callers[i];
  o->callers = km_xrealloc(o->callers, (o->ncallers + 1) * sizeof(*o->callers));
  km_obs_caller_t *c = &o->callers[o->ncallers++];
  memset(c, 0, sizeof(*c));
  c->access_key_id = km_xstrdup(akid != NULL ? akid : "");
  c->source_ip = km_xstrdup(ip != NULL ? ip : "");
  c->user_agent = km_xstrdup(ua != NULL ? ua : "");
  return c;
}

const char *km_obs_verdict_name(km_obs_verdict_t v) {
  static const char *const n[] = {"ok", "watch", "act"};
  return (unsigned)v < KM_ARRAY_SIZE(n) ? n[v] : "act";
}

static void count_one(const km_obs_finding_t *f, void *ud) {
  size_t *n = ud;
  if (f->verdict == KM_OBS_ACT) n[0]++;
  if (f->verdict == KM_OBS_WATCH) n[1]++;
}

void km_obs_count(const km_obs_t *o, size_t *act, size_t *watch) {
  size_t n[2] = {0, 0};
  km_obs_each_finding(o, NULL, count_one, n);
  *act = n[0];
  *watch = n[1];
}

/* ---- observe.json ---- */

static json_t *time_json(int64_t t) {
  char b[21];
  km_iso8601(t, b);
  return json_string(b);
}

static json_t *gw_json(const km_obs_gw_t *g) {
  if (!g->measured) return json_null();
  return json_pack("{s:I, s:f, s:f, s:f, s:{s:I, s:I, s:I}}", "requests",
                   (json_int_t)g->requests, "qps_avg", g->qps_avg, "qps_max",
                   g->qps_max, "latency_ms_avg", g->latency_ms_avg, "codes",
                   "4xx", (json_int_t)g->c4xx, "5xx", (json_int_t)g->c5xx,
                   "Throttling", (json_int_t)g->throttled);
}

static json_t *window_json(const km_obs_window_t *w) {
  if (!w->present) return json_null();
  return json_pack("{s:{s:o, s:o}, s:{s:o, s:o}}", "window", "start",
                   time_json(w->start), "end", time_json(w->end), "gateways",
                   "shared", gw_json(&w->shared), "dedicated",
                   gw_json(&w->dedicated));
}

static json_t *strs_json(const km_inv_strs_t *l) {
  json_t *a = json_array();
  for (size_t i = 0; i < l->n; i++)
    json_array_append_new(a, json_string(l->v[i]));
  return a;
}

static void finding_json(const km_obs_finding_t *f, void *ud) {
  json_array_append_new(ud,
                        json_pack("{s:s, s:s, s:s, s:s}", "id", f->id,
                                  "verdict", km_obs_verdict_name(f->verdict),
                                  "message", f->message, "action", f->action));
}

json_t *km_obs_to_json(const km_inv_t *inv) {
  const km_obs_t *o = inv->obs;
  json_t *e = json_pack("{s:s, s:s?, s:s, s:s?}", "account", inv->account,
                        "account_id", inv->account_id, "region", inv->region,
                        "instance_id", inv->instance_id);
  int64_t spec = o != NULL ? o->instance_spec : -1;
  if (spec < 0 && inv->inst.present) spec = inv->inst.spec;
  json_object_set_new(e, "instance_spec",
                      spec >= 0 ? json_integer(spec) : json_null());
  if (o == NULL) {
    /* monitoring off, or the pipeline never reached preflight */
    json_object_set_new(e, "baseline", json_null());
    json_object_set_new(e, "after", json_null());
    json_object_set_new(e, "residual_callers", json_array());
    json_object_set_new(e, "findings", json_array());
    return e;
  }
  json_object_set_new(e, "migrate_finished", json_boolean(o->migrate_finished));
  json_object_set_new(e, "migrated", strs_json(&o->migrated));
  if (o->migrated_at > 0)
    json_object_set_new(e, "migrated_at", time_json(o->migrated_at));
  json_object_set_new(e, "baseline", window_json(&o->baseline));
  json_object_set_new(e, "after", window_json(km_obs_after_of(o)));
  json_t *rc = json_array();
  for (size_t i = 0; i < o->ncallers; i++) {
    const km_obs_caller_t *c = &o->callers[i];
    json_array_append_new(
        rc,
        json_pack("{s:s, s:s, s:s, s:I, s:o, s:o, s:o, s:b}", "access_key_id",
                  c->access_key_id, "source_ip", c->source_ip, "user_agent",
                  c->user_agent, "count", (json_int_t)c->count, "last_seen",
                  time_json(c->last_seen), "events", strs_json(&c->events),
                  "resources", strs_json(&c->resources), "migrated",
                  c->migrated));
  }
  json_object_set_new(e, "residual_callers", rc);
  json_t *fs = json_array();
  km_obs_each_finding(o, inv->instance_id, finding_json, fs);
  json_object_set_new(e, "findings", fs);
  return e;
}

static int bad(km_err_t *err, const char *what) {
  return km__err_set(err, KM_EPARSE,
                     "observe.json: %s is missing or not of its type; the "
                     "file was changed or is from another kmsmig: run "
                     "`kmsmig observe` on an untouched run directory",
                     what);
}

static int rd_time(const json_t *o, const char *k, int64_t *t) {
  const char *s = json_string_value(json_object_get(o, k));
  return s != NULL && km_parse_iso8601(s, t) == 0 ? 0 : KM_EPARSE;
}

static int gw_from(const json_t *j, km_obs_gw_t *g) {
  if (json_is_null(j)) return 0;
  const json_t *codes = json_object_get(j, "codes");
  const json_t *r = json_object_get(j, "requests");
  if (!json_is_integer(r) || !json_is_object(codes)) return KM_EPARSE;
  g->measured = true;
  g->requests = json_integer_value(r);
  g->qps_avg = json_number_value(json_object_get(j, "qps_avg"));
  g->qps_max = json_number_value(json_object_get(j, "qps_max"));
  g->latency_ms_avg = json_number_value(json_object_get(j, "latency_ms_avg"));
  g->c4xx = json_integer_value(json_object_get(codes, "4xx"));
  g->c5xx = json_integer_value(json_object_get(codes, "5xx"));
  g->throttled = json_integer_value(json_object_get(codes, "Throttling"));
  return 0;
}

static int window_from(const json_t *j, km_obs_window_t *w) {
  if (j == NULL || json_is_null(j)) return 0;
  const json_t *win = json_object_get(j, "window");
  const json_t *gws = json_object_get(j, "gateways");
  if (!json_is_object(gws) || rd_time(win, "start", &w->start) < 0 ||
      rd_time(win, "end", &w->end) < 0 ||
      gw_from(json_object_get(gws, "shared"), &w->shared) < 0 ||
      gw_from(json_object_get(gws, "dedicated"), &w->dedicated) < 0)
    return KM_EPARSE;
  w->present = true;
  return 0;
}

int km_obs_from_json(const json_t *entry, km_obs_t **out, km_err_t *err) {
  *out = NULL;
  if (!json_is_object(entry)) return bad(err, "a pipeline entry");
  km_obs_t *o = km_obs_new();
  const json_t *spec = json_object_get(entry, "instance_spec");
  if (json_is_integer(spec)) o->instance_spec = json_integer_value(spec);
  o->migrate_finished =
      json_is_true(json_object_get(entry, "migrate_finished"));
  if (json_object_get(entry, "migrated_at") != NULL &&
      rd_time(entry, "migrated_at", &o->migrated_at) < 0) {
    km_obs_free(o);
    return bad(err, "migrated_at");
  }
  const json_t *m = json_object_get(entry, "migrated");
  size_t i;
  const json_t *v;
  json_array_foreach(m, i, v) {
    if (json_is_string(v)) km_inv_strs_add(&o->migrated, json_string_value(v));
  }
  if (window_from(json_object_get(entry, "baseline"), &o->baseline) < 0) {
    km_obs_free(o);
    return bad(err, "baseline");
  }
  *out = o;
  return 0;
}
