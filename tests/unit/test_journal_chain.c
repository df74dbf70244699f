/* The journal's hash chain (docs/journal.md, "The chain"): record 1 carries
 * the run directory's manifest hash, every later record the SHA-256 of the
 * line before it as written, journal.mark the last durable record's number
 * and hash.  Editing, deleting, reordering or inserting a line, cutting the
 * end or rewriting it consistently are each refused by verify, replay and
 * open, naming the line, and a refused journal is left as it was; a torn
 * last line is not tampering. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "journal/journal.h"
#include "util/util.h"

#define ANCHOR                                                                 \
  "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

typedef struct {
  char dir[256];
  char file[300];
  char *lines[16];
  size_t n;
} tmp_t;

static char *path_in(const tmp_t *t, const char *name) {
  return km_xasprintf("%s/%s", t->dir, name);
}

static void put(const tmp_t *t, const char *name, const char *text) {
  char *p = path_in(t, name);
  FILE *f = fopen(p, "wb");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
  free(p);
}

static char *get(const tmp_t *t, const char *name) {
  char *p = path_in(t, name);
  FILE *f = fopen(p, "rb");
  free(p);
  if (f == NULL) return km_xstrdup("");
  km_buf_t b;
  km_buf_init(&b);
  char tmp[4096];
  size_t n;
  while ((n = fread(tmp, 1, sizeof(tmp), f)) > 0)
    km_buf_append(&b, tmp, n);
  fclose(f);
  km_buf_append(&b, "", 1);
  return km_buf_steal(&b);
}

/* A run directory with a manifest hash and a journal of 6 records; t->lines
 * are its lines (each with its newline). */
static int setup(void **st) {
  tmp_t *t = calloc(1, sizeof(*t));
  snprintf(t->dir, sizeof(t->dir), "/tmp/km_jchain_XXXXXX");
  if (mkdtemp(t->dir) == NULL) return -1;
  snprintf(t->file, sizeof(t->file), "%s/journal.jsonl", t->dir);
  put(t, "manifest.sha256", ANCHOR "\n");
  km_journal_t *j;
  km_err_t err;
  if (km_journal_open(t->dir, &j, NULL, &err) != 0) return -1;
  for (int i = 0; i < 6; i++) {
    json_t *f = json_pack("{s:s, s:i}", "id", "key-1", "i", i);
    if (km_journal_append(j, i % 2 ? "rotation_off_done" : "rotation_off", f,
                          NULL, &err) != 0)
      return -1;
    json_decref(f);
  }
  km_journal_close(j);
  char *all = get(t, "journal.jsonl");
  for (char *p = all, *nl; (nl = strchr(p, '\n')) != NULL && t->n < 16;
       p = nl + 1)
    t->lines[t->n++] = km_xasprintf("%.*s", (int)(nl - p + 1), p);
  free(all);
  *st = t;
  return 0;
}

static int teardown(void **st) {
  tmp_t *t = *st;
  const char *names[] = {"journal.jsonl", "journal.mark", "manifest.sha256"};
  for (size_t i = 0; i < 3; i++) {
    char *p = path_in(t, names[i]);
    unlink(p);
    free(p);
  }
  rmdir(t->dir);
  for (size_t i = 0; i < t->n; i++)
    free(t->lines[i]);
  free(t);
  return 0;
}

static void hash_of(const char *line, char out[KM_JOURNAL_HASH]) {
  unsigned char md[32];
  unsigned int n = 0;
  EVP_Digest(line, strlen(line), md, &n, EVP_sha256(), NULL);
  memcpy(out, "sha256:", 7);
  for (int i = 0; i < 32; i++)
    snprintf(out + 7 + 2 * i, 3, "%02x", md[i]);
}

/* Writes the journal from the lines named by idx (-1 ends). */
static void write_lines(tmp_t *t, const int *idx) {
  km_buf_t b;
  km_buf_init(&b);
  for (; *idx >= 0; idx++)
    km_buf_append(&b, t->lines[*idx], strlen(t->lines[*idx]));
  km_buf_append(&b, "", 1);
  put(t, "journal.jsonl", b.data);
  km_buf_free(&b);
}

/* verify, replay and open all refuse the journal with want and the line in
 * the message; open leaves the file as it was. */
