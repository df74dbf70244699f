/* The asynchronous style-RPC client: one km_acs_call() becomes one or more
 * signed HTTP attempts on the shared transport (http/http.h), each with a
 * fresh nonce and timestamp, retried with full-jitter backoff on a uv_timer
 * (then the caller's pace hook: the rate limiter) while the failure is
 * retryable and the overall deadline allows; then exactly one callback.  A
 * write the caller marks write_once is not sent again when an attempt's
 * outcome is unknown (acs/retry.c).
 *
 * Endpoint overrides point real host names at another address (kmsim, a
 * test server) through curl's CONNECT_TO, so the URL and the signed Host
 * header keep naming the real host.  Plain http or unverified TLS is only
 * accepted for loopback addresses: credentials never cross a network in
 * clear or to an unauthenticated peer.
 *
 * Credentials: the client keeps one entry per credential in use (its
 * AccessKey id, secret and token, and the keyed HMAC contexts of the secret,
 * km_sign_key_t), shared by every call signed with it, so a call neither
 * copies the secret nor keys an HMAC.  An entry no call has used for
 * KEY_IDLE_MS is freed and cleansed (checked when another credential
 * comes into use: a fleet's STS credentials come and go), and every entry
 * when the client is freed.
 *
 * Lifetime: a call owns copies of everything else it was given.  Its memory is
 * released after the callback, in the backoff timer's close callback when a
 * timer was used, so the user may free the client from inside the callback. */
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "acs/acs.h"
#include "kmsmig/version.h"

typedef struct {
  char *pattern;
  char *address; /* "host:port" or "[v6]:port", as given */
  int http;
  int insecure;
} override_t;

struct km_acs_client_s {
  km_http_t *http;
  uv_loop_t *loop;
  km_sigver_t sigver;
  km_retry_policy_t retry; /* defaults filled in */
  override_t *ov;
  size_t nov;
  char *user_agent;
  size_t inflight;
  uint64_t rng;
  /* Hosts that answered at least once (any HTTP status): a host that never
   * did is more likely a wrong endpoint than an outage, and its transport
   * failures get NEVER_ANSWERED_ATTEMPTS, not the whole deadline. */
  struct answered_s {
    char *host;
    uint64_t last_ok; /* the last 2xx answer (ms), 0: none yet */
  } * answered;
  size_t nanswered;
  struct keyent_s *keys; /* credentials in use, most recent first */
};

/* One credential in use.  refs: calls holding it. */
typedef struct keyent_s {
  char *akid, *secret, *token; /* token may be NULL */
  km_sign_key_t *key;
  size_t refs;
  uint64_t idle_since; /* ms, when refs fell to 0 */
  struct keyent_s *next;
} keyent_t;

/* An entry costs ~2 KB (its two keyed HMAC contexts are ~1.8 KB).  A
 * credential in use signs a call every few hundred ms, so 10 s keeps every
 * active one; a longer window kept the entries of every account that had
 * just reached the barrier (a fleet's accounts wait there by the hundred,
 * without calls, and their credentials are keyed again once when they go
 * on). */
#define KEY_IDLE_MS 10000

static void keyent_free(keyent_t *e);

#define NEVER_ANSWERED_ATTEMPTS 5

typedef struct {
  km_acs_client_t *c;
  uv_timer_t timer;
  int timer_used;
  char host[256];
  char *action;
  const char *version; /* static product table string */
  km_params_t params;
  int form_body;
  keyent_t *cred; /* the client's entry, one reference held */
  const override_t *ov;
  uint64_t deadline_at;
  uint64_t deadline_ms;
  uint64_t started_at;
  uint64_t first_fail_at; /* the first failure that was not throttling */
  /* An attempt was answered HTTP 500: the service took the request and
   * failed it, which a service in an outage does not do. */
  bool saw_internal;
  int attempts;
  int throttled;
  int write_once;
  int (*pace)(void *hook_ud, void (*go)(int status, void *arg), void *arg);
  void (*on_attempt)(void *hook_ud, const km_acs_attempt_t *a);
  void *hook_ud;
  km_acs_cb cb;
  void *ud;
  km_err_t err;
  char *our_sts;   /* last attempt's StringToSign, for SignatureDoesNotMatch */
  char *owner;     /* whose AccessKey signs (for the fix in errors), or NULL */
  int sts_differs; /* the server read another request than we signed */
} call_t;

