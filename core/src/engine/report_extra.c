/* What report.json takes from the run directory besides the models: the
 * batches and the rotation ledger from the journal (the source of truth for
 * what was done, with the time of each record and the RequestId of each
 * call), and the monitor's findings from observe.json (docs/report.md).
 *
 * The journal is read once, at the end of the run; entries are matched by
 * client token (batches) and by kind and id (rotations) while the records
 * are replayed in order, so a run resumed several times gives one entry per
 * batch and per time a rotation was turned off.  An entry is JSON while it
 * is open (the report is JSON: this is its edge) and compact text in a
 * temporary file once finished, read back when its pipeline is written.
 * observe.json is copied, never re-measured: what is missing in it stays
 * missing in the report.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "engine/report.h"
#include "journal/journal.h"
#include "model/observe.h"
#include "model/strmap.h"
#include "util/util.h"

/* A finished batch or ledger entry, as compact JSON text in x->tmp. */
typedef struct {
  uint32_t pipe; /* the pipeline's number (x->pipes) */
  uint32_t no;   /* the order it finished in */
  bool ledger;   /* a rotation entry, else a batch */
  long off;
  uint32_t len;
} ent_t;

struct km_report_extra_s {
  bool journal; /* batches and ledger were read */
  /* The finished entries go to a temporary file and only their place stays
   * in memory (24 bytes each): the report of 10,000 pipelines needs them
   * all at once, next to every pipeline's model. */
  km_strmap_t *pipes; /* "account\nregion" -> pipeline number */
  uint32_t *nbatch;   /* per pipeline number: batches seen */
  size_t npipes;
  json_t *open; /* "N:b:token" | "N:r:kind:id" -> entry not finished yet */
  FILE *tmp;
  ent_t *ent; /* sorted by pipeline once the journal is read */
  size_t nent, capent;
  bool io_failed;
  json_t *observe;   /* "account\nregion" -> observe copy; NULL: no file */
  char *observe_gen; /* observe.json "generated", owned; may be NULL */
  /* The run's own report: the observations come from each pipeline's
   * typed model (inv->obs) while its entry is written, never from parsing
   * observe.json whole (10,000 pipelines' observations at once). */
  bool observe_models;
};

static char *pipe_key(const char *account, const char *region) {
  return km_xasprintf("%s\n%s", account != NULL ? account : "",
                      region != NULL ? region : "");
}

/* The number of the record's pipeline (given on first sight). */
static uint32_t pipe_of(km_report_extra_t *x, const json_t *f) {
  char *k = pipe_key(json_string_value(json_object_get(f, "account")),
                     json_string_value(json_object_get(f, "region")));
  size_t v;
  if (!km_strmap_get(x->pipes, k, &v)) {
    v = x->npipes++;
    km_strmap_put(x->pipes, k, v);
    x->nbatch = km_xrealloc(x->nbatch, x->npipes * sizeof(*x->nbatch));
    x->nbatch[v] = 0;
  }
  free(k);
  return (uint32_t)v;
}

