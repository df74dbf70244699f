/* Request authentication, implemented independently of kmsmig's signer so a
 * client canonicalisation bug cannot hide behind shared code: V1 (HMAC-SHA1
 * over the received parameters) and V3 (ACS3-HMAC-SHA256 over the canonical
 * request rebuilt from the method, path, query and signed headers exactly as
 * received), timestamp skew, nonce replay, AccessKey lookup and STS tokens.
 * Skew is checked against the real clock (clients sign with it); token
 * expiry against kmsim's clock so POST /_kmsim/clock can expire them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include "state.h"

#define KSIM_SKEW_S (15 * 60)

void ksim_percent_encode(km_buf_t *out, const char *s, size_t n) {
  static const char hex[] = "0123456789ABCDEF";
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
        (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' ||
        c == '~') {
      km_buf_putc(out, (char)c);
    } else {
      char e[3] = {'%', hex[c >> 4], hex[c & 15]};
      km_buf_append(out, e, 3);
    }
  }
}

static void penc(km_buf_t *out, const char *s) {
  ksim_percent_encode(out, s, strlen(s));
}

static int kv_cmp(const void *a, const void *b) {
  const ksim_kv_t *x = *(ksim_kv_t *const *)a, *y = *(ksim_kv_t *const *)b;
  int r = strcmp(x->name, y->name);
  return r != 0 ? r : strcmp(x->value, y->value);
}

/* Sorted pointers into params, skipping `skip` (may be NULL). */
static ksim_kv_t **sorted(const ksim_kvs_t *params, const char *skip,
                          size_t *n) {
  ksim_kv_t **v = km_xcalloc(params->n + 1, sizeof(*v));
  size_t k = 0;
  for (size_t i = 0; i < params->n; i++)
    if (skip == NULL || strcmp(params->v[i].name, skip) != 0)
      v[k++] = &params->v[i];
  qsort(v, k, sizeof(*v), kv_cmp);
  *n = k;
  return v;
}

char *ksim_v1_string_to_sign(const char *method, const ksim_kvs_t *params) {
  size_t n;
  ksim_kv_t **v = sorted(params, "Signature", &n);
  km_buf_t canon, out;
  km_buf_init(&canon);
  km_buf_init(&out);
  for (size_t i = 0; i < n; i++) {
    if (i > 0) km_buf_putc(&canon, '&');
    penc(&canon, v[i]->name);
    km_buf_putc(&canon, '=');
    penc(&canon, v[i]->value);
  }
  free(v);
  km_buf_puts(&out, method);
  km_buf_puts(&out, "&%2F&");
  ksim_percent_encode(&out, canon.data, canon.len);
  km_buf_free(&canon);
  return km_buf_steal(&out);
}

static char *b64(const unsigned char *p, size_t n) {
  char *out = km_xmalloc(4 * ((n + 2) / 3) + 1);
  EVP_EncodeBlock((unsigned char *)out, p, (int)n);
  return out;
}

char *ksim_v1_signature(const char *secret, const char *string_to_sign) {
  char *key = km_xasprintf("%s&", secret);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha1(), key, (int)strlen(key), (const unsigned char *)string_to_sign,
       strlen(string_to_sign), mac, &len);
  km_free_secret(key);
  return b64(mac, len);
}

static void hex(const unsigned char *p, size_t n, char *out) {
  static const char h[] = "0123456789abcdef";
  for (size_t i = 0; i < n; i++) {
    out[2 * i] = h[p[i] >> 4];
    out[2 * i + 1] = h[p[i] & 15];
  }
  out[2 * n] = '\0';
}

void ksim_sha256_hex(const void *data, size_t n, char out[65]) {
  unsigned char d[SHA256_DIGEST_LENGTH];
  SHA256(data, n, d);
  hex(d, sizeof(d), out);
}

static char *trim_dup(const char *s) {
  while (*s == ' ' || *s == '\t')
    s++;
  size_t n = strlen(s);
  while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
    n--;
  return km_xstrndup(s, n);
}

static const char *header(const ksim_kvs_t *h, const char *lname) {
  return ksim_kvs_get(h, lname);
}

