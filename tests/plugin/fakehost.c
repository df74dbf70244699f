/* The fake stage host for the built-in stages' unit tests (fakehost.h).  It
 * keeps the contract of km_shost_t where a stage could notice a
 * difference: call() copies its parameters and answers exactly once,
 * later, with a parsed body; journal records get account and region like
 * the engine's and are part of records() at once; ended() is counted so a
 * test sees a second end.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "fakehost.h"

typedef struct strs_s {
  char **v;
  size_t n;
} strs_t;

static void strs_push(strs_t *l, char *s) {
  l->v = realloc(l->v, (l->n + 1) * sizeof(*l->v));
  l->v[l->n++] = s;
}

static bool strs_has(const strs_t *l, const char *s) {
  for (size_t i = 0; i < l->n; i++)
    if (strcmp(l->v[i], s) == 0) return true;
  return false;
}

static void strs_clear(strs_t *l) {
  for (size_t i = 0; i < l->n; i++)
    free(l->v[i]);
  free(l->v);
  l->v = NULL;
  l->n = 0;
}

static char *xprintf(const char *fmt, ...) KM_PRINTF(1, 2);

static char *xprintf(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  char *s = malloc((size_t)n + 1);
  va_start(ap, fmt);
  vsnprintf(s, (size_t)n + 1, fmt, ap);
  va_end(ap);
  return s;
}

typedef struct rule_s {
  char *action;
  char *match;
  int times;
  char *body; /* NULL: an error */
  char *code, *rid;
  fh_gen_fn gen;
  void *gen_ud;
} rule_t;

typedef struct item_s {
  struct item_s *next;
  bool timer;
  uint64_t ms;
  void (*tcb)(void *ud);
  km_jcall_cb cb;
  void *ud;
  bool ok;
  char *body; /* answer text when ok */
  km_err_t err;
} item_t;

struct fh_s {
  km_target_t t;
  bool plan;
  km_inv_t *inv;
  const km_stage_ops_t *ops;
  void *state;
  bool inited;
  bool borrowed; /* state is another fake's (fh_share_state) */
  rule_t *rules;
  size_t nrules;
  item_t *head, *tail;
  size_t inflight, max_inflight;
  strs_t events, journal, outcomes, failed_before;
  json_t *records;
  long journal_fail_at;
  long journal_appends;
  int done_count, done_status;
  bool done_blocked;
  km_err_t done_err;
};

static const km_hookcfg_t fh_no_hooks;

static fh_t *FH(km_pipeline_t *p) {
  return (fh_t *)(void *)p;
}

static km_inv_t *fh_model_new(const km_target_t *t) {
  km_inv_t *inv =
      km_inv_new(t->account, t->account_id, t->region, t->instance_id);
  inv->instance_type = t->instance_type;
  inv->select = t->select;
  return inv;
}

fh_t *fh_new(void) {
  fh_t *fh = calloc(1, sizeof(*fh));
  fh->t = (km_target_t){.account = "acct",
                        .account_id = "1234567890123456",
                        .region = "cn-hangzhou",
                        .instance_id = "kst-hzz-dest",
                        .instance_type = KM_INV_TYPE_SOFTWARE,
                        .auto_renew = -1,
                        .hooks = &fh_no_hooks,
                        .run_id = "run-test",
                        .task_timeout_s = 1800};
  fh->inv = fh_model_new(&fh->t);
  fh->records = json_array();
  fh->journal_fail_at = -1;
  return fh;
}

static void item_free(item_t *it) {
  free(it->body);
  free(it);
}

