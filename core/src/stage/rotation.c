/* Automatic rotation off before the migration (PREPARE) and back on after it
 * (RESTORE), the same way for keys and secrets (kp_rot_kind_t names the
 * action and its id parameter).
 *
 * PREPARE, per resource that will move and whose rotation is Enabled:
 * journal rotation_off with the policy as discovered, THEN the call with
 * EnableAutomaticRotation=false, then rotation_off_done.  There is no batch
 * call (vendor procedure), so each resource is its own call; several
 * resources are in flight at once.  The journal write happens when the call
 * leaves the queue, so a failure stops the others before they are
 * journalled or changed.  A resource the journal already says is off (an
 * earlier attempt, killed) is not journalled again: that record holds the
 * original policy, and the current one reads "Disabled" because of us.
 *
 * RESTORE works from the journal alone: every rotation_off without a later
 * rotation_restored gets EnableAutomaticRotation=true with the journalled
 * RotationInterval, exactly, then rotation_restored.  A failed restore is
 * retried with a growing delay; one that still fails is reported per
 * resource with the aliyun CLI command that restores it by hand, and fails
 * the stage.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "stage/stage.h"
#include "stage/rotation.h"
#include "util/util.h"

const kp_rot_kind_t kp_rot_key = {"key", "UpdateRotationPolicy", "KeyId"};
const kp_rot_kind_t kp_rot_secret = {"secret", "UpdateSecretRotationPolicy",
                                     "SecretName"};

/* Writes and concurrency: rotation calls are writes on the key-write API
 * group; a handful in flight is plenty. */
#define ROT_INFLIGHT 8

typedef struct item_s {
  struct rot_ctx_s *c;
  const char *id;
  const char *interval;
  bool journal; /* PREPARE: write rotation_off first */
  int attempts; /* RESTORE */
} item_t;

typedef struct rot_ctx_s {
  const kp_rot_kind_t *k;
  item_t *items;
  size_t n;
  /* RESTORE: what could not be restored. */
  size_t nfailed;
  char failed_list[320];
  char first_cmd[400];
  km_err_t last_err;
} rot_ctx_t;

static void ctx_free(void *ud) {
  rot_ctx_t *c = ud;
  if (c == NULL) return;
  free(c->items);
  free(c);
}

static void finish_on_drain(km_sctx_t *r) {
  kp_finish(r);
}

/* ---- the inventory side ---- */

enum { MARK_OFF, MARK_RESTORED };

static void mark(km_sctx_t *r, const kp_rot_kind_t *k, const char *id,
                 int what) {
  if (r->inv == NULL) return;
  if (strcmp(k->kind, "key") == 0) {
    km_inv_key_t *x = km_inv_find_key(r->inv, id);
    if (x == NULL) return;
    if (what == MARK_OFF) x->rotation_off = true;
    if (what == MARK_RESTORED) x->rotation_off = x->rotation_restored = true;
  } else {
    km_inv_secret_t *x = km_inv_find_secret(r->inv, id);
    if (x == NULL) return;
    if (what == MARK_OFF) x->rotation_off = true;
    if (what == MARK_RESTORED) x->rotation_off = x->rotation_restored = true;
  }
}

/* The resources whose rotation PREPARE turns off: those this run moves,
 * with rotation Enabled (user keys only: service keys are not ours). */
static size_t candidates(const km_inv_t *inv, const kp_rot_kind_t *k,
                         const char **ids, const char **intervals) {
  size_t n = 0;
  if (strcmp(k->kind, "key") == 0) {
    for (size_t i = 0; i < inv->nkeys; i++) {
      const km_inv_key_t *x = &inv->keys[i];
      if (x->creator != KM_CREATOR_USER || !km_verdict_moves(x->verdict) ||
          !kp_streq(x->automatic_rotation, "Enabled"))
        continue;
      if (ids != NULL) {
        ids[n] = x->key_id;
        intervals[n] = x->rotation_interval;
      }
      n++;
    }
  } else {
    for (size_t i = 0; i < inv->nsecrets; i++) {
      const km_inv_secret_t *x = &inv->secrets[i];
      if (!km_verdict_moves(x->verdict) ||
          !kp_streq(x->automatic_rotation, "Enabled"))
        continue;
      if (ids != NULL) {
        ids[n] = x->secret_name;
        intervals[n] = x->rotation_interval;
      }
      n++;
    }
  }
  return n;
}

