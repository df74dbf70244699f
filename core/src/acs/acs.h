/* Alibaba Cloud style-RPC client: parameters, endpoints, both request
 * signatures (V1 HMAC-SHA1 and V3 ACS3-HMAC-SHA256), the error model, retries
 * with full-jitter exponential backoff under an overall deadline, and the
 * asynchronous call that ties them to the HTTP transport (http/http.h).
 *
 * Secrets: a km_credential_t's secret and token are used to sign and never
 * copied into errors, logs or debug strings.
 */
#ifndef KM_ACS_H
#define KM_ACS_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <uv.h>

#include "http/http.h"
#include "kmsmig/errors.h"
#include "util/util.h"

/* ---- Parameters: an ordered list of key/value strings (both owned). ---- */
typedef struct km_param_s {
  char *key;
  char *value;
} km_param_t;

typedef struct km_params_s {
  km_param_t *v;
  size_t n;
  size_t cap;
} km_params_t;

void km_params_init(km_params_t *p);
void km_params_free(km_params_t *p);
/* Copies key and value.  Adding a key that exists replaces its value. */
void km_params_set(km_params_t *p, const char *key, const char *value);
void km_params_setf(km_params_t *p, const char *key, const char *fmt, ...)
    KM_PRINTF(3, 4);
/* 1-based flattening of a list: prefix.1, prefix.2, ... (ResourceId.N). */
void km_params_set_list(km_params_t *p, const char *prefix,
                        const char *const *values, size_t n);
/* Borrowed value or NULL. */
const char *km_params_get(const km_params_t *p, const char *key);

/* Internal: appends the params in insertion order as a form body, encoded
 * like Node's querystring (the SDK's toForm), so bodies match the SDK's. */
void km__acs_form_encode(km_buf_t *b, const km_params_t *p);
/* Internal: an owned array of borrowed pointers to p's entries sorted by
 * key in byte order (free() the array only). */
const km_param_t **km__acs_params_sorted(const km_params_t *p);

/* ---- Products and endpoints ---- */
typedef enum {
  KM_PRODUCT_KMS = 0,
  KM_PRODUCT_STS,
  KM_PRODUCT_RESOURCEMANAGER,
  KM_PRODUCT_RESOURCESHARING,
  KM_PRODUCT_CMS,
  KM_PRODUCT_ACTIONTRAIL,
  KM_PRODUCT__COUNT
} km_product_t;

/* "kms", "sts", "resourcemanager", "resourcesharing", "cms", "actiontrail". */
const char *km_product_name(km_product_t p);
int km_product_from_name(const char *name, km_product_t *out);
/* API version string, e.g. "2016-01-20" for KMS. */
const char *km_product_version(km_product_t p);
/* The real host name: kms.<region>.aliyuncs.com, sts.aliyuncs.com,
 * resourcemanager.aliyuncs.com, resourcesharing.<region>.aliyuncs.com,
 * metrics.<region>.aliyuncs.com, actiontrail.<region>.aliyuncs.com.
 * Writes into out (size n); returns 0 or KM_EINVAL (bad region / too long). */
int km_product_host(km_product_t p, const char *region, char *out, size_t n);
/* 1 when region is a plausible region id: lowercase letters, digits and
 * single '-' between them, at most 64 characters. */
int km_region_valid(const char *region);

/* ---- Signing ---- */
typedef enum { KM_SIG_V1 = 1, KM_SIG_V3 = 3 } km_sigver_t;

/* Keyed HMAC contexts of one AccessKey secret (acs/sign_key.c): made once
 * per credential and reused for every signature, instead of keying a new
 * HMAC per call.  Key material: free it (cleansed) when the credential is no
 * longer used.  Not thread-safe: one loop thread signs with it. */
typedef struct km_sign_key_s km_sign_key_t;

/* *out owned (km_sign_key_free), or KM_EINVAL for an empty secret or a
 * libcrypto failure.  secret borrowed and not kept. */
int km_sign_key_new(const char *secret, km_sign_key_t **out);
void km_sign_key_free(km_sign_key_t *k);

/* Borrowed strings; security_token may be NULL. */
typedef struct km_credential_s {
  const char *access_key_id;
  const char *access_key_secret;
  const char *security_token;
} km_credential_t;

