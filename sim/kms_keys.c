/* KMS 2016-01-20 key management actions on the shared gateway: listing and
 * describing keys, aliases and versions, the rotation policy (with the real
 * refusals: asymmetric, service, EXTERNAL, non-Enabled keys and keys in a
 * hardware instance; 7-365 days in an instance, 7-730 for KMS 1.0),
 * key policies (instance keys only) and tag queries.  Shapes follow
 * reference §0-§1: lists wrapped as {"Keys":{"Key":[...]}}. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kms_common.h"

static json_t *key_ref(const ksim_req_t *req, const ksim_key_t *k) {
  char *arn = ksim_key_arn(req->region, req->account->id, k->id);
  json_t *o = json_pack("{s:s, s:s}", "KeyId", k->id, "KeyArn", arn);
  free(arn);
  return o;
}

static bool tag_match(const ksim_tags_t *t, json_t *keys, json_t *vals) {
  if (keys == NULL && vals == NULL) return true;
  for (size_t i = 0; i < t->n; i++)
    if (ksim_filter_match(keys, t->v[i].key, false) &&
        ksim_filter_match(vals, t->v[i].value, false))
      return true;
  return false;
}

static int list_keys(ksim_req_t *req, ksim_resp_t *resp) {
  static const char *const allowed[] = {
      "KeyState",    "KeySpec",        "KeyUsage", "ProtectionLevel",
      "CreatorType", "DKMSInstanceId", "KeyId",    "keyId",
      "AliasName",   "Creator",        "TagKey",   "TagValue",
      NULL};
  long page, size;
  if (ksim_paging(req, resp, 10, 100, &page, &size) < 0) return -1;
  ksim_filters_t f;
  if (ksim_filters_parse(req, resp, allowed, &f) < 0) return -1;
  json_t *state = ksim_filters_values(&f, "KeyState"),
         *spec = ksim_filters_values(&f, "KeySpec"),
         *usage = ksim_filters_values(&f, "KeyUsage"),
         *prot = ksim_filters_values(&f, "ProtectionLevel"),
         *ctype = ksim_filters_values(&f, "CreatorType"),
         *inst = ksim_filters_values(&f, "DKMSInstanceId"),
         *kid = ksim_filters_values(&f, "KeyId"),
         *kid2 = ksim_filters_values(&f, "keyId"),
         *alias = ksim_filters_values(&f, "AliasName"),
         *creator = ksim_filters_values(&f, "Creator"),
         *tk = ksim_filters_values(&f, "TagKey"),
         *tv = ksim_filters_values(&f, "TagValue");
  ksim_region_t *r = ksim_kms_region(req);
  json_t *arr = json_array();
  size_t total = 0;
  for (size_t i = 0; i < r->keys.n; i++) {
    ksim_key_t *k = r->keys.v[i];
    if (!ksim_filter_match(state, k->state, false) ||
        !ksim_filter_match(spec, k->spec, false) ||
        !ksim_filter_match(usage, k->usage, false) ||
        !ksim_filter_match(prot, k->protection, false) ||
        !ksim_filter_match(ctype, k->service ? "Service" : "User", false) ||
        !ksim_filter_match(inst, k->instance_id, false) ||
        !ksim_filter_match(kid, k->id, false) ||
        !ksim_filter_match(kid2, k->id, false) ||
        !ksim_filter_match(creator, k->creator, false) ||
        !tag_match(&k->tags, tk, tv))
      continue;
    if (alias != NULL) {
      bool any = false;
      for (size_t j = 0; j < k->aliases.n; j++)
        any |= ksim_filter_match(alias, k->aliases.v[j], false);
      if (!any) continue;
    }
    if (total >= (size_t)((page - 1) * size) && total < (size_t)(page * size))
      json_array_append_new(arr, key_ref(req, k));
    total++;
  }
  ksim_filters_free(&f);
  json_t *body = json_pack("{s:{s:o}}", "Keys", "Key", arr);
  ksim_paging_set(body, page, size, total);
  return ksim_ok(resp, body);
}

static void set_time(json_t *o, const char *k, int64_t t) {
  json_object_set_new(o, k, ksim_json_time(t));
}

static json_t *key_metadata(const ksim_req_t *req, const ksim_key_t *k) {
  json_t *m = json_object();
  char *arn = ksim_key_arn(req->region, req->account->id, k->id);
  json_object_set_new(m, "KeyId", json_string(k->id));
  json_object_set_new(m, "Arn", json_string(arn));
  free(arn);
  json_object_set_new(m, "Description", json_string(k->description));
  json_object_set_new(m, "Creator", json_string(k->creator));
  set_time(m, "CreationDate", k->created);
  json_object_set_new(m, "KeyState", json_string(k->state));
  json_object_set_new(m, "KeySpec", json_string(k->spec));
  json_object_set_new(m, "KeyUsage", json_string(k->usage));
  json_object_set_new(m, "Origin", json_string(k->origin));
  json_object_set_new(m, "ProtectionLevel", json_string(k->protection));
  if (k->versions.n > 0)
    json_object_set_new(m, "PrimaryKeyVersion",
                        json_string(k->versions.v[k->versions.n - 1].id));
  set_time(m, "LastRotationDate", k->last_rotation);
  json_object_set_new(m, "AutomaticRotation",
                      json_string(!k->rotation_enabled ? "Disabled"
                                  : strcmp(k->state, "Enabled") == 0
                                      ? "Enabled"
                                      : "Suspended"));
  /* Suspended: rotation is on but the key is Disabled or PendingDeletion
   * (it resumes when the key is enabled again); interval and next date are
   * shown for both. */
  if (k->rotation_enabled) {
    char *iv = ksim_interval_str(k->rotation_interval);
    json_object_set_new(m, "RotationInterval", json_string(iv));
    free(iv);
    set_time(m, "NextRotationDate", k->last_rotation + k->rotation_interval);
  }
  if (strcmp(k->origin, "EXTERNAL") == 0)
    json_object_set_new(m, "MaterialExpireTime",
                        k->material_expire != 0
                            ? ksim_json_time(k->material_expire)
                            : json_string(""));
  if (k->delete_date != 0) set_time(m, "DeleteDate", k->delete_date);
  json_object_set_new(
      m, "DeletionProtection",
      json_string(k->deletion_protection ? "Enabled" : "Disabled"));
  /* absent for KMS 1.0 keys: presence means migrated (reference §1) */
  if (k->instance_id != NULL)
    json_object_set_new(m, "DKMSInstanceId", json_string(k->instance_id));
  return m;
}

