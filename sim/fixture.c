/* Fixture loading: the tree read by yaml.c (YAML or JSON) is turned into the
 * cloud model with validation that names the offending node.  The format is
 * documented in docs/kmsim.md; gen: entries are expanded by gen.c into the same
 * tree shape first. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "state.h"

/* ---- typed access (scalars are strings in the tree; generated trees may
 * hold numbers and booleans) ---- */

typedef struct {
  char *err;
  size_t errlen;
  bool failed;
  ksim_cloud_t *c;
  int64_t now;
} fx_t;

static int fail(fx_t *fx, const char *where, const char *fmt, ...)
    KM_PRINTF(3, 4);
static int fail(fx_t *fx, const char *where, const char *fmt, ...) {
  if (fx->failed) return -1;
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  snprintf(fx->err, fx->errlen, "fixture %s: %s", where, msg);
  fx->failed = true;
  return -1;
}

static const char *jstr(json_t *o, const char *k) {
  return json_string_value(json_object_get(o, k));
}

static char *dupstr(json_t *o, const char *k, const char *def) {
  json_t *v = json_object_get(o, k);
  if (json_is_string(v)) return km_xstrdup(json_string_value(v));
  if (json_is_integer(v))
    return km_xasprintf("%lld", (long long)json_integer_value(v));
  return def != NULL ? km_xstrdup(def) : NULL;
}

static int jlong(fx_t *fx, const char *where, json_t *o, const char *k,
                 long def, long *out) {
  json_t *v = json_object_get(o, k);
  if (v == NULL || json_is_null(v)) {
    *out = def;
    return 0;
  }
  if (json_is_integer(v)) {
    *out = (long)json_integer_value(v);
    return 0;
  }
  const char *s = json_string_value(v);
  char *end = NULL;
  long n = s != NULL ? strtol(s, &end, 10) : 0;
  if (s == NULL || end == s || *end != '\0')
    return fail(fx, where, "%s: expected an integer", k);
  *out = n;
  return 0;
}

static int jbool(fx_t *fx, const char *where, json_t *o, const char *k,
                 bool def, bool *out) {
  json_t *v = json_object_get(o, k);
  if (v == NULL || json_is_null(v)) {
    *out = def;
    return 0;
  }
  if (json_is_boolean(v)) {
    *out = json_is_true(v);
    return 0;
  }
  const char *s = json_string_value(v);
  if (s != NULL && (strcmp(s, "true") == 0 || strcmp(s, "yes") == 0)) {
    *out = true;
    return 0;
  }
  if (s != NULL && (strcmp(s, "false") == 0 || strcmp(s, "no") == 0)) {
    *out = false;
    return 0;
  }
  return fail(fx, where, "%s: expected true or false", k);
}

static int jtime(fx_t *fx, const char *where, json_t *o, const char *k,
                 int64_t def, int64_t *out) {
  const char *s = jstr(o, k);
  if (s == NULL) {
    *out = def;
    return 0;
  }
  /* "-20d" / "+3h": relative to kmsim's start, so a fixture keeps its
   * meaning (a key rotated 20 days ago) whatever day it is loaded. */
  if (s[0] == '-' || s[0] == '+') {
    int64_t d = ksim_parse_interval(s + 1);
    if (d < 0)
      return fail(fx, where, "%s: expected -<n>[d|h|m|s] or +<n>[d|h|m|s]", k);
    *out = s[0] == '-' ? fx->now - d : fx->now + d;
    return 0;
  }
  if (km_parse_iso8601(s, out) != 0)
    return fail(fx, where,
                "%s: expected YYYY-MM-DDThh:mm:ssZ or a relative -<n>d", k);
  return 0;
}

static const char *one_of(const char *v, const char *const *allowed) {
  for (; *allowed != NULL; allowed++)
    if (strcmp(v, *allowed) == 0) return *allowed;
  return NULL;
}

static int tags_load(fx_t *fx, const char *where, json_t *o, ksim_tags_t *t) {
  json_t *tags = json_object_get(o, "tags");
  if (tags == NULL || json_is_null(tags)) return 0;
  if (!json_is_object(tags)) return fail(fx, where, "tags: expected a map");
  const char *k;
  json_t *v;
  json_object_foreach(tags, k, v) {
    ksim_tag_t *tag = KSIM_VEC_PUSH(*t);
    tag->key = km_xstrdup(k);
    tag->value = km_xstrdup(json_is_string(v) ? json_string_value(v) : "");
  }
  return 0;
}