char *ksim_v3_canonical_request(const char *method, const char *path,
                                const ksim_kvs_t *query,
                                const ksim_kvs_t *headers,
                                const char *signed_headers,
                                const char *payload_hash) {
  km_buf_t b;
  km_buf_init(&b);
  km_buf_puts(&b, method);
  km_buf_putc(&b, '\n');
  km_buf_puts(&b, path != NULL && path[0] != '\0' ? path : "/");
  km_buf_putc(&b, '\n');
  size_t n;
  ksim_kv_t **v = sorted(query, NULL, &n);
  for (size_t i = 0; i < n; i++) {
    if (i > 0) km_buf_putc(&b, '&');
    penc(&b, v[i]->name);
    km_buf_putc(&b, '=');
    penc(&b, v[i]->value);
  }
  free(v);
  km_buf_putc(&b, '\n');
  /* Canonical headers: those named in SignedHeaders, in that (sorted)
   * order, values as received and trimmed. */
  char *list = km_xstrdup(signed_headers != NULL ? signed_headers : "");
  char *save = NULL;
  for (char *t = strtok_r(list, ";", &save); t != NULL;
       t = strtok_r(NULL, ";", &save)) {
    const char *val = header(headers, t);
    char *tv = trim_dup(val != NULL ? val : "");
    km_buf_printf(&b, "%s:%s\n", t, tv);
    free(tv);
  }
  free(list);
  km_buf_putc(&b, '\n');
  km_buf_puts(&b, signed_headers != NULL ? signed_headers : "");
  km_buf_putc(&b, '\n');
  km_buf_puts(&b, payload_hash);
  return km_buf_steal(&b);
}

char *ksim_v3_string_to_sign(const char *canonical) {
  char h[65];
  ksim_sha256_hex(canonical, strlen(canonical), h);
  return km_xasprintf("ACS3-HMAC-SHA256\n%s", h);
}

char *ksim_v3_signature(const char *secret, const char *string_to_sign) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), secret, (int)strlen(secret),
       (const unsigned char *)string_to_sign, strlen(string_to_sign), mac,
       &len);
  char *out = km_xmalloc(2 * len + 1);
  hex(mac, len, out);
  return out;
}

/* Constant-time comparison so the verifier leaks nothing about secrets. */
static bool same(const char *a, const char *b) {
  size_t na = strlen(a), nb = strlen(b);
  unsigned char d = (unsigned char)(na != nb);
  for (size_t i = 0; i < na && i < nb; i++)
    d |= (unsigned char)(a[i] ^ b[i]);
  return d == 0;
}

/* Parses the V3 Authorization header into its three parts (new strings). */
static int parse_authorization(const char *auth, char **cred, char **sh,
                               char **sig) {
  const char *p = auth + strlen("ACS3-HMAC-SHA256");
  *cred = *sh = *sig = NULL;
  char *copy = km_xstrdup(p), *save = NULL;
  for (char *t = strtok_r(copy, ",", &save); t != NULL;
       t = strtok_r(NULL, ",", &save)) {
    while (*t == ' ')
      t++;
    char *eq = strchr(t, '=');
    if (eq == NULL) continue;
    *eq = '\0';
    char *val = trim_dup(eq + 1);
    if (strcmp(t, "Credential") == 0 && *cred == NULL)
      *cred = val;
    else if (strcmp(t, "SignedHeaders") == 0 && *sh == NULL)
      *sh = val;
    else if (strcmp(t, "Signature") == 0 && *sig == NULL)
      *sig = val;
    else
      free(val);
  }
  free(copy);
  if (*cred == NULL || *sh == NULL || *sig == NULL) {
    free(*cred);
    free(*sh);
    free(*sig);
    *cred = *sh = *sig = NULL;
    return -1;
  }
  return 0;
}

static int check_time(ksim_resp_t *resp, const char *ts) {
  int64_t t;
  if (km_parse_iso8601(ts, &t) != 0)
    return ksim_fail(resp, "InvalidTimeStamp.Format",
                     "Specified time stamp or date value is not well "
                     "formatted.");
  int64_t now = ksim_wall_now();
  if (t < now - KSIM_SKEW_S || t > now + KSIM_SKEW_S)
    return ksim_fail(resp, "InvalidTimeStamp.Expired",
                     "Specified time stamp or date value is expired.");
  return 0;
}

