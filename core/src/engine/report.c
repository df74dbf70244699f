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

static json_t *pipeline_json(const km_inv_t *inv) {
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
  bool blocking_issue = false, failed_issue = false, not_started = false;
  for (size_t i = 0; i < inv->nissues; i++) {
    blocking_issue |= inv->issues[i].verdict == KM_VERDICT_BLOCKED;
    not_started |= strcmp(inv->issues[i].rule, "pipeline.not_started") == 0;
    /* A pipeline that failed or never started (pipeline.failed,
     * pipeline.not_started, verify.*) fails whatever its resources say. */
    failed_issue |= inv->issues[i].verdict == KM_VERDICT_FAILED;
    json_array_append_new(
        iss, json_pack("{s:s, s:s, s:s}", "rule", inv->issues[i].rule,
                       "verdict", km_verdict_name(inv->issues[i].verdict),
                       "message", inv->issues[i].message));
  }
  /* failed: something was attempted and did not end well, or rotation was
   * left off; blocked: preflight refused and nothing moved; else ok. */
  const char *status = "ok";
  size_t moved = json_array_size(k.migrated) + json_array_size(s.migrated);
  /* Not started is not failed: nothing was tried (the tolerance stopped
   * new work, or the run was interrupted); the summary counts it apart. */
  if (not_started)
    status = "not_started";
  else if (failed_issue ||
           json_array_size(k.failed) + json_array_size(s.failed) > 0 ||
           json_array_size(not_restored) > 0)
    status = "failed";
  else if ((blocking_issue ||
            json_array_size(k.blocked) + json_array_size(s.blocked) > 0) &&
           moved == 0)
    status = "blocked";
  else if (json_array_size(k.not_run) + json_array_size(s.not_run) > 0)
    status = "failed";
  return json_pack("{s:s, s:s?, s:s, s:s?, s:s, s:b, s:o, s:o, s:{s:I, s:I,"
                   " s:o}, s:o}",
                   "account", inv->account, "account_id", inv->account_id,
                   "region", inv->region, "instance_id", inv->instance_id,
                   "status", status, "complete", !inv->incomplete, "keys",
                   bucket_json(&k), "secrets", bucket_json(&s), "rotation",
                   "turned_off", off, "restored", restored, "not_restored",
                   not_restored, "issues", iss);
}

/* ---- totals from the pipelines array ---- */

static json_int_t n_of(const json_t *bucket, const char *field) {
  const json_t *v = json_object_get(bucket, field);
  return json_is_array(v) ? (json_int_t)json_array_size(v)
                          : json_integer_value(v);
}

/* ok < blocked < not_started < failed: an account takes its worst. */
static int status_rank(const char *s) {
  return strcmp(s, "failed") == 0        ? 3
         : strcmp(s, "not_started") == 0 ? 2
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
  json_int_t acc[4], off, restored, unrestored, npl;
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
  return json_pack("{s:{s:I, s:I, s:I, s:I}, s:I, s:o, s:o, s:{s:I, s:I, "
                   "s:I}}",
                   "accounts", "ok", t->acc[0], "blocked", t->acc[1], "failed",
                   t->acc[3], "not_started", t->acc[2], "pipelines", t->npl,
                   "keys", kind_json(t->keys), "secrets", kind_json(t->secrets),
                   "rotation", "turned_off", t->off, "restored", t->restored,
                   "not_restored", t->unrestored);
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
  json_t *r =
      json_pack("{s:i, s:s?, s:s?, s:s?, s:s?}", "report_version", 1, "name",
                meta->name, "run_dir", meta->run_dir, "tool_version",
                meta->tool_version, "manifest_hash", meta->manifest_hash);
  set_times(r, meta->started, meta->finished);
  return r;
}

int km_report_build(const km_report_meta_t *meta, km_inv_t *const *invs,
                    size_t n, json_t **out, km_err_t *err) {
  *out = NULL;
  if (meta == NULL || (n > 0 && invs == NULL))
    return km__err_set(err, KM_EINVAL, "report: no run to report");
  json_t *pl = json_array();
  for (size_t i = 0; i < n; i++)
    json_array_append_new(pl, pipeline_json(invs[i]));
  sort_pipelines(pl);
  json_t *r = head_json(meta);
  json_object_set_new(r, "totals", totals(pl));
  json_object_set_new(r, "pipelines", pl);
  *out = r;
  return 0;
}

static int64_t time_of(const json_t *r, const char *f) {
  int64_t t = 0;
  const char *s = json_string_value(json_object_get(r, f));
  if (s == NULL || km_parse_iso8601(s, &t) != 0) return 0;
  return t;
}

