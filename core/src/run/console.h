/* Requests to kmsim's emulated console (driver `sim`), see console.c. */
#ifndef KM_RUN_CONSOLE_H
#define KM_RUN_CONSOLE_H

#include "acs/acs.h"
#include "http/http.h"
#include "rt/jcall.h"
#include "manifest/manifest.h"

typedef struct km_console_s {
  km_http_t *http;        /* borrowed */
  const km_manifest_t *m; /* borrowed: endpoint overrides */
} km_console_t;

/* POSTs request (borrowed) to /_kmsim/console/migrate, or GETs
 * /_kmsim/console/tasks when request is NULL, as account_id in region; the
 * answer reaches cb parsed.  Returns 0 (cb called once) or a negative code
 * (never called). */
int km_console_request(km_console_t *con, const char *account_id,
                       const char *region, const json_t *request,
                       km_jcall_cb cb, void *ud);

#endif
