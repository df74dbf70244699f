/* What the plan, report.json and the end of a run say about waves and
 * migration windows (see waves.h, docs/waves.md): which account runs in
 * which wave, and when each account with a window may run. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/pipeline_priv.h"
#include "run/runtime.h"
#include "run/waves_priv.h"

/* The plan lists at most this many accounts per wave by name. */
#define KM_WAVES_NAMES 12

static const char *kind_text(const km_mf_wave_t *w, char *buf, size_t n) {
  switch (w->kind) {
  case KM_MF_WAVE_PERCENT:
    snprintf(buf, n, "%d%% of the rest", w->amount);
    break;
  case KM_MF_WAVE_COUNT:
    snprintf(buf, n, "%d of the rest", w->amount);
    break;
  case KM_MF_WAVE_REST:
    snprintf(buf, n, "the rest");
    break;
  default:
    snprintf(buf, n, "named");
  }
  return buf;
}

/* Account i of rt is in the run (has a target). */
static bool in_run(const struct km_waves_s *W, size_t i) {
  return W->nwaves == 0 || W->acct_wave[i] > 0;
}

static void waves_text(km_runtime_t *rt, km_buf_t *out) {
  struct km_waves_s *W = rt->waves;
  km_buf_printf(out, "\nwaves (prepare starts wave by wave; a gate between "
                     "them, docs/waves.md):\n");
  for (size_t w = 1; w <= W->nwaves; w++) {
    const km_mf_wave_t *mw = &rt->m->waves[w - 1];
    char kt[48];
    size_t n = 0;
    for (size_t i = 0; i < rt->naccts; i++)
      n += W->acct_wave[i] == (int)w;
    km_buf_printf(out, "  wave %zu  %-10s %-16s %zu account%s:", w, mw->name,
                  kind_text(mw, kt, sizeof(kt)), n, n == 1 ? "" : "s");
    size_t shown = 0;
    for (size_t i = 0; i < rt->naccts && shown < KM_WAVES_NAMES; i++)
      if (W->acct_wave[i] == (int)w)
        km_buf_printf(out, "%s %s", shown++ ? "," : "", rt->accts[i].mf->name);
    if (n > shown) km_buf_printf(out, " and %zu more", n - shown);
    km_buf_printf(out, "\n");
  }
}

/* "open now" / "closed now, opens ..." for account i (now: the plan). */
static void state_text(km_runtime_t *rt, size_t i, int64_t now, char *out,
                       size_t n) {
  struct km_waves_s *W = rt->waves;
  sched_t *s = &W->sched[W->acct_sched[i]];
  int64_t next = km__sched_next(s, now);
  if (next == now) {
    snprintf(out, n, "open now: runs in this run");
    return;
  }
  char when[64] = "at no time within 400 days";
  if (next > 0) km_window_local_text(s->ws[0]->tz, next, when, sizeof(when));
  snprintf(out, n, "closed now: waits, runs from %s", when);
}

static void windows_text(km_runtime_t *rt, km_buf_t *out) {
  struct km_waves_s *W = rt->waves;
  int64_t now = (int64_t)time(NULL);
  bool head = false;
  for (size_t i = 0; i < rt->naccts; i++) {
    if (W->acct_sched[i] < 0 || !in_run(W, i)) continue;
    if (!head)
      km_buf_printf(out, "\nmigration windows (an account is prepared only "
                         "inside its window):\n");
    head = true;
    const sched_t *s = &W->sched[W->acct_sched[i]];
    char st[128];
    state_text(rt, i, now, st, sizeof(st));
    km_buf_printf(out, "  %-12s %s\n", rt->accts[i].mf->name, st);
    for (size_t k = 0; k < s->n; k++) {
      char d[320];
      km_window_describe(s->ws[k], d, sizeof(d));
      km_buf_printf(out, "  %-12s   window %s\n", "", d);
    }
    if (W->acct_when[i] > 0) {
      char when[64];
      km_window_local_text(s->ws[0]->tz, W->acct_when[i], when, sizeof(when));
      km_buf_printf(out,
                    "  %-12s   migrate.when %s falls outside it: batches "
                    "moved to %s\n",
                    "", rt->m->migrate.when_text, when);
    }
  }
}

void km_waves_plan_text(km_runtime_t *rt, km_buf_t *out) {
  if (rt->waves == NULL) return;
  if (rt->waves->nwaves > 0) waves_text(rt, out);
  windows_text(rt, out);
}

static json_t *iso_or_null(int64_t t) {
  if (t <= 0) return json_null();
  char ts[21];
  km_iso8601(t, ts);
  return json_string(ts);
}

