/* What report.json takes from the run directory besides the models: the
 * batches and the rotation ledger from the journal (the source of truth for
 * what was done, with the time of each record and the RequestId of each
 * call), and the monitor's findings from observe.json (docs/report.md).
 *
 * The journal is read once, at the end of the run, into one small JSON
 * object per pipeline that has batches or rotations (the report is JSON:
 * this is its edge); entries are matched by client token (batches) and by
 * kind and id (rotations) while the records are replayed in order, so a
 * run resumed several times gives one entry per batch and per time a
 * rotation was turned off.  observe.json is copied, never re-measured:
 * what is missing in it stays missing in the report.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "engine/report.h"
#include "journal/journal.h"
#include "util/util.h"

struct km_report_extra_s {
  bool journal; /* batches and ledger were read */
  /* "account\nregion" -> {"n": batches seen, "b": the finished batches,
   * "r": the finished ledger entries}, each finished entry as compact JSON
   * text ("{...},{...}"): a finished entry is a few hundred bytes of text
   * instead of a few KB of JSON nodes, for 10,000 pipelines at once. */
  json_t *by;
  /* "account\nregion" -> {"b:token"|"r:kind:id": entry}: entries still
   * open (a batch not done, a rotation not restored). */
  json_t *index;
  json_t *observe;   /* "account\nregion" -> observe copy; NULL: no file */
  char *observe_gen; /* observe.json "generated", owned; may be NULL */
};

static char *pipe_key(const char *account, const char *region) {
  return km_xasprintf("%s\n%s", account != NULL ? account : "",
                      region != NULL ? region : "");
}

/* The pipeline's entry (created on first use) and its match index. */
static json_t *entry_of(km_report_extra_t *x, const json_t *f, json_t **idx) {
  char *k = pipe_key(json_string_value(json_object_get(f, "account")),
                     json_string_value(json_object_get(f, "region")));
  json_t *e = json_object_get(x->by, k);
  if (e == NULL) {
    e = json_pack("{s:i, s:s, s:s}", "n", 0, "b", "", "r", "");
    json_object_set_new(x->by, k, e);
    json_object_set_new(x->index, k, json_object());
  }
  *idx = json_object_get(x->index, k);
  free(k);
  return e;
}

/* Moves the finished entry k of idx to e's text field f ("b" or "r"). */
static void finish(json_t *e, const char *f, json_t *idx, const char *k) {
  json_t *entry = json_object_get(idx, k);
  char *t = json_dumps(entry, JSON_COMPACT);
  const char *old = json_string_value(json_object_get(e, f));
  char *both = km_xasprintf("%s%s%s", old, old[0] ? "," : "", t);
  json_object_set_new(e, f, json_string(both));
  free(both);
  free(t);
  json_object_del(idx, k);
}

static json_t *str_or_null(const json_t *v) {
  return json_is_string(v) ? json_incref((json_t *)v) : json_null();
}

/* Seconds between two journal times ("...T..:..:..mmmZ"), or null. */
static json_t *seconds_between(const char *a, const char *b) {
  int64_t ta, tb;
  char sa[32], sb[32];
  if (a == NULL || b == NULL || strlen(a) < 20 || strlen(b) < 20)
    return json_null();
  /* The journal writes milliseconds: drop them for the parser, add back. */
  snprintf(sa, sizeof(sa), "%.19sZ", a);
  snprintf(sb, sizeof(sb), "%.19sZ", b);
  if (km_parse_iso8601(sa, &ta) != 0 || km_parse_iso8601(sb, &tb) != 0)
    return json_null();
  int ma = a[19] == '.' ? atoi(a + 20) : 0,
      mb = b[19] == '.' ? atoi(b + 20) : 0;
  double d = (double)(tb - ta) + (double)(mb - ma) / 1000.0;
  return json_real(d < 0 ? 0 : d);
}

