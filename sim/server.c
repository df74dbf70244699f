/* The HTTP(S) front of kmsim on libmicrohttpd: collects a request (query
 * arguments, form body through MHD's post processor, raw body for the V3
 * payload hash, headers), routes it by Host to a product, finds the action
 * (V1 `Action` parameter or V3 `x-acs-action` header), checks the version,
 * authenticates, applies throttling and injected faults, calls the handler
 * with the cloud lock held and writes the JSON answer with a RequestId.
 * Paths under /_kmsim/ go to the admin handlers instead. */
#include <arpa/inet.h>
#include <ctype.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/gnutls.h>
#include <microhttpd.h>
#include <pthread.h>

#include "server.h"
#include "state.h"

/* The answer leaves after the lock is released, while other connections
 * change the cloud: it must share no JSON node with the state (jansson's
 * reference counts are not atomic).  The server wants text: the body is
 * dumped here and dropped, which costs less than a deep copy dumped later
 * (a copy and a dump were 8% of kmsim's CPU per call).  Other callers
 * (the traffic generator, unit tests) get a copy.  Called locked. */
static void unshare_body(const ksim_req_t *req, ksim_resp_t *resp) {
  if (resp->body == NULL) return;
  if (req->want_text) {
    resp->text = json_dumps(resp->body, JSON_COMPACT);
    json_decref(resp->body);
    resp->body = NULL;
    return;
  }
  json_t *copy = json_deep_copy(resp->body);
  json_decref(resp->body);
  resp->body = copy;
}

/* ---- registry ---- */

#define KSIM_MAX_TABLES 64
static struct {
  const char *product;
  const ksim_action_t *table;
} g_tables[KSIM_MAX_TABLES];
static size_t g_ntables;

static struct {
  const char *prefix;
  ksim_handler_fn fn;
} g_admin[32];
static size_t g_nadmin;

void ksim_register_actions(const char *product, const ksim_action_t *table) {
  if (g_ntables < KSIM_MAX_TABLES) {
    g_tables[g_ntables].product = product;
    g_tables[g_ntables].table = table;
    g_ntables++;
  }
}

void ksim_register_admin(const char *prefix, ksim_handler_fn fn) {
  if (g_nadmin < KM_ARRAY_SIZE(g_admin)) {
    g_admin[g_nadmin].prefix = prefix;
    g_admin[g_nadmin].fn = fn;
    g_nadmin++;
  }
}

const ksim_action_t *ksim_find_action(const char *product, const char *action) {
  if (product == NULL || action == NULL) return NULL;
  for (size_t i = 0; i < g_ntables; i++) {
    if (strcmp(g_tables[i].product, product) != 0) continue;
    for (const ksim_action_t *a = g_tables[i].table; a->action != NULL; a++)
      if (strcmp(a->action, action) == 0) return a;
  }
  return NULL;
}

/* ---- products and routing ---- */

typedef struct {
  const char *product;
  const char *code;    /* Recommend product= */
  const char *version; /* the one API version kmsim serves */
} ksim_product_t;

static const ksim_product_t k_products[] = {
    {"kms", "Kms", "2016-01-20"},
    {"gateway", "Kms", "2016-01-20"},
    {"sts", "Sts", "2015-04-01"},
    {"resourcemanager", "ResourceManager", "2020-03-31"},
    {"resourcesharing", "ResourceSharing", "2020-01-10"},
    {"cms", "Cms", "2019-01-01"},
    {"actiontrail", "Actiontrail", "2020-07-06"},
};

static const ksim_product_t *product(const char *name) {
  for (size_t i = 0; i < KM_ARRAY_SIZE(k_products); i++)
    if (strcmp(k_products[i].product, name) == 0) return &k_products[i];
  return NULL;
}

/* "<prefix>.<region>.aliyuncs.com" -> region into out. */
static bool regional(const char *h, const char *prefix, char *out,
                     size_t outlen) {
  size_t pl = strlen(prefix);
  const char *suffix = ".aliyuncs.com";
  size_t hl = strlen(h), sl = strlen(suffix);
  if (hl <= pl + sl + 1 || strncmp(h, prefix, pl) != 0 || h[pl] != '.')
    return false;
  if (strcmp(h + hl - sl, suffix) != 0) return false;
  size_t rl = hl - sl - pl - 1;
  if (rl == 0 || rl >= outlen || memchr(h + pl + 1, '.', rl) != NULL)
    return false;
  memcpy(out, h + pl + 1, rl);
  out[rl] = '\0';
  return true;
}

