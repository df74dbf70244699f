/* kmsmig error codes and the caller-owned error struct.
 *
 * Every kmsmig function that can fail returns 0 or a negative code from the
 * one table below (libuv's UV_ERRNO_MAP shape).  Where the caller needs more
 * than a code (a manifest position, a cloud error Code and RequestId), the
 * function also takes an optional caller-owned km_err_t, filled on failure
 * and never allocated (jansson's json_error_t).  NULL is always accepted.
 *
 * Nothing secret (AccessKey secrets, STS tokens, secret values, key material)
 * is ever written into a km_err_t.
 */
#ifndef KMSMIG_ERRORS_H
#define KMSMIG_ERRORS_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define KM_EXPORT __attribute__((visibility("default")))
#define KM_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define KM_EXPORT
#define KM_PRINTF(a, b)
#endif

/* XX(name, value, message) */
#define KM_ERRNO_MAP(XX)                                                       \
  XX(EINVAL, -3001, "invalid argument")                                        \
  XX(ENOMEM, -3002, "out of memory")                                           \
  XX(EIO, -3003, "input/output error")                                         \
  XX(ENOENT, -3004, "no such file or resource")                                \
  XX(EEXIST, -3005, "already exists")                                          \
  XX(EMANIFEST, -3006, "invalid manifest")                                     \
  XX(EHTTP, -3007, "HTTP transport error")                                     \
  XX(ETLS, -3008, "TLS error")                                                 \
  XX(ETIMEDOUT, -3009, "timed out")                                            \
  XX(ECANCELED, -3010, "operation canceled")                                   \
  XX(ECLOUD, -3011, "cloud API returned an error")                             \
  XX(ETHROTTLED, -3012, "throttled by the cloud API")                          \
  XX(ECREDS, -3013, "no usable credentials")                                   \
  XX(EPARSE, -3014, "malformed response")                                      \
  XX(ENOTSUP, -3015, "not supported")                                          \
  XX(EDEADLINE, -3016, "overall deadline exceeded")                            \
  XX(EJOURNAL, -3017, "journal error")                                         \
  XX(EPLUGIN, -3018, "plugin error")                                           \
  XX(ELUA, -3019, "Lua hook error")                                            \
  XX(EBUSY, -3020, "resource busy")                                            \
  XX(EPERM, -3021, "operation not permitted")                                  \
  XX(EBLOCKED, -3023, "refused by preflight: nothing was changed")

typedef enum {
#define KM_ERR_ENUM(name, val, msg) KM_##name = val,
  KM_ERRNO_MAP(KM_ERR_ENUM)
#undef KM_ERR_ENUM
} km_errno_t;

/* Context for a failure.  All strings are NUL-terminated and truncated to
 * fit; fields that do not apply are empty (or 0). */
typedef struct km_err_s {
  int code;            /* one of KM_E*, or a negated errno / libuv code */
  int http_status;     /* cloud errors: HTTP status, else 0 */
  char where[192];     /* "file:line:col" for manifests, endpoint for cloud */
  char cloud_code[96]; /* cloud errors: the service's Code */
  char request_id[80]; /* cloud errors: the RequestId */
  char text[512];      /* human message: what is wrong; how to fix */
} km_err_t;

/* Returns a static message / the symbolic name ("EINVAL") for a code.
 * Unknown codes fall back to strerror() for negated errno values. */
KM_EXPORT const char *km_strerror(int code);
KM_EXPORT const char *km_err_name(int code);

#ifdef __cplusplus
}
#endif
#endif
