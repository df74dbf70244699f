/* report.md: the report for a ticket, as Markdown tables (the same content
 * as report.html, no HTML), and the helpers both renderers share.  The
 * sections and their table headers are listed in docs/report.md, and the
 * integration test checks them: a tool may parse this file.  Every string
 * that came from the server is cleaned and escaped for a table cell. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/report.h"
#include "engine/report_render.h"

const char *km__rr_str(const json_t *o, const char *k) {
  const char *v = json_string_value(json_object_get(o, k));
  return v != NULL ? v : "";
}

int64_t km__rr_ms(const char *iso) {
  char b[32];
  int64_t t;
  if (iso == NULL || strlen(iso) < 20) return -1;
  snprintf(b, sizeof(b), "%.19sZ", iso);
  if (km_parse_iso8601(b, &t) != 0) return -1;
  return t * 1000 + (iso[19] == '.' ? atoi(iso + 20) : 0);
}

/* What stands for c in a cell (NULL: c itself); *bs when Markdown wants a
 * backslash before it. */
static const char *escape_of(char c, bool html, bool *bs) {
  *bs = false;
  if (html) {
    switch (c) {
    case '&':
      return "&amp;";
    case '<':
      return "&lt;";
    case '>':
      return "&gt;";
    case '"':
      return "&quot;";
    case '\'':
      return "&#39;";
    default:
      return NULL;
    }
  }
  switch (c) {
  case '\n':
  case '\r':
  case '\t':
    return " ";
  case '<':
    return "&lt;";
  case '>':
    return "&gt;";
  case '|':
  case '\\':
  case '`':
  case '*':
  case '_':
  case '[':
  case ']':
  case '#':
    *bs = true;
    return NULL;
  default:
    return NULL;
  }
}

/* The cleaned text of s, escaped, appended a run of plain characters at a
 * time (the tables of a 200-pipeline report have ~300,000 cells). */
static void escaped(km_buf_t *b, const char *s, bool html) {
  if (s == NULL) return;
  char small[256];
  size_t n = strlen(s) + 1; /* cleaning never lengthens the text */
  char *c = n <= sizeof(small) ? small : km_xmalloc(n);
  km_text_clean(s, c, n);
  const char *run = c, *p = c;
  for (; *p != '\0'; p++) {
    bool bs;
    const char *r = escape_of(*p, html, &bs);
    if (r == NULL && !bs) continue;
    km_buf_append(b, run, (size_t)(p - run));
    if (bs) km_buf_putc(b, '\\');
    if (r != NULL)
      km_buf_puts(b, r);
    else
      km_buf_putc(b, *p);
    run = p + 1;
  }
  km_buf_append(b, run, (size_t)(p - run));
  if (c != small) free(c);
}

void km__rr_html(km_buf_t *b, const char *s) {
  escaped(b, s, true);
}

void km__rr_md(km_buf_t *b, const char *s) {
  escaped(b, s, false);
}

void km__rr_dur(km_buf_t *b, const json_t *sec) {
  if (!json_is_number(sec)) {
    km_buf_puts(b, "-");
    return;
  }
  double d = json_number_value(sec);
  if (d < 1)
    km_buf_printf(b, "%d ms", (int)(d * 1000 + 0.5));
  else if (d < 60)
    km_buf_printf(b, "%.1f s", d);
  else
    km_buf_printf(b, "%d min %d s", (int)(d / 60), (int)d % 60);
}

void km__rr_failures(const json_t *report, km__rr_fail_fn fn, void *ud) {
  size_t i;
  const json_t *p;
  json_array_foreach(json_object_get(report, "pipelines"), i, p)
      km__rr_failures_of(p, fn, ud);
}

void km__rr_failures_of(const json_t *p, km__rr_fail_fn fn, void *ud) {
  static const char *const kinds[] = {"keys", "secrets"};
  static const char *const kind1[] = {"key", "secret"};
  size_t j;
  const json_t *x;
  {
    for (int k = 0; k < 2; k++)
      json_array_foreach(
          json_object_get(json_object_get(p, kinds[k]), "failed"), j, x)
          fn(ud, p, kind1[k], km__rr_str(x, "id"), km__rr_str(x, "code"),
             km__rr_str(x, "request_id"), km__rr_str(x, "reason"));
    json_array_foreach(json_object_get(p, "issues"), j, x) {
      if (strcmp(km__rr_str(x, "verdict"), "failed") != 0) continue;
      fn(ud, p, "pipeline", km__rr_str(x, "rule"), "", "",
         km__rr_str(x, "message"));
    }
  }
}