int ksim_route(ksim_cloud_t *c, ksim_req_t *req) {
  const char *h = req->host_name;
  const ksim_product_t *p = NULL;
  req->region[0] = req->instance_id[0] = '\0';
  const char *gw = ".cryptoservice.kms.aliyuncs.com";
  size_t hl = strlen(h), gl = strlen(gw);
  if (regional(h, "kms", req->region, sizeof(req->region)) ||
      regional(h, "kms-vpc", req->region, sizeof(req->region))) {
    p = product("kms");
  } else if (strcmp(h, "sts.aliyuncs.com") == 0 ||
             regional(h, "sts", req->region, sizeof(req->region))) {
    p = product("sts");
  } else if (strcmp(h, "resourcemanager.aliyuncs.com") == 0) {
    p = product("resourcemanager");
  } else if (regional(h, "resourcesharing", req->region, sizeof(req->region))) {
    p = product("resourcesharing");
  } else if (regional(h, "metrics", req->region, sizeof(req->region))) {
    p = product("cms");
  } else if (regional(h, "actiontrail", req->region, sizeof(req->region))) {
    p = product("actiontrail");
  } else if (hl > gl && strcmp(h + hl - gl, gw) == 0 &&
             hl - gl < sizeof(req->instance_id)) {
    memcpy(req->instance_id, h, hl - gl);
    req->instance_id[hl - gl] = '\0';
    ksim_instance_t *inst = ksim_instance_by_id(c, req->instance_id);
    if (inst == NULL) return -1; /* no DNS name for an unknown instance */
    snprintf(req->region, sizeof(req->region), "%s", inst->region);
    p = product("gateway");
  }
  if (p == NULL) return -1;
  /* central products have no region; regional ones must be in the fixture */
  if (req->region[0] != '\0' && !ksim_region_known(c, req->region)) return -1;
  req->product = p->product;
  req->product_code = p->code;
  return 0;
}

/* ---- the pipeline ---- */

static void finish_error(ksim_req_t *req, ksim_resp_t *resp) {
  /* handlers fill {Code, Message}; complete the POP shape (or the
   * KMS-native one a throttling fault asked for) */
  const char *msg = json_string_value(json_object_get(resp->body, "Message"));
  json_t *b = resp->native ? json_pack("{s:i, s:s, s:s, s:s}", "HttpStatus",
                                       resp->status, "Code", resp->code,
                                       "Message", msg != NULL ? msg : "",
                                       "RequestId", req->request_id)
                           : ksim_error_body(req, resp->code, msg);
  json_decref(resp->body);
  resp->body = b;
}

/* With --state: the change this request made is on disk before its answer
 * leaves (docs/kmsim.md "State file"); if it cannot be written the client
 * gets a 500 rather than an acknowledgement kmsim could forget. */
static void persist(ksim_cloud_t *c, ksim_resp_t *resp) {
  char err[512];
  if (ksim_persist_save(c, err, sizeof(err)) == 0) return;
  km_log(KM_LOG_ERROR, "kmsim: %s", err);
  json_decref(resp->body);
  resp->body = NULL;
  resp->drop = false;
  ksim_fail_status(resp, 500, "InternalFailure",
                   "The request processing has failed due to some unknown "
                   "error.");
}

