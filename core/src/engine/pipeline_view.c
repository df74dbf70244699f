/* What the engine shows of itself to the rest of kmsmig (engine.h): the
 * names of stages, pipeline states and progress events, and the read-only
 * accessors of the pipelines and the run's counts.  The scheduler and the
 * state machine that change them are engine.c's. */
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

const char *km_pipe_ev_name(km_pipe_ev_kind_t k) {
  static const char *names[] = {"started", "stage", "barrier", "restoring",
                                "ended"};
  return (unsigned)k < KM_ARRAY_SIZE(names) ? names[k] : "?";
}

size_t km_engine_count(const km_engine_t *e) {
  return e->n;
}

km_pipeline_t *km_engine_pipeline(km_engine_t *e, size_t i) {
  return i < e->n ? &e->p[i] : NULL;
}

const km_target_t *km_pipeline_target(const km_pipeline_t *p) {
  return p->t;
}

km_pipe_state_t km_pipeline_state(const km_pipeline_t *p) {
  return p->state;
}

km_inv_t *km_pipeline_inv(km_pipeline_t *p) {
  return p->inv;
}

const km_err_t *km_pipeline_error(const km_pipeline_t *p) {
  return p->err != NULL && p->err->code != 0 ? p->err : NULL;
}

km_stage_t km_pipeline_stage(const km_pipeline_t *p) {
  return p->failed ? p->fail_stage : p->stage;
}

bool km_pipeline_discovered(const km_pipeline_t *p) {
  return p->passed_barrier;
}

km_held_t km_pipeline_held(const km_pipeline_t *p) {
  return (km_held_t)p->held;
}

int km_engine_failed_accounts(const km_engine_t *e) {
  return e->failed_accounts;
}

void km_engine_counts(const km_engine_t *e, km_engine_counts_t *out) {
  *out = e->counts;
}
