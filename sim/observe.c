/* Observability over the traffic kmsim actually served: CloudMonitor
 * (cms 2019-01-01 on metrics.<region>.aliyuncs.com) DescribeMetricList and
 * DescribeMetricLast for namespace acs_kms, and ActionTrail (2020-07-06 on
 * actiontrail.<region>.aliyuncs.com) LookupEvents (reference §6).  The
 * server hands every answered request to ksim_observe_record, which keeps
 * the last RING_CAP requests (time, caller, region, gateway, action, code,
 * injected latency, the resource id; never a plaintext or secret value).
 * Metric names, dimensions and the shared/dedicated split are UNCONFIRMED
 * at the vendor (reference §6) and are kmsim's choice, documented in
 * docs/kmsim-console.md "Observability".  ActionTrail, like the real one,
 * sees shared-gateway calls only: dedicated-gateway calls go to the
 * instance's own access logs, which is how an operator spots clients that
 * still call the shared gateway after migration. */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "state.h"

#define RING_CAP 65536

typedef struct {
  int64_t t_ms;
  int status;
  unsigned latency_ms;
  bool via_sts;
  char account[24];
  char region[32];
  char instance[48]; /* dedicated gateway: kst- id; "" = shared gateway */
  char product[24];
  char action[48];
  char version[16];
  char code[64];
  char ak[48];
  char request_id[40];
  char host[96];
  char resource[128]; /* KeyId / SecretName / KmsInstanceId as sent */
  char source_ip[64];
  char user_agent[128];
} ev_t;

/* What a query filters on first, beside each event in a ring of its own:
 * a CloudMonitor or ActionTrail query scans the whole ring, and the 65,536
 * events of ~900 bytes were 59 MB of memory per query (a fleet of 1,000
 * accounts asks 25,000 of them: kmsim's CPU grew 17.9 times from 100 to
 * 1,000 accounts).  The hot fields are 24 bytes; the full event is read
 * only for the events they let through, and checked as before. */
typedef struct {
  int64_t t_ms;
  uint64_t who; /* hash of account and region */
  uint8_t kind; /* 1 kms, 2 gateway, 0 anything else */
  bool ded;     /* dedicated gateway: instance set */
} hot_t;

static struct {
  const ksim_cloud_t *cloud;
  ev_t *ring;
  hot_t *hot;
  size_t head, n;
} g_obs;

void ksim_observe_reset(void) {
  free(g_obs.ring);
  free(g_obs.hot);
  memset(&g_obs, 0, sizeof(g_obs));
}

static uint64_t who_hash(const char *account, const char *region) {
  uint64_t h = 1469598103934665603ull;
  for (const char *p = account != NULL ? account : ""; *p; p++)
    h = (h ^ (unsigned char)*p) * 1099511628211ull;
  h = (h ^ 0xff) * 1099511628211ull;
  for (const char *p = region != NULL ? region : ""; *p; p++)
    h = (h ^ (unsigned char)*p) * 1099511628211ull;
  return h;
}

/* truncating copy (ids longer than the field are cut, never overflow) */
static void cpy(char *dst, size_t n, const char *src) {
  size_t l = src != NULL ? strnlen(src, n - 1) : 0;
  if (l > 0) memcpy(dst, src, l);
  dst[l] = '\0';
}

