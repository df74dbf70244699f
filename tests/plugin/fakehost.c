/* The fake host for plugin unit tests (fakehost.h).  It keeps the contract
 * of kmsmig/plugin.h where a plugin could notice a difference: call()
 * copies its parameters and answers exactly once, later; stage_done is
 * counted so a test sees a second call; doc_get's string lives until the
 * next doc_set; journal records get account and region like the engine's.
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

static void strs_clear(strs_t *l) {
  for (size_t i = 0; i < l->n; i++)
    free(l->v[i]);
  free(l->v);
  l->v = NULL;
  l->n = 0;
}

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
  km_plugin_call_cb cb;
  void *ud;
  char *body; /* answer, or NULL with err */
  km_err_t err;
} item_t;

typedef struct runh_s {
  fh_t *fh;
} runh_t;

struct fh_s {
  runh_t runh;
  json_t *settings;
  rule_t *rules;
  size_t nrules;
  item_t *head, *tail;
  size_t inflight, max_inflight;
  strs_t events, journal, seeds, outcomes;
  bool replay_live;
  long journal_fail_at;
  long journal_appends;
  char *doc;
  int done_count, done_status;
  km_err_t done_err;
};

static fh_t *FH(km_pipeline_t *p) {
  return (fh_t *)(void *)p;
}

fh_t *fh_new(void) {
  fh_t *fh = calloc(1, sizeof(*fh));
  fh->runh.fh = fh;
  fh->settings = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "account", "acct",
                           "account_id", "1234567890123456", "region",
                           "cn-hangzhou", "instance", "kst-hzz-dest",
                           "run_mode", "run", "instance_type", "software");
  fh->doc = strdup("{}");
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
  strs_clear(&fh->events);
  strs_clear(&fh->journal);
  strs_clear(&fh->seeds);
  strs_clear(&fh->outcomes);
  json_decref(fh->settings);
  free(fh->doc);
  free(fh);
}

km_pipeline_t *fh_pipeline(fh_t *fh) {
  return (km_pipeline_t *)(void *)fh;
}

km_stage_run_t *fh_run(fh_t *fh) {
  return (km_stage_run_t *)(void *)&fh->runh;
}

void fh_set(fh_t *fh, const char *name, const char *value) {
  json_object_set_new(fh->settings, name, json_string(value));
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

static void f_log(km_pipeline_t *p, int level, const char *fmt, ...)
    KM_PRINTF(3, 4);

static void f_log(km_pipeline_t *p, int level, const char *fmt, ...) {
  (void)p;
  if (getenv("FH_VERBOSE") == NULL) return;
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "[fakehost %d] ", level);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
}

static const char *f_get(km_pipeline_t *p, const char *name) {
  return json_string_value(json_object_get(FH(p)->settings, name));
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

static int f_call(km_pipeline_t *p, const char *product, const char *action,
                  const char *const *params, size_t n, km_plugin_call_cb cb,
                  void *ud) {
  fh_t *fh = FH(p);
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
  if (strcmp(f_get(p, "run_mode"), "plan") == 0 &&
      strncmp(action, "Update", 6) == 0)
    return KM_EPERM;

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
    if (hit->gen == NULL && hit->body != NULL) {
      it->body = strdup(hit->body);
    } else if (hit->gen == NULL) {
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

static int f_journal(km_pipeline_t *p, const char *record_json) {
  fh_t *fh = FH(p);
  json_t *rec = json_loads(record_json, 0, NULL);
  const char *type = json_string_value(json_object_get(rec, "type"));
  if (!json_is_object(rec) || type == NULL) {
    json_decref(rec);
    return KM_EINVAL;
  }
  if (fh->journal_fail_at >= 0 && fh->journal_appends >= fh->journal_fail_at) {
    json_decref(rec);
    return KM_EJOURNAL;
  }
  fh->journal_appends++;
  const char *id = json_string_value(json_object_get(rec, "id"));
  strs_push(&fh->events, xprintf("journal %s %s", type, id ? id : "-"));
  json_object_set_new(rec, "account", json_string(f_get(p, "account")));
  json_object_set_new(rec, "region", json_string(f_get(p, "region")));
  strs_push(&fh->journal, json_dumps(rec, JSON_COMPACT | JSON_SORT_KEYS));
  json_decref(rec);
  return 0;
}

static int f_journal_replay(km_pipeline_t *p,
                            void (*cb)(const char *record_json, void *ud),
                            void *ud) {
  fh_t *fh = FH(p);
  for (size_t i = 0; i < fh->seeds.n; i++)
    cb(fh->seeds.v[i], ud);
  for (size_t i = 0; fh->replay_live && i < fh->journal.n; i++)
    cb(fh->journal.v[i], ud);
  return 0;
}

static void f_outcome(km_pipeline_t *p, const char *kind, const char *id,
                      const char *outcome, const char *reason) {
  fh_t *fh = FH(p);
  strs_push(&fh->events, xprintf("outcome %s %s %s", kind, id, outcome));
  strs_push(&fh->outcomes, xprintf("%s %s %s: %s", kind, id, outcome,
                                   reason != NULL ? reason : ""));
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

static void f_stage_done(km_stage_run_t *run, int status, const km_err_t *err) {
  fh_t *fh = ((runh_t *)(void *)run)->fh;
  fh->done_count++;
  fh->done_status = status;
  memset(&fh->done_err, 0, sizeof(fh->done_err));
  if (err != NULL) fh->done_err = *err;
  strs_push(&fh->events, xprintf("done %d", status));
}

static const char *f_doc_get(km_pipeline_t *p) {
  return FH(p)->doc;
}

static int f_doc_set(km_pipeline_t *p, const char *json) {
  json_t *j = json_loads(json, 0, NULL);
  bool ok = json_is_object(j);
  json_decref(j);
  if (!ok) return KM_EINVAL;
  fh_set_doc(FH(p), json);
  return 0;
}

static const km_host_api_t api = {
    .struct_size = sizeof(km_host_api_t),
    .abi_major = KM_PLUGIN_ABI_MAJOR,
    .abi_minor = KM_PLUGIN_ABI_MINOR,
    .log = f_log,
    .get = f_get,
    .call = f_call,
    .journal = f_journal,
    .journal_replay = f_journal_replay,
    .outcome = f_outcome,
    .timer = f_timer,
    .stage_done = f_stage_done,
    .doc_get = f_doc_get,
    .doc_set = f_doc_set,
};

const km_host_api_t *fh_api(void) {
  return &api;
}

/* ---- driving ---- */

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

size_t fh_drain(fh_t *fh) {
  size_t n = 0;
  item_t *it;
  while ((it = take(fh)) != NULL) {
    if (it->timer) {
      it->tcb(it->ud);
    } else {
      fh->inflight--;
      km_plugin_call_result_t res = {it->body != NULL ? 0 : it->err.code,
                                     it->body,
                                     it->body != NULL ? NULL : &it->err};
      it->cb(&res, it->ud);
    }
    item_free(it);
    n++;
  }
  return n;
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
  strs_push(&fh->seeds, strdup(record_json));
}

void fh_replay_live(fh_t *fh, bool on) {
  fh->replay_live = on;
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

const char *fh_doc(fh_t *fh) {
  return fh->doc;
}

void fh_set_doc(fh_t *fh, const char *json) {
  char *d = strdup(json);
  free(fh->doc);
  fh->doc = d;
}

int fh_done_count(const fh_t *fh) {
  return fh->done_count;
}

int fh_done_status(const fh_t *fh) {
  return fh->done_status;
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
  memset(&fh->done_err, 0, sizeof(fh->done_err));
  fh->max_inflight = 0;
}
