/* The stage host of the engine (km_shost_t, stage/stage.h): cloud calls go
 * through the rate limiter, the target's credentials and the signed client,
 * and the parsed answer is handed to the stage as it came from the client
 * (no text in between); every retry the client makes waits for a token of
 * the same bucket again and every answer is reported to the limiter, so a
 * throttled account slows down at once; a call retried for long is said
 * once per account, not once per attempt; journal records are tagged with the
 * pipeline's account and region, kept in the pipeline's own record list for
 * replay, and made durable before any request made after them leaves kmsmig
 * (one fsync per loop turn for all of them: "group commit" below); plan mode
 * refuses write actions so a plan can never change anything. */
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/pipeline_priv.h"
#include "journal/journal.h"
#include "model/strmap.h"
#include "engine/actions.h"
#include "util/util.h"

/* Whether action may be sent now (engine/actions.c classifies it): 0, or
 * KM_EPERM with the reason logged.  Unknown actions never; plan mode only
 * reads; hooks never an action that returns secret material. */
static int action_allowed(km_pipeline_t *p, const char *product,
                          const char *action, bool from_hook) {
  km_act_class_t cls = km_action_class(product, action);
  const char *why = NULL;
  if (cls == KM_ACT_UNKNOWN)
    why = "not in kmsmig's action table (core/src/engine/actions.c; names "
          "are exact and case-sensitive)";
  else if (from_hook && cls == KM_ACT_SECRET)
    why = "hooks may not read secret values";
  else if (p->e->o.mode == KM_MODE_PLAN && cls != KM_ACT_READ)
    why = "plan mode sends only read actions and makes no change";
  if (why == NULL) return 0;
  km_log(KM_LOG_WARN, "%s %s: %s %s refused (%s): %s", p->t->account,
         p->t->region, product, action, km_action_class_name(cls), why);
  return KM_EPERM;
}

/* A warning many pipelines share (an instance's auto_renew, a preflight
 * finding) is shown once; the repeats go to the log file only (INFO). */
static void h_log(km_pipeline_t *p, int level, const char *msg) {
  km_engine_t *e = p->e;
  km_log_fields_t f = {p->t->account, p->t->region, km_stage_name(p->stage),
                       NULL};
  if (level == KM_LOG_WARN) {
    size_t seen;
    if (e->warned == NULL) e->warned = km_strmap_new(16);
    if (km_strmap_get(e->warned, msg, &seen)) {
      km_logf(KM_LOG_INFO, &f, "%s (warned already for another pipeline)", msg);
      return;
    }
    km_strmap_put(e->warned, msg, 1);
  }
  km_logf(level, &f, "%s", msg);
}

/* ---- call: rate limit → credentials → signed call ---- */

typedef struct call_s {
  km_pipeline_t *p;
  const char *account;    /* manifest name, for the fix in errors */
  const char *account_id; /* whose credentials and rate limits */
  km_cred_get_fn get_cred;
  void *cred_src;
  km_product_t product;
  char *action;
  km_params_t params;
  char rl_key[160];
  double qps;
  bool qps_known;  /* the manifest's figure (km_rl_qps_known) */
  bool write_once; /* not resent when an attempt's outcome is unknown */
  size_t acct;     /* the engine's account whose credentials sign it */
  bool holding;    /* holds a place in the bucket's window (km_rl_done) */
  uint64_t granted_at;
  void (*go)(int status, void *arg); /* the client's retry, paced */
  void *go_arg;
  km_jcall_cb cb;
  void *ud;
  km_err_t err;
  char sts_akid[128]; /* the temporary AccessKey id used, or "" */
  bool renewed;       /* the credential was renewed once already */
} call_t;

/* Gives the call's place in its bucket's window back (once per grant). */
static void release(call_t *c, bool answered) {
  if (!c->holding) return;
  c->holding = false;
  km_rl_done(c->p->e->o.rl, c->rl_key,
             answered ? km_now_ms() - c->granted_at : UINT64_MAX);
}

static void call_finish(call_t *c, int status, const json_t *body,
                        const km_err_t *err) {
  km_jres_t res = {status, body, err};
  km_pipeline_t *p = c->p;
  release(c, false);
  c->cb(&res, c->ud);
  km_params_free(&c->params);
  free(c->action);
  free(c);
  km__unpend(p);
}

