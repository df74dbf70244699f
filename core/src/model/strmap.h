/* A small string → index hash map (open addressing, FNV-1a) for the
 * model's per-resource lookups.  The map keeps its own copy of each key;
 * the inventory drops its maps when it reorders its arrays (sort) and
 * rebuilds them on the next lookup. */
#ifndef KM_MODEL_STRMAP_H
#define KM_MODEL_STRMAP_H

#include <stdbool.h>
#include <stddef.h>

typedef struct km_strmap_s km_strmap_t;

/* An empty map sized for about n keys (owned; km_strmap_free). */
km_strmap_t *km_strmap_new(size_t n);
void km_strmap_free(km_strmap_t *m);
/* Maps key (borrowed, copied) to v; the first mapping of a
 * key wins (later ones are ignored). */
void km_strmap_put(km_strmap_t *m, const char *key, size_t v);
/* True and *v when key is mapped. */
bool km_strmap_get(const km_strmap_t *m, const char *key, size_t *v);

#endif
