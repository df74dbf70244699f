/* Adaptive token buckets per (account, region, API group).  See ratelimit.h
 * for the contract; this file keeps the buckets in a chained hash table,
 * drives each bucket's FIFO of waiters from its own timer, so a slow bucket
 * never delays another, and holds the arithmetic of one bucket (the pace
 * functions, on a clock the caller gives, so the unit tests can run a run's
 * worth of throttling in simulated time).
 *
 * Timers fall due on a shared grid (schedule), so a fleet's hundreds of
 * buckets wake the loop once per slot, not once per grant.
 *
 * A bucket that has gone idle retires: once its queue is empty, its timer
 * (unreferenced: it never keeps the loop alive) looks again later, and a
 * bucket unused for IDLE_RETIRE_MS that is full at its configured rate
 * (nothing left to remember, and no call it granted can still report
 * throttling in practice) is closed and freed.  A run of 10,000 accounts
 * holds buckets only for the accounts in flight and the last seconds; a
 * bucket that comes back starts as a new one: with its burst saved for a
 * figure the manifest gives (the operator's quota), else with one token,
 * more cautious than a full one.  The limits the manifest sets per
 * account live in a second, small table, kept for the whole run. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/ratelimit.h"
#include "util/util.h"

/* ---- one bucket's arithmetic ---- */

/* Throttling answers within this long of a decrease are the same signal
 * (the answers to calls already in flight), not a new one: a one-second
 * throttling storm otherwise drove the rate to its floor and the run crawled
 * for 20 s after it (chaos suite, issue 11). */
#define THROTTLE_WINDOW_MS 1000
/* After a throttling answer the rate climbs quickly to KNEE of the limit it
 * met, then by PROBE_STEP of that limit per second for PROBE_MS, then by
 * GROW of itself per second, at most FAST_STEP of the configured rate (the
 * pace without a known limit). */
#define KNEE 0.9
#define PROBE_STEP 0.02
#define PROBE_MS 30000
#define FAST_STEP 0.05
#define GROW 0.10
#define BURST 0.5
#define BURST_LOW 0.2
#define QUIET_MS 30000
/* A decrease this soon after the previous one measures the limit from the
 * ok answers in between (the service's bucket was empty all along), not
 * from the last second's (which hold the burst it had saved). */
#define RECENT_DECREASE_MS 5000
#define REFINE_MS 300
#define REFINE_OKS 1
#define FIRST_OKS 3
#define FIRST_CUT 0.25
#define YOUNG_MS 3000
#define WINDOW_START 2
#define WINDOW_S 0.1
#define STREAK_MAX_S 1.0

static double burst_of(const km_rl_pace_t *s, uint64_t now);

void km__rl_pace_init(km_rl_pace_t *s, double qps, bool full, uint64_t now) {
  memset(s, 0, sizeof(*s));
  s->base = s->rate = qps;
  s->floor = fmin(qps, fmax(0.2, qps * 0.01));
  s->last_refill = s->slot_start = s->born = now;
  s->tokens = full ? burst_of(s, now) : 1.0;
  s->last_short = UINT64_MAX;
  s->window = WINDOW_START;
}

/* Ok answers are counted in one-second slots; the estimate of what the
 * service lets through per second is the current slot plus the part of the
 * previous one that is less than a second old. */
static void roll_slots(km_rl_pace_t *s, uint64_t now) {
  uint64_t el = now - s->slot_start;
  if (el >= 2000) {
    s->ok_prev = s->ok_cur = 0;
    s->slot_start = now;
  } else if (el >= 1000) {
    s->ok_prev = s->ok_cur;
    s->ok_cur = 0;
    s->slot_start += 1000;
  }
}

static double ok_per_second(km_rl_pace_t *s, uint64_t now) {
  roll_slots(s, now);
  double frac = (double)(now - s->slot_start) / 1000.0;
  return s->ok_cur + s->ok_prev * (1.0 - frac);
}