/* Moves the open entry k (of pipeline pipe) to the temporary file. */
static void finish(km_report_extra_t *x, uint32_t pipe, bool ledger,
                   const char *k) {
  char *t = json_dumps(json_object_get(x->open, k), JSON_COMPACT);
  long off = ftell(x->tmp);
  size_t len = t != NULL ? strlen(t) : 0;
  if (t == NULL || off < 0 || fwrite(t, 1, len, x->tmp) != len)
    x->io_failed = true;
  free(t);
  if (x->nent == x->capent) {
    x->capent = x->capent ? 2 * x->capent : 256;
    x->ent = km_xrealloc(x->ent, x->capent * sizeof(*x->ent));
  }
  x->ent[x->nent] =
      (ent_t){pipe, (uint32_t)x->nent, ledger, off, (uint32_t)len};
  x->nent++;
  json_object_del(x->open, k);
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

static void on_batch(km_report_extra_t *x, uint32_t pipe,
                     const km_journal_record_t *r) {
  const json_t *f = r->fields;
  const char *tok = json_string_value(json_object_get(f, "client_token"));
  if (tok == NULL) return;
  char *k = km_xasprintf("%u:b:%s", pipe, tok);
  json_t *b = json_object_get(x->open, k);
  if (strcmp(r->type, "batch_submitted") == 0 && b == NULL) {
    json_int_t no = ++x->nbatch[pipe];
    b = json_pack("{s:I, s:s, s:I, s:I, s:s, s:n, s:n, s:n, s:n, s:n, s:n, "
                  "s:n, s:b, s:n}",
                  "batch", no, "client_token", tok, "keys",
                  (json_int_t)json_array_size(json_object_get(f, "keys")),
                  "secrets",
                  (json_int_t)json_array_size(json_object_get(f, "secrets")),
                  "submitted", r->ts, "task_id", "done", "duration_s",
                  "migrated_keys", "migrated_secrets", "failed_keys",
                  "failed_secrets", "timed_out", 0, "refused");
    json_object_set_new(x->open, k, b);
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
    finish(x, pipe, false, k);
  }
  free(k);
}

static void on_rotation(km_report_extra_t *xx, uint32_t pipe,
                        const km_journal_record_t *r) {
  const json_t *f = r->fields;
  const char *kind = json_string_value(json_object_get(f, "kind"));
  const char *id = json_string_value(json_object_get(f, "id"));
  if (kind == NULL || id == NULL) return;
  char *k = km_xasprintf("%u:r:%s:%s", pipe, kind, id);
  json_t *x = json_object_get(xx->open, k);
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
      json_object_set_new(xx->open, k, x);
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
    finish(xx, pipe, true, k);
  }
  free(k);
}

