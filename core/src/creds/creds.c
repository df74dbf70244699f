/* The credentials provider: turns a km_cred_source_t into a tree of nodes
 * (environment, CLI profile, AccessKey, assumed role) when it is created,
 * then serves gets asynchronously.  Fixed keys are delivered on the next
 * loop turn; an assumed role is fetched from STS with its via node's
 * credential, cached, refreshed when close to expiry, and concurrent gets of
 * the same role wait on one STS call (the waiters list).
 *
 * Every callback runs from the loop: cached answers go through a zero-delay
 * timer, fetched ones are delivered from the STS call's completion.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "creds/creds_internal.h"
#include "util/util.h"

#define MAX_VIA_DEPTH 8
#define MIN_REFRESH_MARGIN_S 300 /* refresh with 5 minutes left... */
#define STALE_GRACE_S 60 /* ...serve a cached one this long if STS fails */

/* A get waiting for a node: a user callback, or a role node waiting for the
 * credential of its via (parent set). */
struct km__waiter_s {
  km__waiter_t *next;
  km_creds_cb cb;
  void *ud;
  km__cred_node_t *parent;
};

/* A completion queued for the next loop turn. */
typedef struct ready_s {
  struct ready_s *next;
  km__waiter_t *w;
  km__cred_node_t *node;
} ready_t;

struct km_creds_s {
  uv_loop_t *loop;
  km_acs_client_t *acs;
  /* Delivers cached credentials from the loop; allocated when needed and
   * closed when idle (a fleet keeps thousands of providers). */
  uv_timer_t *timer;
  int handles_closing; /* timers closed, close callback not yet run */
  km__cred_node_t *root;
  char *account; /* for messages; NULL when unnamed */
  char *desc;    /* km_creds_describe's text, built when asked (owned) */
  ready_t *ready, *ready_tail;
  uint64_t sts_calls;
  size_t inflight; /* STS calls not yet completed */
  int closing;
  void (*close_cb)(void *ud);
  void *close_ud;
};

/* ---- Nodes ---- */

static char *dup_or_null(const char *s) {
  return s != NULL ? km_xstrdup(s) : NULL;
}

km__cred_node_t *km__cred_node_key(const char *desc, const char *id,
                                   const char *secret, const char *token) {
  km__cred_node_t *n = km_xcalloc(1, sizeof(*n));
  n->kind = KM__NODE_KEY;
  n->desc = km_xstrdup(desc);
  n->ak_id = km_xstrdup(id);
  n->ak_secret = km_xstrdup(secret);
  n->token = token != NULL && *token != '\0' ? km_xstrdup(token) : NULL;
  return n;
}

km__cred_node_t *km__cred_node_role(const char *role_arn,
                                    const char *session_name, int duration,
                                    const char *external_id, const char *policy,
                                    km__cred_node_t *via) {
  km__cred_node_t *n = km_xcalloc(1, sizeof(*n));
  n->kind = KM__NODE_ROLE;
  n->role_arn = km_xstrdup(role_arn);
  n->session_name = km_xstrdup(session_name != NULL ? session_name : "kmsmig");
  n->duration = duration > 0 ? duration : 3600;
  n->external_id = dup_or_null(external_id);
  n->policy = dup_or_null(policy);
  n->via = via;
  return n;
}

char *km__cred_node_describe(const km__cred_node_t *n) {
  km_buf_t b;
  km_buf_init(&b);
  for (; n != NULL; n = n->via) {
    if (n->desc != NULL) {
      km_buf_puts(&b, n->desc); /* it names its own chain */
      break;
    }
    km_buf_printf(&b, "role %s via ", n->role_arn);
  }
  return km_buf_steal(&b);
}

void km__cred_node_free(km__cred_node_t *n) {
  if (n == NULL) return;
  if (!n->via_shared) km__cred_node_free(n->via);
  free(n->desc);
  free(n->label);
  free(n->ak_id);
  km_free_secret(n->ak_secret);
  km_free_secret(n->token);
  free(n->role_arn);
  free(n->session_name);
  free(n->external_id);
  free(n->policy);
  free(n);
}