static int admin_dispatch(ksim_server_t *s, ksim_req_t *req,
                          ksim_resp_t *resp) {
  resp->raw = true;
  if (s->admin_token != NULL) {
    const char *t = ksim_kvs_get(&req->headers, "x-kmsim-admin");
    if (t == NULL || strcmp(t, s->admin_token) != 0) {
      resp->status = 403;
      resp->body = json_pack("{s:s}", "error", "admin token required");
      return -1;
    }
  }
  size_t best = 0;
  ksim_handler_fn fn = NULL;
  for (size_t i = 0; i < g_nadmin; i++) {
    size_t pl = strlen(g_admin[i].prefix);
    if (strncmp(req->path, g_admin[i].prefix, pl) == 0 &&
        (req->path[pl] == '\0' || req->path[pl] == '/') && pl > best) {
      best = pl;
      fn = g_admin[i].fn;
    }
  }
  if (fn == NULL) {
    resp->status = 404;
    resp->body = json_pack("{s:s}", "error", "no such admin path");
    return -1;
  }
  ksim_lock(req->cloud);
  req->now = ksim_clock_now(req->cloud);
  ksim_console_tick(req->cloud);
  ksim_share_tick(req->cloud);
  /* admin paths are served on any host; when the host is a known endpoint
   * (the emulated console uses kms.<region>) routing fills region/product */
  if (ksim_route(req->cloud, req) < 0) req->product = NULL;
  int rc = fn(req, resp);
  char err[512];
  if (ksim_persist_save(req->cloud, err, sizeof(err)) < 0) {
    km_log(KM_LOG_ERROR, "kmsim: %s", err);
    json_decref(resp->body);
    resp->body =
        json_pack("{s:s, s:s}", "error", "state not saved", "detail", err);
    resp->status = 500;
    rc = -1;
  }
  if (resp->body == NULL) resp->body = json_object();
  unshare_body(req, resp);
  ksim_unlock(req->cloud);
  if (resp->status == 0) resp->status = rc == 0 ? 200 : 400;
  return rc;
}

void ksim_process(ksim_server_t *s, ksim_req_t *req, ksim_resp_t *resp,
                  unsigned *delay_ms) {
  ksim_cloud_t *c = req->cloud;
  *delay_ms = 0;
  ksim_request_id(req->request_id);
  const char *host = req->host != NULL ? req->host : "";
  size_t i = 0;
  for (; host[i] != '\0' && host[i] != ':' && i + 1 < sizeof(req->host_name);
       i++)
    req->host_name[i] = (char)tolower((unsigned char)host[i]);
  req->host_name[i] = '\0';

  if (strncmp(req->path, "/_kmsim/", 8) == 0 ||
      strcmp(req->path, "/_kmsim") == 0) {
    admin_dispatch(s, req, resp);
    return;
  }

  ksim_lock(c);
  req->now = ksim_clock_now(c);
  /* Tasks and share associations progress on kmsim's clock: apply what
   * came due before anything reads the state. */
  ksim_console_tick(c);
  ksim_share_tick(c);
  if (ksim_route(c, req) < 0) {
    /* Closest to a name that does not resolve: the POP "no product for
     * this domain" answer (docs/kmsim.md). */
    req->product_code = "Kms";
    ksim_fail(resp, "InvalidProduct.NotFound",
              "Cannot find product according to your domain.");
    goto done;
  }
  const ksim_product_t *p = product(req->product);
  const char *auth = ksim_kvs_get(&req->headers, "authorization");
  bool v3 = auth != NULL && strncmp(auth, "ACS3-HMAC-SHA256", 16) == 0;
  req->action = v3 ? ksim_kvs_get(&req->headers, "x-acs-action")
                   : ksim_param(req, "Action");
  req->version = v3 ? ksim_kvs_get(&req->headers, "x-acs-version")
                    : ksim_param(req, "Version");
  if (req->action == NULL || req->action[0] == '\0') {
    ksim_fail_missing(resp, "Action");
    goto done;
  }
  if (req->version == NULL || req->version[0] == '\0') {
    ksim_fail_missing(resp, "Version");
    goto done;
  }
  if (strcmp(req->version, p->version) != 0) {
    ksim_fail(resp, "InvalidVersion",
              "Specified parameter Version is not valid.");
    goto done;
  }
  const ksim_action_t *a = ksim_find_action(req->product, req->action);
  if (a == NULL) {
    ksim_fail(resp, "InvalidAction.NotFound",
              "Specified api is not found, please check your url and method.");
    goto done;
  }
  if (ksim_outage(req, resp) < 0) goto done;
  if (ksim_faults_roll(req, resp, delay_ms) < 0) goto done;
  if (ksim_authenticate(req, resp) < 0) goto done;
  if (ksim_throttle(req, a, resp) < 0) goto done;
  if (a->flags & KSIM_F_NOLOCK) {
    ksim_unlock(c);
    a->fn(req, resp);
    ksim_lock(c);
  } else {
    a->fn(req, resp);
  }
  if (resp->body == NULL) ksim_ok(resp, NULL);
done:
  persist(c, resp);
  if (resp->status == 200 && resp->code[0] == '\0') ksim_faults_lose(req, resp);
  if (resp->status == 0) resp->status = 200;
  if (resp->status == 200 && resp->code[0] == '\0') {
    json_object_set_new(resp->body, "RequestId", json_string(req->request_id));
  } else if (!resp->drop) {
    finish_error(req, resp);
  }
  ksim_stats_count(c, req->product, req->action, resp->code);
  ksim_observe_record(req, resp, delay_ms != NULL ? *delay_ms : 0);
  if (s->verbose)
    km_log(KM_LOG_INFO, "%s %s %s %s -> %d %s", req->host_name,
           req->product != NULL ? req->product : "-",
           req->action != NULL ? req->action : "-",
           req->access_key_id != NULL ? req->access_key_id : "-", resp->status,
           resp->code);
  unshare_body(req, resp);
  ksim_unlock(c);
}