static json_t *waves_json(km_runtime_t *rt) {
  struct km_waves_s *W = rt->waves;
  json_t *arr = json_array();
  for (size_t w = 1; w <= W->nwaves; w++) {
    const km_mf_wave_t *mw = &rt->m->waves[w - 1];
    char kt[48];
    json_t *names = json_array();
    for (size_t i = 0; i < rt->naccts; i++)
      if (W->acct_wave[i] == (int)w)
        json_array_append_new(names, json_string(rt->accts[i].mf->name));
    const char *gate = W->passed[w]              ? "passed"
                       : W->stopped_at == (int)w ? "stopped"
                                                 : "not_reached";
    json_array_append_new(arr, json_pack("{s:I, s:s, s:s, s:o, s:s}", "wave",
                                         (json_int_t)w, "name", mw->name,
                                         "takes", kind_text(mw, kt, sizeof(kt)),
                                         "accounts", names, "gate", gate));
  }
  return arr;
}

static json_t *windows_json(km_runtime_t *rt, bool report) {
  struct km_waves_s *W = rt->waves;
  int64_t now = (int64_t)time(NULL);
  json_t *arr = json_array();
  for (size_t i = 0; i < rt->naccts; i++) {
    if (W->acct_sched[i] < 0 || !in_run(W, i)) continue;
    sched_t *s = &W->sched[W->acct_sched[i]];
    json_t *d = json_array();
    for (size_t k = 0; k < s->n; k++) {
      char buf[320];
      km_window_describe(s->ws[k], buf, sizeof(buf));
      json_array_append_new(d, json_string(buf));
    }
    int64_t next = km__sched_next(s, now);
    bool open = next == now;
    if (report && W->acct_next[i] != 0) next = W->acct_next[i];
    json_array_append_new(arr, json_pack("{s:s, s:o, s:b, s:o, s:o}", "account",
                                         rt->accts[i].mf->name, "windows", d,
                                         "open_now", open, "next_open",
                                         iso_or_null(next), "when_moved_to",
                                         iso_or_null(W->acct_when[i])));
  }
  return arr;
}

void km_waves_plan_json(km_runtime_t *rt, json_t *plan) {
  if (rt->waves == NULL) return;
  json_object_set_new(plan, "waves", waves_json(rt));
  json_object_set_new(plan, "windows", windows_json(rt, false));
}

int km_waves_report_tail(FILE *f, void *ud) {
  km_waves_tail_t *t = ud;
  int rc = 0;
  if (t->rt->waves != NULL) {
    struct km_waves_s *W = t->rt->waves;
    json_t *j = json_pack(
        "{s:o, s:o, s:o}", "waves", waves_json(t->rt), "stopped_after",
        W->stopped_at > 0 ? json_integer(W->stopped_at) : json_null(),
        "windows", windows_json(t->rt, true));
    char *text = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(j);
    if (fprintf(f, ",\n  \"waves\": %s", text) < 0) rc = KM_EIO;
    free(text);
  }
  if (rc == 0 && t->next != NULL) rc = t->next(f, t->next_ud);
  return rc;
}

void km__waves_worklist(km_runtime_t *rt, bool after) {
  if (rt->waves == NULL || rt->mode != KM_MODE_RUN) return;
  json_t *w = windows_json(rt, after);
  json_decref(rt->wl.windows);
  rt->wl.windows = json_array_size(w) > 0 ? w : NULL;
  if (rt->wl.windows == NULL) json_decref(w);
}

int km_waves_finish(km_runtime_t *rt, int ec, bool print) {
  struct km_waves_s *W = rt->waves;
  if (W == NULL) return ec;
  if (!print) km__waves_worklist(rt, true);
  if (W->stopped_at > 0) {
    if (print)
      printf("\nSTOPPED at the gate after wave %d: %s.\nLook at %s/report.md; "
             "to go on with the next wave run\n  kmsmig run %s --run-dir %s "
             "--yes --advance\n(or --auto-advance: it resumes, retries what "
             "did not finish and goes on only if wave %d is then clean)\n",
             W->stopped_at, W->stop_why, rt->rd.dir, W->o.manifest_path,
             rt->rd.dir, W->stopped_at);
    return ec == KM_EXIT_INTERRUPTED ? ec : KM_EXIT_WAVE_GATE;
  }
  if (W->held_window == 0) return ec;
  if (print) {
    printf("\n%zu account%s waiting for %s migration window (not prepared, "
           "rotation untouched):\n",
           W->held_window, W->held_window == 1 ? " is" : "s are",
           W->held_window == 1 ? "its" : "their");
    for (size_t i = 0; i < rt->naccts; i++) {
      if (W->acct_next[i] == 0) continue;
      const sched_t *s = &W->sched[W->acct_sched[i]];
      char when[64] = "at no time within 400 days";
      if (W->acct_next[i] > 0)
        km_window_local_text(s->ws[0]->tz, W->acct_next[i], when, sizeof(when));
      printf("  %-12s window opens %s\n", rt->accts[i].mf->name, when);
    }
    printf("run `kmsmig run %s --run-dir %s --yes` again when it is open: the "
           "resume migrates %s\n",
           W->o.manifest_path, rt->rd.dir, W->held_window == 1 ? "it" : "them");
  }
  return ec == KM_EXIT_OK ? KM_EXIT_WAITING : ec;
}
