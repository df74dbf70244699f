/* The adapter that runs a third-party plugin (kmsmig/plugin.h, ABI 2) as a
 * stage provider: the km_host_api_t it is given, implemented on the stage
 * context (stage/stage.h). */
#ifndef KM_STAGE_PLUGIN_HOST_H
#define KM_STAGE_PLUGIN_HOST_H

#include "kmsmig/plugin.h"
#include "stage/stage.h"

/* The host table handed to every plugin's init and start. */
extern const km_host_api_t km__plugin_host;

/* One loaded plugin as a provider: its descriptor (borrowed from the
 * loaded library) and its state. */
typedef struct km__ext_s km__ext_t;
km__ext_t *km__ext_new(const km_plugin_t *d, void *pstate);
/* The operations of x (valid as long as x). */
const km_stage_ops_t *km__ext_ops(km__ext_t *x);
void km__ext_free(km__ext_t *x);

#endif