/* ---- rendering one pipeline at a time ---- */

int km__rr_flush(km_report_render_t *r, size_t s) {
  if (r->b.len == 0) return 0;
  if (r->sec[s] == NULL && (r->sec[s] = tmpfile()) == NULL) return KM_EIO;
  int rc = fwrite(r->b.data, 1, r->b.len, r->sec[s]) == r->b.len ? 0 : KM_EIO;
  km_buf_reset(&r->b);
  return rc;
}

int km__rr_copy(km_report_render_t *r, size_t s, FILE *out) {
  FILE *f = r->sec[s];
  if (f == NULL) return 0;
  if (fflush(f) != 0 || fseek(f, 0, SEEK_SET) != 0) return KM_EIO;
  char buf[16384];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
    if (fwrite(buf, 1, n, out) != n) return KM_EIO;
  return ferror(f) ? KM_EIO : 0;
}

int km_report_render_begin(const char *kind, const json_t *head,
                           size_t nbatches, double max_batch_s,
                           km_report_render_t **out, km_err_t *err) {
  *out = NULL;
  bool html = kind != NULL && strcmp(kind, "html") == 0;
  if (!html && (kind == NULL || strcmp(kind, "md") != 0))
    return km__err_set(err, KM_EINVAL, "report: no renderer for %s",
                       kind != NULL ? kind : "(null)");
  if (!json_is_object(head))
    return km__err_set(err, KM_EINVAL, "report.%s: not a report", kind);
  km_report_render_t *r = km_xcalloc(1, sizeof(*r));
  r->html = html;
  r->head = json_incref((json_t *)head);
  r->nbatches = nbatches;
  r->max_batch = max_batch_s > 0.001 ? max_batch_s : 0.001;
  km_buf_init(&r->b);
  *out = r;
  return 0;
}

int km_report_render_pipeline(km_report_render_t *r, const json_t *p,
                              size_t i) {
  return r->html ? km__rr_html_pipeline(r, p, i) : km__rr_md_pipeline(r, p, i);
}

int km_report_render_tf(km_report_render_t *r, const json_t *res) {
  if (r->html)
    km__rr_html_tf_row(&r->b, res);
  else
    km__rr_md_tf_row(&r->b, res);
  return km__rr_flush(r, KM__RR_TF);
}

int km_report_render_end(km_report_render_t *r, FILE *out) {
  int rc = r->html ? km__rr_html_end(r, out) : km__rr_md_end(r, out);
  return rc == 0 && ferror(out) ? KM_EIO : rc;
}

void km_report_render_free(km_report_render_t *r) {
  if (r == NULL) return;
  for (size_t s = 0; s < KM__RR_SECTIONS; s++)
    if (r->sec[s] != NULL) fclose(r->sec[s]);
  json_decref(r->head);
  km_buf_free(&r->b);
  free(r);
}

/* A whole report (read back, or merged) through the same renderer. */
static int render_whole(const char *kind, const json_t *rep, km_buf_t *out,
                        km_err_t *err) {
  const json_t *pl = json_object_get(rep, "pipelines"), *p, *x;
  if (!json_is_object(rep) || !json_is_array(pl))
    return km__err_set(err, KM_EINVAL, "report.%s: not a report", kind);
  size_t i, j, nb = 0;
  double max = 0;
  json_array_foreach(pl, i, p)
      json_array_foreach(json_object_get(p, "batches"), j, x) {
    nb++;
    double d = json_number_value(json_object_get(x, "duration_s"));
    if (d > max) max = d;
  }
  km_report_render_t *r;
  int rc = km_report_render_begin(kind, rep, nb, max, &r, err);
  if (rc < 0) return rc;
  json_array_foreach(pl, i, p) if (rc == 0) rc =
      km_report_render_pipeline(r, p, i);
  json_array_foreach(
      json_object_get(json_object_get(rep, "terraform"), "resources"), i,
      p) if (rc == 0) rc = km_report_render_tf(r, p);
  char *text = NULL;
  size_t len = 0;
  FILE *m = rc == 0 ? open_memstream(&text, &len) : NULL;
  if (rc == 0 && m == NULL) rc = KM_EIO;
  if (rc == 0) rc = km_report_render_end(r, m);
  if (m != NULL && fclose(m) != 0 && rc == 0) rc = KM_EIO;
  if (rc == 0) km_buf_append(out, text, len);
  free(text);
  km_report_render_free(r);
  return rc < 0 ? km__err_set(err, rc, "report.%s: cannot render: %s", kind,
                              km_strerror(rc))
                : 0;
}

