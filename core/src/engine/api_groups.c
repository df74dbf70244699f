/* The API groups of the cloud's per-account, per-region QPS limits, and the
 * one table that puts every action kmsmig can send (engine/actions.c) in a
 * group.  Figures: reference §5 (published, shared gateway), issue 13 for
 * Secrets Manager (list and metadata 40, value 450, create/delete 10);
 * groups marked "assumed" have no published figure and kmsim enforces the
 * same assumption only when a fixture asks for it.
 *
 * Fail closed: an action the table does not name is paced in "unlisted",
 * the most conservative figure (1 QPS, the lowest published), so a new
 * action can never be sent faster than the cloud allows by accident;
 * tests/unit/test_ratelimit.c proves that every action of the action table
 * has a group here.
 *
 * The table also says which writes may be sent again when an attempt's
 * outcome is unknown (the connection was lost after the request went out,
 * or a 500): a write that sets a state to a value is resendable; one that
 * creates or associates is not, and is left to the stage's own detection
 * (the share stage finds its share and associations by name when the run is
 * resumed). */
#include <string.h>

#include "engine/ratelimit.h"
#include "kmsmig/errors.h"
#include "util/util.h"

static const struct {
  const char *name;
  double qps;
} groups[KM_RL_NGROUPS] = {
    [KM_RL_ACTIVATION] = {"activation", 1},
    [KM_RL_INSTANCE_READ] = {"instance-read", 50},
    [KM_RL_INSTANCE_WRITE] = {"instance-write", 10},
    [KM_RL_KEY_READ] = {"key-read", 50},
    [KM_RL_KEY_TAG_READ] = {"key-tag-read", 300},
    [KM_RL_CREATE_KEY] = {"create-key", 10},
    [KM_RL_KEY_WRITE] = {"key-write", 30},
    [KM_RL_CRYPTO_SYM] = {"crypto-sym", 1000},
    [KM_RL_CRYPTO_ASYM] = {"crypto-asym", 200},
    [KM_RL_SECRET_META] = {"secret-meta", 40},
    [KM_RL_SECRET_VALUE] = {"secret-value", 450},
    [KM_RL_SECRET_CREATE] = {"secret-create", 10},
    [KM_RL_STS] = {"sts", 100}, /* assumed */
    [KM_RL_RM] = {"rm", 50},    /* assumed */
    [KM_RL_RS] = {"rs", 20},    /* assumed */
    [KM_RL_CMS] = {"cms", 50},  /* assumed */
    /* LookupEvents' page: "at most twice per second" (per account; the
     * buckets are per account and region, and throttling answers teach a
     * bucket less when regions share it) */
    [KM_RL_ACTIONTRAIL] = {"actiontrail", 2},
    [KM_RL_UNLISTED] = {"unlisted", 1},
};

/* R: a write that may be resent when an attempt's outcome is unknown
 * (reads, which change nothing, always may). */
