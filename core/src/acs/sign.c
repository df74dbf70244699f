/* Request signing for the style-RPC APIs, both schemes the services accept
 * (reference §4):
 *
 * - V1, HMAC-SHA1: every parameter (common ones in the query, the caller's
 *   in the query or a form body) is sorted, encoded, encoded again into a
 *   StringToSign and signed with "<secret>&"; the result travels as the
 *   Signature parameter.
 * - V3, ACS3-HMAC-SHA256: Action/Version/date/nonce travel as x-acs-*
 *   headers, the canonical request covers the query, the signed headers and
 *   the SHA-256 of the body, and the signature goes into Authorization.
 *
 * The header layout mirrors @alicloud/openapi-client 0.4.15 doRequest (for
 * V3, including x-acs-accesskey-id next to x-acs-security-token under STS)
 * so tests/conformance/sign_crosscheck.sh can compare byte for byte.
 * The secret is only ever used as an HMAC key and then cleansed; a
 * request may bring the keyed HMAC contexts of its secret (km_sign_key_t,
 * made once per credential by the client), and nonces come from km_acs_nonce()
 * (acs/sign_key.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "acs/acs.h"

static const char *const v1_common[] = {
    "Action",          "Version",        "Format",           "AccessKeyId",
    "SignatureMethod", "SignatureNonce", "SignatureVersion", "Timestamp",
    "SecurityToken",   "Signature",
};

static void hex_encode(char *out, const unsigned char *in, size_t n) {
  static const char hex[] = "0123456789abcdef";
  for (size_t i = 0; i < n; i++) {
    out[2 * i] = hex[in[i] >> 4];
    out[2 * i + 1] = hex[in[i] & 15];
  }
  out[2 * n] = '\0';
}

void km__acs_sha256_hex(const void *data, size_t len, char out[65]) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int mdlen = 0;
  if (EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) != 1 ||
      mdlen != 32) {
    /* Only reachable with a broken libcrypto; never sign with garbage. */
    abort();
  }
  hex_encode(out, md, 32);
}

static int hmac(const EVP_MD *md, const char *key, const char *msg,
                unsigned char *out, unsigned int *outlen) {
  size_t klen = strlen(key);
  if (klen > (size_t)INT32_MAX) return KM_EINVAL;
  if (HMAC(md, key, (int)klen, (const unsigned char *)msg, strlen(msg), out,
           outlen) == NULL)
    return KM_EINVAL;
  return 0;
}

char *km__acs_v1_string_to_sign(const char *method, const km_params_t *all) {
  const km_param_t **sorted = km__acs_params_sorted(all);
  km_buf_t canon, sts;
  km_buf_init(&canon);
  km_buf_init(&sts);
  for (size_t i = 0; i < all->n; i++) {
    if (strcmp(sorted[i]->key, "Signature") == 0) continue;
    if (canon.len > 0) km_buf_putc(&canon, '&');
    km_acs_percent_encode(&canon, sorted[i]->key);
    km_buf_putc(&canon, '=');
    km_acs_percent_encode(&canon, sorted[i]->value);
  }
  free(sorted);
  km_buf_puts(&sts, method);
  km_buf_puts(&sts, "&%2F&");
  km_acs_percent_encode(&sts, canon.data != NULL ? canon.data : "");
  /* The canonical string can hold a SecurityToken: not secret-grade, but
   * cleanse it with the rest. */
  km_free_secret(km_buf_steal(&canon));
  return km_buf_steal(&sts);
}

/* HMAC of msg with the secret's keyed context when the request brings
 * one, else with a key made from the secret for this one signature. */
static int cred_hmac(const km_credential_t *cred, km_sign_key_t *key,
                     km_sigver_t v, const char *msg, unsigned char *out,
                     unsigned int *outlen) {
  if (key != NULL)
    return km__sign_key_mac(key, v, msg, strlen(msg), out, outlen);
  if (v == KM_SIG_V3)
    return hmac(EVP_sha256(), cred->access_key_secret, msg, out, outlen);
  char *amp = km_xasprintf("%s&", cred->access_key_secret);
  int rc = hmac(EVP_sha1(), amp, msg, out, outlen);
  km_free_secret(amp);
  return rc;
}

