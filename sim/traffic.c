/* Application traffic: the callers of a fixture's `traffic:` section
 * (docs/kmsim.md "Application traffic") make data-plane calls (Encrypt,
 * Decrypt, GenerateDataKey, GetSecretValue) at their rate from one thread,
 * so CloudMonitor and ActionTrail (observe.c) answer with measurements of
 * traffic kmsim really served, not canned numbers.
 *
 * Each call is a complete V1-signed request with the caller's AccessKey,
 * source address and User-Agent, run through ksim_process: routing,
 * authentication, throttling (the shared gateway's published QPS, the
 * instance's spec on the dedicated gateway), the handler, the statistics
 * and ksim_observe_record, exactly as a request from the network; only the
 * socket is skipped.  A caller with `switch: true` calls the instance's
 * dedicated gateway for a resource once it is migrated (it sits in a KMS
 * 3.0 instance); the others stay on the shared gateway, which forwards. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "server.h"
#include "state.h"

typedef struct {
  char *account; /* for the reader: the AccessKey's account calls */
  char *region, *ak, *ip, *ua;
  double rate, errors, credit;
  bool sw;
  json_t *actions, *keys, *secrets; /* arrays of strings */
  size_t turn;
  char *blob;     /* the last ciphertext, for Decrypt */
  char *blob_key; /* its key */
} caller_t;

static struct {
  pthread_t th;
  bool running, stop;
  ksim_server_t *srv;
  caller_t *v;
  size_t n;
  long tick_ms;
  uint64_t rng, nonce;
} g_tr;

static char *dup_or(json_t *o, const char *k, const char *def) {
  const char *s = json_string_value(json_object_get(o, k));
  return s != NULL ? km_xstrdup(s) : def != NULL ? km_xstrdup(def) : NULL;
}

/* A number, given as a YAML number or numeric text; -1 when malformed. */
static int num_or(json_t *o, const char *k, double def, double *out) {
  json_t *v = json_object_get(o, k);
  *out = def;
  if (v == NULL) return 0;
  if (json_is_number(v)) {
    *out = json_number_value(v);
    return 0;
  }
  const char *s = json_string_value(v);
  char *end = NULL;
  double d = s != NULL ? strtod(s, &end) : 0;
  if (s == NULL || end == s || *end != '\0' || d < 0) return -1;
  *out = d;
  return 0;
}

static json_t *strs_or(json_t *o, const char *k, const char *def) {
  json_t *a = json_object_get(o, k);
  if (json_is_array(a)) return json_incref(a);
  a = json_array();
  if (def != NULL) json_array_append_new(a, json_string(def));
  return a;
}

int ksim_traffic_configure(const json_t *cfg, char *err, size_t errlen) {
  json_t *callers = json_object_get(cfg, "callers");
  if (cfg != NULL && !json_is_array(callers)) {
    snprintf(err, errlen, "traffic: callers must be a list");
    return -1;
  }
  double tick;
  if (num_or((json_t *)cfg, "tick_ms", 100, &tick) < 0) {
    snprintf(err, errlen, "traffic: tick_ms: expected a number");
    return -1;
  }
  g_tr.tick_ms = tick < 10 ? 10 : (long)tick;
  g_tr.n = json_array_size(callers);
  g_tr.v = km_xcalloc(g_tr.n ? g_tr.n : 1, sizeof(caller_t));
  for (size_t i = 0; i < g_tr.n; i++) {
    json_t *o = json_array_get(callers, i);
    caller_t *c = &g_tr.v[i];
    c->account = dup_or(o, "account", NULL);
    c->region = dup_or(o, "region", NULL);
    c->ak = dup_or(o, "access_key_id", NULL);
    if (c->region == NULL || c->ak == NULL) {
      snprintf(err, errlen,
               "traffic: caller %zu needs region and access_key_id", i + 1);
      return -1;
    }
    c->ip = dup_or(o, "source_ip", "127.0.0.1");
    c->ua = dup_or(o, "user_agent", "kmsim-traffic");
    if (num_or(o, "rate", 1, &c->rate) < 0 ||
        num_or(o, "errors", 0, &c->errors) < 0 || c->errors > 1) {
      snprintf(err, errlen,
               "traffic: caller %zu: rate is calls a second, errors a "
               "fraction 0..1",
               i + 1);
      return -1;
    }
    json_t *sw = json_object_get(o, "switch");
    const char *sws = json_string_value(sw);
    c->sw = json_is_true(sw) || (sws != NULL && strcmp(sws, "true") == 0);
    c->actions = strs_or(o, "actions", "Encrypt");
    c->keys = strs_or(o, "keys", NULL);
    c->secrets = strs_or(o, "secrets", NULL);
  }
  return 0;
}