void ksim_lock(ksim_cloud_t *c) {
  pthread_mutex_lock(&c->lock);
}

void ksim_unlock(ksim_cloud_t *c) {
  pthread_mutex_unlock(&c->lock);
}

int64_t ksim_wall_now(void) {
  return (int64_t)time(NULL);
}

/* ---- libmicrohttpd glue ---- */

/* The peer's numeric address (ActionTrail's sourceIpAddress). */
static void client_address(struct MHD_Connection *conn, char *out, size_t n) {
  out[0] = '\0';
  const union MHD_ConnectionInfo *ci =
      MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
  if (ci == NULL || ci->client_addr == NULL) return;
  const struct sockaddr *sa = ci->client_addr;
  socklen_t len = sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                            : sizeof(struct sockaddr_in);
  if (getnameinfo(sa, len, out, (socklen_t)n, NULL, 0, NI_NUMERICHOST) != 0)
    out[0] = '\0';
}

typedef struct {
  km_buf_t body;
  ksim_kvs_t form;
  struct MHD_PostProcessor *pp;
  bool too_big;
  gnutls_session_t corked; /* see cork_reply */
} conn_ctx_t;

#define KSIM_MAX_BODY (4u << 20)

static enum MHD_Result post_iter(void *cls, enum MHD_ValueKind kind,
                                 const char *key, const char *filename,
                                 const char *content_type,
                                 const char *transfer_encoding,
                                 const char *data, uint64_t off, size_t size) {
  (void)kind;
  (void)filename;
  (void)content_type;
  (void)transfer_encoding;
  conn_ctx_t *cc = cls;
  if (off > 0 && cc->form.n > 0 &&
      strcmp(cc->form.v[cc->form.n - 1].name, key) == 0) {
    /* continuation of the previous value */
    ksim_kv_t *kv = &cc->form.v[cc->form.n - 1];
    size_t old = strlen(kv->value);
    kv->value = km_xrealloc(kv->value, old + size + 1);
    memcpy(kv->value + old, data, size);
    kv->value[old + size] = '\0';
  } else {
    char *v = km_xstrndup(data != NULL ? data : "", size);
    ksim_kvs_add(&cc->form, key, v);
    free(v);
  }
  return MHD_YES;
}

static enum MHD_Result collect(void *cls, enum MHD_ValueKind kind,
                               const char *key, const char *value) {
  (void)kind;
  ksim_kvs_t *l = cls;
  ksim_kvs_add(l, key, value);
  return MHD_YES;
}

static enum MHD_Result collect_header(void *cls, enum MHD_ValueKind kind,
                                      const char *key, const char *value) {
  (void)kind;
  ksim_kvs_t *l = cls;
  char *lk = km_xstrdup(key);
  for (char *p = lk; *p; p++)
    *p = (char)tolower((unsigned char)*p);
  ksim_kvs_add(l, lk, value);
  free(lk);
  return MHD_YES;
}

static void count_handshake(ksim_server_t *s, struct MHD_Connection *conn);

