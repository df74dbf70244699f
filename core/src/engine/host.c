/* The host function table handed to plugins (kmsmig/plugin.h), implemented
 * on the engine: cloud calls go through the rate limiter, the target's
 * credentials and the signed client; journal records are tagged with the
 * pipeline's account and region and made durable before returning; plan
 * mode refuses write actions so a plan can never change anything. */
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/pipeline_priv.h"
#include "journal/journal.h"
#include "util/util.h"

/* Actions that change something.  Everything not listed here that starts
 * with one of these verbs is treated as a write too (see is_write). */
static const char *write_verbs[] = {
    "Update",  "Create",  "Delete",   "Associate", "Disassociate",
    "Import",  "Set",     "Put",      "Enable",    "Disable",
    "Tag",     "Untag",   "Schedule", "Cancel",    "Rotate",
    "Release", "Connect", "Open",     "Restore",   "Upload"};

static int is_write(const char *action) {
  for (size_t i = 0; i < KM_ARRAY_SIZE(write_verbs); i++) {
    size_t n = strlen(write_verbs[i]);
    if (strncmp(action, write_verbs[i], n) == 0 && action[n] >= 'A' &&
        action[n] <= 'Z')
      return 1;
  }
  return 0;
}

static void h_log(km_pipeline_t *p, int level, const char *fmt, ...)
    KM_PRINTF(3, 4);

static void h_log(km_pipeline_t *p, int level, const char *fmt, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  km_log(level, "%s %s: %s", p->t.account, p->t.region, msg);
}

static const char *h_get(km_pipeline_t *p, const char *name) {
  const km_target_t *t = &p->t;
  if (strcmp(name, "account") == 0) return t->account;
  if (strcmp(name, "account_id") == 0) return t->account_id;
  if (strcmp(name, "region") == 0) return t->region;
  if (strcmp(name, "instance") == 0) return t->instance_id;
  if (strcmp(name, "instance_type") == 0) return t->instance_type;
  if (strcmp(name, "run_mode") == 0)
    return p->e->o.mode == KM_MODE_PLAN ? "plan" : "run";
  if (strcmp(name, "driver") == 0)
    return p->e->o.driver != NULL ? p->e->o.driver : "console";
  if (t->settings != NULL)
    return json_string_value(json_object_get(t->settings, name));
  return NULL;
}

/* ---- call: rate limit → credentials → signed call ---- */

typedef struct call_s {
  km_pipeline_t *p;
  const char *account_id; /* whose credentials and rate limits */
  km_cred_get_fn get_cred;
  void *cred_src;
  km_product_t product;
  char *action;
  km_params_t params;
  char rl_key[160];
  km_plugin_call_cb cb;
  void *ud;
  km_err_t err;
} call_t;

static void call_finish(call_t *c, int status, const char *body,
                        const km_err_t *err) {
  km_plugin_call_result_t res = {status, body, err};
  km_pipeline_t *p = c->p;
  c->cb(&res, c->ud);
  p->pending--;
  km_params_free(&c->params);
  free(c->action);
  free(c);
}

static void on_acs_done(const km_acs_result_t *res, void *ud) {
  call_t *c = ud;
  /* Tell the limiter about every throttling answer the client absorbed in
   * its retries (reported at the end of the call, not per attempt). */
  if (res->throttled > 0) km_rl_throttled(c->p->e->o.rl, c->rl_key);
  if (res->status < 0) {
    call_finish(c, res->status, NULL, res->err);
    return;
  }
  char *text = json_dumps(res->body, JSON_COMPACT);
  call_finish(c, 0, text != NULL ? text : "{}", NULL);
  free(text);
}

static void on_cred(int status, const km_credential_t *cred,
                    const km_err_t *err, void *ud) {
  call_t *c = ud;
  if (status < 0) {
    call_finish(c, status, NULL, err);
    return;
  }
  km_acs_call_t call = {
      .product = c->product,
      .region = c->p->t.region,
      .action = c->action,
      .params = &c->params,
      .cred = cred,
  };
  int rc = km_acs_call(c->p->e->o.acs, &call, on_acs_done, c, &c->err);
  if (rc < 0) call_finish(c, rc, NULL, &c->err);
}

static void on_token(int status, void *ud) {
  call_t *c = ud;
  if (status < 0) {
    km__err_set(&c->err, status, "%s: canceled before it was sent", c->action);
    call_finish(c, status, NULL, &c->err);
    return;
  }
  int rc = c->get_cred(c->cred_src, on_cred, c);
  if (rc < 0) {
    km__err_set(&c->err, rc, "no credentials for account %s: %s",
                c->p->t.account, km_strerror(rc));
    call_finish(c, rc, NULL, &c->err);
  }
}

