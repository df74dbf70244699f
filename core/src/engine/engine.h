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
 * meaning), no new account is started; work begun goes on: accounts
 * discovered before a discovery failure still migrate, and only failures
 * after PREPARE stop further accounts from being prepared.  Plan mode
 * ignores the tolerance.
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
#include "lua/lua.h"
#include "manifest/manifest.h"
#include "model/inventory.h"
#include "rt/jcall.h"

typedef enum { KM_MODE_PLAN = 0, KM_MODE_RUN } km_run_mode_t;

/* Credentials for one target, delivered asynchronously exactly once when
 * get returned 0.  cred is borrowed for the callback. */
typedef void (*km_cred_done_cb)(int status, const km_credential_t *cred,
                                const km_err_t *err, void *ud);
typedef int (*km_cred_get_fn)(void *src, km_cred_done_cb cb, void *ud);
/* The cloud refused the temporary credential with AccessKey id akid
 * (borrowed): the next get of src assumes the role again.  Returns 1 when a
 * cached credential was dropped, 0 when it was renewed already. */
typedef int (*km_cred_renew_fn)(void *src, const char *akid);

/* --rerun-failed and a saved plan (run --plan): only these resources may
 * move; the others are skipped with rule (NULL: run.rerun_failed) and why.
 * With a saved plan (strict), preflight also blocks the pipeline when the
 * cloud no longer matches the plan: a listed resource gone, already
 * migrated (not by this run) or no longer movable, another destination, or
 * a pipeline the plan blocked (blocked: the plan's reason). */
typedef struct km_only_s {
  km_inv_strs_t keys;
  km_inv_strs_t secrets;
  const char *rule;        /* borrowed; NULL: run.rerun_failed */
  const char *why;         /* borrowed; NULL: the --rerun-failed text */
  bool strict;             /* a saved plan: check the listed resources */
  const char *instance_id; /* borrowed: the plan's destination */
  const char *blocked;     /* borrowed: the plan blocked it, reason */
} km_only_t;

/* One (account, region) and everything the manifest says about it, typed.
 * Every pointer is borrowed and must outlive the engine; the run-wide ones
 * (select, byok, hooks) are shared by all targets that use them. */
typedef struct km_target_s {
  const char *account;    /* manifest name */
  const char *account_id; /* 16 digits */
  const char *region;
  const char *instance_id;
  km_inv_type_t instance_type;
  const char *instance_owner;    /* manifest name of the owner account */
  const char *instance_owner_id; /* NULL when the run does not know it */
  const char *image_version;     /* NULL: not given in the manifest */
  int auto_renew;                /* -1 not given, 0 off, 1 on */
  bool share;                    /* the owner shares the instance with us */
  /* The run listed this account and the instance's owner in the one
   * resource directory of `directory:` (ListAccounts): share.directory has
   * nothing to ask. */
  bool owner_same_directory;
  const km_select_t *select;      /* NULL selects nothing */
  const km_mf_select_t *byok;     /* select.byok; NULL: not configured */
  const km_hookcfg_t *hooks;      /* never NULL in a runtime */
  const km_only_t *only;          /* NULL: no restriction */
  const km_mf_monitor_t *monitor; /* monitor: (docs/monitor.md); NULL: off */
  const char *run_id;             /* the run directory's name, or "plan" */
  bool set_default;               /* migrate.set_default */
  int64_t task_timeout_s;
  int64_t when; /* migrate.when, Unix seconds; 0: now */
  int wave;     /* waves: (docs/waves.md), 1-based; 0: the one wave */
  int64_t console_poll_ms; /* console driver poll interval; 0: default */
  int64_t rotation_lead_s; /* scheduled `when`: rotation off this early */
  const char *access_role; /* role ARN kmsmig assumes; NULL: own keys */
  km_cred_get_fn get_cred;
  void *cred_src;
  /* Renews any cred_src of the run (this target's and resolve_account's);
   * NULL: credentials are never renewed on a refusal. */
  km_cred_renew_fn renew_cred;
} km_target_t;

typedef enum {
  KM_PIPE_PENDING = 0,
  KM_PIPE_RUNNING,
  KM_PIPE_WAITING, /* at the barrier after PREFLIGHT */
  KM_PIPE_OK,
  KM_PIPE_BLOCKED, /* refused by preflight: nothing changed */
  KM_PIPE_FAILED,
  KM_PIPE_NOT_STARTED /* failure tolerance exceeded before it started, or
                         held (km_pipeline_held) */
} km_pipe_state_t;

