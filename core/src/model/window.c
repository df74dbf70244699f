/* Window arithmetic (see window.h): whether an account may be migrated at
 * a time, when it may next, and where a scheduled batch moves to so that
 * neither its rotation lead nor the batch falls into a freeze.
 *
 * Searches jump instead of stepping a minute at a time: out of a freeze to
 * its end, and from a closed local time straight to the next weekly span's
 * start; a jump is checked again in local time (a DST change may move it),
 * so every answer is one the C library's localtime_r agrees with. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "model/window.h"
#include "util/util.h"

#define KM_WINDOW_HORIZON_S (400 * 86400LL)

/* The process TZ is switched for a conversion and put back after: the
 * loop thread is the only one that converts local times. */
typedef struct tzsave_s {
  char *old;
  bool had;
} tzsave_t;

static void tz_enter(const char *tz, tzsave_t *s) {
  const char *o = getenv("TZ");
  s->had = o != NULL;
  s->old = o != NULL ? km_xstrdup(o) : NULL;
  setenv("TZ", tz, 1);
  tzset();
}

static void tz_leave(tzsave_t *s) {
  if (s->had)
    setenv("TZ", s->old, 1);
  else
    unsetenv("TZ");
  tzset();
  free(s->old);
}

bool km_window_tz_known(const char *tz) {
  if (tz == NULL || tz[0] == '\0' || tz[0] == '/' || tz[0] == ':' ||
      strstr(tz, "..") != NULL)
    return false;
  if (strcmp(tz, "UTC") == 0) return true;
  const char *dir = getenv("TZDIR");
  char *path = km_xasprintf("%s/%s",
                            dir != NULL && dir[0] ? dir
                                                  : "/usr/share/"
                                                    "zoneinfo",
                            tz);
  bool ok = access(path, R_OK) == 0;
  free(path);
  return ok;
}

int km_window_local_epoch(const char *tz, int y, int mo, int d, int h, int mi,
                          int64_t *out) {
  struct tm lt;
  memset(&lt, 0, sizeof(lt));
  lt.tm_year = y - 1900;
  lt.tm_mon = mo - 1;
  lt.tm_mday = d;
  lt.tm_hour = h;
  lt.tm_min = mi;
  lt.tm_isdst = -1;
  tzsave_t s;
  tz_enter(tz, &s);
  time_t t = mktime(&lt);
  tz_leave(&s);
  /* mktime normalises 2026-02-30 to March: refuse what it changed. */
  if (t == (time_t)-1 || lt.tm_mday != d || lt.tm_mon != mo - 1)
    return KM_EINVAL;
  *out = (int64_t)t;
  return 0;
}

int km_window_day_after(const char *tz, int y, int mo, int d, int64_t *out) {
  struct tm lt;
  memset(&lt, 0, sizeof(lt));
  lt.tm_year = y - 1900;
  lt.tm_mon = mo - 1;
  lt.tm_mday = d + 1;
  lt.tm_isdst = -1;
  tzsave_t s;
  tz_enter(tz, &s);
  time_t t = mktime(&lt);
  tz_leave(&s);
  if (t == (time_t)-1) return KM_EINVAL;
  *out = (int64_t)t;
  return 0;
}

/* Minutes from local (wday, min) to the next start of a span, 0 when
 * inside one, -1 when no span has a day. */
static int64_t minutes_to_span(const km_window_t *w, int wday, int now_min) {
  int64_t best = -1;
  for (int d = 0; d <= 7; d++) {
    int day = (wday + d) % 7;
    for (size_t i = 0; i < w->nallow; i++) {
      const km_wk_span_t *s = &w->allow[i];
      if (!(s->days & (1u << day))) continue;
      int64_t cand;
      if (d == 0 && now_min >= s->start_min && now_min < s->end_min) return 0;
      if (d == 0 && s->start_min <= now_min) continue;
      cand = (int64_t)d * 1440 + s->start_min - now_min;
      if (best < 0 || cand < best) best = cand;
    }
  }
  return best;
}

/* One entry: the first time in [t, limit] it allows, or -1.  Its zone is
 * set for the whole search. */