static int start_call(km_pipeline_t *p, const char *account_id,
                      km_cred_get_fn get_cred, void *cred_src,
                      const char *product, const char *action,
                      const char *const *params, size_t n, km_plugin_call_cb cb,
                      void *ud) {
  km_product_t prod;
  if (product == NULL || action == NULL || cb == NULL ||
      km_product_from_name(product, &prod) < 0)
    return KM_EINVAL;
  if (p->e->o.mode == KM_MODE_PLAN && is_write(action)) {
    km_log(KM_LOG_WARN, "%s %s: %s refused: plan mode makes no change",
           p->t.account, p->t.region, action);
    return KM_EPERM;
  }
  call_t *c = km_xcalloc(1, sizeof(*c));
  c->p = p;
  c->account_id = account_id;
  c->get_cred = get_cred;
  c->cred_src = cred_src;
  c->product = prod;
  c->action = km_xstrdup(action);
  c->cb = cb;
  c->ud = ud;
  km_params_init(&c->params);
  for (size_t i = 0; i < 2 * n; i += 2)
    km_params_set(&c->params, params[i], params[i + 1]);
  double qps;
  const char *group = km_rl_api_group(product, action, &qps);
  snprintf(c->rl_key, sizeof(c->rl_key), "%s/%s/%s", account_id,
           prod == KM_PRODUCT_STS || prod == KM_PRODUCT_RESOURCEMANAGER
               ? "-"
               : p->t.region,
           group);
  int rc = km_rl_acquire(p->e->o.rl, c->rl_key, qps, on_token, c);
  if (rc < 0) {
    km_params_free(&c->params);
    free(c->action);
    free(c);
    return rc;
  }
  p->pending++;
  return 0;
}

static int h_call(km_pipeline_t *p, const char *product, const char *action,
                  const char *const *params, size_t n, km_plugin_call_cb cb,
                  void *ud) {
  return start_call(p, p->t.account_id, p->t.get_cred, p->t.cred_src, product,
                    action, params, n, cb, ud);
}

int km__host_call(km_pipeline_t *p, const char *product, const char *action,
                  const char *const *params, size_t n, km_plugin_call_cb cb,
                  void *ud) {
  return h_call(p, product, action, params, n, cb, ud);
}

static int h_call_as(km_pipeline_t *p, const char *account, const char *product,
                     const char *action, const char *const *params, size_t n,
                     km_plugin_call_cb cb, void *ud) {
  const char *id = NULL;
  km_cred_get_fn get = NULL;
  void *src = NULL;
  km_engine_t *e = p->e;
  if (account == NULL || e->o.resolve_account == NULL ||
      e->o.resolve_account(e->o.resolve_ud, account, &id, &get, &src) < 0)
    return KM_ENOENT;
  return start_call(p, id, get, src, product, action, params, n, cb, ud);
}

/* ---- journal ---- */

/* Test-only crash injection: KMSMIG_TEST_CRASH_AFTER="<type>:<n>" kills the
 * process with SIGKILL right after the n-th journal record of that type is
 * durable (and before the side effect it announces), so the resume tests
 * can stop a run at an exact point.  Unset in normal use. */
static void maybe_crash(const char *type) {
  static int parsed, target_n, seen;
  static char target[64];
  if (!parsed) {
    parsed = 1;
    const char *e = getenv("KMSMIG_TEST_CRASH_AFTER");
    const char *colon = e != NULL ? strrchr(e, ':') : NULL;
    if (colon != NULL && (size_t)(colon - e) < sizeof(target)) {
      memcpy(target, e, (size_t)(colon - e));
      target[colon - e] = '\0';
      target_n = atoi(colon + 1);
    }
  }
  if (target_n > 0 && strcmp(type, target) == 0 && ++seen == target_n) {
    fprintf(stderr, "kmsmig: KMSMIG_TEST_CRASH_AFTER=%s:%d: SIGKILL now\n",
            target, target_n);
    raise(SIGKILL);
  }
}

static int h_journal(km_pipeline_t *p, const char *record_json) {
  if (p->e->o.journal == NULL)
    return p->e->o.mode == KM_MODE_PLAN ? KM_EPERM : KM_EJOURNAL;
  json_error_t jerr;
  json_t *rec = json_loads(record_json, 0, &jerr);
  if (!json_is_object(rec)) {
    json_decref(rec);
    return KM_EINVAL;
  }
  const char *type = json_string_value(json_object_get(rec, "type"));
  if (type == NULL) {
    json_decref(rec);
    return KM_EINVAL;
  }
  char *t = km_xstrdup(type);
  json_object_del(rec, "type");
  json_object_set_new(rec, "account", json_string(p->t.account));
  json_object_set_new(rec, "region", json_string(p->t.region));
  km_err_t err;
  int rc = km_journal_append(p->e->o.journal, t, rec, NULL, &err);
  if (rc < 0)
    km_log(KM_LOG_ERROR, "%s %s: journal: %s", p->t.account, p->t.region,
           err.text);
  else {
    /* journal_replay returns this attempt's records too. */
    if (p->e->o.prior_records != NULL)
      json_array_append_new(p->e->o.prior_records,
                            json_pack("{s:s, s:O}", "type", t, "fields", rec));
    maybe_crash(t);
  }
  free(t);
  json_decref(rec);
  return rc;
}