/* ---- overrides ---- */

static int split_address(const char *addr, char *host, size_t hn, long *port) {
  const char *colon = strrchr(addr, ':');
  if (colon == NULL || colon == addr) return KM_EINVAL;
  size_t len = (size_t)(colon - addr);
  if (addr[0] == '[') { /* [v6]:port */
    if (len < 3 || addr[len - 1] != ']') return KM_EINVAL;
    addr++;
    len -= 2;
  }
  if (len >= hn) return KM_EINVAL;
  memcpy(host, addr, len);
  host[len] = '\0';
  char *end = NULL;
  *port = strtol(colon + 1, &end, 10);
  if (end == colon + 1 || *end != '\0' || *port < 1 || *port > 65535)
    return KM_EINVAL;
  return 0;
}

static int is_loopback(const char *host) {
  unsigned char a[16];
  if (strcasecmp(host, "localhost") == 0) return 1;
  if (inet_pton(AF_INET, host, a) == 1) return a[0] == 127;
  if (inet_pton(AF_INET6, host, a) == 1) {
    static const unsigned char v6lo[16] = {[15] = 1};
    return memcmp(a, v6lo, 16) == 0;
  }
  return 0;
}

int km_acs_override_check(const km_endpoint_override_t *o, km_err_t *err) {
  char host[256];
  long port;
  if (o->host_pattern == NULL || o->host_pattern[0] == '\0' ||
      o->address == NULL ||
      split_address(o->address, host, sizeof(host), &port) < 0)
    return km__err_set(err, KM_EINVAL,
                       "endpoint override needs a host pattern and an "
                       "address \"host:port\" (got \"%s\")",
                       o->address != NULL ? o->address : "");
  int http = 0;
  if (o->scheme != NULL && strcmp(o->scheme, "http") == 0)
    http = 1;
  else if (o->scheme != NULL && strcmp(o->scheme, "https") != 0)
    return km__err_set(err, KM_EINVAL, "override scheme must be https or http");
  if ((http || o->insecure) && !is_loopback(host))
    return km__err_setw(err, KM_EPERM, o->host_pattern,
                        "refusing %s for %s: only loopback addresses may be "
                        "reached without verified TLS",
                        http ? "plain http" : "unverified TLS", o->address);
  if (o->ca_file != NULL)
    return km__err_set(err, KM_ENOTSUP,
                       "per-override ca_file is not supported by the "
                       "transport; set km_http_opts_t.ca_file instead");
  return 0;
}

static int host_matches(const char *pattern, const char *host) {
  if (strcmp(pattern, "*") == 0) return 1;
  if (strncmp(pattern, "*.", 2) == 0) {
    size_t pl = strlen(pattern + 1), hl = strlen(host); /* ".suffix" */
    return hl > pl && strcasecmp(host + hl - pl, pattern + 1) == 0;
  }
  return strcasecmp(pattern, host) == 0;
}

/* ---- client ---- */

