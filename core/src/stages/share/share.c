/* The `share` stage: the destination instance.
 *
 * discover  reads the instance as its owner (GetKmsInstance,
 *           GetKmsInstanceQuotaInfos: once per instance for the whole run,
 *           every pipeline that targets it waits for that one answer), the
 *           region's default instance and the secret names already in the
 *           instance (for the duplicate rule), straight into the pipeline's
 *           model (c->inv, seeded by the engine from the manifest); for a
 *           member the owner shares with, that both are in one resource
 *           directory (rule share.directory) before anything is shared.
 * prepare   shares the instance with this account (sharing.c).
 *
 * The run-wide state (instance facts, sharing rounds) is the provider's
 * state (init/fini); each stage start hangs its job off its context. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "share.h"
#include "util/util.h"

#define SHARE_VERSION "0.2.0"

/* ---- job plumbing ---- */

void km__share_end(job_t *j) {
  kp_finish(j->c);
}

void km__share_fail(job_t *j, int rc, const km_err_t *err, const char *what) {
  kp_fail(j->c, rc < 0 ? rc : KM_ECLOUD, err, "%s", what);
}

/* ---- discover ---- */

static void discover_step_done(job_t *j) {
  if (--j->pending == 0) km__share_end(j);
}

void km__share_step_done(job_t *j) {
  discover_step_done(j);
}

/* Instance facts, read once per instance per run: the first pipeline that
 * needs them asks the owner, the others wait for that answer (an owner
 * shared by hundreds of members would otherwise spend its instance-read
 * QPS on the same two questions).  The asking pipeline's discover waits for
 * the answers too, so its context outlives both calls. */
struct instinfo_s {
  instinfo_t *next;
  char *id;
  int state; /* 0 new, 1 asking, 2 known */
  int outstanding;
  json_t *inst, *quota; /* answers (copies), or NULL */
  int inst_status, quota_status;
  km_err_t inst_err, quota_err;
  job_t **waiters;
  size_t nwaiters;
};

static bool not_found(int status, const km_err_t *err) {
  return status < 0 && err != NULL && strstr(err->cloud_code, "NotFound");
}

static bool state_invalid(int status, const km_err_t *err) {
  return status < 0 && err != NULL &&
         strcmp(err->cloud_code, "Forbidden.DKMSInstanceStateInvalid") == 0;
}

static void info_apply(instinfo_t *in, job_t *j) {
  km_sctx_t *c = j->c;
  km_err_t e;
  if (in->inst != NULL) {
    if (km_inv_parse_kms_instance(c->inv, in->inst, &e) < 0)
      km__share_fail(j, KM_EPARSE, &e, "GetKmsInstance");
  } else if (not_found(in->inst_status, &in->inst_err)) {
    /* An instance the owner cannot see is a preflight finding, not a
     * crash: the rules report instance.not_found with the fix. */
    kp_log(c, KM_LOG_WARN, "instance %s: %s", c->inv->instance_id,
           in->inst_err.cloud_code);
  } else {
    km__share_fail(j, in->inst_status, &in->inst_err, "GetKmsInstance");
  }
  if (in->quota != NULL) {
    if (km_inv_parse_quota_infos(c->inv, in->quota, &e) < 0)
      km__share_fail(j, KM_EPARSE, &e, "GetKmsInstanceQuotaInfos");
  } else if (state_invalid(in->quota_status, &in->quota_err) &&
             in->inst != NULL) {
    /* A Disconnected or expired instance has no quota to read; the
     * instance rules (instance.not_enabled, instance.expired) block the
     * pipeline with the fix, from the GetKmsInstance answer. */
    kp_log(c, KM_LOG_WARN, "instance %s: quota not readable (%s)",
           c->inv->instance_id, in->quota_err.cloud_code);
  } else if (!not_found(in->quota_status, &in->quota_err)) {
    km__share_fail(j, in->quota_status, &in->quota_err,
                   "GetKmsInstanceQuotaInfos");
  }
  discover_step_done(j);
}

static void info_answered(instinfo_t *in) {
  if (--in->outstanding > 0) return;
  in->state = 2;
  job_t **w = in->waiters;
  size_t n = in->nwaiters;
  in->waiters = NULL;
  in->nwaiters = 0;
  for (size_t i = 0; i < n; i++)
    info_apply(in, w[i]);
  free(w);
}

/* One of the two answers: the body is kept (a copy) for later pipelines. */
static void info_keep(const kp_res_t *res, int *status, json_t **body,
                      km_err_t *err) {
  *status = res->status;
  if (res->status == 0)
    *body = json_deep_copy(res->body);
  else if (res->err != NULL)
    *err = *res->err;
}

static void on_instance(km_sctx_t *c, const kp_res_t *res, void *ud) {
  (void)c;
  instinfo_t *in = ud;
  info_keep(res, &in->inst_status, &in->inst, &in->inst_err);
  info_answered(in);
}

static void on_quota(km_sctx_t *c, const kp_res_t *res, void *ud) {
  (void)c;
  instinfo_t *in = ud;
  info_keep(res, &in->quota_status, &in->quota, &in->quota_err);
  info_answered(in);
}

static void ask_owner(job_t *j, const char *action, instinfo_t *in, kp_cb cb) {
  const char *params[] = {"KmsInstanceId", in->id};
  /* The owner reads its instance; a member may not see it before sharing.
   * No owner: the pipeline's own account. */
  kp_call_as(j->c, j->c->t->instance_owner, "kms", action, params, 1, NULL, cb,
             in);
}

