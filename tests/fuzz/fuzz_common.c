/* The scratch directory and file helpers of fuzz.h.  Inputs are written to
 * a file because the manifest loader and the journal reader take paths, as
 * kmsmig gives them; the directory goes away at exit so a long run does not
 * fill /tmp. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "util/util.h"

static char g_dir[512];

static void remove_dir(void) {
  if (g_dir[0] == '\0') return;
  char cmd[600];
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", g_dir);
  if (system(cmd) != 0) fprintf(stderr, "fuzz: could not remove %s\n", g_dir);
}

const char *km_fuzz_dir(void) {
  if (g_dir[0] != '\0') return g_dir;
  const char *t = getenv("TMPDIR");
  snprintf(g_dir, sizeof(g_dir), "%s/km-fuzz-XXXXXX",
           t != NULL && t[0] != '\0' ? t : "/tmp");
  if (mkdtemp(g_dir) == NULL) {
    perror("fuzz: mkdtemp");
    abort();
  }
  atexit(remove_dir);
  return g_dir;
}

char *km_fuzz_write(const char *name, const uint8_t *data, size_t size) {
  char *path = km_xasprintf("%s/%s", km_fuzz_dir(), name);
  FILE *f = fopen(path, "wb");
  if (f == NULL || fwrite(data, 1, size, f) != size || fclose(f) != 0) {
    perror(path);
    abort();
  }
  return path;
}

char *km_fuzz_strndup(const uint8_t *data, size_t size) {
  char *s = km_xmalloc(size + 1);
  memcpy(s, data, size);
  s[size] = '\0';
  return s;
}