int km_acs_client_new(km_http_t *http, uv_loop_t *loop,
                      const km_acs_client_opts_t *opts, km_acs_client_t **out,
                      km_err_t *err) {
  *out = NULL;
  if (http == NULL || loop == NULL)
    return km__err_set(err, KM_EINVAL, "client needs a transport and a loop");
  km_acs_client_opts_t o = opts != NULL ? *opts : (km_acs_client_opts_t){0};
  if (o.sigver != 0 && o.sigver != KM_SIG_V1 && o.sigver != KM_SIG_V3)
    return km__err_set(err, KM_EINVAL, "unknown signature version %d",
                       (int)o.sigver);
  for (size_t i = 0; i < o.noverrides; i++) {
    int rc = km_acs_override_check(&o.overrides[i], err);
    if (rc < 0) return rc;
  }
  km_acs_client_t *c = km_xcalloc(1, sizeof(*c));
  c->http = http;
  c->loop = loop;
  c->sigver = o.sigver != 0 ? o.sigver : KM_SIG_V3;
  km__retry_defaults(&o.retry, &c->retry);
  c->ov = km_xcalloc(o.noverrides + 1, sizeof(*c->ov));
  c->nov = o.noverrides;
  for (size_t i = 0; i < o.noverrides; i++) {
    c->ov[i].pattern = km_xstrdup(o.overrides[i].host_pattern);
    c->ov[i].address = km_xstrdup(o.overrides[i].address);
    c->ov[i].http = o.overrides[i].scheme != NULL &&
                    strcmp(o.overrides[i].scheme, "http") == 0;
    c->ov[i].insecure = o.overrides[i].insecure;
  }
  c->user_agent = km_xstrdup(
      o.user_agent != NULL ? o.user_agent : "kmsmig/" KM_VERSION_STRING);
  c->rng = km_now_ms() ^ (uint64_t)(uintptr_t)c ^ 0x2545f4914f6cdd1dull;
  *out = c;
  return 0;
}

void km_acs_client_free(km_acs_client_t *c) {
  if (c == NULL) return;
  if (c->inflight > 0) {
    /* Calls point at the client; freeing it now would be a use after free
     * later.  Fail loudly instead. */
    km_log(KM_LOG_ERROR, "km_acs_client_free with %zu calls in flight",
           c->inflight);
    abort();
  }
  for (size_t i = 0; i < c->nov; i++) {
    free(c->ov[i].pattern);
    free(c->ov[i].address);
  }
  free(c->ov);
  free(c->user_agent);
  for (size_t i = 0; i < c->nanswered; i++)
    free(c->answered[i].host);
  free(c->answered);
  while (c->keys != NULL) {
    keyent_t *e = c->keys;
    c->keys = e->next;
    keyent_free(e);
  }
  free(c);
}

size_t km_acs_inflight(const km_acs_client_t *c) {
  return c != NULL ? c->inflight : 0;
}

/* ---- calls ---- */

static void keyent_free(keyent_t *e) {
  free(e->akid);
  km_free_secret(e->secret);
  km_free_secret(e->token);
  km_sign_key_free(e->key);
  free(e);
}

static int str_eq(const char *a, const char *b) {
  return a == NULL || b == NULL ? a == b : strcmp(a, b) == 0;
}

/* Frees the entries no call has used for KEY_IDLE_MS. */
static void keys_sweep(km_acs_client_t *c, uint64_t now) {
  for (keyent_t **pp = &c->keys; *pp != NULL;) {
    keyent_t *e = *pp;
    if (e->refs == 0 && now - e->idle_since >= KEY_IDLE_MS) {
      *pp = e->next;
      keyent_free(e);
    } else {
      pp = &e->next;
    }
  }
}

/* The entry of cr (borrowed), made on first use, with one more reference.
 * NULL when its HMAC contexts cannot be made (err filled). */
static keyent_t *key_acquire(km_acs_client_t *c, const km_credential_t *cr,
                             km_err_t *err) {
  const char *tok = cr->security_token;
  for (keyent_t **pp = &c->keys; *pp != NULL; pp = &(*pp)->next) {
    keyent_t *e = *pp;
    if (strcmp(e->akid, cr->access_key_id) != 0 ||
        strcmp(e->secret, cr->access_key_secret) != 0 || !str_eq(e->token, tok))
      continue;
    *pp = e->next; /* to the front: the next call likely signs with it */
    e->next = c->keys;
    c->keys = e;
    e->refs++;
    return e;
  }
  keys_sweep(c, km_now_ms());
  km_sign_key_t *key = NULL;
  /* An empty secret gets no contexts: signing refuses it with its own
   * error. */
  if (cr->access_key_secret[0] != '\0' &&
      km_sign_key_new(cr->access_key_secret, &key) < 0) {
    km__err_set(err, KM_ECREDS, "cannot key an HMAC with the AccessKey secret");
    return NULL;
  }
  keyent_t *e = km_xcalloc(1, sizeof(*e));
  e->akid = km_xstrdup(cr->access_key_id);
  e->secret = km_xstrdup(cr->access_key_secret);
  e->token = tok != NULL ? km_xstrdup(tok) : NULL;
  e->key = key;
  e->refs = 1;
  e->next = c->keys;
  c->keys = e;
  return e;
}