int km__cred_check_role(const char *label, const char *role_arn,
                        const char *session_name, int duration, km_err_t *err) {
  if (role_arn == NULL || strncmp(role_arn, "acs:ram::", 9) != 0 ||
      strstr(role_arn, ":role/") == NULL)
    return km__err_set(err, KM_EINVAL,
                       "%s: role ARN must look like "
                       "acs:ram::<account-id>:role/<role-name>",
                       label);
  if (session_name != NULL) {
    size_t len = strlen(session_name);
    int ok = len >= 2 && len <= 64;
    for (const char *c = session_name; ok && *c != '\0'; c++)
      ok = isalnum((unsigned char)*c) || strchr("_.@-", *c) != NULL;
    if (!ok)
      return km__err_set(err, KM_EINVAL,
                         "%s: role session name must be 2-64 characters of "
                         "letters, digits and _.@-",
                         label);
  }
  if (duration != 0 && (duration < 900 || duration > 43200))
    return km__err_set(err, KM_EINVAL,
                       "%s: role duration must be 900..43200 seconds (got %d)",
                       label, duration);
  return 0;
}

/* ---- Resolving a source into nodes ---- */

/* Puts a formatted context in front of err->text (truncating the end). */
static void err_prefix(km_err_t *err, const char *fmt, ...) KM_PRINTF(2, 3);
static void err_prefix(km_err_t *err, const char *fmt, ...) {
  if (err == NULL) return;
  km_buf_t b;
  km_buf_init(&b);
  va_list ap;
  va_start(ap, fmt);
  char head[256];
  vsnprintf(head, sizeof(head), fmt, ap);
  va_end(ap);
  km_buf_puts(&b, head);
  km_buf_puts(&b, err->text);
  size_t n = b.len < sizeof(err->text) - 1 ? b.len : sizeof(err->text) - 1;
  memcpy(err->text, b.data, n);
  err->text[n] = '\0';
  km_buf_free(&b);
}

static void fix_hint(const char *account, char *out, size_t n) {
  if (account != NULL)
    snprintf(out, n, "give credentials: {profile: NAME} in accounts/%s.yaml",
             account);
  else
    snprintf(out, n, "give credentials: {profile: NAME} in the account file");
}

/* The environment step.  Returns 0 with *out, 0 with *out NULL when no
 * variable is set (CHAIN moves on), or KM_ECREDS for a half-set pair. */
static int env_node(const char *account, km__cred_node_t **out, km_err_t *err) {
  const char *id = getenv("ALIBABA_CLOUD_ACCESS_KEY_ID");
  const char *secret = getenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET");
  const char *token = getenv("ALIBABA_CLOUD_SECURITY_TOKEN");
  int has_id = id != NULL && *id != '\0';
  int has_secret = secret != NULL && *secret != '\0';
  *out = NULL;
  if (!has_id && !has_secret) return 0;
  if (!has_id || !has_secret)
    return km__err_set(err, KM_ECREDS,
                       "credentials for account %s: %s is set but %s is not; "
                       "set both",
                       account != NULL ? account : "(unnamed)",
                       has_id ? "ALIBABA_CLOUD_ACCESS_KEY_ID"
                              : "ALIBABA_CLOUD_ACCESS_KEY_SECRET",
                       has_id ? "ALIBABA_CLOUD_ACCESS_KEY_SECRET"
                              : "ALIBABA_CLOUD_ACCESS_KEY_ID");
  *out = km__cred_node_key(token != NULL && *token != '\0'
                               ? "environment (ALIBABA_CLOUD_ACCESS_KEY_ID, "
                                 "with ALIBABA_CLOUD_SECURITY_TOKEN)"
                               : "environment (ALIBABA_CLOUD_ACCESS_KEY_ID)",
                           id, secret, token);
  return 0;
}

static int resolve_kind(const km_cred_source_t *src, const char *account,
                        int depth, km__cred_node_t **out, km_err_t *err);

/* Resolves src and labels the node with the account it belongs to (a via
 * source names its own account: the AccessKey is that account's). */
