/* Rate limits per (account, region, API group), adapted to throttling.
 *
 * Each bucket starts at the published QPS of its API group (reference §5)
 * and is a token bucket with a burst of one second's worth of tokens.  A
 * throttling answer halves the bucket's rate (never below a floor); every
 * second without one gives back 5% of the published rate, so a bucket that
 * was throttled by a busy neighbour recovers slowly instead of oscillating.
 *
 * Waiters are served in FIFO order per bucket from one uv_timer_t per
 * bucket.  km_rl_acquire() either fails (cb never called) or calls cb
 * exactly once: with 0 when a token is granted, or KM_ECANCELED when the
 * limiter closes first.  The callback always runs from the loop, never from
 * inside km_rl_acquire(), so callers may re-enter freely.
 */
#ifndef KM_RATELIMIT_H
#define KM_RATELIMIT_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

typedef struct km_rl_s km_rl_t;

typedef void (*km_rl_cb)(int status, void *ud);

/* The API group of a product's action and its published QPS per account and
 * region.  Returns the group name (static string) and sets *qps. */
const char *km_rl_api_group(const char *product, const char *action,
                            double *qps);

/* New limiter on loop (borrowed).  Owned; close with km_rl_close. */
km_rl_t *km_rl_new(uv_loop_t *loop);

/* Waits for a token of bucket key (borrowed, copied: e.g.
 * "1234567890123456/cn-hangzhou/key-read"), creating the bucket at qps when
 * it does not exist. */
int km_rl_acquire(km_rl_t *rl, const char *key, double qps, km_rl_cb cb,
                  void *ud);

/* Feedback from a completed call on bucket key. */
void km_rl_throttled(km_rl_t *rl, const char *key);

/* Current rate of a bucket (tokens per second), or 0 if it does not exist. */
double km_rl_rate(const km_rl_t *rl, const char *key);

/* Counters for reports and benchmarks. */
typedef struct km_rl_stats_s {
  uint64_t granted;
  uint64_t throttled; /* throttling answers reported */
  uint64_t waited_ms; /* total time waiters spent queued */
  uint64_t queued;    /* calls waiting for a token now */
} km_rl_stats_t;
void km_rl_stats(const km_rl_t *rl, km_rl_stats_t *out);

/* Cancels every waiter (KM_ECANCELED), closes the timers; rl is freed and
 * close_cb (may be NULL) called once all handles are closed.  Idempotent. */
void km_rl_close(km_rl_t *rl, void (*close_cb)(void *ud), void *ud);

#endif
