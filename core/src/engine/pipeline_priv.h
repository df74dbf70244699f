/* Private structures shared by engine.c (scheduling, state machine) and
 * host.c (what stages call). */
#ifndef KM_PIPELINE_PRIV_H
#define KM_PIPELINE_PRIV_H

#include "engine/engine.h"
#include "stage/stage.h"

struct km_pipeline_s {
  km_engine_t *e;
  size_t index;
  size_t acct;          /* index of its account in e->accts */
  const km_target_t *t; /* borrowed: the engine's caller keeps the array */
  km_inv_t *inv;        /* the typed model, owned */
  json_t *records;      /* its journal records (flat), owned; NULL: none yet */
  km_pipe_state_t state;
  km_stage_t stage;
  km_stage_t fail_stage; /* where it failed (RESTORE may run after) */
  size_t provider;       /* which provider of this stage runs */
  km_sctx_t *cur;        /* the stage run in progress, or NULL */
  /* Two providers of the stage running at once (km_stage_ops_t.concurrent),
   * or NULL: allocated only while they run. */
  struct km__pgroup_s *grp;
  bool prepared; /* PREPARE started: RESTORE must run */
  bool failed;
  bool blocked;
  bool passed_barrier; /* reached the barrier once */
  uint8_t held;        /* km_held_t */
  /* A stage that ended, waiting for the loop to take the next step (the
   * transition never runs on the stack of the stage that ended). */
  bool ready;
  int end_status;
  bool end_blocked;
  km_err_t *end_err; /* owned; NULL: none (most stages end without one) */
  km_pipeline_t *next_ready;
  /* Why the pipeline failed or was blocked (owned; NULL: it did not).  A
   * pointer, not a struct: 10,000 pipelines are 10,000 of these. */
  km_err_t *err;
  void *lua; /* km_lua_t, created by the first hook, closed at the end */
  /* outstanding host calls and timers */
  size_t pending;
  /* The report's timeline (km_pipeline_stage_span): when each stage of
   * this attempt began and ended, in ms since the engine was created plus
   * 1 (0: not reached), and how it ended (km__span_*).  63 bytes a
   * pipeline: 630 KB at 10,000. */
  uint32_t span_begin[KM_STAGE__COUNT], span_end[KM_STAGE__COUNT];
  uint8_t span_status[KM_STAGE__COUNT];
};

/* Providers of one stage running at once, and what each ended with; the
 * stage goes on (engine.c) when the last has ended, taking their results
 * in provider order as if they had run one after the other. */
#define KM__GROUP_MAX 3 /* share, keys, secrets in PREPARE */
typedef struct km__pgroup_s {
  km_sctx_t *c[KM__GROUP_MAX]; /* running; NULL once it ended */
  int status[KM__GROUP_MAX];
  bool blocked[KM__GROUP_MAX];
  km_err_t *err[KM__GROUP_MAX]; /* owned; NULL: none */
  size_t n, running;
  size_t next_provider; /* the first provider after the group */
} km__pgroup_t;

/* span_status values. */
enum { KM__SPAN_NONE = 0, KM__SPAN_OK, KM__SPAN_FAILED, KM__SPAN_BLOCKED };

/* One account: its pipelines are p[first .. first+n). */
typedef struct km_acct_s {
  size_t first, n;
  size_t running; /* its pipelines in RUNNING */
  size_t waiting; /* at the barrier */
  size_t ended;   /* its pipelines that ended (progress counts) */
  bool failed;
  bool failed_b; /* a pipeline failed after PREPARE began */
  /* A call of this account has been retried for long (host.c): said once
   * a minute at most, and again only after a call was answered. */
  bool retry_noted;
  uint64_t retry_noted_at;
} km_acct_t;

