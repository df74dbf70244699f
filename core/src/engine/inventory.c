/* The inventory model: lifecycle, lookups, sorting, counting, and its JSON
 * form for the journal and report.json.
 *
 * Key and secret metadata are kept as the API's strings and serialised
 * under the API's own field names (one field table shared with parse.c), so
 * an operator reading the journal sees the names they know from DescribeKey
 * and DescribeSecret, and a field added to the model needs one line here.
 */
#include <stdlib.h>
#include <string.h>

#include "engine/inventory.h"
#include "util/util.h"

#define KF(name, member)                                                       \
  { name, offsetof(km_inv_key_t, member) }
#define SF(name, member)                                                       \
  { name, offsetof(km_inv_secret_t, member) }

const km__inv_field_t km__inv_key_fields[] = {
    KF("KeyId", key_id),
    KF("Arn", arn),
    KF("KeySpec", key_spec),
    KF("KeyUsage", key_usage),
    KF("Origin", origin),
    KF("ProtectionLevel", protection_level),
    KF("KeyState", key_state),
    KF("DKMSInstanceId", dkms_instance_id),
    KF("AutomaticRotation", automatic_rotation),
    KF("RotationInterval", rotation_interval),
    KF("NextRotationDate", next_rotation_date),
    KF("PrimaryKeyVersion", primary_key_version),
    KF("MaterialExpireTime", material_expire_time),
    KF("DeleteDate", delete_date),
};
const size_t km__inv_nkey_fields = KM_ARRAY_SIZE(km__inv_key_fields);

const km__inv_field_t km__inv_secret_fields[] = {
    SF("SecretName", secret_name),
    SF("Arn", arn),
    SF("SecretType", secret_type),
    SF("EncryptionKeyId", encryption_key_id),
    SF("DKMSInstanceId", dkms_instance_id),
    SF("AutomaticRotation", automatic_rotation),
    SF("RotationInterval", rotation_interval),
    SF("OwingService", owing_service),
};
const size_t km__inv_nsecret_fields = KM_ARRAY_SIZE(km__inv_secret_fields);

static char **field_at(void *obj, const km__inv_field_t *f) {
  return (char **)(void *)((char *)obj + f->offset);
}

static const char *const verdict_names[] = {"pending",  "done",   "skipped",
                                            "blocked",  "failed", "needs_byok",
                                            "migrated", "warning"};

const char *km_verdict_name(km_verdict_t v) {
  if ((size_t)v < KM_ARRAY_SIZE(verdict_names)) return verdict_names[v];
  return "unknown";
}

int km_verdict_parse(const char *s, km_verdict_t *out) {
  for (size_t i = 0; s != NULL && i < KM_ARRAY_SIZE(verdict_names); i++) {
    if (strcmp(s, verdict_names[i]) == 0) {
      *out = (km_verdict_t)i;
      return 0;
    }
  }
  return KM_EINVAL;
}

bool km_verdict_moves(km_verdict_t v) {
  return v == KM_VERDICT_PENDING || v == KM_VERDICT_NEEDS_BYOK;
}

void km_inv_strs_add(km_inv_strs_t *l, const char *s) {
  if (s == NULL || km_inv_strs_has(l, s)) return;
  l->v = km_xrealloc(l->v, (l->n + 1) * sizeof(*l->v));
  l->v[l->n++] = km_xstrdup(s);
}

bool km_inv_strs_has(const km_inv_strs_t *l, const char *s) {
  for (size_t i = 0; i < l->n; i++)
    if (strcmp(l->v[i], s) == 0) return true;
  return false;
}

void km_inv_strs_free(km_inv_strs_t *l) {
  for (size_t i = 0; i < l->n; i++)
    free(l->v[i]);
  free(l->v);
  l->v = NULL;
  l->n = 0;
}

void km_inv_set(char **dst, const char *v) {
  /* Copy first: v may be *dst itself (km_inv_key_decide(k, v, k->rule..)). */
  char *copy = (v != NULL && v[0] != '\0') ? km_xstrdup(v) : NULL;
  free(*dst);
  *dst = copy;
}

