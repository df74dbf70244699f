/* The inventory of one pipeline (one account, one region, one destination
 * instance): what discovery found, what the operator said in the manifest,
 * and what the rules decided for every key and secret.
 *
 * The engine owns one per pipeline and every stage reads and changes it in
 * place (core/src/model is the pipeline's typed model): parse.c fills it
 * straight from the parsed API replies, rules.c sets verdicts, batch.c cuts
 * batches out of it, plan_render.c and report.c print it.  JSON exists only
 * at the edges (km_inv_to_json for report.json and the plan's JSON).  A
 * resumed run rebuilds it by discovering again and folding the journal.
 *
 * Lookups by KeyId, Arn, alias or secret name go through hash indexes
 * (built on first use, dropped when the arrays change), so per-resource
 * lookups stay O(1) for regions with thousands of keys.
 *
 * Only names and metadata live here: never a secret value, key material,
 * import token or credential.  Every string is owned by the inventory;
 * readers borrow.  Pointers to keys and secrets returned by the add/find
 * functions are valid until the next add (the arrays grow).
 */
#ifndef KM_MODEL_INVENTORY_H
#define KM_MODEL_INVENTORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "kmsmig/errors.h"
#include "model/select.h"

/* What happens to a resource.  Rules set pending/done/skipped/blocked/
 * needs_byok; the pipeline later sets migrated or failed.  warning is only
 * used by pipeline-level issues (km_inv_issue_t). */
typedef enum {
  KM_VERDICT_PENDING = 0, /* will be migrated by this run */
  KM_VERDICT_DONE,        /* already in a KMS 3.0 instance before the run */
  KM_VERDICT_SKIPPED,     /* left in KMS 1.0, with the reason */
  KM_VERDICT_BLOCKED,     /* must be fixed before the run may start */
  KM_VERDICT_FAILED,      /* the run tried and failed (code, RequestId) */
  KM_VERDICT_NEEDS_BYOK,  /* HSM BYOK: pending, after re-importing material */
  KM_VERDICT_MIGRATED,    /* moved by this run */
  KM_VERDICT_WARNING      /* issues only: reported, does not block */
} km_verdict_t;

/* Static lowercase name ("pending", "needs_byok"...). */
const char *km_verdict_name(km_verdict_t v);
/* Parses a name; returns 0 or KM_EINVAL. */
int km_verdict_parse(const char *s, km_verdict_t *out);
/* True for verdicts that the migrate stage moves (pending, needs_byok). */
bool km_verdict_moves(km_verdict_t v);

/* Which ListKeys filter found the key (CreatorType). */
typedef enum { KM_CREATOR_USER = 0, KM_CREATOR_SERVICE } km_creator_t;

/* What the operator said about the destination (the API exposes neither the
 * type's image version nor auto-renew). */
typedef enum {
  KM_INV_TYPE_UNKNOWN = 0,
  KM_INV_TYPE_SOFTWARE,
  KM_INV_TYPE_HARDWARE
} km_inv_type_t;

typedef struct km_inv_strs_s {
  char **v;
  size_t n;
} km_inv_strs_t;

/* Appends a copy of s (borrowed) unless already present. */
void km_inv_strs_add(km_inv_strs_t *l, const char *s);
bool km_inv_strs_has(const km_inv_strs_t *l, const char *s);
void km_inv_strs_free(km_inv_strs_t *l);

/* What the manifest selects, one per run (borrowed by every pipeline's
 * inventory).  KM_SEL_UNSET is 0 on purpose: a selection nobody filled in
 * selects nothing (fail closed), and the rules say so. */
typedef struct km_select_s {
  km_sel_mode_t keys;
  km_inv_strs_t key_ids;     /* KeyId or Arn; '*' globs allowed */
  km_inv_strs_t key_aliases; /* alias/... globs */
  km_sel_mode_t secrets;
  km_inv_strs_t secret_names; /* globs */
} km_select_t;

void km_select_free(km_select_t *s);