static int v1_signature(const char *string_to_sign, const km_credential_t *cred,
                        km_sign_key_t *key, char **out) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int mdlen = 0;
  int rc = cred_hmac(cred, key, KM_SIG_V1, string_to_sign, md, &mdlen);
  if (rc < 0) return rc;
  char *b64 = km_xmalloc(4 * ((mdlen + 2) / 3) + 1);
  EVP_EncodeBlock((unsigned char *)b64, md, (int)mdlen);
  OPENSSL_cleanse(md, sizeof(md));
  *out = b64;
  return 0;
}

int km__acs_v1_signature(const char *string_to_sign, const char *secret,
                         char **out) {
  km_credential_t cred = {NULL, secret, NULL};
  return v1_signature(string_to_sign, &cred, NULL, out);
}

static int v3_signature(const char *canonical_request,
                        const km_credential_t *cred, km_sign_key_t *key,
                        char **out) {
  char hash[65];
  km__acs_sha256_hex(canonical_request, strlen(canonical_request), hash);
  char sts[sizeof("ACS3-HMAC-SHA256\n") + 64];
  snprintf(sts, sizeof(sts), "ACS3-HMAC-SHA256\n%s", hash);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int mdlen = 0;
  int rc = cred_hmac(cred, key, KM_SIG_V3, sts, md, &mdlen);
  if (rc < 0) return rc;
  *out = km_xmalloc(2 * mdlen + 1);
  hex_encode(*out, md, mdlen);
  return 0;
}

int km__acs_v3_signature(const char *canonical_request, const char *secret,
                         char **out) {
  km_credential_t cred = {NULL, secret, NULL};
  return v3_signature(canonical_request, &cred, NULL, out);
}

/* Header values end up in the request verbatim: refuse anything that could
 * split a header line. */
static int safe_value(const char *s) {
  for (const unsigned char *c = (const unsigned char *)s; *c != '\0'; c++)
    if (*c < 0x20 || *c == 0x7f) return 0;
  return 1;
}

