/* The end of `kmsmig run` and `kmsmig report` for people: the summary
 * read from the report (totals, each failure once with its RequestId, what
 * was blocked, each warning once with its count), what a saved plan did not
 * know, and advice that does something.  Text from the server is cleaned
 * before the terminal. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "engine/report.h"
#include "model/inventory.h"
#include "util/util.h"

json_int_t km__jint(const json_t *o, const char *a, const char *b) {
  return json_integer_value(json_object_get(json_object_get(o, a), b));
}

/* The warnings of every pipeline, each message once with the number of
 * accounts that have it (an instance shared by 300 accounts has one
 * auto_renew warning, not 300).  Pipelines are sorted by account. */
/* Field key of o cleaned for the terminal into buf (util/text.c); NULL when
 * absent.  Report fields hold names and messages from the server. */
static const char *cfield(const json_t *o, const char *key, char *buf,
                          size_t n) {
  const char *s = json_string_value(json_object_get(o, key));
  if (s == NULL) return NULL;
  km_text_clean(s, buf, n);
  return buf;
}

/* Each warning once, with how many accounts it concerns (the report's
 * writer counted them: km_report_write_run). */
static void print_warnings(const json_t *rep) {
  json_t *own = NULL;
  const json_t *w = json_object_get(rep, "warnings");
  if (w == NULL) /* a report.json read back */
    w = own = km_report_warnings(json_object_get(rep, "pipelines"));
  size_t i;
  const json_t *e;
  json_array_foreach(w, i, e) {
    if (i == 0) printf("warnings\n");
    json_int_t n = json_integer_value(json_array_get(e, 1));
    char mb[512];
    km_text_clean(json_string_value(json_array_get(e, 0)), mb, sizeof(mb));
    printf("  %s (%lld account%s)\n", mb, (long long)n, n == 1 ? "" : "s");
  }
  json_decref(own);
}

/* Whether --rerun-failed would do anything: a pipeline that failed or did
 * not start, or a resource that failed or did not run. */
static bool rerun_has_work(const json_t *rep) {
  const json_t *t = json_object_get(rep, "totals");
  if (km__jint(t, "keys", "failed") + km__jint(t, "keys", "not_run") +
          km__jint(t, "secrets", "failed") + km__jint(t, "secrets", "not_run") >
      0)
    return true;
  size_t i;
  const json_t *p;
  json_array_foreach(json_object_get(rep, "pipelines"), i, p) {
    const char *st = json_string_value(json_object_get(p, "status"));
    if (st != NULL && strcmp(st, "not_started") == 0) return true;
    if (json_is_false(json_object_get(p, "complete"))) return true;
  }
  return false;
}

/* One failed resource: its reason usually names the Code and RequestId
 * already (then it is printed alone, else after them with a separator). */
static void print_one_failure(const char *acct, const char *reg,
                              const char *kind, const json_t *x) {
  /* Text from the server, cleaned before the terminal. */
  char cb[96], qb[96], wb[512], ib[256];
  const char *code = cfield(x, "code", cb, sizeof(cb));
  const char *rid = cfield(x, "request_id", qb, sizeof(qb));
  const char *why = cfield(x, "reason", wb, sizeof(wb));
  const char *id = cfield(x, "id", ib, sizeof(ib));
  bool named = why != NULL && code != NULL && strstr(why, code) &&
               (rid == NULL || strstr(why, rid));
  if (named || code == NULL)
    printf("  %s %s %s %s: %s\n", acct, reg, kind, id,
           why != NULL ? why : "failed");
  else
    printf("  %s %s %s %s: %s%s%s%s%s%s\n", acct, reg, kind, id, code,
           rid != NULL ? " (RequestId " : "", rid != NULL ? rid : "",
           rid != NULL ? ")" : "", why != NULL ? ": " : "",
           why != NULL ? why : "");
}

/* The failed resources of pipeline p, each failure once: resources that
 * failed on the same answer (one RequestId: a refused batch) are listed
 * together under it.  Adds every RequestId printed to rids. */
