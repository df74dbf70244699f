/* report.json (see report.h and docs/report.md).
 *
 * Totals are always recomputed from the "pipelines" array of the JSON
 * itself, never kept on the side, so a merged report (shards) and a single
 * run's report are computed the same way and cannot disagree with their
 * own details.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/report.h"
#include "model/rules.h"
#include "util/util.h"

/* ---- one pipeline ---- */

typedef struct {
  json_t *migrated, *skipped, *failed, *blocked, *not_run;
  json_int_t done;
} bucket_t;

static void bucket_init(bucket_t *b) {
  b->migrated = json_array();
  b->skipped = json_array();
  b->failed = json_array();
  b->blocked = json_array();
  b->not_run = json_array();
  b->done = 0;
}

static json_t *bucket_json(bucket_t *b) {
  return json_pack("{s:o, s:I, s:o, s:o, s:o, s:o}", "migrated", b->migrated,
                   "already_migrated", b->done, "skipped", b->skipped, "failed",
                   b->failed, "blocked", b->blocked, "not_run", b->not_run);
}

static void place(bucket_t *b, const char *id, km_verdict_t v, const char *rule,
                  const char *reason, const char *code, const char *rid) {
  switch (v) {
  case KM_VERDICT_MIGRATED:
    json_array_append_new(b->migrated, json_string(id));
    break;
  case KM_VERDICT_DONE:
    b->done++;
    break;
  case KM_VERDICT_SKIPPED:
    json_array_append_new(b->skipped,
                          json_pack("{s:s, s:s?, s:s?}", "id", id, "rule", rule,
                                    "reason", reason));
    break;
  case KM_VERDICT_FAILED:
    json_array_append_new(b->failed,
                          json_pack("{s:s, s:s?, s:s?, s:s?}", "id", id, "code",
                                    code, "request_id", rid, "reason", reason));
    break;
  case KM_VERDICT_BLOCKED:
    json_array_append_new(b->blocked,
                          json_pack("{s:s, s:s?, s:s?}", "id", id, "rule", rule,
                                    "reason", reason));
    break;
  default: /* pending, needs_byok: the run never got to them */
    json_array_append_new(b->not_run, json_string(id));
    break;
  }
}

/* "migrated" only when a verify proved it: moved by this run but never
 * checked (verify did not run, or stopped) is reported failed, not verified,
 * with what to check. */
#define NOT_VERIFIED                                                           \
  "moved by this run but not verified (verify did not check it); check it "    \
  "in the KMS console, then run again with --run-dir to verify"

static bool unverified(km_verdict_t v, bool verified) {
  return v == KM_VERDICT_MIGRATED && !verified;
}

/* The stage timeline of one pipeline (spans: KM_STAGE__COUNT of them, or
 * NULL), times with milliseconds. */
static void ms_iso(int64_t ms, char out[32]) {
  char b[21];
  km_iso8601(ms / 1000, b);
  snprintf(out, 32, "%.19s.%03dZ", b, (int)(ms % 1000));
}

/* Pipeline i's spans (meta's array, or spans_of into buf), or NULL. */
static const km_report_span_t *span_at(const km_report_meta_t *meta, size_t i,
                                       km_report_span_t *buf) {
  if (meta->spans != NULL) return &meta->spans[i * KM_STAGE__COUNT];
  if (meta->spans_of == NULL) return NULL;
  memset(buf, 0, KM_STAGE__COUNT * sizeof(*buf));
  meta->spans_of(meta->spans_ud, i, buf);
  return buf;
}

static json_t *stages_json(const km_report_span_t *spans) {
  json_t *a = json_array();
  for (size_t i = 0; spans != NULL && i < KM_STAGE__COUNT; i++) {
    const km_report_span_t *x = &spans[i];
    if (x->stage == NULL || x->begin_ms <= 0) continue;
    char b[32], e[32];
    ms_iso(x->begin_ms, b);
    ms_iso(x->end_ms, e);
    json_array_append_new(
        a, json_pack("{s:s, s:s, s:s?, s:o, s:s}", "stage", x->stage, "start",
                     b, "end", x->end_ms > 0 ? e : NULL, "duration_s",
                     x->end_ms > 0
                         ? json_real((double)(x->end_ms - x->begin_ms) / 1000.0)
                         : json_null(),
                     "status", x->status != NULL ? x->status : "running"));
  }
  return a;
}

