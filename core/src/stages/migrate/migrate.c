/* The `migrate` stage: preflight, the migration itself, and the default
 * instance check, on the pipeline's model in place (c->inv).
 *
 * preflight  applies the rule table (docs/rules.md) to the inventory the
 *            discover stages built, then the checks that ask the console or
 *            a hook (preflight.c: running tasks, before_batch).  Resources the
 * vendor cannot move are skipped and resources that must be fixed are blocked,
 * each with its reason; an instance-level problem blocks the pipeline (the
 *            stage ends with kp_finish_blocked).  The default_instance
 *            hook's decision lands in inv->default_choice and
 *            inv->hook_notes.
 * migrate    submits batches of at most 50 keys and 50 secrets (keys before
 *            the secrets they encrypt, core/src/model/batch.c) through one
 *            of two drivers: `console` prints the exact selection for the
 *            operator, `sim` performs it through kmsim's emulated console
 *            (kp_console).  Both then detect completion the same way
 *            (detect.c).  Each batch is journalled before it is submitted;
 *            on resume (kp_records) a batch already submitted is followed,
 *            never submitted again.
 * verify     the region's default instance is the destination, when the
 *            manifest asked for it, then the post_check hooks (verify.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "migrate.h"
#include "model/rules.h"
#include "util/util.h"

#define MIGRATE_VERSION "0.1.0"
#define SIM_POLL_MS 250
#define CONSOLE_POLL_MS 15000
#define DEFAULT_TASK_TIMEOUT_S 7200

/* ---- job plumbing ---- */

void km__mig_fail(mjob_t *j, int rc, const km_err_t *err, const char *what) {
  kp_fail(j->c, rc < 0 ? rc : KM_ECLOUD, err, "%s", what);
}

static void mig_free(void *ud) {
  mjob_t *j = ud;
  for (size_t i = 0; i < j->nb; i++) {
    json_decref(j->b[i].keys);
    json_decref(j->b[i].secrets);
  }
  free(j->b);
  json_decref(j->seen_keys);
  json_decref(j->seen_secrets);
  json_decref(j->look[0].ids);
  json_decref(j->look[1].ids);
  free(j);
}

void km__mig_end(mjob_t *j) {
  kp_finish(j->c);
}

const char *km__mig_type_name(const mjob_t *j) {
  return j->c->t->instance_type == KM_INV_TYPE_HARDWARE ? "hardware"
                                                        : "software";
}

/* ---- preflight ---- */

/* Records the default_instance decision for the plan's "hooks" lines. */
static void preflight_noted(mjob_t *j) {
  km_inv_t *inv = j->c->inv;
  const char *choice = inv->default_choice;
  if (choice != NULL && j->c->plan) { /* only the plan prints notes */
    char note[400];
    snprintf(note, sizeof(note),
             "default_instance chose %s for %s %s (was: %s)",
             choice[0] ? choice : "none", inv->account, inv->region,
             inv->default_instance_id ? inv->default_instance_id : "none");
    km_inv_strs_add(&inv->hook_notes, note);
  }
  /* Plan mode: the rotation and post_check decisions too (preflight.c). */
  km__mig_plan_hooks(j, km__mig_end);
}

static void preflight_decide(mjob_t *j);

static void start_preflight(mjob_t *j) {
  km_sctx_t *c = j->c;
  km_err_t e;
  memset(&e, 0, sizeof(e));
  int rc = km_rules_eval(c->inv, (int64_t)time(NULL), &e);
  if (rc < 0) {
    kp_fail(c, rc, &e, "rules");
    km__mig_end(j);
    return;
  }
  km__mig_apply_only(j);
  km__mig_check_planned(j);
  /* The console's tasks and the before_batch hook, before any side effect
   * (preflight.c). */
  km__mig_preflight_checks(j, preflight_decide);
}