static void info_get(job_t *j) {
  const char *id = j->c->inv->instance_id;
  instinfo_t **head = km__share_infos(j->st), *in = *head;
  while (in != NULL && strcmp(in->id, id) != 0)
    in = in->next;
  if (in == NULL) {
    in = km_xcalloc(1, sizeof(*in));
    in->id = km_xstrdup(id);
    in->next = *head;
    *head = in;
  }
  if (in->state == 2) {
    info_apply(in, j);
    return;
  }
  in->waiters = km_xrealloc(in->waiters, (in->nwaiters + 1) * sizeof(job_t *));
  in->waiters[in->nwaiters++] = j;
  if (in->state == 1) return;
  in->state = 1;
  in->outstanding = 2;
  /* A call that cannot be sent answers its callback with the failure. */
  ask_owner(j, "GetKmsInstance", in, on_instance);
  ask_owner(j, "GetKmsInstanceQuotaInfos", in, on_quota);
}

void km__share_infos_free(instinfo_t *in) {
  while (in != NULL) {
    instinfo_t *next = in->next;
    json_decref(in->inst);
    json_decref(in->quota);
    free(in->waiters);
    free(in->id);
    free(in);
    in = next;
  }
}

static void on_default(km_sctx_t *c, const kp_res_t *res, void *ud) {
  job_t *j = ud;
  if (res->status < 0) {
    km__share_fail(j, res->status, res->err, "GetDefaultKmsInstance");
  } else {
    km_err_t e;
    if (km_inv_parse_default_instance(c->inv, res->body, &e) < 0)
      km__share_fail(j, KM_EPARSE, &e, "GetDefaultKmsInstance");
  }
  discover_step_done(j);
}

static void list_dest(job_t *j, int page);

typedef struct page_s {
  job_t *j;
  int page;
} page_t;

static void on_dest(km_sctx_t *c, const kp_res_t *res, void *ud) {
  page_t *pg = ud;
  job_t *j = pg->j;
  int page = pg->page;
  if (res->status < 0) {
    km__share_fail(j, res->status, res->err, "ListSecrets (destination)");
    discover_step_done(j);
    return;
  }
  km_inv_page_t pi;
  km_err_t e;
  int rc =
      km_inv_parse_dest_secrets(c->inv, res->body, c->inv->account, &pi, &e);
  if (rc < 0) {
    km__share_fail(j, rc, &e, "ListSecrets (destination)");
  } else if ((rc = kp_next_page("ListSecrets (destination)", page, pi.items,
                                100, pi.page_size, pi.total_count, &e)) < 0) {
    km__share_fail(j, rc, &e, "ListSecrets (destination)");
  } else if (rc == 1) {
    list_dest(j, page + 1);
    return;
  }
  discover_step_done(j);
}

static void list_dest(job_t *j, int page) {
  char pn[16], filters[256];
  snprintf(pn, sizeof(pn), "%d", page);
  snprintf(filters, sizeof(filters),
           "[{\"Key\":\"DKMSInstanceId\",\"Values\":[\"%s\"]}]",
           j->c->inv->instance_id);
  const char *params[] = {"PageNumber", pn,        "PageSize",
                          "100",        "Filters", filters};
  page_t *pg = kp_alloc(j->c, sizeof(*pg));
  pg->j = j;
  pg->page = page;
  kp_call(j->c, "ListSecrets", params, 3, NULL, on_dest, pg);
}

static void start_discover(job_t *j) {
  /* The directory check first: it may end at once (answers known). */
  j->pending = 4;
  if (!km__share_rd_check(j)) j->pending--;
  info_get(j);
  kp_call(j->c, "GetDefaultKmsInstance", NULL, 0, NULL, on_default, j);
  list_dest(j, 1);
}

/* ---- the operations ---- */

static int share_init(void **state, km_err_t *err) {
  (void)err;
  *state = km__share_state_new();
  return 0;
}

static void share_fini(void *state) {
  km__share_state_free(state);
}

static int share_start(void *state, km_sctx_t *c) {
  if (c->stage != KM_STAGE_DISCOVER && c->stage != KM_STAGE_PREPARE)
    return KM_ENOTSUP;
  job_t *j = km_xcalloc(1, sizeof(*j));
  j->st = state;
  j->c = c;
  c->ud = j;
  c->free_ud = free;
  /* Every answer must come back (the steps and rounds count them): a
   * failure never drops the calls still queued. */
  c->keep_going = true;
  if (c->stage == KM_STAGE_DISCOVER)
    start_discover(j);
  else
    km__share_prepare(j);
  return 0;
}

const km_stage_ops_t km_stage_share = {
    .name = "share",
    .version = SHARE_VERSION,
    .stages = KM_STAGE_BIT(KM_STAGE_DISCOVER) | KM_STAGE_BIT(KM_STAGE_PREPARE),
    /* DISCOVER: the instance's facts with the keys' and secrets' listings
     * (each writes its own part of the model, and at the start of a fleet
     * the share's first answers take a second in which the key-read
     * bucket, the pipeline's slowest, would sit idle).  PREPARE: the share
     * with the rotation changes of keys and secrets (a member's association
     * takes the cloud a second or more, and they do not depend on it;
     * MIGRATE does, and starts after all three). */
    .concurrent =
        KM_STAGE_BIT(KM_STAGE_DISCOVER) | KM_STAGE_BIT(KM_STAGE_PREPARE),
    .init = share_init,
    .fini = share_fini,
    .start = share_start,
};
