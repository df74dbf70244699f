/* Private structures shared by engine.c (scheduling, state machine) and
 * host.c (the host function table plugins call). */
#ifndef KM_PIPELINE_PRIV_H
#define KM_PIPELINE_PRIV_H

#include "engine/engine.h"

struct km_stage_run_s {
  km_pipeline_t *p;
  km_stage_t stage;
  size_t plugin_index; /* which provider of this stage is running */
  int done;            /* stage_done was called */
};

struct km_pipeline_s {
  km_engine_t *e;
  size_t index;
  km_target_t t;
  km_pipe_state_t state;
  km_stage_t stage;
  bool prepared; /* PREPARE started: RESTORE must run */
  bool failed;
  bool passed_barrier; /* reached the barrier once */
  km_err_t err;
  json_t *doc;
  char *doc_text;   /* cache for doc_get */
  json_t *outcomes; /* host->outcome records, array (NULL until the first) */
  km_stage_run_t run;
  /* outstanding host calls and timers: the pipeline ends only when zero */
  size_t pending;
};

struct km_engine_s {
  km_engine_opts_t o;
  km_pipeline_t *p;
  size_t n;
  size_t next; /* next pipeline index to start */
  size_t ended;
  size_t at_barrier;
  bool barrier_passed;
  bool stopping;
  int failed_accounts;
  size_t total_accounts;
  void (*done)(km_engine_t *e, void *ud);
  void *done_ud;
  uv_idle_t kick; /* defers starts out of callers' stacks */
  bool kick_active;
  bool kick_closed;
};

/* host.c: the pipeline's own cloud call (rate limits, credentials, plan
 * mode refusals), for the Lua bridge. */
int km__host_call(km_pipeline_t *p, const char *product, const char *action,
                  const char *const *params, size_t n, km_plugin_call_cb cb,
                  void *ud);

/* host_hooks.c: km_host_api_t.hook (Lua hooks). */
int km__host_hook(km_pipeline_t *p, const char *name, const char *input_json,
                  km_plugin_call_cb cb, void *ud);

/* host_hooks.c: closes the pipeline's Lua state (if it ever ran a hook). */
void km__host_hooks_close(km_pipeline_t *p);

/* engine.c: continue the state machine after a stage ended. */
void km__pipeline_stage_ended(km_pipeline_t *p, int status,
                              const km_err_t *err);

#endif
