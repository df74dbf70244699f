/* Journal records of the rotation steps, and folding them back into the
 * state of each resource.
 *
 * host->journal_replay gives the records of an EARLIER attempt of the run
 * (resume after a crash or kill -9), not the ones this process appended.
 * RESTORE needs both: what an earlier attempt turned off and what PREPARE
 * turned off a moment ago.  So every record a plugin journals is also kept
 * here, per pipeline (account and region), and kp_rots_load folds the
 * replayed records first and this process's after them.  Folding is
 * idempotent, so a host that also replays the live journal gives the same
 * answer.
 *
 * The rule (docs/plugins.md): a rotation_off without a later
 * rotation_restored is still off, and its journalled policy is the truth,
 * whatever discovery reads now (it reads "Disabled" because we did that).
 */
#include <stdlib.h>
#include <string.h>

#include "kp.h"
#include "util/util.h"

typedef struct pipe_log_s {
  char *pipe; /* "account\nregion" */
  char **recs;
  size_t n;
} pipe_log_t;

struct kp_session_s {
  pipe_log_t *v;
  size_t n;
};

kp_session_t *kp_session_new(void) {
  return km_xcalloc(1, sizeof(kp_session_t));
}

void kp_session_free(kp_session_t *s) {
  if (s == NULL) return;
  for (size_t i = 0; i < s->n; i++) {
    for (size_t j = 0; j < s->v[i].n; j++)
      free(s->v[i].recs[j]);
    free(s->v[i].recs);
    free(s->v[i].pipe);
  }
  free(s->v);
  free(s);
}

static pipe_log_t *pipe_log(kp_session_t *s, kp_run_t *r, bool create) {
  const char *a = r->host->get(r->p, "account");
  const char *g = r->host->get(r->p, "region");
  char *key = km_xasprintf("%s\n%s", a ? a : "", g ? g : "");
  for (size_t i = 0; i < s->n; i++) {
    if (strcmp(s->v[i].pipe, key) == 0) {
      free(key);
      return &s->v[i];
    }
  }
  if (!create) {
    free(key);
    return NULL;
  }
  s->v = km_xrealloc(s->v, (s->n + 1) * sizeof(*s->v));
  pipe_log_t *l = &s->v[s->n++];
  memset(l, 0, sizeof(*l));
  l->pipe = key;
  return l;
}

int kp_journal(kp_run_t *r, kp_session_t *s, json_t *rec) {
  char *text = json_dumps(rec, JSON_COMPACT | JSON_SORT_KEYS);
  const char *type = json_string_value(json_object_get(rec, "type"));
  const char *id = json_string_value(json_object_get(rec, "id"));
  int rc = text != NULL ? r->host->journal(r->p, text) : KM_ENOMEM;
  if (rc < 0) {
    free(text);
    kp_fail(r, KM_EJOURNAL, NULL,
            "journal record %s for %s could not be written (%s); nothing "
            "was changed after it",
            type ? type : "?", id ? id : "?", km_strerror(rc));
    json_decref(rec);
    return KM_EJOURNAL;
  }
  json_decref(rec);
  pipe_log_t *l = pipe_log(s, r, true);
  l->recs = km_xrealloc(l->recs, (l->n + 1) * sizeof(*l->recs));
  l->recs[l->n++] = text;
  return 0;
}

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

static void fold(const char *record_json, void *ud) {
  fold_t *f = ud;
  json_t *j = json_loads(record_json, 0, NULL);
  const char *type = json_string_value(json_object_get(j, "type"));
  const char *kind = json_string_value(json_object_get(j, "kind"));
  const char *id = json_string_value(json_object_get(j, "id"));
  if (type == NULL || id == NULL || !kp_streq(kind, f->kind)) {
    json_decref(j);
    return;
  }
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
  json_decref(j);
}

void kp_rots_load(kp_run_t *r, kp_session_t *s, const char *kind,
                  kp_rots_t *out) {
  memset(out, 0, sizeof(*out));
  fold_t f = {kind, out};
  if (r->host->journal_replay != NULL) r->host->journal_replay(r->p, fold, &f);
  pipe_log_t *l = pipe_log(s, r, false);
  for (size_t i = 0; l != NULL && i < l->n; i++)
    fold(l->recs[i], &f);
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