/* The host the caller uses for a resource in instance iid (NULL: KMS 1.0):
 * its dedicated gateway once migrated if it switches, else the shared
 * gateway of the region. */
static void host_for(const caller_t *c, const char *iid, char *out, size_t n) {
  if (c->sw && iid != NULL)
    snprintf(out, n, "%s.cryptoservice.kms.aliyuncs.com", iid);
  else
    snprintf(out, n, "kms.%s.aliyuncs.com", c->region);
}

static const char *pick(json_t *a, size_t turn) {
  size_t n = json_array_size(a);
  return n > 0 ? json_string_value(json_array_get(a, turn % n)) : NULL;
}

/* Decides the next call of c under the cloud lock: action, parameters
 * (pairs into p), host; false when it has nothing to call. */
static bool plan_call(caller_t *c, const char **action, ksim_kvs_t *p,
                      char *host, size_t hn, const char **secret) {
  ksim_cloud_t *cl = g_tr.srv->cloud;
  ksim_account_t *a = ksim_account_by_ak(cl, c->ak, secret);
  if (a == NULL) return false;
  ksim_region_t *r = ksim_account_region(cl, a, c->region);
  if (r == NULL) return false;
  *action = pick(c->actions, c->turn);
  if (*action == NULL) return false;
  bool bad = ksim_rand01(&g_tr.rng) < c->errors;
  if (strcmp(*action, "GetSecretValue") == 0) {
    const char *name = pick(c->secrets, c->turn / json_array_size(c->actions));
    if (name == NULL) return false;
    ksim_secret_t *s = ksim_secret_find(r, name);
    host_for(c, s != NULL ? s->instance_id : NULL, host, hn);
    ksim_kvs_add(p, "SecretName", bad ? "kmsim-traffic-missing" : name);
    return true;
  }
  if (strcmp(*action, "Decrypt") == 0 && c->blob != NULL && !bad) {
    ksim_key_t *k = ksim_key_find(r, c->blob_key);
    host_for(c, k != NULL ? k->instance_id : NULL, host, hn);
    ksim_kvs_add(p, "CiphertextBlob", c->blob);
    return true;
  }
  if (strcmp(*action, "Decrypt") == 0) *action = "Encrypt";
  const char *id = pick(c->keys, c->turn / json_array_size(c->actions));
  if (id == NULL) return false;
  ksim_key_t *k = ksim_key_find(r, id);
  host_for(c, k != NULL ? k->instance_id : NULL, host, hn);
  ksim_kvs_add(p, "KeyId", bad ? "alias/kmsim-traffic-missing" : id);
  if (strcmp(*action, "Encrypt") == 0)
    ksim_kvs_add(p, "Plaintext", "kmsim application traffic");
  return true;
}