static void key_release(km_acs_client_t *c, keyent_t *e) {
  (void)c;
  if (--e->refs == 0) e->idle_since = km_now_ms();
}

static void call_free(call_t *k) {
  km_params_free(&k->params);
  free(k->action);
  /* Only a call that never started still holds its entry (finish gives it
   * back before the callback, which may free the client). */
  if (k->cred != NULL) key_release(k->c, k->cred);
  km_free_secret(k->our_sts);
  free(k->owner);
  free(k);
}

static void on_timer_closed(uv_handle_t *h) {
  call_free(h->data);
}

static void finish(call_t *k, int status, json_t *body) {
  k->c->inflight--;
  if (status < 0 && k->err.code == 0) k->err.code = status;
  /* The fix goes last, after the retry notes, so it is not cut off by
   * them; a StringToSign mismatch is not the operator's secret. */
  if (status < 0 && !k->sts_differs)
    km_acs_add_hint(&k->err, k->owner, k->ov != NULL ? k->ov->address : NULL,
                    k->cred->token != NULL);
  /* The callback may free the client, and with it the credential entry:
   * give the reference back first. */
  key_release(k->c, k->cred);
  k->cred = NULL;
  km_acs_result_t res = {status, status == 0 ? body : NULL,
                         status < 0 ? &k->err : NULL, k->attempts,
                         k->throttled};
  k->cb(&res, k->ud);
  if (k->timer_used)
    uv_close((uv_handle_t *)&k->timer, on_timer_closed);
  else
    call_free(k);
}

static void on_http_done(const km_http_resp_t *resp, void *ud);

static int start_attempt(call_t *k) {
  km_acs_client_t *c = k->c;
  uint64_t now = km_now_ms();
  if (now >= k->deadline_at)
    return km__err_setw(&k->err, KM_EDEADLINE, k->host,
                        "%s: overall deadline of %llu ms exceeded", k->action,
                        (unsigned long long)k->deadline_ms);
  km_credential_t cred = {k->cred->akid, k->cred->secret, k->cred->token};
  km_acs_request_t r = {.method = "POST",
                        .host = k->host,
                        .action = k->action,
                        .version = k->version,
                        .params = &k->params,
                        .form_body = k->form_body,
                        .sigver = c->sigver,
                        .user_agent = c->user_agent,
                        .key = k->cred->key};
  km_signed_request_t s;
  km_err_t serr;
  int rc = km_acs_sign(&r, &cred, &s, &serr);
  if (rc < 0)
    return km__err_setw(&k->err, rc, k->host, "%s: %s", k->action, serr.text);

  char *url = s.url;
  char *http_url = NULL;
  char connect_to[600];
  if (k->ov != NULL) {
    snprintf(connect_to, sizeof(connect_to), "%s:%d:%s", k->host,
             k->ov->http ? 80 : 443, k->ov->address);
    if (k->ov->http) { /* "https://host/..." -> "http://host/..." */
      size_t n = strlen(s.url + 5);
      url = http_url = km_xmalloc(n + 5);
      memcpy(http_url, "http", 4);
      memcpy(http_url + 4, s.url + 5, n + 1);
    }
  }
  uint64_t remaining = k->deadline_at - now;
  km_http_req_opts_t o = {
      .method = s.method,
      .url = url,
      .headers = s.headers,
      .nheaders = s.nheaders,
      .body = s.body,
      .body_len = s.body_len,
      .connect_to = k->ov != NULL ? connect_to : NULL,
      .insecure_loopback = k->ov != NULL && k->ov->insecure,
      /* 0 would mean the transport default: never ask for less than 1 ms. */
      .timeout_ms =
          remaining < 60000 ? (remaining < 1 ? 1 : (long)remaining) : 0,
  };
  k->attempts++;
  rc = km_http_request(c->http, &o, on_http_done, k);
  km_free_secret(http_url);
  km_free_secret(k->our_sts);
  k->our_sts = s.string_to_sign;
  s.string_to_sign = NULL;
  km_signed_request_free(&s);
  if (rc < 0) {
    k->attempts--;
    return km__err_setw(&k->err, rc, k->host, "%s: could not start request: %s",
                        k->action, km_strerror(rc));
  }
  return 0;
}

