/* Shared KMS helpers: the caller's region, key/secret lookups with the real
 * errors, Filters parsing, tag bodies. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "kms_common.h"

ksim_region_t *ksim_kms_region(ksim_req_t *req) {
  return ksim_account_region(req->cloud, req->account, req->region);
}

/* ARN "acs:kms:<region>:<uid>:<kind>/<x>": uid must be the caller's. */
static bool foreign_arn(const ksim_req_t *req, const char *s) {
  if (strncmp(s, "acs:kms:", 8) != 0) return false;
  const char *p = strchr(s + 8, ':');
  if (p == NULL) return true;
  const char *uid = p + 1, *e = strchr(uid, ':');
  if (e == NULL) return true;
  size_t n = (size_t)(e - uid);
  return strlen(req->account->id) != n ||
         strncmp(req->account->id, uid, n) != 0;
}

ksim_key_t *ksim_kms_key(ksim_req_t *req, ksim_resp_t *resp, const char *id) {
  ksim_key_t *k = ksim_kms_key_raw(req, resp, id);
  if (k != NULL) ksim_key_tick(k, req->now);
  return k;
}

ksim_key_t *ksim_kms_key_raw(ksim_req_t *req, ksim_resp_t *resp,
                             const char *id) {
  if (foreign_arn(req, id)) {
    ksim_fail(resp, "Forbidden.NoPermission",
              "This operation is forbidden by permission system.");
    return NULL;
  }
  ksim_key_t *k = ksim_key_find(ksim_kms_region(req), id);
  if (k == NULL) {
    if (strncmp(id, "alias/", 6) == 0)
      ksim_fail(resp, "Forbidden.AliasNotFound",
                "The specified Alias is not found.");
    else
      ksim_fail(resp, "Forbidden.KeyNotFound",
                "The specified Key is not found.");
  }
  return k;
}

ksim_secret_t *ksim_kms_secret(ksim_req_t *req, ksim_resp_t *resp,
                               const char *name) {
  if (foreign_arn(req, name)) {
    ksim_fail(resp, "Forbidden.NoPermission",
              "This operation is forbidden by permission system.");
    return NULL;
  }
  ksim_secret_t *s = ksim_secret_find(ksim_kms_region(req), name);
  if (s == NULL)
    ksim_fail(resp, "Forbidden.ResourceNotFound", "Resource not found");
  else
    ksim_secret_tick(s, req->now);
  return s;
}

int ksim_filters_parse(const ksim_req_t *req, ksim_resp_t *resp,
                       const char *const *allowed, ksim_filters_t *out) {
  out->filters = NULL;
  const char *s = ksim_param(req, "Filters");
  if (s == NULL || s[0] == '\0') return 0;
  json_error_t e;
  json_t *f = json_loads(s, 0, &e);
  if (!json_is_array(f) || json_array_size(f) > 10) {
    json_decref(f);
    return ksim_fail_invalid(resp, "Filters");
  }
  size_t i;
  json_t *v;
  json_array_foreach(f, i, v) {
    const char *key = json_string_value(json_object_get(v, "Key"));
    json_t *vals = json_object_get(v, "Values");
    bool known = false;
    for (const char *const *a = allowed; key != NULL && *a != NULL; a++)
      known |= strcmp(*a, key) == 0;
    /* Values holds 0-10 items (UpdateRotationPolicy's sibling pages and
     * the SDK model); none matches nothing. */
    bool ok = known && json_is_array(vals) && json_array_size(vals) <= 10;
    size_t j;
    json_t *x;
    json_array_foreach(vals, j, x) {
      /* An empty value is refused: whether the real API matches "no value"
       * with it is unconfirmed (reference §1), so clients must not rely on
       * it. */
      ok &= json_is_string(x) && json_string_length(x) > 0;
    }
    if (!ok) {
      json_decref(f);
      return ksim_fail_invalid(resp, "Filters");
    }
  }
  /* A Key given twice is OR-ed: one entry per Key with every value. */
  json_t *norm = json_array();
  json_array_foreach(f, i, v) {
    const char *key = json_string_value(json_object_get(v, "Key"));
    json_t *dst = NULL, *w;
    size_t j;
    json_array_foreach(norm, j, w) {
      if (strcmp(json_string_value(json_object_get(w, "Key")), key) == 0)
        dst = json_object_get(w, "Values");
    }
    if (dst == NULL) {
      dst = json_array();
      json_array_append_new(norm,
                            json_pack("{s:s, s:o}", "Key", key, "Values", dst));
    }
    json_array_extend(dst, json_object_get(v, "Values"));
  }
  json_decref(f);
  out->filters = norm;
  return 0;
}

void ksim_filters_free(ksim_filters_t *f) {
  json_decref(f->filters);
  f->filters = NULL;
}

json_t *ksim_filters_values(const ksim_filters_t *f, const char *key) {
  size_t i;
  json_t *v;
  json_array_foreach(f->filters, i, v) {
    const char *k = json_string_value(json_object_get(v, "Key"));
    if (strcmp(k, key) == 0) return json_object_get(v, "Values");
  }
  return NULL;
}

bool ksim_filter_match(json_t *values, const char *v, bool ci) {
  if (values == NULL) return true;
  if (v == NULL) return false;
  size_t i;
  json_t *x;
  json_array_foreach(values, i, x) {
    const char *s = json_string_value(x);
    if (ci ? strcasecmp(s, v) == 0 : strcmp(s, v) == 0) return true;
  }
  return false;
}

json_t *ksim_tags_body(const ksim_tags_t *t) {
  json_t *arr = json_array();
  for (size_t i = 0; i < t->n; i++)
    json_array_append_new(arr, json_pack("{s:s, s:s}", "TagKey", t->v[i].key,
                                         "TagValue", t->v[i].value));
  return json_pack("{s:o}", "Tag", arr);
}

char *ksim_interval_str(int64_t seconds) {
  return km_xasprintf("%llds", (long long)seconds);
}

void ksim_key_tick(ksim_key_t *k, int64_t now) {
  if (!k->rotation_enabled || k->rotation_interval <= 0 ||
      strcmp(k->state, "Enabled") != 0)
    return;
  for (int n = 0; n < 1000 && k->last_rotation + k->rotation_interval <= now;
       n++) {
    k->last_rotation += k->rotation_interval;
    ksim_version_t *v = KSIM_VEC_PUSH(k->versions);
    v->id = km_xasprintf("%s-v%zu", k->id, k->versions.n);
    v->created = k->last_rotation;
  }
}

void ksim_secret_tick(ksim_secret_t *s, int64_t now) {
  if (!s->rotation_enabled || s->rotation_interval <= 0) return;
  for (int n = 0; n < 1000 && s->last_rotation + s->rotation_interval <= now;
       n++) {
    s->last_rotation += s->rotation_interval;
    char *v = km_xasprintf("v%zu", s->versions.n + 1);
    ksim_strs_push(&s->versions, v);
    free(v);
  }
}

int ksim_fail_migrating(ksim_resp_t *resp) {
  return ksim_fail(resp, "Forbidden.ResourceInMigration",
                   "The resource is being migrated to a KMS instance; "
                   "management operations are blocked until the task ends.");
}