static int on_record(const km_journal_record_t *r, void *ud) {
  km_report_extra_t *x = ud;
  bool batch = strncmp(r->type, "batch_", 6) == 0 ||
               strcmp(r->type, "task_started") == 0;
  bool rot = strncmp(r->type, "rotation_", 9) == 0;
  if (!batch && !rot) return 0;
  uint32_t pipe = pipe_of(x, r->fields);
  if (batch)
    on_batch(x, pipe, r);
  else
    on_rotation(x, pipe, r);
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
  if (x->observe_models) { /* observe_gen set by the caller */
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

static int cmp_ent(const void *a, const void *b) {
  const ent_t *x = a, *y = b;
  if (x->pipe != y->pipe) return x->pipe < y->pipe ? -1 : 1;
  return x->no < y->no ? -1 : x->no > y->no;
}

static int load_journal(km_report_extra_t *x, const char *run_dir,
                        km_err_t *err) {
  x->journal = true;
  x->pipes = km_strmap_new(64);
  x->open = json_object();
  if ((x->tmp = tmpfile()) == NULL)
    return km__err_set(err, KM_EIO,
                       "report: cannot create a temporary file for the "
                       "journal's batches (TMPDIR full or not writable?)");
  /* on_record's types: the other records (hook decisions, most of a big
   * run's journal) are checked, not parsed. */
  static const char *const types[] = {"batch_", "task_started", "rotation_",
                                      NULL};
  int rc = km_journal_replay_types(run_dir, types, on_record, x, err);
  if (rc < 0) return rc;
  /* What is still open is final now (not done, not restored). */
  const char *k;
  json_t *v;
  void *t;
  json_object_foreach_safe(x->open, t, k, v) {
    char *end;
    unsigned long pipe = strtoul(k, &end, 10);
    finish(x, (uint32_t)pipe, end[0] == ':' && end[1] == 'r', k);
  }
  json_decref(x->open);
  x->open = NULL;
  if (x->io_failed || fflush(x->tmp) != 0)
    return km__err_set(err, KM_EIO,
                       "report: cannot write the journal's batches to a "
                       "temporary file (TMPDIR full?)");
  if (x->nent > 1) /* x->ent is NULL when the journal had no entry */
    qsort(x->ent, x->nent, sizeof(*x->ent), cmp_ent);
  return 0;
}

static int extra_load(const char *run_dir, bool journal, bool models,
                      km_report_extra_t **out, km_err_t *err) {
  *out = NULL;
  km_report_extra_t *x = km_xcalloc(1, sizeof(*x));
  x->observe_models = models;
  int rc = journal ? load_journal(x, run_dir, err) : 0;
  if (rc == 0) rc = load_observe(x, run_dir, err);
  if (rc < 0) {
    km_report_extra_free(x);
    return rc;
  }
  *out = x;
  return 0;
}

int km_report_extra_load(const char *run_dir, bool journal,
                         km_report_extra_t **out, km_err_t *err) {
  return extra_load(run_dir, journal, false, out, err);
}

int km_report_extra_load_run(const char *run_dir, const char *generated,
                             km_report_extra_t **out, km_err_t *err) {
  int rc = extra_load(run_dir, true, generated != NULL, out, err);
  if (rc == 0 && generated != NULL) (*out)->observe_gen = km_xstrdup(generated);
  return rc;
}

void km_report_extra_free(km_report_extra_t *x) {
  if (x == NULL) return;
  km_strmap_free(x->pipes);
  free(x->nbatch);
  json_decref(x->open);
  if (x->tmp != NULL) fclose(x->tmp);
  free(x->ent);
  json_decref(x->observe);
  free(x->observe_gen);
  free(x);
}

bool km_report_extra_observed(const km_report_extra_t *x) {
  return x != NULL && (x->observe != NULL || x->observe_gen != NULL);
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

/* The entries of pipeline pipe of kind ledger, read back from the
 * temporary file and sorted by field by (new reference). */
static json_t *entries(const km_report_extra_t *x, size_t pipe, bool ledger,
                       const char *by) {
  json_t *a = json_array();
  size_t lo = 0, hi = x->nent;
  while (lo < hi) { /* the first entry of pipe */
    size_t mid = (lo + hi) / 2;
    if (x->ent[mid].pipe < pipe)
      lo = mid + 1;
    else
      hi = mid;
  }
  char *buf = NULL;
  for (size_t i = lo; i < x->nent && x->ent[i].pipe == pipe; i++) {
    const ent_t *e = &x->ent[i];
    if (e->ledger != ledger) continue;
    buf = km_xrealloc(buf, (size_t)e->len + 1);
    json_t *v = NULL;
    if (fseek(x->tmp, e->off, SEEK_SET) == 0 &&
        fread(buf, 1, e->len, x->tmp) == e->len)
      v = json_loadb(buf, e->len, 0, NULL);
    if (v != NULL) json_array_append_new(a, v);
  }
  free(buf);
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

void km_report_extra_apply(const km_report_extra_t *x, const km_inv_t *inv,
                           json_t *p, bool ledger) {
  if (x == NULL) return;
  char *k = pipe_key(json_string_value(json_object_get(p, "account")),
                     json_string_value(json_object_get(p, "region")));
  size_t pipe;
  if (x->journal && km_strmap_get(x->pipes, k, &pipe)) {
    json_object_set_new(p, "batches", entries(x, pipe, false, "batch"));
    if (ledger)
      json_object_set_new(p, "rotation_ledger",
                          entries(x, pipe, true, "turned_off"));
  } else if (x->journal) {
    json_object_set_new(p, "batches", json_array());
    json_object_set_new(p, "rotation_ledger", json_array());
  }
  if (x->observe_models && x->observe_gen != NULL) {
    json_t *e = inv != NULL && inv->obs != NULL ? km_obs_to_json(inv) : NULL;
    json_object_set_new(p, "observe",
                        e != NULL ? observe_copy(e, x->observe_gen)
                                  : json_null());
    json_decref(e);
  } else if (x->observe != NULL) {
    json_t *o = json_object_get(x->observe, k);
    json_object_set_new(p, "observe",
                        o != NULL ? json_deep_copy(o) : json_null());
  }
  free(k);
}
