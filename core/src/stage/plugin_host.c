/* Third-party plugins as stage providers (stage/plugin_host.h): the
 * km_host_api_t of ABI 2 implemented on the stage context.
 *
 * A plugin gets a run handle per stage start (km_stage_run_t, owned here).
 * A handle outlives its stage (it is freed with the plugin), so a plugin
 * that calls the host after stage_done is refused instead of reaching
 * freed memory: small, and only for plugins that are loaded.  Everything it
 * calls goes through the context: the same fan-out, rate limits, plan-mode
 * refusals and journal as the built-in stages.  The model is shown through view
 * structs filled from the typed inventory; cloud answers and journal records
 * are the only text a plugin sees (they are text outside the process too). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/rules.h"
#include "stage/plugin_host.h"
#include "util/util.h"

struct km_stage_run_s {
  km_sctx_t *c; /* valid until done */
  km_plugin_settings_t set;
  bool done;
  struct km_stage_run_s *next;
};

struct km__ext_s {
  const km_plugin_t *d;
  void *pstate;
  km_stage_ops_t ops;
  km_stage_run_t *runs; /* every run handle given out */
};

/* ---- host functions ---- */

static void x_log(km_stage_run_t *run, int level, const char *fmt, ...)
    KM_PRINTF(3, 4);

static void x_log(km_stage_run_t *run, int level, const char *fmt, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  if (level < KM_PLOG_ERROR || level > KM_PLOG_DEBUG) level = KM_PLOG_INFO;
  kp_log(run->c, level, "%s: %s", run->c->name, msg);
}

static const km_plugin_settings_t *x_settings(km_stage_run_t *run) {
  return &run->set;
}

typedef struct xcall_s {
  km_plugin_call_cb cb;
  void *ud;
  void (*tcb)(void *ud);
} xcall_t;

static void on_xcall(km_sctx_t *c, const kp_res_t *res, void *ud) {
  xcall_t *w = ud;
  char *text = res->status == 0 ? json_dumps(res->body, JSON_COMPACT) : NULL;
  km_plugin_call_result_t r = {res->status, text, res->err};
  if (res->status == 0 && text == NULL) r.status = KM_ENOMEM;
  (void)c;
  w->cb(&r, w->ud);
  free(text);
}

static int x_call(km_stage_run_t *run, const char *product, const char *action,
                  const char *const *params, size_t n, km_plugin_call_cb cb,
                  void *ud) {
  if (run->done) return KM_ECANCELED;
  if (product == NULL || action == NULL || cb == NULL) return KM_EINVAL;
  km_product_t prod;
  if (km_product_from_name(product, &prod) < 0) return KM_EINVAL;
  xcall_t *w = kp_alloc(run->c, sizeof(*w));
  w->cb = cb;
  w->ud = ud;
  kp_call_as(run->c, NULL, product, action, params, n, NULL, on_xcall, w);
  return 0;
}

static int x_journal(km_stage_run_t *run, const char *record_json) {
  if (run->done) return KM_ECANCELED;
  json_error_t je;
  json_t *rec = record_json != NULL ? json_loads(record_json, 0, &je) : NULL;
  if (!json_is_object(rec) ||
      json_string_value(json_object_get(rec, "type")) == NULL) {
    json_decref(rec);
    return KM_EINVAL;
  }
  int rc = run->c->h->journal(run->c->p, rec);
  json_decref(rec);
  return rc;
}

static void on_xtimer(km_sctx_t *c, void *ud) {
  xcall_t *w = ud;
  (void)c;
  w->tcb(w->ud);
}

static int x_timer(km_stage_run_t *run, uint64_t ms, void (*cb)(void *ud),
                   void *ud) {
  if (run->done) return KM_ECANCELED;
  if (cb == NULL) return KM_EINVAL;
  xcall_t *w = kp_alloc(run->c, sizeof(*w));
  w->tcb = cb;
  w->ud = ud;
  kp_timer(run->c, ms, on_xtimer, w);
  return 0;
}

/* ---- the model ---- */

