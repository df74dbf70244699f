/* The operator's hooks around the migration (docs/hooks.md) and the
 * migrate plugin's verify stage.
 *
 * default_instance  decides, before the first batch, whether the tasks set
 *                   the destination as the region's default.  The console
 *                   only makes the destination of a migration the default,
 *                   so the hook may answer the destination (set it) or the
 *                   current default (keep it); anything else is refused with
 *                   the reason.
 * before_batch      may refuse a batch (its resources are skipped with the
 *                   hook's reason); after_batch may stop the remaining ones.
 * verify            GetDefaultKmsInstance is the chosen instance, then the
 *                   post_check hooks run over what this run migrated; their
 *                   messages land in the report. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "migrate.h"

typedef struct hookctx_s {
  mjob_t *j;
  mbatch_t *b;
  void (*next)(mjob_t *j);
  void (*go)(mjob_t *j, mbatch_t *b);
} hookctx_t;

/* Starts hook name with input (stolen); KM_ENOENT (no hook at all) and
 * other start failures are returned, cb is then never called. */
static int run_hook(mjob_t *j, const char *name, json_t *input,
                    km_plugin_call_cb cb, hookctx_t *c) {
  char *text = json_dumps(input, JSON_COMPACT);
  json_decref(input);
  int rc = H->hook != NULL ? H->hook(j->p, name, text, cb, c) : KM_ENOENT;
  free(text);
  return rc;
}