static int64_t next_open1(const km_window_t *w, int64_t t, int64_t limit) {
  tzsave_t s;
  tz_enter(w->tz, &s);
  int64_t found = -1;
  for (int guard = 0; guard < 4096 && t <= limit; guard++) {
    bool frozen = false;
    for (size_t i = 0; i < w->nfreeze; i++)
      if (t >= w->freeze[i].start && t < w->freeze[i].end) {
        t = w->freeze[i].end;
        frozen = true;
      }
    if (frozen) continue;
    if (w->nallow == 0) {
      found = t;
      break;
    }
    struct tm lt;
    time_t tt = (time_t)t;
    localtime_r(&tt, &lt);
    int64_t m = minutes_to_span(w, lt.tm_wday, lt.tm_hour * 60 + lt.tm_min);
    if (m == 0) {
      found = t;
      break;
    }
    if (m < 0) break;
    int64_t delta = m * 60 - lt.tm_sec;
    t += delta > 0 ? delta : 60;
  }
  tz_leave(&s);
  return found >= 0 && found <= limit ? found : -1;
}

bool km_window_open(const km_window_t *const *ws, size_t n, int64_t t) {
  for (size_t i = 0; i < n; i++)
    if (next_open1(ws[i], t, t) != t) return false;
  return true;
}

int64_t km_window_next_open(const km_window_t *const *ws, size_t n, int64_t t) {
  int64_t limit = t + KM_WINDOW_HORIZON_S;
  /* Each entry moves t to its own next opening; when none moves it, every
   * entry allows t. */
  for (int round = 0; round < 1000; round++) {
    bool all = true;
    for (size_t i = 0; i < n; i++) {
      int64_t x = next_open1(ws[i], t, limit);
      if (x < 0) return -1;
      if (x != t) {
        t = x;
        all = false;
      }
    }
    if (all) return t;
  }
  return -1;
}

int64_t km_window_move(const km_window_t *const *ws, size_t n, int64_t when,
                       int64_t lead_s) {
  int64_t w = when, limit = when + KM_WINDOW_HORIZON_S;
  for (int i = 0; i < 64 && w <= limit; i++) {
    int64_t o;
    if (!km_window_open(ws, n, w - lead_s))
      o = km_window_next_open(ws, n, w - lead_s);
    else if (!km_window_open(ws, n, w))
      o = km_window_next_open(ws, n, w);
    else
      return w;
    if (o < 0) return -1;
    w = o + lead_s > w ? o + lead_s : w + 60;
  }
  return -1;
}

static const char *const k_days[] = {"sun", "mon", "tue", "wed",
                                     "thu", "fri", "sat"};

void km_window_describe(const km_window_t *w, char *out, size_t n) {
  size_t used = (size_t)snprintf(out, n, "%s:", w->tz);
  if (w->nallow == 0 && used < n)
    used += (size_t)snprintf(out + used, n - used, " every day");
  for (size_t i = 0; i < w->nallow && used < n; i++) {
    const km_wk_span_t *s = &w->allow[i];
    used += (size_t)snprintf(out + used, n - used, "%s ", i ? "," : "");
    bool first = true;
    for (int d = 0; d < 7 && used < n; d++)
      if (s->days & (1u << d)) {
        used += (size_t)snprintf(out + used, n - used, "%s%s", first ? "" : "+",
                                 k_days[d]);
        first = false;
      }
    if (used < n)
      used += (size_t)snprintf(out + used, n - used, " %02d:%02d-%02d:%02d",
                               s->start_min / 60, s->start_min % 60,
                               s->end_min / 60, s->end_min % 60);
  }
  for (size_t i = 0; i < w->nfreeze && used < n; i++)
    used += (size_t)snprintf(out + used, n - used, "%s%s",
                             i ? ", " : "; freeze ", w->freeze[i].text);
}

void km_window_local_text(const char *tz, int64_t t, char *out, size_t n) {
  tzsave_t s;
  tz_enter(tz, &s);
  struct tm lt;
  time_t tt = (time_t)t;
  localtime_r(&tt, &lt);
  if (strftime(out, n, "%Y-%m-%d %H:%M %Z", &lt) == 0 && n > 0) out[0] = '\0';
  tz_leave(&s);
}

void km_window_free(km_window_t *w) {
  if (w == NULL) return;
  free(w->tz);
  free(w->allow);
  for (size_t i = 0; i < w->nfreeze; i++)
    free(w->freeze[i].text);
  free(w->freeze);
  memset(w, 0, sizeof(*w));
}