/* What one resource adds to its pipeline's status. */
typedef struct {
  size_t moved, failed, blocked, not_run, left_off;
} tally_t;

static void tally(tally_t *t, km_verdict_t v, bool verified, bool off,
                  bool restored) {
  if (unverified(v, verified))
    t->failed++;
  else if (v == KM_VERDICT_MIGRATED)
    t->moved++;
  else if (v == KM_VERDICT_FAILED)
    t->failed++;
  else if (v == KM_VERDICT_BLOCKED)
    t->blocked++;
  else if (v != KM_VERDICT_DONE && v != KM_VERDICT_SKIPPED)
    t->not_run++; /* pending, needs_byok: the run never got to them */
  t->left_off += off && !restored;
}

const char *km_report_status(const km_inv_t *inv) {
  tally_t t = {0};
  for (size_t i = 0; i < inv->nkeys; i++) {
    const km_inv_key_t *x = &inv->keys[i];
    tally(&t, x->verdict, x->verified, x->rotation_off, x->rotation_restored);
  }
  for (size_t i = 0; i < inv->nsecrets; i++) {
    const km_inv_secret_t *x = &inv->secrets[i];
    tally(&t, x->verdict, x->verified, x->rotation_off, x->rotation_restored);
  }
  bool blocking_issue = false, failed_issue = false, not_started = false;
  const char *held = NULL; /* waves and windows (docs/waves.md) */
  for (size_t i = 0; i < inv->nissues; i++) {
    const char *rule = inv->issues[i].rule;
    blocking_issue |= inv->issues[i].verdict == KM_VERDICT_BLOCKED;
    not_started |= strcmp(rule, "pipeline.not_started") == 0;
    if (strcmp(rule, "pipeline.waiting_window") == 0) held = "waiting";
    if (strcmp(rule, "pipeline.held_wave") == 0) held = "held";
    /* A pipeline that failed or never started (pipeline.failed,
     * pipeline.not_started, verify.*) fails whatever its resources say. */
    failed_issue |= inv->issues[i].verdict == KM_VERDICT_FAILED;
  }
  /* Not started is not failed: nothing was tried (the tolerance stopped
   * new work, or the run was interrupted); the summary counts it apart.
   * failed: something was attempted and did not end well, or rotation was
   * left off; blocked: preflight refused and nothing moved; else ok. */
  if (not_started) return "not_started";
  if (held != NULL) return held; /* nothing was tried: not failed or blocked */
  if (failed_issue || t.failed > 0 || t.left_off > 0) return "failed";
  if ((blocking_issue || t.blocked > 0) && t.moved == 0) return "blocked";
  if (t.not_run > 0) return "failed";
  return "ok";
}

/* Pipeline inv's object; ledger false: without the rotation ledger (for
 * the totals, which do not count it). */
