/* `kmsmig plan` output, text and JSON (see plan_render.h).
 *
 * The text follows the operator sketch (ux-sketch.md): one row per account
 * and region, then the instances with their quota arithmetic and issues,
 * the blocked resources with the fix, the skipped ones with the reason, the
 * hook notes, and one closing line saying what `kmsmig run` would change.
 * Service keys and unselected resources are summarised as counts per
 * pipeline instead of one line each: a fleet has thousands of them and they
 * need no action (the JSON lists every one).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/batch.h"
#include "model/rules.h"
#include "model/strmap.h"
#include "engine/plan_render.h"

/* The reason of a verdict, rebuilt into a buffer that lives to the end of
 * the enclosing block when the model did not keep it (model/rules.h). */
#define KREASON(inv, k)                                                        \
  km_rules_key_reason((inv), (k), (char[KM_RULES_REASON_MAX]){0},              \
                      KM_RULES_REASON_MAX)
#define SREASON(inv, s)                                                        \
  km_rules_secret_reason((inv), (s), (char[KM_RULES_REASON_MAX]){0},           \
                         KM_RULES_REASON_MAX)

static int cmp_inv(const void *a, const void *b) {
  const km_inv_t *x = *(km_inv_t *const *)a, *y = *(km_inv_t *const *)b;
  int c = strcmp(x->account, y->account);
  return c != 0 ? c : strcmp(x->region, y->region);
}

/* Sorted copy of the pointer array (owned by the caller, free()). */
static km_inv_t **sorted(const km_plan_t *p) {
  km_inv_t **v = km_xcalloc(p->ninvs ? p->ninvs : 1, sizeof(*v));
  for (size_t i = 0; i < p->ninvs; i++)
    v[i] = p->invs[i];
  if (p->ninvs > 1) qsort(v, p->ninvs, sizeof(*v), cmp_inv);
  return v;
}

static size_t moving(const km_inv_counts_t *c) {
  return c->keys[KM_VERDICT_PENDING] + c->keys[KM_VERDICT_NEEDS_BYOK] +
         c->secrets[KM_VERDICT_PENDING];
}

/* A pipeline is blocked by an instance-level problem, or when everything it
 * would move is blocked; a blocked resource alongside movable ones only
 * keeps itself out of the batches (the run moves the rest). */
const char *km_plan_status(const km_inv_t *inv) {
  km_inv_counts_t c;
  km_inv_count(inv, &c);
  /* Discovery or preflight did not finish: its empty lists are not
   * "nothing to do". */
  if (c.failures > 0) return "failed";
  if (c.blocking_issues > 0) return "blocked";
  if (moving(&c) > 0) return "ready";
  return c.blocking > 0 ? "blocked" : "nothing to do";
}

/* 1234567 -> "1,234,567"; negative -> "?". */
static const char *num(int64_t v, char buf[32]) {
  if (v < 0) return strcpy(buf, "?");
  char tmp[32];
  int n = snprintf(tmp, sizeof(tmp), "%lld", (long long)v);
  size_t o = 0;
  for (int i = 0; i < n; i++) {
    if (i > 0 && (n - i) % 3 == 0) buf[o++] = ',';
    buf[o++] = tmp[i];
  }
  buf[o] = '\0';
  return buf;
}

/* Account-level tallies: an account is blocked when any of its pipelines
 * is; "resources" counts what ready pipelines would change. */
typedef struct {
  size_t accounts, ready, blocked, failed, regions, resources;
  size_t changing_accounts;
  size_t warnings; /* distinct warning messages */
} tally_t;

/* The same warning of an instance shared by many accounts is one warning
 * (printed once under instances with its count), not one per pipeline. */
static void count_warnings(const km_inv_t *inv, km_strmap_t *seen, tally_t *t) {
  for (size_t k = 0; k < inv->nissues; k++) {
    if (inv->issues[k].verdict != KM_VERDICT_WARNING) continue;
    size_t dummy;
    if (km_strmap_get(seen, inv->issues[k].message, &dummy)) continue;
    km_strmap_put(seen, inv->issues[k].message, t->warnings++);
  }
}

/* Failed (a pipeline's discovery or preflight did not finish) ranks above
 * blocked, which ranks above ready. */
