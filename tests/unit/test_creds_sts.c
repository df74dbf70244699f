/* Assumed-role credentials against a loopback STS (libmicrohttpd) reached
 * through the real client and transport with an endpoint override for
 * sts.aliyuncs.com: the credential STS returns is delivered, a second get is
 * served from the cache, one close to expiry is refreshed, concurrent gets
 * share one call, a chained role is assumed with the first role's
 * credential, a refusal names the role and account, a failed refresh falls
 * back to a still-valid credential, and no planted secret reaches the debug
 * log or an error text. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cmocka.h>
#include <microhttpd.h>

#include "acs/acs.h"
#include "creds/creds.h"
#include "http/http.h"
#include "util/util.h"

/* ---- The fake STS ---- */

typedef struct {
  struct MHD_Daemon *d;
  uint16_t port;
  atomic_int calls;
  atomic_int exp_offset; /* seconds from now for Expiration */
  atomic_int fail;       /* 1: answer 403 NoPermission */
  char refuse_ak[64];    /* calls signed with it: InvalidSecurityToken */
  char last_arn[8][128]; /* RoleArn of each call, in order */
  char last_ak[8][64];   /* the AccessKeyId that signed each call */
  char last_session[8][80];
  char last_duration[8][16];
  char last_external[8][32];
} sts_t;

typedef struct {
  km_buf_t body;
} conn_t;

/* Finds key=value in an x-www-form-urlencoded body (values we look for are
 * plain; %3A and %2F are decoded). */
static void form_get(const char *body, const char *key, char *out, size_t n) {
  out[0] = '\0';
  size_t kl = strlen(key);
  for (const char *p = body; p != NULL && *p != '\0';) {
    if (strncmp(p, key, kl) == 0 && p[kl] == '=') {
      const char *v = p + kl + 1;
      size_t o = 0;
      while (*v != '\0' && *v != '&' && o + 1 < n) {
        if (v[0] == '%' && v[1] != '\0' && v[2] != '\0') {
          char hex[3] = {v[1], v[2], 0};
          out[o++] = (char)strtol(hex, NULL, 16);
          v += 3;
        } else {
          out[o++] = *v++;
        }
      }
      out[o] = '\0';
      return;
    }
    p = strchr(p, '&');
    if (p != NULL) p++;
  }
}

