/* The loop runtime helpers: km_loop_close_all() reports and closes handles
 * their owners leaked and still leaves the loop closed, and the signal
 * watcher turns SIGTERM/SIGINT into a counted callback on the loop without
 * keeping the loop alive by itself. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <signal.h>
#include <unistd.h>

#include "rt/loop.h"
#include "util/util.h"

static void test_close_all_clean_loop(void **st) {
  (void)st;
  uv_loop_t loop;
  assert_int_equal(uv_loop_init(&loop), 0);
  uv_timer_t t;
  uv_timer_init(&loop, &t);
  uv_close((uv_handle_t *)&t, NULL); /* closing, not yet closed */
  assert_int_equal(km_loop_close_all(&loop), 0);
}

static void on_never(uv_timer_t *t) {
  (void)t;
  fail_msg("a force-closed timer fired");
}

static void test_close_all_leaked_timer(void **st) {
  (void)st;
  uv_loop_t loop;
  assert_int_equal(uv_loop_init(&loop), 0);
  uv_timer_t leaked, stopped;
  uv_timer_init(&loop, &leaked);
  uv_timer_init(&loop, &stopped);
  uv_timer_start(&leaked, on_never, 100000, 0);
  uv_close((uv_handle_t *)&stopped, NULL);
  /* One handle still open (and active): closed by force and counted. */
  assert_int_equal(km_loop_close_all(&loop), 1);
  assert_true(uv_is_closing((uv_handle_t *)&leaked));
}

typedef struct {
  int calls;
  int last_signum;
  int last_count;
  uv_timer_t *guard;
} sig_seen_t;

static void on_sig(int signum, int count, void *ud) {
  sig_seen_t *s = ud;
  s->calls++;
  s->last_signum = signum;
  s->last_count = count;
  if (count == 2) uv_timer_stop(s->guard);
}

static void on_guard(uv_timer_t *t) {
  (void)t;
  fail_msg("signal callback never ran");
}

static void on_kick(uv_timer_t *t) {
  /* Sent from the loop so the watcher is certainly installed. */
  int n = (int)(intptr_t)t->data;
  assert_int_equal(uv_kill(getpid(), n == 0 ? SIGTERM : SIGINT), 0);
  t->data = (void *)(intptr_t)(n + 1);
  if (n == 0) uv_timer_start(t, on_kick, 10, 0);
}

static void test_signals(void **st) {
  (void)st;
  uv_loop_t loop;
  assert_int_equal(uv_loop_init(&loop), 0);
  uv_timer_t guard, kick;
  uv_timer_init(&loop, &guard);
  uv_timer_init(&loop, &kick);
  sig_seen_t seen = {.guard = &guard};
  km_rt_signals_t *s = NULL;
  assert_int_equal(km_rt_signals_start(&loop, on_sig, &seen, &s), 0);
  assert_non_null(s);
  kick.data = (void *)(intptr_t)0;
  uv_timer_start(&kick, on_kick, 1, 0);
  uv_timer_start(&guard, on_guard, 5000, 0);
  uv_run(&loop, UV_RUN_DEFAULT);
  assert_int_equal(seen.calls, 2);
  assert_int_equal(seen.last_signum, SIGINT);
  assert_int_equal(seen.last_count, 2);
  /* The watchers alone do not keep the loop running. */
  assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
  km_rt_signals_close(s);
  uv_close((uv_handle_t *)&guard, NULL);
  uv_close((uv_handle_t *)&kick, NULL);
  assert_int_equal(km_loop_close_all(&loop), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_close_all_clean_loop),
      cmocka_unit_test(test_close_all_leaked_timer),
      cmocka_unit_test(test_signals),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
