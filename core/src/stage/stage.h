/* The stages of a pipeline as kmsmig runs them: one stage-operations table
 * (km_stage_ops_t) for every provider, built in or loaded, and one stage
 * context (km_sctx_t) per stage start.
 *
 * A stage works on the pipeline's typed model in place (c->inv, owned by
 * the engine) and reads its typed settings (c->t); nothing crosses a stage
 * boundary as text.  Cloud answers arrive parsed (km_sres_t.body).  JSON
 * appears only where it leaves the process or comes back: journal records,
 * Lua hook inputs and outputs, the console's requests.
 *
 * The context is also the stage's bounded fan-out of cloud calls (at most
 * max_inflight with the host, the rest queued; the host rate-limits on
 * top), its first failure, and its single end.  "Drained" (nothing in
 * flight, nothing queued, nobody holding) runs on_drain, which queues the
 * next step or ends the stage with kp_finish.
 *
 * Lifetime: the engine creates the context, the provider ends it exactly
 * once (kp_finish, or kp_finish_blocked for a refusal).  The context is
 * freed when it has ended and nothing it started is still in flight; an
 * answer that arrives after the end is dropped without calling the stage,
 * so a late completion of an earlier stage can never touch the current
 * one.
 *
 * The host side (km_shost_t) is a table so that unit tests can run a stage
 * against a fake; the engine provides the real one (engine/host.c).
 */
#ifndef KM_STAGE_STAGE_H
#define KM_STAGE_STAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "engine/engine.h"
#include "kmsmig/plugin.h"
#include "model/inventory.h"
#include "rt/jcall.h"

typedef struct km_sctx_s km_sctx_t;
typedef struct kp_req_s kp_req_t;
typedef struct km_stage_ops_s km_stage_ops_t;

/* ---- the host side of a stage ---- */

typedef struct km_shost_s {
  /* One log line, tagged with the pipeline's account and region. */
  void (*log)(km_pipeline_t *p, int level, const char *msg);
  /* A cloud call with the credentials of account (manifest name; NULL: the
   * pipeline's own), in the pipeline's region, through the rate limits and
   * retries.  Plan mode refuses writes with KM_EPERM.  0: cb exactly once
   * later; < 0: never. */
  int (*call)(km_pipeline_t *p, const char *account, const char *product,
              const char *action, const char *const *params, size_t n,
              km_jcall_cb cb, void *ud);
  /* The emulated console (sim driver): request borrowed, NULL lists the
   * tasks.  KM_ENOTSUP without the sim driver. */
  int (*console)(km_pipeline_t *p, const json_t *request, km_jcall_cb cb,
                 void *ud);
  /* The operator's Lua hook name with input (borrowed); KM_ENOENT when no
   * hook of that name exists. */
  int (*hook)(km_pipeline_t *p, const char *name, const json_t *input,
              km_jcall_cb cb, void *ud);
  /* Appends rec (borrowed: a flat object {"type": ..., fields...}) to the
   * journal, durable before any request made after it is sent (the host
   * adds account and region).  KM_EPERM in plan mode. */
  int (*journal)(km_pipeline_t *p, const json_t *rec);
  /* This pipeline's journal records, earlier attempts first, then this
   * attempt's: a borrowed array of flat objects {type, fields...}.  The
   * engine's hook_decision records are the audit's and are not in it. */
  const json_t *(*records)(km_pipeline_t *p);
  /* cb(ud) after ms, exactly once. */
  int (*timer)(km_pipeline_t *p, uint64_t ms, void (*cb)(void *ud), void *ud);
  /* The stage ended (called once by kp_finish): the host reads the result
   * from c (status, err, blocked) and must not keep c. */
  void (*ended)(km_sctx_t *c);
  /* The run was interrupted (SIGINT/SIGTERM): a stage that is only waiting
   * ends now.  May be NULL (never interrupted). */
  bool (*stopping)(km_pipeline_t *p);
  /* In PREPARE, another provider running at the same time as c failed:
   * c's queued calls are dropped (unless c keeps going), so nothing more
   * is changed after a failure, as if they had run one after the other.
   * May be NULL. */
  bool (*halted)(const km_sctx_t *c);
} km_shost_t;