/* A request parameter from the query or the form body. */
static void arg_get(struct MHD_Connection *c, const char *body, const char *key,
                    char *out, size_t n) {
  const char *v = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, key);
  if (v != NULL)
    snprintf(out, n, "%s", v);
  else
    form_get(body, key, out, n);
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c,
                               const char *url, const char *method,
                               const char *version, const char *upload,
                               size_t *upload_size, void **con_cls) {
  (void)url;
  (void)method;
  (void)version;
  sts_t *s = cls;
  conn_t *cc = *con_cls;
  if (cc == NULL) {
    cc = calloc(1, sizeof(*cc));
    km_buf_init(&cc->body);
    *con_cls = cc;
    return MHD_YES;
  }
  if (*upload_size > 0) {
    km_buf_append(&cc->body, upload, *upload_size);
    *upload_size = 0;
    return MHD_YES;
  }
  const char *body = cc->body.data != NULL ? cc->body.data : "";
  int n = atomic_fetch_add(&s->calls, 1);
  if (n < 8) {
    const char *arn =
        MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "RoleArn");
    if (arn != NULL)
      snprintf(s->last_arn[n], sizeof(s->last_arn[n]), "%s", arn);
    else
      form_get(body, "RoleArn", s->last_arn[n], sizeof(s->last_arn[n]));
    arg_get(c, body, "RoleSessionName", s->last_session[n],
            sizeof(s->last_session[n]));
    arg_get(c, body, "ExternalId", s->last_external[n],
            sizeof(s->last_external[n]));
    arg_get(c, body, "DurationSeconds", s->last_duration[n],
            sizeof(s->last_duration[n]));
    const char *auth =
        MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    const char *cred = auth != NULL ? strstr(auth, "Credential=") : NULL;
    const char *ak =
        MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "AccessKeyId");
    if (cred != NULL) {
      cred += strlen("Credential=");
      size_t l = strcspn(cred, ",");
      snprintf(s->last_ak[n], sizeof(s->last_ak[n]), "%.*s", (int)l, cred);
    } else if (ak != NULL) {
      snprintf(s->last_ak[n], sizeof(s->last_ak[n]), "%s", ak);
    } else {
      form_get(body, "AccessKeyId", s->last_ak[n], sizeof(s->last_ak[n]));
    }
  }
  char text[1024];
  unsigned status = 200;
  if (n < 8 && s->refuse_ak[0] != '\0' &&
      strcmp(s->last_ak[n], s->refuse_ak) == 0) {
    status = 400;
    snprintf(text, sizeof(text),
             "{\"RequestId\":\"req-exp-%d\",\"Code\":"
             "\"InvalidSecurityToken.Expired\",\"Message\":\"Specified "
             "SecurityToken is expired.\"}",
             n);
  } else if (atomic_load(&s->fail)) {
    status = 403;
    snprintf(text, sizeof(text),
             "{\"RequestId\":\"req-deny-%d\",\"HostId\":\"sts.aliyuncs.com\","
             "\"Code\":\"NoPermission\",\"Message\":\"You are not authorized "
             "to do this action.\"}",
             n);
  } else {
    char exp[21];
    km_iso8601((int64_t)time(NULL) + atomic_load(&s->exp_offset), exp);
    snprintf(
        text, sizeof(text),
        "{\"RequestId\":\"req-%d\",\"AssumedRoleUser\":{\"Arn\":\"x\","
        "\"AssumedRoleId\":\"y\"},\"Credentials\":{\"AccessKeyId\":"
        "\"STS.id%d\",\"AccessKeySecret\":\"CANARY-STS-SECRET-%d\","
        "\"SecurityToken\":\"CANARY-STS-TOKEN-%d\",\"Expiration\":\"%s\"}}",
        n, n, n, n, exp);
  }
  struct MHD_Response *r = MHD_create_response_from_buffer(
      strlen(text), text, MHD_RESPMEM_MUST_COPY);
  MHD_add_response_header(r, "Content-Type", "application/json");
  enum MHD_Result ret = MHD_queue_response(c, status, r);
  MHD_destroy_response(r);
  return ret;
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls,
                      enum MHD_RequestTerminationCode toe) {
  (void)cls;
  (void)c;
  (void)toe;
  conn_t *cc = *con_cls;
  if (cc != NULL) {
    km_buf_free(&cc->body);
    free(cc);
    *con_cls = NULL;
  }
}

/* ---- Fixture: loop, transport, client, fake STS ---- */

typedef struct {
  sts_t sts;
  uv_loop_t loop;
  km_http_t *http;
  km_acs_client_t *acs;
  char addr[32];
} fx_t;

static int setup(void **st) {
  fx_t *f = calloc(1, sizeof(*f));
  atomic_init(&f->sts.calls, 0);
  atomic_init(&f->sts.exp_offset, 3600);
  atomic_init(&f->sts.fail, 0);
  struct sockaddr_in sa;
  memset(&sa, 0, sizeof(sa));
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  f->sts.d = MHD_start_daemon(
      MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION, 0, NULL,
      NULL, handler, &f->sts, MHD_OPTION_NOTIFY_COMPLETED, completed, NULL,
      MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa, MHD_OPTION_END);
  if (f->sts.d == NULL) return -1;
  const union MHD_DaemonInfo *info =
      MHD_get_daemon_info(f->sts.d, MHD_DAEMON_INFO_BIND_PORT);
  f->sts.port = info->port;
  snprintf(f->addr, sizeof(f->addr), "127.0.0.1:%u", (unsigned)f->sts.port);
  uv_loop_init(&f->loop);
  if (km_http_new(&f->loop, NULL, &f->http) != 0) return -1;
  km_endpoint_override_t ov = {
      .host_pattern = "sts.aliyuncs.com", .address = f->addr, .scheme = "http"};
  km_acs_client_opts_t o = {.overrides = &ov, .noverrides = 1};
  o.retry.max_attempts = 1;
  km_err_t err;
  if (km_acs_client_new(f->http, &f->loop, &o, &f->acs, &err) != 0) {
    fprintf(stderr, "client: %s\n", err.text);
    return -1;
  }
  unsetenv("ALIBABA_CLOUD_ACCESS_KEY_ID");
  unsetenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET");
  *st = f;
  return 0;
}