static void on_cred(int status, const km_credential_t *cred,
                    const km_err_t *err, void *ud);

/* An expired or revoked STS token (a clock jump, a revoked session): the
 * role is assumed again and the call sent once more, so a long run never
 * fails on credentials the provider believed fresh.  True when the retry
 * started (the call goes on). */
static bool renew_and_retry(call_t *c, const km_err_t *err) {
  const km_target_t *t = c->p->t;
  if (c->renewed || c->sts_akid[0] == '\0' || t->renew_cred == NULL ||
      !km_acs_is_token_refused(err, 1))
    return false;
  c->renewed = true;
  t->renew_cred(c->cred_src, c->sts_akid);
  km_log(KM_LOG_INFO,
         "%s %s: %s: %s refused the STS token of account %s; "
         "assumed the role again and retrying once",
         c->p->t->account, c->p->t->region, c->action, err->cloud_code,
         c->account);
  return c->get_cred(c->cred_src, on_cred, c) == 0;
}

/* A call is "retried for long" after this long without an answer. */
#define RETRY_NOTE_MS 10000

/* The client's retry waits for a token of the call's bucket. */
static void on_retry_token(int status, void *ud) {
  call_t *c = ud;
  c->holding = status == 0;
  c->granted_at = km_now_ms();
  c->go(status, c->go_arg);
}

static int pace_retry(void *ud, void (*go)(int status, void *arg), void *arg) {
  call_t *c = ud;
  c->go = go;
  c->go_arg = arg;
  return km_rl_acquire_call(c->p->e->o.rl, c->rl_key, c->qps, c->qps_known,
                            on_retry_token, c);
}

/* Every answer feeds the limiter; a call retried for long is said once
 * per account (and once more, to the log, when its calls are answered
 * again). */
static void on_attempt(void *ud, const km_acs_attempt_t *a) {
  call_t *c = ud;
  km_pipeline_t *p = c->p;
  km_acct_t *acct = &p->e->accts[c->acct];
  if (a->throttled)
    km_rl_throttled(p->e->o.rl, c->rl_key);
  else if (a->status == 0)
    km_rl_ok(p->e->o.rl, c->rl_key);
  release(c, true);
  if (a->status == 0 && acct->retry_noted) {
    acct->retry_noted = false;
    km_log(KM_LOG_INFO, "%s %s: calls of account %s are answered again",
           p->t->account, p->t->region, c->account);
  }
  uint64_t now = km_now_ms();
  if (!a->retrying || a->throttled || a->elapsed_ms < RETRY_NOTE_MS ||
      acct->retry_noted ||
      (acct->retry_noted_at != 0 && now - acct->retry_noted_at < 60000))
    return;
  acct->retry_noted = true;
  acct->retry_noted_at = now;
  char why[160];
  km_text_clean(a->err->cloud_code[0] != '\0' ? a->err->cloud_code
                                              : km_err_name(a->status),
                why, sizeof(why));
  km_log(KM_LOG_WARN,
         "%s %s: %s has been retried for %llu s (last answer: %s); calls of "
         "account %s are retried until each one's deadline (%d s): said once "
         "per account",
         p->t->account, p->t->region, c->action,
         (unsigned long long)(a->elapsed_ms / 1000), why, c->account,
         KM_ACS_DEADLINE_MS / 1000);
}

static void on_acs_done(const km_acs_result_t *res, void *ud) {
  call_t *c = ud;
  if (res->status < 0 && renew_and_retry(c, res->err)) return;
  if (res->status < 0) {
    call_finish(c, res->status, NULL, res->err);
    return;
  }
  call_finish(c, 0, res->body, NULL);
}

