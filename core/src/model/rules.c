/* The ONE preflight rule table and its evaluation (see rules.h).
 *
 * Each rule's predicate is a small static function next to the table so a
 * reader can check a rule against its cited source in one place.  The
 * message templates are expanded from one set of variables per subject
 * (key, secret or instance; rule_text.c), so a template may use any
 * placeholder listed in docs/rules.md without code changes.
 *
 * Sources are cited as the operator would look them up: the vendor
 * procedure in the design folder (seed/kms-migration-procedure.txt), the
 * older vendor guide that DESIGN.md's Preflight section quotes, and the
 * documented behaviour collected in reference/alibaba-kms-api.md.
 */
#include <ctype.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "model/intern.h"
#include "model/rule_text.h"
#include "model/rules.h"
#include "util/util.h"

#define EXPIRY_WARN_DAYS 30
#define MIN_SOFTWARE_IMAGE "2.9.0"

/* ---- helpers ---- */

static bool eq(const char *a, const char *b) {
  return a != NULL && strcmp(a, b) == 0;
}

static bool any_glob(const km_inv_strs_t *pats, const char *s) {
  for (size_t i = 0; s != NULL && i < pats->n; i++)
    if (fnmatch(pats->v[i], s, 0) == 0) return true;
  return false;
}

/* Fail closed: no selection, or one nobody filled in, selects nothing
 * (the *_selection_unset rules say so before the not_selected ones). */
static bool key_selected(const km_inv_t *inv, const km_inv_key_t *k) {
  const km_select_t *sel = inv->select;
  if (sel == NULL) return false;
  switch (sel->keys) {
  case KM_SEL_ALL_PENDING:
    return true;
  case KM_SEL_LIST:
    break;
  default:
    return false;
  }
  char arn[KM_INV_ARN_MAX];
  if (any_glob(&sel->key_ids, k->key_id) ||
      any_glob(&sel->key_ids, km_inv_key_arn(inv, k, arn, sizeof(arn))))
    return true;
  for (size_t i = 0; i < k->aliases.n; i++)
    if (any_glob(&sel->key_aliases, k->aliases.v[i])) return true;
  return false;
}

static bool is_service_key(const km_inv_key_t *k) {
  if (k->creator == KM_CREATOR_SERVICE) return true;
  for (size_t i = 0; i < k->aliases.n; i++)
    if (strncmp(k->aliases.v[i], "alias/acs/", 10) == 0) return true;
  return false;
}

static bool is_byok(const km_inv_key_t *k) {
  return eq(k->origin, "EXTERNAL");
}
static bool is_hsm(const km_inv_key_t *k) {
  return eq(k->protection_level, "HSM");
}

bool km_region_is_mainland(const char *region) {
  return region != NULL && strncmp(region, "cn-", 3) == 0 &&
         strncmp(region, "cn-hongkong", 11) != 0;
}

static int parse_version(const char *s, long v[3]) {
  v[0] = v[1] = v[2] = 0;
  if (s == NULL || !isdigit((unsigned char)s[0])) return KM_EINVAL;
  for (int i = 0; i < 3; i++) {
    char *end;
    v[i] = strtol(s, &end, 10);
    if (end == s) return KM_EINVAL;
    if (*end == '\0') return 0;
    if (*end != '.' || !isdigit((unsigned char)end[1])) return KM_EINVAL;
    s = end + 1;
  }
  return KM_EINVAL; /* more than three parts */
}

int km_version_cmp(const char *a, const char *b, int *cmp) {
  long x[3], y[3];
  if (parse_version(a, x) || parse_version(b, y)) return KM_EINVAL;
  *cmp = 0;
  for (int i = 0; i < 3 && *cmp == 0; i++)
    *cmp = (x[i] > y[i]) - (x[i] < y[i]);
  return 0;
}

/* ---- key predicates (first match wins) ---- */

