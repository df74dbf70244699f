/* The emulated console's submission rules (docs/kmsim-console.md), checked
 * in kmsim's own code against the cloud model: the client has its own rule
 * table (core/src/engine/rules.c) and must not be able to hide a bug behind
 * shared data.  ksim_console_check returns every problem of a selection, in
 * the order batch, instance, keys, secrets, quota; the first one gives the
 * refusal's Code.  Sources: seed procedure (50+50 per batch, same region,
 * image >= 2.9.0 for software instances, rotation off, HSM BYOK in mainland
 * China with material imported for migration and valid 21 days), reference
 * §2 (CMK before its secrets, duplicate names) and §3 (sharing). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "state.h"

/* Shared with console.c and share.c (no header of our own: see the report
 * to the lead; these belong in state.h). */
json_t *ksim_console_check(ksim_cloud_t *c, ksim_account_t *a,
                           const char *region, const char *instance_id,
                           const char *instance_type, json_t *keys,
                           json_t *secrets, int64_t now);
int ksim_console_version_cmp(const char *a, const char *b);
bool ksim_console_hsm_byok(const ksim_key_t *k);

#define KSIM_BATCH_MAX 50
/* Migration key material of an HSM BYOK key is valid 21 days (seed). */
#define KSIM_BYOK_MATERIAL_TTL (21 * 86400)

static void problem(json_t *out, const char *res, const char *kind,
                    const char *code, const char *fmt, ...) KM_PRINTF(5, 6);

static void problem(json_t *out, const char *res, const char *kind,
                    const char *code, const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  json_array_append_new(out,
                        json_pack("{s:s, s:s, s:s, s:s}", "Resource", res,
                                  "Kind", kind, "Code", code, "Message", msg));
}

/* Numeric dotted compare: "2.10.0" > "2.9.3" (a string compare would say
 * otherwise). */
int ksim_console_version_cmp(const char *a, const char *b) {
  for (;;) {
    char *ea, *eb;
    unsigned long x = strtoul(a, &ea, 10), y = strtoul(b, &eb, 10);
    if (x != y) return x < y ? -1 : 1;
    /* a missing component counts as 0: "2.9" == "2.9.0" */
    if (*ea != '.' && *eb != '.') return 0;
    a = *ea == '.' ? ea + 1 : ea;
    b = *eb == '.' ? eb + 1 : eb;
  }
}

bool ksim_console_hsm_byok(const ksim_key_t *k) {
  return strcmp(k->origin, "EXTERNAL") == 0 &&
         strcmp(k->protection, "HSM") == 0;
}

static bool json_has(json_t *arr, const char *s) {
  size_t i;
  json_t *v;
  json_array_foreach(arr, i, v) {
    if (strcmp(json_string_value(v), s) == 0) return true;
  }
  return false;
}

/* Instance usable for a migration by account a; adds a problem if not. */
static ksim_instance_t *check_instance(ksim_cloud_t *c, ksim_account_t *a,
                                       const char *region, const char *id,
                                       const char *type, int64_t now,
                                       json_t *out) {
  const char *na = "Console.InstanceNotAvailable";
  ksim_instance_t *i = ksim_instance_by_id(c, id);
  if (i == NULL) {
    problem(out, id, "instance", na, "instance %s does not exist", id);
    return NULL;
  }
  if (strcmp(i->region, region) != 0) {
    problem(out, id, "instance", na,
            "instance %s is in region %s, not %s: migration never crosses "
            "regions",
            id, i->region, region);
    return NULL;
  }
  if (strcmp(i->owner, a->id) != 0 && !ksim_strs_has(&i->shared_with, a->id)) {
    const char *st = ksim_share_status(c, id, a->id);
    if (st != NULL)
      problem(out, id, "instance", na,
              "instance %s is shared with account %s but the share is %s, "
              "not Associated",
              id, a->id, st);
    else
      problem(out, id, "instance", na,
              "instance %s is neither owned by nor shared with account %s", id,
              a->id);
    return NULL;
  }
  if (strcmp(i->status, "Connected") != 0) {
    problem(out, id, "instance", na,
            "instance %s is %s, not enabled (Connected)", id, i->status);
    return NULL;
  }
  if (i->end != 0 && i->end <= now) {
    char t[21];
    km_iso8601(i->end, t);
    problem(out, id, "instance", na, "instance %s expired at %s", id, t);
    return NULL;
  }
  if (type != NULL && type[0] != '\0' && strcmp(type, i->type) != 0) {
    problem(out, id, "instance", na, "instance %s is a %s instance, not %s", id,
            i->type, type);
    return NULL;
  }
  if (strcmp(i->type, "software") == 0 &&
      ksim_console_version_cmp(i->image_version, "2.9.0") < 0) {
    problem(out, id, "instance", "Console.ImageVersionTooOld",
            "software instance %s runs image %s, earlier than 2.9.0: upgrade "
            "the image to the latest version",
            id, i->image_version);
    return NULL;
  }
  return i;
}

