/* The `sim` migrate driver's link to kmsim's emulated console
 * (docs/kmsim-console.md): a plain JSON request over the same transport and
 * endpoint overrides as the API calls.  This is not an Alibaba Cloud API;
 * it is our model of the operator's click, used only with driver `sim`. */
#include <stdlib.h>
#include <string.h>

#include "cli/console.h"
#include "util/util.h"

typedef struct creq_s {
  km_plugin_call_cb cb;
  void *ud;
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
  if (resp->status < 0) {
    km__err_set(&err, resp->status, "console: %s", resp->err_text);
    km_plugin_call_result_t r = {resp->status, NULL, &err};
    c->cb(&r, c->ud);
  } else if (resp->http_status / 100 != 2) {
    int rc = km_acs_parse_error(resp->http_status, resp->body, resp->body_len,
                                "console", &err);
    /* Keep the Problems list: the plugin reports each refused resource. */
    km_plugin_call_result_t r = {rc, resp->body, &err};
    c->cb(&r, c->ud);
  } else {
    km_plugin_call_result_t r = {0, resp->body, NULL};
    c->cb(&r, c->ud);
  }
  free(c);
}

int km_console_request(km_console_t *con, const char *account_id,
                       const char *region, const char *request_json,
                       km_plugin_call_cb cb, void *ud) {
  char host[128];
  snprintf(host, sizeof(host), "kms.%s.aliyuncs.com", region);
  const km_mf_override_t *ov = NULL;
  for (size_t i = 0; i < con->m->noverrides && ov == NULL; i++)
    if (host_matches(con->m->overrides[i].host, host))
      ov = &con->m->overrides[i];
  if (ov == NULL)
    return KM_ENOTSUP; /* the console is only emulated behind an override */
  char url[256], connect_to[320];
  snprintf(url, sizeof(url), "%s://%s/_kmsim/console/%s",
           ov->http ? "http" : "https", host,
           request_json != NULL ? "migrate" : "tasks");
  snprintf(connect_to, sizeof(connect_to), "%s:%d:%s", host,
           ov->http ? 80 : 443, ov->address);
  km_http_header_t hdr[3] = {
      {"Content-Type", "application/json"},
      {"X-Kmsim-Account", account_id},
      {"X-Kmsim-Admin", getenv("KMSIM_ADMIN_TOKEN")},
  };
  size_t nh = hdr[2].value != NULL ? 3 : 2;
  km_http_req_opts_t o = {
      .method = request_json != NULL ? "POST" : "GET",
      .url = url,
      .headers = hdr,
      .nheaders = nh,
      .body = request_json,
      .body_len = request_json != NULL ? strlen(request_json) : 0,
      .connect_to = connect_to,
  };
  creq_t *c = km_xcalloc(1, sizeof(*c));
  c->cb = cb;
  c->ud = ud;
  int rc = km_http_request(con->http, &o, on_done, c);
  if (rc < 0) free(c);
  return rc;
}
