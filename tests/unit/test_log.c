/* The logger's two formats and where records go (util/log.c): a JSON record
 * is one line with ts, level, msg and the named fields, every string
 * cleaned of terminal escapes; text keeps "ts level account region: msg";
 * with a run log, the terminal (here a sink) gets warnings and errors up
 * to its own level (--quiet: errors only) and the log gets everything. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "util/util.h"

static char sunk[8][1024];
static int nsunk;

static void sink(int level, const char *line, void *ud) {
  (void)level;
  (void)ud;
  if (nsunk < 8) snprintf(sunk[nsunk++], sizeof(sunk[0]), "%s", line);
}

static char *read_all(FILE *f) {
  fflush(f);
  long n = ftell(f);
  rewind(f);
  char *s = calloc(1, (size_t)n + 1);
  assert_int_equal(fread(s, 1, (size_t)n, f), (size_t)n);
  return s;
}

static void reset(void) {
  km_log_set_file(NULL);
  km_log_set_sink(NULL, NULL);
  km_log_set_format(KM_LOG_TEXT);
  km_log_set_level(KM_LOG_INFO);
  km_log_set_term_level(KM_LOG_DEBUG);
  nsunk = 0;
}

static void test_json_record(void **st) {
  (void)st;
  reset();
  FILE *f = tmpfile();
  km_log_set_file(f);
  km_log_set_sink(sink, NULL);
  km_log_set_format(KM_LOG_JSON);
  km_log_fields_t fl = {"app\x1b[31m-a", "cn-hangzhou", "prepare", "x"};
  km_logf(KM_LOG_WARN, &fl, "two\nlines \x1b]0;title\x07 %d", 7);
  char *text = read_all(f);
  /* One line, and the terminal got the same record. */
  assert_non_null(strchr(text, '\n'));
  assert_null(strchr(strchr(text, '\n') + 1, '\n'));
  assert_null(strchr(text, '\x1b'));
  assert_int_equal(nsunk, 1);
  assert_string_equal(sunk[0], text);
  json_error_t je;
  json_t *r = json_loads(text, 0, &je);
  assert_non_null(r);
  assert_string_equal(json_string_value(json_object_get(r, "level")), "warn");
  assert_string_equal(json_string_value(json_object_get(r, "account")),
                      "app?[31m-a");
  assert_string_equal(json_string_value(json_object_get(r, "region")),
                      "cn-hangzhou");
  assert_string_equal(json_string_value(json_object_get(r, "stage")),
                      "prepare");
  assert_string_equal(json_string_value(json_object_get(r, "event")), "x");
  const char *msg = json_string_value(json_object_get(r, "msg"));
  assert_non_null(strstr(msg, "lines ?]0;title? 7"));
  const char *ts = json_string_value(json_object_get(r, "ts"));
  assert_int_equal(strlen(ts), 24); /* 2026-12-02T03:12:55.123Z */
  assert_int_equal(ts[23], 'Z');
  json_decref(r);
  free(text);
  fclose(f);
  reset();
}

static void test_text_and_levels(void **st) {
  (void)st;
  reset();
  FILE *f = tmpfile();
  km_log_set_file(f);
  km_log_set_sink(sink, NULL);
  km_log_set_term_level(KM_LOG_ERROR); /* --quiet */
  km_log_fields_t fl = {"mgmt", "cn-shanghai", NULL, NULL};
  km_logf(KM_LOG_INFO, &fl, "started");
  km_logf(KM_LOG_WARN, &fl, "auto_renew is false");
  km_log(KM_LOG_ERROR, "journal: disk full");
  char *text = read_all(f);
  assert_non_null(strstr(text, " info  mgmt cn-shanghai: started\n"));
  assert_non_null(
      strstr(text, " warn  mgmt cn-shanghai: auto_renew is false\n"));
  assert_non_null(strstr(text, " error journal: disk full\n"));
  /* The terminal: the error only. */
  assert_int_equal(nsunk, 1);
  assert_non_null(strstr(sunk[0], "journal: disk full"));
  free(text);
  fclose(f);
  reset();
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_json_record),
      cmocka_unit_test(test_text_and_levels),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
