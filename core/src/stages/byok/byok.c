/* The `byok` stage: migration material for HSM BYOK keys (docs/byok.md,
 * "The byok stage"; seed, "HSM BYOK migration").
 *
 * prepare  for every key the rules left as needs_byok (and select.byok.keys
 *          selects, or all of them when that list is empty): refuse early,
 *          with a per-key failure naming the fix, what cannot work (no
 *          select.byok, a destination that is not hardware, a region outside
 *          mainland China, a material_expiry in the past, a missing,
 *          ambiguous, unfitting or group/world-readable material file);
 *          keep material the journal says was imported less than 20 days ago
 *          (it lives 21) unless a batch failed the key since; otherwise
 *          GetParametersForImport (RSA_2048, the manifest's algorithm), wrap
 *          the material (km_byok_wrap: a fresh AES-256 ESK under the RSA
 *          public key, the material under the ESK) and ImportKeyMaterial.
 *          A key whose material is in place becomes pending (the migrate
 *          stage batches it); a key that could not get it becomes failed
 *          and is never batched.  The token and its public key are kept in
 *          memory as a pair and reused for 24 h (the provider's run-wide
 *          state); the journal only learns
 *          when a token expires (byok_token) and when material was imported
 *          (byok_imported).
 * restore  after the migration, a key the console refused with one of the
 *          two BYOK messages gets the action in its reason: the next
 *          attempt (--rerun-failed) imports its material again.
 *
 * Select.byok is read from the typed settings (c->t->byok), the journal
 * from kp_records, and every decision goes into the pipeline's model in
 * place (c->inv).
 *
 * Key material and import tokens never reach a log line, the journal, the
 * model, the report or an error text; buffers that held them are
 * cleansed.  Per-key problems never fail the stage: other keys and the
 * secrets still move. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "byok.h"
#include "model/rules.h"
#include "util/util.h"

#define BYOK_VERSION "1.0.0"
#define BYOK_INFLIGHT 4

static const char *const msg_not_imported =
    "current hardware BYOK key was not imported for migration";
static const char *const msg_expired =
    "current hardware BYOK key material is expired, please reimport";

/* Run-wide: the import parameters of every pipeline's keys. */
typedef struct state_s {
  byok_toks_t toks;
} state_t;

typedef struct prep_s {
  state_t *s;
  byok_cfg_t cfg;
  byok_hists_t hists;
  int64_t now;
  size_t imported, kept, failed, skipped, reused;
} prep_t;

/* One key's import. */
typedef struct kjob_s {
  const char *id;
  const char *spec;
  const char *path; /* material file */
  const char *pipe_key;
  bool raw;
  bool retried; /* a new token after ExpiredImportToken / InvalidImportToken */
} kjob_t;

/* ---- per-key decisions ---- */

static void key_decide(km_sctx_t *r, const char *id, km_verdict_t v,
                       const char *rule, const char *code, const char *rid,
                       const char *fmt, ...) KM_PRINTF(7, 8);

static void key_decide(km_sctx_t *r, const char *id, km_verdict_t v,
                       const char *rule, const char *code, const char *rid,
                       const char *fmt, ...) {
  prep_t *pc = r->ud;
  char why[800];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(why, sizeof(why), fmt, ap);
  va_end(ap);
  km_inv_key_t *k = km_inv_find_key(r->inv, id);
  if (k != NULL) {
    km_inv_key_decide(k, v, rule, why);
    if (v == KM_VERDICT_FAILED) {
      km_inv_set(&k->fail_code, code);
      km_inv_set(&k->fail_request_id, rid);
    }
  }
  /* The verdict is the outcome: the report reads it from the model. */
  if (v == KM_VERDICT_FAILED) {
    pc->failed++;
    kp_log(r, KM_LOG_ERROR, "byok: %s", why);
  } else if (v == KM_VERDICT_SKIPPED) {
    pc->skipped++;
    kp_log(r, KM_LOG_WARN, "byok: %s", why);
  } else {
    kp_log(r, KM_LOG_INFO, "byok: %s", why);
  }
}

