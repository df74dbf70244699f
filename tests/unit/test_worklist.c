/* The console worklist's fold and rendering: a scheduled placeholder turns
 * into the pipeline's first batch, a stop (rotation_restored) pauses a
 * waiting item and batch_resumed lists it again, batch_seen / batch_done
 * move it on with their times, and a hostile secret name (HTML, control
 * characters, Markdown code-span breakers) comes out escaped in every
 * file, which are written mode 0600. */
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

#include "run/worklist.h"
#include "util/util.h"

#define EVIL "<img src=x onerror=alert(1)>`|\\u001b[31m" /* JSON text */

static km_wl_item_t *note(km_worklist_t *w, const char *type, const char *js,
                          int64_t ts) {
  json_error_t je;
  json_t *o = json_loads(js, 0, &je);
  assert_non_null(o);
  km_wl_item_t *it = km_worklist_note(w, type, o, ts);
  json_decref(o);
  return it;
}

static const char *SUBMIT =
    "{\"account\":\"app-a\",\"region\":\"cn-hangzhou\",\"client_token\":"
    "\"kmsmig-1\",\"keys\":[\"key-1\",\"key-2\"],\"secrets\":[\"" EVIL
    "\"],\"instance\":\"kst-1\",\"set_default\":true,\"when\":"
    "\"2030-01-01T00:00:00Z\",\"driver\":\"console\",\"account_id\":"
    "\"1000000000000002\",\"instance_type\":\"software\",\"access_role\":"
    "\"acs:ram::1000000000000002:role/ResourceDirectoryAccountAccessRole\","
    "\"all_pending\":true}";

static void test_fold(void **st) {
  (void)st;
  km_worklist_t w;
  km_worklist_init(&w);
  km_wl_item_t tmp;
  km_wl_item_t *it =
      note(&w, "rotation_wait",
           "{\"account\":\"app-a\",\"region\":\"cn-hangzhou\",\"when\":"
           "\"2030-01-01T00:00:00Z\",\"rotation_at\":\"2029-12-31T23:50:00Z\","
           "\"driver\":\"console\",\"instance\":\"kst-1\"}",
           100);
  assert_non_null(it);
  assert_int_equal(it->state, KM_WL_SCHEDULED);
  assert_true(km_worklist_pending(it));
  it = note(&w, "batch_submitted", SUBMIT, 200);
  assert_int_equal(w.n, 1); /* the placeholder became the batch */
  assert_int_equal(it->state, KM_WL_WAITING);
  assert_int_equal(it->keys.n, 2);
  assert_true(it->when > 0 && it->all_pending && it->set_default);
  assert_null(note(&w, "batch_submitted", SUBMIT, 300)); /* replayed */
  note(&w, "rotation_restored",
       "{\"account\":\"app-a\",\"region\":\"cn-hangzhou\",\"kind\":\"key\","
       "\"id\":\"key-1\"}",
       300);
  assert_int_equal(w.v[0].it->state, KM_WL_PAUSED);
  note(&w, "batch_resumed",
       "{\"account\":\"app-a\",\"region\":\"cn-hangzhou\",\"client_token\":"
       "\"kmsmig-1\"}",
       400);
  assert_int_equal(w.v[0].it->state, KM_WL_WAITING);
  note(&w, "batch_seen",
       "{\"account\":\"app-a\",\"region\":\"cn-hangzhou\",\"client_token\":"
       "\"kmsmig-1\",\"in_instance\":1}",
       500);
  assert_int_equal(w.v[0].it->state, KM_WL_MIGRATING);
  assert_int_equal(w.v[0].it->t_seen, 500);
  note(&w, "batch_done",
       "{\"account\":\"app-a\",\"region\":\"cn-hangzhou\",\"client_token\":"
       "\"kmsmig-1\",\"migrated_keys\":[\"key-1\",\"key-2\"],"
       "\"migrated_secrets\":[],\"failed_keys\":[],\"failed_secrets\":[\"x\"],"
       "\"timed_out\":true}",
       600);
  assert_int_equal(w.v[0].it->state, KM_WL_TIMED_OUT);
  assert_int_equal(w.v[0].it->migrated, 2);
  /* Ended: the numbers stay, the lists are gone (report.json has them). */
  assert_int_equal(w.v[0].it->nkeys, 2);
  assert_int_equal(w.v[0].it->keys.n, 0);
  assert_false(km_worklist_pending(km_worklist_at(&w, 0, &tmp)));
  /* Another pipeline's token never matches. */
  assert_null(note(&w, "batch_done",
                   "{\"account\":\"app-b\",\"region\":\"cn-hangzhou\","
                   "\"client_token\":\"kmsmig-1\"}",
                   700));
  /* The next note moved the ended item to the temporary file: it reads
   * back whole, and is final. */
  assert_null(w.v[0].it);
  const km_wl_item_t *back = km_worklist_at(&w, 0, &tmp);
  assert_non_null(back);
  assert_int_equal(back->state, KM_WL_TIMED_OUT);
  assert_int_equal(back->migrated, 2);
  assert_int_equal(back->failed, 1);
  assert_int_equal(back->nkeys, 2);
  assert_int_equal(back->t_seen, 500);
  assert_string_equal(back->account, "app-a");
  assert_string_equal(back->token, "kmsmig-1");
  assert_string_equal(back->instance, "kst-1");
  assert_int_equal(w.v[0].migrated_keys, 2);
  assert_null(note(&w, "batch_submitted", SUBMIT, 800)); /* replayed */
  assert_null(note(&w, "batch_done",
                   "{\"account\":\"app-a\",\"region\":\"cn-hangzhou\","
                   "\"client_token\":\"kmsmig-1\"}",
                   900));
  assert_int_equal(w.n, 1);
  km_worklist_free(&w);
}

