/* Error catalogue and response helpers: every error kmsim returns goes
 * through here so the POP shape {RequestId, HostId, Code, Message, Recommend}
 * and the HTTP status of each code stay consistent with the reference (§5,
 * §9).  Also the small parameter helpers every handler uses. */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ksim.h"

/* Codes whose status is not 400.  Status per reference §5/§9; codes marked
 * "kmsim choice" in docs/kmsim.md where the reference has no source. */
static const struct {
  const char *code;
  int status;
} k_status[] = {
    {"Rejected.Throttling", 429},
    {"ServiceUnavailableTemporary", 503},
    {"InternalFailure", 500},
    {"InternalError", 500},
    {"Forbidden.KeyNotFound", 404},
    {"Forbidden.AliasNotFound", 404},
    {"Forbidden.ResourceNotFound", 404},
    {"InvalidAccessKeyId.NotFound", 404},
    {"InvalidAction.NotFound", 404},
    {"InvalidProduct.NotFound", 404},
    {"EntityNotExist.Role", 404},
    {"EntityNotExists.ResourceDirectory", 404},
    {"EntityNotExists.Folder", 404},
    {"Forbidden.NoPermission", 403},
    {"NoPermission", 403},
    {"Forbidden.AccessKey", 403},
    {"Forbidden.DKMSInstanceNotFound", 403},
    {"Forbidden.DKMSInstanceStateInvalid", 403},
    {"Rejected.Disabled", 409},
    {"Rejected.PendingDeletion", 409},
    {"Rejected.PendingImport", 409},
    {"Rejected.StateModifiedFailed", 409},
    {"Forbidden.ResourceInMigration", 409},
    {"Kmsim.AdminForbidden", 403},
    {"Kmsim.NotFound", 404},
};

int ksim_code_status(const char *code) {
  for (size_t i = 0; i < KM_ARRAY_SIZE(k_status); i++)
    if (strcmp(k_status[i].code, code) == 0) return k_status[i].status;
  return 400;
}

int ksim_ok(ksim_resp_t *resp, json_t *body) {
  resp->status = 200;
  resp->code[0] = '\0';
  if (resp->body != NULL) json_decref(resp->body);
  resp->body = body != NULL ? body : json_object();
  return 0;
}

static int vfail(ksim_resp_t *resp, int status, const char *code,
                 const char *fmt, va_list ap) {
  char msg[2048];
  vsnprintf(msg, sizeof(msg), fmt, ap);
  resp->status = status;
  snprintf(resp->code, sizeof(resp->code), "%s", code);
  if (resp->body != NULL) json_decref(resp->body);
  /* The server completes RequestId/HostId/Recommend (ksim_error_body) once
   * it knows the request; here only Code and Message. */
  resp->body = json_pack("{s:s, s:s}", "Code", code, "Message", msg);
  return -1;
}

int ksim_fail(ksim_resp_t *resp, const char *code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vfail(resp, ksim_code_status(code), code, fmt, ap);
  va_end(ap);
  return -1;
}

int ksim_fail_status(ksim_resp_t *resp, int status, const char *code,
                     const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vfail(resp, status, code, fmt, ap);
  va_end(ap);
  return -1;
}

int ksim_fail_missing(ksim_resp_t *resp, const char *param) {
  return ksim_fail(resp, "MissingParameter",
                   "The parameter \"%s\" is needed but not provided.", param);
}

int ksim_fail_invalid(ksim_resp_t *resp, const char *param) {
  return ksim_fail(resp, "InvalidParameter",
                   "The specified parameter \"%s\" is not valid.", param);
}

json_t *ksim_error_body(const ksim_req_t *req, const char *code,
                        const char *message) {
  char rec[512];
  snprintf(rec, sizeof(rec),
           "https://api.aliyun.com/troubleshoot?q=%s&product=%s&requestId=%s",
           code, req->product_code != NULL ? req->product_code : "Kms",
           req->request_id);
  return json_pack("{s:s, s:s, s:s, s:s, s:s}", "RequestId", req->request_id,
                   "HostId", req->host_name, "Code", code, "Message",
                   message != NULL ? message : "", "Recommend", rec);
}

/* ---- name/value lists ---- */

void ksim_kvs_add(ksim_kvs_t *l, const char *name, const char *value) {
  if (l->n == l->cap) {
    l->cap = l->cap != 0 ? l->cap * 2 : 16;
    l->v = km_xrealloc(l->v, l->cap * sizeof(*l->v));
  }
  l->v[l->n].name = km_xstrdup(name);
  l->v[l->n].value = km_xstrdup(value != NULL ? value : "");
  l->n++;
}

const char *ksim_kvs_get(const ksim_kvs_t *l, const char *name) {
  for (size_t i = 0; i < l->n; i++)
    if (strcmp(l->v[i].name, name) == 0) return l->v[i].value;
  return NULL;
}

