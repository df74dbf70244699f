/* PREPARE of the share stage: sharing an instance with member accounts.
 *
 * Members of one instance arrive at PREPARE at nearly the same time (the
 * engine releases them together from the preflight barrier).  Instead of
 * one resource share per member, which costs the owner's Resource Sharing
 * QPS once per member, they join a round: after a short gathering delay the
 * round finds or creates the instance's share (kmsmig-<instance>), lists
 * who is already associated (a resumed run finds its earlier work), journals
 * and associates the rest five targets per call, and polls the associations
 * until every member is Associated or Failed.  Each member's stage ends with
 * its own result as soon as a poll shows its association settled.  Members
 * arriving during a round wait for the next.
 *
 * Calls are made through the first waiting member's stage context with the
 * owner's credentials (kp_call_as): the associate calls all at once, the
 * other steps one at a time; a member whose association settled ends after
 * a poll's answer, when nothing else of the round is in flight (the polls
 * begin once every write has answered), so the context of the next call is
 * always one that is still waiting.  Nothing counts as shared unless the cloud
 * listed the member's association as Associated. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "share.h"
#include "util/util.h"

#define PERMISSION "AliyunRSDefaultPermissionKMSInstance"
#define GATHER_MS 50
#define POLL_MS 500
#define POLL_MAX 240     /* two minutes for every association to settle */
#define PER_CALL 5       /* Targets.N per CreateResourceShare/Associate call */
#define LOOK_AGAIN_MAX 3 /* lost answers a round looks at again */

typedef struct round_s {
  struct round_s *next;
  share_state_t *st;
  char *instance;
  char name[96];
  char share_id[96];
  job_t *queued; /* waiting for the next round */
  job_t *active; /* in this round */
  bool running;
  int polls;
  int looks_again;    /* lost answers looked at again in this round */
  json_t *status;     /* account id -> association status / failure text */
  json_t *todo;       /* targets to associate */
  size_t todo_i;      /* the next target to send */
  int writes;         /* create / associate calls not answered yet */
  int wfail_code;     /* the first of their failures, kept until they all */
  km_err_t wfail_err; /* have answered (writes_done) */
  char wfail_what[48];
  const char *lost_action; /* an answer lost: look again after the rest */
  int status_code;         /* round-wide failure */
  km_err_t err;
  char next_token[128];
} round_t;

struct share_state_s {
  instinfo_t *infos;
  rdinfo_t *rds;
  round_t *rounds;
};

share_state_t *km__share_state_new(void) {
  return km_xcalloc(1, sizeof(share_state_t));
}

rdinfo_t **km__share_rds(share_state_t *st) {
  return &st->rds;
}

instinfo_t **km__share_infos(share_state_t *st) {
  return &st->infos;
}

void km__share_state_free(share_state_t *st) {
  if (st == NULL) return;
  km__share_infos_free(st->infos);
  km__share_rds_free(st->rds);
  for (round_t *r = st->rounds, *n; r != NULL; r = n) {
    n = r->next;
    json_decref(r->status);
    json_decref(r->todo);
    free(r->instance);
    free(r);
  }
  free(st);
}

/* The context the round's calls go through. */
static km_sctx_t *round_c(round_t *r) {
  return r->active->c;
}

static const char *owner_of(round_t *r) {
  return round_c(r)->t->instance_owner;
}

static const char *account_id(const job_t *m) {
  return m->c->t->account_id;
}

static void round_start(km_sctx_t *c, void *ud);

/* Ends member m with its own result: shared only when the cloud said
 * Associated; a round-wide failure, a Failed association or none at all
 * fails it. */
static void member_end(round_t *r, job_t *m) {
  const char *id = account_id(m);
  const char *st = json_string_value(json_object_get(r->status, id));
  if (r->status_code < 0) {
    km__share_fail(m, r->status_code, &r->err, "share");
  } else if (st == NULL || strcmp(st, "Associated") != 0) {
    km_err_t e;
    memset(&e, 0, sizeof(e));
    snprintf(e.text, sizeof(e.text),
             "sharing instance %s with account %s did not succeed (%s); "
             "check that both accounts are in one resource directory of "
             "one verified enterprise and the instance's access quota, "
             "remove the account from share %s if its association "
             "failed, then run again",
             r->instance, id, st != NULL ? st : "no association",
             r->share_id[0] ? r->share_id : r->name);
    km__share_fail(m, KM_ECLOUD, &e, "share");
  } else {
    kp_log(m->c, KM_LOG_INFO, "instance %s is shared with this account",
           r->instance);
  }
  km__share_end(m); /* m is gone */
}