static int resolve(const km_cred_source_t *src, const char *account, int depth,
                   km__cred_node_t **out, km_err_t *err) {
  int rc = resolve_kind(src, account, depth, out, err);
  /* Only a node that signs for another needs to say whose it is: a key
   * (also another provider's, shared), or a role under a role. */
  if (rc == 0 && *out != NULL && (*out)->label == NULL &&
      ((*out)->kind == KM__NODE_KEY || depth > 0)) {
    const char *who = src->account != NULL ? src->account : account;
    char *d = km__cred_node_describe(*out);
    (*out)->label = km_xasprintf("account %s (%s)", who != NULL ? who : "?", d);
    free(d);
  }
  return rc;
}

static int resolve_kind(const km_cred_source_t *src, const char *account,
                        int depth, km__cred_node_t **out, km_err_t *err) {
  char hint[200];
  fix_hint(account, hint, sizeof(hint));
  const char *who = account != NULL ? account : "(unnamed)";
  *out = NULL;
  if (depth >= MAX_VIA_DEPTH)
    return km__err_set(err, KM_EINVAL,
                       "credentials for account %s: assume-role chain deeper "
                       "than %d (a cycle?)",
                       who, MAX_VIA_DEPTH);
  int rc;
  switch (src->kind) {
  case KM_CRED_STATIC:
    if (src->access_key_id == NULL || src->access_key_secret == NULL)
      return km__err_set(err, KM_EINVAL,
                         "credentials for account %s: static source without "
                         "an AccessKey",
                         who);
    *out = km__cred_node_key("static AccessKey (tests)", src->access_key_id,
                             src->access_key_secret, src->security_token);
    return 0;
  case KM_CRED_ENV:
    rc = env_node(account, out, err);
    if (rc == 0 && *out == NULL)
      rc = km__err_set(err, KM_ECREDS,
                       "no credentials for account %s: set "
                       "ALIBABA_CLOUD_ACCESS_KEY_ID and "
                       "ALIBABA_CLOUD_ACCESS_KEY_SECRET (and "
                       "ALIBABA_CLOUD_SECURITY_TOKEN for STS credentials)",
                       who);
    return rc;
  case KM_CRED_PROFILE:
    rc = km__aliyun_profile_node(src->config_file, src->profile, out, err);
    if (rc != 0) err_prefix(err, "credentials for account %s: ", who);
    return rc;
  case KM_CRED_CHAIN:
    rc = env_node(account, out, err);
    if (rc != 0 || *out != NULL) return rc;
    rc = km__aliyun_profile_node(src->config_file, src->profile, out, err);
    if (rc == KM_ENOENT)
      return km__err_set(err, KM_ECREDS,
                         "no credentials for account %s: set "
                         "ALIBABA_CLOUD_ACCESS_KEY_ID and "
                         "ALIBABA_CLOUD_ACCESS_KEY_SECRET, run `aliyun "
                         "configure`, or %s",
                         who, hint);
    return rc;
  case KM_CRED_ASSUME_ROLE: {
    char label[160];
    snprintf(label, sizeof(label), "credentials for account %s", who);
    rc = km__cred_check_role(label, src->role_arn, src->role_session_name,
                             src->duration_seconds, err);
    if (rc != 0) return rc;
    km_cred_source_t chain = {.kind = KM_CRED_CHAIN};
    km__cred_node_t *via;
    /* A static key of a provider already made is shared: it never changes
     * (a role there would be refreshed by its own provider, so it is
     * copied). */
    bool shared =
        src->via_creds != NULL && src->via_creds->root->kind == KM__NODE_KEY;
    if (shared) {
      via = src->via_creds->root;
    } else {
      rc = resolve(src->via != NULL ? src->via : &chain, account, depth + 1,
                   &via, err);
      if (rc != 0) return rc;
    }
    *out = km__cred_node_role(src->role_arn, src->role_session_name,
                              src->duration_seconds, src->external_id,
                              src->policy, via);
    (*out)->via_shared = shared;
    return 0;
  }
  }
  return km__err_set(err, KM_EINVAL, "unknown credentials source kind %d",
                     (int)src->kind);
}

static int tree_has_role(const km__cred_node_t *n) {
  for (; n != NULL; n = n->via)
    if (n->kind == KM__NODE_ROLE) return 1;
  return 0;
}

