/* A saved plan (`kmsmig plan MANIFEST --out PLAN`, docs/plan.md): the plan
 * JSON of `plan --output json` with the manifest hash and creation time,
 * read back typed for `kmsmig run MANIFEST --plan PLAN --shard K/N`.
 *
 * The reader fails closed: a file that is not a plan, a truncated one, a
 * plan_version this kmsmig does not read, a missing or mistyped field, a
 * batch naming a resource the plan does not move, or the same pipeline
 * twice is refused with the place and the fix ("re-run kmsmig plan --out").
 * Nothing in a plan is secret (names, ids, counts).
 *
 * Shards.  The plan's accounts are numbered in name order (0, 1, 2 ...);
 * account number i belongs to shard (i mod N) + 1.  Every region of an
 * account is in the same shard; pipelines of other accounts that share an
 * instance may be in other shards, which is why the quota of each instance
 * is checked over the whole fleet when the plan is made. */
#ifndef KM_RUN_PLANFILE_H
#define KM_RUN_PLANFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "engine/engine.h"

#define KM_PLANFILE_VERSION 2
#define KM_PLANFILE_FORMAT "kmsmig-plan"

/* One account × region of the plan. */
typedef struct km_plan_pipe_s {
  char *account;         /* owned */
  char *account_id;      /* owned; NULL when the plan did not know it */
  char *region;          /* owned */
  char *instance_id;     /* owned; NULL: no destination */
  char *status;          /* owned: "ready", "blocked" or "nothing to do" */
  char *blocked;         /* owned: the first blocking message, when blocked */
  km_inv_strs_t keys;    /* the key ids the plan moves */
  km_inv_strs_t secrets; /* the secret names the plan moves */
  size_t nbatches;
  size_t account_no; /* the account's number in name order (shards) */
} km_plan_pipe_t;

/* The fleet-wide quota arithmetic of one instance when the plan was made;
 * -1 for a number the plan did not know. */
typedef struct km_plan_inst_s {
  char *instance_id; /* owned */
  int64_t key_used, key_quota, key_add;
  int64_t secret_used, secret_quota, secret_add;
  bool ok;
} km_plan_inst_t;

typedef struct km_planfile_s {
  char manifest_sha256[65];
  char file_sha256[65];  /* of the plan's bytes: a resumed run checks it */
  int64_t created;       /* Unix seconds */
  km_plan_pipe_t *pipes; /* owned, npipes */
  size_t npipes;
  km_plan_inst_t *insts; /* owned, ninsts */
  size_t ninsts;
  size_t naccounts;
} km_planfile_t;

/* Reads the plan in text (borrowed, len bytes; name, borrowed, is how
 * errors call it).  Returns 0 with *out owned (km_planfile_free), or
 * KM_EINVAL / KM_EPARSE with err saying what is wrong and the fix. */
int km_planfile_parse(const char *text, size_t len, const char *name,
                      km_planfile_t **out, km_err_t *err);
/* The same from a file; KM_EIO when it cannot be read. */
int km_planfile_load(const char *path, km_planfile_t **out, km_err_t *err);
void km_planfile_free(km_planfile_t *p);

/* The pipeline of account and region (borrowed), or NULL. */
const km_plan_pipe_t *km_planfile_find(const km_planfile_t *p,
                                       const char *account, const char *region);
/* The instance's quota entry (borrowed), or NULL. */
const km_plan_inst_t *km_planfile_instance(const km_planfile_t *p,
                                           const char *instance_id);
/* True when pipe belongs to shard k of n (1 <= k <= n). */
bool km_planfile_in_shard(const km_plan_pipe_t *pipe, unsigned k, unsigned n);

/* Writes doc (borrowed) to path: a temporary file in the same directory,
 * fsync'd, then renamed, so a reader never sees half a plan. */
int km_planfile_write(const json_t *doc, const char *path, km_err_t *err);

#endif
