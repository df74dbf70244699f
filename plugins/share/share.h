/* Internal to the share plugin: the job of one stage of one pipeline and
 * the state shared by every pipeline of a run (instance facts read once per
 * instance, sharing rounds per instance). */
#ifndef KM_PLUGIN_SHARE_H
#define KM_PLUGIN_SHARE_H

#include <stdbool.h>

#include "engine/inventory.h"
#include "kmsmig/plugin.h"

extern const km_host_api_t *km__share_host;
#define H km__share_host

typedef struct share_state_s share_state_t;

typedef struct job_s {
  share_state_t *st;
  km_pipeline_t *p;
  km_stage_run_t *run;
  km_inv_t *inv;
  json_t *extra; /* doc keys the inventory does not own (kept on store) */
  int pending;
  int status;
  km_err_t err;
  struct job_s *next; /* in a sharing round's member list */
} job_t;

/* share.c */
void km__share_fail(job_t *j, int rc, const km_err_t *err, const char *what);
void km__share_end(job_t *j); /* stores the doc, stage_done, frees */
void km__share_free(job_t *j);

/* sharing.c: PREPARE.  Members of one instance arriving together share one
 * round: one resource share per instance (kmsmig-<instance>), created or
 * found, targets associated five at a time, associations polled until each
 * member is Associated or Failed; each member's stage then ends with its
 * own result.  Returns 0 (stage_done will be called) or < 0. */
int km__share_prepare(job_t *j);
share_state_t *km__share_state_new(void);
void km__share_state_free(share_state_t *st);

/* Facts of an instance read once per run by its owner (share.c). */
typedef struct instinfo_s instinfo_t;
instinfo_t **km__share_infos(share_state_t *st);
void km__share_infos_free(instinfo_t *in);

#endif
