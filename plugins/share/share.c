/* The `share` plugin: the destination instance.
 *
 * discover  creates the pipeline's inventory from the manifest's settings,
 *           then reads the instance as its owner (GetKmsInstance,
 *           GetKmsInstanceQuotaInfos: once per instance for the whole run,
 *           every pipeline that targets it waits for that one answer), the
 *           region's default instance and the secret names already in the
 *           instance (for the duplicate rule).
 * prepare   shares the instance with this account (sharing.c).
 *
 * The plugin sees the host only through km_host_api_t; the inventory code it
 * links is the core's, compiled into this object with hidden symbols. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kpdoc.h"
#include "share.h"

const km_host_api_t *km__share_host;

#define SHARE_PERMISSION "AliyunRSDefaultPermissionKMSInstance"
#define POLL_MS 500
#define POLL_MAX 240 /* 2 minutes of polling for Associated */

/* ---- doc ---- */

static int doc_load(job_t *j) {
  return kp_doc_read(H, j->p, &j->inv, &j->extra, &j->err);
}

static void doc_store(job_t *j) {
  kp_doc_write(H, j->p, j->inv, j->extra);
}

void km__share_end(job_t *j) {
  if (j->status == 0 && j->inv != NULL) doc_store(j);
  H->stage_done(j->run, j->status, j->status < 0 ? &j->err : NULL);
  km_inv_free(j->inv);
  json_decref(j->extra);
  free(j);
}

void km__share_fail(job_t *j, int rc, const km_err_t *err, const char *what) {
  if (j->status < 0) return;
  j->status = rc < 0 ? rc : KM_ECLOUD;
  if (err != NULL) j->err = *err;
  char prefix[160];
  snprintf(prefix, sizeof(prefix), "%s: ", what);
  size_t pl = strlen(prefix);
  if (pl + strlen(j->err.text) < sizeof(j->err.text)) {
    memmove(j->err.text + pl, j->err.text, strlen(j->err.text) + 1);
    memcpy(j->err.text, prefix, pl);
  }
}

/* ---- discover ---- */

static void discover_step_done(job_t *j) {
  if (--j->pending == 0) km__share_end(j);
}

/* Instance facts, read once per instance per run: the first pipeline that
 * needs them asks the owner, the others wait for that answer (an owner
 * shared by hundreds of members would otherwise spend its instance-read
 * QPS on the same two questions). */
struct instinfo_s {
  instinfo_t *next;
  char *id;
  int state; /* 0 new, 1 asking, 2 known */
  int outstanding;
  json_t *inst, *quota; /* answers, or NULL */
  int inst_status, quota_status;
  km_err_t inst_err, quota_err;
  job_t **waiters;
  size_t nwaiters;
};

static bool not_found(int status, const km_err_t *err) {
  return status < 0 && err != NULL && strstr(err->cloud_code, "NotFound");
}

