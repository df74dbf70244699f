/* The progress view of `kmsmig run` (progress.h; docs/cli.md, "Output").
 *
 * It is fed typed data only: the engine's pipeline events and counters
 * (km_engine_counts), the rate limiter's counters, and the console
 * worklist's items; it never reads text back.  A timer on the run's loop
 * looks at the counters (4 times a second on a terminal, once a second
 * otherwise) and writes only what changed.
 *
 * Streams.  The live block (or status line) is drawn on stderr when it is
 * a terminal, else on stdout when that is; stdout keeps what a run leaves
 * behind (header, ACTION lines, failed pipelines, the summary) and, when it
 * is not a terminal, the rate-limited progress lines.  Log records
 * (warnings and errors) reach the terminal through km_log_set_sink: the
 * block is erased, the record written, the block drawn again.
 *
 * Escapes.  Colour and cursor movement are written only when colour is on
 * (--color=always, or auto: a terminal, NO_COLOR unset or empty, TERM not
 * dumb).  With colour off a terminal gets one status line rewritten with a
 * carriage return, so NO_COLOR and --color=never output holds no ESC at
 * all; not a terminal, and in JSON, there is never one. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "cli/progress.h"
#include "cli/progress_priv.h"
#include "engine/report.h"
#include "util/util.h"

int km_color_parse(const char *s, km_color_t *out) {
  if (s == NULL) return KM_EINVAL;
  if (strcmp(s, "auto") == 0)
    *out = KM_COLOR_AUTO;
  else if (strcmp(s, "always") == 0)
    *out = KM_COLOR_ALWAYS;
  else if (strcmp(s, "never") == 0)
    *out = KM_COLOR_NEVER;
  else
    return KM_EINVAL;
  return 0;
}

static bool env_set(const char *name) {
  const char *v = getenv(name);
  return v != NULL && v[0] != '\0';
}

km_progress_t *km_progress_new(const km_progress_opts_t *o) {
  km_progress_t *pg = km_xcalloc(1, sizeof(*pg));
  bool err_tty = isatty(STDERR_FILENO) == 1;
  bool out_tty = isatty(STDOUT_FILENO) == 1;
  const char *term = getenv("TERM");
  bool dumb = term == NULL || term[0] == '\0' || strcmp(term, "dumb") == 0;
  pg->term = err_tty ? stderr : out_tty ? stdout : NULL;
  pg->out_tty = out_tty;
  if (o->json) {
    pg->mode = PG_JSON;
  } else if (o->quiet) {
    pg->mode = PG_QUIET;
  } else {
    pg->color = o->color == KM_COLOR_ALWAYS ||
                (o->color == KM_COLOR_AUTO && pg->term != NULL &&
                 !env_set("NO_COLOR") && !dumb);
    if (pg->term == NULL)
      pg->mode = PG_PLAIN;
    else
      pg->mode = pg->color ? PG_BLOCK : PG_LINE;
    /* stdout that is not the terminal (a file, a pipe) keeps the plain
     * progress lines too. */
    pg->plain_out = !out_tty;
  }
  return pg;
}

bool km_progress_is_json(const km_progress_t *pg) {
  return pg->mode == PG_JSON;
}

/* ---- the terminal: erase, write, draw again ---- */

static int term_cols(const km_progress_t *pg) {
  struct winsize ws;
  if (pg->term != NULL && ioctl(fileno(pg->term), TIOCGWINSZ, &ws) == 0 &&
      ws.ws_col > 0)
    return ws.ws_col;
  return 80;
}

static int term_rows(const km_progress_t *pg) {
  struct winsize ws;
  if (pg->term != NULL && ioctl(fileno(pg->term), TIOCGWINSZ, &ws) == 0 &&
      ws.ws_row > 0)
    return ws.ws_row;
  return 24;
}

/* Removes the block (or the status line) from the terminal. */
static void erase(km_progress_t *pg) {
  if (pg->drawn_lines > 0) {
    fprintf(pg->term, "\x1b[%dA\x1b[J", pg->drawn_lines);
    pg->drawn_lines = 0;
  } else if (pg->drawn_width > 0) {
    fprintf(pg->term, "\r%*s\r", pg->drawn_width, "");
    pg->drawn_width = 0;
  }
  fflush(pg->term);
}

/* Writes text (whole lines) to f with the live view out of the way; the
 * next tick (within 250 ms) draws it again below them, so a burst of log
 * lines costs one erase, not one redraw each. */
static void put_lines(km_progress_t *pg, FILE *f, const char *text) {
  bool live = (pg->mode == PG_BLOCK || pg->mode == PG_LINE) && pg->started &&
              !pg->finished;
  if (live && (f == pg->term || isatty(fileno(f)) == 1)) erase(pg);
  fputs(text, f);
  fflush(f);
}