static void preflight_decide(mjob_t *j) {
  km_sctx_t *c = j->c;
  km_err_t e;
  /* An instance-level problem blocks the whole pipeline; a blocked resource
   * only keeps itself out of the batches. */
  size_t nblock = 0;
  memset(&e, 0, sizeof(e));
  for (size_t i = 0; i < c->inv->nissues; i++) {
    const km_inv_issue_t *is = &c->inv->issues[i];
    if (is->verdict == KM_VERDICT_WARNING) {
      kp_log(c, KM_LOG_WARN, "%s", is->message);
      continue;
    }
    if (is->verdict != KM_VERDICT_BLOCKED) continue;
    if (nblock++ == 0) snprintf(e.text, sizeof(e.text), "%s", is->message);
  }
  if (nblock > 0) {
    if (nblock > 1) {
      size_t l = strlen(e.text);
      snprintf(e.text + l, sizeof(e.text) - l, " (and %zu more)", nblock - 1);
    }
    e.code = KM_EPERM;
    kp_finish_blocked(c, &e);
    return;
  }
  /* Hooks run in plan mode too, so the plan shows what they decide. */
  km__mig_choose_default(j, preflight_noted);
}

/* ---- migrate: batches from the journal and from the plan ---- */

static uint64_t fnv64(uint64_t h, const char *s) {
  for (; *s; s++)
    h = (h ^ (uint8_t)*s) * 1099511628211ull;
  return (h ^ 0xff) * 1099511628211ull;
}

/* The token names the batch's content, so a batch planned again after a
 * crash (same pending resources) maps to the task it already has. */
static void batch_token(mjob_t *j, const km_batch_t *b, char out[64]) {
  const km_target_t *t = j->c->t;
  uint64_t h = 1469598103934665603ull;
  h = fnv64(h, t->account_id != NULL ? t->account_id : "");
  h = fnv64(h, t->region != NULL ? t->region : "");
  for (size_t i = 0; i < b->nkeys; i++)
    h = fnv64(h, b->key_ids[i]);
  h = fnv64(h, "|");
  for (size_t i = 0; i < b->nsecrets; i++)
    h = fnv64(h, b->secret_names[i]);
  snprintf(out, 64, "kmsmig-%016llx", (unsigned long long)h);
}

static mbatch_t *find_batch(mjob_t *j, const char *token) {
  for (size_t i = 0; i < j->nb; i++)
    if (strcmp(j->b[i].token, token) == 0) return &j->b[i];
  return NULL;
}

static mbatch_t *add_batch(mjob_t *j, const char *token) {
  j->b = km_xrealloc(j->b, (j->nb + 1) * sizeof(*j->b));
  mbatch_t *b = &j->b[j->nb++];
  memset(b, 0, sizeof(*b));
  snprintf(b->token, sizeof(b->token), "%s", token);
  b->keys = json_array();
  b->secrets = json_array();
  return b;
}

/* One journal record of this pipeline (kp_records: earlier attempts first,
 * then this attempt's). */
static void on_record(mjob_t *j, const json_t *r) {
  km_inv_t *inv = j->c->inv;
  const char *type = json_string_value(json_object_get(r, "type"));
  const char *token = json_string_value(json_object_get(r, "client_token"));
  if (type == NULL || token == NULL) return;
  mbatch_t *b = find_batch(j, token);
  if (strcmp(type, "batch_submitted") == 0 && b == NULL) {
    b = add_batch(j, token);
    json_array_extend(b->keys, json_object_get(r, "keys"));
    json_array_extend(b->secrets, json_object_get(r, "secrets"));
    b->submitted = true;
  } else if (b != NULL && strcmp(type, "batch_seen") == 0) {
    b->seen = true;
  } else if (b != NULL && strcmp(type, "task_started") == 0) {
    const char *t = json_string_value(json_object_get(r, "task_id"));
    snprintf(b->task_id, sizeof(b->task_id), "%s", t != NULL ? t : "");
  } else if (b != NULL && strcmp(type, "batch_done") == 0) {
    b->done = true;
    /* What an earlier attempt migrated counts as migrated by this run. */
    size_t i;
    const json_t *v;
    json_array_foreach(json_object_get(r, "migrated_keys"), i, v) {
      km_inv_key_t *k = km_inv_find_key(inv, json_string_value(v));
      if (k != NULL)
        km_inv_key_decide(k, KM_VERDICT_MIGRATED, "run.migrated", NULL);
    }
    json_array_foreach(json_object_get(r, "migrated_secrets"), i, v) {
      km_inv_secret_t *s = km_inv_find_secret(inv, json_string_value(v));
      if (s != NULL)
        km_inv_secret_decide(s, KM_VERDICT_MIGRATED, "run.migrated", NULL);
    }
  }
}

