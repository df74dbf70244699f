/* The verdicts of an observation (docs/monitor.md "Verdicts"): residual
 * callers, the dedicated gateway's throttling against the instance spec,
 * errors and traffic against the baseline.  A pure function of the
 * observation: the monitor stage keeps only the figures and marks the
 * observation judged, and the findings' texts are built here each time
 * they are needed (observe.json, the summary, the counts), so a fleet's
 * ended pipelines do not each hold five sentences until the run ends.
 * The thresholds are ours (the procedure, section 4, says "a high number
 * of throttling errors" and "a high frequency of requests" without
 * figures) and documented as such. */
#include <stdio.h>
#include <string.h>

#include "util/util.h"

#include "model/observe.h"

typedef struct judge_s {
  const km_obs_t *o;
  const char *instance_id;
  km_obs_finding_fn fn;
  void *ud;
} judge_t;

static void emit(const judge_t *j, const char *id, km_obs_verdict_t v,
                 const char *message, const char *action) {
  km_obs_finding_t f = {(char *)id, v, (char *)message, (char *)action};
  j->fn(&f, j->ud);
}

/* ActionTrail makes an event queryable up to 10 minutes after the call
 * (its quotas page: "Time before an event is available for query"). */
#define TRAIL_DELAY_S 600

/* The residual-caller finding when the events could not show the time
 * after the migration yet: never "ok" for calls nobody could see. */
static bool residual_unseen(const judge_t *j) {
  const km_obs_t *o = j->o;
  int64_t seen_to = km_obs_after_of(o)->end;
  bool looked = o->trail_looked;
  if (looked && seen_to >= o->migrated_at + TRAIL_DELAY_S) return false;
  char at[21], msg[400];
  km_iso8601(o->migrated_at + TRAIL_DELAY_S, at);
  snprintf(msg, sizeof(msg),
           looked ? "no caller of a migrated key or secret seen in ActionTrail "
                    "yet, but it delivers events up to 10 minutes late and "
                    "the migration ended less than 10 minutes ago"
                  : "not looked up in the run: ActionTrail delivers events up "
                    "to 10 minutes late, so the calls after the migration are "
                    "not there yet");
  char act[300];
  snprintf(act, sizeof(act),
           "run `kmsmig observe RUN_DIR` after %s: it lists the callers still "
           "on the shared gateway",
           at);
  emit(j, "monitor.residual_callers", KM_OBS_WATCH, msg, act);
  return true;
}

static void residual(const judge_t *j) {
  const km_obs_t *o = j->o;
  size_t mig = 0, unknown = 0;
  char list[700] = "";
  for (size_t i = 0; i < o->ncallers; i++) {
    const km_obs_caller_t *c = &o->callers[i];
    if (c->migrated) {
      mig++;
      size_t l = strlen(list);
      if (l < sizeof(list) - 120)
        snprintf(list + l, sizeof(list) - l, "%s%s from %s (%lld calls)",
                 l ? ", " : "", c->access_key_id, c->source_ip,
                 (long long)c->count);
    } else if (c->resources.n == 0) {
      unknown++;
    }
  }
  char msg[900], act[400];
  snprintf(act, sizeof(act),
           "switch these clients' endpoint to the instance gateway "
           "%s.cryptoservice.kms.aliyuncs.com (KMS console: Instances -> "
           "instance details, or the SDK's KMS instance endpoint), then "
           "observe again with `kmsmig observe RUN_DIR`",
           j->instance_id != NULL ? j->instance_id : "<instance>");
  if (mig > 0) {
    snprintf(msg, sizeof(msg),
             "%zu caller(s) still call the shared gateway for keys or secrets "
             "this run migrated: %s",
             mig, list);
    emit(j, "monitor.residual_callers", KM_OBS_ACT, msg, act);
  } else if (o->migrated.n > 0 && residual_unseen(j)) {
    return;
  } else if (unknown > 0 || o->trail_truncated) {
    snprintf(msg, sizeof(msg),
             "%zu caller(s) on the shared gateway made calls whose key or "
             "secret ActionTrail does not name%s",
             unknown,
             o->trail_truncated
                 ? "; and there were more events than kmsmig reads"
                 : "");
    emit(j, "monitor.residual_callers", KM_OBS_WATCH, msg,
         "check these callers in ActionTrail (EventName, "
         "ServiceName Kms) and switch the ones that use migrated "
         "keys");
  } else {
    snprintf(msg, sizeof(msg),
             "no caller used a migrated key or secret through the shared "
             "gateway (%zu caller(s) seen, on KMS 1.0 resources only)",
             o->ncallers);
    emit(j, "monitor.residual_callers", KM_OBS_OK, msg, "none");
  }
}

