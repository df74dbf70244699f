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
#include <stdarg.h>
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
      /* The RequestId is named once: the Recommend link repeats it as a
       * query parameter, which is cut off (the page does not need it). */
      size_t rlen = recommend != NULL ? strlen(recommend) : 0;
      const char *rq =
          recommend != NULL ? strstr(recommend, "&requestId=") : NULL;
      if (rq != NULL) rlen = (size_t)(rq - recommend);
      if (rlen > 150) rlen = 150;
      snprintf(err->text, sizeof(err->text), "%s: %.*s (HTTP %ld%s%s)%s%.*s",
               code, (int)mlen, msg != NULL ? msg : "", http_status,
               rid != NULL ? ", RequestId " : "", rid != NULL ? rid : "",
               recommend != NULL ? " see " : "", (int)rlen,
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

/* Codes with which STS and the gateways refuse a temporary credential that
 * expired or was revoked: a new AssumeRole cures them.  The gateway also
 * answers InvalidParameter with "SecurityToken.Expired" in the message, and
 * InvalidAccessKeyId.NotFound once the temporary key itself is gone. */
int km_acs_is_token_refused(const km_err_t *err, int sts_key) {
  if (err == NULL || err->cloud_code[0] == '\0') return 0;
  const char *c = err->cloud_code;
  if (strncmp(c, "InvalidSecurityToken", 20) == 0) return 1;
  if (strcmp(c, "SecurityTokenExpired") == 0 ||
      strcmp(c, "InvalidAccessKeyId.Expired") == 0)
    return 1;
  if (strcmp(c, "InvalidParameter") == 0 &&
      strstr(err->text, "SecurityToken.Expired") != NULL)
    return 1;
  return sts_key && strcmp(c, "InvalidAccessKeyId.NotFound") == 0;
}

static int is_clock_code(const char *c) {
  return strncmp(c, "InvalidTimeStamp", 16) == 0 ||
         strcmp(c, "IllegalTimestamp") == 0 ||
         strcmp(c, "RequestTimeTooSkewed") == 0;
}

/* Appends "; " and the fix to err->text, unless the text is full. */
static void append(km_err_t *err, const char *fmt, ...) KM_PRINTF(2, 3);
static void append(km_err_t *err, const char *fmt, ...) {
  size_t n = strlen(err->text);
  if (n + 3 >= sizeof(err->text)) return;
  snprintf(err->text + n, sizeof(err->text) - n, "; ");
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err->text + n + 2, sizeof(err->text) - n - 2, fmt, ap);
  va_end(ap);
}

void km_acs_add_hint(km_err_t *err, const char *owner, const char *address,
                     int sts_key) {
  if (err == NULL) return;
  const char *c = err->cloud_code;
  const char *who = owner != NULL ? owner : "the account that made the call";
  if (strcmp(c, "SignatureDoesNotMatch") == 0 && !sts_key) {
    append(err,
           "check the AccessKey secret of %s: it does not belong to "
           "its AccessKey id",
           who);
  } else if (strcmp(c, "InvalidAccessKeyId.NotFound") == 0 && !sts_key) {
    append(err, "check the AccessKey id of %s: the cloud does not know it",
           who);
  } else if (strcmp(c, "InvalidAccessKeyId.Inactive") == 0 && !sts_key) {
    append(err,
           "the AccessKey of %s is disabled: enable it in the RAM "
           "console or give another",
           who);
  } else if (is_clock_code(c)) {
    append(err, "check this machine's clock: a request must be signed "
                "within 15 minutes of the cloud's time (enable NTP)");
  } else if (c[0] == '\0' && err->http_status == 0 &&
             (err->code == KM_EHTTP || err->code == KM_ETIMEDOUT ||
              err->code == KM_ETLS || err->code == KM_EDEADLINE)) {
    if (address != NULL)
      append(err,
             "check the endpoint %s and its address %s "
             "(endpoints.overrides in the manifest): is it right and "
             "reachable from this machine?",
             err->where, address);
    else
      append(err,
             "check the endpoint %s: is the name right, and can this "
             "machine reach it (DNS, firewall, proxy)?",
             err->where);
  }
}
