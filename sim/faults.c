/* Throttling, injected faults, request statistics and nonce replay
 * protection.  Throttling is a token bucket per (account, region, API group)
 * at the published QPS of reference §5, refilled on the real monotonic clock
 * so benchmarks meet the real limits; injected faults draw from one seeded
 * generator so a run with the same seed and request order repeats. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "state.h"

/* Published per-account-per-region QPS (reference §5).  Groups without a
 * published figure (sts, rm, ...) are not throttled unless the
 * fixture or POST /_kmsim/faults gives them a figure. */
static const struct {
  const char *group;
  double qps;
} k_published[] = {
    {"activation", 1},
    {"instance-write", 10},
    {"instance-read", 50},
    {"key-read", 50},
    {"key-tag-read", 300},
    {"create-key", 10},
    {"key-write", 30},
    {"crypto-sym", 1000},
    {"crypto-asym", 200},
    /* Secrets Manager on the shared gateway (issue 11's published figures):
     * list and metadata 40, value 450, create/delete 10.  kmsim serves only
     * the metadata actions; the other groups are here for fixtures. */
    {"secret-meta", 40},
    {"secret-value", 450},
    {"secret-create", 10},
};

double ksim_group_published_qps(const char *group) {
  for (size_t i = 0; group != NULL && i < KM_ARRAY_SIZE(k_published); i++)
    if (strcmp(k_published[i].group, group) == 0) return k_published[i].qps;
  return 0;
}

void ksim_faults_init(ksim_faults_t *f) {
  memset(f, 0, sizeof(*f));
  snprintf(f->latency_dist, sizeof(f->latency_dist), "none");
  f->throttle_mode = 1;
  f->seed = 1;
  f->rng = 1;
  f->task_seconds = 5;
}

void ksim_faults_free(ksim_faults_t *f) {
  json_decref(f->throttle_groups);
  json_decref(f->throttle_accounts);
  json_decref(f->actions);
  json_decref(f->config);
  f->throttle_groups = f->throttle_accounts = f->actions = f->config = NULL;
}

static int num(json_t *o, const char *k, double *out) {
  json_t *v = json_object_get(o, k);
  if (v == NULL) return 0;
  if (!json_is_number(v)) return -1;
  *out = json_number_value(v);
  return 0;
}

/* Accepts (all optional):
 *  {"seed":N, "latency":{"dist":"fixed|uniform|exponential|none",
 *   "min_ms","max_ms","mean_ms"}, "error_5xx_rate":0..1, "drop_rate":0..1,
 *   "throttle":"published"|"off"|{group:qps}, "throttle_accounts":{uid:
 *   {group:qps}}, "throttle_code":"...", "task_seconds":N,
 *   "actions":[names faults apply to], "outage_s":N (starting now),
 *   "outage_mode":"503"|"drop"|"mixed"}
 * Unset fields keep their values; "reset":true starts from defaults. */
