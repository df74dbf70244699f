/* The one stage context (stage/stage.h): the bounded fan-out of cloud calls
 * over the host, the first failure, and the single end of a stage.
 *
 * The fan-out keeps at most max_inflight calls with the host; the host adds
 * the per-endpoint rate limits and retries, so the bound only keeps one
 * pipeline from queueing thousands of requests in the limiter at once.
 * "Drained" (nothing in flight, nothing queued, nobody holding) is what moves
 * a stage on; it is only checked at the tail of a callback or a release, so
 * that on_drain may end the stage without anything touching it afterwards.
 * After the end, answers still in flight are dropped (the stage is not
 * called) and the context is freed with the last of them.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stage/stage.h"
#include "util/util.h"

struct kp_req_s {
  kp_req_t *next;
  km_sctx_t *c;
  char *account; /* NULL: the pipeline's own */
  char *product;
  char *action;
  char **params;
  size_t n;
  kp_before_fn before;
  kp_cb cb;
  void *ud;
};

typedef struct tmr_s {
  km_sctx_t *c;
  void (*cb)(km_sctx_t *c, void *ud);
  void *ud;
} tmr_t;

#define DEFAULT_INFLIGHT 32

km_sctx_t *km_sctx_new(const km_shost_t *h, km_pipeline_t *p,
                       const km_target_t *t, km_inv_t *inv, km_stage_t stage,
                       bool plan, bool sim, const char *name) {
  km_sctx_t *c = km_xcalloc(1, sizeof(*c));
  c->h = h;
  c->p = p;
  c->t = t;
  c->inv = inv;
  c->stage = stage;
  c->plan = plan;
  c->sim = sim;
  c->name = name;
  c->max_inflight = DEFAULT_INFLIGHT;
  return c;
}

void kp_set_inflight(km_sctx_t *c, size_t max_inflight) {
  c->max_inflight = max_inflight ? max_inflight : 1;
}

static void pool_add(km_sctx_t *c, void *m) {
  if (c->npool == c->cappool) {
    c->cappool = c->cappool ? 2 * c->cappool : 16;
    c->pool = km_xrealloc(c->pool, c->cappool * sizeof(*c->pool));
  }
  c->pool[c->npool++] = m;
}

const char *kp_keep(km_sctx_t *c, const char *s) {
  if (s == NULL) return NULL;
  char *copy = km_xstrdup(s);
  pool_add(c, copy);
  return copy;
}

void *kp_alloc(km_sctx_t *c, size_t size) {
  char *m = km_xcalloc(1, size);
  pool_add(c, m);
  return m;
}

const char *kp_keepf(km_sctx_t *c, const char *fmt, ...) {
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof(buf), fmt, ap);
  va_end(ap);
  return kp_keep(c, buf);
}

void kp_log(km_sctx_t *c, int level, const char *fmt, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  c->h->log(c->p, level, msg);
}

/* ---- failures ---- */