struct km_engine_s {
  km_engine_opts_t o;
  km_pipeline_t *p;
  size_t n;
  km_acct_t *accts;
  size_t naccts;
  size_t next_acct;     /* phase A: next account to start */
  size_t next_b;        /* phase B: next account to resume */
  size_t running_accts; /* accounts with a pipeline RUNNING */
  size_t ended;
  km_engine_counts_t counts; /* what km_engine_counts returns */
  bool barrier_passed;
  bool stopping;
  bool interrupted; /* a signal: waiting stages end (kp_stopping) */
  int failed_accounts;
  int failed_b_accounts;    /* of which failed once PREPARE began */
  bool tolerance_logged[2]; /* phase A, phase B */
  km_pipeline_t *ready_head, *ready_tail;
  void (*done)(km_engine_t *e, void *ud);
  void *done_ud;
  uv_idle_t kick; /* defers starts and transitions out of callers' stacks */
  bool kick_active;
  bool kick_closed;
  bool closed;    /* km_engine_free ran and the kick handle is closed */
  size_t pending; /* host calls and timers of every pipeline in flight */
  /* Warning texts already shown (host.c): the same warning of many
   * pipelines reaches the terminal once; the summary counts accounts. */
  struct km_strmap_s *warned;
  /* Waves (waves.c): accounts in wave order for phase B (NULL: account
   * order), the wave being prepared, and whether a gate stopped. */
  size_t *order;
  int cur_wave;
  bool gate_closed;
  int64_t t0_wall_ms; /* wall clock when the engine was created */
  uint64_t t0_ms;     /* km_now_ms() then: the spans count from it */
  /* Group commit (host.c): a stage's journal record is written at once and
   * made durable by one fsync per loop turn, before any request made after
   * it leaves kmsmig; the requests wait here meanwhile. */
  uv_prepare_t jflush;
  bool jflush_active;
  bool jsync_due; /* a record written since the last fsync must be durable */
  struct km__parked_s *parked, *parked_tail;
  int open_handles; /* kick and jflush: closed is set when both are */
};

/* A host call or timer of p started / ended.  The engine is freed only
 * when it has been closed and nothing is pending, so an answer that
 * arrives during teardown never finds its pipeline freed: call km__unpend
 * after the callback, as the last thing that touches p. */
static inline void km__pend(km_pipeline_t *p) {
  p->pending++;
  p->e->pending++;
}
void km__unpend(km_pipeline_t *p);

/* host.c: the stage host of the engine. */
extern const km_shost_t km__engine_shost;
/* host.c: the pipeline's own call, for the Lua bridge (text at the edge). */
int km__host_call_text(km_pipeline_t *p, const char *product,
                       const char *action, const char *const *params, size_t n,
                       km_plugin_call_cb cb, void *ud);

/* host.c: the group commit's handle (km_engine_new), and its end
 * (km_engine_free): a request still waiting is canceled, what is written
 * is made durable; on_closed once the handle is closed. */
void km__host_jflush_init(km_engine_t *e);
void km__host_jflush_close(km_engine_t *e, uv_close_cb on_closed);

/* host.c: appends a flat record ({"type":..., fields...}; borrowed) to the
 * journal and to the pipeline's records, without the fsync (a decision
 * record: durable with the next synced record). */
int km__host_journal_nosync(km_pipeline_t *p, const json_t *flat);

/* host_hooks.c: runs a Lua hook, journalling its decision in run mode;
 * closes the pipeline's Lua state. */
int km__host_hook(km_pipeline_t *p, const char *name, const json_t *input,
                  km_jcall_cb cb, void *ud);
void km__host_hooks_close(km_pipeline_t *p);

/* engine.c: a stage ended (host.c, from km_shost_t.ended). */
void km__pipeline_stage_ended(km_pipeline_t *p, int status, bool blocked,
                              const km_err_t *err);

/* waves.c: the phase B order of accounts (wave, then account order) and
 * the first wave; the wave of account a. */
void km__waves_order(km_engine_t *e);
int km__acct_wave(const km_engine_t *e, size_t a);

#endif
