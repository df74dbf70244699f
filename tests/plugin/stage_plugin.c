/* A plugin for the engine's unit test: provides every stage, finishes each
 * one a millisecond later through host->timer, records the stages it ran in
 * the pipeline document ("trace"), and fails or blocks where the target's
 * settings say ("fail_at": stage name, "block": "true"). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kmsmig/plugin.h"

static const km_host_api_t *H;
static const char *names[] = {"discover", "preflight", "prepare", "migrate",
                              "restore",  "verify",    "observe"};

typedef struct job_s {
  km_pipeline_t *p;
  km_stage_run_t *run;
  km_stage_t stage;
} job_t;

/* Appends the stage name to the document's "trace" string. */
static void trace(km_pipeline_t *p, const char *name) {
  const char *doc = H->doc_get(p);
  const char *t = strstr(doc, "\"trace\":\"");
  char prev[512] = "";
  if (t != NULL) {
    t += 9;
    const char *end = strchr(t, '"');
    snprintf(prev, sizeof(prev), "%.*s", (int)(end - t), t);
  }
  char next[1024];
  snprintf(next, sizeof(next), "{\"trace\":\"%s%s%s\"}", prev,
           prev[0] ? "," : "", name);
  H->doc_set(p, next);
}

static void finish(void *ud) {
  job_t *j = ud;
  const char *name = names[j->stage];
  trace(j->p, name);
  const char *fail_at = H->get(j->p, "fail_at");
  const char *block = H->get(j->p, "block");
  km_err_t err;
  memset(&err, 0, sizeof(err));
  if (j->stage == KM_STAGE_PREFLIGHT && block != NULL &&
      strcmp(block, "true") == 0) {
    snprintf(err.text, sizeof(err.text), "blocked by the fixture");
    H->stage_done(j->run, KM_EPERM, &err);
  } else if (fail_at != NULL && strcmp(fail_at, name) == 0) {
    snprintf(err.text, sizeof(err.text), "fixture failure in %s", name);
    H->stage_done(j->run, KM_EIO, &err);
  } else {
    H->stage_done(j->run, 0, NULL);
  }
  free(j);
}

static int sp_init(const km_host_api_t *host, void **state, km_err_t *err) {
  (void)err;
  H = host;
  *state = NULL;
  return 0;
}

static int sp_start(void *state, km_stage_t stage, km_pipeline_t *p,
                    km_stage_run_t *run) {
  (void)state;
  job_t *j = calloc(1, sizeof(*j));
  j->p = p;
  j->run = run;
  j->stage = stage;
  return H->timer(p, 1, finish, j);
}

static const km_plugin_t desc = {
    .abi_major = KM_PLUGIN_ABI_MAJOR,
    .abi_minor = KM_PLUGIN_ABI_MINOR,
    .struct_size = sizeof(km_plugin_t),
    .name = "stages",
    .version = "1.0.0",
    .stages = 0x7f,
    .init = sp_init,
    .start = sp_start,
};

KM_EXPORT const km_plugin_t *km_plugin_entry(void) {
  return &desc;
}
