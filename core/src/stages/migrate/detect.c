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
 * gets full listings for the rest of the job: the answer stays right. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "migrate.h"

#define FULL_PAGE 100
#define IDS_PER_CALL 10

static void detect_kind(mjob_t *j);
static void detect_call(mjob_t *j);

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

static json_t *seen_of(mjob_t *j) {
  return j->detect_secrets_phase ? j->seen_secrets : j->seen_keys;
}

static const char *action_of(const mjob_t *j) {
  return j->detect_secrets_phase ? "ListSecrets" : "ListKeys";
}

/* Whether every item of a by-id reply is one of the ids asked. */
static bool only_asked(const mjob_t *j, const json_t *body) {
  const json_t *items =
      j->detect_secrets_phase
          ? json_object_get(json_object_get(body, "SecretList"), "Secret")
          : json_object_get(json_object_get(body, "Keys"), "Key");
  size_t i, n = json_array_size(j->detect_ids);
  const json_t *it;
  json_array_foreach(items, i, it) {
    const char *id = json_string_value(
        json_object_get(it, j->detect_secrets_phase ? "SecretName" : "KeyId"));
    bool asked = false;
    for (size_t k = j->detect_off; k < n && k < j->detect_off + IDS_PER_CALL;
         k++)
      asked |=
          id != NULL &&
          kp_streq(json_string_value(json_array_get(j->detect_ids, k)), id);
    if (!asked) return false;
  }
  return true;
}

/* Still unseen after this look's replies so far. */
static size_t unseen_left(const mjob_t *j, size_t from) {
  const json_t *seen = j->detect_secrets_phase ? j->seen_secrets : j->seen_keys;
  size_t n = 0;
  for (size_t k = from; k < json_array_size(j->detect_ids); k++)
    n += json_object_get(
             seen, json_string_value(json_array_get(j->detect_ids, k))) == NULL;
  return n;
}

static void next_kind(mjob_t *j) {
  json_decref(j->detect_ids);
  j->detect_ids = NULL;
  if (!j->detect_secrets_phase) {
    j->detect_secrets_phase = true;
    detect_kind(j);
    return;
  }
  j->detect_done(j, 0);
}

/* A by-id reply: the next chunk, or this kind is done. */
static void by_id_page(mjob_t *j, const json_t *body) {
  json_t *seen = seen_of(j);
  size_t before = json_object_size(seen);
  if (!only_asked(j, body)) {
    kp_log(j->c, KM_LOG_WARN,
           "%s answered items not asked for with a %s filter: listing the "
           "whole instance from now on",
           action_of(j), j->detect_secrets_phase ? "SecretName" : "keyId");
    j->no_id_filter = true;
    j->detect_by_id = false;
    j->detect_page = 1;
    j->detect_items = 0;
    detect_call(j);
    return;
  }
  km__mig_detect_parse(body, j->detect_secrets_phase, seen);
  int64_t *total = &j->inst_total[j->detect_secrets_phase];
  if (*total >= 0) *total += (int64_t)(json_object_size(seen) - before);
  j->detect_off += IDS_PER_CALL;
  if (j->detect_off < json_array_size(j->detect_ids)) {
    detect_call(j);
    return;
  }
  next_kind(j);
}

/* A full-listing reply: the next page, a switch to asking by id when that
 * takes fewer calls than the pages left, or this kind is done. */
static void full_page(mjob_t *j, const kp_res_t *res) {
  size_t got =
      km__mig_detect_parse(res->body, j->detect_secrets_phase, seen_of(j));
  j->detect_items += (int64_t)got;
  const json_t *tc = json_object_get(res->body, "TotalCount");
  int64_t total = json_is_integer(tc) ? json_integer_value(tc) : -1;
  km_err_t err;
  int more = kp_next_page(action_of(j), j->detect_page, got, FULL_PAGE, -1,
                          total, &err);
  if (more < 0) {
    km__mig_fail(j, more, &err, "detect");
    j->detect_done(j, j->c->status);
    return;
  }
  if (more == 1) {
    size_t left = unseen_left(j, 0);
    if (!j->no_id_filter && total >= 0 &&
        kp_pages(total, FULL_PAGE) - j->detect_page >
            kp_pages((int64_t)left, IDS_PER_CALL)) {
      /* Asking for what is still unseen is cheaper than the rest. */
      j->inst_total[j->detect_secrets_phase] = total;
      json_t *ids = json_array();
      const json_t *seen = seen_of(j);
      for (size_t k = 0; k < json_array_size(j->detect_ids); k++) {
        json_t *v = json_array_get(j->detect_ids, k);
        if (json_object_get(seen, json_string_value(v)) == NULL)
          json_array_append(ids, v);
      }
      json_decref(j->detect_ids);
      j->detect_ids = ids;
      j->detect_off = 0;
      j->detect_by_id = true;
      if (json_array_size(ids) == 0) {
        next_kind(j);
        return;
      }
    } else {
      j->detect_page++;
    }
    detect_call(j);
    return;
  }
  j->inst_total[j->detect_secrets_phase] = total >= 0 ? total : j->detect_items;
  next_kind(j);
}

