/* The engine's scheduler and the per-pipeline state machine (see engine.h).
 *
 * Pipelines of one account start together (an account is the unit of
 * failure tolerance and of the max_accounts bound).  Every transition that
 * could recurse (a plugin calling stage_done from inside start) is deferred
 * to the loop through an idle handle, so stacks stay flat however many
 * stages and pipelines there are. */
#include <stdlib.h>
#include <string.h>

#include "engine/pipeline_priv.h"
#include "util/util.h"

static const char *stage_names[] = {"discover", "preflight", "prepare",
                                    "migrate",  "restore",   "verify",
                                    "observe"};

const char *km_stage_name(km_stage_t s) {
  return (unsigned)s < KM_STAGE__COUNT ? stage_names[s] : "?";
}

const char *km_pipe_state_name(km_pipe_state_t s) {
  static const char *names[] = {"pending", "running", "waiting",    "ok",
                                "blocked", "failed",  "not started"};
  return (unsigned)s < KM_ARRAY_SIZE(names) ? names[s] : "?";
}

km_engine_t *km_engine_new(const km_engine_opts_t *opts,
                           const km_target_t *targets, size_t n) {
  km_engine_t *e = km_xcalloc(1, sizeof(*e));
  e->o = *opts;
  if (e->o.max_accounts <= 0) e->o.max_accounts = 16;
  e->n = n;
  e->p = km_xcalloc(n ? n : 1, sizeof(*e->p));
  for (size_t i = 0; i < n; i++) {
    km_pipeline_t *p = &e->p[i];
    p->e = e;
    p->index = i;
    p->t = targets[i];
    p->doc = json_object();
    p->run.p = p;
    /* A new account starts where the account name changes. */
    if (i == 0 || strcmp(targets[i - 1].account, targets[i].account) != 0)
      e->total_accounts++;
  }
  uv_idle_init(e->o.loop, &e->kick);
  e->kick.data = e;
  return e;
}

static void progress(km_pipeline_t *p, const char *event) {
  if (p->e->o.progress != NULL) p->e->o.progress(p, event, p->e->o.progress_ud);
}

/* ---- stage walking ---- */

static bool stage_wanted(const km_engine_t *e, km_stage_t s) {
  if (e->o.mode == KM_MODE_PLAN) return s <= KM_STAGE_PREFLIGHT;
  return true;
}

static void run_stage_provider(km_pipeline_t *p);

/* Finds the next plugin (from run.plugin_index on) that provides p->stage;
 * returns its descriptor or NULL. */
static const km_plugin_t *provider(km_pipeline_t *p, size_t from, size_t *idx,
                                   void **state) {
  size_t n = km_plugin_count(p->e->o.plugins);
  for (size_t i = from; i < n; i++) {
    const km_plugin_t *d = km_plugin_at(p->e->o.plugins, i, state);
    if (d == NULL) break;
    if (d->stages & KM_STAGE_BIT(p->stage)) {
      *idx = i;
      return d;
    }
  }
  return NULL;
}

static void pipeline_end(km_pipeline_t *p, km_pipe_state_t st);
static void schedule(km_engine_t *e);

static void next_stage(km_pipeline_t *p) {
  km_engine_t *e = p->e;
  km_stage_t s = p->stage;
  if (p->failed) {
    /* After a failure only RESTORE still runs, and only if PREPARE began. */
    if (p->prepared && s < KM_STAGE_RESTORE) {
      p->stage = KM_STAGE_RESTORE;
      p->run.plugin_index = 0;
      progress(p, "running (restoring after the failure)");
      run_stage_provider(p);
      return;
    }
    pipeline_end(p, KM_PIPE_FAILED);
    return;
  }
  if (s == KM_STAGE_PREFLIGHT && p->state == KM_PIPE_RUNNING &&
      !p->passed_barrier) {
    p->passed_barrier = true;
    p->state = KM_PIPE_WAITING;
    e->at_barrier++;
    schedule(e);
    return;
  }
  if (s + 1 >= KM_STAGE__COUNT || !stage_wanted(e, s + 1)) {
    pipeline_end(p, KM_PIPE_OK);
    return;
  }
  p->stage = s + 1;
  if (p->stage == KM_STAGE_PREPARE) p->prepared = true;
  p->run.plugin_index = 0;
  run_stage_provider(p);
}

