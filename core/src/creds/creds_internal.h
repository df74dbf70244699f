/* Shared between creds.c (the provider), aliyun_config.c (the CLI config
 * file) and sts.c (AssumeRole): the resolved chain as a small tree of nodes.
 *
 * A KEY node holds a fixed AccessKey (with an STS token for StsToken
 * profiles).  A ROLE node assumes role_arn with the credentials its `via`
 * node yields and caches the result in the same ak_* fields.  Every secret
 * field is freed with km_free_secret.
 */
#ifndef KM_CREDS_INTERNAL_H
#define KM_CREDS_INTERNAL_H

#include <stdint.h>

#include <jansson.h>

#include "acs/acs.h"
#include "creds/creds.h"

typedef enum { KM__NODE_KEY = 1, KM__NODE_ROLE } km__node_kind_t;

typedef struct km__waiter_s km__waiter_t;
typedef struct km__cred_node_s km__cred_node_t;

struct km__cred_node_s {
  km__node_kind_t kind;
  /* No secret: "profile 'x' (AK) in /path", "role ... via ...".  NULL for
   * a plain role node: km__cred_node_describe builds "role ARN via ..." when
   * it is asked for (10,000 members would each keep one). */
  char *desc;
  /* Whose AccessKey this is, for the fix in error texts: "account mgmt
   * (environment ...)".  Set by the resolver on the nodes that sign for
   * another (a key, a role under another); NULL for a provider's own role
   * and for tests' nodes. */
  char *label;
  /* KEY: the AccessKey.  ROLE: the cached assumed-role credential. */
  char *ak_id;
  char *ak_secret;    /* secret */
  char *token;        /* secret; NULL when none */
  int64_t expiration; /* epoch seconds; 0: never (KEY) or none cached */
  /* ROLE */
  char *role_arn;
  char *session_name;
  char *external_id;
  char *policy;
  int duration;
  km__cred_node_t *via; /* owned, unless via_shared */
  /* via is another provider's static AccessKey node, shared instead of
   * copied (10,000 members reach their role through one management key);
   * it never changes and is freed by its own provider. */
  bool via_shared;
  int fetching;
  int renewing_via;      /* this fetch assumes the via role again (once) */
  km__waiter_t *waiters; /* FIFO of gets waiting for the fetch */
  km__waiter_t *waiters_tail;
  km_creds_t *owner;
};

/* Owned node constructors; every string is copied (NULL allowed where the
 * field is optional).  km__cred_node_free frees the subtree, cleansing. */
km__cred_node_t *km__cred_node_key(const char *desc, const char *id,
                                   const char *secret, const char *token);
/* Steals via. */
km__cred_node_t *km__cred_node_role(const char *role_arn,
                                    const char *session_name, int duration,
                                    const char *external_id, const char *policy,
                                    km__cred_node_t *via);
void km__cred_node_free(km__cred_node_t *n);
/* n's description (owned), its chain included. */
char *km__cred_node_describe(const km__cred_node_t *n);

/* Checks an assume-role request's arguments; 0 or KM_EINVAL with err
 * naming what (label says whose: "profile 'x'", "account app-a"). */
int km__cred_check_role(const char *label, const char *role_arn,
                        const char *session_name, int duration, km_err_t *err);

/* Builds the node for a profile of the aliyun CLI config file.  file and
 * profile may be NULL (see km_cred_source_t).  Returns 0 and *out (owned),
 * KM_ENOENT when the file does not exist (err says which path), or another
 * negative code with err naming the profile, the file and the fix. */
int km__aliyun_profile_node(const char *file, const char *profile,
                            km__cred_node_t **out, km_err_t *err);

/* Starts STS AssumeRole for role (borrowed) with the credential via
 * (borrowed, copied by the client); via_label (may be NULL) names whose
 * AccessKey that is in error texts.  Same contract as km_acs_call. */
int km__sts_assume_role(km_acs_client_t *acs, const km__cred_node_t *role,
                        const km_credential_t *via, const char *via_label,
                        km_acs_cb cb, void *ud, km_err_t *err);

/* The Credentials of an AssumeRole response; strings owned. */
typedef struct km__sts_creds_s {
  char *ak_id;
  char *ak_secret; /* secret */
  char *token;     /* secret */
  int64_t expiration;
} km__sts_creds_t;

/* Parses body (borrowed) into out.  0 or KM_EPARSE (err says which field is
 * missing, never a value). */
int km__sts_parse(json_t *body, km__sts_creds_t *out, km_err_t *err);
/* Cleanses and frees out's strings. */
void km__sts_creds_clear(km__sts_creds_t *c);

#endif