static int strs_load(fx_t *fx, const char *where, json_t *o, const char *k,
                     ksim_strs_t *out) {
  json_t *a = json_object_get(o, k);
  if (a == NULL || json_is_null(a)) return 0;
  if (!json_is_array(a)) return fail(fx, where, "%s: expected a list", k);
  size_t i;
  json_t *v;
  json_array_foreach(a, i, v) {
    if (!json_is_string(v)) return fail(fx, where, "%s: expected strings", k);
    ksim_strs_push(out, json_string_value(v));
  }
  return 0;
}

static int rotation_load(fx_t *fx, const char *where, json_t *o,
                         int64_t def_interval, bool *enabled,
                         int64_t *interval) {
  json_t *r = json_object_get(o, "rotation");
  *enabled = false;
  *interval = def_interval;
  if (r == NULL || json_is_null(r)) return 0;
  if (jbool(fx, where, r, "enabled", false, enabled) < 0) return -1;
  const char *iv = jstr(r, "interval");
  if (iv != NULL) {
    *interval = ksim_parse_interval(iv);
    if (*interval <= 0)
      return fail(fx, where, "rotation.interval: expected <n>[d|h|m|s]");
  }
  return 0;
}

static const char *const k_specs[] = {"Aliyun_AES_256", "Aliyun_AES_128",
                                      "Aliyun_AES_192", "Aliyun_SM4",
                                      "RSA_2048",       "RSA_3072",
                                      "EC_P256",        "EC_P256K",
                                      "EC_SM2",         NULL};
static const char *const k_states[] = {"Enabled", "Disabled", "PendingDeletion",
                                       "PendingImport", NULL};
static const char *const k_secret_types[] = {"Generic", "Rds", "RAMCredentials",
                                             "ECS", NULL};

