/* Reads a report.json one pipeline at a time, for report.html and report.md
 * at the end of a run: the report of 10,000 pipelines read whole would be
 * the run's peak memory again (report.c writes it one pipeline at a time
 * for the same reason).
 *
 * One pass over the bytes finds the top-level "pipelines" array and the
 * "terraform"."resources" array (one element a migrated key or secret: as
 * many as the pipelines, and more) and the byte range of each of their
 * elements (a scanner that only tracks strings and nesting: any key order
 * and any formatting work); the head is the document with those arrays
 * emptied, parsed whole.  Then each element is read back by its range and
 * parsed alone.  Only the offsets (16 bytes an element) and one element
 * are in memory at a time. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/report.h"

enum { ARR_PIPELINES = 0, ARR_TF = 1, ARR__N };

typedef struct {
  long start, end; /* [start, end) of one element */
} range_t;

typedef struct {
  range_t *v;
  size_t n, cap;
} ranges_t;

typedef struct {
  ranges_t arr[ARR__N];
  bool found[ARR__N];
  km_buf_t head; /* the document without the arrays' elements */
} scan_t;

static void add_range(ranges_t *s, long a, long b) {
  if (s->n == s->cap) {
    s->cap = s->cap ? s->cap * 2 : 64;
    s->v = km_xrealloc(s->v, s->cap * sizeof(*s->v));
  }
  s->v[s->n++] = (range_t){a, b};
}

/* Which streamed array a '[' opening nesting level depth starts, after the
 * keys k1 (depth 1) and k2 (depth 2), or -1. */
static int array_at(int depth, const char *k1, const char *k2) {
  if (depth == 2 && strcmp(k1, "pipelines") == 0) return ARR_PIPELINES;
  if (depth == 3 && strcmp(k1, "terraform") == 0 &&
      strcmp(k2, "resources") == 0)
    return ARR_TF;
  return -1;
}

/* Finds the ranges; the head keeps every byte outside the two arrays'
 * elements and separators, so both read back as "[]".  An element that is
 * not an object is an error (it would be lost from both). */
static int scan(FILE *f, scan_t *s) {
  int depth = 0, c, arr = -1, arr_depth = 0;
  bool in_str = false, esc = false;
  long pos = -1, el = -1;
  /* the last keys seen at depth 1 and 2 */
  char key[16], k1[16] = "", k2[16] = "";
  size_t klen = 0;
  /* getc_unlocked: the stream is ours alone, and fgetc took its lock for
   * each of the file's ~60 KB per pipeline. */
  while ((c = getc_unlocked(f)) != EOF) {
    pos++;
    if (arr >= 0 && el < 0 && depth == arr_depth && c != ']') {
      if (c == '{') {
        el = pos; /* an element starts: the head does not keep it */
      } else if (c != ',' && c != ' ' && c != '\n' && c != '\t' && c != '\r') {
        return KM_EPARSE;
      }
      if (c != '{') continue;
    }
    if (el < 0) km_buf_putc(&s->head, (char)c);
    if (in_str) {
      if (esc)
        esc = false;
      else if (c == '\\')
        esc = true;
      else if (c == '"')
        in_str = false;
      else if ((depth == 1 || depth == 2) && klen < sizeof(key) - 1)
        key[klen++] = (char)c;
      continue;
    }
    switch (c) {
    case '"':
      in_str = true;
      klen = 0;
      break;
    case ':':
      key[klen] = '\0';
      if (depth == 1) memcpy(k1, key, klen + 1);
      if (depth == 2) memcpy(k2, key, klen + 1);
      break;
    case '{':
    case '[':
      depth++;
      if (c == '[' && arr < 0 && el < 0) {
        int a = array_at(depth, k1, k2);
        if (a >= 0 && !s->found[a]) {
          arr = a;
          arr_depth = depth;
          s->found[a] = true;
        }
      }
      break;
    case '}':
    case ']':
      depth--;
      if (el >= 0 && depth == arr_depth) {
        add_range(&s->arr[arr], el, pos + 1);
        el = -1;
      } else if (arr >= 0 && depth == arr_depth - 1) {
        arr = -1; /* the array closed */
      }
      break;
    default:
      break;
    }
  }
  return !s->found[ARR_PIPELINES] || arr >= 0 || depth != 0 ? KM_EPARSE : 0;
}

static int read_elements(FILE *f, const char *path, const ranges_t *v,
                         const char *what, km_report_pipe_fn fn, void *ud,
                         km_err_t *err) {
  char *buf = NULL;
  size_t cap = 0;
  int rc = 0;
  for (size_t i = 0; rc == 0 && i < v->n; i++) {
    size_t len = (size_t)(v->v[i].end - v->v[i].start);
    if (len + 1 > cap) {
      cap = len + 1;
      buf = km_xrealloc(buf, cap);
    }
    json_error_t je;
    json_t *p = NULL;
    if (fseek(f, v->v[i].start, SEEK_SET) == 0 && fread(buf, 1, len, f) == len)
      p = json_loadb(buf, len, 0, &je);
    if (p == NULL) {
      rc = km__err_set(err, KM_EPARSE, "%s: %s %zu does not parse", path, what,
                       i + 1);
      break;
    }
    rc = fn(p, i, ud);
    json_decref(p);
  }
  free(buf);
  return rc;
}

int km_report_stream(const char *path, km_report_head_fn on_head,
                     km_report_pipe_fn on_pipe, km_report_pipe_fn on_tf,
                     void *ud, km_err_t *err) {
  FILE *f = fopen(path, "rb");
  if (f == NULL) return km__err_set(err, KM_EIO, "cannot read %s", path);
  scan_t s = {0};
  km_buf_init(&s.head);
  int rc = scan(f, &s);
  json_t *head = NULL;
  if (rc == 0) {
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
  if (rc == 0 && on_pipe != NULL)
    rc = read_elements(f, path, &s.arr[ARR_PIPELINES], "pipeline", on_pipe, ud,
                       err);
  if (rc == 0 && on_tf != NULL)
    rc = read_elements(f, path, &s.arr[ARR_TF], "terraform resource", on_tf, ud,
                       err);
  for (size_t a = 0; a < ARR__N; a++)
    free(s.arr[a].v);
  json_decref(head);
  fclose(f);
  return rc;
}
