/* report.json: what a run did, per account and region, for people (the
 * HTML page and the end-of-run summary are rendered from it) and for tools
 * (CI gates, shard merging).  Schema: docs/report.md.
 *
 * The report is built from the pipelines' inventories at the end of the
 * run, after the run has set each resource's outcome (migrated, failed with
 * its code and RequestId) and its rotation flags.  Resources still pending
 * at the end are reported as "not_run" (the run was interrupted or the
 * pipeline never started).  Only ids, names, codes and messages appear in
 * the report: never a secret value.
 */
#ifndef KM_ENGINE_REPORT_H
#define KM_ENGINE_REPORT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "kmsmig/plugin.h"
#include "model/inventory.h"
#include "util/util.h"

/* The version of report.json's schema (docs/report.md,
 * docs/report.schema.json). */
#define KM_REPORT_VERSION 2

/* One stage of one pipeline for the timeline: stage NULL when the pipeline
 * never reached it; times in Unix ms (end 0: not ended). */
typedef struct km_report_span_s {
  const char *stage; /* static name */
  int64_t begin_ms, end_ms;
  const char *status; /* static: ok | failed | blocked | running */
} km_report_span_t;

/* What report.json takes from a run directory besides the models: batches
 * and rotation ledger (journal), the monitor's observe.json. */
typedef struct km_report_extra_s km_report_extra_t;

typedef struct km_report_meta_s {
  const char *name;          /* manifest name */
  const char *run_dir;       /* may be NULL */
  const char *tool_version;  /* may be NULL */
  const char *manifest_hash; /* may be NULL */
  int64_t started;           /* epoch seconds, 0: unknown */
  int64_t finished;
  const char *plan_sha256;   /* run --plan: the plan file's SHA-256; NULL */
  unsigned shard_k, shard_n; /* --shard K/N; 0: not sharded */
  /* KM_STAGE__COUNT spans per pipeline, in the order of invs (borrowed);
   * NULL: no timeline. */
  const km_report_span_t *spans;
  /* Or, when spans is NULL, the spans of pipeline i (the index in invs)
   * asked for one pipeline at a time; NULL: no timeline. */
  void (*spans_of)(void *ud, size_t i, km_report_span_t out[KM_STAGE__COUNT]);
  void *spans_ud;
  const km_report_extra_t *extra; /* borrowed; NULL: none */
  bool rehearsal; /* kmsmig rehearse: "rehearsal": true (docs/rehearse.md) */
  /* km_report_write_run: more top-level fields after "pipelines", each
   * written as `,\n  "name": value` (the Terraform hand-off); may be NULL.
   * Returns 0 or KM_EIO. */
  int (*tail)(FILE *f, void *ud);
  void *tail_ud; /* borrowed */
  /* km_report_write_run: also given the report as it is written, so that
   * report.html and report.md need not read report.json back (may be
   * NULL): on_head the head with its totals (borrowed) before the first
   * pipeline, once the batches are counted; on_pipe each pipeline
   * (borrowed) once written.  They cannot stop the write: report.json is
   * the record, the documents are views of it. */
  void (*on_head)(const json_t *head, void *ud);
  void (*on_pipe)(const json_t *pipeline, size_t i, void *ud);
  void *on_ud; /* borrowed */
} km_report_meta_t;

/* A pipeline's "status" in report.json, from its model alone (static
 * text): "not_started", "waiting" or "held" when its issues say so;
 * "failed" when an issue failed it, a resource failed or moved unverified,
 * rotation was left off, or a resource was never got to; "blocked" when
 * preflight refused something and nothing moved; else "ok".  The progress
 * view counts ended pipelines by it too, so its counts are the summary's. */
const char *km_report_status(const km_inv_t *inv);

/* Reads run_dir's journal (when journal: batches and rotation ledger; an
 * unreadable journal is an error) and its observe.json when there is one
 * (an unparsable one is an error naming the file).  *out owned
 * (km_report_extra_free).  Returns 0, KM_EJOURNAL, KM_EPARSE, KM_EIO. */
int km_report_extra_load(const char *run_dir, bool journal,
                         km_report_extra_t **out, km_err_t *err);
/* The same for the end of `kmsmig run`: the journal, and, when the run
 * wrote observe.json (generated: its "generated" time; NULL: it did not),
 * the observations from each pipeline's model (inv->obs): the file is not
 * parsed. */
int km_report_extra_load_run(const char *run_dir, const char *generated,
                             km_report_extra_t **out, km_err_t *err);
void km_report_extra_free(km_report_extra_t *x);
/* True when the run directory had an observe.json. */
bool km_report_extra_observed(const km_report_extra_t *x);
/* Sets pipeline's (a report pipeline, modified) "batches" and, when
 * ledger, "rotation_ledger" when x read the journal (ledger false: only
 * for the totals, which do not count the ledger: most of a big run's
 * entries), and "observe" when x read an observe.json (null when it has
 * nothing for this pipeline).  inv (borrowed, may be NULL) is the
 * pipeline's model, which the run's report (km_report_extra_load_run)
 * takes its observations from. */