static void instance_init(km_inv_instance_t *in) {
  memset(in, 0, sizeof(*in));
  in->spec = in->key_num = in->secret_num = in->vpc_num = -1;
  in->key_quota = in->key_used = -1;
  in->secret_quota = in->secret_used = -1;
  in->vpc_quota = in->vpc_used = -1;
}

km_inv_t *km_inv_new(const char *account, const char *account_id,
                     const char *region, const char *instance_id) {
  km_inv_t *inv = km_xcalloc(1, sizeof(*inv));
  km_inv_set(&inv->account, account);
  km_inv_set(&inv->account_id, account_id);
  km_inv_set(&inv->region, region);
  km_inv_set(&inv->instance_id, instance_id);
  inv->auto_renew = -1;
  instance_init(&inv->inst);
  return inv;
}

static void key_free(km_inv_key_t *k) {
  for (size_t i = 0; i < km__inv_nkey_fields; i++)
    free(*field_at(k, &km__inv_key_fields[i]));
  km_inv_strs_free(&k->aliases);
  free(k->rule);
  free(k->reason);
  free(k->fail_code);
  free(k->fail_request_id);
}

static void secret_free(km_inv_secret_t *s) {
  for (size_t i = 0; i < km__inv_nsecret_fields; i++)
    free(*field_at(s, &km__inv_secret_fields[i]));
  free(s->rule);
  free(s->reason);
  free(s->fail_code);
  free(s->fail_request_id);
}

void km_inv_free(km_inv_t *inv) {
  if (inv == NULL) return;
  free(inv->account);
  free(inv->account_id);
  free(inv->region);
  free(inv->instance_id);
  free(inv->image_version);
  km_inv_strs_free(&inv->select.key_ids);
  km_inv_strs_free(&inv->select.key_aliases);
  km_inv_strs_free(&inv->select.secret_names);
  free(inv->inst.instance_id);
  free(inv->inst.instance_name);
  free(inv->inst.status);
  free(inv->inst.end_date);
  free(inv->inst.product_version);
  free(inv->default_instance_id);
  for (size_t i = 0; i < inv->nkeys; i++)
    key_free(&inv->keys[i]);
  free(inv->keys);
  for (size_t i = 0; i < inv->nsecrets; i++)
    secret_free(&inv->secrets[i]);
  free(inv->secrets);
  for (size_t i = 0; i < inv->ndest; i++) {
    free(inv->dest_secrets[i].name);
    free(inv->dest_secrets[i].account);
  }
  free(inv->dest_secrets);
  for (size_t i = 0; i < inv->nissues; i++) {
    free(inv->issues[i].rule);
    free(inv->issues[i].message);
  }
  free(inv->issues);
  free(inv);
}

/* Grows a (ptr, n, cap) array by one zeroed element and returns it. */
static void *grow(void **arr, size_t *n, size_t *cap, size_t elem) {
  if (*n == *cap) {
    *cap = *cap ? *cap * 2 : 16;
    *arr = km_xrealloc(*arr, *cap * elem);
  }
  void *p = (char *)*arr + *n * elem;
  memset(p, 0, elem);
  (*n)++;
  return p;
}

km_inv_key_t *km_inv_find_key(const km_inv_t *inv, const char *id) {
  if (id == NULL || id[0] == '\0') return NULL;
  for (size_t i = 0; i < inv->nkeys; i++) {
    km_inv_key_t *k = &inv->keys[i];
    if (strcmp(k->key_id, id) == 0 || (k->arn && strcmp(k->arn, id) == 0) ||
        km_inv_strs_has(&k->aliases, id))
      return k;
  }
  return NULL;
}

km_inv_secret_t *km_inv_find_secret(const km_inv_t *inv, const char *name) {
  for (size_t i = 0; name != NULL && i < inv->nsecrets; i++)
    if (strcmp(inv->secrets[i].secret_name, name) == 0) return &inv->secrets[i];
  return NULL;
}

km_inv_key_t *km_inv_add_key(km_inv_t *inv, const char *key_id) {
  for (size_t i = 0; i < inv->nkeys; i++)
    if (strcmp(inv->keys[i].key_id, key_id) == 0) return &inv->keys[i];
  km_inv_key_t *k =
      grow((void **)&inv->keys, &inv->nkeys, &inv->capkeys, sizeof(*k));
  k->key_id = km_xstrdup(key_id);
  k->version_count = -1;
  return k;
}

