/* A third-party plugin (ABI 2) for the engine's unit test: provides every
 * stage, finishes each one a millisecond later through host->timer, logs
 * "trace <stage>" for every stage it ran (the test reads the log), and
 * fails or blocks where the pipeline's account name says: an account
 * containing "fail-<stage>" fails that stage, one starting with "block" is
 * blocked at preflight.  It also reads the model through the accessors in
 * DISCOVER (an empty model at that point) to exercise them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kmsmig/plugin.h"

static const km_host_api_t *H;
static const char *names[] = {"discover", "preflight", "prepare", "migrate",
                              "restore",  "verify",    "observe"};

typedef struct job_s {
  km_stage_run_t *run;
  km_stage_t stage;
} job_t;

static void finish(void *ud) {
  job_t *j = ud;
  km_stage_run_t *run = j->run;
  const char *name = names[j->stage];
  const km_plugin_settings_t *set = H->settings(run);
  H->log(run, KM_PLOG_INFO, "trace %s", name);
  char fail_at[64];
  snprintf(fail_at, sizeof(fail_at), "fail-%s", name);
  km_err_t err;
  memset(&err, 0, sizeof(err));
  if (j->stage == KM_STAGE_PREFLIGHT &&
      strncmp(set->account, "block", 5) == 0) {
    snprintf(err.text, sizeof(err.text), "blocked by the fixture");
    free(j);
    H->stage_done(run, KM_STAGE_BLOCKED, &err);
  } else if (strstr(set->account, fail_at) != NULL) {
    err.code = KM_EIO;
    snprintf(err.text, sizeof(err.text), "fixture failure in %s", name);
    free(j);
    H->stage_done(run, KM_STAGE_FAILED, &err);
  } else {
    free(j);
    H->stage_done(run, KM_STAGE_OK, NULL);
  }
}

static int sp_init(const km_host_api_t *host, void **state, km_err_t *err) {
  (void)err;
  H = host;
  *state = NULL;
  return 0;
}

static int sp_start(void *state, km_stage_t stage, km_stage_run_t *run) {
  (void)state;
  const km_plugin_settings_t *set = H->settings(run);
  if (set == NULL || set->struct_size < sizeof(*set) || set->account == NULL)
    return KM_EINVAL;
  if (stage == KM_STAGE_DISCOVER) {
    km_plugin_key_t k;
    memset(&k, 0, sizeof(k));
    k.struct_size = sizeof(k);
    if (H->key_count(run) != 0 || H->key_at(run, 0, &k) != KM_ENOENT)
      return KM_EINVAL;
  }
  job_t *j = calloc(1, sizeof(*j));
  j->run = run;
  j->stage = stage;
  int rc = H->timer(run, 1, finish, j);
  if (rc < 0) free(j);
  return rc;
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
