/* Migration batches of one pipeline.
 *
 * The vendor moves at most 50 keys and 50 secrets per task (reference §7,
 * vendor procedure Step 2 §2), and a secret encrypted by a CMK only after
 * (or with) that CMK.  km_batch_plan cuts the inventory's moving keys
 * (pending and needs_byok) and pending secrets into batches that respect
 * both, deterministically:
 *   - keys sorted by KeyId fill batches of KM_BATCH_MAX_KEYS in order;
 *   - each secret may go no earlier than its CMK's batch (any batch when the
 *     CMK is already migrated or is a service/default key); secrets are
 *     placed, earliest-allowed first then by name, into the first batch at
 *     or after that point with room, adding secret-only batches at the end
 *     when needed;
 *   - inside a batch, key ids and secret names are sorted.
 * Run km_rules_eval first: only verdicts are read.
 */
#ifndef KM_MODEL_BATCH_H
#define KM_MODEL_BATCH_H

#include <stddef.h>

#include "model/inventory.h"

#define KM_BATCH_MAX_KEYS 50
#define KM_BATCH_MAX_SECRETS 50

typedef struct km_batch_s {
  char **key_ids; /* owned */
  size_t nkeys;
  char **secret_names; /* owned */
  size_t nsecrets;
} km_batch_t;

typedef struct km_batches_s {
  km_batch_t *v; /* owned */
  size_t n;
} km_batches_t;

/* Fills *out (caller-owned struct, contents owned; free with
 * km_batches_free) from inv (borrowed).  Zero moving resources gives zero
 * batches.  Returns 0 or KM_EINVAL. */
int km_batch_plan(const km_inv_t *inv, km_batches_t *out, km_err_t *err);
void km_batches_free(km_batches_t *b);

/* The JSON array form [{"keys":[...],"secrets":[...]}] (new reference),
 * used by the plan output and the journal's batch records. */
json_t *km_batches_to_json(const km_batches_t *b);

#endif
