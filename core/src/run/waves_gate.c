/* The gate between waves, the hold of an account outside its window, and
 * what the plan, the report and the end of a run say about both (see
 * waves.h, docs/waves.md).
 *
 * The gate runs on the loop thread when every pipeline of a wave ended.
 * Its decision is journalled (record wave_gate, fsynced) before the next
 * wave's first PREPARE, so a resume never asks again for a wave that
 * passed and never passes one that stopped without --advance. */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "engine/pipeline_priv.h"
#include "model/observe.h"
#include "run/runtime.h"
#include "run/waves_priv.h"

typedef struct outcome_s {
  size_t pipelines, failed, blocked, not_started, waiting, act;
} outcome_t;

static int wave_of(const km_target_t *t) {
  return t->wave > 0 ? t->wave : 1;
}

static void wave_outcome(km_engine_t *e, int wave, outcome_t *o) {
  memset(o, 0, sizeof(*o));
  for (size_t i = 0; i < km_engine_count(e); i++) {
    km_pipeline_t *p = km_engine_pipeline(e, i);
    if (wave_of(km_pipeline_target(p)) != wave) continue;
    o->pipelines++;
    km_pipe_state_t st = km_pipeline_state(p);
    o->failed += st == KM_PIPE_FAILED;
    o->blocked += st == KM_PIPE_BLOCKED;
    o->waiting +=
        st == KM_PIPE_NOT_STARTED && km_pipeline_held(p) == KM_HELD_WINDOW;
    o->not_started +=
        st == KM_PIPE_NOT_STARTED && km_pipeline_held(p) == KM_HELD_NONE;
    /* the judged findings are built on demand: count, do not scan */
    size_t act, watch;
    km_obs_count(km_pipeline_inv(p)->obs, &act, &watch);
    o->act += act;
  }
}

static bool clean(const outcome_t *o) {
  return o->failed + o->blocked + o->not_started + o->waiting + o->act == 0;
}

static void outcome_text(const outcome_t *o, char *out, size_t n) {
  if (clean(o)) {
    snprintf(out, n,
             "%zu pipelines, none failed, blocked or waiting, no "
             "\"act\" finding",
             o->pipelines);
    return;
  }
  snprintf(out, n,
           "%zu pipelines: %zu failed, %zu blocked, %zu not started, %zu "
           "waiting for their window, %zu \"act\" findings",
           o->pipelines, o->failed, o->blocked, o->not_started, o->waiting,
           o->act);
}

static const char *wave_name(const km_runtime_t *rt, int w) {
  return w >= 1 && (size_t)w <= rt->m->nwaves ? rt->m->waves[w - 1].name : "?";
}

static bool prompt(int done, int next, const char *name, const char *how) {
  printf("\nwave %d ended: %s.\nStart wave %d (%s)? [y/N] ", done, how, next,
         name);
  fflush(stdout);
  char line[16];
  if (fgets(line, sizeof(line), stdin) == NULL) return false;
  return line[0] == 'y' || line[0] == 'Y';
}

static int journal_gate(km_runtime_t *rt, int done, int next, bool go,
                        const char *by, const outcome_t *o) {
  json_t *f = json_pack("{s:i, s:i, s:s, s:s, s:I, s:I, s:I, s:I, s:I}", "wave",
                        done, "next", next, "decision", go ? "advance" : "stop",
                        "by", by, "failed", (json_int_t)o->failed, "blocked",
                        (json_int_t)o->blocked, "not_started",
                        (json_int_t)o->not_started, "waiting",
                        (json_int_t)o->waiting, "act", (json_int_t)o->act);
  km_err_t err;
  memset(&err, 0, sizeof(err));
  int rc = rt->journal != NULL
               ? km_journal_append(rt->journal, "wave_gate", f, NULL, &err)
               : 0;
  json_decref(f);
  if (rc < 0) km_log(KM_LOG_ERROR, "journal: %s", err.text);
  return rc;
}

