/* A plugin built several times with different defines, to exercise the
 * loader's checks: a good one, another ABI major, a newer minor, a truncated
 * descriptor, a failing init, and a duplicate name. */
#include <stdio.h>

#include "kmsmig/plugin.h"

#ifndef FIX_MAJOR
#define FIX_MAJOR KM_PLUGIN_ABI_MAJOR
#endif
#ifndef FIX_MINOR
#define FIX_MINOR KM_PLUGIN_ABI_MINOR
#endif
#ifndef FIX_SIZE
#define FIX_SIZE sizeof(km_plugin_t)
#endif
#ifndef FIX_NAME
#define FIX_NAME "fixture"
#endif

static int inits;

static int fix_init(const km_host_api_t *host, void **state, km_err_t *err) {
  (void)host;
#ifdef FIX_INIT_FAILS
  (void)state;
  (void)inits;
  if (err != NULL)
    snprintf(err->text, sizeof(err->text), "fixture init refused");
  return KM_EPLUGIN;
#else
  (void)err;
  inits++;
  *state = &inits;
  return 0;
#endif
}

static void fix_fini(void *state) {
  int *n = state;
  if (n != NULL) (*n)--;
}

static int fix_start(void *state, km_stage_t stage, km_stage_run_t *run) {
  (void)state;
  (void)stage;
  (void)run;
  return KM_ENOTSUP;
}

static const km_plugin_t desc = {
    .abi_major = FIX_MAJOR,
    .abi_minor = FIX_MINOR,
    .struct_size = (uint32_t)(FIX_SIZE),
    .name = FIX_NAME,
    .version = "1.2.3",
    .stages = KM_STAGE_BIT(KM_STAGE_VERIFY),
    .init = fix_init,
    .fini = fix_fini,
    .start = fix_start,
};

const km_plugin_t *km_plugin_entry(void) {
  return &desc;
}