static int teardown(void **st) {
  fx_t *f = *st;
  km_acs_client_free(f->acs);
  km_http_close(f->http, NULL, NULL);
  uv_run(&f->loop, UV_RUN_DEFAULT);
  assert_int_equal(uv_loop_close(&f->loop), 0);
  MHD_stop_daemon(f->sts.d);
  free(f);
  return 0;
}

typedef struct {
  int calls;
  int status;
  char id[64];
  char secret[64];
  char token[64];
  int64_t expiration;
  km_err_t err;
} got_t;

static void on_creds(const km_creds_result_t *res, void *ud) {
  got_t *g = ud;
  g->calls++;
  g->status = res->status;
  if (res->status == 0) {
    snprintf(g->id, sizeof(g->id), "%s", res->cred->access_key_id);
    snprintf(g->secret, sizeof(g->secret), "%s", res->cred->access_key_secret);
    snprintf(g->token, sizeof(g->token), "%s",
             res->cred->security_token != NULL ? res->cred->security_token
                                               : "");
    g->expiration = res->expiration;
  } else {
    g->err = *res->err;
  }
}

static const km_cred_source_t base_src = {
    .kind = KM_CRED_STATIC,
    .access_key_id = "LTAIbase",
    .access_key_secret = "CANARY-BASE-SECRET",
};

static km_creds_t *role_provider(fx_t *f, const char *arn) {
  km_cred_source_t src = {.kind = KM_CRED_ASSUME_ROLE,
                          .account = "app-a",
                          .role_arn = arn,
                          .external_id = "ext-1",
                          .via = &base_src};
  km_creds_t *p;
  km_err_t err;
  assert_int_equal(km_creds_new(&f->loop, &src, f->acs, &p, &err), 0);
  return p;
}

static void get_and_run(fx_t *f, km_creds_t *p, got_t *g) {
  memset(g, 0, sizeof(*g));
  assert_int_equal(km_creds_get(p, on_creds, g), 0);
  uv_run(&f->loop, UV_RUN_DEFAULT);
  assert_int_equal(g->calls, 1);
}

static void close_provider(fx_t *f, km_creds_t *p) {
  km_creds_close(p, NULL, NULL);
  uv_run(&f->loop, UV_RUN_DEFAULT);
}

static void test_assume_and_cache(void **st) {
  fx_t *f = *st;
  km_creds_t *p = role_provider(f, "acs:ram::1111:role/migrator");
  got_t g;
  get_and_run(f, p, &g);
  assert_int_equal(g.status, 0);
  assert_string_equal(g.id, "STS.id0");
  assert_string_equal(g.secret, "CANARY-STS-SECRET-0");
  assert_string_equal(g.token, "CANARY-STS-TOKEN-0");
  assert_true(g.expiration > (int64_t)time(NULL) + 3000);
  assert_int_equal(atomic_load(&f->sts.calls), 1);
  assert_string_equal(f->sts.last_arn[0], "acs:ram::1111:role/migrator");
  assert_string_equal(f->sts.last_ak[0], "LTAIbase");
  assert_string_equal(f->sts.last_external[0], "ext-1");

  /* Cached: no second call. */
  get_and_run(f, p, &g);
  assert_string_equal(g.id, "STS.id0");
  assert_int_equal(atomic_load(&f->sts.calls), 1);
  assert_int_equal(km_creds_sts_calls(p), 1);
  close_provider(f, p);
}