int km_report_render_html(const json_t *rep, km_buf_t *out, km_err_t *err) {
  return render_whole("html", rep, out, err);
}

int km_report_render_md(const json_t *rep, km_buf_t *out, km_err_t *err) {
  return render_whole("md", rep, out, err);
}

/* ---- report.md ---- */

static void cell(km_buf_t *b, const char *s) {
  km_buf_puts(b, "| ");
  km__rr_md(b, s != NULL && *s ? s : "-");
  km_buf_putc(b, ' ');
}

static void cell_int(km_buf_t *b, const json_t *v) {
  if (json_is_integer(v))
    km_buf_printf(b, "| %lld ", (long long)json_integer_value(v));
  else if (json_is_real(v))
    km_buf_printf(b, "| %.2f ", json_real_value(v));
  else
    km_buf_puts(b, "| - ");
}

static void row_end(km_buf_t *b) {
  km_buf_puts(b, "|\n");
}

static void header(km_buf_t *b, const char *const *cols, size_t n) {
  for (size_t i = 0; i < n; i++)
    km_buf_printf(b, "| %s ", cols[i]);
  km_buf_puts(b, "|\n");
  for (size_t i = 0; i < n; i++)
    km_buf_puts(b, "| --- ");
  km_buf_puts(b, "|\n");
}
#define HEADER(b, ...)                                                         \
  do {                                                                         \
    static const char *const c_[] = {__VA_ARGS__};                             \
    header(b, c_, KM_ARRAY_SIZE(c_));                                          \
  } while (0)

static void md_head(km_buf_t *b, const json_t *r) {
  km_buf_puts(b, "# kmsmig report: ");
  km__rr_md(b, km__rr_str(r, "name"));
  km_buf_puts(b, "\n\n## Run\n\n");
  HEADER(b, "field", "value");
  static const char *const f[] = {"run_dir", "tool_version", "manifest_hash",
                                  "started", "finished"};
  static const char *const l[] = {"run directory", "kmsmig version",
                                  "manifest hash", "started", "finished"};
  for (size_t i = 0; i < KM_ARRAY_SIZE(f); i++) {
    cell(b, l[i]);
    cell(b, km__rr_str(r, f[i]));
    row_end(b);
  }
  cell(b, "duration");
  km_buf_puts(b, "| ");
  km__rr_dur(b, json_object_get(r, "duration_s"));
  km_buf_putc(b, ' ');
  row_end(b);
  const json_t *plan = json_object_get(r, "plan");
  cell(b, "plan");
  cell(b, json_is_object(plan) ? km__rr_str(plan, "sha256") : "");
  row_end(b);
  cell(b, "shard");
  cell(b, km__rr_str(plan, "shard"));
  row_end(b);
  size_t i;
  const json_t *d;
  json_array_foreach(json_object_get(r, "merged_from"), i, d) {
    cell(b, "merged from");
    cell(b, json_string_value(d));
    row_end(b);
  }
}