static void call_failed(km_sctx_t *r, kjob_t *kj, const char *action,
                        const kp_res_t *res, const char *fix) {
  char buf[600];
  key_decide(r, kj->id, KM_VERDICT_FAILED, "byok.import_failed",
             kp_res_code(res), res->request_id,
             "HSM BYOK key %s: %s failed: %s; %s", kj->id, action,
             kp_res_text(res, buf, sizeof(buf)), fix);
}

/* ---- GetParametersForImport, wrap, ImportKeyMaterial ---- */

static void get_params(km_sctx_t *r, kjob_t *kj);

static int journal_rec(km_sctx_t *r, json_t *rec) {
  return kp_journal(r, rec);
}

static void on_import(km_sctx_t *r, const kp_res_t *res, void *ud) {
  kjob_t *kj = ud;
  prep_t *pc = r->ud;
  const char *code = kp_res_code(res);
  if (res->status < 0 && !kj->retried &&
      (kp_streq(code, "ExpiredImportToken") ||
       kp_streq(code, "InvalidImportToken"))) {
    /* The pair is no longer good (24 h passed on the service's clock, or
     * the service forgot it): a new pair, once. */
    kp_log(r, KM_LOG_WARN,
           "byok: key %s: ImportKeyMaterial answered %s; getting new "
           "import parameters",
           kj->id, code);
    byok_toks_drop(&pc->s->toks, kj->pipe_key);
    kj->retried = true;
    get_params(r, kj);
    return;
  }
  if (res->status < 0) {
    char fix[600];
    if (kp_streq(code, "InvalidKeyMaterial"))
      snprintf(fix, sizeof(fix),
               "the material in %s is not this key's: a re-import must be the "
               "same material as the key's original import; put that material "
               "in the file and run again",
               kj->path);
    else
      snprintf(fix, sizeof(fix),
               "fix the cause and run again, or import the wrapped material in "
               "the KMS 1.0 console (Migration Tool > Unmigrated HSM BYOKs > "
               "Import Wrapped Key Material)");
    call_failed(r, kj, "ImportKeyMaterial", res, fix);
    return;
  }
  char at[21], exp[21] = "never";
  km_iso8601(pc->now, at);
  if (pc->cfg.expiry != 0) km_iso8601(pc->cfg.expiry, exp);
  if (journal_rec(r, json_pack("{s:s, s:s, s:s, s:s, s:s}", "type",
                               "byok_imported", "id", kj->id, "at", at,
                               "material_expiry", exp, "request_id",
                               res->request_id)) < 0)
    return;
  pc->imported++;
  char until[21];
  km_iso8601(pc->now + BYOK_MATERIAL_TTL, until);
  key_decide(r, kj->id, KM_VERDICT_PENDING, "byok.imported", NULL, NULL,
             "HSM BYOK key %s: migration material imported (valid until about "
             "%s; key material expiry %s); it moves with its batch",
             kj->id, until, exp);
}

static void do_import(km_sctx_t *r, kjob_t *kj, const byok_tok_t *t) {
  prep_t *pc = r->ud;
  km_err_t err;
  memset(&err, 0, sizeof(err));
  km_byok_buf_t mat, wrapped;
  memset(&wrapped, 0, sizeof(wrapped));
  int rc = byok_material_read(kj->path, kj->raw, kj->spec, &mat, &err);
  if (rc == 0)
    rc = km_byok_wrap(t->pubkey, strlen(t->pubkey), mat.data, mat.len,
                      pc->cfg.alg, &wrapped, &err);
  km_byok_buf_free(&mat);
  if (rc < 0) {
    km_byok_buf_free(&wrapped);
    key_decide(r, kj->id, KM_VERDICT_FAILED, "byok.wrap_failed",
               km_err_name(rc), NULL,
               "HSM BYOK key %s: its material could not be wrapped: %s", kj->id,
               err.text);
    return;
  }
  char *b64 = km_byok_b64_encode(wrapped.data, wrapped.len);
  km_byok_buf_free(&wrapped);
  char expiry[24];
  snprintf(expiry, sizeof(expiry), "%lld", (long long)pc->cfg.expiry);
  const char *params[] = {
      "KeyId",       kj->id,   "EncryptedKeyMaterial",  b64,
      "ImportToken", t->token, "KeyMaterialExpireUnix", expiry};
  kp_call(r, "ImportKeyMaterial", params, 4, NULL, on_import, kj);
  OPENSSL_cleanse(b64, strlen(b64));
  free(b64);
}