/* ---- PREPARE ---- */

static int before_off(km_sctx_t *r, void *ud) {
  item_t *it = ud;
  if (!it->journal) return 0;
  json_t *rec =
      json_pack("{s:s, s:s, s:s, s:s, s:s}", "type", "rotation_off", "kind",
                it->c->k->kind, "id", it->id, "automatic_rotation", "Enabled",
                "rotation_interval", it->interval);
  return kp_journal(r, rec);
}

static void on_off(km_sctx_t *r, const kp_res_t *res, void *ud) {
  item_t *it = ud;
  const kp_rot_kind_t *k = it->c->k;
  if (res->status < 0) {
    char why[700], buf[600];
    snprintf(why, sizeof(why),
             "%s %s: automatic rotation could not be turned off: %s; the "
             "%s was not migrated",
             k->kind, it->id, kp_res_text(res, buf, sizeof(buf)), k->kind);
    kp_resource_failed(r, k->kind, it->id, "run.rotation_off_failed", why,
                       kp_res_code(res), res->request_id);
    kp_fail_call(r, k->action, it->id, res);
    return;
  }
  mark(r, k, it->id, MARK_OFF);
  json_t *rec =
      json_pack("{s:s, s:s, s:s, s:s}", "type", "rotation_off_done", "kind",
                k->kind, "id", it->id, "request_id", res->request_id);
  kp_journal(r, rec);
  kp_log(r, KM_LOG_INFO, "%s %s: automatic rotation turned off", k->kind,
         it->id);
}

/* The `rotation` hook decides, per resource, whether rotation is turned off
 * (docs/hooks.md; the default hook: off when on).  A resource an earlier
 * attempt already turned off skips the hook: that decision is journalled. */
static void send_off(km_sctx_t *r, item_t *it) {
  const kp_rot_kind_t *k = it->c->k;
  const char *params[] = {k->id_param, it->id, "EnableAutomaticRotation",
                          "false"};
  kp_call(r, k->action, params, 2, before_off, on_off, it);
}

static void on_hook_before(km_sctx_t *r, int status, const json_t *out,
                           const km_err_t *err, void *ud) {
  item_t *it = ud;
  if (status < 0) {
    kp_fail(r, status, err, "rotation hook for %s %s", it->c->k->kind, it->id);
    return;
  }
  if (!json_is_true(json_object_get(out, "change"))) {
    kp_log(r, KM_LOG_WARN,
           "%s %s: the rotation hook keeps automatic rotation on; the "
           "console refuses to migrate it until rotation is off",
           it->c->k->kind, it->id);
    return;
  }
  send_off(r, it);
}

static void start_off(km_sctx_t *r, item_t *it) {
  if (!it->journal) {
    send_off(r, it);
    return;
  }
  json_t *in = json_pack("{s:s, s:s, s:s, s:b, s:s}", "kind", it->c->k->kind,
                         "id", it->id, "phase", "before", "automatic_rotation",
                         1, "rotation_interval", it->interval);
  if (kp_hook(r, "rotation", in, on_hook_before, it) == KM_ENOENT)
    send_off(r, it);
}

static void prepare_now(km_sctx_t *r, const kp_rot_kind_t *k);

/* A scheduled migration (migrate.when): rotation goes off rotation_lead
 * before that time, not when the run reaches PREPARE, so no key sits
 * without rotation for hours.  The wait ticks once a second so that
 * SIGINT/SIGTERM ends it at once (kp_stopping): nothing is off yet, and
 * the failure sends the pipeline to RESTORE, which has nothing to do. */
#define WAIT_TICK_MS 1000

static int64_t rotation_at(const km_sctx_t *r) {
  if (r->t->when <= 0) return 0;
  return r->t->when - (r->t->rotation_lead_s > 0 ? r->t->rotation_lead_s : 0);
}