static km_plugin_verdict_t pv(km_verdict_t v) {
  switch (v) {
  case KM_VERDICT_DONE:
    return KM_PV_DONE;
  case KM_VERDICT_SKIPPED:
    return KM_PV_SKIPPED;
  case KM_VERDICT_BLOCKED:
    return KM_PV_BLOCKED;
  case KM_VERDICT_FAILED:
    return KM_PV_FAILED;
  case KM_VERDICT_NEEDS_BYOK:
    return KM_PV_NEEDS_BYOK;
  case KM_VERDICT_MIGRATED:
    return KM_PV_MIGRATED;
  default:
    return KM_PV_PENDING;
  }
}

static size_t x_key_count(km_stage_run_t *run) {
  return run->c->inv->nkeys;
}

static size_t x_secret_count(km_stage_run_t *run) {
  return run->c->inv->nsecrets;
}

/* Copies the view into the caller's struct, as much of it as the caller
 * knows (an older plugin's struct is shorter). */
static int give(void *out, const void *view, size_t size) {
  uint32_t want = *(const uint32_t *)out;
  if (want < sizeof(uint32_t)) return KM_EINVAL;
  size_t n = want < size ? want : size;
  memcpy((char *)out + sizeof(uint32_t), (const char *)view + sizeof(uint32_t),
         n - sizeof(uint32_t));
  return 0;
}

static int x_key_at(km_stage_run_t *run, size_t i, km_plugin_key_t *out) {
  const km_inv_t *inv = run->c->inv;
  if (out == NULL) return KM_EINVAL;
  if (i >= inv->nkeys) return KM_ENOENT;
  km_inv_key_t *k = &inv->keys[i];
  /* The view's strings live as long as the model's: a derived Arn or
   * reason is stored again (plugins are few; the barrier's thousands are
   * not). */
  if (k->arn == NULL && k->arn_derived) {
    char buf[KM_INV_ARN_MAX];
    k->arn = km_xstrdup(km_inv_key_arn(inv, k, buf, sizeof(buf)));
    k->arn_derived = false;
  }
  char why[KM_RULES_REASON_MAX];
  const char *reason = km_rules_key_reason(inv, k, why, sizeof(why));
  if (k->reason == NULL && reason != NULL) k->reason = km_xstrdup(reason);
  km_plugin_key_t v = {
      .struct_size = sizeof(v),
      .key_id = k->key_id,
      .arn = k->arn,
      .key_spec = k->key_spec,
      .key_usage = k->key_usage,
      .origin = k->origin,
      .protection_level = k->protection_level,
      .key_state = k->key_state,
      .dkms_instance_id = k->dkms_instance_id,
      .automatic_rotation = k->automatic_rotation,
      .service = k->creator == KM_CREATOR_SERVICE,
      .version_count = k->version_count,
      .verdict = pv(k->verdict),
      .rule = k->rule,
      .reason = k->reason,
  };
  return give(out, &v, sizeof(v));
}

static int x_secret_at(km_stage_run_t *run, size_t i, km_plugin_secret_t *out) {
  const km_inv_t *inv = run->c->inv;
  if (out == NULL) return KM_EINVAL;
  if (i >= inv->nsecrets) return KM_ENOENT;
  km_inv_secret_t *s = &inv->secrets[i];
  if (s->arn == NULL && s->arn_derived) {
    char buf[KM_INV_ARN_MAX];
    s->arn = km_xstrdup(km_inv_secret_arn(inv, s, buf, sizeof(buf)));
    s->arn_derived = false;
  }
  char why[KM_RULES_REASON_MAX];
  const char *reason = km_rules_secret_reason(inv, s, why, sizeof(why));
  if (s->reason == NULL && reason != NULL) s->reason = km_xstrdup(reason);
  km_plugin_secret_t v = {
      .struct_size = sizeof(v),
      .secret_name = s->secret_name,
      .arn = s->arn,
      .secret_type = s->secret_type,
      .encryption_key_id = s->encryption_key_id,
      .dkms_instance_id = s->dkms_instance_id,
      .automatic_rotation = s->automatic_rotation,
      .verdict = pv(s->verdict),
      .rule = s->rule,
      .reason = s->reason,
  };
  return give(out, &v, sizeof(v));
}

/* Plugins may keep resources out of the run, never put them in: only
 * skipped and blocked, and only before anything changes. */