static void throttling(const judge_t *j) {
  const km_obs_t *o = j->o;
  const km_obs_gw_t *d = &km_obs_after_of(o)->dedicated;
  if (!d->measured) return;
  double pct =
      d->requests > 0 ? 100.0 * (double)d->throttled / (double)d->requests : 0;
  char msg[400], act[400], spec[32];
  if (o->instance_spec >= 0)
    snprintf(spec, sizeof(spec), "%lld", (long long)o->instance_spec);
  else
    snprintf(spec, sizeof(spec), "unknown");
  snprintf(msg, sizeof(msg),
           "the dedicated gateway of %s (instance spec %s) throttled %lld of "
           "%lld requests (%.1f%%)",
           j->instance_id ? j->instance_id : "?", spec, (long long)d->throttled,
           (long long)d->requests, pct);
  km_obs_verdict_t v = d->throttled == 0            ? KM_OBS_OK
                       : pct >= o->throttle_act_pct ? KM_OBS_ACT
                                                    : KM_OBS_WATCH;
  if (v == KM_OBS_OK)
    snprintf(act, sizeof(act), "none");
  else
    snprintf(act, sizeof(act),
             "raise the instance's computing performance above spec %s (KMS "
             "console: Instances -> Upgrade; the peak was %.0f QPS) or lower "
             "the clients' rate / adjust the throttling policy (procedure "
             "section 4)",
             spec, d->qps_max);
  emit(j, "monitor.dedicated_throttled", v, msg, act);
}

/* Share of 4xx/5xx answers that are not throttling (its own finding). */
static double err_share(const km_obs_gw_t *g) {
  int64_t c4 = g->c4xx >= g->throttled ? g->c4xx - g->throttled : g->c4xx;
  return g->requests > 0 ? (double)(c4 + g->c5xx) / (double)g->requests : 0;
}

static void errors_and_traffic(const judge_t *j) {
  const km_obs_t *o = j->o;
  const km_obs_gw_t *b = &o->baseline.shared, *a = &km_obs_after_of(o)->shared;
  char msg[400];
  if (!o->baseline.present || !b->measured) {
    emit(j, "monitor.baseline", KM_OBS_WATCH,
         "no baseline of the shared gateway was measured before "
         "the migration: nothing to compare with",
         "compare with the shared gateway dashboard of the "
         "region in CloudMonitor for the time before the run");
    return;
  }
  if (!a->measured) return;
  double sb = err_share(b) * 100, sa = err_share(a) * 100;
  snprintf(msg, sizeof(msg),
           "4xx/5xx on the shared gateway: %.1f%% before, %.1f%% after "
           "(%lld and %lld 5xx)",
           sb, sa, (long long)b->c5xx, (long long)a->c5xx);
  bool worse = sa > sb + 5.0 || (a->c5xx > 0 && b->c5xx == 0);
  emit(j, "monitor.shared_errors", worse ? KM_OBS_WATCH : KM_OBS_OK, msg,
       worse ? "look up the ErrorCode of the failing calls in ActionTrail "
               "(EventName, ServiceName Kms): insufficient permissions or a "
               "key that does not exist (procedure section 4)"
             : "none");
  snprintf(msg, sizeof(msg),
           "shared-gateway QPS %.2f before, %.2f after (%lld and %lld "
           "requests)",
           b->qps_avg, a->qps_avg, (long long)b->requests,
           (long long)a->requests);
  /* The metrics count every call, kmsmig's own too: only data-plane
   * callers still seen in ActionTrail make a QPS that did not fall worth
   * watching. */
  bool fell = a->qps_avg < b->qps_avg || a->requests == 0;
  bool quiet = fell || o->migrated.n == 0 || o->ncallers == 0;
  emit(j, "monitor.shared_traffic", quiet ? KM_OBS_OK : KM_OBS_WATCH, msg,
       quiet ? "none"
             : "traffic has not moved off the shared gateway: "
               "see monitor.residual_callers");
  const km_obs_gw_t *d = &km_obs_after_of(o)->dedicated;
  if (d->measured && d->requests > 0) {
    double ds = err_share(d) * 100;
    snprintf(
        msg, sizeof(msg),
        "dedicated gateway: %lld requests, %.1f%% 4xx/5xx besides throttling, "
        "latency "
        "%.1f ms (shared before: %.1f ms)",
        (long long)d->requests, ds, d->latency_ms_avg, b->latency_ms_avg);
    bool bad = d->c5xx > 0 || ds > sb + 5.0;
    emit(j, "monitor.dedicated_errors", bad ? KM_OBS_WATCH : KM_OBS_OK, msg,
         bad ? "check the failing calls in the instance's access "
               "logs (SLS: key ID, API, status code)"
             : "none");
  }
}

void km_obs_each_finding(const km_obs_t *o, const char *instance_id,
                         km_obs_finding_fn fn, void *ud) {
  if (o == NULL) return;
  for (size_t i = 0; i < o->nfindings; i++)
    fn(&o->findings[i], ud);
  if (!o->judged) return;
  judge_t j = {o, instance_id, fn, ud};
  residual(&j);
  throttling(&j);
  errors_and_traffic(&j);
}
