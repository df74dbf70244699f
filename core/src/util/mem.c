/* Allocation helpers that abort on exhaustion, and the growable buffer used
 * for request bodies, responses and canonical strings. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "util.h"

static void oom(size_t n) {
  fprintf(stderr, "kmsmig: out of memory allocating %zu bytes\n", n);
  abort();
}

void *km_xmalloc(size_t n) {
  void *p = malloc(n ? n : 1);
  if (p == NULL) oom(n);
  return p;
}

void *km_xcalloc(size_t n, size_t size) {
  void *p = calloc(n ? n : 1, size ? size : 1);
  if (p == NULL) oom(n * size);
  return p;
}

void *km_xrealloc(void *p, size_t n) {
  void *q = realloc(p, n ? n : 1);
  if (q == NULL) oom(n);
  return q;
}

char *km_xstrdup(const char *s) {
  return km_xstrndup(s, strlen(s));
}

char *km_xstrndup(const char *s, size_t n) {
  char *p = km_xmalloc(n + 1);
  memcpy(p, s, n);
  p[n] = '\0';
  return p;
}

char *km_xasprintf(const char *fmt, ...) {
  km_buf_t b;
  va_list ap;
  km_buf_init(&b);
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n < 0) oom(0);
  b.data = km_xmalloc((size_t)n + 1);
  va_start(ap, fmt);
  vsnprintf(b.data, (size_t)n + 1, fmt, ap);
  va_end(ap);
  return b.data;
}

void km_free_secret(char *s) {
  if (s == NULL) return;
  OPENSSL_cleanse(s, strlen(s));
  free(s);
}

void km_buf_init(km_buf_t *b) {
  b->data = NULL;
  b->len = 0;
  b->cap = 0;
}

void km_buf_free(km_buf_t *b) {
  free(b->data);
  km_buf_init(b);
}

void km_buf_reset(km_buf_t *b) {
  b->len = 0;
  if (b->data != NULL) b->data[0] = '\0';
}

static void buf_reserve(km_buf_t *b, size_t extra) {
  size_t need = b->len + extra + 1;
  if (need <= b->cap) return;
  size_t cap = b->cap ? b->cap : 64;
  while (cap < need)
    cap *= 2;
  b->data = km_xrealloc(b->data, cap);
  b->cap = cap;
}

void km_buf_append(km_buf_t *b, const void *p, size_t n) {
  buf_reserve(b, n);
  if (n > 0) memcpy(b->data + b->len, p, n);
  b->len += n;
  b->data[b->len] = '\0';
}

void km_buf_puts(km_buf_t *b, const char *s) {
  km_buf_append(b, s, strlen(s));
}

void km_buf_reserve(km_buf_t *b, size_t n) {
  buf_reserve(b, n);
}

void km_buf_putc(km_buf_t *b, char c) {
  km_buf_append(b, &c, 1);
}

void km_buf_printf(km_buf_t *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  buf_reserve(b, (size_t)n);
  va_start(ap, fmt);
  vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
  va_end(ap);
  b->len += (size_t)n;
}

char *km_buf_steal(km_buf_t *b) {
  if (b->data == NULL) buf_reserve(b, 0), b->data[0] = '\0';
  char *p = b->data;
  km_buf_init(b);
  return p;
}