/* The tokens a bucket may save up: BURST of a second's worth, half of
 * what the service is assumed to save (kmsim: one second's), and only
 * BURST_LOW of a second's within QUIET_MS of a throttling answer: the
 * service's own bucket is still empty then, and a fan-out of saved-up
 * calls would meet it all at once.  The half left over is for the calls'
 * transit: after an idle spell our bucket refills from the moment a
 * fan-out leaves, the service's only once it arrives, so a fan-out held
 * back in the transport (200 pipelines starting a stage at once through
 * one endpoint's connections) reached a service that had a second's worth
 * for more than a second's worth of calls, and each such answer cut the
 * rate by 30% for seconds (P1: 120-420 answers at the starts of PREPARE and
 * VERIFY). */
static double burst_of(const km_rl_pace_t *s, uint64_t now) {
  bool recent = s->last_throttle != 0 && now - s->last_throttle < QUIET_MS;
  return fmax(1.0, s->rate * (recent ? BURST_LOW : BURST));
}

void km__rl_pace_refill(km_rl_pace_t *s, uint64_t now) {
  if (now < s->last_refill) now = s->last_refill;
  double dt = (double)(now - s->last_refill) / 1000.0;
  s->last_refill = now;
  uint64_t quiet = s->last_throttle == 0 ? UINT64_MAX : now - s->last_throttle;
  if (s->rate < s->base && quiet >= THROTTLE_WINDOW_MS) {
    double knee = KNEE * s->ceiling;
    if (s->ceiling > 0 && quiet < PROBE_MS && s->rate < knee)
      s->rate = fmin(knee, s->rate + FAST_STEP * s->base * dt);
    else if (s->ceiling > 0 && quiet < PROBE_MS)
      s->rate += PROBE_STEP * s->ceiling * dt;
    else if (s->ceiling > 0 || s->last_decrease != 0)
      /* a limit was met (or throttling lowered the rate, too few answers
       * passing to measure the limit: one far below the configured rate):
       * grow by a share of the rate so a low one is not overshot at once.
       * A step of the configured rate climbed back from a limit of 1 where
       * 50 is configured to 2 QPS after every decrease, for ever. */
      s->rate += fmin(FAST_STEP * s->base, GROW * s->rate) * dt;
    else
      s->rate += FAST_STEP * s->base * dt;
    s->rate = fmin(s->base, s->rate);
  }
  s->tokens = fmin(burst_of(s, now), s->tokens + s->rate * dt);
}

/* The calls a bucket lets be in flight at once: WINDOW_START, one more per
 * ok answer up to two round trips' worth at the current rate, at most
 * WINDOW_S of a second's worth (and at least 2 * WINDOW_START), halved by a
 * throttling answer.  The rate
 * alone let a second's worth of calls queue in the transport before the first
 * answer told of a lower limit; the window bounds what such a delay costs
 * (TCP's slow start). */
static double window_max(const km_rl_pace_t *s) {
  double span =
      s->srtt_ms > 0 ? fmin(2 * s->srtt_ms / 1000.0, WINDOW_S) : WINDOW_S;
  return fmax(WINDOW_START * 2, s->rate * span);
}

int km__rl_pace_grant(km_rl_pace_t *s, uint64_t now, bool counted) {
  km__rl_pace_refill(s, now);
  if (counted && (double)s->inflight + 1 > s->window) {
    s->last_short = now;
    return -1;
  }
  if (s->tokens >= 1.0) {
    s->tokens -= 1.0;
    s->inflight += counted;
    return 1;
  }
  s->last_short = now; /* demand is above the rate: the bucket is the bound */
  return 0;
}

bool km__rl_pace_take(km_rl_pace_t *s, uint64_t now) {
  return km__rl_pace_grant(s, now, false) == 1;
}

void km__rl_pace_done(km_rl_pace_t *s, uint64_t rtt_ms) {
  if (s->inflight > 0) s->inflight--;
  if (rtt_ms == UINT64_MAX) return;
  double r = rtt_ms > 0 ? (double)rtt_ms : 0.5;
  s->srtt_ms = s->srtt_ms > 0 ? s->srtt_ms + (r - s->srtt_ms) / 8 : r;
}