typedef struct km_inv_key_s {
  /* DescribeKey KeyMetadata, as strings (NULL: absent). */
  char *key_id;
  char *arn;
  char *key_spec;
  char *key_usage;
  char *origin;           /* Aliyun_KMS | EXTERNAL */
  char *protection_level; /* SOFTWARE | HSM */
  char *key_state;        /* Enabled | Disabled | PendingDeletion | ... */
  char *dkms_instance_id; /* set: already migrated */
  char *automatic_rotation;
  char *rotation_interval; /* "31536000s" */
  char *delete_date;
  /* Not kept: NextRotationDate, PrimaryKeyVersion, MaterialExpireTime (no
   * stage reads them; 10,000 pipelines wait at the barrier). */
  km_creator_t creator;
  int version_count; /* -1: unknown */
  km_inv_strs_t aliases;
  /* Decision. */
  km_verdict_t verdict;
  char *rule;   /* id of the rule that decided, NULL before rules ran */
  char *reason; /* human text naming the key and the fix */
  /* Run outcome. */
  char *fail_code;        /* cloud Code or KM_E* name */
  char *fail_request_id;  /* NULL when no request was involved */
  bool rotation_off;      /* this run turned its rotation off */
  bool rotation_restored; /* and turned it back on as it was */
  bool verified;          /* migrated: a verify proved it in the destination */
  bool arn_derived; /* arn is NULL: it had the usual form (km_inv_key_arn) */
} km_inv_key_t;

typedef struct km_inv_secret_s {
  char *secret_name;
  char *arn;
  char *secret_type; /* Generic | Rds | RAMCredentials | ECS ... */
  char *encryption_key_id;
  char *dkms_instance_id;
  char *automatic_rotation;
  char *rotation_interval;
  char *owing_service;
  km_verdict_t verdict;
  char *rule;
  char *reason;
  char *fail_code;
  char *fail_request_id;
  bool rotation_off;
  bool rotation_restored;
  bool verified; /* migrated: a verify proved it in the destination */
  bool arn_derived;
} km_inv_secret_t;

/* GetKmsInstance and GetKmsInstanceQuotaInfos; -1 for unknown numbers. */
typedef struct km_inv_instance_s {
  bool present; /* GetKmsInstance answered */
  char *instance_id;
  char *instance_name;
  char *status; /* Connected, ... */
  char *end_date;
  char *product_version;
  int64_t spec;
  int64_t key_num;
  int64_t secret_num; /* a string in the API, parsed */
  int64_t vpc_num;
  int64_t key_quota, key_used;
  int64_t secret_quota, secret_used;
  int64_t vpc_quota, vpc_used;
} km_inv_instance_t;

/* A secret name already present in the destination instance, and the
 * account that owns it there (for the duplicate-name rule). */
typedef struct km_inv_dest_secret_s {
  char *name;
  char *account;
} km_inv_dest_secret_t;

/* One ListAliases item: an alias and the KeyId it points to, kept until
 * discovery has listed the keys and attaches it (km_inv_attach_aliases). */
typedef struct km_inv_alias_s {
  char *alias;
  char *key_id;
} km_inv_alias_t;

/* A pipeline-level finding (instance, quota): verdict is BLOCKED or
 * WARNING. */
typedef struct km_inv_issue_s {
  char *rule;
  km_verdict_t verdict;
  char *message;
} km_inv_issue_t;

typedef struct km_inv_s {
  char *account;
  char *account_id;
  char *region;
  /* Destination as given by the manifest. */
  char *instance_id;
  km_inv_type_t instance_type;
  char *image_version;       /* NULL: not given */
  int auto_renew;            /* -1 not given, 0 off, 1 on */
  const km_select_t *select; /* borrowed; NULL selects nothing */
  /* Discovered. */
  km_inv_instance_t inst;
  char *default_instance_id; /* GetDefaultKmsInstance; NULL: none set */
  km_inv_key_t *keys;
  size_t nkeys, capkeys;
  km_inv_secret_t *secrets;
  size_t nsecrets, capsecrets;
  km_inv_dest_secret_t *dest_secrets;
  size_t ndest, capdest;
  km_inv_issue_t *issues;
  size_t nissues, capissues;
  /* ListAliases items not yet attached to their keys (discovery only). */
  km_inv_alias_t *alias_items;
  size_t nalias_items, capalias_items;
  /* Discovery or preflight did not finish (the pipeline failed or never
   * started before the barrier): the lists may be partial, so the report
   * says so and --rerun-failed runs the whole pipeline again. */
  bool incomplete;
  /* Decisions of the operator's hooks, for the plan and the report. */
  char *default_choice;     /* default_instance hook: "" keeps the current */
  km_inv_strs_t hook_notes; /* one line per decision; plan mode only */
  /* The gateway observation (model/observe.h, the monitor stage); NULL:
   * not observed.  Owned, freed with the inventory. */
  struct km_obs_s *obs;
  /* private: hash indexes (see the file comment) */
  struct km_strmap_s *kidx, *sidx, *didx, *dpairs;
} km_inv_t;

