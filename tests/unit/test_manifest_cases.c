/* Single-mistake manifests (every YAML file in tests/manifest/cases): each
 * file's first line is `# expect: FILE:LINE:COL: error|warning: MESSAGE`, the
 * one diagnostic `kmsmig validate` must print for it, FILE relative to the
 * cases directory (the test runs there, as an operator would, so paths inside
 * messages are relative too).  An error case must fail to load; a warning
 * case must load.
 * Adding a case is adding a file. */
#include <glob.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "manifest/manifest.h"

#define CASES KM_TEST_DATA "/manifest/cases"

static char *first_line(const char *path) {
  FILE *fp = fopen(path, "r");
  assert_non_null(fp);
  char buf[2048];
  char *r = fgets(buf, sizeof(buf), fp);
  fclose(fp);
  assert_non_null(r);
  buf[strcspn(buf, "\n")] = '\0';
  const char *tag = "# expect: ";
  if (strncmp(buf, tag, strlen(tag)) != 0)
    fail_msg("%s: first line must be '# expect: ...'", path);
  return strdup(buf + strlen(tag));
}

/* A case shows one diagnostic; most cases have no `select:` (it is beside
 * their point), and the fail-closed warning that gives is dropped unless
 * the case is about it. */
static void drop_select_unset(km_diags_t *d, const char *want) {
  if (strstr(want, "is not set: no ") != NULL) return;
  size_t k = 0;
  for (size_t i = 0; i < d->n; i++) {
    if (d->v[i].level == KM_DIAG_WARNING &&
        strstr(d->v[i].msg, "is not set: no ") != NULL) {
      free(d->v[i].file);
      free(d->v[i].msg);
      continue;
    }
    d->v[k++] = d->v[i];
  }
  d->n = k;
}

static int run_case(const char *path) {
  char *want = first_line(path);
  bool warning = strstr(want, ": warning: ") != NULL;
  km_diags_t d;
  km_diags_init(&d);
  km_manifest_t *m = NULL;
  int rc = km_manifest_load(path, &m, &d);
  drop_select_unset(&d, want);
  int bad = 0;
  if (warning ? rc != 0 : rc != KM_EMANIFEST) {
    print_error("%s: load returned %d\n", path, rc);
    bad = 1;
  }
  if (warning ? m == NULL : m != NULL) {
    print_error("%s: model %s\n", path, m ? "returned" : "missing");
    bad = 1;
  }
  if (d.n != 1) {
    print_error("%s: %zu diagnostics, want exactly 1:\n", path, d.n);
    bad = 1;
  }
  for (size_t i = 0; i < d.n; i++) {
    char *got = km_diag_format(&d.v[i]);
    if (d.n != 1 || strcmp(got, want) != 0) {
      print_error("  got:  %s\n  want: %s\n", got, want);
      bad = 1;
    }
    free(got);
  }
  km_manifest_free(m);
  km_diags_free(&d);
  free(want);
  return bad;
}

static void test_every_case(void **state) {
  (void)state;
  glob_t g;
  assert_int_equal(chdir(CASES), 0);
  assert_int_equal(glob("*.yaml", 0, NULL, &g), 0);
  /* The count guards against a glob that silently finds nothing. */
  assert_true(g.gl_pathc >= 35);
  int failures = 0;
  for (size_t i = 0; i < g.gl_pathc; i++)
    failures += run_case(g.gl_pathv[i]);
  globfree(&g);
  assert_int_equal(failures, 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_every_case),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
