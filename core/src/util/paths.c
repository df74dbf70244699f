/* Where kmsmig's own files are (util/paths.h).  Everything is derived from
 * /proc/self/exe, read once: an installed tree (<prefix>/bin/kmsmig with
 * <prefix>/share/kmsmig and <prefix>/lib/kmsmig beside it) works wherever it
 * is copied or moved, and a binary in a build tree of this source finds the
 * source tree's files (lua/, sim/) without being installed.  The build tree
 * is recognised without any build-time path but KM_SOURCE_DIR: the binary
 * lies under the source folder, or a CMakeCache.txt a few folders above it
 * names that folder as its source. */
#include "util/paths.h"

#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/util.h"

#ifndef PATH_MAX
#define PATH_MAX 4096
#endif

/* How many folders above the executable's a CMakeCache.txt is looked for
 * (build/bin/kmsmig, build/tests/unit/test_x, ...). */
#define KM_PATH_CACHE_DEPTH 4

static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static char g_exe_dir[PATH_MAX]; /* "" when unknown */
static char g_prefix[PATH_MAX];  /* "" when unknown */

/* Cuts s after its last '/' component: "/a/b" -> "/a", "/a" -> "/". */
static void parent_of(char *s) {
  char *slash = strrchr(s, '/');
  if (slash == NULL) {
    s[0] = '\0';
  } else if (slash == s) {
    s[1] = '\0';
  } else {
    *slash = '\0';
  }
}

static void init_paths(void) {
  char exe[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
  if (n <= 0 || exe[0] != '/') return;
  exe[n] = '\0';
  /* A binary replaced while it runs reads as "/path (deleted)". */
  static const char deleted[] = " (deleted)";
  size_t len = (size_t)n, dl = sizeof(deleted) - 1;
  if (len > dl && strcmp(exe + len - dl, deleted) == 0) exe[len - dl] = '\0';
  parent_of(exe);
  if (exe[0] == '\0') return;
  memcpy(g_exe_dir, exe, strlen(exe) + 1);
  parent_of(exe);
  memcpy(g_prefix, exe, strlen(exe) + 1);
}

const char *km_path_prefix(void) {
  pthread_once(&g_once, init_paths);
  return g_prefix[0] != '\0' ? g_prefix : NULL;
}

static bool exists(const char *path) {
  struct stat st;
  return stat(path, &st) == 0;
}

static bool is_dir(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* base/rel, or base alone for an empty rel (owned). */
static char *join(const char *base, const char *rel) {
  if (rel == NULL || rel[0] == '\0') return km_xstrdup(base);
  size_t bl = strlen(base);
  bool sep = bl > 0 && base[bl - 1] == '/';
  return km_xasprintf("%s%s%s", base, sep ? "" : "/", rel);
}

/* Owned join when it exists, else NULL. */
static char *existing(const char *base, const char *rel) {
  char *p = join(base, rel);
  if (exists(p)) return p;
  free(p);
  return NULL;
}

#ifdef KM_SOURCE_DIR
static const char *exe_dir(void) {
  pthread_once(&g_once, init_paths);
  return g_exe_dir[0] != '\0' ? g_exe_dir : NULL;
}

/* path is dir itself or below it. */
static bool under(const char *path, const char *dir) {
  size_t dl = strlen(dir);
  while (dl > 1 && dir[dl - 1] == '/')
    dl--;
  return strncmp(path, dir, dl) == 0 && (path[dl] == '\0' || path[dl] == '/');
}

/* dir/CMakeCache.txt exists and says CMAKE_HOME_DIRECTORY is src.
 * Returns 1 (yes), 0 (a cache of another source) or -1 (no cache here). */
static int cache_names(const char *dir, const char *src) {
  char *path = join(dir, "CMakeCache.txt");
  FILE *f = fopen(path, "r");
  free(path);
  if (f == NULL) return -1;
  static const char key[] = "CMAKE_HOME_DIRECTORY:INTERNAL=";
  char *line = NULL;
  size_t cap = 0;
  ssize_t n;
  int found = 0;
  while ((n = getline(&line, &cap, f)) > 0) {
    if (strncmp(line, key, sizeof(key) - 1) != 0) continue;
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
      line[--n] = '\0';
    found = strcmp(line + sizeof(key) - 1, src) == 0;
    break;
  }
  free(line);
  fclose(f);
  return found;
}

static bool in_build_tree(void) {
  const char *dir = exe_dir();
  if (dir == NULL) return false;
  if (under(dir, KM_SOURCE_DIR)) return true;
  char d[PATH_MAX];
  memcpy(d, dir, strlen(dir) + 1);
  for (int i = 0; i <= KM_PATH_CACHE_DEPTH && d[0] != '\0'; i++) {
    int r = cache_names(d, KM_SOURCE_DIR);
    if (r >= 0) return r == 1;
    if (strcmp(d, "/") == 0) break;
    parent_of(d);
  }
  return false;
}
#endif

char *km_path_data(const char *rel) {
  char *p;
  const char *env = getenv("KMSMIG_DATA_DIR");
  if (env != NULL && env[0] != '\0' && (p = existing(env, rel)) != NULL)
    return p;
  const char *prefix = km_path_prefix();
  if (prefix != NULL) {
    char *share = join(prefix, "share/kmsmig");
    p = existing(share, rel);
    free(share);
    if (p != NULL) return p;
  }
#ifdef KM_SOURCE_DIR
  if (in_build_tree() && (p = existing(KM_SOURCE_DIR, rel)) != NULL) return p;
#endif
  return NULL;
}

char *km_path_plugins(void) {
  const char *prefix = km_path_prefix();
  if (prefix == NULL) return NULL;
  char *p = join(prefix, "lib/kmsmig/plugins");
  if (is_dir(p)) return p;
  free(p);
  return NULL;
}
