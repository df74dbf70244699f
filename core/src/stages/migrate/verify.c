/* The operator's hooks around the migration (docs/hooks.md) and the
 * migrate stage's verify, on the pipeline's model in place (c->inv).
 * Hooks run through kp_hook: the input is built here as JSON, the output
 * arrives parsed.
 *
 * default_instance  decides, before the first batch, whether the tasks set
 *                   the destination as the region's default.  The console
 *                   only makes the destination of a migration the default,
 *                   so the hook may answer the destination (set it) or the
 *                   current default (keep it); anything else is refused with
 *                   the reason.  The choice is kept in
 *                   inv->default_choice for verify and the report.
 * before_batch      may refuse a batch (its resources are skipped with the
 *                   hook's reason); after_batch may stop the remaining ones.
 * verify            GetDefaultKmsInstance is the chosen instance, then the
 *                   post_check hooks run over what this run migrated; their
 *                   messages land in the report. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "migrate.h"
#include "util/util.h"

typedef struct hookctx_s {
  mjob_t *j;
  mbatch_t *b;
  void (*next)(mjob_t *j);
  void (*go)(mjob_t *j, mbatch_t *b);
} hookctx_t;

/* Starts hook name with input (stolen); KM_ENOENT (no hook at all) and
 * other start failures are returned, cb is then never called. */
static int run_hook(mjob_t *j, const char *name, json_t *input, kp_hook_cb cb,
                    hookctx_t *hc) {
  return kp_hook(j->c, name, input, cb, hc);
}

static void hook_failed(mjob_t *j, const char *name, int status,
                        const km_err_t *err) {
  km__mig_fail(j, status, err, name);
}

/* ---- default_instance ---- */

static json_t *candidate(const km_inv_t *inv) {
  const km_inv_instance_t *in = &inv->inst;
  return json_pack(
      "{s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:s?}", "id", inv->instance_id,
      "type",
      inv->instance_type == KM_INV_TYPE_HARDWARE ? "hardware" : "software",
      "spec", (json_int_t)in->spec, "keys_used", (json_int_t)in->key_used,
      "keys_free", (json_int_t)(in->key_quota - in->key_used), "secrets_used",
      (json_int_t)in->secret_used, "secrets_free",
      (json_int_t)(in->secret_quota - in->secret_used), "expiry", in->end_date);
}

static void on_default_choice(km_sctx_t *c, int status, const json_t *out,
                              const km_err_t *err, void *ud) {
  hookctx_t *hc = ud;
  mjob_t *j = hc->j;
  void (*next)(mjob_t *) = hc->next;
  free(hc);
  if (status < 0) {
    hook_failed(j, "default_instance hook", status, err);
    km__mig_end(j);
    return;
  }
  km_inv_t *inv = c->inv;
  const char *choice = json_string_value(json_object_get(out, "instance"));
  const char *why = json_string_value(json_object_get(out, "reason"));
  const char *cur = inv->default_instance_id;
  if (choice != NULL && strcmp(choice, inv->instance_id) == 0) {
    j->set_default = true;
  } else if (choice != NULL && cur != NULL && strcmp(choice, cur) == 0) {
    j->set_default = false;
    kp_log(c, KM_LOG_INFO,
           "default_instance hook keeps %s as the region's default%s%s", cur,
           why ? ": " : "", why ? why : "");
  } else {
    km_err_t e;
    memset(&e, 0, sizeof(e));
    snprintf(e.text, sizeof(e.text),
             "the default_instance hook chose %s, but the console can only "
             "make the migration's destination (%s) the default, or keep the "
             "current one (%s); return one of those",
             choice ? choice : "nothing", inv->instance_id, cur ? cur : "none");
    km__mig_fail(j, KM_EINVAL, &e, "default_instance hook");
    km__mig_end(j);
    return;
  }
  /* Both branches name an instance: never "" here. */
  km_inv_set(&inv->default_choice, j->set_default ? inv->instance_id : cur);
  next(j);
}