/* A fresh nonce: 32 lowercase hex digits (128 bits) from a per-process
 * AES-128-CTR stream keyed once from the OS CSPRNG: never repeats within a
 * process, unpredictable without the key (acs/sign_key.c).  Thread-safe. */
void km_acs_nonce(char out[33]);

typedef struct km_acs_request_s {
  const char *method;  /* "POST" (default when NULL) or "GET" */
  const char *host;    /* real host name, used in the Host header */
  const char *action;  /* e.g. "DescribeKey" */
  const char *version; /* e.g. "2016-01-20" */
  const km_params_t *params;
  int form_body;          /* 1: params in an x-www-form-urlencoded body */
  km_sigver_t sigver;     /* 0 means KM_SIG_V3 */
  const char *nonce;      /* NULL: km_acs_nonce() */
  const char *timestamp;  /* NULL: now, "YYYY-MM-DDThh:mm:ssZ" */
  const char *user_agent; /* NULL: no User-Agent header (not signed) */
  /* Borrowed, may be NULL: the keyed contexts of the credential's secret
   * (km_sign_key_new of that very secret); NULL keys an HMAC per call. */
  km_sign_key_t *key;
} km_acs_request_t;

/* A signed request ready for km_http_request().  Everything owned; free with
 * km_signed_request_free().  string_to_sign is the V1 StringToSign or the V3
 * canonical request (no secret in either, but a SecurityToken may be in
 * both, and in url/headers: never log them).  headers has lowercase names
 * and no Host: the transport derives Host from url, which names the real
 * host (V3 signs it).  body is NULL when there is none. */
typedef struct km_signed_request_s {
  char *method;
  char *url; /* https://host/?query */
  char *body;
  size_t body_len;
  km_http_header_t *headers; /* names and values owned */
  size_t nheaders;
  char *string_to_sign;
  char *signature;
} km_signed_request_t;

int km_acs_sign(const km_acs_request_t *r, const km_credential_t *cred,
                km_signed_request_t *out, km_err_t *err);
void km_signed_request_free(km_signed_request_t *s);

/* RFC 3986 percent-encoding as the SDKs do it (A-Za-z0-9-_.~ kept, space
 * %20, '*' %2A, uppercase hex), appended to b. */
void km_acs_percent_encode(km_buf_t *b, const char *s);

/* Internal building blocks, exposed for the published test vectors.
 * km__acs_v1_string_to_sign: owned StringToSign of all (Signature skipped).
 * km__acs_v1_signature: *out owned Base64(HMAC-SHA1(secret + "&", sts)).
 * km__acs_v3_signature: *out owned hex(HMAC-SHA256(secret,
 *   "ACS3-HMAC-SHA256\n" + hex(SHA256(canonical_request)))).
 * km__acs_sha256_hex: lowercase hex digest into out. */
char *km__acs_v1_string_to_sign(const char *method, const km_params_t *all);
int km__acs_v1_signature(const char *string_to_sign, const char *secret,
                         char **out);
int km__acs_v3_signature(const char *canonical_request, const char *secret,
                         char **out);
void km__acs_sha256_hex(const void *data, size_t len, char out[65]);
/* Internal: HMAC of msg with k's context for v (V1: SHA-1 keyed with
 * "<secret>&", V3: SHA-256 keyed with the secret); out EVP_MAX_MD_SIZE. */
int km__sign_key_mac(km_sign_key_t *k, km_sigver_t v, const void *msg,
                     size_t len, unsigned char *out, unsigned int *outlen);

/* ---- Error model ---- */
/* Parses an error response (either body shape: Code/Message/RequestId/HostId/
 * Recommend or HttpStatus/Code/Message/RequestId) into err and returns
 * KM_ETHROTTLED for throttling codes, KM_ECLOUD otherwise. */
int km_acs_parse_error(long http_status, const char *body, size_t len,
                       const char *host, km_err_t *err);
/* 1 when a failure should be retried: throttling codes (Throttling,
 * Throttling.User, Throttling.Api, Rejected.Throttling),
 * ServiceUnavailableTemporary, InternalFailure, any 5xx, and transport
 * failures (status KM_EHTTP or KM_ETIMEDOUT). */
int km_acs_is_retryable(int status, long http_status, const char *cloud_code);
int km_acs_is_throttling(const char *cloud_code);
/* 1 when err (borrowed) says a temporary credential was refused because its
 * STS token expired or was revoked (InvalidSecurityToken.*, ...), so a new
 * AssumeRole and one more attempt can cure it.  sts_key: the call was signed
 * with a temporary (STS) AccessKey. */
