/* What the progress view says (progress_priv.h): the live block, the one
 * status line, the plain and JSON progress lines, a failed pipeline's line.
 * All of it is computed from one snapshot of typed counters (pg->now) and
 * the samples of the last minute; names from the server are cleaned.
 *
 * ETA: the pipelines that have not ended, divided by the rate at which
 * pipelines ended over the last 30 s (sampled once a second).  It is
 * "unknown" before the quota check (until then no pipeline migrates),
 * while the operator has console steps open or a scheduled start is ahead
 * (a person's or a clock's pace, not kmsmig's), while fewer than 5 s have
 * been measured, and while fewer than PG_ETA_MIN_ENDED pipelines ended in
 * those 30 s (unless no more than that are left): one early pipeline of a
 * fleet that runs in step (an account with nothing to move) is no rate,
 * and 999 pipelines at its pace made "ETA 3h20m" for a run that ended
 * 3 s later. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/progress_priv.h"
#include "run/runtime.h"

static const char *const C_BOLD = "\x1b[1m", *const C_DIM = "\x1b[2m",
                         *const C_RED = "\x1b[31m", *const C_GREEN = "\x1b[32m",
                         *const C_YELLOW = "\x1b[33m", *const C_OFF = "\x1b[0m";

size_t km__pg_ended(const km_engine_counts_t *c) {
  return c->by_state[KM_PIPE_OK] + c->by_state[KM_PIPE_BLOCKED] +
         c->by_state[KM_PIPE_FAILED] + c->by_state[KM_PIPE_NOT_STARTED];
}

/* The worklist's items, read once per tick (a fleet has thousands: a scan
 * is microseconds; an ended item waits in the worklist's temporary file
 * and counts through the figures its slot keeps). */
void km__pg_worklist(const km_progress_t *pg, pg_snap_t *s) {
  const km_worklist_t *w = &pg->rt->wl;
  int64_t now = (int64_t)time(NULL);
  for (size_t i = 0; i < w->n; i++) {
    const km_wl_slot_t *sl = &w->v[i];
    const km_wl_item_t *it = sl->it;
    if (it == NULL) {
      km_wl_state_t st = (km_wl_state_t)sl->state;
      if ((st == KM_WL_DONE || st == KM_WL_FAILED || st == KM_WL_TIMED_OUT) &&
          sl->t_done >= pg->started_at) {
        s->keys_migrated += sl->migrated_keys;
        s->secrets_migrated += sl->migrated_secrets;
      }
      continue; /* ended: not pending */
    }
    if ((it->state == KM_WL_DONE || it->state == KM_WL_FAILED ||
         it->state == KM_WL_TIMED_OUT) &&
        it->t_done >= pg->started_at) {
      s->keys_migrated += it->migrated_keys;
      s->secrets_migrated += it->migrated_secrets;
    }
    if (!km_worklist_pending(it)) continue;
    bool scheduled = it->state == KM_WL_SCHEDULED ||
                     (it->state == KM_WL_WAITING && it->when > now);
    if (it->sim && !scheduled) {
      s->sim_batches++;
      continue;
    }
    s->console_open++;
    int64_t at = it->state == KM_WL_SCHEDULED ? it->rotation_at : it->when;
    if (scheduled && at > now && (s->next_no == 0 || at < s->next_at)) {
      s->next_no = it->no;
      s->next_at = at;
    } else if (!scheduled && s->console_first == 0) {
      s->console_first = it->no;
    }
  }
}

/* ---- small formatters ---- */

static void put_n(km_buf_t *b, size_t n) {
  char d[32];
  int len = snprintf(d, sizeof(d), "%zu", n);
  for (int i = 0; i < len; i++) {
    km_buf_putc(b, d[i]);
    if ((len - i - 1) % 3 == 0 && i < len - 1) km_buf_putc(b, ',');
  }
}