static void on_paced(int status, void *arg) {
  call_t *k = arg;
  int rc = status;
  if (rc < 0)
    km__err_setw(&k->err, rc, k->host, "%s: canceled before its retry",
                 k->action);
  else
    rc = start_attempt(k);
  if (rc < 0) finish(k, rc, NULL);
}

static void on_backoff(uv_timer_t *t) {
  call_t *k = t->data;
  if (k->pace == NULL) {
    on_paced(0, k);
    return;
  }
  int rc = k->pace(k->hook_ud, on_paced, k);
  if (rc < 0) on_paced(rc, k);
}

/* A SignatureDoesNotMatch echoes the server's StringToSign: equal to ours
 * means the secret is wrong (finish() names whose), different means the
 * server read another request than the one signed.  V1 echoes the string
 * itself; V3 echoes "ACS3-HMAC-SHA256\n" and the hash of the canonical
 * request, which is what our_sts holds for V3.  Only the verdict is kept,
 * never the strings. */
static void diagnose_signature(call_t *k, const km_http_resp_t *resp) {
  char *server = km__acs_server_sts(resp->body, resp->body_len);
  if (server == NULL || k->our_sts == NULL) {
    km_free_secret(server);
    return;
  }
  static const char v3[] = "ACS3-HMAC-SHA256\n";
  char *ours = NULL;
  if (strncmp(server, v3, sizeof(v3) - 1) == 0) {
    char hash[65];
    km__acs_sha256_hex(k->our_sts, strlen(k->our_sts), hash);
    ours = km_xasprintf("%s%s", v3, hash);
  }
  k->sts_differs = strcmp(server, ours != NULL ? ours : k->our_sts) != 0;
  if (k->sts_differs) {
    size_t n = strlen(k->err.text);
    snprintf(k->err.text + n, sizeof(k->err.text) - n,
             "; the server read another request than kmsmig signed: a proxy "
             "between them may change requests (if none does, run with -v "
             "and report it)");
  }
  km_free_secret(ours);
  km_free_secret(server);
}

/* Appends a note to the error text (after the server's message). */
static void note(call_t *k, const char *fmt, ...) KM_PRINTF(2, 3);
static void note(call_t *k, const char *fmt, ...) {
  size_t n = strlen(k->err.text);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(k->err.text + n, sizeof(k->err.text) - n, fmt, ap);
  va_end(ap);
}

/* The attempt's answer as status, HTTP status and err: 0 when it is a
 * JSON object (*body set, owned), else the failure. */
static int read_answer(call_t *k, const km_http_resp_t *resp, long *hs,
                       json_t **body) {
  *hs = 0;
  *body = NULL;
  if (resp->status != 0) /* the caller names the action; the transport
                            says what went wrong */
    return km__err_setw(&k->err, resp->status, k->host, "%s",
                        resp->err_text != NULL && resp->err_text[0] != '\0'
                            ? resp->err_text
                            : km_strerror(resp->status));
  *hs = resp->http_status;
  if (resp->http_status >= 200 && resp->http_status < 300) {
    json_error_t jerr;
    json_t *b = json_loadb(resp->body != NULL ? resp->body : "", resp->body_len,
                           0, &jerr);
    if (json_is_object(b)) {
      *body = b;
      return 0;
    }
    json_decref(b);
    int st = km__err_setw(&k->err, KM_EPARSE, k->host,
                          "%s: HTTP %ld with a body that is not a JSON object",
                          k->action, *hs);
    k->err.http_status = (int)*hs;
    return st;
  }
  int st =
      km_acs_parse_error(*hs, resp->body, resp->body_len, k->host, &k->err);
  if (strcmp(k->err.cloud_code, "SignatureDoesNotMatch") == 0)
    diagnose_signature(k, resp);
  return st;
}