static void on_cred(int status, const km_credential_t *cred,
                    const km_err_t *err, void *ud) {
  call_t *c = ud;
  if (status < 0) {
    call_finish(c, status, NULL, err);
    return;
  }
  bool sts = cred->security_token != NULL && cred->security_token[0] != '\0';
  snprintf(c->sts_akid, sizeof(c->sts_akid), "%s",
           sts ? cred->access_key_id : "");
  char owner[200];
  snprintf(owner, sizeof(owner), "account %s", c->account);
  km_acs_call_t call = {
      .product = c->product,
      .region = c->p->t->region,
      .action = c->action,
      .params = &c->params,
      .cred = cred,
      .cred_owner = owner,
      .write_once = c->write_once,
      .pace = pace_retry,
      .on_attempt = on_attempt,
      .hook_ud = c,
  };
  int rc = km_acs_call(c->p->e->o.acs, &call, on_acs_done, c, &c->err);
  if (rc < 0) call_finish(c, rc, NULL, &c->err);
}

static void when_durable(km_engine_t *e,
                         void (*go)(void *arg, int status, const km_err_t *err),
                         void *arg);

/* The journal holds every record written before this call was made: its
 * credentials, then the send. */
static void call_go(void *arg, int status, const km_err_t *err) {
  call_t *c = arg;
  if (status < 0) {
    c->err = *err;
    call_finish(c, status, NULL, &c->err);
    return;
  }
  int rc = c->get_cred(c->cred_src, on_cred, c);
  if (rc < 0) {
    km__err_set(&c->err, rc, "no credentials for account %s: %s",
                c->p->t->account, km_strerror(rc));
    call_finish(c, rc, NULL, &c->err);
  }
}

static void on_token(int status, void *ud) {
  call_t *c = ud;
  c->holding = status == 0;
  c->granted_at = km_now_ms();
  if (status < 0) {
    km__err_set(&c->err, status, "%s: canceled before it was sent", c->action);
    call_finish(c, status, NULL, &c->err);
    return;
  }
  when_durable(c->p->e, call_go, c);
}

/* The engine's account named account: the pipeline's own, else (a call
 * with another account's credentials, such as the instance owner's) the
 * first account of the run with that name; the pipeline's own when the
 * run migrates no such account. */
static size_t acct_of(const km_pipeline_t *p, const char *account) {
  const km_engine_t *e = p->e;
  if (strcmp(account, p->t->account) == 0) return p->acct;
  for (size_t i = 0; i < e->naccts; i++)
    if (e->accts[i].n > 0 &&
        strcmp(e->p[e->accts[i].first].t->account, account) == 0)
      return i;
  return p->acct;
}

static int start_call(km_pipeline_t *p, const char *account,
                      const char *account_id, km_cred_get_fn get_cred,
                      void *cred_src, const char *product, const char *action,
                      const char *const *params, size_t n, bool from_hook,
                      km_jcall_cb cb, void *ud) {
  km_product_t prod;
  if (product == NULL || action == NULL || cb == NULL ||
      km_product_from_name(product, &prod) < 0)
    return KM_EINVAL;
  int allowed = action_allowed(p, product, action, from_hook);
  if (allowed < 0) return allowed;
  call_t *c = km_xcalloc(1, sizeof(*c));
  c->p = p;
  c->account = account;
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
  /* The action's group (unlisted actions: the most conservative one) at
   * the account's figure (manifest concurrency.qps, else published). */
  km_rl_group_t group = km_rl_action_group(product, action);
  c->qps = km_rl_qps(p->e->o.rl, account_id, group);
  c->qps_known = km_rl_qps_known(p->e->o.rl, account_id, group);
  c->write_once = !km_rl_action_resendable(product, action);
  c->acct = acct_of(p, account);
  snprintf(c->rl_key, sizeof(c->rl_key), "%s/%s/%s", account_id,
           prod == KM_PRODUCT_STS || prod == KM_PRODUCT_RESOURCEMANAGER
               ? "-"
               : p->t->region,
           km_rl_group_name(group));
  int rc = km_rl_acquire_call(p->e->o.rl, c->rl_key, c->qps, c->qps_known,
                              on_token, c);
  if (rc < 0) {
    km_params_free(&c->params);
    free(c->action);
    free(c);
    return rc;
  }
  km__pend(p);
  return 0;
}

