/* The state of a run's waves and windows, shared by waves.c (membership,
 * windows, schedule) and waves_gate.c (gate, hold, plan and report). */
#ifndef KM_RUN_WAVES_PRIV_H
#define KM_RUN_WAVES_PRIV_H

#include "run/waves.h"

/* The window entries that apply to some accounts (a distinct set). */
typedef struct sched_s {
  const km_window_t **ws; /* borrowed from the manifest */
  size_t n;
  /* The last answer of km__sched_next (every account of a fleet with the
   * same windows asks in the same second: one zone conversion), and of
   * the migrate.when move. */
  int64_t asked_at, next;
  int64_t when_in, when_out;
} sched_t;

struct km_waves_s {
  km_waves_opts_t o;
  size_t nwaves;      /* the manifest's; 0: no waves */
  int *acct_wave;     /* per rt->accts: 1-based; 0: not in this run */
  int *acct_sched;    /* per rt->accts: index in sched, -1: no window */
  int64_t *acct_next; /* per rt->accts: held until (-1: none in 400 d) */
  int64_t *acct_when; /* per rt->accts: migrate.when moved to (0: not) */
  sched_t *sched;
  size_t nsched;
  bool *passed;   /* per wave (1-based): its gate passed, any sitting */
  int stopped_at; /* the wave whose gate stopped the run; 0: none */
  char stop_why[512];
  size_t held_window; /* accounts held for their window this sitting */
};

struct km_runtime_s;
/* The index in rt->accts of the account called name (0 if unknown). */
size_t km__waves_acct(struct km_runtime_s *rt, const char *name);

/* waves_render.c: the windows into the run's worklist (after: the next
 * openings the run saw for the accounts it held). */
void km__waves_worklist(struct km_runtime_s *rt, bool after);

/* The first time >= now that s allows (now itself when open), -1 when
 * none within 400 days; remembered for the same now. */
int64_t km__sched_next(sched_t *s, int64_t now);

#endif
