/* kmsim's emulated console, the "Migration Tool" page of the KMS 1.0
 * console (docs/kmsim-console.md): GET /_kmsim/console/overview, POST
 * /_kmsim/console/migrate and GET /_kmsim/console/tasks on any host
 * kms.<region>.aliyuncs.com, the operator named by X-Kmsim-Account.  The
 * migration has no public API (reference §2), so this is our model of the
 * console, not a cloud API.  Tasks live in the cloud model (ksim_task_t);
 * their progress is computed lazily from kmsim's clock by ksim_console_tick,
 * so POST /_kmsim/clock completes a task without anyone waiting.  The rules
 * a submission must pass are in console_rules.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "state.h"

/* Shared with console_rules.c. */
json_t *ksim_console_check(ksim_cloud_t *c, ksim_account_t *a,
                           const char *region, const char *instance_id,
                           const char *instance_type, json_t *keys,
                           json_t *secrets, int64_t now);
bool ksim_console_hsm_byok(const ksim_key_t *k);

#define CLIENT_TOKEN_MAX 64
#define DEFAULT_SECONDS_PER_RESOURCE 0.02

/* kmsim's clock with millisecond resolution: tasks of 50 resources at
 * 0.02 s each last one second, below the seconds clock's resolution. */
int64_t ksim_clock_ms(const ksim_cloud_t *c) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return ((int64_t)ts.tv_sec + c->clock_offset) * 1000 +
         (int64_t)(ts.tv_nsec / 1000000);
}

/* fixture `console: {seconds_per_resource: S}` (YAML scalars are strings) */
static double seconds_per_resource(const ksim_cloud_t *c) {
  json_t *v = json_object_get(json_object_get(c->fixture, "console"),
                              "seconds_per_resource");
  double s = DEFAULT_SECONDS_PER_RESOURCE;
  if (json_is_number(v)) s = json_number_value(v);
  if (json_is_string(v)) s = strtod(json_string_value(v), NULL);
  return s >= 0 ? s : DEFAULT_SECONDS_PER_RESOURCE;
}

/* Whole-task duration in ms: resources x seconds_per_resource, unless the
 * slow-task fault (POST /_kmsim/faults {"task_seconds": N}) was configured,
 * which sets the duration of every task.  faults.task_seconds has a built-in
 * default, so only an explicit configuration counts. */
static int64_t task_duration_ms(const ksim_cloud_t *c, size_t n) {
  if (json_object_get(c->faults.config, "task_seconds") != NULL)
    return (int64_t)(c->faults.task_seconds * 1000.0);
  return (int64_t)((double)n * seconds_per_resource(c) * 1000.0);
}

static bool task_active(const ksim_task_t *t) {
  return strcmp(t->status, "Scheduled") == 0 ||
         strcmp(t->status, "Running") == 0;
}

static void set_status(ksim_task_t *t, const char *st) {
  free(t->status);
  t->status = km_xstrdup(st);
}

static int64_t detail_int(const ksim_task_t *t, const char *k) {
  return (int64_t)json_integer_value(json_object_get(t->detail, k));
}

/* ---- progress ---- */

static void result(ksim_task_t *t, const char *res, const char *kind,
                   const char *status, const char *msg) {
  json_array_append_new(json_object_get(t->detail, "Results"),
                        json_pack("{s:s, s:s, s:s, s:s}", "Resource", res,
                                  "Kind", kind, "Status", status, "Message",
                                  msg));
}

