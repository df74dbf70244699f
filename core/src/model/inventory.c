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

#include "model/inventory.h"
#include "model/intern.h"
#include "model/observe.h"
#include "model/rules.h"
#include "model/strmap.h"
#include "util/util.h"

#define KF(name, member)                                                       \
  { name, offsetof(km_inv_key_t, member), false }
#define KI(name, member)                                                       \
  { name, offsetof(km_inv_key_t, member), true }
#define SF(name, member)                                                       \
  { name, offsetof(km_inv_secret_t, member), false }
#define SI(name, member)                                                       \
  { name, offsetof(km_inv_secret_t, member), true }

const km__inv_field_t km__inv_key_fields[] = {
    KF("KeyId", key_id),
    KF("Arn", arn),
    KI("KeySpec", key_spec),
    KI("KeyUsage", key_usage),
    KI("Origin", origin),
    KI("ProtectionLevel", protection_level),
    KI("KeyState", key_state),
    KI("DKMSInstanceId", dkms_instance_id),
    KI("AutomaticRotation", automatic_rotation),
    KI("RotationInterval", rotation_interval),
    KF("DeleteDate", delete_date),
};
const size_t km__inv_nkey_fields = KM_ARRAY_SIZE(km__inv_key_fields);

const km__inv_field_t km__inv_secret_fields[] = {
    SF("SecretName", secret_name),
    SF("Arn", arn),
    SI("SecretType", secret_type),
    SF("EncryptionKeyId", encryption_key_id),
    SI("DKMSInstanceId", dkms_instance_id),
    SI("AutomaticRotation", automatic_rotation),
    SI("RotationInterval", rotation_interval),
    SI("OwingService", owing_service),
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
  km_str_free(*dst);
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
  inv->region = (char *)km_intern(region);
  inv->instance_id = (char *)km_intern(instance_id);
  inv->auto_renew = -1;
  instance_init(&inv->inst);
  return inv;
}

static void key_free(km_inv_key_t *k) {
  for (size_t i = 0; i < km__inv_nkey_fields; i++)
    km_str_free(*field_at(k, &km__inv_key_fields[i]));
  km_inv_strs_free(&k->aliases);
  km_str_free(k->rule);
  free(k->reason);
  free(k->fail_code);
  free(k->fail_request_id);
}

static void alias_items_free(km_inv_t *inv) {
  for (size_t i = 0; i < inv->nalias_items; i++) {
    free(inv->alias_items[i].alias);
    free(inv->alias_items[i].key_id);
  }
  free(inv->alias_items);
  inv->alias_items = NULL;
  inv->nalias_items = inv->capalias_items = 0;
}

static void secret_free(km_inv_secret_t *s) {
  for (size_t i = 0; i < km__inv_nsecret_fields; i++)
    km_str_free(*field_at(s, &km__inv_secret_fields[i]));
  km_str_free(s->rule);
  free(s->reason);
  free(s->fail_code);
  free(s->fail_request_id);
}

void km_inv_free(km_inv_t *inv) {
  if (inv == NULL) return;
  km_str_free(inv->account);
  km_str_free(inv->account_id);
  km_str_free(inv->region);
  km_str_free(inv->instance_id);
  km_str_free(inv->image_version);
  km_str_free(inv->default_choice);
  km_inv_strs_free(&inv->hook_notes);
  km_obs_free(inv->obs);
  km_strmap_free(inv->kidx);
  km_strmap_free(inv->sidx);
  km_strmap_free(inv->didx);
  km_strmap_free(inv->dpairs);
  km_str_free(inv->inst.instance_id);
  km_str_free(inv->inst.instance_name);
  km_str_free(inv->inst.status);
  km_str_free(inv->inst.end_date);
  km_str_free(inv->inst.product_version);
  km_str_free(inv->default_instance_id);
  for (size_t i = 0; i < inv->nkeys; i++)
    key_free(&inv->keys[i]);
  free(inv->keys);
  alias_items_free(inv);
  for (size_t i = 0; i < inv->nsecrets; i++)
    secret_free(&inv->secrets[i]);
  free(inv->secrets);
  for (size_t i = 0; i < inv->ndest; i++) {
    km_str_free(inv->dest_secrets[i].name);
    km_str_free(inv->dest_secrets[i].account);
  }
  free(inv->dest_secrets);
  for (size_t i = 0; i < inv->nissues; i++) {
    km_str_free(inv->issues[i].rule);
    km_str_free(inv->issues[i].message);
  }
  free(inv->issues);
  free(inv);
}

