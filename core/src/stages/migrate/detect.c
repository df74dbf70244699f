/* Detection shared by both migrate drivers: which resources of the current
 * batch are in the destination instance now.  A migration is one-way, so a
 * resource seen in the instance stays seen for the job, and each look asks
 * only about the batch's resources not seen yet.  It asks ListKeys and
 * ListSecrets filtered on DKMSInstanceId in whichever of two ways takes
 * fewer calls: by id (the unseen ids, 10 a call: the most a filter's Values
 * holds), or every page of the instance (100 a page).  The instance's size
 * comes from the last full listing's TotalCount (plus what was seen since);
 * while it is unknown the first page of a full listing learns it.  So a
 * poll costs at most ceil(unseen / 10) calls per kind whatever the
 * instance holds: following the batches of a big account is linear in its
 * batches, where listing the whole instance at every poll was quadratic.
 * A server that ignores the id filter (an item nobody asked for comes back)
 * gets full listings for the rest of the job: the answer stays right.
 * Keys and secrets are looked at the same time (ListKeys and ListSecrets
 * are in different rate-limit buckets); the look ends when both have. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "migrate.h"

#define FULL_PAGE 100
#define IDS_PER_CALL 10

typedef struct mlook_s mlook_t;

static void look_kind(mlook_t *l);
static void look_call(mlook_t *l);

size_t km__mig_detect_parse(const json_t *body, bool secrets, json_t *seen) {
  const json_t *items =
      secrets ? json_object_get(json_object_get(body, "SecretList"), "Secret")
              : json_object_get(json_object_get(body, "Keys"), "Key");
  size_t i;
  const json_t *it;
  json_array_foreach(items, i, it) {
    const char *id = json_string_value(
        json_object_get(it, secrets ? "SecretName" : "KeyId"));
    if (id != NULL) json_object_set_new(seen, id, json_true());
  }
  return json_array_size(items);
}

static json_t *seen_of(const mlook_t *l) {
  return l->secrets ? l->j->seen_secrets : l->j->seen_keys;
}

static const char *action_of(const mlook_t *l) {
  return l->secrets ? "ListSecrets" : "ListKeys";
}

/* Whether every item of a by-id reply is one of the ids asked. */
static bool only_asked(const mlook_t *l, const json_t *body) {
  const json_t *items =
      l->secrets
          ? json_object_get(json_object_get(body, "SecretList"), "Secret")
          : json_object_get(json_object_get(body, "Keys"), "Key");
  size_t i, n = json_array_size(l->ids);
  const json_t *it;
  json_array_foreach(items, i, it) {
    const char *id = json_string_value(
        json_object_get(it, l->secrets ? "SecretName" : "KeyId"));
    bool asked = false;
    for (size_t k = l->off; k < n && k < l->off + IDS_PER_CALL; k++)
      asked |= id != NULL &&
               kp_streq(json_string_value(json_array_get(l->ids, k)), id);
    if (!asked) return false;
  }
  return true;
}

/* Still unseen after this look's replies so far. */
static size_t unseen_left(const mlook_t *l, size_t from) {
  const json_t *seen = seen_of(l);
  size_t n = 0;
  for (size_t k = from; k < json_array_size(l->ids); k++)
    n += json_object_get(seen, json_string_value(json_array_get(l->ids, k))) ==
         NULL;
  return n;
}

/* This kind is done (or failed: the stage holds the error).  The last look
 * to end hands the job on; j may be gone after it. */
static void look_ended(mlook_t *l, bool failed) {
  mjob_t *j = l->j;
  json_decref(l->ids);
  l->ids = NULL;
  if (failed) j->detect_failed = true;
  if (--j->looks_left > 0) return;
  j->detect_done(j, j->detect_failed ? j->c->status : 0);
}

/* A by-id reply: the next chunk, or this kind is done. */
static void by_id_page(mlook_t *l, const json_t *body) {
  mjob_t *j = l->j;
  json_t *seen = seen_of(l);
  size_t before = json_object_size(seen);
  if (!only_asked(l, body)) {
    kp_log(j->c, KM_LOG_WARN,
           "%s answered items not asked for with a %s filter: listing the "
           "whole instance from now on",
           action_of(l), l->secrets ? "SecretName" : "keyId");
    j->no_id_filter = true;
    l->by_id = false;
    l->page = 1;
    l->items = 0;
    look_call(l);
    return;
  }
  km__mig_detect_parse(body, l->secrets, seen);
  int64_t *total = &j->inst_total[l->secrets];
  if (*total >= 0) *total += (int64_t)(json_object_size(seen) - before);
  l->off += IDS_PER_CALL;
  if (l->off < json_array_size(l->ids)) {
    look_call(l);
    return;
  }
  look_ended(l, false);
}

/* A full-listing reply: the next page, a switch to asking by id when that
 * takes fewer calls than the pages left, or this kind is done. */
