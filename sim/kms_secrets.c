/* KMS 2016-01-20 secret actions on the shared gateway: ListSecrets (items
 * without DKMSInstanceId/EncryptionKeyId, as the real API, so clients need
 * DescribeSecret), DescribeSecret (flat body), UpdateSecretRotationPolicy
 * (not for Generic secrets; 6 h - 8760 h) and GetSecretPolicy (instance
 * secrets only). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kms_common.h"

static bool tag_match(const ksim_tags_t *t, json_t *keys, json_t *vals) {
  if (keys == NULL && vals == NULL) return true;
  for (size_t i = 0; i < t->n; i++)
    if (ksim_filter_match(keys, t->v[i].key, false) &&
        ksim_filter_match(vals, t->v[i].value, false))
      return true;
  return false;
}

static bool name_match(json_t *values, const char *name) {
  /* SecretName filters by substring, as the console's search box does */
  if (values == NULL) return true;
  size_t i;
  json_t *x;
  json_array_foreach(values, i,
                     x) if (strstr(name, json_string_value(x))) return true;
  return false;
}

static int list_secrets(ksim_req_t *req, ksim_resp_t *resp) {
  static const char *const allowed[] = {
      "SecretName",     "Description", "TagKey",  "TagValue",
      "DKMSInstanceId", "SecretType",  "Creator", NULL};
  long page, size;
  if (ksim_paging(req, resp, 10, 100, &page, &size) < 0) return -1;
  bool fetch_tags = false;
  if (ksim_param_bool(req, resp, "FetchTags", &fetch_tags) < 0) return -1;
  ksim_filters_t f;
  if (ksim_filters_parse(req, resp, allowed, &f) < 0) return -1;
  json_t *names = ksim_filters_values(&f, "SecretName"),
         *desc = ksim_filters_values(&f, "Description"),
         *tk = ksim_filters_values(&f, "TagKey"),
         *tv = ksim_filters_values(&f, "TagValue"),
         *inst = ksim_filters_values(&f, "DKMSInstanceId"),
         *type = ksim_filters_values(&f, "SecretType"),
         *creator = ksim_filters_values(&f, "Creator");
  ksim_region_t *r = ksim_kms_region(req);
  json_t *arr = json_array();
  size_t total = 0;
  for (size_t i = 0; i < r->secrets.n; i++) {
    ksim_secret_t *s = r->secrets.v[i];
    /* SecretType: the filter doc spells RDS, DescribeSecret returns Rds */
    if (!name_match(names, s->name) || !name_match(desc, s->description) ||
        !tag_match(&s->tags, tk, tv) ||
        !ksim_filter_match(inst, s->instance_id, false) ||
        !ksim_filter_match(type, s->type, true) ||
        !ksim_filter_match(creator, req->account->id, false))
      continue;
    if (total >= (size_t)((page - 1) * size) && total < (size_t)(page * size)) {
      json_t *o =
          json_pack("{s:s, s:s, s:o, s:o}", "SecretName", s->name, "SecretType",
                    s->type, "CreateTime", ksim_json_time(s->created),
                    "UpdateTime", ksim_json_time(s->updated));
      if (s->owning_service != NULL)
        json_object_set_new(o, "OwingService", json_string(s->owning_service));
      if (fetch_tags) json_object_set_new(o, "Tags", ksim_tags_body(&s->tags));
      json_array_append_new(arr, o);
    }
    total++;
  }
  ksim_filters_free(&f);
  json_t *body = json_pack("{s:{s:o}}", "SecretList", "Secret", arr);
  ksim_paging_set(body, page, size, total);
  return ksim_ok(resp, body);
}

static bool managed(const ksim_secret_t *s) {
  return strcmp(s->type, "Generic") != 0;
}

