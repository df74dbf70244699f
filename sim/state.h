/* kmsim's cloud model: enterprises, resource directories, accounts with
 * their AccessKeys, and per account and region the KMS 1.0 keys and secrets,
 * KMS 3.0 instances and the default instance.  Loaded from a fixture
 * (fixture.c, gen.c); read and changed by the action handlers with the cloud
 * lock held.  All times are seconds on kmsim's clock (ksim_clock_now). */
#ifndef KSIM_STATE_H
#define KSIM_STATE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "ksim.h"

#define KSIM_VEC(T)                                                            \
  struct {                                                                     \
    T *v;                                                                      \
    size_t n, cap;                                                             \
  }
/* Appends a zeroed element and returns a pointer to it. */
#define KSIM_VEC_PUSH(vec)                                                     \
  (ksim_vec_grow((void **)&(vec).v, &(vec).cap, (vec).n + 1,                   \
                 sizeof(*(vec).v)),                                            \
   &(vec).v[(vec).n++])
void ksim_vec_grow(void **v, size_t *cap, size_t want, size_t elem);

typedef struct {
  char *key;
  char *value;
} ksim_tag_t;
typedef KSIM_VEC(ksim_tag_t) ksim_tags_t;
typedef KSIM_VEC(char *) ksim_strs_t;

typedef struct {
  char *id;
  int64_t created;
} ksim_version_t;

typedef struct ksim_key {
  char *id;
  char *description;
  char *creator; /* account uid */
  bool service;  /* created by a cloud service (alias alias/acs/<svc>) */
  char *service_name;
  char *spec;       /* Aliyun_AES_256, RSA_2048, ... */
  char *usage;      /* ENCRYPT/DECRYPT | SIGN/VERIFY */
  char *origin;     /* Aliyun_KMS | EXTERNAL */
  char *protection; /* SOFTWARE | HSM */
  char *state;      /* Enabled | Disabled | PendingDeletion | PendingImport */
  int64_t created;
  int64_t last_rotation;
  int64_t delete_date;
  int64_t material_expire; /* BYOK: 0 = never */
  bool rotation_enabled;
  int64_t rotation_interval;         /* seconds; kept when disabled */
  KSIM_VEC(ksim_version_t) versions; /* last = primary */
  ksim_strs_t aliases;
  ksim_tags_t tags;
  bool deletion_protection;
  char *instance_id; /* DKMSInstanceId, NULL = KMS 1.0 (not migrated) */
  char *policy;      /* key policy in an instance (NULL = default) */
  /* migration bookkeeping (read by the emulated console) */
  int migrations; /* times moved into an instance */
  int64_t migrated_at;
  bool migrating; /* a migration task holds it: control plane blocked */
  int64_t material_imported_at; /* last ImportKeyMaterial (21-day rule) */
  unsigned char material_hash[32];
  bool has_material;
  int rotation_updates; /* UpdateRotationPolicy calls that changed it */
} ksim_key_t;

typedef struct ksim_secret {
  char *name;
  char *type; /* Generic | Rds | RAMCredentials | ECS */
  char *description;
  char *key_id; /* EncryptionKeyId (a CMK id), NULL = KMS default key */
  char *extended_config; /* JSON string for managed secrets */
  char *owning_service;
  int64_t created, updated, last_rotation;
  bool rotation_enabled;
  int64_t rotation_interval;
  ksim_strs_t versions;
  ksim_tags_t tags;
  char *instance_id;
  char *policy;
  int migrations;
  int64_t migrated_at;
  bool migrating;
  int rotation_updates;
} ksim_secret_t;

typedef struct ksim_instance {
  char *id;
  char *name;
  char *owner; /* account uid */
  char *region;
  char *type;          /* software | hardware */
  char *image_version; /* console-only fact; never returned by an action */
  char *status;        /* Connected | Uninitialized | ... */
  char *product_type;
  char *charge_type;
  bool auto_renew; /* console/BSS fact; never returned by a KMS action */
  long spec, key_num, secret_num, vpc_num;
  int64_t start, end, created;
  char *vpc_id;
  ksim_strs_t zones;
  ksim_strs_t vswitches;
  ksim_strs_t shared_with; /* account uids the instance is shared with */
  long bound_vpcs;
} ksim_instance_t;