static json_t *pipeline_json(const km_inv_t *inv, const km_report_span_t *spans,
                             const km_report_extra_t *extra, bool ledger) {
  bucket_t k, s;
  bucket_init(&k);
  bucket_init(&s);
  json_int_t off = 0, restored = 0;
  json_t *not_restored = json_array();
  char why[KM_RULES_REASON_MAX];
  for (size_t i = 0; i < inv->nkeys; i++) {
    const km_inv_key_t *x = &inv->keys[i];
    if (unverified(x->verdict, x->verified))
      place(&k, x->key_id, KM_VERDICT_FAILED, "run.not_verified", NOT_VERIFIED,
            "NotVerified", NULL);
    else
      place(&k, x->key_id, x->verdict, x->rule,
            km_rules_key_reason(inv, x, why, sizeof(why)), x->fail_code,
            x->fail_request_id);
    off += x->rotation_off;
    restored += x->rotation_off && x->rotation_restored;
    if (x->rotation_off && !x->rotation_restored)
      json_array_append_new(not_restored, json_pack("{s:s, s:s}", "kind", "key",
                                                    "id", x->key_id));
  }
  for (size_t i = 0; i < inv->nsecrets; i++) {
    const km_inv_secret_t *x = &inv->secrets[i];
    if (unverified(x->verdict, x->verified))
      place(&s, x->secret_name, KM_VERDICT_FAILED, "run.not_verified",
            NOT_VERIFIED, "NotVerified", NULL);
    else
      place(&s, x->secret_name, x->verdict, x->rule,
            km_rules_secret_reason(inv, x, why, sizeof(why)), x->fail_code,
            x->fail_request_id);
    off += x->rotation_off;
    restored += x->rotation_off && x->rotation_restored;
    if (x->rotation_off && !x->rotation_restored)
      json_array_append_new(
          not_restored,
          json_pack("{s:s, s:s}", "kind", "secret", "id", x->secret_name));
  }
  json_t *iss = json_array();
  for (size_t i = 0; i < inv->nissues; i++)
    json_array_append_new(
        iss, json_pack("{s:s, s:s, s:s}", "rule", inv->issues[i].rule,
                       "verdict", km_verdict_name(inv->issues[i].verdict),
                       "message", inv->issues[i].message));
  const char *status = km_report_status(inv);
  json_t *p = json_pack(
      "{s:s, s:s?, s:s, s:s?, s:s, s:b, s:o, s:o, s:{s:I, s:I, s:o}, s:o, "
      "s:o, s:[], s:[], s:n}",
      "account", inv->account, "account_id", inv->account_id, "region",
      inv->region, "instance_id", inv->instance_id, "status", status,
      "complete", !inv->incomplete, "keys", bucket_json(&k), "secrets",
      bucket_json(&s), "rotation", "turned_off", off, "restored", restored,
      "not_restored", not_restored, "issues", iss, "stages", stages_json(spans),
      "batches", "rotation_ledger", "observe");
  km_report_extra_apply(extra, inv, p, ledger);
  return p;
}

/* ---- totals from the pipelines array ---- */

static json_int_t n_of(const json_t *bucket, const char *field) {
  const json_t *v = json_object_get(bucket, field);
  return json_is_array(v) ? (json_int_t)json_array_size(v)
                          : json_integer_value(v);
}

/* ok < blocked < waiting < held < not_started < failed: an account takes
 * its worst. */
static int status_rank(const char *s) {
  return strcmp(s, "failed") == 0        ? 5
         : strcmp(s, "not_started") == 0 ? 4
         : strcmp(s, "held") == 0        ? 3
         : strcmp(s, "waiting") == 0     ? 2
         : strcmp(s, "blocked") == 0     ? 1
                                         : 0;
}

/* The totals, added up one pipeline at a time (km_report_write_run never
 * holds every pipeline's JSON).  Pipelines come sorted by account, so an
 * account's pipelines are adjacent; an account takes its worst pipeline's
 * status. */
static const char *const kind_fields[] = {
    "migrated", "already_migrated", "skipped", "failed", "blocked", "not_run"};

typedef struct {
  json_int_t acc[6], off, restored, unrestored, npl, batches, obs[3];
  json_int_t keys[6], secrets[6];
  char *cur; /* the account being added up (owned) */
  int worst;
} tot_t;

static void tot_account_end(tot_t *t) {
  if (t->cur != NULL) t->acc[t->worst]++;
  free(t->cur);
  t->cur = NULL;
  t->worst = -1;
}

static void tot_add(tot_t *t, const json_t *p) {
  const char *a = json_string_value(json_object_get(p, "account"));
  if (t->cur != NULL && (a == NULL || strcmp(a, t->cur) != 0))
    tot_account_end(t);
  if (t->cur == NULL) t->cur = km_xstrdup(a != NULL ? a : "");
  int r = status_rank(json_string_value(json_object_get(p, "status")));
  if (r > t->worst) t->worst = r;
  const json_t *rot = json_object_get(p, "rotation");
  t->off += json_integer_value(json_object_get(rot, "turned_off"));
  t->restored += json_integer_value(json_object_get(rot, "restored"));
  t->unrestored +=
      (json_int_t)json_array_size(json_object_get(rot, "not_restored"));
  t->batches += (json_int_t)json_array_size(json_object_get(p, "batches"));
  const json_t *v = json_object_get(json_object_get(p, "observe"), "verdicts");
  t->obs[0] += json_integer_value(json_object_get(v, "ok"));
  t->obs[1] += json_integer_value(json_object_get(v, "watch"));
  t->obs[2] += json_integer_value(json_object_get(v, "act"));
  for (size_t k = 0; k < 6; k++) {
    t->keys[k] += n_of(json_object_get(p, "keys"), kind_fields[k]);
    t->secrets[k] += n_of(json_object_get(p, "secrets"), kind_fields[k]);
  }
  t->npl++;
}

