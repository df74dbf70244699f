/* report.html: the report as one self-contained page (inline CSS and SVG;
 * no script, no network, no font but the reader's own), rendered from a
 * whole report.json (one run, or the merge of shards).  The charts carry
 * ids the integration test looks for (docs/report.md): chart-totals,
 * chart-batch-durations, timeline-N and observe-N (N: the pipeline's index
 * in "pipelines").  Every string from the server is cleaned and escaped. */
#include <stdio.h>
#include <string.h>

#include "engine/report.h"
#include "engine/report_render.h"

#define H(b, s) km__rr_html(b, s)

static const char css[] =
    "body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;"
    "margin:24px auto;max-width:1100px;padding:0 16px;color:#1b1f24;"
    "background:#fff}h1{font-size:22px}h2{font-size:18px;margin-top:32px;"
    "border-bottom:1px solid #d0d7de}h3{font-size:15px;margin:24px 0 6px}"
    "table{border-collapse:collapse;margin:8px 0;font-size:13px}"
    "th,td{border:1px solid #d0d7de;padding:3px 8px;text-align:left;"
    "vertical-align:top}th{background:#f6f8fa}td.n{text-align:right}"
    ".meta{color:#57606a}.st-ok{color:#116329}.st-failed{color:#cf222e;"
    "font-weight:600}.st-blocked{color:#9a6700}.st-not_started{color:#57606a}"
    "svg{display:block;margin:6px 0}svg text{font:11px system-ui,sans-serif;"
    "fill:#1b1f24}.none{color:#57606a;font-style:italic}code{font-size:12px}"
    ".v-act{color:#cf222e;font-weight:600}.v-watch{color:#9a6700}"
    ".v-ok{color:#116329}\n";

static const char *const colours[] = {"#2da44e", "#8c959f", "#bf8700",
                                      "#d4a72c", "#cf222e", "#6e7781"};

static void num_cell(km_buf_t *b, const json_t *v) {
  if (json_is_integer(v))
    km_buf_printf(b, "<td class=\"n\">%lld</td>",
                  (long long)json_integer_value(v));
  else if (json_is_real(v))
    km_buf_printf(b, "<td class=\"n\">%.2f</td>", json_real_value(v));
  else
    km_buf_puts(b, "<td class=\"n\">-</td>");
}

static void text_cell(km_buf_t *b, const char *s) {
  km_buf_puts(b, "<td>");
  H(b, s != NULL && *s ? s : "-");
  km_buf_puts(b, "</td>");
}

static void head(km_buf_t *b, const json_t *r) {
  km_buf_puts(b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta "
                 "charset=\"utf-8\">\n<meta name=\"viewport\" "
                 "content=\"width=device-width\">\n<title>kmsmig report: ");
  H(b, km__rr_str(r, "name"));
  km_buf_printf(b, "</title>\n<style>%s</style></head>\n<body>\n", css);
  km_buf_puts(b, "<h1>kmsmig report: ");
  H(b, km__rr_str(r, "name"));
  km_buf_puts(b, "</h1>\n<p class=\"meta\" id=\"run\">");
  const json_t *m = json_object_get(r, "merged_from"), *d;
  size_t i;
  if (json_is_array(m)) {
    km_buf_puts(b, "merged from ");
    json_array_foreach(m, i, d) {
      km_buf_puts(b, i ? ", <code>" : "<code>");
      H(b, json_string_value(d));
      km_buf_puts(b, "</code>");
    }
  } else {
    km_buf_puts(b, "run directory <code>");
    H(b, km__rr_str(r, "run_dir"));
    km_buf_puts(b, "</code>");
  }
  km_buf_puts(b, " · kmsmig ");
  H(b, km__rr_str(r, "tool_version"));
  km_buf_puts(b, " · manifest <code>");
  H(b, km__rr_str(r, "manifest_hash"));
  km_buf_puts(b, "</code>");
  const json_t *plan = json_object_get(r, "plan");
  if (json_is_object(plan)) {
    km_buf_puts(b, " · plan <code>");
    H(b, km__rr_str(plan, "sha256"));
    km_buf_puts(b, "</code> shard ");
    H(b, km__rr_str(plan, "shard")[0] ? km__rr_str(plan, "shard") : "-");
  }
  km_buf_puts(b, "<br>");
  H(b, km__rr_str(r, "started"));
  km_buf_puts(b, " → ");
  H(b, km__rr_str(r, "finished"));
  km_buf_puts(b, " (");
  km__rr_dur(b, json_object_get(r, "duration_s"));
  km_buf_puts(b, ")</p>\n");
}