/* engine opts.gate: every pipeline of wave done ended. */
static bool gate_cb(km_engine_t *e, int done, int next, void *ud) {
  km_runtime_t *rt = ud;
  struct km_waves_s *W = rt->waves;
  outcome_t o;
  wave_outcome(e, done, &o);
  char how[256];
  outcome_text(&o, how, sizeof(how));
  bool go = false;
  const char *by = "none";
  if (done >= 1 && (size_t)done <= W->nwaves && W->passed[done]) {
    go = true;
    by = "earlier"; /* journalled by an earlier sitting */
  } else if (rt->rehearse != NULL) {
    go = true;
    by = "rehearsal";
  } else if (W->o.advance) {
    W->o.advance = false; /* one gate */
    go = true;
    by = "operator";
  } else if (W->o.auto_advance) {
    go = clean(&o);
    by = "auto";
  } else if (isatty(STDIN_FILENO) && isatty(STDOUT_FILENO)) {
    go = prompt(done, next, wave_name(rt, next), how);
    by = "prompt";
  }
  if (strcmp(by, "earlier") != 0 &&
      journal_gate(rt, done, next, go, by, &o) < 0)
    go = false; /* fail closed: a gate not journalled is not passed */
  km_log(go ? KM_LOG_INFO : KM_LOG_WARN, "wave %d (%s) ended: %s; gate: %s%s",
         done, wave_name(rt, done), how, go ? "wave starts: " : "stopped",
         go ? wave_name(rt, next) : "");
  if (go) {
    if (done >= 1 && (size_t)done <= W->nwaves) W->passed[done] = true;
    return true;
  }
  W->stopped_at = done;
  snprintf(W->stop_why, sizeof(W->stop_why), "wave %d (%s) ended with %s; %s",
           done, wave_name(rt, done), how,
           strcmp(by, "auto") == 0     ? "--auto-advance goes on only after a "
                                         "clean wave"
           : strcmp(by, "prompt") == 0 ? "not confirmed"
                                       : "nobody confirmed the gate (no "
                                         "terminal, no --auto-advance)");
  return false;
}

/* engine opts.hold: account of first is about to be prepared. */
static bool hold_cb(km_pipeline_t *first, void *ud) {
  km_runtime_t *rt = ud;
  struct km_waves_s *W = rt->waves;
  size_t a = km__waves_acct(rt, km_pipeline_target(first)->account);
  if (W->acct_sched[a] < 0) return false;
  sched_t *s = &W->sched[W->acct_sched[a]];
  int64_t now = (int64_t)time(NULL);
  int64_t next = km__sched_next(s, now);
  if (next == now) return false;
  W->acct_next[a] = next;
  W->held_window++;
  char when[64] = "no time within 400 days";
  if (W->acct_next[a] > 0)
    km_window_local_text(s->ws[0]->tz, W->acct_next[a], when, sizeof(when));
  km_log(KM_LOG_INFO,
         "%s: outside its migration window: not prepared, nothing changed; "
         "the window opens %s",
         km_pipeline_target(first)->account, when);
  return true;
}

void km_waves_engine_opts(km_runtime_t *rt, km_engine_opts_t *eo) {
  if (rt->waves == NULL || rt->mode != KM_MODE_RUN) return;
  km__waves_worklist(rt, false);
  if (rt->waves->nwaves > 0) {
    eo->gate = gate_cb;
    eo->gate_ud = rt;
  }
  /* A rehearsal (kmsim, nothing real) rehearses the whole fleet in wave
   * order: no gate stops it (gate_cb), no window holds an account. */
  if (rt->rehearse != NULL) return;
  eo->hold = hold_cb;
  eo->hold_ud = rt;
}

const char *km_waves_held_why(km_runtime_t *rt, const km_pipeline_t *p,
                              char *buf, size_t n) {
  struct km_waves_s *W = rt->waves;
  km_held_t h = km_pipeline_held(p);
  if (W == NULL || h == KM_HELD_NONE) return NULL;
  const km_target_t *t = km_pipeline_target(p);
  size_t a = km__waves_acct(rt, t->account);
  if (h == KM_HELD_GATE) {
    snprintf(buf, n,
             "held: the gate after wave %d (%s) stopped the run before wave "
             "%d (%s); nothing of this account was changed",
             W->stopped_at, wave_name(rt, W->stopped_at), wave_of(t),
             wave_name(rt, wave_of(t)));
    return buf;
  }
  const sched_t *s = &W->sched[W->acct_sched[a] >= 0 ? W->acct_sched[a] : 0];
  char when[64] = "at no time within 400 days";
  if (W->acct_next[a] > 0)
    km_window_local_text(s->ws[0]->tz, W->acct_next[a], when, sizeof(when));
  char desc[256];
  km_window_describe(s->ws[0], desc, sizeof(desc));
  snprintf(buf, n,
           "waiting for its migration window (%s%s): nothing was changed, "
           "rotation untouched; the window opens %s, run again then",
           desc, s->n > 1 ? ", and more" : "", when);
  return buf;
}