struct ksim_region {
  char *region;
  KSIM_VEC(ksim_key_t *) keys;
  KSIM_VEC(ksim_secret_t *) secrets;
  char *default_instance; /* NULL = never set */
};

typedef struct {
  char *id;
  char *secret;
} ksim_ak_t;

typedef struct {
  char *name;
  ksim_strs_t trusted; /* account uids allowed to assume it */
} ksim_role_t;

struct ksim_account {
  char *id;
  char *name;
  char *enterprise; /* enterprise id or NULL */
  char *directory;  /* resource directory id or NULL */
  char *folder;
  char *join_method;
  char *status;
  int64_t join_time;
  ksim_tags_t tags;
  KSIM_VEC(ksim_ak_t) aks;
  KSIM_VEC(ksim_role_t) roles;
  KSIM_VEC(ksim_region_t *) regions;
};

typedef struct {
  char *id;
  char *name;
  bool verified;
} ksim_enterprise_t;

typedef struct {
  char *id;
  char *name;
  char *parent;
} ksim_folder_t;

typedef struct {
  char *id;
  char *enterprise;
  char *management;
  char *root_folder;
  KSIM_VEC(ksim_folder_t) folders;
} ksim_directory_t;

typedef struct {
  char *access_key_id; /* STS.… */
  char *secret;
  char *token;
  char *account; /* member uid the role belongs to */
  char *role_arn;
  char *session;
  int64_t expires;
} ksim_sts_cred_t;

typedef struct {
  char *token;
  char *key_id;
  char *account;
  char *region;
  char *algorithm;
  EVP_PKEY *pkey;
  int64_t expires;
} ksim_import_token_t;

/* A migration task (created by the emulated console, sim/console*.c). */
typedef struct {
  char *id;
  char *account;
  char *region;
  char *instance;
  char *status; /* Scheduled | Running | Completed | Failed */
  int64_t created, start, finish;
  ksim_strs_t keys, secrets;
  json_t *detail; /* free-form, dumped as is */
} ksim_task_t;

/* Token bucket for throttling (real monotonic time). */
typedef struct {
  double tokens;
  double qps;
  uint64_t last_ms;
} ksim_bucket_t;

typedef struct ksim_faults {
  uint64_t seed;
  uint64_t rng;
  /* latency: "none" | "fixed" | "uniform" | "exponential" (ms) */
  char latency_dist[16];
  double latency_min_ms, latency_max_ms, latency_mean_ms;
  double error_5xx_rate;
  double drop_rate;
  /* throttling: mode 0 = off, 1 = published, 2 = custom table */
  int throttle_mode;
  json_t *throttle_groups;   /* {group: qps} overrides */
  json_t *throttle_accounts; /* {uid: {group: qps}} */
  char throttle_code[48];    /* "" = Rejected.Throttling for KMS */
  double task_seconds;       /* slow tasks: how long a migration task runs */
  double lost_reply_rate;    /* writes applied, then the answer dropped */
  double storm_period_ms, storm_ms; /* throttling storms (real clock) */
  char throttle_shape[8];           /* "" | pop | kms | mixed */
  json_t *actions; /* array of action names faults apply to, NULL=all */
  json_t *config;  /* the last config as posted */
  /* An outage (POST {"outage_s": N}): until this real monotonic time (ms)
   * every cloud request fails; 0: none.  mode "503" | "drop" | "mixed". */
  uint64_t outage_until_ms;
  char outage_mode[8];
} ksim_faults_t;

/* String-keyed open-addressing map (values borrowed). */
typedef struct {
  char **keys;
  void **vals;
  size_t cap, n;
} ksim_map_t;
void ksim_map_put(ksim_map_t *m, const char *key, void *val);
void *ksim_map_get(const ksim_map_t *m, const char *key);
void ksim_map_free(ksim_map_t *m); /* frees keys, not values */

