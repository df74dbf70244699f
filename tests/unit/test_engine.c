/* The engine's state machine with stage providers that provide every
 * stage: stage order, plan mode stopping after preflight, the barrier and
 * its global check, restore after a failure, blocked pipelines, failure
 * tolerance, stages that end inside their own start for thousands of
 * pipelines (no recursion), an answer arriving after its stage ended, a
 * third-party plugin (ABI 2) run through the adapter, providers that
 * run at the same time (km_stage_ops_t.concurrent), and a loop that
 * closes clean.
 *
 * The test's own provider (ops table "trace") records every stage it ran in
 * a test-global trace, per pipeline and in one global sequence, and fails
 * or blocks where the test's table of behaviours says. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "engine/engine.h"
#include "rt/loop.h"
#include "stage/stage.h"
#include "util/util.h"

/* ---- the test's provider ---- */

/* What an account does (by manifest name): fail a stage, block at
 * preflight. */
typedef struct behave_s {
  const char *account;
  const char *fail_at; /* stage name, or NULL */
  bool block;
} behave_t;

#define MAXP 2100
#define MAXSEQ (MAXP * 8)

static struct {
  const behave_t *behave;
  size_t nbehave;
  bool sync;       /* end inside start instead of a timer later */
  bool late_timer; /* leave a timer in flight when the stage ends */
  int late_fired;  /* the late timer's callback ran (must not) */
  /* per pipeline (index by target pointer order: c->t - base) */
  const km_target_t *base;
  char trace[MAXP][96];
  /* global sequence: pipeline index * 16 + stage */
  int seq[MAXSEQ];
  size_t nseq;
  /* stack depth of start, for the no-recursion test */
  uintptr_t sp_min, sp_max;
} T;

static void trace_reset(void) {
  memset(&T, 0, sizeof(T));
}

static const behave_t *behave_of(const char *account) {
  for (size_t i = 0; i < T.nbehave; i++)
    if (strcmp(T.behave[i].account, account) == 0) return &T.behave[i];
  return NULL;
}

/* The pipeline's index: targets are copied into the pipelines, so the
 * test finds it by account and region among the targets it gave. */
static size_t nbase;
static size_t index_of(const km_target_t *t) {
  for (size_t i = 0; i < nbase; i++)
    if (strcmp(T.base[i].account, t->account) == 0 &&
        strcmp(T.base[i].region, t->region) == 0)
      return i;
  fail_msg("unknown target %s %s", t->account, t->region);
  return 0;
}

static void record(km_sctx_t *c) {
  size_t i = index_of(c->t);
  char *tr = T.trace[i];
  size_t len = strlen(tr);
  snprintf(tr + len, sizeof(T.trace[i]) - len, "%s%s", len ? "," : "",
           km_stage_name(c->stage));
  if (T.nseq < MAXSEQ) T.seq[T.nseq++] = (int)(i * 16 + (size_t)c->stage);
}

static void end_stage(km_sctx_t *c) {
  record(c);
  const behave_t *b = behave_of(c->t->account);
  if (b != NULL && b->block && c->stage == KM_STAGE_PREFLIGHT) {
    km_err_t why;
    km__err_set(&why, KM_EBLOCKED, "blocked by the test");
    kp_finish_blocked(c, &why);
    return;
  }
  if (b != NULL && b->fail_at != NULL &&
      strcmp(b->fail_at, km_stage_name(c->stage)) == 0)
    kp_fail(c, KM_EIO, NULL, "test failure in %s", km_stage_name(c->stage));
  kp_finish(c);
}

static void on_timer(km_sctx_t *c, void *ud) {
  (void)ud;
  end_stage(c);
}

static void on_late(km_sctx_t *c, void *ud) {
  (void)c;
  (void)ud;
  T.late_fired++;
}

