/* The manifest's `waves:` and `windows:` sections (docs/waves.md): which
 * accounts migrate in which wave, and when each account may be migrated.
 * Everything that can be checked without the cloud is checked here: the
 * shape of each wave (named ones first, the last takes the rest), day
 * names, hours, dates, and that the time zone is one the C library knows
 * (glibc would take an unknown name for UTC without a word). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "manifest/build.h"
#include "util/util.h"

static const char *const k_day_names[] = {"sun", "mon", "tue", "wed",
                                          "thu", "fri", "sat", NULL};

static int day_index(const char *s) {
  for (int i = 0; k_day_names[i] != NULL; i++)
    if (strcmp(s, k_day_names[i]) == 0) return i;
  return -1;
}

/* "mon", "mon-fri" (wrapping: "fri-mon") or "all" into a bit set; 0 when
 * it is none of these. */
static uint8_t day_bits(const char *s) {
  if (strcmp(s, "all") == 0) return 0x7f;
  char a[8], b[8];
  if (strlen(s) == 7 && sscanf(s, "%3[a-z]-%3[a-z]", a, b) == 2) {
    int x = day_index(a), y = day_index(b);
    if (x < 0 || y < 0) return 0;
    uint8_t bits = 0;
    for (int d = x;; d = (d + 1) % 7) {
      bits = (uint8_t)(bits | (1u << d));
      if (d == y) break;
    }
    return bits;
  }
  int d = day_index(s);
  return (uint8_t)(d < 0 ? 0u : 1u << d);
}

static bool parse_hours(const char *s, int *start, int *end) {
  int h1, m1, h2, m2;
  char tail;
  if (sscanf(s, "%d:%d-%d:%d%c", &h1, &m1, &h2, &m2, &tail) != 4) return false;
  if (h1 < 0 || h1 > 23 || m1 < 0 || m1 > 59 || h2 < 0 || h2 > 24 || m2 < 0 ||
      m2 > 59 || (h2 == 24 && m2 != 0))
    return false;
  *start = h1 * 60 + m1;
  *end = h2 * 60 + m2;
  return *end > *start;
}

static void build_span(km_mctx_t *c, const char *name, const km_ynode_t *n,
                       km_window_t *w) {
  static const char *const keys[] = {"days", "hours", NULL};
  if (!km__is_mapping(c, name, n)) return;
  km__check_keys(c, n, keys, name);
  km_wk_span_t sp = {.days = 0x7f, .start_min = 0, .end_min = 1440};
  const km_ynode_t *d = km__ymap_get(n, "days");
  km_mf_strlist_t days = {0};
  if (km__rd_strlist(c, name, d, true, &days)) {
    sp.days = 0;
    for (size_t i = 0; i < days.n; i++) {
      uint8_t b = day_bits(days.v[i]);
      if (b == 0)
        km__err(c, d,
                "'%s.days': '%s' is not a day; write sun, mon, tue, wed, "
                "thu, fri, sat, a range such as mon-fri, or all",
                name, days.v[i]);
      sp.days = (uint8_t)(sp.days | b);
    }
  }
  km__strlist_free(&days);
  const km_ynode_t *h = km__ymap_get(n, "hours");
  if (h != NULL && (h->kind != KM_YSCALAR ||
                    !parse_hours(h->str, &sp.start_min, &sp.end_min)))
    km__err(c, h,
            "'%s.hours' must be local HH:MM-HH:MM with the end after the "
            "start, e.g. 01:00-05:00 or 22:00-24:00 (split a span across "
            "midnight in two)",
            name);
  if (sp.days == 0) return;
  w->allow = km_xrealloc(w->allow, (w->nallow + 1) * sizeof(*w->allow));
  w->allow[w->nallow++] = sp;
}

/* "YYYY-MM-DD" or "YYYY-MM-DD HH:MM", local in tz.  A date alone as the
 * end of a freeze means the end of that day. */
