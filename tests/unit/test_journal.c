/* The run journal as resume sees it: records come back in order with their
 * fields, the file is private (0600), a crash's torn last line is ignored on
 * replay and cut off on reopen with numbering continuing, corruption in the
 * middle names its line, a secret-named field is never written, and a
 * second process cannot append to the same journal. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "journal/journal.h"
#include "util/util.h"

typedef struct {
  char dir[256];
  char file[300];
} tmp_t;

static int setup(void **st) {
  tmp_t *t = calloc(1, sizeof(*t));
  snprintf(t->dir, sizeof(t->dir), "/tmp/km_journal_XXXXXX");
  if (mkdtemp(t->dir) == NULL) return -1;
  snprintf(t->file, sizeof(t->file), "%s/journal.jsonl", t->dir);
  *st = t;
  return 0;
}

static int teardown(void **st) {
  tmp_t *t = *st;
  unlink(t->file);
  char *mark = km_xasprintf("%s/journal.mark", t->dir);
  unlink(mark);
  free(mark);
  rmdir(t->dir);
  free(t);
  return 0;
}

typedef struct {
  size_t n;
  uint64_t seqs[600];
  char types[600][32];
  json_t *last_fields;
} seen_t;

static int collect(const km_journal_record_t *r, void *ud) {
  seen_t *s = ud;
  if (s->n < 600) {
    s->seqs[s->n] = r->seq;
    snprintf(s->types[s->n], sizeof(s->types[0]), "%s", r->type);
  }
  s->n++;
  json_decref(s->last_fields);
  s->last_fields = json_incref(r->fields);
  return 0;
}

static char *slurp(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  assert_non_null(f);
  km_buf_t b;
  km_buf_init(&b);
  char tmp[4096];
  size_t n;
  while ((n = fread(tmp, 1, sizeof(tmp), f)) > 0)
    km_buf_append(&b, tmp, n);
  fclose(f);
  *len = b.len;
  return km_buf_steal(&b);
}

static void append_raw(const char *path, const char *s) {
  FILE *f = fopen(path, "ab");
  assert_non_null(f);
  fputs(s, f);
  fclose(f);
}

static void test_roundtrip_and_mode(void **st) {
  tmp_t *t = *st;
  km_journal_t *j;
  km_err_t err;
  assert_int_equal(km_journal_open(t->dir, &j, NULL, &err), 0);
  json_t *f = json_pack("{s:s,s:s,s:s,s:s,s:{s:b,s:s}}", "account", "app-a",
                        "region", "cn-hangzhou", "resource", "key-123", "kind",
                        "key", "policy", "enabled", 1, "interval", "604800s");
  uint64_t seq = 0;
  assert_int_equal(km_journal_append(j, "rotation_off_planned", f, &seq, &err),
                   0);
  assert_int_equal(seq, 1);
  json_decref(f);
  assert_int_equal(km_journal_append(j, "batch_submitted", NULL, &seq, &err),
                   0);
  assert_int_equal(seq, 2);
  assert_int_equal(km_journal_next_seq(j), 3);

  struct stat sb;
  assert_int_equal(stat(t->file, &sb), 0);
  assert_int_equal(sb.st_mode & 0777, 0600);

  /* Appended records are visible to a reader before close: they were
   * written and synced by the time append returned. */
  seen_t s;
  memset(&s, 0, sizeof(s));
  assert_int_equal(km_journal_replay(t->file, collect, &s, &err), 0);
  assert_int_equal(s.n, 2);
  assert_int_equal(s.seqs[0], 1);
  assert_string_equal(s.types[0], "rotation_off_planned");
  assert_string_equal(s.types[1], "batch_submitted");
  assert_true(json_is_object(s.last_fields));
  assert_int_equal(json_object_size(s.last_fields), 0);
  json_decref(s.last_fields);
  km_journal_close(j);

  /* Each line is one self-contained JSON envelope. */
  size_t len;
  char *data = slurp(t->file, &len);
  char *nl = strchr(data, '\n');
  assert_non_null(nl);
  *nl = '\0';
  json_t *rec = json_loads(data, 0, NULL);
  assert_non_null(rec);
  assert_int_equal(json_integer_value(json_object_get(rec, "seq")), 1);
  const char *ts = json_string_value(json_object_get(rec, "ts"));
  assert_non_null(ts);
  assert_int_equal(strlen(ts), 24);
  assert_int_equal(ts[23], 'Z');
  json_t *pol = json_object_get(json_object_get(rec, "fields"), "policy");
  assert_string_equal(json_string_value(json_object_get(pol, "interval")),
                      "604800s");
  json_decref(rec);
  free(data);

  /* A replay of the run directory finds the file too. */
  memset(&s, 0, sizeof(s));
  assert_int_equal(km_journal_replay(t->dir, collect, &s, &err), 0);
  assert_int_equal(s.n, 2);
  json_decref(s.last_fields);
}

