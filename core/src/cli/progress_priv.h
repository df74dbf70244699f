/* The progress view's state, shared by progress.c (streams, timer, the
 * runtime's callbacks) and progress_text.c (what the block, the status line
 * and the progress lines say). */
#ifndef KM_CLI_PROGRESS_PRIV_H
#define KM_CLI_PROGRESS_PRIV_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <uv.h>

#include "cli/progress.h"
#include "engine/engine.h"
#include "engine/ratelimit.h"
#include "util/util.h"

typedef enum {
  PG_BLOCK = 0, /* a terminal with colour: the live block */
  PG_LINE,      /* a terminal without colour: one status line, no ESC */
  PG_PLAIN,     /* no terminal: progress lines on stdout */
  PG_JSON,      /* --log-format json: JSON objects on stdout */
  PG_QUIET      /* --quiet: errors and the summary only */
} pg_mode_t;

#define PG_BLOCK_LINES 5          /* lines of the live block */
#define PG_LINE_INTERVAL_MS 10000 /* at most one progress line per 10 s */
#define PG_MAX_END_LINES 20       /* failed/blocked pipeline lines */
#define PG_RING 64                /* one sample a second */
#define PG_ETA_WINDOW_S 30        /* the ETA's rate: the last 30 s */
#define PG_ETA_MIN_ENDED 3        /* ... from at least 3 ended pipelines */
#define PG_THROTTLE_WINDOW_S 10   /* "throttled in the last 10 s" */

typedef struct pg_sample_s {
  uint64_t ms;
  size_t ended;
  uint64_t granted, throttled;
} pg_sample_t;

/* Everything the view shows, read at one moment. */
typedef struct pg_snap_s {
  uint64_t ms;
  km_engine_counts_t c;
  km_rl_stats_t rl;
  /* from the console worklist */
  size_t keys_migrated, secrets_migrated; /* batches done this sitting */
  size_t console_open;                    /* the operator's items still open */
  int console_first;  /* the first of them that is due now (#), or 0 */
  int next_no;        /* the next scheduled item (#), or 0 */
  int64_t next_at;    /* when it is due (rotation goes off) */
  size_t sim_batches; /* batches kmsim's console works on */
} pg_snap_t;

struct km_progress_s {
  pg_mode_t mode;
  bool color;
  bool plain_out; /* stdout is not a terminal: progress lines there */
  bool out_tty;
  FILE *term; /* where the live view is drawn, or NULL */
  km_runtime_t *rt;
  uv_timer_t timer;
  bool timer_on, started, finished;
  uint64_t t0_ms;
  int64_t started_at;
  pg_snap_t now;
  pg_sample_t ring[PG_RING];
  size_t ring_at, nsamples;
  uint64_t last_sample_sec;
  /* the terminal */
  int drawn_lines; /* block lines on screen (cursor below them) */
  int drawn_width; /* status line width on screen */
  char *last_draw;
  /* progress lines */
  uint64_t line_ms;
  int line_phase;
  char *last_line;
  size_t nlines;
  int end_lines;
  /* Pipelines that ended ok in the engine but that the report will call
   * blocked (nothing could move) or failed (a resource failed or stayed
   * unverified, rotation left off): counted as the report counts them. */
  size_t ended_blocked, ended_failed;
};

/* progress_text.c */
size_t km__pg_ended(const km_engine_counts_t *c);
/* Seconds left, or -1 with why (static text). */
long km__pg_eta(const km_progress_t *pg, const char **why);
void km__pg_worklist(const km_progress_t *pg, pg_snap_t *s);
void km__pg_block(const km_progress_t *pg, km_buf_t *b, int cols);
void km__pg_line(const km_progress_t *pg, km_buf_t *b, int cols);
size_t km__pg_visible(const char *s);
/* The progress record's text (owned): three lines (counts, running,
 * waiting) or one. */
char *km__pg_summary_text(const km_progress_t *pg, bool multiline);
json_t *km__pg_progress_json(const km_progress_t *pg, const char *text);
/* what: why, when the pipeline has no error of its own (static; or NULL) */
void km__pg_end_line(km_progress_t *pg, km_pipeline_t *p,
                     const km_pipe_ev_t *ev, const char *what);
/* progress.c: a line that stays on stdout, the view out of the way; one
 * JSON record (stolen) on stdout. */
void km__pg_keep_line(km_progress_t *pg, const char *line);
void km__pg_put_json(km_progress_t *pg, json_t *rec);

#endif