static json_t *kind_json(const json_int_t *sum) {
  json_t *o = json_object();
  for (size_t k = 0; k < 6; k++)
    json_object_set_new(o, kind_fields[k], json_integer(sum[k]));
  return o;
}

static json_t *tot_json(tot_t *t) {
  tot_account_end(t);
  json_t *j =
      json_pack("{s:{s:I, s:I, s:I, s:I}, s:I, s:o, s:o, s:{s:I, s:I, "
                "s:I}, s:I, s:{s:I, s:I, s:I}}",
                "accounts", "ok", t->acc[0], "blocked", t->acc[1], "failed",
                t->acc[5], "not_started", t->acc[4], "pipelines", t->npl,
                "keys", kind_json(t->keys), "secrets", kind_json(t->secrets),
                "rotation", "turned_off", t->off, "restored", t->restored,
                "not_restored", t->unrestored, "batches", t->batches, "observe",
                "ok", t->obs[0], "watch", t->obs[1], "act", t->obs[2]);
  /* Only with waves or windows (docs/waves.md): older readers see the
   * totals they know. */
  json_t *acc = json_object_get(j, "accounts");
  if (t->acc[2] > 0)
    json_object_set_new(acc, "waiting", json_integer(t->acc[2]));
  if (t->acc[3] > 0) json_object_set_new(acc, "held", json_integer(t->acc[3]));
  return j;
}

static json_t *totals(const json_t *pl) {
  tot_t t = {.worst = -1};
  for (size_t i = 0; i < json_array_size(pl); i++)
    tot_add(&t, json_array_get(pl, i));
  return tot_json(&t);
}

static int cmp_pipeline(const void *a, const void *b) {
  const json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
  int c = strcmp(json_string_value(json_object_get(x, "account")),
                 json_string_value(json_object_get(y, "account")));
  return c != 0 ? c
                : strcmp(json_string_value(json_object_get(x, "region")),
                         json_string_value(json_object_get(y, "region")));
}

/* Sorts the array in place (jansson has no sort: rebuild it). */
static void sort_pipelines(json_t *pl) {
  size_t n = json_array_size(pl);
  json_t **v = km_xcalloc(n ? n : 1, sizeof(*v));
  for (size_t i = 0; i < n; i++)
    v[i] = json_incref(json_array_get(pl, i));
  qsort(v, n, sizeof(*v), cmp_pipeline);
  json_array_clear(pl);
  for (size_t i = 0; i < n; i++)
    json_array_append_new(pl, v[i]);
  free(v);
}

static void set_times(json_t *r, int64_t started, int64_t finished) {
  char b[21];
  if (started > 0) {
    km_iso8601(started, b);
    json_object_set_new(r, "started", json_string(b));
  } else {
    json_object_set_new(r, "started", json_null());
  }
  if (finished > 0) {
    km_iso8601(finished, b);
    json_object_set_new(r, "finished", json_string(b));
  } else {
    json_object_set_new(r, "finished", json_null());
  }
  json_object_set_new(r, "duration_s",
                      started > 0 && finished >= started
                          ? json_integer(finished - started)
                          : json_null());
}

/* The report's fields before its totals and pipelines. */
static json_t *head_json(const km_report_meta_t *meta) {
  json_t *r = json_pack("{s:i, s:s?, s:s?, s:s?, s:s?}", "report_version",
                        KM_REPORT_VERSION, "name", meta->name, "run_dir",
                        meta->run_dir, "tool_version", meta->tool_version,
                        "manifest_hash", meta->manifest_hash);
  json_t *plan = json_null();
  if (meta->plan_sha256 != NULL) {
    char shard[32];
    snprintf(shard, sizeof(shard), "%u/%u", meta->shard_k, meta->shard_n);
    plan = json_pack("{s:s, s:s?}", "sha256", meta->plan_sha256, "shard",
                     meta->shard_n > 0 ? shard : NULL);
  }
  json_object_set_new(r, "plan", plan);
  set_times(r, meta->started, meta->finished);
  json_object_set_new(r, "observed",
                      json_boolean(km_report_extra_observed(meta->extra)));
  if (meta->rehearsal) json_object_set_new(r, "rehearsal", json_true());
  return r;
}