static void print_failed_resources(const json_t *p, json_t *rids,
                                   bool *header) {
  static const char *kinds[] = {"keys", "secrets"};
  const char *acct = json_string_value(json_object_get(p, "account"));
  const char *reg = json_string_value(json_object_get(p, "region"));
  for (int k = 0; k < 2; k++) {
    const json_t *f = json_object_get(json_object_get(p, kinds[k]), "failed");
    size_t j;
    const json_t *x;
    json_array_foreach(f, j, x) {
      if (!*header) printf("failed\n"), *header = true;
      const char *rid = json_string_value(json_object_get(x, "request_id"));
      if (rid != NULL && json_object_get(rids, rid) != NULL) continue;
      if (rid != NULL) json_object_set_new(rids, rid, json_true());
      /* Who else failed on the same answer, in this pipeline. */
      json_t *same[2] = {json_array(), json_array()};
      for (int m = 0; rid != NULL && m < 2; m++) {
        size_t q;
        const json_t *y;
        json_array_foreach(
            json_object_get(json_object_get(p, kinds[m]), "failed"), q, y) {
          const char *r2 = json_string_value(json_object_get(y, "request_id"));
          if (y != x && r2 != NULL && strcmp(r2, rid) == 0)
            json_array_append(same[m], json_object_get(y, "id"));
        }
      }
      print_one_failure(acct, reg, k == 0 ? "key" : "secret", x);
      for (int m = 0; m < 2; m++) {
        size_t n = json_array_size(same[m]);
        if (n == 0) continue;
        printf("    and %zu %s%s on the same answer:", n,
               m == 0 ? "key" : "secret", n == 1 ? "" : "s");
        size_t q;
        const json_t *y;
        json_array_foreach(same[m], q, y) {
          char nb[256];
          km_text_clean(json_string_value(y), nb, sizeof(nb));
          printf("%s %s", q ? "," : "", nb);
        }
        printf("\n");
      }
      json_decref(same[0]);
      json_decref(same[1]);
    }
  }
}

/* Lists what failed (with Code and RequestId) and what was blocked, then a
 * count of skipped items: the full lists are in report.json. */
void km__print_summary(const json_t *rep, const char *run_dir, double secs) {
  const json_t *t = json_object_get(rep, "totals");
  printf("\ndone in %.1fs   run directory %s\n", secs, run_dir);
  printf("  accounts   %lld ok   %lld failed   %lld blocked   %lld not "
         "started",
         (long long)km__jint(t, "accounts", "ok"),
         (long long)km__jint(t, "accounts", "failed"),
         (long long)km__jint(t, "accounts", "blocked"),
         (long long)km__jint(t, "accounts", "not_started"));
  /* waves and windows (docs/waves.md): only when there are some */
  if (km__jint(t, "accounts", "waiting") > 0)
    printf("   %lld waiting for their window",
           (long long)km__jint(t, "accounts", "waiting"));
  if (km__jint(t, "accounts", "held") > 0)
    printf("   %lld held at a wave gate",
           (long long)km__jint(t, "accounts", "held"));
  printf("\n");
  static const char *kinds[] = {"keys", "secrets"};
  for (int k = 0; k < 2; k++)
    printf("  %-9s  %lld migrated   %lld already migrated   %lld skipped   "
           "%lld blocked   %lld failed   %lld not run\n",
           kinds[k], (long long)km__jint(t, kinds[k], "migrated"),
           (long long)km__jint(t, kinds[k], "already_migrated"),
           (long long)km__jint(t, kinds[k], "skipped"),
           (long long)km__jint(t, kinds[k], "blocked"),
           (long long)km__jint(t, kinds[k], "failed"),
           (long long)km__jint(t, kinds[k], "not_run"));
  printf("  rotation   %lld turned off, %lld restored exactly, %lld not "
         "restored\n",
         (long long)km__jint(t, "rotation", "turned_off"),
         (long long)km__jint(t, "rotation", "restored"),
         (long long)km__jint(t, "rotation", "not_restored"));
  const json_t *pl = json_object_get(rep, "pipelines");
  size_t i;
  const json_t *p;
  bool header = false;
  json_array_foreach(pl, i, p) {
    char ab[128], rb[64], mb[512];
    const char *acct = cfield(p, "account", ab, sizeof(ab));
    const char *reg = cfield(p, "region", rb, sizeof(rb));
    json_t *rids = json_object(); /* RequestIds printed for this pipeline */
    print_failed_resources(p, rids, &header);
    const json_t *iss = json_object_get(p, "issues");
    size_t j;
    const json_t *x;
    json_array_foreach(iss, j, x) {
      const char *v = json_string_value(json_object_get(x, "verdict"));
      if (v == NULL || strcmp(v, "warning") == 0) continue;
      if (!header) printf("failed, blocked or not started\n"), header = true;
      const char *msg = cfield(x, "message", mb, sizeof(mb));
      if (msg == NULL) continue;
      /* A pipeline that failed on a resource's failure printed above
       * (same RequestId): name the stage, not the failure again. */
      bool dup = false;
      const char *r;
      json_t *y;
      json_object_foreach(rids, r, y) dup |= strstr(msg, r) != NULL;
      const char *colon = strstr(msg, ": ");
      if (dup && colon != NULL)
        printf("  %s %s: %.*s because of the failure above\n", acct, reg,
               (int)(colon - msg), msg);
      else
        printf("  %s %s: %s\n", acct, reg, msg);
    }
    json_decref(rids);
  }
  print_warnings(rep);
  const json_t *merged = json_object_get(rep, "merged_from");
  if (json_is_array(merged)) /* kmsmig report A B: no one file has it all */
    printf("report   merged from %zu run directories: `kmsmig report ... "
           "--output html|md|json --out FILE` writes it\n",
           json_array_size(merged));
  else
    printf("report   %s/report.html (report.json, report.md)\n", run_dir);
}