static void full_page(mlook_t *l, const kp_res_t *res) {
  mjob_t *j = l->j;
  size_t got = km__mig_detect_parse(res->body, l->secrets, seen_of(l));
  l->items += (int64_t)got;
  const json_t *tc = json_object_get(res->body, "TotalCount");
  int64_t total = json_is_integer(tc) ? json_integer_value(tc) : -1;
  km_err_t err;
  int more =
      kp_next_page(action_of(l), l->page, got, FULL_PAGE, -1, total, &err);
  if (more < 0) {
    km__mig_fail(j, more, &err, "detect");
    look_ended(l, true);
    return;
  }
  if (more == 1) {
    size_t left = unseen_left(l, 0);
    if (!j->no_id_filter && total >= 0 &&
        kp_pages(total, FULL_PAGE) - l->page >
            kp_pages((int64_t)left, IDS_PER_CALL)) {
      /* Asking for what is still unseen is cheaper than the rest. */
      j->inst_total[l->secrets] = total;
      json_t *ids = json_array();
      const json_t *seen = seen_of(l);
      for (size_t k = 0; k < json_array_size(l->ids); k++) {
        json_t *v = json_array_get(l->ids, k);
        if (json_object_get(seen, json_string_value(v)) == NULL)
          json_array_append(ids, v);
      }
      json_decref(l->ids);
      l->ids = ids;
      l->off = 0;
      l->by_id = true;
      if (json_array_size(ids) == 0) {
        look_ended(l, false);
        return;
      }
    } else {
      l->page++;
    }
    look_call(l);
    return;
  }
  j->inst_total[l->secrets] = total >= 0 ? total : l->items;
  look_ended(l, false);
}

static void on_page(km_sctx_t *c, const kp_res_t *res, void *ud) {
  mlook_t *l = ud;
  if (res->status < 0) {
    km__mig_fail(l->j, res->status, res->err, action_of(l));
    look_ended(l, true);
    return;
  }
  (void)c;
  /* The batch records this detection decides carry its RequestId. */
  snprintf(l->j->detect_rid, sizeof(l->j->detect_rid), "%s", res->request_id);
  if (l->by_id)
    by_id_page(l, res->body);
  else
    full_page(l, res);
}

/* The Filters parameter of the next call (owned). */
static char *filters_of(const mlook_t *l) {
  json_t *f = json_array();
  json_array_append_new(f, json_pack("{s:s, s:[s]}", "Key", "DKMSInstanceId",
                                     "Values", l->j->c->inv->instance_id));
  if (l->by_id) {
    json_t *vals = json_array();
    size_t n = json_array_size(l->ids);
    for (size_t k = l->off; k < n && k < l->off + IDS_PER_CALL; k++)
      json_array_append(vals, json_array_get(l->ids, k));
    json_array_append_new(f, json_pack("{s:s, s:o}", "Key",
                                       l->secrets ? "SecretName" : "keyId",
                                       "Values", vals));
  }
  char *s = json_dumps(f, JSON_COMPACT);
  json_decref(f);
  return s;
}

static void look_call(mlook_t *l) {
  char pn[24];
  snprintf(pn, sizeof(pn), "%d", l->by_id ? 1 : l->page);
  char *filters = filters_of(l);
  const char *params[] = {"PageNumber", pn,
                          "PageSize",   "100",
                          "Filters",    filters != NULL ? filters : "[]"};
  /* A call that cannot be sent answers on_page with the failure. */
  kp_call(l->j->c, action_of(l), params, 3, NULL, on_page, l);
  free(filters);
}

/* Starts the look at one kind: nothing to ask when the batch's resources
 * of that kind are all seen. */
static void look_kind(mlook_t *l) {
  mjob_t *j = l->j;
  const mbatch_t *b = &j->b[j->cur];
  const json_t *mine = l->secrets ? b->secrets : b->keys;
  const json_t *seen = seen_of(l);
  json_t *ids = json_array();
  size_t i;
  json_t *v;
  json_array_foreach(mine, i, v) {
    if (json_object_get(seen, json_string_value(v)) == NULL)
      json_array_append(ids, v);
  }
  l->ids = ids;
  size_t n = json_array_size(ids);
  if (n == 0) {
    look_ended(l, false);
    return;
  }
  int64_t total = j->inst_total[l->secrets];
  /* Unknown size: a full listing's first page learns it (full_page may
   * then switch to asking by id). */
  l->by_id = !j->no_id_filter && total >= 0 &&
             kp_pages((int64_t)n, IDS_PER_CALL) <
                 kp_pages(total + (int64_t)n, FULL_PAGE);
  look_call(l);
}

void km__mig_detect(mjob_t *j, void (*done)(mjob_t *j, int status)) {
  if (j->seen_keys == NULL) j->seen_keys = json_object();
  if (j->seen_secrets == NULL) j->seen_secrets = json_object();
  j->detect_done = done;
  j->detect_failed = false;
  j->looks_left = 2;
  for (int k = 0; k < 2; k++) {
    json_decref(j->look[k].ids);
    j->look[k] = (mlook_t){.j = j, .secrets = k == 1, .page = 1};
  }
  /* Either look may end inside its start; the job is handed on (and may
   * be gone) only when both have, so nothing of j is read after the
   * second start. */
  mlook_t *keys = &j->look[0], *secrets = &j->look[1];
  look_kind(keys);
  look_kind(secrets);
}
