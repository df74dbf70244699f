/* km_shost_t.hook: runs a pipeline's Lua hooks (docs/hooks.md).
 *
 * Each pipeline gets its own Lua runtime the first time one of its hooks
 * runs, so pipelines share no Lua globals; kms.call inside a hook is the
 * pipeline's own call (its credentials, rate limits and retries, and plan
 * mode's refusal of writes).  The runtime lives in the pipeline and is
 * closed when the pipeline ends, so a run of thousands of pipelines holds
 * only the Lua states of those in flight.  Hook input and output cross
 * into Lua as JSON text: that is the hook's edge.
 */
#include <stdlib.h>
#include <string.h>

#include "engine/pipeline_priv.h"
#include "lua/lua.h"
#include "util/util.h"

static int call_as_pipeline(void *call_ud, const char *product,
                            const char *action, const char *const *params,
                            size_t n, km_plugin_call_cb cb, void *ud) {
  return km__host_call_text(call_ud, product, action, params, n, cb, ud);
}

static km_lua_t *lua_of(km_pipeline_t *p) {
  if (p->lua != NULL) return p->lua;
  size_t ndirs;
  char **dirs = km_lua_hook_dirs(p->t->hooks, &ndirs);
  km_lua_opts_t o = {
      .loop = p->e->o.loop,
      .call = call_as_pipeline,
      .call_ud = p,
      .account = p->t->account,
      .account_id = p->t->account_id,
      .region = p->t->region,
      .mode = p->e->o.mode == KM_MODE_PLAN ? "plan" : "run",
      .require_dirs = (const char *const *)dirs,
      .nrequire_dirs = ndirs,
  };
  p->lua = km_lua_new(&o);
  km_lua_dirs_free(dirs, ndirs);
  return p->lua;
}

typedef struct hook_s {
  km_pipeline_t *p;
  km_jcall_cb cb;
  void *ud;
} hook_t;

static void on_hook(const km_plugin_call_result_t *res, void *ud) {
  hook_t *h = ud;
  json_t *out = NULL;
  km_jres_t r = {res->status, NULL, res->err};
  if (res->status == 0) {
    json_error_t je;
    out = json_loads(res->body_json != NULL ? res->body_json : "", 0, &je);
    if (!json_is_object(out)) {
      km_err_t err;
      km__err_set(&err, KM_ELUA,
                  "a hook returned something that is not an "
                  "object");
      r.status = KM_ELUA;
      r.err = &err;
      h->cb(&r, h->ud);
      json_decref(out);
      km_pipeline_t *p = h->p;
      free(h);
      km__unpend(p);
      return;
    }
    r.body = out;
  }
  h->cb(&r, h->ud);
  json_decref(out);
  km_pipeline_t *p = h->p;
  free(h);
  km__unpend(p);
}

int km__host_hook(km_pipeline_t *p, const char *name, const json_t *input,
                  km_jcall_cb cb, void *ud) {
  if (p == NULL || name == NULL || cb == NULL) return KM_EINVAL;
  char *text = json_dumps(input, JSON_COMPACT | JSON_SORT_KEYS);
  if (text == NULL) return KM_EINVAL;
  hook_t *h = km_xcalloc(1, sizeof(*h));
  h->p = p;
  h->cb = cb;
  h->ud = ud;
  int rc = km_lua_hook(lua_of(p), p->t->hooks, name, text, on_hook, h);
  free(text);
  if (rc < 0) {
    free(h);
    return rc;
  }
  km__pend(p);
  return 0;
}

void km__host_hooks_close(km_pipeline_t *p) {
  if (p->lua == NULL) return;
  km_lua_free(p->lua);
  p->lua = NULL;
}