static void on_log(int level, const char *line, void *ud) {
  km_progress_t *pg = ud;
  (void)level;
  put_lines(pg, pg->mode == PG_JSON ? stdout : stderr, line);
}

/* A line that stays (stdout), with the live view out of the way. */
void km__pg_keep_line(km_progress_t *pg, const char *line) {
  km_buf_t b;
  km_buf_init(&b);
  km_buf_puts(&b, line);
  km_buf_putc(&b, '\n');
  put_lines(pg, stdout, b.data);
  km_buf_free(&b);
}

/* One JSON record on stdout. */
void km__pg_put_json(km_progress_t *pg, json_t *rec) {
  km_buf_t b;
  km_buf_init(&b);
  km_log_json_line(rec, &b);
  put_lines(pg, stdout, b.data);
  km_buf_free(&b);
  json_decref(rec);
}

/* ---- sampling ---- */

/* Reads every counter into pg->now and keeps one sample a second for the
 * ETA and the throttled share of the last seconds. */
static void sample(km_progress_t *pg) {
  pg_snap_t *s = &pg->now;
  memset(s, 0, sizeof(*s));
  km_runtime_t *rt = pg->rt;
  if (rt->engine != NULL) km_engine_counts(rt->engine, &s->c);
  /* As the report counts them (as_reported); never below zero, should an
   * ended pipeline start again. */
  size_t *st = s->c.by_state, moved = pg->ended_blocked + pg->ended_failed;
  if (moved <= st[KM_PIPE_OK]) {
    st[KM_PIPE_OK] -= moved;
    st[KM_PIPE_BLOCKED] += pg->ended_blocked;
    st[KM_PIPE_FAILED] += pg->ended_failed;
  }
  km_rl_stats(rt->rl, &s->rl);
  s->ms = km_now_ms();
  km__pg_worklist(pg, s);
  uint64_t sec = s->ms / 1000;
  if (pg->nsamples == 0 || sec != pg->last_sample_sec) {
    pg->last_sample_sec = sec;
    pg_sample_t *x = &pg->ring[pg->ring_at];
    x->ms = s->ms;
    x->ended = km__pg_ended(&s->c);
    x->granted = s->rl.granted;
    x->throttled = s->rl.throttled;
    pg->ring_at = (pg->ring_at + 1) % PG_RING;
    if (pg->nsamples < PG_RING) pg->nsamples++;
  }
}

/* ---- drawing ---- */

static void draw(km_progress_t *pg) {
  if (pg->mode != PG_BLOCK && pg->mode != PG_LINE) return;
  int cols = term_cols(pg), rows = term_rows(pg);
  km_buf_t b;
  km_buf_init(&b);
  bool block = pg->mode == PG_BLOCK && rows >= PG_BLOCK_LINES + 4;
  if (block)
    km__pg_block(pg, &b, cols);
  else
    km__pg_line(pg, &b, cols);
  bool shown = pg->drawn_lines > 0 || pg->drawn_width > 0;
  if (shown && pg->last_draw != NULL && strcmp(pg->last_draw, b.data) == 0) {
    km_buf_free(&b);
    return;
  }
  free(pg->last_draw);
  pg->last_draw = km_xstrdup(b.data);
  erase(pg);
  fputs(b.data, pg->term);
  if (block) {
    pg->drawn_lines = 0;
    for (const char *p = b.data; *p; p++)
      pg->drawn_lines += *p == '\n';
  } else {
    pg->drawn_width = (int)km__pg_visible(b.data);
  }
  fflush(pg->term);
  km_buf_free(&b);
}

/* A progress line (plain or JSON) when the counts changed and 10 s passed,
 * or the run's phase changed (discovery, then migration, then the end). */
static void maybe_line(km_progress_t *pg, bool at_end) {
  if (pg->mode == PG_QUIET || (!pg->plain_out && pg->mode != PG_JSON)) return;
  int phase = !pg->now.c.barrier_passed                        ? 0
              : km__pg_ended(&pg->now.c) < pg->now.c.pipelines ? 1
                                                               : 2;
  bool phase_changed = phase != pg->line_phase;
  uint64_t since = pg->now.ms - pg->line_ms;
  char *text = km__pg_summary_text(pg, pg->mode != PG_JSON);
  bool changed = pg->last_line == NULL || strcmp(pg->last_line, text) != 0;
  bool due = pg->line_ms == 0 || since >= PG_LINE_INTERVAL_MS ||
             (phase_changed && since >= 1000) || at_end;
  if (!changed || !due) {
    free(text);
    return;
  }
  pg->line_ms = pg->now.ms;
  pg->line_phase = phase;
  free(pg->last_line);
  pg->last_line = text;
  pg->nlines++;
  if (pg->mode == PG_JSON) {
    km__pg_put_json(pg, km__pg_progress_json(pg, text));
    return;
  }
  char ts[21];
  km_iso8601((int64_t)time(NULL), ts);
  char *line = km_xasprintf("%s  progress  %s", ts + 11, text);
  fputs(line, stdout);
  fputc('\n', stdout);
  fflush(stdout);
  free(line);
}