static bool k_done(const km_rule_ctx_t *c) {
  return c->key->dkms_instance_id != NULL;
}
static bool k_service(const km_rule_ctx_t *c) {
  return is_service_key(c->key);
}
static bool k_pending_deletion(const km_rule_ctx_t *c) {
  return eq(c->key->key_state, "PendingDeletion");
}
static bool k_disabled(const km_rule_ctx_t *c) {
  return eq(c->key->key_state, "Disabled");
}
static bool k_pending_import(const km_rule_ctx_t *c) {
  return eq(c->key->key_state, "PendingImport");
}
static bool k_multi_version(const km_rule_ctx_t *c) {
  return c->key->version_count > 1;
}
static bool k_byok_software(const km_rule_ctx_t *c) {
  return is_byok(c->key) && !is_hsm(c->key);
}
static bool k_byok_region(const km_rule_ctx_t *c) {
  return is_byok(c->key) && !km_region_is_mainland(c->inv->region);
}
static bool k_byok_dest(const km_rule_ctx_t *c) {
  return is_byok(c->key) && c->inv->instance_type != KM_INV_TYPE_HARDWARE;
}
static bool k_selection_unset(const km_rule_ctx_t *c) {
  return c->inv->select == NULL || c->inv->select->keys == KM_SEL_UNSET;
}
static bool k_not_selected(const km_rule_ctx_t *c) {
  return !key_selected(c->inv, c->key);
}
static bool k_byok_hsm(const km_rule_ctx_t *c) {
  return is_byok(c->key);
}
static bool k_rotation_unrestorable(const km_rule_ctx_t *c) {
  return km_rules_key_rotation_why(c->inv, c->key) != NULL;
}
static bool s_rotation_unrestorable(const km_rule_ctx_t *c) {
  return km_rules_secret_rotation_why(c->secret) != NULL;
}

static bool always(const km_rule_ctx_t *c) {
  (void)c;
  return true;
}

/* ---- secret predicates (first match wins) ---- */

static bool s_done(const km_rule_ctx_t *c) {
  return c->secret->dkms_instance_id != NULL;
}
static bool s_selection_unset(const km_rule_ctx_t *c) {
  return c->inv->select == NULL || c->inv->select->secrets == KM_SEL_UNSET;
}
static bool s_not_selected(const km_rule_ctx_t *c) {
  const km_select_t *sel = c->inv->select;
  if (sel == NULL) return true;
  if (sel->secrets == KM_SEL_ALL_PENDING) return false;
  if (sel->secrets != KM_SEL_LIST) return true;
  return !any_glob(&sel->secret_names, c->secret->secret_name);
}
/* A secret with no EncryptionKeyId, or one encrypted by a service key, uses
 * a key the vendor moves itself. */
static bool s_has_cmk(const km_rule_ctx_t *c) {
  return c->secret->encryption_key_id != NULL &&
         (c->cmk == NULL || !is_service_key(c->cmk));
}
static bool s_cmk_unknown(const km_rule_ctx_t *c) {
  return s_has_cmk(c) && c->cmk == NULL;
}
static bool cmk_moves_or_moved(const km_inv_key_t *k) {
  return km_verdict_moves(k->verdict) || k->verdict == KM_VERDICT_DONE ||
         k->verdict == KM_VERDICT_MIGRATED;
}
static bool s_cmk_not_selected(const km_rule_ctx_t *c) {
  return s_has_cmk(c) && c->cmk != NULL && !cmk_moves_or_moved(c->cmk) &&
         (eq(c->cmk->rule, "key.not_selected") ||
          eq(c->cmk->rule, "key.selection_unset"));
}
static bool s_cmk_unmovable(const km_rule_ctx_t *c) {
  return s_has_cmk(c) && c->cmk != NULL && !cmk_moves_or_moved(c->cmk);
}
static bool s_duplicate(const km_rule_ctx_t *c) {
  return c->dup_owner != NULL;
}

/* ---- instance predicates (every match reports) ---- */

static bool i_not_configured(const km_rule_ctx_t *c) {
  return c->inv->instance_id == NULL;
}
static bool i_not_found(const km_rule_ctx_t *c) {
  return c->inv->instance_id != NULL && !c->inv->inst.present;
}
static bool i_not_enabled(const km_rule_ctx_t *c) {
  const char *st = c->inv->inst.status;
  return c->inv->inst.present &&
         (st == NULL ||
          (strcasecmp(st, "Connected") != 0 && strcasecmp(st, "Enabled") != 0));
}
static bool i_expired(const km_rule_ctx_t *c) {
  int64_t left;
  return km__rule_seconds_left(c, &left) && left <= 0;
}
static bool i_expiring(const km_rule_ctx_t *c) {
  int64_t left;
  return km__rule_seconds_left(c, &left) && left > 0 &&
         left <= (int64_t)EXPIRY_WARN_DAYS * 86400;
}
static bool i_auto_renew_off(const km_rule_ctx_t *c) {
  return c->inv->instance_id != NULL && c->inv->auto_renew == 0;
}
static bool i_auto_renew_unknown(const km_rule_ctx_t *c) {
  return c->inv->instance_id != NULL && c->inv->auto_renew < 0;
}
static bool i_type_unknown(const km_rule_ctx_t *c) {
  return c->inv->instance_id != NULL &&
         c->inv->instance_type == KM_INV_TYPE_UNKNOWN;
}
static bool i_image_unknown(const km_rule_ctx_t *c) {
  return c->inv->instance_type == KM_INV_TYPE_SOFTWARE &&
         c->inv->image_version == NULL;
}
static bool i_image_invalid(const km_rule_ctx_t *c) {
  int cmp;
  return c->inv->instance_type != KM_INV_TYPE_UNKNOWN &&
         c->inv->image_version != NULL &&
         km_version_cmp(c->inv->image_version, MIN_SOFTWARE_IMAGE, &cmp) != 0;
}
static bool i_image_too_old(const km_rule_ctx_t *c) {
  int cmp;
  return c->inv->instance_type == KM_INV_TYPE_SOFTWARE &&
         km_version_cmp(c->inv->image_version, MIN_SOFTWARE_IMAGE, &cmp) == 0 &&
         cmp < 0;
}
static bool i_hardware_image(const km_rule_ctx_t *c) {
  return c->inv->instance_type == KM_INV_TYPE_HARDWARE &&
         c->inv->image_version == NULL;
}

