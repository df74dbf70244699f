/* The `migrate` plugin: preflight, the migration itself, and the default
 * instance check.
 *
 * preflight  applies the rule table (docs/rules.md) to the inventory the
 *            discover stages built.  Resources the vendor cannot move are
 *            skipped and resources that must be fixed are blocked, each with
 *            its reason; an instance-level problem blocks the pipeline.
 * migrate    submits batches of at most 50 keys and 50 secrets (keys before
 *            the secrets they encrypt, core/src/engine/batch.c) through one
 *            of two drivers: `console` prints the exact selection for the
 *            operator, `sim` performs it through kmsim's emulated console.
 *            Both then detect completion the same way (detect.c).  Each
 *            batch is journalled before it is submitted; on resume a batch
 *            already submitted is followed, never submitted again.
 * verify     the region's default instance is the destination, when the
 *            manifest asked for it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/rules.h"
#include "kpdoc.h"
#include "migrate.h"

const km_host_api_t *km__mig_host;

#define SIM_POLL_MS 250
#define CONSOLE_POLL_MS 15000

/* ---- job plumbing ---- */

void km__mig_fail(mjob_t *j, int rc, const km_err_t *err, const char *what) {
  if (j->status < 0) return;
  j->status = rc < 0 ? rc : KM_ECLOUD;
  if (err != NULL)
    j->err = *err;
  else
    snprintf(j->err.text, sizeof(j->err.text), "%s", km_strerror(rc));
  /* Prefix what failed, keeping as much of the message as fits. */
  char tmp[sizeof(j->err.text) + 64];
  snprintf(tmp, sizeof(tmp), "%.48s: %s", what, j->err.text);
  memcpy(j->err.text, tmp, sizeof(j->err.text) - 1);
  j->err.text[sizeof(j->err.text) - 1] = '\0';
}

int km__mig_load(mjob_t *j) {
  return kp_doc_read(H, j->p, &j->inv, &j->extra, &j->err);
}

void km__mig_store(mjob_t *j) {
  kp_doc_write(H, j->p, j->inv, j->extra);
}

void km__mig_free(mjob_t *j) {
  for (size_t i = 0; i < j->nb; i++) {
    json_decref(j->b[i].keys);
    json_decref(j->b[i].secrets);
  }
  free(j->b);
  json_decref(j->seen_keys);
  json_decref(j->seen_secrets);
  km_inv_free(j->inv);
  json_decref(j->extra);
  free(j);
}

void km__mig_end(mjob_t *j) {
  if (j->inv != NULL) km__mig_store(j);
  H->stage_done(j->run, j->status, j->status < 0 ? &j->err : NULL);
  km__mig_free(j);
}

bool km__mig_setting_true(mjob_t *j, const char *name) {
  const char *v = H->get(j->p, name);
  return v != NULL && strcmp(v, "true") == 0;
}

/* ---- preflight ---- */

static bool in_json_list(const json_t *list, const char *id) {
  size_t i;
  json_t *v;
  json_array_foreach(list, i, v) {
    if (json_is_string(v) && strcmp(json_string_value(v), id) == 0) return true;
  }
  return false;
}

/* --rerun-failed: only the resources that failed (or never ran) last time. */
static void apply_only(mjob_t *j) {
  const char *only = H->get(j->p, "only");
  if (only == NULL) return;
  json_t *o = json_loads(only, 0, NULL);
  const char *why = "did not fail in the previous attempt (--rerun-failed)";
  for (size_t i = 0; i < j->inv->nkeys; i++) {
    km_inv_key_t *k = &j->inv->keys[i];
    if (km_verdict_moves(k->verdict) &&
        !in_json_list(json_object_get(o, "keys"), k->key_id))
      km_inv_key_decide(k, KM_VERDICT_SKIPPED, "run.rerun_failed", why);
  }
  for (size_t i = 0; i < j->inv->nsecrets; i++) {
    km_inv_secret_t *s = &j->inv->secrets[i];
    if (km_verdict_moves(s->verdict) &&
        !in_json_list(json_object_get(o, "secrets"), s->secret_name))
      km_inv_secret_decide(s, KM_VERDICT_SKIPPED, "run.rerun_failed", why);
  }
  json_decref(o);
}