static void on_tick(uv_timer_t *t) {
  km_progress_t *pg = t->data;
  if (pg->finished) return;
  sample(pg);
  draw(pg);
  maybe_line(pg, false);
}

/* ---- the runtime's view callbacks ---- */

/* A pipeline the engine ended ok is counted as the report will count it
 * (km_report_status) in a run: one whose resources were all blocked, or one
 * with a resource failed, is not "ok" in the summary, so not here either.
 * Returns the state to show (ev's stage set to where it was decided) and,
 * in *what, why (static), or NULL. */
static km_pipe_state_t as_reported(km_progress_t *pg, km_pipeline_t *p,
                                   km_pipe_ev_t *ev, const char **what) {
  km_pipe_state_t st = ev->state;
  *what = NULL;
  /* A plan leaves every resource pending: the rule is a run's. */
  if (st != KM_PIPE_OK || pg->rt->mode != KM_MODE_RUN) return st;
  const char *rs = km_report_status(km_pipeline_inv(p));
  if (strcmp(rs, "blocked") == 0) {
    pg->ended_blocked++;
    *what = "nothing could move, its resources are blocked";
    ev->stage = KM_STAGE_PREFLIGHT; /* where resources are refused */
    return KM_PIPE_BLOCKED;
  }
  if (strcmp(rs, "failed") == 0) {
    pg->ended_failed++;
    *what = "resources failed or were not verified, or rotation was left off";
    return KM_PIPE_FAILED;
  }
  return st;
}

static void on_pipe(void *ud, km_pipeline_t *p, const km_pipe_ev_t *ev) {
  km_progress_t *pg = ud;
  if (ev->kind != KM_PEV_ENDED) return;
  const char *what;
  km_pipe_ev_t shown = *ev;
  shown.state = as_reported(pg, p, &shown, &what);
  ev = &shown;
  if (pg->mode == PG_QUIET) return;
  if (ev->state != KM_PIPE_FAILED && ev->state != KM_PIPE_BLOCKED) return;
  /* One line per pipeline that ends failed or blocked, the first
   * PG_MAX_END_LINES of them; the summary lists every one. */
  if (++pg->end_lines > PG_MAX_END_LINES) {
    if (pg->end_lines == PG_MAX_END_LINES + 1) {
      char msg[200];
      snprintf(msg, sizeof(msg),
               "more than %d pipelines failed or were blocked: the "
               "progress lines count them, the summary lists each",
               PG_MAX_END_LINES);
      if (pg->mode == PG_JSON) {
        km_log_fields_t f = {NULL, NULL, NULL, "pipeline_lines_capped"};
        km__pg_put_json(pg, km_log_json_record(KM_LOG_INFO, &f, msg));
      } else {
        km__pg_keep_line(pg, msg);
      }
    }
    return;
  }
  km__pg_end_line(pg, p, ev, what);
}

static void on_item(void *ud, const km_wl_item_t *it) {
  km_progress_t *pg = ud;
  /* kmsim performs the sim driver's batches: nothing to announce unless
   * the operator must come back (scheduled). */
  if (pg->mode == PG_QUIET || (it->sim && it->state != KM_WL_SCHEDULED)) return;
  char line[512];
  km_worklist_line(it, line, sizeof(line));
  const char *tag = km_worklist_pending(it) ? "ACTION" : "console";
  if (pg->mode == PG_JSON) {
    km_log_fields_t f = {it->account, it->region, "migrate",
                         km_worklist_pending(it) ? "action" : "console"};
    json_t *rec = km_log_json_record(KM_LOG_INFO, &f, line);
    json_object_set_new(rec, "item", json_integer(it->no));
    json_object_set_new(rec, "state",
                        json_string(km_worklist_state_name(it->state)));
    json_object_set_new(rec, "keys", json_integer((json_int_t)it->keys.n));
    json_object_set_new(rec, "secrets",
                        json_integer((json_int_t)it->secrets.n));
    km__pg_put_json(pg, rec);
    return;
  }
  char *full = km_xasprintf("%s %s", tag, line);
  km__pg_keep_line(pg, full);
  free(full);
}