/* Ends every member of the round with its own result, then starts the next
 * round when members are waiting. */
static void round_end(round_t *r) {
  job_t *m = r->active;
  r->active = NULL;
  r->running = false;
  while (m != NULL) {
    job_t *next = m->next;
    member_end(r, m);
    m = next;
  }
  json_decref(r->status);
  r->status = NULL;
  json_decref(r->todo);
  r->todo = NULL;
  r->status_code = 0;
  if (r->queued != NULL) {
    r->running = true;
    kp_timer(r->queued->c, GATHER_MS, round_start, r);
  }
}

static void round_fail(round_t *r, int rc, const km_err_t *err,
                       const char *what) {
  r->status_code = rc < 0 ? rc : KM_ECLOUD;
  if (err != NULL)
    r->err = *err;
  else
    snprintf(r->err.text, sizeof(r->err.text), "%s", km_strerror(rc));
  char tmp[sizeof(r->err.text) + 64];
  snprintf(tmp, sizeof(tmp), "%.60s: %s", what, r->err.text);
  memcpy(r->err.text, tmp, sizeof(r->err.text) - 1);
  r->err.text[sizeof(r->err.text) - 1] = '\0';
  round_end(r);
}

/* ---- polling the associations ---- */

static void list_assoc(round_t *r, void (*done)(round_t *r));

static bool settled(round_t *r, const job_t *m) {
  const char *st = json_string_value(json_object_get(r->status, account_id(m)));
  return st != NULL && strcmp(st, "Associating") != 0;
}

/* Ends the members whose association settled (Associated or Failed) at
 * once, not when the round's last one does: a member shared in the
 * round's first chunk goes on to migrate while the later chunks are still
 * associating (five targets a call, paced by the owner's Resource Sharing
 * bucket: ~1 s for 100 members before the last one's association even
 * starts).  No call or timer of the round is in flight here (the polls are
 * one after the other and begin after every write has answered), so the
 * members left, whose contexts carry the round from now on, are the only
 * ones it needs. */
static void end_settled(round_t *r) {
  job_t **at = &r->active;
  while (*at != NULL) {
    job_t *m = *at;
    if (!settled(r, m)) {
      at = &m->next;
      continue;
    }
    *at = m->next;
    member_end(r, m);
  }
}

static void poll(km_sctx_t *c, void *ud);

static void after_poll(round_t *r) {
  end_settled(r);
  if (r->active == NULL) {
    round_end(r);
    return;
  }
  if (++r->polls > POLL_MAX) {
    km_err_t e;
    memset(&e, 0, sizeof(e));
    snprintf(e.text, sizeof(e.text),
             "associations of share %s still not settled after %d s",
             r->share_id, POLL_MAX * POLL_MS / 1000);
    round_fail(r, KM_ETIMEDOUT, &e, "share");
    return;
  }
  kp_timer(round_c(r), POLL_MS, poll, r);
}

static void poll(km_sctx_t *c, void *ud) {
  (void)c;
  round_t *r = ud;
  list_assoc(r, after_poll);
}

typedef struct lctx_s {
  round_t *r;
  void (*done)(round_t *r);
} lctx_t;

static void on_assoc(km_sctx_t *c, const kp_res_t *res, void *ud) {
  (void)c;
  lctx_t *lc = ud;
  round_t *r = lc->r;
  void (*done)(round_t *) = lc->done;
  if (res->status < 0) {
    round_fail(r, res->status, res->err, "ListResourceShareAssociations");
    return;
  }
  const json_t *b = res->body;
  size_t i;
  const json_t *a;
  json_array_foreach(json_object_get(b, "ResourceShareAssociations"), i, a) {
    const char *entity = json_string_value(json_object_get(a, "EntityId"));
    const char *st = json_string_value(json_object_get(a, "AssociationStatus"));
    if (entity == NULL || st == NULL) continue;
    if (strcmp(st, "Failed") == 0) {
      json_t *fd =
          json_array_get(json_object_get(a, "AssociationFailedDetails"), 0);
      const char *why =
          json_string_value(json_object_get(fd, "FailureDescription"));
      char text[300];
      snprintf(text, sizeof(text), "Failed: %s", why != NULL ? why : "?");
      json_object_set_new(r->status, entity, json_string(text));
    } else {
      json_object_set_new(r->status, entity, json_string(st));
    }
  }
  const char *nt = json_string_value(json_object_get(b, "NextToken"));
  snprintf(r->next_token, sizeof(r->next_token), "%s", nt != NULL ? nt : "");
  if (r->next_token[0] != '\0') {
    list_assoc(r, done); /* next page, same callback */
    return;
  }
  done(r);
}