/* Records the default_instance decision for the plan's "hooks" lines. */
static void preflight_noted(mjob_t *j) {
  const char *choice =
      json_string_value(json_object_get(j->extra, "default_choice"));
  if (choice != NULL) {
    char note[400];
    snprintf(
        note, sizeof(note), "default_instance chose %s for %s %s (was: %s)",
        choice[0] ? choice : "none", j->inv->account, j->inv->region,
        j->inv->default_instance_id ? j->inv->default_instance_id : "none");
    json_object_set_new(j->extra, "hook_notes", json_pack("[s]", note));
  }
  km__mig_end(j);
}

static int start_preflight(mjob_t *j) {
  if (km__mig_load(j) < 0) return KM_EINVAL;
  int rc = km_rules_eval(j->inv, (int64_t)time(NULL), &j->err);
  if (rc < 0) {
    j->status = rc;
    km__mig_end(j);
    return 0;
  }
  apply_only(j);
  /* An instance-level problem blocks the whole pipeline; a blocked resource
   * only keeps itself out of the batches. */
  size_t nblock = 0;
  km_err_t e;
  memset(&e, 0, sizeof(e));
  for (size_t i = 0; i < j->inv->nissues; i++) {
    const km_inv_issue_t *is = &j->inv->issues[i];
    if (is->verdict == KM_VERDICT_WARNING) {
      H->log(j->p, KM_PLOG_WARN, "%s", is->message);
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
    j->status = KM_EPERM;
    j->err = e;
    j->err.code = KM_EPERM;
    km__mig_end(j);
    return 0;
  }
  /* Hooks run in plan mode too, so the plan shows what they decide. */
  km__mig_choose_default(j, preflight_noted);
  return 0;
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
  uint64_t h = 1469598103934665603ull;
  h = fnv64(h, H->get(j->p, "account_id"));
  h = fnv64(h, H->get(j->p, "region"));
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
  j->b = realloc(j->b, (j->nb + 1) * sizeof(*j->b));
  mbatch_t *b = &j->b[j->nb++];
  memset(b, 0, sizeof(*b));
  snprintf(b->token, sizeof(b->token), "%s", token);
  b->keys = json_array();
  b->secrets = json_array();
  return b;
}

static void on_record(const char *record_json, void *ud) {
  mjob_t *j = ud;
  json_t *r = json_loads(record_json, 0, NULL);
  const char *type = json_string_value(json_object_get(r, "type"));
  const char *token = json_string_value(json_object_get(r, "client_token"));
  if (type == NULL || token == NULL) {
    json_decref(r);
    return;
  }
  mbatch_t *b = find_batch(j, token);
  if (strcmp(type, "batch_submitted") == 0 && b == NULL) {
    b = add_batch(j, token);
    json_array_extend(b->keys, json_object_get(r, "keys"));
    json_array_extend(b->secrets, json_object_get(r, "secrets"));
    b->submitted = true;
  } else if (b != NULL && strcmp(type, "task_started") == 0) {
    const char *t = json_string_value(json_object_get(r, "task_id"));
    snprintf(b->task_id, sizeof(b->task_id), "%s", t != NULL ? t : "");
  } else if (b != NULL && strcmp(type, "batch_done") == 0) {
    b->done = true;
    /* What an earlier attempt migrated counts as migrated by this run. */
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(r, "migrated_keys"), i, v) {
      km_inv_key_t *k = km_inv_find_key(j->inv, json_string_value(v));
      if (k != NULL)
        km_inv_key_decide(k, KM_VERDICT_MIGRATED, "run.migrated", NULL);
    }
    json_array_foreach(json_object_get(r, "migrated_secrets"), i, v) {
      km_inv_secret_t *s = km_inv_find_secret(j->inv, json_string_value(v));
      if (s != NULL)
        km_inv_secret_decide(s, KM_VERDICT_MIGRATED, "run.migrated", NULL);
    }
  }
  json_decref(r);
}