static void put_secs(km_buf_t *b, uint64_t s) {
  if (s >= 3600)
    km_buf_printf(b, "%lluh%02llum", (unsigned long long)(s / 3600),
                  (unsigned long long)(s % 3600 / 60));
  else if (s >= 60)
    km_buf_printf(b, "%llum%02llus", (unsigned long long)(s / 60),
                  (unsigned long long)(s % 60));
  else
    km_buf_printf(b, "%llus", (unsigned long long)s);
}

static void put_c(const km_progress_t *pg, km_buf_t *b, const char *color,
                  const char *text) {
  if (pg->color && color != NULL) km_buf_puts(b, color);
  km_buf_puts(b, text);
  if (pg->color && color != NULL) km_buf_puts(b, C_OFF);
}

/* The sample closest to secs ago (the oldest when the run is younger). */
static const pg_sample_t *ago(const km_progress_t *pg, unsigned secs) {
  const pg_sample_t *best = NULL;
  for (size_t i = 0; i < pg->nsamples; i++) {
    const pg_sample_t *x = &pg->ring[i];
    if (x->ms + secs * 1000u > pg->now.ms) continue; /* too recent */
    if (best == NULL || x->ms > best->ms) best = x;
  }
  if (best != NULL) return best;
  for (size_t i = 0; i < pg->nsamples; i++)
    if (best == NULL || pg->ring[i].ms < best->ms) best = &pg->ring[i];
  return best;
}

long km__pg_eta(const km_progress_t *pg, const char **why) {
  const pg_snap_t *s = &pg->now;
  size_t ended = km__pg_ended(&s->c);
  if (ended >= s->c.pipelines) return 0;
  *why = "unknown (before the quota check)";
  if (!s->c.barrier_passed) return -1;
  *why = s->console_first == 0 && s->next_no > 0
             ? "unknown (scheduled start ahead)"
             : "unknown (console steps open)";
  if (s->console_open > 0) return -1;
  const pg_sample_t *x = ago(pg, PG_ETA_WINDOW_S);
  *why = "unknown (measuring)";
  if (x == NULL || s->ms - x->ms < 5000) return -1;
  *why = "unknown (no pipeline ended in 30 s)";
  if (ended <= x->ended) return -1;
  size_t recent = ended - x->ended, left = s->c.pipelines - ended;
  *why = "unknown (too few pipelines ended in 30 s to measure)";
  if (recent < PG_ETA_MIN_ENDED && recent < left) return -1;
  double rate = (double)recent * 1000.0 / (double)(s->ms - x->ms);
  return (long)((double)left / rate + 0.5);
}

static void put_eta(const km_progress_t *pg, km_buf_t *b) {
  const char *why = NULL;
  long e = km__pg_eta(pg, &why);
  km_buf_puts(b, "ETA ");
  if (e < 0)
    km_buf_puts(b, why);
  else
    put_secs(b, (uint64_t)e);
}

/* Percent of calls throttled, overall and in the last 10 s. */
static double throttled_pct(const km_progress_t *pg, bool recent) {
  uint64_t g = pg->now.rl.granted, t = pg->now.rl.throttled;
  if (recent) {
    const pg_sample_t *x = ago(pg, PG_THROTTLE_WINDOW_S);
    if (x != NULL) {
      g -= x->granted;
      t -= x->throttled;
    }
  }
  return g == 0 ? 0.0 : 100.0 * (double)t / (double)g;
}

