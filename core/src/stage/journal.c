/* The journal folded back into the rotation state of each resource.
 *
 * The host keeps each pipeline's records, those of earlier attempts of the
 * run (resume after a crash or kill -9) followed by the ones this attempt
 * wrote (kp_records), so RESTORE sees both what an earlier attempt turned
 * off and what PREPARE turned off a moment ago, from one list.
 *
 * The rule (docs/plugins.md): a rotation_off without a later
 * rotation_restored is still off, and its journalled policy is the truth,
 * whatever discovery reads now (it reads "Disabled" because we did that).
 */
#include <stdlib.h>
#include <string.h>

#include "stage/rotation.h"
#include "util/util.h"

/* ---- folding ---- */

typedef struct fold_s {
  const char *kind;
  kp_rots_t *out;
} fold_t;

kp_rot_t *kp_rots_find(const kp_rots_t *rots, const char *id) {
  for (size_t i = 0; id != NULL && i < rots->n; i++)
    if (strcmp(rots->v[i].id, id) == 0) return &rots->v[i];
  return NULL;
}

static void fold(const json_t *j, fold_t *f) {
  const char *type = json_string_value(json_object_get(j, "type"));
  const char *kind = json_string_value(json_object_get(j, "kind"));
  const char *id = json_string_value(json_object_get(j, "id"));
  if (type == NULL || id == NULL || !kp_streq(kind, f->kind)) return;
  kp_rot_t *x = kp_rots_find(f->out, id);
  if (x == NULL && strcmp(type, "rotation_off") == 0) {
    kp_rots_t *o = f->out;
    o->v = km_xrealloc(o->v, (o->n + 1) * sizeof(*o->v));
    x = &o->v[o->n++];
    memset(x, 0, sizeof(*x));
    x->id = km_xstrdup(id);
  }
  if (x != NULL) {
    if (strcmp(type, "rotation_off") == 0) {
      /* While open, the first record holds the original policy: a repeated
       * one (replay of a live journal) must not replace it. */
      if (!x->open) {
        km_inv_set(&x->automatic_rotation,
                   json_string_value(json_object_get(j, "automatic_rotation")));
        km_inv_set(&x->interval,
                   json_string_value(json_object_get(j, "rotation_interval")));
        x->off_done = false;
      }
      x->open = true;
    } else if (strcmp(type, "rotation_off_done") == 0) {
      x->off_done = true;
    } else if (strcmp(type, "rotation_restored") == 0) {
      x->open = false;
    }
  }
}

void kp_rots_load(km_sctx_t *c, const char *kind, kp_rots_t *out) {
  memset(out, 0, sizeof(*out));
  fold_t f = {kind, out};
  size_t i;
  const json_t *rec;
  json_array_foreach(kp_records(c), i, rec) fold(rec, &f);
}
void kp_rots_free(kp_rots_t *rots) {
  for (size_t i = 0; i < rots->n; i++) {
    free(rots->v[i].id);
    free(rots->v[i].automatic_rotation);
    free(rots->v[i].interval);
  }
  free(rots->v);
  rots->v = NULL;
  rots->n = 0;
}
