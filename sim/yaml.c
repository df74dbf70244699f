/* YAML <-> JSON for fixtures: libyaml's event parser builds a jansson tree
 * (mappings -> objects, sequences -> arrays, scalars -> strings, plain
 * empty/~/null -> null), and a small block-style writer prints generated
 * fixtures back as YAML that the reader accepts. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "state.h"

/* ---- YAML -> JSON ---- */

typedef struct {
  json_t *stack[128];
  json_t *keys[128]; /* pending key per mapping level (string) */
  int depth;
  json_t *root;
} ytree_t;

static int yadd(ytree_t *t, json_t *v) {
  if (t->depth == 0) {
    if (t->root != NULL) {
      json_decref(v);
      return -1;
    }
    t->root = v;
    return 0;
  }
  json_t *top = t->stack[t->depth - 1];
  if (json_is_array(top)) return json_array_append_new(top, v);
  if (t->keys[t->depth - 1] == NULL) {
    if (!json_is_string(v)) {
      json_decref(v);
      return -1;
    }
    t->keys[t->depth - 1] = v;
    return 0;
  }
  json_t *k = t->keys[t->depth - 1];
  t->keys[t->depth - 1] = NULL;
  int rc = json_object_set_new(top, json_string_value(k), v);
  json_decref(k);
  return rc;
}

json_t *ksim_yaml_load(const char *path, char *err, size_t errlen) {
  FILE *f = fopen(path, "rb");
  if (f == NULL) {
    snprintf(err, errlen, "%s: cannot open", path);
    return NULL;
  }
  yaml_parser_t p;
  yaml_parser_initialize(&p);
  yaml_parser_set_input_file(&p, f);
  ytree_t t;
  memset(&t, 0, sizeof(t));
  bool done = false, bad = false;
  while (!done && !bad) {
    yaml_event_t ev;
    if (!yaml_parser_parse(&p, &ev)) {
      snprintf(err, errlen, "%s:%zu:%zu: %s", path, p.problem_mark.line + 1,
               p.problem_mark.column + 1,
               p.problem != NULL ? p.problem : "YAML error");
      bad = true;
      break;
    }
    unsigned long line = (unsigned long)ev.start_mark.line + 1;
    switch (ev.type) {
    case YAML_STREAM_END_EVENT:
      done = true;
      break;
    case YAML_MAPPING_START_EVENT:
    case YAML_SEQUENCE_START_EVENT: {
      json_t *c =
          ev.type == YAML_MAPPING_START_EVENT ? json_object() : json_array();
      if (t.depth >= 127 || yadd(&t, json_incref(c)) < 0) {
        json_decref(c);
        snprintf(err, errlen, "%s:%lu: unsupported structure", path, line);
        bad = true;
        break;
      }
      t.stack[t.depth] = c;
      t.keys[t.depth] = NULL;
      t.depth++;
      break;
    }
    case YAML_MAPPING_END_EVENT:
    case YAML_SEQUENCE_END_EVENT:
      t.depth--;
      json_decref(t.keys[t.depth]);
      json_decref(t.stack[t.depth]);
      break;
    case YAML_SCALAR_EVENT: {
      const char *v = (const char *)ev.data.scalar.value;
      json_t *s;
      bool plain = ev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
      if (plain && (strcmp(v, "~") == 0 || strcmp(v, "null") == 0 ||
                    ev.data.scalar.length == 0))
        s = json_null();
      else
        s = json_stringn(v, ev.data.scalar.length);
      if (yadd(&t, s) < 0) {
        snprintf(err, errlen, "%s:%lu: unsupported key", path, line);
        bad = true;
      }
      break;
    }
    case YAML_ALIAS_EVENT:
      snprintf(err, errlen, "%s:%lu: YAML aliases are not supported", path,
               line);
      bad = true;
      break;
    default:
      break;
    }
    yaml_event_delete(&ev);
  }
  while (t.depth > 0) {
    t.depth--;
    json_decref(t.keys[t.depth]);
    json_decref(t.stack[t.depth]);
  }
  yaml_parser_delete(&p);
  fclose(f);
  if (bad) {
    json_decref(t.root);
    return NULL;
  }
  if (t.root == NULL) t.root = json_object();
  return t.root;
}

/* ---- YAML writer for --generate ---- */

static void indent(FILE *f, int n) {
  for (int i = 0; i < n; i++)
    fputc(' ', f);
}

static void scalar(FILE *f, json_t *v) {
  if (json_is_string(v)) {
    char *s = json_dumps(v, JSON_ENCODE_ANY);
    fputs(s, f);
    free(s);
  } else if (json_is_null(v)) {
    fputs("null", f);
  } else {
    char *s = json_dumps(v, JSON_ENCODE_ANY);
    fputs(s, f);
    free(s);
  }
}

static bool is_flat(json_t *v) {
  if (json_is_array(v)) {
    size_t i;
    json_t *e;
    json_array_foreach(v, i, e) if (json_is_object(e) ||
                                    json_is_array(e)) return false;
    return true;
  }
  if (json_is_object(v)) return json_object_size(v) == 0;
  return true;
}

static void emit(FILE *f, json_t *v, int ind);

static void emit_value_after_key(FILE *f, json_t *v, int ind) {
  if (is_flat(v) && (json_is_array(v) || json_is_object(v))) {
    fputc(' ', f);
    char *s = json_dumps(v, JSON_COMPACT);
    fputs(s, f);
    free(s);
    fputc('\n', f);
  } else if (json_is_array(v) || json_is_object(v)) {
    fputc('\n', f);
    emit(f, v, ind + 2);
  } else {
    fputc(' ', f);
    scalar(f, v);
    fputc('\n', f);
  }
}

static void emit(FILE *f, json_t *v, int ind) {
  if (json_is_object(v)) {
    const char *k;
    json_t *e;
    json_object_foreach(v, k, e) {
      indent(f, ind);
      fprintf(f, "%s:", k);
      emit_value_after_key(f, e, ind);
    }
  } else if (json_is_array(v)) {
    size_t i;
    json_t *e;
    json_array_foreach(v, i, e) {
      indent(f, ind);
      if (json_is_object(e) && json_object_size(e) > 0) {
        fputs("- ", f);
        bool first = true;
        const char *k;
        json_t *x;
        json_object_foreach(e, k, x) {
          if (!first) indent(f, ind + 2);
          first = false;
          fprintf(f, "%s:", k);
          emit_value_after_key(f, x, ind + 2);
        }
      } else {
        fputs("-", f);
        emit_value_after_key(f, e, ind);
      }
    }
  } else {
    indent(f, ind);
    scalar(f, v);
    fputc('\n', f);
  }
}

void ksim_yaml_emit(FILE *f, json_t *tree) {
  fputs("# kmsim fixture (generated)\n", f);
  emit(f, tree, 0);
}