static void tally(km_inv_t *const *v, size_t n, tally_t *t) {
  memset(t, 0, sizeof(*t));
  const char **regions = km_xcalloc(n ? n : 1, sizeof(*regions));
  km_strmap_t *seen = km_strmap_new(16);
  for (size_t i = 0; i < n;) {
    size_t j = i;
    bool blocked = false, changes = false, failed = false;
    for (; j < n && strcmp(v[j]->account, v[i]->account) == 0; j++) {
      km_inv_counts_t c;
      km_inv_count(v[j], &c);
      count_warnings(v[j], seen, t);
      const char *st = km_plan_status(v[j]);
      if (strcmp(st, "failed") == 0) {
        failed = true;
      } else if (strcmp(st, "blocked") == 0) {
        blocked = true;
      } else if (moving(&c) > 0) {
        t->resources += moving(&c);
        changes = true;
      }
      size_t r = 0;
      while (r < t->regions && strcmp(regions[r], v[j]->region) != 0)
        r++;
      if (r == t->regions) regions[t->regions++] = v[j]->region;
    }
    t->accounts++;
    if (failed)
      t->failed++;
    else if (blocked)
      t->blocked++;
    else
      t->ready++;
    if (changes && !failed) t->changing_accounts++;
    i = j;
  }
  km_strmap_free(seen);
  free(regions);
}

static void row(km_buf_t *o, int wa, int wr, const char *a, const char *r,
                const char *k, const char *s, const char *byok,
                const char *batches, const char *status) {
  km_buf_printf(o, "%-*s  %-*s  %-20s  %-22s  %-4s  %-7s  %s\n", wa, a, wr, r,
                k, s, byok, batches, status);
}

static void table(km_buf_t *o, km_inv_t *const *v, size_t n) {
  int wa = 7, wr = 6;
  for (size_t i = 0; i < n; i++) {
    if ((int)strlen(v[i]->account) > wa) wa = (int)strlen(v[i]->account);
    if ((int)strlen(v[i]->region) > wr) wr = (int)strlen(v[i]->region);
  }
  row(o, wa, wr, "ACCOUNT", "REGION", "KEYS pend/done/skip",
      "SECRETS pend/done/skip", "BYOK", "BATCHES", "STATUS");
  for (size_t i = 0; i < n; i++) {
    km_inv_counts_t c;
    km_inv_count(v[i], &c);
    km_batches_t b;
    km_batch_plan(v[i], &b, NULL);
    char k[64], s[64], byok[32], bt[32], st[48];
    snprintf(k, sizeof(k), "%zu / %zu / %zu", c.keys[KM_VERDICT_PENDING],
             c.keys[KM_VERDICT_DONE], c.keys[KM_VERDICT_SKIPPED]);
    snprintf(s, sizeof(s), "%zu / %zu / %zu", c.secrets[KM_VERDICT_PENDING],
             c.secrets[KM_VERDICT_DONE], c.secrets[KM_VERDICT_SKIPPED]);
    snprintf(byok, sizeof(byok), "%zu", c.keys[KM_VERDICT_NEEDS_BYOK]);
    snprintf(bt, sizeof(bt), "%zu", b.n);
    const char *status = km_plan_status(v[i]);
    if (strcmp(status, "failed") == 0) { /* unknown, not zero */
      strcpy(k, "-");
      strcpy(s, "-");
      strcpy(byok, "-");
      strcpy(bt, "-");
    }
    if (c.blocking > 0 && strcmp(status, "blocked") == 0)
      snprintf(st, sizeof(st), "blocked (%zu)", c.blocking);
    else if (c.blocking > 0)
      snprintf(st, sizeof(st), "%s, %zu blocked", status, c.blocking);
    else
      snprintf(st, sizeof(st), "%s", status);
    row(o, wa, wr, v[i]->account, v[i]->region, k, s, byok, bt, st);
    km_batches_free(&b);
  }
}

/* One instance issue and how many accounts it was found for. */
typedef struct {
  const km_inv_issue_t *is;
  const char *last_account;
  size_t accounts;
} agg_t;