static int trace_start(void *state, km_sctx_t *c) {
  (void)state;
  char here;
  uintptr_t sp = (uintptr_t)&here;
  if (T.sp_min == 0 || sp < T.sp_min) T.sp_min = sp;
  if (sp > T.sp_max) T.sp_max = sp;
  if (T.late_timer) {
    /* An answer still in flight when the stage ends: dropped later. */
    kp_timer(c, 5, on_late, NULL);
    end_stage(c);
    return 0;
  }
  if (T.sync) {
    end_stage(c);
    return 0;
  }
  kp_timer(c, 1, on_timer, NULL);
  return 0;
}

static const km_stage_ops_t trace_ops = {
    .name = "trace",
    .version = "1.0.0",
    .stages = 0x7f,
    .start = trace_start,
};

/* ---- providers that may run at the same time ---- */

/* Providers "ca" and "cb" run at once in DISCOVER and VERIFY
 * (km_stage_ops_t.concurrent); "cz" never does.  Each logs "+NAME" when it
 * starts and "-NAME" when it ends, per stage; "ca" ends after 20 ms, the
 * others after 1 ms, and "ca" fails DISCOVER of account "f". */
static struct {
  const km_stage_ops_t *const *ops; /* NULL-terminated; NULL: trace_ops */
  char log[KM_STAGE__COUNT][64];
} C;

static void c_end(km_sctx_t *c, void *ud) {
  const char *name = ud;
  char *l = C.log[c->stage];
  snprintf(l + strlen(l), sizeof(C.log[0]) - strlen(l), "-%s", name);
  if (strcmp(name, "ca") == 0 && c->stage == KM_STAGE_DISCOVER &&
      strcmp(c->t->account, "f") == 0)
    kp_fail(c, KM_EIO, NULL, "ca failed");
  kp_finish(c);
}

static int c_start(km_sctx_t *c, const char *name) {
  char *l = C.log[c->stage];
  snprintf(l + strlen(l), sizeof(C.log[0]) - strlen(l), "+%s", name);
  kp_timer(c, strcmp(name, "ca") == 0 ? 20 : 1, c_end, (void *)name);
  return 0;
}

static int ca_start(void *st, km_sctx_t *c) {
  (void)st;
  return c_start(c, "ca");
}
static int cb_start(void *st, km_sctx_t *c) {
  (void)st;
  return c_start(c, "cb");
}
static int cz_start(void *st, km_sctx_t *c) {
  (void)st;
  return c_start(c, "cz");
}

#define CONC (KM_STAGE_BIT(KM_STAGE_DISCOVER) | KM_STAGE_BIT(KM_STAGE_VERIFY))
static const km_stage_ops_t ca_ops = {.name = "ca",
                                      .version = "1",
                                      .stages = 0x7f,
                                      .concurrent = CONC,
                                      .start = ca_start};
static const km_stage_ops_t cb_ops = {.name = "cb",
                                      .version = "1",
                                      .stages = 0x7f,
                                      .concurrent = CONC,
                                      .start = cb_start};
static const km_stage_ops_t cz_ops = {
    .name = "cz", .version = "1", .stages = 0x7f, .start = cz_start};
static const km_stage_ops_t *const conc_set[] = {&ca_ops, &cb_ops, &cz_ops,
                                                 NULL};

/* ---- the engine around it ---- */

typedef struct fixture_s {
  uv_loop_t loop;
  km_stages_t *stages;
  km_rl_t *rl;
  int global_checks;
  bool done;
} fixture_t;

static void on_done(km_engine_t *e, void *ud) {
  (void)e;
  ((fixture_t *)ud)->done = true;
}

static void on_global(km_engine_t *e, void *ud) {
  fixture_t *f = ud;
  f->global_checks++;
  /* Every started pipeline is waiting at the barrier now. */
  for (size_t i = 0; i < km_engine_count(e); i++) {
    km_pipe_state_t s = km_pipeline_state(km_engine_pipeline(e, i));
    assert_true(s == KM_PIPE_WAITING || s == KM_PIPE_FAILED ||
                s == KM_PIPE_NOT_STARTED);
  }
}

