/* Migration windows (manifest `windows:`, docs/waves.md): when an account's
 * migration may run.  One entry has an IANA time zone, weekly allowed spans
 * (none: every hour of the week) and freezes (local date ranges).  An
 * account matched by several entries may run only when every one of them
 * allows it.
 *
 * Local time is the C library's: the process TZ is set to the entry's zone
 * for the conversion (setenv/tzset/localtime_r, mktime) and put back after,
 * on the loop thread only.  No time zone database of our own. */
#ifndef KM_MODEL_WINDOW_H
#define KM_MODEL_WINDOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Weekly span: days is a bit set (bit 0 Sunday .. bit 6 Saturday), minutes
 * of the local day [start_min, end_min), end_min up to 1440. */
typedef struct km_wk_span_s {
  uint8_t days;
  int start_min, end_min;
} km_wk_span_t;

/* A freeze: [start, end) in Unix seconds, resolved from local dates. */
typedef struct km_freeze_s {
  int64_t start, end;
  char *text; /* as written, "2026-12-20 .. 2027-01-03" (owned) */
} km_freeze_t;

typedef struct km_window_s {
  char *tz;            /* IANA name, owned; "UTC" allowed */
  km_wk_span_t *allow; /* owned; none: always allowed (but freezes) */
  size_t nallow;
  km_freeze_t *freeze; /* owned */
  size_t nfreeze;
} km_window_t;

/* Whether tz names a zone the C library can load (a file under TZDIR or
 * /usr/share/zoneinfo, or "UTC"): glibc takes an unknown name for UTC
 * silently, so an unknown one must be refused before. */
bool km_window_tz_known(const char *tz);
/* Local time y-mo-d h:mi in tz to Unix seconds (mktime, DST decided by
 * the library).  0, or KM_EINVAL for a date that does not exist. */
int km_window_local_epoch(const char *tz, int y, int mo, int d, int h, int mi,
                          int64_t *out);
/* 00:00 of the local day after y-mo-d in tz (mktime normalises). */
int km_window_day_after(const char *tz, int y, int mo, int d, int64_t *out);
/* Whether every entry of ws (n of them, borrowed) allows time t. */
bool km_window_open(const km_window_t *const *ws, size_t n, int64_t t);
/* The first time >= t that every entry allows, or -1 when there is none
 * within 400 days. */
int64_t km_window_next_open(const km_window_t *const *ws, size_t n, int64_t t);
/* A scheduled time `when` with its rotation lead: the earliest w' >= when
 * with both w' - lead and w' allowed (the rotation is turned off in the
 * window, the batch is submitted in it); when itself if it already is,
 * -1 when none within 400 days. */
int64_t km_window_move(const km_window_t *const *ws, size_t n, int64_t when,
                       int64_t lead_s);
/* One line for the plan and the worklist: "Asia/Shanghai: sat,sun
 * 00:00-06:00; freeze 2026-12-20 .. 2027-01-03" (out: caller's buffer). */
void km_window_describe(const km_window_t *w, char *out, size_t n);
/* t as local time in tz, "2026-12-05 02:00 CST" (out >= 40 bytes). */
void km_window_local_text(const char *tz, int64_t t, char *out, size_t n);
void km_window_free(km_window_t *w);

#endif