static void one_call(caller_t *c) {
  ksim_cloud_t *cl = g_tr.srv->cloud;
  const char *action = NULL, *secret = NULL;
  char host[160];
  ksim_kvs_t form = {0};
  ksim_lock(cl);
  bool go = plan_call(c, &action, &form, host, sizeof(host), &secret);
  char *sec = go ? km_xstrdup(secret) : NULL;
  ksim_unlock(cl);
  c->turn++;
  if (!go) {
    ksim_kvs_free(&form);
    return;
  }
  char ts[32], nonce[48];
  time_t now = time(NULL);
  struct tm tm;
  gmtime_r(&now, &tm);
  strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
  snprintf(nonce, sizeof(nonce), "traffic-%llu-%llu",
           (unsigned long long)++g_tr.nonce,
           (unsigned long long)ksim_rand(&g_tr.rng));
  ksim_kvs_add(&form, "Action", action);
  ksim_kvs_add(&form, "Version", "2016-01-20");
  ksim_kvs_add(&form, "Format", "JSON");
  ksim_kvs_add(&form, "AccessKeyId", c->ak);
  ksim_kvs_add(&form, "SignatureMethod", "HMAC-SHA1");
  ksim_kvs_add(&form, "SignatureVersion", "1.0");
  ksim_kvs_add(&form, "SignatureNonce", nonce);
  ksim_kvs_add(&form, "Timestamp", ts);
  char *sts = ksim_v1_string_to_sign("POST", &form);
  char *sig = ksim_v1_signature(sec, sts);
  km_free_secret(sec);
  ksim_kvs_add(&form, "Signature", sig);
  free(sts);
  free(sig);
  ksim_req_t req;
  ksim_resp_t resp;
  memset(&req, 0, sizeof(req));
  memset(&resp, 0, sizeof(resp));
  req.cloud = cl;
  req.method = "POST";
  req.path = "/";
  req.host = host;
  req.form = form;
  req.body = "";
  ksim_kvs_add(&req.headers, "user-agent", c->ua);
  snprintf(req.source_ip, sizeof(req.source_ip), "%s", c->ip);
  unsigned delay = 0;
  ksim_process(g_tr.srv, &req, &resp, &delay);
  const char *blob =
      json_string_value(json_object_get(resp.body, "CiphertextBlob"));
  const char *kid = json_string_value(json_object_get(resp.body, "KeyId"));
  if (resp.status == 200 && blob != NULL && kid != NULL) {
    free(c->blob);
    free(c->blob_key);
    c->blob = km_xstrdup(blob);
    c->blob_key = km_xstrdup(kid);
  }
  json_decref(resp.body);
  ksim_kvs_free(&req.form);
  ksim_kvs_free(&req.headers);
}

static void *run(void *arg) {
  (void)arg;
  uint64_t last = km_now_ms();
  while (!__atomic_load_n(&g_tr.stop, __ATOMIC_ACQUIRE)) {
    usleep((useconds_t)g_tr.tick_ms * 1000u);
    uint64_t now = km_now_ms();
    double dt = (double)(now - last) / 1000.0;
    last = now;
    for (size_t i = 0; i < g_tr.n; i++) {
      caller_t *c = &g_tr.v[i];
      c->credit += c->rate * dt;
      /* a stalled thread does not make up a burst of more than a second */
      if (c->credit > c->rate + 1) c->credit = c->rate + 1;
      for (; c->credit >= 1.0; c->credit -= 1.0)
        one_call(c);
    }
  }
  return NULL;
}

int ksim_traffic_start(ksim_server_t *srv, char *err, size_t errlen) {
  json_t *cfg = json_object_get(srv->cloud->fixture, "traffic");
  if (cfg == NULL || json_is_null(cfg)) return 0;
  if (ksim_traffic_configure(cfg, err, errlen) < 0) return -1;
  g_tr.srv = srv;
  g_tr.rng = srv->cloud->faults.seed | 1;
  if (g_tr.n == 0) return 0;
  if (pthread_create(&g_tr.th, NULL, run, NULL) != 0) {
    snprintf(err, errlen, "traffic: cannot start its thread");
    return -1;
  }
  g_tr.running = true;
  return 0;
}

void ksim_traffic_stop(void) {
  if (g_tr.running) {
    __atomic_store_n(&g_tr.stop, true, __ATOMIC_RELEASE);
    pthread_join(g_tr.th, NULL);
  }
  for (size_t i = 0; i < g_tr.n; i++) {
    caller_t *c = &g_tr.v[i];
    free(c->account);
    free(c->region);
    free(c->ak);
    free(c->ip);
    free(c->ua);
    free(c->blob);
    free(c->blob_key);
    json_decref(c->actions);
    json_decref(c->keys);
    json_decref(c->secrets);
  }
  free(g_tr.v);
  memset(&g_tr, 0, sizeof(g_tr));
}