void ksim_observe_record(const ksim_req_t *req, const ksim_resp_t *resp,
                         unsigned latency_ms) {
  if (req->product == NULL || req->action == NULL || req->account == NULL)
    return; /* unrouted or unauthenticated: no account to attribute it to */
  if (g_obs.cloud != req->cloud) {
    ksim_observe_reset();
    g_obs.cloud = req->cloud;
  }
  if (g_obs.ring == NULL) {
    g_obs.ring = km_xcalloc(RING_CAP, sizeof(ev_t));
    g_obs.hot = km_xcalloc(RING_CAP, sizeof(hot_t));
  }
  ev_t *e = &g_obs.ring[g_obs.head];
  hot_t *h = &g_obs.hot[g_obs.head];
  g_obs.head = (g_obs.head + 1) % RING_CAP;
  if (g_obs.n < RING_CAP) g_obs.n++;
  memset(e, 0, sizeof(*e));
  e->t_ms = ksim_clock_ms(req->cloud);
  e->status = resp->status != 0 ? resp->status : 200;
  e->latency_ms = latency_ms;
  e->via_sts = req->via_sts;
  cpy(e->account, sizeof(e->account), req->account->id);
  cpy(e->region, sizeof(e->region), req->region);
  cpy(e->instance, sizeof(e->instance), req->instance_id);
  cpy(e->product, sizeof(e->product), req->product);
  cpy(e->action, sizeof(e->action), req->action);
  cpy(e->version, sizeof(e->version), req->version);
  cpy(e->code, sizeof(e->code), resp->code);
  cpy(e->ak, sizeof(e->ak), req->access_key_id);
  cpy(e->request_id, sizeof(e->request_id), req->request_id);
  cpy(e->host, sizeof(e->host), req->host_name);
  static const char *const ids[] = {"KeyId", "SecretName", "KmsInstanceId",
                                    "ResourceShareId"};
  for (size_t i = 0; i < KM_ARRAY_SIZE(ids) && e->resource[0] == '\0'; i++)
    cpy(e->resource, sizeof(e->resource), ksim_param(req, ids[i]));
  /* Decrypt names no key: the answer's KeyId does (never its plaintext) */
  if (e->resource[0] == '\0' && resp->code[0] == '\0')
    cpy(e->resource, sizeof(e->resource),
        json_string_value(json_object_get(resp->body, "KeyId")));
  cpy(e->source_ip, sizeof(e->source_ip),
      req->source_ip[0] != '\0' ? req->source_ip : "127.0.0.1");
  const char *ua = ksim_kvs_get(&req->headers, "user-agent");
  cpy(e->user_agent, sizeof(e->user_agent), ua != NULL ? ua : "");
  h->t_ms = e->t_ms;
  h->who = who_hash(e->account, e->region);
  h->kind = strcmp(e->product, "kms") == 0       ? 1
            : strcmp(e->product, "gateway") == 0 ? 2
                                                 : 0;
  h->ded = e->instance[0] != '\0';
}

/* Events oldest first; i in [0, n). */
static const ev_t *ev_at(size_t i) {
  size_t first = (g_obs.head + RING_CAP - g_obs.n) % RING_CAP;
  return &g_obs.ring[(first + i) % RING_CAP];
}

static const hot_t *hot_at(size_t i) {
  size_t first = (g_obs.head + RING_CAP - g_obs.n) % RING_CAP;
  return &g_obs.hot[(first + i) % RING_CAP];
}

static bool throttled(const char *code) {
  return strcmp(code, "Rejected.Throttling") == 0 ||
         strncmp(code, "Throttling", 10) == 0;
}

/* ---- CloudMonitor ---- */

/* "ms epoch" or "YYYY-MM-DD hh:mm:ss" (UTC) or ISO-8601; -1 if malformed. */
static int64_t parse_cms_time(const char *s) {
  if (s == NULL || s[0] == '\0') return -1;
  char *end;
  long long v = strtoll(s, &end, 10);
  if (*end == '\0') return v;
  int64_t t;
  char iso[32];
  if (strlen(s) == 19 && s[10] == ' ') {
    snprintf(iso, sizeof(iso), "%.10sT%sZ", s, s + 11);
    s = iso;
  }
  if (km_parse_iso8601(s, &t) == 0) return t * 1000;
  return -1;
}

typedef struct {
  const char *name;
  const char *unit;
} metric_t;

static const metric_t k_metrics[] = {
    {"requests", "Count"},    {"qps", "countS"},      {"code_4xx_1m", "Count"},
    {"code_5xx_1m", "Count"}, {"throttled", "Count"}, {"latency_1m", "ms"},
};

typedef struct {
  int64_t ts;
  char instance[48];
  double sum, max, min;
  size_t count;
  int64_t sec_last; /* qps: per-second counting inside the bucket */
  double sec_count;
} point_t;

static int metric_value(const char *metric, const ev_t *e, double *v) {
  if (strcmp(metric, "requests") == 0 || strcmp(metric, "qps") == 0) {
    *v = 1;
  } else if (strcmp(metric, "code_4xx_1m") == 0) {
    *v = e->status >= 400 && e->status < 500;
  } else if (strcmp(metric, "code_5xx_1m") == 0) {
    *v = e->status >= 500;
  } else if (strcmp(metric, "throttled") == 0) {
    *v = throttled(e->code);
  } else {
    *v = e->latency_ms;
  }
  return 0;
}

