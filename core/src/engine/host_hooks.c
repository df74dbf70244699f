/* km_shost_t.hook: runs a pipeline's Lua hooks (docs/hooks.md).
 *
 * Each pipeline gets its own Lua runtime the first time one of its hooks
 * runs, so pipelines share no Lua globals; kms.call inside a hook is the
 * pipeline's own call (its credentials, rate limits and retries, and plan
 * mode's refusal of writes).  The runtime lives in the pipeline and is
 * closed when the pipeline ends, so a run of thousands of pipelines holds
 * only the Lua states of those in flight.  Hook input crosses into Lua as
 * the stage's JSON object (decoded to a table there), output as JSON text:
 * that is the hook's edge.
 *
 * In run mode every hook's decision is journalled (a hook_decision record,
 * written before the stage acts on it): the hook, the SHA-256 of its input
 * text, the ids the input names, and what it decided with its reason
 * (written without its own fsync: the stage's next record, made durable
 * before any side effect, carries it to disk).  Only
 * the decision fields of the output are copied, never the whole output, so
 * nothing a hook computed beyond its answer reaches the journal.  A
 * decision that cannot be journalled fails the hook (fail closed).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "engine/pipeline_priv.h"
#include "lua/lua.h"
#include "util/util.h"

static int call_as_pipeline(void *call_ud, const char *product,
                            const char *action, const char *const *params,
                            size_t n, km_plugin_call_cb cb, void *ud) {
  return km__host_call_text(call_ud, product, action, params, n, cb, ud);
}

static km_lua_t *lua_of(km_pipeline_t *p) {
  if (p->lua != NULL) return p->lua;
  size_t ndirs;
  char **dirs = km_lua_hook_dirs(p->t->hooks, &ndirs);
  km_lua_opts_t o = {
      .loop = p->e->o.loop,
      .call = call_as_pipeline,
      .call_ud = p,
      .account = p->t->account,
      .account_id = p->t->account_id,
      .region = p->t->region,
      .mode = p->e->o.mode == KM_MODE_PLAN ? "plan" : "run",
      .require_dirs = (const char *const *)dirs,
      .nrequire_dirs = ndirs,
  };
  p->lua = km_lua_new(&o);
  km_lua_dirs_free(dirs, ndirs);
  return p->lua;
}

typedef struct hook_s {
  km_pipeline_t *p;
  km_jcall_cb cb;
  void *ud;
  json_t *rec; /* the hook_decision record so far; NULL in plan mode */
} hook_t;

/* The record's first half, from the input: hook, input digest, ids. */
static json_t *decision_start(const char *name, const json_t *input,
                              const char *text) {
  unsigned char md[32];
  unsigned int n = 0;
  EVP_Digest(text, strlen(text), md, &n, EVP_sha256(), NULL);
  char hex[72] = "sha256:";
  for (unsigned i = 0; i < 32; i++)
    snprintf(hex + 7 + 2 * i, 3, "%02x", md[i]);
  json_t *rec = json_pack("{s:s, s:s, s:s}", "type", "hook_decision", "hook",
                          name, "input_sha256", hex);
  /* The ids each hook's input names (docs/hooks.md). */
  static const char *const ids[] = {"kind",     "id",      "phase",
                                    "batch",    "keys",    "secrets",
                                    "instance", "current", "destination"};
  for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
    json_t *v = json_object_get(input, ids[i]);
    if (json_is_string(v) || json_is_integer(v) || json_is_array(v))
      json_object_set(rec, ids[i], v);
  }
  return rec;
}