/* The progress events (engine opts.progress) of the last run, and the
 * counters checked at each: every pipeline is in exactly one state, and the
 * per-stage counts add up to the running pipelines. */
static struct {
  km_engine_t *e;
  size_t started[8], ended[8], restoring[8], barrier[8], stages[8];
  km_pipe_state_t end_state[8];
  size_t events;
} P;

static void on_progress(km_pipeline_t *p, const km_pipe_ev_t *ev, void *ud) {
  (void)ud;
  size_t i = 0;
  while (km_engine_pipeline(P.e, i) != p)
    i++;
  if (i >= 8) i = 7; /* larger runs: the sums below only */
  assert_int_equal(ev->state, km_pipeline_state(p));
  switch (ev->kind) {
  case KM_PEV_STARTED:
    P.started[i]++;
    break;
  case KM_PEV_STAGE:
    P.stages[i]++;
    break;
  case KM_PEV_BARRIER:
    P.barrier[i]++;
    break;
  case KM_PEV_RESTORING:
    P.restoring[i]++;
    break;
  case KM_PEV_ENDED:
    P.ended[i]++;
    P.end_state[i] = ev->state;
    break;
  }
  km_engine_counts_t c;
  km_engine_counts(P.e, &c);
  size_t states = 0, running = 0;
  for (int s = 0; s <= KM_PIPE_NOT_STARTED; s++)
    states += c.by_state[s];
  for (int s = 0; s < KM_STAGE__COUNT; s++)
    running += c.in_stage[s];
  assert_int_equal(states, c.pipelines);
  assert_int_equal(running, c.by_state[KM_PIPE_RUNNING]);
  P.events++;
}

static km_engine_t *run_with(fixture_t *f, const char *plugin,
                             km_run_mode_t mode, km_target_t *t, size_t n,
                             int max_accounts, int tolerance) {
  memset(f, 0, sizeof(*f));
  uv_loop_init(&f->loop);
  f->stages = km_stages_new();
  km_err_t err;
  memset(&err, 0, sizeof(err));
  if (plugin == NULL && C.ops != NULL) {
    for (size_t i = 0; C.ops[i] != NULL; i++)
      assert_int_equal(km_stages_add(f->stages, C.ops[i], &err), 0);
  } else if (plugin == NULL) {
    assert_int_equal(km_stages_add(f->stages, &trace_ops, &err), 0);
    /* The same name twice is refused. */
    assert_int_equal(km_stages_add(f->stages, &trace_ops, &err), KM_EEXIST);
  } else if (km_stages_load(f->stages, plugin, &err) != 0) {
    fail_msg("cannot load %s: %s", plugin, err.text);
  }
  T.base = t;
  nbase = n;
  f->rl = km_rl_new(&f->loop);
  km_engine_opts_t o = {.loop = &f->loop,
                        .rl = f->rl,
                        .stages = f->stages,
                        .mode = mode,
                        .max_accounts = max_accounts,
                        .providers_together = true,
                        .tolerance = tolerance,
                        .global_check = on_global,
                        .global_ud = f,
                        .progress = on_progress};
  km_engine_t *e = km_engine_new(&o, t, n);
  memset(&P, 0, sizeof(P));
  P.e = e;
  assert_int_equal(km_engine_start(e, on_done, f), 0);
  while (!f->done)
    uv_run(&f->loop, UV_RUN_ONCE);
  return e;
}

static km_engine_t *run(fixture_t *f, km_run_mode_t mode, km_target_t *t,
                        size_t n, int max_accounts, int tolerance) {
  return run_with(f, NULL, mode, t, n, max_accounts, tolerance);
}

