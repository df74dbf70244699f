/* The adaptive rate limiter: grants never exceed the bucket's rate, buckets
 * are independent, throttling halves the rate and it recovers, waiters are
 * served in order, and closing cancels waiters and leaves no handle open. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "engine/ratelimit.h"
#include "util/util.h"

typedef struct {
  int granted;
  int canceled;
  int order[64];
  int norder;
  uint64_t last_ms;
} tally_t;

typedef struct {
  tally_t *t;
  int id;
} waiter_ud_t;

static void on_grant(int status, void *ud) {
  waiter_ud_t *w = ud;
  if (status == 0) {
    w->t->granted++;
    if (w->t->norder < 64) w->t->order[w->t->norder++] = w->id;
    w->t->last_ms = km_now_ms();
  } else {
    assert_int_equal(status, KM_ECANCELED);
    w->t->canceled++;
  }
}

static void close_loop(uv_loop_t *loop, km_rl_t *rl) {
  km_rl_close(rl, NULL, NULL);
  uv_run(loop, UV_RUN_DEFAULT);
  assert_int_equal(uv_loop_close(loop), 0);
}

static void test_rate_bound_and_fifo(void **st) {
  (void)st;
  uv_loop_t loop;
  uv_loop_init(&loop);
  km_rl_t *rl = km_rl_new(&loop);
  tally_t t;
  memset(&t, 0, sizeof(t));
  waiter_ud_t w[40];
  uint64_t t0 = km_now_ms();
  for (int i = 0; i < 40; i++) {
    w[i].t = &t;
    w[i].id = i;
    assert_int_equal(
        km_rl_acquire(rl, "a/cn-hangzhou/key-read", 100, on_grant, &w[i]), 0);
  }
  /* Nothing is granted inline. */
  assert_int_equal(t.granted, 0);
  uv_run(&loop, UV_RUN_DEFAULT);
  assert_int_equal(t.granted, 40);
  for (int i = 0; i < 40; i++)
    assert_int_equal(t.order[i], i);
  /* 40 tokens at 100/s starting from one token: at least ~390 ms. */
  uint64_t took = t.last_ms - t0;
  if (took < 350)
    fail_msg("40 grants at 100 qps took only %llu ms",
             (unsigned long long)took);
  close_loop(&loop, rl);
}

static void test_buckets_independent(void **st) {
  (void)st;
  uv_loop_t loop;
  uv_loop_init(&loop);
  km_rl_t *rl = km_rl_new(&loop);
  tally_t slow, fast;
  memset(&slow, 0, sizeof(slow));
  memset(&fast, 0, sizeof(fast));
  waiter_ud_t ws[5], wf[5];
  for (int i = 0; i < 5; i++) {
    ws[i] = (waiter_ud_t){&slow, i};
    wf[i] = (waiter_ud_t){&fast, i};
    km_rl_acquire(rl, "slow", 2, on_grant, &ws[i]);
    km_rl_acquire(rl, "fast", 1000, on_grant, &wf[i]);
  }
  uint64_t t0 = km_now_ms();
  /* Run until the fast bucket is done; the slow one must not hold it up. */
  while (fast.granted < 5)
    uv_run(&loop, UV_RUN_ONCE);
  assert_true(km_now_ms() - t0 < 200);
  assert_true(slow.granted < 5);
  close_loop(&loop, rl);
  assert_int_equal(slow.granted + slow.canceled, 5);
  assert_true(slow.canceled > 0);
}

static void test_throttle_halves_and_recovers(void **st) {
  (void)st;
  uv_loop_t loop;
  uv_loop_init(&loop);
  km_rl_t *rl = km_rl_new(&loop);
  tally_t t;
  memset(&t, 0, sizeof(t));
  waiter_ud_t w = {&t, 0};
  km_rl_acquire(rl, "k", 40, on_grant, &w);
  uv_run(&loop, UV_RUN_DEFAULT);
  assert_true(km_rl_rate(rl, "k") == 40.0);
  km_rl_throttled(rl, "k");
  assert_true(km_rl_rate(rl, "k") == 20.0);
  km_rl_throttled(rl, "k");
  km_rl_throttled(rl, "k");
  km_rl_throttled(rl, "k");
  km_rl_throttled(rl, "k");
  km_rl_throttled(rl, "k");
  /* The answers of calls in flight within the same second are one signal:
   * halved once per window, not driven to the floor by a storm. */
  assert_true(km_rl_rate(rl, "k") == 20.0);
  /* Never below the floor (5% of 40 = 2). */
  assert_true(km_rl_rate(rl, "k") >= 2.0);
  double low = km_rl_rate(rl, "k");
  /* Recovery: after 1.5 s without throttling the rate has grown. */
  uv_sleep(1500);
  km_rl_acquire(rl, "k", 40, on_grant, &w);
  uv_run(&loop, UV_RUN_DEFAULT);
  assert_true(km_rl_rate(rl, "k") > low);
  km_rl_stats_t s;
  km_rl_stats(rl, &s);
  assert_int_equal(s.throttled, 6);
  assert_int_equal(s.granted, 2);
  close_loop(&loop, rl);
}

static void test_groups(void **st) {
  (void)st;
  double q;
  assert_string_equal(km_rl_api_group("kms", "DescribeKey", &q), "key-read");
  assert_true(q == 50);
  assert_string_equal(km_rl_api_group("kms", "UpdateRotationPolicy", &q),
                      "key-write");
  assert_true(q == 30);
  assert_string_equal(km_rl_api_group("kms", "GetKmsInstance", &q),
                      "instance-read");
  assert_string_equal(km_rl_api_group("sts", "AssumeRole", &q), "sts");
  /* Secrets Manager's published groups */
  assert_string_equal(km_rl_api_group("kms", "DescribeSecret", &q),
                      "secret-meta");
  assert_true(q == 40);
  assert_string_equal(km_rl_api_group("kms", "UpdateSecretRotationPolicy", &q),
                      "secret-meta");
  assert_string_equal(km_rl_api_group("kms", "GetSecretValue", &q),
                      "secret-value");
  assert_true(q == 450);
  assert_string_equal(km_rl_api_group("kms", "CreateSecret", &q),
                      "secret-create");
  assert_true(q == 10);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_rate_bound_and_fifo),
      cmocka_unit_test(test_buckets_independent),
      cmocka_unit_test(test_throttle_halves_and_recovers),
      cmocka_unit_test(test_groups),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
