/* Retry timing: "full jitter" exponential backoff (a uniform draw in
 * [0, min(cap, base * 2^attempt)]), which spreads the retries of many
 * pipelines throttled at the same moment instead of having them return in
 * lock-step.  The random source is a caller-held xorshift64 state so tests
 * are reproducible and no global state is shared.
 *
 * Retries are bounded by the call's deadline (300 s), not a count: five
 * attempts from 200 ms gave up after one to three seconds, so any outage
 * longer than that failed every account in flight (issue 13).  The step is
 * capped at 10 s so a call returns within about that of the service coming
 * back.  Which failures may be retried at all is error.c's
 * (km_acs_is_retryable); whether a write may be resent is the outcome rule
 * below. */
#include "acs/acs.h"

void km__retry_defaults(const km_retry_policy_t *in, km_retry_policy_t *out) {
  km_retry_policy_t p = in != NULL ? *in : (km_retry_policy_t){0};
  if (p.max_attempts < 0) p.max_attempts = 0;
  if (p.base_ms == 0) p.base_ms = 200;
  if (p.cap_ms == 0) p.cap_ms = 10000;
  if (p.deadline_ms == 0) p.deadline_ms = KM_ACS_DEADLINE_MS;
  *out = p;
}

static uint64_t xorshift64(uint64_t *s) {
  uint64_t x = *s;
  if (x == 0) /* an all-zero state never moves: seed it */
    x = 0x9e3779b97f4a7c15ull;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  *s = x;
  return x;
}

uint32_t km_retry_backoff_ms(const km_retry_policy_t *p, int attempt,
                             uint64_t *rng) {
  km_retry_policy_t d;
  km__retry_defaults(p, &d);
  if (attempt < 0) attempt = 0;
  uint64_t ceil = d.base_ms;
  /* Shift in steps so 2^attempt never overflows. */
  for (int i = 0; i < attempt && ceil < d.cap_ms; i++)
    ceil <<= 1;
  if (ceil > d.cap_ms) ceil = d.cap_ms;
  uint64_t local = 0;
  uint64_t r = xorshift64(rng != NULL ? rng : &local);
  return (uint32_t)(r % (ceil + 1));
}

int km_retry_outcome_unknown(int status, long http_status, int not_sent) {
  if (status == KM_EHTTP || status == KM_ETIMEDOUT || status == KM_ETLS)
    return !not_sent;
  return http_status >= 500 && http_status != 503;
}