static void finish(fixture_t *f, km_engine_t *e) {
  km_engine_free(e);
  km_rl_close(f->rl, NULL, NULL);
  uv_run(&f->loop, UV_RUN_DEFAULT);
  km_stages_free(f->stages);
  assert_int_equal(km_loop_close_all(&f->loop), 0);
}

static const km_hookcfg_t no_hooks;

static km_target_t target(const char *account, const char *region) {
  km_target_t t = {.account = account,
                   .account_id = "1000000000000001",
                   .region = region,
                   .instance_id = "kst-x",
                   .instance_type = KM_INV_TYPE_SOFTWARE,
                   .auto_renew = -1,
                   .hooks = &no_hooks,
                   .run_id = "test"};
  return t;
}

#define ALL "discover,preflight,prepare,migrate,restore,verify,observe"

static void test_stage_order_run_and_plan(void **st) {
  (void)st;
  fixture_t f;
  trace_reset();
  km_target_t t[3] = {target("a", "cn-hangzhou"), target("a", "cn-shanghai"),
                      target("b", "cn-hangzhou")};
  km_engine_t *e = run(&f, KM_MODE_RUN, t, 3, 1, 0);
  for (size_t i = 0; i < 3; i++) {
    assert_int_equal(km_pipeline_state(km_engine_pipeline(e, i)), KM_PIPE_OK);
    assert_string_equal(T.trace[i], ALL);
  }
  assert_int_equal(f.global_checks, 1);
  /* The barrier: every pipeline finished PREFLIGHT before any PREPARE
   * began, even with one account at a time. */
  size_t last_preflight = 0, first_prepare = T.nseq;
  for (size_t k = 0; k < T.nseq; k++) {
    if (T.seq[k] % 16 == KM_STAGE_PREFLIGHT) last_preflight = k;
    if (T.seq[k] % 16 == KM_STAGE_PREPARE && k < first_prepare)
      first_prepare = k;
  }
  assert_true(last_preflight < first_prepare);
  /* The typed model is there for the report, with the target's identity. */
  km_inv_t *inv = km_pipeline_inv(km_engine_pipeline(e, 1));
  assert_string_equal(inv->account, "a");
  assert_string_equal(inv->region, "cn-shanghai");
  assert_string_equal(inv->instance_id, "kst-x");
  finish(&f, e);

  trace_reset();
  e = run(&f, KM_MODE_PLAN, t, 3, 4, 0);
  for (size_t i = 0; i < 3; i++) {
    assert_string_equal(T.trace[i], "discover,preflight");
    assert_int_equal(km_pipeline_state(km_engine_pipeline(e, i)), KM_PIPE_OK);
  }
  assert_int_equal(f.global_checks, 1);
  finish(&f, e);
}

static void test_failure_still_restores(void **st) {
  (void)st;
  fixture_t f;
  trace_reset();
  static const behave_t b[] = {{"a", "migrate", false},
                               {"b", "discover", false}};
  T.behave = b;
  T.nbehave = 2;
  km_target_t t[2] = {target("a", "cn-hangzhou"), target("b", "cn-hangzhou")};
  km_engine_t *e = run(&f, KM_MODE_RUN, t, 2, 4, 5);
  T.behave = NULL;
  /* Rotation turned off in prepare is restored even after a failure. */
  assert_string_equal(T.trace[0], "discover,preflight,prepare,migrate,restore");
  assert_int_equal(km_pipeline_state(km_engine_pipeline(e, 0)), KM_PIPE_FAILED);
  /* ...and the pipeline names the stage that failed, not the RESTORE
   * that ran after it. */
  assert_int_equal(km_pipeline_stage(km_engine_pipeline(e, 0)),
                   KM_STAGE_MIGRATE);
  const km_err_t *err = km_pipeline_error(km_engine_pipeline(e, 0));
  assert_non_null(err);
  assert_non_null(strstr(err->text, "test failure in migrate"));
  assert_int_equal(err->code, KM_EIO);
  /* Nothing was prepared: no restore. */
  assert_string_equal(T.trace[1], "discover");
  assert_int_equal(km_pipeline_state(km_engine_pipeline(e, 1)), KM_PIPE_FAILED);
  assert_int_equal(km_engine_failed_accounts(e), 2);
  finish(&f, e);
}