/* Why a pipeline that reached the barrier was not prepared although
 * nothing failed (state NOT_STARTED): its wave's gate did not open, or its
 * account is outside its migration window (docs/waves.md). */
typedef enum {
  KM_HELD_NONE = 0,
  KM_HELD_GATE,  /* an earlier wave's gate stopped the run */
  KM_HELD_WINDOW /* outside its window: waits for it, untouched */
} km_held_t;

typedef struct km_engine_s km_engine_t;
typedef struct km_pipeline_s km_pipeline_t;

/* What a pipeline just did, for the progress callback (engine opts).  The
 * state and stage are the pipeline's after the event, so a receiver keeps
 * its own counts without asking again. */
typedef enum {
  KM_PEV_STARTED = 0, /* began DISCOVER */
  KM_PEV_STAGE,       /* entered a stage (ev.stage) */
  KM_PEV_BARRIER,     /* finished PREFLIGHT: waits for the quota check */
  KM_PEV_RESTORING,   /* failed in ev.stage; RESTORE runs now */
  KM_PEV_ENDED /* ended: ev.state is ok, blocked, failed or not started */
} km_pipe_ev_kind_t;

typedef struct km_pipe_ev_s {
  km_pipe_ev_kind_t kind;
  km_pipe_state_t state;
  km_stage_t stage; /* km_pipeline_stage(): where it is, or where it failed */
} km_pipe_ev_t;

const char *km_pipe_ev_name(km_pipe_ev_kind_t k);

/* Counters of the whole run, kept as pipelines change (O(1) per event), for
 * a progress view that looks a few times a second. */
typedef struct km_engine_counts_s {
  size_t pipelines, accounts;
  size_t accounts_ended;                    /* all its pipelines ended */
  size_t by_state[KM_PIPE_NOT_STARTED + 1]; /* pipelines per state */
  /* NOT_STARTED pipelines held although nothing failed, by why
   * (km_held_t; [KM_HELD_NONE] stays 0): held at a gate, waiting for a
   * window.  by_state[KM_PIPE_NOT_STARTED] counts them too. */
  size_t held[KM_HELD_WINDOW + 1];
  size_t in_stage[KM_STAGE__COUNT]; /* RUNNING pipelines per stage */
  bool barrier_passed;              /* the quota check ran */
} km_engine_counts_t;

/* Console request for the sim driver: the engine POSTs request (borrowed;
 * NULL lists the tasks) to kmsim's console path; implemented by the caller
 * (it owns the HTTP details).  Same contract as every async start. */
typedef int (*km_console_fn)(void *ud, km_pipeline_t *p, const json_t *request,
                             km_jcall_cb cb, void *cb_ud);

typedef struct km_stages_s km_stages_t; /* stage/stage.h */

#define KM_ENGINE_TOGETHER_MIN 16