uint64_t km__rl_pace_wait_ms(const km_rl_pace_t *s) {
  if (s->tokens >= 1.0) return 0;
  double need = (1.0 - s->tokens) / s->rate * 1000.0;
  return (uint64_t)ceil(need < 1.0 ? 1.0 : need);
}

void km__rl_pace_ok(km_rl_pace_t *s, uint64_t now) {
  roll_slots(s, now);
  s->streak = 0;
  s->ok_cur += 1;
  s->ok_total += 1;
  s->window = fmin(window_max(s), s->window + 1);
}

/* A throttling answer.  When the bucket was the bound in the last second
 * (calls waited for tokens), the ok answers of that second measure what
 * the service allows: the rate goes just under it and it is remembered as
 * the limit.  Otherwise they only measure our own demand, and the rate is
 * cut by the multiplicative step alone. */
void km__rl_pace_throttled(km_rl_pace_t *s, uint64_t now) {
  km__rl_pace_refill(s, now);
  double est = ok_per_second(s, now);
  bool bound = s->last_short != UINT64_MAX && now - s->last_short <= 1000;
  if (s->last_decrease == 0 || now - s->last_decrease >= THROTTLE_WINDOW_MS) {
    if (s->last_decrease != 0 && now - s->last_decrease < RECENT_DECREASE_MS)
      est = (s->ok_total - s->ok_at_decrease) * 1000.0 /
            (double)(now - s->last_decrease);
    else if (s->ceiling == 0 && now - s->born < YOUNG_MS)
      /* the first, soon after the bucket began: the service's bucket held
       * up to a second's worth then */
      est = s->ok_total / ((double)(now - s->born) / 1000.0 + 1.0);
    else if (s->ceiling > 0) /* probing above a known limit: below us */
      est = fmin(est, s->rate);
    double r = 0.7 * s->rate;
    /* Too few answers passed to say anything (a storm at the start): the
     * multiplicative step alone. */
    if (bound && s->ok_total - s->ok_at_decrease >=
                     (s->last_decrease == 0 ? FIRST_OKS : REFINE_OKS)) {
      r = fmin(r, KNEE * est);
      s->ceiling = fmax(est, s->floor);
      /* A first estimate is rough (a storm at the start looks like a low
       * limit): at most a quarter of the rate, and no limit learnt from
       * it then; the refinement measures the real one. */
      if (s->last_decrease == 0 && r < FIRST_CUT * s->rate) {
        r = FIRST_CUT * s->rate;
        s->ceiling = 0;
      }
    }
    s->rate = fmax(s->floor, r);
    s->last_decrease = now;
    s->ok_at_decrease = s->ok_total;
  } else if (bound && now - s->last_decrease >= REFINE_MS &&
             s->ok_total - s->ok_at_decrease >= REFINE_OKS) {
    /* Still throttled half a window after a decrease: the service's bucket
     * is empty, so the ok answers since then are its limit (the first
     * estimate held the burst it had saved).  Lower to that at once. */
    est = (s->ok_total - s->ok_at_decrease) * 1000.0 /
          (double)(now - s->last_decrease);
    if (KNEE * est < s->rate) {
      s->rate = fmax(s->floor, KNEE * est);
      s->ceiling = fmax(est, s->floor);
      s->last_decrease = now;
      s->ok_at_decrease = s->ok_total;
    }
  }
  /* Throttling answers in a row, each to a call sent after the one
   * before was answered (half a round trip apart): the next grant waits
   * twice as long each time, up to STREAK_MAX_S.  Below a limit far under
   * the rate (2 QPS where 50 is configured) the decrease above is taken
   * once per THROTTLE_WINDOW_MS, and in that second one call after the
   * other met the empty bucket (20 of the first second's 22 answers); a
   * storm that ends leaves the rate where it was.  An ok answer ends the
   * streak. */
  bool sent_after = s->last_throttle == 0 || s->srtt_ms <= 0 ||
                    (double)(now - s->last_throttle) >= s->srtt_ms / 2;
  if (sent_after && s->streak < 16) s->streak++;
  double debt = s->streak > 1 ? ldexp(1.0, (int)s->streak - 1) - 1.0 : 0.0;
  s->last_throttle = now;
  s->tokens = fmin(s->tokens, 0.0) - fmin(debt, STREAK_MAX_S * s->rate);
  s->window = fmax(1.0, s->window / 2);
}