static void test_blocked(void **st) {
  (void)st;
  fixture_t f;
  trace_reset();
  static const behave_t b[] = {{"a", NULL, true}};
  T.behave = b;
  T.nbehave = 1;
  km_target_t t[2] = {target("a", "cn-hangzhou"), target("b", "cn-hangzhou")};
  km_engine_t *e = run(&f, KM_MODE_RUN, t, 2, 4, 0);
  T.behave = NULL;
  assert_int_equal(km_pipeline_state(km_engine_pipeline(e, 0)),
                   KM_PIPE_BLOCKED);
  assert_string_equal(T.trace[0], "discover,preflight");
  const km_err_t *err = km_pipeline_error(km_engine_pipeline(e, 0));
  assert_non_null(err);
  assert_int_equal(err->code, KM_EBLOCKED);
  assert_non_null(strstr(err->text, "blocked by the test"));
  assert_int_equal(km_pipeline_state(km_engine_pipeline(e, 1)), KM_PIPE_OK);
  assert_string_equal(T.trace[1], ALL);
  assert_int_equal(km_engine_failed_accounts(e), 0);
  finish(&f, e);
}

/* The typed events and counters a progress view reads: one start and one
 * end per pipeline, RESTORE announced after a failure past PREPARE, and
 * counters that add up at every event and at the end. */
static void test_progress_counts(void **st) {
  (void)st;
  fixture_t f;
  trace_reset();
  static const behave_t b[] = {{"a", "migrate", false}, {"b", NULL, true}};
  T.behave = b;
  T.nbehave = 2;
  km_target_t t[4] = {target("a", "cn-hangzhou"), target("b", "cn-hangzhou"),
                      target("c", "cn-hangzhou"), target("c", "cn-shanghai")};
  km_engine_t *e = run(&f, KM_MODE_RUN, t, 4, 2, 5);
  T.behave = NULL;
  km_engine_counts_t c;
  km_engine_counts(e, &c);
  assert_int_equal(c.pipelines, 4);
  assert_int_equal(c.accounts, 3);
  assert_int_equal(c.accounts_ended, 3);
  assert_true(c.barrier_passed);
  assert_int_equal(c.by_state[KM_PIPE_OK], 2);
  assert_int_equal(c.by_state[KM_PIPE_FAILED], 1);
  assert_int_equal(c.by_state[KM_PIPE_BLOCKED], 1);
  assert_int_equal(c.by_state[KM_PIPE_RUNNING] + c.by_state[KM_PIPE_WAITING] +
                       c.by_state[KM_PIPE_PENDING],
                   0);
  for (size_t i = 0; i < 4; i++) {
    assert_int_equal(P.started[i], 1);
    assert_int_equal(P.ended[i], 1);
    assert_int_equal(P.barrier[i], 1);
  }
  assert_int_equal(P.end_state[0], KM_PIPE_FAILED);
  assert_int_equal(P.restoring[0], 1);
  assert_int_equal(P.end_state[1], KM_PIPE_BLOCKED);
  assert_int_equal(P.stages[1], 1); /* preflight only */
  assert_int_equal(P.end_state[2], KM_PIPE_OK);
  assert_int_equal(P.stages[2], KM_STAGE__COUNT - 1);
  finish(&f, e);
}