int km_report_merge(json_t *into, const json_t *other, km_err_t *err) {
  json_t *a = json_object_get(into, "pipelines");
  const json_t *b = json_object_get(other, "pipelines");
  if (!json_is_array(a) || !json_is_array(b))
    return km__err_set(err, KM_EINVAL, "report merge: not a report");
  for (size_t i = 0; i < json_array_size(b); i++) {
    const json_t *p = json_array_get(b, i);
    for (size_t k = 0; k < json_array_size(a); k++)
      if (cmp_pipeline(&p, &(json_t *){json_array_get(a, k)}) == 0)
        return km__err_set(
            err, KM_EEXIST,
            "report merge: %s %s is in both reports; shards never overlap",
            json_string_value(json_object_get(p, "account")),
            json_string_value(json_object_get(p, "region")));
  }
  for (size_t i = 0; i < json_array_size(b); i++)
    json_array_append(a, json_array_get(b, i));
  sort_pipelines(a);
  int64_t s1 = time_of(into, "started"), s2 = time_of(other, "started");
  int64_t f1 = time_of(into, "finished"), f2 = time_of(other, "finished");
  set_times(into, (s1 && s2) ? (s1 < s2 ? s1 : s2) : (s1 ? s1 : s2),
            f1 > f2 ? f1 : f2);
  json_object_set_new(into, "totals", totals(a));
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
  return write_atomic(path, fill_dump, (void *)report, err);
}

/* ---- report.json of a run, one pipeline at a time ---- */

static int cmp_inv(const void *a, const void *b) {
  const km_inv_t *x = *(km_inv_t *const *)a, *y = *(km_inv_t *const *)b;
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
  for (const char *p = text; *p; p++)
    if (fputc(*p, f) == EOF || (*p == '\n' && fputs("    ", f) == EOF))
      return KM_EIO;
  return 0;
}

static int write_stream(FILE *f, json_t *head, km_inv_t **v, size_t n,
                        json_t *listed, json_t *warnings,
                        const km_report_meta_t *meta) {
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
  if (rc == 0 && fputs(",\n  \"pipelines\": [", f) == EOF) rc = KM_EIO;
  for (size_t i = 0; rc == 0 && i < n; i++) {
    json_t *p = pipeline_json(v[i]);
    char *t = json_dumps(p, JSON_INDENT(2));
    if (t == NULL || fputs(i == 0 ? "\n    " : ",\n    ", f) == EOF ||
        put_indented(f, t) < 0)
      rc = KM_EIO;
    free(t);
    if (worth_listing(p)) json_array_append(listed, p);
    add_warnings(warnings, index, p);
    json_decref(p);
  }
  json_decref(index);
  if (rc == 0 && fputs(n > 0 ? "\n  ]" : "]", f) == EOF) rc = KM_EIO;
  if (rc == 0 && meta->extra != NULL) rc = meta->extra(f, meta->extra_ud);
  if (rc == 0 && fputs("\n}\n", f) == EOF) rc = KM_EIO;
  return rc;
}

typedef struct {
  json_t *head;
  km_inv_t **v;
  size_t n;
  json_t *listed, *warnings;
  const km_report_meta_t *meta;
} stream_t;

static int fill_stream(FILE *f, void *ud) {
  stream_t *st = ud;
  return write_stream(f, st->head, st->v, st->n, st->listed, st->warnings,
                      st->meta);
}

int km_report_write_run(const km_report_meta_t *meta, km_inv_t *const *invs,
                        size_t n, const char *path, json_t **summary,
                        km_err_t *err) {
  *summary = NULL;
  if (meta == NULL || path == NULL || (n > 0 && invs == NULL))
    return km__err_set(err, KM_EINVAL, "report: no run to report");
  km_inv_t **v = km_xcalloc(n ? n : 1, sizeof(*v));
  memcpy(v, invs, n * sizeof(*v));
  qsort(v, n, sizeof(*v), cmp_inv);
  /* First the totals (they come before the pipelines in the file). */
  tot_t t = {.worst = -1};
  for (size_t i = 0; i < n; i++) {
    json_t *p = pipeline_json(v[i]);
    tot_add(&t, p);
    json_decref(p);
  }
  json_t *head = head_json(meta);
  json_object_set_new(head, "totals", tot_json(&t));
  stream_t st = {head, v, n, json_array(), json_array(), meta};
  int rc = write_atomic(path, fill_stream, &st, err);
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
