/* A small leveled logger.  It writes one line per event with a UTC timestamp
 * so that a run log can be read next to the journal.  It never formats
 * credentials: callers pass resource IDs and codes only. */
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

void km_vlog(int level, const char *fmt, va_list ap) {
  static const char *names[] = {"error", "warn", "info", "debug"};
  if (level > log_level) return;
  FILE *fp = log_fp != NULL ? log_fp : stderr;
  char ts[21];
  km_iso8601((int64_t)time(NULL), ts);
  const char *name = names[level < 0 ? 0 : level > 3 ? 3 : level];
  /* With a run log, warnings and errors still reach the operator live
   * (an ACTION for the console driver is a warning). */
  va_list copy;
  va_copy(copy, ap);
  if (fp != stderr && level <= KM_LOG_WARN) {
    fprintf(stderr, "%s %-5s ", ts, name);
    vfprintf(stderr, fmt, copy);
    fputc('\n', stderr);
  }
  va_end(copy);
  fprintf(fp, "%s %-5s ", ts, name);
  vfprintf(fp, fmt, ap);
  fputc('\n', fp);
  fflush(fp);
}

void km_log(int level, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  km_vlog(level, fmt, ap);
  va_end(ap);
}
