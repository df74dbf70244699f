/* Every cloud action kmsmig or a hook may call, with its class.
 *
 * Plan mode promises to change nothing; a list of write-verb prefixes could
 * not keep that promise (AcceptResourceShareInvitation, StopLogging,
 * MoveAccount and "updateRotationPolicy" all went out).  So the promise is
 * an allow-list instead: plan mode sends only the actions this table marks
 * READ, and nothing outside the table is sent in any mode.  Names are exact
 * and case-sensitive (the cloud's own spelling).  GetSecretValue is the one
 * SECRET action: kmsmig never needs a secret's value and a hook must never
 * see one (it could reach the hook's log), so hooks are refused it always.
 *
 * To let a hook call a new action, add it here with its true class. */
#include <string.h>

#include "engine/actions.h"
#include "util/util.h"

static const struct {
  const char *product, *action;
  km_act_class_t cls;
} table[] = {
    /* KMS: instances and defaults */
    {"kms", "DescribeRegions", KM_ACT_READ},
    {"kms", "DescribeAccountKmsStatus", KM_ACT_READ},
    {"kms", "GetKmsInstance", KM_ACT_READ},
    {"kms", "ListKmsInstances", KM_ACT_READ},
    {"kms", "GetKmsInstanceQuotaInfos", KM_ACT_READ},
    {"kms", "GetDefaultKmsInstance", KM_ACT_READ},
    {"kms", "SetDefaultKmsInstance", KM_ACT_WRITE},
    {"kms", "ConnectKmsInstance", KM_ACT_WRITE},
    {"kms", "UpdateKmsInstanceBindVpc", KM_ACT_WRITE},
    {"kms", "ReleaseKmsInstance", KM_ACT_WRITE},
    {"kms", "OpenKmsService", KM_ACT_WRITE},
    /* KMS: keys */
    {"kms", "DescribeKey", KM_ACT_READ},
    {"kms", "ListKeys", KM_ACT_READ},
    {"kms", "DescribeKeyVersion", KM_ACT_READ},
    {"kms", "ListKeyVersions", KM_ACT_READ},
    {"kms", "GetPublicKey", KM_ACT_READ},
    {"kms", "ListAliases", KM_ACT_READ},
    {"kms", "ListAliasesByKeyId", KM_ACT_READ},
    {"kms", "ListTagResources", KM_ACT_READ},
    {"kms", "ListResourceTags", KM_ACT_READ},
    {"kms", "GetKeyPolicy", KM_ACT_READ},
    /* Issues an import token and wrapping key; changes no resource. */
    {"kms", "GetParametersForImport", KM_ACT_READ},
    {"kms", "CreateKey", KM_ACT_WRITE},
    {"kms", "CreateKeyVersion", KM_ACT_WRITE},
    {"kms", "CreateAlias", KM_ACT_WRITE},
    {"kms", "UpdateAlias", KM_ACT_WRITE},
    {"kms", "DeleteAlias", KM_ACT_WRITE},
    {"kms", "UpdateKeyDescription", KM_ACT_WRITE},
    {"kms", "UpdateRotationPolicy", KM_ACT_WRITE},
    {"kms", "EnableKey", KM_ACT_WRITE},
    {"kms", "DisableKey", KM_ACT_WRITE},
    {"kms", "ScheduleKeyDeletion", KM_ACT_WRITE},
    {"kms", "CancelKeyDeletion", KM_ACT_WRITE},
    {"kms", "SetDeletionProtection", KM_ACT_WRITE},
    {"kms", "SetKeyPolicy", KM_ACT_WRITE},
    {"kms", "ImportKeyMaterial", KM_ACT_WRITE},
    {"kms", "DeleteKeyMaterial", KM_ACT_WRITE},
    {"kms", "TagResource", KM_ACT_WRITE},
    {"kms", "TagResources", KM_ACT_WRITE},
    {"kms", "UntagResource", KM_ACT_WRITE},
    {"kms", "UntagResources", KM_ACT_WRITE},
    /* KMS: cryptography (uses a key; not a read) */
    {"kms", "Encrypt", KM_ACT_CRYPTO},
    {"kms", "Decrypt", KM_ACT_CRYPTO},
    {"kms", "ReEncrypt", KM_ACT_CRYPTO},
    {"kms", "GenerateDataKey", KM_ACT_CRYPTO},
    {"kms", "GenerateDataKeyWithoutPlaintext", KM_ACT_CRYPTO},
    {"kms", "AsymmetricSign", KM_ACT_CRYPTO},
    {"kms", "AsymmetricVerify", KM_ACT_CRYPTO},
    /* KMS: secrets */
    {"kms", "ListSecrets", KM_ACT_READ},
    {"kms", "DescribeSecret", KM_ACT_READ},
    {"kms", "ListSecretVersionIds", KM_ACT_READ},
    {"kms", "GetSecretPolicy", KM_ACT_READ},
    {"kms", "GetSecretValue", KM_ACT_SECRET},
    {"kms", "UpdateSecretRotationPolicy", KM_ACT_WRITE},
    {"kms", "UpdateSecret", KM_ACT_WRITE},
    {"kms", "SetSecretPolicy", KM_ACT_WRITE},
    {"kms", "RotateSecret", KM_ACT_WRITE},
    {"kms", "RestoreSecret", KM_ACT_WRITE},
    /* STS, Resource Management, Resource Sharing, CloudMonitor */
    {"sts", "GetCallerIdentity", KM_ACT_READ},
    {"sts", "AssumeRole", KM_ACT_READ}, /* issues a token; changes nothing */
    {"resourcemanager", "GetResourceDirectory", KM_ACT_READ},
    {"resourcemanager", "ListAccounts", KM_ACT_READ},
    {"resourcemanager", "ListAccountsForParent", KM_ACT_READ},
    {"resourcemanager", "ListFoldersForParent", KM_ACT_READ},
    {"resourcemanager", "GetAccount", KM_ACT_READ},
    {"resourcesharing", "ListResourceShares", KM_ACT_READ},
    {"resourcesharing", "ListResourceShareAssociations", KM_ACT_READ},
    {"resourcesharing", "ListSharedResources", KM_ACT_READ},
    {"resourcesharing", "ListSharedTargets", KM_ACT_READ},
    {"resourcesharing", "ListPermissions", KM_ACT_READ},
    {"resourcesharing", "CheckSharingWithResourceDirectoryStatus", KM_ACT_READ},
    {"resourcesharing", "CreateResourceShare", KM_ACT_WRITE},
    {"resourcesharing", "AssociateResourceShare", KM_ACT_WRITE},
    {"resourcesharing", "DisassociateResourceShare", KM_ACT_WRITE},
    {"resourcesharing", "DeleteResourceShare", KM_ACT_WRITE},
    {"resourcesharing", "EnableSharingWithResourceDirectory", KM_ACT_WRITE},
    {"cms", "DescribeMetricLast", KM_ACT_READ},
    {"cms", "DescribeMetricList", KM_ACT_READ},
    /* ActionTrail: who called what (the monitor stage) */
    {"actiontrail", "LookupEvents", KM_ACT_READ},
};

km_act_class_t km_action_class(const char *product, const char *action) {
  if (product == NULL || action == NULL) return KM_ACT_UNKNOWN;
  for (size_t i = 0; i < KM_ARRAY_SIZE(table); i++)
    if (strcmp(table[i].action, action) == 0 &&
        strcmp(table[i].product, product) == 0)
      return table[i].cls;
  return KM_ACT_UNKNOWN;
}

const char *km_action_class_name(km_act_class_t c) {
  static const char *const names[] = {"unknown", "read", "write", "crypto",
                                      "secret"};
  return (unsigned)c < KM_ARRAY_SIZE(names) ? names[c] : "unknown";
}

size_t km_action_count(void) {
  return KM_ARRAY_SIZE(table);
}

void km_action_at(size_t i, const char **product, const char **action,
                  km_act_class_t *cls) {
  *product = table[i].product;
  *action = table[i].action;
  *cls = table[i].cls;
}