/* What the run waits for, parts joined by "; " ("-" when it only works). */
static void put_waiting(const km_progress_t *pg, km_buf_t *b) {
  const pg_snap_t *s = &pg->now;
  size_t start = b->len;
  if (km__pg_ended(&s->c) >= s->c.pipelines) {
    km_buf_puts(b, "-"); /* the run is over */
    return;
  }
  if (!s->c.barrier_passed && s->c.by_state[KM_PIPE_WAITING] > 0) {
    km_buf_puts(b, "quota check: ");
    put_n(b, s->c.by_state[KM_PIPE_WAITING] + km__pg_ended(&s->c));
    km_buf_puts(b, "/");
    put_n(b, s->c.pipelines);
    km_buf_puts(b, " pipelines discovered");
  }
  if (s->console_open > 0) {
    if (b->len > start) km_buf_puts(b, "; ");
    km_buf_printf(b, "console: %zu item%s open", s->console_open,
                  s->console_open == 1 ? "" : "s");
    if (s->console_first > 0)
      km_buf_printf(b, ", ACTION #%d now", s->console_first);
    if (s->next_no > 0) {
      char hm[32];
      time_t at = (time_t)s->next_at;
      struct tm lt;
      localtime_r(&at, &lt);
      strftime(hm, sizeof(hm), "%H:%M %Z", &lt);
      km_buf_printf(b, ", next ACTION #%d at %s", s->next_no, hm);
    }
  }
  if (s->sim_batches > 0) {
    if (b->len > start) km_buf_puts(b, "; ");
    km_buf_printf(b, "batches: %zu in kmsim's console", s->sim_batches);
  }
  double recent = throttled_pct(pg, true);
  if (recent > 0.0 || s->rl.queued > 0) {
    if (b->len > start) km_buf_puts(b, "; ");
    if (recent > 0.0)
      km_buf_printf(b, "throttling: %.1f%% of calls (10 s), ", recent);
    else
      km_buf_puts(b, "rate limits: ");
    km_buf_printf(b, "%llu call%s queued", (unsigned long long)s->rl.queued,
                  s->rl.queued == 1 ? "" : "s");
  }
  if (b->len == start) km_buf_puts(b, "-");
}

static const char *const stage_short[KM_STAGE__COUNT] = {
    "discover", "preflight", "prepare", "migrate",
    "restore",  "verify",    "observe"};

/* ---- the block, the line ---- */

/* Appends line (with its escapes) cut to cols-1 visible characters, so
 * that no line wraps and the block's height is exact. */
static void put_cut(km_buf_t *b, const char *line, int cols) {
  size_t vis = 0, max = cols > 1 ? (size_t)cols - 1 : 1;
  bool esc = false, colored = false;
  for (const char *p = line; *p; p++) {
    unsigned char c = (unsigned char)*p;
    if (c == 0x1b) esc = colored = true;
    if (esc) {
      km_buf_putc(b, *p);
      if (c == 'm' || c == 'A' || c == 'J') esc = false;
      continue;
    }
    if ((c & 0xc0) != 0x80 && ++vis > max) break;
    km_buf_putc(b, *p);
  }
  if (colored) km_buf_puts(b, C_OFF);
  km_buf_putc(b, '\n');
}

size_t km__pg_visible(const char *s) {
  size_t n = 0;
  bool esc = false;
  for (const char *p = s; *p; p++) {
    unsigned char c = (unsigned char)*p;
    if (c == 0x1b) esc = true;
    if (esc) {
      if (c == 'm' || c == 'A' || c == 'J') esc = false;
      continue;
    }
    if (c != '\r' && c != '\n' && (c & 0xc0) != 0x80) n++;
  }
  return n;
}

/* ", N not started" and, apart from them, the pipelines a wave gate held
 * and those waiting for their window: nothing failed there, and an
 * operator reads "not started" as "something stopped them". */
static void put_not_started(const km_engine_counts_t *c, km_buf_t *l) {
  size_t gate = c->held[KM_HELD_GATE], window = c->held[KM_HELD_WINDOW];
  km_buf_printf(l, ", %zu not started",
                c->by_state[KM_PIPE_NOT_STARTED] - gate - window);
  if (gate > 0) km_buf_printf(l, ", %zu held at a wave gate", gate);
  if (window > 0) km_buf_printf(l, ", %zu waiting for their window", window);
}

