/* The gateway observation of one pipeline (docs/monitor.md), typed: the
 * baseline measured before PREPARE, the after measured after VERIFY (or
 * later by `kmsmig observe`), the callers still on the shared gateway and
 * the findings with their verdicts.  The monitor stage fills it; the run
 * writes it to <run>/observe.json (km_obs_to_json) and `kmsmig observe`
 * reads it back (km_obs_from_json).  JSON only at those two edges. */
#ifndef KM_MODEL_OBSERVE_H
#define KM_MODEL_OBSERVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "model/inventory.h"

typedef enum { KM_OBS_OK = 0, KM_OBS_WATCH, KM_OBS_ACT } km_obs_verdict_t;

/* One gateway over one window, from CloudMonitor. */
typedef struct km_obs_gw_s {
  bool measured; /* every metric of it answered */
  int64_t requests;
  double qps_avg, qps_max, latency_ms_avg;
  int64_t c4xx, c5xx, throttled; /* "codes": 4xx, 5xx, Throttling */
} km_obs_gw_t;

typedef struct km_obs_window_s {
  bool present;       /* observed (after: false until observed) */
  int64_t start, end; /* Unix seconds */
  km_obs_gw_t shared, dedicated;
} km_obs_window_t;

/* A caller seen on the shared gateway in the after window (ActionTrail). */
typedef struct km_obs_caller_s {
  char *access_key_id, *source_ip, *user_agent;
  int64_t count, last_seen;
  km_inv_strs_t events;    /* EventNames */
  km_inv_strs_t resources; /* KeyIds / secret names the events named */
  bool migrated;           /* it used a resource this run migrated */
} km_obs_caller_t;

typedef struct km_obs_finding_s {
  char *id; /* monitor.residual_callers, monitor.dedicated_throttled, ... */
  km_obs_verdict_t verdict;
  char *message, *action;
} km_obs_finding_t;

typedef struct km_obs_s {
  int64_t instance_spec; /* -1: unknown */
  /* The pipeline finished MIGRATE (its OBSERVE stage ran, or a resource
   * was migrated): `kmsmig observe` observes it again. */
  bool migrate_finished;
  km_inv_strs_t migrated; /* KeyIds and secret names this run migrated */
  int64_t migrated_at;    /* when the run's OBSERVE began (Unix s); 0 */
  km_obs_window_t baseline;
  /* NULL until OBSERVE measures it (km_obs_after): the baseline waits
   * from PREFLIGHT in every pipeline of a fleet, the after window only in
   * those that got there. */
  km_obs_window_t *after;
  km_obs_caller_t *callers;
  size_t ncallers;
  /* Findings kept as text: the calls that failed or could not be read,
   * and those read back from observe.json. */
  km_obs_finding_t *findings;
  size_t nfindings;
  /* The after window was judged (km_obs_each_finding builds the verdicts'
   * findings from the figures above and these two settings). */
  bool judged;
  /* ActionTrail was asked for the after window (`kmsmig observe`; the run
   * itself does not: events reach it up to 10 minutes late) */
  bool trail_looked;
  bool trail_truncated;    /* more ActionTrail events than kmsmig reads */
  double throttle_act_pct; /* monitor.throttle_act_pct */
} km_obs_t;

/* New empty observation (owned; km_obs_free). */
km_obs_t *km_obs_new(void);
void km_obs_free(km_obs_t *o);
/* Drops the after window, the callers and the findings (observe again). */
void km_obs_reset_after(km_obs_t *o);
/* o's after window, allocated (empty) when absent (borrowed from o). */
km_obs_window_t *km_obs_after(km_obs_t *o);
/* o's after window, or an empty one (borrowed; never NULL). */
const km_obs_window_t *km_obs_after_of(const km_obs_t *o);
/* Adds a finding (strings borrowed, copied). */
void km_obs_add_finding(km_obs_t *o, const char *id, km_obs_verdict_t v,
                        const char *message, const char *action);
/* The caller with this AccessKey ID and source IP, added when absent
 * (borrowed; valid until the next add). */
km_obs_caller_t *km_obs_caller(km_obs_t *o, const char *akid, const char *ip,
                               const char *ua);
const char *km_obs_verdict_name(km_obs_verdict_t v);
/* Counts of act and watch findings (o may be NULL). */
void km_obs_count(const km_obs_t *o, size_t *act, size_t *watch);

/* Every finding of o: the kept ones, then, when o is judged, those of the
 * verdicts, built for the call (instance_id borrowed, the instance the
 * actions name; NULL: "<instance>").  f and its strings are borrowed for
 * the call only.  o may be NULL. */
typedef void (*km_obs_finding_fn)(const km_obs_finding_t *f, void *ud);
void km_obs_each_finding(const km_obs_t *o, const char *instance_id,
                         km_obs_finding_fn fn, void *ud);

/* One observe.json pipeline entry of inv (with inv->obs; owned). */
json_t *km_obs_to_json(const km_inv_t *inv);
/* Reads the observation of an observe.json pipeline entry (borrowed) into
 * a new km_obs_t (owned in *out).  0, or KM_EPARSE with err naming the
 * field. */
int km_obs_from_json(const json_t *entry, km_obs_t **out, km_err_t *err);

#endif