static void test_failure_tolerance(void **st) {
  (void)st;
  fixture_t f;
  trace_reset();
  static const behave_t b[] = {{"a", "prepare", false},
                               {"b", "prepare", false}};
  T.behave = b;
  T.nbehave = 2;
  /* One account at a time; the first fails; tolerance 0: no more start. */
  km_target_t t[3] = {target("a", "cn-hangzhou"), target("b", "cn-hangzhou"),
                      target("c", "cn-hangzhou")};
  km_engine_t *e = run(&f, KM_MODE_RUN, t, 3, 1, 0);
  assert_int_equal(km_pipeline_state(km_engine_pipeline(e, 0)), KM_PIPE_FAILED);
  assert_string_equal(T.trace[0], "discover,preflight,prepare,restore");
  assert_int_equal(km_pipeline_state(km_engine_pipeline(e, 1)),
                   KM_PIPE_NOT_STARTED);
  assert_int_equal(km_pipeline_state(km_engine_pipeline(e, 2)),
                   KM_PIPE_NOT_STARTED);
  /* Not started past the barrier: they went no further than preflight. */
  assert_string_equal(T.trace[1], "discover,preflight");
  assert_true(km_engine_tolerance_exceeded(e));
  finish(&f, e);

  /* Tolerance 1: the second failure stops the third account. */
  trace_reset();
  T.behave = b;
  T.nbehave = 2;
  e = run(&f, KM_MODE_RUN, t, 3, 1, 1);
  T.behave = NULL;
  assert_int_equal(km_pipeline_state(km_engine_pipeline(e, 1)), KM_PIPE_FAILED);
  assert_int_equal(km_pipeline_state(km_engine_pipeline(e, 2)),
                   KM_PIPE_NOT_STARTED);
  assert_int_equal(km_engine_failed_accounts(e), 2);
  finish(&f, e);
}

/* The tolerance stops new work only: with tolerance 0 and one account at a
 * time, a's discovery is done when b's fails, so a still migrates and only
 * c (never started) is held back; a plan ignores the tolerance. */
static void test_tolerance_new_work_only(void **st) {
  (void)st;
  fixture_t f;
  trace_reset();
  static const behave_t b[] = {{"b", "discover", false}};
  T.behave = b;
  T.nbehave = 1;
  km_target_t t[3] = {target("a", "cn-hangzhou"), target("b", "cn-hangzhou"),
                      target("c", "cn-hangzhou")};
  km_engine_t *e = run(&f, KM_MODE_RUN, t, 3, 1, 0);
  assert_int_equal(km_pipeline_state(km_engine_pipeline(e, 0)), KM_PIPE_OK);
  assert_non_null(strstr(T.trace[0], "prepare,migrate,restore"));
  assert_int_equal(km_pipeline_state(km_engine_pipeline(e, 1)), KM_PIPE_FAILED);
  assert_int_equal(km_pipeline_stage(km_engine_pipeline(e, 1)),
                   KM_STAGE_DISCOVER);
  assert_int_equal(km_pipeline_state(km_engine_pipeline(e, 2)),
                   KM_PIPE_NOT_STARTED);
  assert_string_equal(T.trace[2], "");
  assert_int_equal(km_engine_failed_accounts(e), 1);
  finish(&f, e);

  trace_reset();
  T.behave = b;
  T.nbehave = 1;
  e = run(&f, KM_MODE_PLAN, t, 3, 1, 0);
  T.behave = NULL;
  assert_int_equal(km_pipeline_state(km_engine_pipeline(e, 1)), KM_PIPE_FAILED);
  assert_int_equal(km_pipeline_state(km_engine_pipeline(e, 2)), KM_PIPE_OK);
  assert_string_equal(T.trace[2], "discover,preflight");
  finish(&f, e);
}

/* 2,000 pipelines whose every stage ends inside its own start: the engine
 * takes each next step from the loop, so the stack stays flat, every
 * pipeline runs every stage in order, and pipelines start in order. */
#define NSYNC 2000

