/* `kmsmig observe RUN_DIR` and the observation at the end of `kmsmig run`
 * (docs/monitor.md).
 *
 * observe, any time after a run (also long after): reads RUN_DIR's
 * observe.json (the baselines and which pipelines went through MIGRATE),
 * loads the manifest the run recorded there (or --manifest) and refuses
 * one whose hash is not the run's, exactly as resume does; then runs the
 * monitor stage's after-observation for those pipelines only, read-only
 * (plan mode: the host refuses any write), with the credentials `kmsmig
 * run` would use, rewrites observe.json and prints the findings.  Exit 1
 * when a finding says "act", so a script (or the wave gate) can stop. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "run/observe_file.h"
#include "util/util.h"

bool km__observe_after_run(km_runtime_t *rt, km_inv_t *const *invs, size_t n,
                           char generated[21]) {
  if (!rt->m->monitor.enabled || rt->rd.dir == NULL) return false;
  char cwd[PATH_MAX];
  km_err_t err;
  memset(&err, 0, sizeof(err));
  if (km_observe_write(rt->rd.dir, rt->m->path,
                       getcwd(cwd, sizeof(cwd)) != NULL ? cwd : NULL, invs, n,
                       NULL, generated, &err) < 0) {
    fprintf(stderr, "kmsmig run: %s\n", err.text);
    return false;
  }
  return true;
}

void km__observe_print_run(km_runtime_t *rt, km_inv_t *const *invs, size_t n) {
  km_observe_print(stdout, invs, n, rt->rd.dir, false);
}

void km__usage_observe(void) {
  printf("usage: kmsmig observe RUN_DIR [--manifest PATH] [--quiet]\n\n"
         "Observes the shared and dedicated gateways again for every pipeline "
         "of\nRUN_DIR that went through migrate (CloudMonitor and ActionTrail, "
         "reads\nonly), rewrites RUN_DIR/observe.json and prints the findings "
         "(docs/monitor.md).\nThe manifest is the one the run recorded in "
         "observe.json unless --manifest\nnames its copy elsewhere; it must be "
         "unchanged since the run.\nExit 0: no finding says act; 1: at least "
         "one does; 2: usage or no observe.json.\n");
}

typedef struct {
  const json_t *doc;
  int rc;
  km_err_t err;
} attach_t;

static void on_engine(km_runtime_t *rt, void *ud) {
  attach_t *at = ud;
  for (size_t i = 0; i < km_engine_count(rt->engine) && at->rc == 0; i++) {
    km_inv_t *inv = km_pipeline_inv(km_engine_pipeline(rt->engine, i));
    at->rc = km_observe_attach(at->doc, inv, &at->err);
  }
}

/* The run's manifest hash (RUN_DIR/manifest.sha256) against rt's. */
static int same_manifest(km_runtime_t *rt, const char *dir) {
  char hash[65], old[65] = "";
  char *path = km_xasprintf("%s/manifest.sha256", dir);
  FILE *f = fopen(path, "r");
  free(path);
  if (f != NULL) {
    if (fgets(old, sizeof(old), f) == NULL) old[0] = '\0';
    fclose(f);
  }
  if (km_manifest_hash(rt->m, hash) < 0 || strncmp(old, hash, 64) != 0) {
    fprintf(stderr,
            "kmsmig observe: %s was run with another manifest (hash %.12s, "
            "%s now %.12s): pass the manifest the run used with --manifest\n",
            dir, old[0] ? old : "?", rt->m->path, hash);
    return KM_EINVAL;
  }
  return 0;
}