/* New empty inventory (owned; free with km_inv_free).  Strings borrowed,
 * copied; account_id and instance_id may be NULL. */
km_inv_t *km_inv_new(const char *account, const char *account_id,
                     const char *region, const char *instance_id);
void km_inv_free(km_inv_t *inv);

/* Finds a key by KeyId, Arn or alias name; NULL if absent (borrowed). */
km_inv_key_t *km_inv_find_key(const km_inv_t *inv, const char *id);
km_inv_secret_t *km_inv_find_secret(const km_inv_t *inv, const char *name);
/* Finds or adds (borrowed result; valid until the next add). */
km_inv_key_t *km_inv_add_key(km_inv_t *inv, const char *key_id);
km_inv_secret_t *km_inv_add_secret(km_inv_t *inv, const char *name);
/* Records a destination secret name (both borrowed, copied; account may be
 * NULL for "this account").  Duplicates of the same pair are ignored. */
void km_inv_add_dest_secret(km_inv_t *inv, const char *name,
                            const char *account);
/* The first destination secret called name (borrowed), or NULL. */
const km_inv_dest_secret_t *km_inv_find_dest(const km_inv_t *inv,
                                             const char *name);
/* Records a ListAliases item (both borrowed, copied) for
 * km_inv_attach_aliases. */
void km_inv_add_alias(km_inv_t *inv, const char *alias, const char *key_id);
/* Attaches every recorded alias to its key (found by KeyId through the key
 * index) and forgets the items; an alias of a key this inventory does not
 * hold is dropped (a key created after ListKeys is not in this discovery).
 * Returns the number dropped. */
size_t km_inv_attach_aliases(km_inv_t *inv);
/* Adds a pipeline-level issue (strings borrowed, copied). */
void km_inv_add_issue(km_inv_t *inv, const char *rule, km_verdict_t verdict,
                      const char *message);
/* Removes the issues of rules whose id starts with prefix ("" = all), so
 * that rules can be evaluated again. */
void km_inv_clear_issues(km_inv_t *inv, const char *prefix);

/* Sets *dst to a copy of v (borrowed; NULL or "" clears).  The old value
 * is freed unless it is interned (model/intern.h). */
void km_inv_set(char **dst, const char *v);
/* Records a decision on a key or secret (rule, reason borrowed, copied). */
void km_inv_key_decide(km_inv_key_t *k, km_verdict_t v, const char *rule,
                       const char *reason);
void km_inv_secret_decide(km_inv_secret_t *s, km_verdict_t v, const char *rule,
                          const char *reason);

/* Sorts keys by KeyId, secrets by name, aliases and destination names, so
 * that everything printed from the inventory is deterministic.  Discovery
 * is over: arrays are fitted and an Arn of the usual form
 * (acs:kms:REGION:ACCOUNT:key/ID, ...:secret/NAME) is no longer stored
 * (10,000 models wait at the barrier); read it with km_inv_*_arn. */
void km_inv_sort(km_inv_t *inv);
/* The same for the keys alone (and their aliases) / the secrets alone (and
 * the destination's names): the keys and secrets providers discover at the
 * same time, and each sorts only what it owns when it is done. */
void km_inv_sort_keys(km_inv_t *inv);
void km_inv_sort_secrets(km_inv_t *inv);

/* The Arn of a key or secret: the stored one, or the usual form rebuilt
 * into buf (size bytes; KM_INV_ARN_MAX is always enough); NULL when the
 * API gave none.  The result is borrowed (from k or from buf). */
#define KM_INV_ARN_MAX 512
const char *km_inv_key_arn(const km_inv_t *inv, const km_inv_key_t *k,
                           char *buf, size_t size);
const char *km_inv_secret_arn(const km_inv_t *inv, const km_inv_secret_t *s,
                              char *buf, size_t size);
/* Removes every key / every secret (a discovery that failed half way must
 * not leave a half list that later output would read as the region). */
void km_inv_drop_keys(km_inv_t *inv);
void km_inv_drop_secrets(km_inv_t *inv);
/* Frees the lookup indexes (rebuilt on the next lookup): for models that
 * wait, by the thousand, at the barrier. */
