/* Credentials: where an account's AccessKey comes from, resolved the way the
 * official Alibaba Cloud SDKs and the aliyun CLI do it, and an asynchronous
 * provider that hands out a current km_credential_t (acs/acs.h), assuming
 * RAM roles through STS when asked to, caching and refreshing the result.
 *
 * Sources (km_cred_source_t, everything borrowed and copied by km_creds_new)
 * - CHAIN: environment, then the aliyun CLI config file (the SDK default
 *   chain without the ECS metadata and OIDC steps).
 * - ENV: ALIBABA_CLOUD_ACCESS_KEY_ID, ALIBABA_CLOUD_ACCESS_KEY_SECRET and
 *   optionally ALIBABA_CLOUD_SECURITY_TOKEN.
 * - PROFILE: a profile of ~/.aliyun/config.json (or ALIBABA_CLOUD_CONFIG_FILE,
 *   or config_file); modes AK, StsToken, RamRoleArn, ChainableRamRoleArn.
 * - ASSUME_ROLE: STS AssumeRole with the credentials of `via` (NULL: CHAIN),
 *   which may itself assume a role (chained).
 * - STATIC: an AccessKey given in memory.  For tests only; the manifest never
 *   carries secrets.
 *
 * Secrets: AccessKey secrets and STS tokens are only copied into memory that
 * is cleansed when freed; they never appear in km_err_t text, logs or the
 * description strings.  Errors name the source and how to fix it.
 */
#ifndef KM_CREDS_H
#define KM_CREDS_H

#include <stdint.h>

#include <uv.h>

#include "acs/acs.h"
#include "kmsmig/errors.h"

typedef enum {
  KM_CRED_CHAIN = 0,
  KM_CRED_ENV,
  KM_CRED_PROFILE,
  KM_CRED_ASSUME_ROLE,
  KM_CRED_STATIC
} km_cred_kind_t;

typedef struct km_cred_source_s km_cred_source_t;
struct km_cred_source_s {
  km_cred_kind_t kind;
  /* The account this is for, used in messages ("no credentials for account
   * app-a ...") and in the hint "accounts/<account>.yaml".  May be NULL. */
  const char *account;
  /* PROFILE (and the config-file step of CHAIN): NULL profile means
   * ALIBABA_CLOUD_PROFILE, else the file's "current", else "default"; NULL
   * config_file means ALIBABA_CLOUD_CONFIG_FILE, else
   * $HOME/.aliyun/config.json. */
  const char *profile;
  const char *config_file;
  /* ASSUME_ROLE */
  const char *role_arn;          /* acs:ram::<uid>:role/<name> (required) */
  const char *role_session_name; /* NULL: "kmsmig" */
  int duration_seconds;          /* 0: 3600; 900..43200 */
  const char *external_id;       /* may be NULL */
  const char *policy;            /* may be NULL: narrows the role's rights */
  const km_cred_source_t *via;   /* NULL: CHAIN */
  /* The provider already made for via, or NULL (borrowed: it must be
   * closed after this one is; km_runtime closes every provider at once).
   * When it holds a static AccessKey, that key is shared, not copied. */
  const struct km_creds_s *via_creds;
  /* STATIC (tests only) */
  const char *access_key_id;
  const char *access_key_secret;
  const char *security_token; /* may be NULL */
};

typedef struct km_creds_s km_creds_t;

/* What a get delivers.  Everything is borrowed for the callback's duration
 * (km_acs_call copies the credential it is given). */
typedef struct km_creds_result_s {
  int status;                  /* 0 or a negative KM_E* code */
  const km_credential_t *cred; /* NULL unless status == 0 */
  int64_t expiration;  /* epoch seconds when the credential expires; 0: never */
  const km_err_t *err; /* NULL when status == 0; never holds a secret */
} km_creds_result_t;

typedef void (*km_creds_cb)(const km_creds_result_t *res, void *ud);

/* Creates a provider for src (borrowed, deep-copied) on loop (borrowed).
 * The source is resolved now: environment variables and config files are
 * read, so a missing or malformed source fails here with an error naming the
 * fix (KM_ECREDS, KM_EINVAL, KM_ENOTSUP).  acs (borrowed, may be NULL when no
 * role is assumed) carries the STS calls and must outlive the provider.
 * Returns 0 and *out (owned; km_creds_close) or a negative code. */
int km_creds_new(uv_loop_t *loop, const km_cred_source_t *src,
                 km_acs_client_t *acs, km_creds_t **out, km_err_t *err);

/* Asks for a current credential.  Returns 0, and cb is then called exactly
 * once from the loop (never before km_creds_get returns), or a negative code
 * (KM_EINVAL, KM_ECANCELED when closing) and cb is never called.  Assumed
 * role credentials are cached and refreshed when less than
 * max(5 minutes, 10% of the duration) remain; concurrent gets share one STS
 * call.  If a refresh fails while the cached credential is still valid for a
 * minute, the cached one is delivered (with a warning). */
int km_creds_get(km_creds_t *p, km_creds_cb cb, void *ud);

/* The cloud refused the temporary credential whose AccessKey id is akid
 * (borrowed; an expired or revoked STS token): the cached role credential
 * with that id is dropped, so the next get assumes the role again (with no
 * grace period for it).  An id that is no longer cached (another call
 * renewed it already) changes nothing.  Returns 1 when something was
 * dropped, else 0. */
int km_creds_invalidate(km_creds_t *p, const char *akid);

/* A description of the resolved chain without secrets, e.g.
 * "role acs:ram::1:role/x via profile 'base' (AK) in /h/.aliyun/config.json".
 * Borrowed, valid until close. */
const char *km_creds_describe(const km_creds_t *p);

/* Number of STS AssumeRole calls started (for tests and the report). */
uint64_t km_creds_sts_calls(const km_creds_t *p);

/* Closes the provider: pending gets complete with KM_ECANCELED before this
 * returns; STS calls in flight are awaited, their results cleansed and
 * dropped; then the provider's timer handle is closed, p is freed and
 * close_cb (may be NULL) is called from the loop.  Idempotent. */
void km_creds_close(km_creds_t *p, void (*close_cb)(void *ud), void *ud);

#endif
