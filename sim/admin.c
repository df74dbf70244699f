/* Admin paths under /_kmsim/ (any host, unsigned, guarded by --admin-token
 * through the X-Kmsim-Admin header): the state dump tests assert on, fault
 * injection, kmsim's clock, request statistics and a health probe for the
 * start script.  These are kmsim's own controls, not cloud APIs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "state.h"

static json_t *body_json(const ksim_req_t *req, ksim_resp_t *resp) {
  json_error_t e;
  json_t *j =
      json_loadb(req->body != NULL ? req->body : "", req->body_len, 0, &e);
  if (j == NULL) {
    resp->status = 400;
    resp->body =
        json_pack("{s:s, s:s}", "error", "invalid JSON body", "detail", e.text);
  }
  return j;
}

static int admin_health(ksim_req_t *req, ksim_resp_t *resp) {
  resp->body = json_pack("{s:s, s:o}", "status", "ok", "clock",
                         ksim_json_time(req->now));
  return 0;
}

static int admin_state(ksim_req_t *req, ksim_resp_t *resp) {
  resp->body = ksim_state_dump(req->cloud);
  return 0;
}

static int admin_stats(ksim_req_t *req, ksim_resp_t *resp) {
  if (strcmp(req->method, "DELETE") == 0) {
    ksim_map_free(&req->cloud->stats);
    req->cloud->requests = 0;
    req->cloud->connections = req->cloud->tls_connections = 0;
    req->cloud->tls_resumed = 0;
  }
  resp->body = ksim_stats_dump(req->cloud);
  return 0;
}

static int admin_faults(ksim_req_t *req, ksim_resp_t *resp) {
  ksim_cloud_t *c = req->cloud;
  if (strcmp(req->method, "GET") != 0) {
    json_t *cfg = body_json(req, resp);
    if (cfg == NULL) return -1;
    char err[256];
    int rc = ksim_faults_configure(c, cfg, err, sizeof(err));
    json_decref(cfg);
    if (rc < 0) {
      resp->status = 400;
      resp->body = json_pack("{s:s}", "error", err);
      return -1;
    }
  }
  ksim_faults_t *f = &c->faults;
  resp->body = json_pack(
      "{s:I, s:s, s:f, s:f, s:f, s:f, s:f, s:s, s:f}", "seed",
      (json_int_t)f->seed, "latency_dist", f->latency_dist, "latency_min_ms",
      f->latency_min_ms, "latency_max_ms", f->latency_max_ms, "latency_mean_ms",
      f->latency_mean_ms, "error_5xx_rate", f->error_5xx_rate, "drop_rate",
      f->drop_rate, "throttle",
      f->throttle_mode == 0   ? "off"
      : f->throttle_mode == 1 ? "published"
                              : "custom",
      "task_seconds", f->task_seconds);
  json_object_set_new(resp->body, "lost_reply_rate",
                      json_real(f->lost_reply_rate));
  json_object_set_new(resp->body, "throttle_storm",
                      json_pack("{s:f, s:f}", "period_ms", f->storm_period_ms,
                                "storm_ms", f->storm_ms));
  json_object_set_new(
      resp->body, "throttle_shape",
      json_string(f->throttle_shape[0] != '\0' ? f->throttle_shape : "pop"));
  uint64_t now = km_now_ms();
  json_object_set_new(resp->body, "outage_left_ms",
                      json_integer(f->outage_until_ms > now
                                       ? (json_int_t)(f->outage_until_ms - now)
                                       : 0));
  json_object_set_new(
      resp->body, "outage_mode",
      json_string(f->outage_mode[0] != '\0' ? f->outage_mode : "503"));
  if (f->throttle_groups != NULL)
    json_object_set(resp->body, "throttle_groups", f->throttle_groups);
  if (f->throttle_accounts != NULL)
    json_object_set(resp->body, "throttle_accounts", f->throttle_accounts);
  return 0;
}

/* POST /_kmsim/clock {"advance": seconds} or {"set": "ISO"}; GET reads. */
static int admin_clock(ksim_req_t *req, ksim_resp_t *resp) {
  ksim_cloud_t *c = req->cloud;
  if (strcmp(req->method, "GET") != 0) {
    json_t *cfg = NULL;
    const char *adv = ksim_kvs_get(&req->query, "advance");
    if (adv != NULL) {
      cfg = json_pack("{s:I}", "advance", (json_int_t)strtoll(adv, NULL, 10));
    } else {
      cfg = body_json(req, resp);
      if (cfg == NULL) return -1;
    }
    json_t *a = json_object_get(cfg, "advance");
    const char *set = json_string_value(json_object_get(cfg, "set"));
    int64_t t;
    if (json_is_integer(a) && json_integer_value(a) >= 0) {
      c->clock_offset += (int64_t)json_integer_value(a);
    } else if (set != NULL && km_parse_iso8601(set, &t) == 0 &&
               t >= ksim_clock_now(c)) {
      c->clock_offset += t - ksim_clock_now(c);
    } else {
      json_decref(cfg);
      resp->status = 400;
      resp->body = json_pack(
          "{s:s}", "error",
          "expected {\"advance\": seconds >= 0} or {\"set\": ISO time not in "
          "the past}");
      return -1;
    }
    json_decref(cfg);
  }
  resp->body =
      json_pack("{s:o, s:I}", "clock", ksim_json_time(ksim_clock_now(c)),
                "offset", (json_int_t)c->clock_offset);
  return 0;
}

/* POST /_kmsim/sts {"expire": "all"}: every STS token issued so far expires
 * now (a token revoked, or a client whose clock jumped and whose cache still
 * believes it fresh); later AssumeRole calls issue working ones.  GET lists
 * how many were issued and how many are live. */
static int admin_sts(ksim_req_t *req, ksim_resp_t *resp) {
  ksim_cloud_t *c = req->cloud;
  json_int_t expired = 0, live = 0;
  if (strcmp(req->method, "GET") != 0) {
    json_t *cfg = body_json(req, resp);
    if (cfg == NULL) return -1;
    const char *what = json_string_value(json_object_get(cfg, "expire"));
    if (what == NULL || strcmp(what, "all") != 0) {
      json_decref(cfg);
      resp->status = 400;
      resp->body =
          json_pack("{s:s}", "error", "expected {\"expire\": \"all\"}");
      return -1;
    }
    json_decref(cfg);
    for (size_t i = 0; i < c->sts.n; i++)
      if (c->sts.v[i]->expires > req->now) {
        c->sts.v[i]->expires = req->now;
        expired++;
      }
  }
  for (size_t i = 0; i < c->sts.n; i++)
    live += c->sts.v[i]->expires > req->now;
  resp->body = json_pack("{s:I, s:I, s:I}", "issued", (json_int_t)c->sts.n,
                         "live", live, "expired_now", expired);
  return 0;
}

KSIM_REGISTER_ADMIN(health, "/_kmsim/health", admin_health)
KSIM_REGISTER_ADMIN(sts, "/_kmsim/sts", admin_sts)
KSIM_REGISTER_ADMIN(state, "/_kmsim/state", admin_state)
KSIM_REGISTER_ADMIN(stats, "/_kmsim/stats", admin_stats)
KSIM_REGISTER_ADMIN(faults, "/_kmsim/faults", admin_faults)
KSIM_REGISTER_ADMIN(clock, "/_kmsim/clock", admin_clock)