/* Resolves the AccessKeyId; STS keys need a live matching token. */
static int lookup_key(ksim_req_t *req, ksim_resp_t *resp, const char *ak,
                      const char *token, const char **secret) {
  ksim_cloud_t *c = req->cloud;
  if (strncmp(ak, "STS.", 4) == 0) {
    ksim_sts_cred_t *s = ksim_map_get(&c->sts_index, ak);
    if (s == NULL)
      return ksim_fail(resp, "InvalidAccessKeyId.NotFound",
                       "Specified access key is not found.");
    if (token == NULL || token[0] == '\0')
      return ksim_fail(resp, "MissingSecurityToken",
                       "SecurityToken is mandatory for this action.");
    if (!same(token, s->token))
      return ksim_fail(resp, "InvalidSecurityToken.MismatchWithAccessKey",
                       "Specified SecurityToken mismatch with the "
                       "AccessKey.");
    if (req->now >= s->expires)
      return ksim_fail(resp, "InvalidSecurityToken.Expired",
                       "Specified SecurityToken is expired.");
    req->account = ksim_account_by_id(c, s->account);
    req->via_sts = true;
    *secret = s->secret;
  } else {
    req->account = ksim_account_by_ak(c, ak, secret);
    if (req->account == NULL)
      return ksim_fail(resp, "InvalidAccessKeyId.NotFound",
                       "Specified access key is not found.");
  }
  if (req->account == NULL)
    return ksim_fail(resp, "InvalidAccessKeyId.NotFound",
                     "Specified access key is not found.");
  snprintf(req->access_key_buf, sizeof(req->access_key_buf), "%s", ak);
  req->access_key_id = req->access_key_buf;
  return 0;
}

static int auth_v1(ksim_req_t *req, ksim_resp_t *resp) {
  /* V1 signs every parameter, query and form alike. */
  ksim_kvs_t all = {0};
  for (size_t i = 0; i < req->query.n; i++)
    ksim_kvs_add(&all, req->query.v[i].name, req->query.v[i].value);
  for (size_t i = 0; i < req->form.n; i++)
    ksim_kvs_add(&all, req->form.v[i].name, req->form.v[i].value);
  int rc = -1;
  char *sts = NULL, *sig = NULL;
  static const char *const required[] = {"AccessKeyId", "SignatureNonce",
                                         "Timestamp", "Signature"};
  for (size_t i = 0; i < KM_ARRAY_SIZE(required); i++)
    if (ksim_kvs_get(&all, required[i]) == NULL) {
      ksim_fail_missing(resp, required[i]);
      goto out;
    }
  const char *m = ksim_kvs_get(&all, "SignatureMethod");
  if (m != NULL && strcmp(m, "HMAC-SHA1") != 0) {
    ksim_fail(resp, "InvalidParameter",
              "The specified parameter \"SignatureMethod\" is not valid.");
    goto out;
  }
  const char *sv = ksim_kvs_get(&all, "SignatureVersion");
  if (sv != NULL && strcmp(sv, "1.0") != 0) {
    ksim_fail_invalid(resp, "SignatureVersion");
    goto out;
  }
  if (check_time(resp, ksim_kvs_get(&all, "Timestamp")) < 0) goto out;
  const char *secret = NULL;
  const char *ak = ksim_param(req, "AccessKeyId");
  if (lookup_key(req, resp, ak, ksim_param(req, "SecurityToken"), &secret) < 0)
    goto out;
  sts = ksim_v1_string_to_sign(req->method, &all);
  sig = ksim_v1_signature(secret, sts);
  if (!same(sig, ksim_kvs_get(&all, "Signature"))) {
    ksim_fail(resp, "SignatureDoesNotMatch",
              "Specified signature is not matched with our calculation. "
              "server string to sign is:%s",
              sts);
    goto out;
  }
  if (!ksim_nonce_check(req->cloud, ak, ksim_kvs_get(&all, "SignatureNonce"),
                        ksim_wall_now())) {
    ksim_fail(resp, "SignatureNonceUsed",
              "Specified signature nonce was used already.");
    goto out;
  }
  rc = 0;
out:
  free(sts);
  free(sig);
  ksim_kvs_free(&all);
  return rc;
}

