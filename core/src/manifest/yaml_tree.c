/* YAML file -> km_ynode_t tree, keeping each node's 1-based line:col.
 *
 * Built from libyaml's event parser by recursive descent.  Everything that
 * makes the tree ambiguous for a schema check is refused here, with the
 * position: aliases (shared or cyclic nodes), complex mapping keys, more
 * than one document, duplicate keys (libyaml accepts them and the last one
 * would silently win) and absurd nesting.  A file with any of these gives
 * no tree at all: the schema and model checks never see a half-built map
 * (a repeated region key under instances: once crashed them).  Duplicate
 * keys do not stop the parse, so every one of them is reported. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "manifest/yaml_tree.h"
#include "util/util.h"

#define MAX_DEPTH 64

typedef struct {
  yaml_parser_t p;
  const char *file;
  km_diags_t *d;
  bool failed;
  bool dup; /* a duplicate key was seen: the file gives no tree */
} ctx_t;

static int col1(size_t c) {
  return c > 100000 ? 100000 : (int)c + 1;
}

static km_ynode_t *node_new(ctx_t *c, km_ykind_t kind, const yaml_mark_t *m) {
  km_ynode_t *n = km_xcalloc(1, sizeof(*n));
  n->kind = kind;
  n->file = c->file;
  n->line = col1(m->line);
  n->col = col1(m->column);
  return n;
}

static void node_free(km_ynode_t *n) {
  if (n == NULL) return;
  for (size_t i = 0; i < n->n; i++) {
    node_free(n->items[i]);
    if (n->keys) node_free(n->keys[i]);
  }
  free(n->items);
  free(n->keys);
  free(n->str);
  free(n);
}

static void syntax_error(ctx_t *c) {
  const yaml_parser_t *p = &c->p;
  const char *problem = p->problem ? p->problem : "malformed YAML";
  /* libyaml's message for an unquoted "*.suffix" says nothing useful. */
  if (p->context != NULL && strstr(p->context, "alias") != NULL) {
    km_diag_add(c->d, KM_DIAG_ERROR, c->file, col1(p->context_mark.line),
                col1(p->context_mark.column),
                "YAML syntax: a value starting with '*' must be quoted, e.g. "
                "\"*.aliyuncs.com\"");
    c->failed = true;
    return;
  }
  if (p->context != NULL)
    km_diag_add(c->d, KM_DIAG_ERROR, c->file, col1(p->problem_mark.line),
                col1(p->problem_mark.column),
                "YAML syntax: %s (%s at line %d); fix the YAML syntax here",
                problem, p->context, col1(p->context_mark.line));
  else
    km_diag_add(c->d, KM_DIAG_ERROR, c->file, col1(p->problem_mark.line),
                col1(p->problem_mark.column),
                "YAML syntax: %s; fix the YAML syntax here", problem);
  c->failed = true;
}

static bool next(ctx_t *c, yaml_event_t *ev) {
  if (!yaml_parser_parse(&c->p, ev)) {
    syntax_error(c);
    return false;
  }
  return true;
}

static km_ynode_t *build(ctx_t *c, yaml_event_t *ev, int depth);

static void append(km_ynode_t *n, km_ynode_t *key, km_ynode_t *val) {
  n->items = km_xrealloc(n->items, (n->n + 1) * sizeof(*n->items));
  if (n->kind == KM_YMAP) {
    n->keys = km_xrealloc(n->keys, (n->n + 1) * sizeof(*n->keys));
    n->keys[n->n] = key;
  }
  n->items[n->n++] = val;
}

/* Reads children until the matching end event; ev is the start event. */
static km_ynode_t *build_collection(ctx_t *c, yaml_event_t *ev, int depth) {
  bool is_map = ev->type == YAML_MAPPING_START_EVENT;
  km_ynode_t *n = node_new(c, is_map ? KM_YMAP : KM_YSEQ, &ev->start_mark);
  yaml_event_delete(ev);
  if (depth > MAX_DEPTH) {
    km_diag_add(c->d, KM_DIAG_ERROR, c->file, n->line, n->col,
                "nesting deeper than %d levels; a manifest never needs this",
                MAX_DEPTH);
    c->failed = true;
    return n;
  }
  for (;;) {
    yaml_event_t e;
    if (c->failed || !next(c, &e)) return n;
    if (e.type == YAML_MAPPING_END_EVENT || e.type == YAML_SEQUENCE_END_EVENT) {
      yaml_event_delete(&e);
      return n;
    }
    km_ynode_t *key = NULL;
    if (is_map) {
      key = build(c, &e, depth + 1);
      if (key == NULL) return n;
      if (key->kind != KM_YSCALAR) {
        km_diag_add(c->d, KM_DIAG_ERROR, c->file, key->line, key->col,
                    "a mapping key must be a plain name; write `name: value`");
        c->failed = true;
      } else {
        long first = km__ymap_index(n, key->str);
        if (first >= 0) {
          km_diag_add(c->d, KM_DIAG_ERROR, c->file, key->line, key->col,
                      "duplicate key '%s' (first at line %d); keep only one",
                      key->str, n->keys[first]->line);
          c->dup = true;
        }
      }
      if (!next(c, &e)) {
        node_free(key);
        return n;
      }
    }
    km_ynode_t *val = build(c, &e, depth + 1);
    if (val == NULL) {
      node_free(key);
      return n;
    }
    append(n, key, val);
  }
}