void ksim_kvs_free(ksim_kvs_t *l) {
  for (size_t i = 0; i < l->n; i++) {
    free(l->v[i].name);
    free(l->v[i].value);
  }
  free(l->v);
  l->v = NULL;
  l->n = l->cap = 0;
}

/* ---- parameters ---- */

const char *ksim_param(const ksim_req_t *req, const char *name) {
  const char *v = ksim_kvs_get(&req->form, name);
  return v != NULL ? v : ksim_kvs_get(&req->query, name);
}

const char *ksim_param_req(const ksim_req_t *req, ksim_resp_t *resp,
                           const char *name) {
  const char *v = ksim_param(req, name);
  if (v == NULL || v[0] == '\0') {
    ksim_fail_missing(resp, name);
    return NULL;
  }
  return v;
}

int ksim_param_int(const ksim_req_t *req, ksim_resp_t *resp, const char *name,
                   long def, long min, long max, long *out) {
  const char *v = ksim_param(req, name);
  if (v == NULL || v[0] == '\0') {
    *out = def;
    return 0;
  }
  char *end = NULL;
  long n = strtol(v, &end, 10);
  if (end == v || *end != '\0' || n < min || n > max)
    return ksim_fail_invalid(resp, name);
  *out = n;
  return 0;
}

int ksim_param_bool(const ksim_req_t *req, ksim_resp_t *resp, const char *name,
                    bool *out) {
  const char *v = ksim_param(req, name);
  if (v == NULL || v[0] == '\0') return 1;
  if (ksim_streq_ci(v, "true")) {
    *out = true;
    return 0;
  }
  if (ksim_streq_ci(v, "false")) {
    *out = false;
    return 0;
  }
  return ksim_fail_invalid(resp, name);
}

int ksim_paging(const ksim_req_t *req, ksim_resp_t *resp, long def_size,
                long max_size, long *page, long *size) {
  if (ksim_param_int(req, resp, "PageNumber", 1, 1, 1000000000L, page) < 0)
    return -1;
  return ksim_param_int(req, resp, "PageSize", def_size, 1, max_size, size);
}

void ksim_paging_set(json_t *body, long page, long size, size_t total) {
  json_object_set_new(body, "PageNumber", json_integer(page));
  json_object_set_new(body, "PageSize", json_integer(size));
  json_object_set_new(body, "TotalCount", json_integer((json_int_t)total));
}

/* ---- helpers ---- */

static _Thread_local uint64_t t_rid_state;

void ksim_request_id(char out[40]) {
  if (t_rid_state == 0)
    t_rid_state = km_now_ms() ^ ((uint64_t)(uintptr_t)&t_rid_state << 16) ^
                  0x9E3779B97F4A7C15ULL;
  /* splitmix64 twice: ids only need to be unique, not secret */
  uint64_t a, b;
  t_rid_state += 0x9E3779B97F4A7C15ULL;
  a = t_rid_state;
  a = (a ^ (a >> 30)) * 0xBF58476D1CE4E5B9ULL;
  a = (a ^ (a >> 27)) * 0x94D049BB133111EBULL;
  a ^= a >> 31;
  t_rid_state += 0x9E3779B97F4A7C15ULL;
  b = t_rid_state;
  b = (b ^ (b >> 30)) * 0xBF58476D1CE4E5B9ULL;
  b = (b ^ (b >> 27)) * 0x94D049BB133111EBULL;
  b ^= b >> 31;
  snprintf(out, 40, "%08X-%04X-%04X-%04X-%012llX", (unsigned)(a >> 32),
           (unsigned)((a >> 16) & 0xFFFF), (unsigned)(a & 0xFFFF),
           (unsigned)(b >> 48), (unsigned long long)(b & 0xFFFFFFFFFFFFULL));
}

int64_t ksim_parse_interval(const char *s) {
  if (s == NULL || !isdigit((unsigned char)s[0])) return -1;
  char *end = NULL;
  long long n = strtoll(s, &end, 10);
  if (n < 0 || n > 1000000000000LL) return -1;
  int64_t mul = 1;
  if (*end == 'd')
    mul = 86400;
  else if (*end == 'h')
    mul = 3600;
  else if (*end == 'm')
    mul = 60;
  else if (*end == 's' || *end == '\0')
    mul = 1;
  else
    return -1;
  if (*end != '\0' && end[1] != '\0') return -1;
  return (int64_t)n * mul;
}

json_t *ksim_json_time(int64_t t) {
  char buf[21];
  km_iso8601(t, buf);
  return json_string(buf);
}

bool ksim_streq_ci(const char *a, const char *b) {
  return a != NULL && b != NULL && strcasecmp(a, b) == 0;
}