/* Totals: a table and one stacked bar per kind. */
static void totals(km_buf_t *b, const json_t *r) {
  static const char *const f[] = {"migrated", "already_migrated", "skipped",
                                  "blocked",  "failed",           "not_run"};
  static const char *const kinds[] = {"keys", "secrets"};
  const json_t *t = json_object_get(r, "totals");
  km_buf_puts(b, "<h2 id=\"totals\">Totals</h2>\n<table><tr><th>resource</th>"
                 "<th>migrated</th><th>already migrated</th><th>skipped</th>"
                 "<th>blocked</th><th>failed</th><th>not run</th></tr>\n");
  json_int_t max = 1;
  for (int k = 0; k < 2; k++) {
    json_int_t sum = 0;
    km_buf_printf(b, "<tr><th>%s</th>", kinds[k]);
    for (size_t i = 0; i < KM_ARRAY_SIZE(f); i++) {
      const json_t *v = json_object_get(json_object_get(t, kinds[k]), f[i]);
      num_cell(b, v);
      sum += json_integer_value(v);
    }
    if (sum > max) max = sum;
    km_buf_puts(b, "</tr>\n");
  }
  const json_t *a = json_object_get(t, "accounts"),
               *rot = json_object_get(t, "rotation");
  km_buf_printf(
      b,
      "</table>\n<p>accounts: %lld ok, %lld blocked, %lld failed, %lld not "
      "started · %lld pipelines · %lld batches · rotation: %lld turned off, "
      "%lld restored, %lld not restored</p>\n",
      (long long)json_integer_value(json_object_get(a, "ok")),
      (long long)json_integer_value(json_object_get(a, "blocked")),
      (long long)json_integer_value(json_object_get(a, "failed")),
      (long long)json_integer_value(json_object_get(a, "not_started")),
      (long long)json_integer_value(json_object_get(t, "pipelines")),
      (long long)json_integer_value(json_object_get(t, "batches")),
      (long long)json_integer_value(json_object_get(rot, "turned_off")),
      (long long)json_integer_value(json_object_get(rot, "restored")),
      (long long)json_integer_value(json_object_get(rot, "not_restored")));
  km_buf_puts(b, "<svg id=\"chart-totals\" width=\"900\" height=\"96\" "
                 "role=\"img\" aria-label=\"keys and secrets by outcome\">\n");
  for (int k = 0; k < 2; k++) {
    double x = 80;
    km_buf_printf(b, "<text x=\"0\" y=\"%d\">%s</text>", 18 + k * 28, kinds[k]);
    for (size_t i = 0; i < KM_ARRAY_SIZE(f); i++) {
      json_int_t v = json_integer_value(
          json_object_get(json_object_get(t, kinds[k]), f[i]));
      double w = 800.0 * (double)v / (double)max;
      if (v > 0)
        km_buf_printf(b,
                      "<rect x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"20\" "
                      "fill=\"%s\"><title>%s %s: %lld</title></rect>",
                      x, 4 + k * 28, w, colours[i], kinds[k], f[i],
                      (long long)v);
      x += w;
    }
    km_buf_puts(b, "\n");
  }
  for (size_t i = 0; i < KM_ARRAY_SIZE(f); i++)
    km_buf_printf(b,
                  "<rect x=\"%zu\" y=\"66\" width=\"10\" height=\"10\" "
                  "fill=\"%s\"/><text x=\"%zu\" y=\"76\">%s</text>",
                  80 + i * 130, colours[i], 94 + i * 130, f[i]);
  km_buf_puts(b, "</svg>\n");
}

/* The sections of report.html that list every pipeline. */
enum { H_BATCHES = 0, H_OVERVIEW, H_PIPELINES, H_FAILURES, H_LEDGER, H__N };