static int describe_key(ksim_req_t *req, ksim_resp_t *resp) {
  const char *id = ksim_param_req(req, resp, "KeyId");
  if (id == NULL) return -1;
  ksim_key_t *k = ksim_kms_key(req, resp, id);
  if (k == NULL) return -1;
  return ksim_ok(resp, json_pack("{s:o}", "KeyMetadata", key_metadata(req, k)));
}

static json_t *alias_obj(const ksim_req_t *req, const char *alias,
                         const char *key_id) {
  char *arn =
      km_xasprintf("acs:kms:%s:%s:%s", req->region, req->account->id, alias);
  json_t *o = json_pack("{s:s, s:s, s:s}", "AliasName", alias, "AliasArn", arn,
                        "KeyId", key_id);
  free(arn);
  return o;
}

static int list_aliases_common(ksim_req_t *req, ksim_resp_t *resp,
                               const ksim_key_t *only) {
  long page, size;
  if (ksim_paging(req, resp, 10, 100, &page, &size) < 0) return -1;
  ksim_region_t *r = ksim_kms_region(req);
  json_t *arr = json_array();
  size_t total = 0;
  for (size_t i = 0; i < r->keys.n; i++) {
    ksim_key_t *k = r->keys.v[i];
    if (only != NULL && k != only) continue;
    for (size_t j = 0; j < k->aliases.n; j++) {
      if (total >= (size_t)((page - 1) * size) && total < (size_t)(page * size))
        json_array_append_new(arr, alias_obj(req, k->aliases.v[j], k->id));
      total++;
    }
  }
  json_t *body = json_pack("{s:{s:o}}", "Aliases", "Alias", arr);
  ksim_paging_set(body, page, size, total);
  return ksim_ok(resp, body);
}

