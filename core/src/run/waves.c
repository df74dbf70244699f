/* Waves and migration windows of a run (see waves.h, docs/waves.md).
 *
 * Membership is computed once, after the accounts are known (the resource
 * directory listed), from the manifest and the run's account order: the
 * same manifest and accounts always give the same waves.  The gate after a
 * wave is decided here (an earlier sitting's decision from the journal,
 * --advance, --auto-advance on a clean wave, a prompt on a terminal, else
 * stop) and journalled before the next wave starts, so a resume knows which
 * waves passed.  An account outside its window is held before PREPARE: no
 * call of it changes anything, and the run says when the window opens. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "engine/pipeline_priv.h"
#include "run/runtime.h"
#include "run/waves.h"
#include "run/waves_priv.h"

static bool list_has(const km_mf_strlist_t *l, const char *s) {
  for (size_t i = 0; i < l->n; i++)
    if (strcmp(l->v[i], s) == 0) return true;
  return false;
}

bool km_waves_tags_match(const km_mf_kv_t *have, size_t nhave,
                         const km_mf_kv_t *want, size_t nwant) {
  if (nwant == 0) return false;
  for (size_t i = 0; i < nwant; i++) {
    bool found = false;
    for (size_t k = 0; k < nhave && !found; k++)
      found = strcmp(have[k].key, want[i].key) == 0 &&
              strcmp(have[k].value, want[i].value) == 0;
    if (!found) return false;
  }
  return true;
}

static bool named_in(const km_mf_wave_t *w, const km_wave_acct_t *a) {
  return list_has(&w->accounts, a->name) ||
         km_waves_tags_match(a->tags, a->ntags, w->tags, w->ntags);
}

int km_waves_assign(const km_mf_wave_t *waves, size_t nwaves,
                    const km_wave_acct_t *accts, size_t n, bool allow_missing,
                    int *wave_out, km_err_t *err) {
  for (size_t i = 0; i < n; i++)
    wave_out[i] = 0;
  for (size_t w = 0; w < nwaves; w++) {
    if (waves[w].kind != KM_MF_WAVE_NAMED) continue;
    for (size_t k = 0; k < waves[w].accounts.n && !allow_missing; k++) {
      size_t i = 0;
      while (i < n && strcmp(accts[i].name, waves[w].accounts.v[k]) != 0)
        i++;
      if (i == n) {
        km__err_set(err, KM_EINVAL,
                    "%s:%d:%d: wave '%s' names account '%s', which is not an "
                    "account of this run (check the name, or the resource "
                    "directory's members: `kmsmig plan` lists them)",
                    waves[w].pos.file, waves[w].pos.line, waves[w].pos.col,
                    waves[w].name, waves[w].accounts.v[k]);
        return KM_EINVAL;
      }
    }
    for (size_t i = 0; i < n; i++)
      if (wave_out[i] == 0 && named_in(&waves[w], &accts[i]))
        wave_out[i] = (int)w + 1;
  }
  size_t rest = 0, taken = 0;
  for (size_t i = 0; i < n; i++)
    rest += wave_out[i] == 0;
  size_t cursor = 0; /* walks the accounts left, in order */
  for (size_t w = 0; w < nwaves; w++) {
    size_t k;
    switch (waves[w].kind) {
    case KM_MF_WAVE_PERCENT:
      k = (size_t)ceil((double)waves[w].amount * (double)rest / 100.0);
      break;
    case KM_MF_WAVE_COUNT:
      k = (size_t)waves[w].amount;
      break;
    case KM_MF_WAVE_REST:
      k = rest;
      break;
    default:
      continue;
    }
    if (k > rest - taken) k = rest - taken;
    for (size_t got = 0; got < k && cursor < n; cursor++)
      if (wave_out[cursor] == 0) {
        wave_out[cursor] = (int)w + 1;
        got++;
        taken++;
      }
  }
  return 0;
}

/* ---- setup ---- */

static bool window_applies(const km_mf_window_t *e, const km_mf_account_t *a) {
  if (e->accounts.n == 0 && e->ntags == 0) return true;
  return list_has(&e->accounts, a->name) ||
         km_waves_tags_match(a->tags, a->ntags, e->tags, e->ntags);
}

/* The set of window entries of account a, shared with every account that
 * has the same set (most fleets have a few). */
static int sched_of(struct km_waves_s *W, const km_manifest_t *m,
                    const km_mf_account_t *a) {
  const km_window_t **ws = km_xcalloc(m->nwindows + 1, sizeof(*ws));
  size_t n = 0;
  for (size_t i = 0; i < m->nwindows; i++)
    if (window_applies(&m->windows[i], a)) ws[n++] = &m->windows[i].w;
  if (n == 0) {
    free(ws);
    return -1;
  }
  for (size_t s = 0; s < W->nsched; s++)
    if (W->sched[s].n == n &&
        memcmp(W->sched[s].ws, ws, n * sizeof(*ws)) == 0) {
      free(ws);
      return (int)s;
    }
  W->sched = km_xrealloc(W->sched, (W->nsched + 1) * sizeof(*W->sched));
  memset(&W->sched[W->nsched], 0, sizeof(W->sched[W->nsched]));
  W->sched[W->nsched].ws = ws;
  W->sched[W->nsched].n = n;
  return (int)W->nsched++;
}

size_t km__waves_acct(km_runtime_t *rt, const char *name) {
  km_rt_account_t *a = km_runtime_account(rt, name);
  return a != NULL ? (size_t)(a - rt->accts) : 0;
}