/* Moves resource idx (keys first, then secrets) into the instance. */
static void migrate_one(ksim_cloud_t *c, ksim_task_t *t, ksim_region_t *r,
                        size_t idx, int64_t at) {
  bool is_key = idx < t->keys.n;
  const char *id = is_key ? t->keys.v[idx] : t->secrets.v[idx - t->keys.n];
  const char *kind = is_key ? "key" : "secret";
  char **inst = NULL, **policy = NULL;
  int *migrations = NULL;
  int64_t *migrated_at = NULL;
  if (is_key) {
    ksim_key_t *k = ksim_key_find(r, id);
    if (k != NULL && k->instance_id == NULL) {
      inst = &k->instance_id;
      policy = &k->policy;
      migrations = &k->migrations;
      migrated_at = &k->migrated_at;
    }
  } else {
    ksim_secret_t *s = ksim_secret_find(r, id);
    if (s != NULL && s->instance_id == NULL) {
      inst = &s->instance_id;
      policy = &s->policy;
      migrations = &s->migrations;
      migrated_at = &s->migrated_at;
    }
  }
  (void)c;
  if (inst == NULL) {
    result(t, id, kind, "Failed", "the resource no longer exists in KMS 1.0");
    return;
  }
  *inst = km_xstrdup(t->instance);
  free(*policy); /* the default policy applies after migration (seed §3) */
  *policy = NULL;
  (*migrations)++;
  *migrated_at = at;
  result(t, id, kind, "Migrated", "");
}

static void set_migrating(ksim_region_t *r, const ksim_task_t *t, bool on) {
  for (size_t i = 0; i < t->keys.n; i++) {
    ksim_key_t *k = ksim_key_find(r, t->keys.v[i]);
    if (k != NULL) k->migrating = on;
  }
  for (size_t i = 0; i < t->secrets.n; i++) {
    ksim_secret_t *s = ksim_secret_find(r, t->secrets.v[i]);
    if (s != NULL) s->migrating = on;
  }
}

static void task_advance(ksim_cloud_t *c, ksim_task_t *t, int64_t now_ms) {
  int64_t start_ms = detail_int(t, "StartMs");
  if (now_ms < start_ms) return;
  ksim_account_t *a = ksim_account_by_id(c, t->account);
  ksim_region_t *r = a != NULL ? ksim_account_region(c, a, t->region) : NULL;
  if (r == NULL) return;
  if (strcmp(t->status, "Scheduled") == 0) set_status(t, "Running");
  size_t n = t->keys.n + t->secrets.n;
  int64_t dur = detail_int(t, "DurationMs");
  size_t done = (size_t)detail_int(t, "Done");
  /* resources complete one after another, evenly over the duration */
  size_t target = n;
  if (dur > 0 && now_ms - start_ms < dur)
    target = (size_t)((now_ms - start_ms) * (int64_t)n / dur);
  for (; done < target; done++) {
    int64_t at_ms = start_ms + (dur * (int64_t)(done + 1)) / (int64_t)n;
    migrate_one(c, t, r, done, at_ms / 1000);
  }
  json_object_set_new(t->detail, "Done", json_integer((json_int_t)done));
  if (done < n) return;
  set_migrating(r, t, false);
  t->finish = (start_ms + dur) / 1000;
  size_t failed = 0, i;
  json_t *v;
  json_array_foreach(json_object_get(t->detail, "Results"), i, v) {
    failed += strcmp(json_string_value(json_object_get(v, "Status")),
                     "Migrated") != 0;
  }
  if (json_is_true(json_object_get(t->detail, "SetAsDefault")) && failed < n) {
    free(r->default_instance);
    r->default_instance = km_xstrdup(t->instance);
  }
  set_status(t, failed == 0 ? "Completed" : "Failed");
}

void ksim_console_tick(ksim_cloud_t *c) {
  int64_t now_ms = -1;
  if (c->tasks_settled > c->tasks.n) c->tasks_settled = 0;
  for (size_t i = c->tasks_settled; i < c->tasks.n; i++) {
    ksim_task_t *t = c->tasks.v[i];
    if (task_active(t)) {
      if (now_ms < 0) now_ms = ksim_clock_ms(c);
      task_advance(c, t, now_ms);
    }
    /* tasks are appended and never leave Completed or Failed */
    if (!task_active(t) && i == c->tasks_settled) c->tasks_settled++;
  }
}