static void put_counts(const km_progress_t *pg, km_buf_t *l) {
  const km_engine_counts_t *c = &pg->now.c;
  char n[32];
  snprintf(n, sizeof(n), "%zu ok", c->by_state[KM_PIPE_OK]);
  put_c(pg, l, c->by_state[KM_PIPE_OK] ? C_GREEN : NULL, n);
  snprintf(n, sizeof(n), ", %zu blocked", c->by_state[KM_PIPE_BLOCKED]);
  put_c(pg, l, c->by_state[KM_PIPE_BLOCKED] ? C_YELLOW : NULL, n);
  snprintf(n, sizeof(n), ", %zu failed", c->by_state[KM_PIPE_FAILED]);
  put_c(pg, l, c->by_state[KM_PIPE_FAILED] ? C_RED : NULL, n);
  put_not_started(c, l);
}

void km__pg_block(const km_progress_t *pg, km_buf_t *b, int cols) {
  const pg_snap_t *s = &pg->now;
  km_buf_t l;
  km_buf_init(&l);
  put_c(pg, &l, C_BOLD, "kmsmig run ");
  char name[128];
  km_text_clean(pg->rt->m->name, name, sizeof(name));
  put_c(pg, &l, C_BOLD, name);
  km_buf_puts(&l, "   elapsed ");
  put_secs(&l, (s->ms - pg->t0_ms) / 1000);
  km_buf_puts(&l, "   ");
  put_eta(pg, &l);
  put_cut(b, l.data, cols);

  km_buf_reset(&l);
  put_c(pg, &l, C_DIM, "accounts  ");
  put_n(&l, s->c.accounts_ended);
  km_buf_puts(&l, " / ");
  put_n(&l, s->c.accounts);
  km_buf_puts(&l, " done   pipelines ");
  put_n(&l, km__pg_ended(&s->c));
  km_buf_puts(&l, " / ");
  put_n(&l, s->c.pipelines);
  km_buf_puts(&l, " ended: ");
  put_counts(pg, &l);
  put_cut(b, l.data, cols);

  km_buf_reset(&l);
  put_c(pg, &l, C_DIM, "stages    ");
  km_buf_printf(&l, "pending %zu  ", s->c.by_state[KM_PIPE_PENDING]);
  for (int i = 0; i < KM_STAGE__COUNT; i++) {
    km_buf_printf(&l, "%s %zu  ", stage_short[i], s->c.in_stage[i]);
    if (i == KM_STAGE_PREFLIGHT)
      km_buf_printf(&l, "barrier %zu  ", s->c.by_state[KM_PIPE_WAITING]);
  }
  put_cut(b, l.data, cols);

  km_buf_reset(&l);
  put_c(pg, &l, C_DIM, "migrated  ");
  put_n(&l, s->keys_migrated);
  km_buf_puts(&l, " keys, ");
  put_n(&l, s->secrets_migrated);
  km_buf_puts(&l, " secrets   calls ");
  put_n(&l, (size_t)s->rl.granted);
  km_buf_printf(&l, ", %.1f%% throttled (%.1f%% in the last 10 s)",
                throttled_pct(pg, false), throttled_pct(pg, true));
  put_cut(b, l.data, cols);

  km_buf_reset(&l);
  put_c(pg, &l, C_DIM, "waiting   ");
  put_waiting(pg, &l);
  put_cut(b, l.data, cols);
  km_buf_free(&l);
}

/* The running stages that have pipelines: "migrate 40, restore 2". */
static void put_busy(const km_progress_t *pg, km_buf_t *b) {
  const km_engine_counts_t *c = &pg->now.c;
  size_t start = b->len;
  for (int i = 0; i < KM_STAGE__COUNT; i++) {
    if (c->in_stage[i] == 0) continue;
    if (b->len > start) km_buf_puts(b, ", ");
    km_buf_printf(b, "%s %zu", stage_short[i], c->in_stage[i]);
  }
  if (c->by_state[KM_PIPE_WAITING] > 0) {
    if (b->len > start) km_buf_puts(b, ", ");
    km_buf_printf(b, "barrier %zu", c->by_state[KM_PIPE_WAITING]);
  }
  if (b->len == start) km_buf_puts(b, "none");
}