km_inv_secret_t *km_inv_add_secret(km_inv_t *inv, const char *name) {
  km_inv_secret_t *s = km_inv_find_secret(inv, name);
  if (s != NULL) return s;
  s = grow((void **)&inv->secrets, &inv->nsecrets, &inv->capsecrets,
           sizeof(*s));
  s->secret_name = km_xstrdup(name);
  return s;
}

static bool str_eq(const char *a, const char *b) {
  if (a == NULL || b == NULL) return a == b;
  return strcmp(a, b) == 0;
}

void km_inv_add_dest_secret(km_inv_t *inv, const char *name,
                            const char *account) {
  if (account == NULL) account = inv->account;
  for (size_t i = 0; i < inv->ndest; i++)
    if (strcmp(inv->dest_secrets[i].name, name) == 0 &&
        str_eq(inv->dest_secrets[i].account, account))
      return;
  km_inv_dest_secret_t *d =
      grow((void **)&inv->dest_secrets, &inv->ndest, &inv->capdest, sizeof(*d));
  d->name = km_xstrdup(name);
  km_inv_set(&d->account, account);
}

void km_inv_add_issue(km_inv_t *inv, const char *rule, km_verdict_t verdict,
                      const char *message) {
  km_inv_issue_t *is =
      grow((void **)&inv->issues, &inv->nissues, &inv->capissues, sizeof(*is));
  is->rule = km_xstrdup(rule);
  is->verdict = verdict;
  is->message = km_xstrdup(message);
}

void km_inv_clear_issues(km_inv_t *inv, const char *prefix) {
  size_t w = 0, plen = strlen(prefix);
  for (size_t i = 0; i < inv->nissues; i++) {
    if (strncmp(inv->issues[i].rule, prefix, plen) == 0) {
      free(inv->issues[i].rule);
      free(inv->issues[i].message);
    } else {
      inv->issues[w++] = inv->issues[i];
    }
  }
  inv->nissues = w;
}

void km_inv_key_decide(km_inv_key_t *k, km_verdict_t v, const char *rule,
                       const char *reason) {
  k->verdict = v;
  km_inv_set(&k->rule, rule);
  km_inv_set(&k->reason, reason);
}

void km_inv_secret_decide(km_inv_secret_t *s, km_verdict_t v, const char *rule,
                          const char *reason) {
  s->verdict = v;
  km_inv_set(&s->rule, rule);
  km_inv_set(&s->reason, reason);
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}
static int cmp_key(const void *a, const void *b) {
  return strcmp(((const km_inv_key_t *)a)->key_id,
                ((const km_inv_key_t *)b)->key_id);
}
static int cmp_secret(const void *a, const void *b) {
  return strcmp(((const km_inv_secret_t *)a)->secret_name,
                ((const km_inv_secret_t *)b)->secret_name);
}
static int cmp_dest(const void *a, const void *b) {
  const km_inv_dest_secret_t *x = a, *y = b;
  int c = strcmp(x->name, y->name);
  if (c != 0) return c;
  return strcmp(x->account ? x->account : "", y->account ? y->account : "");
}

void km_inv_sort(km_inv_t *inv) {
  if (inv->nkeys > 1) qsort(inv->keys, inv->nkeys, sizeof(*inv->keys), cmp_key);
  for (size_t i = 0; i < inv->nkeys; i++)
    if (inv->keys[i].aliases.n > 1)
      qsort(inv->keys[i].aliases.v, inv->keys[i].aliases.n, sizeof(char *),
            cmp_str);
  if (inv->nsecrets > 1)
    qsort(inv->secrets, inv->nsecrets, sizeof(*inv->secrets), cmp_secret);
  if (inv->ndest > 1)
    qsort(inv->dest_secrets, inv->ndest, sizeof(*inv->dest_secrets), cmp_dest);
}