static int setup_waves(km_runtime_t *rt, struct km_waves_s *W) {
  const km_manifest_t *m = rt->m;
  km_wave_acct_t *in = km_xcalloc(rt->naccts + 1, sizeof(*in));
  size_t *idx = km_xcalloc(rt->naccts + 1, sizeof(*idx));
  bool *has = km_xcalloc(rt->naccts + 1, sizeof(*has));
  for (size_t t = 0; t < rt->ntargets; t++)
    has[km__waves_acct(rt, rt->targets[t].account)] = true;
  size_t n = 0;
  for (size_t i = 0; i < rt->naccts; i++) {
    if (!has[i]) continue;
    const km_mf_account_t *a = rt->accts[i].mf;
    in[n] = (km_wave_acct_t){a->name, a->tags, a->ntags};
    idx[n++] = i;
  }
  int *wave = km_xcalloc(n + 1, sizeof(*wave));
  km_err_t err;
  memset(&err, 0, sizeof(err));
  int rc = km_waves_assign(m->waves, m->nwaves, in, n,
                           rt->shard_n > 1 || rt->plan != NULL, wave, &err);
  if (rc < 0) fprintf(stderr, "kmsmig: %s\n", err.text);
  for (size_t k = 0; rc == 0 && k < n; k++)
    W->acct_wave[idx[k]] = wave[k];
  free(wave);
  free(in);
  free(idx);
  free(has);
  return rc;
}

/* A migrate.when inside a freeze (or outside the allowed hours, with its
 * rotation lead) moves to the first time both are allowed. */
static int setup_windows(km_runtime_t *rt, struct km_waves_s *W) {
  for (size_t i = 0; i < rt->naccts; i++)
    W->acct_sched[i] = sched_of(W, rt->m, rt->accts[i].mf);
  for (size_t t = 0; t < rt->ntargets; t++) {
    km_target_t *tg = &rt->targets[t];
    size_t a = km__waves_acct(rt, tg->account);
    tg->wave = W->acct_wave[a];
    if (W->acct_sched[a] < 0 || tg->when <= 0) continue;
    sched_t *s = &W->sched[W->acct_sched[a]];
    if (s->when_in != tg->when || s->when_out == 0) {
      s->when_in = tg->when;
      s->when_out = km_window_move(s->ws, s->n, tg->when, tg->rotation_lead_s);
    }
    int64_t moved = s->when_out;
    if (moved < 0) {
      fprintf(stderr,
              "kmsmig: migrate.when %s of account %s: its windows allow no "
              "time within 400 days (with the rotation lead); fix windows: "
              "or migrate.when\n",
              rt->m->migrate.when_text, tg->account);
      return KM_EINVAL;
    }
    if (moved != tg->when && W->acct_when[a] == 0) {
      char was[64], now[64];
      km_window_local_text(s->ws[0]->tz, tg->when, was, sizeof(was));
      km_window_local_text(s->ws[0]->tz, moved, now, sizeof(now));
      km_log(KM_LOG_WARN,
             "%s: migrate.when %s falls outside its migration window; its "
             "batches are scheduled for %s",
             tg->account, was, now);
    }
    if (moved != tg->when) W->acct_when[a] = moved;
    tg->when = moved;
  }
  return 0;
}

int km_waves_setup(km_runtime_t *rt, const km_waves_opts_t *o) {
  if (rt->m->nwaves == 0 && rt->m->nwindows == 0) return 0;
  struct km_waves_s *W = km_xcalloc(1, sizeof(*W));
  rt->waves = W;
  W->o = *o;
  W->nwaves = rt->m->nwaves;
  size_t na = rt->naccts + 1;
  W->acct_wave = km_xcalloc(na, sizeof(*W->acct_wave));
  W->acct_sched = km_xcalloc(na, sizeof(*W->acct_sched));
  W->acct_next = km_xcalloc(na, sizeof(*W->acct_next));
  W->acct_when = km_xcalloc(na, sizeof(*W->acct_when));
  W->passed = km_xcalloc(W->nwaves + 2, sizeof(*W->passed));
  if (W->nwaves > 0 && setup_waves(rt, W) < 0) return KM_EINVAL;
  return setup_windows(rt, W);
}

int64_t km__sched_next(sched_t *s, int64_t now) {
  if (s->asked_at != now || now == 0) {
    s->asked_at = now;
    s->next = km_window_open(s->ws, s->n, now)
                  ? now
                  : km_window_next_open(s->ws, s->n, now);
  }
  return s->next;
}

void km_waves_note_prior(km_runtime_t *rt, const json_t *prior) {
  struct km_waves_s *W = rt->waves;
  size_t i;
  const json_t *r;
  if (W == NULL || !json_is_array(prior)) return;
  json_array_foreach(prior, i, r) {
    const char *type = json_string_value(json_object_get(r, "type"));
    if (type == NULL || strcmp(type, "wave_gate") != 0) continue;
    const json_t *f = json_object_get(r, "fields");
    json_int_t w = json_integer_value(json_object_get(f, "wave"));
    const char *d = json_string_value(json_object_get(f, "decision"));
    if (w >= 1 && (size_t)w <= W->nwaves && d != NULL &&
        strcmp(d, "advance") == 0)
      W->passed[w] = true;
  }
}

void km_waves_free(struct km_waves_s *W) {
  if (W == NULL) return;
  free(W->acct_wave);
  free(W->acct_sched);
  free(W->acct_next);
  free(W->acct_when);
  for (size_t i = 0; i < W->nsched; i++)
    free(W->sched[i].ws);
  free(W->sched);
  free(W->passed);
  free(W);
}
