/* One running stage of a plugin (kp.h): the bounded fan-out of cloud calls
 * over host->call, the pipeline document in and out, the first failure and
 * the single stage_done.
 *
 * The fan-out keeps at most max_inflight calls with the host; the host adds
 * the per-endpoint rate limits and retries, so the bound only keeps one
 * pipeline from queueing thousands of requests in the limiter at once.
 * "Drained" (nothing in flight, nothing queued, nobody holding) is what moves
 * a stage on; it is only checked at the tail of a callback or a release, so
 * that on_drain may free the run without anything touching it afterwards.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kp.h"
#include "kpdoc.h"
#include "util/util.h"

struct kp_req_s {
  kp_req_t *next;
  kp_run_t *r;
  char *action;
  char **params;
  size_t n;
  kp_before_fn before;
  kp_cb cb;
  void *ud;
};

typedef struct tmr_s {
  kp_run_t *r;
  void (*cb)(kp_run_t *r, void *ud);
  void *ud;
} tmr_t;

kp_run_t *kp_run_new(const km_host_api_t *host, km_pipeline_t *p,
                     km_stage_run_t *run, const char *plugin, km_stage_t stage,
                     size_t max_inflight) {
  kp_run_t *r = km_xcalloc(1, sizeof(*r));
  r->host = host;
  r->p = p;
  r->run = run;
  r->plugin = plugin;
  r->stage = stage;
  r->max_inflight = max_inflight ? max_inflight : 1;
  return r;
}

const char *kp_keep(kp_run_t *r, const char *s) {
  if (s == NULL) return NULL;
  if (r->npool == r->cappool) {
    r->cappool = r->cappool ? 2 * r->cappool : 64;
    r->pool = km_xrealloc(r->pool, r->cappool * sizeof(*r->pool));
  }
  r->pool[r->npool] = km_xstrdup(s);
  return r->pool[r->npool++];
}

void *kp_alloc(kp_run_t *r, size_t size) {
  char *m = km_xcalloc(1, size);
  if (r->npool == r->cappool) {
    r->cappool = r->cappool ? 2 * r->cappool : 64;
    r->pool = km_xrealloc(r->pool, r->cappool * sizeof(*r->pool));
  }
  r->pool[r->npool++] = m;
  return m;
}

const char *kp_keepf(kp_run_t *r, const char *fmt, ...) {
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof(buf), fmt, ap);
  va_end(ap);
  return kp_keep(r, buf);
}

/* ---- the document ---- */

/* No document yet (this plugin discovers first): the same seed as the share
 * plugin's, from the pipeline's settings. */
int kp_doc_load(kp_run_t *r) {
  km_err_t err;
  memset(&err, 0, sizeof(err));
  int rc = kp_doc_read(r->host, r->p, &r->inv, &r->extra, &err);
  if (rc < 0) return kp_fail(r, rc, &err, "the pipeline document");
  return 0;
}

static void doc_store(kp_run_t *r) {
  if (r->inv == NULL || !r->store) return;
  int rc = kp_doc_write(r->host, r->p, r->inv, r->extra);
  if (rc < 0) kp_fail(r, rc, NULL, "could not store the pipeline document");
}

/* ---- failures ---- */

static const char *stage_name(km_stage_t s) {
  static const char *const names[] = {"discover", "preflight", "prepare",
                                      "migrate",  "restore",   "verify",
                                      "observe"};
  return (unsigned)s < KM_STAGE__COUNT ? names[s] : "?";
}