static void on_batch(json_t *e, json_t *idx, const km_journal_record_t *r) {
  const json_t *f = r->fields;
  const char *tok = json_string_value(json_object_get(f, "client_token"));
  if (tok == NULL) return;
  char *k = km_xasprintf("b:%s", tok);
  json_t *b = json_object_get(idx, k);
  if (strcmp(r->type, "batch_submitted") == 0 && b == NULL) {
    json_int_t no = json_integer_value(json_object_get(e, "n")) + 1;
    json_object_set_new(e, "n", json_integer(no));
    b = json_pack("{s:I, s:s, s:I, s:I, s:s, s:n, s:n, s:n, s:n, s:n, s:n, "
                  "s:n, s:b, s:n}",
                  "batch", no, "client_token", tok, "keys",
                  (json_int_t)json_array_size(json_object_get(f, "keys")),
                  "secrets",
                  (json_int_t)json_array_size(json_object_get(f, "secrets")),
                  "submitted", r->ts, "task_id", "done", "duration_s",
                  "migrated_keys", "migrated_secrets", "failed_keys",
                  "failed_secrets", "timed_out", 0, "refused");
    json_object_set_new(idx, k, b);
  } else if (b != NULL && strcmp(r->type, "task_started") == 0) {
    json_object_set_new(b, "task_id",
                        str_or_null(json_object_get(f, "task_id")));
  } else if (b != NULL && strcmp(r->type, "batch_done") == 0) {
    static const char *const n[] = {"migrated_keys", "migrated_secrets",
                                    "failed_keys", "failed_secrets"};
    json_object_set_new(b, "done", json_string(r->ts));
    json_object_set_new(
        b, "duration_s",
        seconds_between(json_string_value(json_object_get(b, "submitted")),
                        r->ts));
    for (size_t i = 0; i < KM_ARRAY_SIZE(n); i++)
      json_object_set_new(
          b, n[i],
          json_integer((json_int_t)json_array_size(json_object_get(f, n[i]))));
    json_object_set_new(
        b, "timed_out",
        json_boolean(json_is_true(json_object_get(f, "timed_out"))));
    json_object_set_new(b, "refused",
                        str_or_null(json_object_get(f, "refused")));
    finish(e, "b", idx, k);
  }
  free(k);
}

static void on_rotation(json_t *e, json_t *idx, const km_journal_record_t *r) {
  const json_t *f = r->fields;
  const char *kind = json_string_value(json_object_get(f, "kind"));
  const char *id = json_string_value(json_object_get(f, "id"));
  if (kind == NULL || id == NULL) return;
  char *k = km_xasprintf("r:%s:%s", kind, id);
  json_t *x = json_object_get(idx, k);
  /* An entry ends when its rotation is restored: a later turn-off (a
   * resumed run, or a second run on the same directory) opens a new one. */
  bool open = x != NULL;
  if (strcmp(r->type, "rotation_off") == 0) {
    if (!open) {
      x = json_pack("{s:s, s:s, s:{s:o, s:o}, s:s, s:n, s:n, s:n, s:n, "
                    "s:b, s:s}",
                    "kind", kind, "id", id, "before", "automatic_rotation",
                    str_or_null(json_object_get(f, "automatic_rotation")),
                    "rotation_interval",
                    str_or_null(json_object_get(f, "rotation_interval")),
                    "turned_off", r->ts, "off_request_id", "restored",
                    "after_interval", "restore_request_id", "left_off_by_hook",
                    0, "result", "not_restored");
      json_object_set_new(idx, k, x);
    }
  } else if (open && strcmp(r->type, "rotation_off_done") == 0) {
    json_object_set_new(x, "off_request_id",
                        str_or_null(json_object_get(f, "request_id")));
  } else if (open && strcmp(r->type, "rotation_restored") == 0) {
    bool hook = json_is_true(json_object_get(f, "left_off_by_hook"));
    const json_t *after = json_object_get(f, "rotation_interval");
    const char *before = json_string_value(
        json_object_get(json_object_get(x, "before"), "rotation_interval"));
    json_object_set_new(x, "restored", json_string(r->ts));
    json_object_set_new(x, "after_interval", str_or_null(after));
    json_object_set_new(x, "restore_request_id",
                        str_or_null(json_object_get(f, "request_id")));
    json_object_set_new(x, "left_off_by_hook", json_boolean(hook));
    const char *res = hook ? "left_off_by_hook"
                      : before != NULL && json_is_string(after) &&
                              strcmp(before, json_string_value(after)) == 0
                          ? "restored_exactly"
                          : "restored_changed";
    json_object_set_new(x, "result", json_string(res));
    finish(e, "r", idx, k);
  }
  free(k);
}

