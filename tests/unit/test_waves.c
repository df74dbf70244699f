/* Waves and migration windows (docs/waves.md): which wave each account is
 * in (named ones first, then shares of the rest, deterministic), and the
 * window arithmetic (weekly spans in a zone, freezes, a scheduled batch
 * moved out of a freeze with its rotation lead, a DST change). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "model/window.h"
#include "run/waves.h"
#include "util/util.h"

/* ---- wave assignment ---- */

static km_mf_wave_t named(const char *name, char **accts, size_t n) {
  km_mf_wave_t w;
  memset(&w, 0, sizeof(w));
  w.name = (char *)name;
  w.kind = KM_MF_WAVE_NAMED;
  w.accounts.v = accts;
  w.accounts.n = n;
  w.pos.file = "m.yaml";
  w.pos.line = 3;
  w.pos.col = 5;
  return w;
}

static km_mf_wave_t share(km_mf_wave_kind_t k, int amount) {
  km_mf_wave_t w;
  memset(&w, 0, sizeof(w));
  w.name = (char *)"share";
  w.kind = k;
  w.amount = amount;
  return w;
}

static const char *const k_names[] = {"a", "b", "c", "d", "e", "f", "g"};

static void fleet(km_wave_acct_t *out, size_t n) {
  for (size_t i = 0; i < n; i++)
    out[i] = (km_wave_acct_t){k_names[i], NULL, 0};
}

static void canaries_half_rest(void **state) {
  (void)state;
  char *can[] = {"c", "f"};
  km_mf_wave_t w[] = {named("canary", can, 2), share(KM_MF_WAVE_PERCENT, 50),
                      share(KM_MF_WAVE_REST, 0)};
  km_wave_acct_t a[7];
  fleet(a, 7);
  int out[7];
  km_err_t err;
  assert_int_equal(km_waves_assign(w, 3, a, 7, false, out, &err), 0);
  /* canaries c, f; the rest a b d e g: 50% is 3 (rounded up), in order */
  int want[] = {2, 2, 1, 2, 3, 1, 3};
  assert_memory_equal(out, want, sizeof(want));
  /* the same input, the same waves */
  int again[7];
  assert_int_equal(km_waves_assign(w, 3, a, 7, false, again, &err), 0);
  assert_memory_equal(out, again, sizeof(out));
}

static void tags_count_and_clamp(void **state) {
  (void)state;
  km_mf_kv_t canary = {(char *)"tier", (char *)"canary"};
  km_mf_kv_t other = {(char *)"tier", (char *)"gold"};
  char *bn[] = {"b"};
  km_mf_wave_t w[] = {named("by-tag", NULL, 0), named("by-name", bn, 1),
                      share(KM_MF_WAVE_COUNT, 10), share(KM_MF_WAVE_REST, 0)};
  w[0].tags = &canary;
  w[0].ntags = 1;
  km_wave_acct_t a[4];
  fleet(a, 4);
  a[1].tags = &canary; /* b: tagged, and named by wave 2: the first wins */
  a[1].ntags = 1;
  a[3].tags = &other;
  a[3].ntags = 1;
  int out[4];
  km_err_t err;
  assert_int_equal(km_waves_assign(w, 4, a, 4, false, out, &err), 0);
  /* count 10 of a rest of 2 takes both; the rest wave is empty */
  int want[] = {3, 1, 3, 3};
  assert_memory_equal(out, want, sizeof(want));
}

static void missing_account(void **state) {
  (void)state;
  char *can[] = {"a", "zz"};
  km_mf_wave_t w[] = {named("canary", can, 2), share(KM_MF_WAVE_REST, 0)};
  km_wave_acct_t a[3];
  fleet(a, 3);
  int out[3];
  km_err_t err;
  memset(&err, 0, sizeof(err));
  assert_int_equal(km_waves_assign(w, 2, a, 3, false, out, &err), KM_EINVAL);
  assert_non_null(strstr(err.text, "m.yaml:3:5: wave 'canary' names account "
                                   "'zz', which is not an account"));
  /* a shard of the run may not have it */
  assert_int_equal(km_waves_assign(w, 2, a, 3, true, out, &err), 0);
  assert_int_equal(out[0], 1);
  assert_int_equal(out[1], 2);
}

/* ---- windows ---- */

static int64_t utc(int y, int mo, int d, int h, int mi) {
  int64_t t;
  assert_int_equal(km_window_local_epoch("UTC", y, mo, d, h, mi, &t), 0);
  return t;
}

static km_window_t weekly(const char *tz, uint8_t days, int start, int end) {
  km_window_t w;
  memset(&w, 0, sizeof(w));
  w.tz = (char *)tz;
  w.allow = km_xcalloc(1, sizeof(*w.allow));
  w.allow[0] = (km_wk_span_t){days, start, end};
  w.nallow = 1;
  return w;
}

static void add_freeze(km_window_t *w, int64_t a, int64_t b) {
  w->freeze = km_xrealloc(w->freeze, (w->nfreeze + 1) * sizeof(*w->freeze));
  w->freeze[w->nfreeze++] = (km_freeze_t){a, b, NULL};
}

static void zones(void **state) {
  (void)state;
  assert_true(km_window_tz_known("UTC"));
  assert_true(km_window_tz_known("Asia/Shanghai"));
  assert_false(km_window_tz_known("Asia/Shanghia"));
  assert_false(km_window_tz_known("../../etc/passwd"));
  assert_false(km_window_tz_known("/etc/localtime"));
  int64_t t;
  /* 2026-12-05 02:00 CST is 2026-12-04 18:00 UTC */
  assert_int_equal(
      km_window_local_epoch("Asia/Shanghai", 2026, 12, 5, 2, 0, &t), 0);
  assert_int_equal(t, utc(2026, 12, 4, 18, 0));
  assert_int_equal(km_window_local_epoch("UTC", 2026, 2, 30, 0, 0, &t),
                   KM_EINVAL);
  assert_int_equal(km_window_day_after("UTC", 2026, 12, 31, &t), 0);
  assert_int_equal(t, utc(2027, 1, 1, 0, 0));
}