static void list_assoc(round_t *r, void (*done)(round_t *r)) {
  lctx_t *lc = kp_alloc(round_c(r), sizeof(*lc));
  lc->r = r;
  lc->done = done;
  const char *params[] = {"AssociationType", "Target",     "ResourceShareIds.1",
                          r->share_id,       "MaxResults", "100",
                          "NextToken",       r->next_token};
  kp_call_as(round_c(r), owner_of(r), "resourcesharing",
             "ListResourceShareAssociations", params, r->next_token[0] ? 4 : 3,
             NULL, on_assoc, lc);
}

/* ---- creating / associating ---- */

/* One call's chunk of targets: todo[from .. from+n). */
typedef struct chunk_s {
  round_t *r;
  size_t from, n;
} chunk_t;

static void associate_rest(round_t *r);

static json_t *chunk_targets(round_t *r, size_t from, size_t n) {
  json_t *t = json_array();
  for (size_t i = from; i < from + n; i++)
    json_array_append(t, json_array_get(r->todo, i));
  return t;
}

static int journal_targets(round_t *r, const chunk_t *ch) {
  json_t *rec = json_pack("{s:s, s:s, s:s, s:o}", "type", "share_requested",
                          "instance", r->instance, "share", r->name, "targets",
                          chunk_targets(r, ch->from, ch->n));
  return kp_journal(round_c(r), rec);
}

/* The call of share_requested's chunk succeeded: its RequestId. */
static int journal_shared(round_t *r, const chunk_t *ch, const char *action,
                          const kp_res_t *res) {
  json_t *rec = json_pack("{s:s, s:s, s:s, s:s, s:s, s:o, s:s}", "type",
                          "share_associated", "action", action, "instance",
                          r->instance, "share_id", r->share_id, "share",
                          r->name, "targets", chunk_targets(r, ch->from, ch->n),
                          "request_id", res->request_id);
  return kp_journal(round_c(r), rec);
}

/* The next chunk, todo[todo_i ..], up to PER_CALL targets: Targets.1..N
 * into params from at; returns it (kept with the round's context). */
static chunk_t *chunk(round_t *r, const char **params, size_t at,
                      char keys[][16]) {
  chunk_t *ch = kp_alloc(round_c(r), sizeof(*ch));
  ch->r = r;
  ch->from = r->todo_i;
  for (; ch->n < PER_CALL && ch->from + ch->n < json_array_size(r->todo);
       ch->n++) {
    snprintf(keys[ch->n], 16, "Targets.%zu", ch->n + 1);
    params[at + 2 * ch->n] = keys[ch->n];
    params[at + 2 * ch->n + 1] =
        json_string_value(json_array_get(r->todo, ch->from + ch->n));
  }
  r->todo_i += ch->n;
  return ch;
}

static void look_again(round_t *r, const char *action);

/* A write's answer lost on the way back (the connection closed or timed out
 * after the request went out, a 5xx other than 503, or SignatureNonceUsed:
 * the transport resent the very request after a connection died, so the
 * first copy arrived): the server may have done it, and these writes must
 * not simply be sent again. */
static bool answer_lost(const kp_res_t *res) {
  if (res->status == KM_EHTTP || res->status == KM_ETIMEDOUT ||
      res->status == KM_ETLS)
    return true;
  if (res->err == NULL) return false;
  int hs = res->err->http_status;
  return (hs >= 500 && hs != 503) ||
         strcmp(res->err->cloud_code, "SignatureNonceUsed") == 0;
}

/* The first failure of the round's writes: kept until every write in flight
 * has answered (round_fail ends the members, whose contexts carry them). */
static void write_failed(round_t *r, int rc, const km_err_t *err,
                         const char *what) {
  if (r->wfail_code < 0) return;
  r->wfail_code = rc < 0 ? rc : KM_ECLOUD;
  if (err != NULL)
    r->wfail_err = *err;
  else
    snprintf(r->wfail_err.text, sizeof(r->wfail_err.text), "%s",
             km_strerror(rc));
  snprintf(r->wfail_what, sizeof(r->wfail_what), "%s", what);
}