int kp_fail(km_sctx_t *c, int code, const km_err_t *err, const char *fmt, ...) {
  char what[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(what, sizeof(what), fmt, ap);
  va_end(ap);
  const char *msg = err != NULL && err->text[0] ? err->text : km_strerror(code);
  if (c->status < 0) {
    /* Later failures of the stage often repeat the first one's cause: the
     * log file keeps them, the terminal shows the pipeline's failure once
     * (the engine reports it). */
    kp_log(c, KM_LOG_INFO, "%s %s: also: %s: %s", c->name,
           km_stage_name(c->stage), what, msg);
    return code;
  }
  c->status = code;
  if (err != NULL)
    c->err = *err;
  else
    memset(&c->err, 0, sizeof(c->err));
  c->err.code = code;
  /* msg may be c->err.text itself: compose aside, then truncate in. */
  char text[1200];
  snprintf(text, sizeof(text), "%s %s: %s: %s", c->name,
           km_stage_name(c->stage), what, msg);
  size_t len = strlen(text);
  if (len >= sizeof(c->err.text)) len = sizeof(c->err.text) - 1;
  memcpy(c->err.text, text, len);
  c->err.text[len] = '\0';
  return code;
}

const char *kp_res_code(const kp_res_t *res) {
  if (res->err != NULL && res->err->cloud_code[0]) return res->err->cloud_code;
  return km_err_name(res->status);
}

const char *kp_res_text(const kp_res_t *res, char *buf, size_t n) {
  const km_err_t *e = res->err;
  const char *text =
      e != NULL && e->text[0] ? e->text : km_strerror(res->status);
  /* The client's text names the Code and RequestId already ("Code: msg
   * (HTTP 400, RequestId R)"): say each once. */
  const char *code = kp_res_code(res);
  bool has_code = strncmp(text, code, strlen(code)) == 0;
  bool has_rid = res->request_id[0] && strstr(text, res->request_id) != NULL;
  if (has_code && (has_rid || !res->request_id[0]))
    snprintf(buf, n, "%s", text);
  else
    snprintf(buf, n, "%s%s%s%s: %s", code,
             res->request_id[0] && !has_rid ? " (RequestId " : "",
             has_rid ? "" : res->request_id,
             res->request_id[0] && !has_rid ? ")" : "", text);
  return buf;
}

int kp_fail_call(km_sctx_t *c, const char *action, const char *id,
                 const kp_res_t *res) {
  return kp_fail(c, res->status < 0 ? res->status : KM_ECLOUD, res->err,
                 "%s %s", action, id != NULL ? id : "");
}

/* ---- the fan-out ---- */

static void req_free(kp_req_t *q) {
  for (size_t i = 0; i < 2 * q->n; i++)
    free(q->params[i]);
  free(q->params);
  free(q->account);
  free(q->product);
  free(q->action);
  free(q);
}

static void ctx_free(km_sctx_t *c) {
  while (c->head != NULL) {
    kp_req_t *q = c->head;
    c->head = q->next;
    req_free(q);
  }
  if (c->free_ud != NULL) c->free_ud(c->ud);
  for (size_t i = 0; i < c->npool; i++)
    free(c->pool[i]);
  free(c->pool);
  free(c);
}

void km_sctx_free(km_sctx_t *c) {
  if (c != NULL) ctx_free(c);
}

static void maybe_drain(km_sctx_t *c) {
  if (c->hold > 0 || c->inflight > 0 || c->head != NULL || c->pumping) return;
  if (c->ended) {
    ctx_free(c); /* the last late answer is in */
    return;
  }
  if (c->on_drain != NULL) c->on_drain(c);
}

static void deliver(kp_req_t *q, const km_jres_t *res) {
  km_sctx_t *c = q->c;
  kp_res_t x = {res->status, res->body, res->err, ""};
  km_err_t perr;
  if (res->status == 0) {
    if (!json_is_object(res->body)) {
      memset(&perr, 0, sizeof(perr));
      perr.code = KM_EPARSE;
      snprintf(perr.text, sizeof(perr.text),
               "%s answered with a body that is not a JSON object", q->action);
      x.status = KM_EPARSE;
      x.err = &perr;
      x.body = NULL;
    } else {
      const char *rid =
          json_string_value(json_object_get(res->body, "RequestId"));
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
  q->cb(c, &x, q->ud);
}

static void pump(km_sctx_t *c);

static void on_host(const km_jres_t *res, void *ud) {
  kp_req_t *q = ud;
  km_sctx_t *c = q->c;
  c->inflight--;
  c->hold++;
  if (!c->ended) deliver(q, res);
  req_free(q);
  c->hold--;
  pump(c);
  maybe_drain(c);
}

static void pump(km_sctx_t *c) {
  if (c->pumping) return;
  c->pumping = true;
  while (c->inflight < c->max_inflight && c->head != NULL) {
    kp_req_t *q = c->head;
    c->head = q->next;
    if (c->head == NULL) c->tail = NULL;
    if (c->ended || (c->status < 0 && !c->keep_going) ||
        (!c->keep_going && c->h->halted != NULL && c->h->halted(c)) ||
        (q->before != NULL && q->before(c, q->ud) < 0)) {
      req_free(q);
      continue;
    }
    c->inflight++;
    if (c->inflight > c->max_seen) c->max_seen = c->inflight;
    /* One line per call sent, so that a benchmark can count the calls of
     * each stage (tests/bench/calls_bench.py) and of each rate-limit
     * bucket ("as ACCOUNT": another account's credentials, the bucket the
     * call takes its token from; tests/bench/pacing_bench.py); no
     * parameter is printed. */
    if (km_log_get_level() >= KM_LOG_DEBUG) {
      bool other = q->account != NULL && !kp_streq(q->account, c->t->account);
      km_log(KM_LOG_DEBUG, "%s %s: %s by %s: call %s.%s%s%s", c->t->account,
             c->t->region, km_stage_name(c->stage), c->name, q->product,
             q->action, other ? " as " : "", other ? q->account : "");
    }
    int rc = c->h->call(c->p, q->account, q->product, q->action,
                        (const char *const *)q->params, q->n, on_host, q);
    if (rc < 0) {
      /* Refused before it was sent (plan mode, bad argument): the same
       * path as a failed answer, without a RequestId. */
      c->inflight--;
      km_err_t e;
      memset(&e, 0, sizeof(e));
      e.code = rc;
      snprintf(e.text, sizeof(e.text), "%s could not be sent: %s", q->action,
               km_strerror(rc));
      km_jres_t res = {rc, NULL, &e};
      c->hold++;
      deliver(q, &res);
      c->hold--;
      req_free(q);
    }
  }
  c->pumping = false;
}

void kp_call_as(km_sctx_t *c, const char *account, const char *product,
                const char *action, const char *const *params, size_t n,
                kp_before_fn before, kp_cb cb, void *ud) {
  kp_req_t *q = km_xcalloc(1, sizeof(*q));
  q->c = c;
  q->account = account != NULL ? km_xstrdup(account) : NULL;
  q->product = km_xstrdup(product);
  q->action = km_xstrdup(action);
  q->n = n;
  q->params = km_xcalloc(2 * n + 1, sizeof(char *));
  for (size_t i = 0; i < 2 * n; i++)
    q->params[i] = km_xstrdup(params[i]);
  q->before = before;
  q->cb = cb;
  q->ud = ud;
  if (c->tail != NULL)
    c->tail->next = q;
  else
    c->head = q;
  c->tail = q;
  c->hold++;
  pump(c);
  c->hold--;
  /* A refused call may have ended the stage from inside pump. */
  if (c->ended) maybe_drain(c);
}

void kp_call(km_sctx_t *c, const char *action, const char *const *params,
             size_t n, kp_before_fn before, kp_cb cb, void *ud) {
  kp_call_as(c, NULL, "kms", action, params, n, before, cb, ud);
}

/* Console requests and hooks are not queued (few per stage); they count as
 * in flight so the stage does not drain under them. */
typedef struct side_s {
  km_sctx_t *c;
  kp_cb cb;
  kp_hook_cb hcb;
  void *ud;
} side_t;

static void side_done(side_t *s) {
  km_sctx_t *c = s->c;
  free(s);
  c->hold--;
  pump(c);
  maybe_drain(c);
}

static void on_console(const km_jres_t *res, void *ud) {
  side_t *s = ud;
  km_sctx_t *c = s->c;
  c->inflight--;
  c->hold++;
  if (!c->ended) {
    kp_req_t q = {.c = c, .action = "console", .cb = s->cb, .ud = s->ud};
    deliver(&q, res);
  }
  side_done(s);
}

int kp_console(km_sctx_t *c, const json_t *request, kp_cb cb, void *ud) {
  side_t *s = km_xcalloc(1, sizeof(*s));
  s->c = c;
  s->cb = cb;
  s->ud = ud;
  int rc = c->h->console != NULL ? c->h->console(c->p, request, on_console, s)
                                 : KM_ENOTSUP;
  if (rc < 0) {
    free(s);
    return rc;
  }
  c->inflight++;
  return 0;
}

static void on_tmr(void *ud) {
  tmr_t *t = ud;
  km_sctx_t *c = t->c;
  c->inflight--;
  c->hold++;
  if (!c->ended) t->cb(c, t->ud);
  free(t);
  c->hold--;
  pump(c);
  maybe_drain(c);
}

void kp_timer(km_sctx_t *c, uint64_t ms, void (*cb)(km_sctx_t *c, void *ud),
              void *ud) {
  tmr_t *t = km_xcalloc(1, sizeof(*t));
  t->c = c;
  t->cb = cb;
  t->ud = ud;
  c->inflight++;
  if (c->h->timer(c->p, ms, on_tmr, t) < 0) {
    /* No timer: run it now rather than lose the retry. */
    c->inflight--;
    cb(c, ud);
    free(t);
  }
}

static void on_hook(const km_jres_t *res, void *ud) {
  side_t *s = ud;
  km_sctx_t *c = s->c;
  c->inflight--;
  c->hold++;
  if (!c->ended)
    s->hcb(c, res->status, res->status == 0 ? res->body : NULL, res->err,
           s->ud);
  side_done(s);
}

int kp_hook(km_sctx_t *c, const char *name, json_t *input, kp_hook_cb cb,
            void *ud) {
  side_t *s = km_xcalloc(1, sizeof(*s));
  s->c = c;
  s->hcb = cb;
  s->ud = ud;
  int rc = c->h->hook != NULL ? c->h->hook(c->p, name, input, on_hook, s)
                              : KM_ENOENT;
  json_decref(input);
  if (rc < 0) {
    free(s);
    return rc;
  }
  c->inflight++;
  return 0;
}

int km_sctx_start(const km_stage_ops_t *ops, void *state, km_sctx_t *c) {
  c->hold++;
  int rc = ops->start(state, c);
  if (rc < 0) {
    ctx_free(c); /* a refused start never ends c: still the caller's */
    return rc;
  }
  kp_release(c);
  return 0;
}

void kp_hold(km_sctx_t *c) {
  c->hold++;
}

void kp_release(km_sctx_t *c) {
  c->hold--;
  pump(c);
  maybe_drain(c);
}

size_t kp_max_seen(const km_sctx_t *c) {
  return c->max_seen;
}

static void end(km_sctx_t *c) {
  if (c->ended) {
    kp_log(c, KM_LOG_ERROR, "%s ended stage %s twice; ignored", c->name,
           km_stage_name(c->stage));
    return;
  }
  c->ended = true;
  /* Queued calls will never be sent. */
  while (c->head != NULL) {
    kp_req_t *q = c->head;
    c->head = q->next;
    req_free(q);
  }
  c->tail = NULL;
  c->h->ended(c);
  /* Free now unless something is in flight or a caller up the stack (a
   * callback, a release) still holds c: the last of them frees it. */
  if (c->inflight == 0 && c->hold == 0 && !c->pumping) ctx_free(c);
}

void kp_finish(km_sctx_t *c) {
  end(c);
}

void kp_finish_blocked(km_sctx_t *c, const km_err_t *why) {
  c->blocked = true;
  c->status = 0;
  if (why != NULL) c->err = *why;
  end(c);
}

/* ---- journal ---- */

int kp_journal(km_sctx_t *c, json_t *rec) {
  int rc = rec != NULL ? c->h->journal(c->p, rec) : KM_ENOMEM;
  if (rc < 0) {
    const char *type = json_string_value(json_object_get(rec, "type"));
    const char *id = json_string_value(json_object_get(rec, "id"));
    kp_fail(c, KM_EJOURNAL, NULL,
            "journal record %s for %s could not be written (%s); nothing "
            "was changed after it",
            type ? type : "?", id ? id : "?", km_strerror(rc));
    json_decref(rec);
    return KM_EJOURNAL;
  }
  json_decref(rec);
  return 0;
}

const json_t *kp_records(km_sctx_t *c) {
  return c->h->records(c->p);
}

/* ---- small helpers ---- */

bool kp_streq(const char *a, const char *b) {
  return a != NULL && b != NULL && strcmp(a, b) == 0;
}

int64_t kp_pages(int64_t total, int64_t size) {
  if (total <= 0 || size <= 0) return 0;
  return (total + size - 1) / size;
}

int kp_next_page(const char *action, int64_t page, size_t items, int64_t asked,
                 int64_t reply_size, int64_t total, km_err_t *err) {
  /* A reply may page by less than asked; never by more. */
  int64_t size = reply_size > 0 && reply_size < asked ? reply_size : asked;
  if (items == 0 || size <= 0 || (int64_t)items < size) return 0;
  if (total >= 0 && page * size >= total) return 0;
  if (page >= KP_PAGES_MAX)
    return km__err_set(err, KM_EPARSE,
                       "%s: page %lld still full (TotalCount %lld): more "
                       "than %d pages is not a list kmsmig will page "
                       "through; check the endpoint (a proxy or emulator "
                       "answering the same page again?)",
                       action, (long long)page, (long long)total, KP_PAGES_MAX);
  return 1;
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

void kp_resource_failed(km_sctx_t *c, const char *kind, const char *id,
                        const char *rule, const char *why, const char *code,
                        const char *rid) {
  km_log(KM_LOG_DEBUG, "%s %s: %s %s failed: %s", c->t->account, c->t->region,
         kind, id, why != NULL ? why : "");
  if (strcmp(kind, "key") == 0) {
    km_inv_key_t *k = km_inv_find_key(c->inv, id);
    if (k == NULL) return;
    km_inv_key_decide(k, KM_VERDICT_FAILED, rule, why);
    km_inv_set(&k->fail_code, code);
    km_inv_set(&k->fail_request_id, rid);
  } else {
    km_inv_secret_t *x = km_inv_find_secret(c->inv, id);
    if (x == NULL) return;
    km_inv_secret_decide(x, KM_VERDICT_FAILED, rule, why);
    km_inv_set(&x->fail_code, code);
    km_inv_set(&x->fail_request_id, rid);
  }
}

void kp_verify_mismatch(km_sctx_t *c, kp_tally_t *t, const char *kind,
                        const char *id, const char *code, const char *rid,
                        const char *fmt, ...) {
  char why[700];
  va_list ap;
  va_start(ap, fmt);
  int len = snprintf(why, sizeof(why), "verify: %s %s: ", kind, id);
  vsnprintf(why + len, sizeof(why) - (size_t)len, fmt, ap);
  va_end(ap);
  kp_log(c, KM_LOG_INFO, "%s", why); /* the summary prints it */
  kp_resource_failed(c, kind, id, "run.verify_failed", why, code, rid);
  size_t l = strlen(t->list);
  snprintf(t->list + l, sizeof(t->list) - l, "%s%s", l ? ", " : "", id);
  t->bad++;
}

bool kp_stopping(const km_sctx_t *c) {
  return c->h->stopping != NULL && c->h->stopping(c->p);
}