int ksim_faults_configure(ksim_cloud_t *c, json_t *cfg, char *err,
                          size_t errlen) {
  ksim_faults_t *f = &c->faults;
  if (!json_is_object(cfg)) {
    snprintf(err, errlen, "faults: expected a JSON object");
    return -1;
  }
  if (json_is_true(json_object_get(cfg, "reset"))) {
    ksim_faults_free(f);
    ksim_faults_init(f);
  }
  json_t *v;
  if ((v = json_object_get(cfg, "seed")) != NULL) {
    if (!json_is_integer(v)) goto bad;
    f->seed = (uint64_t)json_integer_value(v);
    f->rng = f->seed;
  }
  if ((v = json_object_get(cfg, "latency")) != NULL) {
    const char *d = json_string_value(json_object_get(v, "dist"));
    if (d == NULL ||
        (strcmp(d, "none") != 0 && strcmp(d, "fixed") != 0 &&
         strcmp(d, "uniform") != 0 && strcmp(d, "exponential") != 0))
      goto bad;
    snprintf(f->latency_dist, sizeof(f->latency_dist), "%s", d);
    if (num(v, "min_ms", &f->latency_min_ms) < 0 ||
        num(v, "max_ms", &f->latency_max_ms) < 0 ||
        num(v, "mean_ms", &f->latency_mean_ms) < 0)
      goto bad;
  }
  double rate = 0;
  if ((v = json_object_get(cfg, "error_5xx_rate")) != NULL) {
    if (num(cfg, "error_5xx_rate", &rate) < 0 || rate < 0 || rate > 1) goto bad;
    f->error_5xx_rate = rate;
  }
  if ((v = json_object_get(cfg, "drop_rate")) != NULL) {
    if (num(cfg, "drop_rate", &rate) < 0 || rate < 0 || rate > 1) goto bad;
    f->drop_rate = rate;
  }
  if ((v = json_object_get(cfg, "lost_reply_rate")) != NULL) {
    if (num(cfg, "lost_reply_rate", &rate) < 0 || rate < 0 || rate > 1)
      goto bad;
    f->lost_reply_rate = rate;
  }
  if ((v = json_object_get(cfg, "throttle_storm")) != NULL) {
    double period = 0, len = 0;
    if (!json_is_object(v) || num(v, "period_ms", &period) < 0 ||
        num(v, "storm_ms", &len) < 0 || period < 0 || len < 0 || len > period)
      goto bad;
    f->storm_period_ms = period;
    f->storm_ms = len;
  }
  if ((v = json_object_get(cfg, "throttle_shape")) != NULL) {
    const char *sh = json_string_value(v);
    if (sh == NULL || (strcmp(sh, "pop") != 0 && strcmp(sh, "kms") != 0 &&
                       strcmp(sh, "mixed") != 0))
      goto bad;
    snprintf(f->throttle_shape, sizeof(f->throttle_shape), "%s", sh);
  }
  if ((v = json_object_get(cfg, "task_seconds")) != NULL) {
    if (num(cfg, "task_seconds", &rate) < 0 || rate < 0) goto bad;
    f->task_seconds = rate;
  }
  if ((v = json_object_get(cfg, "throttle")) != NULL) {
    if (json_is_string(v) && strcmp(json_string_value(v), "off") == 0) {
      f->throttle_mode = 0;
    } else if (json_is_string(v) &&
               strcmp(json_string_value(v), "published") == 0) {
      f->throttle_mode = 1;
      json_decref(f->throttle_groups);
      f->throttle_groups = NULL;
    } else if (json_is_object(v)) {
      f->throttle_mode = 2;
      json_decref(f->throttle_groups);
      f->throttle_groups = json_deep_copy(v);
    } else {
      goto bad;
    }
    /* new limits: start every bucket afresh */
    for (size_t i = 0; i < c->buckets.cap; i++)
      if (c->buckets.keys[i] != NULL) free(c->buckets.vals[i]);
    ksim_map_free(&c->buckets);
  }
  if ((v = json_object_get(cfg, "throttle_accounts")) != NULL) {
    if (!json_is_object(v)) goto bad;
    json_decref(f->throttle_accounts);
    f->throttle_accounts = json_deep_copy(v);
    for (size_t i = 0; i < c->buckets.cap; i++)
      if (c->buckets.keys[i] != NULL) free(c->buckets.vals[i]);
    ksim_map_free(&c->buckets);
  }
  if ((v = json_object_get(cfg, "throttle_code")) != NULL) {
    if (!json_is_string(v)) goto bad;
    snprintf(f->throttle_code, sizeof(f->throttle_code), "%s",
             json_string_value(v));
  }
  if ((v = json_object_get(cfg, "outage_mode")) != NULL) {
    const char *om = json_string_value(v);
    if (om == NULL || (strcmp(om, "503") != 0 && strcmp(om, "drop") != 0 &&
                       strcmp(om, "mixed") != 0))
      goto bad;
    snprintf(f->outage_mode, sizeof(f->outage_mode), "%s", om);
  }
  if ((v = json_object_get(cfg, "outage_s")) != NULL) {
    /* starts now; 0 ends one in progress */
    if (num(cfg, "outage_s", &rate) < 0 || rate < 0 || rate > 86400) goto bad;
    f->outage_until_ms = rate > 0 ? km_now_ms() + (uint64_t)(rate * 1000.0) : 0;
  }
  if ((v = json_object_get(cfg, "actions")) != NULL) {
    if (!json_is_array(v) && !json_is_null(v)) goto bad;
    json_decref(f->actions);
    f->actions = json_is_array(v) ? json_deep_copy(v) : NULL;
  }
  /* what POSTs set, merged, so a restart from the state file re-applies
   * all of it (persist.c) */
  if (f->config == NULL || json_is_true(json_object_get(cfg, "reset"))) {
    json_decref(f->config);
    f->config = json_object();
  }
  json_object_update(f->config, cfg);
  json_object_del(f->config, "reset");
  /* An outage is a moment, not a setting: a restarted kmsim has none. */
  json_object_del(f->config, "outage_s");
  return 0;
bad:
  snprintf(err, errlen, "faults: invalid configuration (see docs/kmsim.md)");
  return -1;
}

