/* API response bodies into the inventory.
 *
 * Shapes follow reference/alibaba-kms-api.md §1: lists are "XML-converted"
 * ({"Keys":{"Key":[...]}}) except GetKmsInstanceQuotaInfos, a bare array.
 * The shape of an empty list is unconfirmed, so {"Key":[]}, {"Keys":{}},
 * an omitted field and null are all accepted as empty; a single object where
 * an array is expected is taken as a one-element list, which is what XML
 * converters produce for one child.  Anything else of the wrong type is a
 * KM_EPARSE naming the action and the field, so a changed API surfaces as a
 * clear error instead of a silently empty inventory.
 *
 * These functions read only names and metadata; no response parsed here
 * carries secret values.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "model/intern.h"
#include "model/inventory.h"
#include "util/util.h"

static int perr(km_err_t *err, const char *action, const char *field) {
  return km__err_set(err, KM_EPARSE,
                     "%s response: field %s is missing or has the wrong type",
                     action, field);
}

/* A string field: absent or null leaves *dst alone when !required. */
static int str_field(const json_t *o, const char *name, const char *action,
                     bool required, char **dst, km_err_t *err) {
  json_t *v = json_object_get(o, name);
  if (v == NULL || json_is_null(v))
    return required ? perr(err, action, name) : 0;
  if (!json_is_string(v)) return perr(err, action, name);
  km_inv_set(dst, json_string_value(v));
  return 0;
}

/* Replaces a freshly copied enumerated value by its interned copy. */
static void intern_field(char **dst) {
  if (*dst == NULL) return;
  char *copy = *dst;
  *dst = (char *)km_intern(copy);
  km_str_free(copy);
}

/* The string fields of a Describe* answer into record obj (fields[0], the
 * id, is already set).  Fields absent from the answer are cleared: the
 * Describe call is the authority (e.g. DeleteDate goes with the deletion);
 * enumerated values are interned.  A field of the wrong type leaves the
 * record as it was. */
static int fill_fields(const json_t *o, const km__inv_field_t *fields, size_t n,
                       void *obj, const char *action, km_err_t *err) {
  for (size_t i = 1; i < n; i++) {
    const km__inv_field_t *f = &fields[i];
    char **dst = (char **)(void *)((char *)obj + f->offset);
    char *old = *dst;
    *dst = NULL;
    int rc = str_field(o, f->name, action, false, dst, err);
    if (rc) {
      *dst = old;
      return rc;
    }
    if (f->intern) intern_field(dst);
    km_str_free(old);
  }
  return 0;
}

/* An integer that some APIs send as a string (SecretNum); -1 if absent. */
static int num_field(const json_t *o, const char *name, const char *action,
                     int64_t *dst, km_err_t *err) {
  json_t *v = json_object_get(o, name);
  if (v == NULL || json_is_null(v)) return 0;
  if (json_is_integer(v)) {
    *dst = (int64_t)json_integer_value(v);
    return 0;
  }
  if (json_is_string(v)) {
    const char *s = json_string_value(v);
    char *end = NULL;
    errno = 0;
    long long n = strtoll(s, &end, 10);
    if (s[0] != '\0' && *end == '\0' && errno == 0 && n >= 0) {
      *dst = (int64_t)n;
      return 0;
    }
  }
  return perr(err, action, name);
}

static int paging(const json_t *body, const char *action, size_t items,
                  km_inv_page_t *page, km_err_t *err) {
  if (page == NULL) return 0;
  page->page_number = page->page_size = page->total_count = -1;
  page->items = items;
  int rc;
  if ((rc = num_field(body, "PageNumber", action, &page->page_number, err)) ||
      (rc = num_field(body, "PageSize", action, &page->page_size, err)) ||
      (rc = num_field(body, "TotalCount", action, &page->total_count, err)))
    return rc;
  return 0;
}

/* The items of body.outer.inner (outer NULL: body.inner is the array).
 * *items is a borrowed array or object, or NULL for an empty list; *n is
 * the item count. */
