/* A small YAML node tree with positions, built from libyaml's events.
 *
 * libyaml's document API drops nothing we need but resolves aliases into
 * shared nodes (which can form cycles); a manifest has no use for anchors,
 * so the tree is built from events and aliases are refused with a position.
 */
#ifndef KM_MANIFEST_YAML_TREE_H
#define KM_MANIFEST_YAML_TREE_H

#include <stdbool.h>
#include <stddef.h>

#include "manifest/diag.h"

typedef enum { KM_YSCALAR = 0, KM_YSEQ, KM_YMAP } km_ykind_t;

typedef struct km_ynode_s km_ynode_t;
struct km_ynode_s {
  km_ykind_t kind;
  const char *file; /* borrowed from the owning km_ydoc_t */
  int line;         /* 1-based */
  int col;          /* 1-based */
  /* KM_YSCALAR */
  char *str;  /* owned, NUL-terminated */
  bool plain; /* unquoted (so `~`, `null`, `true`, `12` have meaning) */
  /* KM_YSEQ: items[0..n); KM_YMAP: keys[i] -> items[i] */
  km_ynode_t **items;
  km_ynode_t **keys; /* scalar nodes; NULL for sequences */
  size_t n;
};

typedef struct km_ydoc_s {
  char *file;       /* owned; path as given */
  km_ynode_t *root; /* NULL for an empty document */
} km_ydoc_t;

/* Parses the file at path into *out (owned; free with km__ydoc_free).
 * Syntax errors, aliases, several documents and duplicate mapping keys are
 * reported into d.  Returns 0, KM_ENOENT (cannot open; reported) or
 * KM_EMANIFEST (syntax error; reported; *out is NULL). */
int km__ydoc_load(const char *path, km_ydoc_t **out, km_diags_t *d);
void km__ydoc_free(km_ydoc_t *doc);

/* Map lookup (borrowed); NULL when map is not a mapping or has no key. */
const km_ynode_t *km__ymap_get(const km_ynode_t *map, const char *key);
/* Index of key in map or -1. */
long km__ymap_index(const km_ynode_t *map, const char *key);
/* True for a plain null scalar: empty, `~`, `null`, `Null`, `NULL`. */
bool km__ynull(const km_ynode_t *n);

#endif
