/* libFuzzer target: the manifest loader (core/src/manifest) on any bytes as
 * the manifest file, the way `kmsmig validate FILE` reads it.  Includes are
 * resolved next to the file, in the fuzzer's scratch directory.  Each input
 * must load (or fail with diagnostics) without a crash, a leak or undefined
 * behaviour; a successful load is also hashed, as `run` does. */
#include <stdlib.h>

#include "fuzz.h"
#include "manifest/diag.h"
#include "manifest/manifest.h"
#include "run/rundir.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *path = km_fuzz_write("manifest.yaml", data, size);
  km_diags_t d;
  km_diags_init(&d);
  km_manifest_t *m = NULL;
  if (km_manifest_load(path, &m, &d) == 0) {
    char hash[65];
    (void)km_manifest_hash(m, hash);
  }
  km_diags_sort(&d);
  km_manifest_free(m);
  km_diags_free(&d);
  free(path);
  return 0;
}