static void on_params(km_sctx_t *r, const kp_res_t *res, void *ud) {
  kjob_t *kj = ud;
  prep_t *pc = r->ud;
  if (res->status < 0) {
    call_failed(r, kj, "GetParametersForImport", res,
                "check that the key is Enabled and that the caller may call "
                "GetParametersForImport, then run again");
    return;
  }
  const char *token =
      json_string_value(json_object_get(res->body, "ImportToken"));
  const char *pub = json_string_value(json_object_get(res->body, "PublicKey"));
  const char *texp =
      json_string_value(json_object_get(res->body, "TokenExpireTime"));
  if (token == NULL || pub == NULL || token[0] == '\0' || pub[0] == '\0') {
    key_decide(r, kj->id, KM_VERDICT_FAILED, "byok.import_failed",
               km_err_name(KM_EPARSE), res->request_id,
               "HSM BYOK key %s: GetParametersForImport (RequestId %s) "
               "answered without ImportToken or PublicKey",
               kj->id, res->request_id);
    return;
  }
  /* Our clock decides, bounded by the service's answer: a pair is used
   * for at most 24 h after we got it. */
  int64_t expires = (int64_t)time(NULL) + BYOK_TOKEN_TTL, sexp;
  if (texp != NULL && km_parse_iso8601(texp, &sexp) == 0 && sexp < expires)
    expires = sexp;
  char exp[21];
  km_iso8601(expires, exp);
  if (journal_rec(r, json_pack("{s:s, s:s, s:s, s:s, s:s}", "type",
                               "byok_token", "id", kj->id, "token_expires", exp,
                               "algorithm", km_byok_alg_name(pc->cfg.alg),
                               "request_id", res->request_id)) < 0)
    return;
  const byok_tok_t *t = byok_toks_put(&pc->s->toks, kj->pipe_key, token, pub,
                                      pc->cfg.alg, expires);
  do_import(r, kj, t);
}

static void get_params(km_sctx_t *r, kjob_t *kj) {
  prep_t *pc = r->ud;
  const byok_tok_t *t =
      byok_toks_get(&pc->s->toks, kj->pipe_key, pc->cfg.alg, pc->now);
  if (t != NULL) {
    char exp[21];
    km_iso8601(t->expires, exp);
    kp_log(r, KM_LOG_INFO,
           "byok: key %s: reusing this run's import token and its "
           "public key (the pair expires %s)",
           kj->id, exp);
    pc->reused++;
    do_import(r, kj, t);
    return;
  }
  const char *params[] = {"KeyId",
                          kj->id,
                          "WrappingKeySpec",
                          "RSA_2048",
                          "WrappingAlgorithm",
                          km_byok_alg_name(pc->cfg.alg)};
  kp_call(r, "GetParametersForImport", params, 3, NULL, on_params, kj);
}

/* ---- prepare ---- */

static void prep_free(void *ud) {
  prep_t *pc = ud;
  byok_cfg_free(&pc->cfg);
  byok_hists_free(&pc->hists);
  free(pc);
}

static void prepare_drained(km_sctx_t *r) {
  prep_t *pc = r->ud;
  if (pc->imported + pc->kept + pc->failed + pc->skipped > 0)
    kp_log(r, KM_LOG_INFO,
           "byok: %zu key(s) imported (%zu with a reused token), %zu "
           "kept valid material, %zu failed, %zu not selected",
           pc->imported, pc->reused, pc->kept, pc->failed, pc->skipped);
  kp_finish(r);
}

