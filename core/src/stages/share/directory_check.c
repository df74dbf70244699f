/* Sharing's preconditions, checked in DISCOVER before anything is shared.
 * The vendor procedure: "Sharing is supported only within a resource
 * directory, and both the resource owner and the principal must belong to
 * the same verified enterprise."
 *
 * For a member the owner will share the instance with, GetResourceDirectory
 * as the owner and as the member must name the same directory (rule
 * share.directory; an account in no directory answers EntityNotExists).
 * Each account is asked once for the whole run: the first pipeline that
 * needs an account's answer asks, the others wait for it (an owner shared
 * with hundreds of members would otherwise spend its ResourceManager QPS
 * on one question).  The asking pipeline's discover waits for its own
 * answers too, so its context outlives the call.  A member the run found
 * by listing the management account's directory, shared by that account
 * (or another member found so), is in the same directory by construction:
 * nothing is asked (km_target_t.owner_same_directory).  No API shows an
 * account's verified enterprise, so the plan asks the operator to confirm
 * it (share.enterprise_unverified). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/rules.h"
#include "share.h"
#include "util/util.h"

typedef struct rdcheck_s rdcheck_t;

typedef struct rdwait_s {
  rdcheck_t *r;
} rdwait_t;

struct rdinfo_s {
  rdinfo_t *next;
  char *account; /* manifest name */
  int state;     /* 0 new, 1 asking, 2 known */
  int status;
  char rd[96];
  km_err_t err;
  rdwait_t *waiters;
  size_t nwaiters;
};

struct rdcheck_s {
  job_t *j;
  int answers;
  const rdinfo_t *owner, *own;
};

void km__share_rds_free(rdinfo_t *in) {
  while (in != NULL) {
    rdinfo_t *next = in->next;
    free(in->waiters);
    free(in->account);
    free(in);
    in = next;
  }
}

static bool no_directory(const rdinfo_t *in) {
  return in->status < 0 && strstr(in->err.cloud_code, "EntityNotExists");
}

static bool unreadable(const rdinfo_t *in) {
  return in->status < 0 && !no_directory(in);
}

static void judge(rdcheck_t *r) {
  job_t *j = r->j;
  km_sctx_t *c = j->c;
  const char *owner = c->t->instance_owner;
  if (unreadable(r->owner) || unreadable(r->own)) {
    const rdinfo_t *bad = unreadable(r->own) ? r->own : r->owner;
    char what[200];
    snprintf(what, sizeof(what),
             "GetResourceDirectory as %s (sharing needs one resource "
             "directory; grant resourcemanager:GetResourceDirectory)",
             bad->account);
    km__share_fail(j, bad->status, &bad->err, what);
  } else {
    const char *a = r->owner->status < 0 ? "none" : r->owner->rd;
    const char *b = r->own->status < 0 ? "none" : r->own->rd;
    const char *extra[] = {"owner", owner, "owner_rd", a, "account_rd", b};
    bool same =
        r->owner->status == 0 && r->own->status == 0 && strcmp(a, b) == 0;
    (void)km_rules_issue(
        c->inv, same ? "share.enterprise_unverified" : "share.directory", extra,
        3, NULL);
  }
  km__share_step_done(j);
}

static void answered(rdcheck_t *r) {
  if (++r->answers == 2) judge(r);
}

static void on_rd(km_sctx_t *c, const kp_res_t *res, void *ud) {
  (void)c;
  rdinfo_t *in = ud;
  in->status = res->status;
  if (res->status < 0) {
    if (res->err != NULL) in->err = *res->err;
  } else {
    const char *id = json_string_value(
        json_object_get(json_object_get(res->body, "ResourceDirectory"),
                        "ResourceDirectoryId"));
    if (id != NULL)
      snprintf(in->rd, sizeof(in->rd), "%s", id);
    else
      in->status = km__err_set(&in->err, KM_EPARSE,
                               "GetResourceDirectory answered without "
                               "ResourceDirectoryId");
  }
  in->state = 2;
  rdwait_t *w = in->waiters;
  size_t n = in->nwaiters;
  in->waiters = NULL;
  in->nwaiters = 0;
  for (size_t i = 0; i < n; i++)
    answered(w[i].r);
  free(w);
}

/* Finds or asks the directory of account (manifest name) for r. */
static const rdinfo_t *ask(rdcheck_t *r, const char *account) {
  job_t *j = r->j;
  rdinfo_t **head = km__share_rds(j->st), *in = *head;
  while (in != NULL && strcmp(in->account, account) != 0)
    in = in->next;
  if (in == NULL) {
    in = km_xcalloc(1, sizeof(*in));
    in->account = km_xstrdup(account);
    in->next = *head;
    *head = in;
  }
  if (in->state == 2) return in;
  in->waiters =
      km_xrealloc(in->waiters, (in->nwaiters + 1) * sizeof(*in->waiters));
  in->waiters[in->nwaiters++] = (rdwait_t){r};
  if (in->state == 0) {
    in->state = 1;
    const char *as = strcmp(account, j->c->t->account) == 0 ? NULL : account;
    /* A call that cannot be sent answers on_rd with the failure. */
    kp_call_as(j->c, as, "resourcemanager", "GetResourceDirectory", NULL, 0,
               NULL, on_rd, in);
  }
  return in;
}

bool km__share_rd_check(job_t *j) {
  const km_target_t *t = j->c->t;
  if (!t->share || t->instance_owner == NULL ||
      strcmp(t->instance_owner, t->account) == 0 || t->owner_same_directory)
    return false;
  rdcheck_t *r = kp_alloc(j->c, sizeof(*r));
  memset(r, 0, sizeof(*r));
  r->j = j;
  r->owner = ask(r, t->instance_owner);
  r->own = ask(r, t->account);
  /* Answers already known count at once (the waiters count the rest). */
  if (r->owner->state == 2) answered(r);
  if (r->own->state == 2) answered(r);
  return true;
}