static struct answered_s *host_answered(const km_acs_client_t *c,
                                        const char *host) {
  for (size_t i = 0; i < c->nanswered; i++)
    if (strcmp(c->answered[i].host, host) == 0) return &c->answered[i];
  return NULL;
}

static void mark_answered(km_acs_client_t *c, const char *host, bool ok) {
  struct answered_s *a = host_answered(c, host);
  if (a == NULL) {
    c->answered =
        km_xrealloc(c->answered, (c->nanswered + 1) * sizeof(*c->answered));
    a = &c->answered[c->nanswered++];
    a->host = km_xstrdup(host);
    a->last_ok = 0;
  }
  if (ok) a->last_ok = km_now_ms();
}

/* Whether and when to try again: 1 with *delay, or 0 with the reason noted
 * in err (and *st changed to KM_EDEADLINE when the deadline is the
 * reason). */
static int decide_retry(call_t *k, const km_http_resp_t *resp, long hs, int *st,
                        uint32_t *delay) {
  km_acs_client_t *c = k->c;
  if (*st == KM_EPARSE || *st == KM_ECANCELED ||
      !km_acs_is_retryable(*st, hs, k->err.cloud_code))
    return 0;
  /* A write answered SignatureNonceUsed was sent twice with one nonce (the
   * transport resent it on a fresh connection after the first one died
   * without an answer): the first copy reached the server and may have been
   * applied, so its outcome is as unknown as a lost answer's. */
  if (k->write_once && (km_retry_outcome_unknown(*st, hs, resp->not_sent) ||
                        strcmp(k->err.cloud_code, "SignatureNonceUsed") == 0)) {
    note(k,
         " (not sent again: the request may have been applied and %s must "
         "not be sent twice; a resumed run finds what it did)",
         k->action);
    return 0;
  }
  /* Throttling is the service asking us to slow down, not a failure of the
   * request: it never counts against a max_attempts. */
  bool transport = *st == KM_EHTTP || *st == KM_ETIMEDOUT || *st == KM_ETLS;
  const struct answered_s *h = host_answered(c, k->host);
  int tries = k->attempts - k->throttled;
  if (*st != KM_ETHROTTLED && k->first_fail_at == 0)
    k->first_fail_at = km_now_ms();
  if (transport && h == NULL && tries >= NEVER_ANSWERED_ATTEMPTS) {
    note(k,
         " (gave up after %d attempts: %s has not answered once in this "
         "run; check the endpoint)",
         k->attempts, k->host);
    return 0;
  }
  if (hs == 500) k->saw_internal = true;
  if (*st != KM_ETHROTTLED && k->saw_internal &&
      tries >= NEVER_ANSWERED_ATTEMPTS) {
    note(k,
         " (gave up after %d attempts: %s answered an internal error, HTTP "
         "500, so it is not an outage)",
         k->attempts, k->host);
    return 0;
  }
  /* The deadline is for outages: when other calls to the same host are
   * answered meanwhile, this call's failure is its own. */
  if (*st != KM_ETHROTTLED && h != NULL && h->last_ok > k->first_fail_at &&
      tries >= NEVER_ANSWERED_ATTEMPTS) {
    note(k,
         " (gave up after %d attempts: other calls to %s were answered "
         "meanwhile, so it is not an outage)",
         k->attempts, k->host);
    return 0;
  }
  if (c->retry.max_attempts > 0 &&
      k->attempts - k->throttled >= c->retry.max_attempts) {
    note(k, " (gave up after %d attempts)", k->attempts);
    return 0;
  }
  /* The steps grow with the failures; throttled attempts grow them only a
   * little (the caller's pace hook, the rate limiter, spaces those). */
  int step = *st == KM_ETHROTTLED
                 ? (k->throttled - 1 < 3 ? k->throttled - 1 : 3)
                 : k->attempts - k->throttled - 1;
  *delay = km_retry_backoff_ms(&c->retry, step, &c->rng);
  if (km_now_ms() + *delay >= k->deadline_at) {
    note(k, " (overall deadline of %llu ms reached after %d attempts)",
         (unsigned long long)k->deadline_ms, k->attempts);
    k->err.code = KM_EDEADLINE;
    *st = KM_EDEADLINE;
    return 0;
  }
  return 1;
}