/* Each batch of pipeline p as one bar of its duration (the scale is the
 * whole report's longest batch). */
static void batch_rows(km_report_render_t *r, const json_t *p) {
  km_buf_t *b = &r->b;
  size_t j;
  const json_t *x;
  json_array_foreach(json_object_get(p, "batches"), j, x) {
    const json_t *d = json_object_get(x, "duration_s");
    double w = 440.0 * json_number_value(d) / r->max_batch;
    size_t row = r->row++;
    km_buf_printf(b, "<text x=\"0\" y=\"%zu\">", row * 18 + 13);
    H(b, km__rr_str(p, "account"));
    km_buf_putc(b, ' ');
    H(b, km__rr_str(p, "region"));
    km_buf_printf(b, " #%lld</text>",
                  (long long)json_integer_value(json_object_get(x, "batch")));
    km_buf_printf(b,
                  "<rect x=\"260\" y=\"%zu\" width=\"%.1f\" height=\"14\" "
                  "fill=\"%s\"/><text x=\"%.1f\" y=\"%zu\">",
                  row * 18 + 2, w < 1 ? 1 : w,
                  json_is_number(d) ? colours[0] : colours[5], 266 + w,
                  row * 18 + 13);
    km__rr_dur(b, d);
    km_buf_printf(b, " · %lld keys, %lld secrets</text>\n",
                  (long long)json_integer_value(json_object_get(x, "keys")),
                  (long long)json_integer_value(json_object_get(x, "secrets")));
  }
}

/* One pipeline's stages and batches on one time axis. */
static void timeline(km_buf_t *b, const json_t *p, size_t idx) {
  const json_t *st = json_object_get(p, "stages"),
               *ba = json_object_get(p, "batches"), *x;
  size_t i, rows = json_array_size(st) + json_array_size(ba);
  int64_t t0 = -1, t1 = -1;
  json_array_foreach(st, i, x) {
    int64_t s = km__rr_ms(km__rr_str(x, "start")),
            e = km__rr_ms(km__rr_str(x, "end"));
    if (s >= 0 && (t0 < 0 || s < t0)) t0 = s;
    if (e > t1) t1 = e;
    if (s > t1) t1 = s;
  }
  json_array_foreach(ba, i, x) {
    int64_t s = km__rr_ms(km__rr_str(x, "submitted")),
            e = km__rr_ms(km__rr_str(x, "done"));
    if (s >= 0 && (t0 < 0 || s < t0)) t0 = s;
    if (e > t1) t1 = e;
  }
  km_buf_printf(b,
                "<svg id=\"timeline-%zu\" class=\"timeline\" width=\"900\" "
                "height=\"%zu\" role=\"img\" aria-label=\"timeline of the "
                "stages and batches\">\n",
                idx, rows * 18 + 30);
  if (t0 < 0) {
    km_buf_puts(b, "<text x=\"0\" y=\"14\">no stage was timed (the run did "
                   "not reach this pipeline)</text></svg>\n");
    return;
  }
  double span = t1 > t0 ? (double)(t1 - t0) : 1.0, W = 700.0, X = 150.0;
  size_t row = 0;
  json_array_foreach(st, i, x) {
    int64_t s = km__rr_ms(km__rr_str(x, "start")),
            e = km__rr_ms(km__rr_str(x, "end"));
    if (e < s) e = t1;
    const char *status = km__rr_str(x, "status");
    const char *fill = strcmp(status, "failed") == 0    ? colours[4]
                       : strcmp(status, "blocked") == 0 ? colours[2]
                       : strcmp(status, "ok") == 0      ? "#0969da"
                                                        : colours[5];
    double bx = X + W * (double)(s - t0) / span,
           bw = W * (double)(e - s) / span;
    km_buf_printf(b, "<text x=\"0\" y=\"%zu\">", row * 18 + 13);
    H(b, km__rr_str(x, "stage"));
    km_buf_printf(b,
                  "</text><rect x=\"%.1f\" y=\"%zu\" width=\"%.1f\" "
                  "height=\"14\" fill=\"%s\"><title>",
                  bx, row * 18 + 2, bw < 2 ? 2 : bw, fill);
    H(b, km__rr_str(x, "stage"));
    km_buf_puts(b, " ");
    H(b, status);
    km_buf_puts(b, " ");
    km__rr_dur(b, json_object_get(x, "duration_s"));
    km_buf_puts(b, "</title></rect>\n");
    row++;
  }
  json_array_foreach(ba, i, x) {
    int64_t s = km__rr_ms(km__rr_str(x, "submitted")),
            e = km__rr_ms(km__rr_str(x, "done"));
    bool done = e >= s && s >= 0;
    if (!done) e = t1;
    double bx = X + W * (double)(s - t0) / span,
           bw = W * (double)(e - s) / span;
    km_buf_printf(b,
                  "<text x=\"0\" y=\"%zu\">batch %lld</text><rect x=\"%.1f\" "
                  "y=\"%zu\" width=\"%.1f\" height=\"14\" fill=\"%s\"><title>"
                  "batch %lld: %lld keys, %lld secrets, ",
                  row * 18 + 13,
                  (long long)json_integer_value(json_object_get(x, "batch")),
                  bx, row * 18 + 2, bw < 2 ? 2 : bw,
                  done ? colours[0] : colours[5],
                  (long long)json_integer_value(json_object_get(x, "batch")),
                  (long long)json_integer_value(json_object_get(x, "keys")),
                  (long long)json_integer_value(json_object_get(x, "secrets")));
    km__rr_dur(b, json_object_get(x, "duration_s"));
    km_buf_puts(b, done ? "" : " (not done)");
    km_buf_puts(b, "</title></rect>\n");
    row++;
  }
  km_buf_printf(b,
                "<line x1=\"%.0f\" y1=\"%zu\" x2=\"%.0f\" y2=\"%zu\" "
                "stroke=\"#8c959f\"/><text x=\"%.0f\" y=\"%zu\">0 s</text>"
                "<text x=\"%.0f\" y=\"%zu\" text-anchor=\"end\">%.1f s</text>"
                "\n</svg>\n",
                X, row * 18 + 6, X + W, row * 18 + 6, X, row * 18 + 20, X + W,
                row * 18 + 20, span / 1000.0);
}