static void info_apply(instinfo_t *in, job_t *j) {
  km_err_t e;
  if (in->inst != NULL) {
    if (km_inv_parse_kms_instance(j->inv, in->inst, &e) < 0)
      km__share_fail(j, KM_EPARSE, &e, "GetKmsInstance");
  } else if (not_found(in->inst_status, &in->inst_err)) {
    /* An instance the owner cannot see is a preflight finding, not a
     * crash: the rules report instance.not_found with the fix. */
    H->log(j->p, KM_PLOG_WARN, "instance %s: %s", j->inv->instance_id,
           in->inst_err.cloud_code);
  } else {
    km__share_fail(j, in->inst_status, &in->inst_err, "GetKmsInstance");
  }
  if (in->quota != NULL) {
    if (km_inv_parse_quota_infos(j->inv, in->quota, &e) < 0)
      km__share_fail(j, KM_EPARSE, &e, "GetKmsInstanceQuotaInfos");
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

static void on_instance(const km_plugin_call_result_t *r, void *ud) {
  instinfo_t *in = ud;
  in->inst_status = r->status;
  if (r->status == 0)
    in->inst = json_loads(r->body_json, 0, NULL);
  else if (r->err != NULL)
    in->inst_err = *r->err;
  info_answered(in);
}

static void on_quota(const km_plugin_call_result_t *r, void *ud) {
  instinfo_t *in = ud;
  in->quota_status = r->status;
  if (r->status == 0)
    in->quota = json_loads(r->body_json, 0, NULL);
  else if (r->err != NULL)
    in->quota_err = *r->err;
  info_answered(in);
}

static int ask_owner(job_t *j, const char *action, instinfo_t *in,
                     km_plugin_call_cb cb) {
  const char *owner = H->get(j->p, "instance_owner");
  const char *params[] = {"KmsInstanceId", in->id};
  /* The owner reads its instance; a member may not see it before sharing. */
  return owner != NULL
             ? H->call_as(j->p, owner, "kms", action, params, 1, cb, in)
             : H->call(j->p, "kms", action, params, 1, cb, in);
}

static void info_get(job_t *j) {
  instinfo_t **head = km__share_infos(j->st), *in = *head;
  while (in != NULL && strcmp(in->id, j->inv->instance_id) != 0)
    in = in->next;
  if (in == NULL) {
    in = calloc(1, sizeof(*in));
    in->id = strdup(j->inv->instance_id);
    in->next = *head;
    *head = in;
  }
  if (in->state == 2) {
    info_apply(in, j);
    return;
  }
  in->waiters = realloc(in->waiters, (in->nwaiters + 1) * sizeof(job_t *));
  in->waiters[in->nwaiters++] = j;
  if (in->state == 1) return;
  in->state = 1;
  in->outstanding = 2;
  int rc = ask_owner(j, "GetKmsInstance", in, on_instance);
  if (rc < 0) {
    in->inst_status = rc;
    snprintf(in->inst_err.text, sizeof(in->inst_err.text), "%s",
             km_strerror(rc));
    info_answered(in);
  }
  rc = ask_owner(j, "GetKmsInstanceQuotaInfos", in, on_quota);
  if (rc < 0) {
    in->quota_status = rc;
    snprintf(in->quota_err.text, sizeof(in->quota_err.text), "%s",
             km_strerror(rc));
    info_answered(in);
  }
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

static void on_default(const km_plugin_call_result_t *r, void *ud) {
  job_t *j = ud;
  if (r->status < 0) {
    km__share_fail(j, r->status, r->err, "GetDefaultKmsInstance");
  } else {
    json_t *b = json_loads(r->body_json, 0, NULL);
    km_err_t e;
    if (km_inv_parse_default_instance(j->inv, b, &e) < 0)
      km__share_fail(j, KM_EPARSE, &e, "GetDefaultKmsInstance");
    json_decref(b);
  }
  discover_step_done(j);
}

static void list_dest(job_t *j, int page);

typedef struct page_s {
  job_t *j;
  int page;
} page_t;

static void on_dest(const km_plugin_call_result_t *r, void *ud) {
  page_t *pg = ud;
  job_t *j = pg->j;
  int page = pg->page;
  free(pg);
  if (r->status < 0) {
    km__share_fail(j, r->status, r->err, "ListSecrets (destination)");
    discover_step_done(j);
    return;
  }
  json_t *b = json_loads(r->body_json, 0, NULL);
  km_inv_page_t pi;
  km_err_t e;
  int rc = km_inv_parse_dest_secrets(j->inv, b, j->inv->account, &pi, &e);
  json_decref(b);
  if (rc < 0) {
    km__share_fail(j, rc, &e, "ListSecrets (destination)");
  } else if (pi.items > 0 && pi.total_count > (int64_t)page * 100) {
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
           j->inv->instance_id);
  const char *params[] = {"PageNumber", pn,        "PageSize",
                          "100",        "Filters", filters};
  page_t *pg = calloc(1, sizeof(*pg));
  pg->j = j;
  pg->page = page;
  int rc = H->call(j->p, "kms", "ListSecrets", params, 3, on_dest, pg);
  if (rc < 0) {
    free(pg);
    km__share_fail(j, rc, NULL, "ListSecrets (destination)");
    discover_step_done(j);
  }
}

static int start_discover(job_t *j) {
  int rc = doc_load(j);
  if (rc < 0) return rc;
  j->pending = 3;
  info_get(j);
  rc = H->call(j->p, "kms", "GetDefaultKmsInstance", NULL, 0, on_default, j);
  if (rc < 0) {
    km__share_fail(j, rc, NULL, "GetDefaultKmsInstance");
    j->pending--;
  }
  list_dest(j, 1);
  return 0;
}

/* ---- descriptor ---- */

void km__share_free(job_t *j) {
  km_inv_free(j->inv);
  json_decref(j->extra);
  free(j);
}

static int share_init(const km_host_api_t *host, void **state, km_err_t *err) {
  (void)err;
  H = host;
  *state = km__share_state_new();
  return 0;
}

static void share_fini(void *state) {
  km__share_state_free(state);
}

static int share_start(void *state, km_stage_t stage, km_pipeline_t *p,
                       km_stage_run_t *run) {
  job_t *j = calloc(1, sizeof(*j));
  if (j == NULL) return KM_ENOMEM;
  j->st = state;
  j->p = p;
  j->run = run;
  switch (stage) {
  case KM_STAGE_DISCOVER: {
    int rc = start_discover(j);
    if (rc < 0) {
      json_decref(j->extra);
      free(j);
    }
    return rc;
  }
  case KM_STAGE_PREPARE:
    return km__share_prepare(j);
  default:
    free(j);
    return KM_ENOTSUP;
  }
}

static const km_plugin_t desc = {
    .abi_major = KM_PLUGIN_ABI_MAJOR,
    .abi_minor = KM_PLUGIN_ABI_MINOR,
    .struct_size = sizeof(km_plugin_t),
    .name = "share",
    .version = "0.2.0",
    .stages = KM_STAGE_BIT(KM_STAGE_DISCOVER) | KM_STAGE_BIT(KM_STAGE_PREPARE),
    .init = share_init,
    .fini = share_fini,
    .start = share_start,
};

KM_EXPORT const km_plugin_t *km_plugin_entry(void) {
  return &desc;
}
