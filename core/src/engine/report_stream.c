/* Reads a report.json one pipeline at a time, for report.html and report.md
 * at the end of a run: the report of 10,000 pipelines read whole would be
 * the run's peak memory again (report.c writes it one pipeline at a time
 * for the same reason).
 *
 * One pass over the bytes finds the top-level "pipelines" array and the
 * byte range of each of its elements (a scanner that only tracks strings
 * and nesting: any key order and any formatting work); the head is the
 * document with that array emptied, parsed whole.  Then each element is
 * read back by its range and parsed alone.  Only the offsets (16 bytes a
 * pipeline) and one pipeline are in memory at a time. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/report.h"

typedef struct {
  long start, end; /* [start, end) of one element */
} range_t;

typedef struct {
  range_t *v;
  size_t n, cap;
  km_buf_t head;  /* the document without the array's elements */
  long arr_open;  /* offset of the array's '[' (-1: not found) */
  long arr_close; /* offset of its ']' */
} scan_t;

static void add_range(scan_t *s, long a, long b) {
  if (s->n == s->cap) {
    s->cap = s->cap ? s->cap * 2 : 64;
    s->v = km_xrealloc(s->v, s->cap * sizeof(*s->v));
  }
  s->v[s->n++] = (range_t){a, b};
}

/* Finds the ranges; the head text keeps every byte outside them. */
static int scan(FILE *f, scan_t *s) {
  int depth = 0, c;
  bool in_str = false, esc = false;
  long pos = -1, el = -1;
  /* the last top-level string key seen, to spot "pipelines" */
  char key[16];
  size_t klen = 0;
  bool key_is_pipelines = false, in_arr = false;
  s->arr_open = s->arr_close = -1;
  while ((c = fgetc(f)) != EOF) {
    pos++;
    bool inside = in_arr && depth >= 2 && el >= 0;
    if (!inside) km_buf_putc(&s->head, (char)c);
    if (in_str) {
      if (esc)
        esc = false;
      else if (c == '\\')
        esc = true;
      else if (c == '"')
        in_str = false;
      else if (depth == 1 && klen < sizeof(key) - 1)
        key[klen++] = (char)c;
      continue;
    }
    switch (c) {
    case '"':
      in_str = true;
      if (depth == 1) klen = 0;
      break;
    case ':':
      if (depth == 1) {
        key[klen] = '\0';
        key_is_pipelines = strcmp(key, "pipelines") == 0;
      }
      break;
    case '{':
    case '[':
      depth++;
      if (depth == 2 && c == '[' && key_is_pipelines && s->arr_open < 0) {
        in_arr = true;
        s->arr_open = pos;
      } else if (depth == 3 && in_arr && el < 0) {
        el = pos; /* an element starts: the head does not keep it */
        s->head.len--;
        s->head.data[s->head.len] = '\0';
      }
      break;
    case '}':
    case ']':
      if (depth == 3 && in_arr && el >= 0) {
        add_range(s, el, pos + 1);
        el = -1;
      } else if (depth == 2 && in_arr) {
        in_arr = false;
        s->arr_close = pos;
      }
      depth--;
      break;
    default:
      break;
    }
  }
  /* The commas between the elements stayed in the head: empty_array. */
  return s->arr_open < 0 || s->arr_close < 0 ? KM_EPARSE : 0;
}

/* The head text has the array as "[ , , ]" (the separators between the
 * elements): make it "[]". */
static void empty_array(km_buf_t *h) {
  char *p = h->data;
  bool in_str = false, esc = false;
  int depth = 0;
  char key[16];
  size_t klen = 0;
  bool pl = false;
  for (size_t i = 0; i < h->len; i++) {
    char c = p[i];
    if (in_str) {
      if (esc)
        esc = false;
      else if (c == '\\')
        esc = true;
      else if (c == '"')
        in_str = false;
      else if (depth == 1 && klen < sizeof(key) - 1)
        key[klen++] = c;
      continue;
    }
    if (c == '"') {
      in_str = true;
      if (depth == 1) klen = 0;
    } else if (c == ':' && depth == 1) {
      key[klen] = '\0';
      pl = strcmp(key, "pipelines") == 0;
    } else if (c == '{' || c == '[') {
      depth++;
      if (depth == 2 && c == '[' && pl) {
        size_t j = i + 1;
        while (j < h->len && p[j] != ']')
          p[j++] = ' ';
        return;
      }
    } else if (c == '}' || c == ']') {
      depth--;
    }
  }
}

int km_report_stream(const char *path, km_report_head_fn on_head,
                     km_report_pipe_fn on_pipe, void *ud, km_err_t *err) {
  FILE *f = fopen(path, "rb");
  if (f == NULL) return km__err_set(err, KM_EIO, "cannot read %s", path);
  scan_t s = {0};
  km_buf_init(&s.head);
  int rc = scan(f, &s);
  json_t *head = NULL;
  if (rc == 0) {
    empty_array(&s.head);
    json_error_t je;
    head = json_loadb(s.head.data, s.head.len, 0, &je);
    if (head == NULL) rc = KM_EPARSE;
  }
  if (rc < 0) {
    km__err_set(err, rc,
                "%s is not a report.json (no \"pipelines\" array, "
                "or it does not parse)",
                path);
  }
  km_buf_free(&s.head);
  if (rc == 0 && on_head != NULL) rc = on_head(head, ud);
  char *buf = NULL;
  size_t cap = 0;
  for (size_t i = 0; rc == 0 && i < s.n; i++) {
    size_t len = (size_t)(s.v[i].end - s.v[i].start);
    if (len + 1 > cap) {
      cap = len + 1;
      buf = km_xrealloc(buf, cap);
    }
    json_error_t je;
    json_t *p = NULL;
    if (fseek(f, s.v[i].start, SEEK_SET) == 0 && fread(buf, 1, len, f) == len)
      p = json_loadb(buf, len, 0, &je);
    if (p == NULL) {
      rc = km__err_set(err, KM_EPARSE, "%s: pipeline %zu does not parse", path,
                       i + 1);
      break;
    }
    rc = on_pipe(p, i, ud);
    json_decref(p);
  }
  free(buf);
  free(s.v);
  json_decref(head);
  fclose(f);
  return rc;
}