static void set_owner(km__cred_node_t *n, km_creds_t *p) {
  for (; n != NULL; n = n->via_shared ? NULL : n->via)
    n->owner = p;
}

int km_creds_new(uv_loop_t *loop, const km_cred_source_t *src,
                 km_acs_client_t *acs, km_creds_t **out, km_err_t *err) {
  *out = NULL;
  if (loop == NULL || src == NULL)
    return km__err_set(err, KM_EINVAL, "km_creds_new: loop and source needed");
  km__cred_node_t *root;
  int rc = resolve(src, src->account, 0, &root, err);
  if (rc != 0) return rc;
  if (acs == NULL && tree_has_role(root)) {
    km__cred_node_free(root);
    return km__err_set(err, KM_EINVAL,
                       "credentials for account %s assume a role but no API "
                       "client was given for STS",
                       src->account != NULL ? src->account : "(unnamed)");
  }
  km_creds_t *p = km_xcalloc(1, sizeof(*p));
  p->loop = loop;
  p->acs = acs;
  p->root = root;
  p->account = dup_or_null(src->account);
  set_owner(root, p);
  if (km_log_get_level() >= KM_LOG_DEBUG)
    km_log(KM_LOG_DEBUG, "credentials for account %s: %s",
           p->account != NULL ? p->account : "(unnamed)", km_creds_describe(p));
  *out = p;
  return 0;
}

const char *km_creds_describe(const km_creds_t *p) {
  km_creds_t *w = (km_creds_t *)p; /* the text is a cache */
  if (w->desc == NULL) w->desc = km__cred_node_describe(p->root);
  return w->desc;
}

uint64_t km_creds_sts_calls(const km_creds_t *p) {
  return p->sts_calls;
}

int km_creds_invalidate(km_creds_t *p, const char *akid) {
  if (p == NULL || akid == NULL) return 0;
  for (km__cred_node_t *n = p->root; n != NULL; n = n->via) {
    if (n->kind != KM__NODE_ROLE || n->ak_id == NULL ||
        strcmp(n->ak_id, akid) != 0)
      continue;
    km_log(KM_LOG_INFO,
           "credentials for account %s: the cloud refused the token of role "
           "%s; assuming it again",
           p->account != NULL ? p->account : "(unnamed)", n->role_arn);
    /* expiration 0: not fresh, and no stale grace if the refresh fails. */
    n->expiration = 0;
    return 1;
  }
  return 0;
}

/* ---- Getting ---- */

static int is_fresh(const km__cred_node_t *n, int64_t now) {
  if (n->kind == KM__NODE_KEY) return 1;
  if (n->ak_id == NULL) return 0;
  int64_t margin = n->duration / 10;
  if (margin < MIN_REFRESH_MARGIN_S) margin = MIN_REFRESH_MARGIN_S;
  return n->expiration - now > margin;
}

static void node_get(km_creds_t *p, km__cred_node_t *n, km__waiter_t *w);
static void on_via_done(km_creds_t *p, km__cred_node_t *n, int status,
                        const km__cred_node_t *via, const km_err_t *err);

/* Delivers a node's current credential (status 0) or an error to w and
 * frees w. */
static void complete(km_creds_t *p, km__waiter_t *w, int status,
                     const km__cred_node_t *n, const km_err_t *err) {
  if (w->parent != NULL) {
    km__cred_node_t *parent = w->parent;
    free(w);
    on_via_done(p, parent, status, n, err);
    return;
  }
  km_credential_t cred = {0};
  km_creds_result_t res = {.status = status, .err = err};
  if (status == 0) {
    cred.access_key_id = n->ak_id;
    cred.access_key_secret = n->ak_secret;
    cred.security_token = n->token;
    res.cred = &cred;
    res.expiration = n->expiration;
    res.err = NULL;
  }
  km_creds_cb cb = w->cb;
  void *ud = w->ud;
  free(w);
  cb(&res, ud);
}

static void maybe_free(km_creds_t *p);

static void on_timer_freed(uv_handle_t *h) {
  km_creds_t *p = h->data;
  free(h);
  p->handles_closing--;
  maybe_free(p);
}