void km_inv_count(const km_inv_t *inv, km_inv_counts_t *out) {
  memset(out, 0, sizeof(*out));
  for (size_t i = 0; i < inv->nkeys; i++)
    out->keys[inv->keys[i].verdict]++;
  for (size_t i = 0; i < inv->nsecrets; i++)
    out->secrets[inv->secrets[i].verdict]++;
  out->blocking =
      out->keys[KM_VERDICT_BLOCKED] + out->secrets[KM_VERDICT_BLOCKED];
  for (size_t i = 0; i < inv->nissues; i++) {
    if (inv->issues[i].verdict == KM_VERDICT_BLOCKED) {
      out->blocking++;
      out->blocking_issues++;
    } else
      out->warnings++;
  }
}

/* ---- JSON ---- */

static json_t *jstr(const char *s) {
  return s ? json_string(s) : json_null();
}
static json_t *jnum(int64_t v) {
  return v >= 0 ? json_integer(v) : json_null();
}
static json_t *jstrs(const km_inv_strs_t *l) {
  json_t *a = json_array();
  for (size_t i = 0; i < l->n; i++)
    json_array_append_new(a, json_string(l->v[i]));
  return a;
}

static const char *const type_names[] = {"unknown", "software", "hardware"};
static const char *const sel_names[] = {"all-pending", "none", "list"};

static json_t *outcome_json(km_verdict_t v, const char *rule,
                            const char *reason, const char *code,
                            const char *rid, bool off, bool restored) {
  return json_pack("{s:s, s:o, s:o, s:o, s:o, s:b, s:b}", "verdict",
                   km_verdict_name(v), "rule", jstr(rule), "reason",
                   jstr(reason), "fail_code", jstr(code), "fail_request_id",
                   jstr(rid), "rotation_off", off, "rotation_restored",
                   restored);
}

static json_t *key_json(const km_inv_key_t *k) {
  json_t *o = json_object();
  for (size_t i = 0; i < km__inv_nkey_fields; i++)
    json_object_set_new(o, km__inv_key_fields[i].name,
                        jstr(*field_at((void *)k, &km__inv_key_fields[i])));
  json_object_set_new(
      o, "CreatorType",
      json_string(k->creator == KM_CREATOR_SERVICE ? "Service" : "User"));
  json_object_set_new(o, "VersionCount", jnum(k->version_count));
  json_object_set_new(o, "Aliases", jstrs(&k->aliases));
  json_t *oc =
      outcome_json(k->verdict, k->rule, k->reason, k->fail_code,
                   k->fail_request_id, k->rotation_off, k->rotation_restored);
  json_object_update(o, oc);
  json_decref(oc);
  return o;
}

static json_t *secret_json(const km_inv_secret_t *s) {
  json_t *o = json_object();
  for (size_t i = 0; i < km__inv_nsecret_fields; i++)
    json_object_set_new(o, km__inv_secret_fields[i].name,
                        jstr(*field_at((void *)s, &km__inv_secret_fields[i])));
  json_t *oc =
      outcome_json(s->verdict, s->rule, s->reason, s->fail_code,
                   s->fail_request_id, s->rotation_off, s->rotation_restored);
  json_object_update(o, oc);
  json_decref(oc);
  return o;
}