int km_report_build(const km_report_meta_t *meta, km_inv_t *const *invs,
                    size_t n, json_t **out, km_err_t *err) {
  *out = NULL;
  if (meta == NULL || (n > 0 && invs == NULL))
    return km__err_set(err, KM_EINVAL, "report: no run to report");
  json_t *pl = json_array();
  km_report_span_t buf[KM_STAGE__COUNT];
  for (size_t i = 0; i < n; i++)
    json_array_append_new(
        pl, pipeline_json(invs[i], span_at(meta, i, buf), meta->extra, true));
  sort_pipelines(pl);
  json_t *r = head_json(meta);
  json_object_set_new(r, "totals", totals(pl));
  json_object_set_new(r, "pipelines", pl);
  *out = r;
  return 0;
}

void km_report_retotal(json_t *report) {
  json_object_set_new(report, "totals",
                      totals(json_object_get(report, "pipelines")));
}

static int64_t time_of(const json_t *r, const char *f) {
  int64_t t = 0;
  const char *s = json_string_value(json_object_get(r, f));
  if (s == NULL || km_parse_iso8601(s, &t) != 0) return 0;
  return t;
}

/* "merged_from": every run directory the merged report was made of. */
static void merge_sources(json_t *into, const json_t *other) {
  json_t *m = json_object_get(into, "merged_from");
  if (!json_is_array(m)) {
    m = json_array();
    const json_t *d = json_object_get(into, "run_dir");
    json_array_append_new(m, json_is_string(d) ? json_incref((json_t *)d)
                                               : json_null());
    json_object_set_new(into, "merged_from", m);
  }
  const json_t *om = json_object_get(other, "merged_from");
  if (json_is_array(om)) {
    json_array_extend(m, (json_t *)om);
  } else {
    const json_t *d = json_object_get(other, "run_dir");
    json_array_append_new(m, json_is_string(d) ? json_incref((json_t *)d)
                                               : json_null());
  }
  json_object_set_new(into, "run_dir", json_null()); /* many */
}

/* The Terraform hand-off lists of both (each shard wrote its own). */
static void merge_terraform(json_t *into, const json_t *other) {
  const json_t *ot = json_object_get(other, "terraform");
  if (!json_is_object(ot)) return;
  json_t *t = json_object_get(into, "terraform");
  if (!json_is_object(t)) {
    json_object_set_new(into, "terraform", json_deep_copy(ot));
    return;
  }
  static const char *const lists[] = {"files", "resources"};
  for (size_t i = 0; i < KM_ARRAY_SIZE(lists); i++) {
    json_t *a = json_object_get(t, lists[i]);
    const json_t *b = json_object_get(ot, lists[i]);
    if (!json_is_array(b)) continue;
    if (!json_is_array(a)) {
      a = json_array();
      json_object_set_new(t, lists[i], a);
    }
    json_array_extend(a, (json_t *)b);
  }
}

static const char *str_of(const json_t *o, const char *k) {
  const char *v = json_string_value(json_object_get(o, k));
  return v != NULL ? v : "";
}

int km_report_merge_check(const json_t *a, const json_t *b, bool allow_mixed,
                          km_err_t *err) {
  const char *da = str_of(a, "run_dir"), *db = str_of(b, "run_dir");
  const json_t *pa = json_object_get(a, "plan"),
               *pb = json_object_get(b, "plan");
  const char *sa = str_of(pa, "shard"), *sb = str_of(pb, "shard");
  if (json_is_object(pa) && json_is_object(pb) && sa[0] != '\0' &&
      strcmp(str_of(pa, "sha256"), str_of(pb, "sha256")) == 0 &&
      strcmp(sa, sb) == 0)
    return km__err_set(err, KM_EINVAL,
                       "%s and %s are both shard %s of the same plan: give "
                       "each shard's run directory once",
                       da, db, sa);
  if (allow_mixed) return 0;
  if (strcmp(str_of(a, "manifest_hash"), str_of(b, "manifest_hash")) != 0)
    return km__err_set(
        err, KM_EINVAL,
        "%s and %s are runs of different manifests (manifest_hash %.20s… "
        "and %.20s…): their totals would not be one migration's; report "
        "them apart, or pass --allow-mixed to merge them anyway",
        da, db, str_of(a, "manifest_hash"), str_of(b, "manifest_hash"));
  if (json_is_object(pa) != json_is_object(pb) ||
      strcmp(str_of(pa, "sha256"), str_of(pb, "sha256")) != 0)
    return km__err_set(
        err, KM_EINVAL,
        "%s and %s are not shards of one saved plan (%s and %s): report "
        "them apart, or pass --allow-mixed to merge them anyway",
        da, db, json_is_object(pa) ? str_of(pa, "sha256") : "no plan",
        json_is_object(pb) ? str_of(pb, "sha256") : "no plan");
  return 0;
}

