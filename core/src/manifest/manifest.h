/* The validated manifest model.
 *
 * km_manifest_load() reads a manifest (and the account files it includes),
 * checks every rule documented in docs/manifest.md, and either returns a
 * model that the engine can trust or reports every problem at once in a
 * km_diags_t.  The model is plain data: every pointer in it is owned by the
 * km_manifest_t and freed by km_manifest_free(); readers only borrow.
 *
 * Positions (km_mf_pos_t) point into the file that defined the value, so the
 * engine can say "accounts/app-a.yaml:3:5" when it refuses something later.
 * Paths (hooks, material_dir, ca_file, plugins.dir) are resolved against the
 * directory of the file that named them and kept in that joined form (still
 * relative when the user's path was), so they open from the same working
 * directory the user ran kmsmig in.
 */
#ifndef KM_MANIFEST_H
#define KM_MANIFEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/ratelimit.h"
#include "manifest/diag.h"
#include "model/select.h"
#include "model/window.h"

#define KM_DEFAULT_MEMBER_ROLE "ResourceDirectoryAccountAccessRole"

/* Where a value came from.  file is borrowed from the manifest's file list
 * (km_manifest_t.files) and lives as long as the manifest. */
typedef struct km_mf_pos_s {
  const char *file;
  int line; /* 1-based */
  int col;  /* 1-based */
} km_mf_pos_t;

typedef struct km_mf_kv_s {
  char *key;
  char *value;
} km_mf_kv_t;

typedef struct km_mf_strlist_s {
  char **v;
  size_t n;
} km_mf_strlist_t;

/* How an account's AccessKey is obtained.  Never the secret itself. */
typedef enum {
  KM_MF_CRED_DEFAULT = 0, /* env, then the aliyun CLI current profile */
  KM_MF_CRED_ENV,     /* ALIBABA_CLOUD_ACCESS_KEY_ID/_SECRET/_SECURITY_TOKEN */
  KM_MF_CRED_PROFILE, /* a named aliyun CLI profile */
  KM_MF_CRED_ASSUME_ROLE /* STS AssumeRole from another account */
} km_mf_cred_kind_t;

typedef struct km_mf_cred_spec_s {
  km_mf_cred_kind_t kind;
  /* true when the account had no `credentials:` and the directory rule gave
   * it assume_role via the management account. */
  bool implied;
  /* KM_MF_CRED_PROFILE */
  char *profile;
  char *config; /* NULL: ~/.aliyun/config.json */
  /* KM_MF_CRED_ASSUME_ROLE */
  char *via;             /* account name whose credentials call STS */
  char *role;            /* role name; default KM_DEFAULT_MEMBER_ROLE */
  char *role_arn;        /* NULL: acs:ram::<id>:role/<role> */
  char *session_name;    /* default "kmsmig" */
  int duration_s;        /* 900..43200, default 3600 */
  char *external_id_env; /* NULL or an environment variable name */
  km_mf_pos_t pos;       /* the `credentials:` value, or the account */
} km_mf_cred_spec_t;

/* Hook script paths; NULL means "inherit": an account's NULL falls back to
 * the manifest's, the manifest's NULL to the built-in default in lua/. */
typedef struct km_mf_hooks_s {
  char *rotation;
  char *default_instance;
  km_mf_strlist_t post_check; /* empty: inherit */
  char *before_batch;
  char *after_batch;
} km_mf_hooks_t;

typedef struct km_mf_account_s {
  char *name;
  char *id;                /* 16 decimal digits */
  km_mf_strlist_t regions; /* effective list: own override or the default */
  bool regions_overridden; /* true when the account file set `regions` */
  km_mf_cred_spec_t cred;
  km_mf_kv_t *tags;
  size_t ntags;
  km_mf_hooks_t hooks;
  /* concurrency.qps of this account (0: the manifest's, else published) */
  km_rl_limits_t qps;
  km_mf_pos_t pos; /* the account's mapping */
} km_mf_account_t;

typedef struct km_mf_directory_s {
  bool present;
  char *management; /* an account name from `accounts` */
  char *member_role;
  km_mf_strlist_t include_folders; /* fd-... ids; empty: whole directory */
  km_mf_kv_t *include_tags;
  size_t ninclude_tags;
  km_mf_strlist_t exclude_accounts; /* 16-digit account ids */
  km_mf_pos_t pos;
} km_mf_directory_t;