static int list_aliases(ksim_req_t *req, ksim_resp_t *resp) {
  return list_aliases_common(req, resp, NULL);
}

static int list_aliases_by_key(ksim_req_t *req, ksim_resp_t *resp) {
  const char *id = ksim_param_req(req, resp, "KeyId");
  if (id == NULL) return -1;
  ksim_key_t *k = ksim_kms_key(req, resp, id);
  if (k == NULL) return -1;
  return list_aliases_common(req, resp, k);
}

static int list_key_versions(ksim_req_t *req, ksim_resp_t *resp) {
  const char *id = ksim_param_req(req, resp, "KeyId");
  if (id == NULL) return -1;
  long page, size;
  if (ksim_paging(req, resp, 10, 100, &page, &size) < 0) return -1;
  ksim_key_t *k = ksim_kms_key(req, resp, id);
  if (k == NULL) return -1;
  json_t *arr = json_array();
  for (size_t i = 0; i < k->versions.n; i++) {
    if (i < (size_t)((page - 1) * size) || i >= (size_t)(page * size)) continue;
    json_t *v = json_pack("{s:s, s:s, s:o}", "KeyId", k->id, "KeyVersionId",
                          k->versions.v[i].id, "CreationDate",
                          ksim_json_time(k->versions.v[i].created));
    json_array_append_new(arr, v);
  }
  json_t *body = json_pack("{s:{s:o}}", "KeyVersions", "KeyVersion", arr);
  ksim_paging_set(body, page, size, k->versions.n);
  return ksim_ok(resp, body);
}

static int describe_key_version(ksim_req_t *req, ksim_resp_t *resp) {
  const char *id = ksim_param_req(req, resp, "KeyId");
  if (id == NULL) return -1;
  const char *vid = ksim_param_req(req, resp, "KeyVersionId");
  if (vid == NULL) return -1;
  ksim_key_t *k = ksim_kms_key(req, resp, id);
  if (k == NULL) return -1;
  for (size_t i = 0; i < k->versions.n; i++)
    if (strcmp(k->versions.v[i].id, vid) == 0)
      return ksim_ok(resp,
                     json_pack("{s:{s:s, s:s, s:o}}", "KeyVersion", "KeyId",
                               k->id, "KeyVersionId", vid, "CreationDate",
                               ksim_json_time(k->versions.v[i].created)));
  return ksim_fail(resp, "Forbidden.ResourceNotFound", "Resource not found");
}

/* Key states other than Enabled refuse writes with the 409 codes (§5). */
int ksim_key_state_writable(const ksim_key_t *k, ksim_resp_t *resp) {
  if (strcmp(k->state, "Disabled") == 0)
    return ksim_fail(resp, "Rejected.Disabled",
                     "The key is disabled: the operation is not allowed.");
  if (strcmp(k->state, "PendingDeletion") == 0)
    return ksim_fail(resp, "Rejected.PendingDeletion",
                     "The key is pending deletion: the operation is not "
                     "allowed.");
  if (strcmp(k->state, "PendingImport") == 0)
    return ksim_fail(resp, "Rejected.PendingImport",
                     "The key is pending import: the operation is not "
                     "allowed.");
  return 0;
}