static double metric(const json_t *o, const char *phase, const char *gw,
                     const char *m, bool *have) {
  const json_t *v = json_object_get(
      json_object_get(json_object_get(json_object_get(o, phase), "gateways"),
                      gw),
      m);
  *have = json_is_number(v);
  return json_number_value(v);
}

/* Before/after QPS and latency per gateway, as paired bars. */
static void observe_chart(km_buf_t *b, const json_t *o, size_t idx) {
  static const char *const gws[] = {"shared", "dedicated"};
  static const char *const ms[] = {"qps_avg", "latency_ms_avg"};
  static const char *const ml[] = {"QPS avg", "latency ms avg"};
  km_buf_printf(b,
                "<svg id=\"observe-%zu\" class=\"observe\" width=\"900\" "
                "height=\"%d\" role=\"img\" aria-label=\"gateway QPS and "
                "latency before and after\">\n",
                idx, 2 * 2 * 2 * 16 + 40);
  size_t row = 0;
  for (size_t k = 0; k < 2; k++) {
    double max = 0.001;
    bool have;
    for (size_t g = 0; g < 2; g++) {
      double v1 = metric(o, "baseline", gws[g], ms[k], &have),
             v2 = metric(o, "after", gws[g], ms[k], &have);
      if (v1 > max) max = v1;
      if (v2 > max) max = v2;
    }
    for (size_t g = 0; g < 2; g++)
      for (int ph = 0; ph < 2; ph++) {
        double v = metric(o, ph ? "after" : "baseline", gws[g], ms[k], &have);
        double w = 520.0 * v / max;
        km_buf_printf(b,
                      "<text x=\"0\" y=\"%zu\">%s %s %s</text><rect "
                      "x=\"250\" y=\"%zu\" width=\"%.1f\" height=\"12\" "
                      "fill=\"%s\"/><text x=\"%.1f\" y=\"%zu\">",
                      row * 16 + 12, gws[g], ml[k], ph ? "after" : "before",
                      row * 16 + 2, have ? (w < 1 ? 1 : w) : 0,
                      ph ? "#0969da" : "#8c959f", 256 + (have ? w : 0),
                      row * 16 + 12);
        if (have)
          km_buf_printf(b, "%.2f", v);
        else
          km_buf_puts(b, "not measured");
        km_buf_puts(b, "</text>\n");
        row++;
      }
    row++;
  }
  km_buf_puts(b, "</svg>\n");
}