/* Every write of the round answered (or was never sent): a failure fails
 * the round, a lost answer looks again, else the polls begin. */
static void writes_done(round_t *r) {
  if (r->wfail_code < 0) {
    km_err_t e = r->wfail_err;
    int rc = r->wfail_code;
    r->wfail_code = 0;
    round_fail(r, rc, &e, r->wfail_what);
    return;
  }
  if (r->lost_action != NULL) {
    const char *action = r->lost_action;
    r->lost_action = NULL;
    look_again(r, action);
    return;
  }
  r->polls = 0;
  r->next_token[0] = '\0';
  list_assoc(r, after_poll);
}

static void on_writes_done_timer(km_sctx_t *c, void *ud) {
  (void)c;
  writes_done(ud);
}

/* share_requested, when the chunk's call leaves the queue: a chunk is
 * journalled only when it is sent, and none is sent after a failure. */
static int before_associate(km_sctx_t *c, void *ud) {
  chunk_t *ch = ud;
  round_t *r = ch->r;
  int rc = r->wfail_code < 0 ? r->wfail_code : journal_targets(r, ch);
  if (rc < 0) {
    write_failed(r, rc, NULL, "journal");
    /* Dropped, so never answered: the round goes on from a timer, not from
     * inside the queue that is sending. */
    if (--r->writes == 0) kp_timer(c, 0, on_writes_done_timer, r);
  }
  return rc;
}

static void on_associated(km_sctx_t *c, const kp_res_t *res, void *ud) {
  (void)c;
  chunk_t *ch = ud;
  round_t *r = ch->r;
  if (res->status < 0 && answer_lost(res) && r->looks_again < LOOK_AGAIN_MAX) {
    r->lost_action = "AssociateResourceShare";
  } else if (res->status < 0) {
    write_failed(r, res->status, res->err, "AssociateResourceShare");
  } else {
    int rc = journal_shared(r, ch, "AssociateResourceShare", res);
    if (rc < 0) write_failed(r, rc, NULL, "journal");
  }
  if (--r->writes == 0) writes_done(r);
}

static void on_created(km_sctx_t *c, const kp_res_t *res, void *ud) {
  (void)c;
  chunk_t *ch = ud;
  round_t *r = ch->r;
  r->writes--;
  if (res->status < 0 && answer_lost(res) && r->looks_again < LOOK_AGAIN_MAX) {
    look_again(r, "CreateResourceShare");
    return;
  }
  if (res->status < 0) {
    round_fail(r, res->status, res->err, "CreateResourceShare");
    return;
  }
  const char *id = json_string_value(json_object_get(
      json_object_get(res->body, "ResourceShare"), "ResourceShareId"));
  snprintf(r->share_id, sizeof(r->share_id), "%s", id != NULL ? id : "");
  int rc = journal_shared(r, ch, "CreateResourceShare", res);
  if (rc < 0) {
    round_fail(r, rc, NULL, "journal");
    return;
  }
  associate_rest(r);
}

/* The share does not exist yet: created with the first chunk of targets
 * (its id is needed for the rest), then associate_rest. */
static void create_share(round_t *r) {
  const char *params[8 + 2 * PER_CALL];
  char keys[PER_CALL][16];
  size_t at = 0;
  params[at++] = "ResourceShareName";
  params[at++] = r->name;
  params[at++] = "Resources.1.ResourceId";
  params[at++] = r->instance;
  params[at++] = "Resources.1.ResourceType";
  params[at++] = "KMSInstance";
  params[at++] = "PermissionNames.1";
  params[at++] = PERMISSION;
  chunk_t *ch = chunk(r, params, at, keys);
  int rc = journal_targets(r, ch);
  if (rc < 0) {
    round_fail(r, rc, NULL, "journal");
    return;
  }
  r->writes++;
  kp_call_as(round_c(r), owner_of(r), "resourcesharing", "CreateResourceShare",
             params, 4 + ch->n, NULL, on_created, ch);
}

/* The other chunks, all queued at once: the owner's Resource Sharing
 * bucket paces them, not their round trips one after the other (with
 * hundreds of other calls in flight a round trip took ~150 ms, and 20
 * chunks of 100 members took 3 s).  The polls begin when all answered. */