static int update_rotation_policy(ksim_req_t *req, ksim_resp_t *resp) {
  const char *id = ksim_param_req(req, resp, "KeyId");
  if (id == NULL) return -1;
  bool enable = false;
  int rc = ksim_param_bool(req, resp, "EnableAutomaticRotation", &enable);
  if (rc < 0) return -1;
  if (rc == 1) return ksim_fail_missing(resp, "EnableAutomaticRotation");
  int64_t interval = 0;
  const char *iv = ksim_param(req, "RotationInterval");
  if (enable && (iv == NULL || iv[0] == '\0'))
    return ksim_fail_missing(resp, "RotationInterval");
  if (iv != NULL && iv[0] != '\0') interval = ksim_parse_interval(iv);
  ksim_key_t *k = ksim_kms_key(req, resp, id);
  if (k == NULL) return -1;
  /* UpdateRotationPolicy (2023-12 page): software keys in an instance
   * rotate every 7-365 days; KMS 1.0 keys keep the older 7-730. */
  int64_t max_days = k->instance_id != NULL ? 365 : 730;
  if (iv != NULL && iv[0] != '\0' &&
      (interval < 7 * 86400 || interval > max_days * 86400))
    return ksim_fail_invalid(resp, "RotationInterval");
  if (k->service)
    return ksim_fail(resp, "Forbidden.NoPermission",
                     "This operation is forbidden by permission system.");
  if (!ksim_key_is_symmetric(k))
    return ksim_fail(resp, "Rejected.UnsupportedOperation",
                     "Automatic rotation is not supported for asymmetric "
                     "keys.");
  if (strcmp(k->origin, "EXTERNAL") == 0)
    return ksim_fail(resp, "Unsupported.Origin",
                     "Automatic rotation is not supported for keys with "
                     "imported key material.");
  /* Only default keys and symmetric keys of *software* instances rotate:
   * a key now in a hardware instance cannot have rotation turned on. */
  ksim_instance_t *in = ksim_instance_by_id(req->cloud, k->instance_id);
  if (enable && in != NULL && strcmp(in->type, "software") != 0)
    return ksim_fail(resp, "Rejected.UnsupportedOperation",
                     "Automatic rotation is not supported for keys in a "
                     "hardware key management instance.");
  if (ksim_key_state_writable(k, resp) < 0) return -1;
  if (k->migrating) return ksim_fail_migrating(resp);
  k->rotation_enabled = enable;
  if (interval > 0) k->rotation_interval = interval;
  k->rotation_updates++;
  return ksim_ok(resp, NULL);
}

static const char *policy_name_ok(ksim_req_t *req, ksim_resp_t *resp) {
  const char *p = ksim_param(req, "PolicyName");
  if (p != NULL && p[0] != '\0' && strcmp(p, "default") != 0) {
    ksim_fail(resp, "Forbidden.ResourceNotFound", "Resource not found");
    return NULL;
  }
  return "default";
}

char *ksim_default_policy(const char *uid, const char *sid) {
  return km_xasprintf(
      "{\"Statement\":[{\"Action\":[\"kms:*\"],\"Effect\":\"Allow\","
      "\"Principal\":{\"RAM\":[\"acs:ram::%s:*\"]},\"Resource\":[\"*\"],"
      "\"Sid\":\"%s\"}],\"Version\":\"1\"}",
      uid, sid);
}

static int get_key_policy(ksim_req_t *req, ksim_resp_t *resp) {
  const char *id = ksim_param_req(req, resp, "KeyId");
  if (id == NULL) return -1;
  ksim_key_t *k = ksim_kms_key(req, resp, id);
  if (k == NULL || policy_name_ok(req, resp) == NULL) return -1;
  if (k->instance_id == NULL)
    return ksim_fail(resp, "Rejected.UnsupportedOperation",
                     "Key policies are only supported for keys in a KMS "
                     "instance.");
  char *def = NULL;
  if (k->policy == NULL)
    def = ksim_default_policy(req->account->id, "kms default key policy");
  json_t *body =
      json_pack("{s:s}", "Policy", k->policy != NULL ? k->policy : def);
  free(def);
  return ksim_ok(resp, body);
}

/* ListTagResources: RegionId and ResourceType required, ResourceId.N and
 * Tag.N.Key/Value filters, 200 rows a page with NextToken. */