/* ---- answers ---- */

static int fail(ksim_req_t *req, ksim_resp_t *resp, int status,
                const char *code, const char *msg, json_t *problems) {
  resp->status = status;
  snprintf(resp->code, sizeof(resp->code), "%s", code);
  json_decref(resp->body);
  resp->body = ksim_error_body(req, code, msg);
  if (problems != NULL) json_object_set_new(resp->body, "Problems", problems);
  return -1;
}

static int ok(ksim_req_t *req, ksim_resp_t *resp, json_t *body) {
  json_object_set_new(body, "RequestId", json_string(req->request_id));
  json_decref(resp->body);
  resp->body = body;
  resp->status = 200;
  return 0;
}

static json_t *strs_array(const ksim_strs_t *s) {
  json_t *a = json_array();
  for (size_t i = 0; i < s->n; i++)
    json_array_append_new(a, json_string(s->v[i]));
  return a;
}

static json_t *task_json(const ksim_task_t *t) {
  json_t *o = json_object();
  json_object_set_new(o, "TaskId", json_string(t->id));
  json_object_set(o, "ClientToken", json_object_get(t->detail, "ClientToken"));
  json_object_set_new(o, "Status", json_string(t->status));
  json_object_set_new(o, "InstanceId", json_string(t->instance));
  json_object_set_new(o, "Keys", strs_array(&t->keys));
  json_object_set_new(o, "Secrets", strs_array(&t->secrets));
  json_object_set(o, "SetAsDefault",
                  json_object_get(t->detail, "SetAsDefault"));
  json_object_set_new(o, "CreateTime", ksim_json_time(t->created));
  json_object_set_new(o, "ScheduledTime", ksim_json_time(t->start));
  if (!task_active(t))
    json_object_set_new(o, "FinishTime", ksim_json_time(t->finish));
  json_object_set(o, "Results", json_object_get(t->detail, "Results"));
  return o;
}

/* The operator and region of a console request; fills resp if missing. */
static ksim_account_t *console_login(ksim_req_t *req, ksim_resp_t *resp) {
  if (req->product == NULL || strcmp(req->product, "kms") != 0 ||
      req->region[0] == '\0') {
    fail(req, resp, 400, "Console.InvalidRegion",
         "the console is served on kms.<region>.aliyuncs.com; the Host "
         "header selects the region",
         NULL);
    return NULL;
  }
  const char *id = ksim_kvs_get(&req->headers, "x-kmsim-account");
  ksim_account_t *a = ksim_account_by_id(req->cloud, id);
  if (a == NULL) {
    fail(req, resp, 401, "Console.NotLoggedIn",
         "X-Kmsim-Account must name an account of this cloud", NULL);
    return NULL;
  }
  return a;
}

static ksim_task_t *latest_task(ksim_cloud_t *c, const char *acct,
                                const char *region) {
  ksim_task_t *last = NULL;
  for (size_t i = 0; i < c->tasks.n; i++) {
    ksim_task_t *t = c->tasks.v[i];
    if (strcmp(t->account, acct) == 0 && strcmp(t->region, region) == 0)
      last = t;
  }
  return last;
}

static int overview(ksim_req_t *req, ksim_resp_t *resp, ksim_account_t *a) {
  ksim_region_t *r = ksim_account_region(req->cloud, a, req->region);
  long kn = 0, km = 0, sn = 0, sm = 0, byok = 0;
  for (size_t i = 0; i < r->keys.n; i++) {
    const ksim_key_t *k = r->keys.v[i];
    if (k->instance_id != NULL)
      km++;
    else if (ksim_console_hsm_byok(k))
      byok++; /* its own column, "Unmigrated HSM BYOKs" */
    else
      kn++;
  }
  for (size_t i = 0; i < r->secrets.n; i++) {
    if (r->secrets.v[i]->instance_id != NULL)
      sm++;
    else
      sn++;
  }
  ksim_task_t *t = latest_task(req->cloud, a->id, req->region);
  return ok(req, resp,
            json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:s}", "RegionId",
                      req->region, "KeysNotMigrated", (json_int_t)kn,
                      "MigratedKeys", (json_int_t)km, "SecretsNotMigrated",
                      (json_int_t)sn, "MigratedSecrets", (json_int_t)sm,
                      "HsmByokNotMigrated", (json_int_t)byok, "TaskStatus",
                      t != NULL ? t->status : "None"));
}

