/* The cloud model's containers and lookups: vectors, the string map used for
 * AccessKey and STS indexes, account/key/secret/instance lookup, instance
 * quota usage, freeing, and the JSON dump behind GET /_kmsim/state. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "kms_common.h"
#include "state.h"

static ksim_cloud_t *g_cloud;

ksim_cloud_t *ksim_cloud(void) {
  return g_cloud;
}

void ksim_cloud_set(ksim_cloud_t *c) {
  g_cloud = c;
}

void ksim_vec_grow(void **v, size_t *cap, size_t want, size_t elem) {
  if (want <= *cap) return;
  size_t nc = *cap != 0 ? *cap * 2 : 8;
  while (nc < want)
    nc *= 2;
  *v = km_xrealloc(*v, nc * elem);
  memset((char *)*v + *cap * elem, 0, (nc - *cap) * elem);
  *cap = nc;
}

/* ---- map ---- */

static uint64_t fnv(const char *s) {
  uint64_t h = 1469598103934665603ULL;
  for (; *s; s++)
    h = (h ^ (unsigned char)*s) * 1099511628211ULL;
  return h;
}

static void map_insert(ksim_map_t *m, char *key, void *val) {
  size_t i = fnv(key) & (m->cap - 1);
  while (m->keys[i] != NULL) {
    if (strcmp(m->keys[i], key) == 0) {
      free(m->keys[i]);
      m->keys[i] = key;
      m->vals[i] = val;
      return;
    }
    i = (i + 1) & (m->cap - 1);
  }
  m->keys[i] = key;
  m->vals[i] = val;
  m->n++;
}

void ksim_map_put(ksim_map_t *m, const char *key, void *val) {
  if ((m->n + 1) * 2 > m->cap) {
    ksim_map_t old = *m;
    m->cap = old.cap != 0 ? old.cap * 2 : 64;
    m->keys = km_xcalloc(m->cap, sizeof(char *));
    m->vals = km_xcalloc(m->cap, sizeof(void *));
    m->n = 0;
    for (size_t i = 0; i < old.cap; i++)
      if (old.keys[i] != NULL) map_insert(m, old.keys[i], old.vals[i]);
    free(old.keys);
    free(old.vals);
  }
  map_insert(m, km_xstrdup(key), val);
}

void *ksim_map_get(const ksim_map_t *m, const char *key) {
  if (m->cap == 0 || key == NULL) return NULL;
  size_t i = fnv(key) & (m->cap - 1);
  while (m->keys[i] != NULL) {
    if (strcmp(m->keys[i], key) == 0) return m->vals[i];
    i = (i + 1) & (m->cap - 1);
  }
  return NULL;
}

void ksim_map_free(ksim_map_t *m) {
  for (size_t i = 0; i < m->cap; i++)
    free(m->keys[i]);
  free(m->keys);
  free(m->vals);
  memset(m, 0, sizeof(*m));
}

/* ---- random ---- */

