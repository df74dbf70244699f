/* The three passes that turn a parsed manifest into a km_manifest_t:
 * sections (build.c), accounts and their include files (accounts.c), and
 * the cross-reference checks between them (check.c).  All report into the
 * context's diagnostics and keep going, so one run shows every problem. */
#ifndef KM_MANIFEST_BUILD_H
#define KM_MANIFEST_BUILD_H

#include "manifest/schema.h"

/* Every top-level section except `accounts`.  root is borrowed. */
void km__build_sections(km_mctx_t *c, const km_ynode_t *root);
/* A `hooks` mapping (top-level or per account) into h. */
void km__build_hooks(km_mctx_t *c, const char *name, const km_ynode_t *n,
                     km_mf_hooks_t *h);
/* A `concurrency` mapping: top-level (top, every key) or an account's
 * (only qps).  qps: {group: number} into l. */
void km__build_qps(km_mctx_t *c, const char *name, const km_ynode_t *n,
                   km_rl_limits_t *l);

/* The `accounts` list, reading include files (parsed docs are appended to
 * c->docs).  Needs the top-level `directory` and `regions` built first. */
void km__build_accounts(km_mctx_t *c, const km_ynode_t *list);
/* Cross-references: owners, regions, instances, sharing, credentials. */
void km__check_model(km_mctx_t *c, const km_ynode_t *root);

void km__hooks_free(km_mf_hooks_t *h);
/* The `monitor` section (monitor.c; n may be NULL: the defaults), and its
 * free. */
void km__build_monitor(km_mctx_t *c, const km_ynode_t *n);
void km__monitor_free(km_mf_monitor_t *mo);

/* `waves:` and `windows:` (waves.c; either may be NULL), the name checks
 * that need the accounts (after km__build_accounts), and the free. */
void km__build_waves(km_mctx_t *c, const km_ynode_t *waves,
                     const km_ynode_t *windows);
void km__check_waves(km_mctx_t *c);
void km__waves_free(km_manifest_t *m);

#endif