static char *slurp(const char *path, mode_t *mode) {
  struct stat sb;
  assert_int_equal(stat(path, &sb), 0);
  *mode = sb.st_mode & 0777;
  FILE *f = fopen(path, "r");
  assert_non_null(f);
  char *buf = calloc(1, (size_t)sb.st_size + 1);
  assert_int_equal(fread(buf, 1, (size_t)sb.st_size, f), (size_t)sb.st_size);
  fclose(f);
  return buf;
}

static void test_escaped_files(void **st) {
  (void)st;
  km_worklist_t w;
  km_worklist_init(&w);
  note(&w, "batch_submitted", SUBMIT, 200);
  char dir[] = "/tmp/km_worklist_XXXXXX";
  assert_non_null(mkdtemp(dir));
  km_err_t err;
  assert_int_equal(km_worklist_write(&w, dir, &err), 0);
  const char *names[] = {"worklist.html", "worklist.md", "worklist.json"};
  for (int i = 0; i < 3; i++) {
    char path[300];
    snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
    mode_t mode;
    char *text = slurp(path, &mode);
    assert_int_equal(mode, 0600);
    if (i < 2) assert_null(strstr(text, "<img")); /* JSON keeps the data */
    assert_null(strchr(text, '\x1b'));            /* no terminal escape */
    assert_non_null(strstr(text, "key-2"));
    if (i == 0) {
      assert_non_null(strstr(text, "&lt;img src=x onerror=alert(1)&gt;"));
      assert_non_null(strstr(text, "Keys and Secrets"));
      assert_non_null(strstr(text, "UTC+8"));
    }
    if (i == 1) assert_null(strstr(text, "`|")); /* code span intact */
    free(text);
    unlink(path);
  }
  rmdir(dir);
  char line[512];
  km_worklist_line(w.v[0].it, line, sizeof(line));
  assert_non_null(strstr(line, "see worklist.md"));
  assert_true(strlen(line) < 160);
  km_worklist_free(&w);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_fold),
      cmocka_unit_test(test_escaped_files),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