json_t *km_inv_to_json(const km_inv_t *inv) {
  const km_inv_instance_t *in = &inv->inst;
  json_t *root = json_object();
  json_object_set_new(root, "account", jstr(inv->account));
  json_object_set_new(root, "account_id", jstr(inv->account_id));
  json_object_set_new(root, "region", jstr(inv->region));
  json_object_set_new(
      root, "destination",
      json_pack("{s:o, s:s, s:o, s:o}", "instance_id", jstr(inv->instance_id),
                "type", type_names[inv->instance_type], "image_version",
                jstr(inv->image_version), "auto_renew",
                inv->auto_renew < 0 ? json_null()
                                    : json_boolean(inv->auto_renew)));
  json_object_set_new(root, "select",
                      json_pack("{s:s, s:o, s:o, s:s, s:o}", "keys",
                                sel_names[inv->select.keys], "key_ids",
                                jstrs(&inv->select.key_ids), "key_aliases",
                                jstrs(&inv->select.key_aliases), "secrets",
                                sel_names[inv->select.secrets], "secret_names",
                                jstrs(&inv->select.secret_names)));
  json_object_set_new(
      root, "instance",
      json_pack("{s:b, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o,"
                " s:{s:o, s:o}, s:{s:o, s:o}, s:{s:o, s:o}}",
                "present", in->present, "InstanceId", jstr(in->instance_id),
                "InstanceName", jstr(in->instance_name), "Status",
                jstr(in->status), "EndDate", jstr(in->end_date),
                "ProductVersion", jstr(in->product_version), "Spec",
                jnum(in->spec), "KeyNum", jnum(in->key_num), "SecretNum",
                jnum(in->secret_num), "VpcNum", jnum(in->vpc_num), "key",
                "quota", jnum(in->key_quota), "used", jnum(in->key_used),
                "secret", "quota", jnum(in->secret_quota), "used",
                jnum(in->secret_used), "vpc", "quota", jnum(in->vpc_quota),
                "used", jnum(in->vpc_used)));
  json_object_set_new(root, "default_instance_id",
                      jstr(inv->default_instance_id));
  json_t *a = json_array();
  for (size_t i = 0; i < inv->nkeys; i++)
    json_array_append_new(a, key_json(&inv->keys[i]));
  json_object_set_new(root, "keys", a);
  a = json_array();
  for (size_t i = 0; i < inv->nsecrets; i++)
    json_array_append_new(a, secret_json(&inv->secrets[i]));
  json_object_set_new(root, "secrets", a);
  a = json_array();
  for (size_t i = 0; i < inv->ndest; i++)
    json_array_append_new(a, json_pack("{s:s, s:o}", "name",
                                       inv->dest_secrets[i].name, "account",
                                       jstr(inv->dest_secrets[i].account)));
  json_object_set_new(root, "destination_secrets", a);
  a = json_array();
  for (size_t i = 0; i < inv->nissues; i++)
    json_array_append_new(a, json_pack("{s:s, s:s, s:s}", "rule",
                                       inv->issues[i].rule, "verdict",
                                       km_verdict_name(inv->issues[i].verdict),
                                       "message", inv->issues[i].message));
  json_object_set_new(root, "issues", a);
  return root;
}

/* Reading back.  Every helper fails with KM_EPARSE naming the field, so a
 * hand-edited or truncated journal record says what is wrong. */

static int bad(km_err_t *err, const char *what) {
  return km__err_set(err, KM_EPARSE,
                     "inventory JSON: field %s is missing or "
                     "has the wrong type",
                     what);
}

static int rd_str(const json_t *o, const char *name, char **dst,
                  km_err_t *err) {
  json_t *v = json_object_get(o, name);
  if (v == NULL || json_is_null(v)) return 0;
  if (!json_is_string(v)) return bad(err, name);
  km_inv_set(dst, json_string_value(v));
  return 0;
}

static int rd_num(const json_t *o, const char *name, int64_t *dst,
                  km_err_t *err) {
  json_t *v = json_object_get(o, name);
  if (v == NULL || json_is_null(v)) {
    *dst = -1;
    return 0;
  }
  if (!json_is_integer(v)) return bad(err, name);
  *dst = (int64_t)json_integer_value(v);
  return 0;
}

static int rd_bool(const json_t *o, const char *name, bool *dst,
                   km_err_t *err) {
  json_t *v = json_object_get(o, name);
  if (v == NULL || json_is_null(v)) return 0;
  if (!json_is_boolean(v)) return bad(err, name);
  *dst = json_is_true(v);
  return 0;
}

static int rd_strs(const json_t *o, const char *name, km_inv_strs_t *l,
                   km_err_t *err) {
  json_t *v = json_object_get(o, name);
  if (v == NULL || json_is_null(v)) return 0;
  if (!json_is_array(v)) return bad(err, name);
  for (size_t i = 0; i < json_array_size(v); i++) {
    json_t *s = json_array_get(v, i);
    if (!json_is_string(s)) return bad(err, name);
    km_inv_strs_add(l, json_string_value(s));
  }
  return 0;
}

static int rd_enum(const json_t *o, const char *name, const char *const *names,
                   size_t n, int *dst, km_err_t *err) {
  const char *s = json_string_value(json_object_get(o, name));
  for (size_t i = 0; s != NULL && i < n; i++) {
    if (strcmp(s, names[i]) == 0) {
      *dst = (int)i;
      return 0;
    }
  }
  return bad(err, name);
}