/* Grows a (ptr, n, cap) array by one zeroed element and returns it. */
static void *grow(void **arr, size_t *n, size_t *cap, size_t elem) {
  if (*n == *cap) {
    *cap = *cap ? *cap * 2 : 4;
    *arr = km_xrealloc(*arr, *cap * elem);
  }
  void *p = (char *)*arr + *n * elem;
  memset(p, 0, elem);
  (*n)++;
  return p;
}

/* The indexes are built on the first lookup after a sort (km_inv_t is
 * otherwise const for readers: the maps are a cache). */
static km_strmap_t *key_index(const km_inv_t *inv) {
  km_inv_t *w = (km_inv_t *)inv;
  if (w->kidx == NULL) {
    w->kidx = km_strmap_new(inv->nkeys);
    for (size_t i = 0; i < inv->nkeys; i++)
      km_strmap_put(w->kidx, inv->keys[i].key_id, i);
  }
  return w->kidx;
}

static km_strmap_t *secret_index(const km_inv_t *inv) {
  km_inv_t *w = (km_inv_t *)inv;
  if (w->sidx == NULL) {
    w->sidx = km_strmap_new(inv->nsecrets);
    for (size_t i = 0; i < inv->nsecrets; i++)
      km_strmap_put(w->sidx, inv->secrets[i].secret_name, i);
  }
  return w->sidx;
}

km_inv_key_t *km_inv_find_key(const km_inv_t *inv, const char *id) {
  if (id == NULL || id[0] == '\0') return NULL;
  size_t i;
  if (km_strmap_get(key_index(inv), id, &i)) return &inv->keys[i];
  /* An Arn ends in key/<KeyId>. */
  const char *k = strncmp(id, "acs:kms:", 8) == 0 ? strstr(id, ":key/") : NULL;
  char buf[KM_INV_ARN_MAX];
  const char *arn;
  if (k != NULL && km_strmap_get(key_index(inv), k + 5, &i) &&
      (arn = km_inv_key_arn(inv, &inv->keys[i], buf, sizeof(buf))) != NULL &&
      strcmp(arn, id) == 0)
    return &inv->keys[i];
  /* Aliases are few and looked up rarely (hooks, selection by alias). */
  if (strncmp(id, "alias/", 6) != 0) return NULL;
  for (i = 0; i < inv->nkeys; i++)
    if (km_inv_strs_has(&inv->keys[i].aliases, id)) return &inv->keys[i];
  return NULL;
}

km_inv_secret_t *km_inv_find_secret(const km_inv_t *inv, const char *name) {
  size_t i;
  if (name != NULL && km_strmap_get(secret_index(inv), name, &i))
    return &inv->secrets[i];
  return NULL;
}

km_inv_key_t *km_inv_add_key(km_inv_t *inv, const char *key_id) {
  size_t i;
  if (km_strmap_get(key_index(inv), key_id, &i)) return &inv->keys[i];
  km_inv_key_t *k =
      grow((void **)&inv->keys, &inv->nkeys, &inv->capkeys, sizeof(*k));
  k->key_id = km_xstrdup(key_id);
  k->version_count = -1;
  km_strmap_put(inv->kidx, k->key_id, inv->nkeys - 1);
  return k;
}

km_inv_secret_t *km_inv_add_secret(km_inv_t *inv, const char *name) {
  km_inv_secret_t *s = km_inv_find_secret(inv, name);
  if (s != NULL) return s;
  s = grow((void **)&inv->secrets, &inv->nsecrets, &inv->capsecrets,
           sizeof(*s));
  s->secret_name = km_xstrdup(name);
  km_strmap_put(inv->sidx, s->secret_name, inv->nsecrets - 1);
  return s;
}

/* name → first entry, and "name\naccount" pairs (duplicates ignored). */
static void dest_index(const km_inv_t *inv) {
  km_inv_t *w = (km_inv_t *)inv;
  if (w->didx != NULL) return;
  w->didx = km_strmap_new(inv->ndest);
  w->dpairs = km_strmap_new(inv->ndest);
  for (size_t i = 0; i < inv->ndest; i++) {
    const km_inv_dest_secret_t *d = &inv->dest_secrets[i];
    km_strmap_put(w->didx, d->name, i);
    char *k = km_xasprintf("%s\n%s", d->name, d->account ? d->account : "");
    km_strmap_put(w->dpairs, k, i);
    free(k);
  }
}

