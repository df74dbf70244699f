/* kmsim internal interface: the request and response a handler sees, the
 * dispatch tables products register, parameter helpers and the error
 * catalogue.  Every sim .c file includes this; sim/state.h holds the cloud
 * model.  See sim/HACKING.md for how to add an action or an admin path. */
#ifndef KSIM_H
#define KSIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "util/util.h"

typedef struct ksim_cloud ksim_cloud_t;
typedef struct ksim_account ksim_account_t;
typedef struct ksim_region ksim_region_t;

/* Ordered name/value list (query args, form fields, headers). */
typedef struct {
  char *name;
  char *value;
} ksim_kv_t;
typedef struct {
  ksim_kv_t *v;
  size_t n, cap;
} ksim_kvs_t;

void ksim_kvs_add(ksim_kvs_t *l, const char *name, const char *value);
/* First value of name (exact, case-sensitive), or NULL. */
const char *ksim_kvs_get(const ksim_kvs_t *l, const char *name);
void ksim_kvs_free(ksim_kvs_t *l);

/* One request as received, plus what routing and authentication found. */
typedef struct ksim_req {
  /* as received */
  const char *method;
  const char *path;
  const char *host;   /* Host header exactly as sent (port included) */
  ksim_kvs_t query;   /* decoded query arguments, in order */
  ksim_kvs_t form;    /* decoded x-www-form-urlencoded body fields */
  ksim_kvs_t headers; /* lowercase names, values as sent */
  const char *body;
  size_t body_len;
  /* the client's address ("" = unknown; the traffic generator sets its
   * caller's configured one) for ActionTrail's sourceIpAddress */
  char source_ip[64];
  /* routing */
  char host_name[256];      /* Host without port, lowercase */
  const char *product;      /* "kms", "sts", "resourcemanager", ... */
  const char *product_code; /* for Recommend: "Kms", "Sts", ... */
  char region[64];          /* "" for central products */
  char instance_id[64];     /* dedicated gateway: the kst- id of the host */
  const char *action;
  const char *version;
  int sigver; /* 1 or 3 */
  /* authentication */
  const char *access_key_id;
  char access_key_buf[128];
  ksim_account_t *account; /* caller (the member for STS credentials) */
  bool via_sts;
  char request_id[40];
  ksim_cloud_t *cloud;
  int64_t now; /* kmsim clock (seconds), see POST /_kmsim/clock */
  /* the caller sends the answer as text: ksim_process dumps it into
   * resp->text while it holds the lock, instead of copying the body */
  bool want_text;
} ksim_req_t;

typedef struct ksim_resp {
  int status;
  json_t *body;  /* success body (RequestId added) or error body */
  char code[96]; /* error Code, "" on success */
  bool raw;      /* admin: body sent as is, no RequestId */
  bool drop;     /* close the connection without a response */
  bool native;   /* error in the KMS-native shape {HttpStatus, Code, ...} */
  char *text;    /* with req->want_text: the body as compact JSON (malloc) */
} ksim_resp_t;

typedef int (*ksim_handler_fn)(ksim_req_t *req, ksim_resp_t *resp);

/* KSIM_F_NOLOCK: the handler is called without the cloud lock and takes it
 * itself (ksim_lock/ksim_unlock) around state access, for slow work such as
 * RSA key generation. */
enum { KSIM_F_NOLOCK = 1 };

typedef struct {
  const char *action; /* NULL terminates a table */
  ksim_handler_fn fn;
  const char *group; /* throttling group, see faults.c */
  unsigned flags;
} ksim_action_t;

/* Registers a NULL-terminated table for a product.  Products: kms, sts,
 * resourcemanager, resourcesharing, cms, actiontrail, gateway.  Tables are
 * registered from constructors (KSIM_REGISTER_ACTIONS) so a new file needs no
 * edit elsewhere. */
void ksim_register_actions(const char *product, const ksim_action_t *table);
#define KSIM_REGISTER_ACTIONS(product, table)                                  \
  __attribute__((constructor)) static void ksim_reg_##table(void) {            \
    ksim_register_actions(product, table);                                     \
  }

/* Admin paths: prefix under /_kmsim/ (e.g. "/_kmsim/console"); handler called
 * with the cloud lock held, body in req->body; set resp->body (raw JSON). */
void ksim_register_admin(const char *prefix, ksim_handler_fn fn);
#define KSIM_REGISTER_ADMIN(name, prefix, fn)                                  \
  __attribute__((constructor)) static void ksim_rega_##name(void) {            \
    ksim_register_admin(prefix, fn);                                           \
  }