void fh_free(fh_t *fh) {
  for (size_t i = 0; i < fh->nrules; i++) {
    free(fh->rules[i].action);
    free(fh->rules[i].match);
    free(fh->rules[i].body);
    free(fh->rules[i].code);
    free(fh->rules[i].rid);
  }
  free(fh->rules);
  while (fh->head != NULL) {
    item_t *it = fh->head;
    fh->head = it->next;
    item_free(it);
  }
  if (fh->inited && !fh->borrowed && fh->ops->fini != NULL)
    fh->ops->fini(fh->state);
  strs_clear(&fh->events);
  strs_clear(&fh->journal);
  strs_clear(&fh->outcomes);
  strs_clear(&fh->failed_before);
  json_decref(fh->records);
  km_inv_free(fh->inv);
  free(fh);
}

km_target_t *fh_target(fh_t *fh) {
  return &fh->t;
}

void fh_set_plan(fh_t *fh, bool plan) {
  fh->plan = plan;
}

km_inv_t *fh_inv(fh_t *fh) {
  return fh->inv;
}

void fh_set_inv(fh_t *fh, km_inv_t *inv) {
  km_inv_free(fh->inv);
  fh->inv = inv;
}

static rule_t *rule_add(fh_t *fh, const char *action, const char *match,
                        int times) {
  fh->rules = realloc(fh->rules, (fh->nrules + 1) * sizeof(*fh->rules));
  rule_t *r = &fh->rules[fh->nrules++];
  memset(r, 0, sizeof(*r));
  r->action = strdup(action);
  r->match = strdup(match != NULL ? match : "");
  r->times = times;
  return r;
}

void fh_answer(fh_t *fh, const char *action, const char *match, int times,
               const char *body_json) {
  rule_add(fh, action, match, times)->body = strdup(body_json);
}

void fh_error(fh_t *fh, const char *action, const char *match, int times,
              const char *code, const char *request_id) {
  rule_t *r = rule_add(fh, action, match, times);
  r->code = strdup(code);
  r->rid = strdup(request_id);
}

void fh_generator(fh_t *fh, const char *action, fh_gen_fn fn, void *ud) {
  rule_t *r = rule_add(fh, action, NULL, -1);
  r->gen = fn;
  r->gen_ud = ud;
}

static void push(fh_t *fh, item_t *it) {
  if (fh->tail != NULL)
    fh->tail->next = it;
  else
    fh->head = it;
  fh->tail = it;
}

/* ---- the host table ---- */

static void f_log(km_pipeline_t *p, int level, const char *msg) {
  (void)p;
  if (getenv("FH_VERBOSE") == NULL) return;
  fprintf(stderr, "[fakehost %d] %s\n", level, msg);
}

static bool matches(const char *match, const char *const *params, size_t n) {
  char *m = strdup(match);
  bool ok = true;
  for (char *save = NULL, *kv = strtok_r(m, "&", &save); kv != NULL && ok;
       kv = strtok_r(NULL, "&", &save)) {
    char *eq = strchr(kv, '=');
    if (eq == NULL) continue;
    *eq = '\0';
    bool found = false;
    for (size_t i = 0; i < n && !found; i++)
      found = strcmp(params[2 * i], kv) == 0 &&
              strcmp(params[2 * i + 1], eq + 1) == 0;
    ok = found;
  }
  free(m);
  return ok;
}

/* The verbs host.c treats as writes (refused in plan mode). */
static bool is_write(const char *action) {
  static const char *verbs[] = {"Update", "Create", "Delete", "Import",
                                "Set",    "Put",    "Enable", "Disable",
                                "Tag",    "Untag",  "Cancel", "Rotate"};
  for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++) {
    size_t n = strlen(verbs[i]);
    if (strncmp(action, verbs[i], n) == 0 && action[n] >= 'A' &&
        action[n] <= 'Z')
      return true;
  }
  return false;
}