static void wait_tick(km_sctx_t *r, void *ud) {
  const kp_rot_kind_t *k = ud;
  int64_t left = rotation_at(r) - (int64_t)time(NULL);
  if (kp_stopping(r)) {
    char at[21];
    km_iso8601(rotation_at(r), at);
    kp_fail(r, KM_ECANCELED, NULL,
            "interrupted while waiting for the scheduled migration "
            "(rotation would go off at %s); nothing was turned off",
            at);
    return; /* drained: finish_on_drain ends the stage */
  }
  if (left > 0) {
    kp_timer(r,
             left * 1000 < WAIT_TICK_MS ? (uint64_t)left * 1000 : WAIT_TICK_MS,
             wait_tick, ud);
    return;
  }
  prepare_now(r, k);
}

void kp_rotation_prepare(km_sctx_t *r, const kp_rot_kind_t *k) {
  r->on_drain = finish_on_drain;
  kp_set_inflight(r, ROT_INFLIGHT);
  if (r->inv == NULL || r->plan) {
    /* Plan mode never reaches PREPARE; if it did, nothing may change. */
    kp_finish(r);
    return;
  }
  int64_t at = rotation_at(r);
  if (at > (int64_t)time(NULL) && candidates(r->inv, k, NULL, NULL) > 0) {
    /* The worklist shows when to come back (run/worklist.c). */
    if (strcmp(k->kind, "key") == 0 ||
        candidates(r->inv, &kp_rot_key, NULL, NULL) == 0) {
      char when[21], off[21];
      km_iso8601(r->t->when, when);
      km_iso8601(at, off);
      json_t *rec = json_pack(
          "{s:s, s:s, s:s, s:s, s:s?, s:s?}", "type", "rotation_wait", "when",
          when, "rotation_at", off, "driver", r->sim ? "sim" : "console",
          "instance", r->t->instance_id, "account_id", r->t->account_id);
      if (kp_journal(r, rec) < 0) {
        kp_finish(r);
        return;
      }
      kp_log(r, KM_LOG_INFO,
             "migration scheduled for %s: automatic rotation goes off at %s "
             "(migrate.rotation_lead)",
             when, off);
    }
    kp_timer(r, 0, wait_tick, (void *)k);
    return;
  }
  prepare_now(r, k);
}

static void prepare_now(km_sctx_t *r, const kp_rot_kind_t *k) {
  kp_rots_t rots;
  kp_rots_load(r, k->kind, &rots);
  /* Turned off by an earlier attempt: the report must count them. */
  for (size_t i = 0; i < rots.n; i++)
    if (rots.v[i].open) mark(r, k, rots.v[i].id, MARK_OFF);

  rot_ctx_t *c = km_xcalloc(1, sizeof(*c));
  c->k = k;
  r->ud = c;
  r->free_ud = ctx_free;
  size_t n = candidates(r->inv, k, NULL, NULL);
  const char **ids = km_xcalloc(n + 1, sizeof(*ids));
  const char **ivs = km_xcalloc(n + 1, sizeof(*ivs));
  candidates(r->inv, k, ids, ivs);
  c->items = km_xcalloc(n + 1, sizeof(*c->items));
  /* Everything is checked before anything changes: a policy we could not
   * put back exactly is not turned off at all. */
  for (size_t i = 0; i < n; i++) {
    kp_rot_t *prev = kp_rots_find(&rots, ids[i]);
    item_t *it = &c->items[c->n++];
    it->c = c;
    it->id = kp_keep(r, ids[i]);
    it->journal = prev == NULL || !prev->open;
    it->interval = kp_keep(r, it->journal ? ivs[i] : prev->interval);
    if (it->interval == NULL) {
      char why[400];
      snprintf(why, sizeof(why),
               "%s %s: automatic rotation is Enabled but no RotationInterval "
               "was returned, so it could not be restored exactly; turn it "
               "off by hand and run again",
               k->kind, it->id);
      kp_resource_failed(r, k->kind, it->id, "run.rotation_off_failed", why,
                         km_err_name(KM_EINVAL), NULL);
      kp_fail(r, KM_EINVAL, NULL, "%s", why);
    }
  }
  free(ids);
  free(ivs);
  kp_rots_free(&rots);
  kp_hold(r);
  if (r->status == 0) {
    for (size_t i = 0; i < c->n; i++) {
      item_t *it = &c->items[i];
      if (!it->journal)
        kp_log(r, KM_LOG_INFO,
               "%s %s: rotation_off already journalled by an earlier "
               "attempt (original interval %s); turning it off again",
               k->kind, it->id, it->interval);
      start_off(r, it);
    }
  }
  kp_release(r);
}