static void md_totals(km_buf_t *b, const json_t *r) {
  const json_t *t = json_object_get(r, "totals");
  km_buf_puts(b, "\n## Totals\n\n");
  HEADER(b, "resource", "migrated", "already migrated", "skipped", "blocked",
         "failed", "not run");
  static const char *const k[] = {"keys", "secrets"};
  for (int i = 0; i < 2; i++) {
    const json_t *x = json_object_get(t, k[i]);
    cell(b, k[i]);
    cell_int(b, json_object_get(x, "migrated"));
    cell_int(b, json_object_get(x, "already_migrated"));
    cell_int(b, json_object_get(x, "skipped"));
    cell_int(b, json_object_get(x, "blocked"));
    cell_int(b, json_object_get(x, "failed"));
    cell_int(b, json_object_get(x, "not_run"));
    row_end(b);
  }
  const json_t *a = json_object_get(t, "accounts"),
               *rot = json_object_get(t, "rotation"),
               *o = json_object_get(t, "observe");
  km_buf_puts(b, "\n");
  HEADER(b, "accounts ok", "blocked", "failed", "not started", "pipelines",
         "batches", "rotation turned off", "restored", "not restored",
         "findings ok", "watch", "act");
  cell_int(b, json_object_get(a, "ok"));
  cell_int(b, json_object_get(a, "blocked"));
  cell_int(b, json_object_get(a, "failed"));
  cell_int(b, json_object_get(a, "not_started"));
  cell_int(b, json_object_get(t, "pipelines"));
  cell_int(b, json_object_get(t, "batches"));
  cell_int(b, json_object_get(rot, "turned_off"));
  cell_int(b, json_object_get(rot, "restored"));
  cell_int(b, json_object_get(rot, "not_restored"));
  cell_int(b, json_object_get(o, "ok"));
  cell_int(b, json_object_get(o, "watch"));
  cell_int(b, json_object_get(o, "act"));
  row_end(b);
}

static void where(km_buf_t *b, const json_t *p) {
  cell(b, km__rr_str(p, "account"));
  cell(b, km__rr_str(p, "region"));
}

/* The per-pipeline sections of report.md, in the document's order. */
enum {
  MD_ACCOUNTS = 0,
  MD_STAGES,
  MD_BATCHES,
  MD_GATEWAYS,
  MD_CALLERS,
  MD_FINDINGS,
  MD_FAILURES,
  MD_LEDGER,
  MD__N
};

static void md_account_row(km_buf_t *b, const json_t *p) {
  where(b, p);
  cell(b, km__rr_str(p, "account_id"));
  cell(b, km__rr_str(p, "instance_id"));
  cell(b, km__rr_str(p, "status"));
  km_buf_printf(
      b, "| %zu | %zu | %zu ",
      json_array_size(json_object_get(json_object_get(p, "keys"), "migrated")),
      json_array_size(
          json_object_get(json_object_get(p, "secrets"), "migrated")),
      json_array_size(json_object_get(p, "batches")));
  row_end(b);
}

static void md_stage_rows(km_buf_t *b, const json_t *p) {
  size_t j;
  const json_t *x;
  json_array_foreach(json_object_get(p, "stages"), j, x) {
    where(b, p);
    cell(b, km__rr_str(x, "stage"));
    cell(b, km__rr_str(x, "start"));
    cell(b, km__rr_str(x, "end"));
    km_buf_puts(b, "| ");
    km__rr_dur(b, json_object_get(x, "duration_s"));
    km_buf_putc(b, ' ');
    cell(b, km__rr_str(x, "status"));
    row_end(b);
  }
}

static json_int_t jint(const json_t *o, const char *k) {
  return json_integer_value(json_object_get(o, k));
}

static void md_batch_rows(km_buf_t *b, const json_t *p) {
  size_t j;
  const json_t *x;
  json_array_foreach(json_object_get(p, "batches"), j, x) {
    where(b, p);
    cell_int(b, json_object_get(x, "batch"));
    cell_int(b, json_object_get(x, "keys"));
    cell_int(b, json_object_get(x, "secrets"));
    cell(b, km__rr_str(x, "submitted"));
    cell(b, km__rr_str(x, "done"));
    km_buf_puts(b, "| ");
    km__rr_dur(b, json_object_get(x, "duration_s"));
    km_buf_putc(b, ' ');
    km_buf_printf(
        b, "| %lld | %lld ",
        (long long)(jint(x, "migrated_keys") + jint(x, "migrated_secrets")),
        (long long)(jint(x, "failed_keys") + jint(x, "failed_secrets")));
    row_end(b);
  }
}