/* ---- the limiter ---- */

typedef struct waiter_s {
  struct waiter_s *next;
  km_rl_cb cb;
  void *ud;
  uint64_t t_enq;
  bool counted; /* in the bucket's window until km_rl_done */
} waiter_t;

typedef struct bucket_s {
  struct bucket_s *next_hash;
  km_rl_t *rl;
  char *key;
  km_rl_pace_t pace;
  uint64_t last_used; /* last acquire or answer reported */
  waiter_t *head;
  waiter_t *tail;
  uv_timer_t timer;
} bucket_t;

typedef struct limits_s {
  struct limits_s *next;
  char *account_id;
  km_rl_limits_t l;
} limits_t;

#define NBUCKETS 1024
#define IDLE_RETIRE_MS 10000

struct km_rl_s {
  uv_loop_t *loop;
  bucket_t *table[NBUCKETS];
  limits_t *limits;   /* per account (few: only those the manifest names) */
  km_rl_limits_t all; /* for every account */
  size_t open_handles;
  int closing;
  void (*close_cb)(void *ud);
  void *close_ud;
  km_rl_stats_t stats;
};

static uint32_t hash_key(const char *s) {
  uint32_t h = 2166136261u; /* FNV-1a */
  for (; *s; s++)
    h = (h ^ (uint8_t)*s) * 16777619u;
  return h;
}

static bucket_t *find(const km_rl_t *rl, const char *key) {
  for (bucket_t *b = rl->table[hash_key(key) % NBUCKETS]; b; b = b->next_hash)
    if (strcmp(b->key, key) == 0) return b;
  return NULL;
}

static void on_timer(uv_timer_t *t);

km_rl_t *km_rl_new(uv_loop_t *loop) {
  km_rl_t *rl = km_xcalloc(1, sizeof(*rl));
  rl->loop = loop;
  return rl;
}

void km_rl_set_limits(km_rl_t *rl, const char *account_id,
                      const km_rl_limits_t *l) {
  if (account_id == NULL) {
    rl->all = *l;
    return;
  }
  limits_t *e = NULL;
  for (e = rl->limits; e != NULL; e = e->next)
    if (strcmp(e->account_id, account_id) == 0) break;
  if (e == NULL) {
    e = km_xcalloc(1, sizeof(*e));
    e->account_id = km_xstrdup(account_id);
    e->next = rl->limits;
    rl->limits = e;
  }
  e->l = *l;
}

/* The manifest's figure for account_id and group g (valid), or 0. */
static double manifest_qps(const km_rl_t *rl, const char *account_id,
                           km_rl_group_t g) {
  for (const limits_t *e = rl->limits; account_id != NULL && e != NULL;
       e = e->next)
    if (strcmp(e->account_id, account_id) == 0 && e->l.qps[g] > 0)
      return e->l.qps[g];
  return rl->all.qps[g] > 0 ? rl->all.qps[g] : 0;
}

double km_rl_qps(const km_rl_t *rl, const char *account_id, km_rl_group_t g) {
  if ((unsigned)g >= KM_RL_NGROUPS) g = KM_RL_UNLISTED;
  double q = manifest_qps(rl, account_id, g);
  return q > 0 ? q : km_rl_group_qps(g);
}

bool km_rl_qps_known(const km_rl_t *rl, const char *account_id,
                     km_rl_group_t g) {
  return (unsigned)g < KM_RL_NGROUPS && manifest_qps(rl, account_id, g) > 0;
}

static bucket_t *bucket_get(km_rl_t *rl, const char *key, double qps,
                            bool known) {
  bucket_t *b = find(rl, key);
  if (b != NULL) return b;
  b = km_xcalloc(1, sizeof(*b));
  b->rl = rl;
  b->key = km_xstrdup(key);
  km__rl_pace_init(&b->pace, qps, known, km_now_ms());
  uv_timer_init(rl->loop, &b->timer);
  b->timer.data = b;
  rl->open_handles++;
  uint32_t h = hash_key(key) % NBUCKETS;
  b->next_hash = rl->table[h];
  rl->table[h] = b;
  return b;
}