/* ---- RESTORE ---- */

static void send_restore(km_sctx_t *r, item_t *it);

static void retry_restore(km_sctx_t *r, void *ud) {
  send_restore(r, ud);
}

static void restore_failed(km_sctx_t *r, item_t *it, const kp_res_t *res) {
  rot_ctx_t *c = it->c;
  const kp_rot_kind_t *k = c->k;
  const char *region = r->t->region;
  char cmd[400], why[1200], buf[600];
  snprintf(cmd, sizeof(cmd),
           "aliyun kms %s --region %s --%s %s --EnableAutomaticRotation true "
           "--RotationInterval %s",
           k->action, region ? region : "<region>", k->id_param, it->id,
           it->interval ? it->interval : "<interval>");
  if (res != NULL)
    kp_res_text(res, buf, sizeof(buf));
  else
    snprintf(buf, sizeof(buf), "the journal holds no interval to restore");
  snprintf(why, sizeof(why),
           "%s %s: automatic rotation was turned off by kmsmig and could not "
           "be turned back on after %d attempt(s): %s; restore it by hand: %s",
           k->kind, it->id, it->attempts, buf, cmd);
  /* The summary prints it (with the command); the log file keeps it. */
  kp_log(r, KM_LOG_INFO, "%s", why);
  /* The resource itself needs the operator: the report names it, with the
   * command; --rerun-failed tries the restore again from the journal. */
  kp_resource_failed(r, k->kind, it->id, "run.rotation_restore_failed", why,
                     res != NULL ? kp_res_code(res) : km_err_name(KM_EJOURNAL),
                     res != NULL ? res->request_id : NULL);
  if (c->nfailed == 0) snprintf(c->first_cmd, sizeof(c->first_cmd), "%s", cmd);
  size_t len = strlen(c->failed_list);
  snprintf(c->failed_list + len, sizeof(c->failed_list) - len, "%s%s (%s)",
           len ? ", " : "", it->id,
           res != NULL ? kp_res_code(res) : "no interval");
  c->nfailed++;
  if (res != NULL && res->err != NULL) c->last_err = *res->err;
  c->last_err.code = res != NULL ? res->status : KM_EJOURNAL;
}

static void on_restore(km_sctx_t *r, const kp_res_t *res, void *ud) {
  item_t *it = ud;
  const kp_rot_kind_t *k = it->c->k;
  if (res->status < 0) {
    if (it->attempts < KP_RESTORE_ATTEMPTS) {
      uint64_t delay = (uint64_t)KP_RESTORE_DELAY_MS << (it->attempts - 1);
      char buf[600];
      kp_log(r, KM_LOG_WARN,
             "%s %s: restoring rotation failed (%s); attempt %d of %d "
             "in %llu ms",
             k->kind, it->id, kp_res_text(res, buf, sizeof(buf)),
             it->attempts + 1, KP_RESTORE_ATTEMPTS, (unsigned long long)delay);
      kp_timer(r, delay, retry_restore, it);
      return;
    }
    restore_failed(r, it, res);
    return;
  }
  mark(r, k, it->id, MARK_RESTORED);
  json_t *rec =
      json_pack("{s:s, s:s, s:s, s:s, s:s}", "type", "rotation_restored",
                "kind", k->kind, "id", it->id, "rotation_interval",
                it->interval, "request_id", res->request_id);
  kp_journal(r, rec);
  kp_log(r, KM_LOG_INFO, "%s %s: automatic rotation restored (interval %s)",
         k->kind, it->id, it->interval);
}