static void md_gateway_rows(km_buf_t *b, const json_t *p, const char *phase) {
  const json_t *gws = json_object_get(
      json_object_get(json_object_get(p, "observe"), phase), "gateways");
  const char *gw;
  const json_t *g;
  json_object_foreach((json_t *)gws, gw, g) {
    where(b, p);
    cell(b, gw);
    cell(b, strcmp(phase, "baseline") == 0 ? "before" : "after");
    cell_int(b, json_object_get(g, "requests"));
    cell_int(b, json_object_get(g, "qps_avg"));
    cell_int(b, json_object_get(g, "qps_max"));
    cell_int(b, json_object_get(g, "latency_ms_avg"));
    km_buf_puts(b, "| ");
    const char *code;
    const json_t *n;
    bool any = false;
    json_object_foreach((json_t *)json_object_get(g, "codes"), code, n) {
      if (any) km_buf_puts(b, ", ");
      km__rr_md(b, code);
      km_buf_printf(b, " %lld", (long long)json_integer_value(n));
      any = true;
    }
    km_buf_puts(b, any ? " " : "- ");
    row_end(b);
  }
}

static void md_caller_rows(km_buf_t *b, const json_t *p) {
  size_t j;
  const json_t *x;
  json_array_foreach(
      json_object_get(json_object_get(p, "observe"), "residual_callers"), j,
      x) {
    where(b, p);
    cell(b, km__rr_str(x, "access_key_id"));
    cell(b, km__rr_str(x, "source_ip"));
    cell(b, km__rr_str(x, "user_agent"));
    cell_int(b, json_object_get(x, "count"));
    cell(b, km__rr_str(x, "last_seen"));
    row_end(b);
  }
}

static void md_finding_rows(km_buf_t *b, const json_t *p) {
  size_t j;
  const json_t *x;
  json_array_foreach(json_object_get(json_object_get(p, "observe"), "findings"),
                     j, x) {
    where(b, p);
    cell(b, km__rr_str(x, "verdict"));
    cell(b, km__rr_str(x, "message"));
    cell(b, km__rr_str(x, "action"));
    row_end(b);
  }
}

static void md_fail(void *ud, const json_t *p, const char *kind, const char *id,
                    const char *code, const char *rid, const char *reason) {
  km_buf_t *b = ud;
  where(b, p);
  cell(b, kind);
  cell(b, id);
  cell(b, code);
  cell(b, rid);
  cell(b, reason);
  row_end(b);
}

static void md_ledger_rows(km_buf_t *b, const json_t *p) {
  size_t j;
  const json_t *x;
  json_array_foreach(json_object_get(p, "rotation_ledger"), j, x) {
    where(b, p);
    cell(b, km__rr_str(x, "kind"));
    cell(b, km__rr_str(x, "id"));
    cell(b, km__rr_str(json_object_get(x, "before"), "rotation_interval"));
    cell(b, km__rr_str(x, "turned_off"));
    cell(b, km__rr_str(x, "after_interval"));
    cell(b, km__rr_str(x, "restored"));
    cell(b, km__rr_str(x, "result"));
    char ids[200];
    snprintf(ids, sizeof(ids), "%s %s", km__rr_str(x, "off_request_id"),
             km__rr_str(x, "restore_request_id"));
    cell(b, strcmp(ids, " ") == 0 ? "" : ids);
    row_end(b);
  }
}

int km__rr_md_pipeline(km_report_render_t *r, const json_t *p, size_t i) {
  (void)i;
  int rc = 0;
  md_account_row(&r->b, p);
  rc |= km__rr_flush(r, MD_ACCOUNTS);
  md_stage_rows(&r->b, p);
  rc |= km__rr_flush(r, MD_STAGES);
  md_batch_rows(&r->b, p);
  rc |= km__rr_flush(r, MD_BATCHES);
  md_gateway_rows(&r->b, p, "baseline");
  md_gateway_rows(&r->b, p, "after");
  rc |= km__rr_flush(r, MD_GATEWAYS);
  md_caller_rows(&r->b, p);
  rc |= km__rr_flush(r, MD_CALLERS);
  md_finding_rows(&r->b, p);
  rc |= km__rr_flush(r, MD_FINDINGS);
  km__rr_failures_of(p, md_fail, &r->b);
  rc |= km__rr_flush(r, MD_FAILURES);
  md_ledger_rows(&r->b, p);
  rc |= km__rr_flush(r, MD_LEDGER);
  return rc != 0 ? KM_EIO : 0;
}