static int rd_outcome(const json_t *o, km_verdict_t *v, char **rule,
                      char **reason, char **code, char **rid, bool *off,
                      bool *restored, km_err_t *err) {
  int rc;
  if (km_verdict_parse(json_string_value(json_object_get(o, "verdict")), v))
    return bad(err, "verdict");
  if ((rc = rd_str(o, "rule", rule, err)) ||
      (rc = rd_str(o, "reason", reason, err)) ||
      (rc = rd_str(o, "fail_code", code, err)) ||
      (rc = rd_str(o, "fail_request_id", rid, err)) ||
      (rc = rd_bool(o, "rotation_off", off, err)) ||
      (rc = rd_bool(o, "rotation_restored", restored, err)))
    return rc;
  return 0;
}

static int rd_key(km_inv_t *inv, const json_t *o, km_err_t *err) {
  const char *id = json_string_value(json_object_get(o, "KeyId"));
  if (id == NULL) return bad(err, "keys[].KeyId");
  km_inv_key_t *k = km_inv_add_key(inv, id);
  int rc;
  for (size_t i = 1; i < km__inv_nkey_fields; i++)
    if ((rc = rd_str(o, km__inv_key_fields[i].name,
                     field_at(k, &km__inv_key_fields[i]), err)))
      return rc;
  const char *ct = json_string_value(json_object_get(o, "CreatorType"));
  k->creator =
      (ct && strcmp(ct, "Service") == 0) ? KM_CREATOR_SERVICE : KM_CREATOR_USER;
  int64_t vc;
  if ((rc = rd_num(o, "VersionCount", &vc, err)) ||
      (rc = rd_strs(o, "Aliases", &k->aliases, err)))
    return rc;
  k->version_count = (int)vc;
  return rd_outcome(o, &k->verdict, &k->rule, &k->reason, &k->fail_code,
                    &k->fail_request_id, &k->rotation_off,
                    &k->rotation_restored, err);
}

static int rd_secret(km_inv_t *inv, const json_t *o, km_err_t *err) {
  const char *name = json_string_value(json_object_get(o, "SecretName"));
  if (name == NULL) return bad(err, "secrets[].SecretName");
  km_inv_secret_t *s = km_inv_add_secret(inv, name);
  int rc;
  for (size_t i = 1; i < km__inv_nsecret_fields; i++)
    if ((rc = rd_str(o, km__inv_secret_fields[i].name,
                     field_at(s, &km__inv_secret_fields[i]), err)))
      return rc;
  return rd_outcome(o, &s->verdict, &s->rule, &s->reason, &s->fail_code,
                    &s->fail_request_id, &s->rotation_off,
                    &s->rotation_restored, err);
}

static int rd_quota(const json_t *in, const char *name, int64_t *quota,
                    int64_t *used, km_err_t *err) {
  json_t *q = json_object_get(in, name);
  if (q == NULL) return 0;
  int rc = rd_num(q, "quota", quota, err);
  return rc ? rc : rd_num(q, "used", used, err);
}

static int rd_instance(km_inv_t *inv, const json_t *in, km_err_t *err) {
  km_inv_instance_t *x = &inv->inst;
  int rc;
  if (!json_is_object(in)) return bad(err, "instance");
  if ((rc = rd_bool(in, "present", &x->present, err)) ||
      (rc = rd_str(in, "InstanceId", &x->instance_id, err)) ||
      (rc = rd_str(in, "InstanceName", &x->instance_name, err)) ||
      (rc = rd_str(in, "Status", &x->status, err)) ||
      (rc = rd_str(in, "EndDate", &x->end_date, err)) ||
      (rc = rd_str(in, "ProductVersion", &x->product_version, err)) ||
      (rc = rd_num(in, "Spec", &x->spec, err)) ||
      (rc = rd_num(in, "KeyNum", &x->key_num, err)) ||
      (rc = rd_num(in, "SecretNum", &x->secret_num, err)) ||
      (rc = rd_num(in, "VpcNum", &x->vpc_num, err)) ||
      (rc = rd_quota(in, "key", &x->key_quota, &x->key_used, err)) ||
      (rc = rd_quota(in, "secret", &x->secret_quota, &x->secret_used, err)) ||
      (rc = rd_quota(in, "vpc", &x->vpc_quota, &x->vpc_used, err)))
    return rc;
  return 0;
}

