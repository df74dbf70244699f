/* The cloud's error model (reference §5 and §9): an error body comes either
 * in the POP gateway shape {RequestId, HostId, Code, Message, Recommend} or
 * in the KMS-native shape {HttpStatus, Code, Message, RequestId}; both are
 * read into a km_err_t, and failures are classified as throttling (back
 * off and tell the rate limiter) and/or retryable.
 *
 * One trap: SignatureDoesNotMatch echoes the server's StringToSign, which
 * for V1 contains the SecurityToken.  The echo is cut out of the message
 * before it can reach err->text (and so any log or report); the client
 * compares it with its own StringToSign instead (km__acs_server_sts). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acs/acs.h"
#include "util/util.h"

#define SERVER_STS_MARK "server string to sign is:"

static const char *const throttling_codes[] = {
    "Throttling",
    "Throttling.User",
    "Throttling.Api",
    "Rejected.Throttling",
};

/* Besides throttling: transient server-side conditions the SDKs retry
 * (backoff utils: ServiceUnavailableTemporary, InternalFailure; the KMS doc
 * spells the first one "SerivceUnavailableTemporary" once), and a replayed
 * nonce, which a new attempt (with a fresh nonce) cures. */
static const char *const retryable_codes[] = {
    "ServiceUnavailableTemporary",
    "SerivceUnavailableTemporary",
    "ServiceUnavailable",
    "InternalFailure",
    "InternalError",
    "SignatureNonceUsed",
};

int km_acs_is_throttling(const char *cloud_code) {
  if (cloud_code == NULL || cloud_code[0] == '\0') return 0;
  for (size_t i = 0; i < KM_ARRAY_SIZE(throttling_codes); i++)
    if (strcmp(cloud_code, throttling_codes[i]) == 0) return 1;
  /* Gateways grow new flow-control sub-codes (Throttling.<x>). */
  return strncmp(cloud_code, "Throttling.", 11) == 0;
}

int km_acs_is_retryable(int status, long http_status, const char *cloud_code) {
  if (status == KM_EHTTP || status == KM_ETIMEDOUT || status == KM_ETHROTTLED)
    return 1;
  if (km_acs_is_throttling(cloud_code)) return 1;
  for (size_t i = 0; cloud_code != NULL && i < KM_ARRAY_SIZE(retryable_codes);
       i++)
    if (strcmp(cloud_code, retryable_codes[i]) == 0) return 1;
  return http_status >= 500 || http_status == 429;
}

static const char *jstr(json_t *o, const char *a, const char *b) {
  const char *s = json_string_value(json_object_get(o, a));
  if (s == NULL && b != NULL) s = json_string_value(json_object_get(o, b));
  return s;
}

static void copy(char *dst, size_t n, const char *src) {
  snprintf(dst, n, "%s", src != NULL ? src : "");
}

/* Codes and request ids go into fixed fields and logs: keep them printable
 * and short, whatever the server sent. */
static int printable(const char *s) {
  for (const unsigned char *c = (const unsigned char *)s; *c != '\0'; c++)
    if (*c < 0x20 || *c >= 0x7f) return 0;
  return 1;
}

int km_acs_parse_error(long http_status, const char *body, size_t len,
                       const char *host, km_err_t *err) {
  json_error_t jerr;
  json_t *root = body != NULL ? json_loadb(body, len, 0, &jerr) : NULL;
  const char *code = NULL, *msg = NULL, *rid = NULL, *recommend = NULL;
  if (json_is_object(root)) {
    code = jstr(root, "Code", "code");
    msg = jstr(root, "Message", "message");
    rid = jstr(root, "RequestId", "requestId");
    recommend = jstr(root, "Recommend", NULL);
    json_t *hs = json_object_get(root, "HttpStatus");
    if (http_status == 0 && json_is_integer(hs))
      http_status = (long)json_integer_value(hs);
  }
  if (code != NULL && !printable(code)) code = NULL;
  if (rid != NULL && !printable(rid)) rid = NULL;

  int rc = km_acs_is_throttling(code) || (code == NULL && http_status == 429)
               ? KM_ETHROTTLED
               : KM_ECLOUD;
  if (err != NULL) {
    km__err_clear(err);
    err->code = rc;
    err->http_status = (int)http_status;
    copy(err->where, sizeof(err->where), host);
    copy(err->cloud_code, sizeof(err->cloud_code), code);
    copy(err->request_id, sizeof(err->request_id), rid);
    if (code != NULL) {
      /* Keep the message up to the echoed StringToSign, if any. */
      size_t mlen = msg != NULL ? strlen(msg) : 0;
      const char *cut = msg != NULL ? strstr(msg, SERVER_STS_MARK) : NULL;
      if (cut != NULL) mlen = (size_t)(cut - msg);
      while (mlen > 0 && (msg[mlen - 1] == ' ' || msg[mlen - 1] == '.'))
        mlen--;
      if (mlen > 300) mlen = 300;
      snprintf(err->text, sizeof(err->text), "%s: %.*s (HTTP %ld%s%s)%s%.*s",
               code, (int)mlen, msg != NULL ? msg : "", http_status,
               rid != NULL ? ", RequestId " : "", rid != NULL ? rid : "",
               recommend != NULL ? " see " : "", recommend != NULL ? 150 : 0,
               recommend != NULL ? recommend : "");
    } else {
      snprintf(err->text, sizeof(err->text),
               "HTTP %ld from %s without an error code in the body%s",
               http_status, host != NULL ? host : "?",
               json_is_object(root) ? "" : " (not JSON)");
    }
  }
  /* The message goes to terminals and logs: clean it at the edge. */
  if (err != NULL) km_text_clean(err->text, err->text, sizeof(err->text));
  json_decref(root);
  return rc;
}

char *km__acs_server_sts(const char *body, size_t len) {
  json_t *root = json_loadb(body, len, 0, NULL);
  const char *msg = jstr(root, "Message", "message");
  const char *p = msg != NULL ? strstr(msg, SERVER_STS_MARK) : NULL;
  char *out = p != NULL ? km_xstrdup(p + strlen(SERVER_STS_MARK)) : NULL;
  json_decref(root);
  return out;
}