static const char *const k_tf_fields[] = {
    "account", "region", "kind", "id", "resource_type", "address", "change"};

void km__rr_md_tf_row(km_buf_t *b, const json_t *res) {
  for (size_t k = 0; k < KM_ARRAY_SIZE(k_tf_fields); k++)
    cell(b, km__rr_str(res, k_tf_fields[k]));
  row_end(b);
}

/* The Terraform section up to its resources' rows (KM__RR_TF); false when
 * the report has none. */
static bool md_terraform(km_buf_t *b, const json_t *r) {
  const json_t *t = json_object_get(r, "terraform"), *x;
  size_t i;
  km_buf_puts(b, "\n## Terraform\n\n");
  if (!json_is_object(t)) {
    km_buf_puts(b, "no Terraform hand-off in this report\n");
    return false;
  }
  HEADER(b, "account", "file");
  json_array_foreach(json_object_get(t, "files"), i, x) {
    cell(b, km__rr_str(x, "account"));
    cell(b, km__rr_str(x, "path"));
    row_end(b);
  }
  km_buf_puts(b, "\n");
  HEADER(b, "account", "region", "kind", "id", "resource type", "address",
         "change");
  return true;
}

/* The text before section s's rows (a title and a table header). */
static void md_before(km_buf_t *b, size_t s, const json_t *head) {
  switch (s) {
  case MD_ACCOUNTS:
    km_buf_puts(b, "\n## Accounts and regions\n\n");
    HEADER(b, "account", "region", "account id", "instance", "status",
           "keys migrated", "secrets migrated", "batches");
    break;
  case MD_STAGES:
    km_buf_puts(b, "\n## Stages\n\n");
    HEADER(b, "account", "region", "stage", "start", "end", "duration",
           "status");
    break;
  case MD_BATCHES:
    km_buf_puts(b, "\n## Batches\n\n");
    HEADER(b, "account", "region", "batch", "keys", "secrets", "submitted",
           "done", "duration", "migrated", "failed");
    break;
  case MD_GATEWAYS:
    km_buf_puts(b, "\n## Observations\n\n");
    if (!json_is_true(json_object_get(head, "observed")))
      km_buf_puts(b, "not observed (no observe.json in the run directory)\n\n");
    HEADER(b, "account", "region", "gateway", "phase", "requests", "QPS avg",
           "QPS max", "latency ms avg", "error codes");
    break;
  case MD_CALLERS:
    km_buf_puts(b, "\n### Residual callers\n\n");
    HEADER(b, "account", "region", "AccessKey ID", "source IP", "user agent",
           "count", "last seen");
    break;
  case MD_FINDINGS:
    km_buf_puts(b, "\n### Findings\n\n");
    HEADER(b, "account", "region", "verdict", "finding", "action");
    break;
  case MD_FAILURES:
    km_buf_puts(b, "\n## Failures\n\n");
    HEADER(b, "account", "region", "kind", "id", "code", "RequestId", "reason");
    break;
  case MD_LEDGER:
    km_buf_puts(b, "\n## Rotation ledger\n\n");
    HEADER(b, "account", "region", "kind", "id", "before", "turned off",
           "after", "restored", "result", "RequestIds");
    break;
  default:
    break;
  }
}

static int put_buf(km_buf_t *b, FILE *out) {
  int rc = fwrite(b->data, 1, b->len, out) == b->len ? 0 : KM_EIO;
  km_buf_reset(b);
  return rc;
}

int km__rr_md_end(km_report_render_t *r, FILE *out) {
  km_buf_t b;
  km_buf_init(&b);
  md_head(&b, r->head);
  md_totals(&b, r->head);
  int rc = put_buf(&b, out);
  for (size_t s = 0; rc == 0 && s < MD__N; s++) {
    md_before(&b, s, r->head);
    rc = put_buf(&b, out);
    if (rc == 0) rc = km__rr_copy(r, s, out);
  }
  bool tf = md_terraform(&b, r->head);
  if (rc == 0) rc = put_buf(&b, out);
  if (rc == 0 && tf) rc = km__rr_copy(r, KM__RR_TF, out);
  km_buf_free(&b);
  return rc;
}
