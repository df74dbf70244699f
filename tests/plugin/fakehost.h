/* A fake stage host (km_shost_t, stage/stage.h) for the unit tests of the
 * built-in stages (km_stage_keys, km_stage_secrets, km_stage_byok): one
 * pipeline with its typed model (km_inv_t) and typed settings
 * (km_target_t), canned answers per action and parameters, a record of
 * every call and journal record in order, journal records of an earlier
 * attempt, and a fake timer.  Nothing is delivered inline: call answers and
 * timers wait in a queue that the test drains with fh_drain(), as the real
 * loop would deliver them later.
 *
 * Compiled into the tests that use it (#include "../plugin/fakehost.c"):
 * the unit-test glob links each test with kmsmig_core only.
 */
#ifndef KM_TEST_FAKEHOST_H
#define KM_TEST_FAKEHOST_H

#include <stdbool.h>
#include <stddef.h>

#include "stage/stage.h"

typedef struct fh_s fh_t;

/* A fake with account "acct" (1234567890123456), region "cn-hangzhou",
 * destination "kst-hzz-dest" (software), run mode, and an empty model. */
fh_t *fh_new(void);
void fh_free(fh_t *fh);

/* The pipeline's typed settings (change them before a stage starts;
 * strings borrowed, they must outlive the fake). */
km_target_t *fh_target(fh_t *fh);
/* Plan mode: write actions (Update..., Import..., ...) are refused. */
void fh_set_plan(fh_t *fh, bool plan);

/* The pipeline's model (owned by the fake) and replacing it (inv stolen;
 * its select is kept as the caller set it). */
km_inv_t *fh_inv(fh_t *fh);
void fh_set_inv(fh_t *fh, km_inv_t *inv);

/* Starts stage with provider ops (its init runs on the first start, its
 * fini in fh_free).  Returns what start returned. */
int fh_start(fh_t *fh, const km_stage_ops_t *ops, km_stage_t stage);

/* Several pipelines of one run: fh starts its stages with from's provider
 * state (from must have started that provider; its fini stays from's), as
 * the engine gives every pipeline the provider's one state. */
void fh_share_state(fh_t *fh, const fh_t *from);

/* Canned answers, tried in the order added.  match is "" or NULL (any
 * call of the action) or "K=V&K=V": every pair must be among the call's
 * parameters.  times: how many calls it answers (-1: unlimited). */
void fh_answer(fh_t *fh, const char *action, const char *match, int times,
               const char *body_json);
void fh_error(fh_t *fh, const char *action, const char *match, int times,
              const char *code, const char *request_id);
/* Generated answers: fn returns a malloc'd body (JSON text, or NULL: no
 * answer) from the call's parameters. */
typedef char *(*fh_gen_fn)(const char *action, const char *const *params,
                           size_t n, void *ud);
void fh_generator(fh_t *fh, const char *action, fh_gen_fn fn, void *ud);

/* Delivers queued answers and timers (a timer fires once no answer is
 * waiting) until nothing is queued.  Returns how many were delivered. */
size_t fh_drain(fh_t *fh);
/* Delivers the next queued answer or timer only (pipelines answered in
 * turn, as a real loop interleaves them).  Returns 1, or 0 when none. */
size_t fh_drain_one(fh_t *fh);

/* The ordered event log: "call <Action> k=v&k=v", "journal <type> <id>",
 * "timer <ms>", "outcome <kind> <id> failed" (resources the stage marked
 * failed in the model, listed when it ended), "done <status>". */
size_t fh_nevents(const fh_t *fh);
const char *fh_event(const fh_t *fh, size_t i);
/* Index of the first event starting with prefix at or after from, or -1. */
long fh_find(const fh_t *fh, const char *prefix, size_t from);
size_t fh_count(const fh_t *fh, const char *prefix);
/* Most calls waiting for an answer at once. */
size_t fh_max_inflight(const fh_t *fh);

/* Journal: the pipeline's records in order (what records() returns).
 * fh_seed_journal appends a record as an earlier attempt wrote it (a flat
 * object {"type":..., fields} as JSON text); records the stage writes get
 * account and region, like the engine's, and are appended after. */
void fh_seed_journal(fh_t *fh, const char *record_json);
/* The records this fake's stages wrote (not the seeds), as compact JSON
 * text with sorted keys. */
size_t fh_njournal(const fh_t *fh);
const char *fh_journal_at(const fh_t *fh, size_t i);
/* Makes journal() fail from the n-th append on (0-based; -1: never). */
void fh_journal_fail_at(fh_t *fh, long n);

/* Resources the stages marked failed, as "kind id failed: reason". */
size_t fh_noutcomes(const fh_t *fh);
const char *fh_outcome_at(const fh_t *fh, size_t i);

/* The end of the stage: how many times, the status, blocked, the error. */
int fh_done_count(const fh_t *fh);
int fh_done_status(const fh_t *fh);
bool fh_done_blocked(const fh_t *fh);
const km_err_t *fh_done_err(const fh_t *fh);
/* Clears events, journal appends (they stay in the records), outcomes and
 * the stage end (not answers, seeds or the model) between stages. */
void fh_reset_log(fh_t *fh);

#endif