static int key_load(fx_t *fx, ksim_account_t *a, ksim_region_t *r, json_t *o,
                    const char *where) {
  const char *id = jstr(o, "id");
  if (id == NULL) return fail(fx, where, "id is required");
  if (ksim_key_find(r, id) != NULL)
    return fail(fx, where, "duplicate key id %s", id);
  ksim_key_t *k = km_xcalloc(1, sizeof(*k));
  *KSIM_VEC_PUSH(r->keys) = k;
  k->id = km_xstrdup(id);
  k->description = dupstr(o, "description", "");
  const char *creator = jstr(o, "creator");
  k->service = creator != NULL && strcmp(creator, "service") == 0;
  if (creator != NULL && !k->service && strcmp(creator, "user") != 0)
    return fail(fx, where, "creator: user or service");
  k->service_name = dupstr(o, "service", k->service ? "rds" : NULL);
  k->creator = km_xstrdup(a->id);
  k->spec = dupstr(o, "spec", "Aliyun_AES_256");
  if (one_of(k->spec, k_specs) == NULL)
    return fail(fx, where, "spec %s is not a KeySpec", k->spec);
  k->usage = dupstr(
      o, "usage", ksim_key_is_symmetric(k) ? "ENCRYPT/DECRYPT" : "SIGN/VERIFY");
  if (strcmp(k->usage, "ENCRYPT/DECRYPT") != 0 &&
      strcmp(k->usage, "SIGN/VERIFY") != 0)
    return fail(fx, where, "usage: ENCRYPT/DECRYPT or SIGN/VERIFY");
  k->origin = dupstr(o, "origin", "Aliyun_KMS");
  if (strcmp(k->origin, "Aliyun_KMS") != 0 &&
      strcmp(k->origin, "EXTERNAL") != 0)
    return fail(fx, where, "origin: Aliyun_KMS or EXTERNAL");
  k->protection = dupstr(o, "protection", "SOFTWARE");
  if (strcmp(k->protection, "SOFTWARE") != 0 &&
      strcmp(k->protection, "HSM") != 0)
    return fail(fx, where, "protection: SOFTWARE or HSM");
  bool external = strcmp(k->origin, "EXTERNAL") == 0;
  k->state = dupstr(o, "state", external ? "PendingImport" : "Enabled");
  if (one_of(k->state, k_states) == NULL)
    return fail(fx, where, "state %s is not a KeyState", k->state);
  if (jtime(fx, where, o, "created", fx->now - 400 * 86400, &k->created) < 0 ||
      jtime(fx, where, o, "last_rotation", k->created, &k->last_rotation) < 0 ||
      jtime(fx, where, o, "material_expire", 0, &k->material_expire) < 0)
    return -1;
  /* delete_date: when a PendingDeletion key goes (an exported fixture
   * keeps the source's DeleteDate); default 7 days after the start. */
  int64_t gone = fx->now + 7 * 86400;
  if (strcmp(k->state, "PendingDeletion") == 0 &&
      jtime(fx, where, o, "delete_date", gone, &k->delete_date) < 0)
    return -1;
  if (rotation_load(fx, where, o, 365 * 86400, &k->rotation_enabled,
                    &k->rotation_interval) < 0)
    return -1;
  if (k->rotation_enabled &&
      (!ksim_key_is_symmetric(k) || k->service || external))
    return fail(fx, where,
                "rotation cannot be enabled on this key (asymmetric,"
                " service or EXTERNAL)");
  json_t *vers = json_object_get(o, "versions");
  if (json_is_array(vers)) {
    size_t i;
    json_t *v;
    json_array_foreach(vers, i, v) {
      ksim_version_t *kv = KSIM_VEC_PUSH(k->versions);
      kv->id = km_xstrdup(json_is_string(v) ? json_string_value(v) : "v");
      kv->created = k->created + (int64_t)i * 86400;
    }
  } else {
    long n;
    if (jlong(fx, where, o, "versions", 1, &n) < 0) return -1;
    if (n < 1 || n > 10000) return fail(fx, where, "versions: 1..10000");
    for (long i = 0; i < n; i++) {
      ksim_version_t *kv = KSIM_VEC_PUSH(k->versions);
      kv->id = km_xasprintf("%s-v%ld", k->id, i + 1);
      kv->created = k->created + i * 86400;
    }
  }
  /* As the cloud reports it: LastRotationDate is the primary version's
   * creation (the initial one's for a new key), so a key with several
   * versions never shows its CreationDate there (clients rely on it to
   * skip ListKeyVersions). */
  if (k->versions.n > 1 &&
      k->last_rotation < k->versions.v[k->versions.n - 1].created)
    k->last_rotation = k->versions.v[k->versions.n - 1].created;
  if (external && strcmp(k->state, "PendingImport") != 0)
    k->has_material = true;
  if (strs_load(fx, where, o, "aliases", &k->aliases) < 0) return -1;
  if (k->service) {
    char *alias = km_xasprintf("alias/acs/%s", k->service_name);
    if (!ksim_strs_has(&k->aliases, alias)) ksim_strs_push(&k->aliases, alias);
    free(alias);
  }
  if (tags_load(fx, where, o, &k->tags) < 0) return -1;
  k->instance_id = dupstr(o, "instance", NULL);
  if (k->instance_id != NULL) {
    k->migrations = 1;
    k->migrated_at = k->created;
  }
  k->policy = dupstr(o, "policy", NULL);
  return jbool(fx, where, o, "deletion_protection", false,
               &k->deletion_protection);
}