static int h_journal_replay(km_pipeline_t *p,
                            void (*cb)(const char *record_json, void *ud),
                            void *ud) {
  json_t *all = p->e->o.prior_records;
  size_t i;
  json_t *r;
  json_array_foreach(all, i, r) {
    json_t *f = json_object_get(r, "fields");
    const char *a = json_string_value(json_object_get(f, "account"));
    const char *g = json_string_value(json_object_get(f, "region"));
    if (a == NULL || g == NULL || strcmp(a, p->t.account) != 0 ||
        strcmp(g, p->t.region) != 0)
      continue;
    /* Plugins see the record flat: {"type": ..., fields...}. */
    json_t *flat = json_deep_copy(f);
    json_object_set(flat, "type", json_object_get(r, "type"));
    char *text = json_dumps(flat, JSON_COMPACT);
    cb(text, ud);
    free(text);
    json_decref(flat);
  }
  return 0;
}

/* ---- outcomes, timers, stage end, document ---- */

static void h_outcome(km_pipeline_t *p, const char *kind, const char *id,
                      const char *outcome, const char *reason) {
  /* Kept beside the document, which stages replace wholesale. */
  if (p->outcomes == NULL) p->outcomes = json_array();
  json_array_append_new(p->outcomes,
                        json_pack("{s:s, s:s, s:s, s:s?}", "kind", kind, "id",
                                  id, "outcome", outcome, "reason", reason));
  km_log(KM_LOG_DEBUG, "%s %s: %s %s %s%s%s", p->t.account, p->t.region, kind,
         id, outcome, reason != NULL ? ": " : "", reason != NULL ? reason : "");
}

typedef struct ptimer_s {
  uv_timer_t t;
  km_pipeline_t *p;
  void (*cb)(void *ud);
  void *ud;
} ptimer_t;

static void on_ptimer_closed(uv_handle_t *h) {
  free(h->data);
}

static void on_ptimer(uv_timer_t *t) {
  ptimer_t *pt = t->data;
  pt->p->pending--;
  pt->cb(pt->ud);
  uv_close((uv_handle_t *)&pt->t, on_ptimer_closed);
}

static int h_timer(km_pipeline_t *p, uint64_t ms, void (*cb)(void *ud),
                   void *ud) {
  ptimer_t *pt = km_xcalloc(1, sizeof(*pt));
  pt->p = p;
  pt->cb = cb;
  pt->ud = ud;
  uv_timer_init(p->e->o.loop, &pt->t);
  pt->t.data = pt;
  uv_timer_start(&pt->t, on_ptimer, ms, 0);
  p->pending++;
  return 0;
}

static void h_stage_done(km_stage_run_t *run, int status, const km_err_t *err) {
  if (run->done) {
    km_log(KM_LOG_ERROR, "plugin called stage_done twice (stage %s); ignored",
           km_stage_name(run->stage));
    return;
  }
  run->done = 1;
  km__pipeline_stage_ended(run->p, status, err);
}

static const char *h_doc_get(km_pipeline_t *p) {
  if (p->doc_text == NULL)
    p->doc_text = json_dumps(p->doc, JSON_COMPACT | JSON_SORT_KEYS);
  return p->doc_text;
}

static int h_doc_set(km_pipeline_t *p, const char *json) {
  json_error_t jerr;
  json_t *d = json_loads(json, 0, &jerr);
  if (!json_is_object(d)) {
    json_decref(d);
    return KM_EINVAL;
  }
  json_decref(p->doc);
  p->doc = d;
  free(p->doc_text);
  p->doc_text = NULL;
  return 0;
}

typedef struct console_s {
  km_pipeline_t *p;
  km_plugin_call_cb cb;
  void *ud;
} console_t;

static void on_console(const km_plugin_call_result_t *res, void *ud) {
  console_t *c = ud;
  c->p->pending--;
  c->cb(res, c->ud);
  free(c);
}

static int h_console(km_pipeline_t *p, const char *request_json,
                     km_plugin_call_cb cb, void *ud) {
  km_engine_t *e = p->e;
  if (e->o.console == NULL || e->o.driver == NULL ||
      strcmp(e->o.driver, "sim") != 0)
    return KM_ENOTSUP;
  if (e->o.mode == KM_MODE_PLAN && request_json != NULL) return KM_EPERM;
  console_t *c = km_xcalloc(1, sizeof(*c));
  c->p = p;
  c->cb = cb;
  c->ud = ud;
  int rc = e->o.console(e->o.console_ud, p, request_json, on_console, c);
  if (rc < 0) {
    free(c);
    return rc;
  }
  p->pending++;
  return 0;
}

static const km_host_api_t host_api = {
    .struct_size = sizeof(km_host_api_t),
    .abi_major = KM_PLUGIN_ABI_MAJOR,
    .abi_minor = KM_PLUGIN_ABI_MINOR,
    .log = h_log,
    .get = h_get,
    .call = h_call,
    .journal = h_journal,
    .journal_replay = h_journal_replay,
    .outcome = h_outcome,
    .timer = h_timer,
    .stage_done = h_stage_done,
    .doc_get = h_doc_get,
    .doc_set = h_doc_set,
    .console = h_console,
    .call_as = h_call_as,
    .hook = km__host_hook,
};

const km_host_api_t *km_engine_host_api(void) {
  return &host_api;
}