/* Dimensions: [{"instanceId":"kst-..."}] = the dedicated gateway of an
 * instance the caller owns (all callers' traffic); without instanceId the
 * caller's own shared-gateway traffic in the endpoint's region.
 * {"gateway":"dedicated"} = all the caller's dedicated-gateway traffic. */
static int metrics(ksim_req_t *req, ksim_resp_t *resp, bool last_only) {
  const char *ns = ksim_param_req(req, resp, "Namespace");
  if (ns == NULL) return -1;
  const char *mn = ksim_param_req(req, resp, "MetricName");
  if (mn == NULL) return -1;
  bool known = false;
  for (size_t i = 0; i < KM_ARRAY_SIZE(k_metrics); i++)
    known |= strcmp(k_metrics[i].name, mn) == 0;
  if (strcmp(ns, "acs_kms") != 0 || !known)
    return ksim_fail_status(resp, 404, "ResourceNotFound",
                            "Specified metric %s is not found in namespace "
                            "%s.",
                            mn, ns);
  long period;
  if (ksim_param_int(req, resp, "Period", 60, 15, 3600, &period) < 0) return -1;
  if (period != 15 && period != 60 && period != 900 && period != 3600)
    return ksim_fail_invalid(resp, "Period");
  long length, off = 0;
  if (ksim_param_int(req, resp, "Length", 1000, 1, 1440, &length) < 0)
    return -1;
  const char *nt = ksim_param(req, "NextToken");
  if (nt != NULL && nt[0] != '\0') {
    char *end;
    off = strtol(nt, &end, 10);
    if (*end != '\0' || off < 0) return ksim_fail_invalid(resp, "NextToken");
  }
  int64_t now = ksim_clock_ms(req->cloud);
  const char *st = ksim_param(req, "StartTime"),
             *et = ksim_param(req, "EndTime");
  int64_t start = st != NULL ? parse_cms_time(st) : now - 3600 * 1000;
  int64_t end = et != NULL ? parse_cms_time(et) : now;
  if (start < 0) return ksim_fail_invalid(resp, "StartTime");
  if (end < 0) return ksim_fail_invalid(resp, "EndTime");
  if (end < start || end - start > 31LL * 86400 * 1000)
    return ksim_fail_invalid(resp, "EndTime");
  json_t *dims = NULL;
  const char *ds = ksim_param(req, "Dimensions");
  if (ds != NULL && ds[0] != '\0') {
    dims = json_loads(ds, 0, NULL);
    if (json_is_object(dims)) {
      json_t *a = json_array();
      json_array_append_new(a, dims);
      dims = a;
    }
    if (!json_is_array(dims) || json_array_size(dims) > 50) {
      json_decref(dims);
      return ksim_fail_invalid(resp, "Dimensions");
    }
  }
  bool dedicated_all = false;
  json_t *insts = json_array();
  size_t i;
  json_t *d;
  json_array_foreach(dims, i, d) {
    const char *iid = json_string_value(json_object_get(d, "instanceId"));
    const char *gw = json_string_value(json_object_get(d, "gateway"));
    if (iid != NULL) {
      ksim_instance_t *inst = ksim_instance_by_id(req->cloud, iid);
      if (inst != NULL && strcmp(inst->owner, req->account->id) == 0)
        json_array_append_new(insts, json_string(iid));
    }
    if (gw != NULL && strcmp(gw, "dedicated") == 0) dedicated_all = true;
  }
  bool want_dedicated = json_array_size(insts) > 0 || dedicated_all;
  json_decref(dims);
  int64_t pms = period * 1000;
  KSIM_VEC(point_t) pts = {0};
  uint64_t who = who_hash(req->account->id, req->region);
  for (size_t k = 0; k < g_obs.n; k++) {
    const hot_t *h = hot_at(k);
    if (h->t_ms <= start || h->t_ms > end || h->kind == 0 ||
        h->ded != want_dedicated || (!h->ded && h->who != who))
      continue;
    const ev_t *e = ev_at(k);
    /* left-open, right-closed (reference §6) */
    if (e->t_ms <= start || e->t_ms > end) continue;
    if (strcmp(e->product, "kms") != 0 && strcmp(e->product, "gateway") != 0)
      continue;
    bool ded = e->instance[0] != '\0';
    if (ded != want_dedicated) continue;
    if (!ded && (strcmp(e->account, req->account->id) != 0 ||
                 strcmp(e->region, req->region) != 0))
      continue;
    if (ded) {
      bool hit = false;
      size_t j;
      json_t *v;
      json_array_foreach(insts, j, v) {
        hit |= strcmp(json_string_value(v), e->instance) == 0;
      }
      if (!hit && !(dedicated_all && strcmp(e->account, req->account->id) == 0))
        continue;
    }
    int64_t ts = e->t_ms - e->t_ms % pms;
    point_t *p = NULL;
    for (size_t j = 0; j < pts.n; j++)
      if (pts.v[j].ts == ts && strcmp(pts.v[j].instance, e->instance) == 0)
        p = &pts.v[j];
    double v;
    metric_value(mn, e, &v);
    if (p == NULL) {
      p = KSIM_VEC_PUSH(pts);
      p->ts = ts;
      cpy(p->instance, sizeof(p->instance), e->instance);
      p->min = p->max = v;
      p->sec_last = -1;
    }
    p->sum += v;
    p->count++;
    if (v > p->max) p->max = v;
    if (v < p->min) p->min = v;
    if (strcmp(mn, "qps") == 0) {
      int64_t sec = e->t_ms / 1000;
      p->sec_count = sec == p->sec_last ? p->sec_count + 1 : 1;
      p->sec_last = sec;
      if (p->sec_count > p->max) p->max = p->sec_count;
    }
  }
  json_decref(insts);
  json_t *dps = json_array();
  size_t from = last_only && pts.n > 0 ? pts.n - 1 : (size_t)off;
  size_t to = pts.n;
  if (!last_only && from + (size_t)length < to) to = from + (size_t)length;
  for (size_t j = from; j < to; j++) {
    point_t *p = &pts.v[j];
    json_t *o = json_pack("{s:I, s:s, s:s}", "timestamp", (json_int_t)p->ts,
                          "userId", req->account->id, "regionId", req->region);
    if (p->instance[0] != '\0')
      json_object_set_new(o, "instanceId", json_string(p->instance));
    bool counter = strcmp(mn, "latency_1m") != 0 && strcmp(mn, "qps") != 0;
    double avg = counter ? p->sum : p->sum / (double)p->count;
    if (strcmp(mn, "qps") == 0) avg = p->sum / (double)period;
    json_object_set_new(o, "Average", json_real(round(avg * 1000) / 1000));
    json_object_set_new(o, "Maximum", json_real(counter ? p->sum : p->max));
    json_object_set_new(o, "Minimum", json_real(counter ? p->sum : p->min));
    json_object_set_new(o, "Sum", json_real(p->sum));
    json_array_append_new(dps, o);
  }
  char *text = json_dumps(dps, JSON_COMPACT);
  json_decref(dps);
  char pstr[16];
  snprintf(pstr, sizeof(pstr), "%ld", period);
  json_t *body =
      json_pack("{s:s, s:s, s:b, s:s, s:s}", "Code", "200", "Message", "",
                "Success", 1, "Period", pstr, "Datapoints", text);
  if (!last_only && to < pts.n) {
    char ntb[32];
    snprintf(ntb, sizeof(ntb), "%zu", to);
    json_object_set_new(body, "NextToken", json_string(ntb));
  }
  free(text);
  free(pts.v);
  return ksim_ok(resp, body);
}

