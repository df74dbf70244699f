/* The migration engine: one pipeline per (account, region), all on one
 * loop, each a state machine walking the stages of kmsmig/plugin.h through
 * the loaded plugins.
 *
 * Phases.  Every pipeline first runs DISCOVER and PREFLIGHT.  When all have
 * done so (a barrier), the engine runs the cross-pipeline checks (quota per
 * destination instance summed over every account and region that targets
 * it) through the global_check callback.  In plan mode the engine stops
 * there; in run mode each pipeline that is not blocked continues with
 * PREPARE, MIGRATE, RESTORE, VERIFY and OBSERVE.
 *
 * Failure.  A failed stage fails its own pipeline only.  Once PREPARE has
 * started, RESTORE always runs, even after a failure, so a rotation policy
 * turned off is turned back on.  When the number of failed accounts exceeds
 * the tolerance (a count, or a percentage of all accounts: the StackSets
 * meaning), no new account is started; pipelines in flight finish.
 *
 * Concurrency.  At most max_accounts accounts have pipelines in flight;
 * every cloud call goes through the rate limiter, keyed by account, region
 * and API group.
 */
#ifndef KM_ENGINE_H
#define KM_ENGINE_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>
#include <uv.h>

#include "acs/acs.h"
#include "engine/ratelimit.h"
#include "kmsmig/plugin.h"
#include "plugin/loader.h"

typedef enum { KM_MODE_PLAN = 0, KM_MODE_RUN } km_run_mode_t;

/* Credentials for one target, delivered asynchronously exactly once when
 * get returned 0.  cred is borrowed for the callback. */
typedef void (*km_cred_done_cb)(int status, const km_credential_t *cred,
                                const km_err_t *err, void *ud);
typedef int (*km_cred_get_fn)(void *src, km_cred_done_cb cb, void *ud);

/* One (account, region).  Strings are borrowed and must outlive the
 * engine. */
typedef struct km_target_s {
  const char *account;    /* manifest name */
  const char *account_id; /* 16 digits */
  const char *region;
  const char *instance_id;
  const char *instance_type; /* "software" | "hardware" */
  km_cred_get_fn get_cred;
  void *cred_src;
  json_t *settings; /* borrowed object of extra "get" values, may be NULL */
} km_target_t;

typedef enum {
  KM_PIPE_PENDING = 0,
  KM_PIPE_RUNNING,
  KM_PIPE_WAITING, /* at the barrier after PREFLIGHT */
  KM_PIPE_OK,
  KM_PIPE_BLOCKED, /* refused by preflight: nothing changed */
  KM_PIPE_FAILED,
  KM_PIPE_NOT_STARTED /* failure tolerance exceeded before it started */
} km_pipe_state_t;

typedef struct km_engine_s km_engine_t;
typedef struct km_pipeline_s km_pipeline_t;

/* Console request for the sim driver: the engine POSTs it to kmsim's console
 * path; implemented by the caller (it owns the HTTP details). */
typedef int (*km_console_fn)(void *ud, km_pipeline_t *p,
                             const char *request_json, km_plugin_call_cb cb,
                             void *cb_ud);

typedef struct km_engine_opts_s {
  uv_loop_t *loop;              /* borrowed */
  km_acs_client_t *acs;         /* borrowed */
  km_rl_t *rl;                  /* borrowed */
  km_plugin_set_t *plugins;     /* borrowed */
  struct km_journal_s *journal; /* borrowed; NULL in plan mode */
  /* Records of earlier attempts of this run (resume): a borrowed JSON
   * array of journal envelopes {seq, ts, type, fields}, to which the engine
   * appends every record it writes; may be NULL in plan mode. */
  json_t *prior_records;
  km_run_mode_t mode;
  int max_accounts; /* 0: 16 */
  int tolerance;    /* failed accounts allowed (count or percent) */
  bool tolerance_percent;
  const char *driver; /* "sim" | "console" */
  km_console_fn console;
  void *console_ud;
  /* Called once at the barrier with every pipeline's document; may mark
   * pipelines blocked with km_pipeline_block().  May be NULL. */
  void (*global_check)(km_engine_t *e, void *ud);
  void *global_ud;
  /* Finds another account of the run by manifest name (host call_as):
   * fills its id and credential getter; returns 0 or KM_ENOENT. */
  int (*resolve_account)(void *ud, const char *account, const char **account_id,
                         km_cred_get_fn *get, void **cred_src);
  void *resolve_ud;
  /* Progress lines (not a TTY: one per event). May be NULL. */
  void (*progress)(km_pipeline_t *p, const char *event, void *ud);
  void *progress_ud;
} km_engine_opts_t;

/* Creates an engine for n targets (copied array; strings borrowed).  Owned;
 * free with km_engine_free after done. */
km_engine_t *km_engine_new(const km_engine_opts_t *opts,
                           const km_target_t *targets, size_t n);

/* Starts every pipeline (bounded by max_accounts).  done is called once
 * when all pipelines have ended.  Returns 0 or a negative code (done never
 * called). */
int km_engine_start(km_engine_t *e, void (*done)(km_engine_t *e, void *ud),
                    void *ud);

/* Asks the engine to start no new account (SIGINT); in-flight pipelines go
 * on to RESTORE and end. */
void km_engine_stop(km_engine_t *e);

void km_engine_free(km_engine_t *e);

/* The host function table the engine gives plugins. */
const km_host_api_t *km_engine_host_api(void);

/* Accessors (borrowed results). */
size_t km_engine_count(const km_engine_t *e);
km_pipeline_t *km_engine_pipeline(km_engine_t *e, size_t i);
const km_target_t *km_pipeline_target(const km_pipeline_t *p);
km_pipe_state_t km_pipeline_state(const km_pipeline_t *p);
const char *km_pipe_state_name(km_pipe_state_t s);
/* The pipeline's document (borrowed; json_incref to keep). */
json_t *km_pipeline_doc(km_pipeline_t *p);
/* The failure that ended the pipeline, or NULL. */
const km_err_t *km_pipeline_error(const km_pipeline_t *p);
/* The stage the pipeline failed or was blocked in. */
km_stage_t km_pipeline_stage(const km_pipeline_t *p);
/* Marks a pipeline waiting at the barrier as blocked, with reason. */
void km_pipeline_block(km_pipeline_t *p, const char *reason);
const char *km_stage_name(km_stage_t s);
int km_engine_failed_accounts(const km_engine_t *e);
bool km_engine_tolerance_exceeded(const km_engine_t *e);

#endif
