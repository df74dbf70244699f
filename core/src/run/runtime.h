/* Turning a validated manifest into a running engine: the loop, the HTTP
 * transport, the signed client with the manifest's endpoint overrides, the
 * rate limiter, one credential provider per account, the plugins, the
 * targets (account × region) and, for `run`, the run directory with its
 * journal.  Shared by `plan`, `run` and the tests. */
#ifndef KM_RUN_RUNTIME_H
#define KM_RUN_RUNTIME_H

#include <stdbool.h>

#include <uv.h>

#include "acs/acs.h"
#include "run/console.h"
#include "run/locks.h"
#include "run/planfile.h"
#include "run/rundir.h"
#include "run/worklist.h"
#include "creds/creds.h"
#include "engine/engine.h"
#include "engine/ratelimit.h"
#include "model/rules.h"
#include "http/http.h"
#include "journal/journal.h"
#include "manifest/manifest.h"
#include "stage/stage.h"
#include "rt/loop.h"

/* How a plan or run ended, as the process exit code (docs/cli.md and
 * `kmsmig help`). */
enum {
  KM_EXIT_OK = 0,          /* everything planned was done */
  KM_EXIT_FAILURES = 1,    /* finished, with failed resources or accounts */
  KM_EXIT_USAGE = 2,       /* usage or manifest error; nothing was called */
  KM_EXIT_BLOCKED = 3,     /* blocked by preflight; nothing was changed */
  KM_EXIT_INTERRUPTED = 4, /* interrupted; resumable with --run-dir */
  KM_EXIT_LOCKED = 5,      /* another run holds a lock; nothing was changed */
  KM_EXIT_WAVE_GATE = 6,   /* stopped at a wave gate; resumable */
  KM_EXIT_WAITING = 7,     /* done, but accounts wait for their window */
  KM_EXIT_INTERNAL = 70    /* internal error; resumable */
};

/* `kmsmig rehearse`: the cloud is a local kmsim serving an exported
 * fixture.  Applied to the loaded manifest in memory only (the operator's
 * file is neither read again nor changed): every endpoint goes to address
 * over TLS checked against ca_file, the migration uses the sim driver and
 * starts now, and an account whose manifest credentials are not
 * assume_role signs with the fixture's test-only AccessKey of that name
 * (keys; one missing is an error).  Everything borrowed. */
typedef struct km_rt_static_key_s {
  const char *account; /* account name */
  const char *id;
  const char *secret;
} km_rt_static_key_t;

typedef struct km_rt_rehearse_s {
  const char *address; /* "127.0.0.1:PORT" */
  const char *ca_file; /* kmsim's test CA */
  const km_rt_static_key_t *keys;
  size_t nkeys;
} km_rt_rehearse_t;

typedef struct km_rt_account_s {
  struct km_runtime_s *rt;   /* the runtime it belongs to */
  const km_mf_account_t *mf; /* borrowed from the manifest */
  km_cred_source_t src;
  char *role_arn;     /* owned, for assume_role */
  km_creds_t *creds;  /* NULL once released (release_account) or parked */
  km_hookcfg_t hooks; /* strings borrowed from the manifest */
  /* Pipelines of this account not ended yet, and whether another account
   * needs its credentials (an instance owner, a `via`, the directory's
   * management account): when neither holds, its provider is closed. */
  size_t open_pipes;
  bool needed;
  /* Its pipelines waiting at the barrier, and whether its provider was
   * closed while they all wait (km__rt_park_account): made again from src
   * by the next get. */
  size_t waiting_pipes;
  bool parked;
} km_rt_account_t;

/* What `run` shows while it goes (cli/progress.c).  Each callback may be
 * NULL; everything passed is borrowed for the call. */
typedef struct km_run_view_s {
  /* A pipeline changed (run mode). */
  void (*pipe)(void *ud, km_pipeline_t *p, const km_pipe_ev_t *ev);
  /* A console worklist item changed (an ACTION to announce).  Replaces
   * the runtime's own ACTION lines. */
  void (*item)(void *ud, const km_wl_item_t *it);
  /* A resumed run's worklist from earlier sittings, before the engine
   * starts (replaces the runtime's own list of pending items). */
  void (*resumed)(void *ud, const km_worklist_t *wl);
  void *ud;
} km_run_view_t;