/* ---- the table ---- */

#define PROC "vendor procedure (seed/kms-migration-procedure.txt): "
#define OLDG "older vendor guide (DESIGN.md, Preflight): "
#define REF "reference/alibaba-kms-api.md "
#define ROT_KEY_SRC                                                            \
  "vendor UpdateRotationPolicy page (2023-12): only default keys and "         \
  "symmetric keys in software instances rotate, 7-365 days; refusals "         \
  "Rejected.UnsupportedOperation / InvalidParameter"
#define ROT_SECRET_SRC                                                         \
  "vendor UpdateSecretRotationPolicy page: RotationInterval from 168 h (7 "    \
  "days) to 8760 h"

static const km_rule_t table[] = {
    /* keys */
    {"key.already_migrated", KM_RULE_KEY, KM_VERDICT_DONE,
     "key {key} is already in KMS instance {key_instance}",
     PROC "Step 2 §1 'Migrated keys' column; " REF
          "§1 DescribeKey: DKMSInstanceId present = migrated",
     k_done},
    {"key.service", KM_RULE_KEY, KM_VERDICT_SKIPPED,
     "service key {key}: the cloud product manages it; after migration it is "
     "listed under Default Keys with usage Service Key",
     PROC "§3 'Service keys ... Key Usage column is set to Service Key'; " REF
          "§1 ListKeys CreatorType=Service, alias/acs/<svc> need no migration",
     k_service},
    {"key.pending_deletion", KM_RULE_KEY, KM_VERDICT_SKIPPED,
     "key {key} is pending deletion (DeleteDate {delete_date}); cancel the "
     "deletion (CancelKeyDeletion) and plan again to migrate it",
     PROC "Step 2 §1 note 'only shows keys that can be migrated'; " REF
          "§5 Rejected.PendingDeletion",
     k_pending_deletion},
    {"key.disabled", KM_RULE_KEY, KM_VERDICT_SKIPPED,
     "key {key} is disabled; enable it (EnableKey) and plan again to migrate "
     "it",
     PROC "Step 2 §1 note 'only shows keys that can be migrated'; " REF
          "§5 Rejected.Disabled",
     k_disabled},
    {"key.pending_import", KM_RULE_KEY, KM_VERDICT_SKIPPED,
     "key {key} has no key material (PendingImport); import its material and "
     "plan again to migrate it",
     PROC "Step 2 §1 note 'only shows keys that can be migrated'; " REF
          "§5 Rejected.PendingImport",
     k_pending_import},
    {"key.multi_version", KM_RULE_KEY, KM_VERDICT_SKIPPED,
     "key {key}: {versions} key versions; the vendor migrates single-version "
     "keys only; ask Alibaba Cloud support to move it",
     OLDG "keys with several versions are not movable; " PROC
          "Step 2 §1 note: contact technical support for keys that cannot be "
          "migrated",
     k_multi_version},
    {"key.byok_software", KM_RULE_KEY, KM_VERDICT_SKIPPED,
     "key {key} is a software-protected BYOK key (Origin EXTERNAL, "
     "ProtectionLevel SOFTWARE); the vendor does not migrate it; ask Alibaba "
     "Cloud support to move it",
     OLDG "software BYOK keys are not movable; " PROC
          "only 'HSM BYOK migration' is described",
     k_byok_software},
    {"key.byok_region", KM_RULE_KEY, KM_VERDICT_SKIPPED,
     "HSM BYOK key {key} is in {region}; HSM BYOK migration is supported only "
     "in mainland China regions",
     PROC "HSM BYOK migration, usage notes: 'supported only in mainland China "
          "regions' (mainland = cn-* except cn-hongkong, " REF "§7)",
     k_byok_region},
    {"key.byok_destination", KM_RULE_KEY, KM_VERDICT_SKIPPED,
     "HSM BYOK key {key} can only move to a hardware instance, and the "
     "destination {instance} is {instance_type}; set a hardware instance for "
     "{region} to migrate it",
     PROC "HSM BYOK procedure step 7: 'Type: Hardware Management Instance'",
     k_byok_dest},
    {"key.selection_unset", KM_RULE_KEY, KM_VERDICT_SKIPPED,
     "key {key} is not selected because the manifest does not set "
     "select.keys; write `keys: all-pending` or list the keys to migrate",
     "kmsmig: a selection that is absent selects nothing (fail closed)",
     k_selection_unset},
    {"key.not_selected", KM_RULE_KEY, KM_VERDICT_SKIPPED,
     "key {key} is not selected; add its id or an alias pattern to "
     "select.keys to migrate it",
     "manifest select.keys; " PROC
     "Step 2 §2 'Manually Select Resources' (filter by key ID, key alias)",
     k_not_selected},
    {"key.byok_hsm", KM_RULE_KEY, KM_VERDICT_NEEDS_BYOK,
     "HSM BYOK key {key}: its wrapped key material is imported for migration "
     "first (byok stage, valid 21 days), then it moves with its batch",
     PROC "HSM BYOK migration, procedure steps 1-7", k_byok_hsm},
    {"key.rotation_unrestorable", KM_RULE_KEY, KM_VERDICT_BLOCKED,
     "key {key}: its automatic rotation (every {rotation}) cannot be restored "
     "in {instance}: {rotation_why}; it stays in KMS 1.0 with its rotation. "
     "To move it, choose in KMS 1.0 what it keeps: an interval the instance "
     "allows (UpdateRotationPolicy), or rotation off to accept losing it; "
     "then plan again",
     ROT_KEY_SRC, k_rotation_unrestorable},
    {"key.pending", KM_RULE_KEY, KM_VERDICT_PENDING,
     "key {key} will be migrated to {instance}",
     PROC "Step 2 §2 Migration procedure", always},

    /* secrets */
    {"secret.already_migrated", KM_RULE_SECRET, KM_VERDICT_DONE,
     "secret {secret} is already in KMS instance {secret_instance}",
     PROC "Step 2 §1 'Migrated secrets' column; " REF
          "§1 DescribeSecret DKMSInstanceId",
     s_done},
    {"secret.selection_unset", KM_RULE_SECRET, KM_VERDICT_SKIPPED,
     "secret {secret} is not selected because the manifest does not set "
     "select.secrets; write `secrets: all-pending` or list the secrets to "
     "migrate",
     "kmsmig: a selection that is absent selects nothing (fail closed)",
     s_selection_unset},
    {"secret.not_selected", KM_RULE_SECRET, KM_VERDICT_SKIPPED,
     "secret {secret} is not selected; add its name or a pattern to "
     "select.secrets to migrate it",
     "manifest select.secrets; " PROC
     "Step 2 §2 'Manually Select Resources' (filter by secret name)",
     s_not_selected},
    {"secret.cmk_unknown", KM_RULE_SECRET, KM_VERDICT_BLOCKED,
     "secret {secret} is encrypted by key {cmk}, which ListKeys did not return "
     "for account {account} in {region}; check that the key exists and that "
     "the role may list it, then plan again",
     REF "§2 documented behaviour: 'secret encrypted by a CMK requires that "
         "CMK migrated first'",
     s_cmk_unknown},
    {"secret.cmk_not_selected", KM_RULE_SECRET, KM_VERDICT_BLOCKED,
     "secret {secret} is encrypted by key {cmk}, which is not migrated and not "
     "selected; add {cmk} to select.keys or migrate it first",
     REF "§2 documented behaviour: 'secret encrypted by a CMK requires that "
         "CMK migrated first'",
     s_cmk_not_selected},
    {"secret.cmk_unmovable", KM_RULE_SECRET, KM_VERDICT_BLOCKED,
     "secret {secret} is encrypted by key {cmk}, which this run will not "
     "migrate ({cmk_rule}: {cmk_reason}); the secret can only move after its "
     "key, so resolve the key first",
     REF "§2 documented behaviour: 'secret encrypted by a CMK requires that "
         "CMK migrated first'",
     s_cmk_unmovable},
    {"secret.duplicate_name", KM_RULE_SECRET, KM_VERDICT_BLOCKED,
     "secret {secret}: a secret with this name already exists in {instance} "
     "(account {owner}); rename one of them, then plan again",
     REF "§2 documented behaviour: 'duplicate secret names (in 1.0 or already "
         "in target) block migration'",
     s_duplicate},
    {"secret.rotation_unrestorable", KM_RULE_SECRET, KM_VERDICT_BLOCKED,
     "secret {secret}: its automatic rotation (every {rotation}) cannot be "
     "restored in {instance}: {rotation_why}; it stays in KMS 1.0 with its "
     "rotation. To move it, choose in KMS 1.0 what it keeps: an interval the "
     "instance allows (UpdateSecretRotationPolicy), or rotation off to accept "
     "losing it; then plan again",
     ROT_SECRET_SRC, s_rotation_unrestorable},
    {"secret.pending", KM_RULE_SECRET, KM_VERDICT_PENDING,
     "secret {secret} will be migrated to {instance}",
     PROC "Step 2 §2 Migration procedure", always},

    /* instance (pipeline) */
    {"instance.not_configured", KM_RULE_INSTANCE, KM_VERDICT_BLOCKED,
     "no KMS 3.0 instance is configured for {region}; add "
     "instances.{region}.id "
     "to the manifest",
     PROC "Note: one KMS 3.0 instance per region, migration within one region",
     i_not_configured},
    {"instance.not_found", KM_RULE_INSTANCE, KM_VERDICT_BLOCKED,
     "instance {instance} was not found by account {account} in {region}; "
     "check instances.{region}.id and that the instance is shared with this "
     "account",
     PROC "Step 2 §2 single-account step 1 / multi-account step 2 (share the "
          "instance)",
     i_not_found},
    {"instance.not_enabled", KM_RULE_INSTANCE, KM_VERDICT_BLOCKED,
     "instance {instance} is {status}, not Connected; enable it in the "
     "console, then plan again",
     PROC "Step 2 §2 step 1 'purchase and enable' the instance; " REF
          "§1 GetKmsInstance Status",
     i_not_enabled},
    {"instance.expired", KM_RULE_INSTANCE, KM_VERDICT_BLOCKED,
     "instance {instance} expired on {end_date}; renew it first: an expired "
     "instance is released and decryption fails",
     PROC "Step 2 §2 step 1 (expired instance: decryption failures)",
     i_expired},
    {"instance.expiring", KM_RULE_INSTANCE, KM_VERDICT_WARNING,
     "instance {instance} expires on {end_date} (in {days} days); renew it or "
     "turn on auto-renewal: an expired instance stops all decryption",
     PROC "Step 2 §2 step 1 (recommend auto-renewal)", i_expiring},
    {"instance.auto_renew_off", KM_RULE_INSTANCE, KM_VERDICT_WARNING,
     "auto_renew is false for {instance}: an expired instance stops all "
     "decryption; the vendor recommends turning auto-renewal on",
     PROC "Step 2 §2 step 1 'We recommend that you enable auto-renewal'",
     i_auto_renew_off},
    {"instance.auto_renew_unknown", KM_RULE_INSTANCE, KM_VERDICT_WARNING,
     "auto_renew is not given for {instance} (no KMS API exposes it); read it "
     "in the console and set instances.{region}.auto_renew",
     REF "§8 item 2: AutoRenew is not in the KMS APIs", i_auto_renew_unknown},
    {"instance.type_unknown", KM_RULE_INSTANCE, KM_VERDICT_BLOCKED,
     "the type of {instance} is not given; set instances.{region}.type to "
     "software or hardware",
     PROC "Step 2 §2 step 3 'Type: the type of the destination KMS instance'",
     i_type_unknown},
    {"instance.image_unknown", KM_RULE_INSTANCE, KM_VERDICT_BLOCKED,
     "the image version of software instance {instance} is not given (no API "
     "exposes it); read Image Version on the instance details page in the "
     "console and set instances.{region}.image_version",
     PROC "Step 2 §2 step 1 (image version requirement); " REF
          "§8 item 2: image version is console-only",
     i_image_unknown},
    {"instance.image_invalid", KM_RULE_INSTANCE, KM_VERDICT_BLOCKED,
     "image_version \"{image}\" of {instance} is not a version like 2.9.0; "
     "fix instances.{region}.image_version",
     PROC "Step 2 §2 step 1 (image version requirement)", i_image_invalid},
    {"instance.image_too_old", KM_RULE_INSTANCE, KM_VERDICT_BLOCKED,
     "software instance {instance} runs image {image}; upgrade the instance "
     "image to 2.9.0 or later in the console, then update "
     "instances.{region}.image_version",
     PROC "Step 2 §2 step 1 'earlier than 2.9.0, upgrade the image'; " REF "§7",
     i_image_too_old},
    {"instance.hardware_image", KM_RULE_INSTANCE, KM_VERDICT_BLOCKED,
     "hardware instance {instance}: contact Alibaba Cloud support to upgrade "
     "the hardware instance image, then set image_version in the manifest "
     "(instances.{region}.image_version)",
     PROC "Step 2 §2 step 1 'For a hardware key management instance, contact "
          "Alibaba Cloud technical support to upgrade the image version'",
     i_hardware_image},
    {"instance.image_mismatch", KM_RULE_INSTANCE, KM_VERDICT_BLOCKED,
     "the console shows image version {console_image} for {instance}, but "
     "instances.{region}.image_version says {image}; set the version the "
     "console shows (a software instance below 2.9.0 must be upgraded "
     "first), then plan again",
     PROC "Step 2 §2 step 1 (image version requirement); " REF
          "§8 item 2: image version is console-only; kmsim console model: "
          "the Migrate dialog's Instances",
     NULL},
    {"instance.task_in_region", KM_RULE_INSTANCE, KM_VERDICT_BLOCKED,
     "migration task {task} ({task_status}) is already in the console of "
     "account {account} in {region}, and the console runs one task at a "
     "time; wait until it has ended (Migration Tool, task status), then plan "
     "again",
     PROC "Step 2 §2 step 4 (the migration task and its status); kmsim "
          "console model: Console.TaskRunning",
     NULL},
    {"instance.task_unverified", KM_RULE_INSTANCE, KM_VERDICT_WARNING,
     "confirm before `kmsmig run`: no API shows the console's migration "
     "tasks, so check that the Migration Tool of account {account} in "
     "{region} shows no task running or scheduled (the console runs one task "
     "at a time and refuses another)",
     REF "§2: the migration has no public API (console only)", NULL},
    {"share.directory", KM_RULE_INSTANCE, KM_VERDICT_BLOCKED,
     "instance {instance} cannot be shared with account {account}: the owner "
     "{owner} is in resource directory {owner_rd} and {account} in "
     "{account_rd}, and sharing works only within one resource directory; "
     "invite {account} into the owner's directory or use an instance of its "
     "own directory, then plan again",
     PROC "Step 2 §2 multi-account step 2, Important: 'Sharing is supported "
          "only within a resource directory'",
     NULL},
    {"share.enterprise_unverified", KM_RULE_INSTANCE, KM_VERDICT_WARNING,
     "confirm before `kmsmig run`: no API shows an account's verified "
     "enterprise; sharing {instance} with its member accounts works only "
     "if they and the owner {owner} belong to the same real-name-verified "
     "enterprise (Resource Sharing fails the association otherwise)",
     PROC "Step 2 §2 multi-account step 2, Important: 'both the resource "
          "owner and the principal must belong to the same verified "
          "enterprise'",
     NULL},
    {"instance.quota_unknown", KM_RULE_INSTANCE, KM_VERDICT_BLOCKED,
     "instance {instance}: its key and secret quota could not be read "
     "(GetKmsInstanceQuotaInfos); grant the role kms:GetKmsInstanceQuotaInfos "
     "or check the instance, then plan again",
     PROC "Step 2 §2 step 3 'make sure your KMS instance has a sufficient "
          "quota'",
     NULL},
    {"instance.quota_keys", KM_RULE_INSTANCE, KM_VERDICT_BLOCKED,
     "instance {instance}: this run moves {need} keys but only {free} of its "
     "{quota} key quota are free ({used} used); raise the key quota or select "
     "fewer keys",
     PROC "Step 2 §2 step 3 'make sure your KMS instance has a sufficient "
          "quota'",
     NULL},
    {"instance.quota_secrets", KM_RULE_INSTANCE, KM_VERDICT_BLOCKED,
     "instance {instance}: this run moves {need} secrets but only {free} of "
     "its {quota} secret quota are free ({used} used); raise the secret quota "
     "or select fewer secrets",
     PROC "Step 2 §2 step 3 'make sure your KMS instance has a sufficient "
          "quota'",
     NULL},
};