/* A reply in one TLS record, as the cloud's gateways send a small answer
 * (nginx-style servers gather the header and the body before SSL_write).
 * MHD 0.9.75 hands GnuTLS the header and the body apart, so each reply
 * was two records, and a client reading records from its socket, as
 * OpenSSL does, paid two reads more per call than against the cloud.
 * Corked, GnuTLS gathers both; completed() uncorks once MHD has handed
 * over the last byte.  Only a reply that fits one record is corked: a
 * larger one is several records whatever the server. */
#define KSIM_CORK_MAX 16000u

static void cork_reply(struct MHD_Connection *conn, conn_ctx_t *cc,
                       size_t body_len) {
  if (body_len > KSIM_CORK_MAX) return;
  const union MHD_ConnectionInfo *ci =
      MHD_get_connection_info(conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
  if (ci == NULL || ci->tls_session == NULL) return;
  cc->corked = ci->tls_session;
  gnutls_record_cork(cc->corked);
}

/* The reply is all in GnuTLS now: out it goes, as one record (WAIT: a
 * send the socket cannot take yet is retried, not left behind, since MHD
 * would never flush it).  MHD corked the socket for the header and, its
 * own sends done, does not uncork it again, which would hold the record
 * for the kernel's 200 ms: so uncork it here. */
static void uncork_reply(struct MHD_Connection *conn, gnutls_session_t tls) {
  (void)gnutls_record_uncork(tls, GNUTLS_RECORD_WAIT);
  const union MHD_ConnectionInfo *ci =
      MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
  int off = 0;
  if (ci != NULL)
    (void)setsockopt(ci->connect_fd, IPPROTO_TCP, TCP_CORK, &off, sizeof(off));
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn,
                              const char *url, const char *method,
                              const char *version, const char *upload_data,
                              size_t *upload_data_size, void **con_cls) {
  (void)version;
  ksim_server_t *s = cls;
  conn_ctx_t *cc = *con_cls;
  if (cc == NULL) {
    count_handshake(s, conn);
    cc = km_xcalloc(1, sizeof(*cc));
    km_buf_init(&cc->body);
    /* The buffer holds a field name and a value's pieces, which post_iter
     * joins; MHD clears all of it for every request (64 KB was 3% of
     * kmsim's CPU per call). */
    cc->pp = MHD_create_post_processor(conn, 1024, post_iter, cc);
    *con_cls = cc;
    return MHD_YES;
  }
  if (*upload_data_size > 0) {
    if (cc->body.len + *upload_data_size > KSIM_MAX_BODY) {
      cc->too_big = true;
    } else {
      km_buf_append(&cc->body, upload_data, *upload_data_size);
      if (cc->pp != NULL)
        MHD_post_process(cc->pp, upload_data, *upload_data_size);
    }
    *upload_data_size = 0;
    return MHD_YES;
  }
  if (cc->pp != NULL) {
    MHD_destroy_post_processor(cc->pp);
    cc->pp = NULL;
  }
  ksim_req_t req;
  memset(&req, 0, sizeof(req));
  ksim_resp_t resp;
  memset(&resp, 0, sizeof(resp));
  req.cloud = s->cloud;
  req.want_text = true;
  req.method = method;
  req.path = url;
  req.host = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Host");
  client_address(conn, req.source_ip, sizeof(req.source_ip));
  MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, collect, &req.query);
  MHD_get_connection_values(conn, MHD_HEADER_KIND, collect_header,
                            &req.headers);
  req.form = cc->form;
  memset(&cc->form, 0, sizeof(cc->form));
  req.body = cc->body.data != NULL ? cc->body.data : "";
  req.body_len = cc->body.len;
  unsigned delay = 0;
  if (cc->too_big) {
    req.request_id[0] = '\0';
    ksim_request_id(req.request_id);
    snprintf(req.host_name, sizeof(req.host_name), "%s",
             req.host != NULL ? req.host : "");
    ksim_fail_status(&resp, 413, "InvalidParameter",
                     "The request body is too large.");
    finish_error(&req, &resp);
  } else {
    ksim_process(s, &req, &resp, &delay);
  }
  if (delay > 0) usleep(delay * 1000u);
  enum MHD_Result ret = MHD_NO;
  if (!resp.drop) {
    char *text =
        resp.text != NULL ? resp.text : json_dumps(resp.body, JSON_COMPACT);
    resp.text = NULL; /* MHD frees it */
    struct MHD_Response *r = MHD_create_response_from_buffer(
        strlen(text), text, MHD_RESPMEM_MUST_FREE);
    MHD_add_response_header(r, "Content-Type",
                            "application/json;charset=utf-8");
    if (!resp.raw && req.request_id[0] != '\0')
      MHD_add_response_header(r, "x-acs-request-id", req.request_id);
    cork_reply(conn, cc, strlen(text));
    ret = MHD_queue_response(conn, (unsigned)resp.status, r);
    MHD_destroy_response(r);
  }
  free(resp.text); /* a dropped answer's */
  json_decref(resp.body);
  ksim_kvs_free(&req.query);
  ksim_kvs_free(&req.form);
  ksim_kvs_free(&req.headers);
  return ret;
}

