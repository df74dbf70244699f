/* What `kmsmig run` shows while it goes (progress.c; docs/cli.md,
 * "Output"): on a terminal one live status block redrawn in place (or one
 * status line rewritten with a carriage return when colour is off), not on
 * a terminal a progress line at most every 10 s plus one per pipeline that
 * ends failed or blocked, with --log-format json the same as JSON objects,
 * with --quiet nothing but errors and the summary. */
#ifndef KM_CLI_PROGRESS_H
#define KM_CLI_PROGRESS_H

#include <stdbool.h>

#include <jansson.h>

#include "run/runtime.h"

typedef enum {
  KM_COLOR_AUTO = 0, /* a terminal, NO_COLOR unset or empty, TERM not dumb */
  KM_COLOR_ALWAYS,
  KM_COLOR_NEVER
} km_color_t;

typedef struct km_progress_opts_s {
  km_color_t color;
  bool json;  /* --log-format json */
  bool quiet; /* --quiet */
} km_progress_opts_t;

typedef struct km_progress_s km_progress_t;

/* Decides how to show the run from o, the environment (NO_COLOR, TERM) and
 * which of stdout and stderr are terminals.  Owned: km_progress_close. */
km_progress_t *km_progress_new(const km_progress_opts_t *o);
/* The callbacks for km_runtime_opts_t.view (pg borrowed by them). */
void km_progress_view(km_progress_t *pg, km_run_view_t *out);
/* The run's header (run directory), then the view starts on rt's loop
 * (rt borrowed until km_progress_finish).  Returns 0 or < 0. */
int km_progress_start(km_progress_t *pg, km_runtime_t *rt);
/* The run ended: the block is erased (the summary replaces it), a last
 * progress line is written when the counts changed since the one before. */
void km_progress_finish(km_progress_t *pg);
/* JSON mode: the summary as one object {event: "summary", totals, ...}
 * (rep borrowed: the report km_report_write_run returned). */
void km_progress_summary_json(km_progress_t *pg, const json_t *rep,
                              const char *run_dir, double secs, int exit_code);
bool km_progress_is_json(const km_progress_t *pg);
/* Stops the timer; pg is freed in its close callback, so call this before
 * the runtime (and its loop) is freed.  NULL is a no-op. */
void km_progress_close(km_progress_t *pg);

/* Parses --color's value; 0 or KM_EINVAL. */
int km_color_parse(const char *s, km_color_t *out);

#endif
