/* The progress view's ETA: pipelines left over the rate at which pipelines
 * ended in the last 30 s, and "unknown" with the reason whenever that rate
 * says nothing: before the quota check, with console steps open, in the
 * first 5 s, and while too few pipelines ended to measure one (a fleet that
 * runs in step ends almost all at once; one early pipeline is no rate). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "cli/progress_priv.h"

/* A run of n pipelines, `ended` of them ended now (t = now_s), `before` of
 * them 30 s earlier; the quota check passed, no console step open. */
static void fleet(km_progress_t *pg, size_t n, size_t before, size_t ended,
                  uint64_t now_s) {
  memset(pg, 0, sizeof(*pg));
  pg->now.ms = now_s * 1000;
  pg->now.c.pipelines = n;
  pg->now.c.by_state[KM_PIPE_OK] = ended;
  pg->now.c.barrier_passed = true;
  pg->ring[0] = (pg_sample_t){.ms = (now_s - 30) * 1000, .ended = before};
  pg->ring[1] = (pg_sample_t){.ms = now_s * 1000, .ended = ended};
  pg->nsamples = 2;
}

static void test_steady_rate_gives_an_eta(void **state) {
  (void)state;
  km_progress_t pg;
  /* 500 pipelines, 30 ended in the last 30 s (1/s), 400 left. */
  fleet(&pg, 500, 70, 100, 120);
  const char *why = NULL;
  assert_int_equal(km__pg_eta(&pg, &why), 400);
}

static void test_one_early_pipeline_is_no_rate(void **state) {
  (void)state;
  km_progress_t pg;
  /* The P4 fleet 12 s in: 1 of 1,000 ended (an account with nothing to
   * move), the 999 others a few seconds from the end.  The rate of one
   * pipeline would have said 3h20m. */
  fleet(&pg, 1000, 0, 1, 40);
  const char *why = NULL;
  assert_int_equal(km__pg_eta(&pg, &why), -1);
  assert_string_equal(why,
                      "unknown (too few pipelines ended in 30 s to measure)");
  /* Two are still too few... */
  fleet(&pg, 1000, 0, 2, 40);
  assert_int_equal(km__pg_eta(&pg, &why), -1);
  /* ...three make a rate. */
  fleet(&pg, 1000, 0, 3, 40);
  assert_true(km__pg_eta(&pg, &why) > 0);
}

static void test_a_small_run_still_gets_an_eta(void **state) {
  (void)state;
  km_progress_t pg;
  /* 2 pipelines, 1 ended in 30 s, 1 left: as many ended as are left. */
  fleet(&pg, 2, 0, 1, 60);
  const char *why = NULL;
  assert_int_equal(km__pg_eta(&pg, &why), 30);
  /* All ended: 0, whatever the rate. */
  fleet(&pg, 2, 2, 2, 60);
  assert_int_equal(km__pg_eta(&pg, &why), 0);
}

static void test_unknown_before_it_can_be_measured(void **state) {
  (void)state;
  km_progress_t pg;
  const char *why = NULL;
  fleet(&pg, 100, 0, 50, 60);
  pg.now.c.barrier_passed = false;
  assert_int_equal(km__pg_eta(&pg, &why), -1);
  assert_string_equal(why, "unknown (before the quota check)");

  fleet(&pg, 100, 0, 50, 60);
  pg.now.console_open = 3;
  assert_int_equal(km__pg_eta(&pg, &why), -1);
  assert_string_equal(why, "unknown (console steps open)");

  /* Run 3 s old: the oldest sample is the start. */
  fleet(&pg, 100, 0, 50, 60);
  pg.ring[0].ms = pg.now.ms - 3000;
  assert_int_equal(km__pg_eta(&pg, &why), -1);
  assert_string_equal(why, "unknown (measuring)");

  fleet(&pg, 100, 50, 50, 60);
  assert_int_equal(km__pg_eta(&pg, &why), -1);
  assert_string_equal(why, "unknown (no pipeline ended in 30 s)");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_steady_rate_gives_an_eta),
      cmocka_unit_test(test_one_early_pipeline_is_no_rate),
      cmocka_unit_test(test_a_small_run_still_gets_an_eta),
      cmocka_unit_test(test_unknown_before_it_can_be_measured),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