/* The cloud refused a token the cache believed fresh: invalidating that
 * AccessKey id makes the next get assume the role again; an id already
 * renewed changes nothing. */
static void test_invalidate_refused(void **st) {
  fx_t *f = *st;
  km_creds_t *p = role_provider(f, "acs:ram::1111:role/migrator");
  got_t g;
  get_and_run(f, p, &g);
  assert_string_equal(g.id, "STS.id0");
  assert_int_equal(km_creds_invalidate(p, "STS.id0"), 1);
  get_and_run(f, p, &g);
  assert_string_equal(g.id, "STS.id1");
  assert_int_equal(atomic_load(&f->sts.calls), 2);
  assert_int_equal(km_creds_invalidate(p, "STS.id0"), 0);
  get_and_run(f, p, &g);
  assert_string_equal(g.id, "STS.id1");
  assert_int_equal(atomic_load(&f->sts.calls), 2);
  close_provider(f, p);
}

static void test_refresh_near_expiry(void **st) {
  fx_t *f = *st;
  /* 200 s left is inside the 5-minute refresh margin. */
  atomic_store(&f->sts.exp_offset, 200);
  km_creds_t *p = role_provider(f, "acs:ram::1111:role/migrator");
  got_t g;
  get_and_run(f, p, &g);
  assert_string_equal(g.id, "STS.id0");
  atomic_store(&f->sts.exp_offset, 3600);
  get_and_run(f, p, &g);
  assert_string_equal(g.id, "STS.id1");
  assert_int_equal(atomic_load(&f->sts.calls), 2);
  /* Now fresh for an hour: cached again. */
  get_and_run(f, p, &g);
  assert_string_equal(g.id, "STS.id1");
  assert_int_equal(atomic_load(&f->sts.calls), 2);
  close_provider(f, p);
}

static void test_coalescing(void **st) {
  fx_t *f = *st;
  km_creds_t *p = role_provider(f, "acs:ram::1111:role/migrator");
  got_t g[5];
  memset(g, 0, sizeof(g));
  for (int i = 0; i < 5; i++)
    assert_int_equal(km_creds_get(p, on_creds, &g[i]), 0);
  uv_run(&f->loop, UV_RUN_DEFAULT);
  for (int i = 0; i < 5; i++) {
    assert_int_equal(g[i].calls, 1);
    assert_int_equal(g[i].status, 0);
    assert_string_equal(g[i].id, "STS.id0");
  }
  assert_int_equal(atomic_load(&f->sts.calls), 1);
  close_provider(f, p);
}

static void test_chained_roles(void **st) {
  fx_t *f = *st;
  km_cred_source_t mid = {.kind = KM_CRED_ASSUME_ROLE,
                          .role_arn = "acs:ram::1111:role/hub",
                          .via = &base_src};
  km_cred_source_t top = {.kind = KM_CRED_ASSUME_ROLE,
                          .account = "app-b",
                          .role_arn = "acs:ram::2222:role/"
                                      "ResourceDirectoryAccountAccessRole",
                          .via = &mid};
  km_creds_t *p;
  assert_int_equal(km_creds_new(&f->loop, &top, f->acs, &p, NULL), 0);
  got_t g;
  get_and_run(f, p, &g);
  assert_int_equal(g.status, 0);
  assert_int_equal(atomic_load(&f->sts.calls), 2);
  /* The hub role first, with the base key; then the member role, signed
   * with the hub's temporary key. */
  assert_string_equal(f->sts.last_arn[0], "acs:ram::1111:role/hub");
  assert_string_equal(f->sts.last_ak[0], "LTAIbase");
  assert_string_equal(f->sts.last_arn[1],
                      "acs:ram::2222:role/ResourceDirectoryAccountAccessRole");
  assert_string_equal(f->sts.last_ak[1], "STS.id0");
  assert_string_equal(g.id, "STS.id1");
  close_provider(f, p);
}