const km_rule_t *km_rules_table(size_t *n) {
  *n = KM_ARRAY_SIZE(table);
  return table;
}

const km_rule_t *km_rules_find(const char *id) {
  for (size_t i = 0; id != NULL && i < KM_ARRAY_SIZE(table); i++)
    if (strcmp(table[i].id, id) == 0) return &table[i];
  return NULL;
}

/* ---- evaluation ---- */

static const km_rule_t *first_match(km_rule_scope_t scope,
                                    const km_rule_ctx_t *c) {
  for (size_t i = 0; i < KM_ARRAY_SIZE(table); i++)
    if (table[i].scope == scope && table[i].match != NULL && table[i].match(c))
      return &table[i];
  return NULL;
}

static const char *dup_owner(const km_inv_t *inv, const char *name) {
  const km_inv_dest_secret_t *d = km_inv_find_dest(inv, name);
  if (d == NULL) return NULL;
  return d->account ? d->account : inv->account;
}

int km_rules_eval(km_inv_t *inv, int64_t now, km_err_t *err) {
  if (inv == NULL || inv->account == NULL || inv->region == NULL)
    return km__err_set(err, KM_EINVAL,
                       "rules: inventory without account or "
                       "region");
  km_inv_sort(inv);
  vars_t *vs = km_xmalloc(sizeof(*vs));
  km_rule_ctx_t c;
  memset(&c, 0, sizeof(c));
  c.inv = inv;
  c.now = now;
  for (size_t i = 0; i < inv->nkeys; i++) {
    c.key = &inv->keys[i];
    const km_rule_t *r = first_match(KM_RULE_KEY, &c);
    char *msg = NULL;
    if (!km__rule_stable(r->message)) {
      km__rule_vars(&c, vs);
      msg = km__rule_expand(r->message, vs);
    }
    km_inv_key_decide(&inv->keys[i], r->verdict, r->id, msg);
    free(msg);
  }
  c.key = NULL;
  for (size_t i = 0; i < inv->nsecrets; i++) {
    km_inv_secret_t *s = &inv->secrets[i];
    c.secret = s;
    c.cmk = km_inv_find_key(inv, s->encryption_key_id);
    /* The secret's own migrated copy is not a duplicate of itself. */
    c.dup_owner = s->dkms_instance_id ? NULL : dup_owner(inv, s->secret_name);
    const km_rule_t *r = first_match(KM_RULE_SECRET, &c);
    char *msg = NULL;
    if (!km__rule_stable(r->message)) {
      km__rule_vars(&c, vs);
      msg = km__rule_expand(r->message, vs);
    }
    km_inv_secret_decide(s, r->verdict, r->id, msg);
    free(msg);
  }
  memset(&c, 0, sizeof(c));
  c.inv = inv;
  c.now = now;
  km_inv_clear_issues(inv, "instance.");
  km__rule_vars(&c, vs);
  for (size_t i = 0; i < KM_ARRAY_SIZE(table); i++) {
    if (table[i].scope != KM_RULE_INSTANCE || table[i].match == NULL ||
        !table[i].match(&c))
      continue;
    char *msg = km__rule_expand(table[i].message, vs);
    km_inv_add_issue(inv, table[i].id, table[i].verdict, msg);
    free(msg);
  }
  free(vs);
  return 0;
}