void km__mig_choose_default(mjob_t *j, void (*next)(mjob_t *j)) {
  km_inv_t *inv = j->c->inv;
  j->set_default = j->c->t->set_default;
  if (!j->set_default) {
    next(j); /* the manifest keeps the region's default as it is */
    return;
  }
  json_t *cands = json_array();
  json_array_append_new(cands, candidate(inv));
  /* The current default is a candidate too (its quota is not known here:
   * the run only reads its own destination). */
  const char *cur = inv->default_instance_id;
  if (cur != NULL && strcmp(cur, inv->instance_id) != 0)
    json_array_append_new(cands, json_pack("{s:s}", "id", cur));
  json_t *in = json_pack("{s:s, s:s, s:s?, s:o}", "region", j->c->t->region,
                         "destination", inv->instance_id, "current",
                         inv->default_instance_id, "candidates", cands);
  hookctx_t *hc = km_xcalloc(1, sizeof(*hc));
  hc->j = j;
  hc->next = next;
  if (run_hook(j, "default_instance", in, on_default_choice, hc) < 0) {
    free(hc);
    km_inv_set(&inv->default_choice, inv->instance_id);
    next(j);
  }
}

/* ---- before_batch / after_batch ---- */

static json_t *batch_input(mjob_t *j, mbatch_t *b) {
  return json_pack("{s:i, s:s, s:O, s:O, s:s}", "batch", j->batch_no,
                   "instance", j->c->inv->instance_id, "keys", b->keys,
                   "secrets", b->secrets, "when", j->when);
}

static void skip_batch(mjob_t *j, mbatch_t *b, const char *reason) {
  char why[600];
  snprintf(why, sizeof(why), "the before_batch hook refused its batch: %s",
           reason != NULL ? reason : "no reason given");
  size_t i;
  json_t *v;
  json_array_foreach(b->keys, i, v) {
    km_inv_key_t *k = km_inv_find_key(j->c->inv, json_string_value(v));
    if (k != NULL)
      km_inv_key_decide(k, KM_VERDICT_SKIPPED, "hook.before_batch", why);
  }
  json_array_foreach(b->secrets, i, v) {
    km_inv_secret_t *s = km_inv_find_secret(j->c->inv, json_string_value(v));
    if (s != NULL)
      km_inv_secret_decide(s, KM_VERDICT_SKIPPED, "hook.before_batch", why);
  }
  b->done = true;
  kp_log(j->c, KM_LOG_WARN, "batch %s skipped: %s", b->token, why);
}

static void on_before(km_sctx_t *c, int status, const json_t *out,
                      const km_err_t *err, void *ud) {
  (void)c;
  hookctx_t *hc = ud;
  mjob_t *j = hc->j;
  mbatch_t *b = hc->b;
  void (*go)(mjob_t *, mbatch_t *) = hc->go;
  void (*skip)(mjob_t *) = hc->next;
  free(hc);
  if (status < 0) {
    hook_failed(j, "before_batch hook", status, err);
    km__mig_end(j);
    return;
  }
  if (json_is_false(json_object_get(out, "accept"))) {
    skip_batch(j, b, json_string_value(json_object_get(out, "reason")));
    skip(j);
    return;
  }
  j->batch_no++;
  go(j, b);
}

void km__mig_before_batch(mjob_t *j, mbatch_t *b,
                          void (*go)(mjob_t *j, mbatch_t *b),
                          void (*skip)(mjob_t *j)) {
  hookctx_t *hc = km_xcalloc(1, sizeof(*hc));
  hc->j = j;
  hc->b = b;
  hc->go = go;
  hc->next = skip;
  if (run_hook(j, "before_batch", batch_input(j, b), on_before, hc) < 0) {
    free(hc);
    j->batch_no++;
    go(j, b);
  }
}