static void retire_timer(km_creds_t *p) {
  uv_timer_stop(p->timer);
  p->timer->data = p;
  uv_close((uv_handle_t *)p->timer, on_timer_freed);
  p->timer = NULL;
  p->handles_closing++;
}

static void on_timer(uv_timer_t *t) {
  km_creds_t *p = t->data;
  ready_t *r = p->ready;
  p->ready = p->ready_tail = NULL;
  while (r != NULL) {
    ready_t *next = r->next;
    complete(p, r->w, 0, r->node, NULL);
    free(r);
    r = next;
  }
  /* Nothing new was queued by the callbacks: give the handle back. */
  if (p->timer != NULL && p->ready == NULL && !p->closing) retire_timer(p);
}

static void queue_ready(km_creds_t *p, km__waiter_t *w, km__cred_node_t *n) {
  ready_t *r = km_xcalloc(1, sizeof(*r));
  r->w = w;
  r->node = n;
  if (p->ready_tail != NULL)
    p->ready_tail->next = r;
  else
    p->ready = r;
  p->ready_tail = r;
  if (p->timer == NULL) {
    p->timer = km_xmalloc(sizeof(*p->timer));
    uv_timer_init(p->loop, p->timer);
  }
  p->timer->data = p;
  if (!uv_is_active((uv_handle_t *)p->timer))
    uv_timer_start(p->timer, on_timer, 0, 0);
}

static void add_waiter(km__cred_node_t *n, km__waiter_t *w) {
  w->next = NULL;
  if (n->waiters_tail != NULL)
    n->waiters_tail->next = w;
  else
    n->waiters = w;
  n->waiters_tail = w;
}

/* Completes every waiter of n (detached first, so completions may start a
 * new fetch of n). */
static void finish_node(km_creds_t *p, km__cred_node_t *n, int status,
                        const km_err_t *err) {
  km__waiter_t *w = n->waiters;
  n->waiters = n->waiters_tail = NULL;
  n->fetching = 0;
  while (w != NULL) {
    km__waiter_t *next = w->next;
    complete(p, w, status, n, err);
    w = next;
  }
}

/* A fetch of n failed: serve a still-valid cached credential if there is
 * one, else fail every waiter with the error wrapped in n's context. */
static void fail_node(km_creds_t *p, km__cred_node_t *n, int status,
                      const km_err_t *inner) {
  int64_t now = (int64_t)time(NULL);
  n->renewing_via = 0;
  if (status != KM_ECANCELED && n->ak_id != NULL &&
      n->expiration - now > STALE_GRACE_S) {
    km_log(KM_LOG_WARN,
           "credentials for account %s: refreshing role %s failed (%s); "
           "using the cached credential valid for %llds more",
           p->account != NULL ? p->account : "(unnamed)", n->role_arn,
           km_err_name(status), (long long)(n->expiration - now));
    finish_node(p, n, 0, NULL);
    return;
  }
  km_err_t e;
  km__err_clear(&e);
  if (inner != NULL) e = *inner;
  e.code = status;
  if (e.text[0] == '\0')
    snprintf(e.text, sizeof(e.text), "%s", km_strerror(status));
  err_prefix(&e, "credentials for account %s: cannot assume role %s: ",
             p->account != NULL ? p->account : "(unnamed)", n->role_arn);
  finish_node(p, n, status, &e);
}

/* The end of a close: no timer left and no STS call in flight. */
static void free_provider(km_creds_t *p) {
  void (*cb)(void *) = p->close_cb;
  void *cud = p->close_ud;
  km__cred_node_free(p->root);
  free(p->account);
  free(p->desc);
  free(p);
  if (cb != NULL) cb(cud);
}