void km_report_extra_apply(const km_report_extra_t *x, const km_inv_t *inv,
                           json_t *pipeline, bool ledger);

/* Whether reports a and b (borrowed) may be merged into one: the same
 * manifest (manifest_hash), the same saved plan (or both without one), and
 * not the same shard twice, unless allow_mixed (only the pipelines must
 * differ).  Returns 0 or KM_EINVAL with err naming both and the fix. */
int km_report_merge_check(const json_t *a, const json_t *b, bool allow_mixed,
                          km_err_t *err);

/* report.html (self-contained: inline CSS and SVG, no script, no network)
 * and report.md of report (borrowed, a whole report: read back, or
 * merged) into out.  Server text is cleaned and escaped.  0 or KM_EINVAL. */
int km_report_render_html(const json_t *report, km_buf_t *out, km_err_t *err);
int km_report_render_md(const json_t *report, km_buf_t *out, km_err_t *err);
/* report.html or report.md rendered one pipeline at a time (the sections
 * that list every pipeline go to temporary files, joined at the end): kind
 * "html" or "md"; head a report's head with its totals (borrowed, kept
 * until end); nbatches and max_batch_s the whole report's number of batches
 * and longest batch (the batch chart's scale).  *out owned: end or free. */
typedef struct km_report_render_s km_report_render_t;
int km_report_render_begin(const char *kind, const json_t *head,
                           size_t nbatches, double max_batch_s,
                           km_report_render_t **out, km_err_t *err);
/* Pipeline i (borrowed) of the report.  0 or KM_EIO. */
int km_report_render_pipeline(km_report_render_t *r, const json_t *pipeline,
                              size_t i);
/* One element of the report's terraform.resources (borrowed), after the
 * pipelines.  0 or KM_EIO. */
int km_report_render_tf(km_report_render_t *r, const json_t *resource);
/* Writes the whole document to out; 0 or KM_EIO.  Does not free r. */
int km_report_render_end(km_report_render_t *r, FILE *out);
void km_report_render_free(km_report_render_t *r);

/* Writes len bytes of text to path atomically, mode 0600.  0 or KM_EIO. */
int km_report_write_text(const char *path, const char *text, size_t len,
                         km_err_t *err);
/* Writes path atomically, mode 0600, with what fill(f, ud) writes (0 or
 * < 0).  0 or KM_EIO. */
int km_report_write_with(const char *path, int (*fill)(FILE *f, void *ud),
                         void *ud, km_err_t *err);

/* Builds the report (new reference in *out) from meta and invs (borrowed,
 * n of them, any order).  Returns 0 or KM_EINVAL. */
int km_report_build(const km_report_meta_t *meta, km_inv_t *const *invs,
                    size_t n, json_t **out, km_err_t *err);

/* Merges the pipelines of other (borrowed) into into (a report built by
 * km_report_build, modified in place), for `--shard K/N` runs: pipelines
 * are re-sorted and totals recomputed; started/finished span both; the
 * "terraform" lists are concatenated; "merged_from" lists every run
 * directory.  A pipeline present in both (same account and region) is an
 * error (KM_EEXIST): shards never overlap.  km_report_merge_check says
 * whether the two belong together. */
int km_report_merge(json_t *into, const json_t *other, km_err_t *err);

/* Recomputes report's (modified) "totals" from its "pipelines" (after
 * km_report_extra_apply changed them). */
void km_report_retotal(json_t *report);

/* Writes report to path atomically (temporary file, fsync, rename), so a
 * crash never leaves a half-written report.  Returns 0 or KM_EIO. */
int km_report_write(const json_t *report, const char *path, km_err_t *err);

/* Each warning of pipelines (a report's array, borrowed) once, as
 * [message, accounts, last account] in the order first seen (new
 * reference). */
json_t *km_report_warnings(const json_t *pipelines);

/* Builds and writes the report of a run to path (atomically, as
 * km_report_write) one pipeline at a time: the whole report of 10,000
 * pipelines is never in memory next to their models.  On success *summary
 * (new reference) is the report's head and totals with, under "pipelines",
 * only the pipelines that did not end ok and complete or have failed
 * resources or failing issues, and under "warnings" each warning once as
 * [message, accounts, last account] (what the end-of-run summary reads);
 * *batches (may be NULL) the batch chart's scale, for report.html.  The
 * file is the same document as km_report_build's.  Returns 0, KM_EINVAL or
 * KM_EIO (nothing at path). */
typedef struct km_report_batches_s {
  size_t n;           /* batches of every pipeline */
  double max_batch_s; /* the longest */
} km_report_batches_t;
int km_report_write_run(const km_report_meta_t *meta, km_inv_t *const *invs,
                        size_t n, const char *path, json_t **summary,
                        km_report_batches_t *batches, km_err_t *err);

#endif