/* The issues of the pipelines that target inst, each message once with
 * the number of accounts (v is sorted by account).  The pipeline's own end
 * (pipeline.*) is listed under failed or blocked instead. */
static void instance_issues(km_buf_t *o, km_inv_t *const *v, size_t n,
                            const char *inst) {
  km_strmap_t *idx = km_strmap_new(16);
  agg_t *agg = NULL;
  size_t nagg = 0;
  for (size_t i = 0; i < n; i++) {
    if (v[i]->instance_id == NULL || strcmp(v[i]->instance_id, inst) != 0)
      continue;
    for (size_t k = 0; k < v[i]->nissues; k++) {
      const km_inv_issue_t *is = &v[i]->issues[k];
      if (strncmp(is->rule, "pipeline.", 9) == 0) continue;
      size_t at;
      if (!km_strmap_get(idx, is->message, &at)) {
        agg = km_xrealloc(agg, (nagg + 1) * sizeof(*agg));
        agg[nagg] = (agg_t){is, NULL, 0};
        km_strmap_put(idx, is->message, at = nagg++);
      }
      if (agg[at].last_account == NULL ||
          strcmp(agg[at].last_account, v[i]->account) != 0) {
        agg[at].last_account = v[i]->account;
        agg[at].accounts++;
      }
    }
  }
  for (size_t a = 0; a < nagg; a++) {
    if (agg[a].accounts > 1)
      km_buf_printf(o, "    %s (%s, %zu accounts)\n", agg[a].is->message,
                    km_verdict_name(agg[a].is->verdict), agg[a].accounts);
    else
      km_buf_printf(o, "    %s (%s)\n", agg[a].is->message,
                    km_verdict_name(agg[a].is->verdict));
  }
  free(agg);
  km_strmap_free(idx);
}

static void instances(km_buf_t *o, const km_plan_t *p, km_inv_t *const *v,
                      size_t n) {
  if (p->nquota == 0) return;
  km_buf_puts(o, "instances\n");
  for (size_t q = 0; q < p->nquota; q++) {
    const km_quota_use_t *u = &p->quota[q];
    char a[32], b[32], c[32], d[32], e[32], f[32], g[32], h[32];
    const char *verdict = (u->keys_ok && u->secrets_ok) ? "ok" : "over quota";
    if ((u->key_add > 0 && u->key_quota < 0) ||
        (u->secret_add > 0 && u->secret_quota < 0))
      verdict = "quota unknown";
    km_buf_printf(
        o,
        "  %s  %s  keys %s + %s this run = %s / %s   secrets %s + %s = %s / "
        "%s   %s\n",
        u->instance_id, u->region, num(u->key_used, a), num(u->key_add, b),
        num(u->key_used < 0 ? -1 : u->key_used + u->key_add, c),
        num(u->key_quota, d), num(u->secret_used, e), num(u->secret_add, f),
        num(u->secret_used < 0 ? -1 : u->secret_used + u->secret_add, g),
        num(u->secret_quota, h), verdict);
    /* The instance's issues once, however many accounts share it. */
    instance_issues(o, v, n, u->instance_id);
  }
}

/* Pipelines whose discovery or preflight did not finish, with the cause
 * and its fix (the error text carries both). */
static void failed(km_buf_t *o, km_inv_t *const *v, size_t n) {
  bool header = false;
  for (size_t i = 0; i < n; i++) {
    for (size_t k = 0; k < v[i]->nissues; k++) {
      if (v[i]->issues[k].verdict != KM_VERDICT_FAILED) continue;
      if (!header)
        km_buf_puts(o, "failed (not planned: fix the cause, then plan "
                       "again)\n");
      header = true;
      km_buf_printf(o, "  %s %s: %s\n", v[i]->account, v[i]->region,
                    v[i]->issues[k].message);
    }
  }
}

