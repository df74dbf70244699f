/* Internal to the share stage: the job of one stage of one pipeline (the
 * stage's own state, hung off its context) and the state shared by every
 * pipeline of a run (instance facts read once per instance, sharing rounds
 * per instance). */
#ifndef KM_STAGES_SHARE_H
#define KM_STAGES_SHARE_H

#include <stdbool.h>

#include "model/inventory.h"
#include "stage/stage.h"

typedef struct share_state_s share_state_t;

typedef struct job_s {
  share_state_t *st;
  km_sctx_t *c; /* this pipeline's stage context; c->ud is this job */
  int pending;
  struct job_s *next; /* in a sharing round's member list */
} job_t;

/* share.c */
void km__share_fail(job_t *j, int rc, const km_err_t *err, const char *what);
void km__share_end(job_t *j); /* kp_finish: j is gone afterwards */

/* sharing.c: PREPARE.  Members of one instance arriving together share one
 * round: one resource share per instance (kmsmig-<instance>), created or
 * found, targets associated five at a time, associations polled until each
 * member is Associated or Failed; each member's stage ends with its own
 * result once a poll shows it settled.  The stage of j always ends
 * (possibly from inside). */
void km__share_prepare(job_t *j);
share_state_t *km__share_state_new(void);
void km__share_state_free(share_state_t *st);

/* share.c: one of discover's steps (j->pending) is done. */
void km__share_step_done(job_t *j);

/* directory_check.c: for a member the owner shares the instance with,
 * GetResourceDirectory as each (once per account for the whole run); adds
 * share.directory or share.enterprise_unverified to the model, or fails
 * the stage, then km__share_step_done(j).  Returns false (nothing started)
 * when the pipeline shares nothing. */
bool km__share_rd_check(job_t *j);
typedef struct rdinfo_s rdinfo_t;
rdinfo_t **km__share_rds(share_state_t *st);
void km__share_rds_free(rdinfo_t *in);

/* Facts of an instance read once per run by its owner (share.c). */
typedef struct instinfo_s instinfo_t;
instinfo_t **km__share_infos(share_state_t *st);
void km__share_infos_free(instinfo_t *in);

#endif
