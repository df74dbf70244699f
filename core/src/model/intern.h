/* Interned strings for the model's enumerated fields (KeySpec, KeyState,
 * AutomaticRotation, rule ids...): a region with thousands of keys holds a
 * handful of distinct values, so each is stored once for the process's
 * life instead of once per resource.  Interned strings are never freed;
 * km_str_free() frees anything else and leaves them alone, so a field may
 * hold either kind. */
#ifndef KM_MODEL_INTERN_H
#define KM_MODEL_INTERN_H

#include <stdbool.h>

/* The interned copy of s (NULL stays NULL).  Loop thread only. */
const char *km_intern(const char *s);
/* True when p points into the intern pool. */
bool km_is_interned(const void *p);
/* free(p) unless p is interned. */
void km_str_free(void *p);

#endif