static int h_call(km_pipeline_t *p, const char *account, const char *product,
                  const char *action, const char *const *params, size_t n,
                  km_jcall_cb cb, void *ud) {
  if (account == NULL || strcmp(account, p->t->account) == 0)
    return start_call(p, p->t->account, p->t->account_id, p->t->get_cred,
                      p->t->cred_src, product, action, params, n, false, cb,
                      ud);
  const char *id = NULL;
  km_cred_get_fn get = NULL;
  void *src = NULL;
  km_engine_t *e = p->e;
  if (e->o.resolve_account == NULL ||
      e->o.resolve_account(e->o.resolve_ud, account, &id, &get, &src) < 0)
    return KM_ENOENT;
  return start_call(p, account, id, get, src, product, action, params, n, false,
                    cb, ud);
}

/* The Lua bridge speaks text (kms.call answers become Lua tables). */
typedef struct tcall_s {
  km_plugin_call_cb cb;
  void *ud;
} tcall_t;

static void on_text_call(const km_jres_t *res, void *ud) {
  tcall_t *t = ud;
  char *text = res->status == 0 ? json_dumps(res->body, JSON_COMPACT) : NULL;
  km_plugin_call_result_t r = {res->status, text, res->err};
  if (res->status == 0 && text == NULL) {
    r.status = KM_ENOMEM;
    r.body_json = NULL;
  }
  t->cb(&r, t->ud);
  free(text);
  free(t);
}

int km__host_call_text(km_pipeline_t *p, const char *product,
                       const char *action, const char *const *params, size_t n,
                       km_plugin_call_cb cb, void *ud) {
  tcall_t *t = km_xcalloc(1, sizeof(*t));
  t->cb = cb;
  t->ud = ud;
  /* A hook's call: the pipeline's own account, and the hook rules of
   * action_allowed. */
  int rc = start_call(p, p->t->account, p->t->account_id, p->t->get_cred,
                      p->t->cred_src, product, action, params, n, true,
                      on_text_call, t);
  if (rc < 0) free(t);
  return rc;
}

/* ---- journal: group commit ----
 *
 * A stage journals a record BEFORE the side effect it announces, and every
 * side effect is a request (a cloud call, a console request).  The record is
 * written at once (a crash of kmsmig keeps it: it is in the file) and its
 * fsync waits for the end of the loop turn (uv_prepare, before the loop
 * waits for I/O again), where one fsync makes every record of the turn
 * durable; a request made meanwhile (its token granted) waits for that fsync
 * and is sent after it.  So no request ever leaves before the records
 * written before it were durable, as with one fsync per record, which cost
 * ~0.5 ms of the one loop thread each: 13,900 of them were 23 s of a
 * 100-account run (P1, docs/performance.md).  A failed fsync fails the
 * requests that waited for it (their records may be lost) and leaves the
 * journal broken: nothing is journalled after it, so later requests (the
 * restores of RESTORE) wait for nothing. */

typedef struct km__parked_s {
  struct km__parked_s *next;
  void (*go)(void *arg, int status, const km_err_t *err);
  void *arg;
} parked_t;

/* One fsync for what is due, then the requests that waited, in order;
 * cancel (< 0): they are not sent. */
static void jflush_now(km_engine_t *e, int cancel) {
  km_err_t err;
  memset(&err, 0, sizeof(err));
  int rc = 0;
  if (e->jsync_due) {
    e->jsync_due = false;
    rc = km_journal_sync(e->o.journal, &err);
    if (rc < 0)
      km_log(KM_LOG_ERROR,
             "journal: %s; the requests made after its last records are not "
             "sent",
             err.text);
  }
  if (rc == 0 && cancel < 0)
    km__err_set(&err, cancel, "canceled before it was sent: the run ended");
  parked_t *q = e->parked;
  e->parked = e->parked_tail = NULL;
  while (q != NULL) {
    parked_t *next = q->next;
    int st = rc < 0 ? rc : cancel;
    q->go(q->arg, st, st < 0 ? &err : NULL); /* may park more: a new list */
    free(q);
    q = next;
  }
}

static void on_jflush(uv_prepare_t *h) {
  km_engine_t *e = h->data;
  uv_prepare_stop(h);
  e->jflush_active = false;
  jflush_now(e, 0);
}

static void jflush_want(km_engine_t *e) {
  if (e->jflush_active || e->kick_closed) return;
  e->jflush_active = true;
  uv_prepare_start(&e->jflush, on_jflush);
}