static int on_record(const km_journal_record_t *r, void *ud) {
  km_report_extra_t *x = ud;
  bool batch = strncmp(r->type, "batch_", 6) == 0 ||
               strcmp(r->type, "task_started") == 0;
  bool rot = strncmp(r->type, "rotation_", 9) == 0;
  if (!batch && !rot) return 0;
  json_t *idx, *e = entry_of(x, r->fields, &idx);
  if (batch)
    on_batch(e, idx, r);
  else
    on_rotation(e, idx, r);
  return 0;
}

/* observe.json's pipeline p as the report keeps it: what the monitor
 * measured, without the raw ActionTrail events, and its verdict counts. */
static json_t *observe_copy(const json_t *p, const char *generated) {
  static const char *const keep[] = {"instance_spec", "baseline", "after",
                                     "findings"};
  json_t *o = json_pack("{s:s?}", "generated", generated);
  for (size_t i = 0; i < KM_ARRAY_SIZE(keep); i++) {
    json_t *v = json_object_get(p, keep[i]);
    json_object_set_new(o, keep[i],
                        v != NULL ? json_deep_copy(v) : json_null());
  }
  json_t *callers = json_array();
  size_t i;
  const json_t *c;
  json_array_foreach(json_object_get(p, "residual_callers"), i, c) {
    json_t *cc = json_deep_copy(c);
    json_object_del(cc, "events");
    json_array_append_new(callers, cc);
  }
  json_object_set_new(o, "residual_callers", callers);
  json_int_t n[3] = {0, 0, 0};
  json_array_foreach(json_object_get(p, "findings"), i, c) {
    const char *v = json_string_value(json_object_get(c, "verdict"));
    if (v == NULL) continue;
    n[0] += strcmp(v, "ok") == 0;
    n[1] += strcmp(v, "watch") == 0;
    n[2] += strcmp(v, "act") == 0;
  }
  json_object_set_new(
      o, "verdicts",
      json_pack("{s:I, s:I, s:I}", "ok", n[0], "watch", n[1], "act", n[2]));
  return o;
}

static int load_observe(km_report_extra_t *x, const char *run_dir,
                        km_err_t *err) {
  char *path = km_xasprintf("%s/observe.json", run_dir);
  struct stat st;
  if (stat(path, &st) != 0) { /* not observed: rendered as such */
    free(path);
    return 0;
  }
  json_error_t je;
  json_t *o = json_load_file(path, 0, &je);
  const json_t *pl = json_object_get(o, "pipelines");
  if (o == NULL || !json_is_array(pl)) {
    int rc = km__err_set(
        err, KM_EPARSE,
        "%s:%d:%d: %s; fix the file or remove it (`kmsmig observe %s` "
        "writes it again)",
        path, o == NULL ? je.line : 1, o == NULL ? je.column : 1,
        o == NULL ? je.text : "not an observe.json (no \"pipelines\" array)",
        run_dir);
    json_decref(o);
    free(path);
    return rc;
  }
  free(path);
  const char *gen = json_string_value(json_object_get(o, "generated"));
  x->observe_gen = gen != NULL ? km_xstrdup(gen) : NULL;
  x->observe = json_object();
  size_t i;
  const json_t *p;
  json_array_foreach(pl, i, p) {
    char *k = pipe_key(json_string_value(json_object_get(p, "account")),
                       json_string_value(json_object_get(p, "region")));
    json_object_set_new(x->observe, k, observe_copy(p, gen));
    free(k);
  }
  json_decref(o);
  return 0;
}

