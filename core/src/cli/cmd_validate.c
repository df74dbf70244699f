/* `kmsmig validate MANIFEST [--quiet] [--output text|json]`.
 *
 * Loads the manifest and every account file it includes, prints every
 * problem at once as `file:line:col: error: ...` on stderr and exits 2, or
 * prints a one-line summary and exits 0.  It never makes a network call:
 * everything it checks is in the files (and the files they name). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"
#include "lua/lua.h"
#include "manifest/manifest.h"
#include "util/util.h"

void km__usage_validate(void) {
  printf("usage: kmsmig validate MANIFEST [--quiet] [--output text|json]\n"
         "\n"
         "Checks MANIFEST and the account files it includes, without any "
         "cloud call.\n"
         "Every problem is printed at once as\n"
         "  FILE:LINE:COL: error: what is wrong; how to fix\n"
         "\n"
         "options:\n"
         "  -q, --quiet          print errors only (no summary, no "
         "warnings)\n"
         "  -o, --output FORMAT  text (default) or json (on stdout)\n"
         "  --allow-include-outside\n"
         "                       account includes may resolve outside the "
         "manifest's\n"
         "                       directory tree and the working directory\n"
         "\n"
         "exit codes: 0 valid, 2 invalid manifest or usage error.\n"
         "The manifest format is described in docs/manifest.md.\n");
}

static int usage_error(const char *fmt, const char *arg) {
  fprintf(stderr, "kmsmig validate: ");
  fprintf(stderr, fmt, arg);
  fprintf(stderr, "; see `kmsmig validate --help`\n");
  return KM_EXIT_USAGE;
}

/* Every region some account migrates in (or a directory member would),
 * sorted; borrowed strings from m. */
static size_t used_regions(const km_manifest_t *m, const char **out,
                           size_t cap) {
  size_t n = 0;
  for (size_t a = 0; a <= m->naccounts; a++) {
    const km_mf_strlist_t *l =
        a < m->naccounts ? &m->accounts[a].regions : &m->regions;
    for (size_t i = 0; i < l->n; i++) {
      size_t j = 0;
      while (j < n && strcmp(out[j], l->v[i]) != 0)
        j++;
      if (j == n && n < cap) out[n++] = l->v[i];
    }
  }
  for (size_t i = 1; i < n; i++)
    for (size_t j = i; j > 0 && strcmp(out[j - 1], out[j]) > 0; j--) {
      const char *t = out[j];
      out[j] = out[j - 1];
      out[j - 1] = t;
    }
  return n;
}

static json_t *diags_json(const km_diags_t *d) {
  json_t *arr = json_array();
  for (size_t i = 0; i < d->n; i++) {
    const km_diag_t *g = &d->v[i];
    json_array_append_new(
        arr, json_pack("{s:s, s:s, s:i, s:i, s:s}", "severity",
                       g->level == KM_DIAG_ERROR ? "error" : "warning", "file",
                       g->file, "line", g->line, "column", g->col, "message",
                       g->msg));
  }
  return arr;
}

static void print_json(const char *path, const km_manifest_t *m,
                       const km_diags_t *d) {
  json_t *o =
      json_pack("{s:s, s:b, s:i, s:i}", "manifest", path, "valid", m != NULL,
                "errors", (int)d->nerrors, "warnings", (int)d->nwarnings);
  json_object_set_new(o, "diagnostics", diags_json(d));
  if (m != NULL) {
    const char *regs[64];
    size_t nr = used_regions(m, regs, KM_ARRAY_SIZE(regs));
    json_t *r = json_array();
    for (size_t i = 0; i < nr; i++)
      json_array_append_new(r, json_string(regs[i]));
    json_t *s =
        json_pack("{s:s, s:i, s:b, s:o, s:i, s:s}", "name", m->name, "accounts",
                  (int)m->naccounts, "directory", m->directory.present,
                  "regions", r, "instances", (int)m->ninstances, "driver",
                  m->migrate.driver == KM_MF_DRIVER_SIM ? "sim" : "console");
    json_object_set_new(o, "summary", s);
  }
  char *txt = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
  printf("%s\n", txt);
  free(txt);
  json_decref(o);
}