static int tasks(ksim_req_t *req, ksim_resp_t *resp, ksim_account_t *a) {
  const char *tok = ksim_kvs_get(&req->query, "ClientToken");
  const char *tid = ksim_kvs_get(&req->query, "TaskId");
  json_t *arr = json_array();
  for (size_t i = 0; i < req->cloud->tasks.n; i++) {
    ksim_task_t *t = req->cloud->tasks.v[i];
    if (strcmp(t->account, a->id) != 0 || strcmp(t->region, req->region) != 0)
      continue;
    const char *ttok =
        json_string_value(json_object_get(t->detail, "ClientToken"));
    if (tok != NULL && (ttok == NULL || strcmp(tok, ttok) != 0)) continue;
    if (tid != NULL && strcmp(tid, t->id) != 0) continue;
    json_array_append_new(arr, task_json(t));
  }
  /* The Migrate dialog's destination list: the instances of this region
   * the account owns or that are shared with it, with the console-only
   * facts the instance details page shows (image version, auto-renewal). */
  json_t *inst = json_array();
  for (size_t i = 0; i < req->cloud->instances.n; i++) {
    const ksim_instance_t *in = req->cloud->instances.v[i];
    if (strcmp(in->region, req->region) != 0 ||
        (strcmp(in->owner, a->id) != 0 &&
         !ksim_strs_has(&in->shared_with, a->id)))
      continue;
    json_array_append_new(
        inst,
        json_pack("{s:s, s:s, s:s?, s:b, s:s}", "InstanceId", in->id,
                  "InstanceType", in->type, "ImageVersion", in->image_version,
                  "AutoRenew", in->auto_renew, "Status", in->status));
  }
  return ok(req, resp,
            json_pack("{s:o, s:o}", "Tasks", arr, "Instances", inst));
}

/* ---- submission ---- */

/* Resources:"AllPending" = what the console lists as pending: keys and
 * secrets not migrated, keys Enabled; HSM BYOK keys are selected by hand
 * (seed: "Manually select resources") so they are not included. */
static void all_pending(ksim_region_t *r, json_t *keys, json_t *secrets) {
  for (size_t i = 0; i < r->keys.n; i++) {
    const ksim_key_t *k = r->keys.v[i];
    if (k->instance_id == NULL && strcmp(k->state, "Enabled") == 0 &&
        !ksim_console_hsm_byok(k))
      json_array_append_new(keys, json_string(k->id));
  }
  for (size_t i = 0; i < r->secrets.n; i++)
    if (r->secrets.v[i]->instance_id == NULL)
      json_array_append_new(secrets, json_string(r->secrets.v[i]->name));
}

/* Copies a JSON list of names without duplicates; false if malformed. */
static bool names(json_t *in, json_t *out) {
  if (in == NULL) return true;
  if (!json_is_array(in)) return false;
  size_t i, j;
  json_t *v, *w;
  json_array_foreach(in, i, v) {
    if (!json_is_string(v) || json_string_length(v) == 0) return false;
    bool dup = false;
    json_array_foreach(out, j, w) dup |= json_equal(v, w);
    if (!dup) json_array_append(out, v);
  }
  return true;
}