static int decision(km_stage_run_t *run, km_plugin_verdict_t verdict,
                    const char *rule, const char *reason, km_verdict_t *v) {
  if (run->done) return KM_ECANCELED;
  if (run->c->stage > KM_STAGE_PREFLIGHT || rule == NULL || reason == NULL)
    return KM_EINVAL;
  if (verdict == KM_PV_SKIPPED)
    *v = KM_VERDICT_SKIPPED;
  else if (verdict == KM_PV_BLOCKED)
    *v = KM_VERDICT_BLOCKED;
  else
    return KM_EINVAL;
  return 0;
}

static int x_decide_key(km_stage_run_t *run, const char *key_id,
                        km_plugin_verdict_t verdict, const char *rule,
                        const char *reason) {
  km_verdict_t v;
  int rc = decision(run, verdict, rule, reason, &v);
  if (rc < 0) return rc;
  km_inv_key_t *k = km_inv_find_key(run->c->inv, key_id);
  if (k == NULL) return KM_ENOENT;
  km_inv_key_decide(k, v, rule, reason);
  return 0;
}

static int x_decide_secret(km_stage_run_t *run, const char *name,
                           km_plugin_verdict_t verdict, const char *rule,
                           const char *reason) {
  km_verdict_t v;
  int rc = decision(run, verdict, rule, reason, &v);
  if (rc < 0) return rc;
  km_inv_secret_t *s = km_inv_find_secret(run->c->inv, name);
  if (s == NULL) return KM_ENOENT;
  km_inv_secret_decide(s, v, rule, reason);
  return 0;
}

static void x_stage_done(km_stage_run_t *run, km_stage_result_t result,
                         const km_err_t *err) {
  km_sctx_t *c = run->c;
  if (run->done) {
    kp_log(c, KM_LOG_ERROR,
           "plugin %s called stage_done twice (stage %s); "
           "ignored",
           c->name, km_stage_name(c->stage));
    return;
  }
  run->done = true;
  if (result == KM_STAGE_BLOCKED) {
    kp_finish_blocked(c, err);
    return;
  }
  if (result != KM_STAGE_OK) {
    int code = err != NULL && err->code < 0 ? err->code : KM_EPLUGIN;
    kp_fail(c, code, err, "plugin %s", c->name);
  }
  kp_finish(c);
}

const km_host_api_t km__plugin_host = {
    .struct_size = sizeof(km_host_api_t),
    .abi_major = KM_PLUGIN_ABI_MAJOR,
    .abi_minor = KM_PLUGIN_ABI_MINOR,
    .log = x_log,
    .settings = x_settings,
    .call = x_call,
    .journal = x_journal,
    .timer = x_timer,
    .key_count = x_key_count,
    .key_at = x_key_at,
    .secret_count = x_secret_count,
    .secret_at = x_secret_at,
    .decide_key = x_decide_key,
    .decide_secret = x_decide_secret,
    .stage_done = x_stage_done,
};

/* ---- the provider ---- */

static int ext_start(void *state, km_sctx_t *c) {
  km__ext_t *x = state;
  km_stage_run_t *run = km_xcalloc(1, sizeof(*run));
  run->c = c;
  const km_target_t *t = c->t;
  run->set = (km_plugin_settings_t){
      .struct_size = sizeof(run->set),
      .account = t->account,
      .account_id = t->account_id,
      .region = t->region,
      .instance_id = t->instance_id,
      .instance_type =
          t->instance_type == KM_INV_TYPE_HARDWARE ? "hardware" : "software",
      .run_mode = c->plan ? "plan" : "run",
      .driver = c->sim ? "sim" : "console",
      .run_id = t->run_id,
  };
  run->next = x->runs;
  x->runs = run;
  int rc = x->d->start(x->pstate, c->stage, run);
  /* A refused start never ends the context: the handle is spent. */
  if (rc < 0) run->done = true;
  return rc;
}

km__ext_t *km__ext_new(const km_plugin_t *d, void *pstate) {
  km__ext_t *x = km_xcalloc(1, sizeof(*x));
  x->d = d;
  x->pstate = pstate;
  x->ops = (km_stage_ops_t){.name = d->name,
                            .version = d->version,
                            .stages = d->stages,
                            .start = ext_start};
  return x;
}

const km_stage_ops_t *km__ext_ops(km__ext_t *x) {
  return &x->ops;
}

void km__ext_free(km__ext_t *x) {
  while (x->runs != NULL) {
    km_stage_run_t *r = x->runs;
    x->runs = r->next;
    free(r);
  }
  free(x); /* the plugin's fini runs in km_plugin_set_free */
}