static void follow(mjob_t *j);

/* Marks the batch's resources from the last detection (a resource not in
 * the instance fails: its verdict is what the report shows), journals the
 * batch done. */
static void finish_batch(mjob_t *j, mbatch_t *b, const char *task_msg) {
  km_inv_t *inv = j->c->inv;
  json_t *mk = json_array(), *ms = json_array();
  json_t *fk = json_array(), *fs = json_array();
  size_t i;
  json_t *v;
  char why[512];
  snprintf(why, sizeof(why), "not in instance %s after the migration task%s%s",
           inv->instance_id, task_msg != NULL ? ": " : "",
           task_msg != NULL ? task_msg : "");
  json_array_foreach(b->keys, i, v) {
    const char *id = json_string_value(v);
    km_inv_key_t *k = km_inv_find_key(inv, id);
    bool in = json_object_get(j->seen_keys, id) != NULL;
    json_array_append(in ? mk : fk, v);
    if (k != NULL && in)
      km_inv_key_decide(k, KM_VERDICT_MIGRATED, "run.migrated", NULL);
    else if (k != NULL) {
      km_inv_key_decide(k, KM_VERDICT_FAILED, "run.migrate_failed", why);
      km_inv_set(&k->fail_code, "MigrationTaskFailed");
    }
  }
  json_array_foreach(b->secrets, i, v) {
    const char *id = json_string_value(v);
    km_inv_secret_t *s = km_inv_find_secret(inv, id);
    bool in = json_object_get(j->seen_secrets, id) != NULL;
    json_array_append(in ? ms : fs, v);
    if (s != NULL && in)
      km_inv_secret_decide(s, KM_VERDICT_MIGRATED, "run.migrated", NULL);
    else if (s != NULL) {
      km_inv_secret_decide(s, KM_VERDICT_FAILED, "run.migrate_failed", why);
      km_inv_set(&s->fail_code, "MigrationTaskFailed");
    }
  }
  json_t *rec =
      json_pack("{s:s, s:s, s:o, s:o, s:o, s:o, s:b, s:s}", "type",
                "batch_done", "client_token", b->token, "migrated_keys", mk,
                "migrated_secrets", ms, "failed_keys", fk, "failed_secrets", fs,
                "timed_out", task_msg != NULL && strstr(task_msg, "timed out"),
                "request_id", j->detect_rid);
  int rc = kp_journal(j->c, rec); /* fails the stage when it cannot */
  b->done = true;
  kp_log(j->c, KM_LOG_INFO, "batch %s done: %zu key(s), %zu secret(s)",
         b->token, json_array_size(b->keys), json_array_size(b->secrets));
  if (rc < 0) {
    km__mig_end(j);
    return;
  }
  km__mig_after_batch(j, b, task_msg != NULL ? "failed" : "done",
                      km__mig_next_batch);
}

static bool batch_complete(mjob_t *j, const mbatch_t *b) {
  size_t i;
  json_t *v;
  json_array_foreach(b->keys, i, v) {
    if (json_object_get(j->seen_keys, json_string_value(v)) == NULL)
      return false;
  }
  json_array_foreach(b->secrets, i, v) {
    if (json_object_get(j->seen_secrets, json_string_value(v)) == NULL)
      return false;
  }
  return true;
}

/* ---- following a submitted batch ---- */

static void follow_later(km_sctx_t *c, void *ud) {
  (void)c;
  follow(ud);
}

/* Resources of b detection sees in the instance. */
static size_t seen_count(const mjob_t *j, const mbatch_t *b) {
  size_t n = 0, i;
  json_t *v;
  json_array_foreach(b->keys, i, v) n +=
      json_object_get(j->seen_keys, json_string_value(v)) != NULL;
  json_array_foreach(b->secrets, i, v) n +=
      json_object_get(j->seen_secrets, json_string_value(v)) != NULL;
  return n;
}

/* Interrupted (SIGINT/SIGTERM) while a batch only waits: the stage ends
 * now and RESTORE turns rotation back on; the batch stays journalled, so
 * `kmsmig run --run-dir` follows it again (and turns rotation off again
 * before it waits). */
