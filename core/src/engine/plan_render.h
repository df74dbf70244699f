/* The output of `kmsmig plan`: a text table for people and a JSON document
 * for tools (schema in docs/report.md, "plan --json").
 *
 * Both are deterministic: pipelines are sorted by account then region,
 * instances by id, resources by id/name, so two plans of the same state
 * compare equal byte for byte.  The input inventories must have been
 * evaluated (km_rules_eval, then km_rules_quota over all of them); batches
 * are computed here with km_batch_plan.  Only names, ids and rule messages
 * are printed: never a secret value.
 */
#ifndef KM_ENGINE_PLAN_RENDER_H
#define KM_ENGINE_PLAN_RENDER_H

#include <stddef.h>

#include <jansson.h>

#include "model/inventory.h"
#include "model/rules.h"
#include "util/util.h"

typedef struct km_plan_s {
  const char *name;          /* manifest name (borrowed) */
  const char *manifest_path; /* as the operator typed it, for the last line */
  km_inv_t *const *invs;     /* borrowed, ninvs of them, any order */
  size_t ninvs;
  const km_quota_use_t *quota; /* from km_rules_quota (borrowed) */
  size_t nquota;
  const char *const *notes; /* "hooks" lines (borrowed), may be NULL */
  size_t nnotes;
} km_plan_t;

/* Status of one pipeline: "ready", "blocked" or "nothing to do". */
const char *km_plan_status(const km_inv_t *inv);

/* Appends the text plan to out (caller-owned, initialised). */
int km_plan_render_text(const km_plan_t *p, km_buf_t *out, km_err_t *err);

/* The JSON plan; *out is a new reference.  Returns 0 or KM_EINVAL. */
int km_plan_render_json(const km_plan_t *p, json_t **out, km_err_t *err);

/* The same JSON as a saved plan (plan --out, docs/plan.md): with "format",
 * "manifest_sha256" (borrowed, 64 hex) and "created" (Unix seconds). */
int km_plan_render_saved(const km_plan_t *p, const char *manifest_sha256,
                         int64_t created, json_t **out, km_err_t *err);

#endif
