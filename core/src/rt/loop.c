/* Loop runtime helpers.  km_loop_close_all() is the end of every test and of
 * a run: it reports handles their owners forgot to close (a leak the caller
 * should treat as a bug) and still leaves the loop closed.  The signal
 * watcher turns SIGINT/SIGTERM into a callback on the loop, where it is safe
 * to set flags, stop schedulers and let in-flight work finish. */
#include <signal.h>
#include <stdlib.h>

#include "rt/loop.h"
#include "util/util.h"

static void walk_close(uv_handle_t *h, void *arg) {
  int *forced = arg;
  if (uv_is_closing(h)) return;
  km_log(KM_LOG_DEBUG, "loop: closing leftover %s handle",
         uv_handle_type_name(h->type));
  (*forced)++;
  uv_close(h, NULL);
}

int km_loop_close_all(uv_loop_t *loop) {
  int forced = 0;
  while (uv_loop_close(loop) == UV_EBUSY) {
    uv_walk(loop, walk_close, &forced);
    /* Everything left is closing (or a request still running in the
     * threadpool): ONCE runs the close callbacks without blocking, or waits
     * for the request instead of spinning. */
    uv_run(loop, UV_RUN_ONCE);
  }
  return forced;
}

struct km_rt_signals_s {
  uv_signal_t sig[2];
  km_rt_signal_cb cb;
  void *ud;
  int count;
  int open;
};

static void on_signal(uv_signal_t *h, int signum) {
  km_rt_signals_t *s = h->data;
  s->count++;
  km_log(KM_LOG_WARN, "received %s (%d)",
         signum == SIGINT ? "SIGINT" : "SIGTERM", s->count);
  s->cb(signum, s->count, s->ud);
}

static void on_signal_closed(uv_handle_t *h) {
  km_rt_signals_t *s = h->data;
  if (--s->open == 0) free(s);
}

int km_rt_signals_start(uv_loop_t *loop, km_rt_signal_cb cb, void *ud,
                        km_rt_signals_t **out) {
  if (loop == NULL || cb == NULL || out == NULL) return KM_EINVAL;
  *out = NULL;
  static const int signums[2] = {SIGINT, SIGTERM};
  km_rt_signals_t *s = km_xcalloc(1, sizeof(*s));
  s->cb = cb;
  s->ud = ud;
  for (int i = 0; i < 2; i++) {
    int rc = uv_signal_init(loop, &s->sig[i]);
    if (rc == 0) {
      s->sig[i].data = s;
      s->open++;
      rc = uv_signal_start(&s->sig[i], on_signal, signums[i]);
    }
    if (rc != 0) {
      if (s->open == 0) {
        free(s);
      } else {
        for (int j = 0; j < 2; j++)
          if (s->sig[j].data == s)
            uv_close((uv_handle_t *)&s->sig[j], on_signal_closed);
      }
      return rc;
    }
    uv_unref((uv_handle_t *)&s->sig[i]);
  }
  *out = s;
  return 0;
}

void km_rt_signals_close(km_rt_signals_t *s) {
  if (s == NULL) return;
  for (int i = 0; i < 2; i++)
    if (!uv_is_closing((uv_handle_t *)&s->sig[i]))
      uv_close((uv_handle_t *)&s->sig[i], on_signal_closed);
}