/* Members reach their role through the management account's provider:
 * its static key is shared (not copied), a role there is not. */
static void test_shared_management_key(void **st) {
  fx_t *f = *st;
  km_creds_t *mgmt;
  assert_int_equal(km_creds_new(&f->loop, &base_src, f->acs, &mgmt, NULL), 0);
  km_creds_t *m[3];
  for (int i = 0; i < 3; i++) {
    km_cred_source_t src = {.kind = KM_CRED_ASSUME_ROLE,
                            .account = "member",
                            .role_arn = "acs:ram::4444:role/member",
                            .via = &base_src,
                            .via_creds = mgmt};
    assert_int_equal(km_creds_new(&f->loop, &src, f->acs, &m[i], NULL), 0);
  }
  got_t g;
  get_and_run(f, m[1], &g);
  assert_int_equal(g.status, 0);
  assert_string_equal(f->sts.last_ak[0], "LTAIbase");
  assert_non_null(strstr(km_creds_describe(m[1]), "via static AccessKey"));
  /* Every provider closed at once, the management key's owner among them
   * (km_runtime's order): nothing is freed twice (ASan). */
  for (int i = 0; i < 3; i++)
    km_creds_close(m[i], NULL, NULL);
  km_creds_close(mgmt, NULL, NULL);
  uv_run(&f->loop, UV_RUN_DEFAULT);
}

/* The hub's temporary key is refused by STS while the cache believes it
 * fresh: the hub role is assumed again, then the member role with the new
 * key, and the get succeeds. */
static void test_chained_hub_token_refused(void **st) {
  fx_t *f = *st;
  km_cred_source_t mid = {.kind = KM_CRED_ASSUME_ROLE,
                          .role_arn = "acs:ram::1111:role/hub",
                          .via = &base_src};
  km_cred_source_t top = {.kind = KM_CRED_ASSUME_ROLE,
                          .account = "app-b",
                          .role_arn = "acs:ram::2222:role/member",
                          .via = &mid};
  km_creds_t *p;
  assert_int_equal(km_creds_new(&f->loop, &top, f->acs, &p, NULL), 0);
  got_t g;
  get_and_run(f, p, &g);
  assert_string_equal(g.id, "STS.id1"); /* hub STS.id0, member STS.id1 */
  snprintf(f->sts.refuse_ak, sizeof(f->sts.refuse_ak), "STS.id0");
  assert_int_equal(km_creds_invalidate(p, "STS.id1"), 1);
  get_and_run(f, p, &g);
  assert_int_equal(g.status, 0);
  /* call 2: member with STS.id0, refused; 3: hub with the base key; 4:
   * member with the hub's new key. */
  assert_int_equal(atomic_load(&f->sts.calls), 5);
  assert_string_equal(f->sts.last_ak[2], "STS.id0");
  assert_string_equal(f->sts.last_arn[3], "acs:ram::1111:role/hub");
  assert_string_equal(f->sts.last_ak[3], "LTAIbase");
  assert_string_equal(f->sts.last_ak[4], "STS.id3");
  assert_string_equal(g.id, "STS.id4");
  f->sts.refuse_ak[0] = '\0';
  close_provider(f, p);
}

