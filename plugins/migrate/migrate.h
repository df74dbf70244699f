/* Internal to the migrate plugin: the job shared by its stages and the
 * detection code both drivers use. */
#ifndef KM_PLUGIN_MIGRATE_H
#define KM_PLUGIN_MIGRATE_H

#include <stdbool.h>

#include "engine/batch.h"
#include "engine/inventory.h"
#include "kmsmig/plugin.h"

extern const km_host_api_t *km__mig_host;
#define H km__mig_host

/* A batch as the journal knows it. */
typedef struct mbatch_s {
  char token[64];
  char task_id[64];
  json_t *keys;    /* array of key ids */
  json_t *secrets; /* array of secret names */
  bool submitted;
  bool done;
} mbatch_t;

typedef struct mjob_s {
  km_pipeline_t *p;
  km_stage_run_t *run;
  km_inv_t *inv;
  json_t *extra;
  int status;
  km_err_t err;
  /* migrate */
  mbatch_t *b;
  size_t nb;
  size_t cur;
  bool planned; /* batches computed from the inventory */
  bool sim;
  uint64_t deadline_polls; /* polls left before the task timeout */
  int poll_ms;
  /* detection */
  json_t *seen_keys;    /* object: key id -> true (in the instance) */
  json_t *seen_secrets; /* object: name -> true */
  int detect_page;
  bool detect_secrets_phase;
  void (*detect_done)(struct mjob_s *j, int status);
} mjob_t;

/* Lists the keys and secrets already in the destination instance (ListKeys
 * and ListSecrets filtered on DKMSInstanceId, every page) into seen_keys /
 * seen_secrets, then calls done.  The console and sim drivers both detect
 * completion this way. */
void km__mig_detect(mjob_t *j, void (*done)(mjob_t *j, int status));

void km__mig_fail(mjob_t *j, int rc, const km_err_t *err, const char *what);

#endif