#define R 1
static const struct {
  const char *product, *action;
  km_rl_group_t group;
  int resend;
} actions[] = {
    {"kms", "DescribeAccountKmsStatus", KM_RL_ACTIVATION, R},
    {"kms", "OpenKmsService", KM_RL_ACTIVATION, R},
    {"kms", "GetKmsInstance", KM_RL_INSTANCE_READ, R},
    {"kms", "ListKmsInstances", KM_RL_INSTANCE_READ, R},
    {"kms", "GetDefaultKmsInstance", KM_RL_INSTANCE_READ, R},
    {"kms", "GetKmsInstanceQuotaInfos", KM_RL_INSTANCE_READ, R},
    {"kms", "SetDefaultKmsInstance", KM_RL_INSTANCE_WRITE, R},
    {"kms", "ConnectKmsInstance", KM_RL_INSTANCE_WRITE, 0},
    {"kms", "UpdateKmsInstanceBindVpc", KM_RL_INSTANCE_WRITE, R},
    {"kms", "ReleaseKmsInstance", KM_RL_INSTANCE_WRITE, 0},
    {"kms", "DescribeKey", KM_RL_KEY_READ, R},
    {"kms", "ListKeys", KM_RL_KEY_READ, R},
    {"kms", "DescribeKeyVersion", KM_RL_KEY_READ, R},
    {"kms", "ListKeyVersions", KM_RL_KEY_READ, R},
    {"kms", "GetPublicKey", KM_RL_KEY_READ, R},
    {"kms", "ListAliases", KM_RL_KEY_READ, R},
    {"kms", "ListAliasesByKeyId", KM_RL_KEY_READ, R},
    {"kms", "ListTagResources", KM_RL_KEY_READ, R},
    {"kms", "GetParametersForImport", KM_RL_KEY_READ, R},
    {"kms", "GetKeyPolicy", KM_RL_KEY_READ, R},
    {"kms", "DescribeRegions", KM_RL_KEY_READ, R},
    {"kms", "ListResourceTags", KM_RL_KEY_TAG_READ, R},
    {"kms", "CreateKey", KM_RL_CREATE_KEY, 0},
    {"kms", "CreateKeyVersion", KM_RL_CREATE_KEY, 0},
    {"kms", "CreateAlias", KM_RL_KEY_WRITE, 0},
    {"kms", "UpdateAlias", KM_RL_KEY_WRITE, R},
    {"kms", "DeleteAlias", KM_RL_KEY_WRITE, 0},
    {"kms", "UpdateKeyDescription", KM_RL_KEY_WRITE, R},
    {"kms", "UpdateRotationPolicy", KM_RL_KEY_WRITE, R},
    {"kms", "EnableKey", KM_RL_KEY_WRITE, R},
    {"kms", "DisableKey", KM_RL_KEY_WRITE, R},
    {"kms", "ScheduleKeyDeletion", KM_RL_KEY_WRITE, 0},
    {"kms", "CancelKeyDeletion", KM_RL_KEY_WRITE, 0},
    {"kms", "SetDeletionProtection", KM_RL_KEY_WRITE, R},
    {"kms", "SetKeyPolicy", KM_RL_KEY_WRITE, R},
    /* The same material into the same key (the procedure: a re-import must
     * be the key's original material): twice is once. */
    {"kms", "ImportKeyMaterial", KM_RL_KEY_WRITE, R},
    {"kms", "DeleteKeyMaterial", KM_RL_KEY_WRITE, 0},
    {"kms", "TagResource", KM_RL_KEY_WRITE, R},
    {"kms", "TagResources", KM_RL_KEY_WRITE, R},
    {"kms", "UntagResource", KM_RL_KEY_WRITE, R},
    {"kms", "UntagResources", KM_RL_KEY_WRITE, R},
    {"kms", "Encrypt", KM_RL_CRYPTO_SYM, R},
    {"kms", "Decrypt", KM_RL_CRYPTO_SYM, R},
    {"kms", "ReEncrypt", KM_RL_CRYPTO_SYM, R},
    {"kms", "GenerateDataKey", KM_RL_CRYPTO_SYM, R},
    {"kms", "GenerateDataKeyWithoutPlaintext", KM_RL_CRYPTO_SYM, R},
    {"kms", "AsymmetricSign", KM_RL_CRYPTO_ASYM, R},
    {"kms", "AsymmetricVerify", KM_RL_CRYPTO_ASYM, R},
    {"kms", "ListSecrets", KM_RL_SECRET_META, R},
    {"kms", "DescribeSecret", KM_RL_SECRET_META, R},
    {"kms", "ListSecretVersionIds", KM_RL_SECRET_META, R},
    {"kms", "GetSecretPolicy", KM_RL_SECRET_META, R},
    {"kms", "UpdateSecretRotationPolicy", KM_RL_SECRET_META, R},
    {"kms", "UpdateSecret", KM_RL_SECRET_META, R},
    {"kms", "SetSecretPolicy", KM_RL_SECRET_META, R},
    {"kms", "GetSecretValue", KM_RL_SECRET_VALUE, R},
    {"kms", "CreateSecret", KM_RL_SECRET_CREATE, 0},
    {"kms", "DeleteSecret", KM_RL_SECRET_CREATE, 0},
    {"kms", "RotateSecret", KM_RL_SECRET_CREATE, 0},
    {"kms", "RestoreSecret", KM_RL_SECRET_CREATE, 0},
    {"sts", "GetCallerIdentity", KM_RL_STS, R},
    {"sts", "AssumeRole", KM_RL_STS, R},
    {"resourcemanager", "GetResourceDirectory", KM_RL_RM, R},
    {"resourcemanager", "ListAccounts", KM_RL_RM, R},
    {"resourcemanager", "ListAccountsForParent", KM_RL_RM, R},
    {"resourcemanager", "ListFoldersForParent", KM_RL_RM, R},
    {"resourcemanager", "GetAccount", KM_RL_RM, R},
    {"resourcesharing", "ListResourceShares", KM_RL_RS, R},
    {"resourcesharing", "ListResourceShareAssociations", KM_RL_RS, R},
    {"resourcesharing", "ListSharedResources", KM_RL_RS, R},
    {"resourcesharing", "ListSharedTargets", KM_RL_RS, R},
    {"resourcesharing", "ListPermissions", KM_RL_RS, R},
    {"resourcesharing", "CheckSharingWithResourceDirectoryStatus", KM_RL_RS, R},
    {"resourcesharing", "CreateResourceShare", KM_RL_RS, 0},
    {"resourcesharing", "AssociateResourceShare", KM_RL_RS, 0},
    {"resourcesharing", "DisassociateResourceShare", KM_RL_RS, 0},
    {"resourcesharing", "DeleteResourceShare", KM_RL_RS, 0},
    {"resourcesharing", "EnableSharingWithResourceDirectory", KM_RL_RS, R},
    {"cms", "DescribeMetricLast", KM_RL_CMS, R},
    {"cms", "DescribeMetricList", KM_RL_CMS, R},
    {"actiontrail", "LookupEvents", KM_RL_ACTIONTRAIL, R},
};
#undef R