static void observe_tables(km_buf_t *b, const json_t *o) {
  static const char *const phases[] = {"baseline", "after"};
  km_buf_puts(b, "<table class=\"codes\"><tr><th>gateway</th><th>phase</th>"
                 "<th>window</th><th>requests</th><th>QPS max</th><th>error "
                 "codes</th></tr>\n");
  for (int ph = 0; ph < 2; ph++) {
    const json_t *x = json_object_get(o, phases[ph]), *g;
    const char *gw;
    json_object_foreach((json_t *)json_object_get(x, "gateways"), gw, g) {
      km_buf_puts(b, "<tr>");
      text_cell(b, gw);
      text_cell(b, ph ? "after" : "before");
      km_buf_puts(b, "<td>");
      H(b, km__rr_str(json_object_get(x, "window"), "start"));
      km_buf_puts(b, " → ");
      H(b, km__rr_str(json_object_get(x, "window"), "end"));
      km_buf_puts(b, "</td>");
      num_cell(b, json_object_get(g, "requests"));
      num_cell(b, json_object_get(g, "qps_max"));
      km_buf_puts(b, "<td>");
      const char *code;
      const json_t *n;
      bool any = false;
      json_object_foreach((json_t *)json_object_get(g, "codes"), code, n) {
        km_buf_puts(b, any ? ", <code>" : "<code>");
        H(b, code);
        km_buf_printf(b, "</code> %lld", (long long)json_integer_value(n));
        any = true;
      }
      km_buf_puts(b, any ? "</td></tr>\n" : "none</td></tr>\n");
    }
  }
  km_buf_puts(b, "</table>\n");
  const json_t *rc = json_object_get(o, "residual_callers"), *x;
  size_t i;
  if (json_array_size(rc) > 0) {
    km_buf_puts(b, "<table class=\"callers\"><tr><th>AccessKey ID</th><th>"
                   "source IP</th><th>user agent</th><th>count</th><th>last "
                   "seen</th></tr>\n");
    json_array_foreach(rc, i, x) {
      km_buf_puts(b, "<tr>");
      text_cell(b, km__rr_str(x, "access_key_id"));
      text_cell(b, km__rr_str(x, "source_ip"));
      text_cell(b, km__rr_str(x, "user_agent"));
      num_cell(b, json_object_get(x, "count"));
      text_cell(b, km__rr_str(x, "last_seen"));
      km_buf_puts(b, "</tr>\n");
    }
    km_buf_puts(b, "</table>\n");
  } else {
    km_buf_puts(b, "<p>no residual callers on the shared gateway</p>\n");
  }
  km_buf_puts(b, "<ul class=\"findings\">\n");
  json_array_foreach(json_object_get(o, "findings"), i, x) {
    const char *v = km__rr_str(x, "verdict");
    km_buf_puts(b, "<li><span class=\"v-");
    H(b, v);
    km_buf_puts(b, "\">");
    H(b, v);
    km_buf_puts(b, "</span> ");
    H(b, km__rr_str(x, "message"));
    if (km__rr_str(x, "action")[0]) {
      km_buf_puts(b, " — ");
      H(b, km__rr_str(x, "action"));
    }
    km_buf_puts(b, "</li>\n");
  }
  km_buf_puts(b, "</ul>\n");
}

static void overview_row(km_buf_t *b, const json_t *p, size_t i) {
  km_buf_printf(b, "<tr><td><a href=\"#p-%zu\">", i);
  H(b, km__rr_str(p, "account"));
  km_buf_puts(b, "</a></td>");
  text_cell(b, km__rr_str(p, "region"));
  text_cell(b, km__rr_str(p, "instance_id"));
  km_buf_puts(b, "<td class=\"st-");
  H(b, km__rr_str(p, "status"));
  km_buf_puts(b, "\">");
  H(b, km__rr_str(p, "status"));
  km_buf_printf(
      b,
      "</td><td class=\"n\">%zu</td><td class=\"n\">%zu</td><td "
      "class=\"n\">%zu</td></tr>\n",
      json_array_size(json_object_get(json_object_get(p, "keys"), "migrated")),
      json_array_size(
          json_object_get(json_object_get(p, "secrets"), "migrated")),
      json_array_size(json_object_get(p, "batches")));
}

