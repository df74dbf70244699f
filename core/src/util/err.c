/* The error table (KM_ERRNO_MAP) turned into names and messages, and the
 * helpers that fill a caller-owned km_err_t. */
#include <stdio.h>
#include <string.h>

#include "util.h"

const char *km_strerror(int code) {
  switch (code) {
#define KM_ERR_MSG(name, val, msg)                                             \
  case val:                                                                    \
    return msg;
    KM_ERRNO_MAP(KM_ERR_MSG)
#undef KM_ERR_MSG
  case 0:
    return "success";
  default:
    break;
  }
  if (code < 0 && code > -3000) return strerror(-code);
  return "unknown error";
}

const char *km_err_name(int code) {
  switch (code) {
#define KM_ERR_NAME(name, val, msg)                                            \
  case val:                                                                    \
    return #name;
    KM_ERRNO_MAP(KM_ERR_NAME)
#undef KM_ERR_NAME
  case 0:
    return "OK";
  default:
    return "UNKNOWN";
  }
}

void km__err_clear(km_err_t *err) {
  if (err != NULL) memset(err, 0, sizeof(*err));
}

static void err_vset(km_err_t *err, int code, const char *where,
                     const char *fmt, va_list ap) {
  if (err == NULL) return;
  err->code = code;
  if (where != NULL) snprintf(err->where, sizeof(err->where), "%s", where);
  vsnprintf(err->text, sizeof(err->text), fmt, ap);
}

int km__err_set(km_err_t *err, int code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  err_vset(err, code, NULL, fmt, ap);
  va_end(ap);
  return code;
}

int km__err_setw(km_err_t *err, int code, const char *where, const char *fmt,
                 ...) {
  va_list ap;
  va_start(ap, fmt);
  err_vset(err, code, where, fmt, ap);
  va_end(ap);
  return code;
}
