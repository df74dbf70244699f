/* Plugin-side helpers shared by the built-in `keys` and `secrets` plugins
 * (static library km_plugin_common, linked into each plugin; nothing here is
 * exported from a plugin).
 *
 * kp_run_t is one running stage of one pipeline: the host table, the
 * pipeline's inventory (loaded from the document, stored back at the end),
 * a bounded fan-out of cloud calls over host->call (at most max_inflight in
 * flight, the rest queued; the host rate-limits on top), the first failure
 * (its km_err_t: Code, RequestId) and exactly one stage_done.  When nothing
 * is in flight or queued the stage's on_drain runs: it queues the next step
 * or calls kp_finish.
 *
 * The journal helpers keep the records a plugin wrote in this process
 * (host->journal_replay only replays an earlier attempt's records), and fold
 * both into the rotation state of each resource.
 */
#ifndef KM_PLUGIN_COMMON_KP_H
#define KM_PLUGIN_COMMON_KP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "engine/inventory.h"
#include "kmsmig/plugin.h"

/* ---- one stage run ---- */

typedef struct kp_run_s kp_run_t;
typedef struct kp_req_s kp_req_t;

/* A call's result: body is the parsed answer (borrowed) when status is 0;
 * err describes a failure; request_id is never NULL ("" when unknown). */
typedef struct kp_res_s {
  int status;
  const json_t *body;
  const km_err_t *err;
  const char *request_id;
} kp_res_t;

typedef void (*kp_cb)(kp_run_t *r, const kp_res_t *res, void *ud);
/* Runs just before a queued call is sent (e.g. to journal it first);
 * returning < 0 drops the call (its cb is not called). */
typedef int (*kp_before_fn)(kp_run_t *r, void *ud);

struct kp_run_s {
  const km_host_api_t *host;
  km_pipeline_t *p;
  km_stage_run_t *run;
  const char *plugin; /* "keys" / "secrets": for messages */
  km_stage_t stage;
  km_inv_t *inv;   /* the document's inventory (kp_doc_load) or NULL */
  bool store;      /* kp_finish writes inv back to the document */
  bool keep_going; /* false: after a failure queued calls are dropped */
  int status;      /* first failure, or 0 */
  km_err_t err;
  void (*on_drain)(kp_run_t *r);
  void *ud; /* the stage's context, freed with free_ud by kp_finish */
  void (*free_ud)(void *ud);
  /* private */
  json_t *extra; /* the document as loaded: keys the inventory doesn't own */
  size_t max_inflight, inflight, hold, max_seen;
  bool pumping;
  kp_req_t *head, *tail;
  char **pool;
  size_t npool, cappool;
};

kp_run_t *kp_run_new(const km_host_api_t *host, km_pipeline_t *p,
                     km_stage_run_t *run, const char *plugin, km_stage_t stage,
                     size_t max_inflight);
/* Loads r->inv from the document (or seeds it from host->get when the
 * document has none yet).  Returns 0 or fails r (KM_EPARSE). */
int kp_doc_load(kp_run_t *r);
/* A copy of s that lives as long as r (NULL stays NULL). */
const char *kp_keep(kp_run_t *r, const char *s);
const char *kp_keepf(kp_run_t *r, const char *fmt, ...) KM_PRINTF(2, 3);
/* Zeroed memory that lives as long as r (per-call contexts). */
void *kp_alloc(kp_run_t *r, size_t size);

/* Queues a KMS call (params: n pairs, copied). */
void kp_call(kp_run_t *r, const char *action, const char *const *params,
             size_t n, kp_before_fn before, kp_cb cb, void *ud);
/* cb(r, ud) after ms through host->timer; counts as in flight. */
void kp_timer(kp_run_t *r, uint64_t ms, void (*cb)(kp_run_t *r, void *ud),
              void *ud);
/* Runs the Lua hook name (docs/hooks.md) with input (stolen); cb gets the
 * hook's result object (borrowed) or status < 0 with err (file:line and
 * traceback for a failing hook).  Counts as in flight.  Returns 0, or
 * KM_ENOENT when no hook of that name exists (cb is not called). */
typedef void (*kp_hook_cb)(kp_run_t *r, int status, const json_t *out,
                           const km_err_t *err, void *ud);
int kp_hook(kp_run_t *r, const char *name, json_t *input, kp_hook_cb cb,
            void *ud);

/* While held, on_drain does not run (setup that queues many calls). */
void kp_hold(kp_run_t *r);
void kp_release(kp_run_t *r);