static void associate_rest(round_t *r) {
  if (r->todo_i >= json_array_size(r->todo)) {
    writes_done(r);
    return;
  }
  km_sctx_t *c = round_c(r);
  kp_hold(c); /* the queue must not drain between two chunks */
  while (r->todo_i < json_array_size(r->todo)) {
    const char *params[2 + 2 * PER_CALL];
    char keys[PER_CALL][16];
    params[0] = "ResourceShareId";
    params[1] = r->share_id;
    chunk_t *ch = chunk(r, params, 2, keys);
    r->writes++;
    kp_call_as(c, owner_of(r), "resourcesharing", "AssociateResourceShare",
               params, 1 + ch->n, before_associate, on_associated, ch);
  }
  kp_release(c);
}

/* Which members still need an association (an earlier attempt may have
 * associated some). */
static void plan_targets(round_t *r) {
  json_decref(r->todo); /* a look again plans anew */
  r->todo = json_array();
  r->todo_i = 0;
  for (job_t *m = r->active; m != NULL; m = m->next) {
    const char *id = account_id(m);
    const char *st = json_string_value(json_object_get(r->status, id));
    if (st != NULL &&
        (strcmp(st, "Associated") == 0 || strcmp(st, "Associating") == 0))
      continue;
    json_array_append_new(r->todo, json_string(id));
  }
  if (r->todo_i < json_array_size(r->todo) && r->share_id[0] == '\0')
    create_share(r);
  else
    associate_rest(r);
}

static void on_shares(km_sctx_t *c, const kp_res_t *res, void *ud) {
  (void)c;
  round_t *r = ud;
  if (res->status < 0) {
    round_fail(r, res->status, res->err, "ListResourceShares");
    return;
  }
  size_t i;
  const json_t *s;
  json_array_foreach(json_object_get(res->body, "ResourceShares"), i, s) {
    const char *name =
        json_string_value(json_object_get(s, "ResourceShareName"));
    const char *st =
        json_string_value(json_object_get(s, "ResourceShareStatus"));
    if (name != NULL && strcmp(name, r->name) == 0 && st != NULL &&
        strcmp(st, "Active") == 0) {
      const char *id = json_string_value(json_object_get(s, "ResourceShareId"));
      snprintf(r->share_id, sizeof(r->share_id), "%s", id != NULL ? id : "");
    }
  }
  if (r->share_id[0] != '\0') {
    r->next_token[0] = '\0';
    list_assoc(r, plan_targets); /* resume: who is associated already */
  } else {
    plan_targets(r);
  }
}

/* Finds the share by name (kept when it is known) and who is associated
 * with it, then plans what is still to do: on_shares. */
static void find_share(round_t *r) {
  const char *params[] = {"ResourceOwner", "Self", "ResourceShareName",
                          r->name};
  kp_call_as(round_c(r), owner_of(r), "resourcesharing", "ListResourceShares",
             params, 2, NULL, on_shares, r);
}

/* The answer to a create or an associate was lost: the round looks again
 * the way a resumed run does (the share by name within this run's round,
 * then its associations) and sends only what is still missing, so a
 * create the server did is never done twice.  The writes were journalled
 * (share_requested) before they were sent; a repeated one is journalled
 * again. */
static void look_again(round_t *r, const char *action) {
  r->looks_again++;
  kp_log(round_c(r), KM_LOG_WARN,
         "the answer to %s for share %s was lost: looking the share up by "
         "name before sending anything again",
         action, r->name);
  find_share(r);
}

static void round_start(km_sctx_t *c, void *ud) {
  (void)c;
  round_t *r = ud;
  r->active = r->queued;
  r->queued = NULL;
  r->status = json_object();
  r->share_id[0] = '\0';
  r->looks_again = 0;
  r->writes = 0;
  r->wfail_code = 0;
  r->lost_action = NULL;
  find_share(r);
}

void km__share_prepare(job_t *j) {
  const char *inst = j->c->t->instance_id;
  if (!j->c->t->share || inst == NULL) {
    km__share_end(j);
    return;
  }
  round_t *r = j->st->rounds;
  while (r != NULL && strcmp(r->instance, inst) != 0)
    r = r->next;
  if (r == NULL) {
    r = km_xcalloc(1, sizeof(*r));
    r->st = j->st;
    r->instance = km_xstrdup(inst);
    snprintf(r->name, sizeof(r->name), "kmsmig-%s", inst);
    r->next = j->st->rounds;
    j->st->rounds = r;
  }
  j->next = r->queued;
  r->queued = j;
  if (!r->running) {
    r->running = true;
    /* Gather the members the barrier releases together into one round. */
    kp_timer(j->c, GATHER_MS, round_start, r);
  }
}