typedef struct km_runtime_s {
  uv_loop_t loop;
  km_manifest_t *m; /* owned */
  km_run_mode_t mode;
  km_http_t *http;
  km_acs_client_t *acs;
  km_rl_t *rl;
  km_stages_t *stages;
  bool *released;        /* per target: its pipeline ended (release_account) */
  km_journal_t *journal; /* run mode only */
  json_t *prior;         /* earlier journal records (resume), array */
  km_rt_account_t *accts;
  size_t naccts;
  struct km_strmap_s *by_name; /* account name -> index in accts */
  km_mf_account_t *discovered; /* members found in the resource directory */
  size_t ndiscovered;
  km_target_t *targets;
  size_t ntargets;
  km_select_t select;  /* the run's selection, typed */
  km_only_t *only;     /* --rerun-failed, --plan: one per target, or NULL */
  km_planfile_t *plan; /* run --plan: the saved plan (owned), or NULL */
  unsigned shard_k, shard_n; /* --shard K/N; 1/1 without */
  int64_t console_poll_ms;
  km_rundir_t rd;   /* run mode only */
  km_locks_t locks; /* run mode with locks.dir: held until the engine ends */
  char *run_id;     /* borrowed from rd, or "plan" */
  km_console_t console;
  FILE *log;
  km_engine_t *engine;
  bool engine_done;
  bool quiet; /* no progress lines */
  km_run_view_t view;
  bool interrupted;
  bool directory_failed; /* the resource directory could not be listed */
  km_rt_signals_t *signals;
  km_quota_use_t *quota; /* per-instance quota arithmetic (global check) */
  size_t nquota;
  /* run mode: the console worklist (run/worklist.c), rewritten in the run
   * directory a moment after a batch record changed it */
  km_worklist_t wl;
  uv_timer_t wl_timer;
  bool wl_timer_on;       /* initialised (closed in km_runtime_free) */
  uint64_t wl_written_ms; /* when the worklist files were last written */
  const km_rt_rehearse_t *rehearse; /* borrowed from the options, or NULL */
  /* `kmsmig observe` (cli/cmd_observe.c): OBSERVE only, and a look at the
   * new engine's models before it starts (may be NULL). */
  bool observe_only;
  void (*on_engine)(struct km_runtime_s *rt, void *ud);
  void *on_engine_ud;
  struct km_waves_s *waves; /* run/waves.c; NULL: no waves or windows */
} km_runtime_t;

typedef struct km_runtime_opts_s {
  const char *manifest_path;
  km_run_mode_t mode;
  const char *run_dir;        /* run: NULL → runs/<name>-<UTC> */
  const char *plugins_dir;    /* NULL: manifest's, else next to the binary */
  const char *shard;          /* "K/N" or NULL */
  bool quiet;                 /* no progress lines */
  bool rerun_failed;          /* only what failed in run_dir's report.json */
  const char *plan_path;      /* run --plan PLAN: a saved plan, or NULL */
  bool allow_include_outside; /* --allow-include-outside */
  const km_rt_rehearse_t *rehearse; /* kmsmig rehearse, or NULL */
  const km_run_view_t *view;        /* run: what the terminal shows (copied) */
  bool break_lock;                  /* run --break-lock (locks.c) */
  bool yes;                         /* run --yes: --break-lock asks nobody */
  bool auto_advance;                /* run --auto-advance (docs/waves.md) */
  bool advance; /* run --advance: pass the gate that stopped */
} km_runtime_opts_t;

/* Builds everything; on failure prints what is wrong (manifest errors as
 * file:line:col) and returns the exit code to use (2 for usage/manifest,
 * 70 internal), else 0 with *rt owned (km_runtime_free). */
int km_runtime_new(const km_runtime_opts_t *o, km_runtime_t **rt);

/* directory.c: lists the resource directory's members (manifest
 * `directory:`) into rt->discovered.  Prints what is wrong. */
int km_directory_discover(km_runtime_t *rt);
/* The runtime's account called name (explicit or discovered), or NULL:
 * an index lookup. */
km_rt_account_t *km_runtime_account(km_runtime_t *rt, const char *name);

/* runplan.c: a saved plan in a runtime (docs/plan.md).
 * km_runplan_load reads opts->plan_path and refuses it when the manifest's
 * hash is not the plan's; prints what is wrong.  km_runplan_select keeps the
 * targets of this shard that the plan has, with the plan's resources as
 * their "only" (strict), says which targets the plan lacks, and refuses a
 * plan pipeline of this shard that the manifest no longer has.
 * km_runplan_rundir records the plan's hash in the run directory, or checks
 * it on resume.  km_runplan_quota (at the barrier) blocks the pipelines of
 * an instance whose free quota no longer covers what the plan still needs
 * there, counting the plan's other shards.  Each returns 0 or < 0. */
int km_runplan_load(km_runtime_t *rt, const char *plan_path);
/* The saved plan's manifest hash: SHA-256 over each manifest file's base
 * name and contents, in the order read (the same files hash the same from
 * any folder).  0, or KM_EIO when a file cannot be read. */
int km_runplan_manifest_hash(const km_manifest_t *m, char out[65]);
int km_runplan_select(km_runtime_t *rt);
int km_runplan_rundir(km_runtime_t *rt);
void km_runplan_quota(km_runtime_t *rt, km_engine_t *e);

/* locks.c: a run takes the lock of each of its accounts × regions in
 * locks.dir (none for a rehearsal); plan only warns.  Returns the exit
 * code (0, KM_EXIT_LOCKED, KM_EXIT_USAGE); everything is printed. */
int km_runtime_lock(km_runtime_t *rt, const km_runtime_opts_t *o);

/* rerun.c: --rerun-failed gives each target its "only" from the previous
 * attempt's report (0 or < 0, printed); km_rerun_free_only frees n of them
 * (the array included; NULL is nothing). */
int km_rerun_restrict(km_runtime_t *rt);
void km_rerun_free_only(km_only_t *only, size_t n);

/* Runs the engine to completion on the runtime's loop. */
int km_runtime_run(km_runtime_t *rt);

/* Writes worklist.{json,md,html} into the run directory now (run mode;
 * a failure is logged: the journal stays the truth). */
void km_runtime_worklist_flush(km_runtime_t *rt);

/* Closes every handle, verifies the loop closes, frees. */
void km_runtime_free(km_runtime_t *rt);

#endif