static int describe_metric_list(ksim_req_t *req, ksim_resp_t *resp) {
  return metrics(req, resp, false);
}

static int describe_metric_last(ksim_req_t *req, ksim_resp_t *resp) {
  return metrics(req, resp, true);
}

/* ---- ActionTrail ---- */

static const char *service_name(const char *product) {
  if (strcmp(product, "kms") == 0) return "Kms";
  if (strcmp(product, "sts") == 0) return "Sts";
  if (strcmp(product, "resourcemanager") == 0) return "ResourceManager";
  if (strcmp(product, "resourcesharing") == 0) return "ResourceSharing";
  if (strcmp(product, "cms") == 0) return "Cms";
  return "Actiontrail";
}

static const char *event_rw(const char *action) {
  static const char *const reads[] = {"List",    "Describe", "Get",  "Lookup",
                                      "Decrypt", "Check",    "Query"};
  for (size_t i = 0; i < KM_ARRAY_SIZE(reads); i++)
    if (strncmp(action, reads[i], strlen(reads[i])) == 0) return "Read";
  return "Write";
}

/* A KMS 1.0 key id is a UUID (8-4-4-4-12 hex digits). */
static bool is_uuid(const char *s) {
  if (strlen(s) != 36) return false;
  for (int i = 0; i < 36; i++) {
    bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? s[i] != '-' : !isxdigit((unsigned char)s[i])) return false;
  }
  return true;
}

