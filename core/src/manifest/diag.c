/* The diagnostics list behind `kmsmig validate`: append, order and print.
 *
 * Ordering is by file in order of first appearance (so the manifest comes
 * before the account files it includes), then line and column, so the
 * operator reads errors top to bottom while checks run in whatever order
 * is convenient for the code. */
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "manifest/diag.h"
#include "util/util.h"

void km_diags_init(km_diags_t *d) {
  memset(d, 0, sizeof(*d));
}

void km_diags_free(km_diags_t *d) {
  if (d == NULL) return;
  for (size_t i = 0; i < d->n; i++) {
    free(d->v[i].file);
    free(d->v[i].msg);
  }
  free(d->v);
  memset(d, 0, sizeof(*d));
}

void km_diag_add(km_diags_t *d, km_diag_level_t level, const char *file,
                 int line, int col, const char *fmt, ...) {
  if (d->n == d->cap) {
    d->cap = d->cap ? d->cap * 2 : 16;
    d->v = km_xrealloc(d->v, d->cap * sizeof(*d->v));
  }
  char tmp[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(tmp, sizeof(tmp), fmt, ap);
  va_end(ap);
  km_diag_t *g = &d->v[d->n++];
  g->level = level;
  g->file = km_xstrdup(file ? file : "");
  g->line = line;
  g->col = col;
  g->msg = km_xstrdup(tmp);
  if (level == KM_DIAG_ERROR)
    d->nerrors++;
  else
    d->nwarnings++;
}

/* Rank of a file: index of its first diagnostic. */
static size_t file_rank(const km_diags_t *d, const char *file) {
  for (size_t i = 0; i < d->n; i++)
    if (strcmp(d->v[i].file, file) == 0) return i;
  return d->n;
}

void km_diags_sort(km_diags_t *d) {
  /* Insertion sort: lists are short and it is stable. */
  size_t *rank = km_xcalloc(d->n ? d->n : 1, sizeof(*rank));
  for (size_t i = 0; i < d->n; i++)
    rank[i] = file_rank(d, d->v[i].file);
  for (size_t i = 1; i < d->n; i++) {
    km_diag_t g = d->v[i];
    size_t r = rank[i];
    size_t j = i;
    while (j > 0) {
      const km_diag_t *p = &d->v[j - 1];
      size_t pr = rank[j - 1];
      bool after =
          pr > r || (pr == r && (p->line > g.line ||
                                 (p->line == g.line && p->col > g.col)));
      if (!after) break;
      d->v[j] = d->v[j - 1];
      rank[j] = rank[j - 1];
      j--;
    }
    d->v[j] = g;
    rank[j] = r;
  }
  free(rank);
}

char *km_diag_format(const km_diag_t *g) {
  const char *lvl = g->level == KM_DIAG_ERROR ? "error" : "warning";
  if (g->line > 0)
    return km_xasprintf("%s:%d:%d: %s: %s", g->file, g->line, g->col, lvl,
                        g->msg);
  return km_xasprintf("%s: %s: %s", g->file, lvl, g->msg);
}

void km_diags_print(const km_diags_t *d, FILE *fp, km_diag_level_t min) {
  for (size_t i = 0; i < d->n; i++) {
    if (d->v[i].level > min) continue;
    char *s = km_diag_format(&d->v[i]);
    fprintf(fp, "%s\n", s);
    free(s);
  }
}