static size_t count_rule(const km_inv_t *inv, const char *rule) {
  size_t c = 0;
  for (size_t k = 0; k < inv->nkeys; k++)
    c += inv->keys[k].rule != NULL && strcmp(inv->keys[k].rule, rule) == 0;
  for (size_t k = 0; k < inv->nsecrets; k++)
    c +=
        inv->secrets[k].rule != NULL && strcmp(inv->secrets[k].rule, rule) == 0;
  for (size_t k = 0; k < inv->nissues; k++)
    c += strcmp(inv->issues[k].rule, rule) == 0;
  return c;
}

/* run --plan: what the plan did not know (each is in report.json as
 * skipped, rule plan.not_planned) and the pipelines it no longer fits,
 * said once on screen with the fix. */
void km__print_plan_notes(km_inv_t *const *invs, size_t n, const char *manifest,
                          const char *plan) {
  size_t unplanned = 0, stale = 0;
  for (size_t i = 0; i < n; i++) {
    unplanned += count_rule(invs[i], "plan.not_planned");
    stale += count_rule(invs[i], "plan.changed") > 0;
  }
  if (unplanned > 0)
    printf("not in the saved plan   %zu resource%s appeared after the plan "
           "and stayed in KMS 1.0 (report.json: rule plan.not_planned)\n",
           unplanned, unplanned == 1 ? "" : "s");
  if (stale > 0)
    printf("saved plan out of date   %zu account%s × region%s changed since "
           "the plan and did not run (rule plan.changed)\n",
           stale, stale == 1 ? "" : "s", stale == 1 ? "" : "s");
  if (unplanned + stale > 0)
    printf("refresh the plan: kmsmig plan %s --out %s\n", manifest, plan);
}

/* Advice that does something: --rerun-failed only when there is something
 * for it to retry; a resume when interrupted or when rotation is still off. */
void km__print_advice(int ec, const json_t *rep, const char *manifest,
                      const char *dir, const char *plan, const char *shard) {
  /* A run of a saved plan resumes with the same plan and shard. */
  char with[1024];
  snprintf(with, sizeof(with), "%s%s%s%s%s", dir,
           plan != NULL ? " --plan " : "", plan != NULL ? plan : "",
           shard != NULL ? " --shard " : "", shard != NULL ? shard : "");
  dir = with;
  json_int_t unrestored =
      km__jint(json_object_get(rep, "totals"), "rotation", "not_restored");
  if (ec == KM_EXIT_INTERRUPTED)
    printf("resume: kmsmig run %s --run-dir %s --yes\n", manifest, dir);
  else if (ec == KM_EXIT_FAILURES && rerun_has_work(rep))
    printf("retry what did not finish (after fixing the cause): kmsmig run "
           "%s --run-dir %s --rerun-failed --yes\n",
           manifest, dir);
  else if (ec == KM_EXIT_FAILURES && unrestored > 0)
    printf("restore rotation: kmsmig run %s --run-dir %s --yes\n", manifest,
           dir);
  else if (ec == KM_EXIT_FAILURES)
    printf("nothing left to retry: fix what is listed above, then plan "
           "again\n");
}
