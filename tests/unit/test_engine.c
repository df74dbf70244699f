/* The engine's state machine with a plugin that provides every stage:
 * stage order, plan mode stopping after preflight, the barrier and its
 * global check, restore after a failure, blocked pipelines, failure
 * tolerance, and a loop that closes clean. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "engine/engine.h"
#include "rt/loop.h"
#include "util/util.h"

typedef struct fixture_s {
  uv_loop_t loop;
  km_plugin_set_t *plugins;
  km_rl_t *rl;
  int global_checks;
  bool done;
} fixture_t;

static void on_done(km_engine_t *e, void *ud) {
  (void)e;
  ((fixture_t *)ud)->done = true;
}

static void on_global(km_engine_t *e, void *ud) {
  fixture_t *f = ud;
  f->global_checks++;
  /* Every started pipeline is waiting at the barrier now. */
  for (size_t i = 0; i < km_engine_count(e); i++) {
    km_pipe_state_t s = km_pipeline_state(km_engine_pipeline(e, i));
    assert_true(s == KM_PIPE_WAITING || s == KM_PIPE_FAILED ||
                s == KM_PIPE_NOT_STARTED);
  }
}

static const char *trace_of(km_engine_t *e, size_t i) {
  return json_string_value(
      json_object_get(km_pipeline_doc(km_engine_pipeline(e, i)), "trace"));
}

static km_engine_t *run(fixture_t *f, km_run_mode_t mode, km_target_t *t,
                        size_t n, int max_accounts, int tolerance) {
  memset(f, 0, sizeof(*f));
  uv_loop_init(&f->loop);
  f->plugins = km_plugin_set_new(km_engine_host_api());
  km_err_t err;
  assert_int_equal(km_plugin_load(f->plugins,
                                  KM_BUILD_DIR "/tests/plugins/fix_stages.so",
                                  NULL, &err),
                   0);
  f->rl = km_rl_new(&f->loop);
  km_engine_opts_t o = {.loop = &f->loop,
                        .rl = f->rl,
                        .plugins = f->plugins,
                        .mode = mode,
                        .max_accounts = max_accounts,
                        .tolerance = tolerance,
                        .global_check = on_global,
                        .global_ud = f};
  km_engine_t *e = km_engine_new(&o, t, n);
  assert_int_equal(km_engine_start(e, on_done, f), 0);
  while (!f->done)
    uv_run(&f->loop, UV_RUN_ONCE);
  return e;
}

static void finish(fixture_t *f, km_engine_t *e) {
  km_engine_free(e);
  km_rl_close(f->rl, NULL, NULL);
  uv_run(&f->loop, UV_RUN_DEFAULT);
  km_plugin_set_free(f->plugins);
  assert_int_equal(km_loop_close_all(&f->loop), 0);
}

static km_target_t target(const char *account, const char *region,
                          json_t *settings) {
  km_target_t t = {.account = account,
                   .account_id = "1000000000000001",
                   .region = region,
                   .instance_id = "kst-x",
                   .instance_type = "software",
                   .settings = settings};
  return t;
}

static void test_stage_order_run_and_plan(void **st) {
  (void)st;
  fixture_t f;
  km_target_t t[2] = {target("a", "cn-hangzhou", NULL),
                      target("a", "cn-shanghai", NULL)};
  km_engine_t *e = run(&f, KM_MODE_RUN, t, 2, 4, 0);
  for (size_t i = 0; i < 2; i++) {
    assert_int_equal(km_pipeline_state(km_engine_pipeline(e, i)), KM_PIPE_OK);
    assert_string_equal(
        trace_of(e, i),
        "discover,preflight,prepare,migrate,restore,verify,observe");
  }
  assert_int_equal(f.global_checks, 1);
  finish(&f, e);

  e = run(&f, KM_MODE_PLAN, t, 2, 4, 0);
  assert_string_equal(trace_of(e, 0), "discover,preflight");
  assert_int_equal(km_pipeline_state(km_engine_pipeline(e, 1)), KM_PIPE_OK);
  assert_int_equal(f.global_checks, 1);
  finish(&f, e);
}

static void test_failure_still_restores(void **st) {
  (void)st;
  fixture_t f;
  json_t *s = json_pack("{s:s}", "fail_at", "migrate");
  json_t *early = json_pack("{s:s}", "fail_at", "discover");
  km_target_t t[2] = {target("a", "cn-hangzhou", s),
                      target("b", "cn-hangzhou", early)};
  km_engine_t *e = run(&f, KM_MODE_RUN, t, 2, 4, 5);
  /* Rotation turned off in prepare is restored even after a failure. */
  assert_string_equal(trace_of(e, 0),
                      "discover,preflight,prepare,migrate,restore");
  assert_int_equal(km_pipeline_state(km_engine_pipeline(e, 0)),
                   KM_PIPE_FAILED);
  assert_non_null(strstr(km_pipeline_error(km_engine_pipeline(e, 0))->text,
                         "fixture failure in migrate"));
  /* Nothing was prepared: no restore. */
  assert_string_equal(trace_of(e, 1), "discover");
  assert_int_equal(km_engine_failed_accounts(e), 2);
  finish(&f, e);
  json_decref(s);
  json_decref(early);
}

static void test_blocked(void **st) {
  (void)st;
  fixture_t f;
  json_t *s = json_pack("{s:s}", "block", "true");
  km_target_t t[2] = {target("a", "cn-hangzhou", s),
                      target("b", "cn-hangzhou", NULL)};
  km_engine_t *e = run(&f, KM_MODE_RUN, t, 2, 4, 0);
  assert_int_equal(km_pipeline_state(km_engine_pipeline(e, 0)),
                   KM_PIPE_BLOCKED);
  assert_string_equal(trace_of(e, 0), "discover,preflight");
  assert_int_equal(km_pipeline_state(km_engine_pipeline(e, 1)), KM_PIPE_OK);
  assert_int_equal(km_engine_failed_accounts(e), 0);
  finish(&f, e);
  json_decref(s);
}

static void test_failure_tolerance(void **st) {
  (void)st;
  fixture_t f;
  json_t *s = json_pack("{s:s}", "fail_at", "prepare");
  /* One account at a time; the first fails; tolerance 0: no more start. */
  km_target_t t[3] = {target("a", "cn-hangzhou", s),
                      target("b", "cn-hangzhou", s),
                      target("c", "cn-hangzhou", NULL)};
  km_engine_t *e = run(&f, KM_MODE_RUN, t, 3, 1, 0);
  assert_int_equal(km_pipeline_state(km_engine_pipeline(e, 0)),
                   KM_PIPE_FAILED);
  assert_int_equal(km_pipeline_state(km_engine_pipeline(e, 1)),
                   KM_PIPE_NOT_STARTED);
  assert_int_equal(km_pipeline_state(km_engine_pipeline(e, 2)),
                   KM_PIPE_NOT_STARTED);
  assert_true(km_engine_tolerance_exceeded(e));
  finish(&f, e);

  /* Tolerance 1: the second failure stops the third account. */
  e = run(&f, KM_MODE_RUN, t, 3, 1, 1);
  assert_int_equal(km_pipeline_state(km_engine_pipeline(e, 1)),
                   KM_PIPE_FAILED);
  assert_int_equal(km_pipeline_state(km_engine_pipeline(e, 2)),
                   KM_PIPE_NOT_STARTED);
  finish(&f, e);
  json_decref(s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_stage_order_run_and_plan),
      cmocka_unit_test(test_failure_still_restores),
      cmocka_unit_test(test_blocked),
      cmocka_unit_test(test_failure_tolerance),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