int km_report_merge(json_t *into, const json_t *other, km_err_t *err) {
  json_t *a = json_object_get(into, "pipelines");
  const json_t *b = json_object_get(other, "pipelines");
  if (!json_is_array(a) || !json_is_array(b))
    return km__err_set(err, KM_EINVAL, "report merge: not a report");
  /* Both reports' pipelines sorted together: a pipeline in both is two
   * neighbours (O(n log n); comparing every pair was quadratic in the
   * shards' size). */
  size_t na = json_array_size(a), nb = json_array_size(b);
  json_t **v = km_xcalloc(na + nb + 1, sizeof(*v));
  for (size_t i = 0; i < na; i++)
    v[i] = json_array_get(a, i);
  for (size_t i = 0; i < nb; i++)
    v[na + i] = json_array_get(b, i);
  qsort(v, na + nb, sizeof(*v), cmp_pipeline);
  for (size_t i = 1; i < na + nb; i++) {
    if (cmp_pipeline(&v[i - 1], &v[i]) != 0) continue;
    const json_t *p = v[i];
    free(v);
    return km__err_set(
        err, KM_EEXIST,
        "report merge: %s %s is in both reports; shards never overlap",
        json_string_value(json_object_get(p, "account")),
        json_string_value(json_object_get(p, "region")));
  }
  free(v);
  for (size_t i = 0; i < json_array_size(b); i++)
    json_array_append(a, json_array_get(b, i));
  sort_pipelines(a);
  merge_sources(into, other);
  merge_terraform(into, other);
  int64_t s1 = time_of(into, "started"), s2 = time_of(other, "started");
  int64_t f1 = time_of(into, "finished"), f2 = time_of(other, "finished");
  set_times(into, (s1 && s2) ? (s1 < s2 ? s1 : s2) : (s1 ? s1 : s2),
            f1 > f2 ? f1 : f2);
  json_object_set_new(into, "totals", totals(a));
  json_object_set_new(
      into, "observed",
      json_boolean(json_is_true(json_object_get(into, "observed")) ||
                   json_is_true(json_object_get(other, "observed"))));
  return 0;
}

/* Writes path through fill(f, ud) atomically: a temporary file made 0600
 * (like the rest of the run directory, whatever the umask), fsync, rename;
 * nothing is left at path or beside it on failure. */
static int write_atomic(const char *path, int (*fill)(FILE *f, void *ud),
                        void *ud, km_err_t *err) {
  char *tmp = km_xasprintf("%s.tmp.%ld", path, (long)getpid());
  int fd =
      open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd >= 0 && fchmod(fd, 0600) != 0) {
    close(fd);
    fd = -1;
  }
  FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
  if (f == NULL && fd >= 0) close(fd);
  int e = errno, rc = f != NULL ? fill(f, ud) : KM_EIO;
  if (rc < 0 && f != NULL) e = errno;
  if (f != NULL && rc == 0 && (fflush(f) != 0 || fsync(fileno(f)) != 0))
    rc = KM_EIO, e = errno;
  if (f != NULL && fclose(f) != 0 && rc == 0) rc = KM_EIO, e = errno;
  if (rc == 0 && rename(tmp, path) != 0) rc = KM_EIO, e = errno;
  if (rc < 0) unlink(tmp);
  free(tmp);
  if (rc < 0)
    return km__err_set(err, KM_EIO, "report: cannot write %s: %s", path,
                       strerror(e));
  return 0;
}

static int fill_dump(FILE *f, void *ud) {
  return json_dumpf(ud, f, JSON_INDENT(2)) == 0 && fputc('\n', f) != EOF
             ? 0
             : KM_EIO;
}

int km_report_write(const json_t *report, const char *path, km_err_t *err) {
  return km_report_write_with(path, fill_dump, (void *)report, err);
}