/* ---- the one stage context ---- */

/* A call's result: body is the parsed answer (borrowed) when status is 0;
 * err describes a failure; request_id is never NULL ("" when unknown). */
typedef struct kp_res_s {
  int status;
  const json_t *body;
  const km_err_t *err;
  const char *request_id;
} kp_res_t;

typedef void (*kp_cb)(km_sctx_t *c, const kp_res_t *res, void *ud);
/* Runs just before a queued call is sent (e.g. to journal it first);
 * returning < 0 drops the call (its cb is not called). */
typedef int (*kp_before_fn)(km_sctx_t *c, void *ud);

struct km_sctx_s {
  const km_shost_t *h;
  km_pipeline_t *p;
  const km_target_t *t; /* identity and typed settings (borrowed) */
  km_inv_t *inv;        /* the pipeline's model: read and change in place */
  km_stage_t stage;
  bool plan;        /* plan mode: reads only */
  bool sim;         /* migrate.driver is sim */
  const char *name; /* provider name, for messages */
  bool keep_going;  /* false: after a failure queued calls are dropped */
  int status;       /* first failure, or 0 */
  bool blocked;     /* kp_finish_blocked: refused, nothing changed */
  km_err_t err;
  void (*on_drain)(km_sctx_t *c);
  void *ud; /* the stage's own state, freed with free_ud when c ends */
  void (*free_ud)(void *ud);
  void *host_ud; /* the host's, untouched by stages */
  /* private */
  size_t max_inflight, inflight, hold, max_seen;
  bool pumping, ended;
  kp_req_t *head, *tail;
  char **pool;
  size_t npool, cappool;
};

/* A new context for stage of p (owned by the caller until the provider's
 * start returned 0; then it belongs to the stage, which ends it). */
km_sctx_t *km_sctx_new(const km_shost_t *h, km_pipeline_t *p,
                       const km_target_t *t, km_inv_t *inv, km_stage_t stage,
                       bool plan, bool sim, const char *name);
/* Frees a context whose stage never started (start returned < 0). */
void km_sctx_free(km_sctx_t *c);
/* Starts ops on c: c is held while start runs, so a stage that ends (or
 * drains) from inside its own start is finished after start returns, never
 * under it.  Returns start's result; on < 0, c has been freed. */
int km_sctx_start(const km_stage_ops_t *ops, void *state, km_sctx_t *c);

/* A copy of s that lives as long as c (NULL stays NULL). */
const char *kp_keep(km_sctx_t *c, const char *s);
const char *kp_keepf(km_sctx_t *c, const char *fmt, ...) KM_PRINTF(2, 3);
/* Zeroed memory that lives as long as c (per-call contexts). */
void *kp_alloc(km_sctx_t *c, size_t size);
/* Sets the fan-out bound (default 32). */
void kp_set_inflight(km_sctx_t *c, size_t max_inflight);

/* Queues a KMS call of the pipeline's account (params: n pairs, copied). */
void kp_call(km_sctx_t *c, const char *action, const char *const *params,
             size_t n, kp_before_fn before, kp_cb cb, void *ud);
/* Queues a call of product with the credentials of account (manifest name;
 * NULL: the pipeline's own). */
void kp_call_as(km_sctx_t *c, const char *account, const char *product,
                const char *action, const char *const *params, size_t n,
                kp_before_fn before, kp_cb cb, void *ud);
/* The emulated console (request borrowed; NULL lists tasks).  Counts as in
 * flight.  Returns 0, or < 0 (KM_ENOTSUP without the sim driver; cb is not
 * called). */
