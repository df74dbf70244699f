/* The engine's scheduler and the per-pipeline state machine (see engine.h).
 *
 * Pipelines of one account start together (an account is the unit of
 * failure tolerance and of the max_accounts bound); accounts are kept as
 * ranges of adjacent pipelines with counters, so scheduling costs O(1) per
 * event however many accounts a run has.
 *
 * Every stage gets its own context (stage/stage.h).  When a stage ends,
 * the pipeline is queued and the next step is taken from the loop's idle
 * callback, never on the stack of the stage that ended: a stage that ends
 * inside its own start cannot make the stack grow with the number of
 * stages or pipelines.  A stage context that ends after the pipeline moved
 * on is ignored (host.c checks it is the current one). */
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "engine/pipeline_priv.h"
#include "model/intern.h"
#include "model/strmap.h"
#include "util/util.h"

static km_inv_t *model_new(const km_target_t *t) {
  km_inv_t *inv =
      km_inv_new(t->account, t->account_id, t->region, t->instance_id);
  inv->instance_type = t->instance_type;
  inv->image_version = (char *)km_intern(t->image_version);
  inv->auto_renew = t->auto_renew;
  inv->select = t->select;
  return inv;
}

/* Hands each pipeline the records of earlier attempts that are its own,
 * flattened to {type, fields...}: one pass over the journal. */
static void distribute_records(km_engine_t *e, const json_t *prior) {
  if (!json_is_array(prior) || json_array_size(prior) == 0) return;
  km_strmap_t *by = km_strmap_new(e->n);
  for (size_t i = 0; i < e->n; i++) {
    char *k = km_xasprintf("%s\n%s", e->p[i].t->account, e->p[i].t->region);
    km_strmap_put(by, k, i);
    free(k);
  }
  size_t i;
  const json_t *r;
  json_array_foreach(prior, i, r) {
    const json_t *f = json_object_get(r, "fields");
    const char *a = json_string_value(json_object_get(f, "account"));
    const char *g = json_string_value(json_object_get(f, "region"));
    const char *type = json_string_value(json_object_get(r, "type"));
    if (a == NULL || g == NULL || type == NULL) continue;
    char *k = km_xasprintf("%s\n%s", a, g);
    size_t at;
    if (km_strmap_get(by, k, &at)) {
      json_t *flat = json_deep_copy(f);
      json_object_set_new(flat, "type", json_string(type));
      if (e->p[at].records == NULL) e->p[at].records = json_array();
      json_array_append_new(e->p[at].records, flat);
    }
    free(k);
  }
  km_strmap_free(by);
}