/* What the output decided, as one word and the decision fields. */
static void decision_end(json_t *rec, const json_t *out) {
  static const char *const keep[] = {"change",
                                     "automatic_rotation",
                                     "rotation_interval",
                                     "instance",
                                     "accept",
                                     "passed",
                                     "reason"};
  json_t *d = json_object();
  for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++) {
    json_t *v = json_object_get(out, keep[i]);
    if (json_is_string(v) || json_is_boolean(v)) json_object_set(d, keep[i], v);
  }
  const char *word = "answered";
  if (json_is_boolean(json_object_get(out, "accept")))
    word = json_is_true(json_object_get(out, "accept")) ? "allow" : "refuse";
  else if (json_is_boolean(json_object_get(out, "passed")))
    word = json_is_true(json_object_get(out, "passed")) ? "pass" : "fail";
  else if (json_is_string(json_object_get(out, "instance")))
    word = "choose";
  else if (json_is_boolean(json_object_get(out, "change")))
    word = !json_is_true(json_object_get(out, "change")) ? "leave"
           : json_is_true(json_object_get(out, "automatic_rotation"))
               ? "rotation_on"
               : "rotation_off";
  /* post_check: each file's verdict, not its messages (the report has
   * them). */
  json_t *checks = json_object_get(out, "checks");
  if (json_is_array(checks)) {
    json_t *per = json_array();
    size_t i;
    json_t *c;
    json_array_foreach(checks, i, c) {
      json_t *file = json_object_get(c, "file");
      json_t *passed = json_object_get(c, "passed");
      if (json_is_string(file) && json_is_boolean(passed))
        json_array_append_new(
            per, json_pack("{s:O, s:O}", "file", file, "passed", passed));
    }
    json_object_set_new(d, "checks", per);
  }
  json_t *msgs = json_object_get(out, "messages");
  if (json_is_array(msgs))
    json_object_set_new(d, "messages",
                        json_integer((json_int_t)json_array_size(msgs)));
  json_object_set_new(rec, "decision", json_string(word));
  json_object_set_new(rec, "output", d);
}

/* Journals the decision (or the failure) before the stage sees it; a
 * failed append turns the answer into KM_EJOURNAL. */
static int journal_decision(hook_t *h, const km_jres_t *r) {
  if (h->rec == NULL) return 0;
  if (r->status < 0) {
    json_object_set_new(h->rec, "decision", json_string("failed"));
    json_object_set_new(h->rec, "error", json_string(km_err_name(r->status)));
  } else {
    decision_end(h->rec, r->body);
  }
  return km__host_journal_nosync(h->p, h->rec);
}

/* The hook's answer (out borrowed: the Lua runtime's object, checked
 * against docs/hooks.md there). */
static void on_hook(int status, json_t *out, const km_err_t *err, void *ud) {
  hook_t *h = ud;
  km_jres_t r = {status, status == 0 ? out : NULL, err};
  km_err_t oerr;
  bool not_object = status == 0 && !json_is_object(out);
  if (not_object) { /* fails the stage whatever the journal says */
    km__err_set(&oerr, KM_ELUA,
                "a hook returned something that is not an "
                "object");
    r.status = KM_ELUA;
    r.body = NULL;
    r.err = &oerr;
  }
  km_err_t jerr;
  if (journal_decision(h, &r) < 0 && !not_object) {
    km__err_set(&jerr, KM_EJOURNAL,
                "hook %s: its decision could not be journalled (see the "
                "log); the stage stops rather than act without a record",
                json_string_value(json_object_get(h->rec, "hook")));
    r.status = KM_EJOURNAL;
    r.body = NULL;
    r.err = &jerr;
  }
  h->cb(&r, h->ud);
  json_decref(h->rec);
  km_pipeline_t *p = h->p;
  free(h);
  km__unpend(p);
}

int km__host_hook(km_pipeline_t *p, const char *name, const json_t *input,
                  km_jcall_cb cb, void *ud) {
  if (p == NULL || name == NULL || cb == NULL) return KM_EINVAL;
  if (!json_is_object(input)) return KM_EINVAL;
  hook_t *h = km_xcalloc(1, sizeof(*h));
  h->p = p;
  h->cb = cb;
  h->ud = ud;
  /* The text only for the journal's digest: Lua gets the object itself
   * (held, never changed), not a print of it parsed again twice. */
  if (p->e->o.journal != NULL) {
    char *text = json_dumps(input, JSON_COMPACT | JSON_SORT_KEYS);
    if (text == NULL) {
      free(h);
      return KM_EINVAL;
    }
    h->rec = decision_start(name, input, text);
    free(text);
  }
  int rc = km_lua_hook_json(lua_of(p), p->t->hooks, name, (json_t *)input,
                            on_hook, h);
  if (rc < 0) {
    json_decref(h->rec);
    free(h);
    return rc;
  }
  km__pend(p);
  return 0;
}

void km__host_hooks_close(km_pipeline_t *p) {
  if (p->lua == NULL) return;
  km_lua_free(p->lua);
  p->lua = NULL;
}