int km_rules_issue(km_inv_t *inv, const char *id, const char *const *extra,
                   size_t n, km_err_t *err) {
  const km_rule_t *r = km_rules_find(id);
  if (r == NULL || r->scope != KM_RULE_INSTANCE || inv == NULL)
    return km__err_set(err, KM_EINVAL, "rules: %s is not an instance rule",
                       id != NULL ? id : "(null)");
  vars_t *vs = km_xmalloc(sizeof(*vs));
  km_rule_ctx_t c;
  memset(&c, 0, sizeof(c));
  c.inv = inv;
  km__rule_vars(&c, vs);
  /* These facts come from a server's answer: no control character may
   * reach a terminal through the message. */
  for (size_t i = 0; i + 1 < 2 * n; i += 2) {
    km__rule_var(vs, extra[i], extra[i + 1]);
    for (char *v = vs->v[vs->n - 1].value; *v; v++)
      if ((unsigned char)*v < 0x20 || *v == 0x7f) *v = '?';
  }
  char *msg = km__rule_expand(r->message, vs);
  km_inv_add_issue(inv, r->id, r->verdict, msg);
  free(msg);
  free(vs);
  return 0;
}

/* ---- quota over several pipelines ---- */

static int cmp_inv_inst(const void *a, const void *b) {
  const km_inv_t *x = *(km_inv_t *const *)a, *y = *(km_inv_t *const *)b;
  int c = strcmp(x->instance_id, y->instance_id);
  if (c == 0) c = strcmp(x->account, y->account);
  return c != 0 ? c : strcmp(x->region, y->region);
}