uint64_t ksim_rand(uint64_t *s) {
  uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

double ksim_rand01(uint64_t *s) {
  return (double)(ksim_rand(s) >> 11) / 9007199254740992.0;
}

/* ---- cloud ---- */

ksim_cloud_t *ksim_cloud_new(void) {
  ksim_cloud_t *c = km_xcalloc(1, sizeof(*c));
  pthread_mutex_init(&c->lock, NULL);
  ksim_faults_init(&c->faults);
  c->ext = json_object();
  c->id_rng = 0x5EED;
  return c;
}

/* The same clock as ksim_clock_ms (events are stamped with it): glibc's
 * time() reads the coarse clock, which can still say second S a few ms
 * after an event stamped S+1, and a query's default end ("now") then left
 * out the event just recorded (test_actiontrail_events under ASan). */
int64_t ksim_clock_now(const ksim_cloud_t *c) {
  return ksim_clock_ms(c) / 1000;
}

void ksim_strs_free(ksim_strs_t *s) {
  for (size_t i = 0; i < s->n; i++)
    free(s->v[i]);
  free(s->v);
  memset(s, 0, sizeof(*s));
}

void ksim_strs_push(ksim_strs_t *s, const char *v) {
  *KSIM_VEC_PUSH(*s) = km_xstrdup(v);
}

bool ksim_strs_has(const ksim_strs_t *s, const char *v) {
  for (size_t i = 0; i < s->n; i++)
    if (strcmp(s->v[i], v) == 0) return true;
  return false;
}

void ksim_tags_free(ksim_tags_t *t) {
  for (size_t i = 0; i < t->n; i++) {
    free(t->v[i].key);
    free(t->v[i].value);
  }
  free(t->v);
  memset(t, 0, sizeof(*t));
}

void ksim_key_free(ksim_key_t *k) {
  if (k == NULL) return;
  free(k->id);
  free(k->description);
  free(k->creator);
  free(k->service_name);
  free(k->spec);
  free(k->usage);
  free(k->origin);
  free(k->protection);
  free(k->state);
  for (size_t i = 0; i < k->versions.n; i++)
    free(k->versions.v[i].id);
  free(k->versions.v);
  ksim_strs_free(&k->aliases);
  ksim_tags_free(&k->tags);
  free(k->instance_id);
  free(k->policy);
  free(k);
}

void ksim_secret_free(ksim_secret_t *s) {
  if (s == NULL) return;
  free(s->name);
  free(s->type);
  free(s->description);
  free(s->key_id);
  free(s->extended_config);
  free(s->owning_service);
  ksim_strs_free(&s->versions);
  ksim_tags_free(&s->tags);
  free(s->instance_id);
  free(s->policy);
  free(s);
}

static void region_free(ksim_region_t *r) {
  for (size_t i = 0; i < r->keys.n; i++)
    ksim_key_free(r->keys.v[i]);
  free(r->keys.v);
  for (size_t i = 0; i < r->secrets.n; i++)
    ksim_secret_free(r->secrets.v[i]);
  free(r->secrets.v);
  free(r->region);
  free(r->default_instance);
  free(r);
}

static void account_free(ksim_account_t *a) {
  free(a->id);
  free(a->name);
  free(a->enterprise);
  free(a->directory);
  free(a->folder);
  free(a->join_method);
  free(a->status);
  ksim_tags_free(&a->tags);
  for (size_t i = 0; i < a->aks.n; i++) {
    free(a->aks.v[i].id);
    km_free_secret(a->aks.v[i].secret);
  }
  free(a->aks.v);
  for (size_t i = 0; i < a->roles.n; i++) {
    free(a->roles.v[i].name);
    ksim_strs_free(&a->roles.v[i].trusted);
  }
  free(a->roles.v);
  for (size_t i = 0; i < a->regions.n; i++)
    region_free(a->regions.v[i]);
  free(a->regions.v);
  free(a);
}

void ksim_instance_free(ksim_instance_t *i) {
  free(i->id);
  free(i->name);
  free(i->owner);
  free(i->region);
  free(i->type);
  free(i->image_version);
  free(i->status);
  free(i->product_type);
  free(i->charge_type);
  free(i->vpc_id);
  ksim_strs_free(&i->zones);
  ksim_strs_free(&i->vswitches);
  ksim_strs_free(&i->shared_with);
  free(i);
}

void ksim_cloud_free(ksim_cloud_t *c) {
  if (c == NULL) return;
  ksim_strs_free(&c->regions);
  for (size_t i = 0; i < c->enterprises.n; i++) {
    free(c->enterprises.v[i].id);
    free(c->enterprises.v[i].name);
  }
  free(c->enterprises.v);
  for (size_t i = 0; i < c->directories.n; i++) {
    ksim_directory_t *d = &c->directories.v[i];
    free(d->id);
    free(d->enterprise);
    free(d->management);
    free(d->root_folder);
    for (size_t j = 0; j < d->folders.n; j++) {
      free(d->folders.v[j].id);
      free(d->folders.v[j].name);
      free(d->folders.v[j].parent);
    }
    free(d->folders.v);
  }
  free(c->directories.v);
  for (size_t i = 0; i < c->accounts.n; i++)
    account_free(c->accounts.v[i]);
  free(c->accounts.v);
  for (size_t i = 0; i < c->instances.n; i++)
    ksim_instance_free(c->instances.v[i]);
  free(c->instances.v);
  for (size_t i = 0; i < c->sts.n; i++) {
    ksim_sts_cred_t *s = c->sts.v[i];
    free(s->access_key_id);
    km_free_secret(s->secret);
    km_free_secret(s->token);
    free(s->account);
    free(s->role_arn);
    free(s->session);
    free(s);
  }
  free(c->sts.v);
  for (size_t i = 0; i < c->import_tokens.n; i++) {
    ksim_import_token_t *t = c->import_tokens.v[i];
    free(t->token);
    free(t->key_id);
    free(t->account);
    free(t->region);
    free(t->algorithm);
    EVP_PKEY_free(t->pkey);
    free(t);
  }
  free(c->import_tokens.v);
  for (size_t i = 0; i < c->tasks.n; i++) {
    ksim_task_t *t = c->tasks.v[i];
    free(t->id);
    free(t->account);
    free(t->region);
    free(t->instance);
    free(t->status);
    ksim_strs_free(&t->keys);
    ksim_strs_free(&t->secrets);
    json_decref(t->detail);
    free(t);
  }
  free(c->tasks.v);
  ksim_map_free(&c->ak_index);
  ksim_map_free(&c->account_index);
  ksim_map_free(&c->sts_index);
  for (size_t i = 0; i < c->buckets.cap; i++)
    if (c->buckets.keys[i] != NULL) free(c->buckets.vals[i]);
  ksim_map_free(&c->buckets);
  ksim_map_free(&c->stats);
  free(c->nonce_hash);
  free(c->nonce_time);
  ksim_faults_free(&c->faults);
  json_decref(c->ext);
  json_decref(c->fixture);
  free(c->state_path);
  pthread_mutex_destroy(&c->lock);
  if (g_cloud == c) g_cloud = NULL;
  free(c);
}

/* ---- lookups ---- */

ksim_account_t *ksim_account_by_id(ksim_cloud_t *c, const char *id) {
  return ksim_map_get(&c->account_index, id); /* filled by fixture.c */
}

ksim_account_t *ksim_account_by_name(ksim_cloud_t *c, const char *name) {
  if (name == NULL) return NULL;
  for (size_t i = 0; i < c->accounts.n; i++)
    if (c->accounts.v[i]->name != NULL &&
        strcmp(c->accounts.v[i]->name, name) == 0)
      return c->accounts.v[i];
  return NULL;
}

ksim_account_t *ksim_account_by_ak(ksim_cloud_t *c, const char *ak,
                                   const char **secret) {
  ksim_account_t *a = ksim_map_get(&c->ak_index, ak);
  if (a == NULL) return NULL;
  for (size_t i = 0; i < a->aks.n; i++)
    if (strcmp(a->aks.v[i].id, ak) == 0) {
      if (secret != NULL) *secret = a->aks.v[i].secret;
      return a;
    }
  return NULL;
}

bool ksim_region_known(const ksim_cloud_t *c, const char *region) {
  return ksim_strs_has(&c->regions, region);
}

ksim_region_t *ksim_account_region(ksim_cloud_t *c, ksim_account_t *a,
                                   const char *region) {
  for (size_t i = 0; i < a->regions.n; i++)
    if (strcmp(a->regions.v[i]->region, region) == 0) return a->regions.v[i];
  if (!ksim_region_known(c, region)) return NULL;
  ksim_region_t *r = km_xcalloc(1, sizeof(*r));
  r->region = km_xstrdup(region);
  *KSIM_VEC_PUSH(a->regions) = r;
  return r;
}

ksim_directory_t *ksim_directory_by_id(ksim_cloud_t *c, const char *id) {
  for (size_t i = 0; id != NULL && i < c->directories.n; i++)
    if (strcmp(c->directories.v[i].id, id) == 0) return &c->directories.v[i];
  return NULL;
}

ksim_enterprise_t *ksim_enterprise_by_id(ksim_cloud_t *c, const char *id) {
  for (size_t i = 0; id != NULL && i < c->enterprises.n; i++)
    if (strcmp(c->enterprises.v[i].id, id) == 0) return &c->enterprises.v[i];
  return NULL;
}

/* "acs:kms:<region>:<uid>:key/<id>" -> "<id>" (NULL if not a key ARN). */
static const char *arn_tail(const char *s, const char *kind) {
  if (strncmp(s, "acs:kms:", 8) != 0) return NULL;
  const char *p = strrchr(s, ':');
  if (p == NULL) return NULL;
  size_t kl = strlen(kind);
  if (strncmp(p + 1, kind, kl) != 0 || p[1 + kl] != '/') return NULL;
  return p + 2 + kl;
}

ksim_key_t *ksim_key_find(ksim_region_t *r, const char *s) {
  if (r == NULL || s == NULL) return NULL;
  const char *id = arn_tail(s, "key");
  if (id == NULL) id = s;
  bool alias = strncmp(id, "alias/", 6) == 0;
  for (size_t i = 0; i < r->keys.n; i++) {
    ksim_key_t *k = r->keys.v[i];
    if (!alias && strcmp(k->id, id) == 0) return k;
    if (alias && ksim_strs_has(&k->aliases, id)) return k;
  }
  return NULL;
}

ksim_secret_t *ksim_secret_find(ksim_region_t *r, const char *s) {
  if (r == NULL || s == NULL) return NULL;
  const char *name = arn_tail(s, "secret");
  if (name == NULL) name = s;
  for (size_t i = 0; i < r->secrets.n; i++)
    if (strcmp(r->secrets.v[i]->name, name) == 0) return r->secrets.v[i];
  return NULL;
}

ksim_instance_t *ksim_instance_by_id(ksim_cloud_t *c, const char *id) {
  for (size_t i = 0; id != NULL && i < c->instances.n; i++)
    if (strcmp(c->instances.v[i]->id, id) == 0) return c->instances.v[i];
  return NULL;
}

bool ksim_instance_visible(const ksim_instance_t *i, const ksim_account_t *a) {
  return strcmp(i->owner, a->id) == 0 || ksim_strs_has(&i->shared_with, a->id);
}

void ksim_instance_usage(ksim_cloud_t *c, const ksim_instance_t *inst,
                         long *keys, long *secrets) {
  long nk = 0, ns = 0;
  for (size_t i = 0; i < c->accounts.n; i++) {
    ksim_account_t *a = c->accounts.v[i];
    for (size_t j = 0; j < a->regions.n; j++) {
      ksim_region_t *r = a->regions.v[j];
      if (strcmp(r->region, inst->region) != 0) continue;
      for (size_t k = 0; k < r->keys.n; k++)
        if (!r->keys.v[k]->service && r->keys.v[k]->instance_id != NULL &&
            strcmp(r->keys.v[k]->instance_id, inst->id) == 0)
          nk++;
      for (size_t k = 0; k < r->secrets.n; k++)
        if (r->secrets.v[k]->instance_id != NULL &&
            strcmp(r->secrets.v[k]->instance_id, inst->id) == 0)
          ns++;
    }
  }
  if (keys != NULL) *keys = nk;
  if (secrets != NULL) *secrets = ns;
}

char *ksim_key_arn(const char *region, const char *uid, const char *key_id) {
  return km_xasprintf("acs:kms:%s:%s:key/%s", region, uid, key_id);
}

bool ksim_key_is_symmetric(const ksim_key_t *k) {
  return strncmp(k->spec, "Aliyun_", 7) == 0;
}

bool ksim_region_mainland(const char *region) {
  return strncmp(region, "cn-", 3) == 0 && strcmp(region, "cn-hongkong") != 0;
}

/* ---- dump ---- */

static json_t *tags_json(const ksim_tags_t *t) {
  json_t *o = json_object();
  for (size_t i = 0; i < t->n; i++)
    json_object_set_new(o, t->v[i].key, json_string(t->v[i].value));
  return o;
}

static json_t *strs_json(const ksim_strs_t *s) {
  json_t *a = json_array();
  for (size_t i = 0; i < s->n; i++)
    json_array_append_new(a, json_string(s->v[i]));
  return a;
}

static json_t *opt_time(int64_t t) {
  return t != 0 ? ksim_json_time(t) : json_null();
}

static json_t *opt_str(const char *s) {
  return s != NULL ? json_string(s) : json_null();
}

static json_t *key_json(const ksim_key_t *k) {
  json_t *vers = json_array();
  for (size_t i = 0; i < k->versions.n; i++)
    json_array_append_new(vers, json_string(k->versions.v[i].id));
  char interval[32];
  snprintf(interval, sizeof(interval), "%llds",
           (long long)k->rotation_interval);
  json_t *o = json_object();
  json_object_set_new(o, "KeyId", json_string(k->id));
  json_object_set_new(o, "CreatorType",
                      json_string(k->service ? "Service" : "User"));
  json_object_set_new(o, "Service", opt_str(k->service_name));
  json_object_set_new(o, "KeySpec", json_string(k->spec));
  json_object_set_new(o, "KeyUsage", json_string(k->usage));
  json_object_set_new(o, "Origin", json_string(k->origin));
  json_object_set_new(o, "ProtectionLevel", json_string(k->protection));
  json_object_set_new(o, "KeyState", json_string(k->state));
  json_object_set_new(o, "Aliases", strs_json(&k->aliases));
  json_object_set_new(o, "Versions", vers);
  json_object_set_new(o, "Rotation",
                      json_pack("{s:b, s:s, s:i}", "Enabled",
                                k->rotation_enabled, "Interval", interval,
                                "Updates", k->rotation_updates));
  json_object_set_new(o, "Tags", tags_json(&k->tags));
  json_object_set_new(o, "DKMSInstanceId", opt_str(k->instance_id));
  json_object_set_new(o, "Migrations", json_integer(k->migrations));
  json_object_set_new(o, "MigratedAt", opt_time(k->migrated_at));
  json_object_set_new(o, "Migrating", json_boolean(k->migrating));
  json_object_set_new(o, "MaterialImportedAt",
                      opt_time(k->material_imported_at));
  json_object_set_new(o, "MaterialExpire", opt_time(k->material_expire));
  return o;
}

static json_t *secret_json(const ksim_secret_t *s) {
  char interval[32];
  snprintf(interval, sizeof(interval), "%llds",
           (long long)s->rotation_interval);
  json_t *o = json_object();
  json_object_set_new(o, "SecretName", json_string(s->name));
  json_object_set_new(o, "SecretType", json_string(s->type));
  json_object_set_new(o, "EncryptionKeyId", opt_str(s->key_id));
  json_object_set_new(o, "Versions", strs_json(&s->versions));
  json_object_set_new(o, "Rotation",
                      json_pack("{s:b, s:s, s:i}", "Enabled",
                                s->rotation_enabled, "Interval", interval,
                                "Updates", s->rotation_updates));
  json_object_set_new(o, "Tags", tags_json(&s->tags));
  json_object_set_new(o, "DKMSInstanceId", opt_str(s->instance_id));
  json_object_set_new(o, "Migrations", json_integer(s->migrations));
  json_object_set_new(o, "MigratedAt", opt_time(s->migrated_at));
  json_object_set_new(o, "Migrating", json_boolean(s->migrating));
  return o;
}

static json_t *instance_json(ksim_cloud_t *c, const ksim_instance_t *i) {
  long nk, ns;
  ksim_instance_usage(c, i, &nk, &ns);
  json_t *o = json_pack(
      "{s:s, s:s, s:s, s:s, s:s, s:s, s:b, s:i, s:i, s:i, s:i, s:i, s:i}",
      "InstanceId", i->id, "Owner", i->owner, "Region", i->region, "Type",
      i->type, "ImageVersion", i->image_version, "Status", i->status,
      "AutoRenew", i->auto_renew, "Spec", (json_int_t)i->spec, "KeyNum",
      (json_int_t)i->key_num, "SecretNum", (json_int_t)i->secret_num, "VpcNum",
      (json_int_t)i->vpc_num, "KeysUsed", (json_int_t)nk, "SecretsUsed",
      (json_int_t)ns);
  json_object_set_new(o, "EndDate", ksim_json_time(i->end));
  json_object_set_new(o, "SharedWith", strs_json(&i->shared_with));
  return o;
}

json_t *ksim_state_dump(ksim_cloud_t *c) {
  json_t *root = json_object();
  json_object_set_new(root, "Clock", ksim_json_time(ksim_clock_now(c)));
  json_object_set_new(root, "ClockOffset", json_integer(c->clock_offset));
  json_object_set_new(root, "Regions", strs_json(&c->regions));
  json_t *accounts = json_array();
  for (size_t i = 0; i < c->accounts.n; i++) {
    ksim_account_t *a = c->accounts.v[i];
    json_t *regions = json_object();
    for (size_t j = 0; j < a->regions.n; j++) {
      ksim_region_t *r = a->regions.v[j];
      json_t *keys = json_array(), *secrets = json_array();
      int64_t now = ksim_clock_now(c);
      for (size_t k = 0; k < r->keys.n; k++) {
        ksim_key_tick(r->keys.v[k], now);
        json_array_append_new(keys, key_json(r->keys.v[k]));
      }
      for (size_t k = 0; k < r->secrets.n; k++) {
        ksim_secret_tick(r->secrets.v[k], now);
        json_array_append_new(secrets, secret_json(r->secrets.v[k]));
      }
      json_object_set_new(regions, r->region,
                          json_pack("{s:o, s:o, s:o}", "Keys", keys, "Secrets",
                                    secrets, "DefaultKmsInstanceId",
                                    opt_str(r->default_instance)));
    }
    json_array_append_new(
        accounts,
        json_pack("{s:s, s:o, s:o, s:o, s:o}", "AccountId", a->id, "Name",
                  opt_str(a->name), "Directory", opt_str(a->directory),
                  "Enterprise", opt_str(a->enterprise), "Regions", regions));
  }
  json_object_set_new(root, "Accounts", accounts);
  json_t *insts = json_array();
  for (size_t i = 0; i < c->instances.n; i++)
    json_array_append_new(insts, instance_json(c, c->instances.v[i]));
  json_object_set_new(root, "Instances", insts);
  json_t *tasks = json_array();
  for (size_t i = 0; i < c->tasks.n; i++) {
    ksim_task_t *t = c->tasks.v[i];
    json_t *o = json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:o, s:o, s:o, s:o, s:o}", "TaskId", t->id,
        "Account", t->account, "Region", t->region, "Instance", t->instance,
        "Status", t->status, "Created", opt_time(t->created), "Start",
        opt_time(t->start), "Finish", opt_time(t->finish), "Keys",
        strs_json(&t->keys), "Secrets", strs_json(&t->secrets));
    if (t->detail != NULL) json_object_set(o, "Detail", t->detail);
    json_array_append_new(tasks, o);
  }
  json_object_set_new(root, "Tasks", tasks);
  json_t *sts = json_array();
  for (size_t i = 0; i < c->sts.n; i++)
    json_array_append_new(sts, json_pack("{s:s, s:s, s:s, s:o}", "AccessKeyId",
                                         c->sts.v[i]->access_key_id, "Account",
                                         c->sts.v[i]->account, "RoleArn",
                                         c->sts.v[i]->role_arn, "Expiration",
                                         ksim_json_time(c->sts.v[i]->expires)));
  json_object_set_new(root, "StsCredentials", sts);
  json_object_set(root, "Extensions", c->ext);
  return root;
}
