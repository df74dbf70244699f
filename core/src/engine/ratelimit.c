/* Adaptive token buckets per (account, region, API group).  See ratelimit.h
 * for the contract; this file keeps the buckets in a chained hash table and
 * drives each bucket's FIFO of waiters from its own timer, so a slow bucket
 * never delays another.
 *
 * A bucket that has gone idle retires: once its queue is empty, its timer
 * (unreferenced: it never keeps the loop alive) looks again later, and a
 * bucket unused for IDLE_RETIRE_MS that is full at its published rate
 * (nothing left to remember, and no call it granted can still report
 * throttling in practice) is closed and freed.  A run of 10,000 accounts
 * holds buckets only for the accounts in flight and the last seconds; a
 * bucket that comes back starts with one token, more cautious than a full
 * one. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/ratelimit.h"
#include "util/util.h"

/* Published QPS per account and region (reference §5).  Groups marked
 * "assumed" have no published figure; they use the key-read figure until the
 * vendor publishes one, and kmsim enforces the same assumption. */
static const struct {
  const char *product;
  const char *action; /* NULL: every other action of the product */
  const char *group;
  double qps;
} groups[] = {
    {"kms", "GetKmsInstance", "instance-read", 50},
    {"kms", "ListKmsInstances", "instance-read", 50},
    {"kms", "GetDefaultKmsInstance", "instance-read", 50},
    {"kms", "GetKmsInstanceQuotaInfos", "instance-read", 50},
    {"kms", "DescribeKey", "key-read", 50},
    {"kms", "ListKeys", "key-read", 50},
    {"kms", "DescribeKeyVersion", "key-read", 50},
    {"kms", "ListKeyVersions", "key-read", 50},
    {"kms", "GetPublicKey", "key-read", 50},
    {"kms", "ListAliases", "key-read", 50},
    {"kms", "ListAliasesByKeyId", "key-read", 50},
    {"kms", "ListTagResources", "key-read", 50},
    {"kms", "GetParametersForImport", "key-read", 50},
    {"kms", "GetKeyPolicy", "key-read", 50},
    {"kms", "DescribeRegions", "key-read", 50},
    {"kms", "ListResourceTags", "key-tag-read", 300},
    {"kms", "UpdateRotationPolicy", "key-write", 30},
    {"kms", "ImportKeyMaterial", "key-write", 30},
    {"kms", "Encrypt", "crypto-sym", 1000},
    {"kms", "Decrypt", "crypto-sym", 1000},
    {"kms", "GenerateDataKey", "crypto-sym", 1000},
    /* Secrets Manager, published per account (issue 11): list and
     * metadata 40, value 450, create and delete 10; kmsim enforces them. */
    {"kms", "ListSecrets", "secret-meta", 40},
    {"kms", "DescribeSecret", "secret-meta", 40},
    {"kms", "UpdateSecretRotationPolicy", "secret-meta", 40},
    {"kms", "GetSecretPolicy", "secret-meta", 40},
    {"kms", "ListSecretVersionIds", "secret-meta", 40},
    {"kms", "GetSecretValue", "secret-value", 450},
    {"kms", "CreateSecret", "secret-create", 10},
    {"kms", "DeleteSecret", "secret-create", 10},
    {"kms", NULL, "kms-other", 50},          /* assumed */
    {"sts", NULL, "sts", 100},               /* assumed */
    {"resourcemanager", NULL, "rm", 50},     /* assumed */
    {"resourcesharing", NULL, "rs", 20},     /* assumed */
    {"cms", NULL, "cms", 50},                /* assumed */
    {"actiontrail", NULL, "actiontrail", 5}, /* assumed */
};

const char *km_rl_api_group(const char *product, const char *action,
                            double *qps) {
  for (size_t i = 0; i < KM_ARRAY_SIZE(groups); i++) {
    if (strcmp(groups[i].product, product) != 0) continue;
    if (groups[i].action == NULL || strcmp(groups[i].action, action) == 0) {
      *qps = groups[i].qps;
      return groups[i].group;
    }
  }
  *qps = 20;
  return "other";
}

typedef struct waiter_s {
  struct waiter_s *next;
  km_rl_cb cb;
  void *ud;
  uint64_t t_enq;
} waiter_t;

typedef struct bucket_s {
  struct bucket_s *next_hash;
  km_rl_t *rl;
  char *key;
  double base;  /* published rate */
  double rate;  /* current, adapted rate */
  double floor; /* never below this */
  double tokens;
  uint64_t last_refill;
  uint64_t last_throttle;
  uint64_t last_used; /* last acquire or throttling report */
  waiter_t *head;
  waiter_t *tail;
  uv_timer_t timer;
} bucket_t;

#define NBUCKETS 1024
#define IDLE_RETIRE_MS 10000

