/* The plugin loader refuses every descriptor it cannot trust, with a message
 * that names the file and the fix, and loads, finds and unloads a good one. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "plugin/loader.h"
#include "stage/plugin_host.h"

#define FIXDIR KM_BUILD_DIR "/tests/plugins/"

/* The host table every plugin gets (ABI 2). */
static const km_host_api_t *const host = &km__plugin_host;

static void expect_refused(const char *file, int code, const char *needle) {
  km_plugin_set_t *set = km_plugin_set_new(host);
  km_err_t err;
  memset(&err, 0, sizeof(err));
  int rc = km_plugin_load(set, file, NULL, &err);
  assert_int_equal(rc, code);
  if (strstr(err.text, needle) == NULL)
    fail_msg("'%s' not in '%s'", needle, err.text);
  assert_int_equal(km_plugin_count(set), 0);
  km_plugin_set_free(set);
}

static void test_good_plugin(void **st) {
  (void)st;
  km_plugin_set_t *set = km_plugin_set_new(host);
  const km_plugin_t *d = NULL;
  km_err_t err;
  assert_int_equal(km_plugin_load(set, FIXDIR "fix_good.so", &d, &err), 0);
  assert_non_null(d);
  assert_string_equal(d->name, "fixture");
  void *state = NULL;
  assert_ptr_equal(km_plugin_for_stage(set, KM_STAGE_VERIFY, &state), d);
  assert_non_null(state);
  assert_int_equal(*(int *)state, 1);
  /* ABI 2: start(state, stage, run); the fixture refuses every stage. */
  assert_int_equal(d->start(state, KM_STAGE_VERIFY, NULL), KM_ENOTSUP);
  assert_null(km_plugin_for_stage(set, KM_STAGE_MIGRATE, NULL));
  assert_ptr_equal(km_plugin_find(set, "fixture", NULL), d);
  /* Same name twice is refused. */
  assert_int_equal(km_plugin_load(set, FIXDIR "fix_dup.so", NULL, &err),
                   KM_EEXIST);
  assert_non_null(strstr(err.text, "already loaded"));
  assert_int_equal(km_plugin_count(set), 1);
  km_plugin_set_free(set);
}

static void test_refusals(void **st) {
  (void)st;
  expect_refused(FIXDIR "fix_major.so", KM_EPLUGIN, "not compatible");
  expect_refused(FIXDIR "fix_minor.so", KM_EPLUGIN, "upgrade kmsmig");
  expect_refused(FIXDIR "fix_small.so", KM_EPLUGIN, "smaller than");
  expect_refused(FIXDIR "fix_initfail.so", KM_EPLUGIN, "init refused");
  expect_refused(FIXDIR "fix_nosym.so", KM_EPLUGIN, "no 'km_plugin_entry'");
  expect_refused(FIXDIR "does-not-exist.so", KM_EPLUGIN, "cannot load");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_good_plugin),
      cmocka_unit_test(test_refusals),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
