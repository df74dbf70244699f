/* km_host_api_t.hook: runs a pipeline's Lua hooks (docs/hooks.md).
 *
 * Each pipeline gets its own Lua runtime the first time one of its hooks
 * runs, so pipelines share no Lua globals; kms.call inside a hook is the
 * pipeline's own call (km__host_call: its credentials, rate limits and
 * retries, and plan mode's refusal of writes).  The runtime is found by
 * pipeline in a small list kept here, because the pipeline struct is the
 * engine's; km__host_hooks_close() closes it when the engine frees the
 * pipeline.
 */
#include <stdlib.h>
#include <string.h>

#include "engine/pipeline_priv.h"
#include "lua/lua.h"
#include "util/util.h"

typedef struct slot_s {
  km_pipeline_t *p;
  km_lua_t *lua;
  struct slot_s *next;
} slot_t;

static slot_t *slots;

static int call_as_pipeline(void *call_ud, const char *product,
                            const char *action, const char *const *params,
                            size_t n, km_plugin_call_cb cb, void *ud) {
  return km__host_call(call_ud, product, action, params, n, cb, ud);
}

static const char *hooks_of(const km_pipeline_t *p) {
  return json_string_value(json_object_get(p->t.settings, "hooks"));
}

static km_lua_t *lua_of(km_pipeline_t *p) {
  for (slot_t *s = slots; s != NULL; s = s->next)
    if (s->p == p) return s->lua;
  size_t ndirs;
  char **dirs = km_lua_hook_dirs(hooks_of(p), &ndirs);
  km_lua_opts_t o = {
      .loop = p->e->o.loop,
      .call = call_as_pipeline,
      .call_ud = p,
      .account = p->t.account,
      .account_id = p->t.account_id,
      .region = p->t.region,
      .mode = p->e->o.mode == KM_MODE_PLAN ? "plan" : "run",
      .require_dirs = (const char *const *)dirs,
      .nrequire_dirs = ndirs,
  };
  slot_t *s = km_xcalloc(1, sizeof(*s));
  s->p = p;
  s->lua = km_lua_new(&o);
  km_lua_dirs_free(dirs, ndirs);
  s->next = slots;
  slots = s;
  return s->lua;
}

int km__host_hook(km_pipeline_t *p, const char *name, const char *input_json,
                  km_plugin_call_cb cb, void *ud) {
  if (p == NULL || name == NULL || cb == NULL) return KM_EINVAL;
  return km_lua_hook(lua_of(p), hooks_of(p), name, input_json, cb, ud);
}

void km__host_hooks_close(km_pipeline_t *p) {
  for (slot_t **pp = &slots; *pp != NULL; pp = &(*pp)->next) {
    slot_t *s = *pp;
    if (s->p != p) continue;
    *pp = s->next;
    km_lua_free(s->lua);
    free(s);
    return;
  }
}
