/* Which resources a preflight may let move when the run is restricted
 * (km_target_t.only): `--rerun-failed` keeps what did not finish, a saved
 * plan (`run --plan`) keeps what it planned and blocks a pipeline whose
 * cloud no longer matches it (docs/plan.md). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "migrate.h"
#include "util/util.h"

/* --rerun-failed or a saved plan: only the listed resources may move. */
void km__mig_apply_only(mjob_t *j) {
  const km_only_t *only = j->c->t->only;
  km_inv_t *inv = j->c->inv;
  if (only == NULL) return;
  const char *rule = only->rule != NULL ? only->rule : "run.rerun_failed";
  const char *why = only->why != NULL ? only->why
                                      : "did not fail in the previous attempt "
                                        "(--rerun-failed)";
  size_t left = 0;
  for (size_t i = 0; i < inv->nkeys; i++) {
    km_inv_key_t *k = &inv->keys[i];
    if (km_verdict_moves(k->verdict) &&
        (k->key_id == NULL || !km_inv_strs_has(&only->keys, k->key_id))) {
      km_inv_key_decide(k, KM_VERDICT_SKIPPED, rule, why);
      left++;
    }
  }
  for (size_t i = 0; i < inv->nsecrets; i++) {
    km_inv_secret_t *s = &inv->secrets[i];
    if (km_verdict_moves(s->verdict) &&
        (s->secret_name == NULL ||
         !km_inv_strs_has(&only->secrets, s->secret_name))) {
      km_inv_secret_decide(s, KM_VERDICT_SKIPPED, rule, why);
      left++;
    }
  }
  if (left > 0 && only->strict)
    kp_log(j->c, KM_LOG_WARN,
           "%zu movable resource(s) are not in the saved plan and are left "
           "in KMS 1.0 (re-run kmsmig plan --out to include them)",
           left);
}

/* The resources this run directory already submitted (a resumed run finds
 * them migrated; that is no change to the plan). */
static bool submitted_here(mjob_t *j, const char *list, const char *id) {
  size_t i, k;
  const json_t *r, *v;
  json_array_foreach(kp_records(j->c), i, r) {
    const char *type = json_string_value(json_object_get(r, "type"));
    if (type == NULL || strcmp(type, "batch_submitted") != 0) continue;
    json_array_foreach(json_object_get(r, list), k, v) {
      const char *s = json_string_value(v);
      if (s != NULL && strcmp(s, id) == 0) return true;
    }
  }
  return false;
}

/* Appends "what id" to the change list (the first four by name; the
 * message counts the rest). */
static void changed(km_buf_t *b, size_t *n, const char *what, const char *id) {
  if ((*n)++ < 4) km_buf_printf(b, "%s%s %s", *n > 1 ? ", " : "", what, id);
}

static const char *planned_state(mjob_t *j, const char *list, km_verdict_t v,
                                 const char *id) {
  if (km_verdict_moves(v)) return NULL;
  if (v == KM_VERDICT_DONE)
    return submitted_here(j, list, id) ? NULL : "already migrated";
  return v == KM_VERDICT_BLOCKED ? "now blocked" : "now skipped";
}

/* A saved plan: blocks the pipeline (before any side effect) when the
 * cloud no longer matches what the plan decided for it. */
void km__mig_check_planned(mjob_t *j) {
  const km_only_t *only = j->c->t->only;
  km_inv_t *inv = j->c->inv;
  if (only == NULL || !only->strict) return;
  char msg[900];
  if (only->blocked != NULL) {
    snprintf(msg, sizeof(msg),
             "the saved plan blocked %s %s: %s; fix it, then re-run kmsmig "
             "plan --out",
             inv->account, inv->region, only->blocked);
    km_inv_add_issue(inv, "plan.blocked", KM_VERDICT_BLOCKED, msg);
    return;
  }
  km_buf_t b;
  km_buf_init(&b);
  size_t n = 0;
  if (only->instance_id != NULL &&
      (inv->instance_id == NULL ||
       strcmp(only->instance_id, inv->instance_id) != 0))
    changed(&b, &n, "destination instance, planned", only->instance_id);
  for (size_t i = 0; i < only->keys.n; i++) {
    const char *id = only->keys.v[i];
    const km_inv_key_t *k = km_inv_find_key(inv, id);
    const char *st =
        k == NULL ? "gone" : planned_state(j, "keys", k->verdict, id);
    if (st != NULL) changed(&b, &n, st, id);
  }
  for (size_t i = 0; i < only->secrets.n; i++) {
    const char *id = only->secrets.v[i];
    const km_inv_secret_t *s = km_inv_find_secret(inv, id);
    const char *st =
        s == NULL ? "gone" : planned_state(j, "secrets", s->verdict, id);
    if (st != NULL) changed(&b, &n, st, id);
  }
  if (n > 0) {
    char more[48] = "";
    if (n > 4) snprintf(more, sizeof(more), " (and %zu more)", n - 4);
    snprintf(msg, sizeof(msg),
             "the cloud changed since the saved plan in %s %s: %s%s; "
             "nothing was changed here: re-run kmsmig plan --out",
             inv->account, inv->region, b.data, more);
    km_inv_add_issue(inv, "plan.changed", KM_VERDICT_BLOCKED, msg);
  }
  km_buf_free(&b);
}