static int list_tag_resources(ksim_req_t *req, ksim_resp_t *resp) {
  if (ksim_param_req(req, resp, "RegionId") == NULL) return -1;
  const char *type = ksim_param_req(req, resp, "ResourceType");
  if (type == NULL) return -1;
  bool key = ksim_streq_ci(type, "key"), secret = ksim_streq_ci(type, "secret");
  if (!key && !secret) return ksim_fail_invalid(resp, "ResourceType");
  json_t *ids = json_array(), *tkeys = json_array();
  char name[64];
  for (int i = 1; i <= 51; i++) {
    snprintf(name, sizeof(name), "ResourceId.%d", i);
    const char *v = ksim_param(req, name);
    if (v == NULL) break;
    if (i == 51) {
      json_decref(ids);
      json_decref(tkeys);
      return ksim_fail_invalid(resp, "ResourceId");
    }
    json_array_append_new(ids, json_string(v));
  }
  for (int i = 1; i <= 20; i++) {
    snprintf(name, sizeof(name), "Tag.%d.Key", i);
    const char *v = ksim_param(req, name);
    if (v == NULL) break;
    json_array_append_new(tkeys, json_string(v));
  }
  long offset = 0;
  const char *tok = ksim_param(req, "NextToken");
  if (tok != NULL && tok[0] != '\0') {
    char *end = NULL;
    offset = strtol(tok, &end, 10);
    if (end == tok || *end != '\0' || offset < 0) {
      json_decref(ids);
      json_decref(tkeys);
      return ksim_fail_invalid(resp, "NextToken");
    }
  }
  json_t *idf = json_array_size(ids) > 0 ? ids : NULL;
  json_t *tkf = json_array_size(tkeys) > 0 ? tkeys : NULL;
  ksim_region_t *r = ksim_kms_region(req);
  json_t *rows = json_array();
  long n = 0;
  bool more = false;
  size_t count = key ? r->keys.n : r->secrets.n;
  for (size_t i = 0; i < count && !more; i++) {
    const char *rid = key ? r->keys.v[i]->id : r->secrets.v[i]->name;
    const ksim_tags_t *t = key ? &r->keys.v[i]->tags : &r->secrets.v[i]->tags;
    if (!ksim_filter_match(idf, rid, false)) continue;
    for (size_t j = 0; j < t->n; j++) {
      if (!ksim_filter_match(tkf, t->v[j].key, false)) continue;
      if (n >= offset + 200) {
        more = true;
        break;
      }
      if (n >= offset)
        json_array_append_new(
            rows, json_pack("{s:s, s:s, s:s, s:s}", "ResourceId", rid,
                            "ResourceType", key ? "key" : "secret", "TagKey",
                            t->v[j].key, "TagValue", t->v[j].value));
      n++;
    }
  }
  json_decref(ids);
  json_decref(tkeys);
  char next[32] = "";
  if (more) snprintf(next, sizeof(next), "%ld", offset + 200);
  return ksim_ok(resp, json_pack("{s:{s:o}, s:s}", "TagResources",
                                 "TagResource", rows, "NextToken", next));
}

static int list_resource_tags(ksim_req_t *req, ksim_resp_t *resp) {
  const char *id = ksim_param_req(req, resp, "KeyId");
  if (id == NULL) return -1;
  ksim_key_t *k = ksim_kms_key(req, resp, id);
  if (k == NULL) return -1;
  json_t *arr = json_array();
  for (size_t i = 0; i < k->tags.n; i++)
    json_array_append_new(arr, json_pack("{s:s, s:s, s:s}", "KeyId", k->id,
                                         "TagKey", k->tags.v[i].key, "TagValue",
                                         k->tags.v[i].value));
  return ksim_ok(resp, json_pack("{s:{s:o}}", "Tags", "Tag", arr));
}

static int describe_regions(ksim_req_t *req, ksim_resp_t *resp) {
  json_t *arr = json_array();
  for (size_t i = 0; i < req->cloud->regions.n; i++)
    json_array_append_new(
        arr, json_pack("{s:s}", "RegionId", req->cloud->regions.v[i]));
  return ksim_ok(resp, json_pack("{s:{s:o}}", "Regions", "Region", arr));
}

static const ksim_action_t kms_key_actions[] = {
    {"ListKeys", list_keys, "key-read", 0},
    {"DescribeKey", describe_key, "key-read", 0},
    {"ListAliases", list_aliases, "key-read", 0},
    {"ListAliasesByKeyId", list_aliases_by_key, "key-read", 0},
    {"ListKeyVersions", list_key_versions, "key-read", 0},
    {"DescribeKeyVersion", describe_key_version, "key-read", 0},
    {"UpdateRotationPolicy", update_rotation_policy, "key-write", 0},
    {"GetKeyPolicy", get_key_policy, "key-read", 0},
    {"ListTagResources", list_tag_resources, "key-read", 0},
    {"ListResourceTags", list_resource_tags, "key-tag-read", 0},
    {"DescribeRegions", describe_regions, "key-read", 0},
    {NULL, NULL, NULL, 0}};

KSIM_REGISTER_ACTIONS("kms", kms_key_actions)