static bool parse_local(const char *tz, const char *s, bool is_end,
                        int64_t *out) {
  int y, mo, d, h = 0, mi = 0;
  char tail;
  int got = sscanf(s, "%4d-%2d-%2d %2d:%2d%c", &y, &mo, &d, &h, &mi, &tail);
  if (got != 3 && got != 5) {
    got = sscanf(s, "%4d-%2d-%2dT%2d:%2d%c", &y, &mo, &d, &h, &mi, &tail);
    if (got != 5) return false;
  }
  if (h < 0 || h > 23 || mi < 0 || mi > 59) return false;
  if (km_window_local_epoch(tz, y, mo, d, h, mi, out) < 0) return false;
  /* A date alone as an end: the whole day is included. */
  if (got == 3 && is_end) return km_window_day_after(tz, y, mo, d, out) == 0;
  return true;
}

static void build_freeze(km_mctx_t *c, const char *name, const km_ynode_t *n,
                         km_window_t *w) {
  static const char *const keys[] = {"from", "to", NULL};
  if (!km__is_mapping(c, name, n)) return;
  km__check_keys(c, n, keys, name);
  const km_ynode_t *f = km__ymap_get(n, "from"), *t = km__ymap_get(n, "to");
  if (f == NULL || t == NULL) {
    km__err(c, n,
            "'%s' needs from: and to: (local dates, e.g. from: "
            "2026-12-20, to: 2027-01-03)",
            name);
    return;
  }
  int64_t a = 0, b = 0;
  bool ok = true;
  if (f->kind != KM_YSCALAR || !parse_local(w->tz, f->str, false, &a)) {
    km__err(c, f,
            "'%s.from' must be a local date YYYY-MM-DD or "
            "\"YYYY-MM-DD HH:MM\" (in the entry's time_zone)",
            name);
    ok = false;
  }
  if (t->kind != KM_YSCALAR || !parse_local(w->tz, t->str, true, &b)) {
    km__err(c, t,
            "'%s.to' must be a local date YYYY-MM-DD (the whole day "
            "is frozen) or \"YYYY-MM-DD HH:MM\"",
            name);
    ok = false;
  }
  if (ok && b <= a) {
    km__err(c, t, "'%s': the freeze ends before it begins", name);
    ok = false;
  }
  if (!ok) return;
  w->freeze = km_xrealloc(w->freeze, (w->nfreeze + 1) * sizeof(*w->freeze));
  w->freeze[w->nfreeze].start = a;
  w->freeze[w->nfreeze].end = b;
  w->freeze[w->nfreeze].text = km_xasprintf("%s .. %s", f->str, t->str);
  w->nfreeze++;
}

/* accounts: and tags: of a wave or window entry. */
static void build_who(km_mctx_t *c, const char *name, const km_ynode_t *n,
                      km_mf_strlist_t *accounts, km_mf_kv_t **tags,
                      size_t *ntags) {
  char *an = km_xasprintf("%s.accounts", name);
  char *tn = km_xasprintf("%s.tags", name);
  km__rd_strlist(c, an, km__ymap_get(n, "accounts"), true, accounts);
  if (km__ymap_get(n, "tags") != NULL)
    km__rd_kv(c, tn, km__ymap_get(n, "tags"), tags, ntags);
  free(an);
  free(tn);
}

