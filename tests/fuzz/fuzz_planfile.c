/* libFuzzer target: the saved plan reader (core/src/run/planfile.c,
 * km_planfile_parse), which `run --plan FILE` trusts to decide what each
 * shard migrates; then the lookups and the shard split a run makes. */
#include <stdlib.h>

#include "fuzz.h"
#include "run/planfile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  km_planfile_t *p = NULL;
  km_err_t err;
  if (km_planfile_parse((const char *)data, size, "plan.json", &p, &err) != 0)
    return 0;
  for (size_t i = 0; i < p->npipes; i++) {
    const km_plan_pipe_t *pipe = &p->pipes[i];
    if (km_planfile_find(p, pipe->account, pipe->region) == NULL) abort();
    if (pipe->instance_id != NULL)
      (void)km_planfile_instance(p, pipe->instance_id);
    unsigned in = 0;
    for (unsigned k = 1; k <= 3; k++)
      in += km_planfile_in_shard(pipe, k, 3);
    if (in != 1) abort(); /* every pipeline is in exactly one shard */
  }
  km_planfile_free(p);
  return 0;
}
