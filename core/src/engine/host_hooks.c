/* km_host_api_t.hook: Lua hooks for plugins.  Placeholder until the Lua
 * bridge lands: every hook reports "not configured", so plugins fall back
 * to the documented default behaviour. */
#include "engine/pipeline_priv.h"

int km__host_hook(km_pipeline_t *p, const char *name, const char *input_json,
                  km_plugin_call_cb cb, void *ud) {
  (void)p;
  (void)name;
  (void)input_json;
  (void)cb;
  (void)ud;
  return KM_ENOENT;
}
