/* The accounts of a run (runtime.h): each account's credential source and
 * provider (its own AccessKey, a role assumed through another account, a
 * directory member reached from the management account), the lookup the
 * engine uses for calls made as another account, and the release of a
 * provider once the account's last pipeline has ended and no other account
 * needs it.  Split from runtime.c, which assembles the run. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/strmap.h"
#include "run/accounts.h"
#include "run/runtime.h"
#include "util/util.h"

/* ---- credentials: one provider per account ---- */

typedef struct cred_call_s {
  km_cred_done_cb cb;
  void *ud;
} cred_call_t;

static void on_creds(const km_creds_result_t *res, void *ud) {
  cred_call_t *c = ud;
  c->cb(res->status, res->cred, res->err, c->ud);
  free(c);
}

/* A parked account's provider, made again from its source (the same
 * source made it once, and a member's via is the management account's
 * provider, which is never parked). */
static int unpark(km_rt_account_t *a) {
  km_err_t err;
  memset(&err, 0, sizeof(err));
  int rc = km_creds_new(&a->rt->loop, &a->src, a->rt->acs, &a->creds, &err);
  if (rc < 0) {
    km_log(KM_LOG_ERROR, "credentials for account %s: %s", a->mf->name,
           err.text);
    return rc;
  }
  a->parked = false;
  return 0;
}

int km__rt_get_cred(void *src, km_cred_done_cb cb, void *ud) {
  km_rt_account_t *a = src;
  if (a->creds == NULL && a->parked) {
    int rc = unpark(a);
    if (rc < 0) return rc;
  }
  if (a->creds == NULL) return KM_ECANCELED; /* released: nothing runs */
  cred_call_t *c = km_xcalloc(1, sizeof(*c));
  c->cb = cb;
  c->ud = ud;
  int rc = km_creds_get(a->creds, on_creds, c);
  if (rc < 0) free(c);
  return rc;
}

int km__rt_renew_cred(void *src, const char *akid) {
  km_rt_account_t *a = src;
  if (a->creds == NULL) return 0;
  return km_creds_invalidate(a->creds, akid);
}

km_rt_account_t *km_runtime_account(km_runtime_t *rt, const char *name) {
  size_t i;
  if (name != NULL && km_strmap_get(rt->by_name, name, &i))
    return &rt->accts[i];
  return NULL;
}

/* Indexes accts[from..naccts) by name (the first of a name wins, as the
 * linear search it replaces did). */
static void index_accounts(km_runtime_t *rt, size_t from) {
  if (rt->by_name == NULL) rt->by_name = km_strmap_new(rt->naccts);
  for (size_t i = from; i < rt->naccts; i++)
    km_strmap_put(rt->by_name, rt->accts[i].mf->name, i);
}

int km__rt_resolve_account(void *ud, const char *account,
                           const char **account_id, km_cred_get_fn *get,
                           void **cred_src) {
  km_rt_account_t *a = km_runtime_account(ud, account);
  if (a == NULL) return KM_ENOENT;
  *account_id = a->mf->id;
  *get = km__rt_get_cred;
  *cred_src = a;
  return 0;
}

/* A rehearsal signs with the fixture's test-only AccessKey wherever the
 * manifest names a key of its own (env, profile, chain): the operator's
 * real keys never reach kmsim.  assume_role stays as written, so STS is
 * rehearsed too.  0, or KM_ECREDS when the fixture has no key for it. */
static int rehearse_source(km_runtime_t *rt, km_rt_account_t *a) {
  const km_rt_rehearse_t *r = rt->rehearse;
  for (size_t i = 0; i < r->nkeys; i++) {
    if (strcmp(r->keys[i].account, a->mf->name) != 0) continue;
    a->src.kind = KM_CRED_STATIC;
    a->src.access_key_id = r->keys[i].id;
    a->src.access_key_secret = r->keys[i].secret;
    return 0;
  }
  fprintf(stderr,
          "%s:%d:%d: error: rehearsal: the fixture has no AccessKey for "
          "account %s; export the fixture again with `kmsmig plan "
          "MANIFEST --export-fixture FILE`\n",
          a->mf->pos.file, a->mf->pos.line, a->mf->pos.col, a->mf->name);
  return KM_ECREDS;
}