static int f_call(km_pipeline_t *p, const char *account, const char *product,
                  const char *action, const char *const *params, size_t n,
                  km_jcall_cb cb, void *ud) {
  fh_t *fh = FH(p);
  (void)account;
  if (product == NULL || action == NULL || cb == NULL) return KM_EINVAL;
  /* The event: action and parameters in order. */
  size_t len = strlen(action) + 8;
  for (size_t i = 0; i < 2 * n; i++)
    len += strlen(params[i]) + 2;
  char *ev = malloc(len);
  int off = snprintf(ev, len, "call %s ", action);
  for (size_t i = 0; i < n; i++)
    off += snprintf(ev + off, len - (size_t)off, "%s%s=%s", i ? "&" : "",
                    params[2 * i], params[2 * i + 1]);
  strs_push(&fh->events, ev);
  if (fh->plan && is_write(action)) return KM_EPERM;

  item_t *it = calloc(1, sizeof(*it));
  it->cb = cb;
  it->ud = ud;
  rule_t *hit = NULL;
  for (size_t i = 0; i < fh->nrules && hit == NULL; i++) {
    rule_t *r = &fh->rules[i];
    if (r->times == 0 || strcmp(r->action, action) != 0 ||
        !matches(r->match, params, n))
      continue;
    if (r->gen != NULL) {
      it->body = r->gen(action, params, n, r->gen_ud);
      if (it->body == NULL) continue;
    }
    hit = r;
  }
  if (hit == NULL) {
    it->err.code = KM_ECLOUD;
    snprintf(it->err.cloud_code, sizeof(it->err.cloud_code), "Fake.NoAnswer");
    snprintf(it->err.text, sizeof(it->err.text),
             "fakehost: no canned answer for %s", ev);
  } else {
    if (hit->times > 0) hit->times--;
    if (hit->gen != NULL) {
      it->ok = true;
    } else if (hit->body != NULL) {
      it->ok = true;
      it->body = strdup(hit->body);
    } else {
      it->err.code = KM_ECLOUD;
      it->err.http_status = 400;
      snprintf(it->err.cloud_code, sizeof(it->err.cloud_code), "%s", hit->code);
      snprintf(it->err.request_id, sizeof(it->err.request_id), "%s", hit->rid);
      snprintf(it->err.text, sizeof(it->err.text), "%s: canned failure",
               hit->code);
    }
  }
  fh->inflight++;
  if (fh->inflight > fh->max_inflight) fh->max_inflight = fh->inflight;
  push(fh, it);
  return 0;
}

static int f_console(km_pipeline_t *p, const json_t *request, km_jcall_cb cb,
                     void *ud) {
  (void)p;
  (void)request;
  (void)cb;
  (void)ud;
  return KM_ENOTSUP;
}

static int f_hook(km_pipeline_t *p, const char *name, const json_t *input,
                  km_jcall_cb cb, void *ud) {
  (void)p;
  (void)name;
  (void)input;
  (void)cb;
  (void)ud;
  return KM_ENOENT; /* no operator hooks, no defaults */
}

static int f_journal(km_pipeline_t *p, const json_t *flat) {
  fh_t *fh = FH(p);
  const char *type = json_string_value(json_object_get(flat, "type"));
  if (!json_is_object(flat) || type == NULL) return KM_EINVAL;
  if (fh->plan) return KM_EPERM;
  if (fh->journal_fail_at >= 0 && fh->journal_appends >= fh->journal_fail_at)
    return KM_EJOURNAL;
  fh->journal_appends++;
  const char *id = json_string_value(json_object_get(flat, "id"));
  strs_push(&fh->events, xprintf("journal %s %s", type, id ? id : "-"));
  json_t *rec = json_deep_copy(flat);
  json_object_set_new(rec, "account", json_string(fh->t.account));
  json_object_set_new(rec, "region", json_string(fh->t.region));
  strs_push(&fh->journal, json_dumps(rec, JSON_COMPACT | JSON_SORT_KEYS));
  json_array_append_new(fh->records, rec);
  return 0;
}

static const json_t *f_records(km_pipeline_t *p) {
  return FH(p)->records;
}

