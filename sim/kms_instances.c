/* KMS 3.0 instance actions on the shared gateway: ListKmsInstances,
 * GetKmsInstance (SecretNum a string, ZoneIds/VswitchIds bare arrays, no
 * image version or auto-renew: those are console-only facts, reference
 * §1/§8), GetKmsInstanceQuotaInfos (bare array) and GetDefaultKmsInstance
 * (there is no setter: the emulated console sets it).  An instance is
 * visible to its owner and to the accounts it is shared with. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kms_common.h"

static char *instance_arn(const ksim_instance_t *i) {
  return km_xasprintf("acs:kms:%s:%s:keystore/%s", i->region, i->owner, i->id);
}

static int list_instances(ksim_req_t *req, ksim_resp_t *resp) {
  long page, size;
  if (ksim_paging(req, resp, 20, 100, &page, &size) < 0) return -1;
  json_t *arr = json_array();
  size_t total = 0;
  for (size_t i = 0; i < req->cloud->instances.n; i++) {
    ksim_instance_t *inst = req->cloud->instances.v[i];
    if (strcmp(inst->region, req->region) != 0 ||
        !ksim_instance_visible(inst, req->account))
      continue;
    if (total >= (size_t)((page - 1) * size) && total < (size_t)(page * size)) {
      char *arn = instance_arn(inst);
      json_array_append_new(arr, json_pack("{s:s, s:s}", "KmsInstanceId",
                                           inst->id, "KmsInstanceArn", arn));
      free(arn);
    }
    total++;
  }
  json_t *body = json_pack("{s:{s:o}}", "KmsInstances", "KmsInstance", arr);
  ksim_paging_set(body, page, size, total);
  return ksim_ok(resp, body);
}

static ksim_instance_t *find(ksim_req_t *req, ksim_resp_t *resp,
                             const char *id) {
  ksim_instance_t *i = ksim_instance_by_id(req->cloud, id);
  if (i == NULL || strcmp(i->region, req->region) != 0 ||
      !ksim_instance_visible(i, req->account)) {
    ksim_fail(resp, "Forbidden.DKMSInstanceNotFound",
              "The specified KMS instance is not found.");
    return NULL;
  }
  return i;
}

static json_t *strs(const ksim_strs_t *s) {
  json_t *a = json_array();
  for (size_t i = 0; i < s->n; i++)
    json_array_append_new(a, json_string(s->v[i]));
  return a;
}

static int get_instance(ksim_req_t *req, ksim_resp_t *resp) {
  const char *id = ksim_param_req(req, resp, "KmsInstanceId");
  if (id == NULL) return -1;
  ksim_instance_t *i = find(req, resp, id);
  if (i == NULL) return -1;
  char secret_num[32];
  snprintf(secret_num, sizeof(secret_num), "%ld", i->secret_num);
  json_t *k = json_object();
  json_object_set_new(k, "InstanceId", json_string(i->id));
  json_object_set_new(k, "InstanceName", json_string(i->name));
  json_object_set_new(k, "Status", json_string(i->status));
  json_object_set_new(k, "ProductVersion", json_string("3"));
  json_object_set_new(k, "ProductType", json_string(i->product_type));
  json_object_set_new(k, "Spec", json_integer(i->spec));
  json_object_set_new(k, "KeyNum", json_integer(i->key_num));
  json_object_set_new(k, "SecretNum", json_string(secret_num));
  json_object_set_new(k, "VpcNum", json_integer(i->vpc_num));
  json_object_set_new(k, "VpcId", json_string(i->vpc_id));
  json_object_set_new(k, "ZoneIds", strs(&i->zones));
  json_object_set_new(k, "VswitchIds", strs(&i->vswitches));
  json_t *bind = json_array();
  for (long n = 0; n < i->bound_vpcs; n++)
    json_array_append_new(
        bind, json_pack("{s:s, s:s, s:s, s:s}", "VpcId", i->vpc_id, "VSwitchId",
                        i->vswitches.n > 0 ? i->vswitches.v[0] : "", "RegionId",
                        i->region, "VpcOwnerId", i->owner));
  json_object_set_new(k, "BindVpcs", json_pack("{s:o}", "BindVpc", bind));
  json_object_set_new(k, "StartDate", ksim_json_time(i->start));
  json_object_set_new(k, "EndDate", ksim_json_time(i->end));
  json_object_set_new(k, "CreateTime", ksim_json_time(i->created));
  json_object_set_new(k, "ChargeType", json_string(i->charge_type));
  json_object_set_new(k, "SaleStatus", json_string("Normal"));
  json_object_set_new(k, "Log", json_integer(0));
  json_object_set_new(k, "LogStorage", json_integer(0));
  json_object_set_new(k, "CaCertificateChainPem", json_string(""));
  json_object_set_new(k, "DeletionProtection", json_false());
  json_object_set_new(k, "DeletionProtectionDescription", json_string(""));
  return ksim_ok(resp, json_pack("{s:o}", "KmsInstance", k));
}

static int quota_infos(ksim_req_t *req, ksim_resp_t *resp) {
  const char *id = ksim_param_req(req, resp, "KmsInstanceId");
  if (id == NULL) return -1;
  const char *type = ksim_param(req, "ResourceType");
  if (type != NULL && type[0] != '\0' && strcmp(type, "key") != 0 &&
      strcmp(type, "secret") != 0 && strcmp(type, "qps") != 0 &&
      strcmp(type, "vpc") != 0)
    return ksim_fail_invalid(resp, "ResourceType");
  ksim_instance_t *i = find(req, resp, id);
  if (i == NULL) return -1;
  if (strcmp(i->status, "Connected") != 0 || i->end <= req->now)
    return ksim_fail(resp, "Forbidden.DKMSInstanceStateInvalid",
                     "The KMS instance is not in a valid state.");
  long keys, secrets;
  ksim_instance_usage(req->cloud, i, &keys, &secrets);
  struct {
    const char *type;
    long quota, used;
  } rows[] = {{"key", i->key_num, keys},
              {"secret", i->secret_num, secrets},
              {"qps", i->spec, 0},
              {"vpc", i->vpc_num, (long)i->shared_with.n + i->bound_vpcs}};
  json_t *arr = json_array();
  for (size_t n = 0; n < KM_ARRAY_SIZE(rows); n++) {
    if (type != NULL && type[0] != '\0' && strcmp(type, rows[n].type) != 0)
      continue;
    json_array_append_new(
        arr, json_pack("{s:s, s:I, s:I}", "ResourceType", rows[n].type,
                       "ResourceQuota", (json_int_t)rows[n].quota,
                       "UsedQuantity", (json_int_t)rows[n].used));
  }
  return ksim_ok(resp, json_pack("{s:s, s:o}", "KmsInstanceId", i->id,
                                 "KmsInstanceQuotaInfos", arr));
}

static int get_default_instance(ksim_req_t *req, ksim_resp_t *resp) {
  ksim_region_t *r = ksim_kms_region(req);
  return ksim_ok(
      resp, json_pack("{s:s}", "DefaultKmsInstanceId",
                      r->default_instance != NULL ? r->default_instance : ""));
}

static const ksim_action_t kms_instance_actions[] = {
    {"ListKmsInstances", list_instances, "instance-read", 0},
    {"GetKmsInstance", get_instance, "instance-read", 0},
    {"GetKmsInstanceQuotaInfos", quota_infos, "instance-read", 0},
    {"GetDefaultKmsInstance", get_default_instance, "instance-read", 0},
    {NULL, NULL, NULL, 0}};

KSIM_REGISTER_ACTIONS("kms", kms_instance_actions)
