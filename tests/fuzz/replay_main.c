/* A main for the fuzz targets without libFuzzer: runs every file of the
 * directories (or files) given once through LLVMFuzzerTestOneInput.  The
 * plain and ASan builds use it to replay the seeds and regression inputs of
 * tests/fuzz/corpus as unit tests, with gcc and without clang. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"
#include "util/util.h"

static int run_file(const char *path) {
  FILE *f = fopen(path, "rb");
  if (f == NULL) {
    perror(path);
    return -1;
  }
  size_t cap = 4096, n = 0;
  uint8_t *buf = km_xmalloc(cap);
  size_t got;
  while ((got = fread(buf + n, 1, cap - n, f)) > 0) {
    n += got;
    if (n == cap) buf = km_xrealloc(buf, cap *= 2);
  }
  fclose(f);
  /* libFuzzer hands over a buffer of exactly the input's size. */
  uint8_t *exact = km_xmalloc(n > 0 ? n : 1);
  memcpy(exact, buf, n);
  free(buf);
  (void)LLVMFuzzerTestOneInput(exact, n);
  free(exact);
  return 0;
}

static int cmp_names(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static int run_dir(const char *dir, size_t *count) {
  DIR *d = opendir(dir);
  if (d == NULL) {
    perror(dir);
    return -1;
  }
  char **names = NULL;
  size_t n = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.') continue;
    names = km_xrealloc(names, (n + 1) * sizeof(*names));
    names[n++] = km_xasprintf("%s/%s", dir, e->d_name);
  }
  closedir(d);
  qsort(names, n, sizeof(*names), cmp_names);
  int rc = 0;
  for (size_t i = 0; i < n; i++) {
    if (run_file(names[i]) < 0) rc = -1;
    (*count)++;
    free(names[i]);
  }
  free(names);
  return rc;
}

int main(int argc, char **argv) {
  size_t count = 0;
  int rc = 0;
  for (int i = 1; i < argc; i++) {
    struct stat st;
    if (stat(argv[i], &st) != 0) {
      perror(argv[i]);
      return 1;
    }
    if (S_ISDIR(st.st_mode)) {
      if (run_dir(argv[i], &count) < 0) rc = 1;
    } else {
      if (run_file(argv[i]) < 0) rc = 1;
      count++;
    }
  }
  printf("%s: %zu inputs replayed\n", argv[0], count);
  return count > 0 ? rc : 1;
}
