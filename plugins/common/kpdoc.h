/* The pipeline document on the plugin side, shared by every built-in
 * plugin: read it into an inventory (seeding one from the manifest's
 * settings when the document is still empty) and write it back, keeping the
 * keys the inventory does not own (hook notes, choices). */
#ifndef KM_PLUGIN_COMMON_KPDOC_H
#define KM_PLUGIN_COMMON_KPDOC_H

#include <jansson.h>

#include "engine/inventory.h"
#include "kmsmig/plugin.h"

/* A new inventory from host->get settings (owned). */
km_inv_t *kp_doc_seed(const km_host_api_t *h, km_pipeline_t *p);

/* Reads the document: *inv (owned; seeded when the document has none yet)
 * and *extra (owned: the document as read).  Returns 0 or a negative code
 * with err filled (a document that is not an inventory). */
int kp_doc_read(const km_host_api_t *h, km_pipeline_t *p, km_inv_t **inv,
                json_t **extra, km_err_t *err);

/* Writes inv back: the document as it is now, with extra's keys where it
 * has none and the inventory's keys over both.  Returns 0 or < 0. */
int kp_doc_write(const km_host_api_t *h, km_pipeline_t *p, const km_inv_t *inv,
                 json_t *extra);

#endif
