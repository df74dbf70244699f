/* The kmsmig plugin ABI.
 *
 * A plugin is a shared object that exports exactly one symbol,
 * km_plugin_entry(), returning a descriptor.  The host checks the
 * descriptor's ABI version and size before using anything in it (nginx's
 * module signature check), then hands the plugin a table of host functions
 * (redis's module API): plugins link against no host symbol and never see a
 * libuv, curl, Lua or OpenSSL type, so upgrading those never breaks a plugin.
 *
 * Versioning: KM_PLUGIN_ABI_MAJOR must match exactly; a plugin built against
 * an older minor works with a newer host (structs only grow at the end, and
 * each carries its size).  A plugin built against a newer minor is refused.
 *
 * Memory: each side allocates and frees its own memory.  Strings passed to a
 * plugin are borrowed for the duration of the call unless stated otherwise.
 *
 * Asynchrony: a stage is started with start(); the plugin finishes it by
 * calling host->stage_done() exactly once, from any later callback or from
 * start() itself.  Cloud calls go through host->call(), whose callback is
 * invoked exactly once when call() returned 0 and never when it failed.
 */
#ifndef KMSMIG_PLUGIN_H
#define KMSMIG_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#include "kmsmig/errors.h"

#ifdef __cplusplus
extern "C" {
#endif

#define KM_PLUGIN_ABI_MAJOR 1
#define KM_PLUGIN_ABI_MINOR 0

/* The stages of a pipeline, in order. */
typedef enum km_stage_e {
  KM_STAGE_DISCOVER = 0,
  KM_STAGE_PREFLIGHT,
  KM_STAGE_PREPARE,
  KM_STAGE_MIGRATE,
  KM_STAGE_RESTORE,
  KM_STAGE_VERIFY,
  KM_STAGE_OBSERVE,
  KM_STAGE__COUNT
} km_stage_t;

#define KM_STAGE_BIT(s) (1u << (unsigned)(s))

/* Opaque host objects. */
typedef struct km_pipeline_s km_pipeline_t; /* one (account, region) */
typedef struct km_stage_run_s km_stage_run_t;

/* Result of a cloud call.  status 0: body_json is the response body (JSON
 * text, borrowed for the callback).  status < 0: err describes the failure
 * (Code, RequestId, HTTP status); body_json is NULL. */
typedef struct km_plugin_call_result_s {
  int status;
  const char *body_json;
  const km_err_t *err;
} km_plugin_call_result_t;

typedef void (*km_plugin_call_cb)(const km_plugin_call_result_t *res, void *ud);

enum { KM_PLOG_ERROR = 0, KM_PLOG_WARN, KM_PLOG_INFO, KM_PLOG_DEBUG };

/* Functions the host offers.  struct_size is sizeof the host's table: test
 * offsetof(km_host_api_t, field) < struct_size before using a field that was
 * added after the minor version the plugin was built against. */
typedef struct km_host_api_s {
  uint32_t struct_size;
  uint32_t abi_major;
  uint32_t abi_minor;

  /* Logs a line tagged with the pipeline's account and region. */
  void (*log)(km_pipeline_t *p, int level, const char *fmt, ...)
      KM_PRINTF(3, 4);

  /* The pipeline's identity and settings, borrowed for the pipeline's life:
   * "account", "account_id", "region", "instance", "run_mode" ("plan" or
   * "run"), "driver", or NULL for an unknown name. */
  const char *(*get)(km_pipeline_t *p, const char *name);

  /* Calls an action of a product ("kms", "sts", "resourcemanager",
   * "resourcesharing", "cms", "actiontrail") with the pipeline's credentials,
   * rate limits and retries.  params: n key/value pairs as 2n strings
   * (borrowed, copied).  Returns 0 (cb called once) or < 0 (never called). In
   * plan mode write actions are refused with KM_EPERM. */
  int (*call)(km_pipeline_t *p, const char *product, const char *action,
              const char *const *params, size_t n, km_plugin_call_cb cb,
              void *ud);

  /* Appends a record (a JSON object as text) to the run's journal and makes
   * it durable before returning 0.  Call it BEFORE the side effect it
   * announces.  Records with secret-looking keys are refused. */
  int (*journal)(km_pipeline_t *p, const char *record_json);

  /* Replays this pipeline's journal records, those of earlier attempts of
   * the run (resume) and those written so far in this one: cb is called
   * synchronously for each, in order, with the record flat
   * ({"type": ..., fields...}). */
  int (*journal_replay)(km_pipeline_t *p,
                        void (*cb)(const char *record_json, void *ud),
                        void *ud);

  /* Records a per-resource outcome for the report: kind "key"|"secret",
   * outcome "migrated"|"skipped"|"failed"|"blocked", reason may be NULL. */
  void (*outcome)(km_pipeline_t *p, const char *kind, const char *id,
                  const char *outcome, const char *reason);

  /* One-shot timer: cb(ud) after ms milliseconds, exactly once. */
  int (*timer)(km_pipeline_t *p, uint64_t ms, void (*cb)(void *ud), void *ud);

  /* Ends a stage started with km_plugin_t.start (exactly once). status 0 or
   * a negative code with err (copied; may be NULL). */
  void (*stage_done)(km_stage_run_t *run, int status, const km_err_t *err);

  /* The pipeline's document: one JSON object (text) that stages share, the
   * inventory of keys, secrets and the destination instance (schema in
   * docs/plugins.md).  doc_get returns a string owned by the host, valid
   * until the next doc_set or the end of the stage.  doc_set replaces the
   * document (json borrowed, parsed and copied); KM_EINVAL if not an
   * object. */
  const char *(*doc_get)(km_pipeline_t *p);
  int (*doc_set)(km_pipeline_t *p, const char *json);

  /* The emulated console (migrate driver `sim` only): submits request_json
   * (an object, see docs/kmsim.md "console") to kmsim's console path for the
   * pipeline's account and region, or lists tasks when request_json is NULL.
   * Returns 0 (cb called once with the response body as body_json) or
   * KM_ENOTSUP when the run does not use the sim driver. */
  int (*console)(km_pipeline_t *p, const char *request_json,
                 km_plugin_call_cb cb, void *ud);

  /* Like call, but with the credentials of another account of the run (by
   * manifest name), in the pipeline's region: the instance owner shares its
   * instance with members.  KM_ENOENT for an account the run does not
   * know. */
  int (*call_as)(km_pipeline_t *p, const char *account, const char *product,
                 const char *action, const char *const *params, size_t n,
                 km_plugin_call_cb cb, void *ud);

  /* Runs the operator's Lua hook `name` ("rotation", "default_instance",
   * "post_check", "before_batch", "after_batch"; docs/hooks.md) for this
   * pipeline with input_json (an object, borrowed).  The hook may call the
   * cloud; it runs as a coroutine on the loop.  Returns 0 and cb is called
   * once with the hook's result as body_json (an object), or KM_ENOENT when
   * no hook of that name is configured (cb never called). */
  int (*hook)(km_pipeline_t *p, const char *name, const char *input_json,
              km_plugin_call_cb cb, void *ud);
} km_host_api_t;

/* The descriptor a plugin returns.  Fields only grow at the end. */
typedef struct km_plugin_s {
  uint32_t abi_major;   /* KM_PLUGIN_ABI_MAJOR the plugin was built with */
  uint32_t abi_minor;   /* KM_PLUGIN_ABI_MINOR the plugin was built with */
  uint32_t struct_size; /* sizeof(km_plugin_t) the plugin was built with */
  const char *name;     /* unique: "keys", "secrets", "share", ... */
  const char *version;  /* the plugin's own version string */
  uint32_t stages;      /* KM_STAGE_BIT() of each stage it provides */

  /* Called once after loading.  *state is the plugin's own (owned by it).
   * Returns 0 or a negative code with err filled. */
  int (*init)(const km_host_api_t *host, void **state, km_err_t *err);
  /* Called once before unloading, when nothing is in flight. */
  void (*fini)(void *state);

  /* Starts stage for pipeline p; run is the handle to pass to stage_done.
   * Returns 0 (stage_done will be called exactly once) or a negative code
   * (stage_done must not be called). */
  int (*start)(void *state, km_stage_t stage, km_pipeline_t *p,
               km_stage_run_t *run);
} km_plugin_t;

#define KM_PLUGIN_ENTRY_SYMBOL "km_plugin_entry"
typedef const km_plugin_t *(*km_plugin_entry_fn)(void);

/* The one symbol a plugin exports. */
KM_EXPORT const km_plugin_t *km_plugin_entry(void);

#ifdef __cplusplus
}
#endif
#endif