static void on_sts_done(const km_acs_result_t *res, void *ud) {
  km__cred_node_t *n = ud;
  km_creds_t *p = n->owner;
  p->inflight--;
  km__sts_creds_t c;
  memset(&c, 0, sizeof(c));
  km_err_t perr;
  km__err_clear(&perr);
  int status = res->status;
  const km_err_t *err = res->err;
  if (status == 0) {
    status = km__sts_parse(res->body, &c, &perr);
    err = &perr;
  }
  if (p->closing) {
    km__sts_creds_clear(&c);
    maybe_free(p);
    return;
  }
  if (status != 0 && !n->renewing_via && n->via->kind == KM__NODE_ROLE &&
      km_acs_is_token_refused(err, 1)) {
    /* STS refused the hub role's temporary key this role is assumed with
     * (it expired early, or the clock jumped): assume the hub role again,
     * then this one, once. */
    km_log(KM_LOG_INFO,
           "credentials for account %s: STS refused the token of role %s; "
           "assuming it again",
           p->account != NULL ? p->account : "(unnamed)", n->via->role_arn);
    n->renewing_via = 1;
    n->via->expiration = 0;
    km__waiter_t *iw = km_xcalloc(1, sizeof(*iw));
    iw->parent = n;
    node_get(p, n->via, iw);
    return;
  }
  n->renewing_via = 0;
  if (status != 0) {
    fail_node(p, n, status, err);
    return;
  }
  free(n->ak_id);
  km_free_secret(n->ak_secret);
  km_free_secret(n->token);
  n->ak_id = c.ak_id;
  n->ak_secret = c.ak_secret;
  n->token = c.token;
  n->expiration = c.expiration;
  km_log(KM_LOG_DEBUG, "credentials for account %s: assumed role %s until %s",
         p->account != NULL ? p->account : "(unnamed)", n->role_arn,
         json_string_value(json_object_get(
             json_object_get(res->body, "Credentials"), "Expiration")));
  finish_node(p, n, 0, NULL);
}

static void on_via_done(km_creds_t *p, km__cred_node_t *n, int status,
                        const km__cred_node_t *via, const km_err_t *err) {
  if (status == 0 && p->closing) status = KM_ECANCELED;
  if (status != 0) {
    fail_node(p, n, status, err);
    return;
  }
  km_credential_t cred = {via->ak_id, via->ak_secret, via->token};
  km_err_t e;
  km__err_clear(&e);
  int rc =
      km__sts_assume_role(p->acs, n, &cred, via->label, on_sts_done, n, &e);
  if (rc != 0) {
    fail_node(p, n, rc, &e);
    return;
  }
  p->sts_calls++;
  p->inflight++;
}

static void node_get(km_creds_t *p, km__cred_node_t *n, km__waiter_t *w) {
  if (is_fresh(n, (int64_t)time(NULL))) {
    queue_ready(p, w, n);
    return;
  }
  add_waiter(n, w);
  if (n->fetching) return;
  n->fetching = 1;
  km__waiter_t *iw = km_xcalloc(1, sizeof(*iw));
  iw->parent = n;
  node_get(p, n->via, iw);
}

int km_creds_get(km_creds_t *p, km_creds_cb cb, void *ud) {
  if (p == NULL || cb == NULL) return KM_EINVAL;
  if (p->closing) return KM_ECANCELED;
  km__waiter_t *w = km_xcalloc(1, sizeof(*w));
  w->cb = cb;
  w->ud = ud;
  node_get(p, p->root, w);
  return 0;
}

/* ---- Closing ---- */

static void maybe_free(km_creds_t *p) {
  if (p->closing && p->timer == NULL && p->handles_closing == 0 &&
      p->inflight == 0)
    free_provider(p);
}

void km_creds_close(km_creds_t *p, void (*close_cb)(void *ud), void *ud) {
  if (p == NULL || p->closing) return;
  p->closing = 1;
  p->close_cb = close_cb;
  p->close_ud = ud;
  km_err_t e;
  km__err_set(&e, KM_ECANCELED, "credentials provider closed");
  ready_t *r = p->ready;
  p->ready = p->ready_tail = NULL;
  while (r != NULL) {
    ready_t *next = r->next;
    complete(p, r->w, KM_ECANCELED, r->node, &e);
    free(r);
    r = next;
  }
  for (km__cred_node_t *n = p->root; n != NULL;
       n = n->via_shared ? NULL : n->via)
    finish_node(p, n, KM_ECANCELED, &e);
  /* close_cb runs from the loop: through a handle's close callback even
   * when no timer was needed. */
  if (p->timer == NULL) {
    p->timer = km_xmalloc(sizeof(*p->timer));
    uv_timer_init(p->loop, p->timer);
  }
  retire_timer(p);
}
