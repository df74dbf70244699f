/* STS 2015-04-01: AssumeRole with the resource directory trust model (the
 * directory's management account may assume ResourceDirectoryAccountAccessRole
 * in its members; fixture roles: may trust other accounts), returning STS.*
 * credentials that auth.c accepts until they expire on kmsim's clock; and
 * GetCallerIdentity. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/rand.h>

#include "state.h"

#define RD_ROLE "ResourceDirectoryAccountAccessRole"

static void rand_chars(char *out, size_t n, const char *alphabet) {
  unsigned char raw[128];
  size_t al = strlen(alphabet);
  RAND_bytes(raw, (int)(n < sizeof(raw) ? n : sizeof(raw)));
  for (size_t i = 0; i < n && i < sizeof(raw); i++)
    out[i] = alphabet[raw[i] % al];
  out[n < sizeof(raw) ? n : sizeof(raw) - 1] = '\0';
}

static bool session_name_ok(const char *s) {
  size_t n = strlen(s);
  if (n < 2 || n > 64) return false;
  for (; *s; s++)
    if (!isalnum((unsigned char)*s) && *s != '_' && *s != '.' && *s != '@' &&
        *s != '-')
      return false;
  return true;
}

/* Is caller trusted by role `name` of account target? */
static bool trusted(ksim_cloud_t *c, const ksim_account_t *caller,
                    const ksim_account_t *target, const char *name,
                    bool *exists) {
  *exists = false;
  if (strcasecmp(name, RD_ROLE) == 0 && target->directory != NULL) {
    ksim_directory_t *d = ksim_directory_by_id(c, target->directory);
    /* the role is created in every member (not in the management account) */
    if (d != NULL && strcmp(d->management, target->id) != 0) {
      *exists = true;
      return strcmp(d->management, caller->id) == 0;
    }
  }
  for (size_t i = 0; i < target->roles.n; i++)
    if (strcasecmp(target->roles.v[i].name, name) == 0) {
      *exists = true;
      return ksim_strs_has(&target->roles.v[i].trusted, caller->id);
    }
  return false;
}

static int assume_role(ksim_req_t *req, ksim_resp_t *resp) {
  ksim_cloud_t *c = req->cloud;
  const char *arn = ksim_param_req(req, resp, "RoleArn");
  if (arn == NULL) return -1;
  const char *session = ksim_param_req(req, resp, "RoleSessionName");
  if (session == NULL) return -1;
  if (!session_name_ok(session))
    return ksim_fail_invalid(resp, "RoleSessionName");
  long duration;
  if (ksim_param_int(req, resp, "DurationSeconds", 3600, 900, 3600, &duration) <
      0)
    return -1;
  const char *pol = ksim_param(req, "Policy");
  if (pol != NULL && strlen(pol) > 2048)
    return ksim_fail_invalid(resp, "Policy");
  /* acs:ram::<uid>:role/<name> */
  char uid[64], name[128];
  if (sscanf(arn, "acs:ram::%63[0-9]:role/%127s", uid, name) != 2)
    return ksim_fail_invalid(resp, "RoleArn");
  ksim_account_t *target = ksim_account_by_id(c, uid);
  bool exists = false;
  if (target == NULL || !trusted(c, req->account, target, name, &exists)) {
    if (target == NULL || !exists)
      return ksim_fail(resp, "EntityNotExist.Role", "The role not exists: %s.",
                       arn);
    return ksim_fail(resp, "NoPermission",
                     "You are not authorized to do this action. You should "
                     "be authorized by RAM.");
  }
  ksim_sts_cred_t *s = km_xcalloc(1, sizeof(*s));
  char buf[128];
  rand_chars(buf, 28,
             "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789");
  s->access_key_id = km_xasprintf("STS.NT%s", buf);
  rand_chars(buf, 44,
             "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789");
  s->secret = km_xstrdup(buf);
  rand_chars(buf, 120,
             "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
             "0123456789+/");
  s->token = km_xasprintf("CAIS%s", buf);
  s->account = km_xstrdup(target->id);
  s->role_arn = km_xstrdup(arn);
  s->session = km_xstrdup(session);
  s->expires = req->now + duration;
  *KSIM_VEC_PUSH(c->sts) = s;
  ksim_map_put(&c->sts_index, s->access_key_id, s);
  char role_id[64];
  rand_chars(role_id, 18, "0123456789");
  char *assumed_id = km_xasprintf("3%s:%s", role_id, session);
  char *assumed_arn =
      km_xasprintf("acs:ram::%s:role/%s/%s", target->id, name, session);
  json_t *body =
      json_pack("{s:s, s:{s:s, s:s}, s:{s:s, s:s, s:s, s:o}}", "SourceIdentity",
                "", "AssumedRoleUser", "AssumedRoleId", assumed_id, "Arn",
                assumed_arn, "Credentials", "AccessKeyId", s->access_key_id,
                "AccessKeySecret", s->secret, "SecurityToken", s->token,
                "Expiration", ksim_json_time(s->expires));
  free(assumed_id);
  free(assumed_arn);
  return ksim_ok(resp, body);
}

static int get_caller_identity(ksim_req_t *req, ksim_resp_t *resp) {
  char *arn = req->via_sts
                  ? km_xasprintf("acs:ram::%s:assumed-role", req->account->id)
                  : km_xasprintf("acs:ram::%s:root", req->account->id);
  json_t *b = json_pack("{s:s, s:s, s:s, s:s}", "AccountId", req->account->id,
                        "Arn", arn, "IdentityType",
                        req->via_sts ? "AssumedRoleUser" : "Account",
                        "PrincipalId", req->account->id);
  free(arn);
  return ksim_ok(resp, b);
}

static const ksim_action_t sts_actions[] = {
    {"AssumeRole", assume_role, "sts", 0},
    {"GetCallerIdentity", get_caller_identity, "sts", 0},
    {NULL, NULL, NULL, 0}};

KSIM_REGISTER_ACTIONS("sts", sts_actions)
