/* The migrate stage's preflight checks that need the cloud or a hook, and
 * the hooks a plan shows (docs/rules.md, docs/hooks.md).  Everything here
 * runs before PREPARE, so whatever it refuses is refused before rotation
 * is turned off or the instance is shared.
 *
 * tasks    the console takes one migration task per account and region at
 *          a time.  With the sim driver the emulated console's task list is
 *          read (GET /_kmsim/console/tasks); a task scheduled or running
 *          that this run's journal did not submit blocks the pipeline
 *          (instance.task_in_region).  With the console driver no API shows
 *          the list: the plan asks the operator to confirm it
 *          (instance.task_unverified, a warning).
 * freeze   before_batch runs for every planned batch (the same batches the
 *          migrate stage will submit); a batch it refuses is skipped here,
 *          so a freeze never leaves rotation off.  The hook runs again just
 *          before each submission.
 * plan     (plan mode only) rotation (phase "before") for every resource
 *          whose rotation PREPARE would turn off, and post_check over the
 *          resources the run would migrate; their decisions become the
 *          plan's hook notes.  Plan mode refuses every write action a hook
 *          tries (host_hooks.c), so none of this can change anything. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "migrate.h"
#include "model/rules.h"
#include "util/util.h"

#define NOTE_IDS 8 /* ids named in one note line; the rest are counted */

typedef struct pf_s {
  mjob_t *j;
  void (*next)(mjob_t *j);
  km_batches_t bs;
  size_t at; /* batch (freeze) or candidate (rotation) being asked */
  /* rotation */
  const char **ids;
  const char **intervals;
  bool *is_key;
  size_t n;
  km_inv_strs_t off, kept;
  /* the decisions so far, one hook note per pipeline and phase */
  size_t accepted;
  km_buf_t text;
} pf_t;

/* Only the plan prints the notes: a run keeps none (10,000 pipelines). */
static void note(km_sctx_t *c, const char *text) {
  if (c->plan) km_inv_strs_add(&c->inv->hook_notes, text);
}

/* ---- tasks ---- */

static bool journal_submitted(km_sctx_t *c, const char *token) {
  size_t i;
  const json_t *r;
  if (token == NULL) return false;
  json_array_foreach(kp_records(c), i, r) {
    const char *t = json_string_value(json_object_get(r, "type"));
    const char *tok = json_string_value(json_object_get(r, "client_token"));
    if (t != NULL && tok != NULL && strcmp(t, "batch_submitted") == 0 &&
        strcmp(tok, token) == 0)
      return true;
  }
  return false;
}

static void freeze_next(pf_t *pf);

/* The console's own view of the destination (the Migrate dialog lists it
 * with the image version the instance details page shows): an
 * image_version in the manifest that differs would pass the rules and be
 * refused by the console after rotation was turned off.  The runtime
 * blocks every pipeline of the instance at the barrier (a member that
 * cannot see the instance before sharing has no list to compare). */
static void check_image(km_sctx_t *c, const json_t *instances) {
  const km_inv_t *inv = c->inv;
  size_t i;
  const json_t *in;
  json_array_foreach(instances, i, in) {
    const char *id = json_string_value(json_object_get(in, "InstanceId"));
    const char *img = json_string_value(json_object_get(in, "ImageVersion"));
    int cmp;
    if (id == NULL || strcmp(id, inv->instance_id) != 0 || img == NULL ||
        inv->image_version == NULL ||
        km_version_cmp(inv->image_version, img, &cmp) != 0 || cmp == 0)
      continue;
    const char *extra[] = {"console_image", img};
    (void)km_rules_issue(c->inv, "instance.image_mismatch", extra, 1, NULL);
  }
}