/* The checks that need no call; true when the key may be imported. */
static bool key_ready(km_sctx_t *r, const km_inv_key_t *k, char **path,
                      bool *raw) {
  prep_t *pc = r->ud;
  const byok_cfg_t *c = &pc->cfg;
  const char *id = k->key_id;
  km_verdict_t F = KM_VERDICT_FAILED;
  if (!c->present) {
    key_decide(r, id, F, "byok.not_configured", "BYOK.NotConfigured", NULL,
               "HSM BYOK key %s needs migration material: add select.byok "
               "with material_dir to the manifest (docs/byok.md), or leave "
               "the key out of select.keys",
               id);
    return false;
  }
  if (c->error[0]) {
    key_decide(r, id, F, "byok.settings", "BYOK.Settings", NULL,
               "HSM BYOK key %s: select.byok: %s", id, c->error);
    return false;
  }
  if (r->inv->instance_type != KM_INV_TYPE_HARDWARE) {
    key_decide(r, id, F, "byok.destination", "BYOK.NotHardware", NULL,
               "HSM BYOK key %s can only move to a hardware instance, and "
               "%s is not one; set a hardware instance for %s",
               id,
               r->inv->instance_id ? r->inv->instance_id
                                   : "the "
                                     "destination",
               r->inv->region);
    return false;
  }
  if (!km_region_is_mainland(r->inv->region)) {
    key_decide(r, id, F, "byok.region", "BYOK.NotMainland", NULL,
               "HSM BYOK key %s is in %s; HSM BYOK migration is supported "
               "only in mainland China regions (cn-* except cn-hongkong)",
               id, r->inv->region);
    return false;
  }
  if (c->material_dir == NULL) {
    key_decide(r, id, F, "byok.settings", "BYOK.Settings", NULL,
               "HSM BYOK key %s: select.byok has no material_dir", id);
    return false;
  }
  if (c->expiry != 0 && c->expiry <= pc->now) {
    char when[21];
    km_iso8601(c->expiry, when);
    key_decide(r, id, F, "byok.expiry_past", "BYOK.ExpiryInPast", NULL,
               "HSM BYOK key %s: select.byok.material_expiry (%s) is in the "
               "past; set a later date or `never`",
               id, when);
    return false;
  }
  km_err_t err;
  memset(&err, 0, sizeof(err));
  int rc = byok_material_find(c->material_dir, id, path, raw, &err);
  km_byok_buf_t mat;
  if (rc == 0) rc = byok_material_read(*path, *raw, k->key_spec, &mat, &err);
  if (rc < 0) {
    free(*path);
    *path = NULL;
    key_decide(r, id, F, "byok.material", km_err_name(rc), NULL,
               "HSM BYOK key %s: %s", id, err.text);
    return false;
  }
  km_byok_buf_free(&mat);
  return true;
}