static void on_resumed(void *ud, const km_worklist_t *wl) {
  km_progress_t *pg = ud;
  if (pg->mode == PG_QUIET) return;
  if (pg->mode == PG_JSON) {
    for (size_t i = 0; i < wl->n; i++) /* spilled items have ended */
      if (wl->v[i].it != NULL && km_worklist_pending(wl->v[i].it))
        on_item(pg, wl->v[i].it);
    return;
  }
  /* Before the engine starts: nothing is drawn yet. */
  if (km_worklist_print_pending(wl, stdout) > 0)
    printf("(from an earlier sitting; kmsmig turns rotation off again "
           "before it waits for them)\n");
  fflush(stdout);
}

void km_progress_view(km_progress_t *pg, km_run_view_t *out) {
  memset(out, 0, sizeof(*out));
  out->pipe = on_pipe;
  out->item = on_item;
  out->resumed = on_resumed;
  out->ud = pg;
}

void km_progress_summary_json(km_progress_t *pg, const json_t *rep,
                              const char *run_dir, double secs, int exit_code) {
  km_log_fields_t f = {NULL, NULL, NULL, "summary"};
  char msg[300];
  snprintf(msg, sizeof(msg), "done in %.1fs, exit %d (details: report.json)",
           secs, exit_code);
  json_t *rec =
      km_log_json_record(exit_code == 0 ? KM_LOG_INFO : KM_LOG_WARN, &f, msg);
  json_t *totals = json_object_get(rep, "totals");
  if (totals != NULL) json_object_set(rec, "totals", totals);
  json_object_set_new(rec, "run_dir", json_string(run_dir));
  char *path = km_xasprintf("%s/report.json", run_dir);
  json_object_set_new(rec, "report", json_string(path));
  free(path);
  json_object_set_new(rec, "duration_s", json_real(secs));
  json_object_set_new(rec, "exit", json_integer(exit_code));
  km__pg_put_json(pg, rec);
}

/* ---- start, finish, close ---- */

static const char *verb(const km_runtime_t *rt) {
  return rt->rehearse != NULL ? "rehearse" : "run";
}

static const char *suffix(const km_runtime_t *rt) {
  return rt->rehearse != NULL ? " (REHEARSAL: kmsim on loopback)"
         : rt->rd.resumed     ? " (resuming)"
                              : "";
}

int km_progress_start(km_progress_t *pg, km_runtime_t *rt) {
  pg->rt = rt;
  pg->t0_ms = km_now_ms();
  pg->started_at = (int64_t)time(NULL);
  if (pg->mode == PG_JSON) {
    km_log_fields_t f = {NULL, NULL, NULL, "run_started"};
    char msg[600];
    snprintf(msg, sizeof(msg), "kmsmig %s %s: run directory %s%s", verb(rt),
             rt->m->name, rt->rd.dir, suffix(rt));
    json_t *rec = km_log_json_record(KM_LOG_INFO, &f, msg);
    json_object_set_new(rec, "run_dir", json_string(rt->rd.dir));
    json_object_set_new(rec, "resumed", json_boolean(rt->rd.resumed));
    km__pg_put_json(pg, rec);
  } else if (pg->mode != PG_QUIET) {
    printf("kmsmig %s %s: run directory %s%s\n", verb(rt), rt->m->name,
           rt->rd.dir, suffix(rt));
    fflush(stdout);
  }
  if (pg->mode == PG_BLOCK || pg->mode == PG_LINE) km_log_set_sink(on_log, pg);
  int rc = uv_timer_init(&rt->loop, &pg->timer);
  if (rc < 0) return KM_EIO;
  pg->timer.data = pg;
  pg->timer_on = true;
  uint64_t every = pg->mode == PG_BLOCK || pg->mode == PG_LINE ? 250 : 1000;
  uv_timer_start(&pg->timer, on_tick, every, every);
  /* The view never keeps the loop alive: the run ends when its work does. */
  uv_unref((uv_handle_t *)&pg->timer);
  pg->started = true;
  return 0;
}

void km_progress_finish(km_progress_t *pg) {
  if (pg->rt == NULL || pg->finished) return;
  sample(pg);
  maybe_line(pg, true);
  if (pg->mode == PG_BLOCK || pg->mode == PG_LINE) {
    erase(pg);
    km_log_set_sink(NULL, NULL);
  }
  pg->finished = true;
  if (pg->timer_on) uv_timer_stop(&pg->timer);
}

static void pg_free(km_progress_t *pg) {
  free(pg->last_draw);
  free(pg->last_line);
  free(pg);
}

static void on_closed(uv_handle_t *h) {
  pg_free(h->data);
}

void km_progress_close(km_progress_t *pg) {
  if (pg == NULL) return;
  if (!pg->finished && (pg->mode == PG_BLOCK || pg->mode == PG_LINE))
    km_log_set_sink(NULL, NULL);
  if (pg->timer_on)
    uv_close((uv_handle_t *)&pg->timer, on_closed);
  else
    pg_free(pg);
}