static void on_tasks(km_sctx_t *c, const kp_res_t *res, void *ud) {
  pf_t *pf = ud;
  mjob_t *j = pf->j;
  if (res->status < 0) {
    km__mig_fail(j, res->status, res->err,
                 "reading the console's migration tasks");
    km__mig_end(j);
    return;
  }
  const json_t *tasks = json_object_get(res->body, "Tasks");
  if (!json_is_array(tasks)) {
    km_err_t e;
    km__err_set(&e, KM_EPARSE,
                "the console's task list has no Tasks array; kmsmig cannot "
                "tell whether a task is running");
    km__mig_fail(j, KM_EPARSE, &e, "reading the console's migration tasks");
    km__mig_end(j);
    return;
  }
  size_t i;
  const json_t *t;
  json_array_foreach(tasks, i, t) {
    const char *st = json_string_value(json_object_get(t, "Status"));
    const char *id = json_string_value(json_object_get(t, "TaskId"));
    const char *tok = json_string_value(json_object_get(t, "ClientToken"));
    if (st == NULL ||
        (strcmp(st, "Scheduled") != 0 && strcmp(st, "Running") != 0))
      continue;
    /* A resumed run follows its own task: that one is not in the way. */
    if (journal_submitted(c, tok)) continue;
    const char *extra[] = {"task", id != NULL ? id : "(no id)", "task_status",
                           st};
    (void)km_rules_issue(c->inv, "instance.task_in_region", extra, 2, NULL);
  }
  check_image(c, json_object_get(res->body, "Instances"));
  freeze_next(pf);
}

/* ---- freeze: before_batch over the planned batches ---- */

static bool blocked_now(const km_inv_t *inv) {
  for (size_t i = 0; i < inv->nissues; i++)
    if (inv->issues[i].verdict == KM_VERDICT_BLOCKED) return true;
  return false;
}

static void skip_refused(km_inv_t *inv, const km_batch_t *b,
                         const char *reason) {
  char why[600];
  snprintf(why, sizeof(why), "the before_batch hook refused its batch: %s",
           reason != NULL ? reason : "no reason given");
  for (size_t k = 0; k < b->nkeys; k++) {
    km_inv_key_t *key = km_inv_find_key(inv, b->key_ids[k]);
    if (key != NULL)
      km_inv_key_decide(key, KM_VERDICT_SKIPPED, "hook.before_batch", why);
  }
  for (size_t s = 0; s < b->nsecrets; s++) {
    km_inv_secret_t *sec = km_inv_find_secret(inv, b->secret_names[s]);
    if (sec != NULL)
      km_inv_secret_decide(sec, KM_VERDICT_SKIPPED, "hook.before_batch", why);
  }
}

static void on_before(km_sctx_t *c, int status, const json_t *out,
                      const km_err_t *err, void *ud) {
  pf_t *pf = ud;
  const km_batch_t *b = &pf->bs.v[pf->at];
  if (status < 0) {
    km_batches_free(&pf->bs);
    km_buf_free(&pf->text);
    km__mig_fail(pf->j, status, err, "before_batch hook");
    km__mig_end(pf->j);
    return;
  }
  bool accept = !json_is_false(json_object_get(out, "accept"));
  const char *why = json_string_value(json_object_get(out, "reason"));
  if (accept) {
    pf->accepted++;
  } else {
    km_buf_printf(
        &pf->text, "; refuses batch %zu (%zu key%s, %zu secret%s): %s",
        pf->at + 1, b->nkeys, b->nkeys == 1 ? "" : "s", b->nsecrets,
        b->nsecrets == 1 ? "" : "s", why != NULL ? why : "no reason given");
    skip_refused(c->inv, b, why);
    kp_log(c, KM_LOG_WARN, "before_batch refuses batch %zu: %s", pf->at + 1,
           why != NULL ? why : "no reason given");
  }
  pf->at++;
  freeze_next(pf);
}

static void freeze_next(pf_t *pf) {
  mjob_t *j = pf->j;
  km_sctx_t *c = j->c;
  if (pf->at == 0 && pf->bs.n == 0 && !blocked_now(c->inv)) {
    km_err_t e;
    if (km_batch_plan(c->inv, &pf->bs, &e) < 0) {
      km__mig_fail(j, KM_EINVAL, &e, "batch plan");
      km__mig_end(j);
      return;
    }
  }
  if (blocked_now(c->inv) || pf->at >= pf->bs.n) {
    if (pf->bs.n > 0 && !blocked_now(c->inv)) {
      km_buf_t b;
      km_buf_init(&b);
      km_buf_printf(&b, "%s %s: before_batch accepts %zu of %zu batch%s%s",
                    c->inv->account, c->inv->region, pf->accepted, pf->bs.n,
                    pf->bs.n == 1 ? "" : "es",
                    pf->text.data != NULL ? pf->text.data : "");
      note(c, b.data);
      km_buf_free(&b);
    }
    km_buf_free(&pf->text);
    km_batches_free(&pf->bs);
    memset(&pf->bs, 0, sizeof(pf->bs));
    pf->next(j);
    return;
  }
  const km_batch_t *b = &pf->bs.v[pf->at];
  json_t *keys = json_array(), *secrets = json_array();
  for (size_t k = 0; k < b->nkeys; k++)
    json_array_append_new(keys, json_string(b->key_ids[k]));
  for (size_t s = 0; s < b->nsecrets; s++)
    json_array_append_new(secrets, json_string(b->secret_names[s]));
  json_t *in =
      json_pack("{s:I, s:s, s:o, s:o, s:s}", "batch", (json_int_t)(pf->at + 1),
                "instance", c->inv->instance_id, "keys", keys, "secrets",
                secrets, "when", j->when);
  if (kp_hook(c, "before_batch", in, on_before, pf) < 0) {
    pf->at = pf->bs.n; /* no before_batch hook: every batch goes */
    freeze_next(pf);
  }
}