static const char *resource_type(const ev_t *e) {
  if (strcmp(e->product, "kms") != 0 || e->resource[0] == '\0') return "";
  if (strncmp(e->resource, "kst-", 4) == 0) return "ACS::KMS::Instance";
  if (strncmp(e->resource, "key-", 4) == 0 || is_uuid(e->resource) ||
      strncmp(e->resource, "alias/", 6) == 0 ||
      strstr(e->resource, ":key/") != NULL)
    return "ACS::KMS::Key";
  return "ACS::KMS::Secret";
}

/* case-insensitive substring */
static bool ci_contains(const char *hay, const char *needle) {
  size_t n = strlen(needle);
  for (; *hay != '\0'; hay++)
    if (strncasecmp(hay, needle, n) == 0) return true;
  return n == 0;
}

static bool attr_match(const ev_t *e, const char *key, const char *val) {
  if (strcmp(key, "EventName") == 0) return strcmp(e->action, val) == 0;
  if (strcmp(key, "ServiceName") == 0)
    return strcmp(service_name(e->product), val) == 0;
  if (strcmp(key, "EventAccessKeyId") == 0) return strcmp(e->ak, val) == 0;
  if (strcmp(key, "ResourceName") == 0) return strcmp(e->resource, val) == 0;
  if (strcmp(key, "EventRW") == 0) return strcmp(event_rw(e->action), val) == 0;
  if (strcmp(key, "EventId") == 0) return strcmp(e->request_id, val) == 0;
  if (strcmp(key, "ResourceType") == 0) {
    /* "KMS" (as the seed's query writes it) or "ACS::KMS::Key" */
    const char *rt = resource_type(e);
    return rt[0] != '\0' && ci_contains(rt, val);
  }
  if (strcmp(key, "EventType") == 0) return strcmp(val, "ApiCall") == 0;
  if (strcmp(key, "SourceIpAddress") == 0)
    return strcmp(e->source_ip, val) == 0;
  if (strcmp(key, "User") == 0) return strcmp(e->account, val) == 0;
  return false;
}

static json_t *event_json(const ev_t *e) {
  json_t *rp = json_object();
  if (e->resource[0] != '\0') {
    const char *pn = strcmp(resource_type(e), "ACS::KMS::Secret") == 0
                         ? "SecretName"
                     : strncmp(e->resource, "kst-", 4) == 0 ? "KmsInstanceId"
                                                            : "KeyId";
    json_object_set_new(rp, pn, json_string(e->resource));
  }
  json_t *o = json_pack(
      "{s:s, s:s, s:s, s:s, s:s, s:o, s:s, s:s, s:s, s:s, s:s, s:s, s:s, "
      "s:{s:s, s:s, s:s, s:s, s:s}, s:o, s:s}",
      "eventId", e->request_id, "eventName", e->action, "eventSource", e->host,
      "eventType", "ApiCall", "eventVersion", "1", "eventTime",
      ksim_json_time(e->t_ms / 1000), "acsRegion", e->region, "requestId",
      e->request_id, "apiVersion", e->version, "serviceName",
      service_name(e->product), "sourceIpAddress", e->source_ip, "userAgent",
      e->user_agent, "eventRW", event_rw(e->action), "userIdentity", "type",
      e->via_sts ? "assumed-role" : "root-account", "accountId", e->account,
      "principalId", e->account, "accessKeyId", e->ak, "userName",
      e->via_sts ? "ResourceDirectoryAccountAccessRole" : "root",
      "requestParameters", rp, "resourceType", resource_type(e));
  if (e->resource[0] != '\0')
    json_object_set_new(o, "resourceName", json_string(e->resource));
  if (e->code[0] != '\0')
    json_object_set_new(o, "errorCode", json_string(e->code));
  return o;
}