const char *km_rl_group_name(km_rl_group_t g) {
  return (unsigned)g < KM_RL_NGROUPS ? groups[g].name : "unlisted";
}

int km_rl_group_from_name(const char *name, km_rl_group_t *out) {
  for (int g = 0; name != NULL && g < KM_RL_NGROUPS; g++)
    if (strcmp(groups[g].name, name) == 0) {
      *out = (km_rl_group_t)g;
      return 0;
    }
  return KM_ENOENT;
}

double km_rl_group_qps(km_rl_group_t g) {
  return groups[(unsigned)g < KM_RL_NGROUPS ? g : KM_RL_UNLISTED].qps;
}

static int find(const char *product, const char *action) {
  if (product == NULL || action == NULL) return -1;
  for (size_t i = 0; i < KM_ARRAY_SIZE(actions); i++)
    if (strcmp(actions[i].action, action) == 0 &&
        strcmp(actions[i].product, product) == 0)
      return (int)i;
  return -1;
}

km_rl_group_t km_rl_action_group(const char *product, const char *action) {
  int i = find(product, action);
  return i >= 0 ? actions[i].group : KM_RL_UNLISTED;
}

int km_rl_action_resendable(const char *product, const char *action) {
  int i = find(product, action);
  return i >= 0 ? actions[i].resend : 0;
}

const char *km_rl_api_group(const char *product, const char *action,
                            double *qps) {
  km_rl_group_t g = km_rl_action_group(product, action);
  *qps = km_rl_group_qps(g);
  return km_rl_group_name(g);
}