static void follow(mjob_t *j);

/* Marks the batch's resources from the last detection, journals it done. */
static void finish_batch(mjob_t *j, mbatch_t *b, const char *task_msg) {
  json_t *mk = json_array(), *ms = json_array();
  json_t *fk = json_array(), *fs = json_array();
  size_t i;
  json_t *v;
  char why[512];
  snprintf(why, sizeof(why), "not in instance %s after the migration task%s%s",
           j->inv->instance_id, task_msg != NULL ? ": " : "",
           task_msg != NULL ? task_msg : "");
  json_array_foreach(b->keys, i, v) {
    const char *id = json_string_value(v);
    km_inv_key_t *k = km_inv_find_key(j->inv, id);
    bool in = json_object_get(j->seen_keys, id) != NULL;
    json_array_append(in ? mk : fk, v);
    if (k != NULL && in)
      km_inv_key_decide(k, KM_VERDICT_MIGRATED, "run.migrated", NULL);
    else if (k != NULL) {
      km_inv_key_decide(k, KM_VERDICT_FAILED, "run.migrate_failed", why);
      km_inv_set(&k->fail_code, "MigrationTaskFailed");
      H->outcome(j->p, "key", id, "failed", why);
    }
  }
  json_array_foreach(b->secrets, i, v) {
    const char *id = json_string_value(v);
    km_inv_secret_t *s = km_inv_find_secret(j->inv, id);
    bool in = json_object_get(j->seen_secrets, id) != NULL;
    json_array_append(in ? ms : fs, v);
    if (s != NULL && in)
      km_inv_secret_decide(s, KM_VERDICT_MIGRATED, "run.migrated", NULL);
    else if (s != NULL) {
      km_inv_secret_decide(s, KM_VERDICT_FAILED, "run.migrate_failed", why);
      km_inv_set(&s->fail_code, "MigrationTaskFailed");
      H->outcome(j->p, "secret", id, "failed", why);
    }
  }
  json_t *rec = json_pack("{s:s, s:s, s:o, s:o, s:o, s:o}", "type",
                          "batch_done", "client_token", b->token,
                          "migrated_keys", mk, "migrated_secrets", ms,
                          "failed_keys", fk, "failed_secrets", fs);
  char *text = json_dumps(rec, JSON_COMPACT);
  int rc = H->journal(j->p, text);
  free(text);
  json_decref(rec);
  b->done = true;
  H->log(j->p, KM_PLOG_INFO, "batch %s done: %zu key(s), %zu secret(s)",
         b->token, json_array_size(b->keys), json_array_size(b->secrets));
  if (rc < 0) {
    km__mig_fail(j, rc, NULL, "journal");
    km__mig_end(j);
    return;
  }
  km__mig_store(j);
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
  if (j->deadline_polls == 0) {
    finish_batch(j, b, "timed out waiting for the task (migrate.task_timeout)");
    return;
  }
  j->deadline_polls--;
  H->timer(j->p, (uint64_t)j->poll_ms, (void (*)(void *))follow, j);
}

static void submit(mjob_t *j, mbatch_t *b);