static void pipeline_section(km_buf_t *b, const json_t *p, size_t i) {
  km_buf_printf(b, "<section class=\"pipeline\" id=\"p-%zu\"><h3>", i);
  H(b, km__rr_str(p, "account"));
  km_buf_puts(b, " (");
  H(b, km__rr_str(p, "account_id"));
  km_buf_puts(b, ") · ");
  H(b, km__rr_str(p, "region"));
  km_buf_puts(b, " · ");
  H(b, km__rr_str(p, "instance_id"));
  km_buf_puts(b, " · <span class=\"st-");
  H(b, km__rr_str(p, "status"));
  km_buf_puts(b, "\">");
  H(b, km__rr_str(p, "status"));
  km_buf_puts(b, "</span></h3>\n");
  timeline(b, p, i);
  const json_t *o = json_object_get(p, "observe");
  if (json_is_object(o)) {
    observe_chart(b, o, i);
    observe_tables(b, o);
  } else {
    km_buf_puts(b, "<p class=\"none\">gateways: not observed</p>\n");
  }
  km_buf_puts(b, "</section>\n");
}

static void fail_row(void *ud, const json_t *p, const char *kind,
                     const char *id, const char *code, const char *rid,
                     const char *reason) {
  km_buf_t *b = ud;
  km_buf_puts(b, "<tr>");
  text_cell(b, km__rr_str(p, "account"));
  text_cell(b, km__rr_str(p, "region"));
  text_cell(b, kind);
  text_cell(b, id);
  text_cell(b, code);
  text_cell(b, rid);
  text_cell(b, reason);
  km_buf_puts(b, "</tr>\n");
}

static void ledger_rows(km_buf_t *b, const json_t *p) {
  const json_t *x;
  size_t j;
  json_array_foreach(json_object_get(p, "rotation_ledger"), j, x) {
    km_buf_puts(b, "<tr>");
    text_cell(b, km__rr_str(p, "account"));
    text_cell(b, km__rr_str(p, "region"));
    text_cell(b, km__rr_str(x, "kind"));
    text_cell(b, km__rr_str(x, "id"));
    text_cell(b, km__rr_str(json_object_get(x, "before"), "rotation_interval"));
    text_cell(b, km__rr_str(x, "turned_off"));
    text_cell(b, km__rr_str(x, "after_interval"));
    text_cell(b, km__rr_str(x, "restored"));
    text_cell(b, km__rr_str(x, "result"));
    km_buf_puts(b, "<td><code>");
    H(b, km__rr_str(x, "off_request_id"));
    km_buf_puts(b, "</code> <code>");
    H(b, km__rr_str(x, "restore_request_id"));
    km_buf_puts(b, "</code></td></tr>\n");
  }
}

void km__rr_html_tf_row(km_buf_t *b, const json_t *res) {
  static const char *const f[] = {"account",       "region",  "kind",  "id",
                                  "resource_type", "address", "change"};
  km_buf_puts(b, "<tr>");
  for (size_t k = 0; k < KM_ARRAY_SIZE(f); k++)
    text_cell(b, km__rr_str(res, f[k]));
  km_buf_puts(b, "</tr>\n");
}

/* The Terraform section up to its resources' rows (KM__RR_TF); false when
 * the report has none. */
