/* The preflight rule table: what may be migrated, what is skipped, what
 * blocks the run, and why, with the source of every rule.
 *
 * There is ONE table (rules.c) so that the rules can change when the
 * vendor's do.  Each rule has an id ("key.multi_version"), the kind of
 * resource it applies to, the verdict it gives, a message template and the
 * source it comes from.  docs/rules.md lists the same table (a unit test
 * checks that every id appears there).
 *
 * Evaluation (km_rules_eval) is pure and synchronous:
 *   - keys, then secrets: the FIRST matching rule decides the verdict, and
 *     the last rule of each kind always matches (pending);
 *   - instance rules: EVERY matching rule adds an issue (blocked or warning)
 *     to the inventory;
 *   - quota rules need every pipeline that targets the same instance, so
 *     they run separately, in km_rules_quota, after km_rules_eval.
 *
 * Message templates name the resource and the fix; placeholders in braces
 * ({key}, {secret}, {cmk}, {instance}, {region}, ...) are listed in
 * docs/rules.md.  No template ever includes a secret value.
 */
#ifndef KM_MODEL_RULES_H
#define KM_MODEL_RULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/inventory.h"

/* Rotation intervals a KMS 3.0 instance accepts (seconds): keys 7-365 days
 * (software instances only), secrets 168-8760 hours.  docs/rules.md. */
#define KM_ROT_KEY_MIN_S (7 * 86400LL)
#define KM_ROT_KEY_MAX_S (365 * 86400LL)
#define KM_ROT_SECRET_MIN_S (168 * 3600LL)
#define KM_ROT_SECRET_MAX_S (8760 * 3600LL)

typedef enum {
  KM_RULE_KEY = 0,
  KM_RULE_SECRET,
  KM_RULE_INSTANCE
} km_rule_scope_t;

/* What a rule's predicate sees (defined in rules.c). */
typedef struct km_rule_ctx_s km_rule_ctx_t;

typedef struct km_rule_s {
  const char *id;
  km_rule_scope_t scope;
  km_verdict_t verdict;
  const char *message; /* template */
  const char *source;  /* where the rule comes from */
  /* NULL for the quota rules, which km_rules_quota evaluates. */
  bool (*match)(const km_rule_ctx_t *c);
} km_rule_t;

/* The table, in evaluation order (static, borrowed). */
const km_rule_t *km_rules_table(size_t *n);
/* A rule by id, or NULL. */
const km_rule_t *km_rules_find(const char *id);

/* The reason for a key's or secret's verdict: the text stored with it, or,
 * for a verdict of a table rule whose message names only ids (not stored:
 * km_rules_eval), that message rebuilt into buf.  Borrowed (from the
 * resource or buf); NULL when there is none.  KM_RULES_REASON_MAX is always
 * enough. */
#define KM_RULES_REASON_MAX 1024
const char *km_rules_key_reason(const km_inv_t *inv, const km_inv_key_t *k,
                                char *buf, size_t size);
const char *km_rules_secret_reason(const km_inv_t *inv,
                                   const km_inv_secret_t *s, char *buf,
                                   size_t size);

/* Sorts inv, then decides every key and secret and replaces the
 * inventory's "instance." issues.  now (epoch seconds) is the clock for the
 * expiry rules.  Every verdict is recomputed: run it on a fresh discovery.
 * Returns 0 (the table cannot fail on a well-formed inventory) or
 * KM_EINVAL. */
int km_rules_eval(km_inv_t *inv, int64_t now, km_err_t *err);

/* Adds to inv the issue of instance rule id whose facts come from outside
 * the inventory (the console's task list, a hook): its verdict, and its
 * message expanded with the pipeline's placeholders and the n name/value
 * pairs of extra (borrowed, 2n strings).  Returns 0, or KM_EINVAL for an
 * id that is not an instance rule. */
int km_rules_issue(km_inv_t *inv, const char *id, const char *const *extra,
                   size_t n, km_err_t *err);

/* Quota arithmetic of one destination instance over every pipeline that
 * moves resources into it. */
typedef struct km_quota_use_s {
  char *instance_id; /* interned (model/intern.h) */
  char *region;      /* interned */
  size_t pipelines;  /* inventories targeting it */
  int64_t key_used, key_quota, key_add;
  int64_t secret_used, secret_quota, secret_add;
  bool keys_ok, secrets_ok; /* false: does not fit, or unknown quota */
} km_quota_use_t;

/* Sums the keys and secrets that will move (pending, needs_byok) per
 * destination instance over invs (borrowed, n of them), compares with the
 * free quota (quota - used, from GetKmsInstanceQuotaInfos; when several
 * pipelines read it, the smallest quota and the largest use) and adds a
 * blocking "instance.quota_*" issue to every inventory of an instance that does
 * not fit.  *out (owned, may be NULL when n is 0; free with km_quota_uses_free)
 * gets one entry per instance, sorted by instance id. */
int km_rules_quota(km_inv_t *const *invs, size_t n, km_quota_use_t **out,
                   size_t *nout, km_err_t *err);
void km_quota_uses_free(km_quota_use_t *u, size_t n);

/* Why rotation cannot be restored at the destination (static text), or
 * NULL when it can or is off (rotation_rules.c). */
const char *km_rules_key_rotation_why(const km_inv_t *inv,
                                      const km_inv_key_t *k);
const char *km_rules_secret_rotation_why(const km_inv_secret_t *x);

/* Mainland China for the HSM BYOK rule: cn-* except cn-hongkong. */
bool km_region_is_mainland(const char *region);
/* Compares dotted versions ("2.9.0" vs "2.10"); missing parts are 0.
 * Returns 0 and sets *cmp (<0, 0, >0), or KM_EINVAL if either is not a
 * version. */
int km_version_cmp(const char *a, const char *b, int *cmp);

#endif
