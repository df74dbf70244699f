/* Loop runtime helpers: a clean shutdown of a libuv loop (neovim's
 * loop_close) and SIGINT/SIGTERM handling that lets a run stop starting new
 * work instead of dying half way through a batch. */
#ifndef KM_RT_LOOP_H
#define KM_RT_LOOP_H

#include <uv.h>

/* Closes loop (borrowed; initialised by the caller).  Every handle that is
 * still open and not already closing is closed with uv_close(h, NULL); the
 * loop is then run until uv_loop_close() succeeds.  Returns the number of
 * handles it had to close by force: 0 means every owner had closed its
 * handles properly, so tests assert 0.  The loop is closed on return (do not
 * call uv_loop_close() again).  The memory of a force-closed handle stays
 * its owner's: it is leaked, not freed.  Must not be called from inside a
 * callback of loop. */
int km_loop_close_all(uv_loop_t *loop);

typedef struct km_rt_signals_s km_rt_signals_t;

/* Called from the loop for each SIGINT or SIGTERM; count is how many such
 * signals have arrived so far (1 for the first), so a caller can stop
 * starting work on the first and give up on the second. */
typedef void (*km_rt_signal_cb)(int signum, int count, void *ud);

/* Starts watching SIGINT and SIGTERM on loop (borrowed).  The watchers do
 * not keep the loop alive.  Returns 0 and *out (owned; release with
 * km_rt_signals_close) or a negative libuv code (nothing to release). */
int km_rt_signals_start(uv_loop_t *loop, km_rt_signal_cb cb, void *ud,
                        km_rt_signals_t **out);

/* Stops watching; s is freed once its handles are closed (the loop must run
 * for that).  NULL is a no-op. */
void km_rt_signals_close(km_rt_signals_t *s);

#endif
