/* The engine's side of waves (docs/waves.md): phase B prepares accounts in
 * wave order, a stable counting sort of the accounts by their targets'
 * wave (account order inside a wave), computed once at the barrier.
 * Without waves every account is in wave 1 and the order is the accounts'
 * own, so a run without `waves:` is scheduled exactly as before. */
#include <stdlib.h>

#include "engine/pipeline_priv.h"
#include "util/util.h"

int km__acct_wave(const km_engine_t *e, size_t a) {
  int w = e->p[e->accts[a].first].t->wave;
  return w > 0 ? w : 1;
}

void km__waves_order(km_engine_t *e) {
  size_t n = e->naccts;
  e->order = km_xcalloc(n ? n : 1, sizeof(*e->order));
  int maxw = 1;
  for (size_t a = 0; a < n; a++)
    if (km__acct_wave(e, a) > maxw) maxw = km__acct_wave(e, a);
  size_t *start = km_xcalloc((size_t)maxw + 2, sizeof(*start));
  for (size_t a = 0; a < n; a++)
    start[km__acct_wave(e, a) + 1]++;
  for (int w = 1; w <= maxw; w++)
    start[w + 1] += start[w];
  for (size_t a = 0; a < n; a++)
    e->order[start[km__acct_wave(e, a)]++] = a;
  free(start);
  e->cur_wave = n > 0 ? km__acct_wave(e, e->order[0]) : 1;
}