static void test_refusal_and_stale_fallback(void **st) {
  fx_t *f = *st;
  atomic_store(&f->sts.fail, 1);
  km_creds_t *p = role_provider(f, "acs:ram::1111:role/migrator");
  got_t g;
  get_and_run(f, p, &g);
  assert_int_equal(g.status, KM_ECLOUD);
  assert_string_equal(g.err.cloud_code, "NoPermission");
  assert_non_null(strstr(g.err.text, "account app-a"));
  assert_non_null(strstr(g.err.text, "acs:ram::1111:role/migrator"));
  assert_non_null(strstr(g.err.request_id, "req-deny"));
  close_provider(f, p);

  /* A credential with 200 s left is refreshed on the next get; when that
   * refresh is refused the still-valid one is served. */
  atomic_store(&f->sts.fail, 0);
  atomic_store(&f->sts.exp_offset, 200);
  p = role_provider(f, "acs:ram::1111:role/migrator");
  int before = atomic_load(&f->sts.calls);
  get_and_run(f, p, &g);
  assert_string_equal(g.id, "STS.id1");
  atomic_store(&f->sts.fail, 1);
  get_and_run(f, p, &g);
  assert_int_equal(g.status, 0);
  assert_string_equal(g.id, "STS.id1");
  assert_int_equal(atomic_load(&f->sts.calls), before + 2);
  close_provider(f, p);
}

/* A RamRoleArn profile under a ChainableRamRoleArn profile of the aliyun
 * CLI config: the profile's own AccessKey assumes the first role with the
 * profile's session name and duration, and that role's key the second. */
static void test_cli_profile_role_chain(void **st) {
  fx_t *f = *st;
  char path[] = "/tmp/km_creds_cfg_XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  static const char cfg[] =
      "{\"current\":\"chain\",\"profiles\":["
      "{\"name\":\"role\",\"mode\":\"RamRoleArn\",\"access_key_id\":"
      "\"LTAIrole\",\"access_key_secret\":\"CANARY-ROLE-SECRET\","
      "\"ram_role_arn\":\"acs:ram::1111:role/migrator\","
      "\"ram_session_name\":\"ops-session\",\"expired_seconds\":900},"
      "{\"name\":\"chain\",\"mode\":\"ChainableRamRoleArn\","
      "\"source_profile\":\"role\",\"ram_role_arn\":"
      "\"acs:ram::2222:role/ResourceDirectoryAccountAccessRole\"}]}";
  assert_int_equal(write(fd, cfg, sizeof(cfg) - 1), (ssize_t)(sizeof(cfg) - 1));
  close(fd);
  km_cred_source_t src = {
      .kind = KM_CRED_PROFILE, .account = "app-d", .config_file = path};
  km_creds_t *p;
  km_err_t err;
  assert_int_equal(km_creds_new(&f->loop, &src, f->acs, &p, &err), 0);
  got_t g;
  get_and_run(f, p, &g);
  assert_int_equal(g.status, 0);
  assert_string_equal(g.id, "STS.id1");
  assert_int_equal(atomic_load(&f->sts.calls), 2);
  assert_string_equal(f->sts.last_arn[0], "acs:ram::1111:role/migrator");
  assert_string_equal(f->sts.last_ak[0], "LTAIrole");
  assert_string_equal(f->sts.last_session[0], "ops-session");
  assert_string_equal(f->sts.last_duration[0], "900");
  assert_string_equal(f->sts.last_arn[1],
                      "acs:ram::2222:role/ResourceDirectoryAccountAccessRole");
  assert_string_equal(f->sts.last_ak[1], "STS.id0");
  assert_string_equal(f->sts.last_session[1], "kmsmig");
  assert_string_equal(f->sts.last_duration[1], "3600");
  close_provider(f, p);
  unlink(path);
}

static int n_closed;
static void on_closed(void *ud) {
  (void)ud;
  n_closed++;
}

static void test_close_with_call_in_flight(void **st) {
  fx_t *f = *st;
  km_creds_t *p = role_provider(f, "acs:ram::1111:role/migrator");
  got_t g;
  memset(&g, 0, sizeof(g));
  assert_int_equal(km_creds_get(p, on_creds, &g), 0);
  /* Let the request start, then close before the answer is read. */
  uv_run(&f->loop, UV_RUN_NOWAIT);
  n_closed = 0;
  km_creds_close(p, on_closed, NULL);
  assert_int_equal(g.calls, 1);
  assert_int_equal(g.status, KM_ECANCELED);
  assert_int_equal(km_creds_get(p, on_creds, &g), KM_ECANCELED);
  assert_int_equal(n_closed, 0); /* waits for the STS answer */
  uv_run(&f->loop, UV_RUN_DEFAULT);
  assert_int_equal(g.calls, 1);
  assert_int_equal(n_closed, 1);
}