static void on_page(km_sctx_t *c, const kp_res_t *res, void *ud) {
  mjob_t *j = ud;
  if (res->status < 0) {
    km__mig_fail(j, res->status, res->err, action_of(j));
    j->detect_done(j, c->status);
    return;
  }
  /* The batch records this detection decides carry its RequestId. */
  snprintf(j->detect_rid, sizeof(j->detect_rid), "%s", res->request_id);
  if (j->detect_by_id)
    by_id_page(j, res->body);
  else
    full_page(j, res);
}

/* The Filters parameter of the next call (owned). */
static char *filters_of(const mjob_t *j) {
  json_t *f = json_array();
  json_array_append_new(f, json_pack("{s:s, s:[s]}", "Key", "DKMSInstanceId",
                                     "Values", j->c->inv->instance_id));
  if (j->detect_by_id) {
    json_t *vals = json_array();
    size_t n = json_array_size(j->detect_ids);
    for (size_t k = j->detect_off; k < n && k < j->detect_off + IDS_PER_CALL;
         k++)
      json_array_append(vals, json_array_get(j->detect_ids, k));
    json_array_append_new(
        f, json_pack("{s:s, s:o}", "Key",
                     j->detect_secrets_phase ? "SecretName" : "keyId", "Values",
                     vals));
  }
  char *s = json_dumps(f, JSON_COMPACT);
  json_decref(f);
  return s;
}

static void detect_call(mjob_t *j) {
  char pn[24];
  snprintf(pn, sizeof(pn), "%d", j->detect_by_id ? 1 : j->detect_page);
  char *filters = filters_of(j);
  const char *params[] = {"PageNumber", pn,
                          "PageSize",   "100",
                          "Filters",    filters != NULL ? filters : "[]"};
  /* A call that cannot be sent answers on_page with the failure. */
  kp_call(j->c, action_of(j), params, 3, NULL, on_page, j);
  free(filters);
}

/* Starts the look at one kind: nothing to ask when the batch's resources
 * of that kind are all seen. */
static void detect_kind(mjob_t *j) {
  const mbatch_t *b = &j->b[j->cur];
  const json_t *mine = j->detect_secrets_phase ? b->secrets : b->keys;
  const json_t *seen = seen_of(j);
  json_t *ids = json_array();
  size_t i;
  json_t *v;
  json_array_foreach(mine, i, v) {
    if (json_object_get(seen, json_string_value(v)) == NULL)
      json_array_append(ids, v);
  }
  json_decref(j->detect_ids);
  j->detect_ids = ids;
  j->detect_off = 0;
  j->detect_page = 1;
  j->detect_items = 0;
  size_t n = json_array_size(ids);
  if (n == 0) {
    next_kind(j);
    return;
  }
  int64_t total = j->inst_total[j->detect_secrets_phase];
  /* Unknown size: a full listing's first page learns it (full_page may
   * then switch to asking by id). */
  j->detect_by_id = !j->no_id_filter && total >= 0 &&
                    kp_pages((int64_t)n, IDS_PER_CALL) <
                        kp_pages(total + (int64_t)n, FULL_PAGE);
  detect_call(j);
}

void km__mig_detect(mjob_t *j, void (*done)(mjob_t *j, int status)) {
  if (j->seen_keys == NULL) j->seen_keys = json_object();
  if (j->seen_secrets == NULL) j->seen_secrets = json_object();
  j->detect_secrets_phase = false;
  j->detect_done = done;
  detect_kind(j);
}