/* The credential source of accts[i] (its manifest account is set). */
static int build_source(km_runtime_t *rt, km_rt_account_t *a) {
  const km_mf_cred_spec_t *cs = &a->mf->cred;
  km_cred_source_t *s = &a->src;
  s->account = a->mf->name;
  if (rt->rehearse != NULL && cs->kind != KM_MF_CRED_ASSUME_ROLE)
    return rehearse_source(rt, a);
  switch (cs->kind) {
  case KM_MF_CRED_DEFAULT:
    s->kind = KM_CRED_CHAIN;
    break;
  case KM_MF_CRED_ENV:
    s->kind = KM_CRED_ENV;
    break;
  case KM_MF_CRED_PROFILE:
    s->kind = KM_CRED_PROFILE;
    s->profile = cs->profile;
    s->config_file = cs->config;
    break;
  case KM_MF_CRED_ASSUME_ROLE: {
    s->kind = KM_CRED_ASSUME_ROLE;
    a->role_arn = cs->role_arn != NULL
                      ? km_xstrdup(cs->role_arn)
                      : km_xasprintf("acs:ram::%s:role/%s", a->mf->id,
                                     cs->role != NULL ? cs->role
                                                      : KM_DEFAULT_MEMBER_ROLE);
    s->role_arn = a->role_arn;
    s->role_session_name = cs->session_name;
    s->duration_seconds = cs->duration_s;
    s->external_id =
        cs->external_id_env != NULL ? getenv(cs->external_id_env) : NULL;
    km_rt_account_t *via =
        cs->via != NULL ? km_runtime_account(rt, cs->via) : NULL;
    s->via = via != NULL ? &via->src : NULL;
    s->via_creds = via != NULL ? via->creds : NULL; /* NULL: not made yet */
    break;
  }
  }
  return 0;
}

/* Sources and providers for accts[from..naccts).  Providers deep-copy
 * their source, so the array may grow later (discovered members). */
static int build_providers(km_runtime_t *rt, size_t from) {
  index_accounts(rt, from);
  int rc = 0;
  for (size_t i = from; i < rt->naccts; i++)
    if (build_source(rt, &rt->accts[i]) < 0) rc = KM_ECREDS;
  if (rc < 0) return rc;
  for (size_t i = from; i < rt->naccts; i++) {
    km_err_t err;
    memset(&err, 0, sizeof(err));
    int r = km_creds_new(&rt->loop, &rt->accts[i].src, rt->acs,
                         &rt->accts[i].creds, &err);
    if (r < 0) {
      fprintf(stderr, "%s:%d:%d: error: %s\n", rt->accts[i].mf->pos.file,
              rt->accts[i].mf->pos.line, rt->accts[i].mf->pos.col, err.text);
      rc = r;
    }
  }
  return rc;
}

int km__rt_build_sources(km_runtime_t *rt) {
  const km_manifest_t *m = rt->m;
  rt->naccts = m->naccounts;
  rt->accts = km_xcalloc(m->naccounts ? m->naccounts : 1, sizeof(*rt->accts));
  for (size_t i = 0; i < m->naccounts; i++) {
    rt->accts[i].rt = rt;
    rt->accts[i].mf = &m->accounts[i];
  }
  int rc = build_providers(rt, 0);
  if (rc < 0 || !m->directory.present) return rc;
  if ((rc = km_directory_discover(rt)) < 0) return rc;
  size_t from = rt->naccts;
  rt->accts =
      km_xrealloc(rt->accts, (from + rt->ndiscovered + 1) * sizeof(*rt->accts));
  memset(&rt->accts[from], 0, (rt->ndiscovered + 1) * sizeof(*rt->accts));
  for (size_t i = 0; i < rt->ndiscovered; i++) {
    rt->accts[from + i].rt = rt;
    rt->accts[from + i].mf = &rt->discovered[i];
  }
  rt->naccts = from + rt->ndiscovered;
  /* The array moved: a manifest account's source names its via account by
   * a pointer into it (km__rt_count_accounts and the providers made again
   * later read it).  The providers made so far hold copies; the name
   * index holds positions, still right. */
  for (size_t i = 0; i < from; i++) {
    km_cred_source_t *s = &rt->accts[i].src;
    if (s->via == NULL) continue;
    km_rt_account_t *via = km_runtime_account(rt, rt->accts[i].mf->cred.via);
    s->via = via != NULL ? &via->src : NULL;
  }
  return build_providers(rt, from);
}

