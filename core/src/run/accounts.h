/* The accounts of a run, private to run/ (accounts.c). */
#ifndef KM_RUN_ACCOUNTS_H
#define KM_RUN_ACCOUNTS_H

#include "run/runtime.h"

/* Sources and providers of the manifest's accounts, then of the members
 * the resource directory lists; errors printed as file:line:col.  0 or
 * < 0. */
int km__rt_build_sources(km_runtime_t *rt);
/* An account's credentials for a call (src: its km_rt_account_t), and a
 * renewal after the cloud refused akid (the targets' get_cred, renew_cred). */
int km__rt_get_cred(void *src, km_cred_done_cb cb, void *ud);
int km__rt_renew_cred(void *src, const char *akid);
/* The engine's resolve_account (ud: the runtime). */
int km__rt_resolve_account(void *ud, const char *account,
                           const char **account_id, km_cred_get_fn *get,
                           void **cred_src);
/* Counts each account's pipelines (rt->targets) and marks the accounts
 * others need; before the engine starts. */
void km__rt_count_accounts(km_runtime_t *rt);
/* p reached the barrier: in a fleet larger than concurrency.accounts, a
 * directory member whose pipelines all wait there gives up its provider
 * (and its cached STS credential) until its next call. */
void km__rt_park_account(km_runtime_t *rt, km_pipeline_t *p);
/* p ended: closes its account's provider when it was the last pipeline and
 * no other account needs it (once per pipeline). */
void km__rt_release_account(km_runtime_t *rt, km_pipeline_t *p);

#endif