struct ksim_cloud {
  pthread_mutex_t lock;
  int64_t clock_offset; /* kmsim clock = real time + offset */
  ksim_strs_t regions;
  KSIM_VEC(ksim_enterprise_t) enterprises;
  KSIM_VEC(ksim_directory_t) directories;
  KSIM_VEC(ksim_account_t *) accounts;
  KSIM_VEC(ksim_instance_t *) instances;
  KSIM_VEC(ksim_sts_cred_t *) sts;
  KSIM_VEC(ksim_import_token_t *) import_tokens;
  KSIM_VEC(ksim_task_t *) tasks;
  /* tasks.v[0 .. tasks_settled) are Completed or Failed, which a task
   * never leaves: ksim_console_tick, run before every request, starts
   * there instead of testing every task of the run (console.c) */
  size_t tasks_settled;
  ksim_map_t ak_index;  /* AccessKeyId -> ksim_account_t* */
  ksim_map_t sts_index; /* STS AccessKeyId -> ksim_sts_cred_t* */
  ksim_map_t buckets;   /* "uid|region|group" -> ksim_bucket_t* */
  ksim_map_t stats;     /* "product|action|code" -> counter (uintptr) */
  /* account id -> ksim_account_t* (filled by fixture.c) */
  ksim_map_t account_index;
  uint64_t requests;
  /* connections accepted since start (or the last DELETE /_kmsim/stats),
   * each HTTPS one a TLS handshake: counted by server.c under the lock */
  uint64_t connections, tls_connections, tls_resumed;
  /* replay protection: hashes of (AccessKeyId, nonce) with their time */
  uint64_t *nonce_hash;
  int64_t *nonce_time;
  size_t nonce_cap, nonce_n;
  ksim_faults_t faults;
  json_t *ext;     /* extension state owned by other sim files (shares, ...) */
  json_t *fixture; /* the loaded fixture tree (read-only), for sections other
                      files own, e.g. console: {seconds_per_resource} */
  uint64_t id_rng; /* deterministic ids for created resources */
  /* share.c: earliest _DueMs of an association still Associating or
   * Disassociating, 0 = none (ksim_share_tick scans only once one is due) */
  int64_t share_due_ms;
  /* persist.c: --state FILE (NULL = none) and the hash of what it holds */
  char *state_path;
  uint64_t state_hash;
  bool state_saved;
};

ksim_cloud_t *ksim_cloud_new(void);
void ksim_cloud_free(ksim_cloud_t *c);
/* Global instance used by the server and handlers. */
ksim_cloud_t *ksim_cloud(void);
void ksim_cloud_set(ksim_cloud_t *c);

int64_t ksim_clock_now(const ksim_cloud_t *c);

ksim_account_t *ksim_account_by_id(ksim_cloud_t *c, const char *id);
ksim_account_t *ksim_account_by_name(ksim_cloud_t *c, const char *name);
ksim_account_t *ksim_account_by_ak(ksim_cloud_t *c, const char *ak,
                                   const char **secret);
bool ksim_region_known(const ksim_cloud_t *c, const char *region);
/* The account's state in region, created empty if the region is known. */
ksim_region_t *ksim_account_region(ksim_cloud_t *c, ksim_account_t *a,
                                   const char *region);
ksim_directory_t *ksim_directory_by_id(ksim_cloud_t *c, const char *id);
ksim_enterprise_t *ksim_enterprise_by_id(ksim_cloud_t *c, const char *id);

/* Key by id, alias ("alias/x") or ARN in the account's region. */
ksim_key_t *ksim_key_find(ksim_region_t *r, const char *id_alias_or_arn);
ksim_secret_t *ksim_secret_find(ksim_region_t *r, const char *name_or_arn);
ksim_instance_t *ksim_instance_by_id(ksim_cloud_t *c, const char *id);
/* Owner or an account it is shared with. */
bool ksim_instance_visible(const ksim_instance_t *i, const ksim_account_t *a);
/* Keys (customer master keys, service keys excluded) and secrets inside it. */
void ksim_instance_usage(ksim_cloud_t *c, const ksim_instance_t *i, long *keys,
                         long *secrets);

/* Key ARN etc. into a new string. */
char *ksim_key_arn(const char *region, const char *uid, const char *key_id);
bool ksim_key_is_symmetric(const ksim_key_t *k);
bool ksim_region_mainland(const char *region);