static void completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                      enum MHD_RequestTerminationCode toe) {
  (void)cls;
  conn_ctx_t *cc = *con_cls;
  if (cc == NULL) return;
  /* A connection that failed is closing: what is corked goes with it
   * (gnutls_deinit frees it). */
  if (cc->corked != NULL && toe == MHD_REQUEST_TERMINATED_COMPLETED_OK)
    uncork_reply(conn, cc->corked);
  if (cc->pp != NULL) MHD_destroy_post_processor(cc->pp);
  ksim_kvs_free(&cc->form);
  km_buf_free(&cc->body);
  free(cc);
  *con_cls = NULL;
}

/* TLS session resumption, as the cloud's gateways offer it: TLS 1.3
 * session tickets under one key per process (every daemon of the process
 * takes the tickets of the others, like a fleet of gateways sharing a key).
 * MHD has no option for it, but hands over each connection's GnuTLS
 * session before the handshake runs (notify STARTED, then the connection's
 * thread shakes hands), which is where tickets are turned on. */
static gnutls_datum_t ticket_key;
static int ticket_key_ok;
static pthread_once_t ticket_once = PTHREAD_ONCE_INIT;

static void ticket_key_init(void) {
  ticket_key_ok = gnutls_session_ticket_key_generate(&ticket_key) == 0;
}

/* Per connection: whether its handshake was counted yet. */
typedef struct {
  bool tls, counted;
} sock_ctx_t;

/* Connections opened, for GET /_kmsim/stats: over HTTPS each one is a TLS
 * handshake, the dearest part of a call when a client does not reuse its
 * connections; the first request on one says whether it resumed a
 * session (count_handshake). */