int km_report_extra_load(const char *run_dir, bool journal,
                         km_report_extra_t **out, km_err_t *err) {
  *out = NULL;
  km_report_extra_t *x = km_xcalloc(1, sizeof(*x));
  x->by = json_object();
  x->index = json_object();
  int rc = 0;
  if (journal) {
    x->journal = true;
    rc = km_journal_replay(run_dir, on_record, x, err);
    /* What is still open is final now (not done, not restored). */
    const char *pk, *k;
    json_t *idx, *v;
    void *t1, *t2;
    json_object_foreach_safe(x->index, t1, pk, idx) {
      json_t *e = json_object_get(x->by, pk);
      json_object_foreach_safe(idx, t2, k, v) {
        (void)v;
        finish(e, k[0] == 'b' ? "b" : "r", idx, k);
      }
    }
    json_decref(x->index); /* the matching is done */
    x->index = NULL;
  }
  if (rc == 0) rc = load_observe(x, run_dir, err);
  if (rc < 0) {
    km_report_extra_free(x);
    return rc;
  }
  *out = x;
  return 0;
}

void km_report_extra_free(km_report_extra_t *x) {
  if (x == NULL) return;
  json_decref(x->by);
  json_decref(x->index);
  json_decref(x->observe);
  free(x->observe_gen);
  free(x);
}

bool km_report_extra_observed(const km_report_extra_t *x) {
  return x != NULL && x->observe != NULL;
}

/* Entries sorted by field by, then by the order they finished in:
 * batches by number, ledger entries by when they were turned off (ISO
 * times sort as text). */
typedef struct {
  const char *by;
  size_t pos;
  json_t *entry;
} sorted_t;

static int cmp_entry(const void *a, const void *b) {
  const sorted_t *x = a, *y = b;
  const json_t *u = json_object_get(x->entry, x->by),
               *v = json_object_get(y->entry, y->by);
  int c;
  if (json_is_integer(u) && json_is_integer(v))
    c = (json_integer_value(u) > json_integer_value(v)) -
        (json_integer_value(u) < json_integer_value(v));
  else
    c = strcmp(json_is_string(u) ? json_string_value(u) : "",
               json_is_string(v) ? json_string_value(v) : "");
  return c != 0 ? c : (x->pos > y->pos) - (x->pos < y->pos);
}

/* e's text field f as a sorted JSON array (new reference). */
static json_t *entries(const json_t *e, const char *f, const char *by) {
  const char *t = json_string_value(json_object_get(e, f));
  if (t == NULL || t[0] == '\0') return json_array();
  char *text = km_xasprintf("[%s]", t);
  json_t *a = json_loads(text, 0, NULL);
  free(text);
  if (!json_is_array(a)) { /* our own text: cannot happen */
    json_decref(a);
    return json_array();
  }
  size_t n = json_array_size(a);
  sorted_t *v = km_xcalloc(n ? n : 1, sizeof(*v));
  for (size_t i = 0; i < n; i++)
    v[i] = (sorted_t){by, i, json_incref(json_array_get(a, i))};
  qsort(v, n, sizeof(*v), cmp_entry);
  json_array_clear(a);
  for (size_t i = 0; i < n; i++)
    json_array_append_new(a, v[i].entry);
  free(v);
  return a;
}

void km_report_extra_apply(const km_report_extra_t *x, json_t *p) {
  if (x == NULL) return;
  char *k = pipe_key(json_string_value(json_object_get(p, "account")),
                     json_string_value(json_object_get(p, "region")));
  if (x->journal) {
    json_t *e = json_object_get(x->by, k);
    json_object_set_new(p, "batches", entries(e, "b", "batch"));
    json_object_set_new(p, "rotation_ledger", entries(e, "r", "turned_off"));
  }
  if (x->observe != NULL) {
    json_t *o = json_object_get(x->observe, k);
    json_object_set_new(p, "observe",
                        o != NULL ? json_deep_copy(o) : json_null());
  }
  free(k);
}
