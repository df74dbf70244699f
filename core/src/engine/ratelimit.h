/* Rate limits per (account, region, API group), adapted to throttling.
 *
 * Every action kmsmig can send belongs to an API group by one table
 * (ratelimit.c, reference §5 and issue 13's Secrets Manager figures); an
 * action the table does not name gets the most conservative group
 * ("unlisted", 1 QPS), never a generous default.  The published figure of a
 * group may be lowered (or raised) per account by the manifest
 * (concurrency.qps), registered here with km_rl_set_limits.
 *
 * Each bucket is a token bucket with a burst of half a second's worth of
 * tokens (half what the service is assumed to save: the rest absorbs the
 * calls' transit, ratelimit.c burst_of).  Its rate adapts to throttling answers
 * (AIMD with a memory of the limit it met): a throttling answer lowers the rate
 * to 90% of the calls the service let through in the last second (at most 70%
 * of the rate it had, never below a floor) and remembers that figure as the
 * limit; without throttling the rate climbs back quickly to just under that
 * limit, then probes above it slowly for PROBE_MS, then climbs at the old pace
 * towards the published figure.  So a service that enforces less than the
 * configured figure answers only the probes with throttling.
 *
 * Waiters are served in FIFO order per bucket from one uv_timer_t per
 * bucket, due on a 10 ms grid of the loop's clock so that the buckets due
 * in one slot share one wake-up (a grant is up to 10 ms late; the rate is
 * unchanged).  km_rl_acquire() either fails (cb never called) or calls cb
 * exactly once: with 0 when a token is granted, or KM_ECANCELED when the
 * limiter closes first.  The callback always runs from the loop, never from
 * inside km_rl_acquire(), so callers may re-enter freely.
 */
#ifndef KM_RATELIMIT_H
#define KM_RATELIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

/* ---- API groups ---- */
typedef enum {
  KM_RL_ACTIVATION = 0, /* OpenKmsService, DescribeAccountKmsStatus: 1 */
  KM_RL_INSTANCE_READ,  /* 50 */
  KM_RL_INSTANCE_WRITE, /* 10 */
  KM_RL_KEY_READ,       /* 50 */
  KM_RL_KEY_TAG_READ,   /* ListResourceTags: 300 */
  KM_RL_CREATE_KEY,     /* CreateKey: 10 */
  KM_RL_KEY_WRITE,      /* 30 */
  KM_RL_CRYPTO_SYM,     /* 1000 */
  KM_RL_CRYPTO_ASYM,    /* 200 */
  KM_RL_SECRET_META,    /* list and metadata: 40 */
  KM_RL_SECRET_VALUE,   /* GetSecretValue: 450 */
  KM_RL_SECRET_CREATE,  /* create/delete: 10 */
  KM_RL_STS,            /* assumed 100 */
  KM_RL_RM,             /* assumed 50 */
  KM_RL_RS,             /* assumed 20 */
  KM_RL_CMS,            /* assumed 50 */
  KM_RL_ACTIONTRAIL,    /* assumed 5 */
  KM_RL_UNLISTED,       /* an action the table does not name: 1 */
  KM_RL_NGROUPS
} km_rl_group_t;

/* The group's name as the manifest and kmsim spell it ("key-read"). */
const char *km_rl_group_name(km_rl_group_t g);
/* 0 and *out, or KM_ENOENT for a name that is no group. */
int km_rl_group_from_name(const char *name, km_rl_group_t *out);
/* The published (or assumed) QPS per account and region. */
double km_rl_group_qps(km_rl_group_t g);
/* The group of product/action (borrowed; exact names): KM_RL_UNLISTED when
 * the table does not name the action. */
km_rl_group_t km_rl_action_group(const char *product, const char *action);
/* 1 when a write action may be sent again when the outcome of an attempt is
 * unknown (it sets a state to a value: sending it twice is sending it once),
 * 0 otherwise (creating or associating: a second one could be a second
 * resource; unlisted actions are 0). */
int km_rl_action_resendable(const char *product, const char *action);

/* Compatibility: the group name (static) and its published QPS in *qps. */
const char *km_rl_api_group(const char *product, const char *action,
                            double *qps);

/* QPS per group set by the manifest; 0 keeps the published figure. */
typedef struct km_rl_limits_s {
  double qps[KM_RL_NGROUPS];
} km_rl_limits_t;

/* ---- The limiter ---- */
typedef struct km_rl_s km_rl_t;