typedef struct {
  const char *text;
  size_t len;
} text_t;

static int fill_text(FILE *f, void *ud) {
  const text_t *t = ud;
  return fwrite(t->text, 1, t->len, f) == t->len ? 0 : KM_EIO;
}

int km_report_write_with(const char *path, int (*fill)(FILE *f, void *ud),
                         void *ud, km_err_t *err) {
  return write_atomic(path, fill, ud, err);
}

int km_report_write_text(const char *path, const char *text, size_t len,
                         km_err_t *err) {
  text_t t = {text, len};
  return km_report_write_with(path, fill_text, &t, err);
}

/* ---- report.json of a run, one pipeline at a time ---- */

/* A model with its timeline, sorted together. */
typedef struct {
  const km_inv_t *inv;
  size_t i; /* its index in the caller's array (its spans) */
} one_t;

static int cmp_one(const void *a, const void *b) {
  const km_inv_t *x = ((const one_t *)a)->inv, *y = ((const one_t *)b)->inv;
  int c = strcmp(x->account, y->account);
  return c != 0 ? c : strcmp(x->region, y->region);
}

/* What the end-of-run summary and its advice read: a pipeline that did
 * not end "ok" and complete, or that has a failed resource or a failing
 * issue.  Warnings are counted apart (add_warnings): one warning may be
 * every pipeline's. */
static bool worth_listing(const json_t *p) {
  static const char *const kinds[] = {"keys", "secrets"};
  const char *st = json_string_value(json_object_get(p, "status"));
  if (st == NULL || strcmp(st, "ok") != 0 ||
      json_is_false(json_object_get(p, "complete")))
    return true;
  for (int k = 0; k < 2; k++)
    if (json_array_size(
            json_object_get(json_object_get(p, kinds[k]), "failed")) > 0)
      return true;
  size_t i;
  const json_t *x;
  json_array_foreach(json_object_get(p, "issues"), i, x) {
    const char *v = json_string_value(json_object_get(x, "verdict"));
    if (v == NULL || strcmp(v, "warning") != 0) return true;
  }
  return false;
}

/* Counts p's warnings into warnings ([message, accounts, last account],
 * in the order first seen; an account's pipelines are adjacent). */
static void add_warnings(json_t *warnings, json_t *index, const json_t *p) {
  const char *acct = json_string_value(json_object_get(p, "account"));
  size_t i;
  const json_t *x;
  json_array_foreach(json_object_get(p, "issues"), i, x) {
    const char *v = json_string_value(json_object_get(x, "verdict"));
    const char *m = json_string_value(json_object_get(x, "message"));
    if (v == NULL || m == NULL || acct == NULL || strcmp(v, "warning") != 0)
      continue;
    json_t *e = json_object_get(index, m);
    if (e == NULL) {
      e = json_pack("[s, i, s]", m, 0, "");
      json_array_append_new(warnings, e);
      json_object_set(index, m, e);
    }
    if (strcmp(json_string_value(json_array_get(e, 2)), acct) != 0) {
      json_array_set_new(
          e, 1, json_integer(json_integer_value(json_array_get(e, 1)) + 1));
      json_array_set_new(e, 2, json_string(acct));
    }
  }
}

json_t *km_report_warnings(const json_t *pipelines) {
  json_t *warnings = json_array(), *index = json_object();
  size_t i;
  const json_t *p;
  json_array_foreach(pipelines, i, p) add_warnings(warnings, index, p);
  json_decref(index);
  return warnings;
}

/* Writes text with every line after the first indented by 4 (a pipeline
 * dumped alone, placed at depth 2 of the report). */
static int put_indented(FILE *f, const char *text) {
  /* A line at a time: 12 MB at 200 pipelines of P1, a call per byte was
   * a tenth of a second. */
  for (const char *p = text; *p != '\0';) {
    const char *nl = strchr(p, '\n');
    size_t len = nl != NULL ? (size_t)(nl - p) + 1 : strlen(p);
    if (fwrite(p, 1, len, f) != len ||
        (nl != NULL && fwrite("    ", 1, 4, f) != 4))
      return KM_EIO;
    p += len;
  }
  return 0;
}