static int auth_v3(ksim_req_t *req, ksim_resp_t *resp) {
  const char *auth = header(&req->headers, "authorization");
  char *cred = NULL, *sh = NULL, *sig = NULL, *canon = NULL, *sts = NULL,
       *mine = NULL;
  int rc = -1;
  if (parse_authorization(auth, &cred, &sh, &sig) < 0) {
    ksim_fail(resp, "IncompleteSignature",
              "The request signature does not conform to Aliyun standards.");
    goto out;
  }
  /* host must be signed, and so must every x-acs- header sent */
  char *shl = km_xasprintf(";%s;", sh);
  bool ok = strstr(shl, ";host;") != NULL;
  for (size_t i = 0; ok && i < req->headers.n; i++) {
    const char *name = req->headers.v[i].name;
    if (strncmp(name, "x-acs-", 6) == 0) {
      char *needle = km_xasprintf(";%s;", name);
      ok = strstr(shl, needle) != NULL;
      free(needle);
    }
  }
  free(shl);
  if (!ok) {
    ksim_fail(resp, "IncompleteSignature",
              "The request signature does not conform to Aliyun standards: "
              "host and every x-acs-* header must be signed.");
    goto out;
  }
  static const char *const required[] = {"x-acs-date", "x-acs-signature-nonce"};
  for (size_t i = 0; i < KM_ARRAY_SIZE(required); i++)
    if (header(&req->headers, required[i]) == NULL) {
      ksim_fail_missing(resp, required[i]);
      goto out;
    }
  if (check_time(resp, header(&req->headers, "x-acs-date")) < 0) goto out;
  char body_hash[65];
  ksim_sha256_hex(req->body != NULL ? req->body : "", req->body_len, body_hash);
  const char *claimed = header(&req->headers, "x-acs-content-sha256");
  if (claimed != NULL && strcasecmp(claimed, body_hash) != 0) {
    ksim_fail(resp, "ContentSHA256NotMatched",
              "The x-acs-content-sha256 header does not match the request "
              "body.");
    goto out;
  }
  const char *secret = NULL;
  if (lookup_key(req, resp, cred, header(&req->headers, "x-acs-security-token"),
                 &secret) < 0)
    goto out;
  canon = ksim_v3_canonical_request(req->method, req->path, &req->query,
                                    &req->headers, sh,
                                    claimed != NULL ? claimed : body_hash);
  sts = ksim_v3_string_to_sign(canon);
  mine = ksim_v3_signature(secret, sts);
  if (!same(mine, sig)) {
    ksim_fail(resp, "SignatureDoesNotMatch",
              "Specified signature is not matched with our calculation. "
              "server string to sign is:%s",
              sts);
    goto out;
  }
  if (!ksim_nonce_check(req->cloud, req->access_key_id,
                        header(&req->headers, "x-acs-signature-nonce"),
                        ksim_wall_now())) {
    ksim_fail(resp, "SignatureNonceUsed",
              "Specified signature nonce was used already.");
    goto out;
  }
  rc = 0;
out:
  if (rc < 0) req->access_key_id = NULL;
  free(cred);
  free(sh);
  free(sig);
  free(canon);
  free(sts);
  free(mine);
  return rc;
}

int ksim_authenticate(ksim_req_t *req, ksim_resp_t *resp) {
  const char *auth = header(&req->headers, "authorization");
  if (auth != NULL && strncmp(auth, "ACS3-HMAC-SHA256", 16) == 0) {
    req->sigver = 3;
    return auth_v3(req, resp);
  }
  if (auth != NULL && ksim_param(req, "Signature") == NULL)
    return ksim_fail(resp, "IncompleteSignature",
                     "The request signature does not conform to Aliyun "
                     "standards.");
  req->sigver = 1;
  return auth_v1(req, resp);
}