km_engine_t *km_engine_new(const km_engine_opts_t *opts,
                           const km_target_t *targets, size_t n) {
  km_engine_t *e = km_xcalloc(1, sizeof(*e));
  e->o = *opts;
  if (e->o.max_accounts <= 0) e->o.max_accounts = 16;
  struct timeval tv;
  gettimeofday(&tv, NULL);
  e->t0_wall_ms = (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
  e->t0_ms = km_now_ms();
  e->n = n;
  e->p = km_xcalloc(n ? n : 1, sizeof(*e->p));
  e->accts = km_xcalloc(n ? n : 1, sizeof(*e->accts));
  for (size_t i = 0; i < n; i++) {
    km_pipeline_t *p = &e->p[i];
    p->e = e;
    p->index = i;
    p->t = &targets[i];
    p->inv = model_new(p->t);
    /* A new account starts where the account name changes. */
    if (i == 0 || strcmp(targets[i - 1].account, targets[i].account) != 0)
      e->accts[e->naccts++].first = i;
    p->acct = e->naccts - 1;
    e->accts[p->acct].n++;
  }
  e->counts.pipelines = n;
  e->counts.accounts = e->naccts;
  e->counts.by_state[KM_PIPE_PENDING] = n;
  distribute_records(e, opts->prior_records);
  e->o.prior_records = NULL; /* borrowed only for the line above */
  uv_idle_init(e->o.loop, &e->kick);
  e->kick.data = e;
  km__host_jflush_init(e);
  e->open_handles = 2;
  return e;
}

/* ---- the stage timeline (report.json "stages") ---- */

static uint32_t span_now(const km_engine_t *e) {
  uint64_t d = km_now_ms() - e->t0_ms + 1;
  return d > UINT32_MAX ? UINT32_MAX : (uint32_t)d;
}

static void span_begin(km_pipeline_t *p) {
  if ((unsigned)p->stage >= KM_STAGE__COUNT) return;
  p->span_begin[p->stage] = span_now(p->e);
  p->span_end[p->stage] = 0;
  p->span_status[p->stage] = KM__SPAN_NONE;
}

/* The current stage ended (once: a pipeline resumed at the barrier passes
 * through next_stage at PREFLIGHT again). */
static void span_end(km_pipeline_t *p) {
  km_stage_t s = p->stage;
  if ((unsigned)s >= KM_STAGE__COUNT || p->span_begin[s] == 0 ||
      p->span_end[s] != 0)
    return;
  p->span_end[s] = span_now(p->e);
  if (p->span_status[s] == KM__SPAN_NONE)
    p->span_status[s] =
        p->blocked && s <= KM_STAGE_PREFLIGHT ? KM__SPAN_BLOCKED : KM__SPAN_OK;
}

bool km_pipeline_stage_span(const km_pipeline_t *p, km_stage_t s,
                            int64_t *begin_ms, int64_t *end_ms,
                            const char **status) {
  static const char *const names[] = {"running", "ok", "failed", "blocked"};
  if ((unsigned)s >= KM_STAGE__COUNT || p->span_begin[s] == 0) return false;
  int64_t t0 = p->e->t0_wall_ms - 1;
  *begin_ms = t0 + p->span_begin[s];
  *end_ms = p->span_end[s] != 0 ? t0 + p->span_end[s] : 0;
  *status = p->span_end[s] != 0 ? names[p->span_status[s]] : names[0];
  return true;
}

static void progress(km_pipeline_t *p, km_pipe_ev_kind_t kind) {
  if (p->e->o.progress == NULL) return;
  km_pipe_ev_t ev = {kind, p->state, km_pipeline_stage(p)};
  p->e->o.progress(p, &ev, p->e->o.progress_ud);
}

/* Moves p to stage s, keeping the per-stage counts. */
static void set_stage(km_pipeline_t *p, km_stage_t s) {
  km_engine_counts_t *k = &p->e->counts;
  if (p->state == KM_PIPE_RUNNING) {
    k->in_stage[p->stage]--;
    k->in_stage[s]++;
  }
  p->stage = s;
}

/* An ended pipeline in the account counts. */
static void count_end(km_pipeline_t *p) {
  km_acct_t *a = &p->e->accts[p->acct];
  if (++a->ended == a->n) p->e->counts.accounts_ended++;
}

static void schedule(km_engine_t *e);

/* Moves p to state st, keeping the account counters. */
static void set_state(km_pipeline_t *p, km_pipe_state_t st) {
  km_engine_t *e = p->e;
  km_acct_t *a = &e->accts[p->acct];
  if (p->state == KM_PIPE_RUNNING && --a->running == 0) e->running_accts--;
  if (p->state == KM_PIPE_WAITING) a->waiting--;
  km_engine_counts_t *k = &e->counts;
  k->by_state[p->state]--;
  k->by_state[st]++;
  if (p->state == KM_PIPE_RUNNING) k->in_stage[p->stage]--;
  if (st == KM_PIPE_RUNNING) k->in_stage[p->stage]++;
  p->state = st;
  if (st == KM_PIPE_RUNNING && a->running++ == 0) e->running_accts++;
  if (st == KM_PIPE_WAITING) a->waiting++;
  if (st == KM_PIPE_FAILED && !a->failed) {
    a->failed = true;
    e->failed_accounts++;
  }
  if (st == KM_PIPE_FAILED && p->prepared && !a->failed_b) {
    a->failed_b = true;
    e->failed_b_accounts++;
  }
}

/* ---- stage walking ---- */

static bool stage_wanted(const km_engine_t *e, km_stage_t s) {
  if (e->o.mode == KM_MODE_PLAN) return s <= KM_STAGE_PREFLIGHT;
  return true;
}

static void run_stage_provider(km_pipeline_t *p);

static void pipeline_end(km_pipeline_t *p, km_pipe_state_t st) {
  km_engine_t *e = p->e;
  if (st == KM_PIPE_OK && p->blocked) st = KM_PIPE_BLOCKED;
  span_end(p);
  set_state(p, st);
  e->ended++;
  count_end(p);
  /* Only the model stays for the report: the Lua state and the journal
   * records are this pipeline's working memory. */
  km__host_hooks_close(p);
  json_decref(p->records);
  p->records = NULL;
  km_inv_drop_indexes(
      p->inv); /* rebuilt on a lookup, if the report makes one */
#ifdef __GLIBC__
  /* What ended pipelines freed (Lua states, replies) sits in the heap
   * between the models that stay; give its pages back now and then so a
   * run of thousands of pipelines costs what it keeps, not what it used. */
  if (e->ended % 64 == 0) malloc_trim(0);
#endif
  progress(p, KM_PEV_ENDED);
  schedule(e);
}

static void next_stage(km_pipeline_t *p) {
  km_engine_t *e = p->e;
  km_stage_t s = p->stage;
  span_end(p);
  if (p->failed) {
    /* After a failure only RESTORE still runs, and only if PREPARE began. */
    if (p->prepared && s < KM_STAGE_RESTORE) {
      set_stage(p, KM_STAGE_RESTORE);
      p->provider = 0;
      span_begin(p);
      progress(p, KM_PEV_RESTORING);
      run_stage_provider(p);
      return;
    }
    pipeline_end(p, KM_PIPE_FAILED);
    return;
  }
  if (s == KM_STAGE_PREFLIGHT && p->state == KM_PIPE_RUNNING &&
      !p->passed_barrier) {
    p->passed_barrier = true;
    set_state(p, KM_PIPE_WAITING);
    /* Every pipeline waits here at once: only its model should.  The Lua
     * state of its preflight hooks is closed (a new one serves phase B;
     * docs/hooks.md: hook globals do not survive the barrier). */
    km__host_hooks_close(p);
    km_inv_drop_indexes(p->inv);
    progress(p, KM_PEV_BARRIER);
    schedule(e);
    return;
  }
  if (s + 1 >= KM_STAGE__COUNT || !stage_wanted(e, s + 1)) {
    pipeline_end(p, KM_PIPE_OK);
    return;
  }
  set_stage(p, s + 1);
  if (p->stage == KM_STAGE_PREPARE) p->prepared = true;
  p->provider = 0;
  span_begin(p);
  progress(p, KM_PEV_STAGE);
  run_stage_provider(p);
}

/* The next provider of the current stage at or after i, or n. */
static size_t provider_at(const km_pipeline_t *p, size_t i,
                          const km_stage_ops_t **ops, void **state) {
  size_t n = km_stages_count(p->e->o.stages);
  for (; i < n; i++) {
    *ops = km_stages_at(p->e->o.stages, i, state);
    if (*ops != NULL && ((*ops)->stages & KM_STAGE_BIT(p->stage))) return i;
  }
  *ops = NULL;
  return n;
}

static km_sctx_t *new_ctx(km_pipeline_t *p, const km_stage_ops_t *ops) {
  km_engine_t *e = p->e;
  km_log(KM_LOG_DEBUG, "%s %s: %s by %s", p->t->account, p->t->region,
         km_stage_name(p->stage), ops->name);
  bool sim = e->o.driver != NULL && strcmp(e->o.driver, "sim") == 0;
  return km_sctx_new(&km__engine_shost, p, p->t, p->inv, p->stage,
                     e->o.mode == KM_MODE_PLAN, sim, ops->name);
}

static void group_slot_ended(km_pipeline_t *p, size_t k, int status,
                             bool blocked, const km_err_t *err);

/* Starts the providers at[0..n) of the stage at once (km_stage_ops_t
 * .concurrent).  Every context exists before the first starts, so one that
 * ends inside its own start cannot end the group. */
static void start_group(km_pipeline_t *p, const size_t *at, size_t n,
                        size_t next) {
  const km_stage_ops_t *ops[KM__GROUP_MAX];
  void *state[KM__GROUP_MAX];
  km__pgroup_t *g = km_xcalloc(1, sizeof(*g));
  g->n = g->running = n;
  g->next_provider = next;
  p->grp = g;
  for (size_t k = 0; k < n; k++) {
    ops[k] = km_stages_at(p->e->o.stages, at[k], &state[k]);
    g->c[k] = new_ctx(p, ops[k]);
  }
  for (size_t k = 0; k < n; k++) {
    km_sctx_t *c = g->c[k];
    int rc = km_sctx_start(ops[k], state[k], c);
    if (rc < 0) { /* km_sctx_start freed c */
      km_err_t err;
      km__err_set(&err, rc, "%s could not start stage %s: %s", ops[k]->name,
                  km_stage_name(p->stage), km_strerror(rc));
      group_slot_ended(p, k, rc, false, &err);
    }
  }
}

static void run_stage_provider(km_pipeline_t *p) {
  const km_stage_ops_t *ops = NULL, *next_ops = NULL;
  void *state = NULL, *next_state = NULL;
  p->provider = provider_at(p, p->provider, &ops, &state);
  if (ops == NULL) {
    next_stage(p);
    return;
  }
  uint32_t bit = KM_STAGE_BIT(p->stage);
  if (p->e->o.providers_together && (ops->concurrent & bit)) {
    /* This provider and the ones right after it that have the bit too. */
    size_t at[KM__GROUP_MAX] = {p->provider}, n = 1, j = p->provider;
    while (n < KM__GROUP_MAX) {
      j = provider_at(p, j + 1, &next_ops, &next_state);
      if (next_ops == NULL || !(next_ops->concurrent & bit)) break;
      at[n++] = j;
    }
    if (n > 1) {
      start_group(p, at, n, at[n - 1] + 1);
      return;
    }
  }
  km_sctx_t *c = new_ctx(p, ops);
  p->cur = c;
  int rc = km_sctx_start(ops, state, c);
  if (rc < 0) {
    p->cur = NULL; /* km_sctx_start freed c */
    km_err_t err;
    km__err_set(&err, rc, "%s could not start stage %s: %s", ops->name,
                km_stage_name(p->stage), km_strerror(rc));
    km__pipeline_stage_ended(p, rc, false, &err);
  }
}

/* The pipeline's error record, created on first use. */
static km_err_t *perr(km_pipeline_t *p) {
  if (p->err == NULL) p->err = km_xcalloc(1, sizeof(*p->err));
  return p->err;
}

static void stage_blocked(km_pipeline_t *p, const km_err_t *err) {
  p->blocked = true;
  km_err_t *pe = perr(p);
  if (err != NULL) *pe = *err;
  pe->code = KM_EBLOCKED;
  if (pe->text[0] == '\0')
    km__err_set(pe, KM_EBLOCKED, "blocked by %s", km_stage_name(p->stage));
  /* The plan and the summary show it; pipeline_end reports the end. */
  km_log_fields_t f = {p->t->account, p->t->region, km_stage_name(p->stage),
                       "blocked"};
  km_logf(KM_LOG_INFO, &f, "blocked: %s", pe->text);
}

/* What one provider's end means for the pipeline; true when the other
 * providers of the stage are skipped. */
static bool provider_result(km_pipeline_t *p, int status, bool blocked,
                            const km_err_t *err) {
  if (blocked && p->stage <= KM_STAGE_PREFLIGHT) {
    /* Refused before anything changed: the other providers of the stage
     * still run (so the plan shows every reason), then the pipeline stops
     * at the barrier. */
    stage_blocked(p, err);
    status = 0;
  } else if (blocked && status == 0) {
    /* Refusing after PREPARE began is a failure: something may have
     * changed, and RESTORE must run. */
    status = KM_EBLOCKED;
  }
  if (status < 0 && (unsigned)p->stage < KM_STAGE__COUNT)
    p->span_status[p->stage] = KM__SPAN_FAILED;
  if (status < 0 && !p->failed) {
    p->failed = true;
    p->fail_stage = p->stage;
    km_err_t *pe = perr(p);
    if (err != NULL)
      *pe = *err;
    else
      km__err_set(pe, status, "%s failed: %s", km_stage_name(p->stage),
                  km_strerror(status));
    if (pe->code == 0) pe->code = status;
    /* Into the log; the terminal shows it once, when the pipeline ends
     * (progress) and in the summary or the plan. */
    km_log_fields_t f = {p->t->account, p->t->region, km_stage_name(p->stage),
                         "stage_failed"};
    km_logf(KM_LOG_INFO, &f, "%s failed: %s", km_stage_name(p->stage),
            pe->text);
    /* Skip the other providers of this stage.  RESTORE and VERIFY go on:
     * every rotation must be restored, and every migrated resource needs a
     * verify outcome before the report may call it migrated (a failed keys
     * verify once left secrets reported migrated, unchecked). */
    return p->stage != KM_STAGE_RESTORE && p->stage != KM_STAGE_VERIFY;
  }
  return false;
}

/* The last provider of a group ended: their results in provider order,
 * then the stage goes on after the group. */
static void group_ended(km_pipeline_t *p) {
  km__pgroup_t *g = p->grp;
  p->grp = NULL;
  bool skip = false;
  for (size_t k = 0; k < g->n; k++) {
    skip |= provider_result(p, g->status[k], g->blocked[k], g->err[k]);
    free(g->err[k]);
  }
  p->provider = g->next_provider;
  free(g);
  if (skip)
    next_stage(p);
  else
    run_stage_provider(p);
}

void km__pipeline_stage_ended(km_pipeline_t *p, int status, bool blocked,
                              const km_err_t *err) {
  if (p->grp != NULL) {
    group_ended(p);
    return;
  }
  if (provider_result(p, status, blocked, err)) {
    next_stage(p);
    return;
  }
  p->provider++;
  run_stage_provider(p);
}

/* host.c, through km_shost_t.ended: queue the pipeline for the loop. */
void km__engine_stage_done(km_pipeline_t *p, int status, bool blocked,
                           const km_err_t *err);
/* One provider of a group ended: kept until the last one has; that one
 * queues the pipeline (km__pipeline_stage_ended then takes the group). */
static void group_slot_ended(km_pipeline_t *p, size_t k, int status,
                             bool blocked, const km_err_t *err) {
  km__pgroup_t *g = p->grp;
  g->c[k] = NULL;
  g->status[k] = status;
  g->blocked[k] = blocked;
  if (err != NULL) {
    g->err[k] = km_xcalloc(1, sizeof(*g->err[k]));
    *g->err[k] = *err;
  }
  if (--g->running == 0) km__engine_stage_done(p, 0, false, NULL);
}

bool km__engine_group_end(km_pipeline_t *p, km_sctx_t *c, int status,
                          bool blocked, const km_err_t *err);
bool km__engine_group_end(km_pipeline_t *p, km_sctx_t *c, int status,
                          bool blocked, const km_err_t *err) {
  if (p->grp == NULL) return false;
  for (size_t k = 0; k < p->grp->n; k++) {
    if (p->grp->c[k] == c) {
      group_slot_ended(p, k, status, blocked, err);
      return true;
    }
  }
  return false;
}

void km__engine_stage_done(km_pipeline_t *p, int status, bool blocked,
                           const km_err_t *err) {
  km_engine_t *e = p->e;
  p->cur = NULL;
  p->end_status = status;
  p->end_blocked = blocked;
  free(p->end_err);
  p->end_err = NULL;
  if (err != NULL) {
    p->end_err = km_xcalloc(1, sizeof(*p->end_err));
    *p->end_err = *err;
  }
  p->ready = true;
  p->next_ready = NULL;
  if (e->ready_tail != NULL)
    e->ready_tail->next_ready = p;
  else
    e->ready_head = p;
  e->ready_tail = p;
  schedule(e);
}

/* ---- scheduling ---- */

static bool over_tolerance(const km_engine_t *e, int failed) {
  if (e->o.tolerance_percent) {
    if (e->naccts == 0) return false;
    return (double)failed * 100.0 / (double)e->naccts > (double)e->o.tolerance;
  }
  return failed > e->o.tolerance;
}

bool km_engine_tolerance_exceeded(const km_engine_t *e) {
  return over_tolerance(e, e->failed_accounts);
}

/* Whether a new account may start.  The tolerance stops new work, never
 * work begun: no account starts DISCOVER once the failed accounts exceed
 * it; at PREPARE only accounts that failed after their PREPARE count, so an
 * account discovered before another's discovery failed still goes on (a
 * failed discovery changed nothing).  Plan mode changes nothing and
 * ignores the tolerance; an interrupt (stopping) stops both. */
static bool may_start_more(km_engine_t *e, bool phase_b) {
  if (e->stopping) return false;
  if (e->o.mode == KM_MODE_PLAN) return true;
  int failed = phase_b ? e->failed_b_accounts : e->failed_accounts;
  if (!over_tolerance(e, failed)) return true;
  if (!e->tolerance_logged[phase_b]) {
    e->tolerance_logged[phase_b] = true;
    km_log(KM_LOG_WARN,
           "failure tolerance exceeded (%d of %zu accounts failed%s): no new "
           "account %s; accounts already %s go on",
           failed, e->naccts, phase_b ? " after their prepare" : "",
           phase_b ? "is prepared" : "is discovered",
           phase_b ? "migrating" : "discovered");
  }
  return false;
}

static void not_started(km_engine_t *e, km_pipeline_t *p) {
  set_state(p, KM_PIPE_NOT_STARTED);
  e->ended++;
  count_end(p);
  km__host_hooks_close(p);
  json_decref(p->records);
  p->records = NULL;
  progress(p, KM_PEV_ENDED);
}

/* Phase A: starts the pipelines of account a at DISCOVER. */
static void start_account(km_engine_t *e, size_t a) {
  const km_acct_t *ac = &e->accts[a];
  for (size_t i = ac->first; i < ac->first + ac->n; i++) {
    km_pipeline_t *p = &e->p[i];
    set_state(p, KM_PIPE_RUNNING);
    /* `kmsmig observe` runs the after-observation only */
    set_stage(p, e->o.observe_only ? KM_STAGE_OBSERVE : KM_STAGE_DISCOVER);
    p->provider = 0;
    span_begin(p);
    progress(p, KM_PEV_STARTED);
    run_stage_provider(p);
  }
}

/* Phase B: moves every waiting pipeline of account a past the barrier. */
static void resume_account(km_engine_t *e, size_t a) {
  const km_acct_t *ac = &e->accts[a];
  for (size_t i = ac->first; i < ac->first + ac->n; i++) {
    km_pipeline_t *p = &e->p[i];
    if (p->state != KM_PIPE_WAITING) continue;
    set_state(p, KM_PIPE_RUNNING);
    if (p->blocked) /* by preflight or the global checks */
      pipeline_end(p, KM_PIPE_BLOCKED);
    else
      next_stage(p);
  }
}

static void phase_a(km_engine_t *e) {
  /* Discover and preflight, max_accounts at a time.  A pipeline waiting at
   * the barrier holds no slot. */
  while (e->next_acct < e->naccts &&
         e->running_accts < (size_t)e->o.max_accounts) {
    if (!may_start_more(e, false)) {
      for (; e->next_acct < e->naccts; e->next_acct++) {
        const km_acct_t *ac = &e->accts[e->next_acct];
        for (size_t i = ac->first; i < ac->first + ac->n; i++)
          not_started(e, &e->p[i]);
      }
      break;
    }
    start_account(e, e->next_acct++);
  }
  if (e->next_acct >= e->naccts && e->running_accts == 0) {
    e->barrier_passed = true;
    e->counts.barrier_passed = true;
    if (e->o.global_check != NULL && !e->o.observe_only)
      e->o.global_check(e, e->o.global_ud);
  }
}

/* An account phase B does not prepare although nothing failed: its
 * waiting pipelines end NOT_STARTED, held for why (km_held_t). */
static void hold_account(km_engine_t *e, size_t a, km_held_t why) {
  const km_acct_t *ac = &e->accts[a];
  for (size_t i = ac->first; i < ac->first + ac->n; i++)
    if (e->p[i].state == KM_PIPE_WAITING) {
      e->p[i].held = (uint8_t)why;
      e->counts.held[why]++;
      not_started(e, &e->p[i]);
    }
}

/* Wave w would start after cur_wave: only once every pipeline of the
 * waves before ended, and through the gate.  False: not yet (or never:
 * gate_closed). */
static bool wave_may_start(km_engine_t *e, int w) {
  if (w <= e->cur_wave || e->gate_closed || e->stopping) return true;
  if (e->running_accts > 0 || e->ready_head != NULL) return false;
  if (e->o.gate != NULL && !e->o.gate(e, e->cur_wave, w, e->o.gate_ud))
    e->gate_closed = true;
  else
    e->cur_wave = w;
  return true;
}

static void phase_b(km_engine_t *e) {
  /* Prepare .. observe, max_accounts at a time, in wave then account
   * order. */
  if (e->order == NULL) km__waves_order(e);
  for (; e->next_b < e->naccts; e->next_b++) {
    size_t a = e->order[e->next_b];
    km_acct_t *ac = &e->accts[a];
    if (!wave_may_start(e, km__acct_wave(e, a))) break;
    if (ac->waiting == 0) continue;
    if (e->gate_closed && !e->stopping) {
      hold_account(e, a, KM_HELD_GATE);
      continue;
    }
    if (!may_start_more(e, true)) {
      for (size_t i = ac->first; i < ac->first + ac->n; i++)
        if (e->p[i].state == KM_PIPE_WAITING) not_started(e, &e->p[i]);
      continue;
    }
    if (e->running_accts >= (size_t)e->o.max_accounts) break;
    if (e->o.hold != NULL && e->o.mode == KM_MODE_RUN &&
        e->o.hold(&e->p[ac->first], e->o.hold_ud)) {
      hold_account(e, a, KM_HELD_WINDOW);
      continue;
    }
    resume_account(e, a);
  }
}

static void on_kick(uv_idle_t *h) {
  km_engine_t *e = h->data;
  uv_idle_stop(h);
  e->kick_active = false;
  /* Stages that ended: take each pipeline's next step.  A step may end
   * another stage at once; it is queued here and taken by this loop. */
  while (e->ready_head != NULL) {
    km_pipeline_t *p = e->ready_head;
    e->ready_head = p->next_ready;
    if (e->ready_head == NULL) e->ready_tail = NULL;
    p->ready = false;
    km_err_t *err = p->end_err;
    p->end_err = NULL;
    km__pipeline_stage_ended(p, p->end_status, p->end_blocked, err);
    free(err);
  }
  if (!e->barrier_passed) phase_a(e);
  if (e->barrier_passed) phase_b(e);
  if (e->ready_head != NULL) schedule(e);
  if (e->ended >= e->n && e->done != NULL && e->ready_head == NULL) {
    void (*done)(km_engine_t *, void *) = e->done;
    e->done = NULL;
    done(e, e->done_ud);
  }
}

static void schedule(km_engine_t *e) {
  if (e->kick_active || e->kick_closed) return;
  e->kick_active = true;
  uv_idle_start(&e->kick, on_kick);
}

int km_engine_start(km_engine_t *e, void (*done)(km_engine_t *e, void *ud),
                    void *ud) {
  if (e->done != NULL) return KM_EBUSY;
  e->done = done;
  e->done_ud = ud;
  schedule(e);
  return 0;
}

void km_engine_stop(km_engine_t *e) {
  e->stopping = true;
  schedule(e);
}

void km_engine_interrupt(km_engine_t *e) {
  e->interrupted = true;
  km_engine_stop(e);
}

bool km_engine_interrupted(const km_engine_t *e) {
  return e->interrupted;
}

static void engine_release(km_engine_t *e) {
  for (size_t i = 0; i < e->n; i++) {
    km__host_hooks_close(&e->p[i]);
    json_decref(e->p[i].records);
    km_inv_free(e->p[i].inv);
    free(e->p[i].err);
    free(e->p[i].end_err);
  }
  km_strmap_free(e->warned);
  free(e->order);
  free(e->accts);
  free(e->p);
  free(e);
}

void km__unpend(km_pipeline_t *p) {
  km_engine_t *e = p->e;
  p->pending--;
  if (--e->pending == 0 && e->closed) engine_release(e);
}

static void on_kick_closed(uv_handle_t *h) {
  km_engine_t *e = h->data;
  if (--e->open_handles > 0) return; /* kick and jflush */
  e->closed = true;
  /* Answers still in flight (the run ended, its calls had not) free the
   * engine with the last of them (km__unpend). */
  if (e->pending == 0) engine_release(e);
}

void km_engine_free(km_engine_t *e) {
  if (e == NULL) return;
  e->kick_closed = true;
  uv_close((uv_handle_t *)&e->kick, on_kick_closed);
  km__host_jflush_close(e, on_kick_closed);
}

void km_pipeline_block(km_pipeline_t *p, const char *reason) {
  p->blocked = true;
  km__err_set(perr(p), KM_EBLOCKED, "%s", reason);
}