void km_inv_drop_indexes(km_inv_t *inv);

/* Counts of keys/secrets by verdict. */
typedef struct km_inv_counts_s {
  size_t keys[KM_VERDICT_WARNING + 1];
  size_t secrets[KM_VERDICT_WARNING + 1];
  size_t blocking;        /* blocked keys + blocked secrets + blocking issues */
  size_t blocking_issues; /* instance-level: the whole pipeline is blocked */
  size_t failures;        /* failed issues (the pipeline failed, verify) */
  size_t warnings;        /* warning issues */
} km_inv_counts_t;
void km_inv_count(const km_inv_t *inv, km_inv_counts_t *out);

/* The whole inventory as JSON (new reference; field names as in the API for
 * key and secret metadata; documented in docs/report.md). */
json_t *km_inv_to_json(const km_inv_t *inv);

/* ---- parse.c: API response bodies (borrowed) into the inventory. ----
 * Each returns 0, or KM_EPARSE with err naming the action and the field.
 * An empty list may be given as {"Key":[]}, {} or with the field omitted.
 * page (may be NULL) receives the paging fields of list answers. */
typedef struct km_inv_page_s {
  int64_t page_number; /* -1 when absent */
  int64_t page_size;
  int64_t total_count;
  size_t items; /* items in this page */
} km_inv_page_t;

/* ListKeys; creator is the CreatorType filter the request used.  A key found
 * by the Service filter is marked service even if seen before. */
int km_inv_parse_list_keys(km_inv_t *inv, const json_t *body,
                           km_creator_t creator, km_inv_page_t *page,
                           km_err_t *err);
/* DescribeKey.  It also sets version_count to 1, when still unknown, if the
 * answer proves the key has a single version: a LastRotationDate equal to
 * its CreationDate (no rotation, automatic or manual, since the initial
 * version; docs/performance.md, "Which calls").  Otherwise the count stays
 * unknown (-1) and discovery asks ListKeyVersions. */
int km_inv_parse_describe_key(km_inv_t *inv, const json_t *body, km_err_t *err);
/* ListKeyVersions of key_id (borrowed): sets version_count from TotalCount
 * (or adds this page's items when TotalCount is absent). */
int km_inv_parse_key_versions(km_inv_t *inv, const char *key_id,
                              const json_t *body, km_inv_page_t *page,
                              km_err_t *err);
/* ListAliases (one page of every alias of the account and region): records
 * each item's AliasName and KeyId (both required) for
 * km_inv_attach_aliases. */
int km_inv_parse_list_aliases(km_inv_t *inv, const json_t *body,
                              km_inv_page_t *page, km_err_t *err);
/* ListAliasesByKeyId of key_id: appends the alias names. */
int km_inv_parse_aliases(km_inv_t *inv, const char *key_id, const json_t *body,
                         km_inv_page_t *page, km_err_t *err);
/* ListSecrets of the source account (KMS 1.0 and already migrated). */
int km_inv_parse_list_secrets(km_inv_t *inv, const json_t *body,
                              km_inv_page_t *page, km_err_t *err);
int km_inv_parse_describe_secret(km_inv_t *inv, const json_t *body,
                                 km_err_t *err);
/* ListSecrets filtered on the destination instance: names already there,
 * owned by account (borrowed; NULL: this inventory's account). */
int km_inv_parse_dest_secrets(km_inv_t *inv, const json_t *body,
                              const char *account, km_inv_page_t *page,
                              km_err_t *err);
int km_inv_parse_kms_instance(km_inv_t *inv, const json_t *body, km_err_t *err);
int km_inv_parse_quota_infos(km_inv_t *inv, const json_t *body, km_err_t *err);
int km_inv_parse_default_instance(km_inv_t *inv, const json_t *body,
                                  km_err_t *err);

/* ---- shared with parse.c: the key and secret string fields by API name,
 * used by both the API parser and the JSON (de)serialiser. ---- */
typedef struct km__inv_field_s {
  const char *name; /* API / JSON field name */
  size_t offset;    /* of a char * in the struct */
  bool intern;      /* an enumerated value: stored once (model/intern.h) */
} km__inv_field_t;
extern const km__inv_field_t km__inv_key_fields[];
extern const size_t km__inv_nkey_fields;
extern const km__inv_field_t km__inv_secret_fields[];
extern const size_t km__inv_nsecret_fields;

#endif