int km_acs_is_token_refused(const km_err_t *err, int sts_key);
/* Appends the likely fix to err->text for the failures an operator fixes
 * outside kmsmig: a wrong AccessKey secret or id (naming owner, e.g.
 * "account mgmt"; NULL: unnamed), a clock too far off, an endpoint that
 * cannot be reached (address: the override's address, or NULL).  sts_key:
 * the call was signed with a temporary key (no AccessKey hint then: the
 * operator did not type that secret).  Other failures are left as they are. */
void km_acs_add_hint(km_err_t *err, const char *owner, const char *address,
                     int sts_key);
/* Internal: the StringToSign a SignatureDoesNotMatch message echoes (owned),
 * or NULL.  Compared with ours, never logged (it may hold a token). */
char *km__acs_server_sts(const char *body, size_t len);

/* ---- Retry policy ---- */
/* Retries are bounded by the call's deadline, not by a count: a short
 * outage of the service (every answer a 503, connections refused, time-outs)
 * costs a call its wait and nothing else, while the backoff step stays
 * capped so the call comes back within cap_ms of the service. */
#define KM_ACS_DEADLINE_MS 300000 /* a call's default overall deadline */

typedef struct km_retry_policy_s {
  int max_attempts;     /* 0 (default): no count, the deadline bounds the
                         * retries; N: at most N attempts that were not
                         * throttled (throttled ones retry until the
                         * deadline) */
  uint32_t base_ms;     /* 0: 200 */
  uint32_t cap_ms;      /* the longest backoff step; 0: 10000 */
  uint64_t deadline_ms; /* overall budget from the first attempt; 0: 300000 */
} km_retry_policy_t;

/* Full jitter: uniform in [0, min(cap, base * 2^attempt)].  attempt counts
 * from 0 for the first retry.  rng is caller state (xorshift). */
uint32_t km_retry_backoff_ms(const km_retry_policy_t *p, int attempt,
                             uint64_t *rng);
/* Internal: p (may be NULL) with zero fields replaced by the defaults. */
void km__retry_defaults(const km_retry_policy_t *p, km_retry_policy_t *out);

/* Whether an attempt's outcome is unknown: the request may have reached the
 * service and been applied although no answer says so.  status and
 * http_status as in km_http_resp_t; not_sent: the transport failed before
 * the request could leave.  A time-out or a connection lost after sending,
 * and a 5xx other than 503 (the service refusing work it did not start) are
 * unknown; throttling, a 503, a refused connection and any other answer are
 * known. */
int km_retry_outcome_unknown(int status, long http_status, int not_sent);

/* ---- The asynchronous client ---- */
typedef struct km_acs_client_s km_acs_client_t;

/* Maps a real host (exact, or "*.suffix" wildcard, first match wins) to
 * another address, keeping the real Host header (curl CONNECT_TO). */
typedef struct km_endpoint_override_s {
  const char
      *host_pattern;   /* "kms.cn-hangzhou.aliyuncs.com", "*.aliyuncs.com" */
  const char *address; /* "127.0.0.1:8443" */
  const char *scheme;  /* "https" (default) or "http" (loopback only) */
  /* CA bundle for the override's certificate.  Not supported yet (the
   * transport takes one CA file for all requests): non-NULL is refused with
   * KM_ENOTSUP; set km_http_opts_t.ca_file instead. */
  const char *ca_file;
  int insecure; /* 1: skip TLS verification (loopback addresses only) */
} km_endpoint_override_t;

/* The check km_acs_client_new applies to each override (o borrowed): 0, or
 * KM_EPERM for plain http or unverified TLS to an address that is not
 * loopback, KM_EINVAL for a malformed one (err filled).  `kmsmig validate`
 * applies the same check, so validate and plan refuse the same manifests. */
int km_acs_override_check(const km_endpoint_override_t *o, km_err_t *err);

typedef struct km_acs_client_opts_s {
  km_sigver_t sigver;                      /* 0: V3 */
  km_retry_policy_t retry;                 /* zeros: defaults */
  const km_endpoint_override_t *overrides; /* borrowed, copied */
  size_t noverrides;
  const char *user_agent; /* NULL: "kmsmig/<version>" */
} km_acs_client_opts_t;