static int secret_load(fx_t *fx, ksim_region_t *r, json_t *o,
                       const char *where) {
  const char *name = jstr(o, "name");
  if (name == NULL) return fail(fx, where, "name is required");
  const char *inst = jstr(o, "instance");
  for (size_t i = 0; i < r->secrets.n; i++) {
    ksim_secret_t *s = r->secrets.v[i];
    bool same_home = (inst == NULL && s->instance_id == NULL) ||
                     (inst != NULL && s->instance_id != NULL &&
                      strcmp(inst, s->instance_id) == 0);
    if (strcmp(s->name, name) == 0 && same_home)
      return fail(fx, where, "duplicate secret %s in the same home", name);
  }
  ksim_secret_t *s = km_xcalloc(1, sizeof(*s));
  *KSIM_VEC_PUSH(r->secrets) = s;
  s->name = km_xstrdup(name);
  s->type = dupstr(o, "type", "Generic");
  if (one_of(s->type, k_secret_types) == NULL)
    return fail(fx, where, "type %s: Generic, Rds, RAMCredentials or ECS",
                s->type);
  s->description = dupstr(o, "description", "");
  s->key_id = dupstr(o, "key", NULL);
  s->extended_config = dupstr(o, "extended_config", NULL);
  bool generic = strcmp(s->type, "Generic") == 0;
  if (s->extended_config == NULL && !generic) {
    if (strcmp(s->type, "Rds") == 0)
      s->extended_config = km_xasprintf(
          "{\"SecretSubType\":\"SingleUser\",\"DBInstanceId\":\"rm-%s\","
          "\"CustomData\":{}}",
          s->name);
    else if (strcmp(s->type, "RAMCredentials") == 0)
      s->extended_config = km_xstrdup(
          "{\"SecretSubType\":\"RamUserAccessKey\",\"UserName\":\"app\","
          "\"CustomData\":{}}");
    else
      s->extended_config = km_xstrdup(
          "{\"SecretSubType\":\"Password\",\"InstanceId\":\"i-ksim\","
          "\"CustomData\":{}}");
  }
  s->owning_service = dupstr(o, "owning_service", NULL);
  if (jtime(fx, where, o, "created", fx->now - 200 * 86400, &s->created) < 0)
    return -1;
  s->updated = s->created;
  s->last_rotation = s->created;
  if (rotation_load(fx, where, o, 7 * 86400, &s->rotation_enabled,
                    &s->rotation_interval) < 0)
    return -1;
  if (s->rotation_enabled && generic)
    return fail(fx, where, "rotation cannot be enabled on a Generic secret");
  json_t *vers = json_object_get(o, "versions");
  if (json_is_array(vers)) {
    if (strs_load(fx, where, o, "versions", &s->versions) < 0) return -1;
  } else {
    long n;
    if (jlong(fx, where, o, "versions", 1, &n) < 0) return -1;
    for (long i = 0; i < n; i++) {
      char *v = km_xasprintf("v%ld", i + 1);
      ksim_strs_push(&s->versions, v);
      free(v);
    }
  }
  if (tags_load(fx, where, o, &s->tags) < 0) return -1;
  s->instance_id = inst != NULL ? km_xstrdup(inst) : NULL;
  if (s->instance_id != NULL) {
    s->migrations = 0; /* created in the instance unless migrated: */
    bool migrated = false;
    if (jbool(fx, where, o, "migrated", true, &migrated) < 0) return -1;
    if (migrated) {
      s->migrations = 1;
      s->migrated_at = s->created;
    }
  }
  s->policy = dupstr(o, "policy", NULL);
  return 0;
}

static int instance_load(fx_t *fx, ksim_account_t *a, const char *region,
                         json_t *o, const char *where) {
  const char *id = jstr(o, "id");
  if (id == NULL || strncmp(id, "kst-", 4) != 0)
    return fail(fx, where, "id kst-... is required");
  if (ksim_instance_by_id(fx->c, id) != NULL)
    return fail(fx, where, "duplicate instance %s", id);
  ksim_instance_t *i = km_xcalloc(1, sizeof(*i));
  *KSIM_VEC_PUSH(fx->c->instances) = i;
  i->id = km_xstrdup(id);
  i->name = dupstr(o, "name", id);
  i->owner = km_xstrdup(a->id);
  i->region = km_xstrdup(region);
  i->type = dupstr(o, "type", "software");
  if (strcmp(i->type, "software") != 0 && strcmp(i->type, "hardware") != 0)
    return fail(fx, where, "type: software or hardware");
  i->image_version = dupstr(o, "image_version", "2.9.3");
  i->status = dupstr(o, "status", "Connected");
  i->product_type = dupstr(o, "product_type", "kms_ddi_public_cn");
  i->charge_type = dupstr(o, "charge_type", "PREPAY");
  i->vpc_id = dupstr(o, "vpc_id", "vpc-ksim0000000000000001");
  if (jbool(fx, where, o, "auto_renew", true, &i->auto_renew) < 0 ||
      jlong(fx, where, o, "spec", 1000, &i->spec) < 0 ||
      jlong(fx, where, o, "key_num", 1000, &i->key_num) < 0 ||
      jlong(fx, where, o, "secret_num", 100, &i->secret_num) < 0 ||
      jlong(fx, where, o, "vpc_num", 7, &i->vpc_num) < 0 ||
      jlong(fx, where, o, "bound_vpcs", 1, &i->bound_vpcs) < 0 ||
      jtime(fx, where, o, "start", fx->now - 30 * 86400, &i->start) < 0 ||
      jtime(fx, where, o, "end", fx->now + 335 * 86400, &i->end) < 0)
    return -1;
  i->created = i->start;
  if (strs_load(fx, where, o, "zones", &i->zones) < 0 ||
      strs_load(fx, where, o, "vswitches", &i->vswitches) < 0 ||
      strs_load(fx, where, o, "shared_with", &i->shared_with) < 0)
    return -1;
  if (i->zones.n == 0) {
    char *z1 = km_xasprintf("%s-h", region), *z2 = km_xasprintf("%s-k", region);
    ksim_strs_push(&i->zones, z1);
    ksim_strs_push(&i->zones, z2);
    free(z1);
    free(z2);
  }
  if (i->vswitches.n == 0) ksim_strs_push(&i->vswitches, "vsw-ksim00000001");
  return 0;
}

