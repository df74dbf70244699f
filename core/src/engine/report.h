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

#include "model/inventory.h"

typedef struct km_report_meta_s {
  const char *name;          /* manifest name */
  const char *run_dir;       /* may be NULL */
  const char *tool_version;  /* may be NULL */
  const char *manifest_hash; /* may be NULL */
  int64_t started;           /* epoch seconds, 0: unknown */
  int64_t finished;
  /* km_report_write_run: more top-level fields after "pipelines", each
   * written as `,\n  "name": value` (the Terraform hand-off); may be NULL.
   * Returns 0 or KM_EIO. */
  int (*extra)(FILE *f, void *ud);
  void *extra_ud; /* borrowed */
} km_report_meta_t;

/* Builds the report (new reference in *out) from meta and invs (borrowed,
 * n of them, any order).  Returns 0 or KM_EINVAL. */
int km_report_build(const km_report_meta_t *meta, km_inv_t *const *invs,
                    size_t n, json_t **out, km_err_t *err);

/* Merges the pipelines of other (borrowed) into into (a report built by
 * km_report_build, modified in place), for `--shard K/N` runs: pipelines
 * are re-sorted and totals recomputed; started/finished span both.  A
 * pipeline present in both (same account and region) is an error
 * (KM_EEXIST): shards never overlap. */
int km_report_merge(json_t *into, const json_t *other, km_err_t *err);

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
 * [message, accounts, last account] (what the end-of-run summary reads).  The
 * file is the same document as km_report_build's.  Returns 0, KM_EINVAL or
 * KM_EIO (nothing at path). */
int km_report_write_run(const km_report_meta_t *meta, km_inv_t *const *invs,
                        size_t n, const char *path, json_t **summary,
                        km_err_t *err);

#endif
