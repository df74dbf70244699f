/* The rule table's message text: the variables of a key, secret or
 * instance, {name} expansion, and the reasons of the verdicts whose text is
 * rebuilt when read instead of stored (km_rules_key_reason). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/rule_text.h"
#include "util/util.h"

/* Seconds until the instance's EndDate; false when unknown. */
bool km__rule_seconds_left(const km_rule_ctx_t *c, int64_t *left) {
  int64_t end;
  if (!c->inv->inst.present || c->inv->inst.end_date == NULL ||
      km_parse_iso8601(c->inv->inst.end_date, &end) != 0)
    return false;
  *left = end - c->now;
  return true;
}

void km__rule_var(vars_t *vs, const char *name, const char *value) {
  if (vs->n == KM__RULE_MAX_VARS) return;
  vs->v[vs->n].name = name;
  /* A copy cut to the buffer, as snprintf "%s" would make it, without
   * printf's per-byte work: a reason rebuilt for the report copies ~20 of
   * these per key. */
  const char *v = value != NULL ? value : "(none)";
  size_t n = strnlen(v, sizeof(vs->v[vs->n].value) - 1);
  memcpy(vs->v[vs->n].value, v, n);
  vs->v[vs->n].value[n] = '\0';
  vs->n++;
}

void km__rule_vari(vars_t *vs, const char *name, int64_t value) {
  char b[32];
  snprintf(b, sizeof(b), "%lld", (long long)value);
  km__rule_var(vs, name, b);
}

static const char *type_word(km_inv_type_t t) {
  return t == KM_INV_TYPE_HARDWARE   ? "hardware"
         : t == KM_INV_TYPE_SOFTWARE ? "software"
                                     : "of unknown type";
}

void km__rule_vars(const km_rule_ctx_t *c, vars_t *vs) {
  const km_inv_t *inv = c->inv;
  vs->n = 0;
  km__rule_var(vs, "account", inv->account);
  km__rule_var(vs, "region", inv->region);
  km__rule_var(vs, "instance", inv->instance_id);
  km__rule_var(vs, "instance_type", type_word(inv->instance_type));
  km__rule_var(vs, "status", inv->inst.status);
  km__rule_var(vs, "end_date", inv->inst.end_date);
  km__rule_var(vs, "image", inv->image_version);
  int64_t left;
  if (km__rule_seconds_left(c, &left)) km__rule_vari(vs, "days", left / 86400);
  if (c->key != NULL) {
    km__rule_var(vs, "key", c->key->key_id);
    km__rule_var(vs, "key_instance", c->key->dkms_instance_id);
    km__rule_var(vs, "state", c->key->key_state);
    km__rule_var(vs, "delete_date", c->key->delete_date);
    km__rule_vari(vs, "versions", c->key->version_count);
    km__rule_var(vs, "rotation", c->key->rotation_interval);
    km__rule_var(vs, "rotation_why", km_rules_key_rotation_why(inv, c->key));
  }
  if (c->secret != NULL) {
    km__rule_var(vs, "secret", c->secret->secret_name);
    km__rule_var(vs, "secret_instance", c->secret->dkms_instance_id);
    km__rule_var(vs, "cmk", c->secret->encryption_key_id);
    km__rule_var(vs, "owner", c->dup_owner);
    km__rule_var(vs, "rotation", c->secret->rotation_interval);
    km__rule_var(vs, "rotation_why", km_rules_secret_rotation_why(c->secret));
  }
  if (c->cmk != NULL) {
    km__rule_var(vs, "cmk_rule", c->cmk->rule);
    char buf[KM_RULES_REASON_MAX];
    km__rule_var(vs, "cmk_reason",
                 km_rules_key_reason(c->inv, c->cmk, buf, sizeof(buf)));
  }
}

/* Expands {name} placeholders; unknown names are kept as written. */
char *km__rule_expand(const char *tmpl, const vars_t *vs) {
  km_buf_t b;
  km_buf_init(&b);
  for (const char *p = tmpl; *p;) {
    const char *close = p[0] == '{' ? strchr(p, '}') : NULL;
    if (close == NULL) {
      km_buf_putc(&b, *p++);
      continue;
    }
    size_t len = (size_t)(close - p - 1);
    const char *val = NULL;
    for (size_t i = 0; i < vs->n && val == NULL; i++)
      if (strlen(vs->v[i].name) == len &&
          strncmp(vs->v[i].name, p + 1, len) == 0)
        val = vs->v[i].value;
    if (val != NULL)
      km_buf_put_clean(&b, val); /* names and codes come from the server */
    else
      km_buf_append(&b, p, len + 2);
    p = close + 1;
  }
  return km_buf_steal(&b);
}

/* A template that names only what never changes once the model exists
 * (the resource's id, the account, region and destination): its text is
 * rebuilt when read instead of stored with every resource (the common
 * verdicts, "will be migrated" and "service key", of 10,000 models that wait
 * at the barrier). */
bool km__rule_stable(const char *t) {
  static const char *const stable[] = {"key",    "secret",   "account",
                                       "region", "instance", "instance_type"};
  for (const char *p = strchr(t, '{'); p != NULL; p = strchr(p + 1, '{')) {
    const char *close = strchr(p, '}');
    if (close == NULL) return false;
    size_t len = (size_t)(close - p - 1), i;
    for (i = 0; i < KM_ARRAY_SIZE(stable); i++)
      if (strlen(stable[i]) == len && strncmp(stable[i], p + 1, len) == 0)
        break;
    if (i == KM_ARRAY_SIZE(stable)) return false;
  }
  return true;
}

/* The text of rule id for one resource, into buf; NULL when the verdict
 * did not come from a stable rule of the table (then nothing was kept). */
static const char *rebuilt(const km_inv_t *inv, const km_inv_key_t *k,
                           const km_inv_secret_t *s, const char *id,
                           km_verdict_t v, char *buf, size_t size) {
  const km_rule_t *r = id != NULL ? km_rules_find(id) : NULL;
  if (r == NULL || r->verdict != v || !km__rule_stable(r->message) || size == 0)
    return NULL;
  km_rule_ctx_t c;
  memset(&c, 0, sizeof(c));
  c.inv = inv;
  c.key = k;
  c.secret = s;
  vars_t *vs = km_xmalloc(sizeof(*vs));
  km__rule_vars(&c, vs);
  char *msg = km__rule_expand(r->message, vs);
  snprintf(buf, size, "%s", msg);
  free(msg);
  free(vs);
  return buf;
}

const char *km_rules_key_reason(const km_inv_t *inv, const km_inv_key_t *k,
                                char *buf, size_t size) {
  if (k->reason != NULL) return k->reason;
  return rebuilt(inv, k, NULL, k->rule, k->verdict, buf, size);
}

const char *km_rules_secret_reason(const km_inv_t *inv,
                                   const km_inv_secret_t *s, char *buf,
                                   size_t size) {
  if (s->reason != NULL) return s->reason;
  return rebuilt(inv, NULL, s, s->rule, s->verdict, buf, size);
}