static void blocked(km_buf_t *o, km_inv_t *const *v, size_t n) {
  bool header = false;
  for (size_t i = 0; i < n; i++) {
    const km_inv_t *inv = v[i];
    km_inv_counts_t c;
    km_inv_count(inv, &c);
    if (c.blocking == 0) continue;
    if (!header) km_buf_puts(o, "blocked\n");
    header = true;
    for (size_t k = 0; k < inv->nkeys; k++)
      if (inv->keys[k].verdict == KM_VERDICT_BLOCKED)
        km_buf_printf(o, "  %s %s %s\n", inv->account, inv->region,
                      KREASON(inv, &inv->keys[k]));
    for (size_t s = 0; s < inv->nsecrets; s++)
      if (inv->secrets[s].verdict == KM_VERDICT_BLOCKED)
        km_buf_printf(o, "  %s %s %s\n", inv->account, inv->region,
                      SREASON(inv, &inv->secrets[s]));
    size_t inst_blocks = 0;
    for (size_t k = 0; k < inv->nissues; k++) {
      if (inv->issues[k].verdict != KM_VERDICT_BLOCKED) continue;
      if (inv->instance_id == NULL)
        km_buf_printf(o, "  %s %s %s\n", inv->account, inv->region,
                      inv->issues[k].message);
      else
        inst_blocks++;
    }
    if (inst_blocks > 0)
      km_buf_printf(o,
                    "  %s %s: instance %s has %zu blocking issue%s (see "
                    "instances)\n",
                    inv->account, inv->region, inv->instance_id, inst_blocks,
                    inst_blocks == 1 ? "" : "s");
  }
}

/* Skipped resources shown as one count per pipeline, in this order.  The
 * selection_unset rows say why nothing moves: a selection nobody wrote. */
static const struct {
  const char *rule;
  const char *noun;
  const char *tail;
} summary[] = {
    {"key.service", "service key",
     " (the cloud products manage them; listed under Default Keys after "
     "migration)"},
    {"key.not_selected", "key", " not selected"},
    {"secret.not_selected", "secret", " not selected"},
    {"key.selection_unset", "key",
     " not selected because select.keys is not set (write `keys: "
     "all-pending` or list them)"},
    {"secret.selection_unset", "secret",
     " not selected because select.secrets is not set (write `secrets: "
     "all-pending` or list them)"},
};

/* Counts rule in counts[] when it is summarised; false when it is not. */
static bool count_summary(const char *rule, size_t *counts) {
  for (size_t r = 0; r < KM_ARRAY_SIZE(summary); r++) {
    if (strcmp(rule, summary[r].rule) == 0) {
      counts[r]++;
      return true;
    }
  }
  return false;
}

static void skipped_one(km_buf_t *o, const km_inv_t *inv, bool *header) {
  size_t counts[KM_ARRAY_SIZE(summary)] = {0};
  for (size_t k = 0; k < inv->nkeys; k++) {
    const km_inv_key_t *key = &inv->keys[k];
    if (key->verdict != KM_VERDICT_SKIPPED) continue;
    if (!*header) km_buf_puts(o, "skipped\n");
    *header = true;
    if (!count_summary(key->rule, counts))
      km_buf_printf(o, "  %s %s %s\n", inv->account, inv->region,
                    KREASON(inv, key));
  }
  for (size_t s = 0; s < inv->nsecrets; s++) {
    const km_inv_secret_t *sec = &inv->secrets[s];
    if (sec->verdict != KM_VERDICT_SKIPPED) continue;
    if (!*header) km_buf_puts(o, "skipped\n");
    *header = true;
    if (!count_summary(sec->rule, counts))
      km_buf_printf(o, "  %s %s %s\n", inv->account, inv->region,
                    SREASON(inv, sec));
  }
  const char *sep = NULL;
  for (size_t r = 0; r < KM_ARRAY_SIZE(summary); r++) {
    if (counts[r] == 0) continue;
    if (sep == NULL) km_buf_printf(o, "  %s %s:", inv->account, inv->region);
    km_buf_printf(o, "%s%zu %s%s%s", sep != NULL ? sep : " ", counts[r],
                  summary[r].noun, counts[r] == 1 ? "" : "s", summary[r].tail);
    sep = ", ";
  }
  if (sep != NULL) km_buf_putc(o, '\n');
}

static void skipped(km_buf_t *o, km_inv_t *const *v, size_t n) {
  bool header = false;
  for (size_t i = 0; i < n; i++)
    skipped_one(o, v[i], &header);
}