static void check_key(const ksim_instance_t *inst, const char *region,
                      ksim_region_t *r, const char *id, int64_t now,
                      json_t *out) {
  const char *inv = "Console.InvalidResource";
  ksim_key_t *k = ksim_key_find(r, id);
  if (k == NULL || strcmp(k->id, id) != 0) {
    problem(out, id, "key", inv,
            "key %s is not in KMS 1.0 of this account in %s", id, region);
    return;
  }
  if (k->instance_id != NULL) {
    problem(out, id, "key", inv, "key %s is already migrated to %s", id,
            k->instance_id);
    return;
  }
  if (ksim_console_hsm_byok(k)) {
    const char *bns = "Console.ByokNotSupported";
    if (!ksim_region_mainland(region)) {
      problem(out, id, "key", bns,
              "HSM BYOK key %s: HSM BYOK migration is supported only in "
              "mainland China regions, not %s",
              id, region);
      return;
    }
    if (strcmp(inst->type, "hardware") != 0) {
      problem(out, id, "key", bns,
              "HSM BYOK key %s can only move to a hardware instance; %s is %s",
              id, inst->id, inst->type);
      return;
    }
    if (k->material_imported_at == 0) {
      problem(out, id, "key", "Console.ByokNotImported", "%s",
              "current hardware BYOK key was not imported for migration");
      return;
    }
    if (now - k->material_imported_at >= KSIM_BYOK_MATERIAL_TTL) {
      problem(out, id, "key", "Console.ByokMaterialExpired", "%s",
              "current hardware BYOK key material is expired, please "
              "reimport");
      return;
    }
  }
  if (strcmp(k->state, "Enabled") != 0) {
    /* The Migration Tool only lists keys that can be migrated (seed). */
    problem(out, id, "key", inv,
            "key %s is %s: the migration tool only lists keys that can be "
            "migrated",
            id, k->state);
    return;
  }
  if (k->rotation_enabled)
    problem(out, id, "key", "Console.RotationEnabled",
            "automatic rotation is enabled on key %s; disable it before "
            "migrating",
            id);
}

/* Secret names are unique per account and instance (reference §2): another
 * account's secret of the same name in a shared instance is no conflict. */
static bool secret_name_taken(const ksim_region_t *r,
                              const ksim_instance_t *inst,
                              const ksim_secret_t *self) {
  for (size_t k = 0; k < r->secrets.n; k++) {
    const ksim_secret_t *s = r->secrets.v[k];
    if (s != self && s->instance_id != NULL &&
        strcmp(s->instance_id, inst->id) == 0 &&
        strcmp(s->name, self->name) == 0)
      return true;
  }
  return false;
}

static void check_secret(const ksim_instance_t *inst, const char *region,
                         ksim_region_t *r, const char *name, json_t *keys,
                         json_t *out) {
  const char *inv = "Console.InvalidResource";
  ksim_secret_t *s = ksim_secret_find(r, name);
  if (s == NULL || strcmp(s->name, name) != 0) {
    problem(out, name, "secret", inv,
            "secret %s is not in KMS 1.0 of this account in %s", name, region);
    return;
  }
  if (s->instance_id != NULL) {
    problem(out, name, "secret", inv, "secret %s is already migrated to %s",
            name, s->instance_id);
    return;
  }
  if (s->rotation_enabled) {
    problem(out, name, "secret", "Console.RotationEnabled",
            "automatic rotation is enabled on secret %s; disable it before "
            "migrating",
            name);
    return;
  }
  if (s->key_id != NULL && s->key_id[0] != '\0') {
    ksim_key_t *k = ksim_key_find(r, s->key_id);
    /* a service (default) key needs nothing; a CMK must be migrated or
     * travel in this very task */
    if (k == NULL ||
        (!k->service && k->instance_id == NULL && !json_has(keys, k->id))) {
      problem(out, name, "secret", "Console.KeyNotMigrated",
              "secret %s is encrypted by CMK %s, which is neither migrated "
              "nor in this task: migrate the CMK first or select it too",
              name, s->key_id);
      return;
    }
  }
  if (secret_name_taken(r, inst, s))
    problem(out, name, "secret", "Console.DuplicateSecretName",
            "a secret named %s already exists in instance %s", name, inst->id);
}