static void build_window(km_mctx_t *c, const km_ynode_t *n, size_t idx) {
  static const char *const keys[] = {"accounts", "tags",   "time_zone",
                                     "allow",    "freeze", NULL};
  char name[48];
  snprintf(name, sizeof(name), "windows[%zu]", idx);
  if (!km__is_mapping(c, name, n)) return;
  km__check_keys(c, n, keys, name);
  km_manifest_t *m = c->m;
  m->windows = km_xrealloc(m->windows, (m->nwindows + 1) * sizeof(*m->windows));
  km_mf_window_t *e = &m->windows[m->nwindows++];
  memset(e, 0, sizeof(*e));
  e->pos = km__pos(c, n);
  build_who(c, name, n, &e->accounts, &e->tags, &e->ntags);
  const km_ynode_t *tz = km__ymap_get(n, "time_zone");
  if (tz == NULL) {
    km__err(c, n,
            "'%s' needs time_zone: an IANA name such as Asia/Shanghai "
            "or UTC (the hours and dates are local to it)",
            name);
    e->w.tz = km_xstrdup("UTC");
  } else if (km__rd_str(c, "time_zone", tz, &e->w.tz) &&
             !km_window_tz_known(e->w.tz)) {
    km__err(c, tz,
            "'%s.time_zone': '%s' is not a time zone this system "
            "knows (an IANA name such as Asia/Shanghai, Europe/Berlin "
            "or UTC, from /usr/share/zoneinfo)",
            name, e->w.tz);
  }
  if (e->w.tz == NULL) e->w.tz = km_xstrdup("UTC");
  char sub[96];
  const km_ynode_t *al = km__ymap_get(n, "allow");
  if (al != NULL && al->kind != KM_YSEQ)
    km__err(c, al, "'%s.allow' must be a list of {days, hours}", name);
  for (size_t i = 0; al != NULL && al->kind == KM_YSEQ && i < al->n; i++) {
    snprintf(sub, sizeof(sub), "%s.allow[%zu]", name, i);
    build_span(c, sub, al->items[i], &e->w);
  }
  const km_ynode_t *fr = km__ymap_get(n, "freeze");
  if (fr != NULL && fr->kind != KM_YSEQ)
    km__err(c, fr, "'%s.freeze' must be a list of {from, to}", name);
  for (size_t i = 0; fr != NULL && fr->kind == KM_YSEQ && i < fr->n; i++) {
    snprintf(sub, sizeof(sub), "%s.freeze[%zu]", name, i);
    build_freeze(c, sub, fr->items[i], &e->w);
  }
  if (al == NULL && fr == NULL)
    km__err(c, n,
            "'%s' has neither allow: nor freeze:; say when its "
            "accounts may or may not be migrated",
            name);
}

static void build_wave(km_mctx_t *c, const km_ynode_t *n, size_t idx,
                       bool *shares_seen) {
  static const char *const keys[] = {"name",  "accounts", "tags", "percent",
                                     "count", "rest",     NULL};
  char name[40];
  snprintf(name, sizeof(name), "waves[%zu]", idx);
  if (!km__is_mapping(c, name, n)) return;
  km__check_keys(c, n, keys, name);
  km_manifest_t *m = c->m;
  m->waves = km_xrealloc(m->waves, (m->nwaves + 1) * sizeof(*m->waves));
  km_mf_wave_t *w = &m->waves[m->nwaves++];
  memset(w, 0, sizeof(*w));
  w->pos = km__pos(c, n);
  if (!km__rd_str(c, "name", km__ymap_get(n, "name"), &w->name))
    w->name = km_xasprintf("wave %zu", idx + 1);
  build_who(c, name, n, &w->accounts, &w->tags, &w->ntags);
  bool named = w->accounts.n > 0 || w->ntags > 0;
  long v = 0;
  int kinds = named;
  if (km__rd_int(c, "percent", km__ymap_get(n, "percent"), 1, 100, &v)) {
    w->kind = KM_MF_WAVE_PERCENT;
    w->amount = (int)v;
    kinds++;
  }
  if (km__rd_int(c, "count", km__ymap_get(n, "count"), 1, 1000000, &v)) {
    w->kind = KM_MF_WAVE_COUNT;
    w->amount = (int)v;
    kinds++;
  }
  bool rest = false;
  if (km__rd_bool(c, "rest", km__ymap_get(n, "rest"), &rest) && rest) {
    w->kind = KM_MF_WAVE_REST;
    kinds++;
  }
  if (kinds != 1) {
    km__err(c, n,
            "'%s' must say who is in it in one way: accounts:/tags:, "
            "percent: N, count: N, or rest: true",
            name);
    return;
  }
  if (named) w->kind = KM_MF_WAVE_NAMED;
  if (named && *shares_seen)
    km__err(c, n,
            "'%s' names accounts or tags after a wave of percent, "
            "count or rest; put the waves that name accounts first "
            "(shares are of the accounts they leave)",
            name);
  if (!named) *shares_seen = true;
}

