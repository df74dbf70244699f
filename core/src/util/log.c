/* A small leveled logger.  It writes one record per event with a UTC
 * timestamp so that a run log can be read next to the journal, as text
 * ("ts level msg") or, with --log-format json, as one JSON object per line
 * with the fields of docs/cli.md (ts, level, msg, and account, region,
 * stage, event when the caller names them).  It never formats
 * credentials: callers pass resource IDs and codes only.  Messages carry
 * text from the server (names, error messages), so each one is cleaned
 * (util/text.c) and, in text, its continuation lines are indented: no
 * escape reaches the terminal and no message can forge a log line.
 *
 * Records go to the run log (km_log_set_file) and, up to the terminal's
 * level, to the terminal: stderr for text, stdout for json (one stream a
 * program can read whole), or the sink the live progress view installs so
 * that it can erase its block before a line and draw it again after. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "util.h"

static int log_level = KM_LOG_INFO;
static int term_level = KM_LOG_DEBUG;
static int log_format = KM_LOG_TEXT;
static FILE *log_fp;
static km_log_sink_fn sink;
static void *sink_ud;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

void km_log_set_level(int level) {
  log_level = level;
}

int km_log_get_level(void) {
  return log_level;
}

void km_log_set_term_level(int level) {
  term_level = level;
}

void km_log_set_format(int format) {
  log_format = format == KM_LOG_JSON ? KM_LOG_JSON : KM_LOG_TEXT;
}

int km_log_get_format(void) {
  return log_format;
}

void km_log_set_file(void *fp) {
  log_fp = fp;
}

void km_log_set_sink(km_log_sink_fn fn, void *ud) {
  sink = fn;
  sink_ud = ud;
}

const char *km_log_level_name(int level) {
  return level_names[level < 0 ? 0 : level > 3 ? 3 : level];
}

/* Wall-clock time with milliseconds for JSON records (the journal's form). */
static void ts_ms(char out[32]) {
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  char sec[21];
  km_iso8601((int64_t)now.tv_sec, sec);
  snprintf(out, 32, "%.19s.%03dZ", sec, (int)(now.tv_nsec / 1000000) % 1000);
}

static void set_clean(json_t *o, const char *key, const char *s) {
  if (s == NULL) return;
  char buf[1024];
  km_text_clean(s, buf, sizeof(buf));
  json_object_set_new(o, key, json_string(buf));
}

struct json_t *km_log_json_record(int level, const km_log_fields_t *f,
                                  const char *msg) {
  char ts[32];
  ts_ms(ts);
  json_t *o = json_object();
  json_object_set_new(o, "ts", json_string(ts));
  json_object_set_new(o, "level", json_string(km_log_level_name(level)));
  char *clean = km_text_clean_dup(msg != NULL ? msg : "");
  json_object_set_new(o, "msg", json_string(clean));
  free(clean);
  if (f != NULL) {
    set_clean(o, "account", f->account);
    set_clean(o, "region", f->region);
    set_clean(o, "stage", f->stage);
    set_clean(o, "event", f->event);
  }
  return o;
}

void km_log_json_line(const struct json_t *rec, km_buf_t *out) {
  char *text = json_dumps(rec, JSON_COMPACT | JSON_PRESERVE_ORDER);
  if (text != NULL) km_buf_puts(out, text);
  km_buf_putc(out, '\n');
  free(text);
}

/* One text record; lines after the first are indented under the message. */
static void text_line(km_buf_t *b, const char *ts, int level, const char *msg) {
  km_buf_printf(b, "%s %-5s ", ts, km_log_level_name(level));
  for (const char *p = msg; *p != '\0'; p++) {
    km_buf_putc(b, *p);
    if (*p == '\n') km_buf_puts(b, "    ");
  }
  km_buf_putc(b, '\n');
}

static void to_terminal(int level, const char *line) {
  if (sink != NULL) {
    sink(level, line, sink_ud);
    return;
  }
  FILE *t = log_format == KM_LOG_JSON ? stdout : stderr;
  fputs(line, t);
  fflush(t);
}

void km_vlogf(int level, const km_log_fields_t *f, const char *fmt,
              va_list ap) {
  if (level > log_level) return;
  char raw[8192], msg[8192]; /* a Lua traceback fits */
  vsnprintf(raw, sizeof(raw), fmt, ap);
  km_text_clean_lines(raw, msg, sizeof(msg));
  km_buf_t b;
  km_buf_init(&b);
  if (log_format == KM_LOG_JSON) {
    json_t *rec = km_log_json_record(level, f, msg);
    km_log_json_line(rec, &b);
    json_decref(rec);
  } else {
    char ts[21];
    km_iso8601((int64_t)time(NULL), ts);
    if (f != NULL && f->account != NULL) {
      /* "account region: msg", as the engine's lines always read. */
      char acct[256], reg[128];
      km_text_clean(f->account, acct, sizeof(acct));
      km_text_clean(f->region != NULL ? f->region : "-", reg, sizeof(reg));
      char *full = km_xasprintf("%s %s: %s", acct, reg, msg);
      text_line(&b, ts, level, full);
      free(full);
    } else {
      text_line(&b, ts, level, msg);
    }
  }
  /* With a run log, warnings and errors still reach the operator live
   * (an ACTION for the console driver is a warning); --quiet keeps only
   * errors on the terminal, the log keeps everything. */
  if (log_fp != NULL) {
    fputs(b.data, log_fp);
    fflush(log_fp);
    if (level <= KM_LOG_WARN && level <= term_level) to_terminal(level, b.data);
  } else if (level <= term_level) {
    to_terminal(level, b.data);
  }
  km_buf_free(&b);
}

void km_vlog(int level, const char *fmt, va_list ap) {
  km_vlogf(level, NULL, fmt, ap);
}

void km_logf(int level, const km_log_fields_t *f, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  km_vlogf(level, f, fmt, ap);
  va_end(ap);
}

void km_log(int level, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  km_vlogf(level, NULL, fmt, ap);
  va_end(ap);
}