static void send_restore(km_sctx_t *r, item_t *it) {
  const kp_rot_kind_t *k = it->c->k;
  const char *params[] = {
      k->id_param,        it->id,      "EnableAutomaticRotation", "true",
      "RotationInterval", it->interval};
  it->attempts++;
  kp_call(r, k->action, params, 3, NULL, on_restore, it);
}

static void restore_drained(km_sctx_t *r) {
  rot_ctx_t *c = r->ud;
  if (c->nfailed > 0) {
    km_err_t e = c->last_err;
    e.text[0] = '\0';
    kp_fail(r, c->last_err.code < 0 ? c->last_err.code : KM_ECLOUD, &e,
            "automatic rotation of %zu %s(s) was not restored: %s; restore "
            "each by hand (the report has every command), e.g. %s",
            c->nfailed, c->k->kind, c->failed_list, c->first_cmd);
  }
  kp_finish(r);
}

/* The `rotation` hook, phase "after", gets the journalled policy and says
 * what to restore (the default hook: exactly what was there). */
static void on_hook_after(km_sctx_t *r, int status, const json_t *out,
                          const km_err_t *err, void *ud) {
  item_t *it = ud;
  if (status < 0) {
    /* A failing hook must not leave rotation off: restore as journalled. */
    kp_log(r, KM_LOG_ERROR,
           "%s %s: rotation hook failed (%s); restoring the journalled "
           "policy",
           it->c->k->kind, it->id, err != NULL ? err->text : "?");
    send_restore(r, it);
    return;
  }
  const char *iv = json_string_value(json_object_get(out, "rotation_interval"));
  if (!json_is_true(json_object_get(out, "change"))) {
    kp_log(r, KM_LOG_WARN,
           "%s %s: the rotation hook leaves automatic rotation off",
           it->c->k->kind, it->id);
    mark(r, it->c->k, it->id, MARK_RESTORED);
    json_t *rec =
        json_pack("{s:s, s:s, s:s, s:s, s:b}", "type", "rotation_restored",
                  "kind", it->c->k->kind, "id", it->id, "rotation_interval",
                  it->interval, "left_off_by_hook", 1);
    kp_journal(r, rec);
    return;
  }
  if (iv != NULL && iv[0] != '\0' && !kp_streq(iv, it->interval)) {
    kp_log(r, KM_LOG_INFO,
           "%s %s: the rotation hook restores interval %s (was %s)",
           it->c->k->kind, it->id, iv, it->interval);
    it->interval = kp_keep(r, iv);
  }
  send_restore(r, it);
}

static void start_restore(km_sctx_t *r, item_t *it) {
  json_t *in = json_pack("{s:s, s:s, s:s, s:b, s:s}", "kind", it->c->k->kind,
                         "id", it->id, "phase", "after", "automatic_rotation",
                         1, "rotation_interval", it->interval);
  if (kp_hook(r, "rotation", in, on_hook_after, it) == KM_ENOENT)
    send_restore(r, it);
}

void kp_rotation_restore(km_sctx_t *r, const kp_rot_kind_t *k) {
  r->on_drain = restore_drained;
  r->keep_going = true; /* every restore is attempted whatever happens */
  kp_set_inflight(r, ROT_INFLIGHT);
  rot_ctx_t *c = km_xcalloc(1, sizeof(*c));
  c->k = k;
  r->ud = c;
  r->free_ud = ctx_free;
  kp_rots_t rots;
  kp_rots_load(r, k->kind, &rots);
  c->items = km_xcalloc(rots.n + 1, sizeof(*c->items));
  kp_hold(r);
  for (size_t i = 0; i < rots.n; i++) {
    kp_rot_t *x = &rots.v[i];
    if (!x->open) {
      mark(r, k, x->id, MARK_RESTORED);
      continue;
    }
    mark(r, k, x->id, MARK_OFF);
    item_t *it = &c->items[c->n++];
    it->c = c;
    it->id = kp_keep(r, x->id);
    it->interval = kp_keep(r, x->interval);
    if (it->interval == NULL || !kp_streq(x->automatic_rotation, "Enabled")) {
      restore_failed(r, it, NULL);
      continue;
    }
    start_restore(r, it);
  }
  kp_rots_free(&rots);
  kp_release(r);
}