struct km_rl_s {
  uv_loop_t *loop;
  bucket_t *table[NBUCKETS];
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

static bucket_t *bucket_get(km_rl_t *rl, const char *key, double qps) {
  bucket_t *b = find(rl, key);
  if (b != NULL) return b;
  b = km_xcalloc(1, sizeof(*b));
  b->rl = rl;
  b->key = km_xstrdup(key);
  b->base = b->rate = qps;
  b->floor = fmax(0.5, qps * 0.05);
  b->tokens = 1.0;
  b->last_refill = km_now_ms();
  uv_timer_init(rl->loop, &b->timer);
  b->timer.data = b;
  rl->open_handles++;
  uint32_t h = hash_key(key) % NBUCKETS;
  b->next_hash = rl->table[h];
  rl->table[h] = b;
  return b;
}

/* Refills tokens for the time elapsed and gives back 5% of the published
 * rate per second since the last throttling answer (additive increase). */
static void refill(bucket_t *b, uint64_t now) {
  double dt = (double)(now - b->last_refill) / 1000.0;
  b->last_refill = now;
  if (b->rate < b->base && now - b->last_throttle >= 1000)
    b->rate = fmin(b->base, b->rate + 0.05 * b->base * dt);
  double burst = fmax(1.0, b->rate);
  b->tokens = fmin(burst, b->tokens + b->rate * dt);
}

static void schedule(bucket_t *b, uint64_t delay_ms) {
  if (b->rl->closing) return;
  uv_timer_start(&b->timer, on_timer, delay_ms, 0);
}

static void on_bucket_closed(uv_handle_t *h);

static void unlink_bucket(bucket_t *b) {
  bucket_t **pp = &b->rl->table[hash_key(b->key) % NBUCKETS];
  while (*pp != b)
    pp = &(*pp)->next_hash;
  *pp = b->next_hash;
}

/* An idle bucket: retire it when full at its published rate, else look
 * again when it will be. */
static void idle(bucket_t *b, uint64_t now) {
  if (b->rl->closing) return;
  double burst = fmax(1.0, b->rate);
  uint64_t quiet = now - b->last_used;
  if (quiet >= IDLE_RETIRE_MS && b->rate >= b->base && b->tokens >= burst) {
    unlink_bucket(b);
    uv_close((uv_handle_t *)&b->timer, on_bucket_closed);
    return;
  }
  double full = (burst - b->tokens) / b->rate * 1000.0;
  uint64_t left = quiet < IDLE_RETIRE_MS ? IDLE_RETIRE_MS - quiet : 0;
  double wait = fmax(full, (double)left);
  uv_timer_start(&b->timer, on_timer, (uint64_t)ceil(fmax(wait, 1000.0)), 0);
  uv_unref((uv_handle_t *)&b->timer);
}

static void on_timer(uv_timer_t *t) {
  bucket_t *b = t->data;
  km_rl_t *rl = b->rl;
  uint64_t now = km_now_ms();
  refill(b, now);
  if (b->head == NULL) {
    idle(b, now);
    return;
  }
  /* Take the granted waiters off the queue before calling anyone: a callback
   * may acquire again on this bucket. */
  waiter_t *granted = NULL, **gt = &granted;
  while (b->head != NULL && b->tokens >= 1.0) {
    waiter_t *w = b->head;
    b->head = w->next;
    if (b->head == NULL) b->tail = NULL;
    w->next = NULL;
    *gt = w;
    gt = &w->next;
    b->tokens -= 1.0;
  }
  if (b->head != NULL) {
    double need = (1.0 - b->tokens) / b->rate * 1000.0;
    schedule(b, (uint64_t)ceil(need < 1.0 ? 1.0 : need));
  } else {
    idle(b, now); /* just used: schedules the retirement check */
  }
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

int km_rl_acquire(km_rl_t *rl, const char *key, double qps, km_rl_cb cb,
                  void *ud) {
  if (rl->closing) return KM_ECANCELED;
  if (qps <= 0 || cb == NULL) return KM_EINVAL;
  bucket_t *b = bucket_get(rl, key, qps);
  waiter_t *w = km_xcalloc(1, sizeof(*w));
  w->cb = cb;
  w->ud = ud;
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

#define THROTTLE_WINDOW_MS 1000

void km_rl_throttled(km_rl_t *rl, const char *key) {
  bucket_t *b = find(rl, key);
  rl->stats.throttled++;
  if (b == NULL) return;
  uint64_t now = km_now_ms();
  refill(b, now);
  /* Halve once per window: the answers to calls already in flight when the
   * first throttling answer came are the same signal, not a new one (a
   * one-second throttling storm otherwise drove the rate to its floor and
   * the run crawled for 20 s after it: chaos suite, issue 11). */
  if (b->last_throttle == 0 || now - b->last_throttle >= THROTTLE_WINDOW_MS) {
    b->rate = fmax(b->floor, b->rate * 0.5);
    b->last_throttle = now;
  }
  b->last_used = now;
  if (b->tokens > 0) b->tokens = 0;
}

double km_rl_rate(const km_rl_t *rl, const char *key) {
  bucket_t *b = find(rl, key);
  return b != NULL ? b->rate : 0.0;
}

void km_rl_stats(const km_rl_t *rl, km_rl_stats_t *out) {
  *out = rl->stats;
}

static void on_bucket_closed(uv_handle_t *h) {
  bucket_t *b = h->data;
  km_rl_t *rl = b->rl;
  free(b->key);
  free(b);
  if (--rl->open_handles == 0 && rl->closing) {
    void (*cb)(void *) = rl->close_cb;
    void *ud = rl->close_ud;
    free(rl);
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
    free(rl);
    if (close_cb != NULL) close_cb(ud);
  }
}