static void on_tasks(const km_plugin_call_result_t *r, void *ud) {
  mjob_t *j = ud;
  mbatch_t *b = &j->b[j->cur];
  if (r->status < 0) {
    km__mig_fail(j, r->status, r->err, "console tasks");
    km__mig_end(j);
    return;
  }
  json_t *body = json_loads(r->body_json, 0, NULL);
  json_t *task = NULL;
  size_t i;
  json_t *t;
  json_array_foreach(json_object_get(body, "Tasks"), i, t) {
    const char *tok = json_string_value(json_object_get(t, "ClientToken"));
    if (tok != NULL && strcmp(tok, b->token) == 0) task = t;
  }
  if (task == NULL) {
    /* Journalled but never reached the console (a crash in between): the
     * same client token makes the submission idempotent. */
    json_decref(body);
    submit(j, b);
    return;
  }
  const char *st = json_string_value(json_object_get(task, "Status"));
  if (st != NULL &&
      (strcmp(st, "Completed") == 0 || strcmp(st, "Failed") == 0)) {
    json_decref(body);
    km__mig_detect(j, on_detect);
    return;
  }
  json_decref(body);
  if (j->deadline_polls == 0) {
    km__mig_detect(j, on_detect);
    return;
  }
  j->deadline_polls--;
  H->timer(j->p, (uint64_t)j->poll_ms, (void (*)(void *))follow, j);
}

static void follow(mjob_t *j) {
  if (j->sim) {
    int rc = H->console(j->p, NULL, on_tasks, j);
    if (rc < 0) {
      km__mig_fail(j, rc, NULL, "console tasks");
      km__mig_end(j);
    }
    return;
  }
  km__mig_detect(j, on_detect);
}

/* ---- submitting ---- */

/* The console refused the whole selection: every resource of the batch
 * fails, each with its own problem when the console named it. */
static void refused(mjob_t *j, mbatch_t *b, const km_plugin_call_result_t *r) {
  json_t *body =
      r->body_json != NULL ? json_loads(r->body_json, 0, NULL) : NULL;
  json_t *problems = json_object_get(body, "Problems");
  const char *code = r->err != NULL && r->err->cloud_code[0]
                         ? r->err->cloud_code
                         : km_err_name(r->status);
  const char *rid = r->err != NULL ? r->err->request_id : NULL;
  char whole[600];
  snprintf(whole, sizeof(whole), "the console refused the batch: %s",
           r->err != NULL ? r->err->text : km_strerror(r->status));
  for (int kind = 0; kind < 2; kind++) {
    size_t i;
    json_t *v;
    json_array_foreach(kind == 0 ? b->keys : b->secrets, i, v) {
      const char *id = json_string_value(v);
      const char *msg = whole, *pcode = code;
      size_t pi;
      json_t *pr;
      json_array_foreach(problems, pi, pr) {
        const char *res = json_string_value(json_object_get(pr, "Resource"));
        if (res != NULL && strcmp(res, id) == 0) {
          msg = json_string_value(json_object_get(pr, "Message"));
          pcode = json_string_value(json_object_get(pr, "Code"));
        }
      }
      if (kind == 0) {
        km_inv_key_t *k = km_inv_find_key(j->inv, id);
        if (k == NULL) continue;
        km_inv_key_decide(k, KM_VERDICT_FAILED, "run.console_refused", msg);
        km_inv_set(&k->fail_code, pcode);
        km_inv_set(&k->fail_request_id, rid);
      } else {
        km_inv_secret_t *s = km_inv_find_secret(j->inv, id);
        if (s == NULL) continue;
        km_inv_secret_decide(s, KM_VERDICT_FAILED, "run.console_refused", msg);
        km_inv_set(&s->fail_code, pcode);
        km_inv_set(&s->fail_request_id, rid);
      }
      H->outcome(j->p, kind == 0 ? "key" : "secret", id, "failed", msg);
    }
  }
  json_decref(body);
  json_t *rec = json_pack(
      "{s:s, s:s, s:[], s:[], s:O, s:O, s:s}", "type", "batch_done",
      "client_token", b->token, "migrated_keys", "migrated_secrets",
      "failed_keys", b->keys, "failed_secrets", b->secrets, "refused", code);
  char *text = json_dumps(rec, JSON_COMPACT);
  H->journal(j->p, text);
  free(text);
  json_decref(rec);
  b->done = true;
  km__mig_store(j);
  km__mig_next_batch(j);
}

