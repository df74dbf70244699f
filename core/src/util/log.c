/* A small leveled logger.  It writes one line per event with a UTC timestamp
 * so that a run log can be read next to the journal.  It never formats
 * credentials: callers pass resource IDs and codes only.  Messages carry
 * text from the server (names, error messages), so each one is cleaned
 * (util/text.c) and its continuation lines are indented: no escape reaches
 * the terminal and no message can forge a log line. */
#include <stdio.h>
#include <time.h>

#include "util.h"

static int log_level = KM_LOG_INFO;
static FILE *log_fp;

void km_log_set_level(int level) {
  log_level = level;
}

int km_log_get_level(void) {
  return log_level;
}

void km_log_set_file(void *fp) {
  log_fp = fp;
}

/* One event; lines after the first are indented under the message. */
static void put_line(FILE *fp, const char *ts, const char *name,
                     const char *msg) {
  fprintf(fp, "%s %-5s ", ts, name);
  for (const char *p = msg; *p != '\0'; p++) {
    fputc(*p, fp);
    if (*p == '\n') fputs("    ", fp);
  }
  fputc('\n', fp);
}

void km_vlog(int level, const char *fmt, va_list ap) {
  static const char *names[] = {"error", "warn", "info", "debug"};
  if (level > log_level) return;
  FILE *fp = log_fp != NULL ? log_fp : stderr;
  char ts[21];
  km_iso8601((int64_t)time(NULL), ts);
  const char *name = names[level < 0 ? 0 : level > 3 ? 3 : level];
  char raw[8192], msg[8192]; /* a Lua traceback fits */
  vsnprintf(raw, sizeof(raw), fmt, ap);
  km_text_clean_lines(raw, msg, sizeof(msg));
  /* With a run log, warnings and errors still reach the operator live
   * (an ACTION for the console driver is a warning). */
  if (fp != stderr && level <= KM_LOG_WARN) put_line(stderr, ts, name, msg);
  put_line(fp, ts, name, msg);
  fflush(fp);
}

void km_log(int level, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  km_vlog(level, fmt, ap);
  va_end(ap);
}