static int list_items(const json_t *body, const char *outer, const char *inner,
                      const char *action, const json_t **items, size_t *n,
                      km_err_t *err) {
  *items = NULL;
  *n = 0;
  if (!json_is_object(body)) return perr(err, action, "(body)");
  const json_t *wrap = outer ? json_object_get(body, outer) : body;
  if (wrap == NULL || json_is_null(wrap)) return 0;
  const json_t *a = wrap;
  if (json_is_object(wrap)) {
    a = json_object_get(wrap, inner);
    if (a == NULL || json_is_null(a)) return 0;
  }
  if (json_is_array(a)) {
    *items = a;
    *n = json_array_size(a);
  } else if (json_is_object(a)) {
    *items = a;
    *n = 1;
  } else {
    return perr(err, action, outer ? outer : inner);
  }
  return 0;
}

static const json_t *item_at(const json_t *items, size_t i) {
  return json_is_array(items) ? json_array_get(items, i) : items;
}

int km_inv_parse_list_keys(km_inv_t *inv, const json_t *body,
                           km_creator_t creator, km_inv_page_t *page,
                           km_err_t *err) {
  const json_t *items;
  size_t n;
  int rc = list_items(body, "Keys", "Key", "ListKeys", &items, &n, err);
  if (rc) return rc;
  for (size_t i = 0; i < n; i++) {
    const json_t *it = item_at(items, i);
    const char *id = json_string_value(json_object_get(it, "KeyId"));
    if (id == NULL || id[0] == '\0')
      return perr(err, "ListKeys", "Keys.Key[].KeyId");
    km_inv_key_t *k = km_inv_add_key(inv, id);
    if ((rc = str_field(it, "KeyArn", "ListKeys", false, &k->arn, err)))
      return rc;
    if (creator == KM_CREATOR_SERVICE) k->creator = KM_CREATOR_SERVICE;
  }
  return paging(body, "ListKeys", n, page, err);
}

int km_inv_parse_describe_key(km_inv_t *inv, const json_t *body,
                              km_err_t *err) {
  const json_t *md = json_object_get(body, "KeyMetadata");
  if (!json_is_object(md)) return perr(err, "DescribeKey", "KeyMetadata");
  const char *id = json_string_value(json_object_get(md, "KeyId"));
  if (id == NULL || id[0] == '\0')
    return perr(err, "DescribeKey", "KeyMetadata.KeyId");
  km_inv_key_t *k = km_inv_add_key(inv, id);
  int rc = fill_fields(md, km__inv_key_fields, km__inv_nkey_fields, k,
                       "DescribeKey", err);
  if (rc) return rc;
  k->arn_derived = false; /* the answer's Arn (or none) is the authority */
  /* A single version, proven: LastRotationDate is "the time of the last
   * rotation; for a new key, when its initial version was generated"
   * (DescribeKey reference), and a new version, by rotation or by
   * CreateKeyVersion, comes at least 7 days after the one before, so a key
   * whose LastRotationDate is its CreationDate has only its first version.
   * Any other answer (a rotation, a field missing or not a string) proves
   * nothing and leaves the count to ListKeyVersions. */
  const char *created = json_string_value(json_object_get(md, "CreationDate"));
  const char *rotated =
      json_string_value(json_object_get(md, "LastRotationDate"));
  if (k->version_count < 0 && created != NULL && created[0] != '\0' &&
      rotated != NULL && strcmp(created, rotated) == 0)
    k->version_count = 1;
  /* A service key may also be recognised by its creator field. */
  const char *ct = json_string_value(json_object_get(md, "CreatorType"));
  if (ct != NULL && strcmp(ct, "Service") == 0) k->creator = KM_CREATOR_SERVICE;
  return 0;
}

int km_inv_parse_key_versions(km_inv_t *inv, const char *key_id,
                              const json_t *body, km_inv_page_t *page,
                              km_err_t *err) {
  const json_t *items;
  size_t n;
  int rc = list_items(body, "KeyVersions", "KeyVersion", "ListKeyVersions",
                      &items, &n, err);
  if (rc) return rc;
  km_inv_page_t pg;
  if ((rc = paging(body, "ListKeyVersions", n, &pg, err))) return rc;
  km_inv_key_t *k = km_inv_add_key(inv, key_id);
  if (pg.total_count >= 0)
    k->version_count = (int)pg.total_count;
  else
    k->version_count = (k->version_count < 0 ? 0 : k->version_count) + (int)n;
  if (page != NULL) *page = pg;
  return 0;
}

