/* What every libFuzzer target of tests/fuzz shares: the entry point's
 * prototype and a private scratch directory for the targets whose code
 * under test reads files (manifest loader, journal replay). */
#ifndef KM_FUZZ_H
#define KM_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A directory made once per process under $TMPDIR (or /tmp) and removed at
 * exit with what the targets wrote in it; borrowed. */
const char *km_fuzz_dir(void);
/* Writes data to <km_fuzz_dir()>/name and returns that path (owned). */
char *km_fuzz_write(const char *name, const uint8_t *data, size_t size);
/* A NUL-terminated copy of data (owned). */
char *km_fuzz_strndup(const uint8_t *data, size_t size);

#endif