/* Records the first failure (later ones are logged only).  err may be NULL;
 * fmt gives the text (the cloud message is appended when err has one).
 * Returns code. */
int kp_fail(kp_run_t *r, int code, const km_err_t *err, const char *fmt, ...)
    KM_PRINTF(4, 5);
/* kp_fail for a failed call: "<action> <id>: <message>" keeping Code and
 * RequestId. */
int kp_fail_call(kp_run_t *r, const char *action, const char *id,
                 const kp_res_t *res);
/* A one-line description of a failed call for reasons and logs:
 * "Code (RequestId R): message" into buf. */
const char *kp_res_text(const kp_res_t *res, char *buf, size_t n);
/* The code to report for a failed call (cloud Code, else the error name). */
const char *kp_res_code(const kp_res_t *res);

/* Verification tallies shared by the keys and secrets plugins. */
typedef struct kp_tally_s {
  size_t bad;
  char list[300]; /* "id, id, ..." (truncated) */
} kp_tally_t;

/* Marks resource id of kind ("key" / "secret") failed in r->inv with rule,
 * reason why, the cloud code and RequestId (either may be NULL), and
 * reports the outcome to the host. */
void kp_resource_failed(kp_run_t *r, const char *kind, const char *id,
                        const char *rule, const char *why, const char *code,
                        const char *rid);

/* A verification mismatch: "verify: <kind> <id>: <message>", logged, the
 * resource failed (run.verify_failed) and counted in t. */
void kp_verify_mismatch(kp_run_t *r, kp_tally_t *t, const char *kind,
                        const char *id, const char *code, const char *rid,
                        const char *fmt, ...) KM_PRINTF(7, 8);

/* Stores the inventory (if r->store), ends the stage with r->status and
 * frees r.  Do not touch r afterwards. */
void kp_finish(kp_run_t *r);
/* Most calls in flight at once during this run (tests, logs). */
size_t kp_max_seen(const kp_run_t *r);

/* ---- journal: records written in this process, and replay ---- */

typedef struct kp_session_s kp_session_t;
kp_session_t *kp_session_new(void);
void kp_session_free(kp_session_t *s);

/* Journals rec (stolen) through the host, and remembers it for this
 * pipeline.  Returns 0 or fails r with KM_EJOURNAL. */
int kp_journal(kp_run_t *r, kp_session_t *s, json_t *rec);

/* Rotation state of one resource folded from the journal. */
typedef struct kp_rot_s {
  char *id;
  char *automatic_rotation; /* as journalled before it was turned off */
  char *interval;           /* "31536000s" */
  bool open;                /* rotation_off without a later restored */
  bool off_done;            /* the call succeeded (rotation_off_done) */
} kp_rot_t;

typedef struct kp_rots_s {
  kp_rot_t *v;
  size_t n;
} kp_rots_t;

/* Folds the earlier attempt's records (host->journal_replay) and then this
 * process's records for kind ("key" / "secret"). */
void kp_rots_load(kp_run_t *r, kp_session_t *s, const char *kind,
                  kp_rots_t *out);
kp_rot_t *kp_rots_find(const kp_rots_t *rots, const char *id);
void kp_rots_free(kp_rots_t *rots);

/* ---- rotation off (PREPARE) and back on (RESTORE), for both kinds ---- */

typedef struct kp_rot_kind_s {
  const char *kind;     /* "key" | "secret" */
  const char *action;   /* UpdateRotationPolicy | UpdateSecretRotationPolicy */
  const char *id_param; /* KeyId | SecretName */
} kp_rot_kind_t;

extern const kp_rot_kind_t kp_rot_key;
extern const kp_rot_kind_t kp_rot_secret;

/* Start the stage on r (after kp_doc_load for prepare; restore works from
 * the journal alone).  Both end with kp_finish. */
void kp_rotation_prepare(kp_run_t *r, kp_session_t *s, const kp_rot_kind_t *k);
void kp_rotation_restore(kp_run_t *r, kp_session_t *s, const kp_rot_kind_t *k);

/* Retries of a failed restore and the first delay (doubling). */
#define KP_RESTORE_ATTEMPTS 4
#define KP_RESTORE_DELAY_MS 2000

/* ---- small helpers ---- */

bool kp_streq(const char *a, const char *b);
/* Pages still to fetch after a first page: ceil(total/size) or 0. */
int64_t kp_pages(int64_t total, int64_t size);
/* True when the policy text is a JSON object with a non-empty Statement
 * array (the default policy the vendor applies after migration). */
bool kp_policy_present(const char *policy);

#endif