int km_plan_render_text(const km_plan_t *p, km_buf_t *out, km_err_t *err) {
  if (p == NULL || out == NULL || (p->ninvs > 0 && p->invs == NULL))
    return km__err_set(err, KM_EINVAL, "plan: nothing to render");
  km_inv_t **v = sorted(p);
  tally_t t;
  tally(v, p->ninvs, &t);
  km_buf_printf(out,
                "%s: %zu account%s, %zu region%s, plan only — nothing will "
                "be changed\n\n",
                p->name ? p->name : "plan", t.accounts,
                t.accounts == 1 ? "" : "s", t.regions,
                t.regions == 1 ? "" : "s");
  table(out, v, p->ninvs);
  instances(out, p, v, p->ninvs);
  failed(out, v, p->ninvs);
  blocked(out, v, p->ninvs);
  skipped(out, v, p->ninvs);
  if (p->nnotes > 0) {
    km_buf_puts(out, "hooks\n");
    for (size_t i = 0; i < p->nnotes; i++)
      km_buf_printf(out, "  %s\n", p->notes[i]);
  }
  char a[32];
  km_buf_printf(out, "\n%zu account%s ready, %zu blocked", t.ready,
                t.ready == 1 ? "" : "s", t.blocked);
  if (t.failed > 0) km_buf_printf(out, ", %zu failed", t.failed);
  if (t.warnings > 0)
    km_buf_printf(out, ", %zu warning%s", t.warnings,
                  t.warnings == 1 ? "" : "s");
  if (t.resources > 0)
    km_buf_printf(out,
                  ". `kmsmig run %s` would change %s resource%s in %zu "
                  "account%s (rotation off → migrate → rotation restored).\n",
                  p->manifest_path ? p->manifest_path : "<manifest>",
                  num((int64_t)t.resources, a), t.resources == 1 ? "" : "s",
                  t.changing_accounts, t.changing_accounts == 1 ? "" : "s");
  else if (t.failed == 0)
    km_buf_puts(out, ". Nothing to migrate.\n");
  else
    km_buf_puts(out, ".\n");
  if (t.failed > 0)
    km_buf_printf(out,
                  "%zu account%s could not be planned (see failed): %s "
                  "unknown until the cause is fixed.\n",
                  t.failed, t.failed == 1 ? "" : "s",
                  t.failed == 1 ? "what it holds is" : "what they hold is");
  free(v);
  return 0;
}

/* ---- JSON ---- */

static json_t *counts_json(const size_t *c, bool keys) {
  json_t *o = json_pack("{s:I, s:I, s:I, s:I}", "pending",
                        (json_int_t)c[KM_VERDICT_PENDING], "done",
                        (json_int_t)c[KM_VERDICT_DONE], "skipped",
                        (json_int_t)c[KM_VERDICT_SKIPPED], "blocked",
                        (json_int_t)c[KM_VERDICT_BLOCKED]);
  if (keys)
    json_object_set_new(o, "needs_byok",
                        json_integer((json_int_t)c[KM_VERDICT_NEEDS_BYOK]));
  return o;
}

static json_t *resource_json(const char *kind, const char *id, km_verdict_t v,
                             const char *rule, const char *reason) {
  return json_pack("{s:s, s:s, s:s, s:s?, s:s?}", "kind", kind, "id", id,
                   "verdict", km_verdict_name(v), "rule", rule, "reason",
                   reason);
}