const km_inv_dest_secret_t *km_inv_find_dest(const km_inv_t *inv,
                                             const char *name) {
  size_t i;
  if (name == NULL) return NULL;
  dest_index(inv);
  return km_strmap_get(inv->didx, name, &i) ? &inv->dest_secrets[i] : NULL;
}

void km_inv_add_dest_secret(km_inv_t *inv, const char *name,
                            const char *account) {
  if (account == NULL) account = inv->account;
  dest_index(inv);
  char *k = km_xasprintf("%s\n%s", name, account ? account : "");
  size_t i;
  if (km_strmap_get(inv->dpairs, k, &i)) {
    free(k);
    return;
  }
  km_inv_dest_secret_t *d =
      grow((void **)&inv->dest_secrets, &inv->ndest, &inv->capdest, sizeof(*d));
  d->name = km_xstrdup(name);
  km_inv_set(&d->account, account);
  km_strmap_put(inv->dpairs, k, inv->ndest - 1);
  km_strmap_put(inv->didx, d->name, inv->ndest - 1);
  free(k);
}

void km_inv_add_alias(km_inv_t *inv, const char *alias, const char *key_id) {
  km_inv_alias_t *a = grow((void **)&inv->alias_items, &inv->nalias_items,
                           &inv->capalias_items, sizeof(*a));
  a->alias = km_xstrdup(alias);
  a->key_id = km_xstrdup(key_id);
}

size_t km_inv_attach_aliases(km_inv_t *inv) {
  size_t dropped = 0, i;
  for (size_t n = 0; n < inv->nalias_items; n++) {
    const km_inv_alias_t *a = &inv->alias_items[n];
    /* By KeyId only: an alias never names another alias or an Arn. */
    if (km_strmap_get(key_index(inv), a->key_id, &i))
      km_inv_strs_add(&inv->keys[i].aliases, a->alias);
    else
      dropped++;
  }
  alias_items_free(inv);
  return dropped;
}

void km_inv_add_issue(km_inv_t *inv, const char *rule, km_verdict_t verdict,
                      const char *message) {
  km_inv_issue_t *is =
      grow((void **)&inv->issues, &inv->nissues, &inv->capissues, sizeof(*is));
  /* Interned: rule ids are few, and one instance's warning is often every
   * member pipeline's (10,000 copies of the same sentence otherwise). */
  is->rule = (char *)km_intern(rule);
  is->verdict = verdict;
  is->message = (char *)km_intern(message);
}

void km_inv_clear_issues(km_inv_t *inv, const char *prefix) {
  size_t w = 0, plen = strlen(prefix);
  for (size_t i = 0; i < inv->nissues; i++) {
    if (strncmp(inv->issues[i].rule, prefix, plen) == 0) {
      km_str_free(inv->issues[i].rule);
      km_str_free(inv->issues[i].message);
    } else {
      inv->issues[w++] = inv->issues[i];
    }
  }
  inv->nissues = w;
}

void km_inv_key_decide(km_inv_key_t *k, km_verdict_t v, const char *rule,
                       const char *reason) {
  k->verdict = v;
  /* Rule ids are few: interned (the copy is made before the old goes). */
  char *old = k->rule;
  k->rule = rule != NULL && rule[0] ? (char *)km_intern(rule) : NULL;
  km_str_free(old);
  km_inv_set(&k->reason, reason);
}