static int rd_header(km_inv_t *inv, const json_t *j, km_err_t *err) {
  const json_t *d = json_object_get(j, "destination");
  const json_t *sel = json_object_get(j, "select");
  int rc, t = 0, sk = 0, ss = 0;
  if (!json_is_object(d)) return bad(err, "destination");
  if (!json_is_object(sel)) return bad(err, "select");
  if ((rc = rd_str(j, "account_id", &inv->account_id, err)) ||
      (rc = rd_str(d, "instance_id", &inv->instance_id, err)) ||
      (rc = rd_enum(d, "type", type_names, KM_ARRAY_SIZE(type_names), &t,
                    err)) ||
      (rc = rd_str(d, "image_version", &inv->image_version, err)) ||
      (rc = rd_enum(sel, "keys", sel_names, KM_ARRAY_SIZE(sel_names), &sk,
                    err)) ||
      (rc = rd_enum(sel, "secrets", sel_names, KM_ARRAY_SIZE(sel_names), &ss,
                    err)) ||
      (rc = rd_strs(sel, "key_ids", &inv->select.key_ids, err)) ||
      (rc = rd_strs(sel, "key_aliases", &inv->select.key_aliases, err)) ||
      (rc = rd_strs(sel, "secret_names", &inv->select.secret_names, err)) ||
      (rc = rd_str(j, "default_instance_id", &inv->default_instance_id, err)))
    return rc;
  inv->instance_type = (km_inv_type_t)t;
  inv->select.keys = (km_inv_sel_t)sk;
  inv->select.secrets = (km_inv_sel_t)ss;
  json_t *ar = json_object_get(d, "auto_renew");
  inv->auto_renew = json_is_boolean(ar) ? (json_is_true(ar) ? 1 : 0) : -1;
  return rd_instance(inv, json_object_get(j, "instance"), err);
}

static int rd_lists(km_inv_t *inv, const json_t *j, km_err_t *err) {
  static const char *const lists[] = {"keys", "secrets", "destination_secrets",
                                      "issues"};
  int rc = 0;
  for (size_t l = 0; l < KM_ARRAY_SIZE(lists); l++) {
    json_t *a = json_object_get(j, lists[l]);
    if (a == NULL) continue;
    if (!json_is_array(a)) return bad(err, lists[l]);
    for (size_t i = 0; i < json_array_size(a) && rc == 0; i++) {
      json_t *o = json_array_get(a, i);
      if (!json_is_object(o)) return bad(err, lists[l]);
      if (l == 0) {
        rc = rd_key(inv, o, err);
      } else if (l == 1) {
        rc = rd_secret(inv, o, err);
      } else if (l == 2) {
        const char *n = json_string_value(json_object_get(o, "name"));
        if (n == NULL) return bad(err, "destination_secrets[].name");
        km_inv_add_dest_secret(
            inv, n, json_string_value(json_object_get(o, "account")));
      } else {
        const char *r = json_string_value(json_object_get(o, "rule"));
        const char *m = json_string_value(json_object_get(o, "message"));
        km_verdict_t v;
        if (r == NULL || m == NULL ||
            km_verdict_parse(json_string_value(json_object_get(o, "verdict")),
                             &v))
          return bad(err, "issues[]");
        km_inv_add_issue(inv, r, v, m);
      }
    }
    if (rc) return rc;
  }
  return 0;
}

int km_inv_from_json(const json_t *j, km_inv_t **out, km_err_t *err) {
  *out = NULL;
  const char *account = json_string_value(json_object_get(j, "account"));
  const char *region = json_string_value(json_object_get(j, "region"));
  if (!json_is_object(j) || account == NULL) return bad(err, "account");
  if (region == NULL) return bad(err, "region");
  km_inv_t *inv = km_inv_new(account, NULL, region, NULL);
  int rc = rd_header(inv, j, err);
  if (rc == 0) rc = rd_lists(inv, j, err);
  if (rc) {
    km_inv_free(inv);
    return rc;
  }
  *out = inv;
  return 0;
}