static void cancel_waiting(mjob_t *j, const mbatch_t *b) {
  kp_fail(j->c, KM_ECANCELED, NULL,
          b->submitted ? "interrupted while batch %s waited for its console "
                         "step (worklist.md): resume to list it again"
                       : "interrupted before batch %s was submitted",
          b->token);
  km__mig_end(j);
}

/* The console driver waits poll_ms between looks, a second at a time so
 * that an interrupt is seen at once. */
static void console_tick(km_sctx_t *c, void *ud) {
  mjob_t *j = ud;
  mbatch_t *b = &j->b[j->cur];
  (void)c;
  if (kp_stopping(j->c) && !b->seen) {
    cancel_waiting(j, b);
    return;
  }
  if (j->wait_left_ms <= 0) {
    follow(j);
    return;
  }
  int64_t step = j->wait_left_ms < 1000 ? j->wait_left_ms : 1000;
  j->wait_left_ms -= step;
  kp_timer(j->c, (uint64_t)step, console_tick, j);
}

static void on_detect(mjob_t *j, int status) {
  mbatch_t *b = &j->b[j->cur];
  if (status < 0) {
    km__mig_end(j);
    return;
  }
  if (batch_complete(j, b)) {
    finish_batch(j, b, NULL);
    return;
  }
  if (!b->seen && seen_count(j, b) > 0) {
    /* The worklist shows the batch as migrating from now on. */
    json_t *rec =
        json_pack("{s:s, s:s, s:I, s:s}", "type", "batch_seen", "client_token",
                  b->token, "in_instance", (json_int_t)seen_count(j, b),
                  "request_id", j->detect_rid);
    if (kp_journal(j->c, rec) < 0) {
      km__mig_end(j);
      return;
    }
    b->seen = true;
  }
  if (j->deadline_polls == 0) {
    finish_batch(j, b, "timed out waiting for the task (migrate.task_timeout)");
    return;
  }
  j->deadline_polls--;
  if (!j->c->sim) {
    j->wait_left_ms = j->poll_ms;
    console_tick(j->c, j);
    return;
  }
  kp_timer(j->c, (uint64_t)j->poll_ms, follow_later, j);
}

static void submit(mjob_t *j, mbatch_t *b);

/* Some resource of b has its rotation off by this run and not yet back:
 * an interrupt must then wait for the task (RESTORE cannot change a
 * resource a task holds). */
static bool holds_rotation(const mjob_t *j, const mbatch_t *b) {
  size_t i;
  json_t *v;
  json_array_foreach(b->keys, i, v) {
    const km_inv_key_t *k = km_inv_find_key(j->c->inv, json_string_value(v));
    if (k != NULL && k->rotation_off && !k->rotation_restored) return true;
  }
  json_array_foreach(b->secrets, i, v) {
    const km_inv_secret_t *s =
        km_inv_find_secret(j->c->inv, json_string_value(v));
    if (s != NULL && s->rotation_off && !s->rotation_restored) return true;
  }
  return false;
}

static void on_tasks(km_sctx_t *c, const kp_res_t *res, void *ud) {
  mjob_t *j = ud;
  mbatch_t *b = &j->b[j->cur];
  if (res->status < 0) {
    km__mig_fail(j, res->status, res->err, "console tasks");
    km__mig_end(j);
    return;
  }
  const json_t *task = NULL;
  size_t i;
  const json_t *t;
  json_array_foreach(json_object_get(res->body, "Tasks"), i, t) {
    const char *tok = json_string_value(json_object_get(t, "ClientToken"));
    if (tok != NULL && strcmp(tok, b->token) == 0) task = t;
  }
  if (task == NULL) {
    /* Journalled but never reached the console (a crash in between): the
     * same client token makes the submission idempotent. */
    submit(j, b);
    return;
  }
  const char *st = json_string_value(json_object_get(task, "Status"));
  if (st != NULL &&
      (strcmp(st, "Completed") == 0 || strcmp(st, "Failed") == 0)) {
    km__mig_detect(j, on_detect);
    return;
  }
  if (kp_stopping(c) && kp_streq(st, "Scheduled") && !holds_rotation(j, b)) {
    /* Nothing of it is off: the task may start without us; a resumed run
     * finds it by its client token. */
    cancel_waiting(j, b);
    return;
  }
  if (j->deadline_polls == 0) {
    km__mig_detect(j, on_detect);
    return;
  }
  j->deadline_polls--;
  kp_timer(c, (uint64_t)j->poll_ms, follow_later, j);
}