/* QPS for the caller's group: account override, then mode. */
static double group_qps(const ksim_faults_t *f, const char *uid,
                        const char *group) {
  if (f->throttle_mode == 0) return 0;
  json_t *acct = json_object_get(f->throttle_accounts, uid);
  json_t *v = json_object_get(acct, group);
  if (json_is_number(v)) return json_number_value(v);
  if (f->throttle_mode == 2) {
    v = json_object_get(f->throttle_groups, group);
    if (json_is_number(v)) return json_number_value(v);
  }
  return ksim_group_published_qps(group);
}

static bool applies(const ksim_faults_t *f, const char *action);

/* Inside a storm window (real monotonic clock) every request faults apply
 * to is throttled, whatever its bucket holds. */
static bool in_storm(const ksim_faults_t *f, const char *action) {
  if (f->storm_period_ms <= 0 || f->storm_ms <= 0 || !applies(f, action))
    return false;
  return (double)(km_now_ms() % (uint64_t)f->storm_period_ms) < f->storm_ms;
}

/* The throttling answer, in the POP shape or (throttle_shape "kms", or
 * every other one with "mixed") the KMS-native {HttpStatus, Code, Message,
 * RequestId} of the KMS limits page. */
static int throttled(ksim_req_t *req, ksim_resp_t *resp) {
  ksim_cloud_t *c = req->cloud;
  const char *sh = c->faults.throttle_shape;
  resp->native = strcmp(sh, "kms") == 0 ||
                 (strcmp(sh, "mixed") == 0 && (ksim_rand(&c->faults.rng) & 1));
  const char *code = c->faults.throttle_code;
  if (code[0] == '\0') /* KMS's code on both of its gateways */
    code =
        strcmp(req->product, "kms") == 0 || strcmp(req->product, "gateway") == 0
            ? "Rejected.Throttling"
            : "Throttling.User";
  if (strcmp(code, "Rejected.Throttling") == 0)
    return ksim_fail(resp, code, "QPS Limit Exceeded");
  if (strcmp(code, "Throttling") == 0)
    return ksim_fail(resp, code,
                     "Request was denied due to request throttling.");
  return ksim_fail(resp, code, "Request was denied due to user flow control.");
}

/* One token from the bucket named key (created full at qps); 0 or the
 * throttling answer. */
static int take(ksim_req_t *req, ksim_resp_t *resp, const char *key,
                double qps);

/* The dedicated gateway serves at most the instance's spec (its QPS, as
 * sold) for all the accounts that share it: an undersized instance
 * throttles there (procedure section 4). */
static int instance_throttle(ksim_req_t *req, ksim_resp_t *resp) {
  if (strcmp(req->product, "gateway") != 0 ||
      req->cloud->faults.throttle_mode == 0)
    return 0;
  ksim_instance_t *inst = ksim_instance_by_id(req->cloud, req->instance_id);
  if (inst == NULL || inst->spec <= 0) return 0;
  char key[128];
  snprintf(key, sizeof(key), "instance|%s", inst->id);
  return take(req, resp, key, (double)inst->spec);
}

int ksim_throttle(ksim_req_t *req, const ksim_action_t *a, ksim_resp_t *resp) {
  ksim_cloud_t *c = req->cloud;
  if (in_storm(&c->faults, req->action)) return throttled(req, resp);
  if (instance_throttle(req, resp) < 0) return -1;
  double qps = group_qps(&c->faults, req->account->id, a->group);
  if (qps <= 0) return 0;
  char key[256];
  snprintf(key, sizeof(key), "%s|%s|%s", req->account->id, req->region,
           a->group);
  return take(req, resp, key, qps);
}