static ksim_task_t *task_by_token(ksim_cloud_t *c, const char *acct,
                                  const char *region, const char *tok) {
  for (size_t i = 0; tok != NULL && i < c->tasks.n; i++) {
    ksim_task_t *t = c->tasks.v[i];
    const char *tt =
        json_string_value(json_object_get(t->detail, "ClientToken"));
    if (tt != NULL && strcmp(tt, tok) == 0 && strcmp(t->account, acct) == 0 &&
        strcmp(t->region, region) == 0)
      return t;
  }
  return NULL;
}

static int submitted(ksim_req_t *req, ksim_resp_t *resp, ksim_task_t *t) {
  return ok(req, resp,
            json_pack("{s:s, s:s}", "TaskId", t->id, "Status", t->status));
}

static int invalid(ksim_req_t *req, ksim_resp_t *resp, const char *msg) {
  return fail(req, resp, 400, "Console.InvalidRequest", msg, NULL);
}

static ksim_task_t *task_new(ksim_cloud_t *c, ksim_account_t *a,
                             const char *region, const char *instance,
                             json_t *keys, json_t *secrets) {
  ksim_task_t *t = km_xcalloc(1, sizeof(*t));
  *KSIM_VEC_PUSH(c->tasks) = t;
  t->id = km_xasprintf("mt-%016llx", (unsigned long long)ksim_rand(&c->id_rng));
  t->account = km_xstrdup(a->id);
  t->region = km_xstrdup(region);
  t->instance = km_xstrdup(instance);
  size_t i;
  json_t *v;
  json_array_foreach(keys, i, v) ksim_strs_push(&t->keys, json_string_value(v));
  json_array_foreach(secrets, i, v) {
    ksim_strs_push(&t->secrets, json_string_value(v));
  }
  return t;
}

