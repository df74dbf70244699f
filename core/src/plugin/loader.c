/* The plugin loader.  It follows redis's moduleLoad(): dlopen with RTLD_NOW
 * (fail at load, not mid-run, on a missing symbol) and RTLD_LOCAL (plugins
 * cannot see each other's symbols), look up the single entry point, and check
 * the descriptor's ABI major, minor and size before reading any other field,
 * since a descriptor from another ABI may have a different layout. */
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

#include "plugin/loader.h"
#include "util/util.h"

/* The size of the descriptor as ABI 1.0 defined it: every later minor only
 * appends fields, so nothing smaller can be a valid descriptor. */
#define KM_PLUGIN_V2_0_SIZE (offsetof(km_plugin_t, start) + sizeof(void *))

typedef struct loaded_s {
  void *dl;
  const km_plugin_t *desc;
  void *state;
  char *path;
} loaded_t;

struct km_plugin_set_s {
  const km_host_api_t *host;
  loaded_t *v;
  size_t n;
};

km_plugin_set_t *km_plugin_set_new(const km_host_api_t *host) {
  km_plugin_set_t *s = km_xcalloc(1, sizeof(*s));
  s->host = host;
  return s;
}

static int check_desc(const km_plugin_set_t *set, const km_plugin_t *d,
                      const char *path, km_err_t *err) {
  if (d == NULL)
    return km__err_set(err, KM_EPLUGIN,
                       "%s: km_plugin_entry() returned NULL; the plugin "
                       "must return its descriptor",
                       path);
  if (d->abi_major != KM_PLUGIN_ABI_MAJOR)
    return km__err_set(err, KM_EPLUGIN,
                       "%s: plugin ABI %u.%u is not compatible with this "
                       "kmsmig (ABI %d.%d); rebuild the plugin against "
                       "kmsmig/plugin.h of this version",
                       path, d->abi_major, d->abi_minor, KM_PLUGIN_ABI_MAJOR,
                       KM_PLUGIN_ABI_MINOR);
  if (d->abi_minor > KM_PLUGIN_ABI_MINOR)
    return km__err_set(err, KM_EPLUGIN,
                       "%s: plugin needs ABI %u.%u but this kmsmig offers "
                       "%d.%d; upgrade kmsmig or use an older plugin",
                       path, d->abi_major, d->abi_minor, KM_PLUGIN_ABI_MAJOR,
                       KM_PLUGIN_ABI_MINOR);
  if (d->struct_size < KM_PLUGIN_V2_0_SIZE)
    return km__err_set(err, KM_EPLUGIN,
                       "%s: plugin descriptor is %u bytes, smaller than the "
                       "%zu of ABI 1.0; the plugin is corrupt or was built "
                       "against another header",
                       path, d->struct_size, (size_t)KM_PLUGIN_V2_0_SIZE);
  if (d->name == NULL || d->name[0] == '\0' || d->start == NULL)
    return km__err_set(err, KM_EPLUGIN,
                       "%s: plugin descriptor has no name or no start "
                       "function",
                       path);
  if (km_plugin_find(set, d->name, NULL) != NULL)
    return km__err_set(err, KM_EEXIST,
                       "%s: a plugin named '%s' is already loaded; remove "
                       "one of them from the manifest's plugins list",
                       path, d->name);
  return 0;
}

int km_plugin_load(km_plugin_set_t *set, const char *path,
                   const km_plugin_t **out, km_err_t *err) {
  void *dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (dl == NULL)
    return km__err_set(err, KM_EPLUGIN, "cannot load plugin %s: %s", path,
                       dlerror());
  /* dlsym returns void*; the cast to a function pointer is POSIX's
   * documented way (XSH dlsym rationale). */
  km_plugin_entry_fn entry;
  *(void **)(&entry) = dlsym(dl, KM_PLUGIN_ENTRY_SYMBOL);
  if (entry == NULL) {
    km__err_set(err, KM_EPLUGIN, "%s: no '%s' symbol; is this a kmsmig plugin?",
                path, KM_PLUGIN_ENTRY_SYMBOL);
    dlclose(dl);
    return KM_EPLUGIN;
  }
  const km_plugin_t *d = entry();
  int rc = check_desc(set, d, path, err);
  if (rc < 0) {
    dlclose(dl);
    return rc;
  }
  void *state = NULL;
  if (d->init != NULL && (rc = d->init(set->host, &state, err)) < 0) {
    dlclose(dl);
    return rc;
  }
  set->v = km_xrealloc(set->v, (set->n + 1) * sizeof(*set->v));
  set->v[set->n].dl = dl;
  set->v[set->n].desc = d;
  set->v[set->n].state = state;
  set->v[set->n].path = km_xstrdup(path);
  set->n++;
  if (out != NULL) *out = d;
  return 0;
}

const km_plugin_t *km_plugin_find(const km_plugin_set_t *set, const char *name,
                                  void **state) {
  for (size_t i = 0; i < set->n; i++) {
    if (strcmp(set->v[i].desc->name, name) == 0) {
      if (state != NULL) *state = set->v[i].state;
      return set->v[i].desc;
    }
  }
  return NULL;
}

const km_plugin_t *km_plugin_for_stage(const km_plugin_set_t *set,
                                       km_stage_t stage, void **state) {
  for (size_t i = 0; i < set->n; i++) {
    if (set->v[i].desc->stages & KM_STAGE_BIT(stage)) {
      if (state != NULL) *state = set->v[i].state;
      return set->v[i].desc;
    }
  }
  return NULL;
}

const km_plugin_t *km_plugin_at(const km_plugin_set_t *set, size_t i,
                                void **state) {
  if (i >= set->n) return NULL;
  if (state != NULL) *state = set->v[i].state;
  return set->v[i].desc;
}

size_t km_plugin_count(const km_plugin_set_t *set) {
  return set->n;
}

void km_plugin_set_free(km_plugin_set_t *set) {
  if (set == NULL) return;
  for (size_t i = set->n; i-- > 0;) {
    if (set->v[i].desc->fini != NULL) set->v[i].desc->fini(set->v[i].state);
      /* Under ASan, keep the objects mapped so leak reports can symbolize
       * frames inside plugins; dlclose otherwise. */
#ifndef KM_KEEP_PLUGINS_MAPPED
    dlclose(set->v[i].dl);
#endif
    free(set->v[i].path);
  }
  free(set->v);
  free(set);
}