static void prepare(km_sctx_t *r, state_t *s) {
  prep_t *pc = km_xcalloc(1, sizeof(*pc));
  pc->s = s;
  pc->now = (int64_t)time(NULL);
  r->ud = pc;
  r->free_ud = prep_free;
  r->keep_going = true; /* one key's failure does not stop the others */
  r->on_drain = prepare_drained;
  kp_set_inflight(r, BYOK_INFLIGHT);
  byok_cfg_load(r->t->byok, &pc->cfg);
  byok_hists_load(r, &pc->hists);
  const char *acct = r->t->account;
  kp_hold(r);
  for (size_t i = 0; i < r->inv->nkeys; i++) {
    const km_inv_key_t *k = &r->inv->keys[i];
    if (k->verdict != KM_VERDICT_NEEDS_BYOK || k->key_id == NULL) continue;
    const char *id = kp_keep(r, k->key_id);
    if (pc->cfg.present && !byok_cfg_selects(&pc->cfg, id)) {
      key_decide(r, id, KM_VERDICT_SKIPPED, "byok.not_selected", NULL, NULL,
                 "HSM BYOK key %s is not in select.byok.keys; add it there "
                 "to migrate it",
                 id);
      continue;
    }
    char *path = NULL;
    bool raw = false;
    if (!key_ready(r, k, &path, &raw)) continue;
    const byok_hist_t *h = byok_hists_find(&pc->hists, id);
    if (h != NULL && h->imported_at > 0 && !h->failed_after &&
        pc->now - h->imported_at < BYOK_REIMPORT_AFTER) {
      char at[21];
      km_iso8601(h->imported_at, at);
      pc->kept++;
      key_decide(r, id, KM_VERDICT_PENDING, "byok.material_valid", NULL, NULL,
                 "HSM BYOK key %s: migration material imported at %s is "
                 "still valid; it moves with its batch",
                 id, at);
      free(path);
      continue;
    }
    if (h != NULL && h->imported_at > 0)
      kp_log(r, KM_LOG_INFO, "byok: key %s: importing its material again (%s)",
             id,
             h->failed_after ? "a batch failed it after the last import"
                             : "the last import is 20 days old or more");
    kjob_t *kj = kp_alloc(r, sizeof(*kj));
    kj->id = id;
    kj->spec = kp_keep(r, k->key_spec);
    kj->path = kp_keep(r, path);
    kj->raw = raw;
    kj->pipe_key = kp_keepf(r, "%s\n%s\n%s", acct ? acct : "",
                            r->inv->region ? r->inv->region : "", id);
    free(path);
    get_params(r, kj);
  }
  kp_release(r);
}

/* ---- restore: the console's two BYOK refusals ---- */

static void restore(km_sctx_t *r) {
  for (size_t i = 0; i < r->inv->nkeys; i++) {
    km_inv_key_t *k = &r->inv->keys[i];
    if (k->verdict != KM_VERDICT_FAILED || k->fail_code == NULL) continue;
    bool missing = strcmp(k->fail_code, "Console.ByokNotImported") == 0;
    bool expired = strcmp(k->fail_code, "Console.ByokMaterialExpired") == 0;
    if (!missing && !expired) continue;
    if (k->reason != NULL && strstr(k->reason, "--rerun-failed") != NULL)
      continue;
    char why[900];
    snprintf(why, sizeof(why),
             "%s: the console refused HSM BYOK key %s (\"%s\"); kmsmig imports "
             "its material again on the next attempt: run `kmsmig run "
             "--run-dir <this run> --rerun-failed` (by hand: Migration Tool > "
             "Unmigrated HSM BYOKs > Import Wrapped Key Material, then "
             "Migrate)",
             expired ? "material expired" : "material not imported", k->key_id,
             expired ? msg_expired : msg_not_imported);
    km_inv_set(&k->reason, why);
    kp_log(r, KM_LOG_WARN, "ACTION: %s", why);
  }
  kp_finish(r);
}

/* ---- the operations ---- */

static int byok_init(void **state, km_err_t *err) {
  (void)err;
  *state = km_xcalloc(1, sizeof(state_t));
  return 0;
}

static void byok_fini(void *state) {
  state_t *s = state;
  if (s == NULL) return;
  byok_toks_free(&s->toks);
  free(s);
}

static int byok_start(void *state, km_sctx_t *c) {
  if (c->stage != KM_STAGE_PREPARE && c->stage != KM_STAGE_RESTORE)
    return KM_ENOTSUP;
  if (c->stage == KM_STAGE_PREPARE)
    prepare(c, state);
  else
    restore(c);
  return 0;
}

const km_stage_ops_t km_stage_byok = {
    .name = "byok",
    .version = BYOK_VERSION,
    .stages = KM_STAGE_BIT(KM_STAGE_PREPARE) | KM_STAGE_BIT(KM_STAGE_RESTORE),
    .init = byok_init,
    .fini = byok_fini,
    .start = byok_start,
};
