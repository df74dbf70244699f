/* Helpers shared by the HTML and Markdown renderers of report.json
 * (report_html.c, report_md.c): reading fields, times, escaping. */
#ifndef KM_ENGINE_REPORT_RENDER_H
#define KM_ENGINE_REPORT_RENDER_H

#include <jansson.h>

#include "util/util.h"

/* o[k] as a string, or "" (borrowed). */
const char *km__rr_str(const json_t *o, const char *k);
/* A report time ("...Z", with or without ".mmm") in Unix ms, or -1. */
int64_t km__rr_ms(const char *iso);
/* Server text into b: cleaned (util/text.c), then escaped for HTML
 * (& < > " ') or for a Markdown table cell (| \ ` * _ [ ] < > # and line
 * breaks). */
void km__rr_html(km_buf_t *b, const char *s);
void km__rr_md(km_buf_t *b, const char *s);
/* A number of seconds as "12.3 s", "4 min 5 s" or "-" (null) into b. */
void km__rr_dur(km_buf_t *b, const json_t *seconds);
/* Each failure of a report (resources and failing issues) in order:
 * fn(ud, pipeline, kind, id, code, request_id, reason), "" for missing. */
typedef void (*km__rr_fail_fn)(void *ud, const json_t *p, const char *kind,
                               const char *id, const char *code,
                               const char *rid, const char *reason);
void km__rr_failures(const json_t *report, km__rr_fail_fn fn, void *ud);
/* The same for one pipeline. */
void km__rr_failures_of(const json_t *p, km__rr_fail_fn fn, void *ud);

/* A renderer (report.h's km_report_render_t): sections that list every
 * pipeline are temporary files (tmpfile), filled by km__rr_flush. */
#define KM__RR_SECTIONS 10
/* The section of the Terraform resources' rows (one a resource, streamed
 * like the pipelines: a fleet has as many as it migrated). */
#define KM__RR_TF (KM__RR_SECTIONS - 1)
struct km_report_render_s {
  bool html;
  json_t *head; /* own reference */
  size_t nbatches;
  double max_batch;
  size_t row; /* the batch chart's next row */
  FILE *sec[KM__RR_SECTIONS];
  km_buf_t b; /* what the current pipeline adds to one section */
};
/* Moves r->b to the end of section s.  0 or KM_EIO. */
int km__rr_flush(km_report_render_t *r, size_t s);
/* Copies section s to out.  0 or KM_EIO. */
int km__rr_copy(km_report_render_t *r, size_t s, FILE *out);
/* report_html.c / report_md.c: one pipeline, and the whole document. */
int km__rr_html_pipeline(km_report_render_t *r, const json_t *p, size_t i);
int km__rr_html_end(km_report_render_t *r, FILE *out);
int km__rr_md_pipeline(km_report_render_t *r, const json_t *p, size_t i);
int km__rr_md_end(km_report_render_t *r, FILE *out);
/* One row of terraform.resources (borrowed) into r->b. */
void km__rr_html_tf_row(km_buf_t *b, const json_t *res);
void km__rr_md_tf_row(km_buf_t *b, const json_t *res);

#endif