const ksim_action_t *ksim_find_action(const char *product, const char *action);

/* ---- responses ---- */

/* Success: takes ownership of body (NULL = empty object). */
int ksim_ok(ksim_resp_t *resp, json_t *body);
/* Error with the catalogue's HTTP status for code (400 if unknown); returns
 * -1 so handlers can `return ksim_fail(...)`. */
int ksim_fail(ksim_resp_t *resp, const char *code, const char *fmt, ...)
    KM_PRINTF(3, 4);
int ksim_fail_status(ksim_resp_t *resp, int status, const char *code,
                     const char *fmt, ...) KM_PRINTF(4, 5);
/* HTTP status the catalogue gives code. */
int ksim_code_status(const char *code);
/* Builds the POP error body {RequestId, HostId, Code, Message, Recommend}. */
json_t *ksim_error_body(const ksim_req_t *req, const char *code,
                        const char *message);

/* Common errors with the real messages. */
int ksim_fail_missing(ksim_resp_t *resp, const char *param);
int ksim_fail_invalid(ksim_resp_t *resp, const char *param);

/* ---- parameters ---- */

/* Form field first, then query argument; NULL when absent. */
const char *ksim_param(const ksim_req_t *req, const char *name);
/* Required non-empty parameter; on absence fills MissingParameter. */
const char *ksim_param_req(const ksim_req_t *req, ksim_resp_t *resp,
                           const char *name);
/* Integer parameter in [min, max], def when absent; InvalidParameter else. */
int ksim_param_int(const ksim_req_t *req, ksim_resp_t *resp, const char *name,
                   long def, long min, long max, long *out);
/* "true"/"false" (case-insensitive); *out untouched and 1 returned when
 * absent; -1 with InvalidParameter when malformed; 0 when set. */
int ksim_param_bool(const ksim_req_t *req, ksim_resp_t *resp, const char *name,
                    bool *out);
/* Paging: PageNumber >= 1, PageSize in 1..max (def_size when absent). */
int ksim_paging(const ksim_req_t *req, ksim_resp_t *resp, long def_size,
                long max_size, long *page, long *size);
/* Adds PageNumber, PageSize, TotalCount to body. */
void ksim_paging_set(json_t *body, long page, long size, size_t total);

/* ---- server / lock / clock ---- */
void ksim_lock(ksim_cloud_t *c);
void ksim_unlock(ksim_cloud_t *c);
/* Monotonic wall seconds (real clock) for skew checks. */
int64_t ksim_wall_now(void);

/* ---- authentication (auth.c) ---- */

/* RFC 3986 percent-encoding as POP signs (unreserved kept, %XX upper). */
void ksim_percent_encode(km_buf_t *out, const char *s, size_t n);
/* V1: StringToSign over params (Signature excluded) for method. */
char *ksim_v1_string_to_sign(const char *method, const ksim_kvs_t *params);
/* V1: Base64(HMAC-SHA1(secret + "&", sts)). */
char *ksim_v1_signature(const char *secret, const char *string_to_sign);
/* V3 canonical request from what was received; signed_headers is the list
 * from Authorization. */
char *ksim_v3_canonical_request(const char *method, const char *path,
                                const ksim_kvs_t *query,
                                const ksim_kvs_t *headers,
                                const char *signed_headers,
                                const char *payload_hash);
/* V3: "ACS3-HMAC-SHA256\n" + hex(sha256(canonical)). */
char *ksim_v3_string_to_sign(const char *canonical);
/* hex(HMAC-SHA256(secret, sts)). */
char *ksim_v3_signature(const char *secret, const char *string_to_sign);
/* hex(SHA-256(data)) into out[65]. */
void ksim_sha256_hex(const void *data, size_t n, char out[65]);

/* Authenticates req (sets account, access_key_id, via_sts); on failure fills
 * resp and returns -1.  Called with the cloud lock held. */
int ksim_authenticate(ksim_req_t *req, ksim_resp_t *resp);

/* ---- helpers ---- */
/* Uppercase UUID-like request id. */
void ksim_request_id(char out[40]);
/* Parses "<n>[d|h|m|s]" (no unit = seconds) into seconds; -1 if malformed. */
int64_t ksim_parse_interval(const char *s);
/* ISO-8601 of t as a new json string. */
json_t *ksim_json_time(int64_t t);
bool ksim_streq_ci(const char *a, const char *b);

#endif