int kp_fail(kp_run_t *r, int code, const km_err_t *err, const char *fmt, ...) {
  char what[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(what, sizeof(what), fmt, ap);
  va_end(ap);
  const char *msg = err != NULL && err->text[0] ? err->text : km_strerror(code);
  if (r->status < 0) {
    r->host->log(r->p, KM_PLOG_ERROR, "%s %s: %s: %s", r->plugin,
                 stage_name(r->stage), what, msg);
    return code;
  }
  r->status = code;
  if (err != NULL)
    r->err = *err;
  else
    memset(&r->err, 0, sizeof(r->err));
  r->err.code = code;
  /* msg may be r->err.text itself: compose aside, then truncate in. */
  char text[1200];
  snprintf(text, sizeof(text), "%s %s: %s: %s", r->plugin, stage_name(r->stage),
           what, msg);
  r->host->log(r->p, KM_PLOG_ERROR, "%s", text);
  size_t len = strlen(text);
  if (len >= sizeof(r->err.text)) len = sizeof(r->err.text) - 1;
  memcpy(r->err.text, text, len);
  r->err.text[len] = '\0';
  return code;
}

const char *kp_res_code(const kp_res_t *res) {
  if (res->err != NULL && res->err->cloud_code[0]) return res->err->cloud_code;
  return km_err_name(res->status);
}

const char *kp_res_text(const kp_res_t *res, char *buf, size_t n) {
  const km_err_t *e = res->err;
  snprintf(buf, n, "%s%s%s%s: %s", kp_res_code(res),
           res->request_id[0] ? " (RequestId " : "", res->request_id,
           res->request_id[0] ? ")" : "",
           e != NULL && e->text[0] ? e->text : km_strerror(res->status));
  return buf;
}

int kp_fail_call(kp_run_t *r, const char *action, const char *id,
                 const kp_res_t *res) {
  return kp_fail(r, res->status < 0 ? res->status : KM_ECLOUD, res->err,
                 "%s %s", action, id != NULL ? id : "");
}

/* ---- the fan-out ---- */

static void req_free(kp_req_t *q) {
  for (size_t i = 0; i < 2 * q->n; i++)
    free(q->params[i]);
  free(q->params);
  free(q->action);
  free(q);
}

static void maybe_drain(kp_run_t *r) {
  if (r->hold > 0 || r->inflight > 0 || r->head != NULL || r->pumping) return;
  if (r->on_drain != NULL) r->on_drain(r);
}

static void deliver(kp_req_t *q, const km_plugin_call_result_t *res) {
  kp_run_t *r = q->r;
  kp_res_t x = {res->status, NULL, res->err, ""};
  km_err_t perr;
  json_t *body = NULL;
  if (res->status == 0) {
    json_error_t je;
    body = json_loads(res->body_json != NULL ? res->body_json : "", 0, &je);
    if (!json_is_object(body)) {
      memset(&perr, 0, sizeof(perr));
      perr.code = KM_EPARSE;
      snprintf(perr.text, sizeof(perr.text),
               "%s answered with a body that is not a JSON object", q->action);
      x.status = KM_EPARSE;
      x.err = &perr;
    } else {
      x.body = body;
      const char *rid = json_string_value(json_object_get(body, "RequestId"));
      if (rid != NULL) x.request_id = rid;
    }
  } else if (res->err != NULL) {
    x.request_id = res->err->request_id;
  }
  if (x.status < 0 && x.err == NULL) {
    memset(&perr, 0, sizeof(perr));
    perr.code = x.status;
    snprintf(perr.text, sizeof(perr.text), "%s: %s", q->action,
             km_strerror(x.status));
    x.err = &perr;
  }
  q->cb(r, &x, q->ud);
  json_decref(body);
}

static void pump(kp_run_t *r);

static void on_host(const km_plugin_call_result_t *res, void *ud) {
  kp_req_t *q = ud;
  kp_run_t *r = q->r;
  r->inflight--;
  r->hold++;
  deliver(q, res);
  req_free(q);
  r->hold--;
  pump(r);
  maybe_drain(r);
}

static void pump(kp_run_t *r) {
  if (r->pumping) return;
  r->pumping = true;
  while (r->inflight < r->max_inflight && r->head != NULL) {
    kp_req_t *q = r->head;
    r->head = q->next;
    if (r->head == NULL) r->tail = NULL;
    if ((r->status < 0 && !r->keep_going) ||
        (q->before != NULL && q->before(r, q->ud) < 0)) {
      req_free(q);
      continue;
    }
    r->inflight++;
    if (r->inflight > r->max_seen) r->max_seen = r->inflight;
    int rc = r->host->call(r->p, "kms", q->action,
                           (const char *const *)q->params, q->n, on_host, q);
    if (rc < 0) {
      /* Refused before it was sent (plan mode, bad argument): the same
       * path as a failed answer, without a RequestId. */
      r->inflight--;
      km_err_t e;
      memset(&e, 0, sizeof(e));
      e.code = rc;
      snprintf(e.text, sizeof(e.text), "%s could not be sent: %s", q->action,
               km_strerror(rc));
      km_plugin_call_result_t res = {rc, NULL, &e};
      r->hold++;
      deliver(q, &res);
      r->hold--;
      req_free(q);
    }
  }
  r->pumping = false;
}

void kp_call(kp_run_t *r, const char *action, const char *const *params,
             size_t n, kp_before_fn before, kp_cb cb, void *ud) {
  kp_req_t *q = km_xcalloc(1, sizeof(*q));
  q->r = r;
  q->action = km_xstrdup(action);
  q->n = n;
  q->params = km_xcalloc(2 * n + 1, sizeof(char *));
  for (size_t i = 0; i < 2 * n; i++)
    q->params[i] = km_xstrdup(params[i]);
  q->before = before;
  q->cb = cb;
  q->ud = ud;
  if (r->tail != NULL)
    r->tail->next = q;
  else
    r->head = q;
  r->tail = q;
  r->hold++;
  pump(r);
  r->hold--;
}

static void on_tmr(void *ud) {
  tmr_t *t = ud;
  kp_run_t *r = t->r;
  r->inflight--;
  r->hold++;
  t->cb(r, t->ud);
  free(t);
  r->hold--;
  pump(r);
  maybe_drain(r);
}

void kp_timer(kp_run_t *r, uint64_t ms, void (*cb)(kp_run_t *r, void *ud),
              void *ud) {
  tmr_t *t = km_xcalloc(1, sizeof(*t));
  t->r = r;
  t->cb = cb;
  t->ud = ud;
  r->inflight++;
  if (r->host->timer(r->p, ms, on_tmr, t) < 0) {
    /* No timer: run it now rather than lose the retry. */
    r->inflight--;
    cb(r, ud);
    free(t);
  }
}

typedef struct hk_s {
  kp_run_t *r;
  kp_hook_cb cb;
  void *ud;
} hk_t;

static void on_hook(const km_plugin_call_result_t *res, void *ud) {
  hk_t *h = ud;
  kp_run_t *r = h->r;
  r->inflight--;
  r->hold++;
  json_t *out = res->status == 0 && res->body_json != NULL
                    ? json_loads(res->body_json, 0, NULL)
                    : NULL;
  h->cb(r, res->status, out, res->err, h->ud);
  json_decref(out);
  free(h);
  r->hold--;
  pump(r);
  maybe_drain(r);
}

int kp_hook(kp_run_t *r, const char *name, json_t *input, kp_hook_cb cb,
            void *ud) {
  char *text = json_dumps(input, JSON_COMPACT);
  json_decref(input);
  hk_t *h = km_xcalloc(1, sizeof(*h));
  h->r = r;
  h->cb = cb;
  h->ud = ud;
  r->inflight++;
  int rc = r->host->hook != NULL ? r->host->hook(r->p, name, text, on_hook, h)
                                 : KM_ENOENT;
  free(text);
  if (rc < 0) {
    r->inflight--;
    free(h);
  }
  return rc;
}

void kp_hold(kp_run_t *r) {
  r->hold++;
}

void kp_release(kp_run_t *r) {
  r->hold--;
  pump(r);
  maybe_drain(r);
}

size_t kp_max_seen(const kp_run_t *r) {
  return r->max_seen;
}

void kp_finish(kp_run_t *r) {
  doc_store(r);
  const km_host_api_t *h = r->host;
  km_stage_run_t *run = r->run;
  int status = r->status;
  km_err_t err = r->err;
  while (r->head != NULL) {
    kp_req_t *q = r->head;
    r->head = q->next;
    req_free(q);
  }
  if (r->free_ud != NULL) r->free_ud(r->ud);
  km_inv_free(r->inv);
  json_decref(r->extra);
  for (size_t i = 0; i < r->npool; i++)
    free(r->pool[i]);
  free(r->pool);
  free(r);
  /* Last: the host may start the next stage from inside stage_done. */
  h->stage_done(run, status, status < 0 ? &err : NULL);
}

/* ---- small helpers ---- */

bool kp_streq(const char *a, const char *b) {
  return a != NULL && b != NULL && strcmp(a, b) == 0;
}

int64_t kp_pages(int64_t total, int64_t size) {
  if (total <= 0 || size <= 0) return 0;
  return (total + size - 1) / size;
}

bool kp_policy_present(const char *policy) {
  if (policy == NULL || policy[0] == '\0') return false;
  json_t *j = json_loads(policy, 0, NULL);
  json_t *st = json_object_get(j, "Statement");
  bool ok = json_is_array(st) && json_array_size(st) > 0;
  json_decref(j);
  return ok;
}

/* ---- per-resource failures ---- */

void kp_resource_failed(kp_run_t *r, const char *kind, const char *id,
                        const char *rule, const char *why, const char *code,
                        const char *rid) {
  r->host->outcome(r->p, kind, id, "failed", why);
  if (r->inv == NULL) return;
  if (strcmp(kind, "key") == 0) {
    km_inv_key_t *k = km_inv_find_key(r->inv, id);
    if (k == NULL) return;
    km_inv_key_decide(k, KM_VERDICT_FAILED, rule, why);
    km_inv_set(&k->fail_code, code);
    km_inv_set(&k->fail_request_id, rid);
  } else {
    km_inv_secret_t *x = km_inv_find_secret(r->inv, id);
    if (x == NULL) return;
    km_inv_secret_decide(x, KM_VERDICT_FAILED, rule, why);
    km_inv_set(&x->fail_code, code);
    km_inv_set(&x->fail_request_id, rid);
  }
}

void kp_verify_mismatch(kp_run_t *r, kp_tally_t *t, const char *kind,
                        const char *id, const char *code, const char *rid,
                        const char *fmt, ...) {
  char why[700];
  va_list ap;
  va_start(ap, fmt);
  int len = snprintf(why, sizeof(why), "verify: %s %s: ", kind, id);
  vsnprintf(why + len, sizeof(why) - (size_t)len, fmt, ap);
  va_end(ap);
  r->host->log(r->p, KM_PLOG_ERROR, "%s", why);
  kp_resource_failed(r, kind, id, "run.verify_failed", why, code, rid);
  size_t l = strlen(t->list);
  snprintf(t->list + l, sizeof(t->list) - l, "%s%s", l ? ", " : "", id);
  t->bad++;
}