static void when_durable(km_engine_t *e,
                         void (*go)(void *arg, int status, const km_err_t *err),
                         void *arg) {
  if (!e->jsync_due) {
    go(arg, 0, NULL);
    return;
  }
  parked_t *q = km_xcalloc(1, sizeof(*q));
  q->go = go;
  q->arg = arg;
  if (e->parked_tail != NULL)
    e->parked_tail->next = q;
  else
    e->parked = q;
  e->parked_tail = q;
  jflush_want(e);
}

void km__host_jflush_init(km_engine_t *e) {
  uv_prepare_init(e->o.loop, &e->jflush);
  e->jflush.data = e;
}

void km__host_jflush_close(km_engine_t *e, uv_close_cb on_closed) {
  jflush_now(e, KM_ECANCELED);
  uv_close((uv_handle_t *)&e->jflush, on_closed);
}

#ifdef KM_FAULT_INJECTION
/* Only in the test binary kmsmig-faults (core/CMakeLists.txt), never in
 * kmsmig: KMSMIG_TEST_CRASH_AFTER="<type>:<n>" kills the process with
 * SIGKILL right after the n-th journal record of that type is durable (and
 * before the side effect it announces), so the resume tests can stop a run
 * at an exact point. */
static void maybe_crash(km_journal_t *j, const char *type) {
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
    km_err_t err;
    (void)km_journal_sync(j, &err); /* "durable": the group commit's fsync */
    fprintf(stderr, "kmsmig: KMSMIG_TEST_CRASH_AFTER=%s:%d: SIGKILL now\n",
            target, target_n);
    raise(SIGKILL);
  }
}
#else
#define maybe_crash(j, type) ((void)(j), (void)(type))
#endif

static int journal_flat(km_pipeline_t *p, const json_t *flat, bool sync) {
  if (p->e->o.journal == NULL)
    return p->e->o.mode == KM_MODE_PLAN ? KM_EPERM : KM_EJOURNAL;
  const char *type = json_string_value(json_object_get(flat, "type"));
  if (!json_is_object(flat) || type == NULL) return KM_EINVAL;
  json_t *rec = json_deep_copy(flat);
  json_object_del(rec, "type");
  json_object_set_new(rec, "account", json_string(p->t->account));
  json_object_set_new(rec, "region", json_string(p->t->region));
  km_err_t err;
  /* The fsync of a record that must be durable: the group commit's. */
  int rc = km_journal_append_nosync(p->e->o.journal, type, rec, NULL, &err);
  if (rc == 0 && sync) {
    p->e->jsync_due = true;
    jflush_want(p->e);
  }
  if (rc < 0) {
    km_log(KM_LOG_ERROR, "%s %s: journal: %s", p->t->account, p->t->region,
           err.text);
  } else {
    /* Replay (kp_records) sees this attempt's records after the earlier
     * ones: the same flat shape.  Decision records (hook_decision) are for
     * the audit only: no stage folds them, and a pipeline of 10,000 keys
     * would hold one per key and phase. */
    json_object_set_new(rec, "type", json_string(type));
    if (p->records == NULL) p->records = json_array();
    if (sync) json_array_append(p->records, rec);
    maybe_crash(p->e->o.journal, type);
    if (p->e->o.record != NULL) p->e->o.record(p->t, rec, p->e->o.record_ud);
  }
  json_decref(rec);
  return rc;
}

static int h_journal(km_pipeline_t *p, const json_t *flat) {
  return journal_flat(p, flat, true);
}

/* A decision record: durable with the next record a stage makes durable
 * before its side effect (or at close); lost in a crash, it is decided
 * again on resume. */
int km__host_journal_nosync(km_pipeline_t *p, const json_t *flat) {
  return journal_flat(p, flat, false);
}

static const json_t *h_records(km_pipeline_t *p) {
  static json_t *empty;
  if (p->records != NULL) return p->records;
  if (empty == NULL) empty = json_array();
  return empty;
}

/* ---- timers, stage end, console ---- */

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
  km_pipeline_t *p = pt->p;
  pt->cb(pt->ud);
  uv_close((uv_handle_t *)&pt->t, on_ptimer_closed);
  km__unpend(p);
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
  km__pend(p);
  return 0;
}