static bool terraform(km_buf_t *b, const json_t *r) {
  const json_t *t = json_object_get(r, "terraform"), *x;
  size_t i;
  km_buf_puts(b, "<h2 id=\"terraform\">Terraform hand-off</h2>\n");
  if (!json_is_object(t)) {
    km_buf_puts(b, "<p class=\"none\">no Terraform hand-off in this "
                   "report</p>\n");
    return false;
  }
  km_buf_puts(b, "<ul>\n");
  json_array_foreach(json_object_get(t, "files"), i, x) {
    km_buf_puts(b, "<li>");
    H(b, km__rr_str(x, "account"));
    km_buf_puts(b, ": <code>");
    H(b, km__rr_str(x, "path"));
    km_buf_puts(b, "</code></li>\n");
  }
  km_buf_puts(b, "</ul>\n<table id=\"terraform-resources\"><tr><th>account"
                 "</th><th>region</th><th>kind</th><th>id</th><th>resource "
                 "type</th><th>address</th><th>change</th></tr>\n");
  return true;
}

int km__rr_html_pipeline(km_report_render_t *r, const json_t *p, size_t i) {
  int rc = 0;
  batch_rows(r, p);
  rc |= km__rr_flush(r, H_BATCHES);
  overview_row(&r->b, p, i);
  rc |= km__rr_flush(r, H_OVERVIEW);
  pipeline_section(&r->b, p, i);
  rc |= km__rr_flush(r, H_PIPELINES);
  km__rr_failures_of(p, fail_row, &r->b);
  rc |= km__rr_flush(r, H_FAILURES);
  ledger_rows(&r->b, p);
  rc |= km__rr_flush(r, H_LEDGER);
  return rc != 0 ? KM_EIO : 0;
}

/* The text before and after section s's rows. */
static void html_around(km_buf_t *b, size_t s, bool before, size_t nbatches) {
  static const char *const open[] = {
      NULL,
      "<h2 id=\"pipelines\">Accounts and regions</h2>\n<table><tr><th>"
      "account</th><th>region</th><th>instance</th><th>status</th><th>keys "
      "migrated</th><th>secrets migrated</th><th>batches</th></tr>\n",
      "",
      "<h2>Failures</h2>\n<table id=\"failures\"><tr><th>account</th><th>"
      "region</th><th>kind</th><th>id</th><th>code</th><th>RequestId</th>"
      "<th>reason</th></tr>\n",
      "<h2>Rotation ledger</h2>\n<table id=\"ledger\"><tr><th>account</th>"
      "<th>region</th><th>kind</th><th>id</th><th>before</th><th>turned off"
      "</th><th>after</th><th>restored</th><th>result</th><th>RequestIds"
      "</th></tr>\n"};
  static const char *const close[] = {NULL, "</table>\n", "", "</table>\n",
                                      "</table>\n"};
  if (s != H_BATCHES) {
    km_buf_puts(b, before ? open[s] : close[s]);
    return;
  }
  if (before) {
    km_buf_printf(b,
                  "<h2 id=\"batch-durations\">Batch durations</h2>\n<svg "
                  "id=\"chart-batch-durations\" width=\"900\" height=\"%zu\" "
                  "role=\"img\" aria-label=\"batch durations\">\n",
                  nbatches * 18 + 24);
    if (nbatches == 0)
      km_buf_puts(b, "<text x=\"0\" y=\"14\">no batch was submitted"
                     "</text>\n");
  } else {
    km_buf_puts(b, "</svg>\n");
  }
}

int km__rr_html_end(km_report_render_t *r, FILE *out) {
  km_buf_t b;
  km_buf_init(&b);
  head(&b, r->head);
  totals(&b, r->head);
  int rc = 0;
  for (size_t s = 0; rc == 0 && s < H__N; s++) {
    html_around(&b, s, true, r->nbatches);
    rc = fwrite(b.data, 1, b.len, out) == b.len ? 0 : KM_EIO;
    km_buf_reset(&b);
    if (rc == 0) rc = km__rr_copy(r, s, out);
    html_around(&b, s, false, r->nbatches);
  }
  if (terraform(&b, r->head)) {
    if (rc == 0 && fwrite(b.data, 1, b.len, out) != b.len) rc = KM_EIO;
    km_buf_reset(&b);
    if (rc == 0) rc = km__rr_copy(r, KM__RR_TF, out);
    km_buf_puts(&b, "</table>\n");
  }
  km_buf_puts(&b, "</body></html>\n");
  if (rc == 0 && fwrite(b.data, 1, b.len, out) != b.len) rc = KM_EIO;
  km_buf_free(&b);
  return rc;
}