static void refused(tmp_t *t, const char *line, const char *want) {
  char *before = get(t, "journal.jsonl");
  km_err_t err;
  memset(&err, 0, sizeof(err));
  assert_int_equal(km_journal_verify(t->dir, NULL, &err), KM_EJOURNAL);
  if (strstr(err.text, line) == NULL || strstr(err.text, want) == NULL)
    fail_msg("verify: want '%s' and '%s' in: %s", line, want, err.text);
  assert_non_null(strstr(err.text, "check automatic rotation"));
  char verify_text[sizeof(err.text)];
  memcpy(verify_text, err.text, sizeof(verify_text));
  km_journal_t *j = NULL;
  assert_int_equal(km_journal_open(t->dir, &j, NULL, &err), KM_EJOURNAL);
  assert_string_equal(err.text, verify_text);
  char *after = get(t, "journal.jsonl");
  assert_string_equal(before, after);
  free(before);
  free(after);
}

static void test_links(void **st) {
  tmp_t *t = *st;
  assert_int_equal(t->n, 6);
  /* Record 1 is anchored on the manifest hash; record k on line k-1. */
  assert_non_null(strstr(t->lines[0], "\"prev\":\"sha256:" ANCHOR "\""));
  assert_int_equal(strncmp(t->lines[0], "{\"v\":2,\"seq\":1,", 15), 0);
  char h[KM_JOURNAL_HASH], want[128];
  for (size_t i = 1; i < t->n; i++) {
    hash_of(t->lines[i - 1], h);
    snprintf(want, sizeof(want), "\"prev\":\"%s\"}", h);
    assert_non_null(strstr(t->lines[i], want));
  }
  /* The mark: the last record's number and hash. */
  char *mark = get(t, "journal.mark");
  hash_of(t->lines[5], h);
  snprintf(want, sizeof(want), "6 %s\n", h);
  assert_non_null(strstr(mark, want));
  free(mark);
  km_journal_info_t info;
  km_err_t err;
  assert_int_equal(km_journal_verify(t->dir, &info, &err), 0);
  assert_int_equal(info.records, 6);
  assert_int_equal(info.mark_seq, 6);
  assert_string_equal(info.last_hash, h);
  assert_string_equal(info.anchor, "sha256:" ANCHOR);
  /* Reopened, the chain goes on from the last line. */
  km_journal_t *j;
  assert_int_equal(km_journal_open(t->dir, &j, NULL, &err), 0);
  assert_int_equal(km_journal_append(j, "batch_done", NULL, NULL, &err), 0);
  km_journal_close(j);
  char *all = get(t, "journal.jsonl");
  snprintf(want, sizeof(want), "\"seq\":7,");
  assert_non_null(strstr(all, want));
  snprintf(want, sizeof(want), "\"prev\":\"%s\"}\n", h);
  assert_non_null(strstr(all, want));
  free(all);
  assert_int_equal(km_journal_verify(t->dir, &info, &err), 0);
  assert_int_equal(info.records, 7);
}

static void test_edited(void **st) {
  tmp_t *t = *st;
  char *p = strstr(t->lines[2], "\"i\":2");
  assert_non_null(p);
  p[4] = '9';
  write_lines(t, (int[]){0, 1, 2, 3, 4, 5, -1});
  refused(t, "line 3:", "edited");
}

static void test_edited_last_caught_by_mark(void **st) {
  tmp_t *t = *st;
  char *p = strstr(t->lines[5], "\"i\":5");
  p[4] = '9';
  write_lines(t, (int[]){0, 1, 2, 3, 4, 5, -1});
  refused(t, "line 6:", "journal.mark holds another hash");
}

static void test_deleted(void **st) {
  tmp_t *t = *st;
  write_lines(t, (int[]){0, 1, 3, 4, 5, -1});
  refused(t, "line 3:", "deleted");
}

static void test_reordered(void **st) {
  tmp_t *t = *st;
  write_lines(t, (int[]){0, 2, 1, 3, 4, 5, -1});
  refused(t, "line 2:", "reordered");
}

static void test_inserted(void **st) {
  tmp_t *t = *st;
  write_lines(t, (int[]){0, 1, 2, 1, 3, 4, 5, -1});
  refused(t, "line 4:", "inserted");
}