static int lookup_events(ksim_req_t *req, ksim_resp_t *resp) {
  const char *keys[2] = {NULL, NULL}, *vals[2] = {NULL, NULL};
  size_t na = 0;
  for (int n = 1; n <= 50 && na < 2; n++) {
    char kn[48], vn[48];
    snprintf(kn, sizeof(kn), "LookupAttribute.%d.Key", n);
    snprintf(vn, sizeof(vn), "LookupAttribute.%d.Value", n);
    const char *k = ksim_param(req, kn), *v = ksim_param(req, vn);
    if (k == NULL) break;
    if (v == NULL) return ksim_fail_missing(resp, vn);
    /* the same key twice: the second wins */
    size_t slot = na;
    for (size_t j = 0; j < na; j++)
      if (strcmp(keys[j], k) == 0) slot = j;
    keys[slot] = k;
    vals[slot] = v;
    if (slot == na) na++;
  }
  long max;
  if (ksim_param_int(req, resp, "MaxResults", 20, 1, 50, &max) < 0) return -1;
  const char *st = ksim_param(req, "StartTime"),
             *et = ksim_param(req, "EndTime");
  if ((st == NULL) != (et == NULL))
    return ksim_fail_missing(resp, st == NULL ? "StartTime" : "EndTime");
  int64_t now = ksim_clock_now(req->cloud), start = now - 7 * 86400, end = now;
  if (st != NULL && (km_parse_iso8601(st, &start) < 0))
    return ksim_fail_invalid(resp, "StartTime");
  if (et != NULL && (km_parse_iso8601(et, &end) < 0))
    return ksim_fail_invalid(resp, "EndTime");
  const char *dir = ksim_param(req, "Direction");
  bool forward = dir != NULL && strcmp(dir, "FORWARD") == 0;
  if (dir != NULL && !forward && strcmp(dir, "BACKWARD") != 0)
    return ksim_fail_invalid(resp, "Direction");
  long off = 0;
  const char *nt = ksim_param(req, "NextToken");
  if (nt != NULL && nt[0] != '\0') {
    char *endp;
    off = strtol(nt, &endp, 10);
    if (*endp != '\0' || off < 0) return ksim_fail_invalid(resp, "NextToken");
  }
  json_t *events = json_array();
  long seen = 0;
  bool more = false;
  uint64_t who = who_hash(req->account->id, req->region);
  for (size_t k = 0; k < g_obs.n; k++) {
    const hot_t *h = hot_at(forward ? k : g_obs.n - 1 - k);
    if (h->kind == 2 || h->who != who) continue;
    const ev_t *e = ev_at(forward ? k : g_obs.n - 1 - k);
    int64_t t = e->t_ms / 1000;
    /* dedicated-gateway calls are not in ActionTrail (instance logs) */
    if (strcmp(e->product, "gateway") == 0 ||
        strcmp(e->account, req->account->id) != 0 ||
        strcmp(e->region, req->region) != 0 || t < start || t > end)
      continue;
    bool ok = true;
    for (size_t j = 0; j < na; j++)
      ok &= attr_match(e, keys[j], vals[j]);
    if (!ok) continue;
    if (seen++ < off) continue;
    if ((long)json_array_size(events) == max) {
      more = true;
      break;
    }
    json_array_append_new(events, event_json(e));
  }
  json_t *body =
      json_pack("{s:o, s:o, s:o}", "Events", events, "StartTime",
                ksim_json_time(start), "EndTime", ksim_json_time(end));
  char ntb[32] = "";
  if (more) snprintf(ntb, sizeof(ntb), "%ld", off + max);
  json_object_set_new(body, "NextToken", json_string(ntb));
  return ksim_ok(resp, body);
}

static const ksim_action_t cms_actions[] = {
    {"DescribeMetricList", describe_metric_list, "cms-read", 0},
    {"DescribeMetricLast", describe_metric_last, "cms-read", 0},
    {NULL, NULL, NULL, 0}};

static const ksim_action_t trail_actions[] = {
    {"LookupEvents", lookup_events, "trail-read", 0}, {NULL, NULL, NULL, 0}};

KSIM_REGISTER_ACTIONS("cms", cms_actions)
KSIM_REGISTER_ACTIONS("actiontrail", trail_actions)
