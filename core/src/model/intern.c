/* The intern pool (intern.h): strings bump-allocated in 16 KiB chunks and
 * found again through a hash map.  Membership is a range check over the
 * chunks, which are few (the vocabulary of enumerated API values is
 * small). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "model/intern.h"
#include "model/strmap.h"
#include "util/util.h"

#define CHUNK 16384

typedef struct chunk_s {
  struct chunk_s *next;
  size_t used;
  char data[CHUNK];
} chunk_t;

static chunk_t *chunks;
static km_strmap_t *index_;
static const char **strs; /* index_ maps a string to its slot here */
static size_t nstrs, capstrs;

bool km_is_interned(const void *p) {
  for (const chunk_t *c = chunks; c != NULL; c = c->next)
    if ((const char *)p >= c->data && (const char *)p < c->data + CHUNK)
      return true;
  return false;
}

void km_str_free(void *p) {
  if (p != NULL && !km_is_interned(p)) free(p);
}

const char *km_intern(const char *s) {
  if (s == NULL) return NULL;
  size_t at;
  if (index_ == NULL) index_ = km_strmap_new(64);
  if (km_strmap_get(index_, s, &at)) return strs[at];
  size_t n = strlen(s) + 1;
  if (n > CHUNK / 4) return km_xstrdup(s); /* not an enumerated value */
  if (chunks == NULL || chunks->used + n > CHUNK) {
    chunk_t *c = km_xcalloc(1, sizeof(*c));
    c->next = chunks;
    chunks = c;
  }
  char *d = chunks->data + chunks->used;
  memcpy(d, s, n);
  chunks->used += n;
  if (nstrs == capstrs) {
    capstrs = capstrs ? 2 * capstrs : 64;
    strs = km_xrealloc(strs, capstrs * sizeof(*strs));
  }
  strs[nstrs] = d;
  km_strmap_put(index_, d, nstrs++);
  return d;
}