static bool has_issue(const km_inv_t *inv, const char *rule) {
  for (size_t i = 0; i < inv->nissues; i++)
    if (strcmp(inv->issues[i].rule, rule) == 0) return true;
  return false;
}

static void quota_issue(km_inv_t *inv, const char *id, int64_t need,
                        int64_t quota, int64_t used) {
  const km_rule_t *r = km_rules_find(id);
  vars_t *vs = km_xmalloc(sizeof(*vs));
  vs->n = 0;
  km__rule_var(vs, "instance", inv->instance_id);
  km__rule_vari(vs, "need", need);
  km__rule_vari(vs, "quota", quota);
  km__rule_vari(vs, "used", used);
  km__rule_vari(vs, "free", quota - used > 0 ? quota - used : 0);
  char *msg = km__rule_expand(r->message, vs);
  km_inv_add_issue(inv, r->id, r->verdict, msg);
  free(msg);
  free(vs);
}

int km_rules_quota(km_inv_t *const *invs, size_t n, km_quota_use_t **out,
                   size_t *nout, km_err_t *err) {
  (void)err;
  *out = NULL;
  *nout = 0;
  km_inv_t **v = km_xcalloc(n, sizeof(*v));
  size_t m = 0;
  for (size_t i = 0; i < n; i++) {
    km_inv_clear_issues(invs[i], "instance.quota");
    if (invs[i]->instance_id != NULL) v[m++] = invs[i];
  }
  if (m > 1) qsort(v, m, sizeof(*v), cmp_inv_inst);
  km_quota_use_t *u = km_xcalloc(m ? m : 1, sizeof(*u));
  size_t nu = 0;
  for (size_t i = 0; i < m;) {
    size_t j = i;
    km_quota_use_t *q = &u[nu++];
    /* Interned in the inventory already (one per instance of a fleet's
     * 10,000: no copy at the barrier, where the run's memory peaks). */
    q->instance_id = (char *)km_intern(v[i]->instance_id);
    q->region = (char *)km_intern(v[i]->region);
    q->key_used = q->key_quota = q->secret_used = q->secret_quota = -1;
    for (; j < m && strcmp(v[j]->instance_id, v[i]->instance_id) == 0; j++) {
      const km_inv_instance_t *in = &v[j]->inst;
      km_inv_counts_t cnt;
      km_inv_count(v[j], &cnt);
      q->key_add += (int64_t)(cnt.keys[KM_VERDICT_PENDING] +
                              cnt.keys[KM_VERDICT_NEEDS_BYOK]);
      q->secret_add += (int64_t)cnt.secrets[KM_VERDICT_PENDING];
      /* Pipelines read the quota at different moments: keep the most
       * conservative answer (smallest quota, largest use). */
      if (in->key_quota >= 0 && in->key_used >= 0) {
        if (q->key_quota < 0 || in->key_quota < q->key_quota)
          q->key_quota = in->key_quota;
        if (in->key_used > q->key_used) q->key_used = in->key_used;
      }
      if (in->secret_quota >= 0 && in->secret_used >= 0) {
        if (q->secret_quota < 0 || in->secret_quota < q->secret_quota)
          q->secret_quota = in->secret_quota;
        if (in->secret_used > q->secret_used) q->secret_used = in->secret_used;
      }
      q->pipelines++;
    }
    bool known = q->key_quota >= 0 && q->secret_quota >= 0;
    q->keys_ok = q->key_add == 0 || (q->key_quota >= 0 &&
                                     q->key_used + q->key_add <= q->key_quota);
    q->secrets_ok = q->secret_add == 0 ||
                    (q->secret_quota >= 0 &&
                     q->secret_used + q->secret_add <= q->secret_quota);
    for (size_t k = i; k < j; k++) {
      /* An instance that is not usable (instance.not_enabled, .expired)
       * has no quota to read: its own rule says what to fix. */
      if (!known && (q->key_add > 0 || q->secret_add > 0) &&
          !has_issue(v[k], "instance.not_enabled") &&
          !has_issue(v[k], "instance.expired"))
        quota_issue(v[k], "instance.quota_unknown", 0, 0, 0);
      if (known && !q->keys_ok)
        quota_issue(v[k], "instance.quota_keys", q->key_add, q->key_quota,
                    q->key_used);
      if (known && !q->secrets_ok)
        quota_issue(v[k], "instance.quota_secrets", q->secret_add,
                    q->secret_quota, q->secret_used);
    }
    i = j;
  }
  free(v);
  if (nu == 0) {
    free(u);
    u = NULL;
  }
  *out = u;
  *nout = nu;
  return 0;
}

void km_quota_uses_free(km_quota_use_t *u, size_t n) {
  for (size_t i = 0; u != NULL && i < n; i++) {
    km_str_free(u[i].instance_id);
    km_str_free(u[i].region);
  }
  free(u);
}