static void print_summary(const char *path, const km_manifest_t *m) {
  const char *regs[64];
  size_t nr = used_regions(m, regs, KM_ARRAY_SIZE(regs));
  printf("%s: valid: %s, %zu account%s%s, %zu region%s (", path, m->name,
         m->naccounts, m->naccounts == 1 ? "" : "s",
         m->directory.present ? " + directory members" : "", nr,
         nr == 1 ? "" : "s");
  for (size_t i = 0; i < nr; i++)
    printf("%s%s", i ? ", " : "", regs[i]);
  printf("), %zu instance%s, driver %s\n", m->ninstances,
         m->ninstances == 1 ? "" : "s",
         m->migrate.driver == KM_MF_DRIVER_SIM ? "sim" : "console");
}

/* Compiles every hook file the manifest names (without running it), so a
 * Lua syntax error is a validate error, not a failure mid-run. */
static size_t check_one(const char *hook, km_diags_t *d) {
  if (hook == NULL) return 0;
  km_err_t err;
  memset(&err, 0, sizeof(err));
  if (km_lua_check_syntax(hook, &err) == 0) return 0;
  km_diag_add(d, KM_DIAG_ERROR, hook, 0, 0,
              "hook does not compile: %s; fix the Lua file", err.text);
  return 1;
}

static size_t check_hooks_of(const km_mf_hooks_t *h, km_diags_t *d) {
  size_t n = check_one(h->rotation, d) + check_one(h->default_instance, d) +
             check_one(h->before_batch, d) + check_one(h->after_batch, d);
  for (size_t i = 0; i < h->post_check.n; i++)
    n += check_one(h->post_check.v[i], d);
  return n;
}

static size_t check_hooks(const km_manifest_t *m, km_diags_t *d) {
  size_t n = check_hooks_of(&m->hooks, d);
  for (size_t i = 0; i < m->naccounts; i++)
    n += check_hooks_of(&m->accounts[i].hooks, d);
  return n;
}

int km__cmd_validate(int argc, char **argv) {
  const char *path = NULL;
  const char *output = "text";
  bool quiet = false;
  km_manifest_opts_t mo = {0};
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (km__is_help(a)) {
      km__usage_validate();
      return KM_EXIT_OK;
    } else if (strcmp(a, "--allow-include-outside") == 0) {
      mo.allow_include_outside = true;
    } else if (strcmp(a, "-q") == 0 || strcmp(a, "--quiet") == 0) {
      quiet = true;
    } else if (strcmp(a, "-o") == 0 || strcmp(a, "--output") == 0) {
      if (i + 1 >= argc)
        return usage_error("%s needs a value: text or json", a);
      output = argv[++i];
    } else if (strncmp(a, "--output=", 9) == 0) {
      output = a + 9;
    } else if (a[0] == '-' && a[1] != '\0') {
      return usage_error("unknown option '%s'", a);
    } else if (path != NULL) {
      return usage_error("one manifest at a time (got '%s' too)", a);
    } else {
      path = a;
    }
  }
  if (path == NULL) return usage_error("%s", "missing MANIFEST");
  bool json = strcmp(output, "json") == 0;
  if (!json && strcmp(output, "text") != 0)
    return usage_error("--output is '%s'; use text or json", output);

  km_diags_t d;
  km_diags_init(&d);
  km_manifest_t *m = NULL;
  int rc = km_manifest_load_opts(path, &mo, &m, &d);
  if (rc == 0 && check_hooks(m, &d) > 0) rc = KM_EMANIFEST;
  if (json) {
    print_json(path, m, &d);
  } else if (rc != 0) {
    km_diags_print(&d, stderr, quiet ? KM_DIAG_ERROR : KM_DIAG_WARNING);
    if (!quiet)
      fprintf(stderr, "kmsmig: %s is not valid: %zu error%s, %zu warning%s\n",
              path, d.nerrors, d.nerrors == 1 ? "" : "s", d.nwarnings,
              d.nwarnings == 1 ? "" : "s");
  } else if (!quiet) {
    km_diags_print(&d, stderr, KM_DIAG_WARNING);
    print_summary(path, m);
  }
  km_manifest_free(m);
  km_diags_free(&d);
  return rc == 0 ? KM_EXIT_OK : KM_EXIT_USAGE;
}