/* Creates a client on a transport (both borrowed; they must outlive it).
 * Returns 0 and *out (owned, free with km_acs_client_free once no call is in
 * flight; freeing it with calls in flight aborts) or a negative code with err
 * filled: KM_EPERM for an http or insecure override to a non-loopback
 * address, KM_EINVAL for a malformed override.  Overrides match in order;
 * "*" matches every host. */
int km_acs_client_new(km_http_t *http, uv_loop_t *loop,
                      const km_acs_client_opts_t *opts, km_acs_client_t **out,
                      km_err_t *err);
void km_acs_client_free(km_acs_client_t *c);

/* One attempt's answer, for km_acs_call_t.on_attempt. */
typedef struct km_acs_attempt_s {
  int status;          /* 0: a 2xx answer; else this attempt's failure */
  int throttled;       /* answered with a throttling code */
  int attempt;         /* 1 for the first */
  uint64_t elapsed_ms; /* since the call started */
  int retrying;        /* 1: the call tries again after its backoff */
  uint32_t delay_ms;   /* the backoff before that retry */
  const km_err_t *err; /* this attempt's failure (borrowed), or NULL */
} km_acs_attempt_t;

typedef struct km_acs_call_s {
  km_product_t product;
  const char *region; /* required for regional products */
  const char *action;
  const km_params_t *params;   /* borrowed, copied */
  const km_credential_t *cred; /* borrowed, copied (secrets cleansed after) */
  uint64_t deadline_ms;        /* 0: the policy's deadline */
  int form_body; /* 1: params in a form body (large values such as policies)
                    instead of the query; always POST */
  /* Whose AccessKey signs the call, for the fix in error texts ("account
   * mgmt (environment ...)"); borrowed, copied; NULL: not named. */
  const char *cred_owner;
  /* 1: a write that must not be sent twice (creating, associating): when
   * an attempt's outcome is unknown (km_retry_outcome_unknown) the call
   * ends with that failure instead of sending it again, and the caller's
   * own detection decides (a resumed stage finds what was created). */
  int write_once;
  /* Optional, with hook_ud (borrowed): pace runs before every retry (after
   * its backoff) and the attempt starts when it calls go(0, arg); go with a
   * negative status ends the call with it.  Same contract as an async
   * start: a negative return never calls go (the call ends with it). */
  int (*pace)(void *hook_ud, void (*go)(int status, void *arg), void *arg);
  /* Optional: told about every attempt's answer, before the call retries
   * or ends (a, borrowed, valid during the call). */
  void (*on_attempt)(void *hook_ud, const km_acs_attempt_t *a);
  void *hook_ud;
} km_acs_call_t;

/* Result: status 0 and body (borrowed JSON object, valid during the callback;
 * json_incref to keep it), or a negative code with err (borrowed) carrying
 * cloud Code, RequestId, HTTP status and the endpoint.  attempts counts the
 * HTTP attempts made. */
typedef struct km_acs_result_s {
  int status;
  json_t *body;
  const km_err_t *err;
  int attempts;
  int throttled; /* attempts answered with a throttling code (feed the rate
                    limiter with this, not with attempts) */
} km_acs_result_t;

typedef void (*km_acs_cb)(const km_acs_result_t *res, void *ud);

/* Starts a call: signs, sends, retries retryable failures with backoff (and
 * call->pace) until the deadline, or max_attempts when the policy sets one.
 * Returns 0 (cb called exactly once, from the loop) or a negative code (cb
 * never called) with err filled.  Every attempt is signed afresh (new nonce
 * and timestamp).  Final status: 0; the last failure's code (KM_ECLOUD,
 * KM_ETHROTTLED, KM_EHTTP, KM_ETIMEDOUT, ...) when not retryable, when a
 * write_once call's outcome is unknown, or when max_attempts ran out;
 * KM_EDEADLINE when the next retry would pass the deadline (err still
 * carries the last Code/RequestId/HTTP status); KM_EPARSE for a 2xx body
 * that is not a JSON object (not retried). */
int km_acs_call(km_acs_client_t *c, const km_acs_call_t *call, km_acs_cb cb,
                void *ud, km_err_t *err);

/* Number of calls started and not yet completed. */
size_t km_acs_inflight(const km_acs_client_t *c);

#endif