static void on_http_done(const km_http_resp_t *resp, void *ud) {
  call_t *k = ud;
  km_acs_client_t *c = k->c;
  long hs = 0;
  json_t *body = NULL;
  km__err_clear(&k->err);
  k->sts_differs = 0;
  if (resp->status == 0)
    mark_answered(c, k->host,
                  resp->http_status >= 200 && resp->http_status < 300);
  int st = read_answer(k, resp, &hs, &body);
  int throttled = st == KM_ETHROTTLED;
  if (throttled) k->throttled++;
  uint32_t delay = 0;
  int again = st < 0 && decide_retry(k, resp, hs, &st, &delay);
  if (k->on_attempt != NULL) {
    km_acs_attempt_t a = {st,
                          throttled,
                          k->attempts,
                          km_now_ms() - k->started_at,
                          again,
                          delay,
                          st < 0 ? &k->err : NULL};
    k->on_attempt(k->hook_ud, &a);
  }
  if (!again) {
    finish(k, st, body);
    json_decref(body);
    return;
  }
  km_log(KM_LOG_DEBUG, "%s %s: %s, retry %d in %u ms", k->host, k->action,
         k->err.cloud_code[0] != '\0' ? k->err.cloud_code : km_err_name(st),
         k->attempts, delay);
  if (!k->timer_used) {
    uv_timer_init(c->loop, &k->timer);
    k->timer.data = k;
    k->timer_used = 1;
  }
  uv_timer_start(&k->timer, on_backoff, delay, 0);
}

int km_acs_call(km_acs_client_t *c, const km_acs_call_t *call, km_acs_cb cb,
                void *ud, km_err_t *err) {
  if (c == NULL || call == NULL || cb == NULL || call->action == NULL ||
      call->cred == NULL)
    return km__err_set(err, KM_EINVAL, "incomplete call");
  const char *version = km_product_version(call->product);
  if (version == NULL)
    return km__err_set(err, KM_EINVAL, "unknown product %d",
                       (int)call->product);
  call_t *k = km_xcalloc(1, sizeof(*k));
  if (km_product_host(call->product, call->region, k->host, sizeof(k->host)) <
      0) {
    free(k);
    return km__err_set(err, KM_EINVAL,
                       "%s: region \"%s\" is not a valid region id",
                       km_product_name(call->product),
                       call->region != NULL ? call->region : "");
  }
  const km_credential_t *cr = call->cred;
  if (cr->access_key_id == NULL || cr->access_key_secret == NULL) {
    free(k);
    return km__err_set(err, KM_ECREDS, "call without an AccessKey");
  }
  k->c = c;
  k->version = version;
  k->action = km_xstrdup(call->action);
  km_params_init(&k->params);
  for (size_t i = 0; call->params != NULL && i < call->params->n; i++)
    km_params_set(&k->params, call->params->v[i].key, call->params->v[i].value);
  k->form_body = call->form_body;
  k->owner = call->cred_owner != NULL ? km_xstrdup(call->cred_owner) : NULL;
  k->cred = key_acquire(c, cr, err);
  if (k->cred == NULL) {
    call_free(k);
    return KM_ECREDS;
  }
  for (size_t i = 0; i < c->nov && k->ov == NULL; i++)
    if (host_matches(c->ov[i].pattern, k->host)) k->ov = &c->ov[i];
  k->deadline_ms =
      call->deadline_ms != 0 ? call->deadline_ms : c->retry.deadline_ms;
  k->started_at = km_now_ms();
  k->deadline_at = k->started_at + k->deadline_ms;
  k->write_once = call->write_once;
  k->pace = call->pace;
  k->on_attempt = call->on_attempt;
  k->hook_ud = call->hook_ud;
  k->cb = cb;
  k->ud = ud;
  int rc = start_attempt(k);
  if (rc < 0) {
    if (err != NULL) *err = k->err;
    call_free(k);
    return rc;
  }
  c->inflight++;
  return 0;
}