static int f_timer(km_pipeline_t *p, uint64_t ms, void (*cb)(void *ud),
                   void *ud) {
  fh_t *fh = FH(p);
  strs_push(&fh->events, xprintf("timer %llu", (unsigned long long)ms));
  item_t *it = calloc(1, sizeof(*it));
  it->timer = true;
  it->ms = ms;
  it->tcb = cb;
  it->ud = ud;
  push(fh, it);
  return 0;
}

/* "key id" / "secret id" of every failed resource of the model. */
static void failed_set(const km_inv_t *inv, strs_t *out) {
  for (size_t i = 0; i < inv->nkeys; i++)
    if (inv->keys[i].verdict == KM_VERDICT_FAILED)
      strs_push(out, xprintf("key %s", inv->keys[i].key_id));
  for (size_t i = 0; i < inv->nsecrets; i++)
    if (inv->secrets[i].verdict == KM_VERDICT_FAILED)
      strs_push(out, xprintf("secret %s", inv->secrets[i].secret_name));
}

static void f_ended(km_sctx_t *c) {
  fh_t *fh = FH(c->p);
  /* What the stage marked failed, as the old outcome() reported it. */
  const km_inv_t *inv = fh->inv;
  for (size_t i = 0; i < inv->nkeys; i++) {
    const km_inv_key_t *k = &inv->keys[i];
    char *what = xprintf("key %s", k->key_id);
    if (k->verdict == KM_VERDICT_FAILED &&
        !strs_has(&fh->failed_before, what)) {
      strs_push(&fh->events, xprintf("outcome %s failed", what));
      strs_push(&fh->outcomes, xprintf("%s failed: %s", what,
                                       k->reason != NULL ? k->reason : ""));
    }
    free(what);
  }
  for (size_t i = 0; i < inv->nsecrets; i++) {
    const km_inv_secret_t *s = &inv->secrets[i];
    char *what = xprintf("secret %s", s->secret_name);
    if (s->verdict == KM_VERDICT_FAILED &&
        !strs_has(&fh->failed_before, what)) {
      strs_push(&fh->events, xprintf("outcome %s failed", what));
      strs_push(&fh->outcomes, xprintf("%s failed: %s", what,
                                       s->reason != NULL ? s->reason : ""));
    }
    free(what);
  }
  fh->done_count++;
  fh->done_status = c->status;
  fh->done_blocked = c->blocked;
  memset(&fh->done_err, 0, sizeof(fh->done_err));
  if (c->status < 0 || c->blocked) fh->done_err = c->err;
  strs_push(&fh->events, xprintf("done %d", c->status));
}

static const km_shost_t fake_shost = {
    .log = f_log,
    .call = f_call,
    .console = f_console,
    .hook = f_hook,
    .journal = f_journal,
    .records = f_records,
    .timer = f_timer,
    .ended = f_ended,
};

/* ---- driving ---- */

int fh_start(fh_t *fh, const km_stage_ops_t *ops, km_stage_t stage) {
  if (!fh->inited || fh->ops != ops) {
    if (fh->inited && !fh->borrowed && fh->ops->fini != NULL)
      fh->ops->fini(fh->state);
    fh->borrowed = false;
    fh->ops = ops;
    fh->state = NULL;
    km_err_t err;
    memset(&err, 0, sizeof(err));
    if (ops->init != NULL && ops->init(&fh->state, &err) < 0) return err.code;
    fh->inited = true;
  }
  strs_clear(&fh->failed_before);
  failed_set(fh->inv, &fh->failed_before);
  km_sctx_t *c = km_sctx_new(&fake_shost, (km_pipeline_t *)(void *)fh, &fh->t,
                             fh->inv, stage, fh->plan, false, ops->name);
  return km_sctx_start(ops, fh->state, c);
}