void ksim_key_free(ksim_key_t *k);
void ksim_instance_free(ksim_instance_t *i);
void ksim_secret_free(ksim_secret_t *s);
void ksim_tags_free(ksim_tags_t *t);
void ksim_strs_free(ksim_strs_t *s);
void ksim_strs_push(ksim_strs_t *s, const char *v);
bool ksim_strs_has(const ksim_strs_t *s, const char *v);

/* Whole state as JSON for GET /_kmsim/state. */
json_t *ksim_state_dump(ksim_cloud_t *c);

/* Deterministic 64-bit generator (splitmix64). */
uint64_t ksim_rand(uint64_t *state);
double ksim_rand01(uint64_t *state);

/* ---- fixture.c / gen.c ---- */
/* Parses a YAML (or JSON) file into a jansson tree: mappings -> objects,
 * sequences -> arrays, scalars -> strings. */
json_t *ksim_yaml_load(const char *path, char *err, size_t errlen);
/* Loads a fixture tree (expanding gen:) into c; 0 or -1 with err. */
int ksim_fixture_apply(ksim_cloud_t *c, json_t *fixture, char *err,
                       size_t errlen);
int ksim_fixture_load(ksim_cloud_t *c, const char *path, char *err,
                      size_t errlen);
/* Generates a fixture tree from gen parameters (deterministic per seed). */
json_t *ksim_generate(json_t *gen, char *err, size_t errlen);
/* Writes a JSON tree as block YAML. */
void ksim_yaml_emit(FILE *f, json_t *tree);

/* ---- persist.c (kmsim --state FILE) ---- */
/* Writes the state file if c->state_path is set and the state changed since
 * the last write (atomically, fsynced); call with the lock held before an
 * answer is sent.  0, or -1 with err. */
int ksim_persist_save(ksim_cloud_t *c, char *err, size_t errlen);
/* Loads a state file written by ksim_persist_save into an empty cloud (its
 * embedded fixture, then the saved state).  0, or -1 with err. */
int ksim_persist_load(ksim_cloud_t *c, const char *path, char *err,
                      size_t errlen);

/* ---- faults.c ---- */
void ksim_faults_init(ksim_faults_t *f);
void ksim_faults_free(ksim_faults_t *f);
int ksim_faults_configure(ksim_cloud_t *c, json_t *cfg, char *err,
                          size_t errlen);
/* Published QPS of a group (0 = not published/unlimited). */
double ksim_group_published_qps(const char *group);
/* Token-bucket check for the caller; 0 = pass, -1 = throttled (resp set). */
int ksim_throttle(ksim_req_t *req, const ksim_action_t *a, ksim_resp_t *resp);
/* Per-request random faults: fills resp (5xx or drop) and returns -1, or
 * returns 0; *delay_ms gets the injected latency. */
int ksim_faults_roll(ksim_req_t *req, ksim_resp_t *resp, unsigned *delay_ms);
/* During an outage every cloud request fails (a 503, or the connection
 * closed without an answer): fills resp and returns -1, else 0. */
int ksim_outage(ksim_req_t *req, ksim_resp_t *resp);
/* After a successful write (state changed, saved): with lost_reply_rate,
 * drops the answer, so the client cannot know the write happened. */
void ksim_faults_lose(ksim_req_t *req, ksim_resp_t *resp);
void ksim_stats_count(ksim_cloud_t *c, const char *product, const char *action,
                      const char *code);
json_t *ksim_stats_dump(ksim_cloud_t *c);
/* Records (AccessKeyId, nonce) at now; false if already seen in window. */
bool ksim_nonce_check(ksim_cloud_t *c, const char *ak, const char *nonce,
                      int64_t now);

/* The emulated console, Resource Sharing and observability (console.c,
 * share.c, observe.c): time-driven progress applied on every request, and
 * the traffic record CloudMonitor / ActionTrail answers are computed from. */
void ksim_console_tick(ksim_cloud_t *c);
void ksim_share_tick(ksim_cloud_t *c);
const char *ksim_share_status(ksim_cloud_t *c, const char *instance_id,
                              const char *account);
int64_t ksim_clock_ms(const ksim_cloud_t *c);
void ksim_observe_record(const ksim_req_t *req, const ksim_resp_t *resp,
                         unsigned latency_ms);
void ksim_observe_reset(void);

#endif