static int account_load(fx_t *fx, json_t *o, size_t idx) {
  char where[256];
  snprintf(where, sizeof(where), "accounts[%zu]", idx);
  const char *id = jstr(o, "id");
  if (id == NULL) return fail(fx, where, "id is required");
  if (ksim_account_by_id(fx->c, id) != NULL)
    return fail(fx, where, "duplicate account %s", id);
  ksim_account_t *a = km_xcalloc(1, sizeof(*a));
  *KSIM_VEC_PUSH(fx->c->accounts) = a;
  a->id = km_xstrdup(id);
  ksim_map_put(&fx->c->account_index, id, a);
  a->name = dupstr(o, "name", id);
  a->enterprise = dupstr(o, "enterprise", NULL);
  a->directory = dupstr(o, "directory", NULL);
  a->folder = dupstr(o, "folder", NULL);
  a->join_method = dupstr(o, "join_method", "created");
  a->status = dupstr(o, "status", "CreateSuccess");
  if (jtime(fx, where, o, "join_time", fx->now - 500 * 86400, &a->join_time) <
      0)
    return -1;
  if (tags_load(fx, where, o, &a->tags) < 0) return -1;
  json_t *aks = json_object_get(o, "access_keys");
  size_t i;
  json_t *v;
  json_array_foreach(aks, i, v) {
    const char *akid = jstr(v, "id"), *sec = jstr(v, "secret");
    if (akid == NULL || sec == NULL)
      return fail(fx, where, "access_keys[%zu]: id and secret required", i);
    if (ksim_map_get(&fx->c->ak_index, akid) != NULL ||
        strncmp(akid, "STS.", 4) == 0)
      return fail(fx, where, "access key %s duplicated or reserved", akid);
    ksim_ak_t *ak = KSIM_VEC_PUSH(a->aks);
    ak->id = km_xstrdup(akid);
    ak->secret = km_xstrdup(sec);
    ksim_map_put(&fx->c->ak_index, akid, a);
  }
  json_array_foreach(json_object_get(o, "roles"), i, v) {
    ksim_role_t *r = KSIM_VEC_PUSH(a->roles);
    r->name = dupstr(v, "name", "role");
    if (strs_load(fx, where, v, "trusted", &r->trusted) < 0) return -1;
  }
  json_t *regions = json_object_get(o, "regions");
  const char *rname;
  json_t *rv;
  json_object_foreach(regions, rname, rv) {
    char w2[512];
    if (!ksim_region_known(fx->c, rname))
      return fail(fx, where, "region %s is not in regions:", rname);
    ksim_region_t *r = ksim_account_region(fx->c, a, rname);
    json_array_foreach(json_object_get(rv, "instances"), i, v) {
      snprintf(w2, sizeof(w2), "%s.regions.%s.instances[%zu]", where, rname, i);
      if (instance_load(fx, a, rname, v, w2) < 0) return -1;
    }
    json_array_foreach(json_object_get(rv, "keys"), i, v) {
      snprintf(w2, sizeof(w2), "%s.regions.%s.keys[%zu]", where, rname, i);
      if (key_load(fx, a, r, v, w2) < 0) return -1;
    }
    json_array_foreach(json_object_get(rv, "secrets"), i, v) {
      snprintf(w2, sizeof(w2), "%s.regions.%s.secrets[%zu]", where, rname, i);
      if (secret_load(fx, r, v, w2) < 0) return -1;
    }
    r->default_instance = dupstr(rv, "default_instance", NULL);
  }
  return 0;
}