static void follow(mjob_t *j) {
  if (j->c->sim) {
    int rc = kp_console(j->c, NULL, on_tasks, j);
    if (rc < 0) {
      km__mig_fail(j, rc, NULL, "console tasks");
      km__mig_end(j);
    }
    return;
  }
  km__mig_detect(j, on_detect);
}

/* ---- submitting ---- */

/* The problem the console named for resource id, if any. */
static void problem_of(const json_t *problems, const char *id, const char **msg,
                       const char **code) {
  size_t pi;
  const json_t *pr;
  json_array_foreach(problems, pi, pr) {
    const char *res = json_string_value(json_object_get(pr, "Resource"));
    if (res != NULL && strcmp(res, id) == 0) {
      *msg = json_string_value(json_object_get(pr, "Message"));
      *code = json_string_value(json_object_get(pr, "Code"));
    }
  }
}

/* The console refused the whole selection: every resource of the batch
 * fails (its verdict), each with its own problem when the console named
 * it. */
static void refused(mjob_t *j, mbatch_t *b, const kp_res_t *res) {
  km_inv_t *inv = j->c->inv;
  const json_t *problems = json_object_get(res->body, "Problems");
  const char *code = kp_res_code(res);
  const char *rid = res->err != NULL ? res->err->request_id : NULL;
  char whole[600];
  snprintf(whole, sizeof(whole), "the console refused the batch: %s",
           res->err != NULL ? res->err->text : km_strerror(res->status));
  for (int kind = 0; kind < 2; kind++) {
    size_t i;
    json_t *v;
    json_array_foreach(kind == 0 ? b->keys : b->secrets, i, v) {
      const char *id = json_string_value(v);
      const char *msg = whole, *pcode = code;
      problem_of(problems, id, &msg, &pcode);
      if (kind == 0) {
        km_inv_key_t *k = km_inv_find_key(inv, id);
        if (k == NULL) continue;
        km_inv_key_decide(k, KM_VERDICT_FAILED, "run.console_refused", msg);
        km_inv_set(&k->fail_code, pcode);
        km_inv_set(&k->fail_request_id, rid);
      } else {
        km_inv_secret_t *s = km_inv_find_secret(inv, id);
        if (s == NULL) continue;
        km_inv_secret_decide(s, KM_VERDICT_FAILED, "run.console_refused", msg);
        km_inv_set(&s->fail_code, pcode);
        km_inv_set(&s->fail_request_id, rid);
      }
    }
  }
  json_t *rec = json_pack(
      "{s:s, s:s, s:[], s:[], s:O, s:O, s:s, s:s}", "type", "batch_done",
      "client_token", b->token, "migrated_keys", "migrated_secrets",
      "failed_keys", b->keys, "failed_secrets", b->secrets, "refused", code,
      "request_id", rid != NULL ? rid : res->request_id);
  /* Nothing was changed: the next batch goes on (a journal that cannot be
   * written fails the stage; the next submission then stops). */
  (void)kp_journal(j->c, rec);
  b->done = true;
  km__mig_next_batch(j);
}

static void on_submitted(km_sctx_t *c, const kp_res_t *res, void *ud) {
  mjob_t *j = ud;
  mbatch_t *b = &j->b[j->cur];
  if (res->status < 0) {
    if (res->err != NULL && strncmp(res->err->cloud_code, "Console.", 8) == 0) {
      refused(j, b, res);
      return;
    }
    km__mig_fail(j, res->status, res->err, "console migrate");
    km__mig_end(j);
    return;
  }
  const char *task = json_string_value(json_object_get(res->body, "TaskId"));
  snprintf(b->task_id, sizeof(b->task_id), "%s", task != NULL ? task : "");
  json_t *rec =
      json_pack("{s:s, s:s, s:s, s:s}", "type", "task_started", "client_token",
                b->token, "task_id", b->task_id, "request_id", res->request_id);
  if (kp_journal(c, rec) < 0) {
    km__mig_end(j);
    return;
  }
  kp_log(c, KM_LOG_INFO, "batch %s: task %s (%zu key(s), %zu secret(s))",
         b->token, b->task_id, json_array_size(b->keys),
         json_array_size(b->secrets));
  follow(j);
}

