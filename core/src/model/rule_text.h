/* The rule table's message text (rule_text.c), shared with rules.c: the
 * variables of one subject, template expansion, and the reasons rebuilt
 * for verdicts whose text is not stored.  Private to core/src/model. */
#ifndef KM_MODEL_RULE_TEXT_H
#define KM_MODEL_RULE_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/rules.h"

struct km_rule_ctx_s {
  const km_inv_t *inv;
  const km_inv_key_t *key;
  const km_inv_secret_t *secret;
  const km_inv_key_t *cmk; /* the secret's EncryptionKeyId, if listed */
  const char *dup_owner;   /* secret.duplicate_name: owner account */
  int64_t now;
};

typedef struct {
  const char *name;
  char value[160];
} var_t;

#define KM__RULE_MAX_VARS 24

typedef struct {
  var_t v[KM__RULE_MAX_VARS];
  size_t n;
} vars_t;

/* Seconds until the instance's EndDate; false when unknown. */
bool km__rule_seconds_left(const km_rule_ctx_t *c, int64_t *left);
/* Adds name = value (borrowed name, value copied; NULL is "(none)"). */
void km__rule_var(vars_t *vs, const char *name, const char *value);
/* Adds name = value as a decimal number. */
void km__rule_vari(vars_t *vs, const char *name, int64_t value);
/* Every variable of c's subject (docs/rules.md lists them). */
void km__rule_vars(const km_rule_ctx_t *c, vars_t *vs);
/* tmpl with {name} placeholders expanded (owned); unknown names are kept. */
char *km__rule_expand(const char *tmpl, const vars_t *vs);
/* True when tmpl names only what never changes once the model exists. */
bool km__rule_stable(const char *tmpl);

#endif