void km__engine_stage_done(km_pipeline_t *p, int status, bool blocked,
                           const km_err_t *err);
/* engine.c: c is one of the providers running at once (p->grp): its end is
 * kept until the group's last; true when it was one. */
bool km__engine_group_end(km_pipeline_t *p, km_sctx_t *c, int status,
                          bool blocked, const km_err_t *err);

static void h_ended(km_sctx_t *c) {
  km_pipeline_t *p = c->p;
  if (km__engine_group_end(p, c, c->status, c->blocked,
                           c->status < 0 || c->blocked ? &c->err : NULL))
    return;
  if (p->cur != c) {
    /* An earlier stage's context: it can never end the current one. */
    km_log(KM_LOG_ERROR, "%s %s: a late end of stage %s by %s was ignored",
           p->t->account, p->t->region, km_stage_name(c->stage), c->name);
    return;
  }
  km__engine_stage_done(p, c->status, c->blocked,
                        c->status < 0 || c->blocked ? &c->err : NULL);
}

typedef struct console_s {
  km_pipeline_t *p;
  km_jcall_cb cb;
  void *ud;
  json_t *request; /* a copy while it waits for the journal */
} console_t;

static void on_console(const km_jres_t *res, void *ud) {
  console_t *c = ud;
  km_pipeline_t *p = c->p;
  c->cb(res, c->ud);
  free(c);
  km__unpend(p);
}

/* A console request that waited for the journal: sent now, or answered
 * with why it was not. */
static void console_go(void *arg, int status, const km_err_t *err) {
  console_t *c = arg;
  km_pipeline_t *p = c->p;
  json_t *req = c->request; /* borrowed by the console for the call only */
  c->request = NULL;
  km_err_t e2;
  memset(&e2, 0, sizeof(e2));
  if (status == 0) {
    status = p->e->o.console(p->e->o.console_ud, p, req, on_console, c);
    json_decref(req);
    if (status == 0) return; /* on_console answers */
    km__err_set(&e2, status, "console request could not be sent: %s",
                km_strerror(status));
    err = &e2;
  } else {
    json_decref(req);
  }
  km_jres_t res = {status, NULL, err};
  c->cb(&res, c->ud);
  free(c);
  km__unpend(p);
}

static int h_console(km_pipeline_t *p, const json_t *request, km_jcall_cb cb,
                     void *ud) {
  km_engine_t *e = p->e;
  if (e->o.console == NULL || e->o.driver == NULL ||
      strcmp(e->o.driver, "sim") != 0)
    return KM_ENOTSUP;
  if (e->o.mode == KM_MODE_PLAN && request != NULL) return KM_EPERM;
  console_t *c = km_xcalloc(1, sizeof(*c));
  c->p = p;
  c->cb = cb;
  c->ud = ud;
  if (e->jsync_due) {
    /* A record written before it is not durable yet (group commit). */
    c->request = request != NULL ? json_deep_copy(request) : NULL;
    km__pend(p);
    when_durable(e, console_go, c);
    return 0;
  }
  int rc = e->o.console(e->o.console_ud, p, request, on_console, c);
  if (rc < 0) {
    free(c);
    return rc;
  }
  km__pend(p);
  return 0;
}

static bool h_stopping(km_pipeline_t *p) {
  return p->e->interrupted;
}

/* PREPARE's providers run at once (share, keys, secrets): once one has
 * failed, the others send nothing more (engine.c takes the failure). */
static bool h_halted(const km_sctx_t *c) {
  const km__pgroup_t *g = c->p->grp;
  if (g == NULL || c->stage != KM_STAGE_PREPARE) return false;
  for (size_t k = 0; k < g->n; k++) {
    if (g->c[k] == c) continue;
    if (g->c[k] != NULL ? g->c[k]->status < 0 || g->c[k]->blocked
                        : g->status[k] < 0 || g->blocked[k])
      return true;
  }
  return false;
}

const km_shost_t km__engine_shost = {
    .log = h_log,
    .call = h_call,
    .console = h_console,
    .hook = km__host_hook,
    .journal = h_journal,
    .records = h_records,
    .timer = h_timer,
    .ended = h_ended,
    .stopping = h_stopping,
    .halted = h_halted,
};
