/* The result of an asynchronous call whose answer is JSON, delivered as a
 * parsed value (never as text) to code inside kmsmig: cloud replies, the
 * emulated console's answers, Lua hook results.  Text exists only where a
 * plugin or a Lua state is on the other side. */
#ifndef KM_RT_JCALL_H
#define KM_RT_JCALL_H

#include <jansson.h>

#include "kmsmig/errors.h"

/* status 0: body is the answer (borrowed for the callback; json_incref to
 * keep it).  status < 0: err (borrowed, may be NULL) says why; body is the
 * error answer where one carries detail (the console's Problems list),
 * else NULL. */
typedef struct km_jres_s {
  int status;
  const json_t *body;
  const km_err_t *err;
} km_jres_t;

typedef void (*km_jcall_cb)(const km_jres_t *res, void *ud);

#endif