/* The status line of a terminal without colour: no escape at all. */
void km__pg_line(const km_progress_t *pg, km_buf_t *b, int cols) {
  const pg_snap_t *s = &pg->now;
  km_buf_t l;
  km_buf_init(&l);
  km_buf_puts(&l, "\r[");
  put_secs(&l, (s->ms - pg->t0_ms) / 1000);
  km_buf_printf(&l, "] accounts %zu/%zu, running: ", s->c.accounts_ended,
                s->c.accounts);
  put_busy(pg, &l);
  km_buf_printf(&l, "; migrated %zu keys, %zu secrets; %.1f%% throttled; ",
                s->keys_migrated, s->secrets_migrated,
                throttled_pct(pg, false));
  put_eta(pg, &l);
  km_buf_puts(&l, "; waiting: ");
  put_waiting(pg, &l);
  /* Cut to the width (no wrap), padded over what the last one left. */
  size_t max = cols > 1 ? (size_t)cols - 1 : 1, vis = 0;
  for (const char *p = l.data; *p; p++) {
    if (((unsigned char)*p & 0xc0) != 0x80 && *p != '\r' && ++vis > max) break;
    km_buf_putc(b, *p);
  }
  int pad = pg->drawn_width - (int)(vis > max ? max : vis);
  if (pad > 0) km_buf_printf(b, "%*s", pad, "");
  km_buf_free(&l);
}

/* ---- progress lines ---- */

char *km__pg_summary_text(const km_progress_t *pg, bool multiline) {
  const pg_snap_t *s = &pg->now;
  /* Off a terminal a record is up to three lines (counts, what runs, what
   * it waits for), each short enough to read in a log viewer. */
  const char *sep = multiline ? "\n           " : "; ";
  km_buf_t b;
  km_buf_init(&b);
  km_buf_puts(&b, "accounts ");
  put_n(&b, s->c.accounts_ended);
  km_buf_puts(&b, "/");
  put_n(&b, s->c.accounts);
  km_buf_puts(&b, " done; pipelines ");
  put_n(&b, km__pg_ended(&s->c));
  km_buf_puts(&b, "/");
  put_n(&b, s->c.pipelines);
  km_buf_printf(&b, " ended: %zu ok, %zu blocked, %zu failed",
                s->c.by_state[KM_PIPE_OK], s->c.by_state[KM_PIPE_BLOCKED],
                s->c.by_state[KM_PIPE_FAILED]);
  put_not_started(&s->c, &b);
  km_buf_printf(&b, "; %zu keys, %zu secrets migrated; ", s->keys_migrated,
                s->secrets_migrated);
  put_eta(pg, &b);
  km_buf_printf(&b, "%srunning: ", sep);
  put_busy(pg, &b);
  km_buf_puts(&b, "; calls ");
  put_n(&b, (size_t)s->rl.granted);
  km_buf_printf(&b, ", %.1f%% throttled", throttled_pct(pg, false));
  km_buf_t w;
  km_buf_init(&w);
  put_waiting(pg, &w);
  if (strcmp(w.data, "-") != 0) km_buf_printf(&b, "%swaiting: %s", sep, w.data);
  km_buf_free(&w);
  return km_buf_steal(&b);
}