static void run_stage_provider(km_pipeline_t *p) {
  size_t idx;
  void *state = NULL;
  const km_plugin_t *d = provider(p, p->run.plugin_index, &idx, &state);
  if (d == NULL) {
    next_stage(p);
    return;
  }
  p->run.plugin_index = idx;
  p->run.stage = p->stage;
  p->run.done = 0;
  km_log(KM_LOG_DEBUG, "%s %s: %s by plugin %s", p->t.account, p->t.region,
         km_stage_name(p->stage), d->name);
  int rc = d->start(state, p->stage, p, &p->run);
  if (rc < 0 && !p->run.done) {
    km_err_t err;
    km__err_set(&err, rc, "plugin %s could not start stage %s: %s", d->name,
                km_stage_name(p->stage), km_strerror(rc));
    km__pipeline_stage_ended(p, rc, &err);
  }
}

void km__pipeline_stage_ended(km_pipeline_t *p, int status,
                              const km_err_t *err) {
  if (status == KM_EPERM && p->stage == KM_STAGE_PREFLIGHT) {
    /* Preflight refused: the pipeline is blocked, nothing was changed. */
    if (err != NULL) p->err = *err;
    p->err.code = KM_EPERM;
    if (p->err.text[0] == '\0')
      km__err_set(&p->err, KM_EPERM, "blocked by preflight");
    km_log(KM_LOG_WARN, "%s %s: blocked: %s", p->t.account, p->t.region,
           p->err.text);
    progress(p, "blocked");
    status = 0;
  }
  if (status < 0 && !p->failed) {
    p->failed = true;
    if (err != NULL)
      p->err = *err;
    else
      km__err_set(&p->err, status, "%s failed: %s", km_stage_name(p->stage),
                  km_strerror(status));
    if (p->err.code == 0) p->err.code = status;
    km_log(KM_LOG_ERROR, "%s %s: %s failed: %s", p->t.account, p->t.region,
           km_stage_name(p->stage), p->err.text);
    progress(p, "failed");
    if (p->stage != KM_STAGE_RESTORE) {
      /* Skip the other providers of this stage. */
      next_stage(p);
      return;
    }
  }
  p->run.plugin_index++;
  run_stage_provider(p);
}

/* ---- scheduling ---- */

/* Accounts with a pipeline running now (the max_accounts bound). */
static size_t running_accounts(const km_engine_t *e) {
  size_t n = 0;
  for (size_t i = 0; i < e->n; i++) {
    if (e->p[i].state != KM_PIPE_RUNNING) continue;
    /* Count an account once: at its first running pipeline. */
    bool seen = false;
    for (size_t j = 0; j < i && !seen; j++)
      seen = e->p[j].state == KM_PIPE_RUNNING &&
             strcmp(e->p[j].t.account, e->p[i].t.account) == 0;
    if (!seen) n++;
  }
  return n;
}

static void count_failed_accounts(km_engine_t *e) {
  int n = 0;
  for (size_t i = 0; i < e->n; i++) {
    if (e->p[i].state != KM_PIPE_FAILED) continue;
    bool seen = false;
    for (size_t j = 0; j < i && !seen; j++)
      seen = e->p[j].state == KM_PIPE_FAILED &&
             strcmp(e->p[j].t.account, e->p[i].t.account) == 0;
    if (!seen) n++;
  }
  e->failed_accounts = n;
}

bool km_engine_tolerance_exceeded(const km_engine_t *e) {
  if (e->o.tolerance_percent) {
    if (e->total_accounts == 0) return false;
    return (double)e->failed_accounts * 100.0 / (double)e->total_accounts >
           (double)e->o.tolerance;
  }
  return e->failed_accounts > e->o.tolerance;
}

static void pipeline_end(km_pipeline_t *p, km_pipe_state_t st) {
  km_engine_t *e = p->e;
  if (st == KM_PIPE_OK && p->err.code == KM_EPERM) st = KM_PIPE_BLOCKED;
  p->state = st;
  e->ended++;
  progress(p, km_pipe_state_name(st));
  schedule(e);
}

static bool may_start_more(km_engine_t *e) {
  count_failed_accounts(e);
  if (!e->stopping && km_engine_tolerance_exceeded(e)) {
    km_log(KM_LOG_WARN,
           "failure tolerance exceeded (%d of %zu accounts failed): no new "
           "account is started; accounts in flight finish and restore",
           e->failed_accounts, e->total_accounts);
    e->stopping = true;
  }
  return !e->stopping;
}

