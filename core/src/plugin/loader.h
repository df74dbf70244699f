/* Loading plugins: dlopen with RTLD_NOW|RTLD_LOCAL, one entry symbol, ABI
 * checks before anything in the descriptor is trusted, init, and unload in
 * reverse order. */
#ifndef KM_PLUGIN_LOADER_H
#define KM_PLUGIN_LOADER_H

#include "kmsmig/plugin.h"

typedef struct km_plugin_set_s km_plugin_set_t;

/* Creates an empty set; host (borrowed) must outlive the set. */
km_plugin_set_t *km_plugin_set_new(const km_host_api_t *host);

/* Loads the plugin at path (borrowed).  Refuses, with err naming the file
 * and the fix: a file that does not load, a missing entry symbol, another
 * ABI major, a newer ABI minor than the host's, a descriptor smaller than
 * the v1.0 one, missing name/start, a name already loaded, init failure.
 * Returns 0 and the borrowed descriptor in *out (may be NULL). */
int km_plugin_load(km_plugin_set_t *set, const char *path,
                   const km_plugin_t **out, km_err_t *err);

/* Borrowed descriptor and state of the plugin called name, or NULL. */
const km_plugin_t *km_plugin_find(const km_plugin_set_t *set, const char *name,
                                  void **state);

/* The first loaded plugin providing stage (load order), or NULL. */
const km_plugin_t *km_plugin_for_stage(const km_plugin_set_t *set,
                                       km_stage_t stage, void **state);

size_t km_plugin_count(const km_plugin_set_t *set);

/* The i-th loaded plugin (load order) and its state, or NULL. */
const km_plugin_t *km_plugin_at(const km_plugin_set_t *set, size_t i,
                                void **state);

/* Calls fini of every plugin in reverse load order, dlcloses, frees. */
void km_plugin_set_free(km_plugin_set_t *set);

#endif