typedef struct km_engine_opts_s {
  uv_loop_t *loop;              /* borrowed */
  km_acs_client_t *acs;         /* borrowed */
  km_rl_t *rl;                  /* borrowed */
  km_stages_t *stages;          /* borrowed: who provides each stage */
  struct km_journal_s *journal; /* borrowed; NULL in plan mode */
  /* Records of earlier attempts of this run (resume): a JSON array of
   * journal envelopes {seq, ts, type, fields} (borrowed, read once by
   * km_engine_new, which hands each pipeline its own); may be NULL. */
  const json_t *prior_records;
  km_run_mode_t mode;
  int max_accounts; /* 0: 16 */
  /* Providers marked concurrent for a stage (km_stage_ops_t.concurrent)
   * run at the same time only with this set: the run sets it when each
   * endpoint has at least KM_ENGINE_TOGETHER_MIN connections.  With fewer,
   * the two providers' calls wait for each other's connections and leave
   * in bunches, which the service answers with throttling (the limiter
   * paces when calls are granted, not when they are sent): in
   * integration.throttle_adapt, 4 connections, the share of throttled
   * key-read answers went from 3.5% to 2.5-6.1%. */
  bool providers_together;
  int tolerance; /* failed accounts allowed (count or percent) */
  bool tolerance_percent;
  const char *driver; /* "sim" | "console" */
  km_console_fn console;
  void *console_ud;
  /* Called once at the barrier with every pipeline's model; may mark
   * pipelines blocked with km_pipeline_block().  May be NULL. */
  void (*global_check)(km_engine_t *e, void *ud);
  void *global_ud;
  /* Finds another account of the run by manifest name (host call_as):
   * fills its id and credential getter; returns 0 or KM_ENOENT. */
  int (*resolve_account)(void *ud, const char *account, const char **account_id,
                         km_cred_get_fn *get, void **cred_src);
  void *resolve_ud;
  /* Every state change of a pipeline, typed (km_pipe_ev_t, borrowed for
   * the call): the CLI's progress view (cli/progress.c) and the log.  May
   * be NULL. */
  void (*progress)(km_pipeline_t *p, const struct km_pipe_ev_s *ev, void *ud);
  void *progress_ud;
  /* Sees every journal record a pipeline wrote, once it is durable (flat:
   * {type, account, region, fields...}; borrowed for the call).  The
   * console worklist is fed from here (run/worklist.c).  May be NULL. */
  void (*record)(const km_target_t *t, const json_t *rec, void *ud);
  void *record_ud;
  /* `kmsmig observe`: each pipeline runs OBSERVE only (with mode PLAN:
   * reads only). */
  bool observe_only;
  /* Waves (targets' wave): every pipeline of wave `done` ended and wave
   * `next` would start PREPARE; true lets it.  False holds every later
   * account (KM_HELD_GATE).  NULL: waves pass without asking. */
  bool (*gate)(km_engine_t *e, int done, int next, void *ud);
  void *gate_ud;
  /* Asked before an account is prepared (first: its first pipeline):
   * true holds it (KM_HELD_WINDOW), nothing of it is changed.  May be
   * NULL. */
  bool (*hold)(km_pipeline_t *first, void *ud);
  void *hold_ud;
} km_engine_opts_t;

/* Creates an engine for n targets (array and strings borrowed: they must
 * outlive the engine, km_engine_free included), one
 * typed model per target.  Targets of one account must be adjacent.
 * Owned; free with km_engine_free after done. */
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
/* SIGINT/SIGTERM: km_engine_stop, and stages that are only waiting (for
 * the operator's console step or a scheduled time) end now, so RESTORE
 * runs at once (kp_stopping). */
void km_engine_interrupt(km_engine_t *e);
bool km_engine_interrupted(const km_engine_t *e);

void km_engine_free(km_engine_t *e);

/* Accessors (borrowed results). */
size_t km_engine_count(const km_engine_t *e);
km_pipeline_t *km_engine_pipeline(km_engine_t *e, size_t i);
const km_target_t *km_pipeline_target(const km_pipeline_t *p);
km_pipe_state_t km_pipeline_state(const km_pipeline_t *p);
const char *km_pipe_state_name(km_pipe_state_t s);
/* The pipeline's model (borrowed; owned by the engine until freed). */
km_inv_t *km_pipeline_inv(km_pipeline_t *p);
/* The failure that ended the pipeline, or NULL. */
const km_err_t *km_pipeline_error(const km_pipeline_t *p);
/* The stage the pipeline failed in (not the RESTORE that ran after), else
 * the stage it is in or ended in (blocked: the one that refused). */
km_stage_t km_pipeline_stage(const km_pipeline_t *p);
/* True once the pipeline finished DISCOVER and PREFLIGHT (reached the
 * barrier): its model is complete. */
bool km_pipeline_discovered(const km_pipeline_t *p);
/* When stage s of this attempt began and ended (Unix ms; end 0: it began
 * and has not ended) and how (static "ok", "failed", "blocked" or
 * "running").  False when the pipeline never reached s. */
bool km_pipeline_stage_span(const km_pipeline_t *p, km_stage_t s,
                            int64_t *begin_ms, int64_t *end_ms,
                            const char **status);
/* Why a NOT_STARTED pipeline was held, or KM_HELD_NONE. */
km_held_t km_pipeline_held(const km_pipeline_t *p);
/* Marks a pipeline waiting at the barrier as blocked, with reason. */
void km_pipeline_block(km_pipeline_t *p, const char *reason);
const char *km_stage_name(km_stage_t s);
int km_engine_failed_accounts(const km_engine_t *e);
/* The run's counters now (out: caller-owned). */
void km_engine_counts(const km_engine_t *e, km_engine_counts_t *out);
bool km_engine_tolerance_exceeded(const km_engine_t *e);

#endif