void km__mig_preflight_checks(mjob_t *j, void (*next)(mjob_t *j)) {
  km_sctx_t *c = j->c;
  pf_t *pf = kp_alloc(c, sizeof(*pf));
  memset(pf, 0, sizeof(*pf));
  pf->j = j;
  pf->next = next;
  km_buf_init(&pf->text);
  if (c->inv->instance_id == NULL || blocked_now(c->inv)) {
    next(j); /* blocked already: nothing to ask */
    return;
  }
  if (!c->sim) {
    (void)km_rules_issue(c->inv, "instance.task_unverified", NULL, 0, NULL);
    freeze_next(pf);
    return;
  }
  int rc = kp_console(c, NULL, on_tasks, pf);
  if (rc < 0) {
    km__mig_fail(j, rc, NULL, "reading the console's migration tasks");
    km__mig_end(j);
  }
}

/* ---- plan: rotation and post_check decisions ---- */

/* "; kept on for 2 (...): a, b and 3 more" */
static void ids_text(km_buf_t *b, const km_inv_strs_t *ids) {
  for (size_t i = 0; i < ids->n && i < NOTE_IDS; i++)
    km_buf_printf(b, "%s%s", i == 0 ? "" : ", ", ids->v[i]);
  if (ids->n > NOTE_IDS) km_buf_printf(b, " and %zu more", ids->n - NOTE_IDS);
}

static void post_check_plan(pf_t *pf);
static void rotation_next(pf_t *pf);

static void on_rotation(km_sctx_t *c, int status, const json_t *out,
                        const km_err_t *err, void *ud) {
  pf_t *pf = ud;
  if (status < 0) {
    km_inv_strs_free(&pf->off);
    km_inv_strs_free(&pf->kept);
    km_buf_free(&pf->text);
    km__mig_fail(pf->j, status, err, "rotation hook");
    km__mig_end(pf->j);
    return;
  }
  (void)c;
  const char *id = pf->ids[pf->at];
  char item[200];
  snprintf(item, sizeof(item), "%s%s", pf->is_key[pf->at] ? "" : "secret ", id);
  km_inv_strs_add(json_is_true(json_object_get(out, "change")) ? &pf->off
                                                               : &pf->kept,
                  item);
  pf->at++;
  rotation_next(pf);
}

static void rotation_next(pf_t *pf) {
  km_sctx_t *c = pf->j->c;
  if (pf->at >= pf->n) {
    km_buf_printf(&pf->text,
                  "%s %s: rotation off for %zu before the "
                  "migration (the journalled policy restored after it)",
                  c->inv->account, c->inv->region, pf->off.n);
    if (pf->kept.n > 0) {
      km_buf_printf(&pf->text,
                    ", kept on for %zu (the console refuses to migrate "
                    "these until it is off): ",
                    pf->kept.n);
      ids_text(&pf->text, &pf->kept);
    }
    km_inv_strs_free(&pf->off);
    km_inv_strs_free(&pf->kept);
    post_check_plan(pf);
    return;
  }
  json_t *in =
      json_pack("{s:s, s:s, s:s, s:b, s:s?}", "kind",
                pf->is_key[pf->at] ? "key" : "secret", "id", pf->ids[pf->at],
                "phase", "before", "automatic_rotation", 1, "rotation_interval",
                pf->intervals[pf->at]);
  if (kp_hook(c, "rotation", in, on_rotation, pf) < 0) {
    /* No rotation hook: PREPARE turns every one of them off. */
    for (; pf->at < pf->n; pf->at++)
      km_inv_strs_add(&pf->off, pf->ids[pf->at]);
    rotation_next(pf);
  }
}

