/* Request parameters of the style-RPC APIs: an ordered list of string pairs
 * (insertion order is kept because form bodies are written in that order,
 * which keeps them byte-identical to what the official SDK sends), the
 * 1-based flattening of lists (ResourceId.1, ResourceId.2, ...) and the two
 * percent-encodings the protocol needs: RFC 3986 for everything that is
 * signed, and the Node querystring flavour for form bodies. */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acs/acs.h"

void km_params_init(km_params_t *p) {
  p->v = NULL;
  p->n = 0;
  p->cap = 0;
}

void km_params_free(km_params_t *p) {
  for (size_t i = 0; i < p->n; i++) {
    free(p->v[i].key);
    /* Values can be secret material (ImportKeyMaterial, PutSecretValue). */
    km_free_secret(p->v[i].value);
  }
  free(p->v);
  km_params_init(p);
}

static km_param_t *find(const km_params_t *p, const char *key) {
  for (size_t i = 0; i < p->n; i++)
    if (strcmp(p->v[i].key, key) == 0) return &p->v[i];
  return NULL;
}

void km_params_set(km_params_t *p, const char *key, const char *value) {
  km_param_t *e = find(p, key);
  if (e != NULL) {
    km_free_secret(e->value);
    e->value = km_xstrdup(value);
    return;
  }
  if (p->n == p->cap) {
    p->cap = p->cap ? p->cap * 2 : 8;
    p->v = km_xrealloc(p->v, p->cap * sizeof(*p->v));
  }
  p->v[p->n].key = km_xstrdup(key);
  p->v[p->n].value = km_xstrdup(value);
  p->n++;
}

void km_params_setf(km_params_t *p, const char *key, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  char *s = km_xmalloc(n > 0 ? (size_t)n + 1 : 1);
  s[0] = '\0';
  if (n > 0) {
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
  }
  km_params_set(p, key, s);
  km_free_secret(s);
}

void km_params_set_list(km_params_t *p, const char *prefix,
                        const char *const *values, size_t n) {
  for (size_t i = 0; i < n; i++) {
    char key[256];
    snprintf(key, sizeof(key), "%s.%zu", prefix, i + 1);
    km_params_set(p, key, values[i]);
  }
}

const char *km_params_get(const km_params_t *p, const char *key) {
  const km_param_t *e = find(p, key);
  return e != NULL ? e->value : NULL;
}

/* The bytes kept as they are, one bit each: RFC 3986's unreserved
 * (A-Za-z0-9-_.~), and for form bodies also !'()*.  A bit test per byte
 * instead of a chain of comparisons: every request encodes ~800 bytes. */
static const uint64_t keep_rfc3986[4] = {0x03ff600000000000u,
                                         0x47fffffe87fffffeu, 0, 0};
static const uint64_t keep_form[4] = {0x03ff678200000000u, 0x47fffffe87fffffeu,
                                      0, 0};

/* Every request encodes each parameter twice (signature and query): room
 * for the worst case is made once and the bytes are written in place. */
static void encode_keep(km_buf_t *b, const char *s, const uint64_t keep[4]) {
  static const char hex[] = "0123456789ABCDEF";
  size_t n = strlen(s);
  km_buf_reserve(b, 3 * n);
  char *o = b->data + b->len;
  for (const unsigned char *c = (const unsigned char *)s; *c != '\0'; c++) {
    if ((keep[*c >> 6] >> (*c & 63)) & 1) {
      *o++ = (char)*c;
    } else {
      *o++ = '%';
      *o++ = hex[*c >> 4];
      *o++ = hex[*c & 15];
    }
  }
  *o = '\0';
  b->len = (size_t)(o - b->data);
}

void km_acs_percent_encode(km_buf_t *b, const char *s) {
  encode_keep(b, s, keep_rfc3986);
}

void km__acs_form_encode(km_buf_t *b, const km_params_t *p) {
  /* Node's querystring.escape (what the SDK's toForm uses) also keeps
   * !'()*; the body's bytes are hashed into the V3 signature, so matching the
   * SDK byte for byte keeps the cross-check exact.  Any form decoder reads
   * both spellings the same way. */
  for (size_t i = 0; i < p->n; i++) {
    if (i > 0) km_buf_putc(b, '&');
    encode_keep(b, p->v[i].key, keep_form);
    km_buf_putc(b, '=');
    encode_keep(b, p->v[i].value, keep_form);
  }
}

static int cmp_param_ptr(const void *a, const void *b) {
  const km_param_t *x = *(const km_param_t *const *)a;
  const km_param_t *y = *(const km_param_t *const *)b;
  return strcmp(x->key, y->key); /* strcmp compares as unsigned char */
}

const km_param_t **km__acs_params_sorted(const km_params_t *p) {
  const km_param_t **v = km_xcalloc(p->n + 1, sizeof(*v));
  for (size_t i = 0; i < p->n; i++)
    v[i] = &p->v[i];
  qsort(v, p->n, sizeof(*v), cmp_param_ptr);
  return v;
}