static void test_sync_end_no_recursion(void **st) {
  (void)st;
  static char names[NSYNC][16];
  static km_target_t t[NSYNC];
  trace_reset();
  T.sync = true;
  for (size_t i = 0; i < NSYNC; i++) {
    snprintf(names[i], sizeof(names[i]), "acct-%04zu", i);
    t[i] = target(names[i], "cn-hangzhou");
  }
  fixture_t f;
  km_engine_t *e = run(&f, KM_MODE_RUN, t, NSYNC, 64, 0);
  for (size_t i = 0; i < NSYNC; i++) {
    assert_int_equal(km_pipeline_state(km_engine_pipeline(e, i)), KM_PIPE_OK);
    assert_string_equal(T.trace[i], ALL);
  }
  assert_int_equal(T.nseq, NSYNC * 7);
  /* Discovery starts in pipeline order; so does everything after the
   * barrier. */
  long last = -1;
  for (size_t k = 0; k < T.nseq; k++) {
    if (T.seq[k] % 16 != KM_STAGE_DISCOVER) continue;
    assert_true(T.seq[k] / 16 > last);
    last = T.seq[k] / 16;
  }
  last = -1;
  for (size_t k = 0; k < T.nseq; k++) {
    if (T.seq[k] % 16 != KM_STAGE_PREPARE) continue;
    assert_true(T.seq[k] / 16 > last);
    last = T.seq[k] / 16;
  }
  /* No recursion: start ran at (nearly) the same depth every time, not
   * 14,000 frames deep. */
  if (T.sp_max - T.sp_min > 64 * 1024)
    fail_msg("stage starts spread over %zu bytes of stack",
             (size_t)(T.sp_max - T.sp_min));
  T.sync = false;
  finish(&f, e);
}

/* A stage that ends with a timer still in flight: the timer fires after the
 * pipeline moved on, is dropped without calling the stage, and the context
 * is freed then (the loop closes clean). */
static void test_late_answer_dropped(void **st) {
  (void)st;
  fixture_t f;
  trace_reset();
  T.late_timer = true;
  km_target_t t[1] = {target("a", "cn-hangzhou")};
  km_engine_t *e = run(&f, KM_MODE_RUN, t, 1, 1, 0);
  assert_int_equal(km_pipeline_state(km_engine_pipeline(e, 0)), KM_PIPE_OK);
  assert_string_equal(T.trace[0], ALL);
  /* Let the late timers fire. */
  uv_run(&f.loop, UV_RUN_DEFAULT);
  assert_int_equal(T.late_fired, 0);
  T.late_timer = false;
  finish(&f, e);
}

/* ---- a plugin through the ABI-2 adapter ---- */

#define STAGES_SO KM_BUILD_DIR "/tests/plugins/fix_stages.so"

/* The plugin's trace of one pipeline, from its log lines
 * ("<account> <region>: stages: trace <stage>"). */
static void plugin_trace(FILE *log, const char *account, const char *region,
                         char *out, size_t n) {
  char prefix[128], line[512];
  snprintf(prefix, sizeof(prefix), " %s %s: stages: trace ", account, region);
  out[0] = '\0';
  rewind(log);
  while (fgets(line, sizeof(line), log) != NULL) {
    const char *at = strstr(line, prefix);
    if (at == NULL) continue;
    at += strlen(prefix);
    size_t len = strlen(out);
    snprintf(out + len, n - len, "%s%.*s", len ? "," : "",
             (int)strcspn(at, "\n"), at);
  }
}