/* Cross-references checked once everything is loaded. */
static int check_refs(fx_t *fx) {
  ksim_cloud_t *c = fx->c;
  for (size_t i = 0; i < c->directories.n; i++) {
    ksim_directory_t *d = &c->directories.v[i];
    ksim_account_t *m = ksim_account_by_id(c, d->management);
    if (m == NULL) m = ksim_account_by_name(c, d->management);
    if (m == NULL)
      return fail(fx, d->id, "management account %s not found", d->management);
    free(d->management);
    d->management = km_xstrdup(m->id);
    if (m->directory == NULL) m->directory = km_xstrdup(d->id);
  }
  for (size_t i = 0; i < c->accounts.n; i++) {
    ksim_account_t *a = c->accounts.v[i];
    if (a->directory != NULL && ksim_directory_by_id(c, a->directory) == NULL)
      return fail(fx, a->id, "directory %s not found", a->directory);
    if (a->enterprise == NULL && a->directory != NULL) {
      ksim_directory_t *d = ksim_directory_by_id(c, a->directory);
      if (d->enterprise != NULL) a->enterprise = km_xstrdup(d->enterprise);
    }
    if (a->enterprise != NULL &&
        ksim_enterprise_by_id(c, a->enterprise) == NULL)
      return fail(fx, a->id, "enterprise %s not found", a->enterprise);
    if (a->folder == NULL && a->directory != NULL) {
      ksim_directory_t *d = ksim_directory_by_id(c, a->directory);
      a->folder = km_xstrdup(d->root_folder);
    }
    for (size_t j = 0; j < a->roles.n; j++)
      for (size_t t = 0; t < a->roles.v[j].trusted.n; t++) {
        ksim_account_t *tr =
            ksim_account_by_name(c, a->roles.v[j].trusted.v[t]);
        if (tr != NULL) {
          free(a->roles.v[j].trusted.v[t]);
          a->roles.v[j].trusted.v[t] = km_xstrdup(tr->id);
        }
      }
    for (size_t j = 0; j < a->regions.n; j++) {
      ksim_region_t *r = a->regions.v[j];
      if (r->default_instance != NULL) {
        ksim_instance_t *inst = ksim_instance_by_id(c, r->default_instance);
        if (inst == NULL || strcmp(inst->region, r->region) != 0)
          return fail(fx, a->id, "default_instance %s not in %s",
                      r->default_instance, r->region);
      }
      for (size_t k = 0; k < r->keys.n; k++) {
        const char *iid = r->keys.v[k]->instance_id;
        ksim_instance_t *inst = ksim_instance_by_id(c, iid);
        if (iid != NULL && (inst == NULL || strcmp(inst->region, r->region)))
          return fail(fx, r->keys.v[k]->id, "instance %s not in %s", iid,
                      r->region);
      }
      for (size_t k = 0; k < r->secrets.n; k++) {
        ksim_secret_t *s = r->secrets.v[k];
        ksim_instance_t *inst = ksim_instance_by_id(c, s->instance_id);
        if (s->instance_id != NULL &&
            (inst == NULL || strcmp(inst->region, r->region)))
          return fail(fx, s->name, "instance %s not in %s", s->instance_id,
                      r->region);
        if (s->key_id != NULL) {
          ksim_key_t *key = ksim_key_find(r, s->key_id);
          if (key == NULL)
            return fail(fx, s->name, "encryption key %s not in %s", s->key_id,
                        r->region);
          free(s->key_id);
          s->key_id = km_xstrdup(key->id);
        }
      }
    }
  }
  for (size_t i = 0; i < c->instances.n; i++) {
    ksim_instance_t *inst = c->instances.v[i];
    for (size_t t = 0; t < inst->shared_with.n; t++) {
      ksim_account_t *a = ksim_account_by_name(c, inst->shared_with.v[t]);
      if (a == NULL) a = ksim_account_by_id(c, inst->shared_with.v[t]);
      if (a == NULL)
        return fail(fx, inst->id, "shared_with %s: unknown account",
                    inst->shared_with.v[t]);
      free(inst->shared_with.v[t]);
      inst->shared_with.v[t] = km_xstrdup(a->id);
    }
  }
  return 0;
}