static int safe_token(const char *s, const char *extra) {
  if (s == NULL || s[0] == '\0') return 0;
  for (const char *c = s; *c != '\0'; c++)
    if (!((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') ||
          (*c >= '0' && *c <= '9') || strchr(extra, *c) != NULL))
      return 0;
  return 1;
}

typedef struct {
  km_http_header_t *v;
  size_t n;
} hdrs_t;

static void hdr_add(hdrs_t *h, const char *name, const char *value) {
  h->v = km_xrealloc(h->v, (h->n + 1) * sizeof(*h->v));
  h->v[h->n].name = km_xstrdup(name);
  h->v[h->n].value = km_xstrdup(value);
  h->n++;
}

static int cmp_hdr(const void *a, const void *b) {
  return strcmp(((const km_http_header_t *)a)->name,
                ((const km_http_header_t *)b)->name);
}

static void append_sorted_query(km_buf_t *q, const km_params_t *p) {
  const km_param_t **sorted = km__acs_params_sorted(p);
  for (size_t i = 0; i < p->n; i++) {
    if (q->len > 0) km_buf_putc(q, '&');
    km_acs_percent_encode(q, sorted[i]->key);
    km_buf_putc(q, '=');
    km_acs_percent_encode(q, sorted[i]->value);
  }
  free(sorted);
}

static int cmp_param_ptr(const void *a, const void *b) {
  return strcmp((*(const km_param_t *const *)a)->key,
                (*(const km_param_t *const *)b)->key);
}

/* Appends v's n pairs (sorted by key) as key=value&..., RFC 3986 encoded;
 * sig, when not NULL, goes in as Signature in its sorted place.  sig_at,
 * when not NULL, gets the offset in b where Signature's pair would go. */
static void put_sorted(km_buf_t *b, const km_param_t *const *v, size_t n,
                       const char *sig, size_t *sig_at) {
  size_t start = b->len;
  /* Room for the worst case (every byte escaped) made once: the buffer
   * would otherwise grow a few times per request. */
  size_t need = sig != NULL ? 3 * strlen(sig) + 12 : 0;
  for (size_t i = 0; i < n; i++)
    need += 3 * (strlen(v[i]->key) + strlen(v[i]->value)) + 2;
  km_buf_reserve(b, need);
  for (size_t i = 0; i <= n; i++) {
    if (sig_at != NULL && (i == n || strcmp(v[i]->key, "Signature") > 0)) {
      *sig_at = b->len;
      sig_at = NULL;
    }
    if (sig != NULL && (i == n || strcmp(v[i]->key, "Signature") > 0)) {
      if (b->len > start) km_buf_putc(b, '&');
      km_buf_puts(b, "Signature=");
      km_acs_percent_encode(b, sig);
      sig = NULL;
    }
    if (i == n) break;
    if (b->len > start) km_buf_putc(b, '&');
    km_acs_percent_encode(b, v[i]->key);
    km_buf_putc(b, '=');
    km_acs_percent_encode(b, v[i]->value);
  }
}

/* V1 without copying a parameter: the common parameters live on the
 * stack, the caller's are borrowed, and one sorted array of pointers gives
 * both the StringToSign and the query. */
static int sign_v1(const km_acs_request_t *r, const km_credential_t *cred,
                   const char *method, const char *nonce, const char *ts,
                   km_signed_request_t *out, km_err_t *err) {
  const km_params_t *user = r->params;
  size_t nuser = user != NULL ? user->n : 0;
  for (size_t i = 0; i < nuser; i++)
    for (size_t j = 0; j < KM_ARRAY_SIZE(v1_common); j++)
      if (strcmp(user->v[i].key, v1_common[j]) == 0)
        return km__err_set(err, KM_EINVAL,
                           "parameter %s is set by the V1 signer itself",
                           v1_common[j]);

  km_param_t common[9] = {
      {"Action", (char *)r->action},
      {"Version", (char *)r->version},
      {"Format", "JSON"},
      {"AccessKeyId", (char *)cred->access_key_id},
      {"SignatureMethod", "HMAC-SHA1"},
      {"SignatureVersion", "1.0"},
      {"SignatureNonce", (char *)nonce},
      {"Timestamp", (char *)ts},
      {"SecurityToken", (char *)cred->security_token},
  };
  size_t ncommon =
      cred->security_token != NULL && cred->security_token[0] != '\0' ? 9 : 8;
  const km_param_t **all = km_xmalloc((ncommon + nuser) * sizeof(*all));
  const km_param_t **query = km_xmalloc(ncommon * sizeof(*query));
  for (size_t i = 0; i < ncommon; i++)
    all[i] = query[i] = &common[i];
  for (size_t i = 0; i < nuser; i++)
    all[ncommon + i] = &user->v[i];
  size_t nall = ncommon + nuser;
  qsort(all, nall, sizeof(*all), cmp_param_ptr);
  qsort(query, ncommon, sizeof(*query), cmp_param_ptr);

  km_buf_t canon, sts;
  km_buf_init(&canon);
  km_buf_init(&sts);
  size_t sig_at = 0;
  put_sorted(&canon, all, nall, NULL, &sig_at);
  km_buf_reserve(&sts, 3 * canon.len + 16);
  km_buf_puts(&sts, method);
  km_buf_puts(&sts, "&%2F&");
  km_acs_percent_encode(&sts, canon.data != NULL ? canon.data : "");
  out->string_to_sign = km_buf_steal(&sts);
  int rc = v1_signature(out->string_to_sign, cred, r->key, &out->signature);
  km_buf_t url;
  km_buf_init(&url);
  if (rc == 0) {
    km_buf_reserve(&url, canon.len + 64 + strlen(r->host));
    km_buf_printf(&url, "https://%s/?", r->host);
    /* The query: every parameter, or only the common ones when the
     * caller's travel in the body. */
    if (r->form_body) {
      put_sorted(&url, query, ncommon, out->signature, NULL);
    } else { /* the canonical string with Signature in its place */
      km_buf_append(&url, canon.data, sig_at);
      if (sig_at > 0) km_buf_putc(&url, '&');
      km_buf_puts(&url, "Signature=");
      km_acs_percent_encode(&url, out->signature);
      if (sig_at == 0 && canon.len > 0) km_buf_putc(&url, '&');
      km_buf_append(&url, canon.data + sig_at, canon.len - sig_at);
    }
  }
  /* The canonical string can hold a SecurityToken: not secret-grade, but
   * cleanse it with the rest. */
  km_free_secret(km_buf_steal(&canon));
  free(all);
  free(query);
  if (rc < 0) {
    km_buf_free(&url);
    return km__err_set(err, rc, "HMAC-SHA1 failed");
  }
  out->url = km_buf_steal(&url);

  hdrs_t h = {NULL, 0};
  if (r->form_body && user != NULL) {
    km_buf_t body;
    km_buf_init(&body);
    km__acs_form_encode(&body, user);
    out->body_len = body.len;
    out->body = km_buf_steal(&body);
    hdr_add(&h, "content-type", "application/x-www-form-urlencoded");
  }
  hdr_add(&h, "accept", "application/json");
  if (r->user_agent != NULL) hdr_add(&h, "user-agent", r->user_agent);
  out->headers = h.v;
  out->nheaders = h.n;
  return 0;
}

static int sign_v3(const km_acs_request_t *r, const km_credential_t *cred,
                   const char *method, const char *nonce, const char *ts,
                   km_signed_request_t *out, km_err_t *err) {
  const km_params_t *user = r->params;
  km_buf_t q, body;
  km_buf_init(&q);
  km_buf_init(&body);
  if (user != NULL) {
    if (r->form_body)
      km__acs_form_encode(&body, user);
    else
      append_sorted_query(&q, user);
  }
  char payload_hash[65];
  km__acs_sha256_hex(body.data != NULL ? body.data : "", body.len,
                     payload_hash);

  /* Signed headers, lowercase names.  Host is signed but not emitted: the
   * transport derives it from the URL, which always names the real host. */
  hdrs_t sh = {NULL, 0};
  hdr_add(&sh, "host", r->host);
  hdr_add(&sh, "x-acs-action", r->action);
  hdr_add(&sh, "x-acs-version", r->version);
  hdr_add(&sh, "x-acs-date", ts);
  hdr_add(&sh, "x-acs-signature-nonce", nonce);
  hdr_add(&sh, "x-acs-content-sha256", payload_hash);
  if (cred->security_token != NULL && cred->security_token[0] != '\0') {
    hdr_add(&sh, "x-acs-accesskey-id", cred->access_key_id);
    hdr_add(&sh, "x-acs-security-token", cred->security_token);
  }
  if (body.len > 0 || (r->form_body && user != NULL))
    hdr_add(&sh, "content-type", "application/x-www-form-urlencoded");
  qsort(sh.v, sh.n, sizeof(*sh.v), cmp_hdr);

  km_buf_t cr, signed_names;
  km_buf_init(&cr);
  km_buf_init(&signed_names);
  km_buf_printf(&cr, "%s\n/\n%s\n", method, q.data != NULL ? q.data : "");
  for (size_t i = 0; i < sh.n; i++) {
    km_buf_printf(&cr, "%s:%s\n", sh.v[i].name, sh.v[i].value);
    if (i > 0) km_buf_putc(&signed_names, ';');
    km_buf_puts(&signed_names, sh.v[i].name);
  }
  km_buf_printf(&cr, "\n%s\n%s", signed_names.data, payload_hash);
  out->string_to_sign = km_buf_steal(&cr);

  int rc = v3_signature(out->string_to_sign, cred, r->key, &out->signature);
  if (rc < 0) {
    km_buf_free(&q);
    km_buf_free(&body);
    km_buf_free(&signed_names);
    for (size_t i = 0; i < sh.n; i++) {
      free((char *)sh.v[i].name);
      km_free_secret((char *)sh.v[i].value);
    }
    free(sh.v);
    return km__err_set(err, rc, "HMAC-SHA256 failed");
  }

  /* Emit everything but host, then the unsigned extras. */
  hdrs_t h = {NULL, 0};
  for (size_t i = 0; i < sh.n; i++) {
    if (strcmp(sh.v[i].name, "host") != 0)
      hdr_add(&h, sh.v[i].name, sh.v[i].value);
    free((char *)sh.v[i].name);
    km_free_secret((char *)sh.v[i].value);
  }
  free(sh.v);
  char *auth = km_xasprintf(
      "ACS3-HMAC-SHA256 Credential=%s,SignedHeaders=%s,Signature=%s",
      cred->access_key_id, signed_names.data, out->signature);
  hdr_add(&h, "authorization", auth);
  free(auth);
  km_buf_free(&signed_names);
  hdr_add(&h, "accept", "application/json");
  if (r->user_agent != NULL) hdr_add(&h, "user-agent", r->user_agent);
  out->headers = h.v;
  out->nheaders = h.n;

  out->url = km_xasprintf("https://%s/%s%s", r->host, q.len > 0 ? "?" : "",
                          q.data != NULL ? q.data : "");
  km_buf_free(&q);
  if (body.len > 0) {
    out->body_len = body.len;
    out->body = km_buf_steal(&body);
  } else {
    km_buf_free(&body);
  }
  return 0;
}

int km_acs_sign(const km_acs_request_t *r, const km_credential_t *cred,
                km_signed_request_t *out, km_err_t *err) {
  memset(out, 0, sizeof(*out));
  if (r == NULL || cred == NULL)
    return km__err_set(err, KM_EINVAL, "no request or credential to sign");
  const char *method = r->method != NULL ? r->method : "POST";
  if (strcmp(method, "POST") != 0 && strcmp(method, "GET") != 0)
    return km__err_set(err, KM_EINVAL, "method must be GET or POST");
  if (r->form_body && strcmp(method, "GET") == 0)
    return km__err_set(err, KM_EINVAL, "a GET request cannot carry a body");
  if (!safe_token(r->host, ".-") || !safe_token(r->action, "") ||
      !safe_token(r->version, "-"))
    return km__err_set(err, KM_EINVAL,
                       "host, action or version missing or malformed");
  if (cred->access_key_id == NULL || cred->access_key_id[0] == '\0' ||
      cred->access_key_secret == NULL || cred->access_key_secret[0] == '\0')
    return km__err_set(err, KM_ECREDS, "AccessKey id or secret is empty");
  if (!safe_value(cred->access_key_id) ||
      (cred->security_token != NULL && !safe_value(cred->security_token)) ||
      (r->user_agent != NULL && !safe_value(r->user_agent)))
    return km__err_set(err, KM_EINVAL,
                       "control characters in a credential or user agent");
  char nonce_buf[33], ts_buf[21];
  const char *nonce = r->nonce;
  if (nonce == NULL) {
    km_acs_nonce(nonce_buf);
    nonce = nonce_buf;
  }
  const char *ts = r->timestamp;
  if (ts == NULL) {
    km_iso8601((int64_t)time(NULL), ts_buf);
    ts = ts_buf;
  }
  if (!safe_value(nonce) || !safe_value(ts))
    return km__err_set(err, KM_EINVAL, "malformed nonce or timestamp");
  out->method = km_xstrdup(method);
  km_sigver_t v = r->sigver == 0 ? KM_SIG_V3 : r->sigver;
  int rc;
  if (v == KM_SIG_V1)
    rc = sign_v1(r, cred, method, nonce, ts, out, err);
  else if (v == KM_SIG_V3)
    rc = sign_v3(r, cred, method, nonce, ts, out, err);
  else
    rc = km__err_set(err, KM_EINVAL, "unknown signature version %d", (int)v);
  if (rc < 0) km_signed_request_free(out);
  return rc;
}

void km_signed_request_free(km_signed_request_t *s) {
  if (s == NULL) return;
  free(s->method);
  /* URL, body and headers can carry a SecurityToken or secret values. */
  km_free_secret(s->url);
  if (s->body != NULL) {
    OPENSSL_cleanse(s->body, s->body_len);
    free(s->body);
  }
  for (size_t i = 0; i < s->nheaders; i++) {
    free((char *)s->headers[i].name);
    km_free_secret((char *)s->headers[i].value);
  }
  free(s->headers);
  km_free_secret(s->string_to_sign);
  free(s->signature);
  memset(s, 0, sizeof(*s));
}