int km__cmd_observe(int argc, char **argv) {
  if (argc < 2 || km__is_help(argv[1])) {
    km__usage_observe();
    return argc < 2 ? KM_EXIT_USAGE : KM_EXIT_OK;
  }
  const char *dir = argv[1], *manifest = NULL;
  bool quiet = false;
  for (int i = 2; i < argc; i++) {
    if (strcmp(argv[i], "--manifest") == 0 && i + 1 < argc) {
      manifest = argv[++i];
    } else if (strcmp(argv[i], "--quiet") == 0) {
      quiet = true;
    } else {
      fprintf(stderr, "kmsmig observe: unknown option %s\n", argv[i]);
      km__usage_observe();
      return KM_EXIT_USAGE;
    }
  }
  km_err_t err;
  memset(&err, 0, sizeof(err));
  json_t *doc = NULL;
  if (km_observe_read(dir, &doc, &err) < 0) {
    fprintf(stderr, "kmsmig observe: %s\n", err.text);
    return KM_EXIT_USAGE;
  }
  /* The run's manifest as it was given, from where it was given (its hash
   * covers the names as given), unless --manifest says otherwise. */
  char *adir = realpath(dir, NULL);
  const char *cwd = json_string_value(json_object_get(doc, "cwd"));
  if (manifest == NULL && adir != NULL) {
    manifest = json_string_value(json_object_get(doc, "manifest"));
    if (manifest != NULL && manifest[0] != '/' && cwd != NULL &&
        chdir(cwd) != 0) {
      fprintf(stderr,
              "kmsmig observe: the run was started in %s, which is "
              "gone: pass its manifest with --manifest PATH\n",
              cwd);
      manifest = NULL;
    }
    dir = adir;
  }
  if (manifest == NULL) {
    fprintf(stderr,
            "kmsmig observe: %s/observe.json names no manifest: pass "
            "the run's with --manifest PATH\n",
            dir);
    json_decref(doc);
    free(adir);
    return KM_EXIT_USAGE;
  }
  km_runtime_opts_t o = {
      .manifest_path = manifest, .mode = KM_MODE_PLAN, .quiet = true};
  km_runtime_t *rt;
  int ec = km_runtime_new(&o, &rt);
  if (ec != 0) {
    json_decref(doc);
    free(adir);
    return ec;
  }
  if (same_manifest(rt, dir) < 0 || !rt->m->monitor.enabled) {
    if (!rt->m->monitor.enabled)
      fprintf(stderr, "kmsmig observe: %s sets monitor: enabled: false\n",
              rt->m->path);
    km_runtime_free(rt);
    json_decref(doc);
    free(adir);
    return KM_EXIT_USAGE;
  }
  attach_t at = {.doc = doc};
  rt->observe_only = true;
  rt->on_engine = on_engine;
  rt->on_engine_ud = &at;
  int rc = km_runtime_run(rt);
  if (rc == 0 && at.rc < 0) rc = at.rc;
  /* the pipelines observed now; the file keeps the others as they were */
  size_t cnt = rc == 0 ? km_engine_count(rt->engine) : 0, n = 0;
  km_inv_t **invs = km_xcalloc(cnt ? cnt : 1, sizeof(*invs));
  for (size_t i = 0; i < cnt; i++) {
    km_inv_t *inv = km_pipeline_inv(km_engine_pipeline(rt->engine, i));
    if (inv->obs != NULL && inv->obs->migrate_finished) invs[n++] = inv;
  }
  ec = KM_EXIT_OK;
  char gen[21];
  if (rc < 0) {
    fprintf(stderr, "kmsmig observe: %s\n",
            at.rc < 0 ? at.err.text : km_strerror(rc));
    ec = KM_EXIT_INTERNAL;
  } else if (km_observe_write(
                 dir, json_string_value(json_object_get(doc, "manifest")), cwd,
                 invs, n, doc, gen, &err) < 0) {
    fprintf(stderr, "kmsmig observe: %s\n", err.text);
    ec = KM_EXIT_INTERNAL;
  } else {
    km_observe_print(stdout, invs, n, dir, !quiet);
    if (km_observe_act(invs, n) > 0) ec = KM_EXIT_FAILURES;
  }
  free(invs);
  km_runtime_free(rt);
  json_decref(doc);
  free(adir);
  return ec;
}