static void notify_connection(void *cls, struct MHD_Connection *conn,
                              void **socket_context,
                              enum MHD_ConnectionNotificationCode toe) {
  if (toe == MHD_CONNECTION_NOTIFY_CLOSED) {
    free(*socket_context);
    *socket_context = NULL;
    return;
  }
  if (toe != MHD_CONNECTION_NOTIFY_STARTED) return;
  ksim_server_t *s = cls;
  const union MHD_ConnectionInfo *ci =
      MHD_get_connection_info(conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
  bool tls = ci != NULL && ci->tls_session != NULL;
  if (tls && !s->no_tls_tickets) {
    (void)pthread_once(&ticket_once, ticket_key_init);
    if (ticket_key_ok)
      (void)gnutls_session_ticket_enable_server(ci->tls_session, &ticket_key);
  }
  sock_ctx_t *sc = km_xcalloc(1, sizeof(*sc));
  sc->tls = tls;
  *socket_context = sc;
  ksim_lock(s->cloud);
  s->cloud->connections++;
  if (tls) s->cloud->tls_connections++;
  ksim_unlock(s->cloud);
}

/* At a connection's first request its handshake is over: count it as
 * resumed when the client brought back a session. */
static void count_handshake(ksim_server_t *s, struct MHD_Connection *conn) {
  const union MHD_ConnectionInfo *ci =
      MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
  sock_ctx_t *sc = ci != NULL ? ci->socket_context : NULL;
  if (sc == NULL || !sc->tls || sc->counted) return;
  sc->counted = true;
  ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
  if (ci == NULL || ci->tls_session == NULL ||
      !gnutls_session_is_resumed(ci->tls_session))
    return;
  ksim_lock(s->cloud);
  s->cloud->tls_resumed++;
  ksim_unlock(s->cloud);
}

static char *slurp(const char *path) {
  FILE *f = fopen(path, "rb");
  if (f == NULL) return NULL;
  km_buf_t b;
  km_buf_init(&b);
  char chunk[4096];
  size_t n;
  while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
    km_buf_append(&b, chunk, n);
  fclose(f);
  return km_buf_steal(&b);
}

static struct MHD_Daemon *start_daemon(ksim_server_t *s, int port, bool tls,
                                       int *bound) {
  struct sockaddr_in sa;
  memset(&sa, 0, sizeof(sa));
  sa.sin_family = AF_INET;
  sa.sin_port = htons((uint16_t)port);
  if (inet_pton(AF_INET, s->bind_addr, &sa.sin_addr) != 1) {
    km_log(KM_LOG_ERROR, "kmsim: bad bind address %s", s->bind_addr);
    return NULL;
  }
  /* One thread per connection: handlers are short and serialised by the
   * cloud lock, and injected latency sleeps only its own connection. */
  unsigned flags = MHD_USE_THREAD_PER_CONNECTION |
                   MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
  struct MHD_Daemon *d;
  if (tls) {
    flags |= MHD_USE_TLS;
    d = MHD_start_daemon(
        flags, (uint16_t)port, NULL, NULL, handle, s, MHD_OPTION_SOCK_ADDR,
        (struct sockaddr *)&sa, MHD_OPTION_HTTPS_MEM_KEY, s->tls_key_pem,
        MHD_OPTION_HTTPS_MEM_CERT, s->tls_cert_pem, MHD_OPTION_NOTIFY_COMPLETED,
        completed, s, MHD_OPTION_NOTIFY_CONNECTION, notify_connection, s,
        MHD_OPTION_CONNECTION_LIMIT, 2000u, MHD_OPTION_CONNECTION_TIMEOUT, 120u,
        MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024u, MHD_OPTION_END);
  } else {
    d = MHD_start_daemon(
        flags, (uint16_t)port, NULL, NULL, handle, s, MHD_OPTION_SOCK_ADDR,
        (struct sockaddr *)&sa, MHD_OPTION_NOTIFY_COMPLETED, completed, s,
        MHD_OPTION_NOTIFY_CONNECTION, notify_connection, s,
        MHD_OPTION_CONNECTION_LIMIT, 2000u, MHD_OPTION_CONNECTION_TIMEOUT, 120u,
        MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024u, MHD_OPTION_END);
  }
  if (d == NULL) return NULL;
  const union MHD_DaemonInfo *info =
      MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
  *bound = info != NULL ? (int)info->port : port;
  return d;
}

int ksim_server_start(ksim_server_t *s) {
  if (s->bind_addr == NULL) s->bind_addr = "127.0.0.1";
  if (s->http_port >= 0) {
    s->http = start_daemon(s, s->http_port, false, &s->http_bound);
    if (s->http == NULL) {
      km_log(KM_LOG_ERROR, "kmsim: cannot listen on %s:%d (http)", s->bind_addr,
             s->http_port);
      return -1;
    }
  }
  if (s->https_port >= 0) {
    s->tls_cert_pem = slurp(s->tls_cert);
    s->tls_key_pem = slurp(s->tls_key);
    if (s->tls_cert_pem == NULL || s->tls_key_pem == NULL) {
      km_log(KM_LOG_ERROR, "kmsim: cannot read TLS certificate %s or key %s",
             s->tls_cert, s->tls_key);
      return -1;
    }
    s->https = start_daemon(s, s->https_port, true, &s->https_bound);
    if (s->https == NULL) {
      km_log(KM_LOG_ERROR, "kmsim: cannot listen on %s:%d (https)",
             s->bind_addr, s->https_port);
      return -1;
    }
  }
  return 0;
}

void ksim_server_stop(ksim_server_t *s) {
  if (s->http != NULL) MHD_stop_daemon(s->http);
  if (s->https != NULL) MHD_stop_daemon(s->https);
  s->http = s->https = NULL;
  km_free_secret(s->tls_key_pem);
  free(s->tls_cert_pem);
  s->tls_key_pem = s->tls_cert_pem = NULL;
}
