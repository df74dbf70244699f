/* Internal to the migrate stage: the job shared by its stages (the stage's
 * own state, hung off its context) and the detection code both drivers
 * use. */
#ifndef KM_STAGES_MIGRATE_H
#define KM_STAGES_MIGRATE_H

#include <stdbool.h>

#include "model/batch.h"
#include "model/inventory.h"
#include "stage/stage.h"

/* A batch as the journal knows it. */
typedef struct mbatch_s {
  char token[80];
  char task_id[64];
  json_t *keys;    /* array of key ids */
  json_t *secrets; /* array of secret names */
  bool submitted;
  bool done;
  bool seen;   /* batch_seen journalled: detection saw it start */
  bool listed; /* submitted or resumed by this attempt */
} mbatch_t;

typedef struct mjob_s {
  km_sctx_t *c;  /* the stage context; c->ud is this job */
  char when[21]; /* migrate.when: "now" or ISO 8601 UTC */
  /* migrate */
  mbatch_t *b;
  size_t nb;
  size_t cur;
  bool planned;     /* batches computed from the inventory */
  bool set_default; /* the default_instance hook's choice for the tasks */
  int batch_no;     /* batches submitted by this attempt (hook input) */
  uint64_t deadline_polls; /* polls left before the task timeout */
  int poll_ms;
  int64_t wait_left_ms; /* console driver: until the next poll */
  /* detection (detect.c): what is seen stays seen (a migration is one-way),
   * so each look asks only about what is not seen yet. */
  json_t *seen_keys;     /* object: key id -> true (in the instance) */
  json_t *seen_secrets;  /* object: name -> true */
  char detect_rid[80];   /* RequestId of the last detection page */
  bool no_id_filter;     /* the server ignored an id filter: list all */
  int64_t inst_total[2]; /* keys, secrets in the instance; -1: unknown */
  /* The look at keys [0] and at secrets [1], at the same time (their calls
   * are in different rate-limit buckets). */
  struct mlook_s {
    struct mjob_s *j;
    bool secrets;
    bool by_id;    /* this look asks by id, 10 at a time */
    int page;      /* full listing: the page asked */
    json_t *ids;   /* by id: the unseen ids of this kind (owned) */
    size_t off;    /* by id: the next chunk's start */
    int64_t items; /* items of this full listing so far */
  } look[2];
  int looks_left;     /* looks not ended */
  bool detect_failed; /* a look failed (the stage holds the error) */
  void (*detect_done)(struct mjob_s *j, int status);
} mjob_t;

/* Adds the keys and secrets of the current batch (j->b[j->cur]) that are in
 * the destination instance now to seen_keys / seen_secrets (ListKeys and
 * ListSecrets filtered on DKMSInstanceId: by the batch's unseen ids, 10 a
 * call, or every page of the instance, whichever takes fewer calls), then
 * calls done.  The console and sim drivers both detect completion this
 * way. */
void km__mig_detect(mjob_t *j, void (*done)(mjob_t *j, int status));
/* only.c: a restricted run (--rerun-failed, a saved plan) lets only the
 * listed resources move; a saved plan whose cloud changed blocks the
 * pipeline (issue plan.changed) before any side effect. */
void km__mig_apply_only(mjob_t *j);
void km__mig_check_planned(mjob_t *j);
/* One detect page: adds the KeyId (or, secrets, the SecretName) of every
 * item of body (borrowed, any JSON) to seen (borrowed object).  Returns how
 * many items the page held (detect.c decides about the next page with
 * kp_next_page). */
size_t km__mig_detect_parse(const json_t *body, bool secrets, json_t *seen);

/* Fails the stage (first failure wins): "<what>: <message>". */
void km__mig_fail(mjob_t *j, int rc, const km_err_t *err, const char *what);

/* migrate.c: the job's end (kp_finish: j is gone afterwards). */
void km__mig_end(mjob_t *j);
/* "software" | "hardware", as the console names the instance type. */
const char *km__mig_type_name(const mjob_t *j);
void km__mig_next_batch(mjob_t *j);
void km__mig_submit_new(mjob_t *j, mbatch_t *b);

/* verify.c: the operator's hooks around the migration, and verify.
 * choose_default runs default_instance and then next(j); before_batch runs
 * before_batch and then go(j, b) or, when the hook refuses the batch,
 * marks it skipped and calls skip(j); after_batch runs after_batch and then
 * next(j), or stops the remaining batches when the hook says so. */
void km__mig_choose_default(mjob_t *j, void (*next)(mjob_t *j));
void km__mig_before_batch(mjob_t *j, mbatch_t *b,
                          void (*go)(mjob_t *j, mbatch_t *b),
                          void (*skip)(mjob_t *j));
void km__mig_after_batch(mjob_t *j, mbatch_t *b, const char *status,
                         void (*next)(mjob_t *j));
/* preflight.c: the console's tasks and the before_batch hook over the
 * planned batches (blocking issues, skipped batches), then next(j). */
void km__mig_preflight_checks(mjob_t *j, void (*next)(mjob_t *j));
/* preflight.c, plan mode only: the rotation and post_check hooks' decisions
 * as hook notes, then next(j) (at once outside plan mode). */
void km__mig_plan_hooks(mjob_t *j, void (*next)(mjob_t *j));
/* The VERIFY stage; it always ends (possibly from inside). */
void km__mig_start_verify(mjob_t *j);

#endif