int km_inv_parse_list_aliases(km_inv_t *inv, const json_t *body,
                              km_inv_page_t *page, km_err_t *err) {
  const json_t *items;
  size_t n;
  int rc = list_items(body, "Aliases", "Alias", "ListAliases", &items, &n, err);
  if (rc) return rc;
  /* Checked first, recorded after: a page with one bad item adds nothing. */
  for (size_t i = 0; i < n; i++) {
    const json_t *it = item_at(items, i);
    const char *a = json_string_value(json_object_get(it, "AliasName"));
    const char *id = json_string_value(json_object_get(it, "KeyId"));
    if (a == NULL || a[0] == '\0')
      return perr(err, "ListAliases", "Aliases.Alias[].AliasName");
    if (id == NULL || id[0] == '\0')
      return perr(err, "ListAliases", "Aliases.Alias[].KeyId");
  }
  for (size_t i = 0; i < n; i++) {
    const json_t *it = item_at(items, i);
    km_inv_add_alias(inv, json_string_value(json_object_get(it, "AliasName")),
                     json_string_value(json_object_get(it, "KeyId")));
  }
  return paging(body, "ListAliases", n, page, err);
}

int km_inv_parse_aliases(km_inv_t *inv, const char *key_id, const json_t *body,
                         km_inv_page_t *page, km_err_t *err) {
  const json_t *items;
  size_t n;
  int rc = list_items(body, "Aliases", "Alias", "ListAliasesByKeyId", &items,
                      &n, err);
  if (rc) return rc;
  km_inv_key_t *k = km_inv_add_key(inv, key_id);
  for (size_t i = 0; i < n; i++) {
    const char *a =
        json_string_value(json_object_get(item_at(items, i), "AliasName"));
    if (a == NULL)
      return perr(err, "ListAliasesByKeyId", "Aliases.Alias[].AliasName");
    km_inv_strs_add(&k->aliases, a);
  }
  return paging(body, "ListAliasesByKeyId", n, page, err);
}

int km_inv_parse_list_secrets(km_inv_t *inv, const json_t *body,
                              km_inv_page_t *page, km_err_t *err) {
  const json_t *items;
  size_t n;
  int rc =
      list_items(body, "SecretList", "Secret", "ListSecrets", &items, &n, err);
  if (rc) return rc;
  for (size_t i = 0; i < n; i++) {
    const json_t *it = item_at(items, i);
    const char *name = json_string_value(json_object_get(it, "SecretName"));
    if (name == NULL || name[0] == '\0')
      return perr(err, "ListSecrets", "SecretList.Secret[].SecretName");
    km_inv_secret_t *s = km_inv_add_secret(inv, name);
    if ((rc = str_field(it, "SecretType", "ListSecrets", false, &s->secret_type,
                        err)) ||
        (rc = str_field(it, "OwingService", "ListSecrets", false,
                        &s->owing_service, err)))
      return rc;
    intern_field(&s->secret_type);
    intern_field(&s->owing_service);
  }
  return paging(body, "ListSecrets", n, page, err);
}

int km_inv_parse_describe_secret(km_inv_t *inv, const json_t *body,
                                 km_err_t *err) {
  const char *name = json_string_value(json_object_get(body, "SecretName"));
  if (!json_is_object(body) || name == NULL || name[0] == '\0')
    return perr(err, "DescribeSecret", "SecretName");
  km_inv_secret_t *s = km_inv_add_secret(inv, name);
  int rc = fill_fields(body, km__inv_secret_fields, km__inv_nsecret_fields, s,
                       "DescribeSecret", err);
  if (rc == 0) s->arn_derived = false; /* the answer's Arn is the authority */
  return rc;
}