int kp_console(km_sctx_t *c, const json_t *request, kp_cb cb, void *ud);
/* cb(c, ud) after ms; counts as in flight. */
void kp_timer(km_sctx_t *c, uint64_t ms, void (*cb)(km_sctx_t *c, void *ud),
              void *ud);
/* Runs the Lua hook name (docs/hooks.md) with input (stolen); cb gets the
 * hook's result object (borrowed) or status < 0 with err (file:line and
 * traceback for a failing hook).  Counts as in flight.  Returns 0, or
 * KM_ENOENT when no hook of that name exists (cb is not called). */
typedef void (*kp_hook_cb)(km_sctx_t *c, int status, const json_t *out,
                           const km_err_t *err, void *ud);
int kp_hook(km_sctx_t *c, const char *name, json_t *input, kp_hook_cb cb,
            void *ud);

/* True once the run is interrupted: a stage waiting for the operator or a
 * scheduled time ends (with KM_ECANCELED) instead of waiting on. */
bool kp_stopping(const km_sctx_t *c);

/* While held, on_drain does not run (setup that queues many calls). */
void kp_hold(km_sctx_t *c);
void kp_release(km_sctx_t *c);

/* A log line of the stage. */
void kp_log(km_sctx_t *c, int level, const char *fmt, ...) KM_PRINTF(3, 4);

/* Records the first failure (later ones are logged only).  err may be NULL;
 * fmt gives the text (the cloud message is appended when err has one).
 * Returns code. */
int kp_fail(km_sctx_t *c, int code, const km_err_t *err, const char *fmt, ...)
    KM_PRINTF(4, 5);
/* kp_fail for a failed call: "<action> <id>: <message>" keeping Code and
 * RequestId. */
int kp_fail_call(km_sctx_t *c, const char *action, const char *id,
                 const kp_res_t *res);
/* A one-line description of a failed call for reasons and logs:
 * "Code (RequestId R): message" into buf. */
const char *kp_res_text(const kp_res_t *res, char *buf, size_t n);
/* The code to report for a failed call (cloud Code, else the error name). */
const char *kp_res_code(const kp_res_t *res);

/* Ends the stage with c->status (exactly once; do not touch c afterwards:
 * it is freed as soon as nothing it started is in flight). */
void kp_finish(km_sctx_t *c);
/* Ends the stage as refused ("blocked": nothing was changed), with the
 * reason; the pipeline goes no further and is reported as blocked. */
void kp_finish_blocked(km_sctx_t *c, const km_err_t *why);
/* Most calls in flight at once during this stage (tests, logs). */
size_t kp_max_seen(const km_sctx_t *c);

/* ---- journal ---- */

/* Journals rec (stolen: a flat object {"type": ..., fields...}).  Call it
 * BEFORE the side effect it announces: the host makes it durable before any
 * request made after it is sent (one fsync per loop turn for every record
 * of the turn; engine/host.c, "group commit").  Returns 0 or fails c with
 * KM_EJOURNAL ("nothing was changed after it"). */
int kp_journal(km_sctx_t *c, json_t *rec);
/* This pipeline's records (borrowed array of flat objects). */
const json_t *kp_records(km_sctx_t *c);

/* ---- per-resource outcomes ---- */

/* Verification tallies shared by the keys and secrets stages. */
typedef struct kp_tally_s {
  size_t bad;
  char list[300]; /* "id, id, ..." (truncated) */
} kp_tally_t;

/* Marks resource id of kind ("key" / "secret") failed in c->inv with rule,
 * reason why, the cloud code and RequestId (either may be NULL). */
void kp_resource_failed(km_sctx_t *c, const char *kind, const char *id,
                        const char *rule, const char *why, const char *code,
                        const char *rid);
/* A verification mismatch: "verify: <kind> <id>: <message>", logged, the
 * resource failed (run.verify_failed) and counted in t. */