static item_t *take(fh_t *fh) {
  /* Answers first, in order; a timer only when no answer is waiting. */
  item_t **pp = &fh->head, *prev = NULL;
  for (item_t *it = fh->head; it != NULL; prev = it, it = it->next) {
    if (!it->timer) break;
    pp = &it->next;
  }
  item_t *it = *pp;
  if (it == NULL) {
    it = fh->head;
    pp = &fh->head;
    prev = NULL;
  }
  if (it == NULL) return NULL;
  *pp = it->next;
  if (fh->tail == it) fh->tail = prev;
  return it;
}

void fh_share_state(fh_t *fh, const fh_t *from) {
  fh->ops = from->ops;
  fh->state = from->state;
  fh->inited = from->inited;
  fh->borrowed = true;
}

size_t fh_drain(fh_t *fh) {
  size_t n = 0;
  while (fh_drain_one(fh) > 0)
    n++;
  return n;
}

size_t fh_drain_one(fh_t *fh) {
  item_t *it = take(fh);
  if (it == NULL) return 0;
  if (it->timer) {
    it->tcb(it->ud);
  } else {
    fh->inflight--;
    json_t *body = it->ok ? json_loads(it->body, 0, NULL) : NULL;
    /* A body that is not JSON arrives as no object: the context turns it
     * into KM_EPARSE, as for a real garbled answer. */
    km_jres_t res = {it->ok ? 0 : it->err.code, body, it->ok ? NULL : &it->err};
    it->cb(&res, it->ud);
    json_decref(body);
  }
  item_free(it);
  return 1;
}

size_t fh_nevents(const fh_t *fh) {
  return fh->events.n;
}

const char *fh_event(const fh_t *fh, size_t i) {
  return i < fh->events.n ? fh->events.v[i] : NULL;
}

long fh_find(const fh_t *fh, const char *prefix, size_t from) {
  for (size_t i = from; i < fh->events.n; i++)
    if (strncmp(fh->events.v[i], prefix, strlen(prefix)) == 0) return (long)i;
  return -1;
}

size_t fh_count(const fh_t *fh, const char *prefix) {
  size_t n = 0;
  for (size_t i = 0; i < fh->events.n; i++)
    n += strncmp(fh->events.v[i], prefix, strlen(prefix)) == 0;
  return n;
}

size_t fh_max_inflight(const fh_t *fh) {
  return fh->max_inflight;
}

void fh_seed_journal(fh_t *fh, const char *record_json) {
  json_t *rec = json_loads(record_json, 0, NULL);
  if (!json_is_object(rec)) {
    fprintf(stderr, "fakehost: seed is not a JSON object: %s\n", record_json);
    abort();
  }
  json_array_append_new(fh->records, rec);
}

size_t fh_njournal(const fh_t *fh) {
  return fh->journal.n;
}

const char *fh_journal_at(const fh_t *fh, size_t i) {
  return i < fh->journal.n ? fh->journal.v[i] : NULL;
}

void fh_journal_fail_at(fh_t *fh, long n) {
  fh->journal_fail_at = n;
  fh->journal_appends = 0;
}

size_t fh_noutcomes(const fh_t *fh) {
  return fh->outcomes.n;
}

const char *fh_outcome_at(const fh_t *fh, size_t i) {
  return i < fh->outcomes.n ? fh->outcomes.v[i] : NULL;
}

int fh_done_count(const fh_t *fh) {
  return fh->done_count;
}

int fh_done_status(const fh_t *fh) {
  return fh->done_status;
}

bool fh_done_blocked(const fh_t *fh) {
  return fh->done_blocked;
}

const km_err_t *fh_done_err(const fh_t *fh) {
  return &fh->done_err;
}

void fh_reset_log(fh_t *fh) {
  strs_clear(&fh->events);
  strs_clear(&fh->journal);
  strs_clear(&fh->outcomes);
  fh->done_count = 0;
  fh->done_status = 0;
  fh->done_blocked = false;
  memset(&fh->done_err, 0, sizeof(fh->done_err));
  fh->max_inflight = 0;
}
