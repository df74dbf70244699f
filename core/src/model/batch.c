/* Batching of one pipeline's moving keys and secrets (see batch.h).
 *
 * Secrets are placed earliest-allowed first: with equal capacity in every
 * batch, filling the early batches with the secrets that may go there
 * leaves the later batches for the secrets that must wait for their key,
 * so no secret-only batch is added while an allowed batch still has room.
 */
#include <stdlib.h>
#include <string.h>

#include "model/batch.h"
#include "util/util.h"

typedef struct {
  const char *name;
  size_t earliest; /* first batch the secret may join */
} placed_t;

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static int cmp_placed(const void *a, const void *b) {
  const placed_t *x = a, *y = b;
  if (x->earliest != y->earliest) return x->earliest < y->earliest ? -1 : 1;
  return strcmp(x->name, y->name);
}

static km_batch_t *add_batch(km_batches_t *out) {
  out->v = km_xrealloc(out->v, (out->n + 1) * sizeof(*out->v));
  km_batch_t *b = &out->v[out->n++];
  memset(b, 0, sizeof(*b));
  b->key_ids = km_xcalloc(KM_BATCH_MAX_KEYS, sizeof(char *));
  b->secret_names = km_xcalloc(KM_BATCH_MAX_SECRETS, sizeof(char *));
  return b;
}

int km_batch_plan(const km_inv_t *inv, km_batches_t *out, km_err_t *err) {
  memset(out, 0, sizeof(*out));
  if (inv == NULL) return km__err_set(err, KM_EINVAL, "batch: no inventory");
  /* Moving keys, sorted by id (the inventory may not be sorted). */
  const char **keys = km_xcalloc(inv->nkeys ? inv->nkeys : 1, sizeof(*keys));
  size_t nk = 0;
  for (size_t i = 0; i < inv->nkeys; i++)
    if (km_verdict_moves(inv->keys[i].verdict))
      keys[nk++] = inv->keys[i].key_id;
  qsort(keys, nk, sizeof(*keys), cmp_str);
  for (size_t i = 0; i < nk; i++) {
    km_batch_t *b =
        (i % KM_BATCH_MAX_KEYS == 0) ? add_batch(out) : &out->v[out->n - 1];
    b->key_ids[b->nkeys++] = km_xstrdup(keys[i]);
  }

  placed_t *sec = km_xcalloc(inv->nsecrets ? inv->nsecrets : 1, sizeof(*sec));
  size_t ns = 0;
  for (size_t i = 0; i < inv->nsecrets; i++) {
    const km_inv_secret_t *s = &inv->secrets[i];
    if (!km_verdict_moves(s->verdict)) continue;
    sec[ns].name = s->secret_name;
    sec[ns].earliest = 0;
    const km_inv_key_t *cmk = km_inv_find_key(inv, s->encryption_key_id);
    if (cmk != NULL && km_verdict_moves(cmk->verdict)) {
      /* Index of the CMK in the sorted key list gives its batch. */
      const char *id = cmk->key_id;
      const char **hit = bsearch(&id, keys, nk, sizeof(*keys), cmp_str);
      if (hit != NULL)
        sec[ns].earliest = (size_t)(hit - keys) / KM_BATCH_MAX_KEYS;
    }
    ns++;
  }
  qsort(sec, ns, sizeof(*sec), cmp_placed);
  for (size_t i = 0; i < ns; i++) {
    size_t b = sec[i].earliest;
    while (b < out->n && out->v[b].nsecrets == KM_BATCH_MAX_SECRETS)
      b++;
    if (b == out->n) add_batch(out);
    km_batch_t *bt = &out->v[b];
    bt->secret_names[bt->nsecrets++] = km_xstrdup(sec[i].name);
  }
  for (size_t i = 0; i < out->n; i++)
    qsort(out->v[i].secret_names, out->v[i].nsecrets, sizeof(char *), cmp_str);
  free(sec);
  free(keys);
  return 0;
}

void km_batches_free(km_batches_t *b) {
  for (size_t i = 0; b != NULL && i < b->n; i++) {
    for (size_t k = 0; k < b->v[i].nkeys; k++)
      free(b->v[i].key_ids[k]);
    for (size_t s = 0; s < b->v[i].nsecrets; s++)
      free(b->v[i].secret_names[s]);
    free(b->v[i].key_ids);
    free(b->v[i].secret_names);
  }
  if (b != NULL) {
    free(b->v);
    b->v = NULL;
    b->n = 0;
  }
}

json_t *km_batches_to_json(const km_batches_t *b) {
  json_t *a = json_array();
  for (size_t i = 0; i < b->n; i++) {
    json_t *k = json_array(), *s = json_array();
    for (size_t j = 0; j < b->v[i].nkeys; j++)
      json_array_append_new(k, json_string(b->v[i].key_ids[j]));
    for (size_t j = 0; j < b->v[i].nsecrets; j++)
      json_array_append_new(s, json_string(b->v[i].secret_names[j]));
    json_array_append_new(a, json_pack("{s:o, s:o}", "keys", k, "secrets", s));
  }
  return a;
}