static void on_submitted(const km_plugin_call_result_t *r, void *ud) {
  mjob_t *j = ud;
  mbatch_t *b = &j->b[j->cur];
  if (r->status < 0) {
    if (r->err != NULL && strncmp(r->err->cloud_code, "Console.", 8) == 0) {
      refused(j, b, r);
      return;
    }
    km__mig_fail(j, r->status, r->err, "console migrate");
    km__mig_end(j);
    return;
  }
  json_t *body = json_loads(r->body_json, 0, NULL);
  const char *task = json_string_value(json_object_get(body, "TaskId"));
  snprintf(b->task_id, sizeof(b->task_id), "%s", task != NULL ? task : "");
  json_decref(body);
  json_t *rec = json_pack("{s:s, s:s, s:s}", "type", "task_started",
                          "client_token", b->token, "task_id", b->task_id);
  char *text = json_dumps(rec, JSON_COMPACT);
  int rc = H->journal(j->p, text);
  free(text);
  json_decref(rec);
  if (rc < 0) {
    km__mig_fail(j, rc, NULL, "journal");
    km__mig_end(j);
    return;
  }
  H->log(j->p, KM_PLOG_INFO, "batch %s: task %s (%zu key(s), %zu secret(s))",
         b->token, b->task_id, json_array_size(b->keys),
         json_array_size(b->secrets));
  follow(j);
}

static void print_console_steps(mjob_t *j, mbatch_t *b) {
  char *keys = json_dumps(b->keys, JSON_COMPACT);
  char *secrets = json_dumps(b->secrets, JSON_COMPACT);
  H->log(j->p, KM_PLOG_WARN,
         "ACTION: in the KMS 1.0 console of account %s, region %s: "
         "Migration Tool > Migrate; type %s, instance %s%s, %s; "
         "Manually Select Resources: keys %s secrets %s; then OK and Migrate. "
         "kmsmig waits for the resources to appear in the instance.",
         H->get(j->p, "account_id"), H->get(j->p, "region"),
         H->get(j->p, "instance_type"), j->inv->instance_id,
         j->set_default ? " (tick Set as 3.0 Default Instance)" : "",
         strcmp(H->get(j->p, "when"), "now") == 0
             ? "Manual Migration (Start Now)"
             : "Automatic Migration at the scheduled time",
         keys, secrets);
  free(keys);
  free(secrets);
}

static void submit(mjob_t *j, mbatch_t *b) {
  if (!j->sim) {
    print_console_steps(j, b);
    follow(j);
    return;
  }
  json_t *req =
      json_pack("{s:s, s:s, s:s, s:b, s:s, s:{s:O, s:O}}", "ClientToken",
                b->token, "InstanceId", j->inv->instance_id, "InstanceType",
                H->get(j->p, "instance_type"), "SetAsDefault", j->set_default,
                "Schedule", H->get(j->p, "when"), "Resources", "Keys", b->keys,
                "Secrets", b->secrets);
  char *text = json_dumps(req, JSON_COMPACT);
  json_decref(req);
  int rc = H->console(j->p, text, on_submitted, j);
  free(text);
  if (rc < 0) {
    km__mig_fail(j, rc, NULL, "console migrate");
    km__mig_end(j);
  }
}

void km__mig_submit_new(mjob_t *j, mbatch_t *b) {
  json_t *rec =
      json_pack("{s:s, s:s, s:O, s:O, s:s, s:b, s:s}", "type",
                "batch_submitted", "client_token", b->token, "keys", b->keys,
                "secrets", b->secrets, "instance", j->inv->instance_id,
                "set_default", j->set_default, "when", H->get(j->p, "when"));
  char *text = json_dumps(rec, JSON_COMPACT);
  int rc = H->journal(j->p, text);
  free(text);
  json_decref(rec);
  if (rc < 0) {
    km__mig_fail(j, rc, NULL, "journal");
    km__mig_end(j);
    return;
  }
  b->submitted = true;
  submit(j, b);
}