typedef void (*km_rl_cb)(int status, void *ud);

/* New limiter on loop (borrowed).  Owned; close with km_rl_close. */
km_rl_t *km_rl_new(uv_loop_t *loop);

/* Limits of account_id (borrowed, copied; NULL: every account without its
 * own), l borrowed and copied.  Buckets made later use them. */
void km_rl_set_limits(km_rl_t *rl, const char *account_id,
                      const km_rl_limits_t *l);
/* The QPS a bucket of account_id and group starts from: the account's
 * limit, else the limit for every account, else the published figure. */
double km_rl_qps(const km_rl_t *rl, const char *account_id, km_rl_group_t g);
/* Whether that figure is the manifest's (concurrency.qps): the operator's
 * word for the quota, not the published figure. */
bool km_rl_qps_known(const km_rl_t *rl, const char *account_id,
                     km_rl_group_t g);

/* Waits for a token of bucket key (borrowed, copied: e.g.
 * "1234567890123456/cn-hangzhou/key-read"), creating the bucket at qps when
 * it does not exist.  A new bucket of a known figure (km_rl_qps_known)
 * starts with its burst saved, as the service's own bucket is after the
 * idle time before a first call; one of a published figure starts with one
 * token (the account's quota may be lower: the first answers find out). */
int km_rl_acquire(km_rl_t *rl, const char *key, double qps, bool known,
                  km_rl_cb cb, void *ud);

/* km_rl_acquire for one attempt of a call: the grant also takes a place in
 * the bucket's window of calls in flight, which the caller gives back with
 * km_rl_done(key) once the attempt is answered (or not sent), exactly once
 * per grant; rtt_ms: from the grant to the answer (UINT64_MAX: not sent). */
int km_rl_acquire_call(km_rl_t *rl, const char *key, double qps, bool known,
                       km_rl_cb cb, void *ud);
void km_rl_done(km_rl_t *rl, const char *key, uint64_t rtt_ms);

/* Feedback from an answer on bucket key: a throttling answer, or a call the
 * service let through (the limit estimate counts these). */
void km_rl_throttled(km_rl_t *rl, const char *key);
void km_rl_ok(km_rl_t *rl, const char *key);

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

/* ---- Internal: one bucket's arithmetic, on a clock the caller gives (ms),
 * so tests can drive it in simulated time. ---- */
typedef struct km_rl_pace_s {
  double base;    /* the configured rate */
  double rate;    /* current, adapted rate */
  double floor;   /* never below this */
  double ceiling; /* the limit met at the last throttling; 0: none yet */
  double tokens;
  uint64_t born; /* made at */
  uint64_t last_refill;
  uint64_t last_throttle; /* 0: never throttled */
  uint64_t last_decrease; /* 0: never lowered */
  uint64_t last_short;    /* a waiter found no token; UINT64_MAX: never */
  uint64_t slot_start;    /* the current one-second slot of ok answers */
  double ok_cur, ok_prev; /* ok answers in the current and previous slot */
  double ok_total;        /* every ok answer */
  double window;          /* calls allowed in flight */
  unsigned inflight;      /* counted grants not yet done */
  double srtt_ms;         /* smoothed grant-to-answer time; 0: none yet */
  double ok_at_decrease;  /* ok_total at the last decrease */
  unsigned streak;        /* throttling answers in a row (no ok between) */
} km_rl_pace_t;

/* full: start with the burst saved (a known figure), else one token. */
void km__rl_pace_init(km_rl_pace_t *s, double qps, bool full, uint64_t now);
/* Adds the tokens of the time elapsed and adapts the rate. */
void km__rl_pace_refill(km_rl_pace_t *s, uint64_t now);
/* Refills, then takes a token if one is there: true when taken. */
bool km__rl_pace_take(km_rl_pace_t *s, uint64_t now);
/* The same for a call that counts in the window (counted): 1 granted, 0 no
 * token yet (km__rl_pace_wait_ms), -1 the window is full (wait for a
 * km__rl_pace_done). */
int km__rl_pace_grant(km_rl_pace_t *s, uint64_t now, bool counted);
void km__rl_pace_done(km_rl_pace_t *s, uint64_t rtt_ms);
/* Milliseconds until a token is there (after a refill at now). */
uint64_t km__rl_pace_wait_ms(const km_rl_pace_t *s);
void km__rl_pace_ok(km_rl_pace_t *s, uint64_t now);
void km__rl_pace_throttled(km_rl_pace_t *s, uint64_t now);

#endif