static json_t *pipeline_json(const km_inv_t *inv) {
  km_inv_counts_t c;
  km_inv_count(inv, &c);
  km_batches_t b;
  km_batch_plan(inv, &b, NULL);
  json_t *res = json_array(), *iss = json_array();
  for (size_t k = 0; k < inv->nkeys; k++)
    json_array_append_new(
        res, resource_json("key", inv->keys[k].key_id, inv->keys[k].verdict,
                           inv->keys[k].rule, KREASON(inv, &inv->keys[k])));
  for (size_t s = 0; s < inv->nsecrets; s++)
    json_array_append_new(
        res, resource_json("secret", inv->secrets[s].secret_name,
                           inv->secrets[s].verdict, inv->secrets[s].rule,
                           SREASON(inv, &inv->secrets[s])));
  for (size_t i = 0; i < inv->nissues; i++)
    json_array_append_new(
        iss, json_pack("{s:s, s:s, s:s}", "rule", inv->issues[i].rule,
                       "verdict", km_verdict_name(inv->issues[i].verdict),
                       "message", inv->issues[i].message));
  json_t *o = json_pack(
      "{s:s, s:s?, s:s, s:s?, s:s, s:s, s:I, s:o, s:o, s:o, s:o, s:o}",
      "account", inv->account, "account_id", inv->account_id, "region",
      inv->region, "instance_id", inv->instance_id, "instance_type",
      inv->instance_type == KM_INV_TYPE_HARDWARE   ? "hardware"
      : inv->instance_type == KM_INV_TYPE_SOFTWARE ? "software"
                                                   : "unknown",
      "status", km_plan_status(inv), "blocking", (json_int_t)c.blocking, "keys",
      counts_json(c.keys, true), "secrets", counts_json(c.secrets, false),
      "batches", km_batches_to_json(&b), "issues", iss, "resources", res);
  km_batches_free(&b);
  return o;
}

int km_plan_render_json(const km_plan_t *p, json_t **out, km_err_t *err) {
  *out = NULL;
  if (p == NULL || (p->ninvs > 0 && p->invs == NULL))
    return km__err_set(err, KM_EINVAL, "plan: nothing to render");
  km_inv_t **v = sorted(p);
  tally_t t;
  tally(v, p->ninvs, &t);
  json_t *pl = json_array(), *in = json_array(), *notes = json_array();
  for (size_t i = 0; i < p->ninvs; i++)
    json_array_append_new(pl, pipeline_json(v[i]));
  for (size_t q = 0; q < p->nquota; q++) {
    const km_quota_use_t *u = &p->quota[q];
    json_array_append_new(
        in,
        json_pack(
            "{s:s, s:s, s:I, s:{s:o, s:I, s:o, s:b},"
            " s:{s:o, s:I, s:o, s:b}}",
            "instance_id", u->instance_id, "region", u->region, "pipelines",
            (json_int_t)u->pipelines, "keys", "used",
            u->key_used < 0 ? json_null() : json_integer(u->key_used), "add",
            (json_int_t)u->key_add, "quota",
            u->key_quota < 0 ? json_null() : json_integer(u->key_quota), "ok",
            u->keys_ok, "secrets", "used",
            u->secret_used < 0 ? json_null() : json_integer(u->secret_used),
            "add", (json_int_t)u->secret_add, "quota",
            u->secret_quota < 0 ? json_null() : json_integer(u->secret_quota),
            "ok", u->secrets_ok));
  }
  for (size_t i = 0; i < p->nnotes; i++)
    json_array_append_new(notes, json_string(p->notes[i]));
  /* plan_version: what run/planfile.h (KM_PLANFILE_VERSION) reads. */
  *out = json_pack(
      "{s:i, s:s?, s:s?, s:{s:I, s:I, s:I, s:I, s:I, s:I, s:I}, s:o, s:o, "
      "s:o}",
      "plan_version", 2, "name", p->name, "manifest", p->manifest_path,
      "summary", "accounts", (json_int_t)t.accounts, "accounts_ready",
      (json_int_t)t.ready, "accounts_blocked", (json_int_t)t.blocked,
      "accounts_failed", (json_int_t)t.failed, "pipelines",
      (json_int_t)p->ninvs, "resources_to_change", (json_int_t)t.resources,
      "warnings", (json_int_t)t.warnings, "pipelines", pl, "instances", in,
      "notes", notes);
  free(v);
  return *out ? 0 : km__err_set(err, KM_ENOMEM, "plan: JSON build failed");
}

int km_plan_render_saved(const km_plan_t *p, const char *manifest_sha256,
                         int64_t created, json_t **out, km_err_t *err) {
  int rc = km_plan_render_json(p, out, err);
  if (rc < 0) return rc;
  char ts[21];
  km_iso8601(created, ts);
  json_object_set_new(*out, "format", json_string("kmsmig-plan"));
  json_object_set_new(*out, "manifest_sha256", json_string(manifest_sha256));
  json_object_set_new(*out, "created", json_string(ts));
  return 0;
}