void km_inv_secret_decide(km_inv_secret_t *s, km_verdict_t v, const char *rule,
                          const char *reason) {
  s->verdict = v;
  char *old = s->rule;
  s->rule = rule != NULL && rule[0] ? (char *)km_intern(rule) : NULL;
  km_str_free(old);
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

/* Gives back the unused tail of an array (discovery is over when the
 * model is sorted; thousands of pipelines wait at the barrier). */
static void *fit(void *arr, size_t n, size_t *cap, size_t elem) {
  if (n == 0 || n == *cap) return arr;
  *cap = n;
  return km_xrealloc(arr, n * elem);
}

void km_inv_drop_keys(km_inv_t *inv) {
  for (size_t i = 0; i < inv->nkeys; i++)
    key_free(&inv->keys[i]);
  free(inv->keys);
  inv->keys = NULL;
  inv->nkeys = inv->capkeys = 0;
  km_strmap_free(inv->kidx);
  inv->kidx = NULL;
  alias_items_free(inv);
}

void km_inv_drop_secrets(km_inv_t *inv) {
  for (size_t i = 0; i < inv->nsecrets; i++)
    secret_free(&inv->secrets[i]);
  free(inv->secrets);
  inv->secrets = NULL;
  inv->nsecrets = inv->capsecrets = 0;
  km_strmap_free(inv->sidx);
  inv->sidx = NULL;
}

void km_inv_drop_indexes(km_inv_t *inv) {
  km_strmap_free(inv->kidx);
  km_strmap_free(inv->sidx);
  km_strmap_free(inv->didx);
  km_strmap_free(inv->dpairs);
  inv->kidx = inv->sidx = inv->didx = inv->dpairs = NULL;
}

/* The Arn the service gives a key or secret of this account and region. */
static int usual_arn(const km_inv_t *inv, const char *kind, const char *id,
                     char *buf, size_t size) {
  return snprintf(buf, size, "acs:kms:%s:%s:%s/%s", inv->region,
                  inv->account_id, kind, id);
}

/* Frees *arn when it is the usual form (the accessor rebuilds it). */
static void compact_arn(const km_inv_t *inv, const char *kind, const char *id,
                        char **arn, bool *derived) {
  char buf[KM_INV_ARN_MAX];
  if (*arn == NULL || inv->region == NULL || inv->account_id == NULL) return;
  int n = usual_arn(inv, kind, id, buf, sizeof(buf));
  if (n <= 0 || (size_t)n >= sizeof(buf) || strcmp(buf, *arn) != 0) return;
  free(*arn);
  *arn = NULL;
  *derived = true;
}

static const char *arn_of(const km_inv_t *inv, const char *kind, const char *id,
                          const char *arn, bool derived, char *buf,
                          size_t size) {
  if (arn != NULL || !derived) return arn;
  int n = usual_arn(inv, kind, id, buf, size);
  return n > 0 && (size_t)n < size ? buf : NULL;
}

const char *km_inv_key_arn(const km_inv_t *inv, const km_inv_key_t *k,
                           char *buf, size_t size) {
  return arn_of(inv, "key", k->key_id, k->arn, k->arn_derived, buf, size);
}

const char *km_inv_secret_arn(const km_inv_t *inv, const km_inv_secret_t *s,
                              char *buf, size_t size) {
  return arn_of(inv, "secret", s->secret_name, s->arn, s->arn_derived, buf,
                size);
}

void km_inv_sort_keys(km_inv_t *inv) {
  for (size_t i = 0; i < inv->nkeys; i++)
    compact_arn(inv, "key", inv->keys[i].key_id, &inv->keys[i].arn,
                &inv->keys[i].arn_derived);
  inv->keys = fit(inv->keys, inv->nkeys, &inv->capkeys, sizeof(*inv->keys));
  km_strmap_free(inv->kidx); /* rebuilt on the next lookup */
  inv->kidx = NULL;
  if (inv->nkeys > 1) qsort(inv->keys, inv->nkeys, sizeof(*inv->keys), cmp_key);
  for (size_t i = 0; i < inv->nkeys; i++)
    if (inv->keys[i].aliases.n > 1)
      qsort(inv->keys[i].aliases.v, inv->keys[i].aliases.n, sizeof(char *),
            cmp_str);
}

void km_inv_sort_secrets(km_inv_t *inv) {
  for (size_t i = 0; i < inv->nsecrets; i++)
    compact_arn(inv, "secret", inv->secrets[i].secret_name,
                &inv->secrets[i].arn, &inv->secrets[i].arn_derived);
  inv->secrets =
      fit(inv->secrets, inv->nsecrets, &inv->capsecrets, sizeof(*inv->secrets));
  inv->dest_secrets = fit(inv->dest_secrets, inv->ndest, &inv->capdest,
                          sizeof(*inv->dest_secrets));
  km_strmap_free(inv->sidx);
  inv->sidx = NULL;
  km_strmap_free(inv->didx);
  km_strmap_free(inv->dpairs);
  inv->didx = inv->dpairs = NULL;
  if (inv->nsecrets > 1)
    qsort(inv->secrets, inv->nsecrets, sizeof(*inv->secrets), cmp_secret);
  if (inv->ndest > 1)
    qsort(inv->dest_secrets, inv->ndest, sizeof(*inv->dest_secrets), cmp_dest);
}

void km_inv_sort(km_inv_t *inv) {
  km_inv_sort_keys(inv);
  km_inv_sort_secrets(inv);
  km_inv_drop_indexes(inv);
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
    } else if (inv->issues[i].verdict == KM_VERDICT_FAILED) {
      out->failures++;
    } else {
      out->warnings++;
    }
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

static json_t *outcome_json(km_verdict_t v, const char *rule,
                            const char *reason, const char *code,
                            const char *rid, bool off, bool restored) {
  return json_pack("{s:s, s:o, s:o, s:o, s:o, s:b, s:b}", "verdict",
                   km_verdict_name(v), "rule", jstr(rule), "reason",
                   jstr(reason), "fail_code", jstr(code), "fail_request_id",
                   jstr(rid), "rotation_off", off, "rotation_restored",
                   restored);
}

static json_t *key_json(const km_inv_t *inv, const km_inv_key_t *k) {
  json_t *o = json_object();
  char buf[KM_INV_ARN_MAX], why[KM_RULES_REASON_MAX];
  for (size_t i = 0; i < km__inv_nkey_fields; i++)
    json_object_set_new(o, km__inv_key_fields[i].name,
                        jstr(*field_at((void *)k, &km__inv_key_fields[i])));
  json_object_set_new(o, "Arn", jstr(km_inv_key_arn(inv, k, buf, sizeof(buf))));
  json_object_set_new(
      o, "CreatorType",
      json_string(k->creator == KM_CREATOR_SERVICE ? "Service" : "User"));
  json_object_set_new(o, "VersionCount", jnum(k->version_count));
  json_object_set_new(o, "Aliases", jstrs(&k->aliases));
  json_t *oc = outcome_json(
      k->verdict, k->rule, km_rules_key_reason(inv, k, why, sizeof(why)),
      k->fail_code, k->fail_request_id, k->rotation_off, k->rotation_restored);
  json_object_update(o, oc);
  json_decref(oc);
  return o;
}

static json_t *secret_json(const km_inv_t *inv, const km_inv_secret_t *s) {
  json_t *o = json_object();
  char buf[KM_INV_ARN_MAX], why[KM_RULES_REASON_MAX];
  for (size_t i = 0; i < km__inv_nsecret_fields; i++)
    json_object_set_new(o, km__inv_secret_fields[i].name,
                        jstr(*field_at((void *)s, &km__inv_secret_fields[i])));
  json_object_set_new(o, "Arn",
                      jstr(km_inv_secret_arn(inv, s, buf, sizeof(buf))));
  json_t *oc = outcome_json(
      s->verdict, s->rule, km_rules_secret_reason(inv, s, why, sizeof(why)),
      s->fail_code, s->fail_request_id, s->rotation_off, s->rotation_restored);
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
  static const km_select_t none;
  const km_select_t *sel = inv->select != NULL ? inv->select : &none;
  json_object_set_new(root, "select",
                      json_pack("{s:s, s:o, s:o, s:s, s:o}", "keys",
                                km_sel_mode_name(sel->keys), "key_ids",
                                jstrs(&sel->key_ids), "key_aliases",
                                jstrs(&sel->key_aliases), "secrets",
                                km_sel_mode_name(sel->secrets), "secret_names",
                                jstrs(&sel->secret_names)));
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
    json_array_append_new(a, key_json(inv, &inv->keys[i]));
  json_object_set_new(root, "keys", a);
  a = json_array();
  for (size_t i = 0; i < inv->nsecrets; i++)
    json_array_append_new(a, secret_json(inv, &inv->secrets[i]));
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

/* ---- the selection ---- */

const char *km_sel_mode_name(km_sel_mode_t m) {
  static const char *const names[] = {"unset", "all-pending", "none", "list"};
  return (unsigned)m < KM_ARRAY_SIZE(names) ? names[m] : "unset";
}

void km_select_free(km_select_t *s) {
  if (s == NULL) return;
  km_inv_strs_free(&s->key_ids);
  km_inv_strs_free(&s->key_aliases);
  km_inv_strs_free(&s->secret_names);
}