/* Stops what is left: every resource still to move fails with the reason. */
static void stop_remaining(mjob_t *j, const char *reason) {
  km_inv_t *inv = j->c->inv;
  char why[600];
  snprintf(why, sizeof(why), "the after_batch hook stopped the migration: %s",
           reason != NULL ? reason : "no reason given");
  for (size_t i = 0; i < inv->nkeys; i++)
    if (km_verdict_moves(inv->keys[i].verdict))
      km_inv_key_decide(&inv->keys[i], KM_VERDICT_FAILED, "hook.after_batch",
                        why);
  for (size_t i = 0; i < inv->nsecrets; i++)
    if (km_verdict_moves(inv->secrets[i].verdict))
      km_inv_secret_decide(&inv->secrets[i], KM_VERDICT_FAILED,
                           "hook.after_batch", why);
  km_err_t e;
  memset(&e, 0, sizeof(e));
  snprintf(e.text, sizeof(e.text), "%.480s", why);
  km__mig_fail(j, KM_ECANCELED, &e, "after_batch hook");
}

static void on_after(km_sctx_t *c, int status, const json_t *out,
                     const km_err_t *err, void *ud) {
  (void)c;
  hookctx_t *hc = ud;
  mjob_t *j = hc->j;
  void (*next)(mjob_t *) = hc->next;
  free(hc);
  if (status < 0) {
    hook_failed(j, "after_batch hook", status, err);
    km__mig_end(j);
    return;
  }
  if (json_is_false(json_object_get(out, "accept"))) {
    stop_remaining(j, json_string_value(json_object_get(out, "reason")));
    km__mig_end(j);
    return;
  }
  next(j);
}

void km__mig_after_batch(mjob_t *j, mbatch_t *b, const char *status,
                         void (*next)(mjob_t *j)) {
  json_t *in = batch_input(j, b);
  json_t *mig = json_array(), *fail = json_array();
  size_t i;
  json_t *v;
  json_array_foreach(b->keys, i, v) {
    km_inv_key_t *k = km_inv_find_key(j->c->inv, json_string_value(v));
    json_array_append(k && k->verdict == KM_VERDICT_MIGRATED ? mig : fail, v);
  }
  json_array_foreach(b->secrets, i, v) {
    km_inv_secret_t *s = km_inv_find_secret(j->c->inv, json_string_value(v));
    json_array_append(s && s->verdict == KM_VERDICT_MIGRATED ? mig : fail, v);
  }
  json_object_set_new(in, "status", json_string(status));
  json_object_set_new(in, "migrated", mig);
  json_object_set_new(in, "failed", fail);
  hookctx_t *hc = km_xcalloc(1, sizeof(*hc));
  hc->j = j;
  hc->b = b;
  hc->next = next;
  if (run_hook(j, "after_batch", in, on_after, hc) < 0) {
    free(hc);
    next(j);
  }
}

/* ---- verify: default instance, then post checks ---- */

static void on_post_check(km_sctx_t *c, int status, const json_t *out,
                          const km_err_t *err, void *ud) {
  hookctx_t *hc = ud;
  mjob_t *j = hc->j;
  free(hc);
  if (status < 0) {
    hook_failed(j, "post_check hook", status, err);
    km_inv_add_issue(c->inv, "hook.post_check", KM_VERDICT_FAILED, c->err.text);
    km__mig_end(j);
    return;
  }
  bool passed = json_is_true(json_object_get(out, "passed"));
  size_t i;
  const json_t *m;
  char all[800] = "";
  json_array_foreach(json_object_get(out, "messages"), i, m) {
    const char *msg = json_string_value(m);
    if (msg == NULL) continue;
    char line[600];
    snprintf(line, sizeof(line), "post_check: %s", msg);
    km_inv_add_issue(c->inv, "hook.post_check",
                     passed ? KM_VERDICT_WARNING : KM_VERDICT_FAILED, line);
    size_t l = strlen(all);
    snprintf(all + l, sizeof(all) - l, "%s%s", l ? "; " : "", msg);
  }
  if (!passed) {
    if (all[0] == '\0')
      km_inv_add_issue(c->inv, "hook.post_check", KM_VERDICT_FAILED,
                       "post_check: failed without a message");
    km_err_t e;
    memset(&e, 0, sizeof(e));
    snprintf(e.text, sizeof(e.text), "post_check failed: %.480s",
             all[0] ? all : "no message");
    km__mig_fail(j, KM_ECLOUD, &e, "verify");
  }
  km__mig_end(j);
}

