/* A fake km_host_api_t for plugin unit tests: one pipeline, canned answers
 * per action and parameters, a record of every call and journal record in
 * order, a replayable "earlier attempt" journal, outcomes, the document,
 * and a fake timer.  Nothing is delivered inline: call answers and timers
 * wait in a queue that the test drains with fh_drain(), as the real loop
 * would deliver them later.
 *
 * Compiled into the tests that use it (#include "../plugin/fakehost.c"):
 * the unit-test glob links each test with kmsmig_core only.
 */
#ifndef KM_TEST_FAKEHOST_H
#define KM_TEST_FAKEHOST_H

#include <stdbool.h>
#include <stddef.h>

#include "kmsmig/plugin.h"

typedef struct fh_s fh_t;

fh_t *fh_new(void);
void fh_free(fh_t *fh);
/* The host table (the same for every fake) and this fake's handles. */
const km_host_api_t *fh_api(void);
km_pipeline_t *fh_pipeline(fh_t *fh);
km_stage_run_t *fh_run(fh_t *fh);

/* host->get values; account "acct", region "cn-hangzhou", instance
 * "kst-hzz-dest", run_mode "run" by default. */
void fh_set(fh_t *fh, const char *name, const char *value);

/* Canned answers, tried in the order added.  match is "" or NULL (any
 * call of the action) or "K=V&K=V": every pair must be among the call's
 * parameters.  times: how many calls it answers (-1: unlimited). */
void fh_answer(fh_t *fh, const char *action, const char *match, int times,
               const char *body_json);
void fh_error(fh_t *fh, const char *action, const char *match, int times,
              const char *code, const char *request_id);
/* Generated answers: fn returns a malloc'd body (or NULL: no answer) from
 * the call's parameters. */
typedef char *(*fh_gen_fn)(const char *action, const char *const *params,
                           size_t n, void *ud);
void fh_generator(fh_t *fh, const char *action, fh_gen_fn fn, void *ud);

/* Delivers queued answers and timers (a timer fires once no answer is
 * waiting) until nothing is queued.  Returns how many were delivered. */
size_t fh_drain(fh_t *fh);

/* The ordered event log: "call <Action> k=v&k=v", "journal <type> <id>",
 * "outcome <kind> <id> <outcome>", "timer <ms>", "done <status>". */
size_t fh_nevents(const fh_t *fh);
const char *fh_event(const fh_t *fh, size_t i);
/* Index of the first event starting with prefix at or after from, or -1. */
long fh_find(const fh_t *fh, const char *prefix, size_t from);
size_t fh_count(const fh_t *fh, const char *prefix);
/* Most calls waiting for an answer at once. */
size_t fh_max_inflight(const fh_t *fh);

/* Journal: records appended (as the plugin wrote them); seeded records of
 * an earlier attempt (flat {"type":..., fields}) replayed by
 * journal_replay; when replay_live, replay also returns the appended ones. */
void fh_seed_journal(fh_t *fh, const char *record_json);
void fh_replay_live(fh_t *fh, bool on);
size_t fh_njournal(const fh_t *fh);
const char *fh_journal_at(const fh_t *fh, size_t i);
/* Makes journal() fail from the n-th append on (0-based; -1: never). */
void fh_journal_fail_at(fh_t *fh, long n);

/* Outcomes reported, as "kind id outcome: reason". */
size_t fh_noutcomes(const fh_t *fh);
const char *fh_outcome_at(const fh_t *fh, size_t i);

/* The document (owned by the fake) and replacing it. */
const char *fh_doc(fh_t *fh);
void fh_set_doc(fh_t *fh, const char *json);

/* stage_done: how many times, and the last status and error. */
int fh_done_count(const fh_t *fh);
int fh_done_status(const fh_t *fh);
const km_err_t *fh_done_err(const fh_t *fh);
/* Clears events, journal appends, outcomes and stage_done (not answers,
 * seeds or the document) between stages of one test. */
void fh_reset_log(fh_t *fh);

#endif