/* A bucket's next grant is due on a GRID_MS grid of the loop's clock, so
 * that the buckets due within one slot (a fleet has hundreds, each at its
 * own pace) are served in one wake-up of the loop instead of one each.  A
 * grant comes up to GRID_MS late; the bucket refills by the time passed, so
 * its rate is unchanged and the calls of a slot leave together. */
#define GRID_MS 10

static void schedule(bucket_t *b, uint64_t delay_ms) {
  if (b->rl->closing) return;
  if (delay_ms > 0) {
    uint64_t due = uv_now(b->rl->loop) + delay_ms;
    delay_ms += (GRID_MS - due % GRID_MS) % GRID_MS;
  }
  uv_timer_start(&b->timer, on_timer, delay_ms, 0);
}

static void on_bucket_closed(uv_handle_t *h);

static void unlink_bucket(bucket_t *b) {
  bucket_t **pp = &b->rl->table[hash_key(b->key) % NBUCKETS];
  while (*pp != b)
    pp = &(*pp)->next_hash;
  *pp = b->next_hash;
}

/* An idle bucket: retire it when full at its configured rate, else look
 * again when it will be. */
static void idle(bucket_t *b, uint64_t now) {
  if (b->rl->closing) return;
  km_rl_pace_t *s = &b->pace;
  double burst = burst_of(s, now);
  uint64_t quiet = now - b->last_used;
  if (quiet >= IDLE_RETIRE_MS && s->rate >= s->base && s->tokens >= burst &&
      s->inflight == 0) {
    unlink_bucket(b);
    uv_close((uv_handle_t *)&b->timer, on_bucket_closed);
    return;
  }
  double full = (burst - s->tokens) / s->rate * 1000.0;
  uint64_t left = quiet < IDLE_RETIRE_MS ? IDLE_RETIRE_MS - quiet : 0;
  double wait = fmax(full, (double)left);
  uv_timer_start(&b->timer, on_timer, (uint64_t)ceil(fmax(wait, 1000.0)), 0);
  uv_unref((uv_handle_t *)&b->timer);
}

static void on_timer(uv_timer_t *t) {
  bucket_t *b = t->data;
  km_rl_t *rl = b->rl;
  uint64_t now = km_now_ms();
  if (b->head == NULL) {
    km__rl_pace_refill(&b->pace, now);
    idle(b, now);
    return;
  }
  /* Take the granted waiters off the queue before calling anyone: a callback
   * may acquire again on this bucket. */
  waiter_t *granted = NULL, **gt = &granted;
  int got = 0;
  while (b->head != NULL &&
         (got = km__rl_pace_grant(&b->pace, now, b->head->counted)) == 1) {
    waiter_t *w = b->head;
    b->head = w->next;
    if (b->head == NULL) b->tail = NULL;
    w->next = NULL;
    *gt = w;
    gt = &w->next;
  }
  if (b->head != NULL && got == 0)
    schedule(b, km__rl_pace_wait_ms(&b->pace));
  else if (b->head != NULL) /* the window is full: km_rl_done wakes it */
    uv_timer_stop(&b->timer);
  else
    idle(b, now); /* just used: schedules the retirement check */
  while (granted != NULL) {
    waiter_t *w = granted;
    granted = w->next;
    rl->stats.granted++;
    rl->stats.queued--;
    rl->stats.waited_ms += now - w->t_enq;
    km_rl_cb cb = w->cb;
    void *ud = w->ud;
    free(w);
    cb(0, ud);
  }
}