/* The console driver: the operator does the step from the worklist
 * (run/worklist.c renders the batch_submitted record); the log says
 * where to look. */
static void print_console_steps(mjob_t *j, mbatch_t *b) {
  kp_log(j->c, KM_LOG_WARN,
         "ACTION: console step for batch %s (%zu key(s), %zu secret(s)) into "
         "%s: see worklist.md in the run directory",
         b->token, json_array_size(b->keys), json_array_size(b->secrets),
         j->c->inv->instance_id);
}

static void submit(mjob_t *j, mbatch_t *b) {
  if (!j->c->sim) {
    print_console_steps(j, b);
    follow(j);
    return;
  }
  json_t *req = json_pack(
      "{s:s, s:s, s:s, s:b, s:s, s:{s:O, s:O}}", "ClientToken", b->token,
      "InstanceId", j->c->inv->instance_id, "InstanceType",
      km__mig_type_name(j), "SetAsDefault", j->set_default, "Schedule", j->when,
      "Resources", "Keys", b->keys, "Secrets", b->secrets);
  int rc = kp_console(j->c, req, on_submitted, j);
  json_decref(req);
  if (rc < 0) {
    km__mig_fail(j, rc, NULL, "console migrate");
    km__mig_end(j);
  }
}

/* True when b is everything the console lists as pending in the region
 * (keys not migrated and Enabled, HSM BYOK excluded; secrets not
 * migrated): its "Keys and Secrets" option then does it in one step. */
static bool all_pending(const mjob_t *j, const mbatch_t *b) {
  const km_inv_t *inv = j->c->inv;
  size_t nk = 0, ns = 0;
  for (size_t i = 0; i < inv->nkeys; i++) {
    const km_inv_key_t *k = &inv->keys[i];
    bool byok =
        kp_streq(k->origin, "EXTERNAL") && kp_streq(k->protection_level, "HSM");
    if (k->dkms_instance_id == NULL && kp_streq(k->key_state, "Enabled") &&
        k->creator == KM_CREATOR_USER && !byok)
      nk++;
  }
  for (size_t i = 0; i < inv->nsecrets; i++)
    ns += inv->secrets[i].dkms_instance_id == NULL;
  return nk == json_array_size(b->keys) && ns == json_array_size(b->secrets);
}

void km__mig_submit_new(mjob_t *j, mbatch_t *b) {
  const km_target_t *t = j->c->t;
  json_t *rec = json_pack(
      "{s:s, s:s, s:O, s:O, s:s, s:b, s:s, s:s, s:s, s:s, s:s?, s:b}", "type",
      "batch_submitted", "client_token", b->token, "keys", b->keys, "secrets",
      b->secrets, "instance", j->c->inv->instance_id, "set_default",
      j->set_default, "when", j->when, "driver", j->c->sim ? "sim" : "console",
      "account_id", t->account_id != NULL ? t->account_id : "", "instance_type",
      km__mig_type_name(j), "access_role", t->access_role, "all_pending",
      all_pending(j, b));
  if (kp_journal(j->c, rec) < 0) {
    km__mig_end(j);
    return;
  }
  b->submitted = true;
  b->listed = true;
  submit(j, b);
}

/* ---- the batch loop ---- */

static void plan_batches(mjob_t *j) {
  km_batches_t bs;
  km_err_t e;
  if (km_batch_plan(j->c->inv, &bs, &e) < 0) {
    km__mig_fail(j, KM_EINVAL, &e, "batch plan");
    return;
  }
  for (size_t i = 0; i < bs.n; i++) {
    char base[64], token[80];
    batch_token(j, &bs.v[i], base);
    snprintf(token, sizeof(token), "%s", base);
    /* The same content again: a batch still in flight from an earlier
     * attempt is followed (never submitted twice); one that ended with
     * failures (refused, or resources not moved) is tried again as a new
     * batch with its own token. */
    bool in_flight = false;
    mbatch_t *old;
    for (int n = 2; (old = find_batch(j, token)) != NULL && !in_flight; n++) {
      in_flight = !old->done;
      snprintf(token, sizeof(token), "%s-%d", base, n);
    }
    if (in_flight) continue;
    mbatch_t *b = add_batch(j, token);
    for (size_t k = 0; k < bs.v[i].nkeys; k++)
      json_array_append_new(b->keys, json_string(bs.v[i].key_ids[k]));
    for (size_t s = 0; s < bs.v[i].nsecrets; s++)
      json_array_append_new(b->secrets, json_string(bs.v[i].secret_names[s]));
  }
  km_batches_free(&bs);
}

