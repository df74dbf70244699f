/* `kmsmig run --rerun-failed`: from the previous attempt's report.json,
 * what each target may still move (km_target_t.only); a pipeline that did
 * not finish discovery or preflight, or never started, runs whole. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "run/runtime.h"
#include "util/util.h"

static void only_add(km_inv_strs_t *dst, const km_inv_strs_t *planned,
                     const char *id) {
  if (id != NULL && (planned == NULL || km_inv_strs_has(planned, id)))
    km_inv_strs_add(dst, id);
}

void km_rerun_free_only(km_only_t *only, size_t n) {
  for (size_t i = 0; only != NULL && i < n; i++) {
    km_inv_strs_free(&only[i].keys);
    km_inv_strs_free(&only[i].secrets);
  }
  free(only);
}

/* --rerun-failed: each target gets "only": the keys and secrets that
 * failed (or never ran) in the previous attempt's report; the migrate
 * stage skips every other pending resource.  A pipeline whose discovery or
 * preflight did not finish (report: "complete": false), or that never
 * started, has no such list: it runs again whole. */
int km_rerun_restrict(km_runtime_t *rt) {
  char *path = km_xasprintf("%s/report.json", rt->rd.dir);
  json_error_t je;
  json_t *rep = json_load_file(path, 0, &je);
  if (rep == NULL) {
    fprintf(stderr,
            "kmsmig run: --rerun-failed: cannot read %s (%s); resume the "
            "run without --rerun-failed first\n",
            path, je.text);
    free(path);
    return KM_EINVAL;
  }
  free(path);
  /* With a saved plan, what failed and was planned (the plan's checks
   * stay on, so keep its lists to intersect with). */
  km_only_t *planned = rt->only;
  rt->only = km_xcalloc(rt->ntargets ? rt->ntargets : 1, sizeof(*rt->only));
  for (size_t t = 0; t < rt->ntargets; t++)
    rt->targets[t].only = NULL;
  for (size_t t = 0; planned != NULL && t < rt->ntargets; t++) {
    rt->only[t].strict = planned[t].strict;
    rt->only[t].instance_id = planned[t].instance_id;
    rt->only[t].blocked = planned[t].blocked;
  }
  size_t i;
  json_t *p;
  json_array_foreach(json_object_get(rep, "pipelines"), i, p) {
    const char *a = json_string_value(json_object_get(p, "account"));
    const char *g = json_string_value(json_object_get(p, "region"));
    for (size_t t = 0; t < rt->ntargets; t++) {
      if (a == NULL || g == NULL || strcmp(rt->targets[t].account, a) != 0 ||
          strcmp(rt->targets[t].region, g) != 0)
        continue;
      const char *st = json_string_value(json_object_get(p, "status"));
      /* Never prepared (not started, held at a wave gate, waiting for its
       * window: docs/waves.md): it runs whole. */
      if (json_is_false(json_object_get(p, "complete")) ||
          (st != NULL &&
           (strcmp(st, "not_started") == 0 || strcmp(st, "held") == 0 ||
            strcmp(st, "waiting") == 0)))
        continue; /* only stays NULL: everything */
      km_only_t *only = &rt->only[t];
      km_inv_strs_t *dst[] = {&only->keys, &only->secrets};
      static const char *kinds[] = {"keys", "secrets"};
      for (int k = 0; k < 2; k++) {
        size_t j;
        json_t *x;
        json_t *kind = json_object_get(p, kinds[k]);
        const km_inv_strs_t *plan_list =
            planned == NULL ? NULL
                            : (k == 0 ? &planned[t].keys : &planned[t].secrets);
        json_array_foreach(json_object_get(kind, "failed"), j, x) {
          only_add(dst[k], plan_list,
                   json_string_value(json_object_get(x, "id")));
        }
        json_array_foreach(json_object_get(kind, "not_run"), j, x) {
          only_add(dst[k], plan_list, json_string_value(x));
        }
      }
      rt->targets[t].only = only;
    }
  }
  /* A target the report does not name keeps the plan's lists as they
   * were (or no restriction without a plan). */
  for (size_t t = 0; planned != NULL && t < rt->ntargets; t++) {
    if (rt->targets[t].only == &rt->only[t]) continue;
    km_inv_strs_free(&rt->only[t].keys);
    km_inv_strs_free(&rt->only[t].secrets);
    rt->only[t] = planned[t];
    memset(&planned[t].keys, 0, sizeof(planned[t].keys));
    memset(&planned[t].secrets, 0, sizeof(planned[t].secrets));
    rt->targets[t].only = &rt->only[t];
  }
  json_decref(rep);
  km_rerun_free_only(planned, rt->ntargets);
  return 0;
}