/* Resources that active tasks of other accounts will still put into inst:
 * the quota they hold is not free. */
static void reserved(ksim_cloud_t *c, const ksim_instance_t *inst, long *nk,
                     long *ns) {
  *nk = *ns = 0;
  for (size_t i = 0; i < c->tasks.n; i++) {
    ksim_task_t *t = c->tasks.v[i];
    if (strcmp(t->instance, inst->id) != 0 ||
        (strcmp(t->status, "Scheduled") != 0 &&
         strcmp(t->status, "Running") != 0))
      continue;
    ksim_account_t *a = ksim_account_by_id(c, t->account);
    ksim_region_t *r = a != NULL ? ksim_account_region(c, a, t->region) : NULL;
    for (size_t j = 0; j < t->keys.n; j++) {
      ksim_key_t *k = ksim_key_find(r, t->keys.v[j]);
      if (k != NULL && !k->service && k->instance_id == NULL) (*nk)++;
    }
    for (size_t j = 0; j < t->secrets.n; j++) {
      ksim_secret_t *s = ksim_secret_find(r, t->secrets.v[j]);
      if (s != NULL && s->instance_id == NULL) (*ns)++;
    }
  }
}

static void check_quota(ksim_cloud_t *c, const ksim_instance_t *inst,
                        ksim_region_t *r, json_t *keys, json_t *secrets,
                        json_t *out) {
  long used_k, used_s, res_k, res_s, need_k = 0;
  ksim_instance_usage(c, inst, &used_k, &used_s);
  reserved(c, inst, &res_k, &res_s);
  size_t i;
  json_t *v;
  json_array_foreach(keys, i, v) {
    ksim_key_t *k = ksim_key_find(r, json_string_value(v));
    if (k != NULL && !k->service) need_k++; /* service keys take no quota */
  }
  long need_s = (long)json_array_size(secrets);
  long free_k = inst->key_num - used_k - res_k;
  long free_s = inst->secret_num - used_s - res_s;
  if (need_k > free_k)
    problem(out, inst->id, "instance", "Console.QuotaExceeded",
            "instance %s has %ld of %ld keys free (%ld used, %ld held by "
            "running tasks); this task needs %ld",
            inst->id, free_k < 0 ? 0 : free_k, inst->key_num, used_k, res_k,
            need_k);
  if (need_s > free_s)
    problem(out, inst->id, "instance", "Console.QuotaExceeded",
            "instance %s has %ld of %ld secrets free (%ld used, %ld held by "
            "running tasks); this task needs %ld",
            inst->id, free_s < 0 ? 0 : free_s, inst->secret_num, used_s, res_s,
            need_s);
}

json_t *ksim_console_check(ksim_cloud_t *c, ksim_account_t *a,
                           const char *region, const char *instance_id,
                           const char *instance_type, json_t *keys,
                           json_t *secrets, int64_t now) {
  json_t *out = json_array();
  size_t nk = json_array_size(keys), ns = json_array_size(secrets);
  if (nk > KSIM_BATCH_MAX || ns > KSIM_BATCH_MAX) {
    problem(out, "batch", "batch", "Console.BatchTooLarge",
            "%zu keys and %zu secrets selected: at most %d keys and %d "
            "secrets can be migrated at a time",
            nk, ns, KSIM_BATCH_MAX, KSIM_BATCH_MAX);
    return out;
  }
  ksim_instance_t *inst =
      check_instance(c, a, region, instance_id, instance_type, now, out);
  if (inst == NULL) return out;
  ksim_region_t *r = ksim_account_region(c, a, region);
  size_t i;
  json_t *v;
  json_array_foreach(keys, i, v) {
    check_key(inst, region, r, json_string_value(v), now, out);
  }
  json_array_foreach(secrets, i, v) {
    check_secret(inst, region, r, json_string_value(v), keys, out);
  }
  check_quota(c, inst, r, keys, secrets, out);
  return out;
}