static void test_truncated(void **st) {
  tmp_t *t = *st;
  write_lines(t, (int[]){0, 1, 2, 3, -1});
  refused(t, "line 5:", "records were lost");
}

static void test_anchor(void **st) {
  tmp_t *t = *st;
  put(t, "manifest.sha256",
      "1123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n");
  refused(t, "line 1:", "not anchored");
}

static void test_mark_deleted(void **st) {
  tmp_t *t = *st;
  char *p = path_in(t, "journal.mark");
  unlink(p);
  free(p);
  refused(t, "journal.jsonl", "journal.mark is missing");
}

static void test_format1(void **st) {
  tmp_t *t = *st;
  put(t, "journal.jsonl",
      "{\"seq\":1,\"ts\":\"2025-01-01T00:00:00.000Z\",\"type\":\"x\","
      "\"fields\":{}}\n");
  put(t, "journal.mark", "                   1\n");
  refused(t, "journal.jsonl", "format 1");
}

static void test_torn_tail_is_not_tampering(void **st) {
  tmp_t *t = *st;
  write_lines(t, (int[]){0, 1, 2, 3, 4, 5, -1});
  char *all = get(t, "journal.jsonl");
  char *torn = km_xasprintf("%s{\"v\":2,\"seq\":7,\"ts\":\"2026", all);
  put(t, "journal.jsonl", torn);
  km_journal_info_t info;
  km_err_t err;
  assert_int_equal(km_journal_verify(t->dir, &info, &err), 0);
  assert_int_equal(info.records, 6);
  assert_int_equal(info.torn_line, 7);
  km_journal_t *j;
  assert_int_equal(km_journal_open(t->dir, &j, &info, &err), 0);
  assert_int_equal(km_journal_append(j, "batch_done", NULL, NULL, &err), 0);
  km_journal_close(j);
  assert_int_equal(km_journal_verify(t->dir, &info, &err), 0);
  assert_int_equal(info.records, 7);
  assert_int_equal(info.torn_bytes, 0);
  free(torn);
  free(all);
}

/* A reader of some record types (the report) sees exactly those, fields
 * and all; the others are skimmed, not parsed, and a line of theirs that
 * was edited still breaks the chain at its place. */
static int seen_i[8], nseen;
static int on_wanted(const km_journal_record_t *r, void *ud) {
  (void)ud;
  assert_string_equal(r->type, "rotation_off_done");
  assert_int_equal(r->seq % 2, 0);
  if (nseen < 8)
    seen_i[nseen++] = (int)json_integer_value(json_object_get(r->fields, "i"));
  return 0;
}

static void test_replay_types(void **st) {
  tmp_t *t = *st;
  static const char *const types[] = {"rotation_off_done", NULL};
  km_err_t err;
  nseen = 0;
  assert_int_equal(
      km_journal_replay_types(t->dir, types, on_wanted, NULL, &err), 0);
  assert_int_equal(nseen, 3);
  assert_int_equal(seen_i[0], 1);
  assert_int_equal(seen_i[1], 3);
  assert_int_equal(seen_i[2], 5);
  char *p = strstr(t->lines[2], "\"i\":2"); /* a rotation_off: skimmed */
  assert_non_null(p);
  p[4] = '9';
  write_lines(t, (int[]){0, 1, 2, 3, 4, 5, -1});
  nseen = 0;
  assert_int_equal(
      km_journal_replay_types(t->dir, types, on_wanted, NULL, &err),
      KM_EJOURNAL);
  if (strstr(err.text, "line 3:") == NULL)
    fail_msg("want line 3: %s", err.text);
}

int main(void) {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
  const struct CMUnitTest tests[] = {
      T(test_links),
      T(test_edited),
      T(test_edited_last_caught_by_mark),
      T(test_deleted),
      T(test_reordered),
      T(test_inserted),
      T(test_truncated),
      T(test_anchor),
      T(test_mark_deleted),
      T(test_format1),
      T(test_torn_tail_is_not_tampering),
      T(test_replay_types),
  };
#undef T
  km_log_set_level(KM_LOG_ERROR);
  return cmocka_run_group_tests(tests, NULL, NULL);
}
