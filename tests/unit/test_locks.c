/* Run locks (core/src/run/locks.c): a lock file reads back with what it
 * was written with; a file that is not a lock, of another version, or
 * missing a field is refused (never read as "nobody holds it"); control
 * characters in a lock do not reach the terminal.  Taking is all or
 * nothing: a conflict on the second account × region releases the first,
 * a second run directory is refused, the same run directory re-owns its
 * locks, and release leaves a lock another run broke. */
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

#include "run/locks.h"
#include "util/util.h"

static km_lock_info_t sample(void) {
  km_lock_info_t li = {
      .token = "0123456789abcdef0123456789abcdef",
      .run_id = "r1",
      .run_dir = "/runs/r1",
      .host = "h1",
      .pid = 4242,
      .since = "2026-12-02T06:00:00Z",
      .account = "app-a",
      .account_id = "1000000000000002",
      .region = "cn-hangzhou",
      .plan_sha256 = NULL,
      .shard = "2/4",
  };
  return li;
}

static void round_trip(void **state) {
  (void)state;
  km_lock_info_t in = sample();
  char *text = km_lock_format(&in);
  km_lock_info_t out;
  km_err_t err;
  assert_int_equal(km_lock_parse(text, &out, &err), 0);
  assert_string_equal(out.token, in.token);
  assert_string_equal(out.run_dir, "/runs/r1");
  assert_string_equal(out.host, "h1");
  assert_int_equal(out.pid, 4242);
  assert_string_equal(out.shard, "2/4");
  assert_null(out.plan_sha256);
  km_lock_info_free(&out);
  free(text);
}

static void refuse(const char *text, const char *want) {
  km_lock_info_t out;
  km_err_t err;
  memset(&err, 0, sizeof(err));
  assert_int_equal(km_lock_parse(text, &out, &err), KM_EPARSE);
  if (strstr(err.text, want) == NULL)
    fail_msg("'%s' lacks '%s'", err.text, want);
}

static void refusals(void **state) {
  (void)state;
  refuse("", "not JSON");
  refuse("{\"format\":\"kmsmig-lock\",\"version\":1", "not JSON");
  refuse("[]", "not a kmsmig lock");
  refuse("{\"version\":1}", "no format");
  refuse("{\"format\":\"kmsmig-lock\",\"version\":2}", "version");
  km_lock_info_t in = sample();
  char *text = km_lock_format(&in);
  char *bad = km_xstrdup(text);
  char *p = strstr(bad, "\"host\"");
  memcpy(p, "\"hozt\"", 6);
  refuse(bad, "no host");
  free(bad);
  bad = km_xstrdup(text);
  p = strstr(bad, "4242");
  memcpy(p, "-424", 4);
  refuse(bad, "no valid pid");
  free(bad);
  free(text);
}

static void sanitised(void **state) {
  (void)state;
  km_lock_info_t in = sample();
  in.host = "evil\x1b[2Jhost";
  char *text = km_lock_format(&in);
  km_lock_info_t out;
  km_err_t err;
  assert_int_equal(km_lock_parse(text, &out, &err), 0);
  assert_string_equal(out.host, "evil?[2Jhost");
  km_lock_info_free(&out);
  free(text);
  char *name = km_lock_name("1000000000000002", "cn/../x y");
  assert_string_equal(name, "1000000000000002.cn_.._x_y.lock");
  free(name);
}

/* ---- taking, in a scratch folder ---- */

static char scratch[64];

static int setup(void **state) {
  (void)state;
  snprintf(scratch, sizeof(scratch), "/tmp/test_locks.XXXXXX");
  assert_non_null(mkdtemp(scratch));
  char *d = km_xasprintf("%s/locks", scratch);
  assert_int_equal(mkdir(d, 0700), 0);
  free(d);
  for (int i = 1; i <= 2; i++) {
    d = km_xasprintf("%s/run%d", scratch, i);
    assert_int_equal(mkdir(d, 0700), 0);
    free(d);
  }
  return 0;
}

static int teardown(void **state) {
  (void)state;
  char *cmd = km_xasprintf("rm -rf %s", scratch);
  assert_int_equal(system(cmd), 0);
  free(cmd);
  return 0;
}

static size_t count_locks(const char *dir) {
  char *cmd = km_xasprintf("ls -A %s | wc -l", dir);
  FILE *f = popen(cmd, "r");
  size_t n = 0;
  assert_int_equal(fscanf(f, "%zu", &n), 1);
  pclose(f);
  free(cmd);
  return n;
}

static void take_all_or_nothing(void **state) {
  (void)state;
  char *dir = km_xasprintf("%s/locks", scratch);
  char *r1 = km_xasprintf("%s/run1", scratch);
  char *r2 = km_xasprintf("%s/run2", scratch);
  km_target_t t[3] = {
      {.account = "a", .account_id = "1000000000000001", .region = "r1"},
      {.account = "b", .account_id = "1000000000000002", .region = "r1"},
      {.account = "a", .account_id = "1000000000000001", .region = "r1"},
  };
  km_locks_opts_t o1 = {
      .dir = dir, .run_dir = r1, .run_id = "run1", .shard_k = 1, .shard_n = 1};
  km_locks_opts_t o2 = o1;
  o2.run_dir = r2;
  o2.run_id = "run2";
  km_locks_t l1, l2;
  /* run1 holds b only; run2 wants a and b: refused, a not kept. */
  assert_int_equal(km_locks_take(&l1, &o1, &t[1], 1), 0);
  assert_int_equal(l1.nheld, 1);
  assert_int_equal(km_locks_take(&l2, &o2, t, 3), KM_EBUSY);
  assert_int_equal(l2.nheld, 0);
  assert_int_equal(count_locks(dir), 1);
  km_locks_keep(&l2);
  /* run1 again (a resume, run1 "crashed": its locks kept) re-owns b and
   * takes a, once although a appears twice. */
  km_locks_keep(&l1);
  assert_int_equal(km_locks_take(&l1, &o1, t, 3), 0);
  assert_int_equal(l1.nheld, 2);
  assert_int_equal(count_locks(dir), 2);
  km_locks_release(&l1);
  assert_int_equal(count_locks(dir), 0);
  /* A lock broken by run2 is left to it when run1 releases. */
  assert_int_equal(km_locks_take(&l1, &o1, t, 1), 0);
  o2.break_lock = true;
  o2.yes = true;
  assert_int_equal(km_locks_take(&l2, &o2, t, 1), 0);
  km_locks_release(&l1);
  assert_int_equal(count_locks(dir), 1);
  km_locks_release(&l2);
  assert_int_equal(count_locks(dir), 0);
  free(dir);
  free(r1);
  free(r2);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(round_trip),
      cmocka_unit_test(refusals),
      cmocka_unit_test(sanitised),
      cmocka_unit_test_setup_teardown(take_all_or_nothing, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
