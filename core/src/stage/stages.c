/* The providers of a run's stages (stage/stage.h): the built-in stages,
 * linked into kmsmig, and the third-party plugins loaded with dlopen
 * (plugin/loader.c), which run through the adapter in stage/plugin_host.c.
 * Both kinds sit in one list, in the order they run within a stage. */
#include <stdlib.h>
#include <string.h>

#include "plugin/loader.h"
#include "stage/plugin_host.h"
#include "stage/stage.h"
#include "util/util.h"

typedef struct entry_s {
  const km_stage_ops_t *ops;
  void *state;
  bool ext; /* state is a km__ext_t */
} entry_t;

struct km_stages_s {
  entry_t *v;
  size_t n;
  km_plugin_set_t *plugins; /* NULL until the first load */
};

km_stages_t *km_stages_new(void) {
  return km_xcalloc(1, sizeof(km_stages_t));
}

static bool have(const km_stages_t *s, const char *name) {
  for (size_t i = 0; i < s->n; i++)
    if (strcmp(s->v[i].ops->name, name) == 0) return true;
  return false;
}

static void push(km_stages_t *s, const km_stage_ops_t *ops, void *state,
                 bool ext) {
  s->v = km_xrealloc(s->v, (s->n + 1) * sizeof(*s->v));
  s->v[s->n++] = (entry_t){ops, state, ext};
}

int km_stages_add(km_stages_t *s, const km_stage_ops_t *ops, km_err_t *err) {
  if (have(s, ops->name))
    return km__err_set(err, KM_EEXIST,
                       "a stage provider named %s is already "
                       "loaded",
                       ops->name);
  void *state = NULL;
  int rc = ops->init != NULL ? ops->init(&state, err) : 0;
  if (rc < 0) return rc;
  push(s, ops, state, false);
  return 0;
}

int km_stages_add_builtin(km_stages_t *s, km_err_t *err) {
  static const km_stage_ops_t *const builtin[] = {
      &km_stage_share, &km_stage_keys,    &km_stage_secrets,
      &km_stage_byok,  &km_stage_migrate, &km_stage_monitor};
  for (size_t i = 0; i < KM_ARRAY_SIZE(builtin); i++) {
    int rc = km_stages_add(s, builtin[i], err);
    if (rc < 0) return rc;
  }
  return 0;
}

int km_stages_load(km_stages_t *s, const char *path, km_err_t *err) {
  if (s->plugins == NULL) s->plugins = km_plugin_set_new(&km__plugin_host);
  const km_plugin_t *d = NULL;
  int rc = km_plugin_load(s->plugins, path, &d, err);
  if (rc < 0) return rc;
  void *pstate = NULL;
  km_plugin_find(s->plugins, d->name, &pstate);
  if (have(s, d->name))
    return km__err_set(err, KM_EEXIST,
                       "%s: a stage provider named %s is built in; give the "
                       "plugin another name",
                       path, d->name);
  km__ext_t *x = km__ext_new(d, pstate);
  push(s, km__ext_ops(x), x, true);
  return 0;
}

size_t km_stages_count(const km_stages_t *s) {
  return s != NULL ? s->n : 0;
}

const km_stage_ops_t *km_stages_at(const km_stages_t *s, size_t i,
                                   void **state) {
  if (s == NULL || i >= s->n) return NULL;
  *state = s->v[i].state;
  return s->v[i].ops;
}

void km_stages_free(km_stages_t *s) {
  if (s == NULL) return;
  for (size_t i = s->n; i-- > 0;) {
    entry_t *e = &s->v[i];
    if (e->ext)
      km__ext_free(e->state);
    else if (e->ops->fini != NULL)
      e->ops->fini(e->state);
  }
  /* Plugins' fini and dlclose, in reverse load order. */
  km_plugin_set_free(s->plugins);
  free(s->v);
  free(s);
}