static void post_check(mjob_t *j) {
  const km_inv_t *inv = j->c->inv;
  json_t *keys = json_array(), *secrets = json_array();
  for (size_t i = 0; i < inv->nkeys; i++) {
    const km_inv_key_t *k = &inv->keys[i];
    if (k->verdict != KM_VERDICT_MIGRATED) continue;
    json_array_append_new(
        keys, json_pack("{s:s, s:s?, s:s?, s:s?}", "id", k->key_id, "alias",
                        k->aliases.n ? k->aliases.v[0] : NULL, "spec",
                        k->key_spec, "usage", k->key_usage));
  }
  for (size_t i = 0; i < inv->nsecrets; i++) {
    const km_inv_secret_t *s = &inv->secrets[i];
    if (s->verdict != KM_VERDICT_MIGRATED) continue;
    json_array_append_new(secrets,
                          json_pack("{s:s, s:s?}", "name", s->secret_name,
                                    "type", s->secret_type));
  }
  json_t *in =
      json_pack("{s:s, s:s, s:o, s:o}", "region", j->c->t->region, "instance",
                inv->instance_id, "keys", keys, "secrets", secrets);
  hookctx_t *hc = km_xcalloc(1, sizeof(*hc));
  hc->j = j;
  if (run_hook(j, "post_check", in, on_post_check, hc) < 0) {
    free(hc);
    km__mig_end(j);
  }
}

static void on_default(km_sctx_t *c, const kp_res_t *res, void *ud) {
  mjob_t *j = ud;
  km_inv_t *inv = c->inv;
  if (res->status < 0) {
    km__mig_fail(j, res->status, res->err, "GetDefaultKmsInstance");
    km__mig_end(j);
    return;
  }
  const char *def =
      json_string_value(json_object_get(res->body, "DefaultKmsInstanceId"));
  const char *want = inv->default_choice;
  if (want == NULL || want[0] == '\0') want = inv->instance_id;
  if (def == NULL || strcmp(def, want) != 0) {
    char msg[400];
    snprintf(msg, sizeof(msg),
             "the region's default instance is %s, not %s as chosen "
             "(migrate.set_default and the default_instance hook); choose it "
             "in the console's Migrate dialog",
             def != NULL && def[0] ? def : "unset", want);
    km_inv_add_issue(inv, "verify.default_instance", KM_VERDICT_FAILED, msg);
    km_err_t e;
    memset(&e, 0, sizeof(e));
    snprintf(e.text, sizeof(e.text), "%s", msg);
    km__mig_fail(j, KM_ECLOUD, &e, "verify");
  } else {
    km_inv_set(&inv->default_instance_id, def);
  }
  post_check(j);
}

void km__mig_start_verify(mjob_t *j) {
  const km_inv_t *inv = j->c->inv;
  bool moved = false;
  for (size_t i = 0; i < inv->nkeys && !moved; i++)
    moved = inv->keys[i].verdict == KM_VERDICT_MIGRATED;
  for (size_t i = 0; i < inv->nsecrets && !moved; i++)
    moved = inv->secrets[i].verdict == KM_VERDICT_MIGRATED;
  /* The default is set by a migration task: nothing moved, nothing set. */
  if (!j->c->t->set_default || !moved) {
    post_check(j);
    return;
  }
  /* A call that cannot be sent answers on_default with the failure. */
  kp_call(j->c, "GetDefaultKmsInstance", NULL, 0, NULL, on_default, j);
}
