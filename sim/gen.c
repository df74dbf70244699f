/* Fixture generator: expands `gen: {...}` (or `kmsim --generate`) into the
 * same tree a hand-written fixture has, deterministically for a seed, so a
 * benchmark over 500 accounts is as reproducible as the demo.  The shape of
 * each account follows the demo: one resource directory of one verified
 * enterprise, an instance per region owned by the management account,
 * customer keys (some rotating, some multi-version, some asymmetric),
 * service keys, an EXTERNAL HSM key in mainland regions, secrets of every
 * type, some encrypted by a customer key. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "state.h"

typedef struct {
  uint64_t rng;
} gen_t;

static long gnum(json_t *g, const char *k, long def) {
  json_t *v = json_object_get(g, k);
  if (json_is_integer(v)) return (long)json_integer_value(v);
  const char *s = json_string_value(v);
  if (s != NULL) {
    char *end = NULL;
    long n = strtol(s, &end, 10);
    if (end != s && *end == '\0') return n;
  }
  return def;
}

static double gdbl(json_t *g, const char *k, double def) {
  json_t *v = json_object_get(g, k);
  if (json_is_number(v)) return json_number_value(v);
  const char *s = json_string_value(v);
  if (s != NULL) {
    char *end = NULL;
    double n = strtod(s, &end);
    if (end != s && *end == '\0') return n;
  }
  return def;
}

static void hexid(gen_t *g, char *out, size_t n) {
  static const char h[] = "0123456789abcdef";
  for (size_t i = 0; i + 1 < n; i++)
    out[i] = h[ksim_rand(&g->rng) & 15];
  out[n - 1] = '\0';
}

/* A KMS 1.0 key id: a UUID, as the real KMS 1.0 issues (KMS 3.0 instance
 * keys are key-<region><hex>).  The 20 random hex digits are the ones the
 * generator always drew (so every later random choice, and with it the
 * generated fleet, stays the same); the last 12 digits are a hash of them
 * and the region tag, so ids stay unique across regions. */
static char *key_uuid(const char *tag, const char *hx) {
  uint64_t h = 1469598103934665603ull;
  for (const char *s = tag; *s; s++)
    h = (h ^ (uint8_t)*s) * 1099511628211ull;
  for (const char *s = hx; *s; s++)
    h = (h ^ (uint8_t)*s) * 1099511628211ull;
  return km_xasprintf("%.8s-%.4s-%.4s-%.4s-%012llx", hx, hx + 8, hx + 12,
                      hx + 16, (unsigned long long)(h & 0xffffffffffffull));
}

/* "cn-hangzhou" -> "han": a short region tag for generated ids. */
static void region_tag(const char *region, char out[4]) {
  const char *p = strchr(region, '-');
  p = p != NULL ? p + 1 : region;
  size_t i = 0;
  for (; i < 3 && p[i] != '\0'; i++)
    out[i] = p[i] == '-' ? 'x' : p[i];
  for (; i < 3; i++)
    out[i] = 'x';
  out[3] = '\0';
}

static const char *const k_services[] = {"rds", "oss", "ecs", "ack"};
static const char *const k_types[] = {"Generic", "Rds", "RAMCredentials",
                                      "ECS"};

static json_t *gen_region(gen_t *g, json_t *p, const char *region,
                          long account_index) {
  char tag[4], hx[21];
  region_tag(region, tag);
  json_t *keys = json_array(), *secrets = json_array();
  long nkeys = gnum(p, "keys_per_region", 10);
  long nsvc = gnum(p, "service_keys_per_region", 2);
  long nsec = gnum(p, "secrets_per_region", 5);
  double rot = gdbl(p, "rotation_ratio", 0.3);
  json_t *cmk_ids = json_array();
  for (long i = 0; i < nkeys; i++) {
    hexid(g, hx, sizeof(hx));
    char *id = key_uuid(tag, hx);
    json_t *k = json_pack("{s:s}", "id", id);
    uint64_t r = ksim_rand(&g->rng) % 100;
    if (r < 10) {
      json_object_set_new(k, "spec", json_string("RSA_2048"));
      json_object_set_new(k, "usage", json_string("SIGN/VERIFY"));
    } else {
      json_array_append_new(cmk_ids, json_string(id));
      if (ksim_rand01(&g->rng) < rot) {
        json_object_set_new(
            k, "rotation",
            json_pack("{s:b, s:s}", "enabled", 1, "interval",
                      (ksim_rand(&g->rng) & 1) ? "365d" : "90d"));
        /* Rotated recently: one version, so it stays movable. */
        json_object_set_new(k, "last_rotation", json_string("-5d"));
      }
      if (r > 85)
        json_object_set_new(k, "versions",
                            json_integer(2 + (json_int_t)(r % 3)));
    }
    char *alias = km_xasprintf("alias/a%ld-%s-%ld", account_index, tag, i);
    json_object_set_new(k, "aliases", json_pack("[s]", alias));
    free(alias);
    json_array_append_new(keys, k);
    free(id);
  }
  for (long i = 0; i < nsvc; i++) {
    hexid(g, hx, sizeof(hx));
    char *id = key_uuid(tag, hx);
    json_array_append_new(
        keys,
        json_pack("{s:s, s:s, s:s}", "id", id, "creator", "service", "service",
                  k_services[(size_t)i % KM_ARRAY_SIZE(k_services)]));
    free(id);
  }
  long nbyok = gnum(p, "byok_per_region", 1);
  for (long i = 0; ksim_region_mainland(region) && i < nbyok; i++) {
    hexid(g, hx, sizeof(hx));
    char *id = key_uuid(tag, hx);
    json_array_append_new(keys,
                          json_pack("{s:s, s:s, s:s, s:s}", "id", id, "origin",
                                    "EXTERNAL", "protection", "HSM", "state",
                                    (i % 2) ? "PendingImport" : "Enabled"));
    free(id);
  }
  for (long i = 0; i < nsec; i++) {
    const char *type = k_types[(size_t)i % KM_ARRAY_SIZE(k_types)];
    char *name = km_xasprintf("sec-a%ld-%s-%03ld", account_index, tag, i);
    json_t *s = json_pack("{s:s, s:s}", "name", name, "type", type);
    if (json_array_size(cmk_ids) > 0 && ksim_rand(&g->rng) % 3 == 0)
      json_object_set(s, "key",
                      json_array_get(cmk_ids, ksim_rand(&g->rng) %
                                                  json_array_size(cmk_ids)));
    if (strcmp(type, "Generic") != 0 && ksim_rand01(&g->rng) < rot)
      json_object_set_new(
          s, "rotation",
          json_pack("{s:b, s:s}", "enabled", 1, "interval", "168h"));
    json_array_append_new(secrets, s);
    free(name);
  }
  json_decref(cmk_ids);
  return json_pack("{s:o, s:o}", "keys", keys, "secrets", secrets);
}