static int describe_secret(ksim_req_t *req, ksim_resp_t *resp) {
  const char *name = ksim_param_req(req, resp, "SecretName");
  if (name == NULL) return -1;
  bool fetch_tags = false;
  if (ksim_param_bool(req, resp, "FetchTags", &fetch_tags) < 0) return -1;
  ksim_secret_t *s = ksim_kms_secret(req, resp, name);
  if (s == NULL) return -1;
  char *arn = km_xasprintf("acs:kms:%s:%s:secret/%s", req->region,
                           req->account->id, s->name);
  json_t *b = json_pack(
      "{s:s, s:s, s:s, s:s, s:o, s:o}", "Arn", arn, "SecretName", s->name,
      "SecretType", s->type, "Description", s->description, "CreateTime",
      ksim_json_time(s->created), "UpdateTime", ksim_json_time(s->updated));
  free(arn);
  if (s->key_id != NULL)
    json_object_set_new(b, "EncryptionKeyId", json_string(s->key_id));
  if (s->instance_id != NULL)
    json_object_set_new(b, "DKMSInstanceId", json_string(s->instance_id));
  if (managed(s)) {
    json_object_set_new(
        b, "AutomaticRotation",
        json_string(s->rotation_enabled ? "Enabled" : "Disabled"));
    if (s->rotation_enabled) {
      char *iv = ksim_interval_str(s->rotation_interval);
      json_object_set_new(b, "RotationInterval", json_string(iv));
      free(iv);
      json_object_set_new(
          b, "NextRotationDate",
          ksim_json_time(s->last_rotation + s->rotation_interval));
    }
    json_object_set_new(b, "LastRotationDate",
                        ksim_json_time(s->last_rotation));
    if (s->extended_config != NULL)
      json_object_set_new(b, "ExtendedConfig", json_string(s->extended_config));
  }
  /* a Generic secret's DescribeSecret has no AutomaticRotation at all */
  if (s->owning_service != NULL)
    json_object_set_new(b, "OwingService", json_string(s->owning_service));
  if (fetch_tags) json_object_set_new(b, "Tags", ksim_tags_body(&s->tags));
  return ksim_ok(resp, b);
}

static int update_secret_rotation(ksim_req_t *req, ksim_resp_t *resp) {
  const char *name = ksim_param_req(req, resp, "SecretName");
  if (name == NULL) return -1;
  bool enable = false;
  int rc = ksim_param_bool(req, resp, "EnableAutomaticRotation", &enable);
  if (rc < 0) return -1;
  if (rc == 1) return ksim_fail_missing(resp, "EnableAutomaticRotation");
  const char *iv = ksim_param(req, "RotationInterval");
  int64_t interval = 0;
  if (enable && (iv == NULL || iv[0] == '\0'))
    return ksim_fail_missing(resp, "RotationInterval");
  if (iv != NULL && iv[0] != '\0') {
    interval = ksim_parse_interval(iv);
    /* current UpdateSecretRotationPolicy pages: from 168 h (7 days) to
     * 8760 h (365 days) */
    if (interval < 168 * 3600 || interval > 8760 * 3600)
      return ksim_fail_invalid(resp, "RotationInterval");
  }
  ksim_secret_t *s = ksim_kms_secret(req, resp, name);
  if (s == NULL) return -1;
  if (!managed(s))
    return ksim_fail(resp, "Rejected.UnsupportedOperation",
                     "Automatic rotation is not supported for Generic "
                     "secrets.");
  if (s->migrating) return ksim_fail_migrating(resp);
  s->rotation_enabled = enable;
  if (interval > 0) s->rotation_interval = interval;
  s->rotation_updates++;
  s->updated = req->now;
  return ksim_ok(resp, NULL);
}

static int get_secret_policy(ksim_req_t *req, ksim_resp_t *resp) {
  const char *name = ksim_param_req(req, resp, "SecretName");
  if (name == NULL) return -1;
  ksim_secret_t *s = ksim_kms_secret(req, resp, name);
  if (s == NULL) return -1;
  const char *pn = ksim_param(req, "PolicyName");
  if (pn != NULL && pn[0] != '\0' && strcmp(pn, "default") != 0)
    return ksim_fail(resp, "Forbidden.ResourceNotFound", "Resource not found");
  if (s->instance_id == NULL)
    return ksim_fail(resp, "Rejected.UnsupportedOperation",
                     "Secret policies are only supported for secrets in a "
                     "KMS instance.");
  char *def = NULL;
  if (s->policy == NULL)
    def = ksim_default_policy(req->account->id, "kms default secret policy");
  json_t *b = json_pack("{s:s}", "Policy", s->policy != NULL ? s->policy : def);
  free(def);
  return ksim_ok(resp, b);
}

static const ksim_action_t kms_secret_actions[] = {
    {"ListSecrets", list_secrets, "secret-meta", 0},
    {"DescribeSecret", describe_secret, "secret-meta", 0},
    {"UpdateSecretRotationPolicy", update_secret_rotation, "secret-meta", 0},
    {"GetSecretPolicy", get_secret_policy, "secret-meta", 0},
    {NULL, NULL, NULL, 0}};

KSIM_REGISTER_ACTIONS("kms", kms_secret_actions)
