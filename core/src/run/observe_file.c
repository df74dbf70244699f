/* <run>/observe.json: the gateway observations of a run (docs/monitor.md
 * "observe.json"), written 0600 and atomically (temporary file, fsync,
 * rename) at the end of `kmsmig run` and by `kmsmig observe`, which reads
 * it back for the baselines and the pipelines to observe again.  Other
 * tools render it (reports, the wave gate): the shape is a contract. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/report.h"
#include "run/observe_file.h"
#include "util/util.h"

static bool same_pipeline(const json_t *e, const km_inv_t *inv) {
  const char *a = json_string_value(json_object_get(e, "account"));
  const char *r = json_string_value(json_object_get(e, "region"));
  return a != NULL && r != NULL && strcmp(a, inv->account) == 0 &&
         strcmp(r, inv->region) == 0;
}

int km_observe_write(const char *dir, const char *manifest, const char *cwd,
                     km_inv_t *const *invs, size_t n, const json_t *earlier,
                     km_err_t *err) {
  char ts[21];
  km_iso8601((int64_t)time(NULL), ts);
  json_t *pl = json_array();
  for (size_t i = 0; i < n; i++)
    json_array_append_new(pl, km_obs_to_json(invs[i]));
  /* entries of an earlier file that this process did not observe stay */
  size_t i;
  const json_t *e;
  json_array_foreach(json_object_get(earlier, "pipelines"), i, e) {
    bool mine = false;
    for (size_t k = 0; k < n && !mine; k++)
      mine = same_pipeline(e, invs[k]);
    if (!mine) json_array_append(pl, (json_t *)e);
  }
  json_t *doc = json_pack("{s:i, s:s, s:s?, s:s?, s:o}", "observe_version", 1,
                          "generated", ts, "manifest", manifest, "cwd", cwd,
                          "pipelines", pl);
  char *path = km_xasprintf("%s/observe.json", dir);
  int rc = km_report_write(doc, path, err);
  free(path);
  json_decref(doc);
  return rc;
}

int km_observe_read(const char *dir, json_t **out, km_err_t *err) {
  *out = NULL;
  char *path = km_xasprintf("%s/observe.json", dir);
  json_error_t je;
  json_t *doc = json_load_file(path, 0, &je);
  int rc = 0;
  if (doc == NULL) {
    rc = km__err_set(err, KM_ENOENT,
                     "%s: %s (a run writes it when it ends, unless monitor: "
                     "enabled is false; run `kmsmig run` to the end first)",
                     path, je.text);
  } else if (json_integer_value(json_object_get(doc, "observe_version")) != 1 ||
             !json_is_array(json_object_get(doc, "pipelines"))) {
    rc = km__err_set(err, KM_EPARSE,
                     "%s: not an observe.json of version 1 (observe_version, "
                     "pipelines)",
                     path);
    json_decref(doc);
    doc = NULL;
  }
  free(path);
  *out = doc;
  return rc;
}

int km_observe_attach(const json_t *doc, km_inv_t *inv, km_err_t *err) {
  size_t i;
  const json_t *e;
  json_array_foreach(json_object_get(doc, "pipelines"), i, e) {
    if (!same_pipeline(e, inv)) continue;
    km_obs_t *o = NULL;
    int rc = km_obs_from_json(e, &o, err);
    if (rc < 0) return rc;
    km_obs_free(inv->obs);
    inv->obs = o;
    return 0;
  }
  return 0; /* not in the run: nothing to observe */
}

static void print_finding(FILE *f, const km_inv_t *inv,
                          const km_obs_finding_t *x) {
  char msg[1000], act[600];
  /* caller ids, addresses and user agents come from the server */
  km_text_clean(x->message, msg, sizeof(msg));
  km_text_clean(x->action, act, sizeof(act));
  fprintf(f, "  %-5s %s %s: %s: %s\n",
          x->verdict == KM_OBS_ACT ? "ACT" : "watch", inv->account, inv->region,
          x->id, msg);
  fprintf(f, "        action: %s\n", act);
}

void km_observe_print(FILE *f, km_inv_t *const *invs, size_t n, const char *dir,
                      bool all) {
  size_t act = 0, watch = 0;
  for (size_t i = 0; i < n; i++) {
    size_t a, w;
    km_obs_count(invs[i]->obs, &a, &w);
    act += a;
    watch += w;
  }
  fprintf(f, "  observe    %zu act   %zu watch   (%s/observe.json)\n", act,
          watch, dir);
  for (size_t i = 0; i < n; i++) {
    const km_obs_t *o = invs[i]->obs;
    for (size_t k = 0; o != NULL && k < o->nfindings; k++) {
      const km_obs_finding_t *x = &o->findings[k];
      if (x->verdict == KM_OBS_ACT || (all && x->verdict == KM_OBS_WATCH))
        print_finding(f, invs[i], x);
    }
  }
}

size_t km_observe_act(km_inv_t *const *invs, size_t n) {
  size_t act = 0;
  for (size_t i = 0; i < n; i++) {
    size_t a, w;
    km_obs_count(invs[i]->obs, &a, &w);
    act += a;
  }
  return act;
}