static void reset_deadline(mjob_t *j) {
  const km_target_t *t = j->c->t;
  int64_t secs =
      t->task_timeout_s > 0 ? t->task_timeout_s : DEFAULT_TASK_TIMEOUT_S;
  /* A scheduled task starts later: wait for the start, then the timeout. */
  if (t->when != 0) {
    int64_t delay = t->when - (int64_t)time(NULL);
    if (delay > 0) secs += delay;
  }
  j->deadline_polls = (uint64_t)(secs * 1000 / j->poll_ms) + 1;
}

void km__mig_next_batch(mjob_t *j) {
  for (;;) {
    while (j->cur < j->nb && j->b[j->cur].done)
      j->cur++;
    if (j->cur < j->nb) break;
    if (j->c->status < 0 || j->planned) {
      km__mig_end(j);
      return;
    }
    j->planned = true;
    plan_batches(j);
    if (j->c->status < 0) {
      km__mig_end(j);
      return;
    }
  }
  mbatch_t *b = &j->b[j->cur];
  reset_deadline(j);
  if (b->submitted && !b->listed) {
    /* A batch of an earlier attempt: never submitted again, and listed in
     * the worklist again now that rotation is off again. */
    b->listed = true;
    json_t *rec = json_pack("{s:s, s:s}", "type", "batch_resumed",
                            "client_token", b->token);
    if (kp_journal(j->c, rec) < 0) {
      km__mig_end(j);
      return;
    }
    follow(j);
  } else if (b->submitted)
    follow(j);
  else if (kp_stopping(j->c))
    cancel_waiting(j, b);
  else
    km__mig_before_batch(j, b, km__mig_submit_new, km__mig_next_batch);
}

static void start_migrate(mjob_t *j) {
  km_sctx_t *c = j->c;
  j->poll_ms = c->sim ? SIM_POLL_MS : CONSOLE_POLL_MS;
  /* How often the console driver looks (console_poll_ms). */
  if (!c->sim && c->t->console_poll_ms > 0 &&
      c->t->console_poll_ms <= INT32_MAX)
    j->poll_ms = (int)c->t->console_poll_ms;
  size_t i;
  const json_t *rec;
  json_array_foreach(kp_records(c), i, rec) on_record(j, rec);
  km__mig_choose_default(j, km__mig_next_batch);
}

/* ---- the operations ---- */

static int migrate_start(void *state, km_sctx_t *c) {
  (void)state;
  if (c->stage != KM_STAGE_PREFLIGHT && c->stage != KM_STAGE_MIGRATE &&
      c->stage != KM_STAGE_VERIFY)
    return KM_ENOTSUP;
  mjob_t *j = km_xcalloc(1, sizeof(*j));
  j->c = c;
  j->inst_total[0] = j->inst_total[1] = -1;
  c->ud = j;
  c->free_ud = mig_free;
  /* One step at a time, each waiting for its answer: a failure must never
   * drop a queued call whose callback moves the stage on. */
  c->keep_going = true;
  if (c->t->when != 0)
    km_iso8601(c->t->when, j->when);
  else
    snprintf(j->when, sizeof(j->when), "now");
  switch (c->stage) {
  case KM_STAGE_PREFLIGHT:
    start_preflight(j);
    break;
  case KM_STAGE_MIGRATE:
    start_migrate(j);
    break;
  default:
    km__mig_start_verify(j);
    break;
  }
  return 0;
}

const km_stage_ops_t km_stage_migrate = {
    .name = "migrate",
    .version = MIGRATE_VERSION,
    .stages = KM_STAGE_BIT(KM_STAGE_PREFLIGHT) |
              KM_STAGE_BIT(KM_STAGE_MIGRATE) | KM_STAGE_BIT(KM_STAGE_VERIFY),
    .start = migrate_start,
};