static void test_plugin_stages(void **st) {
  (void)st;
  FILE *log = tmpfile();
  assert_non_null(log);
  int level = km_log_get_level();
  km_log_set_level(KM_LOG_INFO);
  km_log_set_file(log);
  fixture_t f;
  trace_reset();
  km_target_t t[3] = {target("ok", "cn-hangzhou"),
                      target("x-fail-migrate", "cn-hangzhou"),
                      target("block-me", "cn-hangzhou")};
  km_engine_t *e = run_with(&f, STAGES_SO, KM_MODE_RUN, t, 3, 4, 5);
  km_log_set_file(NULL);
  km_log_set_level(level);

  char tr[256];
  assert_int_equal(km_pipeline_state(km_engine_pipeline(e, 0)), KM_PIPE_OK);
  plugin_trace(log, "ok", "cn-hangzhou", tr, sizeof(tr));
  assert_string_equal(tr, ALL);

  assert_int_equal(km_pipeline_state(km_engine_pipeline(e, 1)), KM_PIPE_FAILED);
  plugin_trace(log, "x-fail-migrate", "cn-hangzhou", tr, sizeof(tr));
  assert_string_equal(tr, "discover,preflight,prepare,migrate,restore");
  const km_err_t *err = km_pipeline_error(km_engine_pipeline(e, 1));
  assert_non_null(err);
  assert_non_null(strstr(err->text, "fixture failure in migrate"));

  assert_int_equal(km_pipeline_state(km_engine_pipeline(e, 2)),
                   KM_PIPE_BLOCKED);
  plugin_trace(log, "block-me", "cn-hangzhou", tr, sizeof(tr));
  assert_string_equal(tr, "discover,preflight");
  err = km_pipeline_error(km_engine_pipeline(e, 2));
  assert_non_null(err);
  assert_non_null(strstr(err->text, "blocked by the fixture"));
  assert_int_equal(km_engine_failed_accounts(e), 1);
  finish(&f, e);
  fclose(log);
}

/* Two providers marked concurrent for a stage start together; the next one
 * waits for both; elsewhere they run one after the other; a failure of the
 * first still lets the second finish, skips the rest of the stage and
 * names the first's error. */
static void test_concurrent_providers(void **st) {
  (void)st;
  fixture_t f;
  trace_reset();
  memset(&C, 0, sizeof(C));
  C.ops = conc_set;
  km_target_t t[1] = {target("a", "cn-hangzhou")};
  km_engine_t *e = run(&f, KM_MODE_RUN, t, 1, 1, 0);
  assert_int_equal(km_pipeline_state(km_engine_pipeline(e, 0)), KM_PIPE_OK);
  assert_string_equal(C.log[KM_STAGE_DISCOVER], "+ca+cb-cb-ca+cz-cz");
  assert_string_equal(C.log[KM_STAGE_VERIFY], "+ca+cb-cb-ca+cz-cz");
  assert_string_equal(C.log[KM_STAGE_PREPARE], "+ca-ca+cb-cb+cz-cz");
  finish(&f, e);

  memset(&C, 0, sizeof(C));
  C.ops = conc_set;
  t[0] = target("f", "cn-hangzhou");
  e = run(&f, KM_MODE_RUN, t, 1, 1, 0);
  C.ops = NULL;
  assert_int_equal(km_pipeline_state(km_engine_pipeline(e, 0)), KM_PIPE_FAILED);
  assert_string_equal(C.log[KM_STAGE_DISCOVER], "+ca+cb-cb-ca");
  assert_string_equal(C.log[KM_STAGE_PREFLIGHT], "");
  assert_int_equal(km_pipeline_stage(km_engine_pipeline(e, 0)),
                   KM_STAGE_DISCOVER);
  const km_err_t *err = km_pipeline_error(km_engine_pipeline(e, 0));
  assert_non_null(err);
  assert_non_null(strstr(err->text, "ca failed"));
  finish(&f, e);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_concurrent_providers),
      cmocka_unit_test(test_stage_order_run_and_plan),
      cmocka_unit_test(test_failure_still_restores),
      cmocka_unit_test(test_blocked),
      cmocka_unit_test(test_progress_counts),
      cmocka_unit_test(test_failure_tolerance),
      cmocka_unit_test(test_tolerance_new_work_only),
      cmocka_unit_test(test_sync_end_no_recursion),
      cmocka_unit_test(test_late_answer_dropped),
      cmocka_unit_test(test_plugin_stages),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
