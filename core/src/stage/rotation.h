/* Rotation off (PREPARE) and back on (RESTORE), the same way for keys and
 * secrets, and the journal folded into each resource's rotation state
 * (stage/rotation.c, stage/journal.c). */
#ifndef KM_STAGE_ROTATION_H
#define KM_STAGE_ROTATION_H

#include "stage/stage.h"

/* Rotation state of one resource folded from the journal. */
typedef struct kp_rot_s {
  char *id;
  char *automatic_rotation; /* as journalled before it was turned off */
  char *interval;           /* "31536000s" */
  bool open;                /* rotation_off without a later restored */
  bool off_done;            /* the call succeeded (rotation_off_done) */
} kp_rot_t;

typedef struct kp_rots_s {
  kp_rot_t *v;
  size_t n;
} kp_rots_t;

/* Folds this pipeline's journal records (earlier attempts, then this one:
 * kp_records) for kind ("key" / "secret") into *out (owned contents; free
 * with kp_rots_free). */
void kp_rots_load(km_sctx_t *c, const char *kind, kp_rots_t *out);
kp_rot_t *kp_rots_find(const kp_rots_t *rots, const char *id);
void kp_rots_free(kp_rots_t *rots);

typedef struct kp_rot_kind_s {
  const char *kind;     /* "key" | "secret" */
  const char *action;   /* UpdateRotationPolicy | UpdateSecretRotationPolicy */
  const char *id_param; /* KeyId | SecretName */
} kp_rot_kind_t;

extern const kp_rot_kind_t kp_rot_key;
extern const kp_rot_kind_t kp_rot_secret;

/* Start the stage on c; both end it with kp_finish.  Restore works from
 * the journal alone. */
void kp_rotation_prepare(km_sctx_t *c, const kp_rot_kind_t *k);
void kp_rotation_restore(km_sctx_t *c, const kp_rot_kind_t *k);

/* Retries of a failed restore and the first delay (doubling). */
#define KP_RESTORE_ATTEMPTS 4
#define KP_RESTORE_DELAY_MS 2000

#endif
