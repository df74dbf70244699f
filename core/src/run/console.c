/* The `sim` migrate driver's link to kmsim's emulated console
 * (docs/kmsim-console.md): a plain JSON request over the same transport and
 * endpoint overrides as the API calls.  This is not an Alibaba Cloud API;
 * it is our model of the operator's click, used only with driver `sim`. */
#include <stdlib.h>
#include <string.h>

#include "run/console.h"
#include "util/util.h"

typedef struct creq_s {
  km_jcall_cb cb;
  void *ud;
  char *body; /* the request as sent */
} creq_t;

static bool host_matches(const char *pattern, const char *host) {
  if (strcmp(pattern, "*") == 0) return true;
  if (strncmp(pattern, "*.", 2) == 0) {
    size_t pl = strlen(pattern + 1), hl = strlen(host);
    return hl > pl && strcmp(host + hl - pl, pattern + 1) == 0;
  }
  return strcmp(pattern, host) == 0;
}

static void on_done(const km_http_resp_t *resp, void *ud) {
  creq_t *c = ud;
  km_err_t err;
  memset(&err, 0, sizeof(err));
  json_t *body = NULL;
  if (resp->status >= 0 && resp->body != NULL)
    body = json_loadb(resp->body, resp->body_len, 0, NULL);
  if (resp->status < 0) {
    km__err_set(&err, resp->status, "console: %s", resp->err_text);
    km_jres_t r = {resp->status, NULL, &err};
    c->cb(&r, c->ud);
  } else if (resp->http_status / 100 != 2) {
    int rc = km_acs_parse_error(resp->http_status, resp->body, resp->body_len,
                                "console", &err);
    /* Keep the Problems list: the stage reports each refused resource. */
    km_jres_t r = {rc, body, &err};
    c->cb(&r, c->ud);
  } else if (!json_is_object(body)) {
    km__err_set(&err, KM_EPARSE, "console: the answer is not a JSON object");
    km_jres_t r = {KM_EPARSE, NULL, &err};
    c->cb(&r, c->ud);
  } else {
    km_jres_t r = {0, body, NULL};
    c->cb(&r, c->ud);
  }
  json_decref(body);
  free(c->body);
  free(c);
}

int km_console_request(km_console_t *con, const char *account_id,
                       const char *region, const json_t *request,
                       km_jcall_cb cb, void *ud) {
  char host[128];
  snprintf(host, sizeof(host), "kms.%s.aliyuncs.com", region);
  const km_mf_override_t *ov = NULL;
  for (size_t i = 0; i < con->m->noverrides && ov == NULL; i++)
    if (host_matches(con->m->overrides[i].host, host))
      ov = &con->m->overrides[i];
  if (ov == NULL)
    return KM_ENOTSUP; /* the console is only emulated behind an override */
  char *text = request != NULL ? json_dumps(request, JSON_COMPACT) : NULL;
  if (request != NULL && text == NULL) return KM_EINVAL;
  char url[256], connect_to[320];
  snprintf(url, sizeof(url), "%s://%s/_kmsim/console/%s",
           ov->http ? "http" : "https", host,
           text != NULL ? "migrate" : "tasks");
  snprintf(connect_to, sizeof(connect_to), "%s:%d:%s", host,
           ov->http ? 80 : 443, ov->address);
  km_http_header_t hdr[3] = {
      {"Content-Type", "application/json"},
      {"X-Kmsim-Account", account_id},
      {"X-Kmsim-Admin", getenv("KMSIM_ADMIN_TOKEN")},
  };
  size_t nh = hdr[2].value != NULL ? 3 : 2;
  km_http_req_opts_t o = {
      .method = text != NULL ? "POST" : "GET",
      .url = url,
      .headers = hdr,
      .nheaders = nh,
      .body = text,
      .body_len = text != NULL ? strlen(text) : 0,
      .connect_to = connect_to,
  };
  creq_t *c = km_xcalloc(1, sizeof(*c));
  c->cb = cb;
  c->ud = ud;
  c->body = text;
  int rc = km_http_request(con->http, &o, on_done, c);
  if (rc < 0) {
    free(text);
    free(c);
  }
  return rc;
}