static int take(ksim_req_t *req, ksim_resp_t *resp, const char *key,
                double qps) {
  ksim_cloud_t *c = req->cloud;
  ksim_bucket_t *b = ksim_map_get(&c->buckets, key);
  uint64_t now = km_now_ms();
  if (b == NULL) {
    b = km_xcalloc(1, sizeof(*b));
    b->tokens = qps; /* burst of one second */
    b->qps = qps;
    b->last_ms = now;
    ksim_map_put(&c->buckets, key, b);
  }
  b->tokens += (double)(now - b->last_ms) * qps / 1000.0;
  if (b->tokens > qps) b->tokens = qps;
  b->last_ms = now;
  if (b->tokens >= 1.0) {
    b->tokens -= 1.0;
    return 0;
  }
  return throttled(req, resp);
}

static bool applies(const ksim_faults_t *f, const char *action) {
  if (f->actions == NULL) return true;
  size_t i;
  json_t *v;
  json_array_foreach(f->actions, i, v) {
    if (action != NULL && json_is_string(v) &&
        strcmp(json_string_value(v), action) == 0)
      return true;
  }
  return false;
}

int ksim_faults_roll(ksim_req_t *req, ksim_resp_t *resp, unsigned *delay_ms) {
  ksim_faults_t *f = &req->cloud->faults;
  *delay_ms = 0;
  if (!applies(f, req->action)) return 0;
  double d = 0;
  if (strcmp(f->latency_dist, "fixed") == 0) {
    d = f->latency_min_ms;
  } else if (strcmp(f->latency_dist, "uniform") == 0) {
    d = f->latency_min_ms +
        ksim_rand01(&f->rng) * (f->latency_max_ms - f->latency_min_ms);
  } else if (strcmp(f->latency_dist, "exponential") == 0) {
    double u = ksim_rand01(&f->rng);
    d = f->latency_min_ms - f->latency_mean_ms * log(1.0 - u);
    if (f->latency_max_ms > 0 && d > f->latency_max_ms) d = f->latency_max_ms;
  }
  if (d > 0) *delay_ms = (unsigned)d;
  if (f->drop_rate > 0 && ksim_rand01(&f->rng) < f->drop_rate) {
    resp->drop = true;
    snprintf(resp->code, sizeof(resp->code), "Kmsim.Dropped");
    return -1;
  }
  if (f->error_5xx_rate > 0 && ksim_rand01(&f->rng) < f->error_5xx_rate) {
    if (ksim_rand(&f->rng) & 1)
      return ksim_fail(resp, "ServiceUnavailableTemporary",
                       "The request has failed due to a temporary failure of "
                       "the server.");
    return ksim_fail(resp, "InternalFailure",
                     "The request processing has failed due to some unknown "
                     "error.");
  }
  return 0;
}

int ksim_outage(ksim_req_t *req, ksim_resp_t *resp) {
  ksim_faults_t *f = &req->cloud->faults;
  if (f->outage_until_ms == 0) return 0;
  if (km_now_ms() >= f->outage_until_ms) {
    f->outage_until_ms = 0;
    return 0;
  }
  const char *m = f->outage_mode[0] != '\0' ? f->outage_mode : "503";
  bool drop = strcmp(m, "drop") == 0 ||
              (strcmp(m, "mixed") == 0 && (ksim_rand(&f->rng) & 1));
  if (drop) { /* nothing was done; the client cannot know that */
    resp->drop = true;
    snprintf(resp->code, sizeof(resp->code), "Kmsim.Outage");
    return -1;
  }
  return ksim_fail(resp, "ServiceUnavailableTemporary",
                   "The request has failed due to a temporary failure of the "
                   "server.");
}

/* Writes: every action but the Describe/List/Get/Query reads. */
static bool is_write(const char *action) {
  static const char *const reads[] = {"Describe", "List", "Get", "Query"};
  for (size_t i = 0; i < KM_ARRAY_SIZE(reads); i++)
    if (strncmp(action, reads[i], strlen(reads[i])) == 0) return false;
  return true;
}

void ksim_faults_lose(ksim_req_t *req, ksim_resp_t *resp) {
  ksim_faults_t *f = &req->cloud->faults;
  if (f->lost_reply_rate <= 0 || req->action == NULL ||
      !is_write(req->action) || !applies(f, req->action))
    return;
  if (ksim_rand01(&f->rng) < f->lost_reply_rate) {
    resp->drop = true;
    snprintf(resp->code, sizeof(resp->code), "Kmsim.LostReply");
  }
}