static int file_contains(const char *path, const char *needle) {
  FILE *fp = fopen(path, "rb");
  if (fp == NULL) return 0;
  km_buf_t b;
  km_buf_init(&b);
  char tmp[4096];
  size_t n;
  while ((n = fread(tmp, 1, sizeof(tmp), fp)) > 0)
    km_buf_append(&b, tmp, n);
  fclose(fp);
  int found = b.data != NULL && strstr(b.data, needle) != NULL;
  km_buf_free(&b);
  return found;
}

static void test_canaries(void **st) {
  fx_t *f = *st;
  char logpath[] = "/tmp/km_creds_sts_log_XXXXXX";
  int fd = mkstemp(logpath);
  assert_true(fd >= 0);
  close(fd);
  FILE *log = fopen(logpath, "w");
  km_log_set_file(log);
  km_log_set_level(KM_LOG_DEBUG);
  km_buf_t texts;
  km_buf_init(&texts);

  /* Success, refusal and refresh paths, chained. */
  km_cred_source_t mid = {.kind = KM_CRED_ASSUME_ROLE,
                          .role_arn = "acs:ram::1111:role/hub",
                          .via = &base_src};
  km_cred_source_t top = {.kind = KM_CRED_ASSUME_ROLE,
                          .account = "app-a",
                          .role_arn = "acs:ram::2222:role/member",
                          .via = &mid};
  km_creds_t *p;
  assert_int_equal(km_creds_new(&f->loop, &top, f->acs, &p, NULL), 0);
  km_buf_puts(&texts, km_creds_describe(p));
  got_t g;
  atomic_store(&f->sts.exp_offset, 100);
  get_and_run(f, p, &g);
  assert_int_equal(g.status, 0);
  atomic_store(&f->sts.fail, 1);
  get_and_run(f, p, &g); /* refresh refused, 100 s left: served stale */
  close_provider(f, p);
  atomic_store(&f->sts.exp_offset, 3600);
  assert_int_equal(km_creds_new(&f->loop, &top, f->acs, &p, NULL), 0);
  get_and_run(f, p, &g);
  assert_int_equal(g.status, KM_ECLOUD);
  km_buf_puts(&texts, g.err.text);
  km_buf_puts(&texts, g.err.where);
  close_provider(f, p);

  km_log_set_file(NULL);
  km_log_set_level(KM_LOG_ERROR);
  fclose(log);
  assert_true(file_contains(logpath, "assumed role acs:ram::1111:role/hub"));
  assert_true(file_contains(logpath, "using the cached credential"));
  assert_null(strstr(texts.data, "CANARY"));
  assert_false(file_contains(logpath, "CANARY"));
  km_buf_free(&texts);
  unlink(logpath);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_assume_and_cache, setup, teardown),
      cmocka_unit_test_setup_teardown(test_refresh_near_expiry, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_invalidate_refused, setup, teardown),
      cmocka_unit_test_setup_teardown(test_coalescing, setup, teardown),
      cmocka_unit_test_setup_teardown(test_chained_hub_token_refused, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_chained_roles, setup, teardown),
      cmocka_unit_test_setup_teardown(test_cli_profile_role_chain, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_refusal_and_stale_fallback, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_close_with_call_in_flight, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_canaries, setup, teardown),
      cmocka_unit_test_setup_teardown(test_shared_management_key, setup,
                                      teardown),
  };
  km_log_set_level(KM_LOG_ERROR);
  return cmocka_run_group_tests(tests, NULL, NULL);
}