void kp_verify_mismatch(km_sctx_t *c, kp_tally_t *t, const char *kind,
                        const char *id, const char *code, const char *rid,
                        const char *fmt, ...) KM_PRINTF(7, 8);

/* ---- small helpers ---- */

bool kp_streq(const char *a, const char *b);
/* Pages still to fetch after a first page: ceil(total/size) or 0. */
int64_t kp_pages(int64_t total, int64_t size);
/* At most this many pages of one list (200 000 items at 100 a page). */
#define KP_PAGES_MAX 2000
/* Paging driven by what was received, never by the server's TotalCount
 * alone: after page `page` (1-based) of action came back with `items`
 * items, for a request of `asked` per page (reply_size: the reply's
 * PageSize, or <= 0), whether to ask for page + 1.  Done at an empty or
 * short page, or once the pages so far cover total (< 0: absent).
 * Returns 1 (ask for the next page), 0 (done), or KM_EPARSE with err
 * filled when page reached KP_PAGES_MAX still full: a list that never ends
 * stops its pipeline instead of queueing calls without bound. */
int kp_next_page(const char *action, int64_t page, size_t items, int64_t asked,
                 int64_t reply_size, int64_t total, km_err_t *err);
/* True when the policy text is a JSON object with a non-empty Statement
 * array (the default policy the vendor applies after migration). */
bool kp_policy_present(const char *policy);

/* ---- the stage-operations table ---- */

struct km_stage_ops_s {
  const char *name;    /* unique: "keys", "secrets", "share", ... */
  const char *version; /* the provider's own version */
  uint32_t stages;     /* KM_STAGE_BIT() of each stage it provides */
  /* KM_STAGE_BIT() of the stages in which it may run at the same time as
   * the next providers of that stage when those have the bit too (the
   * engine starts up to three at once and goes on when all have ended,
   * taking their results in provider order): they share nothing but the
   * journal and the model's parts they each own (keys / secrets / the
   * instance).  In PREPARE a failure of one drops the others' queued calls
   * (km_shost_t.halted).  0: one after the other. */
  uint32_t concurrent;
  /* Once per run; *state is the provider's own.  May be NULL. */
  int (*init)(void **state, km_err_t *err);
  /* Once at the end, when nothing is in flight.  May be NULL. */
  void (*fini)(void *state);
  /* Starts c->stage.  0: the stage ends c exactly once (kp_finish or
   * kp_finish_blocked), possibly from inside start; < 0: c was not
   * touched and is freed by the caller. */
  int (*start)(void *state, km_sctx_t *c);
};

/* The built-in providers, in the order they run within a stage. */
extern const km_stage_ops_t km_stage_share;
extern const km_stage_ops_t km_stage_keys;
extern const km_stage_ops_t km_stage_secrets;
extern const km_stage_ops_t km_stage_byok;
extern const km_stage_ops_t km_stage_migrate;
extern const km_stage_ops_t km_stage_monitor; /* stages/monitor */

/* ---- the set of providers of a run ---- */

/* Built-ins first (share, keys, secrets, byok, migrate), then the plugins
 * loaded from directories, in load order. */
km_stages_t *km_stages_new(void);
/* Adds a provider (ops borrowed, static) and runs its init.  Returns 0 or
 * < 0 with err filled. */
int km_stages_add(km_stages_t *s, const km_stage_ops_t *ops, km_err_t *err);
/* Adds every built-in provider. */
int km_stages_add_builtin(km_stages_t *s, km_err_t *err);
/* Loads a third-party plugin (plugin/loader.c) and adds it. */
int km_stages_load(km_stages_t *s, const char *path, km_err_t *err);
size_t km_stages_count(const km_stages_t *s);
/* The i-th provider and its state, or NULL. */
const km_stage_ops_t *km_stages_at(const km_stages_t *s, size_t i,
                                   void **state);
/* fini of every provider in reverse order, unloads plugins, frees. */
void km_stages_free(km_stages_t *s);

#endif