int km_inv_parse_dest_secrets(km_inv_t *inv, const json_t *body,
                              const char *account, km_inv_page_t *page,
                              km_err_t *err) {
  const json_t *items;
  size_t n;
  int rc =
      list_items(body, "SecretList", "Secret", "ListSecrets", &items, &n, err);
  if (rc) return rc;
  for (size_t i = 0; i < n; i++) {
    const char *name =
        json_string_value(json_object_get(item_at(items, i), "SecretName"));
    if (name == NULL || name[0] == '\0')
      return perr(err, "ListSecrets", "SecretList.Secret[].SecretName");
    km_inv_add_dest_secret(inv, name, account);
  }
  return paging(body, "ListSecrets", n, page, err);
}

int km_inv_parse_kms_instance(km_inv_t *inv, const json_t *body,
                              km_err_t *err) {
  const json_t *ki = json_object_get(body, "KmsInstance");
  const char *a = "GetKmsInstance";
  if (!json_is_object(ki)) return perr(err, a, "KmsInstance");
  km_inv_instance_t *x = &inv->inst;
  int rc;
  if ((rc = str_field(ki, "InstanceId", a, true, &x->instance_id, err)) ||
      (rc = str_field(ki, "InstanceName", a, false, &x->instance_name, err)) ||
      (rc = str_field(ki, "Status", a, true, &x->status, err)) ||
      (rc = str_field(ki, "EndDate", a, false, &x->end_date, err)) ||
      (rc = str_field(ki, "ProductVersion", a, false, &x->product_version,
                      err)) ||
      (rc = num_field(ki, "Spec", a, &x->spec, err)) ||
      (rc = num_field(ki, "KeyNum", a, &x->key_num, err)) ||
      (rc = num_field(ki, "SecretNum", a, &x->secret_num, err)) ||
      (rc = num_field(ki, "VpcNum", a, &x->vpc_num, err)))
    return rc;
  /* Every pipeline of the instance holds the same facts: stored once. */
  intern_field(&x->instance_id);
  intern_field(&x->instance_name);
  intern_field(&x->status);
  intern_field(&x->end_date);
  intern_field(&x->product_version);
  x->present = true;
  return 0;
}

int km_inv_parse_quota_infos(km_inv_t *inv, const json_t *body, km_err_t *err) {
  const char *a = "GetKmsInstanceQuotaInfos";
  const json_t *arr = json_object_get(body, "KmsInstanceQuotaInfos");
  if (!json_is_object(body)) return perr(err, a, "(body)");
  if (arr == NULL || json_is_null(arr)) return 0;
  /* Documented as a bare array; accept the usual wrapper too in case the
   * service ever converts it like every other list. */
  if (json_is_object(arr) && json_object_get(arr, "ResourceType") == NULL) {
    arr = json_object_get(arr, "KmsInstanceQuotaInfo");
    if (arr == NULL || json_is_null(arr)) return 0;
  }
  size_t n = json_is_array(arr) ? json_array_size(arr) : 1;
  if (!json_is_array(arr) && !json_is_object(arr))
    return perr(err, a, "KmsInstanceQuotaInfos");
  km_inv_instance_t *x = &inv->inst;
  for (size_t i = 0; i < n; i++) {
    const json_t *q = item_at(arr, i);
    const char *type = json_string_value(json_object_get(q, "ResourceType"));
    int64_t quota = -1, used = -1;
    int rc;
    if (type == NULL)
      return perr(err, a, "KmsInstanceQuotaInfos[].ResourceType");
    if ((rc = num_field(q, "ResourceQuota", a, &quota, err)) ||
        (rc = num_field(q, "UsedQuantity", a, &used, err)))
      return rc;
    if (strcmp(type, "key") == 0) {
      x->key_quota = quota;
      x->key_used = used;
    } else if (strcmp(type, "secret") == 0) {
      x->secret_quota = quota;
      x->secret_used = used;
    } else if (strcmp(type, "vpc") == 0) {
      x->vpc_quota = quota;
      x->vpc_used = used;
    }
  }
  return 0;
}

int km_inv_parse_default_instance(km_inv_t *inv, const json_t *body,
                                  km_err_t *err) {
  if (!json_is_object(body))
    return perr(err, "GetDefaultKmsInstance", "(body)");
  int rc = str_field(body, "DefaultKmsInstanceId", "GetDefaultKmsInstance",
                     false, &inv->default_instance_id, err);
  intern_field(&inv->default_instance_id);
  return rc;
}