int ksim_fixture_apply(ksim_cloud_t *c, json_t *fx_tree, char *err,
                       size_t errlen) {
  fx_t fx = {err, errlen, false, c, 0};
  if (!json_is_object(fx_tree)) return fail(&fx, "root", "expected a map");
  const char *clock = jstr(fx_tree, "clock");
  if (clock != NULL) {
    int64_t t;
    if (km_parse_iso8601(clock, &t) != 0)
      return fail(&fx, "clock", "expected YYYY-MM-DDThh:mm:ssZ");
    c->clock_offset = t - (int64_t)time(NULL);
  }
  fx.now = ksim_clock_now(c);
  json_t *gen = json_object_get(fx_tree, "gen");
  json_t *tree = json_incref(fx_tree);
  if (gen != NULL && !json_is_null(gen)) {
    json_t *g = ksim_generate(gen, err, errlen);
    if (g == NULL) {
      json_decref(tree);
      return -1;
    }
    /* generated entries extend the hand-written ones */
    json_t *merged = json_deep_copy(fx_tree);
    static const char *const lists[] = {"regions", "enterprises", "directories",
                                        "accounts"};
    for (size_t i = 0; i < KM_ARRAY_SIZE(lists); i++) {
      json_t *dst = json_object_get(merged, lists[i]);
      if (dst == NULL) {
        dst = json_array();
        json_object_set_new(merged, lists[i], dst);
      }
      size_t j;
      json_t *v;
      json_array_foreach(json_object_get(g, lists[i]), j, v) {
        bool dup = false;
        if (json_is_string(v)) {
          size_t k;
          json_t *w;
          json_array_foreach(dst, k, w) dup |= json_equal(v, w);
        }
        if (!dup) json_array_append(dst, v);
      }
    }
    json_decref(g);
    json_decref(tree);
    tree = merged;
  }
  size_t i;
  json_t *v;
  int rc = 0;
  json_array_foreach(json_object_get(tree, "regions"), i, v) {
    if (json_is_string(v) && !ksim_strs_has(&c->regions, json_string_value(v)))
      ksim_strs_push(&c->regions, json_string_value(v));
  }
  if (c->regions.n == 0) {
    rc = fail(&fx, "regions", "at least one region is required");
    goto out;
  }
  json_array_foreach(json_object_get(tree, "enterprises"), i, v) {
    ksim_enterprise_t *e = KSIM_VEC_PUSH(c->enterprises);
    e->id = dupstr(v, "id", "ent-unnamed");
    e->name = dupstr(v, "name", e->id);
    if (jbool(&fx, "enterprises", v, "verified", true, &e->verified) < 0) {
      rc = -1;
      goto out;
    }
  }
  json_array_foreach(json_object_get(tree, "directories"), i, v) {
    ksim_directory_t *d = KSIM_VEC_PUSH(c->directories);
    d->id = dupstr(v, "id", "rd-unnamed");
    d->enterprise = dupstr(v, "enterprise", NULL);
    d->management = dupstr(v, "management", "");
    d->root_folder = dupstr(v, "root_folder", NULL);
    size_t j;
    json_t *f;
    json_array_foreach(json_object_get(v, "folders"), j, f) {
      ksim_folder_t *fo = KSIM_VEC_PUSH(d->folders);
      fo->id = dupstr(f, "id", "fd-unnamed");
      fo->name = dupstr(f, "name", fo->id);
      fo->parent = dupstr(f, "parent", NULL);
      if (d->root_folder == NULL && fo->parent == NULL)
        d->root_folder = km_xstrdup(fo->id);
    }
    if (d->root_folder == NULL) {
      d->root_folder = km_xasprintf("fd-root-%s", d->id);
      ksim_folder_t *fo = KSIM_VEC_PUSH(d->folders);
      fo->id = km_xstrdup(d->root_folder);
      fo->name = km_xstrdup("Root");
    }
  }
  json_array_foreach(json_object_get(tree, "accounts"), i, v) {
    if (account_load(&fx, v, i) < 0) {
      rc = -1;
      goto out;
    }
  }
  if (check_refs(&fx) < 0) {
    rc = -1;
    goto out;
  }
  json_t *thr = json_object_get(tree, "throttle");
  if (thr != NULL && !json_is_null(thr)) {
    json_t *cfg = json_pack("{s:O}", "throttle", thr);
    rc = ksim_faults_configure(c, cfg, err, errlen);
    json_decref(cfg);
  }
out:
  if (rc == 0) {
    json_decref(c->fixture);
    c->fixture = json_incref(tree);
  }
  json_decref(tree);
  return rc;
}

int ksim_fixture_load(ksim_cloud_t *c, const char *path, char *err,
                      size_t errlen) {
  json_t *tree = ksim_yaml_load(path, err, errlen);
  if (tree == NULL) return -1;
  int rc = ksim_fixture_apply(c, tree, err, errlen);
  json_decref(tree);
  return rc;
}
