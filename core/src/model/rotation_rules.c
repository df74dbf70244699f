/* Whether a key's or secret's automatic rotation can be restored, as it
 * was, in the destination KMS 3.0 instance: the limits behind the
 * key.rotation_unrestorable and secret.rotation_unrestorable rules of the
 * table (rules.c, docs/rules.md). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "model/rules.h"
#include "util/util.h"

static bool eq(const char *a, const char *b) {
  return a != NULL && strcmp(a, b) == 0;
}

/* Rotation at the destination (UpdateRotationPolicy, 2023-12 page: only
 * default keys and symmetric keys of *software* instances rotate, every
 * 7-365 days; UpdateSecretRotationPolicy: from 168 h to 8760 h).  A policy
 * that is on (Enabled, or Suspended while the key is disabled) and that the
 * instance would refuse cannot be restored as it was: the resource is
 * blocked (left in KMS 1.0, rotation untouched) until the operator chooses
 * in KMS 1.0 what it keeps; never dropped silently.  NULL: restorable. */
static int64_t interval_seconds(const char *s) {
  if (s == NULL || *s < '0' || *s > '9') return -1;
  char *end = NULL;
  long long n = strtoll(s, &end, 10);
  static const struct {
    char unit;
    int64_t mul;
  } units[] = {{'s', 1}, {'m', 60}, {'h', 3600}, {'d', 86400}};
  for (size_t i = 0; i < KM_ARRAY_SIZE(units); i++)
    if (end[0] == units[i].unit && end[1] == '\0' && n >= 0 &&
        n < INT64_MAX / units[i].mul)
      return (int64_t)n * units[i].mul;
  return -1;
}

static bool rotation_on(const char *automatic_rotation) {
  return eq(automatic_rotation, "Enabled") ||
         eq(automatic_rotation, "Suspended");
}

const char *km_rules_key_rotation_why(const km_inv_t *inv,
                                      const km_inv_key_t *k) {
  if (!rotation_on(k->automatic_rotation)) return NULL;
  if (inv->instance_type == KM_INV_TYPE_HARDWARE)
    return "keys in a hardware instance do not rotate automatically";
  int64_t s = interval_seconds(k->rotation_interval);
  if (s < 0) return "its RotationInterval cannot be read";
  if (s < KM_ROT_KEY_MIN_S || s > KM_ROT_KEY_MAX_S)
    return "an instance allows key rotation every 7 to 365 days";
  return NULL;
}

const char *km_rules_secret_rotation_why(const km_inv_secret_t *x) {
  if (!rotation_on(x->automatic_rotation)) return NULL;
  int64_t s = interval_seconds(x->rotation_interval);
  if (s < 0) return "its RotationInterval cannot be read";
  if (s < KM_ROT_SECRET_MIN_S || s > KM_ROT_SECRET_MAX_S)
    return "secret rotation is allowed every 168 to 8760 hours";
  return NULL;
}