json_t *ksim_generate(json_t *p, char *err, size_t errlen) {
  if (!json_is_object(p)) {
    snprintf(err, errlen, "gen: expected a map");
    return NULL;
  }
  gen_t g = {(uint64_t)gnum(p, "seed", 1) * 0x9E3779B97F4A7C15ULL + 7};
  long naccounts = gnum(p, "accounts", 3);
  long base = gnum(p, "id_base", 2000000000000000L);
  if (naccounts < 1 || naccounts > 100000) {
    snprintf(err, errlen, "gen: accounts must be 1..100000");
    return NULL;
  }
  json_t *regions = json_object_get(p, "regions");
  json_t *rlist = json_array();
  if (json_is_array(regions)) {
    json_array_extend(rlist, regions);
  } else {
    static const char *const defaults[] = {"cn-hangzhou", "cn-shanghai",
                                           "cn-beijing", "cn-shenzhen",
                                           "ap-southeast-1"};
    long n = gnum(p, "regions", 1);
    for (long i = 0; i < n && i < (long)KM_ARRAY_SIZE(defaults); i++)
      json_array_append_new(rlist, json_string(defaults[i]));
  }
  long seed = gnum(p, "seed", 1);
  char *ent = km_xasprintf("ent-gen%ld", seed);
  char *rd = km_xasprintf("rd-gen%ld", seed);
  char *mgmt = km_xasprintf("%ld", base + 1);
  json_t *accounts = json_array();
  for (long a = 0; a < naccounts; a++) {
    char *id = km_xasprintf("%ld", base + 1 + a);
    char *name = km_xasprintf("gen%ld-acct-%04ld", seed, a);
    char *akid = km_xasprintf("KSIMGEN%ldAK%06ld", seed, a);
    char hx[25];
    hexid(&g, hx, sizeof(hx));
    char *secret = km_xasprintf("ksim-gen-secret-%s", hx);
    json_t *regs = json_object();
    size_t ri;
    json_t *rv;
    json_array_foreach(rlist, ri, rv) {
      const char *region = json_string_value(rv);
      json_t *r = gen_region(&g, p, region, a);
      if (a == 0) {
        char tag[4], ih[17];
        region_tag(region, tag);
        hexid(&g, ih, sizeof(ih));
        char *iid = km_xasprintf("kst-%s%s", tag, ih);
        json_object_set_new(
            r, "instances",
            json_pack("[{s:s, s:s, s:s, s:I, s:I}]", "id", iid, "type",
                      "software", "image_version", "2.9.3", "key_num",
                      (json_int_t)gnum(p, "instance_key_num", 10000),
                      "secret_num",
                      (json_int_t)gnum(p, "instance_secret_num", 10000)));
        free(iid);
      }
      json_object_set_new(regs, region, r);
    }
    json_t *acct =
        json_pack("{s:s, s:s, s:s, s:s, s:[{s:s, s:s}], s:o}", "id", id, "name",
                  name, "enterprise", ent, "directory", rd, "access_keys", "id",
                  akid, "secret", secret, "regions", regs);
    json_array_append_new(accounts, acct);
    free(id);
    free(name);
    free(akid);
    free(secret);
  }
  /* share every instance with every member so the fixture is ready for a
   * multi-account run */
  json_t *members = json_array();
  for (long a = 1; a < naccounts; a++)
    json_array_append_new(members, json_sprintf("%ld", base + 1 + a));
  json_t *first = json_object_get(json_array_get(accounts, 0), "regions");
  const char *rk;
  json_t *rv;
  json_object_foreach(first, rk, rv) {
    json_t *inst = json_array_get(json_object_get(rv, "instances"), 0);
    if (gnum(p, "shared", 1) != 0)
      json_object_set(inst, "shared_with", members);
  }
  json_decref(members);
  json_t *out =
      json_pack("{s:o, s:[{s:s, s:s, s:b}], s:[{s:s, s:s, s:s}], s:o}",
                "regions", rlist, "enterprises", "id", ent, "name",
                "Generated Enterprise", "verified", 1, "directories", "id", rd,
                "enterprise", ent, "management", mgmt, "accounts", accounts);
  free(ent);
  free(rd);
  free(mgmt);
  return out;
}
