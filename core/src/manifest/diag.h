/* Diagnostics: the list of errors and warnings a manifest check produces.
 *
 * Checks never stop at the first problem; each one appends a diagnostic
 * carrying its own file:line:col, and the caller prints them all at once
 * as `file:line:col: error: what is wrong; how to fix`.
 */
#ifndef KM_MANIFEST_DIAG_H
#define KM_MANIFEST_DIAG_H

#include <stdio.h>

#include "kmsmig/errors.h"

typedef enum { KM_DIAG_ERROR = 0, KM_DIAG_WARNING } km_diag_level_t;

typedef struct km_diag_s {
  km_diag_level_t level;
  char *file; /* owned; as the user spelled it (relative paths kept) */
  int line;   /* 1-based; 0 when the whole file is meant */
  int col;    /* 1-based; 0 when the whole file is meant */
  char *msg;  /* owned */
} km_diag_t;

typedef struct km_diags_s {
  km_diag_t *v;
  size_t n;
  size_t cap;
  size_t nerrors;
  size_t nwarnings;
} km_diags_t;

void km_diags_init(km_diags_t *d);
void km_diags_free(km_diags_t *d);
/* Appends one diagnostic (file is copied; NULL file allowed). */
void km_diag_add(km_diags_t *d, km_diag_level_t level, const char *file,
                 int line, int col, const char *fmt, ...) KM_PRINTF(6, 7);
/* Orders diagnostics by file (first appearance), line, column; stable. */
void km_diags_sort(km_diags_t *d);
/* Writes one line per diagnostic of at least `min` severity (KM_DIAG_ERROR
 * prints only errors) to fp (borrowed). */
void km_diags_print(const km_diags_t *d, FILE *fp, km_diag_level_t min);
/* Formats g (borrowed) as "file:line:col: error: msg"; returns an owned
 * string. */
char *km_diag_format(const km_diag_t *g);

#endif