/* Consumes ev.  Returns NULL after reporting a problem that stops parsing. */
static km_ynode_t *build(ctx_t *c, yaml_event_t *ev, int depth) {
  km_ynode_t *n = NULL;
  switch (ev->type) {
  case YAML_SCALAR_EVENT:
    n = node_new(c, KM_YSCALAR, &ev->start_mark);
    n->str = km_xstrndup((const char *)ev->data.scalar.value,
                         ev->data.scalar.length);
    n->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
               !(ev->data.scalar.tag != NULL &&
                 strcmp((const char *)ev->data.scalar.tag, YAML_STR_TAG) == 0);
    yaml_event_delete(ev);
    return n;
  case YAML_SEQUENCE_START_EVENT:
  case YAML_MAPPING_START_EVENT:
    return build_collection(c, ev, depth);
  case YAML_ALIAS_EVENT:
    km_diag_add(c->d, KM_DIAG_ERROR, c->file, col1(ev->start_mark.line),
                col1(ev->start_mark.column),
                "YAML aliases (*%s) are not supported; write the value out "
                "or move shared accounts into accounts/ include files",
                (const char *)ev->data.alias.anchor);
    c->failed = true;
    yaml_event_delete(ev);
    return NULL;
  default:
    km_diag_add(c->d, KM_DIAG_ERROR, c->file, col1(ev->start_mark.line),
                col1(ev->start_mark.column), "unexpected YAML event");
    c->failed = true;
    yaml_event_delete(ev);
    return NULL;
  }
}

int km__ydoc_load(const char *path, km_ydoc_t **out, km_diags_t *d) {
  *out = NULL;
  FILE *fp = fopen(path, "rb");
  if (fp == NULL) {
    km_diag_add(d, KM_DIAG_ERROR, path, 0, 0, "cannot read the file: %s",
                strerror(errno));
    return KM_ENOENT;
  }
  km_ydoc_t *doc = km_xcalloc(1, sizeof(*doc));
  doc->file = km_xstrdup(path);
  ctx_t c = {.file = doc->file, .d = d};
  yaml_parser_initialize(&c.p);
  yaml_parser_set_input_file(&c.p, fp);

  yaml_event_t ev;
  int docs = 0;
  while (!c.failed && next(&c, &ev)) {
    yaml_event_type_t t = ev.type;
    if (t == YAML_STREAM_END_EVENT) {
      yaml_event_delete(&ev);
      break;
    }
    if (t == YAML_DOCUMENT_START_EVENT && ++docs > 1) {
      km_diag_add(d, KM_DIAG_ERROR, c.file, col1(ev.start_mark.line),
                  col1(ev.start_mark.column),
                  "a second YAML document; a manifest or account file holds "
                  "exactly one (remove the `---`)");
      c.failed = true;
    }
    if (t == YAML_SCALAR_EVENT || t == YAML_SEQUENCE_START_EVENT ||
        t == YAML_MAPPING_START_EVENT || t == YAML_ALIAS_EVENT) {
      doc->root = build(&c, &ev, 0);
      continue;
    }
    yaml_event_delete(&ev);
  }
  yaml_parser_delete(&c.p);
  fclose(fp);
  if (c.failed || c.dup) {
    km__ydoc_free(doc);
    return KM_EMANIFEST;
  }
  *out = doc;
  return 0;
}

void km__ydoc_free(km_ydoc_t *doc) {
  if (doc == NULL) return;
  node_free(doc->root);
  free(doc->file);
  free(doc);
}

long km__ymap_index(const km_ynode_t *map, const char *key) {
  if (map == NULL || map->kind != KM_YMAP) return -1;
  for (size_t i = 0; i < map->n; i++)
    if (map->keys[i]->kind == KM_YSCALAR && strcmp(map->keys[i]->str, key) == 0)
      return (long)i;
  return -1;
}

const km_ynode_t *km__ymap_get(const km_ynode_t *map, const char *key) {
  long i = km__ymap_index(map, key);
  return i < 0 ? NULL : map->items[i];
}

bool km__ynull(const km_ynode_t *n) {
  if (n == NULL) return true;
  if (n->kind != KM_YSCALAR || !n->plain) return false;
  const char *s = n->str;
  return s[0] == '\0' || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 ||
         strcmp(s, "Null") == 0 || strcmp(s, "NULL") == 0;
}