static int migrate(ksim_req_t *req, ksim_resp_t *resp, ksim_account_t *a) {
  ksim_cloud_t *c = req->cloud;
  json_error_t e;
  json_t *body =
      json_loadb(req->body != NULL ? req->body : "", req->body_len, 0, &e);
  if (!json_is_object(body)) {
    json_decref(body);
    return invalid(req, resp, "the body must be a JSON object");
  }
  int rc = -1;
  json_t *keys = json_array(), *secrets = json_array(), *problems = NULL;
  const char *tok = json_string_value(json_object_get(body, "ClientToken"));
  const char *inst = json_string_value(json_object_get(body, "InstanceId"));
  const char *type = json_string_value(json_object_get(body, "InstanceType"));
  const char *sched = json_string_value(json_object_get(body, "Schedule"));
  json_t *setdef = json_object_get(body, "SetAsDefault");
  json_t *res = json_object_get(body, "Resources");
  if (json_object_get(body, "ClientToken") != NULL &&
      (tok == NULL || tok[0] == '\0' || strlen(tok) > CLIENT_TOKEN_MAX)) {
    invalid(req, resp, "ClientToken must be a string of 1 to 64 characters");
    goto out;
  }
  /* the same ClientToken returns the task it created (idempotency comes
   * before every other check: the first answer stands) */
  ksim_task_t *t = task_by_token(c, a->id, req->region, tok);
  if (t != NULL) {
    rc = submitted(req, resp, t);
    goto out;
  }
  if (inst == NULL || inst[0] == '\0') {
    invalid(req, resp, "InstanceId is required");
    goto out;
  }
  if (setdef != NULL && !json_is_boolean(setdef)) {
    invalid(req, resp, "SetAsDefault must be true or false");
    goto out;
  }
  int64_t now_ms = ksim_clock_ms(c), start_ms = now_ms, at;
  if (sched != NULL && strcmp(sched, "now") != 0) {
    if (km_parse_iso8601(sched, &at) < 0) {
      invalid(req, resp, "Schedule must be \"now\" or an ISO-8601 UTC time");
      goto out;
    }
    /* a time already past starts at once (a resubmission after a crash) */
    if (at * 1000 > now_ms) start_ms = at * 1000;
  } else if (json_object_get(body, "Schedule") != NULL && sched == NULL) {
    invalid(req, resp, "Schedule must be \"now\" or an ISO-8601 UTC time");
    goto out;
  }
  ksim_region_t *r = ksim_account_region(c, a, req->region);
  if (json_is_string(res) &&
      strcmp(json_string_value(res), "AllPending") == 0) {
    all_pending(r, keys, secrets);
  } else if (!json_is_object(res) ||
             !names(json_object_get(res, "Keys"), keys) ||
             !names(json_object_get(res, "Secrets"), secrets)) {
    invalid(req, resp,
            "Resources must be \"AllPending\" or {\"Keys\":[...], "
            "\"Secrets\":[...]} of non-empty strings");
    goto out;
  }
  if (json_array_size(keys) + json_array_size(secrets) == 0) {
    fail(req, resp, 400, "Console.NoResources",
         "no keys or secrets selected: nothing to migrate", NULL);
    goto out;
  }
  /* one scheduled or running task per account and region */
  ksim_task_t *busy = latest_task(c, a->id, req->region);
  if (busy != NULL && task_active(busy)) {
    char msg[200];
    snprintf(msg, sizeof(msg),
             "task %s of this account and region is %s; wait for it to end",
             busy->id, busy->status);
    fail(req, resp, 409, "Console.TaskRunning", msg, NULL);
    goto out;
  }
  problems = ksim_console_check(c, a, req->region, inst, type, keys, secrets,
                                req->now);
  if (json_array_size(problems) > 0) {
    json_t *first = json_array_get(problems, 0);
    char msg[700];
    snprintf(msg, sizeof(msg), "%s%s",
             json_string_value(json_object_get(first, "Message")),
             json_array_size(problems) > 1 ? " (and more: see Problems)" : "");
    fail(req, resp, 400, json_string_value(json_object_get(first, "Code")), msg,
         json_incref(problems));
    goto out;
  }
  t = task_new(c, a, req->region, inst, keys, secrets);
  t->status = km_xstrdup(start_ms > now_ms ? "Scheduled" : "Running");
  t->created = now_ms / 1000;
  t->start = start_ms / 1000;
  size_t n = t->keys.n + t->secrets.n;
  t->detail = json_pack(
      "{s:o, s:b, s:s, s:I, s:I, s:I, s:[]}", "ClientToken",
      tok != NULL ? json_string(tok) : json_null(), "SetAsDefault",
      json_is_true(setdef), "InstanceType", type != NULL ? type : "", "StartMs",
      (json_int_t)start_ms, "DurationMs", (json_int_t)task_duration_ms(c, n),
      "Done", (json_int_t)0, "Results");
  set_migrating(r, t, true);
  rc = submitted(req, resp, t);
out:
  json_decref(problems);
  json_decref(keys);
  json_decref(secrets);
  json_decref(body);
  return rc;
}

static int console_admin(ksim_req_t *req, ksim_resp_t *resp) {
  ksim_share_tick(req->cloud); /* a share may just have become Associated */
  ksim_console_tick(req->cloud);
  ksim_account_t *a = console_login(req, resp);
  if (a == NULL) return -1;
  const char *sub = req->path + strlen("/_kmsim/console");
  bool get = strcmp(req->method, "GET") == 0;
  if (strcmp(sub, "/overview") == 0 && get) return overview(req, resp, a);
  if (strcmp(sub, "/tasks") == 0 && get) return tasks(req, resp, a);
  if (strcmp(sub, "/migrate") == 0 && strcmp(req->method, "POST") == 0)
    return migrate(req, resp, a);
  return fail(req, resp, 404, "Console.NotFound",
              "console paths: GET overview, POST migrate, GET tasks", NULL);
}

KSIM_REGISTER_ADMIN(console, "/_kmsim/console", console_admin)
