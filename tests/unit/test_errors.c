/* The error table: every code has a name and a message, codes are distinct,
 * and a km_err_t is filled without overflow. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "util/util.h"

static void test_names_and_messages(void **state) {
  (void)state;
  assert_string_equal(km_err_name(KM_EMANIFEST), "EMANIFEST");
  assert_string_equal(km_strerror(KM_ETIMEDOUT), "timed out");
  assert_string_equal(km_err_name(0), "OK");
  assert_string_equal(km_strerror(-2), "No such file or directory");
}

static void test_err_set_truncates(void **state) {
  (void)state;
  km_err_t e;
  char big[2000];
  memset(big, 'x', sizeof(big) - 1);
  big[sizeof(big) - 1] = '\0';
  int rc = km__err_setw(&e, KM_EINVAL, "m.yaml:3:5", "%s", big);
  assert_int_equal(rc, KM_EINVAL);
  assert_int_equal(e.code, KM_EINVAL);
  assert_string_equal(e.where, "m.yaml:3:5");
  assert_int_equal(strlen(e.text), sizeof(e.text) - 1);
  assert_int_equal(km__err_set(NULL, KM_EIO, "no struct"), KM_EIO);
}

static void test_iso8601_roundtrip(void **state) {
  (void)state;
  char buf[21];
  km_iso8601(1456231584, buf);
  assert_string_equal(buf, "2016-02-23T12:46:24Z");
  int64_t t = 0;
  assert_int_equal(km_parse_iso8601(buf, &t), 0);
  assert_int_equal(t, 1456231584);
  assert_int_equal(km_parse_iso8601("2016-02-23 12:46:24", &t), KM_EINVAL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_names_and_messages),
      cmocka_unit_test(test_err_set_truncates),
      cmocka_unit_test(test_iso8601_roundtrip),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