json_t *km__pg_progress_json(const km_progress_t *pg, const char *text) {
  const pg_snap_t *s = &pg->now;
  km_log_fields_t f = {NULL, NULL, NULL, "progress"};
  json_t *r = km_log_json_record(KM_LOG_INFO, &f, text);
  json_object_set_new(r, "accounts",
                      json_pack("{s:I, s:I}", "done",
                                (json_int_t)s->c.accounts_ended, "total",
                                (json_int_t)s->c.accounts));
  const size_t *st = s->c.by_state;
  size_t gate = s->c.held[KM_HELD_GATE], window = s->c.held[KM_HELD_WINDOW];
  json_object_set_new(
      r, "pipelines",
      json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "total",
                (json_int_t)s->c.pipelines, "pending",
                (json_int_t)st[KM_PIPE_PENDING], "barrier",
                (json_int_t)st[KM_PIPE_WAITING], "ok",
                (json_int_t)st[KM_PIPE_OK], "blocked",
                (json_int_t)st[KM_PIPE_BLOCKED], "failed",
                (json_int_t)st[KM_PIPE_FAILED], "not_started",
                (json_int_t)(st[KM_PIPE_NOT_STARTED] - gate - window), "held",
                (json_int_t)gate, "waiting", (json_int_t)window));
  json_t *stages = json_object();
  for (int i = 0; i < KM_STAGE__COUNT; i++)
    json_object_set_new(stages, stage_short[i],
                        json_integer((json_int_t)s->c.in_stage[i]));
  json_object_set_new(r, "stages", stages);
  json_object_set_new(r, "migrated",
                      json_pack("{s:I, s:I}", "keys",
                                (json_int_t)s->keys_migrated, "secrets",
                                (json_int_t)s->secrets_migrated));
  json_object_set_new(r, "calls",
                      json_pack("{s:I, s:I, s:I}", "sent",
                                (json_int_t)s->rl.granted, "throttled",
                                (json_int_t)s->rl.throttled, "queued",
                                (json_int_t)s->rl.queued));
  const char *why = NULL;
  long e = km__pg_eta(pg, &why);
  json_object_set_new(r, "eta_s", e >= 0 ? json_integer(e) : json_null());
  km_buf_t w;
  km_buf_init(&w);
  put_waiting(pg, &w);
  json_object_set_new(r, "waiting", json_string(w.data));
  km_buf_free(&w);
  return r;
}

/* A pipeline that ended failed or blocked, in a word (its Code); the
 * cause and the fix are printed once, in the summary. */
void km__pg_end_line(km_progress_t *pg, km_pipeline_t *p,
                     const km_pipe_ev_t *ev, const char *what) {
  const km_target_t *t = km_pipeline_target(p);
  const km_err_t *e = km_pipeline_error(p);
  const char *word = km_pipe_state_name(ev->state);
  const char *why = e == NULL                  ? what
                    : e->cloud_code[0] != '\0' ? e->cloud_code
                                               : km_err_name(e->code);
  char acct[96], code[96];
  km_text_clean(t->account, acct, sizeof(acct));
  km_text_clean(why != NULL ? why : "", code, sizeof(code));
  if (pg->mode == PG_JSON) {
    km_log_fields_t f = {t->account, t->region, km_stage_name(ev->stage),
                         ev->state == KM_PIPE_FAILED ? "pipeline_failed"
                                                     : "pipeline_blocked"};
    char msg[300];
    snprintf(msg, sizeof(msg),
             "%s %s%s (the cause and the fix are in the "
             "summary and report.json)",
             word, why ? ": " : "", code);
    json_t *rec = km_log_json_record(
        ev->state == KM_PIPE_FAILED ? KM_LOG_ERROR : KM_LOG_WARN, &f, msg);
    if (why != NULL) json_object_set_new(rec, "code", json_string(code));
    km__pg_put_json(pg, rec);
    return;
  }
  char ts[21];
  km_iso8601((int64_t)time(NULL), ts);
  km_buf_t b;
  km_buf_init(&b);
  km_buf_printf(&b, "%s  %-12s %-14s %-10s ", ts + 11, acct, t->region,
                km_stage_name(ev->stage));
  put_c(pg, &b, ev->state == KM_PIPE_FAILED ? C_RED : C_YELLOW, word);
  if (why != NULL)
    km_buf_printf(&b, ": %s (the cause and the fix are in the summary)", code);
  km__pg_keep_line(pg, b.data);
  km_buf_free(&b);
}