static void test_mode_fixed_and_lock(void **st) {
  tmp_t *t = *st;
  append_raw(t->file, "");
  assert_int_equal(chmod(t->file, 0644), 0);
  km_journal_t *j, *j2;
  km_err_t err;
  assert_int_equal(km_journal_open(t->dir, &j, NULL, &err), 0);
  struct stat sb;
  assert_int_equal(stat(t->file, &sb), 0);
  assert_int_equal(sb.st_mode & 0777, 0600);
  /* A second writer (another run on the same directory) is refused. */
  assert_int_equal(km_journal_open(t->dir, &j2, NULL, &err), KM_EBUSY);
  assert_non_null(strstr(err.text, "another kmsmig process"));
  km_journal_close(j);
  assert_int_equal(km_journal_open(t->dir, &j2, NULL, &err), 0);
  km_journal_close(j2);
}

static void write_three(tmp_t *t) {
  km_journal_t *j;
  km_err_t err;
  assert_int_equal(km_journal_open(t->dir, &j, NULL, &err), 0);
  for (int i = 0; i < 3; i++) {
    json_t *f = json_pack("{s:i}", "i", i);
    assert_int_equal(km_journal_append(j, "task_done", f, NULL, &err), 0);
    json_decref(f);
  }
  km_journal_close(j);
}

static void check_torn_then_reopen(tmp_t *t, const char *tail) {
  write_three(t);
  size_t before;
  free(slurp(t->file, &before));
  append_raw(t->file, tail);

  seen_t s;
  memset(&s, 0, sizeof(s));
  km_journal_info_t info;
  km_err_t err;
  assert_int_equal(km_journal_replay_info(t->file, collect, &s, &info, &err),
                   0);
  assert_int_equal(s.n, 3);
  assert_int_equal(info.last_seq, 3);
  assert_int_equal(info.torn_bytes, strlen(tail));
  assert_int_equal(info.torn_line, 4);
  json_decref(s.last_fields);

  /* Reopening cuts the tail off and numbering continues at 4. */
  km_journal_t *j;
  assert_int_equal(km_journal_open(t->dir, &j, &info, &err), 0);
  assert_int_equal(info.torn_bytes, strlen(tail));
  size_t after;
  free(slurp(t->file, &after));
  assert_int_equal(after, before);
  uint64_t seq;
  assert_int_equal(km_journal_append(j, "rotation_restored", NULL, &seq, &err),
                   0);
  assert_int_equal(seq, 4);
  km_journal_close(j);

  memset(&s, 0, sizeof(s));
  assert_int_equal(km_journal_replay_info(t->file, collect, &s, &info, &err),
                   0);
  assert_int_equal(s.n, 4);
  assert_int_equal(info.torn_bytes, 0);
  assert_int_equal(s.seqs[3], 4);
  assert_string_equal(s.types[3], "rotation_restored");
  json_decref(s.last_fields);
}

static void test_torn_no_newline(void **st) {
  /* A crash in the middle of the write: the line has no newline. */
  check_torn_then_reopen(*st, "{\"seq\":4,\"ts\":\"2025-01-01T00:00:0");
}

static void test_torn_valid_json_without_newline(void **st) {
  /* Even a complete object is torn without its newline: append never
   * returned 0 for it, so its side effect never happened. */
  check_torn_then_reopen(
      *st, "{\"seq\":4,\"ts\":\"2025-01-01T00:00:00.000Z\",\"type\":\"x\"}");
}

static void test_torn_garbage_line(void **st) {
  /* Delayed allocation can leave zeros where the last write was. */
  check_torn_then_reopen(*st, "\x01\x02garbage\n");
}

static void test_mid_corruption(void **st) {
  tmp_t *t = *st;
  write_three(t);
  size_t len;
  char *data = slurp(t->file, &len);
  /* Damage line 2: its closing brace becomes 'X'. */
  char *l2 = strchr(data, '\n') + 1;
  char *end2 = strchr(l2, '\n');
  end2[-1] = 'X';
  FILE *f = fopen(t->file, "wb");
  fwrite(data, 1, len, f);
  fclose(f);
  free(data);

  km_err_t err;
  seen_t s;
  memset(&s, 0, sizeof(s));
  assert_int_equal(km_journal_replay(t->file, collect, &s, &err), KM_EJOURNAL);
  assert_non_null(strstr(err.text, "line 2"));
  json_decref(s.last_fields);
  km_journal_t *j;
  assert_int_equal(km_journal_open(t->dir, &j, NULL, &err), KM_EJOURNAL);
  assert_non_null(strstr(err.text, "line 2"));
  /* The file was not touched. */
  size_t after;
  free(slurp(t->file, &after));
  assert_int_equal(after, len);
}

static void test_seq_gap_is_corruption(void **st) {
  tmp_t *t = *st;
  write_three(t);
  append_raw(t->file, "{\"seq\":9,\"ts\":\"2025-01-01T00:00:00.000Z\","
                      "\"type\":\"x\",\"fields\":{}}\n");
  append_raw(t->file, "{\"seq\":10,\"ts\":\"2025-01-01T00:00:00.000Z\","
                      "\"type\":\"x\",\"fields\":{}}\n");
  km_err_t err;
  assert_int_equal(km_journal_replay(t->file, NULL, NULL, &err), KM_EJOURNAL);
  assert_non_null(strstr(err.text, "line 4"));
}

