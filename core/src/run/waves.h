/* Waves and migration windows of a run (docs/waves.md): which wave each
 * account is in, the gate between waves, and whether an account's window
 * is open.  The runtime calls these; the engine only orders accounts by
 * wave and asks the callbacks set by km_waves_engine_opts. */
#ifndef KM_RUN_WAVES_H
#define KM_RUN_WAVES_H

#include <stdbool.h>
#include <stdio.h>

#include <jansson.h>

#include "manifest/manifest.h"
#include "util/util.h"

struct km_runtime_s;
struct km_engine_opts_s;
struct km_pipeline_s;
struct km_waves_s;

/* One account for the assignment: name and tags, borrowed. */
typedef struct km_wave_acct_s {
  const char *name;
  const km_mf_kv_t *tags;
  size_t ntags;
} km_wave_acct_t;

/* Whether an account with tags (n of them) has every tag of want. */
bool km_waves_tags_match(const km_mf_kv_t *have, size_t nhave,
                         const km_mf_kv_t *want, size_t nwant);
/* Assigns each of the n accounts (run order) a wave: wave_out[i] is the
 * 1-based index of its manifest wave.  Waves naming accounts or tags take
 * theirs first (an account in the first that names it); the accounts left
 * (the rest, in order) go to the share waves: percent N takes ceil(N% of
 * the rest), count N takes N, rest takes what is left.  A wave naming an
 * account that is not among accts is an error (err) unless
 * allow_missing (a shard of the run).  Deterministic. */
int km_waves_assign(const km_mf_wave_t *waves, size_t nwaves,
                    const km_wave_acct_t *accts, size_t n, bool allow_missing,
                    int *wave_out, km_err_t *err);

typedef struct km_waves_opts_s {
  bool auto_advance;         /* --auto-advance */
  bool advance;              /* --advance: pass the next gate that stops */
  const char *manifest_path; /* for the command that continues */
} km_waves_opts_t;

/* After the targets are built: the waves of every account (targets' wave),
 * the windows that apply to each, and a migrate.when moved out of a
 * freeze (said once on stderr).  Prints what is wrong; 0 or < 0. */
int km_waves_setup(struct km_runtime_s *rt, const km_waves_opts_t *o);
/* Reads the gate decisions of earlier sittings from the journal records
 * (borrowed array of envelopes; NULL: none). */
void km_waves_note_prior(struct km_runtime_s *rt, const json_t *prior);
/* Sets the engine's gate and hold callbacks (run mode). */
void km_waves_engine_opts(struct km_runtime_s *rt, struct km_engine_opts_s *eo);
/* Why pipeline p was held (a line for its issue), or NULL. */
const char *km_waves_held_why(struct km_runtime_s *rt,
                              const struct km_pipeline_s *p, char *buf,
                              size_t n);
/* The plan's section on waves and windows: text appended to out; JSON
 * fields "waves" and "windows" set on plan (nothing without either). */
void km_waves_plan_text(struct km_runtime_s *rt, km_buf_t *out);
void km_waves_plan_json(struct km_runtime_s *rt, json_t *plan);
/* report.json's "waves" member (meta.tail; calls next after). */
typedef struct km_waves_tail_s {
  struct km_runtime_s *rt;
  int (*next)(FILE *f, void *ud);
  void *next_ud;
} km_waves_tail_t;
int km_waves_report_tail(FILE *f, void *ud);
/* After the summary: how the run goes on (the gate that stopped, the
 * accounts that wait for a window).  The run's exit code given ec: 5 when
 * a gate stopped the run, 6 when accounts wait for their window and
 * nothing failed, else ec. */
int km_waves_finish(struct km_runtime_s *rt, int ec, bool print);
void km_waves_free(struct km_waves_s *w);

#endif