static void weekly_spans(void **state) {
  (void)state;
  /* Saturday and Sunday 00:00-06:00 UTC; 2026-12-02 is a Wednesday. */
  km_window_t w = weekly("UTC", (1u << 6) | (1u << 0), 0, 360);
  const km_window_t *ws[] = {&w};
  int64_t wed = utc(2026, 12, 2, 12, 0);
  assert_false(km_window_open(ws, 1, wed));
  assert_int_equal(km_window_next_open(ws, 1, wed), utc(2026, 12, 5, 0, 0));
  assert_true(km_window_open(ws, 1, utc(2026, 12, 5, 5, 59)));
  assert_false(km_window_open(ws, 1, utc(2026, 12, 5, 6, 0)));
  assert_int_equal(km_window_next_open(ws, 1, utc(2026, 12, 5, 6, 0)),
                   utc(2026, 12, 6, 0, 0));
  char d[128];
  km_window_describe(&w, d, sizeof(d));
  assert_string_equal(d, "UTC: sun+sat 00:00-06:00");
  free(w.allow);

  /* Weekdays 22:00-24:00 in Shanghai: Wednesday 20:00 CST waits 2 h. */
  km_window_t s = weekly("Asia/Shanghai", 0x3e, 22 * 60, 1440);
  const km_window_t *ss[] = {&s};
  assert_int_equal(km_window_next_open(ss, 1, wed), utc(2026, 12, 2, 14, 0));
  /* Friday 23:59 CST is open; Saturday's 22:00 is not: Monday's is. */
  assert_true(km_window_open(ss, 1, utc(2026, 12, 4, 15, 59)));
  assert_int_equal(km_window_next_open(ss, 1, utc(2026, 12, 4, 16, 0)),
                   utc(2026, 12, 7, 14, 0));
  free(s.allow);
}

static void freezes(void **state) {
  (void)state;
  km_window_t f;
  memset(&f, 0, sizeof(f));
  f.tz = (char *)"UTC";
  add_freeze(&f, utc(2026, 12, 1, 0, 0), utc(2026, 12, 4, 0, 0));
  const km_window_t *fs[] = {&f};
  int64_t wed = utc(2026, 12, 2, 12, 0);
  assert_false(km_window_open(fs, 1, wed));
  assert_int_equal(km_window_next_open(fs, 1, wed), utc(2026, 12, 4, 0, 0));
  assert_true(km_window_open(fs, 1, utc(2026, 11, 30, 23, 59)));

  /* A batch at Wednesday noon with a 10-minute rotation lead moves to the
   * freeze's end plus the lead; one 5 minutes after the end moves too
   * (its rotation would go off inside the freeze). */
  assert_int_equal(km_window_move(fs, 1, wed, 600), utc(2026, 12, 4, 0, 10));
  assert_int_equal(km_window_move(fs, 1, utc(2026, 12, 4, 0, 5), 600),
                   utc(2026, 12, 4, 0, 10));
  assert_int_equal(km_window_move(fs, 1, utc(2026, 12, 5, 0, 0), 600),
                   utc(2026, 12, 5, 0, 0));

  /* With a weekend window too (another entry, another zone): the frozen
   * days and the weekdays are out, Saturday 00:00 UTC is the first. */
  km_window_t w = weekly("Europe/Berlin", (1u << 6) | (1u << 0), 0, 1440);
  const km_window_t *both[] = {&f, &w};
  assert_int_equal(km_window_next_open(both, 2, wed), utc(2026, 12, 4, 23, 0));
  free(w.allow);
  free(f.freeze);
}

static void dst_gap(void **state) {
  (void)state;
  /* Sundays 02:00-03:00 in Berlin: on 2026-03-29 that hour does not exist
   * (02:00 CET becomes 03:00 CEST), so the next is 2026-04-05 02:00 CEST,
   * 00:00 UTC. */
  km_window_t w = weekly("Europe/Berlin", 1u << 0, 120, 180);
  const km_window_t *ws[] = {&w};
  assert_int_equal(km_window_next_open(ws, 1, utc(2026, 3, 28, 12, 0)),
                   utc(2026, 4, 5, 0, 0));
  /* A week before: 2026-03-22 02:00 CET is 01:00 UTC. */
  assert_int_equal(km_window_next_open(ws, 1, utc(2026, 3, 21, 12, 0)),
                   utc(2026, 3, 22, 1, 0));
  free(w.allow);
}

static void never(void **state) {
  (void)state;
  km_window_t f;
  memset(&f, 0, sizeof(f));
  f.tz = (char *)"UTC";
  add_freeze(&f, utc(2026, 1, 1, 0, 0), utc(2028, 1, 1, 0, 0));
  const km_window_t *fs[] = {&f};
  assert_int_equal(km_window_next_open(fs, 1, utc(2026, 6, 1, 0, 0)), -1);
  assert_int_equal(km_window_move(fs, 1, utc(2026, 6, 1, 0, 0), 600), -1);
  free(f.freeze);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(canaries_half_rest),
      cmocka_unit_test(tags_count_and_clamp),
      cmocka_unit_test(missing_account),
      cmocka_unit_test(zones),
      cmocka_unit_test(weekly_spans),
      cmocka_unit_test(freezes),
      cmocka_unit_test(dst_gap),
      cmocka_unit_test(never),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