typedef enum { KM_MF_INST_SOFTWARE = 0, KM_MF_INST_HARDWARE } km_mf_inst_type_t;

typedef struct km_mf_instance_s {
  char *region;
  char *id; /* kst-... */
  char *owner;
  km_mf_inst_type_t type;
  char *image_version; /* NULL: not given (preflight asks for it) */
  int image_major, image_minor, image_patch;
  int auto_renew;             /* -1 not given, 0 off, 1 on */
  bool share_all;             /* share_with: all */
  km_mf_strlist_t share_with; /* explicit names (empty with share_all) */
  km_mf_pos_t pos;
} km_mf_instance_t;

typedef enum {
  KM_MF_WRAP_RSAES_OAEP_SHA_256 = 0,
  KM_MF_WRAP_RSAES_PKCS1_V1_5,
  KM_MF_WRAP_RSAES_OAEP_SHA_1
} km_mf_wrap_alg_t;

typedef struct km_mf_select_s {
  km_sel_mode_t keys;      /* model/select.h; KM_SEL_UNSET: not given */
  km_mf_strlist_t key_ids; /* KM_SEL_LIST */
  km_mf_strlist_t
      key_aliases; /* KM_SEL_LIST; alias/... patterns, '*' allowed */
  km_sel_mode_t secrets;
  km_mf_strlist_t secret_names; /* KM_SEL_LIST; '*' allowed */
  bool byok_present;
  km_mf_strlist_t byok_keys; /* empty: every pending HSM BYOK key */
  char *byok_material_dir;
  km_mf_wrap_alg_t byok_algorithm;
  bool byok_pem; /* wrapping_key_format: pem (default der) */
  /* material_expiry: 0 = never; else the date's 00:00 UTC+8 as epoch s. */
  int64_t byok_expiry;
  km_mf_pos_t byok_pos;
} km_mf_select_t;

typedef enum { KM_MF_DRIVER_CONSOLE = 0, KM_MF_DRIVER_SIM } km_mf_driver_t;

typedef struct km_mf_migrate_s {
  km_mf_driver_t driver;
  int64_t when;            /* 0: now; else epoch seconds */
  char *when_text;         /* NULL for now; else as written */
  int64_t task_timeout_s;  /* default 7200 */
  int64_t poll_interval_s; /* console driver; 0: the default (15 s) */
  int64_t rotation_lead_s; /* rotation off this long before `when` (600) */
  bool set_default;        /* default true: the vendor recommends it */
} km_mf_migrate_t;

/* `monitor:` (docs/monitor.md): the gateway observation of the monitor
 * stage.  Metric names index KM_MON_*; every string is owned and never
 * NULL after loading (the defaults are filled in, manifest/monitor.c). */
enum {
  KM_MON_REQUESTS = 0,
  KM_MON_QPS,
  KM_MON_LATENCY,
  KM_MON_4XX,
  KM_MON_5XX,
  KM_MON_THROTTLED,
  KM_MON__COUNT
};

typedef struct km_mf_monitor_s {
  bool enabled;     /* default true */
  int64_t window_s; /* default 3600 */
  int64_t period_s; /* CloudMonitor Period 15|60|900|3600 (60) */
  char *ns;         /* namespace, default acs_kms */
  char *metric[KM_MON__COUNT];
  /* Dimensions templates (JSON text with {account_id}, {region},
   * {instance_id}) of the shared and the dedicated gateway. */
  char *dims_shared, *dims_dedicated;
  km_mf_strlist_t events;  /* ActionTrail EventNames of data-plane calls */
  double throttle_act_pct; /* dedicated throttled share that is "act" */
} km_mf_monitor_t;

typedef struct km_mf_override_s {
  char *host;    /* exact host, or "*.suffix" */
  char *address; /* "ip:port" or "name:port" */
  bool http;     /* scheme: http (default https) */
  char *ca_file; /* NULL: system store */
  km_mf_pos_t pos;
} km_mf_override_t;

/* `waves:` (docs/waves.md): waves that name accounts or tags first, then
 * shares of the accounts left (percent or count); the last takes the rest. */