static void on_post_check(km_sctx_t *c, int status, const json_t *out,
                          const km_err_t *err, void *ud) {
  pf_t *pf = ud;
  if (status < 0) {
    km_buf_free(&pf->text);
    km__mig_fail(pf->j, status, err, "post_check hook");
    km__mig_end(pf->j);
    return;
  }
  bool passed = json_is_true(json_object_get(out, "passed"));
  km_buf_printf(&pf->text, "; post_check on what would migrate %s",
                passed ? "passes" : "fails");
  size_t i;
  const json_t *m;
  json_array_foreach(json_object_get(out, "messages"), i, m) {
    if (json_string_value(m) != NULL)
      km_buf_printf(&pf->text, "%s%s", i == 0 ? ": " : "; ",
                    json_string_value(m));
  }
  note(c, pf->text.data);
  km_buf_free(&pf->text);
  pf->next(pf->j);
}

static void post_check_plan(pf_t *pf) {
  km_sctx_t *c = pf->j->c;
  const km_inv_t *inv = c->inv;
  json_t *keys = json_array(), *secrets = json_array();
  for (size_t i = 0; i < inv->nkeys; i++) {
    const km_inv_key_t *k = &inv->keys[i];
    if (!km_verdict_moves(k->verdict)) continue;
    json_array_append_new(
        keys, json_pack("{s:s, s:s?, s:s?, s:s?}", "id", k->key_id, "alias",
                        k->aliases.n ? k->aliases.v[0] : NULL, "spec",
                        k->key_spec, "usage", k->key_usage));
  }
  for (size_t i = 0; i < inv->nsecrets; i++) {
    const km_inv_secret_t *s = &inv->secrets[i];
    if (!km_verdict_moves(s->verdict)) continue;
    json_array_append_new(secrets,
                          json_pack("{s:s, s:s?}", "name", s->secret_name,
                                    "type", s->secret_type));
  }
  json_t *in =
      json_pack("{s:s, s:s, s:o, s:o}", "region", inv->region, "instance",
                inv->instance_id, "keys", keys, "secrets", secrets);
  if (kp_hook(c, "post_check", in, on_post_check, pf) < 0) {
    note(c, pf->text.data); /* no post_check hook */
    km_buf_free(&pf->text);
    pf->next(pf->j);
  }
}

void km__mig_plan_hooks(mjob_t *j, void (*next)(mjob_t *j)) {
  km_sctx_t *c = j->c;
  const km_inv_t *inv = c->inv;
  pf_t *pf = kp_alloc(c, sizeof(*pf));
  memset(pf, 0, sizeof(*pf));
  pf->j = j;
  pf->next = next;
  km_buf_init(&pf->text);
  if (!c->plan || inv->instance_id == NULL || blocked_now(inv)) {
    next(j);
    return;
  }
  /* The resources PREPARE would turn rotation off for (stage/rotation.c:
   * user keys and secrets that move, with rotation Enabled). */
  size_t cap = inv->nkeys + inv->nsecrets + 1;
  pf->ids = kp_alloc(c, cap * sizeof(*pf->ids));
  pf->intervals = kp_alloc(c, cap * sizeof(*pf->intervals));
  pf->is_key = kp_alloc(c, cap * sizeof(*pf->is_key));
  for (size_t i = 0; i < inv->nkeys; i++) {
    const km_inv_key_t *k = &inv->keys[i];
    if (k->creator != KM_CREATOR_USER || !km_verdict_moves(k->verdict) ||
        !kp_streq(k->automatic_rotation, "Enabled"))
      continue;
    pf->is_key[pf->n] = true;
    pf->intervals[pf->n] = k->rotation_interval;
    pf->ids[pf->n++] = k->key_id;
  }
  for (size_t i = 0; i < inv->nsecrets; i++) {
    const km_inv_secret_t *s = &inv->secrets[i];
    if (!km_verdict_moves(s->verdict) ||
        !kp_streq(s->automatic_rotation, "Enabled"))
      continue;
    pf->is_key[pf->n] = false;
    pf->intervals[pf->n] = s->rotation_interval;
    pf->ids[pf->n++] = s->secret_name;
  }
  rotation_next(pf);
}
