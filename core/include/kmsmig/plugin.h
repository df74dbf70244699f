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
 * The model: a plugin sees the pipeline's typed model through accessors
 * (key_count/key_at, secret_count/secret_at, each filling a versioned view
 * struct) and may decide a resource's verdict (decide_key/decide_secret);
 * it reads its settings from a versioned struct (settings).  No internal
 * structure ever reaches a plugin as JSON text.  JSON appears only at the
 * edges a plugin shares with the outside: cloud answers (body_json) and
 * journal records.
 *
 * Asynchrony: a stage is started with start(); the plugin ends it by
 * calling host->stage_done() exactly once, from any later callback or from
 * start() itself.  Every host function takes the stage run: after
 * stage_done the run is spent, and calls on it are refused.  Cloud calls
 * go through host->call(), whose callback is invoked exactly once when
 * call() returned 0 and never when it failed.
 *
 * Building: `pkg-config --cflags kmsmig-plugin` gives the include path of
 * the installed SDK; a plugin links nothing of kmsmig (docs/plugins.md).
 */
#ifndef KMSMIG_PLUGIN_H
#define KMSMIG_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#include "kmsmig/errors.h"

#ifdef __cplusplus
extern "C" {
#endif

#define KM_PLUGIN_ABI_MAJOR 2
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

/* How a stage ended (stage_done). */
typedef enum km_stage_result_e {
  KM_STAGE_OK = 0, /* done */
  KM_STAGE_FAILED, /* failed: err says why; RESTORE still runs if needed */
  KM_STAGE_BLOCKED /* refused before anything changed (DISCOVER/PREFLIGHT):
                      the pipeline stops, reported "blocked" with err */
} km_stage_result_t;

/* The verdict of a resource (what happens to it), as the report shows it. */
typedef enum km_plugin_verdict_e {
  KM_PV_PENDING = 0, /* will be migrated by this run */
  KM_PV_DONE,        /* already in a KMS 3.0 instance before the run */
  KM_PV_SKIPPED,     /* left in KMS 1.0, with the reason */
  KM_PV_BLOCKED,     /* must be fixed before the run may start */
  KM_PV_FAILED,      /* the run tried and failed */
  KM_PV_NEEDS_BYOK,  /* HSM BYOK: pending, after importing material */
  KM_PV_MIGRATED     /* moved by this run */
} km_plugin_verdict_t;

/* Opaque host objects: one stage start of one (account, region). */
typedef struct km_stage_run_s km_stage_run_t;

/* The settings of the pipeline a stage runs for.  Strings are borrowed for
 * the stage run; NULL where the manifest says nothing.  struct_size is the
 * host's sizeof: test offsetof(km_plugin_settings_t, field) < struct_size
 * before reading a field added after the minor the plugin was built
 * against. */
typedef struct km_plugin_settings_s {
  uint32_t struct_size;
  const char *account;    /* manifest name */
  const char *account_id; /* 16 digits */
  const char *region;
  const char *instance_id;   /* the destination KMS 3.0 instance */
  const char *instance_type; /* "software" | "hardware" */
  const char *run_mode;      /* "plan" | "run" */
  const char *driver;        /* "sim" | "console" */
  const char *run_id;        /* the run directory's name, or "plan" */
} km_plugin_settings_t;

/* One key of the model.  Strings borrowed until the next call that
 * changes the model (decide_key) or the end of the stage run. */
typedef struct km_plugin_key_s {
  uint32_t struct_size; /* set by the caller: sizeof its struct */
  const char *key_id;
  const char *arn;
  const char *key_spec;
  const char *key_usage;
  const char *origin;           /* Aliyun_KMS | EXTERNAL */
  const char *protection_level; /* SOFTWARE | HSM */
  const char *key_state;
  const char *dkms_instance_id; /* set: already in a KMS 3.0 instance */
  const char *automatic_rotation;
  int service;       /* 1: a service key (CreatorType Service) */
  int version_count; /* -1 unknown */
  km_plugin_verdict_t verdict;
  const char *rule; /* the rule that decided, or NULL */
  const char *reason;
} km_plugin_key_t;

typedef struct km_plugin_secret_s {
  uint32_t struct_size; /* set by the caller */
  const char *secret_name;
  const char *arn;
  const char *secret_type; /* Generic | Rds | RAMCredentials | ECS ... */
  const char *encryption_key_id;
  const char *dkms_instance_id;
  const char *automatic_rotation;
  km_plugin_verdict_t verdict;
  const char *rule;
  const char *reason;
} km_plugin_secret_t;

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
  void (*log)(km_stage_run_t *run, int level, const char *fmt, ...)
      KM_PRINTF(3, 4);

  /* The pipeline's settings (borrowed for the run; never NULL). */
  const km_plugin_settings_t *(*settings)(km_stage_run_t *run);

  /* Calls an action of a product ("kms", "sts", "resourcemanager",
   * "resourcesharing", "cms", "actiontrail") with the pipeline's
   * credentials, rate limits and retries.  params: n key/value pairs as 2n
   * strings (borrowed, copied).  Returns 0 (cb called once) or < 0 (never
   * called).  In plan mode write actions are refused with KM_EPERM. */
  int (*call)(km_stage_run_t *run, const char *product, const char *action,
              const char *const *params, size_t n, km_plugin_call_cb cb,
              void *ud);

  /* Appends a record (a JSON object as text with a string "type") to the
   * run's journal and makes it durable before returning 0.  Call it BEFORE
   * the side effect it announces.  Records with secret-looking keys are
   * refused.  KM_EPERM in plan mode. */
  int (*journal)(km_stage_run_t *run, const char *record_json);

  /* One-shot timer: cb(ud) after ms milliseconds, exactly once. */
  int (*timer)(km_stage_run_t *run, uint64_t ms, void (*cb)(void *ud),
               void *ud);

  /* The model: counts, and a view of the i-th key or secret filled into
   * *out (out->struct_size set by the caller).  KM_ENOENT past the end. */
  size_t (*key_count)(km_stage_run_t *run);
  int (*key_at)(km_stage_run_t *run, size_t i, km_plugin_key_t *out);
  size_t (*secret_count)(km_stage_run_t *run);
  int (*secret_at)(km_stage_run_t *run, size_t i, km_plugin_secret_t *out);

  /* Decides a resource (DISCOVER/PREFLIGHT only): verdict KM_PV_SKIPPED or
   * KM_PV_BLOCKED, with rule (a short id, e.g. "acme.frozen") and reason
   * (what is wrong and how to fix it).  Strings borrowed, copied.
   * KM_ENOENT for an unknown id, KM_EINVAL otherwise. */
  int (*decide_key)(km_stage_run_t *run, const char *key_id,
                    km_plugin_verdict_t verdict, const char *rule,
                    const char *reason);
  int (*decide_secret)(km_stage_run_t *run, const char *name,
                       km_plugin_verdict_t verdict, const char *rule,
                       const char *reason);

  /* Ends a stage started with km_plugin_t.start (exactly once).  err
   * (copied; may be NULL for KM_STAGE_OK) says why it failed or was
   * blocked. */
  void (*stage_done)(km_stage_run_t *run, km_stage_result_t result,
                     const km_err_t *err);
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

  /* Starts stage for one pipeline; run is the handle every host function
   * takes.  Returns 0 (stage_done will be called exactly once) or a
   * negative code (stage_done must not be called). */
  int (*start)(void *state, km_stage_t stage, km_stage_run_t *run);
} km_plugin_t;

#define KM_PLUGIN_ENTRY_SYMBOL "km_plugin_entry"
typedef const km_plugin_t *(*km_plugin_entry_fn)(void);

/* The one symbol a plugin exports. */
KM_EXPORT const km_plugin_t *km_plugin_entry(void);

#ifdef __cplusplus
}
#endif
#endif