static void test_secret_keys_refused(void **st) {
  tmp_t *t = *st;
  km_journal_t *j;
  km_err_t err;
  assert_int_equal(km_journal_open(t->dir, &j, NULL, &err), 0);
  static const char *const bad[] = {
      "AccessKeySecret",      "securitytoken", "SecretData",
      "secret_value",         "KEY_MATERIAL",  "ImportToken",
      "EncryptedKeyMaterial", "Plaintext",     "access-key-secret"};
  for (size_t i = 0; i < KM_ARRAY_SIZE(bad); i++) {
    /* Deep inside an array inside an object. */
    json_t *f = json_pack("{s:s,s:{s:[{s:s}]}}", "resource", "s1", "detail",
                          "items", bad[i], "CANARY-VALUE");
    memset(&err, 0, sizeof(err));
    assert_int_equal(km_journal_append(j, "task_done", f, NULL, &err),
                     KM_EINVAL);
    assert_non_null(strstr(err.text, bad[i]));
    assert_null(strstr(err.text, "CANARY-VALUE"));
    json_decref(f);
  }
  /* Identifiers that merely contain "secret" are fine. */
  json_t *ok =
      json_pack("{s:s,s:s}", "secret_name", "db-pass", "SecretType", "Generic");
  uint64_t seq;
  assert_int_equal(km_journal_append(j, "task_done", ok, &seq, &err), 0);
  assert_int_equal(seq, 1);
  json_decref(ok);
  km_journal_close(j);
  size_t len;
  char *data = slurp(t->file, &len);
  assert_null(strstr(data, "CANARY-VALUE"));
  free(data);
}

static void test_bad_arguments(void **st) {
  tmp_t *t = *st;
  km_journal_t *j;
  km_err_t err;
  assert_int_equal(km_journal_open(t->dir, &j, NULL, &err), 0);
  assert_int_equal(km_journal_append(j, "", NULL, NULL, &err), KM_EINVAL);
  json_t *arr = json_array();
  assert_int_equal(km_journal_append(j, "x", arr, NULL, &err), KM_EINVAL);
  json_decref(arr);
  assert_int_equal(km_journal_next_seq(j), 1);
  km_journal_close(j);
  assert_int_equal(
      km_journal_replay("/nonexistent/km/journal.jsonl", NULL, NULL, &err),
      KM_ENOENT);
}

static void test_many_records_and_group_commit(void **st) {
  tmp_t *t = *st;
  km_journal_t *j;
  km_err_t err;
  assert_int_equal(km_journal_open(t->dir, &j, NULL, &err), 0);
  for (int i = 0; i < 500; i++) {
    json_t *f =
        json_pack("{s:i,s:s}", "i", i, "pad",
                  "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
    int rc = i % 2 ? km_journal_append_nosync(j, "task_done", f, NULL, &err)
                   : km_journal_append(j, "task_done", f, NULL, &err);
    assert_int_equal(rc, 0);
    json_decref(f);
  }
  assert_int_equal(km_journal_sync(j, &err), 0);
  km_journal_close(j);
  /* Reopen twice: numbering continues each time. */
  for (int round = 0; round < 2; round++) {
    km_journal_info_t info;
    assert_int_equal(km_journal_open(t->dir, &j, &info, &err), 0);
    assert_int_equal(info.records, 500 + round);
    assert_int_equal(km_journal_next_seq(j), 501 + round);
    assert_int_equal(km_journal_append(j, "task_done", NULL, NULL, &err), 0);
    km_journal_close(j);
  }
  seen_t *s = calloc(1, sizeof(*s));
  assert_int_equal(km_journal_replay(t->file, collect, s, &err), 0);
  assert_int_equal(s->n, 502);
  for (size_t i = 0; i < 502 && i < 600; i++)
    assert_int_equal(s->seqs[i], i + 1);
  json_decref(s->last_fields);
  free(s);
}

static int stop_at_two(const km_journal_record_t *r, void *ud) {
  (void)ud;
  return r->seq == 2 ? 42 : 0;
}

static void test_callback_stops_replay(void **st) {
  tmp_t *t = *st;
  write_three(t);
  assert_int_equal(km_journal_replay(t->file, stop_at_two, NULL, NULL), 42);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_roundtrip_and_mode, setup, teardown),
      cmocka_unit_test_setup_teardown(test_mode_fixed_and_lock, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_torn_no_newline, setup, teardown),
      cmocka_unit_test_setup_teardown(test_torn_valid_json_without_newline,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_torn_garbage_line, setup, teardown),
      cmocka_unit_test_setup_teardown(test_mid_corruption, setup, teardown),
      cmocka_unit_test_setup_teardown(test_seq_gap_is_corruption, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_secret_keys_refused, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_bad_arguments, setup, teardown),
      cmocka_unit_test_setup_teardown(test_many_records_and_group_commit, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_callback_stops_replay, setup,
                                      teardown),
  };
  km_log_set_level(KM_LOG_ERROR);
  return cmocka_run_group_tests(tests, NULL, NULL);
}