/* ---- the batch loop ---- */

static void plan_batches(mjob_t *j) {
  km_batches_t bs;
  km_err_t e;
  if (km_batch_plan(j->inv, &bs, &e) < 0) {
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
  const char *t = H->get(j->p, "task_timeout_s");
  long secs = t != NULL ? atol(t) : 7200;
  const char *when = H->get(j->p, "when");
  /* A scheduled task starts later: wait for the start, then the timeout. */
  if (when != NULL && strcmp(when, "now") != 0) {
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    if (strptime(when, "%Y-%m-%dT%H:%M:%SZ", &tm) != NULL) {
      long delay = (long)(timegm(&tm) - time(NULL));
      if (delay > 0) secs += delay;
    }
  }
  j->deadline_polls = (uint64_t)(secs * 1000 / j->poll_ms) + 1;
}

void km__mig_next_batch(mjob_t *j) {
  for (;;) {
    while (j->cur < j->nb && j->b[j->cur].done)
      j->cur++;
    if (j->cur < j->nb) break;
    if (j->status < 0 || j->planned) {
      km__mig_end(j);
      return;
    }
    j->planned = true;
    plan_batches(j);
    if (j->status < 0) {
      km__mig_end(j);
      return;
    }
  }
  mbatch_t *b = &j->b[j->cur];
  reset_deadline(j);
  if (b->submitted)
    follow(j); /* resume: never submit a journalled batch again */
  else
    km__mig_before_batch(j, b, km__mig_submit_new, km__mig_next_batch);
}

static int start_migrate(mjob_t *j) {
  if (km__mig_load(j) < 0) return KM_EINVAL;
  const char *driver = H->get(j->p, "driver");
  j->sim = driver != NULL && strcmp(driver, "sim") == 0;
  j->poll_ms = j->sim ? SIM_POLL_MS : CONSOLE_POLL_MS;
  /* How often the console driver looks (settings: console_poll_ms). */
  const char *poll = H->get(j->p, "console_poll_ms");
  if (!j->sim && poll != NULL && atoi(poll) > 0) j->poll_ms = atoi(poll);
  H->journal_replay(j->p, on_record, j);
  km__mig_choose_default(j, km__mig_next_batch);
  return 0;
}

/* ---- descriptor ---- */

static int mig_init(const km_host_api_t *host, void **state, km_err_t *err) {
  (void)err;
  km__mig_host = host;
  *state = NULL;
  return 0;
}

static int mig_start(void *state, km_stage_t stage, km_pipeline_t *p,
                     km_stage_run_t *run) {
  (void)state;
  mjob_t *j = calloc(1, sizeof(*j));
  if (j == NULL) return KM_ENOMEM;
  j->p = p;
  j->run = run;
  int rc;
  switch (stage) {
  case KM_STAGE_PREFLIGHT:
    rc = start_preflight(j);
    break;
  case KM_STAGE_MIGRATE:
    rc = start_migrate(j);
    break;
  case KM_STAGE_VERIFY:
    return km__mig_start_verify(j);
  default:
    rc = KM_ENOTSUP;
    break;
  }
  if (rc < 0) km__mig_free(j);
  return rc;
}

static const km_plugin_t desc = {
    .abi_major = KM_PLUGIN_ABI_MAJOR,
    .abi_minor = KM_PLUGIN_ABI_MINOR,
    .struct_size = sizeof(km_plugin_t),
    .name = "migrate",
    .version = "0.1.0",
    .stages = KM_STAGE_BIT(KM_STAGE_PREFLIGHT) |
              KM_STAGE_BIT(KM_STAGE_MIGRATE) | KM_STAGE_BIT(KM_STAGE_VERIFY),
    .init = mig_init,
    .start = mig_start,
};

KM_EXPORT const km_plugin_t *km_plugin_entry(void) {
  return &desc;
}