/* Phase A: starts the pipelines of the next account at DISCOVER. */
static void start_account(km_engine_t *e) {
  const char *acct = e->p[e->next].t.account;
  while (e->next < e->n && strcmp(e->p[e->next].t.account, acct) == 0) {
    km_pipeline_t *p = &e->p[e->next++];
    p->state = KM_PIPE_RUNNING;
    p->stage = KM_STAGE_DISCOVER;
    p->run.plugin_index = 0;
    progress(p, "started");
    run_stage_provider(p);
  }
}

/* Phase B: moves every waiting pipeline of account past the barrier. */
static void resume_account(km_engine_t *e, const char *acct) {
  for (size_t i = 0; i < e->n; i++) {
    km_pipeline_t *p = &e->p[i];
    if (p->state != KM_PIPE_WAITING || strcmp(p->t.account, acct) != 0)
      continue;
    e->at_barrier--;
    p->state = KM_PIPE_RUNNING;
    if (p->err.code == KM_EPERM) /* blocked by the global checks */
      pipeline_end(p, KM_PIPE_BLOCKED);
    else
      next_stage(p);
  }
}

static void not_started(km_engine_t *e, km_pipeline_t *p) {
  if (p->state == KM_PIPE_WAITING) e->at_barrier--;
  p->state = KM_PIPE_NOT_STARTED;
  e->ended++;
  progress(p, "not started");
}

static void on_kick(uv_idle_t *h) {
  km_engine_t *e = h->data;
  uv_idle_stop(h);
  e->kick_active = false;

  if (!e->barrier_passed) {
    /* Phase A: discover and preflight, max_accounts at a time.  A pipeline
     * waiting at the barrier holds no slot. */
    while (e->next < e->n && running_accounts(e) < (size_t)e->o.max_accounts) {
      if (!may_start_more(e)) {
        while (e->next < e->n)
          not_started(e, &e->p[e->next++]);
        break;
      }
      start_account(e);
    }
    bool running = false;
    for (size_t i = 0; i < e->n && !running; i++)
      running = e->p[i].state == KM_PIPE_RUNNING;
    if (e->next >= e->n && !running) {
      e->barrier_passed = true;
      if (e->o.global_check != NULL) e->o.global_check(e, e->o.global_ud);
    }
  }

  if (e->barrier_passed) {
    /* Phase B: prepare .. observe, max_accounts at a time. */
    for (size_t i = 0; i < e->n; i++) {
      km_pipeline_t *p = &e->p[i];
      if (p->state != KM_PIPE_WAITING) continue;
      if (!may_start_more(e)) {
        not_started(e, p);
        continue;
      }
      if (running_accounts(e) >= (size_t)e->o.max_accounts) break;
      resume_account(e, p->t.account);
    }
  }

  if (e->ended >= e->n && e->done != NULL) {
    count_failed_accounts(e);
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

static void on_kick_closed(uv_handle_t *h) {
  km_engine_t *e = h->data;
  for (size_t i = 0; i < e->n; i++) {
    km__host_hooks_close(&e->p[i]);
    json_decref(e->p[i].doc);
    json_decref(e->p[i].outcomes);
    free(e->p[i].doc_text);
  }
  free(e->p);
  free(e);
}

void km_engine_free(km_engine_t *e) {
  if (e == NULL) return;
  e->kick_closed = true;
  uv_close((uv_handle_t *)&e->kick, on_kick_closed);
}

size_t km_engine_count(const km_engine_t *e) {
  return e->n;
}

km_pipeline_t *km_engine_pipeline(km_engine_t *e, size_t i) {
  return i < e->n ? &e->p[i] : NULL;
}

const km_target_t *km_pipeline_target(const km_pipeline_t *p) {
  return &p->t;
}

km_pipe_state_t km_pipeline_state(const km_pipeline_t *p) {
  return p->state;
}

json_t *km_pipeline_doc(km_pipeline_t *p) {
  return p->doc;
}

const km_err_t *km_pipeline_error(const km_pipeline_t *p) {
  return p->err.code != 0 ? &p->err : NULL;
}

km_stage_t km_pipeline_stage(const km_pipeline_t *p) {
  return p->stage;
}

void km_pipeline_block(km_pipeline_t *p, const char *reason) {
  km__err_set(&p->err, KM_EPERM, "%s", reason);
}

int km_engine_failed_accounts(const km_engine_t *e) {
  return e->failed_accounts;
}