typedef enum {
  KM_MF_WAVE_NAMED = 0, /* accounts and/or tags */
  KM_MF_WAVE_PERCENT,
  KM_MF_WAVE_COUNT,
  KM_MF_WAVE_REST
} km_mf_wave_kind_t;

typedef struct km_mf_wave_s {
  char *name; /* as written, else "wave N" */
  km_mf_wave_kind_t kind;
  km_mf_strlist_t accounts; /* NAMED: account names */
  km_mf_kv_t *tags;         /* NAMED: an account with every one of these */
  size_t ntags;
  int amount; /* PERCENT 1..100 of the rest, COUNT >= 1 */
  km_mf_pos_t pos;
} km_mf_wave_t;

/* `windows:` (docs/waves.md): when the accounts it names (by name or tag;
 * neither: every account) may be migrated. */
typedef struct km_mf_window_s {
  km_mf_strlist_t accounts;
  km_mf_kv_t *tags;
  size_t ntags;
  km_window_t w;
  km_mf_pos_t pos;
} km_mf_window_t;

typedef struct km_manifest_s {
  int version; /* 1 */
  char *name;
  char *path;            /* as given to km_manifest_load */
  km_mf_strlist_t files; /* every file read, manifest first (owns pos.file) */
  km_mf_directory_t directory;
  km_mf_account_t *accounts; /* explicit accounts, manifest order */
  size_t naccounts;
  km_mf_strlist_t regions;     /* default regions */
  km_mf_instance_t *instances; /* sorted by region */
  size_t ninstances;
  km_mf_select_t select;
  km_mf_migrate_t migrate;
  km_mf_monitor_t monitor;
  km_mf_hooks_t hooks;
  char *plugins_dir; /* NULL: the built-in plugins directory */
  km_mf_strlist_t plugins;
  /* locks.dir (docs/manifest.md): the lock files of every account × region a
   * run touches, shared by the shards and machines of a fleet; resolved
   * against the manifest's folder.  NULL: only the run directory is locked. */
  char *locks_dir;
  int concurrency_accounts;     /* default 16 */
  int concurrency_per_endpoint; /* default 8 */
  /* concurrency.qps: per API group for every account (0: published) */
  km_rl_limits_t qps;
  bool tolerance_is_percent;
  int tolerance; /* count, or percent 0..100; default 0 */
  km_mf_override_t *overrides;
  size_t noverrides;
  int signature;       /* 1 or 3 (default) */
  km_mf_wave_t *waves; /* none: one wave of every account */
  size_t nwaves;
  km_mf_window_t *windows; /* none: any time */
  size_t nwindows;
} km_manifest_t;

/* Loads and validates path.  On success (return 0) *out is an owned
 * manifest; free it with km_manifest_free.  Warnings may be added to diags
 * even on success.  On failure returns KM_EMANIFEST (or KM_ENOENT when the
 * manifest cannot be read), *out is NULL, and diags (caller-owned, must be
 * initialised) holds every error found.  Never touches the network. */
int km_manifest_load(const char *path, km_manifest_t **out, km_diags_t *diags);
/* Loading options.  allow_include_outside: account includes may resolve
 * anywhere (--allow-include-outside); by default they must stay inside the
 * manifest's directory tree or the working directory's, after symlinks. */
typedef struct km_manifest_opts_s {
  bool allow_include_outside;
} km_manifest_opts_t;
/* km_manifest_load with options (o borrowed; NULL: the defaults). */
int km_manifest_load_opts(const char *path, const km_manifest_opts_t *o,
                          km_manifest_t **out, km_diags_t *diags);
/* Frees m and everything it owns; NULL is a no-op. */
void km_manifest_free(km_manifest_t *m);

/* Borrowed lookups; NULL when absent. */
const km_mf_account_t *km_manifest_account(const km_manifest_t *m,
                                           const char *name);
const km_mf_instance_t *km_manifest_instance(const km_manifest_t *m,
                                             const char *region);

/* Region table (alibaba-kms-api.md §7 plus cn-guangzhou and cn-chengdu). */
bool km_manifest_region_known(const char *region);
/* Mainland China: cn-* except cn-hongkong (the HSM BYOK rule). */
bool km_manifest_region_mainland(const char *region);

#endif