void km__build_waves(km_mctx_t *c, const km_ynode_t *waves,
                     const km_ynode_t *windows) {
  if (waves != NULL && (waves->kind != KM_YSEQ || waves->n == 0)) {
    km__err(c, waves,
            "'waves' must be a list, e.g. [{name: canary, "
            "accounts: [app-a]}, {percent: 50}, {rest: true}]");
  } else if (waves != NULL) {
    bool shares = false;
    for (size_t i = 0; i < waves->n; i++)
      build_wave(c, waves->items[i], i, &shares);
    const km_mf_wave_t *last =
        c->m->nwaves > 0 ? &c->m->waves[c->m->nwaves - 1] : NULL;
    if (last != NULL && last->kind != KM_MF_WAVE_REST &&
        !(last->kind == KM_MF_WAVE_PERCENT && last->amount == 100))
      km__err_pos(c, last->pos,
                  "the last wave must take every account left: write "
                  "`- rest: true` (no account is left out of a wave "
                  "silently)");
    for (size_t i = 0; i + 1 < c->m->nwaves; i++)
      if (c->m->waves[i].kind == KM_MF_WAVE_REST)
        km__err_pos(c, c->m->waves[i].pos,
                    "only the last wave may be `rest: true`");
  }
  if (windows != NULL && windows->kind != KM_YSEQ) {
    km__err(c, windows,
            "'windows' must be a list of {accounts or tags, "
            "time_zone, allow, freeze}");
  } else if (windows != NULL) {
    for (size_t i = 0; i < windows->n; i++)
      build_window(c, windows->items[i], i);
  }
}

/* After the accounts: a name in a wave or window that is no account of the
 * manifest is refused (with `directory:` the members are known only once
 * listed: the run checks them then); one account in two named waves is. */
void km__check_waves(km_mctx_t *c) {
  const km_manifest_t *m = c->m;
  bool dir = m->directory.present;
  for (size_t i = 0; i < m->nwaves; i++) {
    const km_mf_wave_t *w = &m->waves[i];
    for (size_t k = 0; k < w->accounts.n; k++) {
      const char *a = w->accounts.v[k];
      if (!dir && km_manifest_account(m, a) == NULL)
        km__err_pos(c, w->pos,
                    "wave '%s' names account '%s', which the manifest "
                    "does not have; use a name from accounts:",
                    w->name, a);
      for (size_t j = 0; j < i; j++)
        if (km__strlist_has(&m->waves[j].accounts, a))
          km__err_pos(c, w->pos,
                      "waves: account '%s' is in wave '%s' "
                      "already; name it in one wave only",
                      a, m->waves[j].name);
    }
  }
  for (size_t i = 0; i < m->nwindows; i++) {
    const km_mf_window_t *w = &m->windows[i];
    for (size_t k = 0; k < w->accounts.n; k++)
      if (!dir && km_manifest_account(m, w->accounts.v[k]) == NULL)
        km__err_pos(c, w->pos,
                    "windows[%zu] names account '%s', which the "
                    "manifest does not have; use a name from accounts:",
                    i, w->accounts.v[k]);
  }
}

static void kv_free(km_mf_kv_t *kv, size_t n) {
  for (size_t i = 0; i < n; i++) {
    free(kv[i].key);
    free(kv[i].value);
  }
  free(kv);
}

void km__waves_free(km_manifest_t *m) {
  for (size_t i = 0; i < m->nwaves; i++) {
    free(m->waves[i].name);
    km__strlist_free(&m->waves[i].accounts);
    kv_free(m->waves[i].tags, m->waves[i].ntags);
  }
  free(m->waves);
  for (size_t i = 0; i < m->nwindows; i++) {
    km__strlist_free(&m->windows[i].accounts);
    kv_free(m->windows[i].tags, m->windows[i].ntags);
    km_window_free(&m->windows[i].w);
  }
  free(m->windows);
}