static void hook_failed(mjob_t *j, const char *name,
                        const km_plugin_call_result_t *r) {
  km__mig_fail(j, r->status, r->err, name);
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

static void on_default_choice(const km_plugin_call_result_t *r, void *ud) {
  hookctx_t *c = ud;
  mjob_t *j = c->j;
  void (*next)(mjob_t *) = c->next;
  free(c);
  if (r->status < 0) {
    hook_failed(j, "default_instance hook", r);
    km__mig_end(j);
    return;
  }
  json_t *out = json_loads(r->body_json, 0, NULL);
  const char *choice = json_string_value(json_object_get(out, "instance"));
  const char *why = json_string_value(json_object_get(out, "reason"));
  const char *cur = j->inv->default_instance_id;
  if (choice != NULL && strcmp(choice, j->inv->instance_id) == 0) {
    j->set_default = true;
  } else if (choice != NULL && cur != NULL && strcmp(choice, cur) == 0) {
    j->set_default = false;
    H->log(j->p, KM_PLOG_INFO,
           "default_instance hook keeps %s as the region's default%s%s", cur,
           why ? ": " : "", why ? why : "");
  } else {
    km_err_t e;
    memset(&e, 0, sizeof(e));
    snprintf(e.text, sizeof(e.text),
             "the default_instance hook chose %s, but the console can only "
             "make the migration's destination (%s) the default, or keep the "
             "current one (%s); return one of those",
             choice ? choice : "nothing", j->inv->instance_id,
             cur ? cur : "none");
    km__mig_fail(j, KM_EINVAL, &e, "default_instance hook");
    json_decref(out);
    km__mig_end(j);
    return;
  }
  json_object_set_new(
      j->extra, "default_choice",
      json_string(j->set_default ? j->inv->instance_id : (cur ? cur : "")));
  json_decref(out);
  next(j);
}

void km__mig_choose_default(mjob_t *j, void (*next)(mjob_t *j)) {
  j->set_default = km__mig_setting_true(j, "set_default");
  if (!j->set_default) {
    next(j); /* the manifest keeps the region's default as it is */
    return;
  }
  json_t *cands = json_array();
  json_array_append_new(cands, candidate(j->inv));
  /* The current default is a candidate too (its quota is not known here:
   * the run only reads its own destination). */
  const char *cur = j->inv->default_instance_id;
  if (cur != NULL && strcmp(cur, j->inv->instance_id) != 0)
    json_array_append_new(cands, json_pack("{s:s}", "id", cur));
  json_t *in =
      json_pack("{s:s, s:s, s:s?, s:o}", "region", H->get(j->p, "region"),
                "destination", j->inv->instance_id, "current",
                j->inv->default_instance_id, "candidates", cands);
  hookctx_t *c = calloc(1, sizeof(*c));
  c->j = j;
  c->next = next;
  if (run_hook(j, "default_instance", in, on_default_choice, c) < 0) {
    free(c);
    json_object_set_new(j->extra, "default_choice",
                        json_string(j->inv->instance_id));
    next(j);
  }
}

/* ---- before_batch / after_batch ---- */

static json_t *batch_input(mjob_t *j, mbatch_t *b) {
  return json_pack("{s:i, s:s, s:O, s:O, s:s}", "batch", j->batch_no,
                   "instance", j->inv->instance_id, "keys", b->keys, "secrets",
                   b->secrets, "when", H->get(j->p, "when"));
}

static void skip_batch(mjob_t *j, mbatch_t *b, const char *reason) {
  char why[600];
  snprintf(why, sizeof(why), "the before_batch hook refused its batch: %s",
           reason != NULL ? reason : "no reason given");
  size_t i;
  json_t *v;
  json_array_foreach(b->keys, i, v) {
    km_inv_key_t *k = km_inv_find_key(j->inv, json_string_value(v));
    if (k != NULL)
      km_inv_key_decide(k, KM_VERDICT_SKIPPED, "hook.before_batch", why);
  }
  json_array_foreach(b->secrets, i, v) {
    km_inv_secret_t *s = km_inv_find_secret(j->inv, json_string_value(v));
    if (s != NULL)
      km_inv_secret_decide(s, KM_VERDICT_SKIPPED, "hook.before_batch", why);
  }
  b->done = true;
  H->log(j->p, KM_PLOG_WARN, "batch %s skipped: %s", b->token, why);
}

static void on_before(const km_plugin_call_result_t *r, void *ud) {
  hookctx_t *c = ud;
  mjob_t *j = c->j;
  mbatch_t *b = c->b;
  void (*go)(mjob_t *, mbatch_t *) = c->go;
  void (*skip)(mjob_t *) = c->next;
  free(c);
  if (r->status < 0) {
    hook_failed(j, "before_batch hook", r);
    km__mig_end(j);
    return;
  }
  json_t *out = json_loads(r->body_json, 0, NULL);
  if (json_is_false(json_object_get(out, "accept"))) {
    skip_batch(j, b, json_string_value(json_object_get(out, "reason")));
    json_decref(out);
    skip(j);
    return;
  }
  json_decref(out);
  j->batch_no++;
  go(j, b);
}

void km__mig_before_batch(mjob_t *j, mbatch_t *b,
                          void (*go)(mjob_t *j, mbatch_t *b),
                          void (*skip)(mjob_t *j)) {
  hookctx_t *c = calloc(1, sizeof(*c));
  c->j = j;
  c->b = b;
  c->go = go;
  c->next = skip;
  if (run_hook(j, "before_batch", batch_input(j, b), on_before, c) < 0) {
    free(c);
    j->batch_no++;
    go(j, b);
  }
}

/* Stops what is left: every resource still to move fails with the reason. */
static void stop_remaining(mjob_t *j, const char *reason) {
  char why[600];
  snprintf(why, sizeof(why), "the after_batch hook stopped the migration: %s",
           reason != NULL ? reason : "no reason given");
  for (size_t i = 0; i < j->inv->nkeys; i++)
    if (km_verdict_moves(j->inv->keys[i].verdict))
      km_inv_key_decide(&j->inv->keys[i], KM_VERDICT_FAILED, "hook.after_batch",
                        why);
  for (size_t i = 0; i < j->inv->nsecrets; i++)
    if (km_verdict_moves(j->inv->secrets[i].verdict))
      km_inv_secret_decide(&j->inv->secrets[i], KM_VERDICT_FAILED,
                           "hook.after_batch", why);
  km_err_t e;
  memset(&e, 0, sizeof(e));
  snprintf(e.text, sizeof(e.text), "%.480s", why);
  km__mig_fail(j, KM_ECANCELED, &e, "after_batch hook");
}

static void on_after(const km_plugin_call_result_t *r, void *ud) {
  hookctx_t *c = ud;
  mjob_t *j = c->j;
  void (*next)(mjob_t *) = c->next;
  free(c);
  if (r->status < 0) {
    hook_failed(j, "after_batch hook", r);
    km__mig_end(j);
    return;
  }
  json_t *out = json_loads(r->body_json, 0, NULL);
  if (json_is_false(json_object_get(out, "accept"))) {
    stop_remaining(j, json_string_value(json_object_get(out, "reason")));
    json_decref(out);
    km__mig_end(j);
    return;
  }
  json_decref(out);
  next(j);
}

void km__mig_after_batch(mjob_t *j, mbatch_t *b, const char *status,
                         void (*next)(mjob_t *j)) {
  json_t *in = batch_input(j, b);
  json_t *mig = json_array(), *fail = json_array();
  size_t i;
  json_t *v;
  json_array_foreach(b->keys, i, v) {
    km_inv_key_t *k = km_inv_find_key(j->inv, json_string_value(v));
    json_array_append(k && k->verdict == KM_VERDICT_MIGRATED ? mig : fail, v);
  }
  json_array_foreach(b->secrets, i, v) {
    km_inv_secret_t *s = km_inv_find_secret(j->inv, json_string_value(v));
    json_array_append(s && s->verdict == KM_VERDICT_MIGRATED ? mig : fail, v);
  }
  json_object_set_new(in, "status", json_string(status));
  json_object_set_new(in, "migrated", mig);
  json_object_set_new(in, "failed", fail);
  hookctx_t *c = calloc(1, sizeof(*c));
  c->j = j;
  c->b = b;
  c->next = next;
  if (run_hook(j, "after_batch", in, on_after, c) < 0) {
    free(c);
    next(j);
  }
}

/* ---- verify: default instance, then post checks ---- */

static void on_post_check(const km_plugin_call_result_t *r, void *ud) {
  hookctx_t *c = ud;
  mjob_t *j = c->j;
  free(c);
  if (r->status < 0) {
    hook_failed(j, "post_check hook", r);
    km_inv_add_issue(j->inv, "hook.post_check", KM_VERDICT_FAILED, j->err.text);
    km__mig_end(j);
    return;
  }
  json_t *out = json_loads(r->body_json, 0, NULL);
  bool passed = json_is_true(json_object_get(out, "passed"));
  size_t i;
  json_t *m;
  char all[800] = "";
  json_array_foreach(json_object_get(out, "messages"), i, m) {
    const char *msg = json_string_value(m);
    if (msg == NULL) continue;
    char line[600];
    snprintf(line, sizeof(line), "post_check: %s", msg);
    km_inv_add_issue(j->inv, "hook.post_check",
                     passed ? KM_VERDICT_WARNING : KM_VERDICT_FAILED, line);
    size_t l = strlen(all);
    snprintf(all + l, sizeof(all) - l, "%s%s", l ? "; " : "", msg);
  }
  if (!passed) {
    if (all[0] == '\0')
      km_inv_add_issue(j->inv, "hook.post_check", KM_VERDICT_FAILED,
                       "post_check: failed without a message");
    km_err_t e;
    memset(&e, 0, sizeof(e));
    snprintf(e.text, sizeof(e.text), "post_check failed: %.480s",
             all[0] ? all : "no message");
    km__mig_fail(j, KM_ECLOUD, &e, "verify");
  }
  json_decref(out);
  km__mig_end(j);
}

static void post_check(mjob_t *j) {
  json_t *keys = json_array(), *secrets = json_array();
  for (size_t i = 0; i < j->inv->nkeys; i++) {
    const km_inv_key_t *k = &j->inv->keys[i];
    if (k->verdict != KM_VERDICT_MIGRATED) continue;
    json_array_append_new(
        keys, json_pack("{s:s, s:s?, s:s?, s:s?}", "id", k->key_id, "alias",
                        k->aliases.n ? k->aliases.v[0] : NULL, "spec",
                        k->key_spec, "usage", k->key_usage));
  }
  for (size_t i = 0; i < j->inv->nsecrets; i++) {
    const km_inv_secret_t *s = &j->inv->secrets[i];
    if (s->verdict != KM_VERDICT_MIGRATED) continue;
    json_array_append_new(secrets,
                          json_pack("{s:s, s:s?}", "name", s->secret_name,
                                    "type", s->secret_type));
  }
  json_t *in = json_pack("{s:s, s:s, s:o, s:o}", "region",
                         H->get(j->p, "region"), "instance",
                         j->inv->instance_id, "keys", keys, "secrets", secrets);
  hookctx_t *c = calloc(1, sizeof(*c));
  c->j = j;
  if (run_hook(j, "post_check", in, on_post_check, c) < 0) {
    free(c);
    km__mig_end(j);
  }
}

static void on_default(const km_plugin_call_result_t *r, void *ud) {
  mjob_t *j = ud;
  if (r->status < 0) {
    km__mig_fail(j, r->status, r->err, "GetDefaultKmsInstance");
    km__mig_end(j);
    return;
  }
  json_t *b = json_loads(r->body_json, 0, NULL);
  const char *def =
      json_string_value(json_object_get(b, "DefaultKmsInstanceId"));
  const char *want =
      json_string_value(json_object_get(j->extra, "default_choice"));
  if (want == NULL || want[0] == '\0') want = j->inv->instance_id;
  if (def == NULL || strcmp(def, want) != 0) {
    char msg[400];
    snprintf(msg, sizeof(msg),
             "the region's default instance is %s, not %s as chosen "
             "(migrate.set_default and the default_instance hook); choose it "
             "in the console's Migrate dialog",
             def != NULL && def[0] ? def : "unset", want);
    km_inv_add_issue(j->inv, "verify.default_instance", KM_VERDICT_FAILED, msg);
    km_err_t e;
    memset(&e, 0, sizeof(e));
    snprintf(e.text, sizeof(e.text), "%s", msg);
    km__mig_fail(j, KM_ECLOUD, &e, "verify");
  } else {
    km_inv_set(&j->inv->default_instance_id, def);
  }
  json_decref(b);
  post_check(j);
}

int km__mig_start_verify(mjob_t *j) {
  if (km__mig_load(j) < 0) {
    km__mig_free(j);
    return KM_EINVAL;
  }
  bool moved = false;
  for (size_t i = 0; i < j->inv->nkeys && !moved; i++)
    moved = j->inv->keys[i].verdict == KM_VERDICT_MIGRATED;
  for (size_t i = 0; i < j->inv->nsecrets && !moved; i++)
    moved = j->inv->secrets[i].verdict == KM_VERDICT_MIGRATED;
  /* The default is set by a migration task: nothing moved, nothing set. */
  if (!km__mig_setting_true(j, "set_default") || !moved) {
    post_check(j);
    return 0;
  }
  int rc =
      H->call(j->p, "kms", "GetDefaultKmsInstance", NULL, 0, on_default, j);
  if (rc < 0) {
    km__mig_free(j);
    return rc;
  }
  return 0;
}
