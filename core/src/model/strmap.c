/* km_strmap_t (strmap.h): open addressing with linear probing, kept at most
 * half full so that probes stay short; the table doubles when it fills. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "model/strmap.h"
#include "util/util.h"

typedef struct slot_s {
  char *key;
  size_t v;
} slot_t;

struct km_strmap_s {
  slot_t *s;
  size_t cap; /* a power of two */
  size_t n;
};

static uint32_t hash(const char *k) {
  uint32_t h = 2166136261u;
  for (; *k; k++)
    h = (h ^ (uint8_t)*k) * 16777619u;
  return h;
}

km_strmap_t *km_strmap_new(size_t n) {
  km_strmap_t *m = km_xcalloc(1, sizeof(*m));
  m->cap = 16;
  while (m->cap < 2 * n)
    m->cap *= 2;
  m->s = km_xcalloc(m->cap, sizeof(*m->s));
  return m;
}

void km_strmap_free(km_strmap_t *m) {
  if (m == NULL) return;
  for (size_t i = 0; i < m->cap; i++)
    free(m->s[i].key);
  free(m->s);
  free(m);
}

static void insert(slot_t *s, size_t cap, char *key, size_t v) {
  size_t i = hash(key) & (cap - 1);
  while (s[i].key != NULL) {
    if (strcmp(s[i].key, key) == 0) return;
    i = (i + 1) & (cap - 1);
  }
  s[i].key = key;
  s[i].v = v;
}

void km_strmap_put(km_strmap_t *m, const char *key, size_t v) {
  if (m == NULL || key == NULL) return;
  if (2 * (m->n + 1) > m->cap) {
    size_t cap = m->cap * 2;
    slot_t *s = km_xcalloc(cap, sizeof(*s));
    for (size_t i = 0; i < m->cap; i++)
      if (m->s[i].key != NULL) insert(s, cap, m->s[i].key, m->s[i].v);
    free(m->s);
    m->s = s;
    m->cap = cap;
  }
  size_t i = hash(key) & (m->cap - 1);
  while (m->s[i].key != NULL) {
    if (strcmp(m->s[i].key, key) == 0) return;
    i = (i + 1) & (m->cap - 1);
  }
  m->s[i].key = km_xstrdup(key);
  m->s[i].v = v;
  m->n++;
}

bool km_strmap_get(const km_strmap_t *m, const char *key, size_t *v) {
  if (m == NULL || key == NULL) return false;
  size_t i = hash(key) & (m->cap - 1);
  while (m->s[i].key != NULL) {
    if (strcmp(m->s[i].key, key) == 0) {
      *v = m->s[i].v;
      return true;
    }
    i = (i + 1) & (m->cap - 1);
  }
  return false;
}