static int acquire(km_rl_t *rl, const char *key, double qps, bool known,
                   bool counted, km_rl_cb cb, void *ud) {
  if (rl->closing) return KM_ECANCELED;
  if (!(qps > 0) || cb == NULL) return KM_EINVAL;
  bucket_t *b = bucket_get(rl, key, qps, known);
  waiter_t *w = km_xcalloc(1, sizeof(*w));
  w->cb = cb;
  w->ud = ud;
  w->counted = counted;
  w->t_enq = km_now_ms();
  rl->stats.queued++;
  b->last_used = w->t_enq;
  uv_ref((uv_handle_t *)&b->timer); /* a waiter keeps the loop alive */
  if (b->tail != NULL)
    b->tail->next = w;
  else
    b->head = w;
  b->tail = w;
  /* Run the queue from the loop (never inline), unless a timer is already
   * pending for waiters: it will serve this one in its turn.  A pending
   * retirement check is replaced. */
  if (!uv_is_active((uv_handle_t *)&b->timer) || b->head == w) schedule(b, 0);
  return 0;
}

int km_rl_acquire(km_rl_t *rl, const char *key, double qps, bool known,
                  km_rl_cb cb, void *ud) {
  return acquire(rl, key, qps, known, false, cb, ud);
}

int km_rl_acquire_call(km_rl_t *rl, const char *key, double qps, bool known,
                       km_rl_cb cb, void *ud) {
  return acquire(rl, key, qps, known, true, cb, ud);
}

void km_rl_done(km_rl_t *rl, const char *key, uint64_t rtt_ms) {
  bucket_t *b = find(rl, key);
  if (b == NULL) return;
  km__rl_pace_done(&b->pace, rtt_ms);
  if (b->head != NULL && !uv_is_active((uv_handle_t *)&b->timer))
    schedule(b, 0);
}

void km_rl_throttled(km_rl_t *rl, const char *key) {
  bucket_t *b = find(rl, key);
  rl->stats.throttled++;
  if (b == NULL) return;
  uint64_t now = km_now_ms();
  double before = b->pace.rate;
  km__rl_pace_throttled(&b->pace, now);
  if (b->pace.rate != before)
    km_log(KM_LOG_DEBUG, "rate limit %s: throttled, %.2f -> %.2f QPS", key,
           before, b->pace.rate);
  b->last_used = now;
}

void km_rl_ok(km_rl_t *rl, const char *key) {
  bucket_t *b = find(rl, key);
  if (b == NULL) return;
  uint64_t now = km_now_ms();
  km__rl_pace_ok(&b->pace, now);
  b->last_used = now;
}

double km_rl_rate(const km_rl_t *rl, const char *key) {
  bucket_t *b = find(rl, key);
  return b != NULL ? b->pace.rate : 0.0;
}

void km_rl_stats(const km_rl_t *rl, km_rl_stats_t *out) {
  *out = rl->stats;
}

static void free_rl(km_rl_t *rl) {
  while (rl->limits != NULL) {
    limits_t *e = rl->limits;
    rl->limits = e->next;
    free(e->account_id);
    free(e);
  }
  free(rl);
}

static void on_bucket_closed(uv_handle_t *h) {
  bucket_t *b = h->data;
  km_rl_t *rl = b->rl;
  free(b->key);
  free(b);
  if (--rl->open_handles == 0 && rl->closing) {
    void (*cb)(void *) = rl->close_cb;
    void *ud = rl->close_ud;
    free_rl(rl);
    if (cb != NULL) cb(ud);
  }
}

void km_rl_close(km_rl_t *rl, void (*close_cb)(void *ud), void *ud) {
  if (rl == NULL || rl->closing) return;
  rl->closing = 1;
  rl->close_cb = close_cb;
  rl->close_ud = ud;
  size_t nb = rl->open_handles;
  for (size_t i = 0; i < NBUCKETS; i++) {
    for (bucket_t *b = rl->table[i], *next; b != NULL; b = next) {
      next = b->next_hash;
      while (b->head != NULL) {
        waiter_t *w = b->head;
        b->head = w->next;
        rl->stats.queued--;
        w->cb(KM_ECANCELED, w->ud);
        free(w);
      }
      b->tail = NULL;
      uv_close((uv_handle_t *)&b->timer, on_bucket_closed);
    }
  }
  if (nb == 0) {
    free_rl(rl);
    if (close_cb != NULL) close_cb(ud);
  }
}
