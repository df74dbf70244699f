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
#include "model/strmap.h"
#include "run/observe_file.h"
#include "util/util.h"

static bool same_pipeline(const json_t *e, const km_inv_t *inv) {
  const char *a = json_string_value(json_object_get(e, "account"));
  const char *r = json_string_value(json_object_get(e, "region"));
  return a != NULL && r != NULL && strcmp(a, inv->account) == 0 &&
         strcmp(r, inv->region) == 0;
}

typedef struct {
  const char *manifest, *cwd, *ts;
  km_inv_t *const *invs;
  size_t n;
  const json_t *earlier;
} wr_t;

static int put(FILE *f, const json_t *v, bool *first) {
  if (fputs(*first ? "\n    " : ",\n    ", f) == EOF) return KM_EIO;
  *first = false;
  return json_dumpf(v, f, JSON_COMPACT) == 0 ? 0 : KM_EIO;
}

/* One entry at a time: a fleet's observations are never one document in
 * memory (10,000 pipelines). */
static int fill(FILE *f, void *ud) {
  const wr_t *w = ud;
  json_t *head =
      json_pack("{s:i, s:s, s:s?, s:s?}", "observe_version", 1, "generated",
                w->ts, "manifest", w->manifest, "cwd", w->cwd);
  char *h = json_dumps(head, JSON_COMPACT);
  json_decref(head);
  size_t hl = strlen(h);
  int rc = fprintf(f, "%.*s,\n  \"pipelines\": [", (int)(hl - 1), h) < 0
               ? KM_EIO
               : 0;
  free(h);
  bool first = true;
  km_strmap_t *mine = km_strmap_new(w->n);
  for (size_t i = 0; i < w->n && rc == 0; i++) {
    json_t *e = km_obs_to_json(w->invs[i]);
    rc = put(f, e, &first);
    json_decref(e);
    char *k = km_xasprintf("%s\n%s", w->invs[i]->account, w->invs[i]->region);
    km_strmap_put(mine, k, i);
    free(k);
  }
  /* entries of an earlier file that this process did not observe stay */
  size_t i;
  const json_t *e;
  json_array_foreach(json_object_get(w->earlier, "pipelines"), i, e) {
    const char *a = json_string_value(json_object_get(e, "account"));
    const char *r = json_string_value(json_object_get(e, "region"));
    char *k = km_xasprintf("%s\n%s", a != NULL ? a : "", r != NULL ? r : "");
    size_t at;
    bool seen = km_strmap_get(mine, k, &at);
    free(k);
    if (!seen && rc == 0) rc = put(f, e, &first);
  }
  km_strmap_free(mine);
  if (rc == 0 && fputs("\n  ]\n}\n", f) == EOF) rc = KM_EIO;
  return rc;
}

int km_observe_write(const char *dir, const char *manifest, const char *cwd,
                     km_inv_t *const *invs, size_t n, const json_t *earlier,
                     char generated[21], km_err_t *err) {
  km_iso8601((int64_t)time(NULL), generated);
  wr_t w = {manifest, cwd, generated, invs, n, earlier};
  char *path = km_xasprintf("%s/observe.json", dir);
  int rc = km_report_write_with(path, fill, &w, err);
  free(path);
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

typedef struct print_ctx_s {
  FILE *f;
  const km_inv_t *inv;
  bool all;
} print_ctx_t;

static void print_one(const km_obs_finding_t *x, void *ud) {
  const print_ctx_t *pc = ud;
  if (x->verdict == KM_OBS_ACT || (pc->all && x->verdict == KM_OBS_WATCH))
    print_finding(pc->f, pc->inv, x);
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
  /* The run does not ask ActionTrail (events arrive up to 10 minutes
   * late): say when `kmsmig observe` can list the residual callers. */
  int64_t later = 0;
  for (size_t i = 0; i < n; i++) {
    const km_obs_t *o = invs[i]->obs;
    if (o != NULL && o->judged && !o->trail_looked && o->migrated.n > 0 &&
        o->migrated_at + 600 > later)
      later = o->migrated_at + 600;
  }
  if (later > 0) {
    char at[21];
    km_iso8601(later, at);
    fprintf(f,
            "             callers still on the shared gateway: `kmsmig observe "
            "%s` after %s\n             (ActionTrail shows a call up to 10 "
            "minutes after it)\n",
            dir, at);
  }
  for (size_t i = 0; i < n; i++) {
    print_ctx_t pc = {f, invs[i], all};
    km_obs_each_finding(invs[i]->obs, invs[i]->instance_id, print_one, &pc);
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