/* ---- credentials no longer needed ---- */

static bool ended(km_pipe_state_t s) {
  return s == KM_PIPE_OK || s == KM_PIPE_BLOCKED || s == KM_PIPE_FAILED ||
         s == KM_PIPE_NOT_STARTED;
}

/* Counts each account's pipelines and marks the accounts others use. */
void km__rt_count_accounts(km_runtime_t *rt) {
  const char *mgmt =
      rt->m->directory.present ? rt->m->directory.management : NULL;
  for (size_t i = 0; i < rt->naccts; i++) {
    km_rt_account_t *a = &rt->accts[i];
    a->open_pipes = 0;
    a->waiting_pipes = 0;
    a->needed = mgmt != NULL && strcmp(a->mf->name, mgmt) == 0;
  }
  for (size_t i = 0; i < rt->naccts; i++) {
    const km_cred_source_t *v = rt->accts[i].src.via;
    if (v != NULL) {
      km_rt_account_t *via = km_runtime_account(rt, v->account);
      if (via != NULL) via->needed = true;
    }
  }
  for (size_t i = 0; i < rt->ntargets; i++) {
    km_rt_account_t *a = km_runtime_account(rt, rt->targets[i].account);
    km_rt_account_t *o = km_runtime_account(rt, rt->targets[i].instance_owner);
    if (a != NULL) a->open_pipes++;
    if (o != NULL && o != a) o->needed = true;
    if (o == a && a != NULL && rt->targets[i].share) a->needed = true;
  }
}

/* The pipelines of a fleet larger than concurrency.accounts wait at the
 * barrier by the thousand, most of them until long after their credential
 * would need a refresh anyway (phase B takes the accounts a few at a time):
 * a member waiting there keeps no provider, role node and cached STS
 * credential (~600 bytes, more with a real STS token), at the price of
 * one AssumeRole when its turn comes.  Only directory members: their via
 * is the management account's provider (needed, never closed), and a
 * smaller run keeps its credentials (no extra call). */
void km__rt_park_account(km_runtime_t *rt, km_pipeline_t *p) {
  if (rt->naccts <= (size_t)rt->m->concurrency_accounts) return;
  km_rt_account_t *a = km_runtime_account(rt, km_pipeline_target(p)->account);
  if (a == NULL || a->mf < rt->discovered ||
      a->mf >= rt->discovered + rt->ndiscovered)
    return;
  a->waiting_pipes++;
  if (a->waiting_pipes < a->open_pipes || a->needed || a->creds == NULL ||
      a->src.kind != KM_CRED_ASSUME_ROLE || a->src.via_creds == NULL)
    return;
  km_creds_close(a->creds, NULL, NULL);
  a->creds = NULL;
  a->parked = true;
}

/* When the last pipeline of an account that nobody else needs has ended,
 * its credentials provider is closed: a fleet does not keep 10,000 cached
 * STS credentials (and their secrets) until the end of the run. */
void km__rt_release_account(km_runtime_t *rt, km_pipeline_t *p) {
  const km_target_t *t = km_pipeline_target(p);
  size_t i = (size_t)(t - rt->targets); /* the engine borrows rt->targets */
  if (!ended(km_pipeline_state(p)) || i >= rt->ntargets || rt->released[i])
    return;
  rt->released[i] = true; /* once per pipeline, whatever events follow */
  km_rt_account_t *a = km_runtime_account(rt, t->account);
  if (a == NULL || a->open_pipes == 0 || --a->open_pipes > 0 || a->needed ||
      a->creds == NULL)
    return;
  km_creds_close(a->creds, NULL, NULL);
  a->creds = NULL;
}