static int write_stream(FILE *f, json_t *head, const one_t *v, size_t n,
                        const km_report_meta_t *meta, json_t *listed,
                        json_t *warnings) {
  json_t *index = json_object();
  /* The head object without its closing brace, then the pipelines. */
  char *h = json_dumps(head, JSON_INDENT(2));
  if (h == NULL) return KM_EIO;
  char *close = strrchr(h, '}');
  while (close != NULL && close > h && (close[-1] == '\n' || close[-1] == ' '))
    close--;
  if (close != NULL) *close = '\0';
  int rc = fputs(h, f) == EOF ? KM_EIO : 0;
  free(h);
  if (rc == 0 && meta->on_head != NULL) meta->on_head(head, meta->on_ud);
  if (rc == 0 && fputs(",\n  \"pipelines\": [", f) == EOF) rc = KM_EIO;
  for (size_t i = 0; rc == 0 && i < n; i++) {
    km_report_span_t buf[KM_STAGE__COUNT];
    json_t *p =
        pipeline_json(v[i].inv, span_at(meta, v[i].i, buf), meta->extra, true);
    char *t = json_dumps(p, JSON_INDENT(2));
    if (t == NULL || fputs(i == 0 ? "\n    " : ",\n    ", f) == EOF ||
        put_indented(f, t) < 0)
      rc = KM_EIO;
    free(t);
    if (rc == 0 && meta->on_pipe != NULL) meta->on_pipe(p, i, meta->on_ud);
    if (worth_listing(p)) json_array_append(listed, p);
    add_warnings(warnings, index, p);
    json_decref(p);
  }
  json_decref(index);
  if (rc == 0 && fputs(n > 0 ? "\n  ]" : "]", f) == EOF) rc = KM_EIO;
  if (rc == 0 && meta->tail != NULL) rc = meta->tail(f, meta->tail_ud);
  if (rc == 0 && fputs("\n}\n", f) == EOF) rc = KM_EIO;
  return rc;
}

typedef struct {
  json_t *head;
  const one_t *v;
  size_t n;
  const km_report_meta_t *meta;
  json_t *listed, *warnings;
} stream_t;

static int fill_stream(FILE *f, void *ud) {
  stream_t *st = ud;
  return write_stream(f, st->head, st->v, st->n, st->meta, st->listed,
                      st->warnings);
}

/* The batch chart's scale: what a reader of report.json adds up. */
static void batches_add(km_report_batches_t *b, const json_t *p) {
  size_t j;
  const json_t *x;
  json_array_foreach(json_object_get(p, "batches"), j, x) {
    b->n++;
    double d = json_number_value(json_object_get(x, "duration_s"));
    if (d > b->max_batch_s) b->max_batch_s = d;
  }
}

int km_report_write_run(const km_report_meta_t *meta, km_inv_t *const *invs,
                        size_t n, const char *path, json_t **summary,
                        km_report_batches_t *batches, km_err_t *err) {
  *summary = NULL;
  km_report_batches_t b = {0, 0};
  if (meta == NULL || path == NULL || (n > 0 && invs == NULL))
    return km__err_set(err, KM_EINVAL, "report: no run to report");
  one_t *v = km_xcalloc(n ? n : 1, sizeof(*v));
  for (size_t i = 0; i < n; i++) {
    v[i].inv = invs[i];
    v[i].i = i;
  }
  qsort(v, n, sizeof(*v), cmp_one);
  /* First the totals (they come before the pipelines in the file). */
  tot_t t = {.worst = -1};
  for (size_t i = 0; i < n; i++) {
    km_report_span_t buf[KM_STAGE__COUNT];
    json_t *p =
        pipeline_json(v[i].inv, span_at(meta, v[i].i, buf), meta->extra, false);
    tot_add(&t, p);
    batches_add(&b, p);
    json_decref(p);
  }
  if (batches != NULL) *batches = b;
  json_t *head = head_json(meta);
  json_object_set_new(head, "totals", tot_json(&t));
  stream_t st = {head, v, n, meta, json_array(), json_array()};
  int rc = km_report_write_with(path, fill_stream, &st, err);
  free(v);
  json_t *listed = st.listed, *warnings = st.warnings;
  if (rc < 0) {
    json_decref(head);
    json_decref(listed);
    json_decref(warnings);
    return rc;
  }
  json_object_set_new(head, "pipelines", listed);
  json_object_set_new(head, "warnings", warnings);
  *summary = head;
  return 0;
}
