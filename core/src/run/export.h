/* `kmsmig plan --export-fixture FILE`: the discovered fleet as a kmsim
 * fixture (export.c; docs/rehearse.md). */
#ifndef KM_RUN_EXPORT_H
#define KM_RUN_EXPORT_H

#include <stddef.h>

#include "model/inventory.h"
#include "run/runtime.h"

/* Writes the fixture of a finished plan to path (0600, replaced
 * atomically): accounts, directory, instances, keys and secrets from the
 * models (invs: borrowed, n of them) and rt (borrowed), metadata only, with
 * fresh random test-only AccessKeys.  Refuses (KM_EINVAL, nothing written)
 * when a pipeline's discovery did not finish: its lists would be partial.
 * 0, or < 0 with err naming the cause. */
int km_export_fixture(const km_runtime_t *rt, km_inv_t *const *invs, size_t n,
                      const char *path, km_err_t *err);

/* The test-only AccessKeys of a fixture written by km_export_fixture (or
 * any kmsim fixture): the first key of each account, by account name.
 * *keys is owned (km_export_keys_free).  0, or < 0 with err. */
int km_export_read_keys(const char *path, km_rt_static_key_t **keys, size_t *n,
                        km_err_t *err);
void km_export_keys_free(km_rt_static_key_t *keys, size_t n);

#endif
