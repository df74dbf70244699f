/* A fake cloud for the Lua runtime's tests, and a recorder for hook
 * results (outcome_t, on_done): km_lua_call_fn answered from
 * the loop after a fixed delay (a uv_timer per call), like km__host_call
 * answers after a round trip.  Actions:
 *   Echo      -> {"Action": "Echo", "Params": {name: value, ...}}
 *   ListKeys  -> 250 keys, paged by PageNumber/PageSize ("Keys.Key")
 *   Fail      -> status KM_ECLOUD, Code "Forbidden.NoPermission"
 *   Garbage   -> a body that is not JSON
 *   ListResourceTags -> team=payments, except for KeyId "key-untagged"
 *   anything else -> {"RequestId": "fake"}
 * In plan mode, actions starting with Update/Create/Delete/Enable/Disable
 * are refused at the start with KM_EPERM, as host.c does.
 * Included by tests/unit/test_lua*.c only (static functions). */
#ifndef KM_TEST_FAKE_CALL_H
#define KM_TEST_FAKE_CALL_H

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <uv.h>

#include "kmsmig/plugin.h"

typedef struct fake_s {
  uv_loop_t *loop;
  uint64_t delay_ms;
  bool plan;
  int calls;
  int inflight;
  int max_inflight;
  int answered;
  char last_params[512]; /* "k=v&k=v" of the last call, in given order */
} fake_t;

typedef struct fake_req_s {
  uv_timer_t t;
  fake_t *f;
  char *action;
  json_t *params;
  km_plugin_call_cb cb;
  void *ud;
} fake_req_t;

static void fake_closed(uv_handle_t *h) {
  fake_req_t *r = h->data;
  free(r->action);
  json_decref(r->params);
  free(r);
}

static void fake_answer(uv_timer_t *t) {
  fake_req_t *r = t->data;
  fake_t *f = r->f;
  f->inflight--;
  f->answered++;
  km_plugin_call_result_t res = {0, NULL, NULL};
  km_err_t err;
  memset(&err, 0, sizeof(err));
  char *body = NULL;
  if (strcmp(r->action, "Fail") == 0) {
    err.code = KM_ECLOUD;
    snprintf(err.cloud_code, sizeof(err.cloud_code), "Forbidden.NoPermission");
    snprintf(err.text, sizeof(err.text), "not allowed to do that");
    res.status = KM_ECLOUD;
    res.err = &err;
  } else if (strcmp(r->action, "Garbage") == 0) {
    body = strdup("<html>");
  } else if (strcmp(r->action, "ListResourceTags") == 0) {
    const char *id = json_string_value(json_object_get(r->params, "KeyId"));
    json_t *tags = json_array();
    if (id == NULL || strcmp(id, "key-untagged") != 0)
      json_array_append_new(tags, json_pack("{s:s, s:s}", "TagKey", "team",
                                            "TagValue", "payments"));
    json_t *o = json_pack("{s:{s:o}}", "Tags", "Tag", tags);
    body = json_dumps(o, JSON_COMPACT);
    json_decref(o);
  } else if (strcmp(r->action, "Echo") == 0) {
    json_t *o =
        json_pack("{s:s, s:O}", "Action", r->action, "Params", r->params);
    body = json_dumps(o, JSON_COMPACT);
    json_decref(o);
  } else if (strcmp(r->action, "ListKeys") == 0) {
    const char *pn =
        json_string_value(json_object_get(r->params, "PageNumber"));
    const char *ps = json_string_value(json_object_get(r->params, "PageSize"));
    int page = pn != NULL ? atoi(pn) : 1, size = ps != NULL ? atoi(ps) : 10;
    json_t *keys = json_array();
    for (int i = (page - 1) * size; i < page * size && i < 250; i++)
      json_array_append_new(
          keys, json_pack("{s:o}", "KeyId", json_sprintf("key-%03d", i)));
    json_t *o =
        json_pack("{s:{s:o}, s:i, s:i, s:i}", "Keys", "Key", keys, "TotalCount",
                  250, "PageNumber", page, "PageSize", size);
    body = json_dumps(o, JSON_COMPACT);
    json_decref(o);
  } else {
    body = strdup("{\"RequestId\":\"fake\"}");
  }
  res.body_json = body;
  r->cb(&res, r->ud);
  free(body);
  uv_close((uv_handle_t *)&r->t, fake_closed);
}

static int fake_call(void *call_ud, const char *product, const char *action,
                     const char *const *params, size_t n, km_plugin_call_cb cb,
                     void *ud) {
  fake_t *f = call_ud;
  (void)product;
  static const char *const writes[] = {"Update", "Create", "Delete", "Enable",
                                       "Disable"};
  if (f->plan)
    for (size_t i = 0; i < sizeof(writes) / sizeof(writes[0]); i++)
      if (strncmp(action, writes[i], strlen(writes[i])) == 0) return KM_EPERM;
  fake_req_t *r = calloc(1, sizeof(*r));
  r->f = f;
  r->action = strdup(action);
  r->params = json_object();
  r->cb = cb;
  r->ud = ud;
  f->last_params[0] = '\0';
  for (size_t i = 0; i < n; i++) {
    json_object_set_new(r->params, params[2 * i],
                        json_string(params[2 * i + 1]));
    size_t len = strlen(f->last_params);
    snprintf(f->last_params + len, sizeof(f->last_params) - len, "%s%s=%s",
             i > 0 ? "&" : "", params[2 * i], params[2 * i + 1]);
  }
  uv_timer_init(f->loop, &r->t);
  r->t.data = r;
  uv_timer_start(&r->t, fake_answer, f->delay_ms, 0);
  f->calls++;
  if (++f->inflight > f->max_inflight) f->max_inflight = f->inflight;
  return 0;
}

/* What a hook run's callback delivered (on_done fills it). */
typedef struct outcome_s {
  int calls;
  int status;
  json_t *body;
  km_err_t err;
} outcome_t;

static void on_done(const km_plugin_call_result_t *res, void *ud) {
  outcome_t *o = ud;
  o->calls++;
  o->status = res->status;
  if (res->status == 0) o->body = json_loads(res->body_json, 0, NULL);
  if (res->err != NULL) o->err = *res->err;
}

#endif