void ksim_stats_count(ksim_cloud_t *c, const char *product, const char *action,
                      const char *code) {
  char key[256];
  snprintf(key, sizeof(key), "%s|%s|%s", product != NULL ? product : "-",
           action != NULL ? action : "-",
           code != NULL && code[0] != '\0' ? code : "OK");
  uintptr_t n = (uintptr_t)ksim_map_get(&c->stats, key);
  ksim_map_put(&c->stats, key, (void *)(n + 1));
  c->requests++;
}

json_t *ksim_stats_dump(ksim_cloud_t *c) {
  json_t *by = json_object();
  for (size_t i = 0; i < c->stats.cap; i++) {
    if (c->stats.keys[i] == NULL) continue;
    char *k = km_xstrdup(c->stats.keys[i]);
    char *p1 = strchr(k, '|'), *p2 = p1 != NULL ? strchr(p1 + 1, '|') : NULL;
    if (p2 != NULL) {
      *p1 = *p2 = '\0';
      char name[200];
      snprintf(name, sizeof(name), "%s.%s", k, p1 + 1);
      json_t *a = json_object_get(by, name);
      if (a == NULL) {
        a = json_object();
        json_object_set_new(by, name, a);
      }
      json_object_set_new(
          a, p2 + 1, json_integer((json_int_t)(uintptr_t)c->stats.vals[i]));
    }
    free(k);
  }
  return json_pack("{s:I, s:I, s:I, s:I, s:o}", "Requests",
                   (json_int_t)c->requests, "Connections",
                   (json_int_t)c->connections, "TlsConnections",
                   (json_int_t)c->tls_connections, "TlsResumed",
                   (json_int_t)c->tls_resumed, "ByAction", by);
}

/* Open-addressing set of 64-bit hashes; entries older than the skew window
 * are dropped when the table is rebuilt, since such requests fail the
 * timestamp check anyway. */
#define NONCE_WINDOW (15 * 60 + 60)

static uint64_t nonce_hash(const char *ak, const char *nonce) {
  uint64_t h = 1469598103934665603ULL;
  for (const char *s = ak; *s; s++)
    h = (h ^ (unsigned char)*s) * 1099511628211ULL;
  h = (h ^ 0xFF) * 1099511628211ULL;
  for (const char *s = nonce; *s; s++)
    h = (h ^ (unsigned char)*s) * 1099511628211ULL;
  return h != 0 ? h : 1;
}

static void nonce_rebuild(ksim_cloud_t *c, int64_t now, size_t cap) {
  uint64_t *oh = c->nonce_hash;
  int64_t *ot = c->nonce_time;
  size_t ocap = c->nonce_cap;
  c->nonce_hash = km_xcalloc(cap, sizeof(uint64_t));
  c->nonce_time = km_xcalloc(cap, sizeof(int64_t));
  c->nonce_cap = cap;
  c->nonce_n = 0;
  for (size_t i = 0; i < ocap; i++) {
    if (oh[i] == 0 || ot[i] < now - NONCE_WINDOW) continue;
    size_t j = oh[i] & (cap - 1);
    while (c->nonce_hash[j] != 0)
      j = (j + 1) & (cap - 1);
    c->nonce_hash[j] = oh[i];
    c->nonce_time[j] = ot[i];
    c->nonce_n++;
  }
  free(oh);
  free(ot);
}

bool ksim_nonce_check(ksim_cloud_t *c, const char *ak, const char *nonce,
                      int64_t now) {
  if (ak == NULL || nonce == NULL) return false;
  if ((c->nonce_n + 1) * 2 > c->nonce_cap) {
    size_t cap = c->nonce_cap != 0 ? c->nonce_cap : 4096;
    nonce_rebuild(c, now, cap);
    if ((c->nonce_n + 1) * 2 > c->nonce_cap) nonce_rebuild(c, now, cap * 2);
  }
  uint64_t h = nonce_hash(ak, nonce);
  size_t j = h & (c->nonce_cap - 1);
  while (c->nonce_hash[j] != 0) {
    if (c->nonce_hash[j] == h && c->nonce_time[j] >= now - NONCE_WINDOW)
      return false;
    j = (j + 1) & (c->nonce_cap - 1);
  }
  c->nonce_hash[j] = h;
  c->nonce_time[j] = now;
  c->nonce_n++;
  return true;
}
